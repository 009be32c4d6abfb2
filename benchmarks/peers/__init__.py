"""Peer scripts, run by each peer's own virtualenv (see ``benchmarks.harness.peer_python``)."""
