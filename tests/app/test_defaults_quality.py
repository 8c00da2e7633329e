"""The command's defaults against scikit-learn's models on six small tables (issue 15
item 1): each table split (25 % held out, stratified, split seeds 0, 1 and 2), the command
trained in-process with its defaults on the rest, and its held-out accuracy and log-loss
(R² for the regression) compared with the better of scikit-learn's linear model and MLP,
each in a pipeline of their defaults (median imputation and scaling, one-hot categories).

Measured at split seeds 0, 1 and 2 with the defaults (``--hidden auto``, ``--alpha
auto``; docs/cli.md has the table): the bar is met on iris, wine, penguins and diabetes
at all three, on breast cancer at seeds 1 (by 0.0004 in log-loss) and 2, on digits at
seeds 0 and 2 (the layer of 100 with dropout 0.1 that ``--hidden auto`` trains above 1000
rows). It is missed, as strict expected failures (a fix shows up), on breast cancer at
seed 0 and on digits at seed 1 (:data:`SHORT` says why)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from clitools import PENGUINS, call

CASES = [(n, seed) for n in ["iris", "wine", "penguins", "diabetes"] for seed in (0, 1, 2)]
CASES += [(n, seed) for n in ["breast_cancer", "digits"] for seed in (0, 1, 2)]
SHORT = {
    ("breast_cancer", 0): "held out: accuracy 0.958 (LogisticRegression 0.958) but log-loss "
    "0.100 against LogisticRegression's 0.086: --hidden auto keeps the layer of 32, whose "
    "5-fold cross-validated log-loss on the training rows is lower (0.071 ± 0.009 against "
    "the linear model's 0.084 ± 0.007); the linear model (LogisticRegression's C=1 there) "
    "would reach 0.0861 (0.08587 at its optimum, where C=1 is the best of 0.1-10 held out), still "
    "above LogisticRegression's 0.0858 (18 L-BFGS iterations at tol 1e-4, short of it)",
    ("digits", 1): "held out: log-loss 0.083 (accuracy 0.971) against MLPClassifier's "
    "0.0695 (0.978) at random_state=0, its luckiest of four (0.070-0.090, mean 0.081); "
    "the command's is 0.076-0.083 over --seed 0-2 (mean 0.080), and no setting measured "
    "(docs/cli.md) reached 0.0695 at three seeds",
}
"""Where the defaults fall short of the bar (measured; strict xfail: a fix shows up)."""


def _table(name: str) -> pd.DataFrame:
    from sklearn import datasets

    if name == "penguins":
        return pd.read_csv(PENGUINS).drop(columns="id").rename(columns={"species": "y"})
    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    return bunch.frame.rename(columns={"target": "y"})


def _pipeline(model: Any) -> Any:
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numbers = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    columns = make_column_transformer(
        (numbers, make_column_selector(dtype_include="number")),
        (OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_exclude="number")),
    )
    return make_pipeline(columns, model)


def _theirs(name: str, train: pd.DataFrame, test: pd.DataFrame) -> dict[str, dict[str, float]]:
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
    from sklearn.metrics import accuracy_score, log_loss, r2_score
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from threadpoolctl import threadpool_limits

    X, y, Xt, yt = train.drop(columns="y"), train["y"], test.drop(columns="y"), test["y"]
    results = {}
    if name == "diabetes":
        models = {"LinearRegression": LinearRegression(), "Ridge": Ridge(),
                  "MLPRegressor": MLPRegressor(random_state=0)}  # fmt: skip
    else:
        models = {"LogisticRegression": LogisticRegression(),
                  "MLPClassifier": MLPClassifier(random_state=0)}  # fmt: skip
    for label, model in models.items():
        # one BLAS thread: a pool of threads spinning on a shared machine slows the MLP ~10x
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore")  # MLP's ConvergenceWarning at max_iter=200
            fitted = _pipeline(model).fit(X, y)
        if name == "diabetes":
            results[label] = {"r2": r2_score(yt, fitted.predict(Xt))}
        else:
            proba = fitted.predict_proba(Xt)
            results[label] = {"accuracy": accuracy_score(yt, fitted.predict(Xt)),
                              "log_loss": log_loss(yt, proba, labels=fitted.classes_)}  # fmt: skip
    return results


def _ours(tmp: Path, train: pd.DataFrame, test: pd.DataFrame, capsys: Any) -> dict[str, Any]:
    train.to_csv(tmp / "train.csv", index=False)
    test.to_csv(tmp / "test.csv", index=False)
    code, _, err = call(capsys, "train", tmp / "train.csv", "--target", "y", "--out",
                        tmp / "run", "--quiet", "--no-report")  # fmt: skip
    assert code == 0, err
    code, text, err = call(capsys, "evaluate", tmp / "run" / "model.safetensors",
                           tmp / "test.csv", "--json")  # fmt: skip
    assert code == 0, err
    return dict(json.loads(text))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "seed"),
    [pytest.param(*c, marks=pytest.mark.xfail(strict=True, reason=SHORT[c])) if c in SHORT
     else c for c in CASES],
)  # fmt: skip
def test_the_defaults_reach_scikit_learn_on_small_tables(
    name: str, seed: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sklearn.model_selection import train_test_split

    frame = _table(name)
    stratify = None if name == "diabetes" else frame["y"]
    train, test = train_test_split(frame, test_size=0.25, random_state=seed, stratify=stratify)
    theirs = _theirs(name, train, test)
    ours = _ours(tmp_path, train, test, capsys)
    assert ours["rows"] == len(test)
    if name == "diabetes":
        best = max(m["r2"] for m in theirs.values())
        assert ours["r2"] >= best - 0.01, (ours, theirs)
        return
    # the better of the two: by accuracy, then by log-loss
    better = max(theirs.values(), key=lambda m: (m["accuracy"], -m["log_loss"]))
    assert ours["accuracy"] >= better["accuracy"] - 0.01, (ours, theirs)
    assert ours["log_loss"] <= better["log_loss"], (ours, theirs)
