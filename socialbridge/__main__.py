"""`python -m socialbridge` is the `socialbridge` command."""

from socialbridge.cli import main

main()
