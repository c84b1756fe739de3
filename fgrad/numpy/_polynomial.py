"""Polynomials, convolutions, differences, interpolation and statistics of samples.

Everything here is a composition of fgrad.numpy functions and fgrad.lax primitives, written
after jax.numpy's definitions so that the values (and their rounding) agree:

- convolve and correlate slide one vector over the other: a gather lays the windows out as
  rows, and one dot_general takes each row's products with the kernel;
- polynomials are 1-D coefficient arrays, highest power first (NumPy's convention); their
  static bookkeeping (the factorials of polyder and polyint) is computed in NumPy; polyfit
  solves its least-squares problem with fgrad.numpy.linalg.lstsq (through the SVD, so it
  is differentiable in x, y and w), and roots and poly of a square matrix take eigenvalues
  with fgrad.numpy.linalg.eigvals (a companion matrix's, for roots);
- diff, gradient and trapezoid are slices and arithmetic along one axis;
- interp finds each point's interval by counting the sample points at or below it;
- cov and corrcoef centre the samples and multiply them with `dot`.
"""

from __future__ import annotations

import operator

import jax
import numpy as np

from fgrad.core import ConcretizationError, Tracer, aval_of
from fgrad.core import dtypes as dt
from fgrad.core.errors import ShapeDtypeError, at_user_line
from fgrad.lax import elementwise as lx
from fgrad.lax import indexing as li
from fgrad.lax import linalg as lla
from fgrad.lax import shapes as ls
from fgrad.lax import sorting as lsort
from fgrad.lax.control_flow import scan
from fgrad.numpy._core import (
    as_array, broadcast_shapes, canonical_axes, canonical_axis, check_arraylike, constant,
    convert, promote_dtypes, user_dtype,
)
from fgrad.numpy._creation import arange, asarray, eye, full, ones, zeros
from fgrad.numpy._einsum import conj_if_complex, dot, einsum
from fgrad.numpy._indexing import getitem
from fgrad.numpy._math import (
    abs, add, bitwise_and, clip, equal, floor_divide, greater, less, less_equal, multiply,
    negative, not_equal, power, remainder, sqrt, subtract, true_divide, where,
)
from fgrad.numpy._reductions import all as all_
from fgrad.numpy._reductions import argmin, cumsum, mean, sum
from fgrad.numpy._sorting import searchsorted
from fgrad.numpy._shapes import (
    broadcast_to, concatenate, flip, moveaxis, ravel, reshape, roll, squeeze, stack, transpose,
)
from fgrad.numpy.linalg import eigvals, inv, lstsq

# The public names, gathered by fgrad/numpy/__init__.py.
__all__ = [
    "convolve", "corrcoef", "correlate", "cov", "diff", "ediff1d", "gradient", "interp",
    "poly", "polyadd", "polyder", "polydiv", "polyfit", "polyint", "polymul", "polysub",
    "polyval", "roots", "trapezoid", "trim_zeros", "unwrap", "vander",
]


def _along(x, axis: int, start=None, stop=None):
    """x[start:stop] along `axis` (a static slice)."""
    index = [slice(None)] * aval_of(x).ndim
    index[axis] = slice(start, stop)
    return getitem(x, tuple(index))


def _inexact(name: str, *args) -> list:
    """The arguments checked and promoted to one inexact dtype, as arrays."""
    check_arraylike(name, *args)
    return [as_array(x, name) for x in promote_dtypes(*args, kind="inexact")]


def _vector(name: str, x, what: str = "the coefficients") -> None:
    if aval_of(x).ndim != 1:
        raise ShapeDtypeError(at_user_line(
            f"fgrad.numpy.{name}: {what} must be a 1-D array, not one of shape "
            f"{aval_of(x).shape}."))


def _concrete(name: str, x) -> np.ndarray:
    """x's values, for functions whose result's shape depends on them (not under jit)."""
    advice = (f"fgrad.numpy.{name} needs concrete values: the size of its result depends on "
              f"them, which a jitted or abstract program cannot have. Call it outside jit.")
    try:
        return np.asarray(x.concrete() if isinstance(x, Tracer) else x)
    except (ConcretizationError, jax.errors.ConcretizationTypeError,
            jax.errors.TracerArrayConversionError):
        raise ConcretizationError(at_user_line(advice)) from None


# -- convolutions ----------------------------------------------------------------------------


def _slide(name: str, x, y, mode: str, precision, preferred_element_type):
    """jax.numpy's _conv: out[i] = sum_j xpad[i + j] * y[j], after swapping the operands so
    that y is the shorter, flipping y for a convolution and conjugating it for a
    correlation."""
    check_arraylike(name, x, y)
    if aval_of(x).ndim != 1 or aval_of(y).ndim != 1:
        raise ShapeDtypeError(at_user_line(
            f"fgrad.numpy.{name} only supports 1-dimensional inputs, not shapes "
            f"{aval_of(x).shape} and {aval_of(y).shape}."))
    kind = "inexact" if preferred_element_type is None else None
    x, y = (as_array(v, name) for v in promote_dtypes(x, y, kind=kind))
    n, m = aval_of(x).shape[0], aval_of(y).shape[0]
    if n == 0 or m == 0:
        raise ValueError(at_user_line(
            f"fgrad.numpy.{name}: inputs cannot be empty, got shapes ({n},) and ({m},)."))
    reverse = False
    if name == "correlate":
        y = conj_if_complex(y)
        if n < m:
            x, y, n, m, reverse = y, x, m, n, True
    else:
        if n < m:
            x, y, n, m = y, x, m, n
        y = flip(y)
    paddings = {"valid": (0, 0), "same": (m // 2, m - m // 2 - 1), "full": (m - 1, m - 1)}
    if mode not in paddings:
        raise ValueError(at_user_line(
            f"fgrad.numpy.{name}: mode must be one of 'full', 'same' or 'valid', not "
            f"{mode!r}."))
    low, high = paddings[mode]
    if low or high:
        aval = aval_of(x)
        x = ls.pad(x, convert(0, aval.dtype, aval.weak_type), [(low, high, 0)])
    # The windows as the rows of an (outputs, m) matrix, each row times y: one gather of
    # constant indices and one dot_general, the same sums as XLA's convolution.
    outputs = n + low + high - m + 1
    starts = np.arange(outputs, dtype=np.int32)[:, None] + np.arange(m, dtype=np.int32)
    windows = _take(x, starts)
    out = lla.dot_general(windows, y, (((1,), (0,)), ((), ())), precision=precision,
                          preferred_element_type=user_dtype(preferred_element_type, name))
    return ls.rev(out, (0,)) if reverse else out


def _take(vector, indices):
    """vector[indices] for indices known to lie in bounds: one gather, without the
    negative-index arithmetic of general indexing."""
    if isinstance(indices, np.ndarray):
        indices = indices[..., None]
    else:
        indices = ls.expand_dims(indices, (aval_of(indices).ndim,))
    return li.gather(vector, indices, _ELEMENTS, (1,),
                     mode=li.GatherScatterMode.PROMISE_IN_BOUNDS)


# Single elements of a vector, gathered at an array of indices (of shape (..., 1)).
_ELEMENTS = li.GatherDimensionNumbers(offset_dims=(), collapsed_slice_dims=(0,),
                                      start_index_map=(0,))


def convolve(a, v, mode: str = "full", *, precision=None, preferred_element_type=None):
    """The discrete convolution of two 1-D arrays: out[k] = sum_j a[j] * v[k - j]; mode
    'full', 'same' (a's length) or 'valid' (only full overlaps)."""
    return _slide("convolve", a, v, mode, precision, preferred_element_type)


def correlate(a, v, mode: str = "valid", *, precision=None, preferred_element_type=None):
    """The cross-correlation of two 1-D arrays: out[k] = sum_j a[j + k] * conj(v[j]), with
    the modes of convolve ('valid' by default)."""
    return _slide("correlate", a, v, mode, precision, preferred_element_type)


# -- polynomials -----------------------------------------------------------------------------


def poly(seq_of_zeros):
    """The coefficients of the monic polynomial with the given roots (highest power first);
    of a non-empty square matrix, its characteristic polynomial (from its eigenvalues, so
    complex, as in JAX; CPU only, like eigvals)."""
    (zeros_,) = _inexact("poly", seq_of_zeros)
    if aval_of(zeros_).ndim == 0:
        zeros_ = reshape(zeros_, (1,))
    shape = aval_of(zeros_).shape
    if len(shape) == 2 and shape[0] == shape[1] and shape[0] != 0:
        zeros_ = eigvals(zeros_)
        shape = aval_of(zeros_).shape
    if len(shape) != 1:
        raise ShapeDtypeError(at_user_line(
            f"fgrad.numpy.poly: the input must be 1-D (the roots) or a non-empty square "
            f"matrix, not of shape {shape}."))
    dtype = aval_of(zeros_).dtype
    if shape[0] == 0:
        return ones((), dtype)
    coefficients = ones((1,), dtype)
    for k in range(shape[0]):  # times (x - root), one root at a time
        factor = stack([ones((), dtype), negative(getitem(zeros_, k))], dtype=dtype)
        coefficients = convolve(coefficients, factor, mode="full")
    return coefficients


def _static(name: str, value, kind: type, what: str):
    """int(value) or float(value) of a static argument, which may not be traced."""
    try:
        return kind(value.concrete() if isinstance(value, Tracer) else value)
    except (ConcretizationError, jax.errors.ConcretizationTypeError,
            jax.errors.TracerArrayConversionError):
        raise ConcretizationError(at_user_line(
            f"fgrad.numpy.{name}: {what} must be a static {kind.__name__}, not a value "
            f"traced under jit.")) from None


def polyfit(x, y, deg: int, rcond=None, full: bool = False, w=None, cov=False):
    """The least-squares polynomial of degree deg through the points (x, y), as jax.numpy
    computes it: the Vandermonde matrix of x (rows weighted by w), its columns scaled to
    unit norm, solved by lstsq (singular values below rcond times the largest dropped;
    default len(x) * eps).

    Arguments:
        x: (M,) sample points; y: (M,) or (M, K) values (K fits at once); w: (M,) weights
            of the unsquared residuals. deg, rcond, full and cov are static.
        full: also return the residuals, rank, singular values and rcond.
        cov: also return the coefficients' covariance matrix, scaled by the residuals
            divided by M - deg - 1, or unscaled with cov='unscaled' (ignored when full).

    Returns:
        p (deg + 1,) or (deg + 1, K), highest power first; with full, (p, residuals, rank,
        s, rcond); with cov, (p, C) with C (deg + 1, deg + 1) or (deg + 1, deg + 1, K).
    """
    check_arraylike("polyfit", x, y, *(() if w is None else (w,)))
    x, y = as_array(x, "polyfit"), as_array(y, "polyfit")
    deg = _static("polyfit", deg, int, "deg")
    order = deg + 1
    if deg < 0:
        raise ValueError(at_user_line(
            f"fgrad.numpy.polyfit: expected deg >= 0, not {deg}."))
    x_shape, y_shape = aval_of(x).shape, aval_of(y).shape
    if len(x_shape) != 1:
        raise ShapeDtypeError(at_user_line(
            f"fgrad.numpy.polyfit: expected a 1-D vector for x, not an array of shape "
            f"{x_shape}."))
    if x_shape[0] == 0:
        raise ShapeDtypeError(at_user_line(
            "fgrad.numpy.polyfit: expected a non-empty vector for x."))
    if len(y_shape) not in (1, 2):
        raise ShapeDtypeError(at_user_line(
            f"fgrad.numpy.polyfit: expected a 1-D or 2-D array for y, not an array of shape "
            f"{y_shape}."))
    if x_shape[0] != y_shape[0]:
        raise ShapeDtypeError(at_user_line(
            f"fgrad.numpy.polyfit: expected x and y to have the same length, not "
            f"{x_shape[0]} and {y_shape[0]}."))
    if rcond is None:
        x_dtype = aval_of(x).dtype
        if not dt.is_inexact(x_dtype):
            raise ValueError(at_user_line(
                f"fgrad.numpy.polyfit: the default rcond is len(x) times the machine epsilon "
                f"of x's dtype, which {x_dtype.name} does not have (as in JAX): give x as "
                f"floats, or pass rcond."))
        rcond = x_shape[0] * float(np.finfo(x_dtype).eps)
    rcond = _static("polyfit", rcond, float, "rcond")
    if cov and not full and cov != "unscaled" and x_shape[0] <= order:
        # (JAX raises this after solving; before is cheaper, and the same error)
        raise ValueError(at_user_line(
            f"fgrad.numpy.polyfit: the number of data points ({x_shape[0]}) must exceed the "
            f"order ({order}) to scale the covariance matrix (or pass cov='unscaled')."))
    lhs, rhs = vander(x, order), y
    if w is not None:
        (w,) = _inexact("polyfit", w)
        if aval_of(w).ndim != 1:
            raise ShapeDtypeError(at_user_line(
                f"fgrad.numpy.polyfit: expected a 1-D array for the weights, not one of "
                f"shape {aval_of(w).shape}."))
        if aval_of(w).shape[0] != y_shape[0]:
            raise ShapeDtypeError(at_user_line(
                f"fgrad.numpy.polyfit: expected w and y to have the same length, not "
                f"{aval_of(w).shape[0]} and {y_shape[0]}."))
        column = reshape(w, (y_shape[0], 1))
        lhs = multiply(lhs, column)
        rhs = multiply(rhs, column if len(y_shape) == 2 else w)
    # Each column scaled to unit norm, for a better-conditioned problem.
    scale = sqrt(sum(multiply(lhs, lhs), axis=0))
    lhs = true_divide(lhs, reshape(scale, (1, order)))
    c, resids, rank, s = lstsq(lhs, rhs, rcond)
    if aval_of(c).ndim > 1:
        c = transpose(true_divide(transpose(c), reshape(scale, (1, order))))
    else:
        c = true_divide(c, scale)
    if full:
        return c, resids, rank, s, asarray(rcond)
    if not cov:
        return c
    base = true_divide(inv(dot(transpose(lhs), lhs)), _outer(scale, scale))
    if cov == "unscaled":
        factor = asarray(1.0)  # weakly typed, as in JAX
    else:
        factor = true_divide(resids, x_shape[0] - order)
    factor = reshape(factor, (-1,))
    if len(y_shape) == 1:
        return c, multiply(base, reshape(factor, (1, -1)))
    return c, multiply(reshape(base, (order, order, 1)), reshape(factor, (1, 1, -1)))


def _outer(a, b):
    return multiply(reshape(a, (-1, 1)), reshape(b, (1, -1)))


def roots(p, *, strip_zeros: bool = True):
    """The roots of the polynomial with coefficients p (highest power first): the
    eigenvalues of its companion matrix, always complex (as in JAX). CPU only, like
    eigvals.

    Arguments:
        strip_zeros: drop p's leading zeros first, as NumPy does; this needs p's values
            (not under jit). With strip_zeros=False, each leading zero makes one root NaN
            instead (the shape is then p's length less one), which works under jit.
    """
    check_arraylike("roots", p)
    given = p  # concrete values, where p has them, for strip_zeros
    (p,) = _inexact("roots", p)
    if aval_of(p).ndim == 0:
        p = reshape(p, (1,))
    if aval_of(p).ndim != 1:
        raise ShapeDtypeError(at_user_line(
            f"fgrad.numpy.roots: the coefficients must be a rank-1 array, not of shape "
            f"{aval_of(p).shape}."))
    n = aval_of(p).shape[0]
    if n < 2:
        return zeros((0,), _complex_dtype(aval_of(p).dtype))
    if strip_zeros:
        try:
            values = np.asarray(given.concrete() if isinstance(given, Tracer) else given)
        except (ConcretizationError, jax.errors.ConcretizationTypeError,
                jax.errors.TracerArrayConversionError):
            raise ConcretizationError(at_user_line(
                "fgrad.numpy.roots with strip_zeros=True needs concrete coefficients: how "
                "many leading zeros it strips sets the number of roots, which a jitted or "
                "abstract program cannot have. To use it under jit, pass strip_zeros=False "
                "(each leading zero then gives a NaN root).")) from None
        nonzero = np.ravel(values) != 0
        leading = int(nonzero.argmax()) if nonzero.any() else n
        return _roots_no_zeros(_along(p, 0, leading))
    return _roots_with_zeros(p)


def _complex_dtype(dtype) -> np.dtype:
    """JAX's to_complex_dtype: complex128 for 64-bit types, complex64 for the others."""
    wide = np.dtype(dtype) in (np.dtype(np.float64), np.dtype(np.complex128))
    return np.dtype(np.complex128 if wide else np.complex64)


def _roots_no_zeros(p):
    """The eigenvalues of p's companion matrix: its first row -p[1:] / p[0] above the
    shifted identity."""
    n = aval_of(p).shape[0]
    dtype = aval_of(p).dtype
    if n < 2:
        return zeros((0,), _complex_dtype(dtype))
    first = true_divide(negative(_along(p, 0, 1)), getitem(p, 0))
    companion = concatenate([reshape(first, (1, n - 1)), eye(n - 2, n - 1, dtype=dtype)])
    return eigvals(companion)


def _roots_with_zeros(p):
    """jax.numpy's roots without stripping: the leading zeros rolled to the end (each adds
    a zero root), the zero roots sorted last, and one NaN per leading zero in their place."""
    n = aval_of(p).shape[0]
    is_zero = equal(p, 0)
    leading = where(all_(is_zero), n, argmin(is_zero))
    p = where(equal(leading, n), 1.0, p)  # all zero: no LAPACK errors
    found = _roots_no_zeros(roll(p, negative(leading)))
    found = lsort.sort_key_val(equal(found, 0), found)[1]
    kept = less(arange(n - 1), subtract(n - 1, leading))
    return where(kept, found, complex(np.nan, np.nan))


def polyval(p, x, *, unroll: int = 16):
    """The polynomial with coefficients p (highest power first) at x, by Horner's rule; a
    p of more dimensions holds a polynomial per trailing index."""
    check_arraylike("polyval", p, x)
    p, x = (as_array(v, "polyval") for v in promote_dtypes(p, x))
    if aval_of(p).ndim == 0:
        raise ShapeDtypeError(at_user_line(
            "fgrad.numpy.polyval: p must be an array of coefficients, not a scalar."))
    shape = broadcast_shapes("polyval", aval_of(p).shape[1:], aval_of(x).shape)
    start = zeros(shape, aval_of(x).dtype)
    value, _ = scan(lambda y, c: (add(multiply(y, x), c), None), start, p, unroll=unroll)
    return value


def polyadd(a1, a2):
    """The sum of two polynomials (coefficient arrays aligned at their last, constant term)."""
    check_arraylike("polyadd", a1, a2)
    a1, a2 = (as_array(v, "polyadd") for v in promote_dtypes(a1, a2))
    for a in (a1, a2):
        if aval_of(a).ndim == 0:
            raise ShapeDtypeError(at_user_line(
                "fgrad.numpy.polyadd: the coefficients must be arrays, not scalars."))
    if aval_of(a2).shape[0] > aval_of(a1).shape[0]:
        a1, a2 = a2, a1
    lead = aval_of(a1).shape[0] - aval_of(a2).shape[0]
    tail = add(_along(a1, 0, lead), a2)
    return concatenate([_along(a1, 0, None, lead), tail]) if lead else tail


def polysub(a1, a2):
    """The difference of two polynomials."""
    check_arraylike("polysub", a1, a2)
    a1, a2 = promote_dtypes(a1, a2)
    return polyadd(a1, negative(a2))


def polymul(a1, a2, *, trim_leading_zeros: bool = False):
    """The product of two polynomials (a full convolution of their coefficients).
    trim_leading_zeros needs concrete values (not under jit)."""
    a1, a2 = _inexact("polymul", a1, a2)
    for a in (a1, a2):
        _vector("polymul", a)
    if trim_leading_zeros and (aval_of(a1).shape[0] > 1 or aval_of(a2).shape[0] > 1):
        a1, a2 = trim_zeros(a1, trim="f"), trim_zeros(a2, trim="f")
    if aval_of(a1).shape[0] == 0:
        a1 = zeros((1,), aval_of(a2).dtype)
    if aval_of(a2).shape[0] == 0:
        a2 = zeros((1,), aval_of(a1).dtype)
    return convolve(a1, a2, mode="full")


def polydiv(u, v, *, trim_leading_zeros: bool = False):
    """The quotient and remainder of u / v, by long division. trim_leading_zeros (of the
    remainder, below sqrt(eps)) needs concrete values (not under jit)."""
    u, v = _inexact("polydiv", u, v)
    for a in (u, v):
        _vector("polydiv", a)
    m, n = aval_of(u).shape[0] - 1, aval_of(v).shape[0] - 1
    dtype = aval_of(u).dtype
    scale = true_divide(1.0, getitem(v, 0))
    quotient = []
    for k in range(m - n + 1):
        d = multiply(scale, getitem(u, k))
        quotient.append(d)
        # u[k:k+n+1] -= d * v, spelled as jax.numpy's u.at[k:k+n+1].add(-d * v)
        window = add(_along(u, 0, k, k + n + 1), multiply(negative(d), v))
        u = concatenate([_along(u, 0, None, k), window, _along(u, 0, k + n + 1)])
    # jax.numpy writes the quotient into zeros: it is strongly typed.
    q = convert(stack(quotient), dtype) if quotient else zeros((1,), dtype)
    if trim_leading_zeros:
        tolerance = np.sqrt(np.finfo(dtype).eps)
        small = _concrete("polydiv", u)
        small = np.abs(small) < tolerance
        u = _along(u, 0, len(small)) if small.all() else _along(u, 0, int(np.argmin(small)))
    return q, u


def _falling_factorials(count: int, first: int, m: int, dtype: np.dtype) -> np.ndarray:
    """prod over j < m of (first + i - j), for i < count: the factor that m derivatives
    bring to the coefficient of x**(first + i), computed as jax.numpy computes it (a
    product down the columns of an integer grid, in the coefficients' dtype)."""
    grid = np.arange(first, first + count)[None, :] - np.arange(m)[:, None]
    return grid.astype(dtype).prod(axis=0, dtype=dtype)


def polyder(p, m: int = 1):
    """The m-th derivative of a polynomial."""
    m = operator.index(m)
    (p,) = _inexact("polyder", p)
    if m < 0:
        raise ValueError(at_user_line(
            f"fgrad.numpy.polyder: the order of the derivative must be positive, not {m}."))
    if m == 0:
        return p
    _vector("polyder", p)
    dtype, length = aval_of(p).dtype, aval_of(p).shape[0]
    factors = _falling_factorials(max(length - m, 0), m, m, dtype)
    return multiply(_along(p, 0, None, -m), factors[::-1].copy())


def polyint(p, m: int = 1, k=None):
    """The m-th antiderivative of a polynomial; k gives the integration constants (one
    scalar for all, or m of them, the first for the innermost integral's highest power)."""
    m = operator.index(m)
    k = 0 if k is None else k
    p, k = _inexact("polyint", p, k)
    if m < 0:
        raise ValueError(at_user_line(
            f"fgrad.numpy.polyint: the order of the integral must be positive, not {m} (see "
            f"polyder)."))
    if aval_of(k).ndim == 0:
        k = reshape(k, (1,))
    if aval_of(k).shape == (1,):
        k = broadcast_to(getitem(k, 0), (m,))
    if aval_of(k).shape != (m,):
        raise ShapeDtypeError(at_user_line(
            f"fgrad.numpy.polyint: k must be a scalar or a 1-D array of length 1 or m={m}, "
            f"not of shape {aval_of(k).shape}."))
    if m == 0:
        return p
    _vector("polyint", p)
    dtype, length = aval_of(p).dtype, aval_of(p).shape[0]
    grid = np.arange(length + m)[None, :] - np.arange(m)[:, None]
    divisors = np.maximum(1, grid).astype(dtype).prod(axis=0, dtype=dtype)[::-1].copy()
    return true_divide(concatenate([p, k]), divisors)


def vander(x, N: int | None = None, increasing: bool = False):  # noqa: N803 (NumPy's name)
    """The Vandermonde matrix: column j holds x ** (N - 1 - j) (x ** j when increasing)."""
    check_arraylike("vander", x)
    x = as_array(x, "vander")
    _vector("vander", x, "x")
    n = aval_of(x).shape[0] if N is None else operator.index(N)
    if n < 0:
        raise ValueError(at_user_line(f"fgrad.numpy.vander: N must be nonnegative, not {n}."))
    dtype = aval_of(x).dtype
    if dt.is_bool(dtype):
        raise TypeError(at_user_line(
            "fgrad.numpy.vander does not take booleans: convert x to a number type first."))
    powers = np.arange(n) if increasing else np.arange(n)[::-1]
    exponents = constant((1, n), 0, dtype) if n == 0 else powers.astype(dtype)[None, :]
    # An array of exponents (not a static int): integers then take power's exact repeated
    # multiplication and floats lax.pow, as in jax.numpy.
    return power(reshape(x, (aval_of(x).shape[0], 1)), exponents)


# -- differences and integrals ---------------------------------------------------------------


def diff(a, n: int = 1, axis: int = -1, prepend=None, append=None):
    """The n-th differences along `axis` (a[1:] - a[:-1], repeated n times; != for
    booleans), after putting `prepend` and `append` at the ends."""
    check_arraylike("diff", a)
    n, axis = operator.index(n), operator.index(axis)
    arr = as_array(a, "diff")
    if n == 0:
        return arr
    if n < 0:
        raise ValueError(at_user_line(f"fgrad.numpy.diff: the order n must be non-negative, "
                                      f"not {n}."))
    shape = aval_of(arr).shape
    if not shape:
        raise ShapeDtypeError(at_user_line(
            "fgrad.numpy.diff needs an array of at least one dimension, not a scalar."))
    axis = canonical_axis(axis, len(shape), "diff")
    pieces = []
    for extra in (prepend, arr, append):
        if extra is None:
            continue
        check_arraylike("diff", extra)
        if extra is not arr and aval_of(extra).ndim == 0:
            edge = list(shape)
            edge[axis] = 1
            extra = broadcast_to(extra, tuple(edge))
        pieces.append(extra)
    if len(pieces) > 1:
        arr = concatenate(pieces, axis)
    step = not_equal if dt.is_bool(aval_of(arr).dtype) else subtract
    for _ in range(n):
        arr = step(_along(arr, axis, 1), _along(arr, axis, None, -1))
    return arr


def ediff1d(ary, to_end=None, to_begin=None):
    """The differences of the flattened array, with `to_begin` and `to_end` put around them
    (converted to its dtype)."""
    check_arraylike("ediff1d", ary)
    arr = ravel(as_array(ary, "ediff1d"))
    aval = aval_of(arr)
    result = lx.sub(_along(arr, 0, 1), _along(arr, 0, None, -1))
    pieces = [result]
    for extra, at_start in ((to_begin, True), (to_end, False)):
        if extra is not None:
            check_arraylike("ediff1d", extra)
            extra = ravel(as_array(convert(extra, aval.dtype), "ediff1d"))
            pieces.insert(0, extra) if at_start else pieces.append(extra)
    return concatenate(pieces) if len(pieces) > 1 else result


def gradient(f, *varargs, axis=None, edge_order=None):
    """The gradient by central differences inside and one-sided ones at the edges; the
    spacing is 1, one scalar or 1-D array of coordinates for all axes, or one per axis.
    Returns one array per axis (or the array itself for one axis)."""
    if edge_order not in (None, 1):
        raise NotImplementedError(at_user_line(
            f"fgrad.numpy.gradient computes first-order edges only (edge_order=1, as "
            f"jax.numpy), not edge_order={edge_order!r}."))
    check_arraylike("gradient", f, *varargs)
    a, *spacing = (as_array(x, "gradient") for x in promote_dtypes(f, *varargs,
                                                                     kind="inexact"))
    ndim = aval_of(a).ndim
    axes = canonical_axes(None, ndim, "gradient") if axis is None else tuple(
        canonical_axis(i, ndim, "gradient")
        for i in (axis if isinstance(axis, (tuple, list)) else (axis,)))
    if not axes:
        return []
    if min(aval_of(a).shape[i] for i in axes) < 2:
        raise ValueError(at_user_line(
            f"fgrad.numpy.gradient: an array of shape {aval_of(a).shape} is too small to "
            f"calculate a numerical gradient: at least 2 elements are required along each "
            f"axis."))
    if not spacing:
        steps = [1.0] * len(axes)
    elif len(spacing) == 1:
        steps = spacing * len(axes)
    elif len(spacing) == len(axes):
        steps = spacing
    else:
        raise TypeError(at_user_line(
            f"fgrad.numpy.gradient: {len(spacing)} spacing arguments for {len(axes)} axes; "
            f"give none, one, or one per axis."))
    grads = [_gradient_along(a, h, ax) for ax, h in zip(axes, steps)]
    return grads[0] if len(axes) == 1 else grads


def _gradient_along(a, h, axis: int):
    def sliced(start, stop):
        return _along(a, axis, start, stop)

    upper = subtract(sliced(1, 2), sliced(0, 1))
    lower = subtract(sliced(-1, None), sliced(-2, -1))
    if aval_of(h).ndim == 0:
        inner = true_divide(multiply(subtract(sliced(2, None), sliced(None, -2)), 0.5), h)
        upper, lower = true_divide(upper, h), true_divide(lower, h)
    elif aval_of(h).ndim == 1:
        if aval_of(h).shape[0] != aval_of(a).shape[axis]:
            raise ShapeDtypeError(at_user_line(
                f"fgrad.numpy.gradient: a spacing array must have the length of the axis "
                f"along which the gradient is calculated ({aval_of(a).shape[axis]}), not "
                f"{aval_of(h).shape[0]}."))
        shape = [1] * aval_of(a).ndim
        shape[axis] = aval_of(h).shape[0]
        h = reshape(h, tuple(shape))

        def coordinates(start, stop):
            return _along(h, axis, start, stop)

        upper = true_divide(upper, subtract(coordinates(1, 2), coordinates(0, 1)))
        lower = true_divide(lower, subtract(coordinates(-1, None), coordinates(-2, -1)))
        dx1 = subtract(coordinates(1, -1), coordinates(0, -2))
        dx2 = subtract(coordinates(2, None), coordinates(1, -1))
        # the weights of a second-order difference on an uneven grid
        before = true_divide(negative(dx2), multiply(dx1, add(dx1, dx2)))
        here = true_divide(subtract(dx2, dx1), multiply(dx1, dx2))
        after = true_divide(dx1, multiply(dx2, add(dx1, dx2)))
        inner = add(add(multiply(before, sliced(0, -2)), multiply(here, sliced(1, -1))),
                    multiply(after, sliced(2, None)))
    else:
        raise ShapeDtypeError(at_user_line(
            "fgrad.numpy.gradient: the spacing must be scalars or 1-D arrays."))
    return concatenate([upper, inner, lower], axis)


def trapezoid(y, x=None, dx=1.0, axis: int = -1):
    """The integral of y along `axis` by the trapezoidal rule, at the points x (or spacing
    dx)."""
    if x is None:
        (y,) = _inexact("trapezoid", y)
        check_arraylike("trapezoid", dx)
        step = as_array(dx, "trapezoid")
        if aval_of(step).ndim > 0:
            step = ls.expand_dims(step, tuple(range(aval_of(y).ndim - aval_of(step).ndim)))
            step = moveaxis(step, axis, -1)
    else:
        y, x = _inexact("trapezoid", y, x)
        step = diff(x) if aval_of(x).ndim == 1 else moveaxis(diff(x, axis=axis), axis, -1)
    y = moveaxis(y, axis, -1)
    if aval_of(step).ndim == 0 or aval_of(step).shape[-1] == 1:
        # Even spacing: the sum of all points less half of the two ends, times the step.
        if aval_of(step).ndim:
            step = getitem(step, (Ellipsis, 0))
        ends = add(getitem(y, (Ellipsis, 0)), getitem(y, (Ellipsis, -1)))
        return multiply(step, subtract(sum(y, -1), multiply(0.5, ends)))
    sides = add(_along(y, -1, 1), _along(y, -1, None, -1))
    return multiply(0.5, sum(multiply(step, sides), -1))


def unwrap(p, discont=None, axis: int = -1, period=2 * np.pi):
    """p with its jumps along `axis` larger than `discont` (period / 2 by default) undone by
    adding multiples of `period`."""
    check_arraylike("unwrap", p)
    p, period = (as_array(v, "unwrap") for v in promote_dtypes(p, period))
    dtype = aval_of(p).dtype
    if dt.is_complex(dtype):
        raise ValueError(at_user_line("fgrad.numpy.unwrap does not support complex inputs."))
    axis = canonical_axis(axis, aval_of(p).ndim, "unwrap")
    if aval_of(p).shape[axis] == 0:
        return p
    if discont is None:
        discont = true_divide(period, 2)
    if dt.is_integer(dtype):
        interval = floor_divide(period, 2)
    else:
        interval = true_divide(period, 2)
    dd = diff(p, axis=axis)
    ddmod = subtract(remainder(add(dd, interval), period), interval)
    # A jump of exactly +period/2 stays +period/2 (the remainder alone would flip it).
    ddmod = where(bitwise_and(equal(ddmod, negative(interval)), greater(dd, 0)), interval,
                  ddmod)
    correction = where(less(abs(dd), discont), 0, subtract(ddmod, dd))
    return concatenate([_along(p, axis, 0, 1),
                        add(_along(p, axis, 1), cumsum(correction, axis=axis))], axis)


# -- interpolation ---------------------------------------------------------------------------


def interp(x, xp, fp, left=None, right=None, period=None):
    """Piecewise linear interpolation of the points (xp, fp) (xp increasing) at x; left and
    right give the values beyond the ends ('extrapolate' continues the end segments), and
    a period makes xp periodic."""
    check_arraylike("interp", x, xp, fp)
    if aval_of(xp).shape != aval_of(fp).shape or aval_of(xp).ndim != 1:
        raise ShapeDtypeError(at_user_line(
            f"fgrad.numpy.interp: xp and fp must be one-dimensional arrays of equal size, not "
            f"of shapes {aval_of(xp).shape} and {aval_of(fp).shape}."))
    x, xp = _inexact("interp", x, xp)
    (fp,) = _inexact("interp", fp)
    extrapolate = {}
    for name, value in (("left", left), ("right", right)):
        if isinstance(value, str) and value != "extrapolate":
            raise ValueError(at_user_line(
                f"fgrad.numpy.interp: the only valid string value of `{name}` is "
                f"'extrapolate', not {value!r}."))
        extrapolate[name] = isinstance(value, str)
    if dt.is_complex(aval_of(x).dtype):
        raise ValueError(at_user_line("fgrad.numpy.interp: complex x values are not "
                                      "supported."))
    if period is not None:
        check_arraylike("interp", period)
        if aval_of(period).ndim != 0:
            raise ShapeDtypeError(at_user_line(
                f"fgrad.numpy.interp: period must be a scalar, not of shape "
                f"{aval_of(period).shape}."))
        period = abs(period)
        x, xp = remainder(x, period), remainder(xp, period)
        xp, fp = lsort.sort_key_val(xp, fp)
        # One point beyond each end, wrapped around: every x then lies between two points.
        xp = concatenate([subtract(_along(xp, 0, -1), period), xp,
                          add(_along(xp, 0, None, 1), period)])
        fp = concatenate([_along(fp, 0, -1), fp, _along(fp, 0, None, 1)])
    count = aval_of(xp).shape[0]
    i = clip(searchsorted(xp, x, side="right"), 1, count - 1)
    i_minus_1 = subtract(i, 1)
    fp_low, xp_low = _take(fp, i_minus_1), _take(xp, i_minus_1)
    df = subtract(_take(fp, i), fp_low)
    dx = subtract(_take(xp, i), xp_low)
    delta = subtract(x, xp_low)
    epsilon = np.spacing(np.finfo(aval_of(xp).dtype).eps)
    flat = less_equal(abs(dx), epsilon)  # a vertical step: no slope, no NaN gradient
    f = where(flat, fp_low, add(fp_low, multiply(true_divide(delta, where(flat, 1, dx)), df)))
    if period is None:
        if not extrapolate["left"]:
            outside = getitem(fp, 0) if left is None else left
            f = where(less(x, getitem(xp, 0)), outside, f)
        if not extrapolate["right"]:
            outside = getitem(fp, -1) if right is None else right
            f = where(greater(x, getitem(xp, -1)), outside, f)
    return f


# -- statistics of samples -------------------------------------------------------------------


def _at_least_2d(x):
    shape = aval_of(x).shape
    return reshape(x, (1,) * (2 - len(shape)) + shape) if len(shape) < 2 else x


def cov(m, y=None, rowvar: bool = True, bias: bool = False, ddof: int | None = None,
        fweights=None, aweights=None, dtype=None):
    """The covariance matrix of the variables in the rows of m (columns when not rowvar),
    and of y's, with optional integer frequency weights and observation weights."""
    if y is not None:
        m, y = _inexact("cov", m, y)
        # jax.numpy's promote_args: the lower-rank operand gains leading axes.
        rank = len(broadcast_shapes("cov", aval_of(m).shape, aval_of(y).shape))
        m, y = (reshape(v, (1,) * (rank - aval_of(v).ndim) + aval_of(v).shape) for v in (m, y))
        if aval_of(y).ndim > 2:
            raise ShapeDtypeError(at_user_line("fgrad.numpy.cov: y has more than 2 "
                                               "dimensions."))
    else:
        (m,) = _inexact("cov", m)
    if aval_of(m).ndim > 2:
        raise ShapeDtypeError(at_user_line("fgrad.numpy.cov: m has more than 2 dimensions."))
    if dtype is not None:
        dtype = user_dtype(dtype, "cov")
        if not dt.is_inexact(dtype):
            raise ValueError(at_user_line(
                f"fgrad.numpy.cov: dtype must be a float or complex type, not {dtype.name}."))
    X = _at_least_2d(m)  # noqa: N806 (the math's name)
    if not rowvar and aval_of(m).ndim != 1:
        X = transpose(X)  # noqa: N806
    if aval_of(X).shape[0] == 0:
        return zeros((0, 0), dt.default_float())
    if y is not None:
        y = _at_least_2d(y)
        if not rowvar and aval_of(y).shape[0] != 1:
            y = transpose(y)
        X = concatenate([X, y], axis=0)  # noqa: N806
    variables, samples = aval_of(X).shape
    if samples == 0:
        return full(() if variables == 1 else (variables, variables), np.nan,
                    aval_of(X).dtype)
    if ddof is None:
        ddof = 1 if bias == 0 else 0
    w = None
    if fweights is not None:
        check_arraylike("cov", fweights)
        _check_weights("fweights", fweights, samples)
        if not dt.is_integer(aval_of(fweights).dtype):
            raise TypeError(at_user_line("fgrad.numpy.cov: fweights must be integers."))
        w = abs(fweights)  # NumPy rejects negative weights; JAX takes their size
    if aweights is not None:
        check_arraylike("cov", aweights)
        _check_weights("aweights", aweights, samples)
        aweights = abs(aweights)
        w = aweights if w is None else multiply(w, aweights)
    if dtype is not None:
        X = convert(X, dtype)  # noqa: N806
        w = None if w is None else convert(w, dtype)
    if w is None:
        average = mean(X, axis=1)
        f = samples - ddof
    else:
        X_w, w = promote_dtypes(X, w, kind="inexact")  # noqa: N806
        w_sum = sum(w)
        average = true_divide(sum(multiply(X_w, reshape(w, (1, samples))), axis=1), w_sum)
        if ddof == 0:
            f = w_sum
        elif aweights is None:
            f = subtract(w_sum, ddof)
        else:
            f = subtract(w_sum, true_divide(multiply(ddof, sum(multiply(w, aweights))), w_sum))
    X = subtract(X, reshape(average, (variables, 1)))  # noqa: N806
    X_T = transpose(X if w is None else multiply(X, reshape(w, (1, samples))))  # noqa: N806
    return squeeze(true_divide(dot(X, conj_if_complex(X_T)), f))


def _check_weights(name: str, weights, samples: int) -> None:
    shape = aval_of(weights).shape
    if len(shape) > 1:
        raise RuntimeError(at_user_line(f"fgrad.numpy.cov cannot handle multidimensional "
                                        f"{name}."))
    if (shape[0] if shape else 1) != samples:
        raise RuntimeError(at_user_line(
            f"fgrad.numpy.cov: {name} has {shape[0] if shape else 1} entries for {samples} "
            f"samples."))


def corrcoef(x, y=None, rowvar: bool = True, dtype=None):
    """The correlation coefficients: the covariance matrix scaled to a unit diagonal (and
    clipped to [-1, 1])."""
    check_arraylike("corrcoef", x)
    if dtype is not None and not dt.is_inexact(user_dtype(dtype, "corrcoef")):
        raise ValueError(at_user_line(
            f"fgrad.numpy.corrcoef: dtype must be a float or complex type, not {dtype}."))
    c = cov(x, y, rowvar, dtype=dtype)
    if aval_of(c).ndim == 0:
        return true_divide(c, c)  # NaN for 0/0, inf/inf and NaN; else 1
    complex_ = dt.is_complex(aval_of(c).dtype)
    stddev = convert(sqrt(_real(einsum("ii->i", c))), aval_of(c).dtype)
    c = true_divide(true_divide(c, reshape(stddev, (-1, 1))), reshape(stddev, (1, -1)))
    real = clip(_real(c), -1, 1)
    return _complex(real, clip(_imag(c), -1, 1)) if complex_ else real


# Complex parts without conj/real/imag primitives: conversions and exact arithmetic.


def _real(x):
    aval = aval_of(x)
    return lx.convert_element_type(x, dt.real_dtype(aval.dtype)) if dt.is_complex(
        aval.dtype) else x


def _imag(x):
    """The imaginary part: the real part of x * -i (b - 0a, exact for finite a)."""
    aval = aval_of(x)
    return _real(lx.mul(x, constant(aval.shape, -1j, aval.dtype)))


def _complex(real, imag):
    """real + i imag, for finite parts: the product (imag + 0i)(0 + 1i) is exact."""
    dtype = {np.dtype(np.float32): np.dtype(np.complex64),
             np.dtype(np.float64): np.dtype(np.complex128)}[aval_of(real).dtype]
    shape = aval_of(real).shape
    as_complex = [lx.convert_element_type(v, dtype) for v in (real, imag)]
    return lx.add(as_complex[0], lx.mul(as_complex[1], constant(shape, 1j, dtype)))


# -- trimming --------------------------------------------------------------------------------


def trim_zeros(filt, trim: str = "fb", axis=None):
    """filt without its leading ('f') and trailing ('b') zeros along each of `axis` (all by
    default). The result's size depends on the values, so they must be concrete (not under
    jit)."""
    check_arraylike("trim_zeros", filt)
    values = _concrete("trim_zeros", filt)
    axes = canonical_axes(axis, values.ndim, "trim_zeros")
    trim = trim.lower()
    if not axes or ("f" not in trim and "b" not in trim):
        return as_array(filt, "trim_zeros")
    index = []
    for ax in range(values.ndim):
        if ax not in axes:
            index.append(slice(None))
            continue
        nonzero = values.astype(bool).any(axis=tuple(i for i in range(values.ndim) if i != ax))
        if not nonzero.any():
            index.append(slice(0, 0))
            continue
        start = int(nonzero.argmax()) if "f" in trim else None
        stop = len(nonzero) - int(nonzero[::-1].argmax()) if "b" in trim else None
        index.append(slice(start, stop))
    return getitem(as_array(filt, "trim_zeros"), tuple(index))
