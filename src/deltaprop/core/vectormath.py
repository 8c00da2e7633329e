"""Elementary functions of float32 numbers written with only additions, multiplications,
divisions, comparisons and integer shifts, so that numba vectorizes the loops that call them
(a call of libm's ``tanhf``, ``expf``, ``erff`` per entry is not vectorized and costs
~10-16 ns: it was most of a GELU or tanh network's step).

Two kinds, with these accuracy contracts (ulp: of the float32 result, against the float64
value of the float32 argument):

- :func:`tanh32` and :func:`sigmoid32` take and return a float32 and compute in float32
  (16 lanes with AVX-512, float32 divisions): within **1.16 ulp** (``tanh``, every float32
  measured, NaN and ±0 included) and **1.49 ulp** (the logistic function, every float32
  ``z ≥ -88.72``; below, 0, where float32's ``e^{-z}`` overflows, as NumPy's float32
  ``expit``); saturated (``tanh`` at ±1, σ at 1) exactly where the true value rounds there.
- :func:`exp_f32` takes a float32 value widened to float64 (exactly) and returns float64
  with a relative error below ``1.3e-12``: rounded to float32, within
  ``0.5 + 1.3e-12 · 2²⁴ < 0.5001`` ulp, the bound of a correctly rounded ``expf`` but for
  the last ``0.0001`` ulp. They are exact in
  neither float64 nor for float64 arguments: the activations use them on float32 arrays
  only (float64 keeps libm's functions).

No ``fastmath``: every operation is IEEE-rounded, so the bits are the same on any machine
(no fused multiply-adds are formed; the exact-error tricks of :func:`sigmoid32` rely on it).

The functions are plain Python too (:func:`tanh32` and :func:`sigmoid32` on NumPy float32
scalars, whose arithmetic is float32); :mod:`deltaprop.core.kernels` registers them with
numba (``register_jitable``) before the compiled loop compiles the activations' kernels that
call them.

``tests/core/test_vectormath.py`` checks the bounds against float64 references on every
float32 of a dense grid, special values included; the maxima over every float32 quoted above
were measured once, by the same comparison, outside the test suite (2.2e9 values each, about
a minute and a half on one core).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["exp_f32", "sigmoid32", "tanh32"]

_Y_MAX = 111.0  # e^{±111}: beyond float32's range (e^{-103.9} rounds to 0, e^{88.8} to inf)
_INV_256 = 1.0 / 256.0


def exp_f32(y: float) -> float:
    """``e^y`` for a float32 ``y`` (float64 in and out), relative error < 1.3e-12.

    ``e^y = (e^{y/256})^{256}``: a degree-12 Taylor polynomial of ``e^r`` on
    ``|r| ≤ 111/256 = 0.434`` (remainder ``0.434^13/13! / e^{-0.434} < 4.7e-15`` relative),
    then eight squarings (each doubles the relative error and adds a rounding:
    ``256 · 4.7e-15 + 2 · 256 · 1.1e-16 < 1.3e-12``). ``y`` is clamped to ``±111`` first
    (float32's results there are 0 or inf); a NaN stays NaN.
    """
    y = _Y_MAX if y > _Y_MAX else (-_Y_MAX if y < -_Y_MAX else y)
    r = y * _INV_256  # exact (a power of 2)
    e = 1.0 + r * (1.0 + r * (1.0 / 2 + r * (1.0 / 6 + r * (1.0 / 24 + r * (1.0 / 120 + r * (
        1.0 / 720 + r * (1.0 / 5040 + r * (1.0 / 40320 + r * (1.0 / 362880 + r * (
            1.0 / 3628800 + r * (1.0 / 39916800 + r * (1.0 / 479001600))))))))))))  # fmt: skip
    e = e * e
    e = e * e
    e = e * e
    e = e * e
    e = e * e
    e = e * e
    e = e * e
    return e * e


# float32 constants of tanh32 (numba keeps a global np.float32 a float32 constant; a Python
# float or int in the arithmetic would make the operation float64 or int64)
_f = np.float32
_ONE, _TWO, _HALF = _f(1.0), _f(2.0), _f(0.5)
_T_SMALL = _f(1.0)  # below: the odd polynomial; from 1 on: 1 - 2/(e^{2|x|} + 1)
_T_CLAMP = _f(9.5)  # tanh(9.5) = 1 - 1.1e-8 rounds to 1 in float32 (from 9.01 on)
# tanh x = x + x³ P(x²) on |x| ≤ 1, P of degree 6: a near-minimax fit (iteratively reweighted
# least squares) of tanh's relative error, 4.6e-9 (0.08 float32 rounding units, 2⁻²⁴)
_P0, _P1, _P2, _P3, _P4, _P5, _P6 = (
    _f(-0.33333295583724976), _f(0.13332344591617584), _f(-0.05387980118393898),
    _f(0.02148664928972721), _f(-0.007946093566715717), _f(0.0023013551253825426),
    _f(-0.00035844926605932415))  # fmt: skip
# e^r = 1 + r + r² E(r) on |r| ≤ 0.3467 (> ln2/2), E of degree 3: the same kind of fit,
# relative error 1.05e-7 (1.8 rounding units: enough, 2/(e^{2|x|} + 1) ≤ 0.24 of tanh)
_E2, _E3, _E4, _E5 = (
    _f(0.499992311000824), _f(0.16667115688323975), _f(0.04189027473330498),
    _f(0.008312509395182133))  # fmt: skip
_LOG2E = _f(1.4426950408889634)
_LN2_HI = _f(0.693359375)  # 355/512: k·_LN2_HI is exact for k < 2¹⁵
_LN2_LO = _f(-2.1219444005469057e-4)  # ln 2 - _LN2_HI, rounded
_I1 = np.int32(1)


def tanh32(x: np.float32) -> np.float32:
    """``tanh x`` of a float32 ``x``, in float32 arithmetic, within 1.16 ulp of the true
    value (measured on every float32: see the module's docstring).

    For ``a = |x|``: ``a < 1``: ``a + a³ P(a²)``; ``a ≥ 1``: ``1 - 2/(E + 1)`` with
    ``E = e^{2a} = 2^k e^r``, ``k`` the nearest integer to ``2a log₂e`` (3 to 27), ``r = (2a -
    k ln2_hi) - k ln2_lo`` (Cody and Waite: the first difference is exact), ``e^r`` by
    ``E(r)`` above and ``2^k`` an integer shift, exact; then the sign of ``x`` (so ``-0.0``
    gives ``-0.0``). Both branches are computed and one selected (no branch: the loops that
    call it vectorize, 16 lanes with AVX-512). ``a`` is clamped to 9.5 first (float32's
    ``tanh`` is ±1 from 9.01 on); a NaN stays NaN (it takes the polynomial's branch).
    """
    a = abs(x)
    u = _T_SMALL if a > _T_SMALL else a  # a NaN stays NaN
    s = u * u
    p = _P6
    p = p * s + _P5
    p = p * s + _P4
    p = p * s + _P3
    p = p * s + _P2
    p = p * s + _P1
    p = p * s + _P0
    small = u + u * s * p
    b = a if a >= _T_SMALL else _T_SMALL  # a NaN gives 1: this branch is not taken
    b = _T_CLAMP if b > _T_CLAMP else b
    y = b + b
    k = np.int32(y * _LOG2E + _HALF)  # y > 0: y log₂e + 1/2 truncated is y log₂e rounded
    kf = np.float32(k)
    r = (y - kf * _LN2_HI) - kf * _LN2_LO
    e = _ONE + (r + r * r * (_E2 + r * (_E3 + r * (_E4 + r * _E5))))
    big = _ONE - _TWO / (e * np.float32(np.left_shift(_I1, k)) + _ONE)
    return np.float32(math.copysign(big if a >= _T_SMALL else small, x))


# e^r = 1 + r + r² M(r) on 0 ≤ r ≤ ln 2 (with 1e-5 either side), M of degree 5: the same kind
# of fit, of e^r - 1's relative error, 2.9e-10 (0.005 rounding units; degree 4's 0.22 made
# the logistic function's maximum 1.73 ulp)
_M2, _M3, _M4, _M5, _M6, _M7 = (
    _f(0.4999999701976776), _f(0.16666743159294128), _f(0.041659366339445114),
    _f(0.008364802226424217), _f(0.0013212565099820495), _f(0.00026784345391206443))  # fmt: skip
_S_OVF = _f(88.72283172607422)  # the largest float32 whose float32 e^z is finite
_S_K = _f(88.7)  # |z| for k: ⌊88.7 log₂e⌋ = 127 (2^k below float32's 2^128)
_I2, _I3 = np.int32(2), np.int32(3)
_ZERO = _f(0.0)


def sigmoid32(z: np.float32) -> np.float32:
    """``1/(1 + e^{-z})`` of a float32 ``z``, in float32 arithmetic, within 1.49 ulp of the
    true value where ``z ≥ -88.72`` (measured on every float32: see the module's
    docstring); 0 below, where float32's ``e^{-z}`` overflows (as NumPy's float32 form).

    For ``a = |z|``: ``s = 1/(1 + e^a)``, then ``σ(z) = s`` for ``z < 0`` and ``1 - s``
    (``s ≤ 1/2``: no cancellation) for ``z ≥ 0``. ``e^a = 2^k (1 + m)`` with
    ``k = ⌊a log₂e⌋`` (0 to 127), ``r = a - k ln 2`` in ``[0, ln 2]`` (Cody and Waite:
    ``a - k ln2_hi`` is exact) and ``m = e^r - 1`` by ``M(r)`` above, whose last addition
    takes ``k ln2_lo`` too (``r``'s rounding is not carried); ``2^k = (2^{⌊k/4⌋})⁴
    2^{k mod 4}`` by integer shifts and exact products, and ``1 + e^a = (2^k + 1) + 2^k m``
    (the first sum exact up to ``k = 23``): one rounding, one division. No branch (the
    loops that call it vectorize); a NaN stays NaN.
    """
    a = abs(z)
    b = _S_OVF if a > _S_OVF else a  # a NaN stays NaN
    c = a if a < _S_K else _S_K  # a NaN gives 88.7: k finite
    k = np.int32(c * _LOG2E)  # c ≥ 0: truncation is the floor
    kf = np.float32(k)
    rh = b - kf * _LN2_HI  # exact
    lo = kf * _LN2_LO
    r = rh - lo
    t = r * r * (_M2 + r * (_M3 + r * (_M4 + r * (_M5 + r * (_M6 + r * _M7))))) - lo
    m = rh + t
    q = np.float32(np.left_shift(_I1, np.right_shift(k, _I2)))
    q = q * q
    p = q * q * np.float32(np.left_shift(_I1, np.bitwise_and(k, _I3)))  # 2^k, exact
    # 1 + 2^k (1 + m) = d + e: d rounded, e the errors of its two sums, each exact
    # (Fast2Sum; it holds without FMA and without reordering, as numba compiles it)
    big, pm = p + _ONE, p * m  # pm exact; big exact up to k = 23
    d = big + pm
    e = ((big - d) + pm) + ((p - big) + _ONE)
    s = _ONE / d
    s = s - s * (s * e)  # 1/(d + e) = (1/d)(1 - e/d) to within (e/d)² < 2⁻⁴⁶
    s = s if z < _ZERO else _ONE - s
    return _ZERO if z < -_S_OVF else s
