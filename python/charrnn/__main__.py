"""``python -m charrnn``: the command-line interface (see :mod:`charrnn.cli`)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
