"""`python -m benchmarks [name ...]`: run every `bench_<name>.py` (or the named ones); update RESULTS.md."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import shlex
import sys
import time

import benchmarks
from benchmarks.harness import write_section


def available() -> list[str]:
    return sorted(
        m.name.removeprefix("bench_") for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {available()})")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for checking that a benchmark runs")
    args = parser.parse_args(argv)
    for name in args.names or available():
        module = importlib.import_module(f"benchmarks.bench_{name}")
        started = time.monotonic()
        print(f"== {name}", flush=True)
        report = module.run(quick=args.quick)
        # The section names the command that produced it: with every benchmark in one run (`make bench`), that run.
        report.command = shlex.join(["python", "-m", "benchmarks", *(argv if argv is not None else sys.argv[1:])])
        if not args.quick:
            write_section(report)
        print("\n".join(report.lines))
        print(f"== {name} done in {time.monotonic() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
