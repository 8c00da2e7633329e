"""The command's argument parser (deltaprop.app.parser): a mistyped subcommand, choice or
option is one line naming the closest valid one and the help to read."""

from __future__ import annotations

import pytest

from deltaprop.app.errors import UsageError
from deltaprop.app.parser import build_parser


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["trian"], "argument SUBCOMMAND: invalid choice: 'trian' (choose from 'demo', "
         "'train', 'predict', 'evaluate', 'inspect', 'export', 'gradcheck'); did you mean "
         "'train'? (see 'deltaprop --help')"),
        (["train", "t.csv", "--target", "y", "--optimizer", "adma"], "argument --optimizer: "
         "invalid choice: 'adma' (choose from 'adam', 'adamw', 'sgd', 'rmsprop', 'lbfgs'); "
         "did you mean 'adam'? (see 'deltaprop train --help')"),
        (["demo", "--dataset", "Moons"], "argument --dataset: invalid choice: 'Moons' "
         "(choose from 'digits', 'moons'); did you mean 'moons'? (see 'deltaprop demo --help')"),
        (["train", "t.csv", "--target", "y", "--hiden", "3"], "unrecognized arguments: "
         "--hiden 3; did you mean '--hidden'? (see 'deltaprop train --help')"),
        (["train", "t.csv", "--target", "y", "--lerning-rate=0.1"], "unrecognized arguments: "
         "--lerning-rate=0.1; did you mean '--learning-rate'? (see 'deltaprop train --help')"),
        (["demo", "--datset", "moons"], "unrecognized arguments: --datset moons; did you "
         "mean '--dataset'? (see 'deltaprop demo --help')"),
        (["train", "t.csv", "--target", "y", "more.csv"], "unrecognized arguments: more.csv "
         "(see 'deltaprop train --help')"),
        (["train", "t.csv", "--target", "y", "--frobnicate"], "unrecognized arguments: "
         "--frobnicate (see 'deltaprop train --help')"),
        (["predict", "m", "d", "--precision", "18"], "argument --precision: invalid choice: "
         "18 (choose from 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17) (see "
         "'deltaprop predict --help')"),
    ],
)  # fmt: skip
def test_a_mistyped_word_gets_the_closest_valid_one(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        build_parser().parse_args(argv)
    assert str(info.value) == message


def test_valid_arguments_parse_as_before() -> None:
    args = build_parser().parse_args(["train", "t.csv", "--target", "y", "--optimizer", "sgd",
                                      "--hidden", "8,4"])  # fmt: skip
    assert args.command == "train" and args.optimizer == "sgd" and args.hidden == (8, 4)
