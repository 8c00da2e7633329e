"""The normal CDF ``Φ(z) = erfc(-z/√2) / 2`` in float64 ONNX operators, for GELU's export.

ONNX Runtime has no float64 ``Erf`` (nor ``Gelu``), so a float64 graph builds ``Φ`` from
operators that have double kernels: with ``u = |z|/√2``, ``erfc(u) = exp(-u²) erfcx(u)``,
where the scaled function ``erfcx`` is smooth and slowly varying, and is evaluated as a
polynomial of degree :data:`DEGREE` on each interval of width :data:`WIDTH` of ``[0, LIMIT]``
(``Floor`` picks the interval, ``Gather`` its coefficients, Horner's rule the value). Then
``Φ(z) = erfc(u)/2`` for ``z < 0`` and ``1 - erfc(u)/2`` otherwise, as ``predict`` computes it
through ``erfc``: within 1e-15 absolute everywhere, and relatively within 1e-14 for
``|z| < 5``, growing as ``z²`` ulp beyond (``erfcx`` is within 4e-15; ``u² = z·z/2`` is rounded
once, as ``predict``'s ``-z/√2`` is: 3e-13 at ``z = -33``, where ``Φ`` is 1e-237). Beyond ``u = LIMIT``
(``z < -36.7``) ``erfc`` is below 1e-295 and the last interval's polynomial at ``LIMIT``
stands in for ``erfcx``.

The coefficients are fitted when first needed (least squares in the Chebyshev basis, at
points whose square is exact in float64, against ``exp(u²) · math.erfc(u)``), then kept.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np

__all__ = ["DEGREE", "LIMIT", "WIDTH", "erfcx_table", "normal_cdf_nodes"]

WIDTH = 0.5
"""The width of each interval of ``u``."""
LIMIT = 26.0
"""The end of the fitted range of ``u`` (``erfc(26)`` is about 6e-296, still normal)."""
DEGREE = 12
"""The polynomial degree on each interval."""


@cache
def erfcx_table() -> np.ndarray:
    """Coefficients of ``erfcx(c + t·WIDTH/2)`` in powers of ``t ∈ [-1, 1]`` around each
    interval's centre ``c``, lowest first.

    Returns
    -------
    ndarray of shape (LIMIT / WIDTH, DEGREE + 1), float64
    """
    from numpy.polynomial import chebyshev

    n = round(LIMIT / WIDTH)
    half = WIDTH / 2
    rows = []
    scale = 2.0**20  # points k / 2**20: their squares are exact
    for k in range(n):
        lo = k * WIDTH
        u = np.unique(np.round(np.linspace(lo, lo + WIDTH, 1025) * scale) / scale)
        f = np.array([math.exp(v * v) * math.erfc(v) for v in u])
        t = (u - (lo + half)) / half
        rows.append(chebyshev.cheb2poly(chebyshev.chebfit(t, f, DEGREE)))
    return np.asarray(rows, dtype=np.float64)


def normal_cdf_nodes(graph: Any, z: str) -> str:
    """Add float64 nodes computing ``Φ(z)`` to ``graph`` (an
    :class:`~deltaprop.core.activation_base.OnnxGraph`); return the output's name."""
    from onnx import TensorProto

    table = erfcx_table()
    n = table.shape[0]
    g = graph
    u = g.op("Mul", [g.op("Abs", [z]), g.const("inv_sqrt2", 1.0 / math.sqrt(2.0))])
    u = g.op("Min", [u, g.const("erfc_limit", LIMIT)])
    k = g.op("Floor", [g.op("Mul", [u, g.const("inv_width", 1.0 / WIDTH)])])
    k = g.op("Min", [k, g.const("last_interval", n - 1.0)])
    # t = (u - centre) / (WIDTH / 2) = 2u / WIDTH - (2k + 1), exact for WIDTH a power of 2
    centre = g.op("Add", [g.op("Mul", [k, g.const("two", 2.0)]), g.const("one", 1.0)])
    t = g.op("Sub", [g.op("Mul", [u, g.const("two_over_width", 2.0 / WIDTH)]), centre])
    index = g.op("Cast", [k], to=TensorProto.INT64)
    p = g.op("Gather", [g.const(f"erfcx_c{DEGREE}", table[:, DEGREE]), index])
    for j in range(DEGREE - 1, -1, -1):
        c = g.op("Gather", [g.const(f"erfcx_c{j}", table[:, j]), index])
        p = g.op("Add", [g.op("Mul", [p, t]), c])
    # erfc(u) / 2 = exp(-z²/2) erfcx(u) / 2
    square = g.op("Mul", [g.op("Mul", [z, z]), g.const("minus_half", -0.5)])
    half_erfc = g.op("Mul", [g.op("Exp", [square]), g.op("Mul", [p, g.const("half", 0.5)])])
    upper = g.op("Sub", [g.const("one", 1.0), half_erfc])
    negative = g.op("Less", [z, g.const("zero", 0.0)])
    return g.op("Where", [negative, half_erfc, upper])
