"""`python -m core` runs the `tunedeck` command."""

from core.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
