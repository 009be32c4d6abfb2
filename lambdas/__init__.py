"""Thin Lambda handlers: each `lambdas/<function>/handler.py` parses its event and calls mlops_kit."""
