"""Reductions over axes (sum, prod, max, min, mean, var, std, any, all), the positions of
extrema, and running sums.

The dtypes follow jax.numpy: sums and products of bools and small integers accumulate in the
default integer, half-precision floats accumulate in float32, `mean` and `var` of integers
give floats, and every result is strongly typed.
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from fgrad.core import aval_of
from fgrad.core import dtypes as dt
from fgrad.core.errors import at_user_line
from fgrad.lax import elementwise as lx
from fgrad.lax import reductions as lr
from fgrad.lax import shapes as ls
from fgrad.numpy._core import (
    canonical_axes, canonical_axis, check_arraylike, constant, convert, promote_integer,
    to_inexact, upcast_f16, user_dtype,
)
from fgrad.numpy._math import add, maximum, minimum, multiply, not_equal, sqrt, subtract

# The public names, gathered by fgrad/numpy/__init__.py.
__all__ = [
    "all", "amax", "amin", "any", "argmax", "argmin", "cumsum", "max", "mean", "min",
    "prod", "std", "sum", "var",
]


def _keep(result, axes: tuple[int, ...], keepdims: bool):
    return ls.expand_dims(result, axes) if keepdims and axes else result


def _sum_or_prod(name: str, reduce, bool_reduce, a, axis, dtype, keepdims, initial,
                 promote_integers):
    check_arraylike(name, a)
    aval = aval_of(a)
    axes = canonical_axes(axis, aval.ndim, name)
    if dtype is None:
        result = aval.dtype
        if dt.is_bool(result):
            result = np.dtype(np.int32)
        if promote_integers:
            result = promote_integer(result)
        computation = upcast_f16(result)
    else:
        result = computation = user_dtype(dtype, name)
    x = convert(a, computation, False, aval)
    # XLA reduces bools with or/and; max/min are the same thing on bools.
    out = (bool_reduce if dt.is_bool(computation) else reduce)(x, axes)
    if initial is not None:
        combine = add if name == "sum" else multiply  # or / and on bools, as reduced
        out = combine(convert(initial, computation), out)
    return convert(_keep(out, axes, keepdims), result)


def sum(a, axis=None, dtype=None, keepdims: bool = False, initial=None,  # noqa: A001
        promote_integers: bool = True):
    return _sum_or_prod("sum", lr.reduce_sum, lr.reduce_max, a, axis, dtype, keepdims,
                        initial, promote_integers)


def prod(a, axis=None, dtype=None, keepdims: bool = False, initial=None,
         promote_integers: bool = True):
    return _sum_or_prod("prod", lr.reduce_prod, lr.reduce_min, a, axis, dtype, keepdims,
                        initial, promote_integers)


def _extremum(name: str, reduce, combine, a, axis, keepdims, initial):
    check_arraylike(name, a)
    aval = aval_of(a)
    axes = canonical_axes(axis, aval.ndim, name)
    if initial is None and builtins.any(aval.shape[d] == 0 for d in axes):
        raise ValueError(at_user_line(
            f"fgrad.numpy.{name}: zero-size array (shape {aval.shape}) to a reduction with no "
            f"identity. Pass `initial=` to give empty reductions a value."))
    x = convert(a, aval.dtype, False, aval)
    out = reduce(x, axes)
    if initial is not None:
        out = convert(combine(out, convert(initial, aval.dtype)), aval.dtype)
    return _keep(out, axes, keepdims)


def max(a, axis=None, keepdims: bool = False, initial=None):  # noqa: A001
    return _extremum("max", lr.reduce_max, maximum, a, axis, keepdims, initial)


def min(a, axis=None, keepdims: bool = False, initial=None):  # noqa: A001
    return _extremum("min", lr.reduce_min, minimum, a, axis, keepdims, initial)


amax, amin = max, min


def _logical_reduction(name: str, reduce, a, axis, keepdims):
    check_arraylike(name, a)
    aval = aval_of(a)
    axes = canonical_axes(axis, aval.ndim, name)
    x = a if dt.is_bool(aval.dtype) else not_equal(a, 0)
    return _keep(reduce(convert(x, np.dtype(np.bool_)), axes), axes, keepdims)


def any(a, axis=None, keepdims: bool = False):  # noqa: A001
    return _logical_reduction("any", lr.reduce_max, a, axis, keepdims)


def all(a, axis=None, keepdims: bool = False):  # noqa: A001
    return _logical_reduction("all", lr.reduce_min, a, axis, keepdims)


def _count(shape, axes) -> int:
    return math.prod(shape[d] for d in axes)


def mean(a, axis=None, dtype=None, keepdims: bool = False):
    check_arraylike("mean", a)
    aval = aval_of(a)
    axes = canonical_axes(axis, aval.ndim, "mean")
    result = to_inexact(aval.dtype) if dtype is None else user_dtype(dtype, "mean")
    computation = upcast_f16(result) if dt.is_inexact(result) else result
    total = sum(a, axes, dtype=computation, keepdims=keepdims)
    shape, count = aval_of(total).shape, _count(aval.shape, axes)
    if dt.is_float(computation):
        # Times the reciprocal, rounded: XLA rewrites jnp.mean's division by a constant into
        # exactly this, so fgrad's mean rounds like JAX's, eagerly too. (Measured to matter:
        # the mean of three equal float32 numbers differs by one ulp otherwise, and the
        # derivative of std at zero variance is then NaN in fgrad and 0 in JAX.)
        with np.errstate(divide="ignore"):
            reciprocal = np.divide(computation.type(1), computation.type(count))
        return convert(lx.mul(total, constant(shape, reciprocal, computation)), result)
    return convert(lx.div(total, constant(shape, count, computation)), result)


def var(a, axis=None, dtype=None, ddof: int = 0, keepdims: bool = False, *,
        correction=None):
    """The variance, sum((a - mean)**2) / (n - ddof); NaN when n - ddof <= 0."""
    check_arraylike("var", a)
    aval = aval_of(a)
    if dt.is_complex(aval.dtype):
        raise TypeError(at_user_line("fgrad.numpy.var and std do not support complex numbers."))
    axes = canonical_axes(axis, aval.ndim, "var")
    if correction is not None:
        ddof = correction
    if dtype is not None:
        result = computation = user_dtype(dtype, "var")
    elif dt.is_inexact(aval.dtype):
        result, computation = dt.real_dtype(aval.dtype), aval.dtype
    else:
        result = computation = to_inexact(aval.dtype)
    computation = upcast_f16(computation)
    x = convert(a, computation, False, aval)
    centered = subtract(x, mean(x, axes, dtype=computation, keepdims=True))
    squares = multiply(centered, centered)
    normalizer = _count(aval.shape, axes) - ddof
    total = sum(squares, axes, dtype=computation, keepdims=keepdims)
    shape = aval_of(total).shape
    if normalizer <= 0:
        out = ls.full(shape, np.nan, computation)
    else:
        out = lx.div(total, constant(shape, normalizer, computation))
    return convert(out, result)


def std(a, axis=None, dtype=None, ddof: int = 0, keepdims: bool = False, *,
        correction=None):
    return sqrt(var(a, axis, dtype, ddof, keepdims, correction=correction))


def _arg_extremum(name: str, reduce, a, axis, keepdims):
    check_arraylike(name, a)
    aval = aval_of(a)
    if axis is None:
        x = ls.reshape(convert(a, aval.dtype, False, aval), (aval.size,))
        position, dims = 0, tuple(range(aval.ndim))
    else:
        position = canonical_axis(axis, aval.ndim, name)
        x, dims = a, (position,)
    if aval_of(x).shape[position] == 0:
        raise ValueError(at_user_line(
            f"fgrad.numpy.{name}: attempt to get {name} of an empty sequence (shape "
            f"{aval.shape}, axis {axis})."))
    return _keep(reduce(x, position, dt.default_int()), dims, keepdims)


def argmax(a, axis=None, keepdims: bool = False):
    return _arg_extremum("argmax", lr.argmax, a, axis, keepdims)


def argmin(a, axis=None, keepdims: bool = False):
    return _arg_extremum("argmin", lr.argmin, a, axis, keepdims)


def cumsum(a, axis=None, dtype=None):
    """Running sums along `axis` (of the flattened array when axis is None)."""
    check_arraylike("cumsum", a)
    aval = aval_of(a)
    x = a
    if axis is None or aval.ndim == 0:
        x, axis = ls.reshape(convert(a, aval.dtype, False, aval), (aval.size,)), 0
    axis = canonical_axis(axis, aval_of(x).ndim, "cumsum")
    if dtype is None:
        result = computation = (promote_integer(aval.dtype) if dt.is_bool(aval.dtype)
                                else aval.dtype)
    else:
        result = user_dtype(dtype, "cumsum")
        if dt.is_bool(result):
            # Count in integers, so that -1 and 1 cannot cancel out into False.
            x = x if dt.is_bool(aval.dtype) else not_equal(x, 0)
            computation = promote_integer(result)
        else:
            computation = result
    return convert(lr.cumsum(convert(x, computation), axis), result)
