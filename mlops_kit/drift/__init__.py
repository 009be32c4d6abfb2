"""Drift statistics: baselines, PSI/KS/chi-squared, reports (pure numpy/scipy/pandas, no AWS imports)."""
