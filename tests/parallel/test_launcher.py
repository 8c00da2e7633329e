"""Finding the launcher without MPI: the environment, the switch, the missing mpi4py
(deltaprop.parallel.launcher)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from mpirun import LAUNCHER_VARS

from deltaprop.parallel import (
    ENV_SWITCH,
    gather_rows,
    get_communicator,
    get_rank,
    is_root,
    launcher_rank,
    launcher_size,
    shard_rows,
    shared_seed,
)


@pytest.fixture
def no_launcher(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in LAUNCHER_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


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
        from deltaprop.parallel import get_communicator, is_root
        assert get_communicator("auto") is None and is_root()
        assert "mpi4py" not in sys.modules, "mpi4py was imported"
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARS}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
