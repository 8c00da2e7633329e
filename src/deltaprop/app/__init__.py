"""The ``deltaprop`` command: parser and commands, the report, tables and preprocessing."""
