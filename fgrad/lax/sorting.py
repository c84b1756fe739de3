"""Sorting: `sort` (several operands ordered together by their first `num_keys`) and `top_k`.

Neither is linear, and both only move elements around: their tangents are the input
tangents moved the same way. So each JVP finds the permutation (sort carries an iota along;
top_k returns its indices) and gathers the tangents with it, as JAX's rules do. The gather
is the only equation on the tangent, so reverse mode transposes it into a scatter-add.
"""

from __future__ import annotations

import numpy as np
from jax import lax

from fgrad.core import Aval, Primitive, Zero, aval_of
from fgrad.core import dtypes as dt
from fgrad.core.dtypes import float0
from fgrad.lax._batching import to_front
from fgrad.lax._rules import as_int, check_dims, check_dtype, check_same_shapes, fail
from fgrad.lax.indexing import GatherDimensionNumbers, GatherScatterMode, gather
from fgrad.lax.shapes import broadcasted_iota, expand_dims
from fgrad.transforms.rules import batch_rules, jvp_rules, transpose_rules


def gather_along(operand, indices, axis: int):
    """`operand` read at `indices` along `axis` (NumPy's take_along_axis without
    broadcasting): `indices` has the operand's shape except along `axis`, and holds
    in-bounds positions along it."""
    ndim = aval_of(operand).ndim
    others = tuple(d for d in range(ndim) if d != axis)
    # Every other axis pairs the operand's elements with the indices' one to one (batching
    # dimensions), so each index vector is the single position along `axis`.
    numbers = GatherDimensionNumbers(
        offset_dims=(), collapsed_slice_dims=(axis,), start_index_map=(axis,),
        operand_batching_dims=others, start_indices_batching_dims=others)
    return gather(operand, expand_dims(indices, (ndim,)), numbers, (1,) * ndim,
                  mode=GatherScatterMode.PROMISE_IN_BOUNDS)


def _carries_tangent(t) -> bool:
    return not isinstance(t, Zero) and aval_of(t).dtype != float0


# -- sort ------------------------------------------------------------------------------------


def _sort_abstract_eval(*operands, dimension, is_stable, num_keys):
    name = "sort"
    if not operands:
        raise fail(name, operands, "it needs at least one operand")
    check_same_shapes(name, operands)
    shape = operands[0].shape
    if not shape:
        raise fail(name, operands, "a rank-0 array has no dimension to sort along",
                   "Reshape it to one element first.")
    check_dims(name, operands, (dimension,), len(shape))
    if type(num_keys) is not int or not 1 <= num_keys <= len(operands):
        raise fail(name, operands, f"num_keys must be an integer from 1 to the number of "
                   f"operands ({len(operands)}), not {num_keys!r}")
    if type(is_stable) is not bool:
        raise fail(name, operands, f"is_stable must be a bool, not {is_stable!r}")
    return list(operands)


def _sort_lower(*operands, dimension, is_stable, num_keys):
    return list(lax.sort(operands, dimension=dimension, is_stable=is_stable,
                         num_keys=num_keys))


sort_p = Primitive("sort", _sort_abstract_eval, _sort_lower, multiple_results=True)


def _sort_jvp(primals, tangents, *, dimension, is_stable, num_keys):
    # Positions 0..n-1 sorted along with the operands (never a key) are the permutation;
    # every tangent moves by it.
    shape = aval_of(primals[0]).shape
    positions = broadcasted_iota(np.int32, shape, dimension)
    *outs, permutation = sort_p.bind(*primals, positions, dimension=dimension,
                                     is_stable=is_stable, num_keys=num_keys)
    tangents_out = [gather_along(t, permutation, dimension) if _carries_tangent(t)
                    else Zero(aval_of(out)) for t, out in zip(tangents, outs)]
    return outs, tangents_out


jvp_rules.define(sort_p, _sort_jvp)
transpose_rules.absent(sort_p, "it is not linear in any operand")


def _sort_batch(axis_size, values, dims, *, dimension, is_stable, num_keys):
    params = dict(is_stable=is_stable, num_keys=num_keys)
    batched = {d for d in dims if d is not None}
    if len(batched) == 1 and None not in dims:
        # Every operand batched along the same axis: sort in place, past that axis.
        (dim,) = batched
        outs = sort_p.bind(*values, dimension=dimension + (dimension >= dim), **params)
        return outs, [dim] * len(outs)
    operands = [to_front(x, d, axis_size) for x, d in zip(values, dims)]
    outs = sort_p.bind(*operands, dimension=dimension + 1, **params)
    return outs, [0] * len(outs)


batch_rules.define(sort_p, _sort_batch, lists=True)

# -- top_k -----------------------------------------------------------------------------------


def _top_k_abstract_eval(operand, *, k, axis):
    name, avals = "top_k", [operand]
    if not operand.shape:
        raise fail(name, avals, "a rank-0 array has no axis to take the largest elements of")
    check_dims(name, avals, (axis,), operand.ndim, "axis")
    if dt.is_complex(operand.dtype):
        raise fail(name, avals, "complex numbers have no order to take the largest of",
                   "Take top_k of their real parts or magnitudes.")
    check_dtype(name, avals, "any")
    if type(k) is not int or not 0 <= k <= operand.shape[axis]:
        raise fail(name, avals, f"k must be an integer from 0 to the size of axis {axis} "
                   f"({operand.shape[axis]}), not {k!r}")
    shape = operand.shape[:axis] + (k,) + operand.shape[axis + 1:]
    # JAX's indices are weakly typed exactly when the operand is; so are ours.
    return [Aval(shape, operand.dtype, operand.weak_type),
            Aval(shape, np.dtype(np.int32), operand.weak_type)]


def _top_k_lower(operand, *, k, axis):
    return list(lax.top_k(operand, k, axis=axis))


top_k_p = Primitive("top_k", _top_k_abstract_eval, _top_k_lower, multiple_results=True)


def _top_k_jvp(primals, tangents, *, k, axis):
    (operand,), (t,) = primals, tangents
    values, indices = top_k_p.bind(operand, k=k, axis=axis)
    t_values = gather_along(t, indices, axis) if _carries_tangent(t) else Zero(aval_of(values))
    return [values, indices], [t_values, Zero(aval_of(indices))]


jvp_rules.define(top_k_p, _top_k_jvp)
transpose_rules.absent(top_k_p, "it is not linear in any operand")


def _top_k_batch(axis_size, values, dims, *, k, axis):
    (operand,), (dim,) = values, dims
    outs = top_k_p.bind(operand, k=k, axis=axis + (axis >= dim))
    return outs, [dim, dim]


batch_rules.define(top_k_p, _top_k_batch, lists=True)

# -- the functions users call (jax.lax signatures) -------------------------------------------


def _canonical_dimension(dimension, ndim: int):
    dimension = as_int(dimension)
    # Negative dimensions count from the end; an out-of-range one is left to the shape rule.
    return dimension + ndim if type(dimension) is int and -ndim <= dimension < 0 else dimension


def sort(operand, dimension: int = -1, is_stable: bool = True, num_keys: int = 1):
    """Sorts along `dimension`: one array, or a sequence of arrays ordered together by the
    lexicographic order of their first `num_keys` (NaNs last, complex numbers by real then
    imaginary part). Returns what it was given: an array, or a tuple of arrays."""
    if isinstance(operand, (list, tuple)):
        operands = tuple(operand)
        ndim = aval_of(operands[0]).ndim if operands else 0
        return tuple(sort_p.bind(*operands, dimension=_canonical_dimension(dimension, ndim),
                                 is_stable=bool(is_stable), num_keys=as_int(num_keys)))
    if num_keys != 1:
        raise ValueError(f"sort of a single array takes num_keys=1, not {num_keys!r}")
    (out,) = sort_p.bind(operand, dimension=_canonical_dimension(dimension, aval_of(operand).ndim),
                         is_stable=bool(is_stable), num_keys=1)
    return out


def sort_key_val(keys, values, dimension: int = -1, is_stable: bool = True):
    """Sorts `keys` along `dimension` and moves `values` along with them."""
    return sort((keys, values), dimension, is_stable, num_keys=1)


def top_k(operand, k: int, *, axis: int = -1):
    """The `k` largest elements along `axis` (the last by default), largest first, and their
    int32 indices; equal elements in their original order."""
    ndim = aval_of(operand).ndim
    # A list, as jax.lax.top_k returns.
    return top_k_p.bind(operand, k=as_int(k), axis=_canonical_dimension(axis, ndim))
