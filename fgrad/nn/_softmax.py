"""Normalizing functions over axes: softmax, log_softmax, logsumexp, logmeanexp and
standardize, each with jax.nn's optional `where=` mask.

Masked reductions are written here with `where` and the reduction's identity (what
jax.numpy's `sum(..., where=)` and `max(..., where=, initial=)` compute), since
fgrad.numpy's reductions take no mask.
"""

from __future__ import annotations

import math

import jax
import numpy as np

import fgrad.numpy as fnp
from fgrad import lax as fl
from fgrad.core import aval_of
from fgrad.core import dtypes as dt
from fgrad.core.errors import at_user_line
from fgrad.lax.custom import custom_jvp
from fgrad.nn._util import array
from fgrad.numpy._core import canonical_axes, promote_dtypes, upcast_f16, to_inexact
from fgrad.numpy._eager import compiled_eagerly
from fgrad.transforms.stop_gradient import stop_gradient

__all__ = ["log_softmax", "logmeanexp", "logsumexp", "softmax", "standardize"]


# -- masked reductions -----------------------------------------------------------------------


def _mask(name: str, where, x):
    """The `where=` argument, checked to be boolean (as jax.numpy requires) and broadcast to
    x's shape; None stays None."""
    if where is None:
        return None
    where = array(name, where)
    if not dt.is_bool(aval_of(where).dtype):
        raise ValueError(at_user_line(
            f"fgrad.nn.{name}: where must be None or a boolean array; got dtype "
            f"{aval_of(where).dtype.name}. Compare first, e.g. where=x > 0."))
    return fnp.broadcast_to(where, aval_of(x).shape)


def _lowest(dtype: np.dtype):
    """max's identity: -inf for floats, the smallest integer, False."""
    if dt.is_bool(dtype):
        return False
    if dt.is_integer(dtype):
        return int(np.iinfo(dtype).min)
    return -np.inf


def _max(x, axes, where, keepdims: bool):
    """jax.numpy's max(x, axes, where=where, initial=-inf, keepdims=keepdims)."""
    lowest = _lowest(aval_of(x).dtype)
    if where is not None:
        x = fnp.where(where, x, lowest)
    return fnp.max(x, axes, keepdims=keepdims, initial=lowest)


def _sum(x, axes, where, keepdims: bool, dtype=None):
    """jax.numpy's sum(x, axes, where=where, keepdims=keepdims, dtype=dtype)."""
    if where is not None:
        x = fnp.where(where, x, False if dt.is_bool(aval_of(x).dtype) else 0)
    return fnp.sum(x, axes, dtype=dtype, keepdims=keepdims)


def _count(x, axes, where, keepdims: bool, dtype: np.dtype):
    """How many elements each reduction over `axes` takes, in `dtype` (jax.numpy's)."""
    if where is None:
        shape = aval_of(x).shape
        return fnp.asarray(math.prod(shape[a] for a in axes), dtype)
    return _sum(where, axes, None, keepdims, dtype)


def _mean(x, axes, where, keepdims: bool):
    """jax.numpy's mean(x, axes, where=where, keepdims=keepdims)."""
    if where is None:
        return fnp.mean(x, axes, keepdims=keepdims)
    result = to_inexact(aval_of(x).dtype)
    computation = upcast_f16(result)
    total = _sum(x, axes, where, keepdims, computation)
    return fnp.astype(fl.div(total, _count(x, axes, where, keepdims, computation)), result)


# -- softmax ---------------------------------------------------------------------------------


@compiled_eagerly(1)
def softmax(x, axis=-1, where=None):
    """exp(x) / sum(exp(x)) along `axis` (an int, a tuple, or None for all axes), computed
    with the maximum subtracted. Entries masked out by `where` are 0, and take no part.

    The derivative is that of the computation, with the maximum a constant (JAX's default);
    with jax_softmax_custom_jvp on, it is JAX's custom rule y * (t - sum(y * t)).
    """
    x = array("softmax", x)
    axes = canonical_axes(axis, aval_of(x).ndim, "softmax")
    where = _mask("softmax", where, x)
    if jax.config.jax_softmax_custom_jvp:
        return _softmax_with_rule(x, axes, where)
    return _softmax(x, axes, where, stop_max_gradient=True)


def _softmax(x, axes, where, stop_max_gradient: bool):
    x_max = _max(x, axes, where, keepdims=True)
    if stop_max_gradient:
        x_max = stop_gradient(x_max)
    safe = x if where is None else fnp.where(where, x, -np.inf)
    unnormalized = fnp.exp(fnp.subtract(safe, x_max))
    result = fnp.divide(unnormalized, _sum(unnormalized, axes, where, keepdims=True))
    return result if where is None else fnp.where(where, result, 0)


def _softmax_by_rule(x, axes, where):
    """softmax's value for the custom rule below, which replaces its derivative (so the
    maximum need not be a constant: JAX's custom softmax does not stop its gradient)."""
    return _softmax(x, axes, where, stop_max_gradient=False)


_softmax_with_rule = custom_jvp(_softmax_by_rule, nondiff_argnums=(1, 2))


@_softmax_with_rule.defjvp
def _softmax_jvp(axes, where, primals, tangents):
    """JAX's rule: y * (t - sum(y * t)), 0 wherever y is (masked entries, masked rows)."""
    (x,), (t,) = primals, tangents
    y = _softmax_with_rule(x, axes, where)
    return y, fnp.multiply(y, fnp.subtract(t, _sum(fnp.multiply(y, t), axes, where, True)))


@compiled_eagerly(1)
def log_softmax(x, axis=-1, where=None):
    """log(softmax(x)) along `axis`, computed as x - max - log(sum(exp(x - max))). Entries
    masked out by `where` are -inf."""
    x = array("log_softmax", x)
    axes = canonical_axes(axis, aval_of(x).ndim, "log_softmax")
    where = _mask("log_softmax", where, x)
    x_max = _max(x, axes, where, keepdims=True)
    safe = x if where is None else fnp.where(where, x, -np.inf)
    shifted = fnp.subtract(safe, stop_gradient(x_max))
    shifted_logsumexp = fnp.log(_sum(fnp.exp(shifted), axes, where, keepdims=True))
    result = fnp.subtract(shifted, shifted_logsumexp)
    return result if where is None else fnp.where(where, result, -np.inf)


# -- logsumexp -------------------------------------------------------------------------------


@compiled_eagerly(1)
def logsumexp(a, axis=None, b=None, keepdims: bool = False, return_sign: bool = False,
              where=None):
    """log(sum(b * exp(a))) over `axis`, computed with the maximum factored out.

    Arguments:
        a: the array.
        axis: an int, a tuple of ints, or None for all axes.
        b: optional weights, broadcast against `a`; where the weighted sum is negative the
            result is NaN, unless `return_sign`.
        keepdims: keep the reduced axes with size 1.
        return_sign: return (log|sum|, sign(sum)) instead.
        where: optional boolean mask of the elements to include.

    Returns:
        The result, or the pair (result, sign) with `return_sign`.
    """
    a = array("logsumexp", a)
    if where is not None:
        where = _mask("logsumexp", where, a)
        a = fnp.where(where, a, 0)
    if b is not None:
        a, b = promote_dtypes(a, array("logsumexp", b), kind="inexact")
        a = fnp.where(fnp.not_equal(b, 0), a, -np.inf)
    else:
        (a,) = promote_dtypes(a, kind="inexact")
    dtype = aval_of(a).dtype
    shape = aval_of(a).shape
    if where is not None:
        where = fnp.broadcast_to(where, shape)
    axes = canonical_axes(axis, len(shape), "logsumexp")
    amax = _max(fnp.real(a), axes, where, keepdims)
    # The maximum only keeps exp in range: a constant to differentiation, and 0 where it
    # is infinite (all -inf, or an inf), so that inf - inf never makes a NaN.
    amax = stop_gradient(fnp.where(fnp.isfinite(amax), amax, 0))
    amax_with_dims = amax if keepdims else fnp.expand_dims(amax, axes)
    exp_a = fnp.exp(fnp.subtract(a, fnp.astype(amax_with_dims, dtype)))
    if b is not None:
        exp_a = fnp.multiply(exp_a, b)
    sumexp = _sum(exp_a, axes, where, keepdims)
    sign = fnp.sign(sumexp)
    complex_out = dt.is_complex(dtype) and not return_sign
    # A complex sum keeps its phase in the log (JAX's choice), unless the sign is returned.
    log_sum = fnp.log(sumexp if complex_out else fnp.abs(sumexp))
    out = fnp.add(log_sum, fnp.astype(amax, aval_of(log_sum).dtype))
    if return_sign:
        return out, sign
    if b is not None and not complex_out:
        out = fnp.where(fnp.less(sign, 0), np.array(np.nan, aval_of(out).dtype), out)
    return out


@compiled_eagerly(1)
def logmeanexp(x, axis=None, where=None, keepdims: bool = False):
    """log(mean(exp(x))) over `axis`: logsumexp minus the log of the count."""
    x = array("logmeanexp", x)
    lse = logsumexp(x, axis=axis, where=where, keepdims=keepdims)
    axes = canonical_axes(axis, aval_of(x).ndim, "logmeanexp")
    where = _mask("logmeanexp", where, x)
    count = _count(x, axes, where, keepdims, aval_of(lse).dtype)
    return fnp.subtract(lse, fnp.log(count))


# -- standardize -----------------------------------------------------------------------------


def standardize(x, axis=-1, mean=None, variance=None, epsilon=1e-5, where=None, *,
                algorithm: str = "fast"):
    """(x - mean) / sqrt(variance + epsilon) along `axis`.

    Arguments:
        x: the array.
        axis: an int, a tuple of ints, or None for all axes.
        mean, variance: use these instead of x's own (computed over the elements `where`
            selects).
        epsilon: added to the variance.
        where: optional boolean mask of the elements the mean and variance use.
        algorithm: "fast", mean(x**2) - mean(x)**2 clipped at 0 (JAX's default), or
            "stable", mean((x - mean)**2).

    Returns:
        The standardized array, of x's shape.
    """
    x = array("standardize", x)
    for what, value in (("mean", mean), ("variance", variance), ("where", where)):
        if value is not None:
            array(f"standardize ({what})", value)
    axes = canonical_axes(axis, aval_of(x).ndim, "standardize")
    where = _mask("standardize", where, x)
    if mean is None:
        mean = _mean(x, axes, where, keepdims=True)
    if variance is None:
        if algorithm == "stable":
            variance = _mean(fnp.square(fnp.subtract(x, mean)), axes, where, keepdims=True)
        elif algorithm == "fast":
            # JAX's default: may come out slightly negative by cancellation, hence the clip.
            variance = fnp.subtract(_mean(fnp.square(x), axes, where, keepdims=True),
                                    fnp.square(mean))
            variance = fnp.clip(variance, 0)
        else:
            raise ValueError(at_user_line(
                f"fgrad.nn.standardize: unknown algorithm {algorithm!r}. Expected 'fast' or "
                f"'stable'."))
    return fnp.multiply(fnp.subtract(x, mean), _rsqrt(fnp.add(variance, epsilon)))


def _rsqrt(x):
    """lax.rsqrt of an array (a Python number or NumPy value first becomes one)."""
    (x,) = promote_dtypes(array("standardize", x), kind="inexact")
    return fl.rsqrt(x)
