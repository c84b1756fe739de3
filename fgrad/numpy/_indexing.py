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

The module also holds NumPy's indexing functions (take, take_along_axis, put, choose, select,
piecewise, ...), the functions whose result size depends on values (nonzero, argwhere,
flatnonzero, compress, extract: concrete values need nothing more, traced ones need a static
`size=`, as in jax.numpy), and the vmap-based ones (vectorize, apply_along_axis).
"""

from __future__ import annotations

import functools
import math
import operator
import re
from typing import Any, Callable, NamedTuple

import jax
import numpy as np

from fgrad.api import vmap
from fgrad.core import Tracer, aval_of
from fgrad.core import dtypes as dt
from fgrad.core.errors import ConcretizationError, ShapeDtypeError, at_user_line
from fgrad.lax import elementwise as lx
from fgrad.lax import indexing as li
from fgrad.lax import reductions as lr
from fgrad.lax import shapes as ls
from fgrad.lax.control_flow import switch
from fgrad.numpy._core import (
    as_array, broadcast_shapes, broadcast_to_shape, canonical_axis, check_arraylike, constant,
    convert, is_arraylike, promote_dtypes, user_dtype,
)
from fgrad.numpy._eager import compiled_eagerly
from fgrad.numpy._math import (
    add, clip, divmod, greater, greater_equal, less, maximum, minimum, multiply, not_equal,
    remainder, where,
)

# The public names, gathered by fgrad/numpy/__init__.py.
__all__ = [
    "apply_along_axis", "apply_over_axes", "argwhere", "choose", "compress", "extract",
    "fill_diagonal", "flatnonzero", "nonzero", "piecewise", "place", "put", "put_along_axis",
    "ravel_multi_index", "select", "take", "take_along_axis", "unravel_index", "vectorize",
]


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


def known_value(x) -> np.ndarray | None:
    """The value of `x` if Python can know it now, else None.

    Known: NumPy and Python values, concrete JAX arrays, and fgrad tracers of a trace that
    knows its inputs (define-by-run: fgrad.grad outside jit, like JAX's grad, which also
    indexes with boolean masks). Abstract: tracers of fgrad.jit and fgrad.vmap, JAX tracers
    (inside jax.jit or jax.vmap), and fgrad tracers whose values depend on those.
    """
    if isinstance(x, Tracer):
        try:
            x = x.concrete()
        except ConcretizationError:
            return None
    if isinstance(x, jax.core.Tracer):
        return None
    return np.asarray(x)


class NonConcreteBooleanIndexError(ConcretizationError, IndexError):
    """A boolean mask index whose values are abstract: an IndexError too, as JAX's error of
    the same name is."""


def _concrete_mask(mask) -> np.ndarray:
    value = known_value(mask)
    if value is None:
        raise NonConcreteBooleanIndexError(at_user_line(
            "fgrad.numpy indexing: a boolean mask must be concrete, because the result's size "
            "depends on how many of its values are True, and this mask is abstract (traced by "
            "jit or vmap). Select elementwise instead: fgrad.numpy.where(mask, x, 0) for "
            "x[mask], fgrad.numpy.where(mask, y, x) for x.at[mask].set(y); or index with a "
            "static number of positions: x[fgrad.numpy.nonzero(mask, size=n, fill_value=...)]."))
    return value


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


# -- shared helpers of the indexing functions ----------------------------------------------------


def _ravel(x):
    """`x` as a 1-D array (as an array, never a Python scalar)."""
    aval = aval_of(x)
    if aval.shape == (aval.size,):
        return as_array(x, "ravel")
    return ls.reshape(x, (aval.size,))


def _moveaxis(x, source: int, destination: int):
    ndim = aval_of(x).ndim
    if source == destination:
        return x
    permutation = [d for d in range(ndim) if d != source]
    permutation.insert(destination, source)
    return ls.transpose(x, tuple(permutation))


def _slice_front(x, stop: int):
    """x[:stop] along the first axis."""
    shape = aval_of(x).shape
    if stop == shape[0]:
        return x
    return li.slice(x, (0,) * len(shape), (stop, *shape[1:]))


def _to_bool(x):
    """x != 0, or x itself when it is already boolean."""
    return x if dt.is_bool(aval_of(x).dtype) else not_equal(x, 0)


def _sparse_iotas(shape: tuple[int, ...], dtype) -> list:
    """Index arrays that broadcast against each other to `shape`: the i-th counts along axis
    i and has size 1 elsewhere (NumPy's `indices(shape, sparse=True)`)."""
    return [ls.broadcasted_iota(dtype, tuple(n if d == i else 1 for d, n in enumerate(shape)), i)
            for i in range(len(shape))]


def _tile_to_size(x, size: int):
    """The 1-D array `x` repeated end to end, cut to `size` elements."""
    n = aval_of(x).shape[0]
    if n < size:
        reps = -(-size // n)
        x = ls.reshape(ls.broadcast_in_dim(x, (reps, n), (1,)), (reps * n,))
        n *= reps
    return li.slice(x, (0,), (size,)) if n > size else x


def _no_inplace(name: str) -> ValueError:
    return ValueError(at_user_line(
        f"fgrad.numpy.{name} cannot modify arrays in place: arrays are immutable. Pass "
        f"inplace=False to get the updated array as the result."))


def _integer_indices(name: str, indices) -> None:
    dtype = aval_of(indices).dtype
    if not dt.is_integer(dtype):
        raise TypeError(at_user_line(
            f"fgrad.numpy.{name}: indices must be integers, not {dtype.name}."))


# -- results whose size depends on values ----------------------------------------------------------


def _size_needed(name: str, instead: str) -> ConcretizationError:
    return ConcretizationError(at_user_line(
        f"fgrad.numpy.{name}: the size of the result depends on the input's values, which are "
        f"abstract here (traced by jit or vmap: only shapes and dtypes are known). Pass size=n, "
        f"a static number of entries (missing ones become fill_value, extra ones are dropped), "
        f"or {instead}."))


_SELECT_INSTEAD = ("select elementwise with the three-argument "
                   "fgrad.numpy.where(condition, x, y), which keeps the shape")


def _result_size(name: str, values, size, instead: str = _SELECT_INSTEAD) -> int:
    """`size` as an int; without it, the number of nonzero `values`, which must be known."""
    if size is None:
        known = known_value(values)
        if known is None:
            raise _size_needed(name, instead)
        return int(np.count_nonzero(known))
    try:
        size = operator.index(size)
    except TypeError:
        raise TypeError(at_user_line(
            f"fgrad.numpy.{name}: size must be a static integer, not {size!r}.")) from None
    if size < 0:
        raise ValueError(at_user_line(f"fgrad.numpy.{name}: size must be >= 0, got {size}."))
    return size


def _true_positions(mask, size: int):
    """The positions of the first `size` True elements of the 1-D boolean `mask` (n, its
    length, where it has fewer), and how many are True.

    JAX's algorithm, only cumulative sums and one scatter, so it has a static shape: with
    counts[i] the number of Trues in mask[:i+1], the number of elements whose count is at
    most j is the position of the (j+1)-th True.
    """
    n = aval_of(mask).shape[0]
    index_dtype = dt.default_int()
    ones = convert(mask, index_dtype)
    counts = lr.cumsum(ones, 0)
    numbers = li.ScatterDimensionNumbers(update_window_dims=(), inserted_window_dims=(0,),
                                         scatter_dims_to_operand_dims=(0,))
    # bins[j]: how many elements have a count of exactly j (counts >= size are dropped).
    bins = li.scatter_add(ls.full((size,), 0, index_dtype), ls.expand_dims(counts, (1,)),
                          ls.full((n,), 1, index_dtype), numbers,
                          mode=li.GatherScatterMode.FILL_OR_DROP)
    return lr.cumsum(bins, 0), lr.reduce_sum(ones, (0,))


def _nonzero(name: str, a, size, fill_value, flatten: bool = False) -> tuple:
    """nonzero(a) (of `a` flattened if `flatten`), its errors naming `name`."""
    check_arraylike(name, a)
    aval = aval_of(a)
    shape = (aval.size,) if flatten else aval.shape
    if not shape:
        raise ValueError(at_user_line(
            f"fgrad.numpy.{name} of a 0-d array is not allowed (as in jax.numpy): reshape it "
            f"to 1-d first, x.reshape(1)."))
    # The count comes from `a` itself: a constant stays known inside a trace, while values
    # computed from it there would be the trace's.
    size = _result_size(name, a, size)
    mask = _to_bool(a)
    index_dtype = dt.default_int()
    n = math.prod(shape)
    if n == 0 or size == 0:  # jax.numpy ignores fill_value here too
        return tuple(ls.full((size,), 0, index_dtype) for _ in shape)
    flat, count = _true_positions(_ravel(mask), size)
    out, stride = [], n
    for dim in shape:
        stride //= dim
        quotient = flat if stride == 1 else lx.div(flat, constant((size,), stride, index_dtype))
        # The padding positions (n) become index 0 on every axis.
        out.append(lx.rem(quotient, constant((size,), dim, index_dtype)))
    if fill_value is None:
        return tuple(out)
    fills = fill_value if isinstance(fill_value, tuple) else (fill_value,) * len(shape)
    check_arraylike(name, *fills)
    if len(fills) != len(shape) or any(aval_of(f).shape != () for f in fills):
        raise ValueError(at_user_line(
            f"fgrad.numpy.{name}: fill_value must be a scalar or a tuple of {len(shape)} "
            f"scalars (one per axis), got {fill_value!r}."))
    padding = greater_equal(ls.iota(index_dtype, size), count)
    return tuple(where(padding, f, o) for f, o in zip(fills, out))


def nonzero(a, *, size=None, fill_value=None) -> tuple:
    """The indices of the nonzero elements of `a`, one array per axis.

    Arguments:
      a: an array of at least one dimension.
      size: the static number of entries to return: required where `a` is traced (under
        jit or vmap), since the count depends on the values. Extra entries are dropped.
      fill_value: the index that pads the result to `size` (0 by default), a scalar or one
        per axis.

    Returns:
      A tuple of `a.ndim` integer arrays.

    >>> import fgrad.numpy as fnp
    >>> fnp.nonzero(fnp.array([0, 5, 0, 6]), size=3, fill_value=-1)
    (Array([ 1,  3, -1], dtype=int32),)
    """
    return _nonzero("nonzero", a, size, fill_value)


def where_one(condition, *, size=None, fill_value=None) -> tuple:
    """`fgrad.numpy.where(condition)` with one argument: nonzero(condition), as in NumPy."""
    return _nonzero("where", condition, size, fill_value)


def flatnonzero(a, *, size=None, fill_value=None):
    """The indices of the nonzero elements of `a` flattened; `size` as in `nonzero`."""
    return _nonzero("flatnonzero", a, size, fill_value, flatten=True)[0]


def argwhere(a, *, size=None, fill_value=None):
    """The indices of the nonzero elements of `a`, one row per element, shape (count, ndim);
    `size` as in `nonzero`."""
    check_arraylike("argwhere", a)
    aval = aval_of(a)
    columns = _nonzero("argwhere", a, size, fill_value, flatten=not aval.ndim)
    columns = [ls.expand_dims(c, (1,)) for c in promote_dtypes(*columns)]
    result = columns[0] if len(columns) == 1 else ls.concatenate(columns, 1)
    if aval.ndim == 0:  # one row per "element" (0 or 1, or size), no columns
        result_aval = aval_of(result)
        return ls.full((result_aval.shape[0], 0), 0, result_aval.dtype,
                       weak_type=result_aval.weak_type)
    return as_array(result, "argwhere")


def _compress(name: str, condition, a, axis, size, fill_value, flatten: bool = False):
    """compress(condition, a, axis) (of both flattened if `flatten`), its errors naming
    `name`."""
    check_arraylike(name, condition, a, fill_value)
    # Without size the condition must be known: read it before computing with it, so that a
    # constant stays known inside a trace.
    known = None if size is not None else known_value(condition)
    if flatten:
        condition, a = _ravel(condition), _ravel(a)
        known = None if known is None else known.ravel()
    if aval_of(condition).ndim != 1:
        raise ValueError(at_user_line(
            f"fgrad.numpy.{name}: condition must be a 1-D array, got shape "
            f"{aval_of(condition).shape}."))
    if axis is None:
        x, axis = _ravel(a), 0
    else:
        axis = canonical_axis(axis, aval_of(a).ndim, name)
        x = _moveaxis(a, axis, 0)
    # NumPy's rule: a shorter condition selects among the first elements only; a longer one
    # may hold only False beyond the axis.
    length = min(aval_of(condition).shape[0], aval_of(x).shape[0])
    x = _slice_front(x, length)
    if size is None:
        if known is None:
            raise _size_needed(name, "select elementwise with fgrad.numpy.where(condition, "
                                     "a, 0), which keeps the shape")
        known = known != 0
        if known[length:].any():
            raise ValueError(at_user_line(
                f"fgrad.numpy.{name}: condition has True entries beyond the {length} elements "
                f"of the axis."))
        result = getitem(x, np.flatnonzero(known[:length]).astype(np.int32))
    else:
        size = _result_size(name, condition, size)
        if size > length:
            raise ValueError(at_user_line(
                f"fgrad.numpy.{name}: size must not exceed the length of the axis; got "
                f"size={size} for an axis of {length} elements."))
        condition = _slice_front(_to_bool(condition), length)
        (positions,) = _nonzero(name, condition, size, None)
        rows = getitem(x, positions)
        count = lr.reduce_sum(convert(condition, dt.default_int()), (0,))
        kept = greater(count, ls.iota(dt.default_int(), size))
        kept = ls.broadcast_in_dim(kept, aval_of(rows).shape, (0,))
        result = where(kept, rows, convert(fill_value, aval_of(x).dtype))
    return _moveaxis(result, 0, axis)


def compress(condition, a, axis=None, *, size=None, fill_value=0, out=None):
    """The slices of `a` along `axis` (flattened if None) where the 1-D `condition` holds;
    `size` as in `nonzero`, padding with `fill_value`."""
    if out is not None:
        raise NotImplementedError(at_user_line(
            "fgrad.numpy.compress: the 'out' argument is not supported (arrays are immutable)."))
    return _compress("compress", condition, a, axis, size, fill_value)


def extract(condition, arr, *, size=None, fill_value=0):
    """The elements of `arr` where `condition` holds, flattened; `size` as in `nonzero`."""
    return _compress("extract", condition, arr, None, size, fill_value, flatten=True)


def place(arr, mask, vals, *, inplace: bool = True):
    """`arr` with the elements where `mask` holds set to `vals`, in order, cycling through
    them (NumPy's place); pass inplace=False."""
    check_arraylike("place", arr, mask, vals)
    if inplace:
        raise _no_inplace("place")
    vals = _ravel(vals)
    shape, n = aval_of(arr).shape, aval_of(arr).size
    if n != aval_of(mask).size:
        raise ValueError(at_user_line(
            f"fgrad.numpy.place: arr and mask must have the same size, got {n} and "
            f"{aval_of(mask).size}."))
    if not aval_of(vals).size:
        raise ValueError(at_user_line("fgrad.numpy.place: cannot place values from an empty "
                                      "array."))
    if not n:
        return as_array(arr, "place")
    # Positions past the Trues point beyond the array, so their updates are dropped.
    (positions,) = _nonzero("place", _ravel(mask), n, n)
    out = _scatter(_ravel(arr), positions, _tile_to_size(vals, n), "set", False, False,
                   li.GatherScatterMode.FILL_OR_DROP)
    return ls.reshape(out, shape) if aval_of(out).shape != shape else out


# -- indexing functions -----------------------------------------------------------------------


@compiled_eagerly(2)
def take(a, indices, axis=None, out=None, mode=None, unique_indices: bool = False,
         indices_are_sorted: bool = False, fill_value=None):
    """The elements of `a` at `indices` along `axis` (of `a` flattened if None).

    Arguments:
      mode: None or 'fill' (out-of-bounds indices read `fill_value`, NaN for inexact
        types; negative ones count from the end), 'wrap' (modulo the axis), or 'clip'.

    >>> import fgrad.numpy as fnp
    >>> fnp.take(fnp.array([[1., 2.], [3., 4.]]), fnp.array([1, -1, 5]), axis=1)
    Array([[ 2.,  2., nan],
           [ 4.,  4., nan]], dtype=float32)
    """
    if out is not None:
        raise NotImplementedError(at_user_line(
            "fgrad.numpy.take: the 'out' argument is not supported (arrays are immutable)."))
    check_arraylike("take", a, indices)
    if axis is None:
        a, axis = _ravel(a), 0
    else:
        axis = canonical_axis(axis, aval_of(a).ndim, "take")
    _integer_indices("take", indices)
    indices = as_array(indices, "take")
    shape = aval_of(a).shape
    size = shape[axis]
    if mode is None or mode == "fill":
        gather_mode = li.GatherScatterMode.FILL_OR_DROP
        indices = where(less(indices, 0), add(indices, size), indices)  # gather cannot
    elif mode == "raise":
        raise NotImplementedError(at_user_line(
            "fgrad.numpy.take: mode='raise' is not supported (nothing can raise inside a "
            "compiled program); use 'fill', 'clip' or 'wrap'."))
    elif mode == "wrap":
        indices = remainder(indices, size)
        gather_mode = li.GatherScatterMode.PROMISE_IN_BOUNDS
    elif mode == "clip":
        gather_mode = li.GatherScatterMode.CLIP
    else:
        raise ValueError(at_user_line(
            f"fgrad.numpy.take: invalid mode {mode!r}; use None, 'fill', 'clip' or 'wrap'."))
    index_shape = aval_of(indices).shape
    if size == 0:
        if math.prod(index_shape):
            raise IndexError(at_user_line(
                f"fgrad.numpy.take: cannot take {math.prod(index_shape)} elements from an "
                f"empty axis."))
        return as_array(a, "take")
    out_shape = shape[:axis] + index_shape + shape[axis + 1:]
    if not math.prod(index_shape):
        aval = aval_of(a)
        return ls.full(out_shape, 0, aval.dtype, weak_type=aval.weak_type)
    slice_sizes = shape[:axis] + (1,) + shape[axis + 1:]
    numbers = li.GatherDimensionNumbers(
        offset_dims=tuple(range(axis)) + tuple(range(axis + len(index_shape),
                                                     len(out_shape))),
        collapsed_slice_dims=(axis,), start_index_map=(axis,))
    return li.gather(a, ls.expand_dims(indices, (len(index_shape),)), numbers, slice_sizes,
                     mode=gather_mode, unique_indices=unique_indices,
                     indices_are_sorted=indices_are_sorted, fill_value=fill_value)


def _wrap_negative(indices, size: int):
    """Negative indices counted from the end (unsigned ones need nothing)."""
    aval = aval_of(indices)
    if np.issubdtype(aval.dtype, np.unsignedinteger):
        return indices
    negative = lx.lt(indices, constant(aval.shape, 0, aval.dtype))
    return lx.select_n(negative, indices, lx.add(indices, constant(aval.shape, size,
                                                                    aval.dtype)))


@compiled_eagerly(2)
def take_along_axis(arr, indices, axis=-1, mode=None, fill_value=None, *,
                    wrap_negative_indices=None):
    """The elements of `arr` at `indices` along `axis`, matched position by position on the
    other axes (where `indices` has size 1 there, broadcast): NumPy's take_along_axis, as
    after argsort. Out-of-bounds indices read `fill_value` (NaN for inexact types) unless
    `mode` says otherwise."""
    check_arraylike("take_along_axis", arr, indices)
    _integer_indices("take_along_axis", indices)
    index_aval = aval_of(indices)
    a = arr
    if axis is None:
        if index_aval.ndim != 1:
            raise ValueError(at_user_line(
                f"fgrad.numpy.take_along_axis: with axis=None the indices must be 1-D, got "
                f"shape {index_aval.shape}."))
        a, axis = _ravel(a), 0
    shape = aval_of(a).shape
    rank = len(shape)
    if rank != index_aval.ndim:
        raise ValueError(at_user_line(
            f"fgrad.numpy.take_along_axis: indices and arr must have the same number of "
            f"dimensions; {index_aval.ndim} vs. {rank}."))
    axis = canonical_axis(axis, rank, "take_along_axis")
    if mode == "one_hot":
        raise NotImplementedError(at_user_line(
            "fgrad.numpy.take_along_axis: mode='one_hot' (a one-hot matrix product) is not "
            "supported; the default gather computes the same values."))
    axis_size = shape[axis]
    arr_shape = shape[:axis] + (1,) + shape[axis + 1:]
    out_shape = broadcast_shapes("take_along_axis", index_aval.shape, arr_shape)
    if axis_size == 0:
        return ls.full(out_shape, 0, aval_of(a).dtype)
    if wrap_negative_indices is None:
        wrap_negative_indices = mode != "promise_in_bounds"
    if wrap_negative_indices:
        # Indices wide enough for index + axis_size (JAX's choice of dtype).
        index_dtype = np.dtype(np.int64 if axis_size > np.iinfo(np.int32).max else np.int32)
        indices = _wrap_negative(convert(indices, index_dtype), axis_size)
    else:
        indices = as_array(indices, "take_along_axis")
    index_shape = index_aval.shape
    index_dims = [i for i, n in enumerate(index_shape) if i == axis or n != 1]
    gather_indices = ls.reshape(indices, tuple(out_shape[i] for i in index_dims) + (1,))
    # Axis by axis: the indexed axis is collapsed; where the indices have size 1 the whole
    # axis is a window; where the operand has size 1 it is squeezed away; otherwise the
    # operand and the indices share the axis as a batch dimension.
    slice_sizes, offset_dims, start_index_map, collapsed = [], [], [], []
    operand_batching, indices_batching, squeezed = [], [], []
    kept = j = 0
    for i in range(rank):
        if i == axis:
            slice_sizes.append(1)
            start_index_map.append(kept)
            collapsed.append(kept)
            kept += 1
            j += 1
        elif index_shape[i] == 1:
            offset_dims.append(i)
            slice_sizes.append(arr_shape[i])
            kept += 1
        elif arr_shape[i] == 1:
            squeezed.append(i)
            j += 1
        else:
            slice_sizes.append(0 if arr_shape[i] == 0 else 1)
            operand_batching.append(kept)
            indices_batching.append(j)
            kept += 1
            j += 1
    if squeezed:
        a = ls.squeeze(a, tuple(squeezed))
    numbers = li.GatherDimensionNumbers(
        offset_dims=tuple(offset_dims), collapsed_slice_dims=tuple(collapsed),
        start_index_map=tuple(start_index_map), operand_batching_dims=tuple(operand_batching),
        start_indices_batching_dims=tuple(indices_batching))
    return li.gather(a, gather_indices, numbers, tuple(slice_sizes),
                     mode="fill" if mode is None else mode, fill_value=fill_value)


def put(a, ind, v, mode=None, *, inplace: bool = True):
    """`a` with the elements at the flat indices `ind` replaced by `v` (cycled); pass
    inplace=False. mode: None (out-of-bounds indices are dropped), 'clip' or 'wrap'."""
    if inplace:
        raise _no_inplace("put")
    check_arraylike("put", a, ind, v)
    _integer_indices("put", ind)
    ind, v = _ravel(ind), _ravel(v)
    shape, n = aval_of(a).shape, aval_of(a).size
    if not n or not aval_of(ind).size or not aval_of(v).size:
        return as_array(a, "put")
    v = _tile_to_size(v, aval_of(ind).size)
    if mode is None:
        scatter_mode = li.GatherScatterMode.FILL_OR_DROP
    elif mode == "clip":
        ind = clip(ind, 0, n - 1)
        scatter_mode = li.GatherScatterMode.PROMISE_IN_BOUNDS
    elif mode == "wrap":
        ind = remainder(ind, n)
        scatter_mode = li.GatherScatterMode.PROMISE_IN_BOUNDS
    elif mode == "raise":
        raise NotImplementedError(at_user_line(
            "fgrad.numpy.put: mode='raise' is not supported (nothing can raise inside a "
            "compiled program); use None, 'clip' or 'wrap'."))
    else:
        raise ValueError(at_user_line(
            f"fgrad.numpy.put: mode should be None, 'wrap' or 'clip'; got {mode!r}."))
    return _scatter(a, unravel_index(ind, shape), v, "set", False, False, scatter_mode)


def put_along_axis(arr, indices, values, axis, inplace: bool = True, *, mode=None):
    """`arr` with the elements at `indices` along `axis` (matched position by position on the
    other axes, as in take_along_axis) set to `values`; pass inplace=False."""
    if inplace:
        raise _no_inplace("put_along_axis")
    check_arraylike("put_along_axis", arr, indices, values)
    _integer_indices("put_along_axis", indices)
    original_shape = aval_of(arr).shape
    if axis is None:
        arr, axis = _ravel(arr), 0
    shape = aval_of(arr).shape
    index_shape = aval_of(indices).shape
    if len(shape) != len(index_shape):
        raise ValueError(at_user_line(
            f"fgrad.numpy.put_along_axis: arr and indices must have the same number of "
            f"dimensions, got {len(shape)} and {len(index_shape)}."))
    axis = canonical_axis(axis, len(shape), "put_along_axis")
    values = broadcast_to_shape(values, index_shape, "put_along_axis")
    index = _sparse_iotas(shape, dt.default_int())
    index[axis] = indices
    out = _scatter(arr, tuple(index), values, "set", False, False, mode)
    return ls.reshape(out, original_shape) if aval_of(out).shape != original_shape else out


def _as_list(name: str, arrays) -> list:
    """A sequence of arrays, or the rows of one array, as a list."""
    if is_arraylike(arrays) and not isinstance(arrays, (int, float, complex, bool)):
        return [getitem(arrays, i) for i in range(aval_of(arrays).shape[0])]
    arrays = list(arrays)
    check_arraylike(name, *arrays)
    return arrays


def choose(a, choices, out=None, mode: str = "raise"):
    """choices[a[i]][i] at every position i (all broadcast together).

    mode: 'raise' (`a` must be concrete and in range), 'wrap' or 'clip'.
    """
    if out is not None:
        raise NotImplementedError(at_user_line(
            "fgrad.numpy.choose: the 'out' argument is not supported (arrays are immutable)."))
    check_arraylike("choose", a)
    choices = _as_list("choose", choices)
    if not dt.is_integer(aval_of(a).dtype):
        raise ValueError(at_user_line(
            f"fgrad.numpy.choose: `a` must hold integers, not {aval_of(a).dtype.name}."))
    count = len(choices)
    if mode == "raise":
        known = known_value(a)
        if known is None:
            raise ConcretizationError(at_user_line(
                "fgrad.numpy.choose with mode='raise' must check that `a` is in range, but `a` "
                "is abstract here (traced by jit or vmap). Use mode='wrap' or mode='clip'."))
        if ((known < 0) | (known >= count)).any():
            raise ValueError(at_user_line(
                f"fgrad.numpy.choose: `a` holds entries outside [0, {count}) (mode='raise')."))
    elif mode == "wrap":
        a = remainder(a, count)
    elif mode == "clip":
        a = clip(a, 0, count - 1)
    else:
        raise ValueError(at_user_line(
            f"fgrad.numpy.choose: mode={mode!r} not understood; use 'raise', 'wrap' or 'clip'."))
    shape = broadcast_shapes("choose", *(aval_of(x).shape for x in [a, *choices]))
    dtype, _ = dt.promote(*(aval_of(c) for c in choices))  # stacked, as jnp.array(choices)
    choices = [broadcast_to_shape(convert(c, dtype), shape, "choose") for c in choices]
    which = broadcast_to_shape(convert(a, np.dtype(np.int32)), shape, "choose")
    # An elementwise choice among broadcast cases: select_n (JAX gathers from the stacked
    # choices; the values and derivatives are the same).
    return lx.select_n(which, *choices)


def select(condlist, choicelist, default=0):
    """The element of the first choice whose condition holds, else `default`, at each
    position (all broadcast together)."""
    condlist, choicelist = list(condlist), list(choicelist)
    if len(condlist) != len(choicelist):
        raise ValueError(at_user_line(
            f"fgrad.numpy.select: condlist must have as many entries as choicelist ("
            f"{len(condlist)} vs {len(choicelist)})."))
    if not condlist:
        raise ValueError(at_user_line("fgrad.numpy.select: condlist must be non-empty."))
    check_arraylike("select", *condlist, *choicelist, default)
    choices = promote_dtypes(default, *choicelist)
    shape = broadcast_shapes("select", *(aval_of(x).shape for x in [*condlist, *choices]))
    condition_shape = broadcast_shapes("select", *(aval_of(c).shape for c in condlist))
    # Case 0 is the default: a row of False first, so that argmax (the first True) is 0
    # where no condition holds.
    rows = [ls.full((1, *condition_shape), False, np.dtype(np.bool_))]
    rows += [ls.expand_dims(broadcast_to_shape(_to_bool(c), condition_shape, "select"), (0,))
             for c in condlist]
    which = lr.argmax(ls.concatenate(rows, 0), 0, np.int32)
    which = broadcast_to_shape(which, shape, "select")
    return lx.select_n(which, *(broadcast_to_shape(c, shape, "select") for c in choices))


def piecewise(x, condlist, funclist, *args, **kw):
    """funclist[i](x) where condlist[i] holds (the last one that holds wins), evaluated
    element by element; an extra last function (or constant) covers where none holds,
    else 0.

    Arguments:
      x: the array.
      condlist: boolean arrays of x's shape, one per piece (or one array stacking them).
      funclist: functions of a scalar (called as f(x, *args, **kw)) or constants.
    """
    check_arraylike("piecewise", x)
    conditions = [_to_bool(c) for c in _as_list("piecewise", condlist)]
    n_conditions, n_functions = len(conditions), len(funclist)
    if n_functions == n_conditions + 1:
        funclist = [funclist[-1], *funclist[:-1]]
    elif n_functions == n_conditions:
        funclist = [0, *funclist]
    else:
        raise ValueError(at_user_line(
            f"fgrad.numpy.piecewise: with {n_conditions} condition(s), either {n_conditions} "
            f"or {n_conditions + 1} functions are expected; got {n_functions}."))
    shapes = {aval_of(c).shape for c in conditions}
    if len(shapes) > 1:
        raise ShapeDtypeError(at_user_line(
            f"fgrad.numpy.piecewise: the conditions must have one shape, got "
            f"{sorted(shapes)}."))
    dtype = aval_of(x).dtype
    # The piece of each element: 1 + the last condition that holds, 0 where none does.
    stacked = [ls.full((1, *shapes.pop()), 0, dt.default_int())]
    stacked += [ls.expand_dims(convert(c, dt.default_int()), (0,)) for c in conditions]
    which = lr.argmax(lr.cumsum(ls.concatenate(stacked, 0), 0), 0, dt.default_int())

    def call(f):
        return lambda v: convert(f(v, *args, **kw), dtype)

    def const(c):
        return lambda v: ls.full((), c, dtype)

    branches = [call(f) if callable(f) else const(f) for f in funclist]
    return vectorize(switch, excluded=(1,))(which, branches, x)


def fill_diagonal(a, val, wrap: bool = False, *, inplace: bool = True):
    """`a` with its main diagonal (a[i, i, ...]) set to `val` (cycled); pass inplace=False."""
    if inplace:
        raise NotImplementedError(at_user_line(
            "fgrad.numpy.fill_diagonal cannot modify arrays in place: arrays are immutable. "
            "Pass inplace=False to get the updated array as the result."))
    if wrap:
        raise NotImplementedError(at_user_line(
            "fgrad.numpy.fill_diagonal: wrap=True is not supported (as in jax.numpy)."))
    check_arraylike("fill_diagonal", a, val)
    shape = aval_of(a).shape
    if len(shape) < 2:
        raise ValueError(at_user_line(
            f"fgrad.numpy.fill_diagonal: the array must be at least 2-d, got shape {shape}."))
    if len(shape) > 2 and len(set(shape)) > 1:
        raise ValueError(at_user_line(
            f"fgrad.numpy.fill_diagonal: all dimensions of an array of more than 2 must be "
            f"equal, got shape {shape}."))
    n = min(shape)
    diagonal = ls.iota(dt.default_int(), n)
    if aval_of(val).ndim:
        val = _tile_to_size(_ravel(val), n)
    return _scatter(a, (diagonal,) * len(shape), val, "set", False, False, None)


def ravel_multi_index(multi_index, dims, mode: str = "raise", order: str = "C", *,
                      dtype=None):
    """The flat index of each multi-index into an array of shape `dims` (C or Fortran
    order). mode: 'raise' (indices must be concrete and in range), 'wrap', 'clip' or
    'ignore'."""
    multi_index = list(multi_index)
    dims = tuple(operator.index(d) for d in dims)
    if len(multi_index) != len(dims):
        raise ValueError(at_user_line(
            f"fgrad.numpy.ravel_multi_index: {len(multi_index)} index arrays for "
            f"{len(dims)} dimensions; give one per dimension."))
    check_arraylike("ravel_multi_index", *multi_index)
    if dtype is None:
        default = aval_of(0)  # Python's int, weak, as jax.numpy's result_type(int, ...)
        dtype, _ = dt.promote(default, *(aval_of(i) for i in multi_index))
    else:
        dtype = user_dtype(dtype, "ravel_multi_index")
    if not dt.is_integer(dtype):
        raise ValueError(at_user_line(
            f"fgrad.numpy.ravel_multi_index: dtype={dtype.name} is not an integer type."))
    if math.prod(dims) - 1 > np.iinfo(dtype).max:
        raise ValueError(at_user_line(
            f"fgrad.numpy.ravel_multi_index: dtype={dtype.name} cannot hold the flat indices "
            f"of shape {dims}; pass a wider dtype=."))
    for index in multi_index:
        if not dt.is_integer(aval_of(index).dtype):
            raise TypeError(at_user_line(
                "fgrad.numpy.ravel_multi_index: only integer indices are permitted."))
    if mode == "raise":
        for index, d in zip(multi_index, dims):
            known = known_value(index)
            if known is None:
                raise ConcretizationError(at_user_line(
                    "fgrad.numpy.ravel_multi_index with mode='raise' must check that the "
                    "indices are in range, but they are abstract here (traced by jit or "
                    "vmap). Use mode='wrap' or mode='clip'."))
            if ((known < 0) | (known >= d)).any():
                raise ValueError(at_user_line(
                    "fgrad.numpy.ravel_multi_index: an index is out of range (mode='raise')."))
    elif mode == "clip":
        multi_index = [clip(i, 0, d - 1) for i, d in zip(multi_index, dims)]
    elif mode == "wrap":
        multi_index = [remainder(i, d) for i, d in zip(multi_index, dims)]
    elif mode != "ignore":
        raise ValueError(at_user_line(
            f"fgrad.numpy.ravel_multi_index: invalid mode={mode!r}; expected 'raise', 'wrap', "
            f"'clip' or 'ignore'."))
    if order == "F":
        strides = np.cumprod((1,) + dims[:-1])
    elif order == "C":
        strides = np.cumprod((1,) + dims[1:][::-1])[::-1]
    else:
        raise ValueError(at_user_line(
            f"fgrad.numpy.ravel_multi_index: invalid order={order!r}; expected 'C' or 'F'."))
    result = ls.full((), 0, dtype)
    for index, stride in zip(multi_index, strides):
        result = add(result, multiply(convert(index, dtype), int(stride)))
    return result


def unravel_index(indices, shape) -> tuple:
    """The multi-index, one array per axis, of each flat index into an array of `shape`;
    out-of-range indices are clipped (jax.numpy's rule; NumPy raises)."""
    check_arraylike("unravel_index", indices)
    try:
        shape = list(shape)
    except TypeError:
        shape = [shape]
    if any(np.ndim(s) != 0 for s in shape):
        raise ValueError(at_user_line(
            "fgrad.numpy.unravel_index: shape should be a scalar or a 1-D sequence."))
    rest = indices
    out: list = [0] * len(shape)
    for i in reversed(range(len(shape))):
        rest, out[i] = divmod(rest, shape[i])
    too_big = greater(rest, 0)
    if np.issubdtype(aval_of(rest).dtype, np.unsignedinteger):
        return tuple(where(too_big, s - 1, i) for s, i in zip(shape, out))
    too_small = less(rest, -1)
    return tuple(where(too_big, s - 1, where(too_small, 0, i)) for s, i in zip(shape, out))


# -- functions mapped over arrays (built on fgrad.vmap) --------------------------------------


def apply_along_axis(func1d: Callable, axis: int, arr, *args, **kwargs):
    """func1d(v, *args, **kwargs) for every 1-D slice v of `arr` along `axis`, as one
    vectorized call (fgrad.vmap), its results in place of that axis."""
    check_arraylike("apply_along_axis", arr)
    ndim = aval_of(arr).ndim
    axis = canonical_axis(axis, ndim, "apply_along_axis")

    def func(v):
        return func1d(v, *args, **kwargs)

    for i in range(1, ndim - axis):
        func = vmap(func, in_axes=i, out_axes=-1)
    for _ in range(axis):
        func = vmap(func, in_axes=0, out_axes=0)
    return func(arr)


def apply_over_axes(func: Callable, a, axes):
    """func(a, axis) for each axis in turn, each result keeping the number of dimensions (a
    reduced axis comes back with size 1)."""
    check_arraylike("apply_over_axes", a)
    a = as_array(a, "apply_over_axes")
    for axis in axes:
        b = func(a, axis)
        ndim, b_ndim = aval_of(a).ndim, aval_of(b).ndim
        if b_ndim == ndim:
            a = b
        elif b_ndim == ndim - 1:
            a = ls.expand_dims(b, (canonical_axis(axis, ndim, "apply_over_axes"),))
        else:
            raise ValueError(at_user_line(
                f"fgrad.numpy.apply_over_axes: func returned {b_ndim} dimensions for an array "
                f"of {ndim}; it must keep them or drop the one axis."))
    return a


_DIMENSION = r"\w+"
_CORE_DIMENSIONS = rf"\((?:{_DIMENSION}(?:,{_DIMENSION})*)?\)"
_ARGUMENTS = rf"{_CORE_DIMENSIONS}(?:,{_CORE_DIMENSIONS})*"
_SIGNATURE = rf"^{_ARGUMENTS}->{_ARGUMENTS}$"


def _parse_signature(signature: str) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """'(m,n),(n)->(m)' -> ([('m', 'n'), ('n',)], [('m',)]): NumPy's gufunc signatures."""
    if not re.match(_SIGNATURE, signature.replace(" ", "")):
        raise ValueError(at_user_line(
            f"fgrad.numpy.vectorize: not a valid gufunc signature: {signature!r} (like "
            f"'(m,n),(n)->(m)')."))
    inputs, outputs = ([tuple(re.findall(_DIMENSION, argument))
                        for argument in re.findall(_CORE_DIMENSIONS, part)]
                       for part in signature.replace(" ", "").split("->"))
    return inputs, outputs


def _core_sizes(sizes: dict[str, int], shape: tuple[int, ...], core: tuple[str, ...],
                what: str, is_input: bool) -> None:
    """Records (and checks against earlier ones) the sizes of `core`'s named dimensions."""
    if (len(shape) < len(core)) if is_input else (len(shape) != len(core)):
        raise ValueError(at_user_line(
            f"fgrad.numpy.vectorize: {what} of shape {shape} does not match the core "
            f"dimensions {core} of the signature."))
    for name, n in zip(core, shape[len(shape) - len(core):]):
        if sizes.setdefault(name, n) != n:
            raise ValueError(at_user_line(
                f"fgrad.numpy.vectorize: inconsistent size for core dimension {name!r}: {n} "
                f"vs {sizes[name]}."))


def vectorize(pyfunc: Callable, *, excluded=frozenset(), signature: str | None = None
              ) -> Callable:
    """`pyfunc`, written for single elements (or for core shapes, with a gufunc
    `signature` like '(n),(n)->()'), made to take arrays: their leading axes broadcast
    together and are mapped over with fgrad.vmap.

    Arguments:
      pyfunc: the function.
      excluded: the positions or names of arguments passed through unchanged.
      signature: the core dimensions of the inputs and outputs.

    >>> import fgrad.numpy as fnp
    >>> fnp.vectorize(lambda a, b: fnp.dot(a, b), signature='(n),(n)->()')(
    ...     fnp.ones((3, 2)), fnp.ones(2))
    Array([2., 2., 2.], dtype=float32)
    """
    if any(not isinstance(e, (str, int)) for e in excluded):
        raise TypeError(at_user_line(
            f"fgrad.numpy.vectorize can only exclude argument positions or names, got "
            f"excluded={excluded!r}."))
    if any(isinstance(e, int) and e < 0 for e in excluded):
        raise ValueError(at_user_line(
            f"fgrad.numpy.vectorize: excluded={excluded!r} holds negative positions."))

    @functools.wraps(pyfunc)
    def wrapped(*args, **kwargs):
        func, args, kwargs = _partial_excluded(pyfunc, excluded, args, kwargs)
        if signature is None:
            input_core, output_core = [()] * len(args), None
        else:
            input_core, output_core = _parse_signature(signature)
        # None arguments are passed through too (JAX's rule).
        nones = {i for i, x in enumerate(args) if x is None}
        if nones:
            if any(input_core[i] != () for i in nones if i < len(input_core)):
                raise ValueError(at_user_line(
                    f"fgrad.numpy.vectorize: cannot pass None at positions {sorted(nones)} "
                    f"with signature={signature!r}."))
            func, args, _ = _partial_excluded(func, nones, args, {})
            input_core = [c for i, c in enumerate(input_core) if i not in nones]
        if len(args) != len(input_core):
            raise TypeError(at_user_line(
                f"fgrad.numpy.vectorize: wrong number of positional arguments: the signature "
                f"{signature!r} expects {len(input_core)}, got {len(args)}."))
        args = [as_array(x, "vectorize") for x in args]
        sizes: dict[str, int] = {}
        loop_shapes = []
        for x, core in zip(args, input_core):
            shape = aval_of(x).shape
            _core_sizes(sizes, shape, core, "an input", True)
            loop_shapes.append(shape[:len(shape) - len(core)])
        loop_shape = broadcast_shapes("vectorize", *loop_shapes)
        if output_core is not None:
            func = _checking_outputs(func, sizes, output_core)
        # Map over each loop axis with vmap, passing size-1 axes through unmapped (squeezed
        # and restored afterwards) rather than broadcasting every argument.
        squeezed, filled = [], []
        for x, shape in zip(args, loop_shapes):
            ones = tuple(i for i, n in enumerate(shape) if n == 1)
            squeezed.append(ls.squeeze(x, ones) if ones else x)
            filled.append((1,) * (len(loop_shape) - len(shape)) + shape)
        mapped, restored = func, []
        for axis in reversed(range(len(loop_shape))):
            in_axes = tuple(None if shape[axis] == 1 else 0 for shape in filled)
            if all(a is None for a in in_axes):
                restored.append(axis)
            else:
                mapped = vmap(mapped, in_axes)
        result = mapped(*squeezed)
        if not restored:
            return result
        if isinstance(result, tuple):
            return tuple(ls.expand_dims(r, tuple(sorted(restored))) for r in result)
        return ls.expand_dims(result, tuple(sorted(restored)))

    return wrapped


def _partial_excluded(func: Callable, excluded, args, kwargs):
    """`func` with the `excluded` positional and keyword arguments bound, and the rest."""
    if not excluded:
        return func, args, kwargs
    dynamic = [x for i, x in enumerate(args) if i not in excluded]
    dynamic_kwargs = {k: v for k, v in kwargs.items() if k not in excluded}
    static = [(i, args[i]) for i in sorted(e for e in excluded if isinstance(e, int))
              if i < len(args)]
    static_kwargs = {k: v for k, v in kwargs.items() if k in excluded}

    def bound(*args, **kwargs):
        args = list(args)
        for i, x in static:
            args.insert(i, x)
        return func(*args, **kwargs, **static_kwargs)

    return bound, dynamic, dynamic_kwargs


def _checking_outputs(func: Callable, sizes: dict[str, int], output_core) -> Callable:
    def checked(*args):
        out = func(*args)
        outputs = out if isinstance(out, tuple) else [out]
        if len(output_core) > 1 and not isinstance(out, tuple):
            raise TypeError(at_user_line(
                f"fgrad.numpy.vectorize: the signature names {len(output_core)} outputs, so "
                f"the function must return a tuple, got {type(out).__name__}."))
        if len(outputs) != len(output_core):
            raise TypeError(at_user_line(
                f"fgrad.numpy.vectorize: the function returned {len(outputs)} outputs, the "
                f"signature names {len(output_core)}."))
        known = dict(sizes)
        for x, core in zip(outputs, output_core):
            _core_sizes(known, aval_of(x).shape, core, "an output", False)
        return out

    return checked
