"""Datasets kept outside the kit: DVC projects (:mod:`mlops_kit.datasets.dvc`)."""
