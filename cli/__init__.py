"""`socialbridge …`: the command line. Each command group lives in its own module."""

from cli.main import main

__all__ = ["main"]
