"""The scikit-learn estimators: scikit-learn's own estimator checks, and what we add."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from deltaprop import MLPClassifier, MLPRegressor

CHECKED = [
    MLPClassifier(max_iter=100),
    MLPClassifier(
        hidden_layer_sizes=(8, 6), activation=["tanh", "gelu"], solver="lbfgs", max_iter=100
    ),
    MLPClassifier(solver="sgd", learning_rate="adaptive", class_weight="balanced", max_iter=100),
    MLPClassifier(solver="rmsprop", activation="leaky_relu", alpha=0.01, max_iter=100),
    MLPRegressor(max_iter=100),
    MLPRegressor(loss="huber", solver="adamw", activation="elu", max_iter=100),
    MLPRegressor(loss="absolute_error", activation="softplus", max_iter=100),
    MLPRegressor(solver="sgd", learning_rate="cosine", max_iter=200),
]


@parametrize_with_checks(CHECKED)
def test_sklearn_estimator_checks(estimator, check) -> None:  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


# ---------------------------------------------------------------------------------------
# What we add, each shown doing what it says
# ---------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_convergence_warnings():  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    return tuple(train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y))  # type: ignore[return-value]


def test_defaults_match_scikit_learn() -> None:
    ours, theirs = MLPClassifier().get_params(), SkMLPClassifier().get_params()
    for name, value in theirs.items():
        assert ours[name] == value, name
    from sklearn.neural_network import MLPRegressor as SkMLPRegressor

    ours, theirs = MLPRegressor().get_params(), SkMLPRegressor().get_params()
    for name, value in theirs.items():
        assert ours[name] == value, name


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["digits", "breast_cancer"])
def test_accuracy_matches_scikit_learn_over_5_seeds(dataset: str) -> None:
    """Swapping the import: same parameters, same architecture, solver, epochs, batch size."""
    loader = load_digits if dataset == "digits" else load_breast_cancer
    X, y = loader(return_X_y=True)
    ours, theirs = [], []
    for seed in range(5):
        X_tr, X_te, y_tr, y_te = train_test_split(
            X, y, test_size=0.25, random_state=seed, stratify=y
        )
        scaler = StandardScaler().fit(X_tr)
        X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
        params = {"hidden_layer_sizes": (64,), "solver": "adam", "max_iter": 60, "batch_size": 64,
                  "random_state": seed}  # fmt: skip
        ours.append(MLPClassifier(**params).fit(X_tr, y_tr).score(X_te, y_te))
        theirs.append(SkMLPClassifier(**params).fit(X_tr, y_tr).score(X_te, y_te))
    assert np.mean(ours) >= np.mean(theirs) - 0.01, (ours, theirs)


def test_coefs_are_sklearn_layout_views() -> None:
    X, y = make_classification(60, 5, random_state=0)
    clf = MLPClassifier((7, 4), max_iter=5, random_state=0).fit(X, y)
    assert [c.shape for c in clf.coefs_] == [(5, 7), (7, 4), (4, 1)]
    assert [b.shape for b in clf.intercepts_] == [(7,), (4,), (1,)]
    assert np.shares_memory(clf.coefs_[0], clf.network_.parameters)
    np.testing.assert_array_equal(clf.coefs_[1], clf.network_.weights[1].T)
    assert clf.n_layers_ == 4 and clf.n_outputs_ == 1 and clf.out_activation_ == "logistic"
    assert clf.n_iter_ == 5 and clf.t_ == 5 * 60 and len(clf.loss_curve_) == 5
    assert clf.gradient_norms_.shape == (5, 3)


def test_dropout_is_active_in_training_only() -> None:
    X, y = make_classification(300, 10, random_state=0)
    plain = MLPClassifier((64,), max_iter=30, random_state=0).fit(X, y)
    dropped = MLPClassifier((64,), dropout=0.5, max_iter=30, random_state=0).fit(X, y)
    assert dropped.network_.dropout_rates == [0.5]
    # Noise in training: a higher training loss than the same network without dropout.
    assert dropped.loss_curve_[-1] > plain.loss_curve_[-1]
    # None at inference: predictions are deterministic.
    np.testing.assert_array_equal(dropped.predict_proba(X), dropped.predict_proba(X))


def test_batch_norm_option() -> None:
    X, y = make_classification(200, 8, random_state=0)
    clf = MLPClassifier((16, 16), batch_norm=True, max_iter=60, random_state=0).fit(X, y)
    assert all(layer.batch_norm is not None for layer in clf.network_.dense[:-1])
    assert clf.score(X, y) > 0.8


def test_class_weight_raises_minority_recall() -> None:
    X, y = make_classification(1000, 5, weights=[0.95], flip_y=0, class_sep=0.5, random_state=0)
    labels = np.array(["common", "rare"])[y]
    recall = {}
    for cw in (None, "balanced", {"common": 1.0, "rare": 19.0}):
        clf = MLPClassifier((16,), class_weight=cw, max_iter=80, random_state=0).fit(X, labels)
        recall[str(cw)] = (clf.predict(X)[labels == "rare"] == "rare").mean()
    assert recall["balanced"] > recall["None"] + 0.15
    assert recall[str({"common": 1.0, "rare": 19.0})] > recall["None"] + 0.15
    with pytest.raises(ValueError, match="class_weight has a label not in classes_"):
        MLPClassifier(class_weight={"other": 2.0}, max_iter=2).fit(X, labels)


def test_validation_set_passed_to_fit() -> None:
    X_tr, X_te, y_tr, y_te = _digits()
    clf = MLPClassifier((32,), max_iter=15, random_state=0).fit(X_tr, y_tr, X_val=X_te, y_val=y_te)
    assert len(clf.validation_loss_curve_) == len(clf.validation_scores_) == clf.n_iter_ == 15
    assert clf.validation_scores_[-1] == pytest.approx(clf.score(X_te, y_te))
    es = MLPClassifier((32,), max_iter=200, early_stopping=True, n_iter_no_change=3,
                       random_state=0).fit(X_tr, y_tr, X_val=X_te, y_val=y_te)  # fmt: skip
    assert es.n_iter_ < 200
    assert es.best_validation_score_ == max(es.validation_scores_)
    assert es.score(X_te, y_te) == pytest.approx(es.best_validation_score_)  # best weights back
    assert es.best_loss_ is None


def test_early_stopping_split_uses_sample_weights() -> None:
    """Rows of weight 0 carry flipped labels: they must not count in the validation score."""
    X, y = make_classification(600, 6, class_sep=2.0, flip_y=0, random_state=0)
    rng = np.random.default_rng(0)
    junk = rng.random(600) < 0.4
    y_bad = np.where(junk, 1 - y, y)
    w = np.where(junk, 0.0, 1.0)
    clf = MLPClassifier((16,), early_stopping=True, validation_fraction=0.3, max_iter=100, learning_rate_init=0.01,
                        random_state=0).fit(X, y_bad, sample_weight=w)  # fmt: skip
    assert clf.best_validation_score_ > 0.9  # unweighted, 40% flipped labels would cap it near 0.6


def test_per_layer_activations() -> None:
    X, y = make_classification(100, 4, random_state=0)
    clf = MLPClassifier((5, 6, 7), activation=["tanh", "gelu", "elu"], max_iter=3).fit(X, y)
    assert [a.name for a in clf.network_.activations] == ["tanh", "gelu", "elu", "sigmoid"]
    with pytest.raises(
        ValueError, match=r"activation must be one name or one per hidden layer \(3\)"
    ):
        MLPClassifier((5, 6, 7), activation=["tanh", "relu"]).fit(X, y)
    with pytest.raises(InvalidParameterError, match="activation"):
        MLPClassifier(activation="swish").fit(X, y)


def test_regression_losses_do_what_they_say() -> None:
    """Fit a constant with outliers: squared error tends to the mean, absolute error to the
    median, Huber in between; Poisson predicts positive rates through the exp link."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2)) * 0.01
    y = np.where(rng.random(400) < 0.1, 100.0, 1.0)
    preds = {}
    for loss in ("squared_error", "absolute_error", "huber"):
        reg = MLPRegressor(loss=loss, hidden_layer_sizes=(8,), solver="adam", learning_rate_init=0.05,
                           max_iter=300, tol=0, n_iter_no_change=1000, random_state=0).fit(X, y)  # fmt: skip
        preds[loss] = float(np.median(reg.predict(X)))
    assert abs(preds["squared_error"] - y.mean()) < 1.5
    assert abs(preds["absolute_error"] - np.median(y)) < 0.5
    assert preds["absolute_error"] < preds["huber"] < preds["squared_error"]

    counts_X = rng.normal(size=(500, 3))
    rate = np.exp(0.5 * counts_X[:, 0] - 0.3 * counts_X[:, 1])
    counts = rng.poisson(rate)
    pois = MLPRegressor(loss="poisson", hidden_layer_sizes=(16,), max_iter=200, random_state=0)
    pois.fit(counts_X, counts)
    assert pois.out_activation_ == "exp" and (pois.predict(counts_X) > 0).all()
    assert np.corrcoef(pois.predict(counts_X), rate)[0, 1] > 0.9
    with pytest.raises(ValueError, match=r"poisson.*non-negative"):
        MLPRegressor(loss="poisson").fit(counts_X, -counts - 1.0)


def test_transform_is_the_last_hidden_layer() -> None:
    X, y = make_classification(50, 4, random_state=0)
    clf = MLPClassifier((6, 3), activation="tanh", max_iter=5, random_state=0).fit(X, y)
    H = clf.transform(X)
    W1, W2 = clf.network_.weights[:2]
    b1, b2 = clf.network_.biases[:2]
    np.testing.assert_allclose(H, np.tanh(np.tanh(X @ W1.T + b1) @ W2.T + b2), rtol=1e-12)
    assert clf.fit_transform(X, y).shape == (50, 3)
    np.testing.assert_allclose(clf.transform(X, batch_size=7), clf.transform(X), rtol=1e-12)
    names = ["mlpclassifier0", "mlpclassifier1", "mlpclassifier2"]
    assert clf.get_feature_names_out().tolist() == names


def test_a_pipeline_ending_in_an_estimator_sets_its_output() -> None:
    """``Pipeline.set_output`` failed: the estimator had ``transform`` but no feature names."""
    import pandas as pd
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = make_classification(50, 4, random_state=0)
    frame = pd.DataFrame(X, columns=list("abcd"))
    pipe = make_pipeline(
        StandardScaler(), MLPRegressor(hidden_layer_sizes=(3,), max_iter=5, random_state=0)
    )
    pipe.set_output(transform="pandas").fit(frame, y)
    out = pipe.transform(frame)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == [
        f"mlpregressor{i}" for i in range(3)
    ]
    np.testing.assert_array_equal(
        out.to_numpy(), pipe[-1].transform(pipe[0].transform(frame)).to_numpy()
    )
    with pytest.raises(ValueError, match="transform needs at least one hidden layer"):
        MLPRegressor(hidden_layer_sizes=(), max_iter=5).fit(X, y).get_feature_names_out()


def test_multilabel_fit_and_partial_fit() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    Y = np.c_[X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] < -0.5].astype(int)
    clf = MLPClassifier((32,), max_iter=200, random_state=0).fit(X, Y)
    assert clf.predict(X).shape == (400, 3)
    assert (clf.predict(X) == Y).mean() > 0.9
    assert clf.predict_proba(X).shape == (400, 3)
    inc = MLPClassifier((32,), learning_rate_init=0.01, random_state=0)
    for _ in range(60):
        inc.partial_fit(X, Y)  # scikit-learn's own partial_fit fails on multilabel targets
    assert inc.n_iter_ == 1 and len(inc.loss_curve_) == 60
    assert (inc.predict(X) == Y).mean() > 0.9


def test_partial_fit_is_one_epoch_and_continues() -> None:
    X_tr, X_te, y_tr, y_te = _digits()
    clf = MLPClassifier((32,), learning_rate_init=0.01, random_state=0)
    clf.partial_fit(X_tr, y_tr, classes=np.arange(10))
    assert clf.n_iter_ == 1 and clf.t_ == len(X_tr)
    for _ in range(9):
        clf.partial_fit(X_tr, y_tr)
    assert clf.n_iter_ == 1 and clf.t_ == 10 * len(X_tr) and len(clf.loss_curve_) == 10
    assert clf.score(X_te, y_te) > 0.9
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        MLPClassifier().partial_fit(X_tr, y_tr)
    with pytest.raises(AttributeError, match="partial_fit"):
        MLPClassifier(solver="lbfgs").partial_fit(X_tr, y_tr, classes=np.arange(10))


def test_warm_start_continues_from_the_weights() -> None:
    X_tr, _, y_tr, _ = _digits()
    clf = MLPClassifier((32,), max_iter=5, warm_start=True, random_state=0).fit(X_tr, y_tr)
    first = clf.network_
    before = clf.loss_curve_[-1]
    clf.fit(X_tr, y_tr)
    assert clf.network_ is first and clf.n_iter_ == 5 and len(clf.loss_curve_) == 10
    assert clf.loss_curve_[5] < before


def test_string_and_integer_labels_and_probabilities() -> None:
    X_tr, X_te, y_tr, y_te = _digits()
    names = np.array(list("abcdefghij"))
    clf = MLPClassifier((32,), learning_rate_init=0.01, max_iter=30, random_state=0).fit(
        X_tr, names[y_tr]
    )
    assert list(clf.classes_) == list("abcdefghij")
    assert (clf.predict(X_te) == names[y_te]).mean() > 0.9
    P = clf.predict_proba(X_te)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    np.testing.assert_allclose(clf.predict_log_proba(X_te), np.log(P))
    binary = MLPClassifier((8,), max_iter=20, random_state=0).fit(X_tr, y_tr % 2 == 0)
    assert binary.predict(X_te).dtype == bool and binary.predict_proba(X_te).shape == (len(X_te), 2)


def test_sparse_input_equals_dense() -> None:
    X, y = make_classification(120, 8, random_state=0)
    X[X < 0.5] = 0
    dense = MLPClassifier((8,), max_iter=10, random_state=0).fit(X, y)
    sparse = MLPClassifier((8,), max_iter=10, random_state=0).fit(sp.csr_matrix(X), y)
    # SciPy sums the sparse products in another order: equal to rounding, never densified.
    np.testing.assert_allclose(dense.network_.parameters, sparse.network_.parameters, rtol=1e-12)
    np.testing.assert_allclose(dense.predict_proba(X), sparse.predict_proba(sp.csc_array(X)),
                               rtol=1e-12)  # fmt: skip


def test_sparse_input_is_never_densified() -> None:
    """A 20,000 x 50,000 sparse matrix would take 4 GB dense; training stays far below."""
    import tracemalloc

    # a Generator: with an int seed, SciPy draws the positions from a permutation of all 10**8
    X = sp.random(2000, 50000, density=0.001, format="csr", random_state=np.random.default_rng(0),
                  dtype=np.float32)  # fmt: skip
    y = (np.asarray(X[:, :200].sum(axis=1)).ravel() > 0).astype(int)
    tracemalloc.start()
    try:
        clf = MLPClassifier((16,), max_iter=3, random_state=0).fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 0.25 * X.shape[0] * X.shape[1] * 4  # a dense copy would be 400 MB
    assert clf.predict_proba(X[:5]).shape == (5, 2)


def test_float32_is_kept_and_outputs_follow_the_input_as_scikit_learns() -> None:
    X, y = make_classification(100, 4, random_state=0)
    clf = MLPClassifier((8,), max_iter=5).fit(X.astype(np.float32), y)
    assert clf.network_.dtype == np.float32
    assert clf.predict_proba(X.astype(np.float32)).dtype == np.float32
    # scikit-learn's float32 MLP answers float64 rows in float64 (float64 @ float32)
    proba = clf.predict_proba(X)
    assert proba.dtype == np.float64
    np.testing.assert_allclose(proba, clf.predict_proba(X.astype(np.float32)), rtol=1e-6)
    reg = MLPRegressor(hidden_layer_sizes=(8,), dtype="float32", max_iter=5).fit(X, y.astype(float))
    assert reg.network_.dtype == np.float32 and reg.predict(X).dtype == np.float64
    assert reg.predict(X.astype(np.float32)).dtype == np.float32


def test_pipeline_grid_search_cross_val_clone_pickle() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), MLPClassifier((16,), max_iter=100, random_state=0))
    assert cross_val_score(pipe, X, y, cv=3).mean() > 0.93
    grid = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-2]}, cv=2).fit(X, y)
    assert grid.best_score_ > 0.93
    clf = pipe.fit(X, y)[-1]
    again = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(again.predict_proba(X), pipe.predict_proba(X))
    fresh = clone(clf)
    assert not hasattr(fresh, "network_") and fresh.get_params() == clf.get_params()


def test_sample_weight_zero_equals_dropping_rows_lbfgs() -> None:
    X, y = make_classification(80, 5, random_state=0)
    w = np.ones(80)
    w[::4] = 0
    a = MLPClassifier((6,), solver="lbfgs", max_iter=50, random_state=0).fit(X, y, sample_weight=w)
    b = MLPClassifier((6,), solver="lbfgs", max_iter=50, random_state=0).fit(X[w > 0], y[w > 0])
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-6, atol=1e-8)


def test_multi_output_regression() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    Y = np.c_[X[:, 0] + X[:, 1], X[:, 2] ** 2]
    reg = MLPRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=300,
                       random_state=0).fit(X, Y)  # fmt: skip
    assert reg.predict(X).shape == (300, 2) and reg.score(X, Y) > 0.9


def test_bad_parameters_are_named() -> None:
    X, y = make_classification(30, 3, n_informative=2, n_redundant=0, random_state=0)
    for params, name in [({"hidden_layer_sizes": (0,)}, "hidden_layer_sizes"),
                         ({"solver": "adagrad"}, "solver"), ({"dropout": 1.0}, "dropout"),
                         ({"learning_rate": "linear"}, "learning_rate"), ({"alpha": -1}, "alpha")]:  # fmt: skip
        with pytest.raises((InvalidParameterError, ValueError), match=name):
            MLPClassifier(**params).fit(X, y)
    one = MLPClassifier(max_iter=5).fit(X, np.full(30, "only"))  # as scikit-learn: one class
    assert (one.predict(X) == "only").all() and (one.predict_proba(X) == 1).all()
    with pytest.raises(ValueError, match="X has 2 features, but MLPClassifier is expecting 3"):
        MLPClassifier(max_iter=2).fit(X, y).predict(X[:, :2])
    with pytest.raises(ValueError, match=r"Input .*contains NaN"):
        MLPClassifier().fit(np.where(X > 1, np.nan, X), y)


def test_divergence_message_through_the_estimator() -> None:
    from deltaprop.sklearn.base import DivergenceWarning

    rng = np.random.default_rng(0)
    X = rng.normal(scale=100, size=(200, 4))
    y = X @ np.array([1.0, 2.0, 3.0, 4.0]) * 100
    reg = MLPRegressor(hidden_layer_sizes=(32,), solver="sgd", learning_rate_init=1e3, max_iter=50)
    with pytest.warns(DivergenceWarning, match="smaller learning rate"):
        reg.fit(X, y)
    assert reg.stop_reason_ == "diverged"
    assert np.isfinite(reg.network_.parameters).all()


def test_fit_resumes_from_a_checkpoint_to_the_uninterrupted_weights(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from deltaprop import Callback, Checkpoint

    X_tr, _, y_tr, _ = _digits()
    kw = {"hidden_layer_sizes": (16,), "max_iter": 8, "tol": 0.0, "random_state": 0,
          "batch_size": 64, "dropout": 0.1}  # fmt: skip
    whole = MLPClassifier(**kw).fit(X_tr, y_tr)

    class Crash(Callback):
        def on_epoch_end(self, trainer, epoch, logs):  # type: ignore[no-untyped-def]
            if epoch == 4:
                raise KeyboardInterrupt  # Ctrl-C after the checkpoint of epoch 4

    path = tmp_path / "run.ckpt"
    with pytest.warns(UserWarning, match=r"^Training interrupted by user\.$"):  # sklearn's
        MLPClassifier(**kw, callbacks=[Checkpoint(path, every=1), Crash()]).fit(X_tr, y_tr)
    resumed = MLPClassifier(**kw).fit(X_tr, y_tr, resume_from=path)
    np.testing.assert_array_equal(resumed.network_.parameters, whole.network_.parameters)
    assert resumed.loss_curve_ == whole.loss_curve_ and resumed.n_iter_ == 8
    with pytest.raises(ValueError, match="nothing left to train"):
        MLPClassifier(**{**kw, "max_iter": 4}).fit(X_tr, y_tr, resume_from=path)


@pytest.mark.parametrize(("activation", "factor"), [("relu", 6), ("logistic", 2)])
def test_the_default_init_is_scikit_learns(activation: str, factor: int) -> None:
    """Every layer's W and b drawn from U(±√(factor/(n_in + n_out))), factor 6 or 2 for a
    logistic hidden activation, as scikit-learn's MLP; ``init`` takes any initializer name,
    and ``"auto"`` the Network's rule (He for ReLU, biases zero)."""
    X, y = make_classification(300, 20, random_state=0)
    kw = {"max_iter": 1, "learning_rate_init": 1e-12, "random_state": 0, "activation": activation}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = MLPClassifier((200,), **kw).fit(X, y)
        auto = MLPClassifier((200,), init="auto", **kw).fit(X, y)
    assert clf.network_.init == ["sklearn_uniform", "sklearn_uniform"]
    assert auto.network_.init[1] == "glorot_uniform" and np.abs(auto.intercepts_[0]).max() < 1e-9
    for W, b in zip(clf.coefs_, clf.intercepts_, strict=True):
        bound = np.sqrt(factor / (W.shape[0] + W.shape[1]))
        assert np.abs(W).max() <= bound and np.abs(b).max() <= bound
        assert np.abs(W).max() > 0.98 * bound  # uniform: it reaches near the bound
        assert W.size < 1000 or abs(np.std(W) - bound / np.sqrt(3)) < 0.02 * bound
    assert np.abs(clf.intercepts_[0]).max() > 0.9 * np.sqrt(factor / 220)  # biases drawn too
    with pytest.raises(ValueError, match="initializer"):
        MLPClassifier((4,), init="glorot_unifrom", max_iter=1).fit(X, y)


def test_iris_adam_iterations_are_within_scikit_learns_spread() -> None:
    """Iris, adam, learning_rate_init=0.01: n_iter_ over seeds 0-9 beside scikit-learn's.
    (With epsilon=1e-30 and scikit-learn's initial weights the loss curves are the same;
    with epsilon=1e-8 Adam's epsilon, added after the bias correction here and before it
    there, moves n_iter_ a little: the spread, not the seeds, is compared.)"""
    X, y = load_iris(return_X_y=True)
    n_iter = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for cls in (MLPClassifier, SkMLPClassifier):
            n_iter[cls] = [cls(learning_rate_init=0.01, max_iter=1000, random_state=s).fit(X, y).n_iter_
                           for s in range(10)]  # fmt: skip
    low, high = np.percentile(n_iter[SkMLPClassifier], [10, 90])
    assert low <= np.median(n_iter[MLPClassifier]) <= high
    assert min(n_iter[SkMLPClassifier]) - 30 <= min(n_iter[MLPClassifier])


@pytest.mark.parametrize("activation", ["relu", "tanh", "identity", "logistic"])
def test_lbfgs_follows_scikit_learn_from_its_very_initial_weights(activation: str) -> None:
    """scikit-learn's test_lbfgs_regression case: an integer random_state draws
    scikit-learn's own initial weights (its RandomState, its order), so L-BFGS, which
    has no other randomness, takes scikit-learn's iterations: the same count and
    weights to rounding (logistic at random_state=2, where both stop after 6 iterations
    near the linear fit; at 0 and 1 rounding takes the two apart after ~100)."""
    from sklearn.datasets import make_regression
    from sklearn.neural_network import MLPRegressor as SkMLPRegressor
    from sklearn.preprocessing import scale

    X, y = make_regression(n_samples=200, n_features=10, bias=20.0, noise=100.0, random_state=7)
    y = scale(y)
    kw = {"solver": "lbfgs", "hidden_layer_sizes": 50, "tol": 1e-3, "activation": activation}
    for seed in [2] if activation == "logistic" else [0, 1]:
        theirs = SkMLPRegressor(**kw, random_state=seed).fit(X, y)
        ours = MLPRegressor(**kw, random_state=seed).fit(X, y)
        assert ours.n_iter_ == theirs.n_iter_
        for mine, sk in zip([*ours.coefs_, *ours.intercepts_],
                            [*theirs.coefs_, *theirs.intercepts_], strict=True):  # fmt: skip
            np.testing.assert_allclose(mine, sk, rtol=0, atol=1e-6)
        assert ours.score(X, y) == pytest.approx(theirs.score(X, y), abs=1e-7)


def test_a_float32_fit_follows_the_float64_one() -> None:
    """scikit-learn's test_mlp_regressor_dtypes_casting over random_states 0-5 (its bar,
    5e-4 relative, met by chance at any one seed of a chaotic fit, scikit-learn's too: by
    the median of the six, and the same iteration counts)."""
    from sklearn.datasets import load_digits

    X, y = load_digits(n_class=2, return_X_y=True)
    worst = []
    for seed in range(6):
        fits = [MLPRegressor(alpha=1e-5, hidden_layer_sizes=(5, 3), random_state=seed,
                             max_iter=150, tol=1e-3).fit(X[:300].astype(t), y[:300])
                for t in (np.float64, np.float32)]  # fmt: skip
        assert fits[0].n_iter_ == fits[1].n_iter_
        p64, p32 = (f.predict(X[300:].astype(f.network_.dtype)) for f in fits)
        worst.append(float(np.max(np.abs(p64 - p32) / np.abs(p64))))
    assert float(np.median(worst)) < 5e-4, worst
