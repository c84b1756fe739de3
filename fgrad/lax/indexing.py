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
from typing import Sequence

import jax.numpy as jnp
import numpy as np
from jax import lax

from fgrad.core import Aval, Primitive, aval_of
from fgrad.core import dtypes as dt
from fgrad.lax._rules import check_dtype, fail
from fgrad.lax.elementwise import add, lt, select_n

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


scatter_p = _scatter_primitive("scatter", lax.scatter, "any")
scatter_add_p = _scatter_primitive("scatter_add", lax.scatter_add, "number")
scatter_mul_p = _scatter_primitive("scatter_mul", lax.scatter_mul, "number")
scatter_min_p = _scatter_primitive("scatter_min", lax.scatter_min, "any")
scatter_max_p = _scatter_primitive("scatter_max", lax.scatter_max, "any")

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
    return slice_p.bind(operand, start_indices=_static_ints(start_indices),
                        limit_indices=_static_ints(limit_indices),
                        strides=_static_ints(strides))


def dynamic_slice(operand, start_indices, slice_sizes, *,
                  allow_negative_indices: bool | Sequence[bool] = True):
    """A slice of static size at traced start indices, moved back inside the operand."""
    starts = _start_indices(operand, start_indices, allow_negative_indices)
    return dynamic_slice_p.bind(operand, *starts, slice_sizes=_static_ints(slice_sizes))


def dynamic_update_slice(operand, update, start_indices, *,
                         allow_negative_indices: bool | Sequence[bool] = True):
    """operand with `update` written at traced start indices, moved back inside the operand."""
    starts = _start_indices(operand, start_indices, allow_negative_indices)
    return dynamic_update_slice_p.bind(operand, update, *starts)


def gather(operand, start_indices, dimension_numbers: GatherDimensionNumbers, slice_sizes, *,
           indices_are_sorted: bool = False, unique_indices: bool = False, mode=None,
           fill_value=None):
    """XLA's gather; without a mode, indices are promised in bounds (as in jax.lax)."""
    mode = _mode(GatherScatterMode.PROMISE_IN_BOUNDS if mode is None else mode)
    # Only FILL_OR_DROP reads fill_value; dropping it otherwise keeps equal gathers equal.
    fill_value = _scalar_param(fill_value) if mode == GatherScatterMode.FILL_OR_DROP else None
    return gather_p.bind(operand, start_indices,
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
        return prim.bind(operand, scatter_indices, updates,
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
