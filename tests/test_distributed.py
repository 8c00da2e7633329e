"""Data-parallel training over MPI (deltaprop.parallel.mpi).

The tests marked ``mpi`` start real MPI jobs (``mpiexec -n 2 python -m mpi4py ...``) of the
scripts in ``tests/mpi_scripts/``: training with a global batch ``B`` on 2 ranks gives the
weights of one process with batch ``B`` (float64, 1e-10 relative; uneven and empty shares,
a last partial batch, sample and class weights, L2, clipping, SGD-momentum, Nesterov,
RMSprop and Adam), every rank holds bit-identical weights and histories, only rank 0
writes files, and a rank that raises ends the whole job with its error. The MPI extra is
part of the test install (``make test``), so a missing ``mpiexec`` fails these tests.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from deltaprop.parallel.mpi import (
    ENV_SWITCH,
    abort_on_error,
    even_share,
    gather_rows,
    get_communicator,
    get_rank,
    is_root,
    launcher_rank,
    launcher_size,
    shard_rows,
    shared_seed,
)

SCRIPTS = Path(__file__).parent / "mpi_scripts"
HANG_GUARD_S = 120  # a job still running after this is a hang, not a slow machine
LAUNCHER_VARS = (
    "PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK",
    "MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK", "PMIX_RANK", ENV_SWITCH,
)  # fmt: skip

# name -> configuration of tests/mpi_scripts/train_replicated.py; the first also writes files.
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


# ---------------------------------------------------------------------------------------
# Running MPI jobs
# ---------------------------------------------------------------------------------------
def find_mpiexec() -> str:
    """The mpiexec next to this Python (the mpich wheel's), else the one on PATH; fails if none."""
    here = Path(sys.executable).parent / "mpiexec"
    found = str(here) if here.exists() else shutil.which("mpiexec")
    if found is None:
        pytest.fail(
            "mpiexec was found neither next to this Python nor on PATH. The MPI tests need "
            "the mpi extra (pip install -e '.[test,mpi]', as `make test` does); a missing "
            "MPI is a defect of the test environment, not a reason to skip."
        )
    if importlib.util.find_spec("mpi4py") is None:
        pytest.fail("mpi4py is not installed: pip install -e '.[test,mpi]' (as `make test` does)")
    return found


def mpi_env() -> dict[str, str]:
    """This environment without launcher variables, one BLAS thread per rank."""
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARS}
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    return env


def run_mpi(n: int, *args: str, run_with_mpi4py: bool = True) -> subprocess.CompletedProcess[str]:
    """``mpiexec -n N python [-m mpi4py] ARGS``, failing the test if it hangs."""
    python = [sys.executable, "-m", "mpi4py"] if run_with_mpi4py else [sys.executable]
    cmd = [find_mpiexec(), "-n", str(n), *python, *args]
    try:
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=HANG_GUARD_S, env=mpi_env()
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(cmd)} hung for {HANG_GUARD_S} s; output: {exc.stderr!r}")


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"mpi_script_{name}", SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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

    from deltaprop.app.tabular import read_table

    rng = np.random.default_rng(0)
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    lines = [
        f"{i},{rng.normal():.4f},{'' if i % 17 == 3 else rng.choice(['red', 'green'])},{i % 5}"
        for i in range(101)
    ]
    lines[80] = "80,0.5,red"  # a short row: the last column missing
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
        f"cannot parse '{bad}' as CSV: Error tokenizing data. C error: Expected 4 fields in "
        "line 72, saw 5"
    )
    assert result["errors"] == [message, message]
    with pytest.raises(ValueError, match="in line 72, saw 5"):
        read_table(bad)


# ---------------------------------------------------------------------------------------
# A failing rank ends the job
# ---------------------------------------------------------------------------------------
@pytest.mark.mpi
@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "run_with_mpi4py", "banner"),
    [
        ((), True, "Traceback"),
        (("--guard",), False, "rank 1 of 2 failed; aborting the MPI job"),
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


# ---------------------------------------------------------------------------------------
# Without MPI
# ---------------------------------------------------------------------------------------
@pytest.fixture
def no_launcher(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in LAUNCHER_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


@pytest.mark.parametrize("size", [1, 2, 3, 5])
@pytest.mark.parametrize("n", [0, 1, 2, 7, 10, 203])
def test_even_share_tiles_the_rows_as_evenly_as_possible(n: int, size: int) -> None:
    shares = [even_share(n, r, size) for r in range(size)]
    assert shares[0].start == 0 and shares[-1].stop == n
    assert all(a.stop == b.start for a, b in itertools.pairwise(shares))
    lengths = [s.stop - s.start for s in shares]
    assert max(lengths) - min(lengths) <= 1 and lengths == sorted(lengths, reverse=True)


@pytest.mark.parametrize(
    ("args", "match"),
    [((-1, 0, 2), "n must be a non-negative integer"), ((3, 2, 2), r"rank must be in \[0, size\)")],
)
def test_even_share_rejects_bad_arguments(args: tuple[int, int, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        even_share(*args)


def test_without_launcher_everything_is_single_process(no_launcher: pytest.MonkeyPatch) -> None:
    assert launcher_size() is None and launcher_rank() == 0
    assert get_communicator() is None and get_communicator(False) is None
    assert is_root(None) and get_rank(None) == 0
    assert shard_rows(5, None) == slice(0, 5)
    assert shared_seed(11, None) == 11
    data = np.arange(6.0).reshape(3, 2)
    assert gather_rows(data, None) is data


def test_launcher_environment(no_launcher: pytest.MonkeyPatch) -> None:
    no_launcher.setenv("PMI_SIZE", "1")
    no_launcher.setenv("PMI_RANK", "0")
    assert launcher_size() == 1
    assert get_communicator() is None  # mpiexec -n 1: one process, no MPI needed
    no_launcher.setenv("PMI_RANK", "1")
    assert not is_root(None) and get_rank(None) == 1
    no_launcher.delenv("PMI_SIZE")
    no_launcher.delenv("PMI_RANK")
    no_launcher.setenv("PMIX_RANK", "0")
    assert launcher_size() == 0  # a launcher, size not in the environment
    no_launcher.setenv("OMPI_COMM_WORLD_SIZE", "4")
    assert launcher_size() == 4


@pytest.mark.parametrize("value", ["0", "false", "OFF", "no"])
def test_env_switch_turns_mpi_off(no_launcher: pytest.MonkeyPatch, value: str) -> None:
    no_launcher.setenv("PMI_SIZE", "4")
    no_launcher.setenv(ENV_SWITCH, value)
    assert get_communicator("auto") is None


def test_bad_mode_and_env_switch_are_named(no_launcher: pytest.MonkeyPatch) -> None:
    with pytest.raises(
        ValueError, match=r"distributed must be 'auto', True or False\. Received: 'yes'"
    ):
        get_communicator("yes")  # type: ignore[arg-type]
    no_launcher.setenv(ENV_SWITCH, "maybe")
    with pytest.raises(ValueError, match=r"DELTAPROP_DISTRIBUTED must be 1, 0 or auto.*'maybe'"):
        get_communicator()


def test_missing_mpi4py_says_what_to_install(no_launcher: pytest.MonkeyPatch) -> None:
    no_launcher.setitem(sys.modules, "mpi4py", None)  # makes `import mpi4py` fail
    with pytest.raises(
        ImportError, match=r"pip install 'deltaprop\[mpi\]'.*DELTAPROP_DISTRIBUTED=0"
    ):
        get_communicator(True)
    no_launcher.setenv("PMI_SIZE", "2")  # launched with 2 processes: never silently alone
    with pytest.raises(ImportError, match="needs mpi4py"):
        get_communicator()


def test_auto_does_not_import_mpi4py_outside_a_launcher() -> None:
    code = textwrap.dedent(
        """
        import sys
        from deltaprop.parallel.mpi import get_communicator, is_root
        assert get_communicator("auto") is None and is_root()
        assert "mpi4py" not in sys.modules, "mpi4py was imported"
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARS}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.mpi
def test_forced_communicator_of_one_process() -> None:
    find_mpiexec()  # fails clearly without the mpi extra
    code = textwrap.dedent(
        """
        import numpy as np
        from deltaprop import Network, Trainer
        from deltaprop.parallel.mpi import get_communicator
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


class FakeComm:
    """A two-rank communicator whose abort is recorded instead of ending the process."""

    rank, size = 1, 2

    def __init__(self) -> None:
        self.aborted: list[int] = []

    def split(self, n: int) -> slice:
        return even_share(n, self.rank, self.size)

    def allreduce(self, buffer: np.ndarray) -> None:
        raise AssertionError("not used")

    def abort(self, errorcode: int = 1) -> None:
        self.aborted.append(errorcode)


def test_abort_on_error_reports_and_aborts(capsys: pytest.CaptureFixture[str]) -> None:
    comm = FakeComm()
    with pytest.raises(ValueError, match="boom"), abort_on_error(comm):
        raise ValueError("boom")
    assert comm.aborted == [1]
    err = capsys.readouterr().err
    assert "rank 1 of 2 failed; aborting the MPI job" in err
    assert "ValueError: boom" in err and "Traceback" in err


def test_abort_on_error_without_mpi_just_raises(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(KeyError), abort_on_error(None):
        raise KeyError("x")
    assert capsys.readouterr().err == ""


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
