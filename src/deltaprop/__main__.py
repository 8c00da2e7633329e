"""``python -m deltaprop``: the ``deltaprop`` command (see :mod:`deltaprop.app.cli`)."""

from deltaprop.app.cli import run

if __name__ == "__main__":
    run()
