"""Functions that rearrange elements without computing on them: reshaping, permuting axes,
joining, splitting, repeating and reversing arrays."""

from __future__ import annotations

import math
import operator
import warnings

import jax
import numpy as np

import fgrad.numpy as fnp
from fgrad.api import vmap
from fgrad.core import Tracer, aval_of
from fgrad.core.errors import ConcretizationError, ShapeDtypeError, at_user_line
from fgrad.lax import elementwise as lx
from fgrad.lax import indexing as li
from fgrad.lax import shapes as ls
from fgrad.numpy._core import (
    as_array, broadcast_to_shape, canonical_axes, canonical_axis, canonical_shape,
    check_arraylike, convert, int_tuple, is_scalar_argument, promote_dtypes, user_dtype,
)
from fgrad.numpy._core import broadcast_shapes as _broadcast_shapes
from fgrad.numpy._indexing import IndexUpdateHelper, getitem
from fgrad.numpy._math import (
    add, clip, equal, less, less_equal, logical_and, logical_not, logical_or, multiply,
    remainder, subtract, where,
)

# fgrad.numpy's reductions (sum, mean, amax, amin, median) are reached through the package,
# at call time: their modules import this one, so importing them here would be a cycle.

# The public names, gathered by fgrad/numpy/__init__.py.
__all__ = [
    "append", "array_split", "atleast_1d", "atleast_2d", "atleast_3d", "block",
    "broadcast_arrays", "broadcast_shapes", "broadcast_to", "column_stack", "concat",
    "concatenate", "delete", "diag", "diagflat", "diagonal", "dsplit", "dstack", "expand_dims",
    "flip", "fliplr", "flipud", "hsplit", "hstack", "insert", "matrix_transpose", "moveaxis",
    "ndim", "pad", "permute_dims", "ravel", "repeat", "reshape", "resize", "roll", "rollaxis",
    "rot90", "shape", "size", "split", "squeeze", "stack", "swapaxes", "tile", "trace",
    "transpose", "unstack", "vsplit", "vstack",
]


def reshape(a, shape, order: str = "C", *, copy: bool | None = None, out_sharding=None):
    """`a` with a new shape of as many elements; one dimension may be -1 (inferred)."""
    check_placement("reshape", None, out_sharding)
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


def ravel(a, order: str = "C", *, out_sharding=None):
    """`a` flattened to one dimension."""
    check_placement("ravel", None, out_sharding)
    check_arraylike("ravel", a)
    return reshape(a, (aval_of(a).size,), order)


def transpose(a, axes=None):
    """`a` with its axes reversed, or in the order `axes`."""
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


def matrix_transpose(x, /):
    """Swaps the last two axes (`x.mT`)."""
    check_arraylike("matrix_transpose", x)
    ndim = aval_of(x).ndim
    if ndim < 2:
        raise ShapeDtypeError(at_user_line(
            f"fgrad.numpy.matrix_transpose needs at least 2 dimensions, got {ndim}."))
    return transpose(x, (*range(ndim - 2), ndim - 1, ndim - 2))


def swapaxes(a, axis1: int, axis2: int):
    """`a` with axis1 and axis2 exchanged."""
    check_arraylike("swapaxes", a)
    ndim = aval_of(a).ndim
    permutation = list(range(ndim))
    axis1 = canonical_axis(axis1, ndim, "swapaxes")
    axis2 = canonical_axis(axis2, ndim, "swapaxes")
    permutation[axis1], permutation[axis2] = axis2, axis1
    return transpose(a, permutation)


def moveaxis(a, source, destination):
    """`a` with the axes `source` moved to the positions `destination`, the others in
    order."""
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
    """`a` without its axes of size 1 (or just the ones named)."""
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
    """`a` with axes of size 1 inserted at the positions `axis` of the result."""
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
    """The arrays joined along `axis` (flattened first when None)."""
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


def stack(arrays, axis: int = 0, out=None, dtype=None):
    """The arrays (all of one shape) joined along a new axis."""
    if out is not None:
        raise NotImplementedError(at_user_line("fgrad.numpy.stack does not support out=."))
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
    """`A` repeated `reps` times along each axis."""
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


def repeat(a, repeats, axis: int | None = None, *, total_repeat_length=None,
           out_sharding=None):
    """Repeats each element `repeats` times (an int, or one static count per element)."""
    check_placement("repeat", None, out_sharding)
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


def broadcast_to(array, shape, *, out_sharding=None):
    """`array` broadcast to `shape` by NumPy's rule."""
    check_placement("broadcast_to", None, out_sharding)
    check_arraylike("broadcast_to", array)
    shape = canonical_shape(shape, "broadcast_to")
    return as_array(broadcast_to_shape(array, shape, "broadcast_to"), "broadcast_to")


def broadcast_arrays(*args) -> list:
    """The arrays broadcast to their common shape."""
    check_arraylike("broadcast_arrays", *args)
    shape = _broadcast_shapes("broadcast_arrays", *(aval_of(a).shape for a in args))
    return [broadcast_to(a, shape) for a in args]


def flip(m, axis=None):
    """`m` with the order of its elements reversed along `axis` (all axes when None)."""
    check_arraylike("flip", m)
    axes = canonical_axes(axis, aval_of(m).ndim, "flip")
    return ls.rev(m, axes) if axes else as_array(m, "flip")


# -- static arguments and masks shared by the functions below --------------------------------


def check_placement(name: str, device, out_sharding) -> None:
    """fgrad computes on JAX's default device: device= and out_sharding= may only name it."""
    default = jax.devices()[0]
    for what, value in (("device", device), ("out_sharding", out_sharding)):
        if value is not None and getattr(value, "device_set", {value}) != {default}:
            raise NotImplementedError(at_user_line(
                f"fgrad.numpy.{name}: {what}={value!r} is not supported: fgrad places arrays "
                f"on JAX's default device ({default}) only. Use jax.device_put on the "
                f"result."))


def static_array(value, name: str, what: str) -> np.ndarray:
    """A static argument (an int, a nested sequence of them, or an array whose value is
    known) as a NumPy array; traced values must be concrete, as in jax.numpy."""
    if isinstance(value, (list, tuple)):
        items = [static_array(v, name, what) for v in value]
        try:
            return np.asarray(items)
        except ValueError:  # ragged
            raise TypeError(at_user_line(
                f"fgrad.numpy.{name}: the entries of {what} must all have the same shape, got "
                f"{value!r}.")) from None
    try:
        if isinstance(value, Tracer):
            return np.asarray(value.concrete())
        return np.asarray(value)
    except (ConcretizationError, jax.errors.ConcretizationTypeError,
            jax.errors.TracerArrayConversionError):
        raise ConcretizationError(at_user_line(
            f"fgrad.numpy.{name}: {what} must be static (a Python value, a NumPy array or a "
            f"concrete array), because the result's shape depends on it; it is a traced "
            f"value here.")) from None


def offset_mask(shape: tuple[int, int], k, keep):
    """The (rows, cols) bool mask `keep(row + k, col)`: lx.eq for diagonal k, lx.ge for the
    triangle on and below it. `k` may be traced (jax.numpy's eye and trace allow it)."""
    int32 = np.dtype(np.int32)
    rows = ls.broadcasted_iota(int32, shape, 0)
    cols = ls.broadcasted_iota(int32, shape, 1)
    if isinstance(k, (int, np.integer)):
        if k:
            rows = lx.add(rows, ls.full(shape, int(k), int32))
    else:
        check_arraylike("offset", k)
        if aval_of(k).ndim:
            raise ValueError(at_user_line(
                f"fgrad.numpy: a diagonal offset must be a scalar, not an array of shape "
                f"{aval_of(k).shape}."))
        rows = lx.add(rows, ls.broadcast_in_dim(convert(k, int32), shape, ()))
    return keep(rows, cols)


def _zeros_like(x, shape=None):
    """Zeros of x's dtype and weak type (jax.numpy's zeros_like)."""
    aval = aval_of(x)
    return ls.full(aval.shape if shape is None else shape, 0, aval.dtype,
                   weak_type=aval.weak_type)


def _concat_nonempty(parts: list, axis: int):
    """Concatenates the parts that have elements along `axis` (jax concatenates empty ones
    too: the values are the same, the program shorter)."""
    parts = [p for p in parts if aval_of(p).shape[axis]] or parts[:1]
    return parts[0] if len(parts) == 1 else ls.concatenate(parts, axis)


# -- padding ---------------------------------------------------------------------------------

_PAD_OPTIONS = {
    "constant": ("constant_values",), "empty": (), "edge": (), "wrap": (),
    "linear_ramp": ("end_values",), "maximum": ("stat_length",), "mean": ("stat_length",),
    "median": ("stat_length",), "minimum": ("stat_length",),
    "reflect": ("reflect_type",), "symmetric": ("reflect_type",),
}


def _pairs(values, ndim: int, what: str) -> list[tuple]:
    """A (before, after) pair per axis from NumPy's forms: one number, (n,), (before,
    after), ((before, after),) or one pair per axis."""
    values = static_array(values, "pad", what)
    if values.shape == (ndim, 2):
        pairs = values
    elif values.shape in ((1, 2), (2,)):
        pairs = np.broadcast_to(values.reshape(2), (ndim, 2))
    elif values.shape in ((1,), ()):
        pairs = np.broadcast_to(values.reshape(()), (ndim, 2))
    else:
        raise ValueError(at_user_line(
            f"fgrad.numpy.pad: {what} of shape {values.shape} does not fit an array of "
            f"{ndim} dimensions. Valid shapes are ({ndim}, 2), (1, 2), (2,), (1,) and ()."))
    return [tuple(pair) for pair in pairs.tolist()]


def pad(array, pad_width, mode="constant", **kwargs):
    """`array` padded by pad_width[axis] = (before, after) elements, filled as `mode` says:
    'constant' (constant_values), 'edge', 'wrap', 'reflect' and 'symmetric' (reflect_type
    'even' or 'odd'), 'linear_ramp' (end_values), 'maximum', 'minimum', 'mean' and 'median'
    (stat_length), 'empty' (zeros), or a function `f(row, (before, after), axis, kwargs)`
    applied along each axis to rows padded with zeros."""
    check_arraylike("pad", array)
    ndim = aval_of(array).ndim
    widths = _pairs(pad_width, ndim, "pad_width")
    if not all(isinstance(w, int) for pair in widths for w in pair):
        raise TypeError(at_user_line(
            f"fgrad.numpy.pad: pad_width must be integers, got {pad_width!r}."))
    x = as_array(array, "pad")
    if callable(mode):
        return _pad_with_function(x, widths, mode, kwargs)
    if mode not in _PAD_OPTIONS:
        raise NotImplementedError(at_user_line(
            f"fgrad.numpy.pad: unknown mode {mode!r}; the modes are "
            f"{', '.join(map(repr, _PAD_OPTIONS))} or a function."))
    unsupported = set(kwargs) - set(_PAD_OPTIONS[mode])
    if unsupported:
        raise ValueError(at_user_line(
            f"fgrad.numpy.pad: mode {mode!r} takes no argument {sorted(unsupported)}; it takes "
            f"{list(_PAD_OPTIONS[mode]) or 'none'}."))
    if ndim == 0:
        return x
    if any(w < 0 for pair in widths for w in pair):
        raise ValueError(at_user_line(
            f"fgrad.numpy.pad: pad widths cannot be negative, got {widths}."))
    if mode == "constant":
        return _pad_constant(x, widths, kwargs.get("constant_values", 0))
    if mode == "wrap":
        return _pad_wrap(x, widths)
    if mode in ("reflect", "symmetric"):
        reflect_type = kwargs.get("reflect_type", "even")
        if reflect_type not in ("even", "odd"):
            raise ValueError(at_user_line(
                f"fgrad.numpy.pad: reflect_type must be 'even' or 'odd', not "
                f"{reflect_type!r}."))
        return _pad_reflect(x, widths, mode, reflect_type)
    if mode == "edge":
        return _pad_edge(x, widths)
    if mode == "linear_ramp":
        return _pad_linear_ramp(x, widths, _pairs(kwargs.get("end_values", 0), ndim,
                                                  "end_values"))
    if mode == "empty":
        return _pad_empty(x, widths)
    stat_length = kwargs.get("stat_length")
    if stat_length is not None:
        stat_length = _pairs(stat_length, ndim, "stat_length")
    return _pad_statistic(x, widths, stat_length, mode)


def _check_no_padding(size: int, pair: tuple, mode: str) -> None:
    if size == 0 and (pair[0] > 0 or pair[1] > 0):
        raise ValueError(at_user_line(
            f"fgrad.numpy.pad: cannot apply {mode!r} padding to an empty axis: there are no "
            f"elements to copy."))


def _pad_constant(x, widths, constant_values):
    aval = aval_of(x)
    if isinstance(constant_values, (list, tuple)):
        constant_values = fnp.array(constant_values)
    check_arraylike("pad", constant_values)
    values = convert(constant_values, aval.dtype, aval.weak_type)
    values_aval = aval_of(values)
    if values_aval.ndim == 0:
        return ls.pad(x, values, [(lo, hi, 0) for lo, hi in widths])
    if values_aval.ndim == 1 and values_aval.shape[-1] == 1:
        return ls.pad(x, ls.reshape(values, ()), [(lo, hi, 0) for lo, hi in widths])
    if values_aval.ndim == 1 and values_aval.shape[-1] != 2:
        raise ValueError(at_user_line(
            f"fgrad.numpy.pad: constant_values of shape {values_aval.shape} must have 1 or 2 "
            f"elements in its last dimension (one value, or a (before, after) pair)."))
    values = broadcast_to(values, (aval.ndim, 2))
    for axis, (lo, hi) in enumerate(widths):
        for side, width in enumerate((lo, hi)):
            if width:
                config = [(0, 0, 0)] * aval.ndim
                config[axis] = (width, 0, 0) if side == 0 else (0, width, 0)
                x = ls.pad(x, getitem(values, (axis, side)), config)
    return x


def _pad_wrap(x, widths):
    for axis, pair in enumerate(widths):
        size = aval_of(x).shape[axis]
        _check_no_padding(size, pair, "wrap")
        if size == 0 or pair == (0, 0):
            continue
        left_repeats, left_rest = divmod(pair[0], size)
        right_repeats, right_rest = divmod(pair[1], size)
        parts = [_slice_along(x, size - left_rest, size, axis)]
        parts += [x] * (left_repeats + right_repeats + 1)
        parts.append(_slice_along(x, 0, right_rest, axis))
        x = _concat_nonempty(parts, axis)
    return x


def _pad_reflect(x, widths, mode: str, reflect_type: str):
    """NumPy's reflection, one axis at a time: 'reflect' mirrors about the edge element,
    'symmetric' about the edge itself; 'odd' reflects the values through the edge value
    too. Pads wider than the axis repeat the reflection, as NumPy does."""
    for axis, (before, after) in enumerate(widths):
        size = aval_of(x).shape[axis]
        _check_no_padding(size, (before, after), mode)
        if size == 0:
            continue
        offset = 1 if mode == "reflect" and size > 1 else 0
        for padding, at_start in ((before, True), (after, False)):
            n = aval_of(x).shape[axis]
            edge = _slice_along(x, 0, 1, axis) if at_start else _slice_along(x, n - 1, n, axis)
            while padding > 0:
                n = aval_of(x).shape[axis]
                width = min(padding, size - offset)
                padding -= width
                if at_start:
                    start, stop = offset, offset + width
                else:
                    start = n - width - offset
                    stop = n if mode == "symmetric" or size == 1 else n - 1
                part = flip(_slice_along(x, start, stop, axis), axis)
                if reflect_type == "odd":
                    part = subtract(multiply(2, edge), part)
                    if size > 1:
                        w = aval_of(part).shape[axis]
                        edge = (_slice_along(part, 0, 1, axis) if at_start
                                else _slice_along(part, w - 1, w, axis))
                x = ls.concatenate([part, x] if at_start else [x, part], axis)
    return x


def _pad_edge(x, widths):
    for axis, (before, after) in enumerate(widths):
        n = aval_of(x).shape[axis]
        _check_no_padding(n, (before, after), "edge")
        if n == 0 or (before, after) == (0, 0):
            continue
        first = repeat(_slice_along(x, 0, 1, axis), before, axis)
        last = repeat(_slice_along(x, n - 1, n, axis), after, axis)
        x = _concat_nonempty([first, x, last], axis)
    return x


def _pad_linear_ramp(x, widths, end_values):
    aval = aval_of(x)
    for axis, (before, after) in enumerate(widths):
        n = aval_of(x).shape[axis]
        ramps = []
        for width, end, edge in ((before, end_values[axis][0], _slice_along(x, 0, 1, axis)),
                                 (after, end_values[axis][1],
                                  _slice_along(x, n - 1, n, axis))):
            # From the end value towards the edge (which it stops short of), in x's type.
            ramp = fnp.linspace(end, squeeze(edge, axis), width, endpoint=False,
                                dtype=aval.dtype, axis=axis)
            ramps.append(convert(ramp, aval.dtype, aval.weak_type))
        x = _concat_nonempty([ramps[0], x, flip(ramps[1], axis)], axis)
    return x


def _statistic(mode: str):
    return {"maximum": fnp.amax, "minimum": fnp.amin, "mean": fnp.mean,
            "median": fnp.median}[mode]


def _pad_statistic(x, widths, stat_length, mode: str):
    """Pads with the maximum, minimum, mean or median of the whole axis, or of its first and
    last stat_length elements; rounded to the nearest integer for integer arrays."""
    aval = aval_of(x)
    statistic = _statistic(mode)
    for axis, (before, after) in enumerate(widths):
        if stat_length is None:
            stat_before = stat_after = statistic(x, axis=axis, keepdims=True)
        else:
            n = aval_of(x).shape[axis]
            length_before, length_after = stat_length[axis]
            if length_before == 0 or length_after == 0:
                raise ValueError(at_user_line(
                    "fgrad.numpy.pad: a stat_length of 0 gives no value to pad with."))
            length_before, length_after = min(length_before, n), min(length_after, n)
            stat_before = statistic(_slice_along(x, 0, length_before, axis), axis=axis,
                                    keepdims=True)
            stat_after = statistic(_slice_along(x, n - length_after, n, axis), axis=axis,
                                   keepdims=True)
        stats = []
        for stat, width in ((stat_before, before), (stat_after, after)):
            if np.issubdtype(aval.dtype, np.integer):
                stat = fnp.round(stat)
            stats.append(repeat(convert(stat, aval.dtype, aval.weak_type), width, axis))
        x = _concat_nonempty([stats[0], x, stats[1]], axis)
    return x


def _pad_empty(x, widths):
    # jax.numpy's empty is zeros.
    for axis, (before, after) in enumerate(widths):
        shape = aval_of(x).shape
        parts = [_zeros_like(x, shape[:axis] + (width,) + shape[axis + 1:])
                 for width in (before, after)]
        x = _concat_nonempty([parts[0], x, parts[1]], axis)
    return x


def _pad_with_function(x, widths, function, kwargs):
    padded = _pad_constant(x, widths, 0)
    for axis in range(aval_of(x).ndim):
        padded = _apply_along_axis(function, axis, padded, widths[axis], axis, kwargs)
    return padded


def _apply_along_axis(function, axis: int, x, *args):
    """`function(row, *args)` on every 1-D row along `axis`, vectorized with vmap (the
    result's row length may differ from the input's), as jax.numpy.apply_along_axis."""
    ndim = aval_of(x).ndim

    def on_row(row):
        return function(row, *args)

    mapped = on_row
    for i in range(1, ndim - axis):
        mapped = vmap(mapped, in_axes=i, out_axes=-1)
    for _ in range(axis):
        mapped = vmap(mapped, in_axes=0, out_axes=0)
    return mapped(x)


# -- rolling, rotating and flipping ----------------------------------------------------------


def _static_shifts(shift) -> tuple[int, ...] | None:
    """The shifts as ints when they are static, None when they are traced."""
    items = shift if isinstance(shift, (tuple, list)) else [shift]
    if any(isinstance(s, Tracer) for s in items):
        return None
    try:
        return int_tuple(shift, "roll", "shift")
    except TypeError:
        return None


def roll(a, shift, axis=None):
    """Shifts the elements by `shift` places along `axis` (of the flattened array when None),
    wrapping around; shift and axis may be sequences, and shift may be traced."""
    check_arraylike("roll", a)
    x = as_array(a, "roll")
    shape = aval_of(x).shape
    if axis is None:
        return reshape(roll(ravel(x), shift, 0), shape)
    axes = tuple(canonical_axis(ax, len(shape), "roll")
                 for ax in int_tuple(axis, "roll", "axis"))
    shifts = _static_shifts(shift)
    if shifts is None:
        return _roll_dynamic(x, shift, axes)
    try:
        pairs = list(zip(*np.broadcast_arrays(np.asarray(axes), np.asarray(shifts))))
    except ValueError:
        raise ValueError(at_user_line(
            f"fgrad.numpy.roll: shift {shift!r} and axis {axis!r} must have the same length "
            f"(or one of them a single value).")) from None
    for ax, s in pairs:
        n = shape[ax]
        start = int(-s) % n if n else 0
        if start:
            x = ls.concatenate([_slice_along(x, start, n, ax), _slice_along(x, 0, start, ax)],
                               int(ax))
    return x


def _roll_dynamic(x, shift, axes):
    if isinstance(shift, (tuple, list)):
        shift = stack(list(shift))
    check_arraylike("roll", shift)
    shape = aval_of(x).shape
    shift_shape = _broadcast_shapes("roll", aval_of(shift).shape, (len(axes),))
    if len(shift_shape) != 1:
        raise ValueError(at_user_line(
            "fgrad.numpy.roll: shift and axis must be scalars or 1-D sequences."))
    shifts = broadcast_to(shift, shift_shape)
    int32 = np.dtype(np.int32)
    for k, ax in enumerate(np.broadcast_to(np.asarray(axes), shift_shape).tolist()):
        n = shape[ax]
        # x rolled by s is the window of length n starting at n - s of x repeated twice.
        s = remainder(convert(getitem(shifts, k), int32), int32.type(max(n, 1)))
        starts = [int32.type(0)] * len(shape)
        starts[ax] = subtract(int32.type(n), s)
        x = li.dynamic_slice(ls.concatenate([x, x], ax), starts, shape)
    return x


def rot90(m, k: int = 1, axes: tuple[int, int] = (0, 1)):
    """Rotates by 90 degrees k times in the plane of `axes`, from the first towards the
    second."""
    check_arraylike("rot90", m)
    x = as_array(m, "rot90")
    ndim = aval_of(x).ndim
    if ndim < 2:
        raise ValueError(at_user_line(
            f"fgrad.numpy.rot90 needs an array of at least 2 dimensions, got shape "
            f"{aval_of(x).shape}."))
    ax1, ax2 = (canonical_axis(ax, ndim, "rot90") for ax in axes)
    if ax1 == ax2:
        raise ValueError(at_user_line("fgrad.numpy.rot90: the two axes must differ."))
    k = operator.index(k) % 4
    if k == 0:
        return x
    if k == 2:
        return flip(x, (ax1, ax2))
    permutation = list(range(ndim))
    permutation[ax1], permutation[ax2] = ax2, ax1
    if k == 1:
        return transpose(flip(x, ax2), permutation)
    return flip(transpose(x, permutation), ax2)


def fliplr(m):
    """Reverses the columns (axis 1)."""
    check_arraylike("fliplr", m)
    return flip(m, 1)


def flipud(m):
    """Reverses the rows (axis 0)."""
    check_arraylike("flipud", m)
    return flip(m, 0)


def rollaxis(a, axis: int, start: int = 0):
    """Moves `axis` to stand before position `start` (NumPy's older moveaxis)."""
    check_arraylike("rollaxis", a)
    ndim = aval_of(a).ndim
    axis = canonical_axis(axis, ndim, "rollaxis")
    start = operator.index(start)
    if not -ndim <= start <= ndim:
        raise ValueError(at_user_line(
            f"fgrad.numpy.rollaxis: start={start} must lie in [{-ndim}, {ndim}]."))
    if start < 0:
        start += ndim
    if start > axis:
        start -= 1
    return moveaxis(a, axis, start)


def permute_dims(a, /, axes: tuple[int, ...]):
    """The array API's transpose: `a` with its axes in the order `axes`."""
    check_arraylike("permute_dims", a)
    return transpose(a, axes)


# -- diagonals -------------------------------------------------------------------------------


def diagonal(a, offset: int = 0, axis1: int = 0, axis2: int = 1):
    """The diagonal `offset` (above the main one when positive) of the matrices in the plane
    of axis1 and axis2, as the last axis of the result."""
    check_arraylike("diagonal", a)
    x = as_array(a, "diagonal")
    shape = aval_of(x).shape
    if len(shape) < 2:
        raise ValueError(at_user_line(
            f"fgrad.numpy.diagonal needs an array of at least 2 dimensions, got shape "
            f"{shape}."))
    offset = operator.index(offset)
    ax1 = canonical_axis(axis1, len(shape), "diagonal")
    ax2 = canonical_axis(axis2, len(shape), "diagonal")
    if ax1 == ax2:
        raise ValueError(at_user_line("fgrad.numpy.diagonal: axis1 and axis2 must differ."))
    n, m = shape[ax1], shape[ax2]
    x = moveaxis(x, (ax1, ax2), (-2, -1))
    lead = aval_of(x).shape[:-2]
    length = max(0, min(n + min(offset, 0), m - max(offset, 0)))
    # In the flattened matrix, the diagonal's elements lie m + 1 apart: one strided slice.
    flat = ls.reshape(x, lead + (n * m,))
    start = (offset if offset >= 0 else -offset * m) if length else 0
    stop = start + (length - 1) * (m + 1) + 1 if length else 0
    return li.slice(flat, (0,) * len(lead) + (start,), lead + (stop,),
                    (1,) * len(lead) + (m + 1,))


def diag(v, k: int = 0):
    """The matrix with the 1-D `v` on diagonal k, or the diagonal k of the 2-D `v`."""
    check_arraylike("diag", v)
    x = as_array(v, "diag")
    k = operator.index(k)
    aval = aval_of(x)
    if aval.ndim == 2:
        return diagonal(x, offset=k)
    if aval.ndim != 1:
        raise ValueError(at_user_line(
            f"fgrad.numpy.diag needs a 1-D or 2-D array, got shape {aval.shape}."))
    n = aval.shape[0] + abs(k)
    zero = ls.full((), 0, aval.dtype, weak_type=aval.weak_type)
    # Row i of the result holds v's element i - max(0, -k) on the diagonal, if any.
    padded = ls.pad(x, zero, ((max(0, -k), max(0, k), 0),))
    rows = ls.broadcast_in_dim(padded, (n, n), (0,))
    return lx.select_n(offset_mask((n, n), k, lx.eq), _zeros_like(rows), rows)


def diagflat(v, k: int = 0):
    """The matrix with the flattened `v` on diagonal k."""
    check_arraylike("diagflat", v)
    out = diag(ravel(v), k)
    return convert(out, aval_of(out).dtype)  # strongly typed, as jax.numpy's scatter makes it


def trace(a, offset=0, axis1: int = 0, axis2: int = 1, dtype=None, out=None):
    """The sum of the diagonal `offset` (which may be traced) in the plane of axis1 and
    axis2."""
    check_arraylike("trace", a)
    if out is not None:
        raise NotImplementedError(at_user_line("fgrad.numpy.trace does not support out=."))
    x = as_array(a, "trace")
    shape = aval_of(x).shape
    ax1 = canonical_axis(axis1, len(shape), "trace")
    ax2 = canonical_axis(axis2, len(shape), "trace")
    if ax1 == ax2:
        raise ValueError(at_user_line(
            f"fgrad.numpy.trace: axis1 and axis2 must differ, both are {axis1}."))
    x = moveaxis(x, (ax1, ax2), (-2, -1))
    xshape = aval_of(x).shape
    mask = ls.broadcast_in_dim(offset_mask(xshape[-2:], offset, lx.eq), xshape,
                               (len(xshape) - 2, len(xshape) - 1))
    # Masking and summing the whole matrix (as jax.numpy does) allows a traced offset.
    masked = lx.select_n(mask, _zeros_like(x), x)
    return fnp.sum(masked, axis=(-2, -1), dtype=dtype)


# -- joining ---------------------------------------------------------------------------------


def _at_least(name: str, arys, ndim: int):
    check_arraylike(name, *arys)
    out = []
    for a in arys:
        x = as_array(a, name)
        shape = aval_of(x).shape
        if len(shape) < ndim:
            if ndim == 3 and len(shape) == 1:  # NumPy's choice: (n,) -> (1, n, 1)
                x = ls.reshape(x, (1,) + shape + (1,))
            elif ndim == 3 and len(shape) == 2:
                x = ls.reshape(x, shape + (1,))
            else:
                x = ls.reshape(x, (1,) * (ndim - len(shape)) + shape)
        out.append(x)
    return out[0] if len(out) == 1 else out


def atleast_1d(*arys):
    """Each argument with at least 1 dimension (a list when there are several)."""
    return _at_least("atleast_1d", arys, 1)


def atleast_2d(*arys):
    """Each argument with at least 2 dimensions, new ones in front."""
    return _at_least("atleast_2d", arys, 2)


def atleast_3d(*arys):
    """Each argument with at least 3 dimensions: (n,) becomes (1, n, 1), (m, n) (m, n, 1)."""
    return _at_least("atleast_3d", arys, 3)


def hstack(tup, dtype=None):
    """Joins along the columns (axis 1), or along axis 0 for 1-D arrays."""
    arrays = [atleast_1d(a) for a in _sequence("hstack", tup)]
    return concatenate(arrays, 0 if aval_of(arrays[0]).ndim == 1 else 1, dtype)


def vstack(tup, dtype=None):
    """Joins along the rows (axis 0), 1-D arrays as rows."""
    return concatenate([atleast_2d(a) for a in _sequence("vstack", tup)], 0, dtype)


def dstack(tup, dtype=None):
    """Joins along the depth (axis 2), after atleast_3d."""
    return concatenate([atleast_3d(a) for a in _sequence("dstack", tup)], 2, dtype)


def column_stack(tup):
    """Joins 1-D arrays as columns of a matrix (and wider arrays along axis 1)."""
    arrays = [as_array(a, "column_stack") for a in _sequence("column_stack", tup)]
    arrays = [transpose(atleast_2d(a)) if aval_of(a).ndim < 2 else a for a in arrays]
    return concatenate(arrays, 1)


def concat(arrays, /, *, axis: int | None = 0):
    """The array API's concatenate."""
    return concatenate(arrays, axis)


def append(arr, values, axis: int | None = None):
    """`values` joined after `arr` along `axis` (both flattened when None)."""
    if axis is None:
        return concatenate([ravel(arr), ravel(values)], 0)
    return concatenate([arr, values], axis)


def _block(item) -> tuple:
    if isinstance(item, tuple):
        raise ValueError(at_user_line(
            f"fgrad.numpy.block takes nested lists, not tuples, got {item!r}."))
    if not isinstance(item, list):
        check_arraylike("block", item)
        return as_array(item, "block"), 1
    if not item:
        raise ValueError(at_user_line("fgrad.numpy.block: an empty list has no blocks."))
    blocks, depths = zip(*(_block(x) for x in item))
    if any(d != depths[0] for d in depths):
        raise ValueError(at_user_line(
            "fgrad.numpy.block: the lists are nested to different depths."))
    rank = max(depths[0], max(aval_of(b).ndim for b in blocks))
    blocks = [ls.reshape(b, (1,) * (rank - aval_of(b).ndim) + aval_of(b).shape)
              if aval_of(b).ndim < rank else b for b in blocks]
    return concatenate(blocks, -depths[0]), depths[0] + 1


def block(arrays):
    """An array assembled from nested lists of blocks: the innermost lists join along the
    last axis, the next ones along the one before, and so on."""
    return _block(arrays)[0]


def unstack(x, /, *, axis: int = 0) -> tuple:
    """The slices of `x` along `axis`, as a tuple."""
    check_arraylike("unstack", x)
    shape = aval_of(x).shape
    if not shape:
        raise ValueError(at_user_line("fgrad.numpy.unstack needs at least one dimension."))
    axis = canonical_axis(axis, len(shape), "unstack")
    return tuple(getitem(x, (slice(None),) * axis + (i,)) for i in range(shape[axis]))


# -- splitting -------------------------------------------------------------------------------


def array_split(ary, indices_or_sections, axis: int = 0) -> list:
    """Like split, but n sections need not divide the axis: the first ones get one element
    more."""
    check_arraylike("array_split", ary)
    if not is_scalar_argument(indices_or_sections):
        return split(ary, indices_or_sections, axis)
    shape = aval_of(ary).shape
    axis = canonical_axis(axis, len(shape), "array_split")
    sections = operator.index(indices_or_sections)
    if sections <= 0:
        raise ValueError(at_user_line(
            f"fgrad.numpy.array_split: the number of sections must be positive, got "
            f"{sections}."))
    part, rest = divmod(shape[axis], sections)
    bounds = np.cumsum([0] + [part + 1] * rest + [part] * (sections - rest)).tolist()
    return [_slice_along(ary, lo, hi, axis) for lo, hi in zip(bounds[:-1], bounds[1:])]


def hsplit(ary, indices_or_sections) -> list:
    """split along the columns (axis 1; axis 0 of a 1-D array)."""
    check_arraylike("hsplit", ary)
    return split(ary, indices_or_sections, 0 if aval_of(ary).ndim == 1 else 1)


def vsplit(ary, indices_or_sections) -> list:
    """split along the rows (axis 0)."""
    return split(ary, indices_or_sections, 0)


def dsplit(ary, indices_or_sections) -> list:
    """split along the depth (axis 2)."""
    return split(ary, indices_or_sections, 2)


# -- inserting and deleting ------------------------------------------------------------------


def delete(arr, obj, axis: int | None = None, *, assume_unique_indices: bool = False):
    """`arr` without the elements at `obj` (an int, a slice, integer indices or a boolean
    mask) along `axis` (of the flattened array when None). The indices must be static,
    since they decide the result's length, unless assume_unique_indices promises they are
    distinct and in bounds: then only their number matters and they may be traced."""
    check_arraylike("delete", arr)
    x = as_array(arr, "delete")
    if axis is None:
        x, axis = ravel(x), 0
    shape = aval_of(x).shape
    axis = canonical_axis(axis, len(shape), "delete")
    n = shape[axis]
    before = (slice(None),) * axis
    if not isinstance(obj, (Tracer, slice)) and np.ndim(obj) == 0:
        try:
            index = operator.index(obj)
        except TypeError:
            pass
        else:
            if not -n <= index < n:
                raise np.exceptions.AxisError(at_user_line(
                    f"fgrad.numpy.delete: index {index} is out of bounds for axis {axis} of "
                    f"size {n}."))
            index %= n
            return ls.concatenate([_slice_along(x, 0, index, axis),
                                   _slice_along(x, index + 1, n, axis)], axis)
    if isinstance(obj, slice):
        obj, assume_unique_indices = np.arange(n)[obj], True
    check_arraylike("delete", obj)
    obj_dtype = aval_of(obj).dtype
    if np.issubdtype(obj_dtype, np.integer) and assume_unique_indices:
        return getitem(x, before + (_kept_positions(obj, n),))
    positions = static_array(obj, "delete", "obj (without assume_unique_indices=True)")
    if np.issubdtype(positions.dtype, np.integer):
        keep = np.ones(n, dtype=bool)
        keep[positions] = False
    elif positions.dtype == np.bool_:
        if positions.shape != (n,):
            raise ValueError(at_user_line(
                f"fgrad.numpy.delete: a boolean obj must be 1-D with the axis' length {n}, "
                f"got shape {positions.shape}."))
        keep = ~positions
    else:
        raise ValueError(at_user_line(
            f"fgrad.numpy.delete: obj must hold integers or booleans, not {positions.dtype}."))
    return getitem(x, before + (np.nonzero(keep)[0].astype(np.int32),))


def _kept_positions(obj, n: int):
    """The positions of the elements that deleting the distinct in-bounds indices `obj`
    keeps, computed with comparisons and a running count (no sort), so obj may be traced:
    the i-th kept element is the first position where i + 1 elements have been kept."""
    int32 = np.dtype(np.int32)
    indices = ravel(convert(obj, int32))
    count = aval_of(indices).shape[0]
    indices = where(less(indices, 0), add(indices, int32.type(n)), indices)
    positions = ls.iota(int32, n)
    deleted = fnp.any(equal(_row(positions), _column(indices)), axis=0)
    kept_so_far = fnp.cumsum(convert(logical_not(deleted), int32))
    wanted = ls.iota(int32, max(n - count, 0))
    return fnp.sum(less_equal(_row(kept_so_far), _column(wanted)), axis=1, dtype=int32)


def _row(x):
    return ls.expand_dims(x, (0,))


def _column(x):
    return ls.expand_dims(x, (1,))


def insert(arr, obj, values, axis: int | None = None):
    """`arr` with `values` inserted before the positions `obj` (an int, a slice or integer
    indices, which may be traced) along `axis` (of the flattened array when None)."""
    check_arraylike("insert", arr, values, *([] if isinstance(obj, slice) else [obj]))
    x = as_array(arr, "insert")
    if axis is None:
        x, axis = ravel(x), 0
    aval = aval_of(x)
    axis = canonical_axis(axis, aval.ndim, "insert")
    n = aval.shape[axis]
    int32 = np.dtype(np.int32)
    if isinstance(obj, slice):
        indices = as_array(np.arange(*obj.indices(n)), "insert")
    else:
        indices = as_array(obj, "insert")
    indices_aval = aval_of(indices)
    if indices_aval.ndim > 1:
        raise ValueError(at_user_line(
            f"fgrad.numpy.insert: obj must be a slice, a scalar or a 1-D array, got shape "
            f"{indices_aval.shape}."))
    if not np.issubdtype(indices_aval.dtype, np.integer):
        if indices_aval.size == 0 and not isinstance(obj, (Tracer, jax.Array)):
            indices = convert(indices, int32)
        else:
            raise ValueError(at_user_line(
                f"fgrad.numpy.insert: obj must hold integers, not {indices_aval.dtype}."))
    values = fnp.array(values, dtype=aval.dtype, ndmin=aval.ndim)
    if aval_of(indices).size == 1:
        if aval_of(indices).ndim == 0:  # one position: values' first axis is the new slices
            values = moveaxis(values, 0, axis)
        index = getitem(ravel(indices), 0)
        indices = ls.broadcast_in_dim(index, (aval_of(values).shape[axis],), ())
    count = _broadcast_shapes("insert", aval_of(indices).shape,
                              (aval_of(values).shape[axis],))[0]
    indices = broadcast_to(convert(indices, int32), (count,))
    indices = where(less(indices, 0), add(indices, int32.type(n)), indices)
    indices = clip(indices, int32.type(0), int32.type(n))
    # A value goes after the elements of arr before its index and the values placed before
    # it (those with smaller indices, and earlier ones with the same index); an element of
    # arr after itself and the values inserted at or before its position.
    order = ls.iota(int32, count)
    earlier = logical_or(less(_row(indices), _column(indices)),
                         logical_and(equal(_row(indices), _column(indices)),
                                     less(_row(order), _column(order))))
    value_places = add(indices, fnp.sum(earlier, axis=1, dtype=int32))
    positions = ls.iota(int32, n)
    element_places = add(positions, fnp.sum(less_equal(_row(indices), _column(positions)),
                                            axis=1, dtype=int32))
    out_shape = aval.shape[:axis] + (n + count,) + aval.shape[axis + 1:]
    values = broadcast_to(values, aval.shape[:axis] + (count,) + aval.shape[axis + 1:])
    sources = concatenate([convert(x, aval.dtype), values], axis)
    places = ls.concatenate([element_places, value_places], 0)
    out = IndexUpdateHelper(_zeros_like(x, out_shape))[(slice(None),) * axis + (places,)]
    return out.set(sources, unique_indices=True)


# -- shapes and sizes ------------------------------------------------------------------------


def _warn_if_sequence(name: str, a) -> None:
    if isinstance(a, (list, tuple)):
        warnings.warn(f"fgrad.numpy.{name}: passing a list or tuple is deprecated (as in "
                      f"jax.numpy); pass an array.", DeprecationWarning, stacklevel=3)
    else:
        check_arraylike(name, a)


def ndim(a) -> int:
    """The number of dimensions of `a`."""
    if hasattr(a, "ndim"):
        return a.ndim
    _warn_if_sequence("ndim", a)
    return np.ndim(a)


def shape(a) -> tuple[int, ...]:
    """The shape of `a`."""
    if hasattr(a, "shape"):
        return a.shape
    _warn_if_sequence("shape", a)
    return np.shape(a)


def size(a, axis=None) -> int:
    """The number of elements of `a`, or along the axes `axis`."""
    if axis is None and hasattr(a, "size"):
        return a.size
    dims = shape(a)
    return math.prod(dims[i] for i in canonical_axes(axis, len(dims), "size"))


def broadcast_shapes(*shapes) -> tuple[int, ...]:
    """The shape that arrays of `shapes` broadcast to (ints count as 1-D shapes)."""
    if not shapes:
        return ()
    shapes = [(operator.index(s),) if np.ndim(s) == 0 else tuple(map(operator.index, s))
              for s in shapes]
    return _broadcast_shapes("broadcast_shapes", *shapes)


def resize(a, new_shape):
    """`a` flattened, repeated as often as needed and cut to fill `new_shape`."""
    check_arraylike("resize", a)
    new_shape = int_tuple(new_shape, "resize", "new_shape")
    if any(d < 0 for d in new_shape):
        raise ValueError(at_user_line(
            f"fgrad.numpy.resize: new_shape {new_shape} has negative dimensions."))
    flat = ravel(a)
    old_size, new_size = aval_of(flat).size, math.prod(new_shape)
    if old_size == 0 or new_size == 0:
        return _zeros_like(flat, new_shape)
    repeated = tile(flat, -(-new_size // old_size))
    return reshape(_slice_along(repeated, 0, new_size, 0), new_shape)
