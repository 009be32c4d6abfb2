"""Unit tests of mlops_kit.drift (pure statistics, no AWS)."""
