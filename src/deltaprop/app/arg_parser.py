"""The command's :class:`argparse.ArgumentParser`: usage errors as one line, with the
closest valid word where one was mistyped."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from deltaprop.app.errors import UsageError
from deltaprop.core.registry import closest, did_you_mean

__all__ = ["Parser"]


class Parser(argparse.ArgumentParser):
    """Usage errors raise :class:`UsageError` (printed as one line) instead of exiting; a
    mistyped subcommand, choice or option gets the closest valid one ("did you mean", as
    Python 3.14's ``suggest_on_error``), and an unknown option names its subcommand's help."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        choices = action.choices
        if choices is not None and value not in choices:
            raise argparse.ArgumentError(
                action,
                f"invalid choice: {value!r} (choose from {', '.join(map(repr, choices))})"
                f"{did_you_mean(value, [str(c) for c in choices])}",
            )
        super()._check_value(action, value)

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        known, extras = self.parse_known_args(args, namespace)
        if extras:
            owner = self
            for action in self._actions:  # the subcommand's parser holds the options meant
                if isinstance(action, argparse._SubParsersAction) and action.choices:
                    owner = action.choices.get(str(getattr(known, action.dest, "")), self)
            options = [o[2:] for a in owner._actions for o in a.option_strings if o[:2] == "--"]
            meant = [closest(x[2:].split("=")[0], options) for x in extras if x[:2] == "--"]
            hints = "".join(f"; did you mean '--{m}'?" for m in meant if m is not None)
            owner.error(f"unrecognized arguments: {' '.join(extras)}{hints}")
        return known
