"""The `gateway` console script (contracts in DESIGN.md): `main` parses and dispatches, one module per family."""

from gateway.cli.main import main

__all__ = ["main"]
