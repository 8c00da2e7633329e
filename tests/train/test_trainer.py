"""The Trainer: mini-batches, resumption, validation, early stopping, class weights, L2,
clipping, callbacks, divergence, L-BFGS, schedules (deltaprop.train.trainer)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_classification

from deltaprop import Callback, Network, Trainer, gradient_descent
from deltaprop.train import DivergenceError, History

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
XOR_Y = np.array([0, 1, 1, 0], dtype=float)


# ---------------------------------------------------------------------------------------
# The complete trainer
# ---------------------------------------------------------------------------------------


def _blobs(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(n, 6, n_informative=4, n_classes=3, random_state=seed)
    return X, np.eye(3)[y]


class Recorder(Callback):
    def __init__(self) -> None:
        self.batches: list[int] = []
        self.epochs: list[int] = []
        self.began = self.ended = 0

    def on_train_begin(self, trainer: Trainer, logs: dict | None = None) -> None:
        self.began += 1

    def on_batch_end(self, trainer: Trainer, batch: int, logs: dict) -> None:
        self.batches.append(int(logs["batch_size"]))

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict) -> None:
        self.epochs.append(epoch)

    def on_train_end(self, trainer: Trainer, logs: dict) -> None:
        self.ended += 1


def test_minibatches_include_the_last_partial_batch() -> None:
    X, Y = _blobs(103)
    rec = Recorder()
    net = Network([6, 8, 3], "relu", "ce", seed=0)
    Trainer(net, "sgd", learning_rate=0.01, batch_size=25, epochs=2, callbacks=[rec], seed=0).fit(
        X, Y
    )
    assert rec.batches == [25, 25, 25, 25, 3] * 2
    assert rec.epochs == [0, 1] and rec.began == rec.ended == 1


def test_the_trainer_tells_the_compiled_loop_whether_a_callback_watches_batches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from deltaprop.fast import CompiledLoop
    from deltaprop.train import trainer as training
    from deltaprop.train.callbacks import watches_batches

    class EpochsOnly(Callback):
        def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict) -> None:
            pass

    seen: list[object] = []
    real = CompiledLoop.create

    def create(*args: object, **kw: object) -> CompiledLoop | None:
        seen.append(kw.get("watches_batches"))
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(training.CompiledLoop, "create", staticmethod(create))
    X, Y = _blobs(40)
    for callbacks in ([], [EpochsOnly()], [Recorder()], [EpochsOnly(), Recorder()]):
        net = Network([6, 4, 3], "relu", "ce", seed=0)
        Trainer(net, "sgd", epochs=1, callbacks=callbacks, seed=0).fit(X, Y)
        assert seen[-1] is watches_batches(callbacks)
    assert seen == [False, False, True, True]


def test_full_batch_sgd_equals_the_seeds_loop() -> None:
    X, Y = _blobs(60)
    a = Network([6, 5, 3], "tanh", "ce", seed=1)
    b = Network([6, 5, 3], "tanh", "ce", seed=1)
    Trainer(a, "sgd", learning_rate=0.2, batch_size=None, epochs=15, shuffle=False, tol=0.0).fit(
        X, Y
    )
    gradient_descent(b, X, Y, learning_rate=0.2, max_iter=15, tol=0.0)
    np.testing.assert_allclose(a.parameters, b.parameters, rtol=1e-13)


def test_minibatch_sgd_step_by_step() -> None:
    """Unshuffled mini-batch SGD is W -= α dW(batch) batch after batch."""
    X, Y = _blobs(50)
    a = Network([6, 5, 3], "relu", "ce", seed=2)
    b = Network([6, 5, 3], "relu", "ce", seed=2)
    Trainer(a, "sgd", learning_rate=0.1, batch_size=20, epochs=1, shuffle=False).fit(X, Y)
    for start in (0, 20, 40):
        b.gradients(X[start : start + 20], Y[start : start + 20], training=True)
        b.parameters -= 0.1 * b.grad
    np.testing.assert_allclose(a.parameters, b.parameters, rtol=1e-13)


def test_seeded_shuffling_is_reproducible_and_matters() -> None:
    X, Y = _blobs(120)

    def run(seed: int) -> np.ndarray:
        net = Network([6, 8, 3], "relu", "ce", seed=0)
        Trainer(net, "adam", learning_rate=0.01, batch_size=16, epochs=3, seed=seed).fit(X, Y)
        return net.parameters.copy()

    assert run(5).tobytes() == run(5).tobytes()
    assert run(5).tobytes() != run(6).tobytes()


def test_resuming_equals_one_long_run() -> None:
    X, Y = _blobs(90)
    a = Network([6, 8, 3], "relu", "ce", seed=0)
    b = Network([6, 8, 3], "relu", "ce", seed=0)
    from deltaprop.optim.schedules import CosineAnnealing

    kw = {"learning_rate": 0.01, "batch_size": 16, "tol": 0.0, "seed": 3}
    Trainer(a, "adam", epochs=10, schedule=CosineAnnealing(t_max=10), **kw).fit(X, Y)
    tb = Trainer(b, "adam", epochs=4, schedule=CosineAnnealing(t_max=10), **kw)
    tb.fit(X, Y)
    tb.epochs = 6
    h = tb.fit(X, Y)  # carries on from epoch 4: weights, Adam's moments, the schedule
    assert len(h.loss) == 10
    assert h.learning_rate[4] == pytest.approx(0.01 * 0.5 * (1 + np.cos(np.pi * 4 / 10)))
    assert a.parameters.tobytes() == b.parameters.tobytes()


def test_resuming_from_state_dict_equals_one_long_run() -> None:
    X, Y = _blobs(90)
    a = Network([6, 8, 3], "relu", "ce", seed=0)
    Trainer(a, "rmsprop", learning_rate=0.01, batch_size=16, epochs=6, tol=0.0, seed=3).fit(X, Y)
    b = Network([6, 8, 3], "relu", "ce", seed=0)
    t1 = Trainer(b, "rmsprop", learning_rate=0.01, batch_size=16, epochs=3, tol=0.0, seed=3)
    t1.fit(X, Y)
    state, params = t1.state_dict(), b.parameters.copy()
    c = Network([6, 8, 3], "relu", "ce", seed=99)
    c.parameters[...] = params
    t2 = Trainer(c, "rmsprop", learning_rate=0.01, batch_size=16, epochs=3, tol=0.0, seed=123)
    t2.load_state_dict(state)
    t2.fit(X, Y)
    assert a.parameters.tobytes() == c.parameters.tobytes()


def test_stops_after_n_iter_no_change() -> None:
    X, Y = _blobs(60)
    net = Network([6, 8, 3], "relu", "ce", seed=0)
    tr = Trainer(
        net, "adam", learning_rate=1e-9, batch_size=60, epochs=500, tol=1e-3, n_iter_no_change=4
    )
    h = tr.fit(X, Y)
    assert tr.converged
    assert len(h.loss) == 6  # epoch 1 sets the best, 5 more without improvement by tol


def test_history_contents() -> None:
    X, Y = _blobs(80)
    net = Network([6, 7, 5, 3], "relu", "ce", seed=0)
    h = Trainer(net, "sgd", learning_rate=0.05, batch_size=20, epochs=5, validation_fraction=0.25,
                schedule=("exponential" and None) or "constant", seed=0).fit(X, Y)  # fmt: skip
    assert isinstance(h, History)
    assert len(h.loss) == len(h.val_loss) == len(h.val_score) == len(h.learning_rate) == 5
    assert np.array(h.grad_norms).shape == (5, 3)
    assert np.all(np.array(h.grad_norms) > 0)
    assert all(0 <= s <= 1 for s in h.val_score)
    assert h.learning_rate == [0.05] * 5


def test_grad_norms_show_vanishing_gradients_with_deep_sigmoid() -> None:
    X, Y = _blobs(200)
    norms = {}
    for act in ("sigmoid", "relu"):
        net = Network([6, *[32] * 8, 3], act, "ce", seed=0)
        h = Trainer(net, "sgd", learning_rate=0.01, batch_size=50, epochs=1, seed=0).fit(X, Y)
        g = np.array(h.grad_norms[0])
        norms[act] = g[0] / g[-1]  # first layer relative to the last
    assert norms["sigmoid"] < 1e-3 < norms["relu"]


def test_validation_split_is_stratified() -> None:
    y = np.array([0] * 90 + [1] * 10)
    X = np.random.default_rng(0).normal(size=(100, 3)) + y[:, None]
    net = Network([3, 4, 1], "relu", "bce", seed=0)
    tr = Trainer(net, "adam", batch_size=20, epochs=1, validation_fraction=0.2, seed=0)
    seen: list[np.ndarray] = []
    original = tr._validate

    def spy(Xv, Yv, wv):  # type: ignore[no-untyped-def]
        seen.append(Yv)
        return original(Xv, Yv, wv)

    tr._validate = spy  # type: ignore[method-assign]
    tr.fit(X, y)
    assert seen[0].shape == (20, 1) and seen[0].sum() == 2  # 10% positives kept


def test_early_stopping_restores_the_best_weights() -> None:
    """Overfit a tiny noisy set: validation loss rises; the restored weights are those of
    the best epoch, not of the last."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 10))
    y = (X[:, 0] + rng.normal(scale=2.0, size=60) > 0).astype(float)
    Xv = rng.normal(size=(200, 10))
    yv = (Xv[:, 0] > 0).astype(float)
    snapshots: list[np.ndarray] = []

    class Snap(Callback):
        def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict) -> None:
            snapshots.append(trainer.net.parameters.copy())

    net = Network([10, 64, 64, 1], "relu", "bce", seed=0)
    tr = Trainer(net, "adam", learning_rate=0.01, batch_size=60, epochs=300, early_stopping=True,
                 n_iter_no_change=20, tol=0.0, callbacks=[Snap()], seed=0)  # fmt: skip
    h = tr.fit(X, y, validation_data=(Xv, yv))
    best = int(np.argmin(h.val_loss))
    assert best < len(h.val_loss) - 1  # it did get worse afterwards
    assert tr.best_epoch == best
    np.testing.assert_array_equal(net.parameters, snapshots[best])
    assert net.cost(Xv, yv) == pytest.approx(min(h.val_loss), rel=1e-12)
    assert not np.array_equal(net.parameters, snapshots[-1])


def test_early_stopping_on_score() -> None:
    X, Y = _blobs(200)
    net = Network([6, 16, 3], "relu", "ce", seed=0)
    tr = Trainer(net, "adam", learning_rate=0.01, batch_size=32, epochs=200, early_stopping=True,
                 monitor="val_score", n_iter_no_change=5, seed=0)  # fmt: skip
    h = tr.fit(X, Y)
    assert tr.converged and len(h.loss) < 200
    assert tr.best_epoch == int(np.argmax(h.val_score))


def test_class_weights_change_the_decision_on_an_imbalanced_set() -> None:
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (950, 2)), rng.normal(1.0, 1, (50, 2))])
    y = np.r_[np.zeros(950), np.ones(50)]

    def recall(class_weight):  # type: ignore[no-untyped-def]
        net = Network([2, 8, 1], "relu", "bce", seed=0)
        Trainer(net, "adam", learning_rate=0.01, batch_size=100, epochs=60,
                class_weight=class_weight, seed=0).fit(X, y)  # fmt: skip
        pred = net.forward(X).ravel() > 0.5
        return pred[y == 1].mean(), pred.mean()

    plain_recall, plain_rate = recall(None)
    bal_recall, bal_rate = recall("balanced")
    manual_recall, _ = recall({0: 1.0, 1: 19.0})
    assert plain_recall < 0.2  # the minority class is mostly ignored
    assert bal_recall > 0.6 and manual_recall > 0.6
    assert bal_rate > 3 * plain_rate


def test_class_weight_equals_sample_weight() -> None:
    X, Y = _blobs(60)
    a = Network([6, 5, 3], "relu", "ce", seed=0)
    b = Network([6, 5, 3], "relu", "ce", seed=0)
    cw = {0: 2.0, 1: 0.5, 2: 1.0}
    Trainer(a, "sgd", learning_rate=0.1, batch_size=60, epochs=3, class_weight=cw).fit(X, Y)
    sw = np.array([cw[k] for k in Y.argmax(1)])
    Trainer(b, "sgd", learning_rate=0.1, batch_size=60, epochs=3).fit(X, Y, sample_weight=sw)
    np.testing.assert_allclose(a.parameters, b.parameters, rtol=1e-13)


def test_l2_objective_is_sklearns() -> None:
    """One full-batch SGD step with alpha: dW gains alpha W / m, biases none."""
    X, Y = _blobs(40)
    a = Network([6, 5, 3], "relu", "ce", seed=0)
    b = Network([6, 5, 3], "relu", "ce", seed=0)
    Trainer(a, "sgd", learning_rate=0.1, batch_size=None, epochs=1, alpha=0.8).fit(X, Y)
    b.gradients(X, Y, training=True)
    expected = b.parameters - 0.1 * b.grad
    for W, sl in zip(b.weights, [slice(0, 30), slice(35, 50)], strict=True):
        expected[sl] -= 0.1 * 0.8 / 40 * W.ravel()
    np.testing.assert_allclose(a.parameters, expected, rtol=1e-13)


def test_gradient_clipping_by_global_norm() -> None:
    X, Y = _blobs(40)
    a = Network([6, 5, 3], "relu", "ce", seed=0)
    b = Network([6, 5, 3], "relu", "ce", seed=0)
    Trainer(a, "sgd", learning_rate=1.0, batch_size=None, epochs=1, clip_norm=0.01).fit(X, Y)
    b.gradients(X, Y, training=True)
    g = b.grad.copy()
    assert np.linalg.norm(g) > 0.01
    np.testing.assert_allclose(
        a.parameters, b.parameters - g * (0.01 / np.linalg.norm(g)), rtol=1e-12
    )


def test_callback_can_stop_training() -> None:
    X, Y = _blobs(60)

    class StopAt3(Callback):
        def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict) -> None:
            if epoch == 2:
                trainer.stop_training = True

    net = Network([6, 5, 3], "relu", "ce", seed=0)
    h = Trainer(net, "adam", epochs=50, callbacks=[StopAt3()]).fit(X, Y)
    assert len(h.loss) == 3


def test_divergence_error_keeps_its_fields() -> None:
    """The message is built from the fields; a caller can word it (the command names
    ``--learning-rate``), an estimator can put its words first, pickling keeps them."""
    import pickle

    exc = DivergenceError(epoch=4, loss=float("nan"), learning_rate=1e3)
    assert str(exc) == (
        "Training diverged in epoch 4: the loss became nan. The weights of the last finite "
        "epoch were kept. Try a smaller learning rate (it was 1000), gradient clipping "
        "(clip_norm), or scaling the inputs."
    )
    assert exc.describe(learning_rate_name="--learning-rate") == str(exc).replace(
        "learning rate", "--learning-rate"
    )
    wrapped = exc.prefaced("Solver produced non-finite parameter weights.")
    assert str(wrapped) == f"Solver produced non-finite parameter weights. {exc}"
    assert (wrapped.epoch, wrapped.learning_rate) == (4, 1e3)
    again = pickle.loads(pickle.dumps(exc))
    assert (str(again), again.epoch, again.learning_rate) == (str(exc), 4, 1e3)
    plain = DivergenceError("the cost became inf")
    assert plain.epoch is None and plain.describe(learning_rate_name="x") == "the cost became inf"


def test_divergence_on_purpose() -> None:
    X, Y = _blobs(100)
    X = X * 50
    net = Network([6, 32, 3], "relu", "ce", seed=0)
    epochs_done: list[np.ndarray] = []

    class Keep(Callback):
        def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict) -> None:
            epochs_done.append(trainer.net.parameters.copy())

    tr = Trainer(net, "sgd", learning_rate=1e3, batch_size=10, epochs=50, callbacks=[Keep()])
    with pytest.raises(
        DivergenceError, match=r"diverged in epoch \d+.*smaller learning rate \(it was 1000\)"
    ) as info:
        tr.fit(X, Y)
    assert np.isfinite(net.parameters).all()
    exc = info.value  # the fields the message is built from
    assert exc.epoch is not None and exc.epoch >= 1
    assert exc.learning_rate == 1e3 and exc.threshold is not None and exc.loss > exc.threshold
    assert tr.history.stop_reason == "diverged" and tr.history.stop is not None
    assert tr.history.stop.epoch == exc.epoch == len(epochs_done) + 1
    if epochs_done:
        np.testing.assert_array_equal(net.parameters, epochs_done[-1])


def test_divergence_without_the_factor_waits_for_a_non_finite_loss() -> None:
    X, Y = _blobs(100)
    net = Network([6, 32, 3], "relu", "ce", seed=0)
    tr = Trainer(net, "sgd", learning_rate=1e3, batch_size=10, epochs=50)
    tr.divergence_factor = None
    with pytest.raises(DivergenceError, match="the loss became") as info:
        tr.fit(X * 50, Y)
    assert not np.isfinite(info.value.loss) and info.value.threshold is None
    assert np.isfinite(net.parameters).all()


def test_lbfgs_trainer() -> None:
    X, Y = _blobs(150)
    net = Network([6, 10, 3], "tanh", "ce", seed=0)
    tr = Trainer(net, "lbfgs", epochs=300, tol=1e-8)
    h = tr.fit(X, Y)
    assert h.loss[-1] < 0.5 * h.loss[0]
    assert tr.lbfgs_result.nit == len(h.loss)
    assert np.linalg.norm(net.grad) < np.linalg.norm(
        Network([6, 10, 3], "tanh", "ce", seed=0).gradients(X, Y)[0][0]
    )


@pytest.mark.parametrize(
    "schedule", ["constant", "step", "exponential", "cosine", "invscaling", "plateau"]
)
def test_every_schedule_trains(schedule: str) -> None:
    from deltaprop.optim.schedules import get_schedule

    kwargs = {"step": {"step_size": 2}, "exponential": {"gamma": 0.9}, "cosine": {"t_max": 10}}
    X, Y = _blobs(100)
    net = Network([6, 8, 3], "relu", "ce", seed=0)
    sched = get_schedule(schedule, **kwargs.get(schedule, {}))
    h = Trainer(
        net, "sgd", learning_rate=0.1, schedule=sched, batch_size=20, epochs=10, seed=0
    ).fit(X, Y)
    assert h.loss[-1] < h.loss[0]
    if schedule == "step":
        assert h.learning_rate[:4] == pytest.approx([0.1, 0.1, 0.01, 0.01])


@pytest.mark.parametrize("epochs", [1, 2, 30, 200])
def test_a_named_schedule_is_set_for_the_fit_epochs(epochs: int) -> None:
    """The Trainer gives a schedule named by string optim's settings for ``epochs``
    (:func:`deltaprop.optim.schedule_for_epochs`; formerly ``train.named_schedule``)."""
    from deltaprop.optim import schedule_for_epochs
    from deltaprop.optim.schedules import CosineAnnealing, ExponentialDecay, StepDecay

    net = Network([2, 3, 1], "tanh", "bce", seed=0)

    def schedule(name: str) -> dict:
        return Trainer(net, "sgd", schedule=name, epochs=epochs).schedule.state_dict()

    assert repr(schedule_for_epochs("step", 30)) == "StepDecay(step_size=10, gamma=0.1)"
    assert schedule("step") == StepDecay(step_size=max(1, epochs // 3)).state_dict()
    assert schedule("exponential") == ExponentialDecay(gamma=0.01 ** (1.0 / epochs)).state_dict()
    assert schedule("cosine") == CosineAnnealing(t_max=epochs).state_dict()
    assert schedule("constant") == schedule_for_epochs("constant", epochs).state_dict()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, r"batch_size must be a positive integer. Received: batch_size=0"),
        ({"epochs": -1}, r"epochs must be a positive integer. Received: epochs=-1"),
        ({"learning_rate": -0.1}, r"learning_rate must be a positive finite number"),
        ({"validation_fraction": 1.5}, r"validation_fraction must be in \(0, 1\)"),
        ({"optimizer": "adagrad"}, r"Could not interpret optimizer identifier: 'adagrad'.*adam"),
        ({"schedule": "linear"}, r"schedule"),
        ({"alpha": -1}, r"alpha must be a non-negative finite number"),
        ({"clip_norm": 0}, r"clip_norm must be a positive number"),
        ({"monitor": "acc"}, r"monitor must be 'val_loss' or 'val_score'"),
        ({"class_weight": "auto"}, r"class_weight must be a dict, 'balanced' or None"),
        ({"shuffle": "3"}, r"shuffle must be a bool. Received: shuffle='3'"),
        (
            {"early_stopping": "yes"},
            r"early_stopping must be a bool. Received: early_stopping='yes'",
        ),
    ],
)
def test_trainer_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Trainer(Network([2, 1], "sigmoid", "bce"), **kwargs)


@pytest.mark.parametrize("callbacks", ["abc", 3, Callback()])
def test_callbacks_that_are_not_a_list_are_refused(callbacks: object) -> None:
    """A string was taken letter by letter ("callbacks[0]='a' is not a callback")."""
    with pytest.raises(TypeError, match=r"^callbacks must be a list of callbacks, or None\. "):
        Trainer(Network([2, 1], "sigmoid", "bce"), callbacks=callbacks)  # type: ignore[arg-type]


def test_verbose_progress_bar_runs(capsys: pytest.CaptureFixture[str]) -> None:
    X, Y = _blobs(50)
    Trainer(Network([6, 4, 3], "relu", "ce", seed=0), "adam", epochs=3, verbose=True).fit(X, Y)
    assert "training" in capsys.readouterr().out


@pytest.mark.slow
def test_digits_adam_64_128_10_reaches_97_percent() -> None:
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    from sklearn.model_selection import train_test_split as split

    X_tr, X_te, y_tr, y_te = split(X, y, test_size=0.25, random_state=0, stratify=y)
    accs = []
    for seed in range(3):
        net = Network([64, 128, 10], ["relu", "softmax"], "categorical_crossentropy", seed=seed)
        Trainer(net, "adam", learning_rate=1e-3, batch_size=64, epochs=100, seed=seed).fit(
            X_tr, np.eye(10)[y_tr]
        )
        accs.append((net.forward(X_te).argmax(1) == y_te).mean())
    assert min(accs) >= 0.97, accs
