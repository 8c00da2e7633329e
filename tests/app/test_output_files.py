"""The command's output policy (``deltaprop.app.output_files``): an output is never one of
the command's inputs, even with ``--force``; inputs are checked before the policy; stale
temporary files of an interrupted checkpoint write are removed on resume."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from deltaprop.app.errors import UsageError
from deltaprop.app.output_files import check_not_input, remove_stale_temp_files
from tests.app.clitools import FAST, PENGUINS, call, one_line_error


@pytest.fixture
def work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A copy of the penguins and a model trained on them (with a checkpoint)."""
    shutil.copy(PENGUINS, tmp_path / "data.csv")
    args = ["train", tmp_path / "data.csv", "--target", "species", *FAST, "--no-report"]
    assert call(capsys, *args, "--out", tmp_path / "run", "--checkpoint-every", "4")[0] == 0
    return tmp_path


def _refused(capsys: pytest.CaptureFixture[str], *args: str | Path) -> str:
    return one_line_error(call(capsys, *args)[::2])


def test_no_output_overwrites_an_input_even_with_force(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, model = work / "data.csv", work / "run" / "model.safetensors"
    checkpoint = work / "run" / "checkpoint.safetensors"
    os.link(data, work / "linked.csv")  # another name, the same inode
    saved = {p: p.read_bytes() for p in (data, model, checkpoint)}
    cases = [
        (["predict", model, data, "-o", model], f"-o '{model}' is the input MODEL '{model}'"),
        (["predict", model, data, "-o", data], f"-o '{data}' is the input DATA '{data}'"),
        (
            ["predict", model, work / "linked.csv", "-o", data],
            f"-o '{data}' is the input DATA '{work / 'linked.csv'}'",
        ),
        (["export", model, "--onnx", model], f"--onnx '{model}' is the input MODEL '{model}'"),
        (
            [
                "train",
                data,
                "--target",
                "species",
                *FAST,
                "--checkpoint-every",
                "1",
                "--checkpoint",
                data,
            ],
            f"--checkpoint '{data}' is the input DATA '{data}'",
        ),
        (
            ["train", data, "--target", "species", *FAST, "--out", work / "run", "--resume", model],
            f"--out's model '{model}' is the input --resume '{model}'",
        ),
    ]
    for args, message in cases:
        line = _refused(capsys, *args, "--force")
        assert message in line and line.endswith("write the output somewhere else"), line
    assert {p: p.read_bytes() for p in saved} == saved


def test_a_data_file_where_the_model_goes_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "out").mkdir()
    data = tmp_path / "data.csv"
    shutil.copy(PENGUINS, data)
    before = data.read_bytes()
    model = tmp_path / "out" / "model.safetensors"
    model.symlink_to(data)  # writing the model would write through the link
    args = ["train", data, "--target", "species", *FAST, "--out", tmp_path / "out", "--force"]
    line = _refused(capsys, *args)
    assert f"--out's model '{model}' is the input DATA '{data}'" in line
    assert data.read_bytes() == before


def test_the_inputs_are_checked_before_the_output_policy(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, model = work / "data.csv", work / "run" / "model.safetensors"
    args = ["train", data, *FAST, "--out", work / "run", "--no-report"]
    line = _refused(capsys, *args, "--target", "speces")
    assert "--target 'speces': no such column" in line and "exists" not in line
    line = _refused(capsys, *args, "--target", "species", "--ignore", "nope")
    assert "--ignore 'nope'" in line
    (work / "pred.csv").write_text("precious")
    line = _refused(capsys, "predict", model, data, "-o", work / "pred.csv", "--keep", "nope")
    assert "--keep 'nope': no such column" in line
    line = _refused(capsys, "predict", model, data, "-o", work / "pred.csv", "--keep", "ID")
    assert line.endswith("--keep 'ID': no such column in '" + str(data) + "' (columns: "
                         "id, species, island, bill_length_mm, flipper_length_mm, sex, "
                         "body_mass_g); did you mean 'id'?")  # fmt: skip
    line = _refused(capsys, "predict", work / "missing.safetensors", data, "-o", work / "pred.csv")
    assert "missing.safetensors" in line and "exists" not in line
    line = _refused(capsys, "export", data, "--onnx", work / "pred.csv")
    assert "data.csv" in line and "exists" not in line
    assert (work / "pred.csv").read_text() == "precious"


def test_resume_removes_what_an_interrupted_checkpoint_write_left(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = work / "run" / "checkpoint.safetensors"
    stale = work / "run" / ".checkpoint.safetensors.k3j_x9.tmp"
    stale.write_bytes(b"half a checkpoint")
    other = work / "run" / ".model.safetensors.k3j_x9.tmp"  # not the checkpoint's
    other.write_bytes(b"someone else's")
    args = ["train", work / "data.csv", "--target", "species", "--quiet", "--no-report"]
    code, out, _ = call(
        capsys,
        *args,
        "--hidden",
        "32",
        "--epochs",
        "10",
        "--out",
        work / "run",
        "--checkpoint-every",
        "4",
        "--resume",
        checkpoint,
        "--force",
    )
    assert code == 0
    assert f"removed '{stale}', left by an interrupted checkpoint write" in out
    assert not stale.exists() and other.read_bytes() == b"someone else's"


def test_check_not_input_compares_resolved_paths_and_inodes(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x")
    (tmp_path / "b.csv").symlink_to(tmp_path / "a.csv")
    os.link(tmp_path / "a.csv", tmp_path / "c.csv")
    for name in ("a.csv", "b.csv", "c.csv", "sub/../a.csv"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        with pytest.raises(UsageError, match=f"-o '.*{name}' is the input DATA"):
            check_not_input([("-o", tmp_path / name)], [("DATA", tmp_path / "a.csv")])
    check_not_input([("-o", tmp_path / "new.csv")], [("DATA", tmp_path / "a.csv")])
    assert remove_stale_temp_files(tmp_path / "nowhere" / "x.safetensors") == []
