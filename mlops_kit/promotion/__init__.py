"""The promotion workflow's logic: shadow, human approval, staged or guarded rollout, rollback, records."""
