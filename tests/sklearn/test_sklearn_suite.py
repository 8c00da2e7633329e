"""scikit-learn's own MLP test suite, run against deltaprop's estimators.

``sklearn/neural_network/tests/test_mlp.py`` (shipped with scikit-learn) is copied with one
line changed, the import of ``MLPClassifier`` and ``MLPRegressor``, and run in a subprocess.
Every test passes except ``test_gradient``, which calls scikit-learn's private internals
(``_forward_pass``, ``_backprop``, ``_loss_grad_lbfgs``) rather than the estimator API; our
gradients are checked against finite differences and PyTorch in ``test_network.py``;
and ``test_lbfgs_regression``, whose ``activation="logistic"`` case (``score > 0.98``) holds
for scikit-learn's own estimator at its ``random_state=1`` by luck: with scikit-learn's initial
weights (``factor=2`` for logistic, the estimators' default here too) lbfgs stops after 6
iterations at ``score = 0.81`` for half the seeds, scikit-learn's as ours
(``test_lbfgs_logistic_regression_succeeds_as_often_as_scikit_learns`` compares the two).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sklearn

SUITE = Path(sklearn.__file__).parent / "neural_network" / "tests" / "test_mlp.py"
ORIGINAL_IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor"
CONFTEST = """
import pytest


@pytest.fixture(params=[0, 42])
def global_random_seed(request):
    return request.param
"""


@pytest.mark.slow
def test_scikit_learns_mlp_suite_passes_on_our_estimators(tmp_path: Path) -> None:
    source = SUITE.read_text()
    assert source.count(ORIGINAL_IMPORT) == 1, "scikit-learn's test file changed its imports"
    (tmp_path / "test_mlp_backprop.py").write_text(
        source.replace(ORIGINAL_IMPORT, "from deltaprop import MLPClassifier, MLPRegressor")
    )
    (tmp_path / "conftest.py").write_text(CONFTEST)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         "--deselect", "test_mlp_backprop.py::test_gradient",
         "--deselect", "test_mlp_backprop.py::test_lbfgs_regression", "test_mlp_backprop.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary, summary
