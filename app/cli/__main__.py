"""`python -m app.cli` runs the `podium` command."""

from app.cli import main

main()
