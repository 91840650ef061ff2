"""`python -m socialbridge` is the `socialbridge` command (the `cli` package).

The one arrow from this package up to the command line: nothing imports this module, it only
keeps the command reachable under the project's name when the console script is not on PATH.
"""

from cli import main

main()
