"""A/B testing of model versions: sticky assignment, power analysis, sequential statistics, guardrails."""
