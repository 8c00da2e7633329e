"""Running MPI jobs from the tests: ``mpiexec -n N python -m mpi4py SCRIPT``, with a guard
against hangs, the environment without launcher variables, and the scripts of
``tests/parallel/mpi_scripts/``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from deltaprop.parallel import ENV_SWITCH

SCRIPTS = Path(__file__).parent / "mpi_scripts"
HANG_GUARD_S = 120  # a job still running after this is a hang, not a slow machine
LAUNCHER_VARS = (
    "PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK",
    "MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK", "PMIX_RANK", ENV_SWITCH,
)  # fmt: skip


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


def start_mpi(n: int, *args: str) -> subprocess.Popen[str]:
    """``mpiexec -n N python ARGS`` in a session of its own (see :func:`finish_mpi`)."""
    cmd = [find_mpiexec(), "-n", str(n), sys.executable, *args]
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=mpi_env(),
        start_new_session=True,
    )  # fmt: skip


def finish_mpi(proc: subprocess.Popen[str], timeout: float = HANG_GUARD_S) -> tuple[str, str]:
    """Wait for a job of :func:`start_mpi`: its (stdout, stderr). A job still running after
    ``timeout`` is a hang: its whole session (mpiexec, proxies, ranks) is killed and the
    test fails."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        pytest.fail(f"{proc.args} hung for {timeout} s; stderr: {err!r}")


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"mpi_script_{name}", SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
