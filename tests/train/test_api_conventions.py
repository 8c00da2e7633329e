"""docs/api.md's "Conventions against Keras and PyTorch": its block runs and its checks hold
(the factor 2 of mean_squared_error against torch's MSELoss in an SGD step, the losses'
sums over outputs, poisson's offset from PoissonNLLLoss, clip_norm against clip_grad_norm_)."""

from __future__ import annotations

import re
from pathlib import Path

HEADING = "## Conventions against Keras and PyTorch"


def test_the_conventions_block_runs_against_torch() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    match = re.search(r"```python\n(.*?)```", text[text.index(HEADING) :], flags=re.S)
    assert match is not None and "MSELoss" in match.group(1)
    exec(compile(match.group(1), "docs/api.md", "exec"), {})  # the block asserts its claims
