"""The configuration matrix's systems: deltaprop (estimator and Trainer) and its peers.

Every system of a row trains the same network from the same initial weights (copied from
the deltaprop ``Network`` built with the round's seed, so the init scale is the same by
construction) with the same optimizer hyper-parameters (Adam ``lr=1e-3, β=(0.9, 0.999),
ε=1e-8``; RMSprop ``lr=1e-3, ρ=0.99, ε=1e-8``), no L2 penalty, the data reshuffled every
epoch, the same dropout rate (inverted dropout after each hidden activation), batch norm
between ``Z`` and the activation (PyTorch's ``BatchNorm1d``: momentum 0.1, ε 1e-5), exact
GELU, the same loss (softmax cross-entropy, or mean absolute error) and the weighted mean
``Σ wᵢ Lᵢ / Σ wᵢ`` with sample weights. A system is a class with ``prepare(seed)`` (not
timed), ``train()`` (timed: one ``fit`` of ``cfg.epochs`` epochs) and ``score()``.

A peer without a row's feature raises :class:`Unsupported` from its constructor and the
table shows "—"; a peer whose package is missing raises :class:`peers.Missing`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from peers import BETA1, BETA2, EPS, LR, Missing

RHO = 0.99  # RMSprop's decay (torch's alpha)


class Unsupported(RuntimeError):
    """The peer has no such feature (shown as "—")."""


@dataclass
class Config:
    """One row of the matrix: a network, its training and its data.

    ``task`` is ``"clf"`` (softmax cross-entropy) or ``"reg"`` (one identity output, mean
    absolute error); ``layout`` is ``"C"``, ``"F"`` (Fortran-ordered ``X``) or ``"frame"``
    (a DataFrame through ``make_pipeline(StandardScaler(), MLP...)``); ``ref`` names the
    plain-Adam row of the same shape.
    """

    name: str
    sizes: list[int]
    batch_size: int
    epochs: int
    data: str = "digits"
    activation: str = "relu"
    task: str = "clf"
    optimizer: str = "adam"
    dropout: float = 0.0
    batch_norm: bool = False
    dtype: str = "float32"
    weights: bool = False
    layout: str = "C"
    ref: str = ""
    description: str = ""
    X: Any = None
    y: Any = None
    w: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def plain(self) -> bool:
        """Only the features scikit-learn's MLP has."""
        return not (
            self.dropout or self.batch_norm or self.weights or self.optimizer != "adam"
            or self.activation not in ("relu", "tanh") or self.task == "reg"
        )  # fmt: skip

    def X_array(self) -> np.ndarray:
        """``X`` as an array; a frame through scikit-learn's ``StandardScaler``, the
        pipeline's own first step, so that every system of the row does the same work
        and trains on the same values (until 2026-12-01 the peers scaled the frame in NumPy:
        0.2 ms for digits' 1,400×64 against the scaler's 2.3 ms on the DataFrame, 4-7 ms
        on the busy 2 cores, which deltaprop and scikit-learn paid alone)."""
        if self.layout != "frame":
            return np.asarray(self.X)
        from sklearn.preprocessing import StandardScaler

        return np.asarray(StandardScaler().fit_transform(self.X), dtype=self.dtype)


class MSystem:
    """Base class of a matrix system."""

    name = ""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg

    def prepare(self, seed: int) -> None:
        raise NotImplementedError

    def train(self) -> None:
        raise NotImplementedError

    def outputs(self, X: Any) -> np.ndarray:
        """The trained model on ``X`` in evaluation mode: class probabilities (m, k) or
        predictions (m, 1)."""
        raise NotImplementedError


def _sk_outputs(model: Any, task: str, X: Any) -> np.ndarray:
    if task == "clf":
        return np.asarray(model.predict_proba(X))
    return np.asarray(model.predict(X)).reshape(-1, 1)


def reference_network(cfg: Config, seed: int) -> Any:
    """The deltaprop ``Network`` of the row (its initial weights seed every peer)."""
    import deltaprop

    out = [cfg.activation] * (len(cfg.sizes) - 2)
    if cfg.task == "clf":
        acts, loss = [*out, "softmax"], "categorical_crossentropy"
    else:
        acts, loss = [*out, "identity"], "mean_absolute_error"
    return deltaprop.Network(
        cfg.sizes, acts, loss, seed=seed, dtype=cfg.dtype,
        dropout=cfg.dropout, batch_norm=cfg.batch_norm,
    )  # fmt: skip


def initial_params(cfg: Config, seed: int) -> list[dict[str, np.ndarray]]:
    """Per dense layer ``{"W": (n_out, n_in), "b": (n_out,)}`` (+ ``gamma``, ``beta``)."""
    net = reference_network(cfg, seed)
    out = []
    for d in net.dense:
        params = {k: np.array(v) for k, v in d.params.items()}
        if d.batch_norm is not None:
            params.update({k: np.array(v) for k, v in d.batch_norm.params.items()})
        out.append(params)
    return out


def targets(cfg: Config) -> np.ndarray:
    """One-hot (classification) or a column (regression), in the row's dtype."""
    if cfg.task == "clf":
        return np.eye(cfg.sizes[-1], dtype=cfg.dtype)[cfg.y]
    return np.asarray(cfg.y, cfg.dtype).reshape(-1, 1)


# ---------------------------------------------------------------------------------------
# deltaprop
# ---------------------------------------------------------------------------------------
class DeltapropEstimator(MSystem):
    """``deltaprop.sklearn.MLPClassifier/MLPRegressor``: a fresh estimator, ``fit``."""

    name = "deltaprop-est"

    def prepare(self, seed: int) -> None:
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        from deltaprop.sklearn import MLPClassifier, MLPRegressor

        c = self.cfg
        kw: dict[str, Any] = dict(
            hidden_layer_sizes=tuple(c.sizes[1:-1]), activation=c.activation,
            solver=c.optimizer, alpha=0.0, batch_size=c.batch_size, learning_rate_init=LR,
            beta_1=BETA1, beta_2=RHO if c.optimizer == "rmsprop" else BETA2, epsilon=EPS,
            max_iter=c.epochs, tol=0.0, n_iter_no_change=10**9, random_state=seed,
            dropout=c.dropout, batch_norm=c.batch_norm, dtype=c.dtype,
        )  # fmt: skip
        if c.optimizer == "rmsprop":
            kw["momentum"] = 0.0
        if c.task == "clf":
            est: Any = MLPClassifier(**kw)
        else:
            est = MLPRegressor(loss="absolute_error", **kw)
        self.model = make_pipeline(StandardScaler(), est) if c.layout == "frame" else est
        self.fit_kw = {"sample_weight": c.w} if c.weights else {}
        if c.weights and c.layout == "frame":
            self.fit_kw = {"mlpclassifier__sample_weight": c.w}

    def train(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # max_iter reached on purpose
            self.model.fit(self.cfg.X, self.cfg.y, **self.fit_kw)

    def outputs(self, X: Any) -> np.ndarray:
        return _sk_outputs(self.model, self.cfg.task, X)


class DeltapropTrainer(MSystem):
    """``deltaprop.Trainer`` on a fresh ``Network``: the level below the estimator."""

    name = "deltaprop-trainer"

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        if cfg.layout == "frame":
            raise Unsupported("a DataFrame pipeline is estimator-level")
        self.Y = targets(cfg)

    def prepare(self, seed: int) -> None:
        import deltaprop
        from deltaprop.optim import RMSprop

        c = self.cfg
        self.net = reference_network(c, seed)
        opt: Any = (
            RMSprop(learning_rate=LR, rho=RHO, epsilon=EPS) if c.optimizer == "rmsprop" else "adam"
        )
        self.trainer = deltaprop.Trainer(
            self.net, opt, learning_rate=LR, batch_size=c.batch_size, epochs=c.epochs,
            tol=0.0, n_iter_no_change=10**9, seed=seed,
        )  # fmt: skip

    def train(self) -> None:
        self.trainer.fit(self.cfg.X, self.Y, sample_weight=self.cfg.w)

    def outputs(self, X: Any) -> np.ndarray:
        return np.asarray(self.net.forward(X))


# ---------------------------------------------------------------------------------------
# scikit-learn
# ---------------------------------------------------------------------------------------
class SklearnMLP(MSystem):
    """``sklearn.neural_network.MLPClassifier/MLPRegressor(solver="adam")``."""

    name = "scikit-learn"

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        if not cfg.plain:
            raise Unsupported("no dropout/batch norm/GELU/RMSprop/MAE/sample weights")

    def prepare(self, seed: int) -> None:
        from sklearn.neural_network import MLPClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        c = self.cfg
        est = MLPClassifier(
            hidden_layer_sizes=tuple(c.sizes[1:-1]), activation=c.activation, solver="adam",
            alpha=0.0, batch_size=c.batch_size, learning_rate_init=LR, beta_1=BETA1,
            beta_2=BETA2, epsilon=EPS, max_iter=c.epochs, tol=0.0, n_iter_no_change=10**9,
            random_state=seed,
        )  # fmt: skip
        self.model = make_pipeline(StandardScaler(), est) if c.layout == "frame" else est

    def train(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model.fit(self.cfg.X, self.cfg.y)

    def outputs(self, X: Any) -> np.ndarray:
        return _sk_outputs(self.model, self.cfg.task, X)


# ---------------------------------------------------------------------------------------
# PyTorch eager
# ---------------------------------------------------------------------------------------
class TorchMatrix(MSystem):
    """PyTorch eager: ``Linear`` [``BatchNorm1d``] act [``Dropout``] per hidden layer, fused
    Adam or ``RMSprop`` (foreach), the row's loss; a frame is scaled inside ``train``."""

    name = "pytorch-eager"

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        try:
            import torch
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise Missing("torch") from exc
        self.torch = torch  # its default threads (the physical cores)
        self.tdtype = torch.float64 if cfg.dtype == "float64" else torch.float32
        self.y = torch.from_numpy(np.asarray(cfg.y, np.int64) if cfg.task == "clf"
                                  else np.asarray(cfg.y, cfg.dtype).reshape(-1, 1))  # fmt: skip
        self.w = None if cfg.w is None else torch.from_numpy(np.asarray(cfg.w, cfg.dtype))

    def prepare(self, seed: int) -> None:
        torch, nn, c = self.torch, self.torch.nn, self.cfg
        torch.manual_seed(seed)
        init = initial_params(c, seed)
        acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}
        layers: list[Any] = []
        with torch.no_grad():
            for i, p in enumerate(init):
                lin = nn.Linear(p["W"].shape[1], p["W"].shape[0], dtype=self.tdtype)
                lin.weight.copy_(torch.from_numpy(p["W"]))
                lin.bias.copy_(torch.from_numpy(p["b"]))
                layers.append(lin)
                if i < len(init) - 1:
                    if c.batch_norm:
                        layers.append(nn.BatchNorm1d(p["W"].shape[0], dtype=self.tdtype))
                    layers.append(acts[c.activation]())
                    if c.dropout:
                        layers.append(nn.Dropout(c.dropout))
        self.model = nn.Sequential(*layers).train()
        params = self.model.parameters()
        if c.optimizer == "rmsprop":
            self.opt: Any = torch.optim.RMSprop(params, lr=LR, alpha=RHO, eps=EPS, foreach=True)
        else:
            self.opt = torch.optim.Adam(params, lr=LR, betas=(BETA1, BETA2), eps=EPS, fused=True)
        self.gen = torch.Generator().manual_seed(seed)

    def train(self) -> None:
        torch, F, c = self.torch, self.torch.nn.functional, self.cfg
        X = torch.from_numpy(np.ascontiguousarray(c.X_array()))  # Fortran input: one copy
        n, bs = X.shape[0], c.batch_size
        for _ in range(c.epochs):
            order = torch.randperm(n, generator=self.gen)
            for start in range(0, n, bs):
                idx = order[start : start + bs]
                out = self.model(X[idx])
                if c.task == "clf":
                    losses = F.cross_entropy(out, self.y[idx], reduction="none")
                else:
                    losses = (out - self.y[idx]).abs().mean(1)
                if self.w is None:
                    loss = losses.mean()
                else:
                    wb = self.w[idx]
                    loss = (losses * wb).sum() / wb.sum()
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                self.opt.step()

    def outputs(self, X: Any) -> np.ndarray:
        torch = self.torch
        self.model.eval()
        with torch.no_grad():
            out = self.model(torch.from_numpy(np.ascontiguousarray(X)))
        self.model.train()
        return (out.softmax(1) if self.cfg.task == "clf" else out).numpy()


# ---------------------------------------------------------------------------------------
# JAX
# ---------------------------------------------------------------------------------------
class _JaxMatrix(MSystem):
    """The row's network and optimizer in ``jax.numpy``; the carry holds the parameters,
    the optimizer state, the batch-norm running statistics and the dropout key."""

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        try:
            import jax
            import jax.numpy as jnp
        except ImportError as exc:
            raise Missing("jax (pip install -e '.[bench]')") from exc
        if cfg.dtype == "float64":
            jax.config.update("jax_enable_x64", True)
        self.jax, self.jnp = jax, jnp
        self.Y = jax.device_put(targets(cfg))
        self.W = None if cfg.w is None else jax.device_put(np.asarray(cfg.w, cfg.dtype))
        act = {"relu": jax.nn.relu, "tanh": jnp.tanh,
               "gelu": lambda z: jax.nn.gelu(z, approximate=False)}[cfg.activation]  # fmt: skip
        n_layers = len(cfg.sizes) - 1
        keep = 1.0 - cfg.dropout

        def forward(params: Any, stats: Any, x: Any, key: Any) -> tuple[Any, Any]:
            new_stats = []
            for i, p in enumerate(params):
                z = x @ p["W"].T + p["b"]
                if i == n_layers - 1:
                    return z, new_stats
                if cfg.batch_norm:
                    mu, var = z.mean(0), z.var(0)
                    m = z.shape[0]
                    rm, rv = stats[i]
                    new_stats.append((0.9 * rm + 0.1 * mu, 0.9 * rv + 0.1 * var * m / (m - 1)))
                    z = p["gamma"] * (z - mu) / jnp.sqrt(var + 1e-5) + p["beta"]
                x = act(z)
                if cfg.dropout:
                    key, sub = jax.random.split(key)
                    x = jnp.where(jax.random.bernoulli(sub, keep, x.shape), x / keep, 0.0)
            return x, new_stats  # pragma: no cover

        def loss(params: Any, stats: Any, x: Any, y: Any, w: Any, key: Any) -> Any:
            out, new_stats = forward(params, stats, x, key)
            if cfg.task == "clf":
                losses = -jnp.sum(y * jax.nn.log_softmax(out), axis=1)
            else:
                losses = jnp.abs(out - y).mean(1)
            value = jnp.mean(losses) if w is None else jnp.sum(losses * w) / jnp.sum(w)
            return value, new_stats

        def step(carry: Any, idx: Any) -> tuple[Any, None]:
            params, m, v, t, stats, key = carry
            key, sub = jax.random.split(key)
            w = None if self.W is None else self.W[idx]
            g, stats = jax.grad(loss, has_aux=True)(params, stats, self.X[idx], self.Y[idx],
                                                    w, sub)  # fmt: skip
            tm = jax.tree_util.tree_map
            t = t + 1
            if cfg.optimizer == "rmsprop":
                v = tm(lambda v_, g_: RHO * v_ + (1 - RHO) * g_ * g_, v, g)
                params = tm(lambda p, g_, v_: p - LR * g_ / (jnp.sqrt(v_) + EPS), params, g, v)
            else:
                m = tm(lambda m_, g_: BETA1 * m_ + (1 - BETA1) * g_, m, g)
                v = tm(lambda v_, g_: BETA2 * v_ + (1 - BETA2) * g_ * g_, v, g)
                c1, c2 = 1 - BETA1**t, 1 - BETA2**t
                params = tm(lambda p, m_, v_: p - LR * (m_ / c1) / (jnp.sqrt(v_ / c2) + EPS),
                            params, m, v)  # fmt: skip
            return (params, m, v, t, stats, key), None

        def predict(params: Any, stats: Any, x: Any) -> Any:
            for i, p in enumerate(params[:-1]):
                z = x @ p["W"].T + p["b"]
                if cfg.batch_norm:
                    rm, rv = stats[i]
                    z = p["gamma"] * (z - rm) / jnp.sqrt(rv + 1e-5) + p["beta"]
                x = act(z)
            z = x @ params[-1]["W"].T + params[-1]["b"]
            return jax.nn.softmax(z) if cfg.task == "clf" else z

        self.step, self.predict = step, jax.jit(predict)

    def prepare(self, seed: int) -> None:
        jax, jnp, c = self.jax, self.jnp, self.cfg
        self.X = jax.device_put(np.ascontiguousarray(c.X_array()))
        self.rng = np.random.default_rng(seed)
        params = [{k: jnp.asarray(a) for k, a in p.items()} for p in initial_params(c, seed)]
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        stats = [(jnp.zeros(p["b"].shape, c.dtype), jnp.ones(p["b"].shape, c.dtype))
                 for p in params[:-1]] if c.batch_norm else []  # fmt: skip
        t0 = jnp.asarray(0, c.dtype)
        self.carry = (params, zeros, jax.tree_util.tree_map(jnp.copy, zeros), t0, stats,
                      jax.random.PRNGKey(seed))  # fmt: skip

    def outputs(self, X: Any) -> np.ndarray:
        return np.asarray(self.predict(self.carry[0], self.carry[4], np.ascontiguousarray(X)))

    def _batches(self) -> np.ndarray:
        n, bs = self.cfg.n_samples, self.cfg.batch_size
        return self.rng.permutation(n)[: n // bs * bs].astype(np.int32).reshape(n // bs, bs)

    def _prepare_input(self) -> None:
        # a frame's scaling and a Fortran array's copy are part of the timed fit (the
        # compiled step keeps the array it was traced with: the same values)
        if self.cfg.layout != "C":
            self.X = self.jax.device_put(np.ascontiguousarray(self.cfg.X_array()))


class JaxJitMatrix(_JaxMatrix):
    """One ``jax.jit`` step per mini-batch (carry donated)."""

    name = "jax-jit"

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        step = self.step
        self.jit_step = self.jax.jit(lambda carry, idx: step(carry, idx)[0], donate_argnums=0)

    def train(self) -> None:
        self._prepare_input()
        carry = self.carry
        for _ in range(self.cfg.epochs):
            for idx in self._batches():
                carry = self.jit_step(carry, idx)
        self.carry = self.jax.block_until_ready(carry)


class JaxScanMatrix(_JaxMatrix):
    """Each epoch one compiled ``jax.lax.scan`` over the mini-batches."""

    name = "jax-scan"

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        step, lax = self.step, self.jax.lax
        self.epoch = self.jax.jit(lambda carry, idx: lax.scan(step, carry, idx)[0])

    def train(self) -> None:
        self._prepare_input()
        carry = self.carry
        for _ in range(self.cfg.epochs):
            carry = self.epoch(carry, self._batches())
        self.carry = self.jax.block_until_ready(carry)


MATRIX_SYSTEMS: dict[str, type[MSystem]] = {
    cls.name: cls
    for cls in (DeltapropEstimator, DeltapropTrainer, SklearnMLP, TorchMatrix, JaxJitMatrix,
                JaxScanMatrix)
}  # fmt: skip
