"""What every demo stage gets: the running emulator, the deployed stacks' outputs, and the console."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from mlops_local.deploy import CloudAssembly, StackResult
from mlops_local.emulator import Emulator


@dataclass
class DemoContext:
    emulator: Emulator
    assembly: CloudAssembly
    console: Console
    workdir: Path
    stacks: list[StackResult] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    # Called once before a scenario destroys the stacks it deployed (the environments scenario ends with `cdk
    # destroy`), while what they hold can still be read: the soak test reads the execution histories then.
    before_teardown: Callable[[DemoContext], None] | None = None

    def output(self, key: str) -> str:
        """A stack output by key, from whichever stack exports it."""
        for stack in self.stacks:
            if key in stack.outputs:
                return stack.outputs[key]
        known = sorted(k for s in self.stacks for k in s.outputs)
        raise KeyError(f"no stack output {key!r}; outputs: {known}")


class DemoStageError(RuntimeError):
    """A demo stage did not reach the end state it shows (the demo exits non-zero with this message)."""
