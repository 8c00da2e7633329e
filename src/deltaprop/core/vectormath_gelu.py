"""The exact GELU ``g(z) = z Φ(z)`` and its derivative ``g'(z) = Φ(z) + z φ(z)`` of a float32
``z``, in float32 arithmetic with only additions, multiplications, one division, comparisons
and integer shifts, so that numba vectorizes the loops that call them (16 lanes on AVX-512).

``Φ(-a) = e^{-a²/2} Ψ(a)`` for ``a = |z|``, where ``Ψ(a) = ½ erfcx(a/√2)`` (the Mills ratio
over ``√(2π)``) is smooth and bounded, and the other side follows from ``Φ(z) = 1 - Φ(-z)``:

- ``g(z) = max(z, 0) - a Φ(-a)`` (``g(z) - g(-z) = z``), so only the negative side's value,
  ``a e^{-a²/2} Ψ(a)``, needs relative accuracy, and the positive side adds ``z`` to it;
- ``g'(z) = [z ≥ 0] + sign(z) · e^{-a²/2} (a/√(2π) - Ψ(a))``.

The pieces:

- ``e^{-a²/2}`` from a split of ``a`` into 12-bit halves (Veltkamp), so that
  ``-a²/2 = y_hi + y_lo`` with ``y_hi`` exact and ``y_lo`` small (the tail's relative accuracy
  needs ``a²`` to more than float32's 24 bits: at ``z = -10`` the rounding of ``a²/2 = 50``
  alone would move the result by up to 30 ulp), reduced by ``k ln 2`` (Cody-Waite,
  ``k ln2_hi`` exact) to ``e^r = 1 + q`` on ``|r| < 0.42`` and scaled by ``2^k`` built from
  the exponent bits, in two halves, so that the only rounding into float32's subnormal range
  is the last one (``g`` is subnormal below ``z ≈ -13.2`` and rounds to ``-0`` below
  ``z ≈ -14.5``);
- ``Φ(-a)`` itself on ``a < 1/2`` (there ``g = -a Φ(-a)`` needs no exponential), ``a Ψ(a)``
  on ``[1/2, 1]`` and ``[1, 4]``: polynomials in ``d = a - c``, exact from ``a = c/2`` on, with
  each centre ``c`` picked so that the constant term is a float32 to 4e-4 ulp; ``a Ψ(a)`` on
  ``[4, 16]`` a polynomial in ``v = K/(K + a)``, ``K = 2√2``, where ``a Ψ(a)`` is flat
  enough (``→ 1/√(2π)``) that the rounding of ``v`` moves it by < 0.3 ulp (fits: relative
  errors below 4e-9 with the coefficients' float32 values); a polynomial in the rounded ``v``
  from ``a = 1`` on was 4 ulp off at ``a ≈ 1.4``;
- ``a`` is clamped to 16 (``e^{-128}`` is 0 in float32 long since); a NaN stays NaN.

Measured on every float32 in ``[-16, 6]`` (``g`` is ``z`` above, ``-0`` below, and ``g'`` is 1
and ``-0``) against float64 references (``scipy.special.erfc``): ``g`` within 2 ulp of its
correctly rounded value (95% equal to it, 4.8% one ulp off, 12,583 values two; at most 2.08
ulp from the exact value, at ``z ≈ -1.85``); ``g'`` within 1e-7 absolute, and within a few ulp
away from its zero at ``z ≈ -0.7518``, where ``Φ(z)`` and ``z φ(z)`` cancel
(``tests/core/test_vectormath_gelu.py`` checks a dense grid).

No ``fastmath``: every operation is IEEE-rounded float32, so the bits are the same on any
machine (no fused multiply-adds are formed). The functions are plain Python on NumPy float32
scalars (the tests call them so); :mod:`deltaprop.core.kernels` registers them with numba.
"""

from __future__ import annotations

import numpy as np

__all__ = ["JITABLE", "gelu_f32", "gelu_grad_f32"]

_f = np.float32
_ZERO, _NZERO, _HALF, _ONE, _FOUR, _A_MAX = (_f(0.0), _f(-0.0), _f(0.5), _f(1.0), _f(4.0), _f(16.0))
_SPLIT = _f(4097.0)  # 2^12 + 1: Veltkamp's split of a 24-bit significand into 12 + 12 bits
_INV_LN2 = _f(1.4426950408889634)
_LN2_HI = _f(0.693145751953125)  # 45426 / 2^16: k ln2_hi is exact for |k| < 2^8
_LN2_LO = _f(1.4286068203094173e-06)  # ln 2 - ln2_hi
_ROUND = _f(12582912.0)  # 1.5 · 2^23: (x + _ROUND) - _ROUND rounds x to an integer
_BIAS, _MANT, _SHIFT1 = np.int32(127), np.int32(23), np.int32(1)
_C = _f(0.3989422804014327)  # 1/√(2π)
_K = _f(2.8284271247461903)  # 2√2
# each centre c with Φ(-c) or c Ψ(c) a float32 to 4e-4 ulp (a - c is exact from a = c/2 on)
_CENTRE_A, _CENTRE_B, _CENTRE_M = _f(0.2813720703125), _f(0.81060791015625), _f(2.38690185546875)

# Φ(-a) on [0, 1/2], in d = a - _CENTRE_A
(_A0, _A1, _A2, _A3, _A4, _A5, _A6, _A7) = (_f(c) for c in (
    0.3892125189304352,
    -0.38345858454704285,
    0.05394726246595383,
    0.05884993076324463,
    -0.013130268082022667,
    -0.008088365197181702,
    0.002107083098962903,
    0.0008949238108471036,
))  # fmt: skip
# a Ψ(a) on [1/2, 1], in d = a - _CENTRE_B
(_B0, _B1, _B2, _B3, _B4, _B5, _B6, _B7) = (_f(c) for c in (
    0.23508021235466003,
    0.1571769416332245,
    -0.10015763342380524,
    0.05152617022395134,
    -0.022943461313843727,
    0.00914233922958374,
    -0.0033829540479928255,
    0.0013270507333800197,
))  # fmt: skip
# a Ψ(a) on [1, 4], in d = a - _CENTRE_M
(_M0, _M1, _M2, _M3, _M4, _M5, _M6, _M7, _M8, _M9, _M10, _M11, _M12) = (_f(c) for c in (
    0.3500880300998688,
    0.0300601739436388,
    -0.01297890953719616,
    0.0047036451287567616,
    -0.001519506680779159,
    0.0004504458629526198,
    -0.00012472912203520536,
    3.268539148848504e-05,
    -8.054230420384556e-06,
    1.8337005940338713e-06,
    -4.5101435830474657e-07,
    1.3066984649867663e-07,
    -2.242523855500167e-08,
))  # fmt: skip
# a Ψ(a) on [4, 16], in v = K / (K + a)
(_L0, _L1, _L2, _L3, _L4, _L5, _L6, _L7, _L8) = (_f(c) for c in (
    0.3989410996437073,
    4.2129984649363905e-05,
    -0.050521645694971085,
    -0.09395755082368851,
    -0.16278357803821564,
    -0.011925380676984787,
    -0.3234986364841461,
    0.3148927688598633,
    -0.06701131165027618,
))  # fmt: skip
# (e^r - 1 - r) / r² on |r| ≤ 0.42
(_E0, _E1, _E2, _E3, _E4, _E5) = (_f(c) for c in (
    0.5, 0.1666666567325592, 0.04166625440120697, 0.00833346787840128,
    0.001395554980263114, 0.00019845903443638235))  # fmt: skip


def _exp_half_square(a: np.float32) -> tuple[np.float32, np.float32, np.float32]:
    """``(q, s1, s2)`` with ``e^{-a²/2} = (1 + q) s1 s2`` for ``0 ≤ a ≤ 16`` (or NaN):
    ``|q| < 0.53``, ``s1``, ``s2`` powers of 2 (normal numbers)."""
    c = a * _SPLIT
    hi = c - (c - a)
    lo = a - hi
    y_hi = -(hi * hi) * _HALF  # exact: 24 bits
    y_lo = -(hi * lo + lo * lo * _HALF)  # |y_lo| < a² 2^-12: its rounding is negligible
    k = (y_hi * _INV_LN2 + _ROUND) - _ROUND
    k = k if k > _f(-200.0) else _f(-200.0)  # a NaN: any finite k (the result is NaN)
    r = (y_hi - k * _LN2_HI) + (y_lo - k * _LN2_LO)  # y_hi - k ln2_hi exact (Sterbenz)
    p = _E5
    p = p * r + _E4
    p = p * r + _E3
    p = p * r + _E2
    p = p * r + _E1
    p = p * r + _E0
    q = r + r * r * p
    n = np.int32(k)
    n1 = n >> _SHIFT1
    s1 = np.int32((n1 + _BIAS) << _MANT).view(np.float32)
    s2 = np.int32((n - n1 + _BIAS) << _MANT).view(np.float32)
    return q, s1, s2


def _poly_a(a: np.float32) -> np.float32:
    """``Φ(-a) = ½ erfc(a/√2)`` for ``0 ≤ a ≤ 1/2``."""
    d = a - _CENTRE_A
    s = _A7
    s = s * d + _A6
    s = s * d + _A5
    s = s * d + _A4
    s = s * d + _A3
    s = s * d + _A2
    s = s * d + _A1
    return s * d + _A0


def _poly_b(a: np.float32) -> np.float32:
    """``a Ψ(a)`` for ``1/2 ≤ a ≤ 1``."""
    d = a - _CENTRE_B
    s = _B7
    s = s * d + _B6
    s = s * d + _B5
    s = s * d + _B4
    s = s * d + _B3
    s = s * d + _B2
    s = s * d + _B1
    return s * d + _B0


def _poly_m(a: np.float32) -> np.float32:
    """``a Ψ(a)`` for ``1 ≤ a ≤ 4``."""
    d = a - _CENTRE_M
    s = _M12
    s = s * d + _M11
    s = s * d + _M10
    s = s * d + _M9
    s = s * d + _M8
    s = s * d + _M7
    s = s * d + _M6
    s = s * d + _M5
    s = s * d + _M4
    s = s * d + _M3
    s = s * d + _M2
    s = s * d + _M1
    return s * d + _M0


def _poly_l(a: np.float32) -> np.float32:
    """``a Ψ(a)`` for ``4 ≤ a ≤ 16``."""
    v = _K / (_K + a)
    s = _L8
    s = s * v + _L7
    s = s * v + _L6
    s = s * v + _L5
    s = s * v + _L4
    s = s * v + _L3
    s = s * v + _L2
    s = s * v + _L1
    return s * v + _L0


def _a_psi(a: np.float32) -> np.float32:
    """``a Ψ(a)`` for ``1/2 ≤ a ≤ 16`` (each piece computed, one selected: no branch)."""
    half, middle, large = _poly_b(a), _poly_m(a), _poly_l(a)
    return (half if a < _ONE else middle) if a < _FOUR else large


def gelu_f32(z: np.float32) -> np.float32:
    """``z Φ(z)`` for a float32 ``z`` (see the module's notes): ``g(-0) = -0``, ``g(z) = z``
    from ``z ≈ 5.4`` on, ``-0`` below ``z ≈ -14.2``; a NaN stays NaN."""
    a = abs(z)
    a = _A_MAX if a > _A_MAX else a  # a NaN stays
    q, s1, s2 = _exp_half_square(a)
    f = _a_psi(a)
    far = ((f + f * q) * s1) * s2  # a Φ(-a) = e^{-a²/2} a Ψ(a)
    near = a * _poly_a(a)
    return (z if z >= _ZERO else _NZERO) - (near if a < _HALF else far)


def gelu_grad_f32(z: np.float32) -> np.float32:
    """``Φ(z) + z φ(z)`` for a float32 ``z`` (see the module's notes); a NaN stays NaN."""
    a = abs(z)
    a = _A_MAX if a > _A_MAX else a
    q, s1, s2 = _exp_half_square(a)
    ca = _C * a
    w = ca - _a_psi(a) / (a if a >= _HALF else _ONE)  # a/√(2π) - Ψ(a) from a = 1/2 on
    far = ((w + w * q) * s1) * s2
    near = (ca + ca * q) - _poly_a(a)  # (s1 = s2 = 1 there)
    x = near if a < _HALF else far  # e^{-a²/2} a/√(2π) - Φ(-a)
    return _ONE + x if z >= _ZERO else -x


# what :mod:`deltaprop.core.kernels` registers with numba, each inlined where called (numba's
# inlining: LLVM leaves the calls, and then the loops that contain them stay scalar)
JITABLE = (_exp_half_square, _poly_a, _poly_b, _poly_m, _poly_l, _a_psi, gelu_f32, gelu_grad_f32)
