"""Serving conventions shared by CDK, the promotion workflow, the CLI and the client."""
