"""ONNX export: onnxruntime gives our outputs for every activation, batch size and dtype."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from deltaprop import Network
from deltaprop.core.activations import Activation
from deltaprop.export import OpsetError
from deltaprop.export.onnx import DEFAULT_OPSET, export_onnx
from deltaprop.io import load, save
from tests.conftest import ALL_ACTIVATIONS

ACTIVATIONS = [*ALL_ACTIVATIONS, "exp"]


def run(path: Path, X: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"X": X})
    return np.asarray(out)


def net_with_stats(activation: str, dtype: str, output: str | None = None) -> Network:
    """A 4-7-6-3 network with batch norm, dropout, and running statistics off (0, 1)."""
    # exp in the middle of a chain of exps overflows: there it sits between tanh layers.
    middle = "tanh" if activation == "exp" else activation
    net = Network(
        [4, 7, 6, 3],
        [activation, middle, output or activation],
        "categorical_crossentropy" if output == "softmax" else "mse",
        seed=0,
        dtype=dtype,
        dropout=0.3,
        batch_norm=[True, False],
    )
    rng = np.random.default_rng(1)
    net.forward(rng.normal(size=(64, 4)) * 2 + 0.5, training=True)
    bn = net.dense[0].batch_norm
    assert bn is not None and not np.allclose(bn.running_var, 1.0)
    net.parameters += (0.05 * rng.normal(size=net.n_params)).astype(net.dtype)
    return net


@pytest.mark.parametrize("opset", [DEFAULT_OPSET, 20])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_float32_matches_ours_within_1e5(tmp_path: Path, activation: str, opset: int) -> None:
    net = net_with_stats(activation, "float32")
    path = tmp_path / "net.onnx"
    export_onnx(net, path, opset=opset)
    rng = np.random.default_rng(2)
    for m in (1, 17):
        X = (rng.normal(size=(m, 4)) * 3).astype(np.float32)
        out = run(path, X)
        assert out.shape == (m, 3) and out.dtype == np.float32
        np.testing.assert_allclose(out, net.forward(X), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_float64_graph(tmp_path: Path, activation: str) -> None:
    net = net_with_stats(activation, "float64")
    path = tmp_path / "net.onnx"
    export_onnx(net, path)
    X = np.random.default_rng(3).normal(size=(17, 4)) * 3
    out = run(path, X)
    assert out.dtype == np.float64
    tol = 1e-12 if activation == "gelu" else 1e-10  # GELU: Φ from double ops, no float32 Erf
    np.testing.assert_allclose(out, net.forward(X), rtol=tol, atol=tol)


@pytest.mark.parametrize("opset", [13, 20])
def test_float64_gelu_is_exact_to_1e_15_absolute_over_its_whole_range(
    tmp_path: Path, opset: int
) -> None:
    net = Network([1, 1, 1], "gelu", "mse", seed=0, dtype="float64")
    for layer in net.dense:
        layer.W[...], layer.b[...] = 1.0, 0.0
    export_onnx(net, tmp_path / "net.onnx", opset=opset)
    rng = np.random.default_rng(4)
    z = np.concatenate([np.linspace(-40, 40, 40001), rng.normal(scale=4, size=4000)])
    z = np.concatenate([z, [0.0, -0.0, 1e-300, -1e-300, -36.77, 1e300, -1e300]]).reshape(-1, 1)
    out, ours = run(tmp_path / "net.onnx", z), net.forward(z)
    np.testing.assert_allclose(out, ours, rtol=0, atol=1e-15)
    tail = (z[:, 0] < 0) & (np.abs(ours[:, 0]) > 1e-290)  # relative, down to Φ ~ 1e-290
    rel = np.abs(out - ours)[tail, 0] / np.abs(ours[tail, 0])
    assert rel.max() < 4e-16 * np.max(z[tail, 0] ** 2)  # u² = z²/2 rounded: ~z² ulp
    assert rel[np.abs(z[tail, 0]) < 5].max() < 1e-14


@pytest.mark.parametrize("activation", ["sigmoid", "softplus", "elu", "gelu", "exp", "tanh"])
def test_large_inputs_stay_finite_and_close(tmp_path: Path, activation: str) -> None:
    net = Network([2, 2], [activation], "mse", seed=0, dtype="float32")
    net.dense[0].W[...] = np.eye(2)
    path = tmp_path / "net.onnx"
    export_onnx(net, path)
    z = np.array([-1e4, -200.0, -30.0, -5.0, 0.0, 5.0, 30.0, 80.0, 200.0, 1e4], dtype=np.float32)
    X = np.stack([z, -z], axis=1)
    with np.errstate(over="ignore"):
        ours = net.forward(X)
    out = run(path, X)
    assert np.array_equal(np.isfinite(out), np.isfinite(ours))
    finite = np.isfinite(ours)
    np.testing.assert_allclose(out[finite], ours[finite], rtol=1e-5, atol=1e-5)


def test_graph_structure(tmp_path: Path) -> None:
    net = net_with_stats("leaky_relu", "float32", output="softmax")
    path = tmp_path / "net.onnx"
    proto = export_onnx(net, path)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert model == proto
    (inp,) = model.graph.input
    (out,) = model.graph.output
    assert inp.name == "X" and out.name == "output"
    in_dims = [(d.dim_param, d.dim_value) for d in inp.type.tensor_type.shape.dim]
    out_dims = [(d.dim_param, d.dim_value) for d in out.type.tensor_type.shape.dim]
    assert in_dims == [("batch", 0), ("", 4)] and out_dims == [("batch", 0), ("", 3)]
    ops = [n.op_type for n in model.graph.node]
    assert ops == ["Gemm", "BatchNormalization", "LeakyRelu", "Gemm", "LeakyRelu", "Gemm",
                   "Softmax", "Identity"]  # fmt: skip
    assert model.opset_import[0].version == DEFAULT_OPSET
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    np.testing.assert_array_equal(inits["W1_1"], net.dense[0].W)  # (n_out, n_in), transB=1
    X = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(run(path, X).sum(axis=1), 1.0, rtol=1e-6)


def test_export_after_load_and_atomic_write(tmp_path: Path) -> None:
    net = net_with_stats("tanh", "float64")
    loaded = load(save(net, tmp_path / "m.safetensors"))
    path = tmp_path / "net.onnx"
    path.write_bytes(b"old")
    export_onnx(loaded, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors", "net.onnx"]
    X = np.random.default_rng(0).normal(size=(3, 4))
    np.testing.assert_allclose(run(path, X), net.forward(X), rtol=1e-10, atol=1e-12)


class FakeClassifier:
    """What export_onnx needs from an estimator: ``network_`` and ``classes_``."""

    def __init__(self, net: Network, classes: list[Any]) -> None:
        self.network_ = net
        self.classes_ = np.array(classes)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        A = self.network_.forward(X)
        if A.shape[1] > 1:
            return A
        Z = self.network_.forward(X, logits=True)
        return np.hstack([self.network_.output_activation.forward(-Z), A])


@pytest.mark.parametrize(
    ("sizes", "output", "loss", "classes"),
    [
        ([4, 6, 1], "sigmoid", "bce", ["no", "yes"]),
        ([4, 6, 3], "softmax", "ce", [0, 1, 2]),
    ],
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_classifier_exports_probabilities(
    tmp_path: Path, sizes: list[int], output: str, loss: str, classes: list[Any], dtype: str
) -> None:
    net = Network(sizes, ["relu", output], loss, seed=0, dtype=dtype)
    clf = FakeClassifier(net, classes)
    path = tmp_path / "clf.onnx"
    proto = export_onnx(clf, path)
    assert proto.graph.output[0].name == "probabilities"
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["classes"] == str(classes).replace("'", '"')
    X = (np.random.default_rng(4).normal(size=(17, 4)) * 4).astype(dtype)
    out = run(path, X)
    expected = clf.predict_proba(X)
    assert out.shape == (17, len(classes))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-6)


def test_real_estimators(tmp_path: Path) -> None:
    from deltaprop.sklearn import MLPClassifier, MLPRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not converged in 20 epochs: fine here
        clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=20, random_state=0).fit(X, y)
        reg = MLPRegressor(hidden_layer_sizes=(6,), max_iter=20, random_state=0).fit(X, X[:, 0])
    export_onnx(clf, tmp_path / "clf.onnx")
    export_onnx(reg, tmp_path / "reg.onnx")
    np.testing.assert_allclose(run(tmp_path / "clf.onnx", X), clf.predict_proba(X), atol=1e-12)
    np.testing.assert_allclose(run(tmp_path / "reg.onnx", X)[:, 0], reg.predict(X), atol=1e-12)


class Swish(Activation):
    name = "swish"

    def forward(self, Z: Any) -> Any:
        return Z * self.be.expit(Z)


def test_errors(tmp_path: Path) -> None:
    net = Network([2, 3, 1], seed=0)
    with pytest.raises(  # a ValueError, of its own kind (the command's usage error)
        OpsetError, match=r"opset must be an integer from 13 to .* Received: opset=12"
    ):
        export_onnx(net, tmp_path / "a.onnx", opset=12)
    with pytest.raises(
        TypeError, match=r"expects a Network or a fitted estimator .* Received: dict"
    ):
        export_onnx({}, tmp_path / "a.onnx")

    class Unfitted:
        def fit(self) -> None: ...

    with pytest.raises(TypeError, match=r"not fitted: network_ is missing"):
        export_onnx(Unfitted(), tmp_path / "a.onnx")
    fitted = Unfitted()
    fitted.coef_ = 1.0  # type: ignore[attr-defined]  # fitted, as scikit-learn marks it
    with pytest.raises(TypeError, match=r"Unfitted \(fitted, but not a deltaprop "
                       r"model: it has no network_\)"):  # fmt: skip
        export_onnx(fitted, tmp_path / "a.onnx")
    from sklearn.compose import TransformedTargetRegressor

    from deltaprop.sklearn import MLPRegressor

    bare = TransformedTargetRegressor(MLPRegressor(hidden_layer_sizes=(3,), max_iter=2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bare.fit(np.eye(3), [0.0, 1.0, 2.0])
    with pytest.raises(TypeError, match=r"a TransformedTargetRegressor exports inside a "
                       r"Pipeline after a TablePreprocessor"):  # fmt: skip
        export_onnx(bare, tmp_path / "a.onnx")
    custom = Network([2, 3, 1], [Swish(), "sigmoid"], seed=0)
    with pytest.raises(ValueError, match="cannot export the activation 'swish'"):
        export_onnx(custom, tmp_path / "a.onnx")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("n_labels", [2, 3])
def test_multilabel_estimator_exports_its_sigmoid_outputs(tmp_path: Path, n_labels: int) -> None:
    from deltaprop.sklearn import MLPClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    Y = (X[:, :n_labels] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not converged in 20 epochs: fine here
        clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=20, random_state=0).fit(X, Y)
    assert len(clf.classes_) == n_labels and clf.out_activation_ == "logistic"
    proto = export_onnx(clf, tmp_path / "multilabel.onnx")
    assert proto.graph.output[0].name == "probabilities"
    out = run(tmp_path / "multilabel.onnx", X)
    assert out.shape == (80, n_labels)
    np.testing.assert_allclose(out, clf.predict_proba(X), atol=1e-12)


@pytest.mark.parametrize("activation", ALL_ACTIVATIONS)
def test_a_float64_model_exports_as_float32(tmp_path: Path, activation: str) -> None:
    """``dtype="float32"``: a float input and output, weights rounded to float32, results
    within float32's precision of the float64 network's."""
    net = net_with_stats(activation, "float64")
    proto = export_onnx(net, tmp_path / "m.onnx", dtype="float32")
    float_type = onnx.TensorProto.FLOAT
    assert proto.graph.input[0].type.tensor_type.elem_type == float_type
    assert proto.graph.output[0].type.tensor_type.elem_type == float_type
    assert all(init.data_type == float_type for init in proto.graph.initializer)
    X = np.random.default_rng(2).normal(size=(50, 4))
    got = run(tmp_path / "m.onnx", X.astype(np.float32))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, net.forward(X), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="Received: dtype='float16'"):
        export_onnx(net, tmp_path / "n.onnx", dtype="float16")
