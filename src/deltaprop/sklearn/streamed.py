"""The estimators' ``fit`` on a :class:`~deltaprop.data.Dataset` (out of core): the labels
found in one pass over the target, the target encoded buffer by buffer, and the trainer's
streamed fit (:mod:`deltaprop.train.streaming`)."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from deltaprop.data import Dataset
from deltaprop.sklearn.params import MAY_CHANGE, SKLEARN_OUT
from deltaprop.sklearn.training import interrupted_here
from deltaprop.train import DivergenceError

__all__ = ["EncodedTarget", "dataset_fingerprint", "fit_dataset"]


class EncodedTarget(Dataset):
    """``data`` with its target as the network takes it, ``encode(y) -> Y`` of shape
    ``(m, n_L)``, on every read (the estimators' label encoding)."""

    def __init__(self, data: Dataset, encode: Any, n_outputs: int) -> None:
        super().__init__(block_rows=data.block_rows, buffer_blocks=data.buffer_blocks)
        self.data, self.encode = data, encode
        self.n_rows, self.n_features, self.dtype = data.n_rows, data.n_features, data.dtype
        self.local, self.feature_names = data.local, data.feature_names
        self.read_ahead = data.read_ahead
        self.target_shape = (n_outputs,)

    def _encoded(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if y.shape[0] == 0:
            return X, np.empty((0, *self.target_shape), self.dtype)
        return X, np.asarray(self.encode(y), dtype=self.dtype)

    def _read(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        return self._encoded(*self.data.read(start, stop))

    def take(self, rows: np.ndarray, *, threads: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The wrapped dataset's :meth:`~deltaprop.data.Dataset.take`, its target encoded."""
        return self._encoded(*self.data.take(rows, threads=threads))

    def take_unordered(
        self, rows: np.ndarray, pad: int = 0, *, threads: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The wrapped dataset's :meth:`~deltaprop.data.Dataset.take_unordered`, its
        target (after the ``pad`` rows) encoded."""
        X, y, idx = self.data.take_unordered(rows, pad, threads=threads)
        Y = np.empty((y.shape[0], *self.target_shape), self.dtype)
        Y[pad:] = self._encoded(X[pad:], y[pad:])[1]
        return X, Y, idx


def _labels(est: Any, data: Dataset, comm: Any) -> np.ndarray:
    """The distinct target values of the whole table (this rank's rows, then gathered)."""
    found: set[Any] = set()
    lo, hi = _own(data, comm)
    for start in range(lo, hi, 65_536):
        found.update(np.unique(data.read_target(start, min(start + 65_536, hi))).tolist())
    labels = np.array(sorted(found))
    if data.target_dtype.kind in "biu":  # integer labels read as floats: classes_ as stored
        labels = labels.astype(data.target_dtype)
    if comm is not None:
        from deltaprop.parallel import gather_rows

        labels = np.unique(gather_rows(labels, comm))
    return labels


def _own(data: Dataset, comm: Any) -> tuple[int, int]:
    from deltaprop.data import rank_rows

    size, rank = (1, 0) if comm is None else (comm.size, comm.rank)
    own = rank_rows(data.n_rows, rank, size, data.block_rows)
    return own.start, own.stop


def dataset_fingerprint(data: Dataset) -> str:
    """What a checkpoint recognises a dataset by: SHA-256 of its kind, shape, dtype,
    target shape, feature names and block layout (not its values: that would cost a pass
    over the data)."""
    facts = (type(data).__name__, data.n_rows, data.n_features, data.dtype.str,
             data.target_shape, data.feature_names, data.block_rows, data.buffer_blocks)  # fmt: skip
    return hashlib.sha256(repr(facts).encode()).hexdigest()


def _checkpoints(
    est: Any, trainer: Any, data: Dataset, validation: tuple[np.ndarray, np.ndarray] | None,
    resume_from: Any,
) -> None:  # fmt: skip
    """The run's fingerprint into the trainer's checkpoints, and ``resume_from``'s state
    into the trainer (as an in-memory fit does)."""
    from deltaprop.train import Checkpoint
    from deltaprop.train.checkpoint import data_fingerprint, jsonable

    checkpoints = [cb for cb in trainer.callbacks if isinstance(cb, Checkpoint)]
    if not checkpoints and resume_from is None:
        return
    params = est.get_params(deep=False).items()
    fingerprint = {
        "settings": jsonable({k: v for k, v in params if k not in MAY_CHANGE}),
        "data": dataset_fingerprint(data) + data_fingerprint(*(validation or ())),
    }
    for cb in checkpoints:
        cb.run["estimator"] = fingerprint
    if resume_from is not None:
        est._resume(trainer, resume_from, fingerprint, checkpoints)


def fit_dataset(est: Any, data: Dataset, y: Any, sample_weight: Any, incremental: bool,
                others: dict[str, Any]) -> Any:  # fmt: skip
    """``est.fit(data)``: a fresh fit on a dataset read out of core.

    With ``early_stopping`` the validation rows are those of
    :func:`deltaprop.data.validation_mask` (``validation_fraction`` and the trainer's split
    seed, drawn from ``random_state``: the same rows for any number of ranks), unless a
    validation set ``X_val, y_val`` is given (held in memory, the whole set on every rank);
    the best epoch's weights are restored, as in memory. Not with ``y``, sample weights,
    ``partial_fit``, ``warm_start``, ``class_weight``, ``classes`` or multilabel targets
    (a ``ValueError`` naming each one given and what to do instead).

    ``resume_from`` continues a checkpoint's run exactly, as in memory
    (:meth:`BaseMLP._resume`); a dataset is recognised by :func:`dataset_fingerprint`
    (its kind, shape, names and layout, not its values), the validation set by its values.
    """
    X_val, y_val = others.pop("X_val", None), others.pop("y_val", None)
    resume_from = others.pop("resume_from", None)
    if (X_val is None) != (y_val is None):
        raise ValueError("X_val and y_val must be given together.")
    refused = {
        "y": (y is not None, "the dataset carries its own target; call fit(dataset)"),
        "sample_weight": (
            sample_weight is not None,
            "every row of a streamed fit weighs the same; fit arrays in memory to weight rows",
        ),
        "partial_fit": (
            incremental,
            "a streamed fit is one whole run of max_iter epochs; call fit(dataset) "
            "(resume_from= continues a checkpoint's run)",
        ),
        "warm_start=True": (
            bool(est.warm_start),
            "a streamed fit starts from fresh weights; set warm_start=False "
            "(resume_from= continues a checkpoint's run)",
        ),
        f"class_weight={getattr(est, 'class_weight', None)!r}": (
            getattr(est, "class_weight", None) is not None,
            "class weights are not applied to streamed rows; set class_weight=None",
        ),
        "classes": (
            others.get("classes") is not None,
            "the classes are read from the dataset's target; leave classes out",
        ),
        "a multilabel or multi-column target": (
            data.target_shape != () and est._y_numeric is False,
            "a streamed classifier takes one target column",
        ),
        **{k: (v is not None, "not with a dataset") for k, v in others.items() if k != "classes"},
    }  # fmt: skip
    bad = [f"{k}: {why}" for k, (given, why) in refused.items() if given]
    if bad:
        raise ValueError(
            f"fit on a Dataset (out of core) does not take {'; nor '.join(bad)}. Received: {data!r}"
        )
    if est.dtype is not None and np.dtype(est.dtype) != data.dtype:
        raise ValueError(
            f"dtype={est.dtype!r} but the dataset reads {data.dtype.name}: open it with "
            f"dtype={np.dtype(est.dtype).name!r}"
        )
    comm = est._communicator()
    if est._y_numeric:  # the regressor
        est._encode_y(np.zeros((1, *data.target_shape)), incremental=False)
        n_outputs = 1 if data.target_shape == () else data.target_shape[0]
    else:
        n_outputs = est._encode_y(_labels(est, data, comm), incremental=False).shape[1]
    encoded = EncodedTarget(data, lambda y: est._encode_y(y, incremental=True), n_outputs)
    est.n_features_in_ = data.n_features
    est.network_ = est._make_network(data.n_features, n_outputs, data.dtype, comm)
    est._take_user_weights()
    if comm is not None:
        from deltaprop.parallel import broadcast_parameters

        broadcast_parameters(est.network_, comm)
    validation = None
    if X_val is not None:
        yv = np.asarray(y_val)
        if yv.ndim == 2 and yv.shape[1] == 1 and data.target_shape == ():
            yv = yv[:, 0]
        Xv = np.ascontiguousarray(est._check_X(X_val, reset=False), dtype=data.dtype)
        if Xv.shape[0] != yv.shape[0]:
            raise ValueError(
                f"X_val and y_val must have the same rows. Received: {Xv.shape[0]} and "
                f"{yv.shape[0]}"
            )
        validation = (Xv, np.asarray(est._encode_y(yv, incremental=True), dtype=data.dtype))
    est._check_validation_rows(False, given=validation is not None)
    n_train = data.n_rows
    if est.early_stopping and validation is None:
        n_train -= round(data.n_rows * est.validation_fraction)  # the batch size only
    trainer = est._trainer = est._make_trainer(est.network_, n_train, False, comm)
    _checkpoints(est, trainer, data, validation, resume_from)
    est.t_ = 0
    est.n_outputs_ = n_outputs
    est.n_layers_ = len(est._hidden_sizes()) + 2
    est.out_activation_ = SKLEARN_OUT[est.network_.output_activation.name]
    try:
        if comm is None:
            trainer.fit(encoded, validation_data=validation)
        else:
            from deltaprop.parallel import abort_on_error

            with abort_on_error(comm, passing=(DivergenceError,)):
                trainer.fit(encoded, validation_data=validation)
    except DivergenceError as exc:
        est._after_divergence(trainer, exc)
    interrupted_here(trainer)  # Ctrl-C: scikit-learn's warning (deltaprop.sklearn.training)
    est._record(trainer, False, 0)
    return est
