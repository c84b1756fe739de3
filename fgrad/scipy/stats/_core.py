"""fgrad.scipy.stats's functions of samples: `mode`, `rankdata` and `sem`, as
jax.scipy.stats has them (nan_policy 'propagate' only for mode and rankdata, as in JAX)."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

import fgrad.numpy as fnp
from fgrad import lax as fl
from fgrad.core import aval_of
from fgrad.lax import elementwise as lx
from fgrad.numpy._core import canonical_axis, check_arraylike, user_dtype
from fgrad.scipy.stats._util import NS, add, div, eq, fail, inexact, land, lor, mul, ne

__all__ = ["ModeResult", "mode", "rankdata", "sem"]


class ModeResult(NamedTuple):
    """The most common value along an axis, and how often it occurs."""

    mode: object
    count: object


def _nan_policy(name: str, nan_policy) -> None:
    if nan_policy not in ("propagate", "omit", "raise"):
        raise fail(name, f"illegal nan_policy value {nan_policy!r}; expected one of "
                         f"{{'propagate', 'omit', 'raise'}}.", ValueError)
    if nan_policy != "propagate":
        raise NotImplementedError(
            f"{NS}.{name}: nan_policy={nan_policy!r} is not implemented (as in JAX): check "
            f"for NaNs outside the function.")


def mode(a, axis: int | None = 0, nan_policy: str = "propagate", keepdims: bool = False):
    """The most common value along `axis` (the smallest of equally common ones) and its
    count; NaNs count as equal to each other."""
    check_arraylike("mode", a, namespace=NS)
    x = fnp.atleast_1d(a)
    _nan_policy("mode", nan_policy)
    shape = aval_of(x).shape
    if axis is not None:
        axis = canonical_axis(axis, len(shape), "mode")
    if keepdims:
        out_shape = tuple(1 if axis is None or i == axis else s for i, s in enumerate(shape))
    elif axis is None:
        out_shape = ()
    else:
        out_shape = tuple(s for i, s in enumerate(shape) if i != axis)
    if axis is None:
        x, axis = fnp.ravel(x), 0
    x = fnp.moveaxis(x, axis, 0)
    n = aval_of(x).shape[0]
    x = fnp.reshape(x, (n, math.prod(aval_of(x).shape[1:])))
    if n == 0:
        float_dtype = user_dtype(float)
        return ModeResult(fnp.full(out_shape, np.nan, float_dtype),
                          fnp.full(out_shape, 0, float_dtype))
    s = fnp.sort(x, axis=0)
    left, right = fnp.expand_dims(s, 1), fnp.expand_dims(s, 0)
    same = lor(eq(left, right), land(fnp.isnan(left), fnp.isnan(right)))
    counts = fnp.sum(same, axis=1)
    first = fnp.argmax(counts, axis=0)
    values = fnp.squeeze(fnp.take_along_axis(s, fnp.expand_dims(first, 0), axis=0), 0)
    return ModeResult(fnp.reshape(values, out_shape),
                      fnp.reshape(fnp.max(counts, axis=0), out_shape))


def _rank_flat(a, method: str):
    out_dtype = user_dtype(float)
    size = aval_of(a).shape[0]
    sorter = fnp.argsort(a)
    arr = fnp.take(a, sorter)
    inv = fnp.argsort(sorter)
    if method == "ordinal":
        return lx.convert_element_type(add(inv, 1), out_dtype)
    obs = fnp.concatenate([fnp.ones(1, bool), ne(fl.slice(arr, (1,), (size,)),
                                                   fl.slice(arr, (0,), (size - 1,)))])
    dense = fnp.take(fnp.cumsum(obs), inv)
    if method == "dense":
        return lx.convert_element_type(dense, out_dtype)
    (count,) = fnp.nonzero(obs, size=size + 1, fill_value=size)
    count = lx.convert_element_type(count, out_dtype)
    if method == "max":
        return fnp.take(count, dense)
    below = fnp.take(count, fnp.subtract(dense, 1))
    if method == "min":
        return add(below, 1)
    return mul(0.5, add(add(fnp.take(count, dense), below), 1))


def rankdata(a, method: str = "average", *, axis: int | None = None,
             nan_policy: str = "propagate"):
    """The ranks (from 1) of the values of `a`, ties resolved by `method` ('average', 'min',
    'max', 'dense' or 'ordinal'); all NaN if any value is NaN."""
    check_arraylike("rankdata", a, namespace=NS)
    _nan_policy("rankdata", nan_policy)
    if method not in ("average", "min", "max", "dense", "ordinal"):
        raise fail("rankdata", f"unknown method {method!r}.", ValueError)
    if axis is not None:
        return fnp.apply_along_axis(rankdata, axis, a, method)
    a = fnp.ravel(fnp.asarray(a))
    ranks = _rank_flat(a, method)
    return fnp.where(fnp.any(fnp.isnan(a)), fnp.full_like(ranks, np.nan), ranks)


def sem(a, axis: int | None = 0, ddof: int = 1, nan_policy: str = "propagate", *,
        keepdims: bool = False):
    """The standard error of the mean, std(a, ddof) / sqrt(count), along `axis`."""
    (b,) = inexact("sem", a)
    dtype = aval_of(b).dtype
    if nan_policy == "propagate":
        shape = aval_of(b).shape
        size = math.prod(shape) if axis is None else shape[axis]
        return div(fnp.std(b, axis, ddof=ddof, keepdims=keepdims),
                   np.sqrt(np.float64(size)).astype(dtype))
    if nan_policy == "omit":
        count = fnp.sum(fnp.logical_not(fnp.isnan(b)), axis, keepdims=keepdims)
        return div(fnp.nanstd(b, axis, ddof=ddof, keepdims=keepdims),
                   lx.convert_element_type(fnp.sqrt(count), dtype))
    raise fail("sem", f"nan_policy {nan_policy!r} is not supported.", ValueError)
