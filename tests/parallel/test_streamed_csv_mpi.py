"""A malformed row in one rank's share of a streamed CSV under ``mpiexec -n 2``: the
failing rank's error reaches every rank, so the job ends (no rank waits forever in a
collective) with the one-line error, exit code 2, and no work folder left."""

from __future__ import annotations

from pathlib import Path

import pytest
from mpirun import SCRIPTS, run_mpi

ROWS = 400


def table(path: Path, bad: int, fields: str) -> Path:
    """``ROWS`` rows of 4 fields; data row ``bad`` (line ``bad + 1``) ends in ``fields``
    instead of its last two."""
    lines = ["a,b,c,y"] + [f"{i % 7},{(i * 3) % 11 / 4},u{i % 3},{i % 2}" for i in range(ROWS)]
    lines[bad] = lines[bad].rsplit(",", 2)[0] + fields
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.mpi
@pytest.mark.parametrize(
    ("bad", "fields", "seen"),
    [(350, ",u1,1,1.5", 5), (150, ",u1,1,1.5", 5), (350, "", 2)],
    ids=["extra-field-rank1", "extra-field-rank0", "short-row-rank1"],
)
def test_a_malformed_row_on_one_rank_ends_the_job_on_every_rank(
    tmp_path: Path, bad: int, fields: str, seen: int
) -> None:
    path = table(tmp_path / "bad.csv", bad, fields)
    out = tmp_path / "mout"
    proc = run_mpi(  # streamed_cli.py streams every CSV; a hang fails the test (run_mpi)
        2, str(SCRIPTS / "streamed_cli.py"), "train", str(path), "--target", "y",
        "--out", str(out), "--epochs", "1", "--hidden", "8", run_with_mpi4py=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "data-parallel training on 2 MPI processes" in proc.stdout
    assert proc.stderr == (
        f"deltaprop: error: cannot parse '{path}' as CSV: "
        + f"Expected 4 fields in line {bad + 1}, saw {seen}"
        + (" (a row with more fields than the header names: a separator at its end, or a "
           "field holding the separator unquoted? Remove it, or name the field in the header)"
           if seen > 4 else " (a row with fields missing at its end; an empty field, as in "
           "a,,b, is a missing value)")
        + "\n"
    )  # fmt: skip
    assert not (out / ".streamed").exists()
