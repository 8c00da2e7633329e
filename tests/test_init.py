"""The package's own namespace (``src/deltaprop/__init__.py``): its public names are
imported on first use, and what static checkers see is what a user gets."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import deltaprop

INIT = Path(deltaprop.__file__)


def _loaded_after(code: str) -> list[str]:
    env = {**os.environ, "DELTAPROP_DISTRIBUTED": "0"}
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_import_deltaprop_loads_none_of_its_dependencies() -> None:
    loaded = _loaded_after("import deltaprop\nassert deltaprop.__version__")
    assert [m for m in ("numpy", "scipy", "pandas", "sklearn", "numba") if m in loaded] == []


def test_a_name_imports_only_its_own_package() -> None:
    loaded = _loaded_after("import deltaprop\nassert deltaprop.Network([2, 1]).n_params == 3")
    assert "deltaprop.core" in loaded
    assert [m for m in ("sklearn", "deltaprop.sklearn", "deltaprop.train") if m in loaded] == []


def test_every_public_name_resolves_to_its_home_package() -> None:
    for name in deltaprop.__all__:
        value = getattr(deltaprop, name)
        if name != "__version__":
            home = deltaprop._HOMES[name]
            assert value is getattr(sys.modules[home], name), name
    assert set(deltaprop.__all__) <= set(dir(deltaprop))


def test_an_unknown_name_raises_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError, match=r"module 'deltaprop' has no attribute 'Netwrk'"):
        deltaprop.Netwrk  # noqa: B018
    assert not hasattr(deltaprop, "_private_nothing")


def test_the_type_checking_imports_are_the_public_names_and_their_homes() -> None:
    tree = ast.parse(INIT.read_text())
    (block,) = [
        n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"
    ]
    seen = {a.name: node.module for node in block.body if isinstance(node, ast.ImportFrom)
            for a in node.names}  # fmt: skip
    assert seen == deltaprop._HOMES
