"""One Rich console for the CLI, and the progress helpers every long-running command uses."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import NoReturn

from rich.console import Console
from rich.table import Table

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


@contextlib.contextmanager
def step(message: str) -> Iterator[None]:
    """Show a spinner while the block runs, then a tick (or cross) with the elapsed time."""
    started = time.monotonic()
    try:
        with console.status(f"[bold]{message}[/]…", spinner="dots"):
            yield
    except BaseException:
        console.print(f"[red]✗[/] {message} [dim]({time.monotonic() - started:.1f} s)[/]")
        raise
    console.print(f"[green]✓[/] {message} [dim]({time.monotonic() - started:.1f} s)[/]")


def table(title: str, columns: list[str], rows: list[list[str]]) -> Table:
    result = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        result.add_column(column)
    for row in rows:
        result.add_row(*row)
    return result


def fail(message: str, code: int = 1) -> NoReturn:
    """Print an error a person can act on and exit (no traceback)."""
    import typer

    err_console.print(f"[red]error:[/] {message}", soft_wrap=True)  # one line, however narrow the terminal
    raise typer.Exit(code)
