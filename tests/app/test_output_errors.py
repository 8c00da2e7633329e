"""Outputs that cannot be written: a read-only folder, a path that is not a folder, a full
disk. One line naming the option and the path given (never a temporary file), exit 2 for
the path, 1 for the machine; nothing half-written, the files written before kept."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from deltaprop.app.errors import UsageError, WriteError
from deltaprop.app.output_files import output_error
from tests.app.clitools import FAST, PENGUINS, call, load_quietly, one_line_error

TRAIN = ["train", str(PENGUINS), "--target", "species", *FAST]


def _read_only(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make ``folder`` behave as on a read-only file system: creating a file or a folder
    in it raises ``EROFS`` (as a ``mount -o ro`` would; root ignores permission bits)."""
    real_open, real_mkdir = os.open, os.mkdir
    root = folder.resolve()

    def refuse(path: object) -> None:
        if Path(os.fsdecode(path)).resolve().is_relative_to(root):  # type: ignore[arg-type]
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))  # type: ignore[arg-type]

    def fake_open(path: object, flags: int, *args: object, **kw: object) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            refuse(path)
        return real_open(path, flags, *args, **kw)  # type: ignore[arg-type]

    def fake_mkdir(path: object, *args: object, **kw: object) -> None:
        refuse(path)
        real_mkdir(path, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)


def _full_disk(monkeypatch: pytest.MonkeyPatch, when: Callable[[str], bool]) -> None:
    """Make the ``fsync`` of a file whose path ``when`` accepts raise ``ENOSPC``, as a full
    disk does when the written pages reach it."""
    real_fsync = os.fsync

    def fake_fsync(fd: int) -> None:
        if when(os.readlink(f"/proc/self/fd/{fd}")):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fake_fsync)


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_train_into_a_read_only_folder_names_out(
    here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "ro").mkdir()
    (here / "ro" / "old").mkdir()
    _read_only(monkeypatch, here / "ro")
    code, _, err = call(capsys, *TRAIN, "--out", "ro/run")
    assert one_line_error((code, err)) == (
        "deltaprop: error: --out 'ro/run' is not writable: read-only file system"
    )
    code, _, err = call(capsys, *TRAIN, "--out", "ro/old", "--force")  # refused before training
    assert one_line_error((code, err)) == (
        "deltaprop: error: --out 'ro/old' is not writable: read-only file system"
    )
    assert sorted(p.name for p in (here / "ro").rglob("*")) == ["old"]


def test_train_into_a_path_under_a_file_names_out(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "file").write_text("x")
    code, _, err = call(capsys, *TRAIN, "--out", "file/run")
    assert one_line_error((code, err)) == (
        "deltaprop: error: --out 'file/run' is not writable: not a directory"
    )


def test_predict_into_a_read_only_folder_names_o(
    here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert call(capsys, *TRAIN, "--out", "run")[0] == 0
    (here / "ro").mkdir()
    _read_only(monkeypatch, here / "ro")
    code, _, err = call(capsys, "predict", "run/model.safetensors", PENGUINS, "-o", "ro/p.csv")
    assert one_line_error((code, err)) == (
        "deltaprop: error: -o 'ro/p.csv' is not writable: read-only file system"
    )
    assert list((here / "ro").iterdir()) == []


@pytest.mark.parametrize(
    ("failing", "what", "kept"),
    [
        ("history.csv", "history 'run/history.csv'", ["model.safetensors"]),
        ("report.html", "report 'run/report/report.html'", ["history.csv", "model.safetensors"]),
    ],
)
def test_a_full_disk_keeps_the_files_written_before(
    here: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    failing: str,
    what: str,
    kept: list[str],
) -> None:
    _full_disk(monkeypatch, lambda path: Path(path).name.startswith(f".{failing}."))
    code, _, err = call(capsys, *TRAIN, "--out", "run")
    assert one_line_error((code, err), code=1) == (
        f"deltaprop: error: could not write the {what}: no space left on device"
    )
    assert sorted(p.name for p in (here / "run").iterdir()) == kept  # no report/ left
    assert _leftovers(here) == []
    assert load_quietly(here / "run" / "model.safetensors").n_features_in_ > 0


def test_a_full_disk_during_training_names_the_checkpoint(
    here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _full_disk(monkeypatch, lambda path: ".checkpoint.safetensors." in path)
    code, _, err = call(capsys, *TRAIN, "--out", "run", "--checkpoint-every", "2")
    assert one_line_error((code, err), code=1) == (
        "deltaprop: error: could not write the checkpoint 'run/checkpoint.safetensors': "
        "no space left on device"
    )
    assert not (here / "run").exists() or list((here / "run").iterdir()) == []


def test_a_full_disk_leaves_the_old_predictions(
    here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert call(capsys, *TRAIN, "--out", "run")[0] == 0
    (here / "p.csv").write_text("old\n")
    _full_disk(monkeypatch, lambda path: ".p.csv." in path)
    code, _, err = call(
        capsys, "predict", "run/model.safetensors", PENGUINS, "-o", "p.csv", "--force"
    )
    assert one_line_error((code, err), code=1) == (
        "deltaprop: error: could not write the predictions 'p.csv': no space left on device"
    )
    assert (here / "p.csv").read_text() == "old\n"
    assert _leftovers(here) == []


@pytest.mark.parametrize(
    ("code", "kind", "message"),
    [
        (errno.EACCES, UsageError, "-o 'a/p.csv' is not writable: permission denied"),
        (errno.ENOTDIR, UsageError, "-o 'a/p.csv' is not writable: not a directory"),
        (errno.EIO, WriteError, "could not write the predictions 'a/p.csv': input/output error"),
        (
            errno.EDQUOT,
            WriteError,
            "could not write the predictions 'a/p.csv': disk quota exceeded",
        ),
    ],
)
def test_output_error_never_names_the_temporary_file(code: int, kind: type, message: str) -> None:
    exc = OSError(code, os.strerror(code), "a/.p.csv.xyz.tmp")
    error = output_error(exc, "predictions", Path("a/p.csv"), "-o", Path("a/p.csv"))
    assert type(error) is kind and str(error) == message


def test_export_into_a_read_only_folder_names_onnx(
    here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("onnx")
    assert call(capsys, *TRAIN, "--out", "run")[0] == 0
    (here / "ro").mkdir()
    _read_only(monkeypatch, here / "ro")
    code, _, err = call(capsys, "export", "run/model.safetensors", "--onnx", "ro/m.onnx")
    assert one_line_error((code, err)) == (
        "deltaprop: error: --onnx 'ro/m.onnx' is not writable: read-only file system"
    )
    assert list((here / "ro").iterdir()) == []
