"""The embedded AWS emulator (moto, patched) and the local deployer of the CDK app."""

from mlops_local.emulator import Emulator, running_emulator

__all__ = ["Emulator", "running_emulator"]
