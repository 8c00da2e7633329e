"""Helpers of the ``deltaprop`` command's tests: running it as a subprocess or in-process,
and the data they run it on."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from deltaprop.app.cli import main
from deltaprop.io import load

DATA = Path(__file__).parents[1] / "data"
PENGUINS = DATA / "penguins.csv"
SCRIPT = Path(sys.executable).parent / "deltaprop"
FAST = ["--epochs", "8", "--quiet", "--hidden", "32"]  # a network: the tests of checkpoints, files
# Without pyarrow a Parquet file is refused in one line; with it, this 4-byte file is broken.
PARQUET_MESSAGE = (
    "needs pyarrow, which is not installed"
    if importlib.util.find_spec("pyarrow") is None
    else "cannot read 'data.parquet' as Parquet"
)


def command(*args: str | Path, script: bool = False) -> list[str]:
    head = [str(SCRIPT)] if script else [sys.executable, "-m", "deltaprop"]
    return [*head, *map(str, args)]


def run_all(
    commands: Sequence[Sequence[str]], cwd: Path, timeout: float = 180
) -> list[subprocess.CompletedProcess[str]]:
    """Run the commands concurrently (each one starts its own interpreter)."""
    env = {**os.environ, "COLUMNS": "120", "DELTAPROP_DISTRIBUTED": "0"}
    procs = [
        subprocess.Popen(
            c, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for c in commands
    ]
    done = []
    for cmd, p in zip(commands, procs, strict=True):
        out, err = p.communicate(timeout=timeout)
        done.append(subprocess.CompletedProcess(cmd, p.returncode, out, err))
    return done


def one_line_error(
    result: subprocess.CompletedProcess[str] | tuple[int, str], code: int = 2
) -> str:
    rc, err = (result.returncode, result.stderr) if not isinstance(result, tuple) else result
    assert rc == code, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("deltaprop: error: ")
    return lines[0]


def call(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """``main`` in-process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def load_quietly(path: Path, return_extra: bool = False) -> Any:
    """The model of a file as stored (a command file: the estimator, not the pipeline that
    ``load`` builds), warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, extra = load(path, return_extra=True)
    return (model, extra) if return_extra else model


def penguins_with(tmp_path: Path, row: int, column: str, value: float) -> Path:
    """The penguins with ``value`` at data row ``row`` (1 = the first) of ``column``."""
    frame = pd.read_csv(PENGUINS)
    frame.loc[row - 1, column] = value
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return path


def interrupt_at_the_first_checkpoint(proc: subprocess.Popen[str], out: Path) -> tuple[str, str]:
    """Send SIGINT to a running ``train`` once ``out/checkpoint.safetensors`` exists; its
    standard output and error when it has ended (a generous hang guard, not a speed
    limit: 300 s for each wait). ``proc`` is killed if it is still running at the end."""
    try:
        deadline = time.monotonic() + 300
        while not (out / "checkpoint.safetensors").exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "no checkpoint after 300 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        return proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            if os.getpgid(proc.pid) == proc.pid:  # its own session: mpiexec and its ranks
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
