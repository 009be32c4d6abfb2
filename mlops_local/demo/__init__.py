"""The local rehearsal (`make demo`): the platform deployed into the emulator, the lifecycle run on it."""
