"""Indexing primitives: static and dynamic slices, gather and the scatter family.

These back NumPy-style indexing in fgrad.numpy: `x[1:3]` is a `slice`, `x[i]` with an integer
array is a `gather`, and `x.at[i].set/add/mul/min/max` are scatters.

Conventions shared with jax.lax:
- dynamic start indices are *operands*, one rank-0 integer per dimension, all of one dtype.
  The primitives clamp them so the slice fits (XLA's rule); counting negative starts from
  the end is done by the user-facing functions before they bind, as jax.lax does.
- gather and scatter take the index vector in the LAST dimension of their indices.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Sequence

import jax.numpy as jnp
import numpy as np
from jax import lax

from fgrad.core import Aval, Primitive, Zero, aval_of
from fgrad.core import dtypes as dt
from fgrad.lax._ad import add_tangents, deflinear, instantiate, is_undefined, zeros
from fgrad.lax._batching import move_axis, to_front
from fgrad.lax._rules import check_dtype, fail
from fgrad.lax.shapes import full
from fgrad.lax.elementwise import (
    add, convert_element_type, div, eq, lt, mul, select_n, sub,
)
from fgrad.transforms.rules import batch_rules, jvp_rules, transpose_rules
# The sibling families' functions, reached through the package when called: the
# families need each other's (a rule of one emits primitives of another).
from fgrad import lax as fl

GatherDimensionNumbers = lax.GatherDimensionNumbers
ScatterDimensionNumbers = lax.ScatterDimensionNumbers
GatherScatterMode = lax.GatherScatterMode

# -- checks shared by the primitives ------------------------------------------------------------


def _check_ints(name, avals, what: str, values) -> None:
    """Static params must be tuples of Python ints, or the program's params stop hashing."""
    if not (isinstance(values, tuple) and all(type(v) is int for v in values)):
        raise fail(name, avals, f"{what} must be a tuple of integers, not {values!r}")


def _check_length(name, avals, what: str, values, length: int, advice: str = "") -> None:
    if len(values) != length:
        raise fail(name, avals, f"{what} has {len(values)} entries, but {length} are needed",
                   advice)


def _check_dims(name, avals, what: str, dims, rank: int, sorted_: bool = False,
                advice: str = "") -> None:
    """Dimension numbers: distinct, in [0, rank), and ascending when `sorted_`."""
    for d in dims:
        if not 0 <= d < rank:
            raise fail(name, avals, f"{what} {dims} names dimension {d}, outside [0, {rank})",
                       advice)
    if len(set(dims)) != len(dims):
        raise fail(name, avals, f"{what} {dims} repeats a dimension")
    if sorted_ and list(dims) != sorted(dims):
        raise fail(name, avals, f"{what} {dims} must be in ascending order")


def _check_disjoint(name, avals, what_a: str, dims_a, what_b: str, dims_b) -> None:
    common = sorted(set(dims_a) & set(dims_b))
    if common:
        raise fail(name, avals, f"{what_a} {dims_a} and {what_b} {dims_b} share dimension(s) "
                   f"{tuple(common)}")


def _check_start_indices(name, avals, starts, rank: int) -> None:
    if len(starts) != rank:
        raise fail(name, avals, f"got {len(starts)} start indices for an operand of rank "
                   f"{rank}", "Pass one start index per dimension.")
    for k, s in enumerate(starts):
        if s.shape != ():
            raise fail(name, avals, f"start index {k} must be a scalar (rank 0), not {s}")
        if not dt.is_integer(s.dtype):
            raise fail(name, avals, f"start indices must be integers, not {s.dtype.name}")
    if len({s.dtype for s in starts}) > 1:
        raise fail(name, avals, "the start indices have different dtypes ("
                   + ", ".join(s.dtype.name for s in starts) + ")",
                   "Convert them to one integer dtype.")


_INDEX_VECTOR_NOT_BATCH = ("The last dimension of the indices holds the index vectors, so it "
                           "cannot be a batching dimension.")


def _check_index_array(name, avals, indices: Aval) -> None:
    if not dt.is_integer(indices.dtype):
        raise fail(name, avals, f"the indices must be integers, not {indices.dtype.name}")
    if indices.ndim == 0:
        raise fail(name, avals, "the indices must have at least one dimension: the last "
                   "holds each index vector", "Reshape scalar indices to shape (1,).")


def _check_mode(name, avals, mode) -> None:
    if not isinstance(mode, GatherScatterMode):
        raise fail(name, avals, f"mode must be a jax.lax.GatherScatterMode, not {mode!r}",
                   "Use 'clip', 'fill' (or 'drop') or 'promise_in_bounds'.")
    if mode == GatherScatterMode.ONE_HOT:
        # jax.numpy implements 'one_hot' indexing with a matmul; XLA's gather has no such mode.
        raise fail(name, avals, "mode ONE_HOT is a jax.numpy indexing strategy, not a "
                   f"{name} mode", "Use 'clip', 'fill' (or 'drop') or 'promise_in_bounds'.")


def _check_flags(name, avals, **flags) -> None:
    for flag, value in flags.items():
        if type(value) is not bool:
            raise fail(name, avals, f"{flag} must be True or False, not {value!r}")


def _runtime_starts(starts):
    """Start indices as JAX values, so jax.lax does not re-interpret negative Python ints.

    jnp.asarray keeps the weak type of a Python int, which dynamic_update_slice's result
    type depends on.
    """
    return [jnp.asarray(s) if dt.is_python_scalar(s) or isinstance(s, np.generic) else s
            for s in starts]


# -- batching helpers --------------------------------------------------------------------------


def _shift_past(dims, batch_dim: int):
    """One example's dimension numbers, renumbered for a batch axis inserted at `batch_dim`."""
    return tuple(d + 1 if d >= batch_dim else d for d in dims)


def _batch_at(x, dim: int | None, at: int, axis_size: int):
    """x with its batch axis at position `at`; an unbatched x is broadcast along a new one."""
    if dim is not None:
        return move_axis(x, dim, at)
    aval = aval_of(x)
    shape = (*aval.shape[:at], axis_size, *aval.shape[at:])
    return fl.broadcast_in_dim(x, shape, tuple(d for d in range(len(shape)) if d != at))


def _index_vector_last(indices, dim: int):
    """Gather and scatter read index vectors from the indices' last axis, so a batch axis
    there moves one place in, where it is the last of the indices' batch dimensions."""
    last = aval_of(indices).ndim - 1
    if dim == last:
        return move_axis(indices, dim, last - 1), last - 1
    return indices, dim


def _start_rows(starts, dims, axis_size: int):
    """Scalar start indices, some batched, as one (axis_size, len(starts)) index array: row
    b holds example b's start vector."""
    dtype = next(aval_of(s).dtype for s, d in zip(starts, dims) if d is not None)
    columns = []
    for s, d in zip(starts, dims):
        if d is None:
            s = convert_element_type(s, dtype)  # a Python int must not stay weakly typed
        columns.append(fl.broadcast_in_dim(s, (axis_size, 1), () if d is None else (0,)))
    return columns[0] if len(columns) == 1 else fl.concatenate(columns, 1)


def _zero_start(starts):
    """A start of 0 for a batch axis sliced whole, of the other starts' dtype and weakness
    (dynamic_update_slice's result is weakly typed only if every start is)."""
    if all(aval_of(s).weak_type for s in starts):
        return 0
    return np.zeros((), aval_of(starts[0]).dtype)[()]


# -- slice -------------------------------------------------------------------------------------


def _slice_abstract_eval(x, *, start_indices, limit_indices, strides):
    avals = [x]
    for what, values in (("start_indices", start_indices), ("limit_indices", limit_indices),
                         ("strides", strides)):
        _check_ints("slice", avals, what, values)
        _check_length("slice", avals, what, values, x.ndim, "Give one entry per dimension.")
    shape = []
    for d, (start, limit, stride, size) in enumerate(
            zip(start_indices, limit_indices, strides, x.shape)):
        if not 0 <= start <= limit <= size:
            raise fail("slice", avals, f"dimension {d} (size {size}) cannot be sliced from "
                       f"{start} to {limit}", "Need 0 <= start <= limit <= size; negative "
                       "or reversed bounds are fgrad.numpy's job.")
        if stride < 1:
            raise fail("slice", avals, f"stride {stride} of dimension {d} must be at least 1")
        shape.append(-(-(limit - start) // stride))
    return Aval(tuple(shape), x.dtype, x.weak_type)


def _slice_lower(x, *, start_indices, limit_indices, strides):
    return lax.slice(x, start_indices, limit_indices, strides)


slice_p = Primitive("slice", _slice_abstract_eval, _slice_lower)


def _slice_transpose(ct, x, *, start_indices, limit_indices, strides):
    # Put every element back where it was read and zeros in between: low padding up to
    # the start, stride - 1 between neighbours, and high padding after the last element
    # read (which, with a stride, can stop short of the limit).
    config = []
    for start, stride, size, n in zip(start_indices, strides, x.aval.shape, aval_of(ct).shape):
        end = start + (n - 1) * stride + 1 if n else start
        config.append((start, size - end, stride - 1))
    return [fl.pad(ct, zeros(Aval((), x.aval.dtype, False)), config)]


deflinear(slice_p, [0], _slice_transpose)


def _slice_batch(axis_size, values, dims, *, start_indices, limit_indices, strides):
    (x,), (dim,) = values, dims
    # The batch axis is taken whole; the others shift past it.
    return slice_p.bind1(x, start_indices=(*start_indices[:dim], 0, *start_indices[dim:]),
                        limit_indices=(*limit_indices[:dim], axis_size, *limit_indices[dim:]),
                        strides=(*strides[:dim], 1, *strides[dim:])), dim


batch_rules.define(slice_p, _slice_batch)

# -- dynamic_slice -----------------------------------------------------------------------------


def _dynamic_slice_abstract_eval(x, *starts, slice_sizes):
    avals = [x, *starts]
    _check_start_indices("dynamic_slice", avals, starts, x.ndim)
    _check_ints("dynamic_slice", avals, "slice_sizes", slice_sizes)
    _check_length("dynamic_slice", avals, "slice_sizes", slice_sizes, x.ndim,
                  "Give one size per dimension.")
    for d, (size, dim) in enumerate(zip(slice_sizes, x.shape)):
        if not 0 <= size <= dim:
            raise fail("dynamic_slice", avals, f"slice size {size} of dimension {d} is "
                       f"outside [0, {dim}]")
    return Aval(slice_sizes, x.dtype, x.weak_type)


def _dynamic_slice_lower(x, *starts, slice_sizes):
    return lax.dynamic_slice(x, _runtime_starts(starts), slice_sizes,
                             allow_negative_indices=False)


dynamic_slice_p = Primitive("dynamic_slice", _dynamic_slice_abstract_eval,
                            _dynamic_slice_lower)


def _dynamic_slice_transpose(ct, x, *starts, slice_sizes):
    # dynamic_update_slice clamps the starts exactly as dynamic_slice did, so the
    # cotangent lands on the elements that were read.
    x_ct = dynamic_update_slice_p.bind1(zeros(x.aval), ct, *starts)
    return [x_ct] + [None] * len(starts)


deflinear(dynamic_slice_p, [0], _dynamic_slice_transpose)


def _dynamic_slice_batch(axis_size, values, dims, *, slice_sizes):
    x, *starts = values
    x_dim, *start_dims = dims
    if all(d is None for d in start_dims):
        # One start for every example: slice the batch axis whole, from 0.
        starts.insert(x_dim, _zero_start(starts))
        sizes = (*slice_sizes[:x_dim], axis_size, *slice_sizes[x_dim:])
        return dynamic_slice_p.bind1(x, *starts, slice_sizes=sizes), x_dim
    # A start vector per example: one gather of one window per row, clamped like
    # dynamic_slice. A batched operand pairs its batch axis with the rows' (each row reads
    # its own example) instead of being sliced whole.
    rows = _start_rows(starts, start_dims, axis_size)
    rank = len(slice_sizes)
    if x_dim is None:
        dn = GatherDimensionNumbers(offset_dims=tuple(range(1, rank + 1)),
                                    collapsed_slice_dims=(), start_index_map=tuple(range(rank)))
        sizes = slice_sizes
    else:
        dn = GatherDimensionNumbers(
            offset_dims=tuple(range(1, rank + 1)), collapsed_slice_dims=(),
            start_index_map=tuple(d for d in range(rank + 1) if d != x_dim),
            operand_batching_dims=(x_dim,), start_indices_batching_dims=(0,))
        sizes = (*slice_sizes[:x_dim], 1, *slice_sizes[x_dim:])
    return gather_p.bind1(x, rows, dimension_numbers=dn, slice_sizes=sizes,
                         indices_are_sorted=False, unique_indices=False,
                         mode=GatherScatterMode.CLIP, fill_value=None), 0


batch_rules.define(dynamic_slice_p, _dynamic_slice_batch)

# -- dynamic_update_slice ----------------------------------------------------------------------


def _dynamic_update_slice_abstract_eval(x, update, *starts):
    avals = [x, update, *starts]
    if update.ndim != x.ndim:
        raise fail("dynamic_update_slice", avals, f"the update has rank {update.ndim} but the "
                   f"operand has rank {x.ndim}", "They must have the same rank.")
    if any(u > d for u, d in zip(update.shape, x.shape)):
        raise fail("dynamic_update_slice", avals, "the update is larger than the operand in "
                   "some dimension")
    if update.dtype != x.dtype:
        raise fail("dynamic_update_slice", avals, "the update's dtype differs from the "
                   "operand's", "Convert with fgrad.lax.convert_element_type.")
    _check_start_indices("dynamic_update_slice", avals, starts, x.ndim)
    # JAX's rule: weak only if every operand is, the start indices included.
    return Aval(x.shape, x.dtype, all(a.weak_type for a in avals))


def _dynamic_update_slice_lower(x, update, *starts):
    return lax.dynamic_update_slice(x, update, _runtime_starts(starts),
                                    allow_negative_indices=False)


dynamic_update_slice_p = Primitive("dynamic_update_slice", _dynamic_update_slice_abstract_eval,
                                   _dynamic_update_slice_lower)


def _dynamic_update_slice_transpose(ct, x, update, *starts):
    update_aval = update.aval if is_undefined(update) else aval_of(update)
    # The overwritten window of x never reaches the output: its cotangent is zero.
    x_ct = (dynamic_update_slice_p.bind1(ct, zeros(update_aval), *starts)
            if is_undefined(x) else None)
    update_ct = (dynamic_slice_p.bind1(ct, *starts, slice_sizes=update_aval.shape)
                 if is_undefined(update) else None)
    return [x_ct, update_ct] + [None] * len(starts)


deflinear(dynamic_update_slice_p, [0, 1], _dynamic_update_slice_transpose)


def _dynamic_update_slice_batch(axis_size, values, dims):
    x, update, *starts = values
    x_dim, update_dim, *start_dims = dims
    if all(d is None for d in start_dims):
        # One start for every example: write along the whole batch axis, from 0. (A
        # batched update needs no scatter: every example writes at the same place.)
        dim = x_dim if x_dim is not None else update_dim
        x = _batch_at(x, x_dim, dim, axis_size)
        update = _batch_at(update, update_dim, dim, axis_size)
        starts.insert(dim, _zero_start(starts))
        return dynamic_update_slice_p.bind1(x, update, *starts), dim
    # A start vector per example: one scatter of one window per row, clamped like
    # dynamic_update_slice, each row writing into its own example of the operand (paired
    # batch axes). The update's batch axis is its one non-window axis, wherever it is.
    if x_dim is None:
        x, x_dim = to_front(x, None, axis_size), 0
    if update_dim is None:
        update, update_dim = to_front(update, None, axis_size), 0
    rows = _start_rows(starts, start_dims, axis_size)
    rank = aval_of(x).ndim
    dn = ScatterDimensionNumbers(
        update_window_dims=tuple(d for d in range(rank) if d != update_dim),
        inserted_window_dims=(),
        scatter_dims_to_operand_dims=tuple(d for d in range(rank) if d != x_dim),
        operand_batching_dims=(x_dim,), scatter_indices_batching_dims=(0,))
    # Each row writes into a different example, so no two windows overlap.
    return scatter_p.bind1(x, rows, update, dimension_numbers=dn, indices_are_sorted=False,
                          unique_indices=True, mode=GatherScatterMode.CLIP), x_dim


batch_rules.define(dynamic_update_slice_p, _dynamic_update_slice_batch)

# -- gather ------------------------------------------------------------------------------------

_GATHER_FIELDS = GatherDimensionNumbers._fields


def _gather_abstract_eval(x, indices, *, dimension_numbers, slice_sizes, indices_are_sorted,
                          unique_indices, mode, fill_value):
    name, avals = "gather", [x, indices]
    dn = dimension_numbers
    if not isinstance(dn, GatherDimensionNumbers):
        raise fail(name, avals, "dimension_numbers must be a jax.lax.GatherDimensionNumbers, "
                   f"not {type(dn).__name__}")
    for field in _GATHER_FIELDS:
        _check_ints(name, avals, field, getattr(dn, field))
    _check_ints(name, avals, "slice_sizes", slice_sizes)
    _check_mode(name, avals, mode)
    _check_flags(name, avals, indices_are_sorted=indices_are_sorted,
                 unique_indices=unique_indices)
    if not (fill_value is None or dt.is_python_scalar(fill_value)):
        raise fail(name, avals, f"fill_value must be a scalar, not {fill_value!r}")
    _check_index_array(name, avals, indices)

    index_vector_size = indices.shape[-1]
    batch_shape = indices.shape[:-1]  # one output position per index vector
    out_rank = len(batch_shape) + len(dn.offset_dims)
    _check_dims(name, avals, "offset_dims", dn.offset_dims, out_rank, sorted_=True)
    _check_dims(name, avals, "collapsed_slice_dims", dn.collapsed_slice_dims, x.ndim,
                sorted_=True)
    _check_dims(name, avals, "operand_batching_dims", dn.operand_batching_dims, x.ndim,
                sorted_=True)
    _check_dims(name, avals, "start_index_map", dn.start_index_map, x.ndim)
    _check_dims(name, avals, "start_indices_batching_dims", dn.start_indices_batching_dims,
                indices.ndim - 1, advice=_INDEX_VECTOR_NOT_BATCH)
    _check_disjoint(name, avals, "collapsed_slice_dims", dn.collapsed_slice_dims,
                    "operand_batching_dims", dn.operand_batching_dims)
    _check_disjoint(name, avals, "start_index_map", dn.start_index_map,
                    "operand_batching_dims", dn.operand_batching_dims)
    _check_length(name, avals, "start_index_map", dn.start_index_map, index_vector_size,
                  f"It maps each of the {index_vector_size} entries of an index vector (the "
                  f"last dimension of the indices) to an operand dimension.")
    _check_length(name, avals, "start_indices_batching_dims", dn.start_indices_batching_dims,
                  len(dn.operand_batching_dims), "Pair each operand batching dimension with "
                  "one indices batching dimension.")
    operand_batch = tuple(x.shape[d] for d in dn.operand_batching_dims)
    indices_batch = tuple(indices.shape[d] for d in dn.start_indices_batching_dims)
    if operand_batch != indices_batch:
        raise fail(name, avals, f"the operand's batching dimensions have sizes {operand_batch} "
                   f"but the indices' have {indices_batch}")

    _check_length(name, avals, "slice_sizes", slice_sizes, x.ndim,
                  "Give one slice size per operand dimension.")
    # An empty gather reads nothing, so XLA lets its slices overhang (jnp relies on it when
    # indexing an empty axis with an empty index array).
    reads = math.prod(indices.shape) != 0
    for d, (size, dim) in enumerate(zip(slice_sizes, x.shape)):
        if size < 0 or (reads and size > dim):
            raise fail(name, avals, f"slice size {size} of operand dimension {d} is outside "
                       f"[0, {dim}]")
    for d in dn.collapsed_slice_dims:
        if slice_sizes[d] != 1:
            raise fail(name, avals, f"operand dimension {d} is in collapsed_slice_dims, so its "
                       f"slice size must be 1, not {slice_sizes[d]}")
    for d in dn.operand_batching_dims:
        if slice_sizes[d] > 1:
            raise fail(name, avals, f"operand dimension {d} is in operand_batching_dims, so "
                       f"its slice size must be 1 (or 0), not {slice_sizes[d]}")
    window_sizes = [s for d, s in enumerate(slice_sizes)
                    if d not in dn.collapsed_slice_dims and d not in dn.operand_batching_dims]
    if len(window_sizes) != len(dn.offset_dims):
        raise fail(name, avals, f"{len(window_sizes)} operand dimension(s) are neither "
                   f"collapsed nor batched, but offset_dims {dn.offset_dims} places "
                   f"{len(dn.offset_dims)} in the output", "Each operand dimension must be "
                   "in exactly one of offset_dims, collapsed_slice_dims, operand_batching_dims.")

    windows, batches = iter(window_sizes), iter(batch_shape)
    shape = tuple(next(windows) if d in dn.offset_dims else next(batches)
                  for d in range(out_rank))
    return Aval(shape, x.dtype, x.weak_type)


def _gather_lower(x, indices, *, dimension_numbers, slice_sizes, indices_are_sorted,
                  unique_indices, mode, fill_value):
    return lax.gather(x, indices, dimension_numbers, slice_sizes,
                      indices_are_sorted=indices_are_sorted, unique_indices=unique_indices,
                      mode=mode, fill_value=fill_value)


gather_p = Primitive("gather", _gather_abstract_eval, _gather_lower)


def _gather_jvp(primals, tangents, **params):
    x, indices = primals
    t = tangents[0]
    ans = gather_p.bind1(x, indices, **params)
    if isinstance(t, Zero):
        return ans, Zero(aval_of(ans))
    # A filled window is a constant, so its tangent is 0 whatever the fill value.
    fill = 0 if params["mode"] == GatherScatterMode.FILL_OR_DROP else None
    return ans, gather_p.bind1(t, indices, **{**params, "fill_value": fill})


def _gather_transpose(ct, x, indices, *, dimension_numbers, slice_sizes, indices_are_sorted,
                      unique_indices, mode, fill_value):
    # The cotangent is scattered into strongly typed zeros of the operand's shape, as JAX's
    # rule makes them: a gathered weak operand gets a strong cotangent.
    base = zeros(Aval(x.aval.shape, x.aval.dtype))
    if math.prod(aval_of(ct).shape) == 0:
        # Nothing was read; an empty gather's windows may even overhang the operand.
        return [base, None]
    dn = dimension_numbers
    scatter_dn = ScatterDimensionNumbers(
        update_window_dims=dn.offset_dims, inserted_window_dims=dn.collapsed_slice_dims,
        scatter_dims_to_operand_dims=dn.start_index_map,
        operand_batching_dims=dn.operand_batching_dims,
        scatter_indices_batching_dims=dn.start_indices_batching_dims)
    # The scatter with the same mode sends each window back where it was read (clamped
    # with CLIP; dropped with FILL_OR_DROP exactly when the gather filled it); windows read
    # several times accumulate. As in JAX, an out-of-bounds window of a promised-in-bounds
    # gather was read clamped but its cotangent is dropped.
    x_ct = scatter_add_p.bind1(base, indices, ct, dimension_numbers=scatter_dn,
                              indices_are_sorted=indices_are_sorted,
                              unique_indices=unique_indices, mode=mode)
    return [x_ct, None]


jvp_rules.define(gather_p, _gather_jvp)
transpose_rules.define(gather_p, _gather_transpose)


def _gather_batch(axis_size, values, dims, *, dimension_numbers, slice_sizes,
                  indices_are_sorted, unique_indices, mode, fill_value):
    (x, indices), (x_dim, indices_dim) = values, dims
    dn = dimension_numbers
    flags = dict(unique_indices=unique_indices, mode=mode, fill_value=fill_value)
    if indices_dim is None:
        # The same indices for every example: the batch axis is one more window axis, read
        # whole (start 0 is never clamped nor filled). Windows appear in the output in the
        # operand's order, so it goes right after the window of the operand axis before it.
        windows_before = sum(d not in dn.collapsed_slice_dims
                             and d not in dn.operand_batching_dims for d in range(x_dim))
        offsets = dn.offset_dims
        out_dim = offsets[windows_before - 1] + 1 if windows_before else 0
        numbers = dn._replace(
            offset_dims=(*offsets[:windows_before], out_dim,
                         *(o + 1 for o in offsets[windows_before:])),
            collapsed_slice_dims=_shift_past(dn.collapsed_slice_dims, x_dim),
            start_index_map=_shift_past(dn.start_index_map, x_dim),
            operand_batching_dims=_shift_past(dn.operand_batching_dims, x_dim))
        sizes = (*slice_sizes[:x_dim], axis_size, *slice_sizes[x_dim:])
        return gather_p.bind1(x, indices, dimension_numbers=numbers, slice_sizes=sizes,
                             indices_are_sorted=indices_are_sorted, **flags), out_dim
    # Batched indices: their batch axis is one more batch axis of the indices, so one more
    # output axis among the non-window ones, in the same order.
    indices, indices_dim = _index_vector_last(indices, indices_dim)
    out_rank = len(dn.offset_dims) + aval_of(indices).ndim - 2  # one example's
    batch_positions = [p for p in range(out_rank) if p not in dn.offset_dims] + [out_rank]
    out_dim = batch_positions[indices_dim]
    numbers = dn._replace(offset_dims=_shift_past(dn.offset_dims, out_dim),
                          start_indices_batching_dims=_shift_past(
                              dn.start_indices_batching_dims, indices_dim))
    sizes = slice_sizes
    if x_dim is not None:
        # Both batched: example b's indices read example b's operand, so the two batch
        # axes pair up as batching dimensions (operand's listed in ascending order).
        operand_batch = _shift_past(dn.operand_batching_dims, x_dim)
        k = sum(d < x_dim for d in operand_batch)
        indices_batch = numbers.start_indices_batching_dims
        numbers = numbers._replace(
            collapsed_slice_dims=_shift_past(dn.collapsed_slice_dims, x_dim),
            start_index_map=_shift_past(dn.start_index_map, x_dim),
            operand_batching_dims=(*operand_batch[:k], x_dim, *operand_batch[k:]),
            start_indices_batching_dims=(*indices_batch[:k], indices_dim,
                                         *indices_batch[k:]))
        sizes = (*slice_sizes[:x_dim], 1, *slice_sizes[x_dim:])
    # Sorted per example does not make the batch's indices sorted.
    return gather_p.bind1(x, indices, dimension_numbers=numbers, slice_sizes=sizes,
                         indices_are_sorted=False, **flags), out_dim


batch_rules.define(gather_p, _gather_batch)

# -- scatter, scatter_add, scatter_mul, scatter_min, scatter_max --------------------------------

_SCATTER_FIELDS = ScatterDimensionNumbers._fields


def _scatter_abstract_eval(name, kind, x, indices, updates, *, dimension_numbers,
                           indices_are_sorted, unique_indices, mode):
    avals = [x, indices, updates]
    dn = dimension_numbers
    if not isinstance(dn, ScatterDimensionNumbers):
        raise fail(name, avals, "dimension_numbers must be a jax.lax.ScatterDimensionNumbers, "
                   f"not {type(dn).__name__}")
    for field in _SCATTER_FIELDS:
        _check_ints(name, avals, field, getattr(dn, field))
    _check_mode(name, avals, mode)
    _check_flags(name, avals, indices_are_sorted=indices_are_sorted,
                 unique_indices=unique_indices)
    _check_index_array(name, avals, indices)
    if updates.dtype != x.dtype:
        raise fail(name, avals, "the updates' dtype differs from the operand's",
                   "Convert with fgrad.lax.convert_element_type.")
    check_dtype(name, avals, kind, [x])

    index_vector_size = indices.shape[-1]
    batch_shape = indices.shape[:-1]  # one update window per index vector
    window_dims = dn.update_window_dims
    expected_rank = len(batch_shape) + len(window_dims)
    if updates.ndim != expected_rank:
        raise fail(name, avals, f"the updates have rank {updates.ndim}, but {len(batch_shape)} "
                   f"index batch dimension(s) plus {len(window_dims)} update_window_dims make "
                   f"{expected_rank}")
    _check_dims(name, avals, "update_window_dims", window_dims, updates.ndim, sorted_=True)
    _check_dims(name, avals, "inserted_window_dims", dn.inserted_window_dims, x.ndim,
                sorted_=True)
    _check_dims(name, avals, "operand_batching_dims", dn.operand_batching_dims, x.ndim,
                sorted_=True)
    _check_dims(name, avals, "scatter_dims_to_operand_dims", dn.scatter_dims_to_operand_dims,
                x.ndim)
    _check_dims(name, avals, "scatter_indices_batching_dims",
                dn.scatter_indices_batching_dims, indices.ndim - 1,
                advice=_INDEX_VECTOR_NOT_BATCH)
    _check_disjoint(name, avals, "inserted_window_dims", dn.inserted_window_dims,
                    "operand_batching_dims", dn.operand_batching_dims)
    _check_disjoint(name, avals, "scatter_dims_to_operand_dims",
                    dn.scatter_dims_to_operand_dims, "operand_batching_dims",
                    dn.operand_batching_dims)
    _check_length(name, avals, "scatter_dims_to_operand_dims", dn.scatter_dims_to_operand_dims,
                  index_vector_size, f"It maps each of the {index_vector_size} entries of an "
                  f"index vector (the last dimension of the indices) to an operand dimension.")
    _check_length(name, avals, "scatter_indices_batching_dims",
                  dn.scatter_indices_batching_dims, len(dn.operand_batching_dims),
                  "Pair each operand batching dimension with one indices batching dimension.")
    operand_batch = tuple(x.shape[d] for d in dn.operand_batching_dims)
    indices_batch = tuple(indices.shape[d] for d in dn.scatter_indices_batching_dims)
    if operand_batch != indices_batch:
        raise fail(name, avals, f"the operand's batching dimensions have sizes {operand_batch} "
                   f"but the indices' have {indices_batch}")

    operand_window = [size for d, size in enumerate(x.shape)
                      if d not in dn.inserted_window_dims and d not in dn.operand_batching_dims]
    if len(operand_window) != len(window_dims):
        raise fail(name, avals, f"{len(operand_window)} operand dimension(s) are neither "
                   f"inserted nor batched, but update_window_dims {window_dims} has "
                   f"{len(window_dims)}", "Each operand dimension must be in exactly one of "
                   "update_window_dims (through the updates), inserted_window_dims, "
                   "operand_batching_dims.")
    for u, size in zip(window_dims, operand_window):
        if updates.shape[u] > size:
            raise fail(name, avals, f"update window dimension {u} has size {updates.shape[u]}, "
                       f"larger than the operand dimension it writes into ({size})")
    scatter_sizes = tuple(s for d, s in enumerate(updates.shape) if d not in window_dims)
    if scatter_sizes != batch_shape:
        raise fail(name, avals, f"the updates' non-window dimensions have sizes "
                   f"{scatter_sizes}, but the indices' batch shape is {batch_shape}",
                   "They must match: one update window per index vector.")
    return x


def _scatter_primitive(name: str, lax_scatter, kind: str) -> Primitive:
    """A scatter primitive combining old and new values with `lax_scatter`'s operation."""

    def abstract_eval(x, indices, updates, **params):
        return _scatter_abstract_eval(name, kind, x, indices, updates, **params)

    def lower(x, indices, updates, *, dimension_numbers, indices_are_sorted, unique_indices,
              mode):
        return lax_scatter(x, indices, updates, dimension_numbers,
                           indices_are_sorted=indices_are_sorted,
                           unique_indices=unique_indices, mode=mode)

    return Primitive(name, abstract_eval, lower)


# The rules below relate a scatter's updates to its operand through the gather with the
# mirrored dimension numbers: it reads, for every update element, the operand element that
# update lands on.


def _read_back(values, indices, updates_shape, dn: ScatterDimensionNumbers, mode, *,
               fill_value=0, indices_are_sorted=False, unique_indices=False):
    """For every update element, the element of the operand-shaped `values` it lands on."""
    gather_dn = GatherDimensionNumbers(
        offset_dims=dn.update_window_dims, collapsed_slice_dims=dn.inserted_window_dims,
        start_index_map=dn.scatter_dims_to_operand_dims,
        operand_batching_dims=dn.operand_batching_dims,
        start_indices_batching_dims=dn.scatter_indices_batching_dims)
    window = iter(updates_shape[d] for d in dn.update_window_dims)
    slice_sizes = tuple(
        1 if d in dn.inserted_window_dims or d in dn.operand_batching_dims else next(window)
        for d in range(aval_of(values).ndim))
    return gather(values, indices, gather_dn, slice_sizes, indices_are_sorted=indices_are_sorted,
                  unique_indices=unique_indices, mode=mode, fill_value=fill_value)


def _landing_mode(mode):
    """The gather mode that reads back exactly the updates a scatter in `mode` applied.

    CLIP moves out-of-bounds windows in, the same way for gather and scatter; the other
    modes drop them from a scatter, so reading back fills them instead of clamping.
    """
    return mode if mode == GatherScatterMode.CLIP else GatherScatterMode.FILL_OR_DROP


def _cotangent_of_updates(ct, indices, updates_aval, dn, mode, indices_are_sorted,
                          unique_indices):
    # The scatter's own mode, as in JAX: so a promised-in-bounds scatter, which drops an
    # out-of-bounds update, still credits it through the clamping gather.
    if math.prod(updates_aval.shape) == 0:
        return zeros(updates_aval)
    return _read_back(ct, indices, updates_aval.shape, dn, mode,
                      indices_are_sorted=indices_are_sorted, unique_indices=unique_indices)


def _scatter_winners(x_shape, indices, updates_shape, params):
    """Which operand elements a scatter (overwriting) keeps, and which update elements it
    writes (bool arrays of the operand's and the updates' shapes).

    With repeated indices XLA picks one of the colliding updates, unspecified which: a
    scatter of distinct ids with the same indices asks it, and reading the ids back tells
    every update whether it was the one written.
    """
    dn = params["dimension_numbers"]
    batch_dims = tuple(d for d in range(len(updates_shape)) if d not in dn.update_window_dims)
    batch_shape = tuple(updates_shape[d] for d in batch_dims)
    ids = fl.reshape(fl.iota(np.int32, math.prod(batch_shape)), batch_shape)
    ids = fl.broadcast_in_dim(ids, updates_shape, batch_dims)  # one id per update window
    unwritten = full(x_shape, -1, np.int32)
    landed = scatter_p.bind1(unwritten, indices, ids, **params)
    read = _read_back(landed, indices, updates_shape, dn, _landing_mode(params["mode"]),
                      fill_value=-1)
    return eq(landed, unwritten), eq(read, ids)


def _count_landing(x_aval, indices, weights, params):
    """Per operand element, the sum of the `weights` (0 or 1, in the operand's dtype) of the
    update elements landing on it."""
    return scatter_add_p.bind1(zeros(Aval(x_aval.shape, x_aval.dtype, False)), indices, weights,
                              **params)


def _scatter_batch(prim: Primitive, axis_size, values, dims, *, dimension_numbers,
                   indices_are_sorted, unique_indices, mode):
    """The batching rule of every scatter primitive, whatever its combining operation."""
    (x, indices, updates), (x_dim, indices_dim, updates_dim) = values, dims
    dn = dimension_numbers
    if x_dim is None:
        # Examples write different values, so each needs its own copy of the operand.
        x, x_dim = to_front(x, None, axis_size), 0
    windows = dn.update_window_dims
    numbers = dn._replace(
        inserted_window_dims=_shift_past(dn.inserted_window_dims, x_dim),
        scatter_dims_to_operand_dims=_shift_past(dn.scatter_dims_to_operand_dims, x_dim),
        operand_batching_dims=_shift_past(dn.operand_batching_dims, x_dim))
    if indices_dim is None:
        # The same indices for every example: the operand's batch axis is one more window
        # axis, written whole from 0, so the updates carry it as a window axis (in the
        # operand's order among the windows).
        windows_before = sum(d not in dn.inserted_window_dims
                             and d not in dn.operand_batching_dims for d in range(x_dim))
        at = windows[windows_before - 1] + 1 if windows_before else 0
        numbers = numbers._replace(update_window_dims=(
            *windows[:windows_before], at, *(u + 1 for u in windows[windows_before:])))
    else:
        # Batched indices: example b's index vectors write into example b's operand, so
        # the batch axes pair up as batching dimensions, and the updates carry the batch
        # as one more scatter (non-window) axis, in the indices' order.
        indices, indices_dim = _index_vector_last(indices, indices_dim)
        updates_rank = aval_of(updates).ndim - (updates_dim is not None)  # one example's
        scatter_positions = [p for p in range(updates_rank) if p not in windows]
        at = (scatter_positions + [updates_rank])[indices_dim]
        operand_batch = numbers.operand_batching_dims
        k = sum(d < x_dim for d in operand_batch)
        indices_batch = _shift_past(dn.scatter_indices_batching_dims, indices_dim)
        numbers = numbers._replace(
            update_window_dims=_shift_past(windows, at),
            operand_batching_dims=(*operand_batch[:k], x_dim, *operand_batch[k:]),
            scatter_indices_batching_dims=(*indices_batch[:k], indices_dim,
                                           *indices_batch[k:]))
        indices_are_sorted = False  # sorted per example is not sorted across the batch
    updates = _batch_at(updates, updates_dim, at, axis_size)
    return prim.bind1(x, indices, updates, dimension_numbers=numbers,
                     indices_are_sorted=indices_are_sorted, unique_indices=unique_indices,
                     mode=mode), x_dim


# -- scatter_add: linear in the operand and the updates jointly

scatter_add_p = _scatter_primitive("scatter_add", lax.scatter_add, "number")


def _scatter_add_jvp(primals, tangents, **params):
    x, indices, updates = primals
    t_x, _, t_updates = tangents
    ans = scatter_add_p.bind1(x, indices, updates, **params)
    if isinstance(t_updates, Zero):
        return ans, t_x  # every operand element passes through once, unscaled
    return ans, scatter_add_p.bind1(instantiate(t_x), indices, t_updates, **params)


def _scatter_add_transpose(ct, x, indices, updates, *, dimension_numbers, indices_are_sorted,
                           unique_indices, mode):
    x_ct = ct if is_undefined(x) else None
    updates_ct = (_cotangent_of_updates(ct, indices, updates.aval, dimension_numbers, mode,
                                        indices_are_sorted, unique_indices)
                  if is_undefined(updates) else None)
    return [x_ct, None, updates_ct]


jvp_rules.define(scatter_add_p, _scatter_add_jvp)
transpose_rules.define(scatter_add_p, _scatter_add_transpose)
batch_rules.define(scatter_add_p, partial(_scatter_batch, scatter_add_p))

# -- scatter (overwriting): linear in the operand and the updates jointly, but with
# repeated indices only the update that was written may receive a derivative.

scatter_p = _scatter_primitive("scatter", lax.scatter, "any")


def _scatter_jvp(primals, tangents, **params):
    x, indices, updates = primals
    t_x, _, t_updates = tangents
    if params["unique_indices"]:
        ans = scatter_p.bind1(x, indices, updates, **params)
        return ans, scatter_p.bind1(instantiate(t_x), indices, instantiate(t_updates), **params)
    # Mask off the overwritten operand elements and the updates that lost a collision, then
    # add: primal and tangent agree on the winner by construction (two scatters need not),
    # and reverse mode needs only scatter_add's transpose.
    x_aval, updates_aval = aval_of(x), aval_of(updates)
    kept, written = _scatter_winners(x_aval.shape, indices, updates_aval.shape, params)
    ans = scatter_add_p.bind1(select_n(kept, zeros(x_aval), x), indices,
                             select_n(written, zeros(updates_aval), updates), **params)
    t_kept = Zero(x_aval) if isinstance(t_x, Zero) else select_n(kept, zeros(x_aval), t_x)
    if isinstance(t_updates, Zero):
        return ans, t_kept
    t_written = select_n(written, zeros(updates_aval), t_updates)
    return ans, scatter_add_p.bind1(instantiate(t_kept), indices, t_written, **params)


def _scatter_transpose(ct, x, indices, updates, **params):
    dn = params["dimension_numbers"]
    updates_aval = updates.aval if is_undefined(updates) else aval_of(updates)
    # The overwritten operand elements never reach the output.
    x_ct = (scatter_p.bind1(ct, indices, zeros(updates_aval), **params)
            if is_undefined(x) else None)
    updates_ct = None
    if is_undefined(updates):
        updates_ct = _cotangent_of_updates(ct, indices, updates_aval, dn, params["mode"],
                                           params["indices_are_sorted"],
                                           params["unique_indices"])
        if not params["unique_indices"] and math.prod(updates_aval.shape):
            # JAX refuses this case; the update that lost a collision had no effect.
            _, written = _scatter_winners(aval_of(ct).shape, indices, updates_aval.shape,
                                          params)
            updates_ct = select_n(written, zeros(aval_of(updates_ct)), updates_ct)
    return [x_ct, None, updates_ct]


jvp_rules.define(scatter_p, _scatter_jvp)
transpose_rules.define(scatter_p, _scatter_transpose)
batch_rules.define(scatter_p, partial(_scatter_batch, scatter_p))

# -- scatter_mul: linear in the operand alone

scatter_mul_p = _scatter_primitive("scatter_mul", lax.scatter_mul, "number")


def _other_factors(x_aval, indices, updates, params):
    """For every update element, the product of the *other* update elements that multiply
    the same operand element, without dividing by zero.

    The nonzero factors are multiplied out and the element's own divided away; zeros are
    counted. One other zero makes the product zero, but written as the sum of the zero
    updates there, so that its derivative (the other zero's tangent times the rest) stays
    right; with two or more the product and its first derivative are zero.
    """
    dn, mode = params["dimension_numbers"], params["mode"]
    aval = aval_of(updates)
    strong = Aval(aval.shape, aval.dtype, False)
    x_strong = Aval(x_aval.shape, x_aval.dtype, False)
    is_zero = eq(updates, zeros(strong))
    ones = full(aval.shape, 1, aval.dtype)
    nonzero = select_n(is_zero, updates, ones)
    zero_part = select_n(is_zero, zeros(strong), updates)  # 0, carrying the zeros' tangents

    def per_update(total):
        return _read_back(total, indices, aval.shape, dn, _landing_mode(mode))

    nonzero_product = per_update(scatter_mul_p.bind1(full(x_aval.shape, 1, x_aval.dtype),
                                                    indices, nonzero, **params))
    zero_count = convert_element_type(is_zero, aval.dtype)
    other_zeros = sub(per_update(_count_landing(x_aval, indices, zero_count, params)),
                      zero_count)
    other_zero_sum = sub(per_update(scatter_add_p.bind1(zeros(x_strong), indices, zero_part,
                                                       **params)), zero_part)
    zero_factor = select_n(eq(other_zeros, zeros(strong)),
                           select_n(eq(other_zeros, ones), zeros(strong), other_zero_sum),
                           ones)
    return mul(div(nonzero_product, nonzero), zero_factor)


def _scatter_mul_jvp(primals, tangents, **params):
    x, indices, updates = primals
    t_x, _, t_updates = tangents
    ans = scatter_mul_p.bind1(x, indices, updates, **params)
    t_out = Zero(aval_of(ans))
    if not isinstance(t_x, Zero):
        t_out = scatter_mul_p.bind1(t_x, indices, updates, **params)
    if not isinstance(t_updates, Zero):
        x_aval = aval_of(x)
        if not params["unique_indices"]:
            # JAX refuses this unless the indices are promised unique; the product rule
            # over the other factors handles repeats.
            t_updates = mul(t_updates, _other_factors(x_aval, indices, updates, params))
        spread = scatter_add_p.bind1(zeros(x_aval), indices, t_updates, **params)
        t_out = add_tangents(t_out, mul(x, spread))
    return ans, t_out


def _scatter_mul_transpose(ct, x, indices, updates, **params):
    if is_undefined(updates):
        raise TypeError("scatter_mul is linear in its operand only, not in its updates")
    return [scatter_mul_p.bind1(ct, indices, updates, **params), None, None]


jvp_rules.define(scatter_mul_p, _scatter_mul_jvp)
transpose_rules.define(scatter_mul_p, _scatter_mul_transpose)
batch_rules.define(scatter_mul_p, partial(_scatter_batch, scatter_mul_p))

# -- scatter_min, scatter_max: like max and reduce_max, the tangent at an element is the
# average over the tied contenders (the operand element and the updates landing there that
# equal the result).

scatter_min_p = _scatter_primitive("scatter_min", lax.scatter_min, "any")
scatter_max_p = _scatter_primitive("scatter_max", lax.scatter_max, "any")


def _scatter_extremum_jvp(prim, primals, tangents, **params):
    x, indices, updates = primals
    t_x, _, t_updates = tangents
    ans = prim.bind1(x, indices, updates, **params)
    x_aval, updates_aval = aval_of(x), aval_of(updates)
    dtype, dn = x_aval.dtype, params["dimension_numbers"]
    landed = _read_back(ans, indices, updates_aval.shape, dn, _landing_mode(params["mode"]))
    x_won, update_won = eq(x, ans), eq(updates, landed)
    winners = add(convert_element_type(x_won, dtype),
                  _count_landing(x_aval, indices, convert_element_type(update_won, dtype),
                                 params))
    share = div(full(x_aval.shape, 1, dtype), winners)  # only read where winners > 0
    t_out = Zero(aval_of(ans))
    if not isinstance(t_x, Zero):
        # An element no update reached keeps its tangent even when it is NaN (so x != ans);
        # a NaN result that an update reached has no winner and gets tangent 0, as in JAX.
        touched = _count_landing(x_aval, indices, full(updates_aval.shape, 1, dtype),
                                 params)
        # Coefficients take the operand's weak type, so the tangent is weak exactly when
        # t_x is (as JAX's, which scatters into t_x).
        x_coef = select_n(eq(touched, full(x_aval.shape, 0, dtype)),
                          select_n(x_won, zeros(x_aval), convert_element_type(
                              share, dtype, weak_type=x_aval.weak_type)),
                          full(x_aval.shape, 1, dtype, weak_type=x_aval.weak_type))
        t_out = mul(t_x, x_coef)
    if isinstance(t_updates, Zero):
        return ans, t_out
    update_share = _read_back(share, indices, updates_aval.shape, dn,
                              _landing_mode(params["mode"]))
    update_coef = select_n(update_won, zeros(updates_aval), convert_element_type(
        update_share, dtype, weak_type=updates_aval.weak_type))
    return ans, scatter_add_p.bind1(instantiate(t_out), indices, mul(t_updates, update_coef),
                                   **params)


jvp_rules.define(scatter_min_p, partial(_scatter_extremum_jvp, scatter_min_p))
jvp_rules.define(scatter_max_p, partial(_scatter_extremum_jvp, scatter_max_p))
transpose_rules.absent(scatter_min_p, "it is not linear in any operand")
transpose_rules.absent(scatter_max_p, "it is not linear in any operand")
batch_rules.define(scatter_min_p, partial(_scatter_batch, scatter_min_p))
batch_rules.define(scatter_max_p, partial(_scatter_batch, scatter_max_p))

# -- normalising the user's arguments into hashable params ---------------------------------------


def _static_ints(values):
    """A tuple of Python ints; anything else is left for the shape rule to reject."""
    try:
        items = tuple(values)
    except TypeError:
        return values
    return tuple(int(v) if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else v
                 for v in items)


def _dimension_numbers(dn, cls):
    if not isinstance(dn, cls):
        return dn
    return cls(*(_static_ints(field) for field in dn))


def _mode(mode):
    if isinstance(mode, GatherScatterMode):
        return mode
    try:
        return GatherScatterMode.from_any(mode)
    except ValueError:
        return mode  # the shape rule explains what is accepted


def _scalar_param(value):
    if value is None or dt.is_python_scalar(value):
        return value
    if np.ndim(value) == 0:
        return np.asarray(value).item()
    return value


def _index_dtype(starts) -> np.dtype:
    for s in starts:
        if not dt.is_python_scalar(s):
            return aval_of(s).dtype
    return dt.default_int()


def _element(vector, k: int):
    """vector[k] of a traced or JAX 1-D array, as a rank-0 gather."""
    return gather(vector, np.array([k], np.int32),
                  GatherDimensionNumbers(offset_dims=(), collapsed_slice_dims=(0,),
                                         start_index_map=(0,)),
                  (1,), mode=GatherScatterMode.PROMISE_IN_BOUNDS)


def _start_indices(operand, start_indices, allow_negative_indices):
    """One rank-0 start operand per dimension, Python ints converted to the index dtype.

    With allow_negative_indices (per dimension, as in jax.lax) a negative start counts from
    the end of its dimension; the primitives themselves only clamp.
    """
    if isinstance(start_indices, np.ndarray):
        starts = list(start_indices) if start_indices.ndim == 1 else [start_indices]
    elif hasattr(start_indices, "shape"):
        shape = aval_of(start_indices).shape
        starts = ([_element(start_indices, k) for k in range(shape[0])] if len(shape) == 1
                  else [start_indices])
    else:
        starts = list(start_indices)
    if isinstance(allow_negative_indices, bool):
        allow_negative_indices = [allow_negative_indices] * len(starts)
    dims = aval_of(operand).shape
    dtype = _index_dtype(starts)
    out = []
    for k, s in enumerate(starts):
        wrap = k < len(dims) and k < len(allow_negative_indices) and allow_negative_indices[k]
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            aval = aval_of(s)
            if wrap and aval.shape == () and np.issubdtype(aval.dtype, np.signedinteger):
                size = np.array(dims[k]).astype(aval.dtype)[()]
                s = select_n(lt(s, aval.dtype.type(0)), s, add(s, size))
            out.append(s)
            continue
        if isinstance(s, np.integer):  # keeps its own dtype, as in jax.lax
            out.append(np.array(int(s) + dims[k]).astype(s.dtype)[()] if wrap and s < 0 else s)
            continue
        if wrap and s < 0:
            s += dims[k]
        if dt.is_integer(dtype) and np.iinfo(dtype).min <= s <= np.iinfo(dtype).max:
            out.append(dtype.type(s))
        else:
            out.append(s)  # does not fit: the shape rule reports the dtype mismatch
    return out


# -- the functions users call (jax.lax signatures) ---------------------------------------------


def slice(operand, start_indices: Sequence[int], limit_indices: Sequence[int],  # noqa: A001
          strides: Sequence[int] | None = None):
    """operand[start:limit:stride] in every dimension; bounds must lie inside the operand."""
    if strides is None:
        strides = (1,) * len(aval_of(operand).shape)
    return slice_p.bind1(operand, start_indices=_static_ints(start_indices),
                        limit_indices=_static_ints(limit_indices),
                        strides=_static_ints(strides))


def dynamic_slice(operand, start_indices, slice_sizes, *,
                  allow_negative_indices: bool | Sequence[bool] = True):
    """A slice of static size at traced start indices, moved back inside the operand."""
    starts = _start_indices(operand, start_indices, allow_negative_indices)
    return dynamic_slice_p.bind1(operand, *starts, slice_sizes=_static_ints(slice_sizes))


def dynamic_update_slice(operand, update, start_indices, *,
                         allow_negative_indices: bool | Sequence[bool] = True):
    """operand with `update` written at traced start indices, moved back inside the operand."""
    starts = _start_indices(operand, start_indices, allow_negative_indices)
    return dynamic_update_slice_p.bind1(operand, update, *starts)


def gather(operand, start_indices, dimension_numbers: GatherDimensionNumbers, slice_sizes, *,
           indices_are_sorted: bool = False, unique_indices: bool = False, mode=None,
           fill_value=None):
    """XLA's gather; without a mode, indices are promised in bounds (as in jax.lax)."""
    mode = _mode(GatherScatterMode.PROMISE_IN_BOUNDS if mode is None else mode)
    # Only FILL_OR_DROP reads fill_value; dropping it otherwise keeps equal gathers equal.
    fill_value = _scalar_param(fill_value) if mode == GatherScatterMode.FILL_OR_DROP else None
    return gather_p.bind1(operand, start_indices,
                         dimension_numbers=_dimension_numbers(dimension_numbers,
                                                              GatherDimensionNumbers),
                         slice_sizes=_static_ints(slice_sizes),
                         indices_are_sorted=bool(indices_are_sorted),
                         unique_indices=bool(unique_indices), mode=mode, fill_value=fill_value)


def _scatter_function(prim: Primitive, doc: str):
    def scatter_function(operand, scatter_indices, updates,
                         dimension_numbers: ScatterDimensionNumbers, *,
                         indices_are_sorted: bool = False, unique_indices: bool = False,
                         mode=None):
        # Unlike gather, jax.lax reads a missing scatter mode as FILL_OR_DROP.
        return prim.bind1(operand, scatter_indices, updates,
                         dimension_numbers=_dimension_numbers(dimension_numbers,
                                                              ScatterDimensionNumbers),
                         indices_are_sorted=bool(indices_are_sorted),
                         unique_indices=bool(unique_indices), mode=_mode(mode))

    scatter_function.__name__ = scatter_function.__qualname__ = prim.name
    scatter_function.__doc__ = doc
    return scatter_function


scatter = _scatter_function(
    scatter_p, "XLA's scatter, overwriting: with repeated indices one update wins, unspecified "
    "which.")
scatter_add = _scatter_function(
    scatter_add_p, "XLA's scatter, adding: updates at repeated indices accumulate.")
scatter_mul = _scatter_function(
    scatter_mul_p, "XLA's scatter, multiplying: updates at repeated indices accumulate.")
scatter_min = _scatter_function(
    scatter_min_p, "XLA's scatter, keeping the minimum of the old value and the updates.")
scatter_max = _scatter_function(
    scatter_max_p, "XLA's scatter, keeping the maximum of the old value and the updates.")
