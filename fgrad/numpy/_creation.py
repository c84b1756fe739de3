"""Making arrays: from data (array, asarray, copy, frombuffer, fromstring), filled (zeros,
ones, full and their _like forms), counted (arange, linspace, logspace, geomspace, eye, tri,
indices, meshgrid and the index tricks mgrid, ogrid, r_, c_), the triangles of matrices
(tril, triu and the index functions), and the window functions.

Outside any transformation these return JAX arrays at once; inside one they return the
trace's values (filled arrays are a broadcast literal, counted ones an iota)."""

from __future__ import annotations

import functools
import math
import operator
import warnings

import numpy as np

import fgrad.numpy as fnp
from fgrad.api import vmap
from fgrad.core import Tracer, aval_of
from fgrad.core import dtypes as dt
from fgrad.core.errors import at_user_line
from fgrad.lax import control_flow as lc
from fgrad.lax import elementwise as lx
from fgrad.lax import shapes as ls
from fgrad.numpy._core import (
    as_array, broadcast_shapes, broadcast_to_shape, canonical_axis, canonical_shape,
    check_arraylike, convert, is_arraylike, promote_dtypes, to_inexact, upcast_f16,
    user_dtype,
)
from fgrad.numpy._math import (
    absolute, add, cos, floor, greater, log, multiply, power, sign, sqrt, square, subtract,
    true_divide,
)
from fgrad.numpy._shapes import (
    check_placement, concatenate, expand_dims, offset_mask, reshape, stack, static_array,
    transpose,
)

# fgrad.numpy.nonzero is reached through the package at call time: its module imports this
# one.

# The public names, gathered by fgrad/numpy/__init__.py.
__all__ = [
    "arange", "array", "asarray", "astype", "bartlett", "blackman", "c_", "copy",
    "diag_indices", "diag_indices_from", "empty", "empty_like", "eye", "frombuffer",
    "fromfunction", "fromiter", "fromstring", "full", "full_like", "geomspace", "hamming",
    "hanning", "identity", "index_exp", "indices", "ix_", "kaiser", "linspace", "logspace",
    "mask_indices", "meshgrid", "mgrid", "ogrid", "ones", "ones_like", "r_", "s_", "tri",
    "tril", "tril_indices", "tril_indices_from", "triu", "triu_indices", "triu_indices_from",
    "zeros", "zeros_like",
]


def _leaves(obj) -> list:
    if isinstance(obj, (list, tuple)):
        return [leaf for item in obj for leaf in _leaves(item)]
    return [obj]


def array(object, dtype=None, *args, copy: bool = True, order: str | None = "K",  # noqa: A002
          ndmin: int = 0, device=None, out_sharding=None):
    """An array from an array, a scalar, or nested lists of them (which may hold traced
    values). Python scalars stay weakly typed, as in jax.numpy; lists give strong arrays."""
    if args:  # jax.numpy's deprecated positional copy, order and ndmin
        if len(args) > 3:
            raise TypeError(at_user_line(
                f"fgrad.numpy.array takes at most 5 positional arguments, {len(args) + 2} "
                f"were given."))
        warnings.warn("Passing copy, order and ndmin to fgrad.numpy.array positionally is "
                      "deprecated (as in jax.numpy): use keywords.", DeprecationWarning,
                      stacklevel=2)
        copy, order, ndmin = (*args, *(copy, order, ndmin)[len(args):])
    if order is not None and order != "K":
        raise NotImplementedError(at_user_line(
            f"fgrad.numpy.array supports only order='K' (or None), not {order!r}."))
    check_placement("array", device, out_sharding)
    dtype = user_dtype(dtype, "array")
    if isinstance(object, (list, tuple)):
        leaves = _leaves(object)
        if not all(is_arraylike(x) for x in leaves):
            bad = next(x for x in leaves if not is_arraylike(x))
            raise TypeError(at_user_line(
                f"fgrad.numpy.array cannot make an array from a {type(bad).__name__}."))
        if all(type(x) in (bool, int, float, complex) for x in leaves):
            host = np.asarray(object)
            target = dt.canonicalize(host.dtype) if dtype is None else dtype
            out = lx.convert_element_type(host, target)
        else:
            # Traced or array elements: stack them with JAX's promotion, strongly typed.
            out = stack([array(item) for item in object])
            out_dtype = aval_of(out).dtype if dtype is None else dtype
            out = convert(out, out_dtype, False)
    else:
        check_arraylike("array", object)
        aval = aval_of(object)
        out = as_array(object, "array") if dtype is None else convert(object, dtype, False, aval)
    out = as_array(out, "array")
    ndim = aval_of(out).ndim
    if ndim < ndmin:
        out = ls.reshape(out, (1,) * (ndmin - ndim) + aval_of(out).shape)
    return out


def asarray(a, dtype=None, order: str | None = None, *, copy: bool | None = None,
            device=None, out_sharding=None):
    """`a` as an array (see `array`)."""
    return array(a, dtype=dtype, copy=bool(copy), order=order, device=device,
                 out_sharding=out_sharding)


def copy(a, order: str | None = None):
    """A copy of `a` (arrays are immutable: the same values)."""
    check_arraylike("copy", a)
    return array(a, copy=True, order=order)


def zeros(shape, dtype=None, *, device=None, out_sharding=None):
    """An array of zeros (default dtype: the default float)."""
    check_placement("zeros", device, out_sharding)
    return ls.full(canonical_shape(shape, "zeros"), 0,
                   user_dtype(dtype, "zeros") or dt.default_float())


def ones(shape, dtype=None, *, device=None, out_sharding=None):
    """An array of ones (default dtype: the default float)."""
    check_placement("ones", device, out_sharding)
    return ls.full(canonical_shape(shape, "ones"), 1,
                   user_dtype(dtype, "ones") or dt.default_float())


def empty(shape, dtype=None, *, device=None, out_sharding=None):
    """An array of zeros: JAX's arrays are never uninitialized."""
    return zeros(shape, dtype, device=device, out_sharding=out_sharding)


def full(shape, fill_value, dtype=None, *, device=None, out_sharding=None):
    """An array of `shape` filled with `fill_value` (broadcast when it is an array)."""
    check_placement("full", device, out_sharding)
    shape = canonical_shape(shape, "full")
    check_arraylike("full", fill_value)
    aval = aval_of(fill_value)
    target = user_dtype(dtype, "full")
    if aval.ndim:
        return broadcast_to_shape(array(fill_value, target), shape, "full")
    value = convert(fill_value, target or aval.dtype, target is None and aval.weak_type,
                    aval)
    return as_array(broadcast_to_shape(value, shape, "full"), "full")


def _like(name: str, a, fill_value, dtype, shape):
    check_arraylike(name, a, fill_value)
    aval = aval_of(a)
    shape = aval.shape if shape is None else canonical_shape(shape, name)
    target = user_dtype(dtype, name)
    weak = target is None and aval.weak_type
    target = target or aval.dtype
    fill_aval = aval_of(fill_value)
    if fill_aval.ndim:
        return broadcast_to_shape(array(fill_value, target), shape, name)
    value = convert(fill_value, target, weak, fill_aval)
    if shape == aval.shape and not dt.is_python_scalar(a) and not isinstance(value, Tracer):
        # Shaped like `a`: full_like also keeps a's sharding, as jax.numpy's *_like do.
        same = target == aval.dtype and weak == aval.weak_type
        return ls.full_like(a, np.asarray(value).item(), None if same else target)
    return as_array(broadcast_to_shape(value, shape, name), name)


def zeros_like(a, dtype=None, shape=None, *, device=None, out_sharding=None):
    """Zeros shaped and typed like `a` (unless shape or dtype say otherwise)."""
    check_placement("zeros_like", device, out_sharding)
    return _like("zeros_like", a, 0, dtype, shape)


def ones_like(a, dtype=None, shape=None, *, device=None, out_sharding=None):
    """Ones shaped and typed like `a` (unless shape or dtype say otherwise)."""
    check_placement("ones_like", device, out_sharding)
    return _like("ones_like", a, 1, dtype, shape)


def full_like(a, fill_value, dtype=None, shape=None, *, device=None, out_sharding=None):
    """`fill_value` shaped and typed like `a` (unless shape or dtype say otherwise)."""
    check_placement("full_like", device, out_sharding)
    return _like("full_like", a, fill_value, dtype, shape)


def empty_like(prototype, dtype=None, shape=None, *, device=None):
    """zeros_like: JAX's arrays are never uninitialized."""
    return zeros_like(prototype, dtype, shape, device=device)


def _static_scalar(value, name: str, what: str):
    """A concrete scalar argument's Python value (traced ones must be concrete)."""
    if isinstance(value, Tracer):
        value = value.item()
    elif hasattr(value, "shape"):
        if np.ndim(value) != 0:
            raise ValueError(at_user_line(
                f"fgrad.numpy.{name}: {what} must be a scalar, not an array of shape "
                f"{np.shape(value)}."))
        value = np.asarray(value).item()
    if isinstance(value, complex):
        raise ValueError(at_user_line(f"fgrad.numpy.{name}: {what} cannot be complex."))
    return value


def arange(start, stop=None, step=None, dtype=None, *, device=None, out_sharding=None):
    """Evenly spaced values in [start, stop); the bounds must be concrete (the result's
    length depends on them)."""
    check_placement("arange", device, out_sharding)
    arguments = [a for a in (start, stop, step) if a is not None]
    check_arraylike("arange", *arguments)
    target = user_dtype(dtype, "arange") or dt.promote(
        *(aval_of(a).update(weak_type=False) if not dt.is_python_scalar(a) else aval_of(a)
          for a in arguments))[0]
    start = _static_scalar(start, "arange", "start")
    stop = None if stop is None else _static_scalar(stop, "arange", "stop")
    step = None if step is None else _static_scalar(step, "arange", "step")
    if stop is None:
        start, stop = 0, start
    if step is not None:
        if step == 0:
            raise ValueError(at_user_line("fgrad.numpy.arange: step must not be 0."))
        working = (np.dtype(np.float32) if dt.is_float(target) and target.itemsize < 4
                   else target)
        size = max(0, math.ceil((stop - start) / step))
        counts = ls.iota(working, size)
        out = add(working.type(start), multiply(working.type(step), counts))
        return convert(out, target)
    size = max(0, math.ceil(stop - start))
    counts = ls.iota(target, size)
    return counts if start == 0 else add(target.type(start), counts)


def linspace(start, stop, num: int = 50, endpoint: bool = True, retstep: bool = False,
             dtype=None, axis: int = 0, *, device=None):
    """`num` evenly spaced values from start to stop (arrays of bounds give one column
    each, along `axis`)."""
    check_placement("linspace", device, None)
    check_arraylike("linspace", start, stop)
    num = operator.index(num)
    if num < 0:
        raise ValueError(at_user_line(
            f"fgrad.numpy.linspace: the number of samples, {num}, must be non-negative."))
    target = user_dtype(dtype, "linspace")
    if target is None:
        target = to_inexact(dt.promote(aval_of(start).update(weak_type=False),
                                       aval_of(stop).update(weak_type=False))[0])
    computation = to_inexact(target)
    start, stop = (convert(v, computation) for v in (start, stop))
    bounds = list(broadcast_shapes("linspace", aval_of(start).shape, aval_of(stop).shape))
    start = broadcast_to_shape(start, tuple(bounds), "linspace")
    stop = broadcast_to_shape(stop, tuple(bounds), "linspace")
    axis = canonical_axis(axis, len(bounds) + 1, "linspace")
    column = bounds[:axis] + [1] + bounds[axis:]
    div = num - 1 if endpoint else num
    if num > 1:
        delta = true_divide(subtract(stop, start), computation.type(div))
        steps_shape = [1] * len(column)
        steps_shape[axis] = div
        real = dt.real_dtype(computation)
        steps = true_divide(ls.reshape(ls.iota(real, div), steps_shape), real.type(div))
        steps = convert(steps, computation)
        # (1 - t) * start + t * stop hits both ends exactly in floating point.
        out = add(multiply(reshape(start, column), subtract(computation.type(1), steps)),
                  multiply(reshape(stop, column), steps))
        if endpoint:
            out = concatenate([out, expand_dims(stop, axis)], axis)
    elif num == 1:
        delta = ls.full((), np.nan, computation) if endpoint else subtract(stop, start)
        out = reshape(start, column)
    else:
        delta = ls.full((), np.nan, computation)
        out = ls.full(tuple(bounds[:axis] + [0] + bounds[axis:]), 0, target)
    if dt.is_integer(target) and not dt.is_integer(aval_of(out).dtype):
        out = floor(out)
    out = convert(out, target)
    return (out, delta) if retstep else out


def eye(N: int, M: int | None = None, k=0, dtype=None, *, device=None):
    """The N x M matrix with ones on diagonal k (above the main one when k > 0; k may be
    traced)."""
    check_placement("eye", device, None)
    N = operator.index(N)
    M = N if M is None else operator.index(M)
    if N < 0 or M < 0:
        raise ValueError(at_user_line(f"fgrad.numpy.eye: negative dimensions ({N}, {M})."))
    target = user_dtype(dtype, "eye") or dt.default_float()
    return convert(offset_mask((N, M), k, lx.eq), target)


def identity(n: int, dtype=None):
    """The n x n identity matrix."""
    return eye(n, dtype=dtype)


def astype(x, dtype, /, *, copy: bool = False, device=None):
    """`x` converted to `dtype` (strongly typed)."""
    check_placement("astype", device, None)
    check_arraylike("astype", x)
    return as_array(convert(x, user_dtype(dtype, "astype")), "astype")


class ScalarType:
    """A dtype name such as fgrad.numpy.float32: usable wherever a dtype is expected
    (`np.dtype(fnp.float32)`, `x.astype(fnp.float32)`), and callable to make an array of
    that dtype, like jax.numpy's `jnp.float32(x)`."""

    __slots__ = ("dtype", "__name__")

    def __init__(self, dtype, name: str):
        self.dtype = np.dtype(dtype)
        self.__name__ = name

    def __call__(self, x):
        return array(x, self.dtype)

    def __repr__(self) -> str:
        return f"fgrad.numpy.{self.__name__}"

    def __eq__(self, other) -> bool:
        try:
            return self.dtype == np.dtype(other)
        except (TypeError, ValueError):
            return NotImplemented

    def __hash__(self) -> int:
        return hash(self.dtype)


# -- triangles -------------------------------------------------------------------------------


def tri(N: int, M: int | None = None, k: int = 0, dtype=None):
    """The N x M matrix with ones on and below diagonal k. Its default dtype is float32, even
    with x64 on (as in jax.numpy)."""
    N = operator.index(N)
    M = N if M is None else operator.index(M)
    target = np.dtype(np.float32) if dtype is None else user_dtype(dtype, "tri")
    return convert(offset_mask((N, M), operator.index(k), lx.ge), target)


def _triangle(name: str, m, k: int, keep_lower: bool):
    check_arraylike(name, m)
    x = as_array(m, name)
    aval = aval_of(x)
    if aval.ndim < 2:
        raise ValueError(at_user_line(
            f"fgrad.numpy.{name} needs an array of at least 2 dimensions, got shape "
            f"{aval.shape}."))
    k = operator.index(k)
    lower = offset_mask(aval.shape[-2:], k if keep_lower else k - 1, lx.ge)
    lower = ls.broadcast_in_dim(lower, aval.shape, (aval.ndim - 2, aval.ndim - 1))
    zeros = ls.full(aval.shape, 0, aval.dtype, weak_type=aval.weak_type)
    cases = (zeros, x) if keep_lower else (x, zeros)
    return lx.select_n(lower, *cases)


def tril(m, k: int = 0):
    """`m` with the elements above diagonal k zeroed (in its last two axes)."""
    return _triangle("tril", m, k, keep_lower=True)


def triu(m, k: int = 0):
    """`m` with the elements below diagonal k zeroed (in its last two axes)."""
    return _triangle("triu", m, k, keep_lower=False)


def _index_constant(positions: np.ndarray):
    """Static positions as an array of the default integer dtype."""
    return lx.convert_element_type(np.asarray(positions), dt.default_int())


def tril_indices(n: int, k: int = 0, m: int | None = None) -> tuple:
    """The row and column indices of the elements on and below diagonal k of an n x m
    matrix."""
    n, k = operator.index(n), operator.index(k)
    m = n if m is None else operator.index(m)
    return tuple(_index_constant(p) for p in np.tril_indices(n, k, m))


def triu_indices(n: int, k: int = 0, m: int | None = None) -> tuple:
    """The row and column indices of the elements on and above diagonal k of an n x m
    matrix."""
    n, k = operator.index(n), operator.index(k)
    m = n if m is None else operator.index(m)
    return tuple(_index_constant(p) for p in np.triu_indices(n, k, m))


def _matrix_shape(name: str, arr) -> tuple[int, ...]:
    if not hasattr(arr, "shape"):
        check_arraylike(name, arr)
    shape = tuple(np.shape(arr)) if not hasattr(arr, "shape") else tuple(arr.shape)
    if len(shape) != 2:
        raise ValueError(at_user_line(
            f"fgrad.numpy.{name} needs a 2-D array, got shape {shape}."))
    return shape


def tril_indices_from(arr, k: int = 0) -> tuple:
    """tril_indices for the shape of the 2-D `arr`."""
    n, m = _matrix_shape("tril_indices_from", arr)
    return tril_indices(n, k, m)


def triu_indices_from(arr, k: int = 0) -> tuple:
    """triu_indices for the shape of the 2-D `arr`."""
    n, m = _matrix_shape("triu_indices_from", arr)
    return triu_indices(n, k, m)


def mask_indices(n: int, mask_func, k: int = 0, *, size: int | None = None) -> tuple:
    """The (rows, cols) of the nonzero elements of `mask_func(ones((n, n)), k)`; `size`
    fixes their number (padding with 0), as nonzero's does, so the mask may be traced."""
    mask = mask_func(ones((operator.index(n), operator.index(n))), k)
    rows, cols = fnp.nonzero(mask, size=size)
    return rows, cols


def diag_indices(n: int, ndim: int = 2) -> tuple:
    """The indices of the main diagonal of an n x ... x n array: `ndim` copies of
    arange(n)."""
    n, ndim = operator.index(n), operator.index(ndim)
    if n < 0 or ndim < 0:
        raise ValueError(at_user_line(
            f"fgrad.numpy.diag_indices: n and ndim must be non-negative, got {n} and "
            f"{ndim}."))
    return (ls.iota(dt.default_int(), n),) * ndim


def diag_indices_from(arr) -> tuple:
    """diag_indices for `arr`, whose axes must all have the same length."""
    check_arraylike("diag_indices_from", arr)
    shape = aval_of(arr).shape
    if len(shape) < 2 or len(set(shape)) != 1:
        raise ValueError(at_user_line(
            f"fgrad.numpy.diag_indices_from needs an array of at least 2 dimensions, all of "
            f"the same length, got shape {shape}."))
    return diag_indices(shape[0], len(shape))


# -- grids -----------------------------------------------------------------------------------


def meshgrid(*xi, copy: bool = True, sparse: bool = False, indexing: str = "xy") -> list:
    """Coordinate grids from 1-D coordinate arrays: 'xy' (Cartesian: the first two axes
    swapped) or 'ij' (matrix) indexing; sparse grids keep size 1 in the other axes."""
    check_arraylike("meshgrid", *xi)
    args = [as_array(x, "meshgrid") for x in xi]
    if not copy:
        raise ValueError(at_user_line("fgrad.numpy.meshgrid supports only copy=True."))
    if indexing not in ("xy", "ij"):
        raise ValueError(at_user_line(
            f"fgrad.numpy.meshgrid: indexing must be 'xy' or 'ij', not {indexing!r}."))
    if any(aval_of(a).ndim != 1 for a in args):
        raise ValueError(at_user_line(
            f"fgrad.numpy.meshgrid needs 1-D arrays, got shapes "
            f"{[aval_of(a).shape for a in args]}."))
    swap = indexing == "xy" and len(args) >= 2
    if swap:
        args[0], args[1] = args[1], args[0]
    sizes = [aval_of(a).shape[0] for a in args]
    output = []
    for i, a in enumerate(args):
        shape = tuple(n if j == i else 1 for j, n in enumerate(sizes)) if sparse else sizes
        output.append(ls.broadcast_in_dim(a, tuple(shape), (i,)))
    if swap:
        output[0], output[1] = output[1], output[0]
    return output


def indices(dimensions, dtype=None, sparse: bool = False):
    """The index grid of an array of shape `dimensions`: one array of the indices along each
    axis, stacked (or a tuple of sparse, broadcastable ones)."""
    target = user_dtype(int if dtype is None else dtype, "indices")
    dimensions = tuple(operator.index(d) for d in dimensions)
    output = []
    for i, n in enumerate(dimensions):
        shape = (1,) * i + (n,) + (1,) * (len(dimensions) - i - 1) if sparse else dimensions
        output.append(ls.broadcast_in_dim(ls.iota(target, n), shape, (i,)))
    if sparse:
        return tuple(output)
    return stack(output, 0) if output else ls.full((0,), 0, target)


def ix_(*args) -> tuple:
    """Open-mesh index arrays from 1-D integer sequences: x[ix_(rows, cols)] is the
    submatrix of those rows and columns."""
    check_arraylike("ix_", *args)
    output = []
    for i, a in enumerate(args):
        aval = aval_of(a)
        if aval.ndim != 1:
            raise ValueError(at_user_line(
                f"fgrad.numpy.ix_ needs 1-D arrays, got shape {aval.shape}."))
        if dt.is_bool(aval.dtype):
            raise NotImplementedError(at_user_line(
                "fgrad.numpy.ix_ does not take boolean arrays (nor does jax.numpy): pass "
                "the positions, fgrad.numpy.nonzero(mask)[0]."))
        shape = tuple(aval.shape[0] if j == i else 1 for j in range(len(args)))
        if aval.size == 0:  # NumPy's integer index type, whatever the empty input's
            output.append(ls.full(shape, 0, dt.canonicalize(np.intp)))
        else:
            output.append(ls.broadcast_in_dim(as_array(a, "ix_"), shape, (i,)))
    return tuple(output)


def _grid_from_slice(s: slice, name: str):
    """The 1-D grid a slice of mgrid, ogrid or r_ means: arange(start, stop, step), or for
    an imaginary step (5j) linspace with that many points, the stop included."""
    def bound(value, what):
        if value is None:
            return None
        value = static_array(value, name, f"the slice's {what}")
        return value.item()
    start = bound(s.start, "start") or 0
    stop = bound(s.stop, "stop")
    step = bound(s.step, "step") or 1
    if np.iscomplex(step):
        return linspace(start, stop, int(abs(step)))
    return arange(start, stop, step)


class _Mgrid:
    """`mgrid[0:3, 0:2]`: the dense grid of the slices' coordinates, stacked."""

    def __getitem__(self, key):
        if isinstance(key, slice):
            return _grid_from_slice(key, "mgrid")
        if not key:
            return arange(0)
        grids = promote_dtypes(*(_grid_from_slice(k, "mgrid") for k in key))
        return stack(meshgrid(*grids, indexing="ij", sparse=False), 0)


class _Ogrid:
    """`ogrid[0:3, 0:2]`: the open (sparse, broadcastable) grid of the slices'
    coordinates."""

    def __getitem__(self, key):
        if isinstance(key, slice):
            return _grid_from_slice(key, "ogrid")
        grids = [_grid_from_slice(k, "ogrid") for k in key]
        grids = promote_dtypes(*grids) if grids else grids
        return meshgrid(*grids, indexing="ij", sparse=True)


mgrid = _Mgrid()
ogrid = _Ogrid()


class _AxisConcat:
    """NumPy's r_ and c_: concatenation written as indexing. Slices become aranges (or
    linspaces for an imaginary step); a leading string directive 'axis,ndmin,trans1d' (or
    'r' / 'c' for a row or column matrix) sets where and how the pieces join."""

    axis: int
    ndmin: int
    trans1d: int
    name: str

    def __getitem__(self, key):
        items = key if isinstance(key, tuple) else (key,)
        params = [self.axis, self.ndmin, self.trans1d, -1]
        if items and isinstance(items[0], str):
            directive, items = items[0], items[1:]
            if directive == "r":
                params[-1] = 0
            elif directive == "c":
                params[-1] = 1
            else:
                vec = directive.split(",")
                vec = vec + params[len(vec):] if len(vec) < 4 else vec[:3] + [params[-1]]
                try:
                    params = [int(v) for v in vec]
                except ValueError:
                    raise ValueError(at_user_line(
                        f"fgrad.numpy.{self.name}: could not understand the directive "
                        f"{directive!r}; it should be 'axis', 'axis,ndmin' or "
                        f"'axis,ndmin,trans1d', or 'r' or 'c'.")) from None
        axis, ndmin, trans1d, matrix = params
        output = []
        for item in items:
            if isinstance(item, slice):
                piece, item_ndim = _grid_from_slice(item, self.name), 0
            elif isinstance(item, str):
                raise ValueError(at_user_line(
                    f"fgrad.numpy.{self.name}: a string directive must come first."))
            else:
                piece = array(item, copy=False)
                item_ndim = aval_of(piece).ndim
            piece = array(piece, copy=False, ndmin=ndmin)
            if trans1d != -1 and ndmin - item_ndim > 0:
                # NumPy's rule: the original axes move to position trans1d.
                shifts = ndmin - abs(ndmin + trans1d + 1) % ndmin
                order = tuple(range(ndmin))
                piece = transpose(piece, order[shifts:] + order[:shifts])
            output.append(piece)
        result = concatenate(output, axis)
        if matrix != -1 and aval_of(result).ndim == 1:
            result = expand_dims(result, matrix)
        return result

    def __len__(self) -> int:
        return 0


class _RClass(_AxisConcat):
    """`r_[...]`: joins along the first axis."""

    axis, ndmin, trans1d, name = 0, 1, -1, "r_"


class _CClass(_AxisConcat):
    """`c_[...]`: joins along the last axis, 1-D pieces as columns."""

    axis, ndmin, trans1d, name = -1, 2, 0, "c_"


r_ = _RClass()
c_ = _CClass()
s_ = np.s_
index_exp = np.index_exp


# -- from functions and buffers --------------------------------------------------------------


def fromfunction(function, shape, *, dtype=float, **kwargs):
    """`function` applied to the index of every element of an array of `shape`, vectorized
    with vmap: `function(i, j, **kwargs)` receives one index per axis."""
    shape = canonical_shape(shape, "fromfunction")
    mapped = functools.partial(function, **kwargs)
    for i in range(len(shape)):
        in_axes = [0 if i == j else None for j in range(len(shape))]
        mapped = vmap(mapped, in_axes=tuple(in_axes[::-1]))
    return mapped(*(arange(n, dtype=dtype) for n in shape))


def frombuffer(buffer, dtype=float, count: int = -1, offset: int = 0):
    """A 1-D array of the `count` elements of `dtype` in a bytes-like buffer, from byte
    `offset` on."""
    return asarray(np.frombuffer(buffer, dtype=dtype, count=count, offset=offset))


def fromstring(string: str, dtype=float, count: int = -1, *, sep: str):
    """A 1-D array of the numbers written in `string`, separated by `sep`."""
    return asarray(np.fromstring(string, dtype=dtype, count=count, sep=sep))


def fromiter(*args, **kwargs):
    """Not available, as in jax.numpy: consuming an iterator is a side effect."""
    raise NotImplementedError(at_user_line(
        "fgrad.numpy.fromiter is not implemented (nor is jax.numpy's): consuming an iterator "
        "is a side effect, which traced functions must not have. Use "
        "fgrad.numpy.asarray(np.fromiter(...)) outside traced code."))


# -- geometric and logarithmic spacing -------------------------------------------------------


def _spacing_dtypes(name: str, start, stop, dtype) -> tuple[np.dtype, np.dtype]:
    check_arraylike(name, start, stop)
    if dtype is None:
        target = to_inexact(dt.promote(aval_of(start), aval_of(stop))[0])
    else:
        target = user_dtype(dtype, name)
    return target, to_inexact(target)


def logspace(start, stop, num: int = 50, endpoint: bool = True, base=10.0, dtype=None,
             axis: int = 0):
    """`num` values from base**start to base**stop, evenly spaced in the exponent."""
    num, axis = operator.index(num), operator.index(axis)
    target, computation = _spacing_dtypes("logspace", start, stop, dtype)
    exponents = linspace(convert(start, computation), convert(stop, computation), num,
                         endpoint=endpoint, axis=axis)
    return convert(power(base, exponents), target)


def _log10(x):
    # jax.numpy's log10: log(x) times the float nearest 1 / log(10).
    return multiply(log(x), dt.real_dtype(aval_of(x).dtype).type(0.4342944819032518))


def geomspace(start, stop, num: int = 50, endpoint: bool = True, dtype=None, axis: int = 0):
    """`num` values from start to stop in geometric progression (same sign at both ends)."""
    num, axis = operator.index(num), operator.index(axis)
    target, computation = _spacing_dtypes("geomspace", start, stop, dtype)
    start, stop = convert(start, computation), convert(stop, computation)
    direction = sign(start)
    exponents = linspace(_log10(true_divide(start, direction)),
                         _log10(true_divide(stop, direction)), num, endpoint=endpoint)
    result = multiply(direction, power(10.0, exponents))
    ndim = aval_of(result).ndim
    axis = canonical_axis(axis, ndim, "geomspace")
    if axis:
        result = transpose(result, (*range(1, axis + 1), 0, *range(axis + 1, ndim)))
    return convert(result, target)


# -- window functions ------------------------------------------------------------------------


def _window_length(name: str, M) -> int:
    if isinstance(M, Tracer):
        M = M.item()
    return int(M)


def _window(name: str, M, formula):
    """formula(n, M) over n = 0 .. M - 1 in the default float dtype; ones for M <= 1."""
    M = _window_length(name, M)
    dtype = dt.default_float()
    if M <= 1:
        return ls.full((M,), 1, dtype)
    return formula(ls.iota(dtype, M), M)


def _cosine_term(n, M: int, multiple: int):
    # cos(2 pi multiple n / (M - 1)), in jax.numpy's order of operations.
    return cos(true_divide(multiply(2 * multiple * np.pi, n), M - 1))


def bartlett(M: int):
    """The Bartlett (triangular) window of M points."""
    return _window("bartlett", M, lambda n, M: subtract(1, true_divide(
        absolute(subtract(add(multiply(2, n), 1), M)), M - 1)))


def blackman(M: int):
    """The Blackman window of M points."""
    return _window("blackman", M, lambda n, M: add(
        subtract(0.42, multiply(0.5, _cosine_term(n, M, 1))),
        multiply(0.08, _cosine_term(n, M, 2))))


def hamming(M: int):
    """The Hamming window of M points."""
    return _window("hamming", M, lambda n, M: subtract(
        0.54, multiply(0.46, _cosine_term(n, M, 1))))


def hanning(M: int):
    """The Hann window of M points."""
    return _window("hanning", M, lambda n, M: multiply(0.5, subtract(
        1, _cosine_term(n, M, 1))))


def kaiser(M: int, beta):
    """The Kaiser window of M points with shape parameter beta:
    I0(beta sqrt(1 - (2n / (M - 1) - 1)^2)) / I0(beta)."""
    check_arraylike("kaiser", beta)

    def formula(n, M):
        alpha = 0.5 * (M - 1)
        radius = sqrt(subtract(1, square(true_divide(subtract(n, alpha), alpha))))
        return true_divide(_bessel_i0(multiply(beta, radius)), _bessel_i0(beta))

    return _window("kaiser", M, formula)


# Enough terms of I0's series for every argument whose I0 is finite: the terms peak at
# k = |x| / 2 (|x| < 90 in float32, 714 in float64), then fall faster than geometrically.
_I0_MAX_TERMS = {4: 128, 8: 512}


def _bessel_i0(x):
    """The modified Bessel function I0 by its power series sum_k ((x/2)^2)^k / (k!)^2,
    summed until the terms no longer change the sums (all terms are positive, so the sum
    is accurate to a few ulps; about |x| / 2 + 10 terms). The loop's bound makes it
    reverse-differentiable."""
    (x,) = promote_dtypes(x, kind="inexact")
    aval = aval_of(x)
    if dt.is_complex(aval.dtype):
        raise ValueError(at_user_line(
            f"fgrad.numpy.kaiser: beta must be real, not {aval.dtype} (nor does jax.numpy's "
            f"i0 take complex numbers)."))
    dtype = upcast_f16(aval.dtype)  # half precision sums in float32, then rounds once
    x = convert(x, dtype, aval.weak_type)
    quarter_square = multiply(square(x), 0.25)
    one = ls.full(aval.shape, 1, dtype, weak_type=aval.weak_type)

    def more(state):
        _, term, total = state
        return fnp.any(greater(term, multiply(total, np.finfo(dtype).eps / 2)))

    def step(state):
        k, term, total = state
        k = add(k, 1.0)
        term = true_divide(multiply(term, quarter_square), square(k))
        return k, term, add(total, term)

    real = dt.real_dtype(dtype)
    _, _, total = lc.while_loop(more, step, (real.type(0), one, one),
                                max_steps=_I0_MAX_TERMS.get(real.itemsize, 128))
    return convert(total, aval.dtype, aval.weak_type)
