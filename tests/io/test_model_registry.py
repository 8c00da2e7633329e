"""The registry of loadable classes (deltaprop.io.registry): a class that a file names is
found through its ``deltaprop.models`` entry point when nothing has registered it yet."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deltaprop import Network
from deltaprop.io import MODEL_ENTRY_POINTS, ModelFileError, load, registry, save
from tests.filetools import rewrite, split_file

PLUGIN = """
import numpy as np
from deltaprop.io import register_model_class


class Toy:
    def __init__(self, w):
        self.w = w

    def _get_model_state(self):
        return {}, {"w": self.w}

    @classmethod
    def _from_model_state(cls, config, arrays):
        return cls(arrays["w"])


register_model_class(Toy)
"""


def _entry_points(declared: dict[str, str]) -> Any:
    def entry_points(*, group: str, name: str | None = None) -> list[metadata.EntryPoint]:
        assert group == MODEL_ENTRY_POINTS
        return [metadata.EntryPoint(n, v, group) for n, v in declared.items()
                if name in (None, n)]  # fmt: skip

    return entry_points


def _file_naming(tmp_path: Path, cls: str) -> Path:
    path = save(Network([2, 1], seed=0), tmp_path / f"{cls}.safetensors")
    header, data = split_file(path.read_bytes())
    header["__metadata__"]["class"] = cls
    del header["__metadata__"]["layout"]
    header["__metadata__"]["config"] = "{}"
    return rewrite(path, header, data)


def test_the_estimators_declare_their_entry_points() -> None:
    declared = {e.name: e.value for e in metadata.entry_points(group=MODEL_ENTRY_POINTS)}
    assert declared == {"MLPClassifier": "deltaprop.sklearn", "MLPRegressor": "deltaprop.sklearn"}


def test_a_new_process_loads_an_estimator_file_without_importing_the_estimators(
    tmp_path: Path,
) -> None:
    from deltaprop.sklearn import MLPRegressor

    X = np.random.default_rng(0).normal(size=(30, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the 3 epochs' ConvergenceWarning
        est = MLPRegressor(hidden_layer_sizes=(3,), max_iter=3, random_state=0).fit(X, X[:, 0])
    path = save(est, tmp_path / "r.safetensors")
    code = (
        "import sys\nimport numpy as np\nfrom deltaprop.io import load\n"
        "assert 'deltaprop.sklearn' not in sys.modules and 'sklearn' not in sys.modules\n"
        f"m = load({str(path)!r})\nprint(type(m).__module__, type(m).__name__)\n"
        f"np.save({str(tmp_path / 'p.npy')!r}, m.predict(np.ones((2, 2))))"
    )
    env = {**os.environ, "DELTAPROP_DISTRIBUTED": "0"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["deltaprop.sklearn.regressor", "MLPRegressor"]
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), est.predict(np.ones((2, 2))))


def test_another_packages_entry_point_makes_its_class_loadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "toy_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_KINDS", dict(registry._KINDS))  # undone after the test
    monkeypatch.setattr(registry.metadata, "entry_points", _entry_points({"Toy": "toy_plugin"}))
    w = np.arange(3.0)
    path = save(_toy(w), tmp_path / "toy.safetensors")  # written by the class itself
    monkeypatch.delitem(sys.modules, "toy_plugin")  # a new process: neither imported
    monkeypatch.setattr(
        registry, "_KINDS", {k: v for k, v in registry._KINDS.items() if k != "Toy"}
    )
    back = load(path)  # the entry point imports toy_plugin, which registers Toy
    assert type(back).__name__ == "Toy" and "toy_plugin" in sys.modules
    np.testing.assert_array_equal(back.w, w)


def _toy(w: np.ndarray) -> Any:
    import toy_plugin

    return toy_plugin.Toy(w)


def test_a_broken_or_missing_entry_point_is_a_clear_model_file_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    declared = {"Broken": "no_such_module_for_deltaprop", "Other": "elsewhere"}
    monkeypatch.setattr(registry.metadata, "entry_points", _entry_points(declared))
    with pytest.raises(
        ModelFileError,
        match=r"Broken\.safetensors.*class 'Broken' is registered by "
        r"'no_such_module_for_deltaprop', which failed to import: ModuleNotFoundError",
    ):
        load(_file_naming(tmp_path, "Broken"))
    with pytest.raises(
        ModelFileError, match=r"unknown model class 'Nope'; loadable classes: Network, .*Other"
    ):
        load(_file_naming(tmp_path, "Nope"))
