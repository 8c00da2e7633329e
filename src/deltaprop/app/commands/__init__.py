"""The subcommands of ``deltaprop``: one module each (``predict`` and ``evaluate`` share one),
each a function ``run_<name>(args, out) -> exit code``."""
