"""Reductions: sums, products, extrema and their positions over axes, and running sums,
products, extrema and log-sum-exps.

A reduction drops the axes it reduces and keeps the operand's dtype and weak type; argmax and
argmin instead return a (never weak) index of the integer dtype asked for.
"""

from __future__ import annotations

import numpy as np
from jax import lax

from fgrad.core import Aval, Primitive, Zero, aval_of
from fgrad.core import dtypes as dt
from fgrad.lax._ad import deflinear
from fgrad.lax._rules import (
    as_int, as_ints, check_available, check_dims, check_dtype, fail, operand_when_type_kept,
    user_dtype,
)
from fgrad.lax.elementwise import add, convert_element_type, div, eq, max_p, min_p, mul, mul_p
from fgrad.lax.shapes import broadcast_in_dim, pad, reshape, transpose
from fgrad.transforms.rules import batch_rules, identity_rules, jvp_rules, transpose_rules
# The sibling families' functions, reached through the package when called: the
# families need each other's (a rule of one emits primitives of another).
from fgrad import lax as fl

# -- the reductions' common shape rule -------------------------------------------------------


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

    prim = Primitive(name, abstract_eval, lower_axes)
    identity_rules.define(prim, operand_when_type_kept)  # over no axes
    return prim


def _kept_axes(ndim: int, axes) -> tuple:
    return tuple(i for i in range(ndim) if i not in axes)


def _past(dim: int, axes) -> tuple:
    """Axes of one example renumbered for the batched array, whose batch axis is `dim`."""
    return tuple(a + 1 if a >= dim else a for a in axes)


def _defbatch_reduction(prim: Primitive) -> None:
    """Reduces the same axes of every example; the batch axis shifts left past those of
    them in front of it."""
    def batch(axis_size, values, dims, *, axes):
        (operand,), (dim,) = values, dims
        return prim.bind1(operand, axes=_past(dim, axes)), dim - sum(a < dim for a in axes)

    batch_rules.define(prim, batch)


# -- reduce_sum ------------------------------------------------------------------------------

reduce_sum_p = _reduction("reduce_sum", lax.reduce_sum, "number")


def _reduce_sum_transpose(ct, operand, *, axes):
    shape = operand.aval.shape
    if not axes:
        return [ct]
    return [broadcast_in_dim(ct, shape, _kept_axes(len(shape), axes))]


deflinear(reduce_sum_p, [0], _reduce_sum_transpose)
_defbatch_reduction(reduce_sum_p)

# -- reduce_prod -----------------------------------------------------------------------------

reduce_prod_p = _reduction("reduce_prod", lax.reduce_prod, "number")


def _reduce_prod_jvp(primals, tangents, *, axes):
    # Dividing the product by x would fail at zeros. Instead multiply pairwise in a balanced
    # tree, carrying the product rule (x1 x2)' = x1' x2 + x1 x2' up it: JAX's scheme, so the
    # values at zeros (and their rounding) agree with JAX's, and every higher derivative
    # stays exact because the tangent is built from products of primals only.
    (x,), (t,) = primals, tangents
    ans = reduce_prod_p.bind1(x, axes=axes)
    aval = aval_of(x)
    n = int(np.prod([aval.shape[a] for a in axes], dtype=np.int64))
    if n == 0:  # an empty product is the constant 1
        return ans, Zero(aval_of(ans))
    kept = _kept_axes(aval.ndim, axes)
    # Reduced axes first, flattened into one: the tree then always splits axis 0.
    order = tuple(axes) + kept
    rows_shape = (n, *(aval.shape[i] for i in kept))

    def as_rows(v):
        if order != tuple(range(aval.ndim)):
            v = transpose(v, order)
        return reshape(v, rows_shape)

    x, t = as_rows(x), as_rows(t)
    one = np.ones((), aval.dtype)
    zero = np.zeros((), aval.dtype)
    while n > 1:
        half = (n + 1) // 2
        rest = aval_of(x).shape[1:]

        def rows(v, start, stop, rest=rest):
            return fl.slice(v, (start,) + (0,) * len(rest), (stop,) + rest)

        x_lo, x_hi = rows(x, 0, half), rows(x, half, n)
        t_lo, t_hi = rows(t, 0, half), rows(t, half, n)
        if n % 2:  # pair the odd row out with a 1, whose tangent is 0
            extra = ((0, 1, 0),) + ((0, 0, 0),) * len(rest)
            x_hi = pad(x_hi, one, extra)
            t_hi = pad(t_hi, zero, extra)
        t = add(mul(t_lo, x_hi), mul(x_lo, t_hi))
        x = mul(x_lo, x_hi)
        n = half
    return ans, reshape(t, aval_of(ans).shape)


jvp_rules.define(reduce_prod_p, _reduce_prod_jvp)
transpose_rules.absent(reduce_prod_p, "it is not linear in any operand")
_defbatch_reduction(reduce_prod_p)

# -- reduce_max, reduce_min ------------------------------------------------------------------


def _extremum_jvp(prim: Primitive):
    def jvp(primals, tangents, *, axes):
        # The tangent of the extremum is the mean of the tangents at the positions that
        # attain it: ties share equally, as in JAX (grad(max)([1, 3, 3]) = [0, .5, .5]).
        # Like JAX's, it is NaN where nothing attains it (an empty or NaN-holding slice).
        (x,), (t,) = primals, tangents
        ans = prim.bind1(x, axes=axes)
        aval = aval_of(x)
        hits = convert_element_type(
            eq(x, broadcast_in_dim(ans, aval.shape, _kept_axes(aval.ndim, axes))), aval.dtype)
        return ans, div(reduce_sum(mul(t, hits), axes), reduce_sum(hits, axes))
    return jvp


reduce_max_p = _reduction("reduce_max", lax.reduce_max, "ordered")
jvp_rules.define(reduce_max_p, _extremum_jvp(reduce_max_p))
transpose_rules.absent(reduce_max_p, "it is not linear in any operand")
_defbatch_reduction(reduce_max_p)
reduce_min_p = _reduction("reduce_min", lax.reduce_min, "ordered")
jvp_rules.define(reduce_min_p, _extremum_jvp(reduce_min_p))
transpose_rules.absent(reduce_min_p, "it is not linear in any operand")
_defbatch_reduction(reduce_min_p)

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
# No differentiation rules: an integer output carries no tangent, so the transforms never
# ask for one.
jvp_rules.absent(argmax_p, "its result (bool, integer or key) carries no tangent")
transpose_rules.absent(argmax_p, "it is not linear in any operand")
jvp_rules.absent(argmin_p, "its result (bool, integer or key) carries no tangent")
transpose_rules.absent(argmin_p, "it is not linear in any operand")


def _defbatch_arg_extremum(prim: Primitive) -> None:
    def batch(axis_size, values, dims, *, axis, index_dtype):
        (operand,), (dim,) = values, dims
        (batched_axis,) = _past(dim, (axis,))
        return (prim.bind1(operand, axis=batched_axis, index_dtype=index_dtype),
                dim - (axis < dim))

    batch_rules.define(prim, batch)


_defbatch_arg_extremum(argmax_p)
_defbatch_arg_extremum(argmin_p)

# -- running reductions: cumsum, cumprod, cummax, cummin, cumlogsumexp ------------------------


def _cumulative(name: str, lower, kind: str) -> Primitive:
    """A primitive combining each element along `axis` with all before it (after it, when
    `reverse`): same shape and type out as in."""
    def abstract_eval(operand, *, axis, reverse):
        check_dims(name, [operand], (axis,), operand.ndim, "axis")
        check_dtype(name, [operand], kind)
        return operand

    def lower_axis(operand, *, axis, reverse):
        return lower(operand, axis, reverse)

    prim = Primitive(name, abstract_eval, lower_axis)

    def batch(axis_size, values, dims, *, axis, reverse):
        (operand,), (dim,) = values, dims
        (batched_axis,) = _past(dim, (axis,))
        return prim.bind1(operand, axis=batched_axis, reverse=reverse), dim

    batch_rules.define(prim, batch)
    return prim


cumsum_p = _cumulative("cumsum", lax.cumsum, "number")


def _cumsum_transpose(ct, operand, *, axis, reverse):
    # Output i sums inputs 0..i, so input j feeds outputs j..end: the running sum the
    # other way.
    return [cumsum(ct, axis, not reverse)]


deflinear(cumsum_p, [0], _cumsum_transpose)


def _scan_jvp(prim: Primitive, combine):
    """The JVP of a running reduction by `combine`, JAX's way: the parallel prefix scan
    (fgrad.lax.associative_scan, the same tree as JAX's) over (value, tangent) pairs, each
    step `combine`'s own JVP. The tangent is then exact where a formula would divide (a
    running product through a zero), ties split as the combining primitive splits them (a
    running max passes half of each tied tangent, as max does), and higher derivatives are
    those of the scan's primitives, as in JAX."""
    def jvp(primals, tangents, *, axis, reverse):
        (x,), (t,) = primals, tangents
        ans = prim.bind1(x, axis=axis, reverse=reverse)
        if isinstance(t, Zero):
            return ans, Zero(aval_of(ans))
        _, t_out = fl.associative_scan(combine, (x, t), reverse=reverse, axis=axis)
        return ans, t_out

    jvp_rules.define(prim, jvp)
    transpose_rules.absent(prim, "it is not linear in any operand")


def _by_rule(combining: Primitive):
    """Combines two (value, tangent) pairs with `combining` and its registered JVP rule."""
    def combine(a, b):
        (x, tx), (y, ty) = a, b
        [out], [t_out] = jvp_rules[combining]((x, y), (tx, ty))
        return out, t_out
    return combine


def _replace_inf(x):
    """x with +inf replaced by 0, as in JAX's logaddexp rule: +inf - +inf would be NaN."""
    inf = fl.full_like(x, np.inf)
    return fl.select_n(fl.eq(x, inf), x, fl.full_like(x, 0))


def _logaddexp_pair(a, b):
    """log(exp(x) + exp(y)) and its tangent, as JAX's logaddexp (its custom JVP's formula).

    The value is `larger + log1p(exp(smaller - larger))` with the larger operand chosen by a
    select rather than JAX's max and |x - y|: equal values, and the derivative of a select
    is right at a tie too (half of each tangent), where that of max plus abs is not; so
    second derivatives agree with those of JAX's custom JVP."""
    (x, tx), (y, ty) = a, b
    x_larger = fl.ge(x, y)
    out = fl.select_n(x_larger, fl.add(y, fl.log1p(fl.exp(fl.sub(x, y)))),
                      fl.add(x, fl.log1p(fl.exp(fl.sub(y, x)))))
    delta = fl.sub(x, y)
    # NaNs, or infinities of one sign (inf - inf): JAX's value there is x + y.
    out = fl.select_n(fl.ne(delta, delta), out, fl.add(x, y))
    t_out = fl.add(fl.mul(tx, fl.exp(fl.sub(_replace_inf(x), _replace_inf(out)))),
                   fl.mul(ty, fl.exp(fl.sub(_replace_inf(y), _replace_inf(out)))))
    return out, t_out


cumprod_p = _cumulative("cumprod", lax.cumprod, "number")
_scan_jvp(cumprod_p, _by_rule(mul_p))
cummax_p = _cumulative("cummax", lax.cummax, "number")
_scan_jvp(cummax_p, _by_rule(max_p))
cummin_p = _cumulative("cummin", lax.cummin, "number")
_scan_jvp(cummin_p, _by_rule(min_p))
# Real floats only: JAX's cumlogsumexp of integers overflows, and fgrad has no complex
# logaddexp.
cumlogsumexp_p = _cumulative("cumlogsumexp", lax.cumlogsumexp, "float")
_scan_jvp(cumlogsumexp_p, _logaddexp_pair)

# -- the functions users call (jax.lax signatures) -------------------------------------------


def _axes(axes) -> tuple:
    # The order of the axes does not change a reduction; sorted, equal reductions share one
    # spelling in programs (and in their caches).
    axes = as_ints(axes)
    return tuple(sorted(axes)) if all(type(a) is int for a in axes) else axes


def reduce_sum(operand, axes):
    return reduce_sum_p.bind1(operand, axes=_axes(axes))


def reduce_prod(operand, axes):
    return reduce_prod_p.bind1(operand, axes=_axes(axes))


def reduce_max(operand, axes):
    return reduce_max_p.bind1(operand, axes=_axes(axes))


def reduce_min(operand, axes):
    return reduce_min_p.bind1(operand, axes=_axes(axes))


def argmax(operand, axis, index_dtype):
    """The index of the largest element along `axis` (the first one on ties)."""
    return argmax_p.bind1(operand, axis=as_int(axis), index_dtype=user_dtype(index_dtype))


def argmin(operand, axis, index_dtype):
    """The index of the smallest element along `axis` (the first one on ties)."""
    return argmin_p.bind1(operand, axis=as_int(axis), index_dtype=user_dtype(index_dtype))


def cumsum(operand, axis=0, reverse=False):
    """Running sums along `axis`, from its end when `reverse`."""
    return cumsum_p.bind1(operand, axis=as_int(axis), reverse=bool(reverse))


def cumprod(operand, axis=0, reverse=False):
    """Running products along `axis`, from its end when `reverse`."""
    return cumprod_p.bind1(operand, axis=as_int(axis), reverse=bool(reverse))


def cummax(operand, axis=0, reverse=False):
    """Running maxima along `axis`, from its end when `reverse`."""
    return cummax_p.bind1(operand, axis=as_int(axis), reverse=bool(reverse))


def cummin(operand, axis=0, reverse=False):
    """Running minima along `axis`, from its end when `reverse`."""
    return cummin_p.bind1(operand, axis=as_int(axis), reverse=bool(reverse))


def cumlogsumexp(operand, axis=0, reverse=False):
    """Running log(sum(exp(x))) along `axis`, from its end when `reverse`."""
    return cumlogsumexp_p.bind1(operand, axis=as_int(axis), reverse=bool(reverse))
