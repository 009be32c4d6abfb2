"""The training pipeline: definition (SageMaker SDK, offline), code bundle, lineage."""
