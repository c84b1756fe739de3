"""Functions that rearrange elements without computing on them: reshaping, permuting axes,
joining, splitting, repeating and reversing arrays."""

from __future__ import annotations

import math
import operator

import numpy as np

from fgrad.core import aval_of
from fgrad.core.errors import ShapeDtypeError, at_user_line
from fgrad.lax import indexing as li
from fgrad.lax import shapes as ls
from fgrad.numpy._core import (
    as_array, broadcast_shapes, broadcast_to_shape, canonical_axes, canonical_axis,
    canonical_shape, check_arraylike, convert, int_tuple, is_scalar_argument, promote_dtypes,
    user_dtype,
)
from fgrad.numpy._indexing import getitem

# The public names, gathered by fgrad/numpy/__init__.py.
__all__ = [
    "broadcast_arrays", "broadcast_to", "concatenate", "expand_dims", "flip",
    "matrix_transpose", "moveaxis", "ravel", "repeat", "reshape", "split", "squeeze",
    "stack", "swapaxes", "tile", "transpose",
]


def reshape(a, shape=None, order: str = "C", *, newshape=None):
    """`a` with a new shape of as many elements; one dimension may be -1 (inferred)."""
    if shape is None:
        shape = newshape
    check_arraylike("reshape", a)
    if order != "C":
        raise ValueError(at_user_line("fgrad.numpy.reshape supports only order='C'."))
    aval = aval_of(a)
    dims = list(int_tuple(shape, "reshape", "shape"))
    unknown = [i for i, d in enumerate(dims) if d == -1]
    known = math.prod(d for d in dims if d != -1)
    if len(unknown) > 1 or any(d < -1 for d in dims):
        raise ValueError(at_user_line(
            f"fgrad.numpy.reshape: invalid shape {tuple(dims)}: at most one dimension may be "
            f"-1 and none may be negative otherwise."))
    if unknown and known and aval.size % known == 0:
        dims[unknown[0]] = aval.size // known
    if math.prod(dims) != aval.size or (unknown and not known):
        raise ShapeDtypeError(at_user_line(
            f"fgrad.numpy.reshape: cannot reshape an array of shape {aval.shape} (size "
            f"{aval.size}) into shape {tuple(dims)}."))
    dims = tuple(dims)
    return as_array(a, "reshape") if dims == aval.shape else ls.reshape(a, dims)


def ravel(a, order: str = "C"):
    check_arraylike("ravel", a)
    return reshape(a, (aval_of(a).size,), order)


def transpose(a, axes=None):
    check_arraylike("transpose", a)
    ndim = aval_of(a).ndim
    if axes is None:
        permutation = tuple(reversed(range(ndim)))
    else:
        permutation = tuple(canonical_axis(ax, ndim, "transpose") for ax in axes)
        if sorted(permutation) != list(range(ndim)):
            raise ShapeDtypeError(at_user_line(
                f"fgrad.numpy.transpose: axes {tuple(axes)} are not a permutation of the "
                f"{ndim} axes of the array."))
    if permutation == tuple(range(ndim)):
        return as_array(a, "transpose")
    return ls.transpose(a, permutation)


def matrix_transpose(x):
    """Swaps the last two axes (`x.mT`)."""
    check_arraylike("matrix_transpose", x)
    ndim = aval_of(x).ndim
    if ndim < 2:
        raise ShapeDtypeError(at_user_line(
            f"fgrad.numpy.matrix_transpose needs at least 2 dimensions, got {ndim}."))
    return transpose(x, (*range(ndim - 2), ndim - 1, ndim - 2))


def swapaxes(a, axis1: int, axis2: int):
    check_arraylike("swapaxes", a)
    ndim = aval_of(a).ndim
    permutation = list(range(ndim))
    axis1 = canonical_axis(axis1, ndim, "swapaxes")
    axis2 = canonical_axis(axis2, ndim, "swapaxes")
    permutation[axis1], permutation[axis2] = axis2, axis1
    return transpose(a, permutation)


def moveaxis(a, source, destination):
    check_arraylike("moveaxis", a)
    ndim = aval_of(a).ndim
    source = int_tuple(source, "moveaxis", "source")
    destination = int_tuple(destination, "moveaxis", "destination")
    if len(source) != len(destination):
        raise ValueError(at_user_line(
            f"fgrad.numpy.moveaxis: source {source} and destination {destination} must have "
            f"the same number of elements."))
    source = [canonical_axis(ax, ndim, "moveaxis") for ax in source]
    destination = [canonical_axis(ax, ndim, "moveaxis") for ax in destination]
    if len(set(source)) != len(source) or len(set(destination)) != len(destination):
        raise ValueError(at_user_line("fgrad.numpy.moveaxis: repeated axis."))
    permutation = [ax for ax in range(ndim) if ax not in source]
    for dst, src in sorted(zip(destination, source)):
        permutation.insert(dst, src)
    return transpose(a, permutation)


def squeeze(a, axis=None):
    check_arraylike("squeeze", a)
    shape = aval_of(a).shape
    if axis is None:
        axes = tuple(i for i, n in enumerate(shape) if n == 1)
    else:
        axes = canonical_axes(axis, len(shape), "squeeze")
        wide = [ax for ax in axes if shape[ax] != 1]
        if wide:
            raise ShapeDtypeError(at_user_line(
                f"fgrad.numpy.squeeze: cannot squeeze axis {wide[0]} of shape {shape}: its size "
                f"is {shape[wide[0]]}, not 1."))
    return ls.squeeze(a, axes) if axes else as_array(a, "squeeze")


def expand_dims(a, axis):
    check_arraylike("expand_dims", a)
    ndim = aval_of(a).ndim
    axes = int_tuple(axis, "expand_dims", "axis")
    axes = canonical_axes(axes, ndim + len(axes), "expand_dims")
    return ls.expand_dims(a, axes)


def _sequence(name: str, arrays) -> list:
    if hasattr(arrays, "shape") and not isinstance(arrays, np.ndarray):
        return [getitem(arrays, i) for i in range(aval_of(arrays).shape[0])]
    arrays = list(arrays)
    if not arrays:
        raise ValueError(at_user_line(f"fgrad.numpy.{name} needs at least one array."))
    check_arraylike(name, *arrays)
    return arrays


def concatenate(arrays, axis: int | None = 0, dtype=None):
    arrays = _sequence("concatenate", arrays)
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    avals = [aval_of(a) for a in arrays]
    if any(a.ndim == 0 for a in avals):
        raise ShapeDtypeError(at_user_line(
            "fgrad.numpy.concatenate: zero-dimensional arrays cannot be concatenated."))
    ndim = avals[0].ndim
    axis = canonical_axis(axis, ndim, "concatenate")
    rest = [a.shape[:axis] + a.shape[axis + 1:] for a in avals]
    if any(a.ndim != ndim for a in avals) or any(r != rest[0] for r in rest):
        raise ShapeDtypeError(at_user_line(
            f"fgrad.numpy.concatenate: the shapes {', '.join(str(a.shape) for a in avals)} "
            f"must agree except along axis {axis}."))
    if dtype is None:
        arrays = promote_dtypes(*arrays)
    else:
        arrays = [convert(a, user_dtype(dtype, "concatenate")) for a in arrays]
    if len(arrays) == 1:
        return as_array(arrays[0], "concatenate")
    return ls.concatenate(arrays, axis)


def stack(arrays, axis: int = 0, dtype=None):
    arrays = _sequence("stack", arrays)
    shapes = {aval_of(a).shape for a in arrays}
    if len(shapes) > 1:
        raise ShapeDtypeError(at_user_line(
            f"fgrad.numpy.stack: all arrays must have the same shape, got "
            f"{', '.join(str(aval_of(a).shape) for a in arrays)}."))
    ndim = len(shapes.pop())
    axis = canonical_axis(axis, ndim + 1, "stack")
    return concatenate([expand_dims(as_array(a, "stack"), axis) for a in arrays], axis, dtype)


def _slice_along(a, start: int, stop: int, axis: int):
    shape = aval_of(a).shape
    starts = [0] * len(shape)
    stops = list(shape)
    starts[axis], stops[axis] = start, stop
    return li.slice(a, starts, stops)


def split(ary, indices_or_sections, axis: int = 0) -> list:
    """Splits into equal sections (an int that must divide the axis) or at the given
    indices (NumPy's slicing rules: clipped to the axis)."""
    check_arraylike("split", ary)
    shape = aval_of(ary).shape
    axis = canonical_axis(axis, len(shape), "split")
    size = shape[axis]
    if is_scalar_argument(indices_or_sections):
        sections = operator.index(indices_or_sections)
        if sections <= 0 or size % sections:
            raise ShapeDtypeError(at_user_line(
                f"fgrad.numpy.split: an axis of size {size} cannot be split into {sections} "
                f"equal sections."))
        bounds = [i * (size // sections) for i in range(sections + 1)]
        pieces = list(zip(bounds[:-1], bounds[1:]))
    else:
        points = int_tuple(indices_or_sections, "split", "indices_or_sections")
        edges = [None, *points, None]
        pieces = []
        for lo, hi in zip(edges[:-1], edges[1:]):
            start, stop, _ = slice(lo, hi).indices(size)
            pieces.append((start, max(start, stop)))
    return [_slice_along(ary, lo, hi, axis) for lo, hi in pieces]


def tile(A, reps):
    check_arraylike("tile", A)
    reps = int_tuple(reps, "tile", "reps")
    shape = aval_of(A).shape
    ndim = max(len(shape), len(reps))
    shape = (1,) * (ndim - len(shape)) + shape
    reps = (1,) * (ndim - len(reps)) + reps
    if any(r < 0 for r in reps):
        raise ValueError(at_user_line(f"fgrad.numpy.tile: negative repetitions {reps}."))
    x = reshape(A, shape)
    # Every axis of size n repeated r times becomes a pair of axes (r, n), then one.
    pairs = tuple(d for r, n in zip(reps, shape) for d in (r, n))
    x = ls.broadcast_in_dim(x, pairs, tuple(range(1, 2 * ndim, 2)))
    return ls.reshape(x, tuple(r * n for r, n in zip(reps, shape)))


def repeat(a, repeats, axis: int | None = None, *, total_repeat_length=None):
    """Repeats each element `repeats` times (an int, or one static count per element)."""
    check_arraylike("repeat", a)
    if axis is None:
        a, axis = ravel(a), 0
    shape = aval_of(a).shape
    axis = canonical_axis(axis, len(shape), "repeat")
    if is_scalar_argument(repeats):
        r = operator.index(repeats)
        if r < 0:
            raise ValueError(at_user_line(f"fgrad.numpy.repeat: negative repeats {r}."))
        expanded = shape[:axis + 1] + (r,) + shape[axis + 1:]
        dims = tuple(d if d <= axis else d + 1 for d in range(len(shape)))
        x = ls.broadcast_in_dim(a, expanded, dims)
        out = ls.reshape(x, shape[:axis] + (shape[axis] * r,) + shape[axis + 1:])
    else:
        counts = np.asarray(repeats)
        if counts.shape != (shape[axis],) or (counts < 0).any():
            raise ValueError(at_user_line(
                f"fgrad.numpy.repeat: repeats must be one non-negative count per element of "
                f"axis {axis} (size {shape[axis]}), got {counts.tolist()}."))
        positions = np.repeat(np.arange(shape[axis], dtype=np.int32), counts)
        out = getitem(a, (slice(None),) * axis + (positions,))
    if total_repeat_length is not None and aval_of(out).shape[axis] != total_repeat_length:
        raise ValueError(at_user_line(
            f"fgrad.numpy.repeat: the result has {aval_of(out).shape[axis]} elements along "
            f"axis {axis}, not total_repeat_length={total_repeat_length}."))
    return out


def broadcast_to(array, shape):
    check_arraylike("broadcast_to", array)
    shape = canonical_shape(shape, "broadcast_to")
    return as_array(broadcast_to_shape(array, shape, "broadcast_to"), "broadcast_to")


def broadcast_arrays(*args) -> list:
    check_arraylike("broadcast_arrays", *args)
    shape = broadcast_shapes("broadcast_arrays", *(aval_of(a).shape for a in args))
    return [broadcast_to(a, shape) for a in args]


def flip(m, axis=None):
    check_arraylike("flip", m)
    axes = canonical_axes(axis, aval_of(m).ndim, "flip")
    return ls.rev(m, axes) if axes else as_array(m, "flip")
