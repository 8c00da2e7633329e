"""A generator of hostile inputs for the ``deltaprop`` command, and the runner that gives
each one to the command with its address space capped.

:func:`command_cases` writes the hostile data files (CSVs, ``.npz``, special files) into a
folder, reuses :mod:`tests.io.hostile`'s model files and checkpoints, and returns one
:class:`CommandCase` per command line: the arguments, the exit code the command must end
with, the name its one error line must contain, and the files it must leave untouched.

:func:`run_cases` runs them: one interpreter imports the command once, then forks a child
per case. The child caps its address space (RLIMIT_AS: what the imports mapped plus
``cap_extra``), sends its standard output and error to files and calls
``deltaprop.app.cli.main`` as ``python -m deltaprop`` does; the parent kills a child that
does not end within ``timeout`` seconds (a hang). Forking keeps ~150 cases within seconds;
``tests/app/test_hostile_command.py`` also runs a few of them through ``python -m deltaprop``
itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
PENGUINS = ROOT / "tests" / "data" / "penguins.csv"
MODEL = ROOT / "tests" / "data" / "legacy" / "command_penguins.safetensors"
GIB = 2**30
SPECIAL = ("fifo", "fifo_checkpoint", "directory", "dev_zero")
"""The paths that are not regular files (a reader of a FIFO would block: a short bound)."""


@dataclass(frozen=True)
class CommandCase:
    """One command line and what its one error line must say."""

    name: str
    kind: str  # the class of issue #14 it belongs to (see docs/reliability.md)
    argv: list[str]
    names: str  # a substring the error line must contain (the file or the argument)
    code: int = 2
    untouched: list[str] = field(default_factory=list)  # files whose bytes must not change
    timeout: float = 60  # seconds before the case counts as a hang (a FIFO: 15)


def _csv_files(folder: Path) -> dict[str, Path]:
    """The hostile tables: each a name → a path in ``folder``."""
    good = PENGUINS.read_text()
    header, *rows = good.splitlines()
    out: dict[str, bytes] = {
        "binary_garbage": np.random.default_rng(0).bytes(4096),
        "nul_bytes": good.encode().replace(b",", b"\x00,", 40),
        "all_nul": b"\x00" * 10000,
        "huge_field": (
            header + "\n" + "1,Adelie,Dream," + "9" * 20_000_000 + ",1,male,1\n"
        ).encode(),
        "wide_1e5_columns": (
            ",".join(f"c{i}" for i in range(10**5))
            + ",species\n"
            + ",".join("1" for _ in range(10**5))
            + ",Adelie\n"
        ).encode(),
        "one_column": ("species\n" + "\n".join(r.split(",")[1] for r in rows) + "\n").encode(),
        "unbalanced_quote": good.replace("Dream", '"Dream', 1).encode(),
        "bom": b"\xef\xbb\xbf" + good.encode(),
        "utf16": good.encode("utf-16"),
        "latin1_mixed": good.replace("Dream", "Dr\u00e9am", 3).encode("latin-1"),
        "inf_nan_1e308": (
            header
            + "\n"
            + "\n".join(
                r.replace(",215,", ",inf,").replace(",192,", ",1e308,").replace(",4830", ",nan")
                for r in rows
            )
            + "\n"
        ).encode(),
        "all_1e308": (
            header
            + "\n"
            + "\n".join(
                ",".join([*r.split(",")[:3], "1e308", "-1e308", r.split(",")[5], "1e308"])
                for r in rows
            )
            + "\n"
        ).encode(),
        "empty": b"",
        "header_only": (header + "\n").encode(),
    }
    paths = {}
    for name, data in out.items():
        paths[name] = folder / f"{name}.csv"
        paths[name].write_bytes(data)
    paths.update(_npz_files(folder))
    return paths


def _npz_files(folder: Path) -> dict[str, Path]:
    """``.npz`` files whose member declares far more than it holds, and one with pickles."""
    paths = {}
    for name, shape in (("npz_declares_2gib", (2**28,)), ("npz_declares_1e12_wide", (2, 10**12))):
        header = {"descr": "<f8", "fortran_order": False, "shape": shape}
        text = repr(header).encode()
        text += b" " * (63 - (10 + len(text)) % 64) + b"\n"
        npy = b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + b"\0" * 64
        paths[name] = folder / f"{name}.npz"
        with zipfile.ZipFile(paths[name], "w") as z:
            z.writestr("X.npy", npy)
            z.writestr("y.npy", npy)
    paths["npz_object"] = folder / "npz_object.npz"
    np.savez(paths["npz_object"], X=np.array([{"a": 1}, None], dtype=object))
    paths["npz_not_zip"] = folder / "npz_not_zip.npz"
    paths["npz_not_zip"].write_bytes(b"PK\x03\x04" + b"\xff" * 100)
    return paths


def _special_files(folder: Path) -> dict[str, Path]:
    fifo = folder / "fifo.csv"
    os.mkfifo(fifo)
    out = {"fifo": fifo, "directory": folder / "a_directory.csv"}
    out["directory"].mkdir()
    if os.path.exists("/dev/zero"):
        out["dev_zero"] = Path("/dev/zero")
    return out


def command_cases(folder: Path) -> list[CommandCase]:
    """Write every hostile input into ``folder`` and return the command lines."""
    from tests.io.hostile import hostile_cases

    folder.mkdir(parents=True, exist_ok=True)
    model = str(shutil.copy(MODEL, folder / "model.safetensors"))
    data = str(shutil.copy(PENGUINS, folder / "penguins.csv"))
    keep = [model, data]
    cases: list[CommandCase] = []
    tables = {**_csv_files(folder), **_special_files(folder)}
    os.link(data, folder / "hard_link_to_data.ckpt")
    os.symlink(model, folder / "link_to_model.csv")

    # ---- hostile tables, given to each subcommand that reads a table
    for name, path in tables.items():
        p = str(path)
        out = str(folder / f"pred_{name}.csv")
        wait = 5 if name == "fifo" else 15 if name in SPECIAL else 60  # a FIFO hangs today
        cases += [
            CommandCase(
                f"train_table_{name}",
                "table",
                [
                    "train",
                    p,
                    "--target",
                    "species",
                    "--out",
                    str(folder / f"run_{name}"),
                    "--epochs",
                    "2",
                    "--quiet",
                    "--no-report",
                ],
                path.name,
                untouched=keep,
                timeout=wait,
            ),
            CommandCase(
                f"predict_table_{name}",
                "table",
                ["predict", model, p, "-o", out],
                path.name,
                untouched=keep,
                timeout=wait,
            ),
        ]
        if name != "wide_1e5_columns":  # 10 s each; predict reads it as evaluate does
            cases.append(CommandCase(f"evaluate_table_{name}", "table", ["evaluate", model, p],
                                     path.name, untouched=keep, timeout=wait))  # fmt: skip

    # ---- hostile model files and checkpoints (tests/io/hostile.py), through every reader
    (folder / "models").mkdir()
    for case in hostile_cases(folder / "models"):
        name, wait = Path(case.path).name, 15 if case.name in SPECIAL else 60
        if case.loader == "model":
            onnx = str(folder / f"{case.name}.onnx")
            for sub, argv in (("inspect", ["inspect", case.path]),
                              ("predict", ["predict", case.path, data]),
                              ("evaluate", ["evaluate", case.path, data]),
                              ("export", ["export", case.path, "--onnx", onnx])):  # fmt: skip
                cases.append(CommandCase(f"{sub}_{case.name}", "model file", argv, name,
                                         untouched=keep, timeout=wait))  # fmt: skip
        else:
            run = str(folder / f"resume_{case.name}")
            cases.append(CommandCase(f"resume_{case.name}", "checkpoint",
                                     ["train", data, "--target", "species", "--out", run,
                                      "--quiet", "--no-report", "--hidden", "32",  # reads --resume
                                      "--resume", case.path],
                                     name, untouched=keep, timeout=wait))  # fmt: skip

    # ---- bad flags: refused when the command line is read, naming the option
    train = ["train", data, "--target", "species", "--out", str(folder / "run_flags"),
             "--quiet", "--no-report"]  # fmt: skip
    for flag, value in (("--seed", "-1"), ("--seed", str(2**66)), ("--seed", "1e3"),
                        ("--hidden", "10000000000"), ("--hidden", "-3"), ("--hidden", "64,,32"),
                        ("--epochs", "0"), ("--epochs", "-5"),
                        ("--learning-rate", "nan"), ("--learning-rate", "inf"),
                        ("--learning-rate", "-1"), ("--learning-rate", "1e400"),
                        ("--batch-size", "0"),
                        ("--activation", "swishy"), ("--activation", "softmax"),
                        ("--optimizer", "adamax"), ("--validation", "1.5"),
                        ("--validation", "nan"), ("--dropout", "1"), ("--patience", "-1"),
                        ("--alpha", "nan"), ("--momentum", "inf"), ("--dtype", "float16"),
                        ("--checkpoint-every", "0")):  # fmt: skip
        slug = f"{flag.strip('-')}_{value}".replace(",", "_")[:40]
        cases.append(CommandCase(f"flag_{slug}", "flag", [*train, flag, value], flag,
                                 untouched=keep))  # fmt: skip
    cases.append(CommandCase("evaluate_target_an_input", "flag",  # was "lacks the column"
                             ["evaluate", model, data, "--target", "island"],
                             "--target 'island' is one of the model's input columns",
                             untouched=keep))  # fmt: skip
    for sub, flag, value in (("gradcheck", "--layers", "4,100000000,3"),
                             ("gradcheck", "--samples", "0"), ("gradcheck", "--seed", "-1"),
                             ("gradcheck", "--samples", "10000000000"),
                             ("export", "--opset", "0"), ("export", "--opset", "3")):  # fmt: skip
        argv = [sub, flag, value] if sub == "gradcheck" else [
            sub, model, "--onnx", str(folder / "x.onnx"), flag, value]  # fmt: skip
        cases.append(CommandCase(f"flag_{sub}_{flag.strip('-')}_{value}"[:50], "flag", argv,
                                 flag, untouched=keep))  # fmt: skip

    # ---- outputs over inputs, even with --force
    cases += [
        CommandCase(
            "force_predict_over_data",
            "output over input",
            ["predict", model, data, "-o", data, "--force"],
            "penguins.csv",
            untouched=keep,
        ),
        CommandCase(
            "force_predict_over_model",
            "output over input",
            ["predict", model, data, "-o", model, "--force"],
            "model.safetensors",
            untouched=keep,
        ),
        CommandCase(
            "force_export_over_model",
            "output over input",
            ["export", model, "--onnx", model, "--force"],
            "model.safetensors",
            untouched=keep,
        ),
        CommandCase(
            "force_train_checkpoint_over_data",
            "output over input",
            [*train, "--checkpoint-every", "1", "--checkpoint", data, "--force"],
            "penguins.csv",
            untouched=keep,
        ),
        CommandCase(
            "force_train_checkpoint_hard_link_to_data",
            "output over input",
            [
                *train,
                "--checkpoint-every",
                "1",
                "--checkpoint",
                str(folder / "hard_link_to_data.ckpt"),
                "--force",
            ],
            "hard_link_to_data",
            untouched=keep,
        ),
        CommandCase(
            "force_predict_over_symlink_to_model",
            "output over input",
            ["predict", model, data, "-o", str(folder / "link_to_model.csv"), "--force"],
            "link_to_model.csv",
            untouched=keep,
        ),
    ]
    ok = ("bom", "all_1e308")  # a BOM is read; a classifier's softmax saturates, finite
    return [CommandCase(c.name, c.kind, c.argv, c.names, 0, c.untouched, c.timeout)
            if c.kind == "table" and c.name.endswith(ok) and not c.name.startswith("train_table_all")
            else c for c in cases]  # fmt: skip


# Runs each case of the JSON file argv[1] in a forked child capped at the imports' address
# space plus argv[2] bytes, and prints one JSON line per case.
RUNNER = r"""
import json, os, re, resource, signal, sys, time
os.environ.update(COLUMNS="120", DELTAPROP_DISTRIBUTED="0")
import pandas, sklearn.preprocessing, deltaprop, deltaprop.sklearn, deltaprop.app.cli
cases, extra = json.load(open(sys.argv[1])), int(sys.argv[2])
folder = os.path.dirname(sys.argv[1])
for case in cases:
    out, err = (os.path.join(folder, f"{case['name']}.{s}") for s in ("out", "err"))
    start, pid = time.monotonic(), os.fork()
    if pid == 0:
        try:
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            for fd, path in ((1, out), (2, err)):
                os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
            vm = int(re.search(r"VmSize:\s+(\d+)", open("/proc/self/status").read())[1]) * 1024
            resource.setrlimit(resource.RLIMIT_AS, (vm + extra, vm + extra))
            sys.argv = ["deltaprop", *case["argv"]]
            code = deltaprop.app.cli.main(case["argv"])
            sys.stdout.flush(); sys.stderr.flush()
            os._exit(code)
        except BaseException:
            import traceback
            traceback.print_exc(); sys.stderr.flush()
            os._exit(99)
    deadline, status = time.monotonic() + case["timeout"], None
    while status is None:
        done, wstatus = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(wstatus)
        elif time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0); status = "hung"
        else:
            time.sleep(0.005)
    read = lambda p: open(p, errors="replace").read(100_000)
    print(json.dumps({"name": case["name"], "code": status, "stderr": read(err),
                      "stdout": read(out), "seconds": time.monotonic() - start}), flush=True)
"""


def run_cases(
    cases: list[CommandCase], folder: Path, cap_extra: int = GIB
) -> dict[str, dict[str, object]]:
    """Each case's exit code (``"hung"`` past its ``timeout``), stderr and stdout."""
    listing = folder / "cases.json"
    listing.write_text(json.dumps([asdict(c) for c in cases]))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, str(listing), str(cap_extra)],
        capture_output=True, text=True, cwd=folder, env=env,
        timeout=120 + sum(c.timeout for c in cases if c.name.endswith(SPECIAL)) + 5 * len(cases),
    )  # fmt: skip
    results = {r["name"]: r for r in map(json.loads, proc.stdout.splitlines())}
    why = f"the runner ended with {proc.returncode}: {proc.stderr[-1000:]}"
    for case in cases:
        results.setdefault(case.name, {"code": None, "stderr": why, "stdout": ""})
    return results
