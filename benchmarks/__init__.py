"""Benchmarks (`make bench`): each `bench_<name>.py` measures the kit against its named peer, side by side."""
