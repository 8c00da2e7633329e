"""The seeds' binary classifier on scikit-learn's breast-cancer data, trained by the seeds'
gradient-descent loop. Prints train and test accuracy."""

from __future__ import annotations

import time

from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from deltaprop import Network, gradcheck, gradient_descent


def main() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_tr)
    X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)

    net = Network([30, 16, 1], ["relu", "sigmoid"], "binary_crossentropy", seed=0)
    check = gradcheck(net, X_tr[:20], y_tr[:20])
    print(f"network     {net}")
    print(f"gradcheck   worst relative error vs finite differences: {check.max_relative_error:.1e}")

    start = time.perf_counter()
    history = gradient_descent(net, X_tr, y_tr, learning_rate=0.5, max_iter=500, tol=1e-7)
    seconds = time.perf_counter() - start

    def accuracy(X, y):  # type: ignore[no-untyped-def]
        return float(((net.forward(X).ravel() > 0.5) == y).mean())

    print(
        f"training    {len(history)} iterations in {seconds:.2f} s, cost {history[0]:.4f} -> {history[-1]:.4f}"
    )
    print(f"train acc.  {accuracy(X_tr, y_tr):.4f}")
    print(f"test acc.   {accuracy(X_te, y_te):.4f}")


if __name__ == "__main__":
    main()
