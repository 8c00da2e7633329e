"""What a new process of the command loads, and how it ends (:func:`deltaprop.app.cli.run`):
``import deltaprop`` and ``deltaprop train --no-report`` load none of the optional heavy
packages, and the process ends with the command's exit code after the exit handlers ran."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

SRC = Path(__file__).resolve().parents[2] / "src"
HEAVY = ["matplotlib", "onnx", "onnxruntime", "torch", "tensorboardX", "mlflow", "mpi4py", "jax"]
OTHER_COMMANDS = [f"deltaprop.app.commands.{c}" for c in ("demo", "export", "gradcheck", "inspect",
                                                          "predict")]  # fmt: skip


def _python(code: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DELTAPROP_DISTRIBUTED": "0",
           "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=600)  # fmt: skip


def _loaded(code: str, *args: str) -> list[str]:
    done = _python(f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_deltaprop_loads_no_heavy_package_nor_numba() -> None:
    loaded = _loaded("import deltaprop")
    assert [m for m in [*HEAVY, "numba"] if m in loaded] == []


def test_train_without_a_report_loads_no_heavy_package_nor_other_commands(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    frame["y"] = (frame["a"] > 0).astype(int)
    frame.to_csv(tmp_path / "t.csv", index=False)
    argv = ["train", str(tmp_path / "t.csv"), "--target", "y", "--epochs", "2", "--hidden", "4",
            "--no-report", "--quiet", "--out", str(tmp_path / "run")]  # fmt: skip
    loaded = _loaded(f"from deltaprop.app.cli import main\nassert main({argv!r}) == 0")
    assert (tmp_path / "run" / "model.safetensors").is_file()
    assert [m for m in HEAVY + OTHER_COMMANDS if m in loaded] == []
    assert "deltaprop.app.commands.train" in loaded


RUN = """
import atexit, sys, threading, time
from pathlib import Path
atexit.register(lambda: print("exit handler ran", flush=True))
if len(sys.argv) > 2:  # a thread that still works when the command returns
    def work(path=Path(sys.argv[2])):
        time.sleep(0.3)
        path.write_text("done")
    threading.Thread(target=work).start()
print("buffered output", end="")
sys.argv = ["deltaprop", "train", sys.argv[1], "--target", "y"]
from deltaprop.app.cli import run
run()
"""


def test_run_ends_with_the_code_of_main_after_the_exit_handlers(tmp_path: Path) -> None:
    done = _python(RUN, str(tmp_path / "missing.csv"))
    assert done.returncode == 2
    assert done.stdout == "buffered outputexit handler ran\n"
    assert "deltaprop: error:" in done.stderr and "missing.csv" in done.stderr


def test_run_leaves_a_working_thread_its_usual_exit(tmp_path: Path) -> None:
    done = _python(RUN, str(tmp_path / "missing.csv"), str(tmp_path / "thread.txt"))
    assert done.returncode == 2, done.stderr
    assert (tmp_path / "thread.txt").read_text() == "done"
    assert done.stdout.endswith("exit handler ran\n")
