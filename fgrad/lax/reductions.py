"""Reductions: sums, products, extrema and their positions over axes, and running sums.

A reduction drops the axes it reduces and keeps the operand's dtype and weak type; argmax and
argmin instead return a (never weak) index of the integer dtype asked for.
"""

from __future__ import annotations

from jax import lax

from fgrad.core import Aval, Primitive
from fgrad.core import dtypes as dt
from fgrad.lax._rules import (
    as_int, as_ints, check_available, check_dims, check_dtype, fail, user_dtype,
)

# -- reduce_sum, reduce_prod, reduce_max, reduce_min -----------------------------------------


def _reduction(name: str, lower, kind: str) -> Primitive:
    """A primitive combining the elements along `axes` into one, dropping those axes."""
    def abstract_eval(operand, *, axes):
        check_dims(name, [operand], axes, operand.ndim, "axis")
        if list(axes) != sorted(axes):
            raise fail(name, [operand], f"axes {axes} must be sorted")
        check_dtype(name, [operand], kind)
        shape = tuple(n for i, n in enumerate(operand.shape) if i not in axes)
        return Aval(shape, operand.dtype, operand.weak_type)

    def lower_axes(operand, *, axes):
        return lower(operand, axes)

    return Primitive(name, abstract_eval, lower_axes)


reduce_sum_p = _reduction("reduce_sum", lax.reduce_sum, "number")
reduce_prod_p = _reduction("reduce_prod", lax.reduce_prod, "number")
reduce_max_p = _reduction("reduce_max", lax.reduce_max, "ordered")
reduce_min_p = _reduction("reduce_min", lax.reduce_min, "ordered")

# -- argmax, argmin --------------------------------------------------------------------------


def _arg_extremum(name: str, extremum: str, lower) -> Primitive:
    """A primitive giving the index of the first extreme element along `axis`."""
    def abstract_eval(operand, *, axis, index_dtype):
        avals = [operand]
        check_dims(name, avals, (axis,), operand.ndim, "axis")
        if operand.shape[axis] == 0:
            raise fail(name, avals, f"axis {axis} is empty, so it has no {extremum}",
                       "Reduce along an axis of size at least 1.")
        check_dtype(name, avals, "ordered")
        check_available(name, avals, index_dtype, "index_dtype")
        if not dt.is_integer(index_dtype):
            raise fail(name, avals, f"index_dtype must be an integer dtype, not "
                       f"{index_dtype.name}")
        shape = operand.shape[:axis] + operand.shape[axis + 1:]
        return Aval(shape, index_dtype, False)

    def lower_axis(operand, *, axis, index_dtype):
        return lower(operand, axis, index_dtype)

    return Primitive(name, abstract_eval, lower_axis)


argmax_p = _arg_extremum("argmax", "maximum", lax.argmax)
argmin_p = _arg_extremum("argmin", "minimum", lax.argmin)

# -- cumsum ----------------------------------------------------------------------------------


def _cumsum_abstract_eval(operand, *, axis, reverse):
    check_dims("cumsum", [operand], (axis,), operand.ndim, "axis")
    check_dtype("cumsum", [operand], "number")
    return operand


def _cumsum_lower(operand, *, axis, reverse):
    return lax.cumsum(operand, axis, reverse)


cumsum_p = Primitive("cumsum", _cumsum_abstract_eval, _cumsum_lower)

# -- the functions users call (jax.lax signatures) -------------------------------------------


def _axes(axes) -> tuple:
    # The order of the axes does not change a reduction; sorted, equal reductions share one
    # spelling in programs (and in their caches).
    axes = as_ints(axes)
    return tuple(sorted(axes)) if all(type(a) is int for a in axes) else axes


def reduce_sum(operand, axes):
    return reduce_sum_p.bind(operand, axes=_axes(axes))


def reduce_prod(operand, axes):
    return reduce_prod_p.bind(operand, axes=_axes(axes))


def reduce_max(operand, axes):
    return reduce_max_p.bind(operand, axes=_axes(axes))


def reduce_min(operand, axes):
    return reduce_min_p.bind(operand, axes=_axes(axes))


def argmax(operand, axis, index_dtype):
    """The index of the largest element along `axis` (the first one on ties)."""
    return argmax_p.bind(operand, axis=as_int(axis), index_dtype=user_dtype(index_dtype))


def argmin(operand, axis, index_dtype):
    """The index of the smallest element along `axis` (the first one on ties)."""
    return argmin_p.bind(operand, axis=as_int(axis), index_dtype=user_dtype(index_dtype))


def cumsum(operand, axis=0, reverse=False):
    """Running sums along `axis`, from its end when `reverse`."""
    return cumsum_p.bind(operand, axis=as_int(axis), reverse=bool(reverse))
