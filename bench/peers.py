"""The systems the benchmark races: deltaprop and its peers, each training the same network.

Every system trains a ReLU multilayer perceptron with a softmax cross-entropy output and
Adam (``lr=1e-3``, ``β=(0.9, 0.999)``, ``ε=1e-8``, no weight decay), in float32, with the
data reshuffled every epoch and every mini-batch of the same size. A system is a class with

``prepare(seed)``
    build a fresh model (not timed);
``train(epochs)``
    train it for that many epochs (timed);
``accuracy(X, y)``
    the test accuracy of the trained model.

A peer whose package is missing raises :class:`Missing` from its constructor, and the
harness reports it as missing.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

LR, BETA1, BETA2, EPS = 1e-3, 0.9, 0.999, 1e-8


class Missing(RuntimeError):
    """The peer's package is not installed."""


@dataclass
class Case:
    """One benchmark case: the network, the batch size and the data.

    Attributes
    ----------
    name : str
    sizes : list of int
        ``[n_0, ..., n_L]``, hidden layers ReLU, output softmax.
    batch_size : int
    X, y : ndarray
        Training data, float32 of shape (n, n_0), and int labels of shape (n,).
    X_test, y_test : ndarray
        Held-out data for the accuracy check.
    epochs : int
        Epochs per timed run.
    """

    name: str
    sizes: list[int]
    batch_size: int
    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    epochs: int
    description: str = ""
    check_accuracy: bool = True

    @property
    def n_classes(self) -> int:
        return self.sizes[-1]

    @property
    def Y(self) -> np.ndarray:
        """One-hot float32 targets, made once per case."""
        if not hasattr(self, "_Y"):
            self._Y = np.eye(self.n_classes, dtype=np.float32)[self.y]
        return self._Y

    def flops_per_sample(self) -> float:
        """Multiply-adds ×2 of the matrix products of one training step, per sample.

        Forward ``Z = A Wᵀ`` and ``dW = dZᵀ A`` for every layer, ``dA = dZ W`` for every layer
        but the first.
        """
        pairs = list(zip(self.sizes[:-1], self.sizes[1:], strict=True))
        macs = sum(2 * a * b for a, b in pairs) + sum(a * b for a, b in pairs[1:])
        return 2.0 * macs


class System:
    """Base class of a benchmarked system."""

    name = ""

    def __init__(self, case: Case) -> None:
        self.case = case

    def prepare(self, seed: int) -> None:
        raise NotImplementedError

    def train(self, epochs: int) -> None:
        raise NotImplementedError

    def accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        raise NotImplementedError


def _he_init(rng: np.random.Generator, sizes: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for n_in, n_out in itertools.pairwise(sizes):
        W = (rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in)).astype(np.float32)
        out.append((W, np.zeros(n_out, np.float32)))
    return out


# ---------------------------------------------------------------------------------------
# deltaprop
# ---------------------------------------------------------------------------------------
class Backprop(System):
    """``deltaprop.Trainer`` with ``Network(dtype="float32")``."""

    name = "deltaprop"

    def __init__(self, case: Case) -> None:
        super().__init__(case)
        import deltaprop

        self.bp = deltaprop

    def prepare(self, seed: int) -> None:
        c = self.case
        self.net = self.bp.Network(
            c.sizes, "relu", "categorical_crossentropy", dtype="float32", seed=seed
        )
        # the Trainer is built here, untimed, as the peers build their optimizers here
        self.trainer = self.bp.Trainer(
            self.net, "adam", learning_rate=LR, batch_size=c.batch_size, epochs=c.epochs,
            tol=0.0, n_iter_no_change=10**9, seed=seed,
        )  # fmt: skip

    def train(self, epochs: int) -> None:
        if epochs != self.trainer.epochs:
            self.trainer.epochs = epochs
        self.trainer.fit(self.case.X, self.case.Y)

    def accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        return float((self.net.forward(X).argmax(1) == y).mean())


# ---------------------------------------------------------------------------------------
# a plain NumPy implementation: what a careful user writes in an afternoon
# ---------------------------------------------------------------------------------------
class PlainNumpy(System):
    """Textbook NumPy: arrays allocated as needed, Adam per parameter array."""

    name = "numpy-plain"

    def prepare(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.params = _he_init(self.rng, self.case.sizes)
        self.m = [(np.zeros_like(W), np.zeros_like(b)) for W, b in self.params]
        self.v = [(np.zeros_like(W), np.zeros_like(b)) for W, b in self.params]
        self.t = 0

    def _forward(self, X: np.ndarray) -> list[np.ndarray]:
        acts = [X]
        for i, (W, b) in enumerate(self.params):
            Z = acts[-1] @ W.T + b
            if i < len(self.params) - 1:
                Z = np.maximum(Z, 0)
            acts.append(Z)
        return acts

    def train(self, epochs: int) -> None:
        c = self.case
        X, Y, bs = c.X, c.Y, c.batch_size
        n = X.shape[0]
        for _ in range(epochs):
            order = self.rng.permutation(n)
            for start in range(0, n, bs):
                idx = order[start : start + bs]
                xb, yb = X[idx], Y[idx]
                acts = self._forward(xb)
                logits = acts[-1]
                e = np.exp(logits - logits.max(axis=1, keepdims=True))
                p = e / e.sum(axis=1, keepdims=True)
                dZ = (p - yb) / xb.shape[0]
                self.t += 1
                for i in range(len(self.params) - 1, -1, -1):
                    W, b = self.params[i]
                    dW = dZ.T @ acts[i]
                    db = dZ.sum(axis=0)
                    if i > 0:
                        dZ = (dZ @ W) * (acts[i] > 0)
                    for j, (p_, g) in enumerate(((W, dW), (b, db))):
                        m = self.m[i][j]
                        v = self.v[i][j]
                        m *= BETA1
                        m += (1 - BETA1) * g
                        v *= BETA2
                        v += (1 - BETA2) * g * g
                        mhat = m / (1 - BETA1**self.t)
                        vhat = v / (1 - BETA2**self.t)
                        p_ -= LR * mhat / (np.sqrt(vhat) + EPS)

    def accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        return float((self._forward(X)[-1].argmax(1) == y).mean())


# ---------------------------------------------------------------------------------------
# scikit-learn
# ---------------------------------------------------------------------------------------
class Sklearn(System):
    """``sklearn.neural_network.MLPClassifier(solver="adam")`` on float32 input."""

    name = "scikit-learn"

    def __init__(self, case: Case) -> None:
        super().__init__(case)
        from sklearn.neural_network import MLPClassifier

        self.cls = MLPClassifier

    def prepare(self, seed: int) -> None:
        c = self.case
        self.model = self.cls(
            hidden_layer_sizes=tuple(c.sizes[1:-1]), activation="relu", solver="adam",
            alpha=0.0, batch_size=c.batch_size, learning_rate_init=LR, beta_1=BETA1,
            beta_2=BETA2, epsilon=EPS, shuffle=True, tol=0.0, n_iter_no_change=10**9,
            random_state=seed, warm_start=True,
        )  # fmt: skip

    def train(self, epochs: int) -> None:
        self.model.max_iter = epochs
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter reached on purpose
            self.model.fit(self.case.X, self.case.y)

    def accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        return float((self.model.predict(X) == y).mean())


# ---------------------------------------------------------------------------------------
# PyTorch eager
# ---------------------------------------------------------------------------------------
class TorchEager(System):
    """PyTorch eager mode: ``nn.Sequential`` of ``Linear``/``ReLU``, fused Adam (its fastest
    CPU Adam), ``F.cross_entropy`` on integer labels."""

    name = "pytorch-eager"

    def __init__(self, case: Case) -> None:
        super().__init__(case)
        try:
            import torch
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise Missing("torch") from exc
        self.torch = torch
        torch.set_num_threads(2)
        self.X = torch.from_numpy(case.X)
        self.y = torch.from_numpy(case.y.astype(np.int64))

    def prepare(self, seed: int) -> None:
        torch = self.torch
        torch.manual_seed(seed)
        layers: list[Any] = []
        sizes = self.case.sizes
        for i, (a, b) in enumerate(itertools.pairwise(sizes)):
            layers.append(torch.nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        self.model = torch.nn.Sequential(*layers)
        self.opt = torch.optim.Adam(
            self.model.parameters(), lr=LR, betas=(BETA1, BETA2), eps=EPS, fused=True
        )
        self.gen = torch.Generator().manual_seed(seed)

    def train(self, epochs: int) -> None:
        torch, F = self.torch, self.torch.nn.functional
        n, bs = self.X.shape[0], self.case.batch_size
        for _ in range(epochs):
            order = torch.randperm(n, generator=self.gen)
            for start in range(0, n, bs):
                idx = order[start : start + bs]
                loss = F.cross_entropy(self.model(self.X[idx]), self.y[idx])
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                self.opt.step()

    def accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        with self.torch.no_grad():
            out = self.model(self.torch.from_numpy(X)).argmax(1).numpy()
        return float((out == y).mean())


# ---------------------------------------------------------------------------------------
# JAX
# ---------------------------------------------------------------------------------------
class _JaxBase(System):
    """The same MLP and Adam written with ``jax.numpy``, compiled with ``jax.jit``."""

    def __init__(self, case: Case) -> None:
        super().__init__(case)
        try:
            import jax
            import jax.numpy as jnp
        except ImportError as exc:
            raise Missing("jax (pip install -e '.[bench]')") from exc
        self.jax, self.jnp = jax, jnp
        self.X = jax.device_put(case.X)
        self.Y = jax.device_put(case.Y)

        def forward(params: Any, x: Any) -> Any:
            for W, b in params[:-1]:
                x = jax.nn.relu(x @ W.T + b)
            W, b = params[-1]
            return x @ W.T + b

        def loss(params: Any, x: Any, y: Any) -> Any:
            logp = jax.nn.log_softmax(forward(params, x))
            return -jnp.mean(jnp.sum(y * logp, axis=1))

        def step(carry: Any, idx: Any) -> tuple[Any, None]:
            params, m, v, t = carry
            g = jax.grad(loss)(params, self.X[idx], self.Y[idx])
            t = t + 1
            tm = jax.tree_util.tree_map
            m = tm(lambda m_, g_: BETA1 * m_ + (1 - BETA1) * g_, m, g)
            v = tm(lambda v_, g_: BETA2 * v_ + (1 - BETA2) * g_ * g_, v, g)
            c1 = 1 - BETA1**t
            c2 = 1 - BETA2**t
            params = tm(
                lambda p, m_, v_: p - LR * (m_ / c1) / (jnp.sqrt(v_ / c2) + EPS), params, m, v
            )
            return (params, m, v, t), None

        self.forward = jax.jit(forward)
        self.step = step

    def prepare(self, seed: int) -> None:
        jnp = self.jnp
        self.rng = np.random.default_rng(seed)
        params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in _he_init(self.rng, self.case.sizes)]
        zeros = [(jnp.zeros_like(W), jnp.zeros_like(b)) for W, b in params]
        self.carry = (params, zeros, [(a.copy(), b.copy()) for a, b in zeros], jnp.float32(0))

    def _batches(self) -> np.ndarray:
        n, bs = self.case.X.shape[0], self.case.batch_size
        return self.rng.permutation(n).astype(np.int32).reshape(n // bs, bs)

    def accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        out = np.asarray(self.forward(self.carry[0], X)).argmax(1)
        return float((out == y).mean())


class JaxJit(_JaxBase):
    """One ``jax.jit``-compiled step per mini-batch (buffers donated), the batch gathered
    inside the compiled step."""

    name = "jax-jit"

    def __init__(self, case: Case) -> None:
        super().__init__(case)
        step = self.step
        self.jit_step = self.jax.jit(lambda carry, idx: step(carry, idx)[0], donate_argnums=0)

    def train(self, epochs: int) -> None:
        carry = self.carry
        for _ in range(epochs):
            for idx in self._batches():
                carry = self.jit_step(carry, idx)
        self.carry = self.jax.block_until_ready(carry)


class JaxScan(_JaxBase):
    """The whole epoch in one compiled ``jax.lax.scan`` over the mini-batches."""

    name = "jax-scan"

    def __init__(self, case: Case) -> None:
        super().__init__(case)
        step, lax = self.step, self.jax.lax
        self.epoch = self.jax.jit(lambda carry, idx: lax.scan(step, carry, idx)[0])

    def train(self, epochs: int) -> None:
        carry = self.carry
        for _ in range(epochs):
            carry = self.epoch(carry, self._batches())
        self.carry = self.jax.block_until_ready(carry)


SYSTEMS: dict[str, type[System]] = {
    cls.name: cls for cls in (Backprop, PlainNumpy, Sklearn, TorchEager, JaxJit, JaxScan)
}
