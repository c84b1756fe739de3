"""NumPy indexing for traced values: `x[idx]` and `x.at[idx].set/add/multiply/min/max/get`.

An index is first normalised into one entry per position (Ellipsis expanded, boolean masks
turned into the integer arrays of their True positions). Then `x[idx]` takes the cheapest
route that can express it:

- only Python ints, slices, None and Ellipsis: one static `slice`, a `rev` for negative
  steps, and a `reshape` that drops the int axes and adds the None axes;
- also traced integer scalars: the same, then a `dynamic_slice` of size 1 on those axes;
- integer arrays: one `gather`, laid out by NumPy's advanced-indexing rule.

Updates always go through one `scatter`, built from the same gather layout (JAX's way: a
scatter is the transpose of the gather that reads the same elements).

Out-of-bounds reads are clamped and out-of-bounds updates are dropped, as in jax.numpy; a
negative index counts from the end once (so -n-1 is out of bounds).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from fgrad.core import Tracer, aval_of
from fgrad.core import dtypes as dt
from fgrad.core.errors import at_user_line
from fgrad.lax import indexing as li
from fgrad.lax import shapes as ls
from fgrad.numpy._core import (
    as_array, broadcast_shapes, broadcast_to_shape, check_arraylike, constant, convert,
    is_arraylike, promote_dtypes,
)
from fgrad.numpy._math import add, less, maximum, minimum, multiply, where

# The public names, gathered by fgrad/numpy/__init__.py.
__all__ = []


class _Entry(NamedTuple):
    """One position of a normalised index: 'new' (None), 'slice', 'int' (a static int),
    'dyn' (a traced or JAX integer scalar) or 'array' (an integer array)."""

    kind: str
    dim: int = -1  # the operand axis it indexes; -1 for 'new'
    value: Any = None  # the int, the scalar or the array
    start: int = 0  # slices: the first element, the step and the number of elements
    step: int = 1
    length: int = 0


def _index_error(message: str) -> IndexError:
    return IndexError(at_user_line(f"fgrad.numpy indexing: {message}"))


def _classify(item) -> tuple:
    if item is None:
        return ("new",)
    if item is Ellipsis:
        return ("ellipsis",)
    if isinstance(item, slice):
        return ("slice", item)
    if isinstance(item, (bool, np.bool_)):
        raise TypeError(at_user_line(
            "fgrad.numpy indexing: a boolean scalar is not a valid index. Use an integer, a "
            "slice, or a boolean array of the indexed shape."))
    if isinstance(item, (int, np.integer)):
        return ("int", int(item))
    if isinstance(item, (list, tuple)):
        raise TypeError(at_user_line(
            "fgrad.numpy indexing: a list is not a valid index (JAX's rule: it would be "
            "ambiguous). Index with fgrad.numpy.array(seq) instead of seq, or with a tuple "
            "for several axes."))
    if not is_arraylike(item) or type(item) in (float, complex):
        raise TypeError(at_user_line(
            f"fgrad.numpy indexing: {item!r:.60} is not a valid index. Use integers, slices, "
            f"None, Ellipsis, or integer or boolean arrays."))
    aval = aval_of(item)
    if dt.is_bool(aval.dtype):
        return ("mask", _concrete_mask(item))
    if not dt.is_integer(aval.dtype):
        raise TypeError(at_user_line(
            f"fgrad.numpy indexing: an index array must hold integers or booleans, not "
            f"{aval.dtype.name}."))
    if aval.ndim == 0:
        if isinstance(item, (np.ndarray, np.generic)):
            return ("int", int(item))
        return ("dyn", item)
    return ("array", item)


def _concrete_mask(mask) -> np.ndarray:
    try:
        if isinstance(mask, Tracer):
            return np.asarray(mask.concrete())
        return np.asarray(mask)
    except Exception:
        raise TypeError(at_user_line(
            "fgrad.numpy indexing: a boolean mask must be concrete, because the result's "
            "shape depends on how many of its values are True; a traced mask is not. Use "
            "fgrad.numpy.where(mask, x, other) to select elementwise instead.")) from None


def normalize(index, shape: tuple[int, ...]) -> list[_Entry]:
    """One entry per index position, Ellipsis expanded and masks turned into integer arrays."""
    items = [_classify(i) for i in (index if isinstance(index, tuple) else (index,))]
    if sum(item[0] == "ellipsis" for item in items) > 1:
        raise _index_error("an index can only have a single ellipsis ('...').")
    used = sum(item[1].ndim if item[0] == "mask" else 1 for item in items
               if item[0] not in ("new", "ellipsis"))
    if used > len(shape):
        raise _index_error(f"too many indices: an array of shape {shape} was indexed with "
                           f"{used} indices.")
    if not any(item[0] == "ellipsis" for item in items):
        items.append(("ellipsis",))
    entries: list[_Entry] = []
    dim = 0
    for item in items:
        kind = item[0]
        if kind == "new":
            entries.append(_Entry("new"))
        elif kind == "ellipsis":
            for _ in range(len(shape) - used):
                entries.append(_slice_entry(slice(None), dim, shape[dim]))
                dim += 1
        elif kind == "slice":
            entries.append(_slice_entry(item[1], dim, shape[dim]))
            dim += 1
        elif kind == "mask":
            mask = item[1]
            if mask.ndim == 0 or mask.shape != shape[dim:dim + mask.ndim]:
                raise _index_error(f"a boolean index of shape {mask.shape} does not match the "
                                   f"indexed axes, of shape {shape[dim:dim + mask.ndim]}.")
            for positions in np.nonzero(mask):
                entries.append(_Entry("array", dim, positions.astype(np.int32)))
                dim += 1
        else:
            entries.append(_Entry(kind, dim, item[1]))
            dim += 1
    return entries


def _slice_entry(s: slice, dim: int, size: int) -> _Entry:
    try:
        start, stop, step = s.indices(size)
    except TypeError:
        raise TypeError(at_user_line(
            f"fgrad.numpy indexing: slice bounds must be static integers or None, not {s}. For "
            f"a traced start use fgrad.lax.dynamic_slice.")) from None
    return _Entry("slice", dim, None, start, step, len(range(start, stop, step)))


# -- x[idx] ------------------------------------------------------------------------------------


def getitem(x, index):
    aval = aval_of(x)
    entries = normalize(index, aval.shape)
    kinds = {e.kind for e in entries}
    if "array" in kinds:
        # JAX's default for x[idx]: indices are promised in bounds (XLA clamps the read,
        # and the gradient of an out-of-bounds read is dropped), so gradients match JAX.
        return _gather(x, entries, li.GatherScatterMode.PROMISE_IN_BOUNDS, None)
    return _slice(x, aval, entries)


def _slice(x, aval, entries: list[_Entry]):
    """Basic indexing (ints, slices, None; traced scalars through dynamic_slice)."""
    starts, limits, strides, reversed_dims = [], [], [], []
    dynamic_starts: list = []
    for e in entries:
        if e.kind == "new":
            continue
        size = aval.shape[e.dim]
        if e.kind == "slice":
            if e.length == 0:
                start, limit, stride = 0, 0, 1
            elif e.step > 0:
                start, limit, stride = e.start, e.start + (e.length - 1) * e.step + 1, e.step
            else:
                start = e.start + (e.length - 1) * e.step
                limit, stride = e.start + 1, -e.step
                if e.length > 1:
                    reversed_dims.append(e.dim)
            dynamic_starts.append(0)
        elif e.kind == "int":
            if size == 0:
                raise _index_error(f"index {e.value} is out of bounds for axis {e.dim} with "
                                   f"size 0.")
            index = e.value + size if e.value < 0 else e.value
            index = min(max(index, 0), size - 1)  # jax.numpy clamps, it does not raise
            start, limit, stride = index, index + 1, 1
            dynamic_starts.append(0)
        else:  # 'dyn': a full axis here, then a dynamic_slice of size 1
            start, limit, stride = 0, size, 1
            dynamic_starts.append(e.value)
        starts.append(start)
        limits.append(limit)
        strides.append(stride)
    out = x
    if (starts, limits) != ([0] * aval.ndim, list(aval.shape)) or any(s != 1 for s in strides):
        out = li.slice(out, starts, limits, strides)
    if reversed_dims:
        out = ls.rev(out, reversed_dims)
    dynamic = [e for e in entries if e.kind == "dyn"]
    if dynamic:
        sizes = list(aval_of(out).shape)
        index_dtype = _index_dtype([e.value for e in dynamic])
        for e in dynamic:
            sizes[e.dim] = 1
        dynamic_starts = [convert(s, index_dtype) if not isinstance(s, int) else s
                          for s in dynamic_starts]
        out = li.dynamic_slice(out, dynamic_starts, sizes)
    shape = tuple(1 if e.kind == "new" else e.length for e in entries
                  if e.kind in ("new", "slice"))
    if aval_of(out).shape != shape:
        out = ls.reshape(out, shape)
    return out if out is not x else as_array(x, "getitem")


def _index_dtype(indices) -> np.dtype:
    """int32, unless an index is a 64-bit integer array (with x64 enabled)."""
    wide = any(aval_of(i).dtype.itemsize == 8 for i in indices)
    return dt.default_int() if wide else np.dtype(np.int32)


class _GatherLayout(NamedTuple):
    """A NumPy index as one gather (or scatter): its indices and dimension numbers, and how
    the gather's output axes map onto the NumPy result's."""

    indices: Any  # (*batch, k) index vectors, or None when k == 0
    offset_dims: tuple[int, ...]
    collapsed_slice_dims: tuple[int, ...]
    start_index_map: tuple[int, ...]
    slice_sizes: tuple[int, ...]
    permutation: tuple[int, ...]  # gather output axes -> the result's (None axes left out)
    result_shape: tuple[int, ...]  # x[idx].shape, with the None axes
    new_axes: tuple[int, ...]  # the axes of x[idx] that None added


def _layout(shape: tuple[int, ...], entries: list[_Entry]) -> _GatherLayout:
    advanced = [p for p, e in enumerate(entries) if e.kind in ("int", "dyn", "array")]
    arrays = {p: entries[p].value for p in advanced if entries[p].kind != "int"}
    batch_shape = broadcast_shapes("indexing", *(aval_of(a).shape for a in arrays.values())) \
        if arrays else ()
    # NumPy's rule: advanced indices next to each other put their axes where they are;
    # separated (by a slice or None) they put them first.
    contiguous = advanced == list(range(advanced[0], advanced[-1] + 1)) if advanced else True
    strided = [p for p, e in enumerate(entries) if e.kind == "slice" and e.step != 1]
    windows = [p for p, e in enumerate(entries) if e.kind == "slice" and e.step == 1]
    batch_ids = [("batch", j) for j in range(len(batch_shape))]
    gather_ids = batch_ids + [("strided", p) for p in strided] + [("window", p) for p in windows]
    result_ids: list = [] if contiguous else list(batch_ids)
    result_shape: list[int] = [] if contiguous else list(batch_shape)
    new_axes = []
    for p, e in enumerate(entries):
        if e.kind == "new":
            new_axes.append(len(result_shape))
            result_shape.append(1)
        elif e.kind == "slice":
            result_ids.append(("strided" if e.step != 1 else "window", p))
            result_shape.append(e.length)
        elif contiguous and p == advanced[0]:
            result_ids += batch_ids
            result_shape += batch_shape
    permutation = tuple(gather_ids.index(i) for i in result_ids)

    index_dtype = _index_dtype(list(arrays.values()))
    full_batch = tuple(batch_shape) + tuple(entries[p].length for p in strided)
    n_batch = len(batch_shape)
    components, start_index_map, collapsed = [], [], []
    slice_sizes = list(shape)
    for p, e in enumerate(entries):
        if e.kind == "new":
            continue
        size = shape[e.dim]
        if e.kind == "slice" and e.step == 1:
            slice_sizes[e.dim] = e.length
            if (e.start, e.length) == (0, size):
                continue  # the whole axis: no index needed
            component = constant(full_batch, e.start, index_dtype)
        elif e.kind == "slice":
            counts = ls.iota(index_dtype, e.length)
            positions = add(multiply(counts, e.step), e.start) if e.length else counts
            component = ls.broadcast_in_dim(positions, full_batch,
                                            (n_batch + strided.index(p),))
            collapsed.append(e.dim)
            slice_sizes[e.dim] = 1
        else:
            if e.kind == "int":
                component = constant(full_batch, e.value + size if e.value < 0 else e.value,
                                     index_dtype)
            else:
                value = convert(e.value, index_dtype)
                if np.issubdtype(aval_of(e.value).dtype, np.signedinteger):
                    value = where(less(value, 0), add(value, size), value)
                ndim = aval_of(value).ndim
                component = ls.broadcast_in_dim(value, full_batch,
                                                tuple(range(n_batch - ndim, n_batch)))
            collapsed.append(e.dim)
            slice_sizes[e.dim] = 1
        start_index_map.append(e.dim)
        components.append(component)
    indices = None
    if components:
        columns = [ls.expand_dims(c, (len(full_batch),)) for c in components]
        indices = columns[0] if len(columns) == 1 else ls.concatenate(columns, len(full_batch))
    offset_dims = tuple(range(len(full_batch), len(full_batch) + len(windows)))
    return _GatherLayout(indices, offset_dims, tuple(sorted(collapsed)),
                         tuple(start_index_map), tuple(slice_sizes), permutation,
                         tuple(result_shape), tuple(new_axes))


def _gather(x, entries: list[_Entry], mode, fill_value):
    aval = aval_of(x)
    layout = _layout(aval.shape, entries)
    if math.prod(layout.result_shape) == 0:
        return ls.full(layout.result_shape, 0, aval.dtype, weak_type=aval.weak_type)
    out = x
    if layout.indices is not None:
        dnums = li.GatherDimensionNumbers(offset_dims=layout.offset_dims,
                                          collapsed_slice_dims=layout.collapsed_slice_dims,
                                          start_index_map=layout.start_index_map)
        out = li.gather(x, layout.indices, dnums, layout.slice_sizes, mode=mode,
                        fill_value=fill_value)
    if layout.permutation != tuple(range(len(layout.permutation))):
        out = ls.transpose(out, layout.permutation)
    if aval_of(out).shape != layout.result_shape:
        out = ls.reshape(out, layout.result_shape)
    return as_array(out, "getitem")


# -- x.at[idx] ---------------------------------------------------------------------------------

_SCATTERS = {"set": li.scatter, "add": li.scatter_add, "multiply": li.scatter_mul,
             "min": li.scatter_min, "max": li.scatter_max}
_ELEMENTWISE = {"add": add, "multiply": multiply, "min": minimum, "max": maximum}


def _scatter(x, index, values, how: str, indices_are_sorted: bool, unique_indices: bool,
             mode):
    check_arraylike(f"at[].{how}", values)
    aval = aval_of(x)
    entries = normalize(index, aval.shape)
    layout = _layout(aval.shape, entries)
    if math.prod(layout.result_shape) == 0:
        return as_array(x, f"at[].{how}")
    # jax.numpy combines in the promoted dtype, then casts back to x's type.
    operand, updates = promote_dtypes(x, values)
    updates = broadcast_to_shape(updates, layout.result_shape, f"at[].{how}")
    gather_order = [None] * len(layout.permutation)
    for result_axis, gather_axis in enumerate(layout.permutation):
        gather_order[gather_axis] = result_axis
    without_new = tuple(n for axis, n in enumerate(layout.result_shape)
                        if axis not in layout.new_axes)
    if aval_of(updates).shape != without_new:
        updates = ls.reshape(updates, without_new)
    if gather_order != list(range(len(gather_order))):
        updates = ls.transpose(updates, gather_order)
    if layout.indices is None:  # whole axes only: an elementwise update
        out = updates if how == "set" else _ELEMENTWISE[how](operand, updates)
        out = broadcast_to_shape(out, aval.shape)
    else:
        dnums = li.ScatterDimensionNumbers(
            update_window_dims=layout.offset_dims,
            inserted_window_dims=layout.collapsed_slice_dims,
            scatter_dims_to_operand_dims=layout.start_index_map)
        out = _SCATTERS[how](operand, layout.indices, updates, dnums,
                             indices_are_sorted=indices_are_sorted,
                             unique_indices=unique_indices,
                             mode=li.GatherScatterMode.FILL_OR_DROP if mode is None else mode)
    return as_array(convert(out, aval.dtype, aval.weak_type), f"at[].{how}")


class _IndexUpdateRef:
    """`x.at[idx]`: functional updates of the elements `x[idx]` selects."""

    __slots__ = ("array", "index")

    def __init__(self, array, index):
        self.array = array
        self.index = index

    def __repr__(self) -> str:
        return f"_IndexUpdateRef({self.array!r}, {self.index!r})"

    def get(self, *, indices_are_sorted: bool = False, unique_indices: bool = False,
            mode=None, fill_value=None):
        """x[idx]; mode='fill' gives `fill_value` (NaN by default) out of bounds instead of
        clamping."""
        if mode is None:
            return getitem(self.array, self.index)
        entries = normalize(self.index, aval_of(self.array).shape)
        return _gather(self.array, entries, li.GatherScatterMode.from_any(mode), fill_value)

    def set(self, values, *, indices_are_sorted: bool = False, unique_indices: bool = False,
            mode=None):
        return _scatter(self.array, self.index, values, "set", indices_are_sorted,
                        unique_indices, mode)

    def add(self, values, *, indices_are_sorted: bool = False, unique_indices: bool = False,
            mode=None):
        return _scatter(self.array, self.index, values, "add", indices_are_sorted,
                        unique_indices, mode)

    def multiply(self, values, *, indices_are_sorted: bool = False,
                 unique_indices: bool = False, mode=None):
        return _scatter(self.array, self.index, values, "multiply", indices_are_sorted,
                        unique_indices, mode)

    mul = multiply

    def min(self, values, *, indices_are_sorted: bool = False, unique_indices: bool = False,
            mode=None):
        return _scatter(self.array, self.index, values, "min", indices_are_sorted,
                        unique_indices, mode)

    def max(self, values, *, indices_are_sorted: bool = False, unique_indices: bool = False,
            mode=None):
        return _scatter(self.array, self.index, values, "max", indices_are_sorted,
                        unique_indices, mode)


class IndexUpdateHelper:
    """The object behind `x.at`: `x.at[idx]` names the elements an update changes."""

    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array

    def __getitem__(self, index) -> _IndexUpdateRef:
        return _IndexUpdateRef(self.array, index)

    def __repr__(self) -> str:
        return f"IndexUpdateHelper({self.array!r})"
