"""`socialbridge …`: the command line. Each command group lives in its own module; `dev/` is
`make run` (`socialbridge dev`).

The top of the import graph: it imports every package, and none of them imports it
(`socialbridge/__main__.py` only runs it).
"""

from cli.main import main

__all__ = ["main"]
