"""Data-parallel training over MPI (deltaprop.parallel).

The tests marked ``mpi`` start real MPI jobs (``mpiexec -n 2 python -m mpi4py ...``) of the
scripts in ``tests/mpi_scripts/``: training with a global batch ``B`` on 2 ranks gives the
weights of one process with batch ``B`` (float64, 1e-10 relative; uneven and empty shares,
a last partial batch, sample and class weights, L2, clipping, SGD-momentum, Nesterov,
RMSprop and Adam), every rank holds bit-identical weights and histories, only rank 0
writes files, and every way a rank can leave (an exception, ``sys.exit()``,
``KeyboardInterrupt``, SIGINT, SIGTERM, SIGKILL) ends the whole job, naming the rank.
The MPI extra is part of the test install (``make test``), so a missing ``mpiexec``
fails these tests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mpirun import (
    HANG_GUARD_S,
    LAUNCHER_VARS,
    SCRIPTS,
    find_mpiexec,
    finish_mpi,
    load_script,
    run_mpi,
    start_mpi,
)

# name -> configuration of tests/parallel/mpi_scripts/train_replicated.py; the first also writes files.
CONFIGS: dict[str, dict[str, Any]] = {
    # 203 rows: batches of 32 split 16/16, the last of 11 splits 6/5.
    "momentum_weights_l2": {
        "n": 203, "sizes": [5, 7, 3], "activation": "tanh", "loss": "categorical_crossentropy",
        "optimizer": "momentum", "learning_rate": 0.05, "batch_size": 32, "epochs": 6,
        "alpha": 1e-3, "sample_weight": True,
    },
    # odd batches: 25 splits 13/12, the last of 3 splits 2/1.
    "adam_odd_batch_regression": {
        "n": 203, "sizes": [4, 9, 2], "activation": "relu", "loss": "mse",
        "optimizer": "adam", "learning_rate": 0.01, "batch_size": 25, "epochs": 6,
        "alpha": 1e-2, "sample_weight": True,
    },
    # one full batch of 203 rows, class weights, clipping of the allreduced gradient.
    "adam_full_batch_class_weight_clip": {
        "n": 203, "sizes": [6, 5, 1], "activation": "tanh", "loss": "binary_crossentropy",
        "optimizer": "adam", "learning_rate": 0.05, "batch_size": None, "epochs": 8,
        "alpha": 0.1, "class_weight": "balanced", "clip_norm": 0.05,
    },
    # 41 rows in batches of 8: the last batch has 1 row, so rank 1's share is empty.
    "nesterov_empty_share": {
        "n": 41, "sizes": [3, 6, 2], "activation": "sigmoid", "loss": "categorical_crossentropy",
        "optimizer": "nesterov", "learning_rate": 0.1, "batch_size": 8, "epochs": 4,
        "alpha": 1e-2, "sample_weight": True,
    },
    # batches of one row: every step one rank computes nothing.
    "sgd_batch_of_one": {
        "n": 15, "sizes": [3, 4, 1], "activation": "tanh", "loss": "mse",
        "optimizer": "sgd", "learning_rate": 0.05, "batch_size": 1, "epochs": 3,
        "schedule": "invscaling",
    },
    # validation split, early stopping (stops early, restores the best weights), RMSprop.
    "rmsprop_early_stopping": {
        "n": 160, "sizes": [5, 16, 4], "activation": "relu", "loss": "categorical_crossentropy",
        "optimizer": "rmsprop", "learning_rate": 0.05, "batch_size": 17, "epochs": 40,
        "validation_fraction": 0.25, "early_stopping": True, "n_iter_no_change": 2,
        "sample_weight": True,
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """One 2-rank job training every configuration; its results.json and its folder."""
    outdir = tmp_path_factory.mktemp("mpi_replicated")
    configs = outdir / "configs.json"
    configs.write_text(json.dumps(CONFIGS))
    proc = run_mpi(2, str(SCRIPTS / "train_replicated.py"), str(configs), str(outdir))
    assert proc.returncode == 0, f"the MPI job failed:\n{proc.stdout}\n{proc.stderr}"
    return json.loads((outdir / "results.json").read_text()), outdir


def assert_close(actual: Any, desired: Any, rtol: float = 1e-10) -> None:
    """Relative to the largest magnitude: ``max|a - d| ≤ rtol · max|d|``."""
    a, d = np.asarray(actual, dtype=np.float64), np.asarray(desired, dtype=np.float64)
    assert a.shape == d.shape
    err = float(np.max(np.abs(a - d), initial=0.0))
    assert err <= rtol * float(np.max(np.abs(d), initial=0.0)), f"max abs error {err:.3g}"


# ---------------------------------------------------------------------------------------
# Two ranks against one process
# ---------------------------------------------------------------------------------------
@pytest.mark.mpi
@pytest.mark.slow
@pytest.mark.parametrize("name", list(CONFIGS))
def test_two_ranks_equal_one_process(replicated: tuple[dict[str, Any], Path], name: str) -> None:
    results, _ = replicated
    assert results["size"] == 2
    reference = load_script("train_replicated")
    net, trainer = reference.train(CONFIGS[name], None)
    ranks = results["configs"][name]
    assert len(ranks) == 2
    for rank in ranks:
        assert_close(rank["parameters"], net.parameters)
        assert rank["epoch"] == trainer.epoch
        assert rank["best_epoch"] == trainer.best_epoch
        for key, values in trainer.history.as_dict().items():
            assert_close(rank["history"][key], values)


@pytest.mark.mpi
@pytest.mark.slow
@pytest.mark.parametrize("name", list(CONFIGS))
def test_all_ranks_hold_identical_weights_and_histories(
    replicated: tuple[dict[str, Any], Path], name: str
) -> None:
    rank0, rank1 = replicated[0]["configs"][name]
    assert rank0["bytes"] == rank1["bytes"]
    assert rank0["history"] == rank1["history"]
    assert (rank0["epoch"], rank0["best_epoch"]) == (rank1["epoch"], rank1["best_epoch"])


@pytest.mark.mpi
@pytest.mark.slow
def test_early_stopping_stops_on_every_rank_at_the_same_epoch(
    replicated: tuple[dict[str, Any], Path],
) -> None:
    rank0, rank1 = replicated[0]["configs"]["rmsprop_early_stopping"]
    assert rank0["epoch"] < CONFIGS["rmsprop_early_stopping"]["epochs"]  # it did stop early
    assert len(rank0["history"]["val_loss"]) == rank0["epoch"] > 0
    assert rank0["history"]["val_loss"] == rank1["history"]["val_loss"]


@pytest.mark.mpi
@pytest.mark.slow
def test_only_rank_0_writes_files(replicated: tuple[dict[str, Any], Path]) -> None:
    _, outdir = replicated
    written = sorted(p.name for p in outdir.glob("written_by_rank*.txt"))
    assert written == ["written_by_rank0.txt"]
    lines = (outdir / "written_by_rank0.txt").read_text().splitlines()
    assert len(lines) == CONFIGS[next(iter(CONFIGS))]["epochs"]  # one writer, one line per epoch


@pytest.mark.mpi
@pytest.mark.slow
def test_helpers_under_mpi(replicated: tuple[dict[str, Any], Path]) -> None:
    rank0, rank1 = replicated[0]["helpers"]
    assert (rank0["shard"], rank1["shard"]) == ([0, 4], [4, 7])
    for rank in (rank0, rank1):
        assert rank["gather_rows"] and rank["gather_rows_object"]
        assert "X differs on ranks [1] from rank 0" in rank["check_replicated"]
        assert "The weights on ranks [1] differ" in rank["check_synchronized_before"]
    assert rank0["shared_seed"] == rank1["shared_seed"]
    assert rank0["broadcast_parameters"] == rank1["broadcast_parameters"]


# ---------------------------------------------------------------------------------------
# Each rank parses its share of a CSV file
# ---------------------------------------------------------------------------------------
@pytest.mark.mpi
def test_each_rank_parses_its_share_of_a_csv_file(tmp_path: Path) -> None:
    """2 ranks: each parses about half the lines, and both hold the one-process table."""
    import pickle

    import pandas as pd

    from deltaprop.app.tables import read_table

    rng = np.random.default_rng(0)
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    lines = [
        f"{i},{rng.normal():.4f},{'' if i % 17 == 3 else rng.choice(['red', 'green'])},{i % 5}"
        for i in range(101)
    ]
    lines[80] = "80,0.5,red,"  # an empty last field: a missing value (a short row is refused)
    good.write_text("id,x,colour,k\n" + "\n".join(lines) + "\n")
    lines[70] += ",9"  # line 72 of the file, in rank 1's half
    bad.write_text("id,x,colour,k\n" + "\n".join(lines) + "\n")

    proc = run_mpi(2, str(SCRIPTS / "read_shards.py"), str(good), str(bad), str(tmp_path))
    assert proc.returncode == 0, f"the MPI job failed:\n{proc.stdout}\n{proc.stderr}"
    result = json.loads((tmp_path / "shares.json").read_text())
    ((first,), (second,)) = result["shares"]  # one record per rank: the file was cut
    assert first["rank"] == 0 and second["rank"] == 1
    assert first["first_line"] == 2 and second["first_line"] == 2 + first["lines"]
    assert first["rows"] + second["rows"] == 101 == first["total_rows"]
    assert 40 <= first["rows"] <= 61 and 40 <= second["rows"] <= 61
    assert result["same_frames"]
    frame = pickle.loads((tmp_path / "frame.pkl").read_bytes())
    single = read_table(good)
    pd.testing.assert_frame_equal(frame, single, check_exact=True)
    assert frame["k"].isna().sum() == 1 and frame["colour"].isna().sum() == 6
    message = (
        f"cannot parse '{bad}' as CSV: Expected 4 fields in line 72, saw 5 (a row with more "
        "fields than the header names: a separator at its end, or a field holding the "
        "separator unquoted? Remove it, or name the field in the header)"
    )
    assert result["errors"] == [message, message]
    with pytest.raises(ValueError, match="in line 72, saw 5"):
        read_table(bad)


# ---------------------------------------------------------------------------------------
# Every way a rank can leave ends the job, naming the rank
# ---------------------------------------------------------------------------------------
# The jobs of these tests take about 2 s; FAULT_GUARD_S only tells a hang from a slow machine.
FAULT_GUARD_S = 60


@pytest.mark.mpi
@pytest.mark.parametrize(
    ("args", "run_with_mpi4py", "banner"),
    [
        ((), True, "Traceback"),
        (("--guard",), False, "rank 1 of 2 failed (ValueError); aborting the MPI job"),
    ],
    ids=["python-m-mpi4py", "abort_on_error"],
)
def test_a_failing_rank_ends_the_job_with_its_error(
    args: tuple[str, ...], run_with_mpi4py: bool, banner: str
) -> None:
    proc = run_mpi(
        2, str(SCRIPTS / "fail_rank.py"), *args, run_with_mpi4py=run_with_mpi4py
    )  # run_mpi fails the test if the job hangs
    assert proc.returncode != 0
    assert "ValueError: rank 1 fails on purpose at epoch 2" in proc.stderr
    assert banner in proc.stderr


@pytest.mark.mpi
@pytest.mark.parametrize(
    ("way", "what", "code"),
    [
        ("exit", "exited (SystemExit with code 0)", 1),
        ("interrupt", "was interrupted (KeyboardInterrupt)", 130),
    ],
    ids=["sys.exit-in-a-callback", "KeyboardInterrupt-raised"],
)
def test_a_rank_that_exits_or_is_interrupted_ends_the_job(way: str, what: str, code: int) -> None:
    """Not only an Exception: ``sys.exit(0)`` or ``KeyboardInterrupt`` on rank 1 too."""
    proc = start_mpi(2, str(SCRIPTS / "fail_rank.py"), f"--guard={way}")
    _, err = finish_mpi(proc, FAULT_GUARD_S)
    assert proc.returncode == code, err
    assert f"deltaprop.parallel: rank 1 of 2 {what}; aborting the MPI job." in err
    assert "in on_epoch_end" in err  # the traceback says where


def signal_one_rank(tmp_path: Path, target: int, sig: signal.Signals) -> tuple[Any, str, int]:
    """Start the 2-rank job, wait until rank ``target`` is training, send its process
    ``sig``; the finished job, its stderr+stdout and the pid signalled."""
    pidfile = tmp_path / "pid"
    proc = start_mpi(
        2, str(SCRIPTS / "fail_rank.py"), "--guard=signal", f"--target={target}",
        f"--pidfile={pidfile}",
    )  # fmt: skip
    deadline = time.monotonic() + FAULT_GUARD_S
    while not pidfile.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not pidfile.exists():
        _, err = finish_mpi(proc, 1)
        pytest.fail(f"rank {target} never started training; stderr: {err!r}")
    pid = int(pidfile.read_text())
    os.kill(pid, sig)
    out, err = finish_mpi(proc, FAULT_GUARD_S)
    return proc, err + out, pid


@pytest.mark.mpi
@pytest.mark.parametrize(
    ("target", "sig"),
    [(1, signal.SIGINT), (0, signal.SIGINT), (1, signal.SIGTERM), (0, signal.SIGTERM)],
    ids=["SIGINT-rank1", "SIGINT-rank0-in-allreduce", "SIGTERM-rank1", "SIGTERM-rank0"],
)
def test_a_signal_to_one_rank_ends_the_job(
    tmp_path: Path, target: int, sig: signal.Signals
) -> None:
    """Rank 1 sleeps between epochs, so rank 0 spends its time waiting in Allreduce."""
    proc, output, _ = signal_one_rank(tmp_path, target, sig)
    assert proc.returncode == 128 + sig, output
    banner = f"deltaprop.parallel: rank {target} of 2 received {sig.name}; aborting the MPI job."
    assert banner in output
    assert "in fit" in output  # where the rank was


@pytest.mark.mpi
def test_sigkill_to_one_rank_ends_the_job(tmp_path: Path) -> None:
    """SIGKILL cannot be caught: the launcher ends the job and names the process id."""
    proc, output, pid = signal_one_rank(tmp_path, 1, signal.SIGKILL)
    assert proc.returncode != 0
    assert f"PID {pid} RUNNING AT" in output and "Killed (signal 9)" in output


# ---------------------------------------------------------------------------------------
# Without MPI
# ---------------------------------------------------------------------------------------


@pytest.mark.mpi
def test_forced_communicator_of_one_process() -> None:
    find_mpiexec()  # fails clearly without the mpi extra
    code = textwrap.dedent(
        """
        import numpy as np
        from deltaprop import Network, Trainer
        from deltaprop.parallel import get_communicator
        comm = get_communicator(True)
        assert (comm.rank, comm.size, comm.is_root) == (0, 1, True), comm
        assert comm.split(5) == slice(0, 5)
        buf = np.arange(4.0); comm.allreduce(buf)
        assert buf.tolist() == [0.0, 1.0, 2.0, 3.0]
        try:
            comm.allreduce(np.zeros((4, 4))[:, 0])
        except ValueError as exc:
            assert "C-contiguous" in str(exc)
        else:
            raise AssertionError("a strided buffer was accepted")
        rng = np.random.default_rng(0)
        X, y = rng.normal(size=(30, 3)), rng.normal(size=30)
        nets = [Network([3, 4, 1], "tanh", "mse", seed=0) for _ in range(2)]
        for net, c in zip(nets, [None, comm]):
            Trainer(net, "adam", batch_size=7, epochs=3, seed=0, communicator=c).fit(X, y)
        np.testing.assert_allclose(nets[1].parameters, nets[0].parameters, rtol=1e-12)
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARS}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env,
        timeout=HANG_GUARD_S,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


@pytest.mark.mpi
@pytest.mark.slow
def test_estimator_fit_under_mpi_equals_one_process(tmp_path: Path) -> None:
    """``MLPClassifier(distributed=True)`` on 2 ranks: the weights of one process."""
    out = tmp_path / "est.json"
    proc = run_mpi(2, str(SCRIPTS / "estimator_fit.py"), str(out))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["identical"]
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        single = load_script("estimator_fit").fit()
    assert_close(np.array(result["params"]), single.network_.parameters)
