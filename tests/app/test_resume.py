"""``deltaprop train --resume``: a checkpoint's run is recognised by its fingerprint (the
options that must not change and the data); other ones are refused, naming each change,
unless --allow-changes; a resumed run's epochs and time count the whole run."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pandas as pd
import pytest

from deltaprop.app.runs import MODEL_FILE
from deltaprop.train.checkpoint import checkpoint_run
from tests.app.clitools import PENGUINS, call, load_quietly, one_line_error

COMMON = ["--target", "species", "--ignore", "id", "--no-early-stopping", "--quiet"]


def rewrite_run(path: Path, run: dict | None) -> None:  # type: ignore[type-arg]
    """Replace the checkpoint's ``run`` (None: remove it, as in files written before it)."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    info = json.loads(header["__metadata__"]["checkpoint"])
    if run is None:
        del info["run"]
    else:
        info["run"] = run
    header["__metadata__"]["checkpoint"] = json.dumps(info)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n :])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("first")
    args = ["train", PENGUINS, *COMMON, "--epochs", "3", "--checkpoint-every", "1"]
    from deltaprop.app.cli import main

    assert main([str(a) for a in [*args, "--out", folder]]) == 0
    return folder / "checkpoint.safetensors"


def resume(capsys: pytest.CaptureFixture[str], ckpt: Path, out: Path, *extra: str | Path,
           data: Path = PENGUINS) -> tuple[int, str, str]:  # fmt: skip
    return call(capsys, "train", data, *COMMON, "--epochs", "5", "--resume", ckpt, "--out", out,
                *extra)  # fmt: skip


@pytest.mark.parametrize(
    ("option", "change"),
    [
        (["--seed", "1"], "--seed: 0 → 1"),
        (["--validation", "0.3"], "--validation: 0.2 → 0.3"),
        (["--learning-rate", "0.01"], "--learning-rate: 0.003 → 0.01"),
        (["--batch-size", "16"], "--batch-size: 32 → 16"),
        (["--alpha", "0.01"], '--alpha: "auto" → 0.01'),
    ],
)
def test_a_changed_option_is_refused_naming_it(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], option: list[str],
    change: str,
) -> None:  # fmt: skip
    code, _, err = resume(capsys, checkpoint, tmp_path / "b", *option)
    line = one_line_error((code, err))
    assert code == 2 and change in line and "--allow-changes" in line, err
    assert "the data changed" not in line and not (tmp_path / "b" / MODEL_FILE).exists()


@pytest.mark.parametrize("how", ["reversed", "truncated"])
def test_changed_data_is_refused(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    frame = pd.read_csv(PENGUINS)
    frame = frame.iloc[::-1] if how == "reversed" else frame.iloc[:-5]
    data = tmp_path / "penguins.csv"
    frame.to_csv(data, index=False)
    code, _, err = resume(capsys, checkpoint, tmp_path / "b", data=data)
    line = one_line_error((code, err))
    assert code == 2 and "the data changed" in line and "--seed" not in line, err


def test_allow_changes_goes_on_with_a_note(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = resume(capsys, checkpoint, tmp_path / "b", "--seed", "1", "--allow-changes")
    assert code == 0, err
    assert "resuming with changes (--allow-changes): --seed: 0 → 1" in out + err
    assert len(load_quietly(tmp_path / "b" / MODEL_FILE).loss_curve_) == 5


def test_the_same_run_resumes_counting_all_its_epochs_and_time(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = tmp_path / "c.safetensors"
    ckpt.write_bytes(checkpoint.read_bytes())
    run = checkpoint_run(ckpt)
    assert run is not None and set(run) == {"command", "estimator", "seconds"}
    rewrite_run(ckpt, {**run, "seconds": 1000.0})  # as if the first part had taken 1000 s
    code, _, err = resume(capsys, ckpt, tmp_path / "b", "--checkpoint-every", "1",
                            "--checkpoint", ckpt, "--force")  # fmt: skip
    assert code == 0, err
    model, (config, _) = load_quietly(tmp_path / "b" / MODEL_FILE, return_extra=True)
    assert model.n_iter_ == 5 and len(model.loss_curve_) == 5
    assert config["run"]["seconds"] >= 1000.0
    assert config["run"]["stop_message"] == (  # the option that set the limit, named
        "stopped at epoch 5: reached the epoch limit (--epochs=5: 2 epochs in this fit, after "
        "epoch 3)"
    )
    after = checkpoint_run(ckpt)
    assert after is not None and after["seconds"] >= 1000.0  # the checkpoint counts it too


def test_an_old_checkpoint_without_a_fingerprint_resumes_with_a_note(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old.safetensors"
    old.write_bytes(checkpoint.read_bytes())
    rewrite_run(old, None)
    assert checkpoint_run(old) is None
    code, out, err = resume(capsys, old, tmp_path / "b", "--seed", "1")
    assert code == 0, err
    assert "records no fingerprint of its run" in out + err
