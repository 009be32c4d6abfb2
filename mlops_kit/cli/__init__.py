"""The `mlops` command line (Typer): `mlops --help` lists every command."""
