"""The command row's library side, in a new process: the same work as ``deltaprop train``.

Usage::

    python bench/csv_fit.py deltaprop|scikit-learn DATA.csv --hidden 64,32 --epochs 3 \
        --batch-size 128 --dtype float32 --seed 0 --out DIR

Start-up and imports, ``pandas.read_csv``, the median imputation and standardization of
every column (the command's preprocessing: deltaprop's ``TablePreprocessor``, or
scikit-learn's ``SimpleImputer(strategy="median")`` and ``StandardScaler``), the fit
(no validation split, no early stopping, no L2 penalty, the given epochs), the training
rows' class probabilities and labels (the command's training metrics), and for deltaprop
the model file (``deltaprop.save``; scikit-learn has no format without pickle, so writes
none). Prints the seconds of each phase as JSON.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("system", choices=["deltaprop", "scikit-learn"])
    p.add_argument("data", type=Path)
    p.add_argument("--hidden", required=True)
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--batch-size", type=int, required=True)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    phases: dict[str, float] = {}
    t = time.perf_counter()
    import pandas as pd
    from sklearn.pipeline import make_pipeline

    kw = dict(hidden_layer_sizes=tuple(int(h) for h in args.hidden.split(",")), alpha=0.0,
              batch_size=args.batch_size, max_iter=args.epochs, tol=0.0,
              n_iter_no_change=10**9, random_state=args.seed)  # fmt: skip
    if args.system == "deltaprop":
        from deltaprop import MLPClassifier, save
        from deltaprop.sklearn import TablePreprocessor

        kw["dtype"] = args.dtype
    else:
        from sklearn.impute import SimpleImputer
        from sklearn.neural_network import MLPClassifier
        from sklearn.preprocessing import StandardScaler
    phases["imports"] = time.perf_counter() - t + (t - T0)
    t = time.perf_counter()
    frame = pd.read_csv(args.data)
    X, y = frame.drop(columns="y"), frame["y"].to_numpy()
    phases["read_csv"] = time.perf_counter() - t
    if args.system == "deltaprop":
        model = make_pipeline(TablePreprocessor(list(X.columns), []), MLPClassifier(**kw))
    else:
        model = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                              MLPClassifier(**kw))  # fmt: skip
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter reached on purpose
        model.fit(X, y)
    phases["preprocess+fit"] = time.perf_counter() - t
    t = time.perf_counter()
    proba = model.predict_proba(X)
    accuracy = float((model.predict(X) == y).mean())
    phases["training metrics"] = time.perf_counter() - t
    t = time.perf_counter()
    if args.system == "deltaprop":
        args.out.mkdir(parents=True, exist_ok=True)
        save(model, args.out / "model.safetensors")
    phases["model file"] = time.perf_counter() - t
    phases["total"] = time.perf_counter() - T0
    print(json.dumps({"phases": phases, "accuracy": accuracy, "rows": int(proba.shape[0])}))


if __name__ == "__main__":
    main()
