"""Reductions over axes (sum, prod, max, min, mean, var, std, any, all, ptp, average,
count_nonzero), their NaN-ignoring forms, the positions of extrema, and running sums and
products.

The dtypes follow jax.numpy: sums and products of bools and small integers accumulate in the
default integer, half-precision floats accumulate in float32, `mean` and `var` of integers
give floats, the variance of complex numbers is real, and every result is strongly typed.
`where=` masks take part exactly as in jax.numpy: masked-out elements count as the
reduction's identity (so max and min need `initial=` with a mask).
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from fgrad.core import aval_of
from fgrad.core import dtypes as dt
from fgrad.core.errors import at_user_line
from fgrad.lax import elementwise as lx
from fgrad.lax import indexing as li
from fgrad.lax import reductions as lr
from fgrad.lax import shapes as ls
from fgrad.lax import sorting as lsort
from fgrad.numpy._eager import compiled_eagerly
from fgrad.numpy._core import (
    _PYTHON_SCALARS, broadcast_to_shape, canonical_axes, canonical_axis, check_arraylike,
    constant, convert, promote_dtypes, promote_integer, to_inexact, upcast_f16, user_dtype,
)
from fgrad.numpy._math import (
    add, logical_not, maximum, minimum, multiply, not_equal, sqrt, subtract, true_divide,
)
# Named apart: several reductions take a `where=` mask argument.
from fgrad.numpy._math import where as _where

# The public names, gathered by fgrad/numpy/__init__.py.
__all__ = [
    "all", "amax", "amin", "any", "argmax", "argmin", "average", "count_nonzero", "cumprod",
    "cumsum", "cumulative_prod", "cumulative_sum", "max", "mean", "min", "nanargmax",
    "nanargmin", "nancumprod", "nancumsum", "nanmax", "nanmean", "nanmin", "nanprod",
    "nanstd", "nansum", "nanvar", "prod", "ptp", "std", "sum", "var",
]



def _keep(result, axes: tuple[int, ...], keepdims: bool):
    return ls.expand_dims(result, axes) if keepdims and axes else result


def _no_out(name: str, out) -> None:
    if out is not None:
        raise NotImplementedError(at_user_line(
            f"fgrad.numpy.{name}: the 'out' argument is not supported (arrays are immutable); "
            f"use the returned array."))


def _isnan(x):
    """Where x is NaN (either part, for complex numbers); nowhere for integers and bools."""
    return lx.ne(x, x)


def _real(x):
    """The real part of a complex x (converting to a real dtype keeps the real part)."""
    return lx.convert_element_type(x, dt.real_dtype(aval_of(x).dtype))


def _squared_magnitude(x):
    """re(x)**2 + im(x)**2, which is re(x * conj(x)) as jax.numpy computes it; im(x) is the
    real part of x * -1j, exactly."""
    aval = aval_of(x)
    re = _real(x)
    im = _real(lx.mul(x, constant(aval.shape, -1j, aval.dtype)))
    return lx.add(lx.mul(re, re), lx.mul(im, im))


def _mask(name: str, where, shape: tuple[int, ...]):
    """The `where=` mask broadcast to the operand's shape, or None."""
    if where is None:
        return None
    check_arraylike(name, where)
    if not dt.is_bool(aval_of(where).dtype):
        raise ValueError(at_user_line(
            f"fgrad.numpy.{name}: where must be None or a boolean array, not "
            f"{aval_of(where).dtype.name}."))
    return broadcast_to_shape(where, shape, name)


def _identity(value, dtype: np.dtype):
    """A reduction's identity in `dtype` (JAX's rule): infinities become the integers'
    extremes, and bools hold `value > 0`."""
    if dt.is_bool(dtype):
        return np.bool_(value > 0)
    if dt.is_integer(dtype) and np.isinf(value):
        info = np.iinfo(dtype)
        return dtype.type(info.min if value < 0 else info.max)
    return dtype.type(value)


def _masked(x, mask, value):
    """x where `mask` holds, else the identity `value`."""
    if mask is None:
        return x
    aval = aval_of(x)
    return lx.select_n(mask, constant(aval.shape, _identity(value, aval.dtype), aval.dtype), x)


# -- sum, prod -------------------------------------------------------------------------------


def _sum_or_prod(name: str, reduce, bool_reduce, identity, a, axis, dtype, out, keepdims,
                 initial, where, promote_integers):
    _no_out(name, out)
    check_arraylike(name, a)
    aval = aval_of(a)
    axes = canonical_axes(axis, aval.ndim, name)
    mask = _mask(name, where, aval.shape)
    if dtype is None:
        result = aval.dtype
        if dt.is_bool(result):
            result = np.dtype(np.int32)
        if promote_integers:
            result = promote_integer(result)
        computation = upcast_f16(result)
    else:
        result = computation = user_dtype(dtype, name)
    x = _masked(convert(a, computation, False, aval), mask, identity)
    # XLA reduces bools with or/and; max/min are the same thing on bools.
    out = (bool_reduce if dt.is_bool(computation) else reduce)(x, axes)
    if initial is not None:
        combine = add if name in ("sum", "nansum") else multiply  # or / and on bools
        out = combine(convert(initial, computation), out)
    return convert(_keep(out, axes, keepdims), result)


@compiled_eagerly(1)
def sum(a, axis=None, dtype=None, out=None, keepdims: bool = False,  # noqa: A001
        initial=None, where=None, promote_integers: bool = True):
    """The sum of the elements over `axis` (all axes by default)."""
    return _sum_or_prod("sum", lr.reduce_sum, lr.reduce_max, 0, a, axis, dtype, out,
                        keepdims, initial, where, promote_integers)


@compiled_eagerly(1)
def prod(a, axis=None, dtype=None, out=None, keepdims: bool = False, initial=None,
         where=None, promote_integers: bool = True):
    """The product of the elements over `axis` (all axes by default)."""
    return _sum_or_prod("prod", lr.reduce_prod, lr.reduce_min, 1, a, axis, dtype, out,
                        keepdims, initial, where, promote_integers)


# -- max, min --------------------------------------------------------------------------------


def _complex_extremum(x, axes: tuple[int, ...], largest: bool):
    """The lexicographic (real part, then imaginary part) max or min of complex x over
    `axes`, as jax.numpy orders complex numbers: the last or first element of x sorted over
    those axes (sort orders complex numbers so, NaNs last; JAX's result with a NaN depends on
    where the NaN stands)."""
    aval = aval_of(x)
    kept = tuple(d for d in range(aval.ndim) if d not in axes)
    kept_shape = tuple(aval.shape[d] for d in kept)
    n = math.prod(aval.shape[d] for d in axes)
    if kept + axes != tuple(range(aval.ndim)):
        x = ls.transpose(x, kept + axes)
    rows = ls.reshape(x, kept_shape + (n,))
    ordered = lsort.sort(rows, len(kept_shape))

    def element(i: int):
        start = (0,) * len(kept_shape) + (i,)
        return ls.reshape(li.slice(ordered, start, kept_shape + (i + 1,)), kept_shape)

    return element(n - 1 if largest else 0)


def _extremum(name: str, reduce, combine, identity, a, axis, out, keepdims, initial, where):
    _no_out(name, out)
    check_arraylike(name, a)
    aval = aval_of(a)
    axes = canonical_axes(axis, aval.ndim, name)
    base = name.removeprefix("nan")
    if initial is None and where is not None:
        raise ValueError(at_user_line(
            f"fgrad.numpy.{name}: {base} has no identity, so a where= mask needs initial= to "
            f"give the masked-out elements a value."))
    if initial is None and builtins.any(aval.shape[d] == 0 for d in axes):
        raise ValueError(at_user_line(
            f"fgrad.numpy.{name}: zero-size array (shape {aval.shape}) to a reduction with no "
            f"identity. Pass `initial=` to give empty reductions a value."))
    x = _masked(convert(a, aval.dtype, False, aval), _mask(name, where, aval.shape), identity)
    if not dt.is_complex(aval.dtype):
        out = reduce(x, axes)
    elif builtins.all(aval.shape[d] for d in axes):
        out = _complex_extremum(x, axes, largest=base == "max")
    else:  # empty and given an initial value: the identity, combined with it below
        shape = tuple(n for d, n in enumerate(aval.shape) if d not in axes)
        out = ls.full(shape, _identity(identity, aval.dtype), aval.dtype)
    if initial is not None:
        out = convert(combine(out, convert(initial, aval.dtype)), aval.dtype)
    return _keep(out, axes, keepdims)


@compiled_eagerly(1)
def max(a, axis=None, out=None, keepdims: bool = False, initial=None,  # noqa: A001
        where=None):
    """The largest element over `axis` (complex numbers: by real part, then imaginary)."""
    return _extremum("max", lr.reduce_max, maximum, -np.inf, a, axis, out, keepdims, initial,
                     where)


@compiled_eagerly(1)
def min(a, axis=None, out=None, keepdims: bool = False, initial=None,  # noqa: A001
        where=None):
    """The smallest element over `axis` (complex numbers: by real part, then imaginary)."""
    return _extremum("min", lr.reduce_min, minimum, np.inf, a, axis, out, keepdims, initial,
                     where)


amax, amin = max, min


def ptp(a, axis=None, out=None, keepdims: bool = False):
    """The range, max - min, over `axis`."""
    _no_out("ptp", out)
    check_arraylike("ptp", a)
    if dt.is_bool(aval_of(a).dtype):
        raise TypeError(at_user_line(
            "fgrad.numpy.ptp does not accept booleans (max - min would subtract bools); "
            "convert to an integer dtype first."))
    high = max(a, axis, keepdims=keepdims)
    return lx.sub(high, min(a, axis, keepdims=keepdims))


# -- any, all, count_nonzero -----------------------------------------------------------------


def _to_bool(x):
    """x != 0; for complex numbers jax.numpy's any and all look at the real part only."""
    aval = aval_of(x)
    if dt.is_bool(aval.dtype):
        return x
    if dt.is_complex(aval.dtype):
        x = _real(x)
    return not_equal(x, 0)


def _logical_reduction(name: str, reduce, identity: bool, a, axis, out, keepdims, where):
    _no_out(name, out)
    check_arraylike(name, a)
    aval = aval_of(a)
    axes = canonical_axes(axis, aval.ndim, name)
    x = _masked(convert(_to_bool(a), np.dtype(np.bool_)), _mask(name, where, aval.shape),
                identity)
    return _keep(reduce(x, axes), axes, keepdims)


@compiled_eagerly(1)
def any(a, axis=None, out=None, keepdims: bool = False, *, where=None):  # noqa: A001
    """Whether any element over `axis` is nonzero."""
    return _logical_reduction("any", lr.reduce_max, False, a, axis, out, keepdims, where)


@compiled_eagerly(1)
def all(a, axis=None, out=None, keepdims: bool = False, *, where=None):  # noqa: A001
    """Whether every element over `axis` is nonzero."""
    return _logical_reduction("all", lr.reduce_min, True, a, axis, out, keepdims, where)


def count_nonzero(a, axis=None, keepdims: bool = False):
    """How many elements over `axis` are nonzero, in the default integer dtype."""
    check_arraylike("count_nonzero", a)
    return sum(not_equal(a, 0), axis, dtype=dt.default_int(), keepdims=keepdims)


# -- mean, average, var, std -----------------------------------------------------------------


def _count(shape, axes) -> int:
    return math.prod(shape[d] for d in axes)


@compiled_eagerly(1)
def mean(a, axis=None, dtype=None, out=None, keepdims: bool = False, *, where=None):
    """The arithmetic mean over `axis`; integers and bools give floats."""
    _no_out("mean", out)
    check_arraylike("mean", a)
    aval = aval_of(a)
    axes = canonical_axes(axis, aval.ndim, "mean")
    result = to_inexact(aval.dtype) if dtype is None else user_dtype(dtype, "mean")
    computation = upcast_f16(result) if dt.is_inexact(result) and dtype is None else result
    total = sum(a, axes, dtype=computation, keepdims=keepdims, where=where)
    shape = aval_of(total).shape
    if where is not None:
        count = sum(_mask("mean", where, aval.shape), axes, dtype=computation,
                    keepdims=keepdims)
        return convert(lx.div(total, count), result)
    count = _count(aval.shape, axes)
    if dt.is_float(computation):
        # Times the reciprocal, rounded: XLA rewrites jnp.mean's division by a constant into
        # exactly this, so fgrad's mean rounds like JAX's, eagerly too. (Measured to matter:
        # the mean of three equal float32 numbers differs by one ulp otherwise, and the
        # derivative of std at zero variance is then NaN in fgrad and 0 in JAX.)
        with np.errstate(divide="ignore"):
            reciprocal = np.divide(computation.type(1), computation.type(count))
        return convert(lx.mul(total, constant(shape, reciprocal, computation)), result)
    return convert(lx.div(total, constant(shape, count, computation)), result)


def average(a, axis=None, weights=None, returned: bool = False, keepdims: bool = False):
    """The mean over `axis` weighted by `weights` (shaped like `a`, or like its `axis`
    dimensions); with `returned`, also the sum of the weights."""
    check_arraylike("average", a)
    aval = aval_of(a)
    axes = canonical_axes(axis, aval.ndim, "average")
    if weights is None:
        (a,) = promote_dtypes(a, kind="inexact")
        avg = mean(a, axis, keepdims=keepdims)
        weights_sum = ls.full((), _count(aval.shape, axes), aval_of(avg).dtype)
    else:
        check_arraylike("average", weights)
        a, weights = promote_dtypes(a, weights, kind="inexact")
        w_shape = aval_of(weights).shape
        if w_shape != aval.shape:
            if axis is None:
                raise ValueError(at_user_line(
                    "fgrad.numpy.average: axis must be specified when the shapes of a and "
                    "weights differ."))
            given = axis if isinstance(axis, (tuple, list)) else (axis,)
            given = tuple(canonical_axis(d, aval.ndim, "average") for d in given)
            if w_shape != tuple(aval.shape[d] for d in given):
                raise ValueError(at_user_line(
                    f"fgrad.numpy.average: the shape of weights {w_shape} must be that of a "
                    f"{aval.shape} along axis {axis}."))
            # The weights' axes follow the order `axis` names them in; a's are ascending.
            order = tuple(sorted(range(len(given)), key=lambda i: given[i]))
            if order != tuple(range(len(given))):
                weights = ls.transpose(weights, order)
            weights = ls.broadcast_in_dim(weights, aval.shape, axes)
        weights_sum = sum(weights, axis, keepdims=keepdims)
        avg = true_divide(sum(multiply(a, weights), axis, keepdims=keepdims), weights_sum)
    if returned:
        shape = aval_of(avg).shape
        return avg, broadcast_to_shape(weights_sum, shape, "average")
    return avg


def _var_types(name: str, a_dtype: np.dtype, dtype) -> tuple[np.dtype, np.dtype]:
    """(computation dtype, result dtype) of var: JAX's rule."""
    if dtype is not None:
        dtype = user_dtype(dtype, name)
        if dt.is_complex(a_dtype) and not dt.is_complex(dtype):
            raise ValueError(at_user_line(
                f"fgrad.numpy.{name}: a real dtype for the variance of complex numbers is not "
                f"supported (as in jax.numpy); leave dtype unset to get a real variance."))
        computation = dtype
    elif dt.is_inexact(a_dtype):
        dtype, computation = dt.real_dtype(a_dtype), a_dtype
    else:
        dtype = computation = to_inexact(a_dtype)
    return upcast_f16(computation), np.dtype(dtype)


def _squares(centered):
    if dt.is_complex(aval_of(centered).dtype):
        return _squared_magnitude(centered)
    return lx.mul(centered, centered)


@compiled_eagerly(1)
def var(a, axis=None, dtype=None, out=None, ddof: int = 0, keepdims: bool = False, *,
        where=None, mean=None, correction=None):
    """The variance, sum(|a - mean|**2) / (n - ddof); NaN when n - ddof <= 0. Real for
    complex `a`."""
    _no_out("var", out)
    check_arraylike("var", a)
    aval = aval_of(a)
    if correction is None:
        correction = ddof
    elif not isinstance(ddof, int) or ddof != 0:
        raise ValueError(at_user_line("fgrad.numpy.var: ddof and correction can't be provided "
                                      "simultaneously."))
    axes = canonical_axes(axis, aval.ndim, "var")
    computation, result = _var_types("var", aval.dtype, dtype)
    mask = _mask("var", where, aval.shape)
    x = convert(a, computation, False, aval)
    if mean is None:
        center = _mean(x, axes, computation, where)
    else:
        check_arraylike("var", mean)
        center = convert(mean, computation)
    squares = _squares(subtract(x, center))
    computation = aval_of(squares).dtype  # real, for complex `a`
    total = sum(squares, axes, dtype=computation, keepdims=keepdims, where=mask)
    shape = aval_of(total).shape
    if mask is None:
        normalizer = _count(aval.shape, axes) - correction
        if normalizer <= 0:
            return convert(ls.full(shape, np.nan, computation), result)
        return convert(lx.div(total, constant(shape, normalizer, computation)), result)
    count = sum(mask, axes, dtype=computation, keepdims=keepdims)
    normalizer = lx.sub(count, constant(shape, correction, computation))
    out = convert(lx.div(total, normalizer), result)
    return _where(lx.gt(normalizer, constant(shape, 0, computation)), out, np.nan)


def _mean(x, axes, computation, where):
    """mean(x) over `axes` with its axes kept, for centering."""
    return mean(x, axes, dtype=computation, keepdims=True, where=where)


@compiled_eagerly(1)
def std(a, axis=None, dtype=None, out=None, ddof: int = 0, keepdims: bool = False, *,
        where=None, mean=None, correction=None):
    """The standard deviation, sqrt(var)."""
    _no_out("std", out)
    if dtype is not None and not dt.is_inexact(user_dtype(dtype, "std")):
        raise ValueError(at_user_line(
            f"fgrad.numpy.std: dtype must be inexact (floating point or complex), not "
            f"{np.dtype(dtype).name}."))
    return sqrt(var(a, axis, dtype, None, ddof, keepdims, where=where, mean=mean,
                    correction=correction))


# -- NaN-ignoring reductions -----------------------------------------------------------------


def _nan_reduction(name: str, reduction, identity, nan_if_all_nan: bool, a, axis, keepdims,
                   where, **kwargs):
    """`reduction` with NaNs replaced by its identity; NaN where every element was NaN if
    `nan_if_all_nan`. Integers and bools hold no NaN: the plain reduction."""
    check_arraylike(name, a)
    aval = aval_of(a)
    if not dt.is_inexact(aval.dtype):
        return reduction(a, axis, keepdims=keepdims, where=where, **kwargs)
    x = convert(a, aval.dtype, False, aval)
    nan = _isnan(x)
    cleaned = lx.select_n(nan, x, constant(aval.shape, _identity(identity, aval.dtype),
                                           aval.dtype))
    out = reduction(cleaned, axis, keepdims=keepdims, where=where, **kwargs)
    if nan_if_all_nan:
        out_aval = aval_of(out)
        none = all(nan, axis, keepdims=keepdims)
        out = lx.select_n(none, out, constant(out_aval.shape, np.nan, out_aval.dtype))
    return out


def nanmax(a, axis=None, out=None, keepdims: bool = False, initial=None, where=None):
    """max, ignoring NaNs (NaN where every element is NaN and no initial is given)."""
    _no_out("nanmax", out)
    return _nan_reduction("nanmax", _named(max, "nanmax"), -np.inf, initial is None, a, axis,
                          keepdims, where, initial=initial)


def nanmin(a, axis=None, out=None, keepdims: bool = False, initial=None, where=None):
    """min, ignoring NaNs (NaN where every element is NaN and no initial is given)."""
    _no_out("nanmin", out)
    return _nan_reduction("nanmin", _named(min, "nanmin"), np.inf, initial is None, a, axis,
                          keepdims, where, initial=initial)


def _named(extremum, name: str):
    """max or min, reporting errors as `name`."""
    reduce, combine, identity = ((lr.reduce_max, maximum, -np.inf) if extremum is max
                                 else (lr.reduce_min, minimum, np.inf))

    def reduction(a, axis, keepdims, where, initial):
        return _extremum(name, reduce, combine, identity, a, axis, None, keepdims, initial,
                         where)
    return reduction


def nansum(a, axis=None, dtype=None, out=None, keepdims: bool = False, initial=None,
           where=None):
    """sum, counting NaNs as zero."""
    _no_out("nansum", out)
    return _nan_reduction("nansum", sum, 0, False, a, axis, keepdims, where, dtype=dtype,
                          initial=initial)


def nanprod(a, axis=None, dtype=None, out=None, keepdims: bool = False, initial=None,
            where=None):
    """prod, counting NaNs as one."""
    _no_out("nanprod", out)
    return _nan_reduction("nanprod", prod, 1, False, a, axis, keepdims, where, dtype=dtype,
                          initial=initial)


def _not_nan_count(x, axes, dtype, keepdims, where):
    return sum(logical_not(_isnan(x)), axes, dtype=dtype, keepdims=keepdims, where=where)


def nanmean(a, axis=None, dtype=None, out=None, keepdims: bool = False, where=None):
    """mean of the elements that are not NaN (NaN where there are none)."""
    _no_out("nanmean", out)
    check_arraylike("nanmean", a)
    aval = aval_of(a)
    if not dt.is_inexact(aval.dtype):
        return mean(a, axis, dtype, None, keepdims, where=where)
    dtype = to_inexact(aval.dtype) if dtype is None else user_dtype(dtype, "nanmean")
    axes = canonical_axes(axis, aval.ndim, "nanmean")
    mask = _mask("nanmean", where, aval.shape)
    count = _not_nan_count(a, axes, dtype, keepdims, mask)
    return lx.div(nansum(a, axes, dtype=dtype, keepdims=keepdims, where=mask), count)


def nanvar(a, axis=None, dtype=None, out=None, ddof: int = 0, keepdims: bool = False,
           where=None, mean=None):
    """var of the elements that are not NaN."""
    _no_out("nanvar", out)
    check_arraylike("nanvar", a)
    aval = aval_of(a)
    axes = canonical_axes(axis, aval.ndim, "nanvar")
    computation, result = _var_types("nanvar", aval.dtype, dtype)
    mask = _mask("nanvar", where, aval.shape)
    x = convert(a, computation, False, aval)
    if mean is None:
        center = nanmean(x, axes, dtype=computation, keepdims=True, where=mask)
    else:
        check_arraylike("nanvar", mean)
        center = convert(mean, computation)
    nan = _isnan(x)
    # Zero where x is NaN, selected *after* subtracting: the NaN then gets no gradient.
    squares = _squares(_where(nan, 0, subtract(x, center)))
    normalizer = subtract(sum(logical_not(nan), axes, keepdims=keepdims, where=mask), ddof)
    empty = lx.le(normalizer, constant(aval_of(normalizer).shape, 0,
                                       aval_of(normalizer).dtype))
    total = sum(squares, axes, keepdims=keepdims, where=mask)
    total = _where(empty, np.nan, total)
    divisor = convert(_where(empty, 1, normalizer), aval_of(total).dtype)
    return convert(lx.div(total, divisor), result)


def nanstd(a, axis=None, dtype=None, out=None, ddof: int = 0, keepdims: bool = False,
           where=None, mean=None):
    """std of the elements that are not NaN."""
    _no_out("nanstd", out)
    return sqrt(nanvar(a, axis, dtype, None, ddof, keepdims, where=where, mean=mean))


# -- argmax, argmin and their NaN-ignoring forms ---------------------------------------------


def _arg_extremum(name: str, reduce, a, axis, out, keepdims):
    _no_out(name, out)
    check_arraylike(name, a)
    aval = aval_of(a)
    keepdims = bool(keepdims)
    if dt.is_complex(aval.dtype):
        raise TypeError(at_user_line(
            f"fgrad.numpy.{name} does not accept complex numbers (as jax.numpy): compare "
            f"their real parts or magnitudes."))
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


@compiled_eagerly(1)
def argmax(a, axis=None, out=None, keepdims=None):
    """The index of the largest element along `axis` (of the flattened array by default)."""
    return _arg_extremum("argmax", lr.argmax, a, axis, out, keepdims)


@compiled_eagerly(1)
def argmin(a, axis=None, out=None, keepdims=None):
    """The index of the smallest element along `axis` (of the flattened array by default)."""
    return _arg_extremum("argmin", lr.argmin, a, axis, out, keepdims)


def _nan_arg_extremum(name: str, reduce, fill, a, axis, out, keepdims):
    _no_out(name, out)
    check_arraylike(name, a)
    aval = aval_of(a)
    if not dt.is_inexact(aval.dtype):
        return _arg_extremum(name, reduce, a, axis, None, keepdims)
    nan = _isnan(a)
    index = _arg_extremum(name, reduce, _where(nan, fill, a), axis, None, keepdims)
    # -1 where every element is NaN.
    return _where(all(nan, axis, keepdims=bool(keepdims)), -1, index)


def nanargmax(a, axis=None, out=None, keepdims=None):
    """argmax ignoring NaNs; -1 where every element is NaN."""
    return _nan_arg_extremum("nanargmax", lr.argmax, -np.inf, a, axis, out, keepdims)


def nanargmin(a, axis=None, out=None, keepdims=None):
    """argmin ignoring NaNs; -1 where every element is NaN."""
    return _nan_arg_extremum("nanargmin", lr.argmin, np.inf, a, axis, out, keepdims)


# -- running sums and products ---------------------------------------------------------------


def _cumulative(name: str, running, a, axis, dtype, out=None, fill_nan=None,
                promote_integers: bool = False):
    """jax.numpy's running reductions: the flattened array when axis is None (or `a` is a
    scalar), bools counted in integers, and NaNs replaced by `fill_nan` if given."""
    _no_out(name, out)
    check_arraylike(name, a)
    aval = aval_of(a)
    x = a
    if axis is None or type(a) in _PYTHON_SCALARS or isinstance(a, np.generic):
        x = ls.reshape(convert(a, aval.dtype, False, aval), (aval.size,))
    axis = canonical_axis(0 if axis is None else axis, aval_of(x).ndim, name)
    if fill_nan is not None and dt.is_inexact(aval.dtype):
        x = lx.select_n(_isnan(x), x, constant(aval_of(x).shape, fill_nan, aval.dtype))
    if dtype is None:
        result = (promote_integer(aval.dtype) if promote_integers or dt.is_bool(aval.dtype)
                  else aval.dtype)
        computation = result
    else:
        result = user_dtype(dtype, name)
        if dt.is_bool(result):
            # Count in integers, so that -1 and 1 cannot cancel out into False.
            x = x if dt.is_bool(aval.dtype) else not_equal(x, 0)
            computation = promote_integer(result)
        else:
            computation = result
    return convert(running(convert(x, computation), axis), result)


@compiled_eagerly(1)
def cumsum(a, axis=None, dtype=None, out=None):
    """Running sums along `axis` (of the flattened array when axis is None)."""
    return _cumulative("cumsum", lr.cumsum, a, axis, dtype, out)


@compiled_eagerly(1)
def cumprod(a, axis=None, dtype=None, out=None):
    """Running products along `axis` (of the flattened array when axis is None)."""
    return _cumulative("cumprod", lr.cumprod, a, axis, dtype, out)


def nancumsum(a, axis=None, dtype=None, out=None):
    """cumsum, counting NaNs as zero."""
    return _cumulative("nancumsum", lr.cumsum, a, axis, dtype, out, fill_nan=0)


def nancumprod(a, axis=None, dtype=None, out=None):
    """cumprod, counting NaNs as one."""
    return _cumulative("nancumprod", lr.cumprod, a, axis, dtype, out, fill_nan=1)


def _array_api_cumulative(name: str, running, identity: int, promote_integers: bool, x,
                          axis, dtype, include_initial):
    check_arraylike(name, x)
    aval = aval_of(x)
    what = "sum" if identity == 0 else "product"
    if aval.ndim == 0:
        raise ValueError(at_user_line(
            f"fgrad.numpy.{name}: the input must be non-scalar to take a cumulative {what}, "
            f"but a scalar was given."))
    if axis is None:
        if aval.ndim > 1:
            raise ValueError(at_user_line(
                f"fgrad.numpy.{name}: the input array has rank {aval.ndim}, but axis was not "
                f"set; it may only be left out for one-dimensional arrays."))
        axis = 0
    axis = canonical_axis(axis, aval.ndim, name)
    out = _cumulative(name, running, x, axis, dtype, promote_integers=promote_integers)
    if include_initial:
        out_aval = aval_of(out)
        shape = out_aval.shape[:axis] + (1,) + out_aval.shape[axis + 1:]
        out = ls.concatenate([ls.full(shape, identity, out_aval.dtype), out], axis)
    return out


def cumulative_sum(x, /, *, axis=None, dtype=None, include_initial: bool = False):
    """Running sums along `axis` (which only a 1-D `x` may leave out); with
    `include_initial`, starting from a 0. Small integers sum in the default integer."""
    return _array_api_cumulative("cumulative_sum", lr.cumsum, 0, True, x, axis, dtype,
                                 include_initial)


def cumulative_prod(x, /, *, axis=None, dtype=None, include_initial: bool = False):
    """Running products along `axis` (which only a 1-D `x` may leave out); with
    `include_initial`, starting from a 1."""
    return _array_api_cumulative("cumulative_prod", lr.cumprod, 1, False, x, axis, dtype,
                                 include_initial)
