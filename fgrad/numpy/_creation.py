"""Making arrays: from data (array, asarray), filled (zeros, ones, full and their _like
forms), and counted (arange, linspace, eye).

Outside any transformation these return JAX arrays at once; inside one they return the
trace's values (filled arrays are a broadcast literal, counted ones an iota)."""

from __future__ import annotations

import math
import operator

import numpy as np

from fgrad.core import Tracer, aval_of
from fgrad.core import dtypes as dt
from fgrad.core.errors import at_user_line
from fgrad.lax import elementwise as lx
from fgrad.lax import shapes as ls
from fgrad.numpy._core import (
    as_array, broadcast_shapes, broadcast_to_shape, canonical_axis, canonical_shape,
    check_arraylike, constant, convert, is_arraylike, to_inexact, user_dtype,
)
from fgrad.numpy._math import add, floor, multiply, subtract, true_divide
from fgrad.numpy._shapes import concatenate, expand_dims, reshape, stack

# The public names, gathered by fgrad/numpy/__init__.py.
__all__ = [
    "arange", "array", "asarray", "astype", "empty", "empty_like", "eye", "full",
    "full_like", "identity", "linspace", "ones", "ones_like", "zeros", "zeros_like",
]


def _leaves(obj) -> list:
    if isinstance(obj, (list, tuple)):
        return [leaf for item in obj for leaf in _leaves(item)]
    return [obj]


def array(object, dtype=None, copy: bool = True, order=None, ndmin: int = 0):  # noqa: A002
    """An array from an array, a scalar, or nested lists of them (which may hold traced
    values). Python scalars stay weakly typed, as in jax.numpy; lists give strong arrays."""
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


def asarray(a, dtype=None, order=None, *, copy=None):
    return array(a, dtype=dtype)


def zeros(shape, dtype=None):
    return ls.full(canonical_shape(shape, "zeros"), 0,
                   user_dtype(dtype, "zeros") or dt.default_float())


def ones(shape, dtype=None):
    return ls.full(canonical_shape(shape, "ones"), 1,
                   user_dtype(dtype, "ones") or dt.default_float())


empty = zeros


def full(shape, fill_value, dtype=None):
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


def zeros_like(a, dtype=None, shape=None):
    return _like("zeros_like", a, 0, dtype, shape)


def ones_like(a, dtype=None, shape=None):
    return _like("ones_like", a, 1, dtype, shape)


def full_like(a, fill_value, dtype=None, shape=None):
    return _like("full_like", a, fill_value, dtype, shape)


empty_like = zeros_like


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


def arange(start, stop=None, step=None, dtype=None):
    """Evenly spaced values in [start, stop); the bounds must be concrete (the result's
    length depends on them)."""
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
             dtype=None, axis: int = 0):
    """`num` evenly spaced values from start to stop (arrays of bounds give one column
    each, along `axis`)."""
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


def eye(N: int, M: int | None = None, k: int = 0, dtype=None):
    """The N x M matrix with ones on diagonal k (above the main one when k > 0)."""
    N = operator.index(N)
    M = N if M is None else operator.index(M)
    k = operator.index(k)
    if N < 0 or M < 0:
        raise ValueError(at_user_line(f"fgrad.numpy.eye: negative dimensions ({N}, {M})."))
    target = user_dtype(dtype, "eye") or dt.default_float()
    rows = ls.broadcasted_iota(np.int32, (N, M), 0)
    cols = ls.broadcasted_iota(np.int32, (N, M), 1)
    if k:
        rows = lx.add(rows, constant((N, M), k, np.dtype(np.int32)))
    return convert(lx.eq(rows, cols), target)


def identity(n: int, dtype=None):
    return eye(n, dtype=dtype)


def astype(x, dtype, copy: bool = False):
    """`x` converted to `dtype` (strongly typed)."""
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
