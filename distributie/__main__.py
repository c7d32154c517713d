"""Allows `python -m distributie`."""

from distributie.cli import main

main()
