"""Keeping the ranks together without MPI: one rank's error ends the job
(deltaprop.parallel.replicas)."""

from __future__ import annotations

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
    assert "rank 1 of 2 failed; aborting the MPI job" in err
    assert "ValueError: boom" in err and "Traceback" in err


def test_abort_on_error_without_mpi_just_raises(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(KeyError), abort_on_error(None):
        raise KeyError("x")
    assert capsys.readouterr().err == ""
