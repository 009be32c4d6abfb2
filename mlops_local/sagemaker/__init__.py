"""The SageMaker behaviours the kit relies on, made real in the emulator (registry, pipelines, endpoints)."""
