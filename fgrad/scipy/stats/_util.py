"""Shared helpers of fgrad.scipy.stats: accepting operands as jax.scipy.stats does, and the
short names of the elementwise functions the distributions' formulas use."""

from __future__ import annotations

import numpy as np

import fgrad.numpy as fnp
from fgrad.core import aval_of
from fgrad.core import dtypes as dt
from fgrad.core.errors import ShapeDtypeError, at_user_line
from fgrad import lax as fl
from fgrad.lax import elementwise as lx
from fgrad.numpy._core import as_array, check_arraylike, promote_args, promote_dtypes

NS = "fgrad.scipy.stats"

add, sub, mul, div, neg = fnp.add, fnp.subtract, fnp.multiply, fnp.divide, fnp.negative
where, log, exp, log1p, expm1 = fnp.where, fnp.log, fnp.exp, fnp.log1p, fnp.expm1
lt, le, gt, ge, eq, ne = (fnp.less, fnp.less_equal, fnp.greater, fnp.greater_equal, fnp.equal,
                          fnp.not_equal)
land, lor = fnp.logical_and, fnp.logical_or


def fail(name: str, message: str, error=ShapeDtypeError):
    """An error naming `fgrad.scipy.stats.<name>` and the user's line."""
    return error(at_user_line(f"{NS}.{name}: {message}"))


def _real(name: str, out: list) -> list:
    dtype = aval_of(out[0]).dtype
    if dt.is_complex(dtype):
        raise fail(name, f"complex inputs are not supported (got {dtype.name}). Pass the "
                         f"real part, or a real array.")
    return out


def inexact(name: str, *args) -> list:
    """jax.scipy's `promote_args_inexact`: checked, promoted to one floating dtype (integers
    and bools become the default float, Python scalars stay weakly typed), broadcast
    together, as arrays."""
    check_arraylike(name, *args, namespace=NS)
    shapes = [aval_of(a).shape for a in args]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise fail(name, f"shapes {', '.join(str(tuple(s)) for s in shapes)} cannot be "
                         f"broadcast together.") from None
    return _real(name, [as_array(a, name)
                        for a in promote_args(name, *args, kind="inexact")])


def inexact_dtypes(name: str, *args) -> list:
    """jax.scipy's `promote_dtypes_inexact`: one floating dtype, shapes left as they are."""
    check_arraylike(name, *args, namespace=NS)
    return _real(name, [as_array(a, name) for a in promote_dtypes(*args, kind="inexact")])


def strong(x):
    """`x` without its weak type, where jax.scipy.stats's result is strongly typed (its
    formula goes through jnp.asarray, jnp.array or a jitted function)."""
    aval = aval_of(x)
    return lx.convert_element_type(x, aval.dtype, weak_type=False) if aval.weak_type else x


def const(x, value):
    """`value` as a strongly typed array of x's dtype (jax's `_lax_const`)."""
    return np.array(value, dtype=aval_of(x).dtype)


def clamp(low: float, x, high: float):
    """lax.clamp(low, x, high) with bounds of x's dtype, keeping x's weak type as JAX's
    clamp does."""
    aval = aval_of(x)
    out = fl.clamp(np.array(low, aval.dtype), x, np.array(high, aval.dtype))
    return lx.convert_element_type(out, aval.dtype, weak_type=aval.weak_type)
