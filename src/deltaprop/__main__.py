"""``python -m deltaprop``: the ``deltaprop`` command (see :mod:`deltaprop.app.cli`)."""

from deltaprop.app.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
