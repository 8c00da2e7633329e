"""Keeping the ranks together without MPI: every way a rank leaves the block (exception,
SystemExit, KeyboardInterrupt, SIGINT, SIGTERM) aborts the job, naming the rank
(deltaprop.parallel.replicas); the real jobs are in test_mpi_jobs.py."""

from __future__ import annotations

import signal

import numpy as np
import pytest

from deltaprop.parallel import (
    abort_on_error,
    even_share,
)


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
    assert "rank 1 of 2 failed (ValueError); aborting the MPI job" in err
    assert "ValueError: boom" in err and "Traceback" in err


@pytest.mark.parametrize(
    ("exc", "code", "what"),
    [
        (SystemExit(), 1, "exited (SystemExit with code None)"),
        (SystemExit(0), 1, "exited (SystemExit with code 0)"),
        (SystemExit(3), 3, "exited (SystemExit with code 3)"),
        (SystemExit("bye"), 1, "exited (SystemExit with code 'bye')"),
        (KeyboardInterrupt(), 130, "was interrupted (KeyboardInterrupt)"),
    ],
    ids=["exit-none", "exit-0", "exit-3", "exit-str", "keyboard-interrupt"],
)
def test_abort_on_error_aborts_on_base_exceptions(
    exc: BaseException, code: int, what: str, capsys: pytest.CaptureFixture[str]
) -> None:
    comm = FakeComm()
    with pytest.raises(type(exc)), abort_on_error(comm):
        raise exc
    assert comm.aborted == [code]
    err = capsys.readouterr().err
    assert f"deltaprop.parallel: rank 1 of 2 {what}; aborting the MPI job." in err
    assert "Traceback" in err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_abort_on_error_turns_signals_into_an_abort(
    sig: signal.Signals, capsys: pytest.CaptureFixture[str]
) -> None:
    before = signal.getsignal(sig)
    comm = FakeComm()
    with abort_on_error(comm):
        assert signal.getsignal(sig) is not before
        signal.raise_signal(sig)  # the fake abort returns, so the block goes on
        reached = True
    assert reached and comm.aborted == [128 + sig]
    assert signal.getsignal(sig) is before  # restored
    err = capsys.readouterr().err
    assert f"deltaprop.parallel: rank 1 of 2 received {sig.name}; aborting the MPI job." in err
    assert "test_abort_on_error_turns_signals_into_an_abort" in err  # where it was


def test_abort_on_error_with_one_process_installs_nothing() -> None:
    comm = FakeComm()
    comm.size = 1
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(SystemExit), abort_on_error(comm):
        assert signal.getsignal(signal.SIGINT) is before
        raise SystemExit(2)
    assert comm.aborted == []


def test_abort_on_error_without_mpi_just_raises(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(KeyError), abort_on_error(None):
        raise KeyError("x")
    assert capsys.readouterr().err == ""


def test_abort_on_error_lets_through_what_every_rank_raises_together(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A divergence of the allreduced loss happens on every rank at once: it propagates,
    so the estimator handles it (no model saved by the command), and the job is not aborted."""
    from deltaprop.train import DivergenceError

    comm = FakeComm()
    with pytest.raises(DivergenceError), abort_on_error(comm, passing=(DivergenceError,)):
        raise DivergenceError(epoch=3, loss=float("nan"))
    assert comm.aborted == [] and capsys.readouterr().err == ""
    with pytest.raises(KeyError), abort_on_error(comm, passing=(DivergenceError,)):
        raise KeyError("x")
    assert comm.aborted == [1]
