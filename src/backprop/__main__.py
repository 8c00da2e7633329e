"""``python -m backprop``: the ``backprop`` command (see :mod:`backprop.cli`)."""

from backprop.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
