"""Sorting, searching, order statistics, set operations and histograms, as jax.numpy has
them.

Everything is composed from fgrad.lax's `sort` (several operands ordered together, which
gives argsort and lexsort) and `top_k` (partition), gathers and scatters. So each function
differentiates through sort's and top_k's rules: a median's gradient flows to the element(s)
it picked.

Functions whose result size depends on the values (unique and the set operations, and
bincount or histogram bins sized from the data) need those values concretely, as in
jax.numpy: eagerly and under fgrad.grad (whose values are known) they just work; under jit
or vmap they take a static `size=` (or `length=`), and say so when it is missing. Padding
past the true size follows jax.numpy's `fill_value` rules.
"""

from __future__ import annotations

import builtins
import math
import operator
from typing import NamedTuple

import jax
import numpy as np

from fgrad.core import Tracer, aval_of
from fgrad.core import dtypes as dt
from fgrad.core.errors import ConcretizationError, at_user_line
from fgrad.lax import elementwise as lx
from fgrad.lax import indexing as li
from fgrad.lax import shapes as ls
from fgrad.lax import sorting as lsort
from fgrad.numpy._core import (
    as_array, broadcast_to_shape, canonical_axis, check_arraylike, constant, convert,
    is_arraylike, promote_dtypes, to_inexact, user_dtype,
)
from fgrad.numpy._eager import compiled_eagerly
from fgrad.numpy._creation import arange, asarray, linspace, ones_like, zeros
from fgrad.numpy._indexing import IndexUpdateHelper, getitem
from fgrad.numpy._math import (
    add, bitwise_and, bitwise_not, clip, equal, floor, less, logical_not, maximum, minimum,
    multiply, not_equal, subtract, true_divide, where,
)
from fgrad.numpy._reductions import all, any, cumsum, max, min, sum
from fgrad.numpy._shapes import concatenate, moveaxis, ravel, reshape, stack, swapaxes

# The public names, gathered by fgrad/numpy/__init__.py.
__all__ = [
    "argpartition", "argsort", "bincount", "digitize", "histogram", "histogram2d",
    "histogram_bin_edges", "histogramdd", "intersect1d", "isin", "lexsort", "median",
    "nanmedian", "nanpercentile", "nanquantile", "partition", "percentile", "quantile",
    "searchsorted", "setdiff1d", "setxor1d", "sort", "sort_complex", "union1d", "unique",
    "unique_all", "unique_counts", "unique_inverse", "unique_values",
]

_UNIQUE_SIZE_HINT = (
    "Its result's size depends on the values, which are abstract here (traced by jit or "
    "vmap). Pass a static size= (and optionally fill_value=) to fix the size of the result.")

# -- helpers ---------------------------------------------------------------------------------


def _known(x, name: str, hint: str) -> np.ndarray:
    """x's value, which Python needs now; a ConcretizationError saying `hint` if x is
    abstract (traced by jit or vmap, fgrad's or JAX's)."""
    try:
        if isinstance(x, Tracer):
            x = x.concrete()
        if isinstance(x, jax.core.Tracer):
            raise ConcretizationError("abstract")
        return np.asarray(x)
    except ConcretizationError:
        raise ConcretizationError(at_user_line(f"fgrad.numpy.{name}: {hint}")) from None


def _index_dtype(n: int) -> np.dtype:
    """JAX's index dtype for an axis of n elements: int32, unless it cannot hold n."""
    return np.dtype(np.int32) if n <= np.iinfo(np.int32).max else dt.canonicalize(np.int64)


def _positions_dtype(n: int) -> np.dtype:
    """The dtype of argsort's and lexsort's positions: the default integer if int32 would
    do (int64 under x64), as in jax.numpy."""
    dtype = _index_dtype(n)
    return dt.default_int() if dtype == np.int32 else dtype


def _int_array(values) -> np.ndarray:
    """Concrete positions as a NumPy array of the default integer dtype."""
    return np.asarray(values, dt.default_int())


def _rows(x, start: int | None = None, stop: int | None = None):
    """x[start:stop] along axis 0."""
    return getitem(x, slice(start, stop))


def _take(x, indices):
    """x[indices] along axis 0 (an integer array of positions)."""
    return getitem(x, indices)


def _diff(x):
    """x[1:] - x[:-1] along axis 0."""
    return subtract(_rows(x, 1), _rows(x, None, -1))


def _nonzero(mask, size: int, fill_value=0):
    """The positions of the True elements of a 1-D mask, the first `size` of them, padded
    with `fill_value`: jax.numpy's nonzero(mask, size=size)[0]."""
    index = dt.default_int()
    n = aval_of(mask).shape[0]
    # The k-th True element goes to slot k; the others to slot `size`, which is dropped.
    slot = where(mask, subtract(cumsum(mask, dtype=index), 1), size)
    out = IndexUpdateHelper(ls.full((size,), 0, index))[slot].set(arange(n, dtype=index))
    return where(less(arange(size, dtype=index), sum(mask)), out, fill_value)


def _canonical_float(x):
    """x with -0 as 0 and every NaN as one NaN: how sort compares floats."""
    aval = aval_of(x)
    zero, nan = constant(aval.shape, 0, aval.dtype), constant(aval.shape, np.nan, aval.dtype)
    x = lx.select_n(lx.eq(x, zero), x, zero)
    return lx.select_n(lx.ne(x, x), x, nan)


def _sort_keys(x) -> list:
    """The real keys sort orders x by: its value, or its real and imaginary parts."""
    dtype = aval_of(x).dtype
    if dt.is_complex(dtype):
        real = dt.real_dtype(dtype)
        shape = aval_of(x).shape
        im = lx.convert_element_type(lx.mul(x, constant(shape, -1j, dtype)), real)
        return [_canonical_float(lx.convert_element_type(x, real)), _canonical_float(im)]
    return [_canonical_float(x)] if dt.is_float(dtype) else [x]


def _key_less(x, y, or_equal: bool):
    """x < y (or x <= y) for one real key in sort's order, where NaN is the largest."""
    if not dt.is_float(aval_of(x).dtype):
        return (lx.le if or_equal else lx.lt)(x, y)
    x_nan, y_nan = lx.ne(x, x), lx.ne(y, y)
    if or_equal:  # x <= y, or y is NaN
        return lx.bitwise_or(lx.le(x, y), y_nan)
    return lx.bitwise_or(lx.lt(x, y), lx.bitwise_and(y_nan, lx.bitwise_not(x_nan)))


def _key_equal(x, y):
    if not dt.is_float(aval_of(x).dtype):
        return lx.eq(x, y)
    return lx.bitwise_or(lx.eq(x, y), lx.bitwise_and(lx.ne(x, x), lx.ne(y, y)))


def _sort_less(x, y, or_equal: bool = False):
    """x < y (or x <= y) in the order sort uses: NaNs last, -0 equal to 0, complex numbers
    by real part and then imaginary part. x and y have one shape and dtype."""
    keys = list(zip(_sort_keys(x), _sort_keys(y)))
    (xk, yk), rest = keys[-1], keys[:-1]
    out = _key_less(xk, yk, or_equal)
    for xk, yk in reversed(rest):  # an earlier key decides unless equal
        out = lx.bitwise_or(_key_less(xk, yk, False), lx.bitwise_and(_key_equal(xk, yk), out))
    return out


def _check_no_kind_or_order(name: str, kind, order) -> None:
    if kind is not None:
        raise TypeError(at_user_line(
            f"fgrad.numpy.{name}: the 'kind' argument is not supported. Use stable=True or "
            f"stable=False to choose the sort's stability."))
    if order is not None:
        raise TypeError(at_user_line(f"fgrad.numpy.{name}: the 'order' argument is not "
                                     f"supported."))


# -- sort, argsort, lexsort, partition ---------------------------------------------------------


def _along(name: str, a, axis):
    """a (flattened when axis is None) and the axis to work along."""
    check_arraylike(name, a)
    if axis is None:
        return ravel(a), 0
    return a, canonical_axis(axis, aval_of(a).ndim, name)


@compiled_eagerly(1)
def sort(a, axis=-1, *, kind=None, order=None, stable: bool = True,
         descending: bool = False):
    """`a` sorted along `axis` (of the flattened array when None): NaNs last, complex
    numbers by real part and then imaginary part."""
    _check_no_kind_or_order("sort", kind, order)
    a, axis = _along("sort", a, axis)
    out = lsort.sort(a, axis, is_stable=stable)
    return ls.rev(out, (axis,)) if descending else out


@compiled_eagerly(1)
def argsort(a, axis=-1, *, kind=None, order=None, stable: bool = True,
            descending: bool = False, dtype=None):
    """The positions that sort `a` along `axis`; equal elements keep their order when
    `stable` (also when `descending`)."""
    _check_no_kind_or_order("argsort", kind, order)
    a, axis = _along("argsort", a, axis)
    shape = aval_of(a).shape
    index = _positions_dtype(shape[axis]) if dtype is None else user_dtype(dtype, "argsort")
    positions = ls.broadcasted_iota(index, shape, axis)
    if descending and stable:
        # Reversed first, so that the reversed ascending order keeps equal elements in order.
        a, positions = ls.rev(a, (axis,)), ls.rev(positions, (axis,))
    _, out = lsort.sort_key_val(a, positions, axis, is_stable=stable)
    return ls.rev(out, (axis,)) if descending else out


def lexsort(keys, axis=-1):
    """The positions that sort by several keys along `axis`: by the last key, ties broken by
    the one before, and so on."""
    if is_arraylike(keys):
        n = aval_of(keys).shape[0] if aval_of(keys).ndim else 0
        keys = [getitem(keys, i) for i in range(n)]
    else:
        keys = list(keys)
        check_arraylike("lexsort", *keys)
    if not keys:
        raise TypeError(at_user_line("fgrad.numpy.lexsort needs a sequence of at least one "
                                     "key."))
    shapes = {aval_of(k).shape for k in keys}
    if len(shapes) > 1:
        raise ValueError(at_user_line(f"fgrad.numpy.lexsort: all keys need the same shape, "
                                      f"not {sorted(shapes)}."))
    (shape,) = shapes
    if not shape:
        return ls.full((), 0, dt.default_int())
    axis = canonical_axis(axis, len(shape), "lexsort")
    positions = ls.broadcasted_iota(_positions_dtype(shape[axis]), shape, axis)
    keys = [as_array(k, "lexsort") for k in keys]
    return lsort.sort((*keys[::-1], positions), axis, num_keys=len(keys))[-1]


def _partition_operand(name: str, a, kth, axis):
    check_arraylike(name, a)
    aval = aval_of(a)
    if dt.is_complex(aval.dtype):
        raise NotImplementedError(at_user_line(
            f"fgrad.numpy.{name} does not support complex numbers (nor does jax.numpy)."))
    if dt.is_bool(aval.dtype):
        raise TypeError(at_user_line(
            f"fgrad.numpy.{name} does not support booleans (nor does jax.numpy): convert "
            f"them to integers first."))
    axis = canonical_axis(axis, aval.ndim, name)
    n = aval.shape[axis]
    kth = operator.index(kth)
    if not -n <= kth < n:
        raise ValueError(at_user_line(
            f"fgrad.numpy.{name}: kth={kth} is out of bounds for an axis of size {n}."))
    return swapaxes(a, axis, -1), kth % n, axis, n


def _smallest(x, k: int):
    """The k smallest elements along the last axis, smallest first, and their positions:
    top_k of -x (of -(x + 1) for unsigned integers, which have no negatives)."""
    if np.issubdtype(aval_of(x).dtype, np.unsignedinteger):
        values, positions = lsort.top_k(lx.neg(add(x, 1)), k)
        return subtract(lx.neg(values), 1), positions
    values, positions = lsort.top_k(lx.neg(x), k)
    return lx.neg(values), positions


def partition(a, kth: int, axis: int = -1):
    """`a` with its `kth` smallest element along `axis` in place, smaller ones before it (in
    increasing order) and larger ones after it (in decreasing order, as jax.numpy)."""
    x, kth, axis, n = _partition_operand("partition", a, kth, axis)
    bottom, _ = _smallest(x, kth + 1)
    top, _ = lsort.top_k(x, n - kth - 1)
    return swapaxes(ls.concatenate([bottom, top], aval_of(x).ndim - 1), -1, axis)


def argpartition(a, kth: int, axis: int = -1):
    """The positions that `partition` would put along `axis`."""
    x, kth, axis, n = _partition_operand("argpartition", a, kth, axis)
    _, bottom = _smallest(x, kth + 1)
    # The rest, in their original order: top_k of a proxy that is 0 at the bottom positions.
    shape = aval_of(x).shape
    taken = equal(ls.expand_dims(bottom, (len(shape),)),
                  ls.broadcasted_iota(np.int32, shape[:-1] + (kth + 1, n), len(shape)))
    proxy = where(any(taken, axis=-2), np.float32(0), np.float32(1))
    _, top = lsort.top_k(proxy, n - kth - 1)
    return swapaxes(ls.concatenate([bottom, top], len(shape) - 1), -1, axis)


def _complex_dtype(dtype: np.dtype) -> np.dtype:
    real = to_inexact(dtype)
    if dt.is_complex(real):
        return real
    if real in (np.float16, dt.bfloat16):
        return np.dtype(np.complex64)
    return dt.canonicalize(np.result_type(real, np.complex64))


def sort_complex(a):
    """`a` sorted along its last axis by real part, then imaginary part, as complex
    numbers."""
    check_arraylike("sort_complex", a)
    a, axis = _along("sort_complex", a, -1)
    return convert(lsort.sort(a, axis), _complex_dtype(aval_of(a).dtype))


# -- searchsorted, digitize ------------------------------------------------------------------

_SEARCH_METHODS = ("scan", "scan_unrolled", "compare_all", "sort")


def _search_by_comparing_all(a, v, right: bool):
    """How many elements of `a` come before each of `v` (or equal it, `right`): every pair
    compared, O(len(a) * v.size) work in one step."""
    shape = (aval_of(a).shape[0],) + aval_of(v).shape
    a_b = ls.broadcast_in_dim(a, shape, (0,))
    v_b = ls.broadcast_in_dim(v, shape, tuple(range(1, len(shape))))
    return sum(_sort_less(a_b, v_b, or_equal=right), 0, dtype=np.int32)


def _search_by_bisection(a, v, right: bool):
    """Binary search for each of `v`: ceil(log2(n + 1)) halvings, each one gather."""
    n = aval_of(a).shape[0]
    shape = aval_of(v).shape
    low, high = ls.full(shape, 0, np.int32), ls.full(shape, n, np.int32)
    two = constant(shape, 2, np.dtype(np.int32))
    for _ in range(int(np.ceil(np.log2(n + 1)))):
        mid = lx.add(low, lx.div(lx.sub(high, low), two))  # no overflow, unlike (lo + hi) / 2
        # Go left when v belongs at or before mid: v <= a[mid] (side left), v < a[mid].
        go_left = _sort_less(v, _take(a, mid), or_equal=not right)
        low = lx.select_n(go_left, mid, low)
        high = lx.select_n(go_left, high, mid)
    return high


def _search_by_sorting(a, v, right: bool):
    """Positions from one stable sort of `a` and `v` together: v's rank among both, less
    its rank among itself."""
    flat = ravel(v)

    def rank(x):
        n = aval_of(x).shape[0]
        positions = ls.iota(np.int32, n)
        _, order = lsort.sort_key_val(x, positions)
        return IndexUpdateHelper(ls.full((n,), 0, np.int32))[order].set(positions)

    m, n = aval_of(flat).shape[0], aval_of(a).shape[0]
    if right:  # a first: v goes after its equals in a
        index = _rows(rank(ls.concatenate([a, flat], 0)), n)
    else:
        index = _rows(rank(ls.concatenate([flat, a], 0)), None, m)
    return ls.reshape(subtract(index, rank(flat)), aval_of(v).shape)


def searchsorted(a, v, side: str = "left", sorter=None, *, method: str = "scan"):
    """Where each of `v` would go into the sorted 1-D `a` to keep it sorted: before its
    equals (side='left') or after them ('right'). All methods give the same positions:
    'scan' bisects, 'compare_all' compares every pair, 'sort' sorts both together."""
    check_arraylike("searchsorted", a, v)
    if aval_of(a).ndim != 1:
        raise ValueError(at_user_line(
            f"fgrad.numpy.searchsorted: a should be 1-dimensional, not of shape "
            f"{aval_of(a).shape}."))
    if side not in ("left", "right"):
        raise ValueError(at_user_line(
            f"fgrad.numpy.searchsorted: side must be 'left' or 'right', not {side!r}."))
    if method not in _SEARCH_METHODS:
        raise ValueError(at_user_line(
            f"fgrad.numpy.searchsorted: method must be one of {', '.join(_SEARCH_METHODS)}, "
            f"not {method!r}."))
    a, v = promote_dtypes(a, v)
    if sorter is not None:
        check_arraylike("searchsorted", sorter)
        a = _take(a, sorter)
    a, v = convert(a, aval_of(a).dtype), convert(v, aval_of(v).dtype)
    n = aval_of(a).shape[0]
    index = _index_dtype(n)
    if n == 0:
        return ls.full(aval_of(v).shape, 0, index)
    search = {"compare_all": _search_by_comparing_all, "sort": _search_by_sorting}.get(
        method, _search_by_bisection)
    return convert(search(a, v, side == "right"), index)


def digitize(x, bins, right: bool = False, *, method: str | None = None):
    """The bin of each of `x` for 1-D monotonic `bins` (increasing or decreasing): i such
    that bins[i-1] <= x < bins[i] (or < and <= with `right`)."""
    check_arraylike("digitize", x, bins)
    bins_aval = aval_of(bins)
    if bins_aval.ndim != 1:
        raise ValueError(at_user_line(
            f"fgrad.numpy.digitize: bins must be a 1-dimensional array, not of shape "
            f"{bins_aval.shape}."))
    n = bins_aval.shape[0]
    if n == 0:
        return ls.full(aval_of(x).shape, 0, np.int32)
    side = "left" if right else "right"
    options = {} if method is None else {"method": method}
    increasing = searchsorted(bins, x, side, **options)
    decreasing = subtract(n, searchsorted(ls.rev(as_array(bins), (0,)), x, side, **options))
    rising = lx.ge(_take(bins, -1), _take(bins, 0))
    return where(rising, increasing, decreasing)


# -- quantiles -------------------------------------------------------------------------------

_QUANTILE_METHODS = ("linear", "lower", "higher", "midpoint", "nearest", "inverted_cdf")


def _quantile_axis(a, weights, axis, keepdims):
    """a (and weights) with the reduced axes made one: (a, weights, axis, keepdim), where
    keepdim is the kept-dims shape to reshape the result to (empty: no reshape)."""
    aval = aval_of(a)
    keepdim: list = []
    if axis is None:
        keepdim = [1] * aval.ndim if keepdims else []
        a = ravel(a)
        weights = None if weights is None else ravel(weights)
        return a, weights, 0, keepdim
    if isinstance(axis, tuple):
        nd = aval.ndim
        axes = tuple(canonical_axis(d, nd, "quantile") for d in axis)
        if len(set(axes)) != len(axes):
            raise ValueError(at_user_line(f"fgrad.numpy.quantile: repeated axis in {axis}."))
        keepdim = [1 if d in axes else n for d, n in enumerate(aval.shape)]
        # JAX's order: kept axes first (swapped into place), the reduced ones after, merged.
        dimensions = list(range(nd))
        for i, s in enumerate(sorted(set(range(nd)) - set(axes))):
            dimensions[i], dimensions[s] = dimensions[s], dimensions[i]
        kept = tuple(n for d, n in enumerate(aval.shape) if d not in axes)
        merged = kept + (math.prod(aval.shape[d] for d in axes),)

        def merge(x):
            if dimensions != list(range(nd)):
                x = ls.transpose(x, tuple(dimensions))
            return ls.reshape(x, merged)

        a = merge(a)
        weights = None if weights is None else merge(weights)
        return a, weights, len(merged) - 1, keepdim
    return a, weights, canonical_axis(axis, aval.ndim, "quantile"), keepdim


def _quantile(name: str, a, q, axis, method, keepdims, squash_nans: bool, weights):
    if method not in _QUANTILE_METHODS:
        raise ValueError(at_user_line(
            f"fgrad.numpy.{name}: method must be one of {', '.join(_QUANTILE_METHODS)}, not "
            f"{method!r}."))
    if weights is not None:
        check_arraylike(name, weights)
        if dt.is_complex(aval_of(weights).dtype):
            raise ValueError(at_user_line(f"fgrad.numpy.{name}: weights cannot be complex."))
        if method != "inverted_cdf":
            raise NotImplementedError(at_user_line(
                f"fgrad.numpy.{name}: method {method!r} does not support weights; only "
                f"'inverted_cdf' does."))
        a, weights = promote_dtypes(a, weights, kind="inexact")
        a_shape, w_shape = aval_of(a).shape, aval_of(weights).shape
        if w_shape != a_shape:
            if axis is None:
                raise ValueError(at_user_line(
                    f"fgrad.numpy.{name}: the weights' shape must match a's when axis is "
                    f"None."))
            axes = axis if isinstance(axis, tuple) else (axis,)
            axes = tuple(canonical_axis(d, len(a_shape), name) for d in axes)
            if w_shape != tuple(a_shape[d] for d in axes):
                raise ValueError(at_user_line(
                    f"fgrad.numpy.{name}: weights of shape {w_shape} must match the reduced "
                    f"axes, of sizes {tuple(a_shape[d] for d in axes)}."))
            weights = ls.broadcast_in_dim(weights, a_shape, axes)
    else:
        (a,) = promote_dtypes(a, kind="inexact")
    if dt.is_complex(aval_of(a).dtype):
        raise ValueError(at_user_line(
            f"fgrad.numpy.{name} does not support complex numbers: their quantiles are not "
            f"well defined."))
    a = convert(a, aval_of(a).dtype)
    a, weights, axis, keepdim = _quantile_axis(a, weights, axis, keepdims)
    q_aval = aval_of(q)
    if q_aval.ndim > 1:
        raise ValueError(at_user_line(
            f"fgrad.numpy.{name}: q must have rank at most 1, not shape {q_aval.shape}."))
    if not dt.is_float(q_aval.dtype):
        raise TypeError(at_user_line(
            f"fgrad.numpy.{name}: q must be floating point, not {q_aval.dtype.name} (as in "
            f"jax.numpy); write 1.0 for 1."))
    q = q_given = as_array(q, name)
    a_shape = aval_of(a).shape
    n_axis = a_shape[axis]
    q_shape, q_ndim = q_aval.shape, q_aval.ndim
    q_dtype = q_aval.dtype
    index = dt.default_int()
    if squash_nans:
        a = where(_isnan(a), np.nan, a)  # one NaN, so that NaNs sort to the end
        a, weights = _sort_with(a, weights, axis)
        counts = sum(logical_not(_isnan(a)), axis, dtype=q_dtype, keepdims=keepdims)
        reduced = aval_of(counts).shape
        q = ls.expand_dims(q, tuple(range(q_ndim, q_ndim + len(reduced))))
        counts = ls.expand_dims(counts, tuple(range(q_ndim)))
        q = multiply(q, subtract(counts, 1))
        low, high = floor(q), lx.ceil(q)
        high_weight = subtract(q, low)
        low_weight = subtract(1, high_weight)
        last = subtract(counts, 1)
        low = convert(maximum(0, minimum(low, last)), index)
        high = convert(maximum(0, minimum(high, last)), index)
        out_shape = q_shape + reduced
        positions = [ls.broadcasted_iota(index, out_shape, d + q_ndim)
                     for d in range(len(reduced))]

        def pick(at):
            entries = list(positions)
            if keepdims:
                entries[axis] = at
            else:
                entries.insert(axis, at)
            return getitem(a, tuple(entries))

        low_value, high_value = pick(low), pick(high)
    else:
        a = where(any(_isnan(a), axis, keepdims=True), np.nan, a)
        a, weights = _sort_with(a, weights, axis)
        n = constant(q_shape, n_axis, q_dtype)
        q = lx.mul(convert(q, q_dtype), lx.sub(n, constant(q_shape, 1, q_dtype)))
        low, high = lx.floor(q), lx.ceil(q)
        high_weight = lx.sub(q, low)
        low_weight = lx.sub(constant(q_shape, 1, q_dtype), high_weight)
        zero, last = constant(q_shape, 0, q_dtype), lx.sub(n, constant(q_shape, 1, q_dtype))
        low = convert(lx.clamp(zero, low, last), index)
        high = convert(lx.clamp(zero, high, last), index)
        slice_sizes = list(a_shape)
        slice_sizes[axis] = 1
        ndim = len(a_shape)
        numbers = li.GatherDimensionNumbers(
            offset_dims=tuple(range(q_ndim, ndim + q_ndim - (not keepdims))),
            collapsed_slice_dims=() if keepdims else (axis,), start_index_map=(axis,))

        def pick(at):
            return li.gather(a, ls.expand_dims(at, (q_ndim,)), numbers, slice_sizes,
                             mode=li.GatherScatterMode.PROMISE_IN_BOUNDS)

        low_value, high_value = pick(low), pick(high)
        if q_ndim == 1:
            value_shape = aval_of(low_value).shape
            low_weight = ls.broadcast_in_dim(low_weight, value_shape, (0,))
            high_weight = ls.broadcast_in_dim(high_weight, value_shape, (0,))
    if method == "linear":
        result = add(multiply(convert(low_value, q_dtype), low_weight),
                     multiply(convert(high_value, q_dtype), high_weight))
    elif method == "lower":
        result = low_value
    elif method == "higher":
        result = high_value
    elif method == "nearest":
        result = where(lx.le(high_weight, constant(aval_of(high_weight).shape, 0.5, q_dtype)),
                       low_value, high_value)
    elif method == "midpoint":
        result = multiply(add(low_value, high_value), constant((), 0.5, aval_of(a).dtype))
    else:
        result = _inverted_cdf(a, weights, q_given, axis, keepdims, squash_nans)
    if keepdims and keepdim:
        result = reshape(result, ([q_shape[0]] if q_ndim else []) + keepdim)
    return convert(result, aval_of(a).dtype)


def _isnan(x):
    return lx.ne(x, x)


def _inverted_cdf(a, weights, q, axis: int, keepdims: bool, squash_nans: bool):
    """The smallest sorted element whose cumulative weight reaches q times the total
    (NumPy's 'inverted_cdf'); NaN where a weight is negative or NaN, or where the data are
    NaN (all of them, when NaNs are ignored). `a` and `weights` are sorted along `axis`."""
    a_aval = aval_of(a)
    q_aval = aval_of(q)
    q_ndim, q_dtype = q_aval.ndim, q_aval.dtype
    index = dt.default_int()
    if weights is None:
        weights = ls.full(a_aval.shape, 1, a_aval.dtype)
    zero = ls.full(a_aval.shape, 0, aval_of(weights).dtype)
    bad = lx.bitwise_or(lx.lt(weights, zero), _isnan(weights))
    nan = _isnan(a)
    cum = cumsum(lx.select_n(lx.bitwise_or(bad, nan), weights, zero), axis)
    total = getitem(cum, (slice(None),) * axis + (slice(-1, None) if keepdims else -1,))
    target = multiply(ls.reshape(q, q_aval.shape + (1,) * aval_of(total).ndim),
                      ls.expand_dims(total, tuple(range(q_ndim))))
    if not keepdims:
        target = ls.expand_dims(target, (axis + q_ndim,))
    below = less(ls.expand_dims(cum, tuple(range(q_ndim))), target)
    position = sum(below, axis + q_ndim, dtype=index, keepdims=keepdims)
    if squash_nans:
        counts = sum(logical_not(nan), axis, dtype=q_dtype, keepdims=keepdims)
    else:
        counts = ls.full(aval_of(total).shape, a_aval.shape[axis], q_dtype)
    last = ls.expand_dims(convert(subtract(counts, 1), index), tuple(range(q_ndim)))
    position = maximum(0, minimum(position, last))
    if keepdims:
        position = ls.squeeze(position, (q_ndim + axis,))
    # Gather along `axis` with the q axis (if any) standing where `axis` was.
    if q_ndim == 0:
        result = ls.squeeze(lsort.gather_along(a, ls.expand_dims(position, (axis,)), axis),
                            (axis,))
    else:
        ndim = aval_of(position).ndim
        perm = (*range(1, 1 + axis), 0, *range(1 + axis, ndim))
        inverse = tuple(perm.index(i) for i in range(ndim))
        result = ls.transpose(lsort.gather_along(a, ls.transpose(position, perm), axis),
                              inverse)
    if keepdims:
        result = ls.expand_dims(result, (q_ndim + axis,))
    empty = lx.eq(counts, ls.full(aval_of(counts).shape, 0, q_dtype))
    if squash_nans:
        force_nan = lx.bitwise_or(any(bad, axis, keepdims=keepdims), empty)
    else:
        force_nan = lx.bitwise_or(any(bad, axis, keepdims=keepdims),
                                  any(nan, axis, keepdims=keepdims))
    force_nan = ls.expand_dims(force_nan, tuple(range(q_ndim)))
    return where(force_nan, np.nan, result)


def _sort_with(a, weights, axis: int):
    """a sorted along `axis`, and the weights moved with it."""
    if weights is None:
        return lsort.sort(a, axis), None
    return lsort.sort_key_val(a, weights, axis)


def quantile(a, q, axis=None, out=None, overwrite_input: bool = False,
             method: str = "linear", keepdims: bool = False, *, weights=None):
    """The q-th quantiles (q in [0, 1]) of `a` over `axis`, between sorted elements by
    `method`; NaN where a slice holds a NaN."""
    check_arraylike("quantile", a, q)
    _no_out_or_overwrite("quantile", out, overwrite_input)
    return _quantile("quantile", a, q, axis, method, keepdims, False, weights)


def nanquantile(a, q, axis=None, out=None, overwrite_input: bool = False,
                method: str = "linear", keepdims: bool = False, *, weights=None):
    """quantile, ignoring NaNs."""
    check_arraylike("nanquantile", a, q)
    _no_out_or_overwrite("nanquantile", out, overwrite_input)
    return _quantile("nanquantile", a, q, axis, method, keepdims, True, weights)


def percentile(a, q, axis=None, out=None, overwrite_input: bool = False,
               method: str = "linear", keepdims: bool = False, *, weights=None,
               out_sharding=None):
    """The q-th percentiles (q in [0, 100]) of `a` over `axis`."""
    check_arraylike("percentile", a, q)
    _no_out_or_overwrite("percentile", out, overwrite_input)
    if out_sharding is not None:
        raise NotImplementedError(at_user_line(
            "fgrad.numpy.percentile: out_sharding is not supported; reshard the result."))
    (q,) = promote_dtypes(q, kind="inexact")
    return _quantile("percentile", a, true_divide(q, 100), axis, method, keepdims, False,
                     weights)


def nanpercentile(a, q, axis=None, out=None, overwrite_input: bool = False,
                  method: str = "linear", keepdims: bool = False, *, weights=None):
    """percentile, ignoring NaNs."""
    check_arraylike("nanpercentile", a, q)
    _no_out_or_overwrite("nanpercentile", out, overwrite_input)
    (q,) = promote_dtypes(q, kind="inexact")
    return _quantile("nanpercentile", a, true_divide(q, 100), axis, method, keepdims, True,
                     weights)


def median(a, axis=None, out=None, overwrite_input: bool = False, keepdims: bool = False):
    """The median over `axis`: the middle element, or the mean of the two middle ones."""
    check_arraylike("median", a)
    _no_out_or_overwrite("median", out, overwrite_input)
    return _quantile("median", a, 0.5, axis, "midpoint", keepdims, False, None)


def nanmedian(a, axis=None, out=None, overwrite_input: bool = False, keepdims: bool = False):
    """median, ignoring NaNs."""
    check_arraylike("nanmedian", a)
    _no_out_or_overwrite("nanmedian", out, overwrite_input)
    return _quantile("nanmedian", a, 0.5, axis, "midpoint", keepdims, True, None)


def _no_out_or_overwrite(name: str, out, overwrite_input) -> None:
    if overwrite_input or out is not None:
        raise ValueError(at_user_line(
            f"fgrad.numpy.{name} does not support overwrite_input=True or out != None (arrays "
            f"are immutable); use the returned array."))


# -- unique ----------------------------------------------------------------------------------


class _UniqueAllResult(NamedTuple):
    values: object
    indices: object
    inverse_indices: object
    counts: object


class _UniqueCountsResult(NamedTuple):
    values: object
    counts: object


class _UniqueInverseResult(NamedTuple):
    values: object
    inverse_indices: object


def _unique_sorted(ar, axis: int, equal_nan: bool):
    """ar's slices along `axis` sorted (lexicographically), a mask of the first of each run
    of equal slices, and the sorting permutation: JAX's _unique_sorted_mask."""
    aux = moveaxis(ar, axis, 0)
    aval = aval_of(aux)
    if dt.is_complex(aval.dtype):
        aux = where(_isnan(aux), constant((), np.nan, aval.dtype), aux)
    size, rest = aval.shape[0], aval.shape[1:]
    if math.prod(rest) == 0:
        size = 1
        perm = ls.full((1,), 0, dt.default_int())
    else:
        columns = ls.transpose(ls.reshape(aux, (size, math.prod(rest))), (1, 0))
        perm = lexsort(ls.rev(columns, (0,)))
    aux = _take(aux, perm)
    if aval_of(aux).size:
        first, rest_ = _rows(aux, 1), _rows(aux, None, -1)
        differ = not_equal(first, rest_)
        if dt.is_inexact(aval.dtype) and equal_nan:
            differ = bitwise_and(differ, bitwise_not(bitwise_and(_isnan(first), _isnan(rest_))))
        changes = any(differ, tuple(range(1, aval_of(aux).ndim)))
        mask = ls.concatenate([ls.full((1,), True, np.dtype(np.bool_)), changes], 0)
    else:
        mask = ls.full((size,), False, np.dtype(np.bool_))
    return aux, mask, perm


def _unique(ar, axis: int, return_index=False, return_inverse=False, return_counts=False,
            equal_nan=True, size=None, fill_value=None, return_true_size=False,
            name="unique"):
    aval = aval_of(ar)
    if aval.shape[axis] == 0 and size and fill_value is None:
        raise ValueError(at_user_line(
            f"fgrad.numpy.{name}: for an empty input with a nonzero size, fill_value must be "
            f"given."))
    aux, mask, perm = _unique_sorted(ar, axis, equal_nan)
    index = dt.default_int()
    if size is None:
        known = _known(mask, name, _UNIQUE_SIZE_HINT)
        ind = _int_array(np.nonzero(known)[0])
    else:
        ind = _nonzero(mask, size)
    result = _take(aux, ind) if aval_of(aux).size else aux
    if size is not None and fill_value is not None:
        check_arraylike(name, fill_value)
        result_aval = aval_of(result)
        if result_aval.shape[0]:
            valid = less(arange(size, dtype=index), sum(mask))
            valid = ls.broadcast_in_dim(valid, result_aval.shape, (0,))
            result = where(valid, result, convert(fill_value, result_aval.dtype))
        else:  # shaped and typed like the (empty) result
            fill = convert(fill_value, result_aval.dtype, result_aval.weak_type)
            result = as_array(broadcast_to_shape(fill, (size,) + result_aval.shape[1:]), name)
    result = moveaxis(result, 0, axis)
    out = [result]
    if return_index:
        out.append(_take(perm, ind) if aval_of(aux).size else perm)
    if return_inverse:
        if aval_of(aux).size:
            imask = subtract(cumsum(mask, dtype=index), 1)
            inverse = IndexUpdateHelper(ls.full(aval_of(mask).shape, 0, index))[perm].set(imask)
        else:
            inverse = ls.full((aval.shape[axis],), 0, index)
        out.append(inverse)
    if return_counts:
        if aval_of(aux).size:
            if size is None:
                mask_value = _known(mask, name, _UNIQUE_SIZE_HINT)
                bounds = np.append(np.nonzero(mask_value)[0], mask_value.size)
                counts = as_array(_int_array(np.diff(bounds)))
            else:
                bounds = _nonzero(mask, size + 1)
                n = aval_of(mask).shape[0]
                tail = _rows(bounds, 1)
                bounds = ls.concatenate([_rows(bounds, None, 1), where(tail, tail, n)], 0)
                counts = _diff(bounds)
        elif aval.shape[axis]:
            counts = ls.full((1,), aval.shape[axis], index)
        else:
            counts = ls.full((0,), 0, index)
        out.append(counts)
    if return_true_size:
        out.append(sum(mask))
    return out[0] if len(out) == 1 else tuple(out)


def _static_size(name: str, size):
    if size is None:
        return None
    try:
        return operator.index(size)
    except TypeError:
        raise TypeError(at_user_line(
            f"fgrad.numpy.{name}: size must be a static integer, not {size!r}.")) from None


def unique(ar, return_index: bool = False, return_inverse: bool = False,
           return_counts: bool = False, axis=None, *, equal_nan: bool = True, size=None,
           fill_value=None, sorted: bool = True):  # noqa: A002 (NumPy's name)
    """The sorted distinct elements of `ar` (or distinct slices along `axis`), optionally
    with where each first occurs, how to rebuild `ar` from them, and how often each occurs.

    Without `size` the values must be known (eagerly, or under fgrad.grad); with `size` the
    result has exactly that many entries, padded with `fill_value` (by default the smallest
    element), and works under jit.
    """
    check_arraylike("unique", ar)
    size = _static_size("unique", size)
    if size is None:
        _known(ar, "unique", _UNIQUE_SIZE_HINT)
    shape = aval_of(ar).shape
    if axis is None:
        ar, axis_int = ravel(ar), 0
    else:
        axis_int = canonical_axis(axis, len(shape), "unique")
    result = _unique(ar, axis_int, return_index, return_inverse, return_counts,
                     equal_nan=equal_nan, size=size, fill_value=fill_value)
    if return_inverse and axis is None:
        i = 2 if return_index else 1
        result = (*result[:i], ls.reshape(result[i], shape), *result[i + 1:])
    return result


def unique_all(x, /, *, size=None, fill_value=None):
    """unique with every extra result, NaNs all distinct: (values, indices, inverse_indices,
    counts)."""
    check_arraylike("unique_all", x)
    values, indices, inverse, counts = unique(
        x, return_index=True, return_inverse=True, return_counts=True, equal_nan=False,
        size=size, fill_value=fill_value)
    return _UniqueAllResult(values, indices, inverse, counts)


def unique_counts(x, /, *, size=None, fill_value=None):
    """The distinct values of `x` and how often each occurs: (values, counts)."""
    check_arraylike("unique_counts", x)
    values, counts = unique(x, return_counts=True, equal_nan=False, size=size,
                            fill_value=fill_value)
    return _UniqueCountsResult(values, counts)


def unique_inverse(x, /, *, size=None, fill_value=None):
    """The distinct values of `x` and the positions rebuilding `x` from them: (values,
    inverse_indices)."""
    check_arraylike("unique_inverse", x)
    values, inverse = unique(x, return_inverse=True, equal_nan=False, size=size,
                             fill_value=fill_value)
    return _UniqueInverseResult(values, inverse)


def unique_values(x, /, *, size=None, fill_value=None):
    """The distinct values of `x`, sorted (NaNs all distinct)."""
    check_arraylike("unique_values", x)
    return unique(x, equal_nan=False, size=size, fill_value=fill_value)


# -- set operations --------------------------------------------------------------------------

_ISIN_METHODS = ("auto", "compare_all", "binary_search", "sort")


def _in1d(ar1, ar2, invert: bool, method="auto", assume_unique=False, name="isin"):
    """Whether each element of ar1 (flattened) occurs in ar2."""
    if method not in _ISIN_METHODS:
        raise ValueError(at_user_line(
            f"fgrad.numpy.{name}: method must be one of {', '.join(_ISIN_METHODS)}, not "
            f"{method!r}."))
    arr1, arr2 = (ravel(x) for x in promote_dtypes(ar1, ar2))
    n1, n2 = aval_of(arr1).shape[0], aval_of(arr2).shape[0]
    if n1 == 0 or n2 == 0:
        return ls.full((n1,), invert, np.dtype(np.bool_))
    if method in ("auto", "compare_all"):
        shape = (n1, n2)
        left = ls.broadcast_in_dim(arr1, shape, (0,))
        right = ls.broadcast_in_dim(arr2, shape, (1,))
        if invert:
            return all(not_equal(left, right), -1)
        return any(equal(left, right), -1)
    if method == "binary_search":
        arr2 = lsort.sort(convert(arr2, aval_of(arr2).dtype), 0)
        found = _take(arr2, searchsorted(arr2, arr1))
        return (not_equal if invert else equal)(arr1, found)
    # method == "sort": sort both together; an element is found when its neighbour equals it.
    if assume_unique:
        back = None
    else:
        arr1, back = _unique(arr1, 0, return_inverse=True, size=n1, fill_value=max(arr2))
    both = concatenate([arr1, arr2])
    aux, order = lsort.sort_key_val(both, ls.iota(dt.default_int(), n1 + n2))
    same = (not_equal if invert else equal)(_rows(aux, 1), _rows(aux, None, -1))
    base = ls.full((n1,), invert, np.dtype(np.bool_))
    found = IndexUpdateHelper(base)[_rows(order, None, -1)].set(same, mode="drop")
    return found if back is None else _take(found, back)


def isin(element, test_elements, assume_unique: bool = False, invert: bool = False, *,
         method="auto"):
    """Whether each element of `element` occurs in `test_elements` (not, with `invert`)."""
    check_arraylike("isin", element, test_elements)
    found = _in1d(element, test_elements, invert, method, assume_unique)
    return ls.reshape(found, aval_of(element).shape)


def _need_values(name: str, *arrays) -> None:
    for x in arrays:
        _known(x, name, _UNIQUE_SIZE_HINT)


def union1d(ar1, ar2, *, size=None, fill_value=None):
    """The sorted distinct elements of both arrays."""
    check_arraylike("union1d", ar1, ar2)
    size = _static_size("union1d", size)
    if size is None:
        _need_values("union1d", ar1, ar2)
    return unique(concatenate((ar1, ar2), axis=None), size=size, fill_value=fill_value)


def setdiff1d(ar1, ar2, assume_unique: bool = False, *, size=None, fill_value=None):
    """The sorted distinct elements of `ar1` that are not in `ar2`."""
    check_arraylike("setdiff1d", ar1, ar2)
    arr1, arr2 = ravel(ar1), ravel(ar2)
    size = _static_size("setdiff1d", size)
    if size is None:
        _need_values("setdiff1d", ar1)
    a1 = aval_of(arr1)
    fill = convert(0 if fill_value is None else fill_value, a1.dtype, a1.weak_type)
    n = a1.shape[0]
    if n == 0:
        return as_array(broadcast_to_shape(fill, (size or 0,)), "setdiff1d")
    if not assume_unique:
        arr1 = unique(arr1, size=size and n)
    mask = _in1d(arr1, arr2, True, assume_unique=assume_unique, name="setdiff1d")
    if size is None:
        return getitem(arr1, _known(mask, "setdiff1d", _UNIQUE_SIZE_HINT))
    if not assume_unique:
        # unique padded arr1 with repeats of its first element: those are not results.
        n_unique = subtract(n + 1, sum(equal(arr1, _take(arr1, 0))))
        mask = bitwise_and(mask, less(arange(n), n_unique))
    picked = _take(arr1, _nonzero(mask, size))
    return where(less(arange(size), sum(mask)), picked, fill)


def _concat_unique(arr1, arr2):
    """The distinct elements of each array, arr1's then arr2's, packed at the front of one
    array of both sizes, and how many there are."""
    n1, n2 = aval_of(arr1).shape[0], aval_of(arr2).shape[0]
    arr1, count1 = _unique(arr1, 0, size=n1, return_true_size=True)
    arr2, count2 = _unique(arr2, 0, size=n2, return_true_size=True)
    dtype = aval_of(arr1).dtype
    arr = ls.full((n1 + n2,), 0, dtype)
    arr = li.dynamic_update_slice(arr, convert(arr1, dtype), (0,))
    arr = li.dynamic_update_slice(arr, convert(arr2, dtype), (convert(count1, np.int32),))
    return arr, add(count1, count2)


def _pad_results(vals, count, fill_value):
    """vals past the first `count` replaced by fill_value, or by the largest value and then
    the smallest (JAX's padding when no fill_value is given)."""
    valid = less(arange(aval_of(vals).shape[0]), count)
    if fill_value is None:
        vals = where(valid, vals, max(vals))
        return where(valid, vals, min(vals))
    return where(valid, vals, fill_value)


def setxor1d(ar1, ar2, assume_unique: bool = False, *, size=None, fill_value=None):
    """The sorted elements in exactly one of the two arrays."""
    check_arraylike("setxor1d", ar1, ar2)
    arr1, arr2 = promote_dtypes(ravel(ar1), ravel(ar2))
    size = _static_size("setxor1d", size)
    if size is not None:
        return _setxor1d_size(arr1, arr2, fill_value, assume_unique, size)
    if not assume_unique:
        arr1, arr2 = unique(arr1), unique(arr2)
    aux = concatenate((arr1, arr2))
    if aval_of(aux).size == 0:
        return aux
    aux = lsort.sort(aux, 0)
    inner = not_equal(_rows(aux, 1), _rows(aux, None, -1))
    true = ls.full((1,), True, np.dtype(np.bool_))
    flag = ls.concatenate([true, inner, true], 0)
    keep = bitwise_and(_rows(flag, 1), _rows(flag, None, -1))
    return getitem(aux, _known(keep, "setxor1d", _UNIQUE_SIZE_HINT))


def _setxor1d_size(arr1, arr2, fill_value, assume_unique: bool, size: int):
    flags = np.dtype(np.bool_)
    if assume_unique:
        aux = lsort.sort(concatenate([arr1, arr2]), 0)
        n = aval_of(aux).shape[0]
        inner = not_equal(_rows(aux, 1), _rows(aux, None, -1))
        flag = ls.concatenate([ls.full((1,), bool(n), flags), inner,
                               ls.full((1,), True, flags)], 0)
    else:
        arr, count = _concat_unique(arr1, arr2)
        n = aval_of(arr).shape[0]
        mask = less(arange(n + 1), add(count, 1))
        _, aux = lsort.sort((bitwise_not(_rows(mask, 1)), arr), 0, num_keys=2)
        inner = not_equal(_rows(aux, 1), _rows(aux, None, -1))
        flag = ls.concatenate([ls.full((1,), bool(n), flags), inner,
                               ls.full((1,), False, flags)], 0)
        flag = bitwise_and(mask, IndexUpdateHelper(flag)[count].set(True))
    keep = bitwise_and(_rows(flag, 1), _rows(flag, None, -1))
    count = sum(keep)
    if n:
        indices = _nonzero(keep, size, fill_value=n)
        vals = IndexUpdateHelper(aux)[indices].get(mode="fill", fill_value=0)
    else:
        vals = zeros(size, aval_of(aux).dtype)
    return _pad_results(vals, count, fill_value)


def intersect1d(ar1, ar2, assume_unique: bool = False, return_indices: bool = False, *,
                size=None, fill_value=None):
    """The sorted distinct elements in both arrays; with `return_indices`, also where each
    first occurs in each array."""
    check_arraylike("intersect1d", ar1, ar2)
    arr1, arr2 = (ravel(x) for x in promote_dtypes(ar1, ar2))
    size = _static_size("intersect1d", size)
    if size is not None:
        return _intersect1d_size(arr1, arr2, fill_value, assume_unique, size, return_indices)
    ind1 = ind2 = None
    if not assume_unique:
        if return_indices:
            arr1, ind1 = unique(arr1, return_index=True)
            arr2, ind2 = unique(arr2, return_index=True)
        else:
            arr1, arr2 = unique(arr1), unique(arr2)
    n1 = aval_of(arr1).shape[0]
    both = concatenate([arr1, arr2])
    if return_indices:
        n = aval_of(both).shape[0]
        aux, order = lsort.sort_key_val(both, ls.iota(_index_dtype(n), n))
    else:
        aux, order = lsort.sort(both, 0), None
    mask = _known(equal(_rows(aux, 1), _rows(aux, None, -1)), "intersect1d", _UNIQUE_SIZE_HINT)
    values = getitem(_rows(aux, None, -1), mask)
    if not return_indices:
        return values
    index1 = getitem(_rows(order, None, -1), mask)
    index2 = subtract(getitem(_rows(order, 1), mask), n1)
    if ind1 is not None:
        index1, index2 = _take(ind1, index1), _take(ind2, index2)
    return values, index1, index2


def _intersect1d_size(arr1, arr2, fill_value, assume_unique: bool, size: int,
                      return_indices: bool):
    n1, n2 = aval_of(arr1).shape[0], aval_of(arr2).shape[0]
    index = dt.default_int()
    if assume_unique:
        ind1, count1 = arange(n1), n1
        ind2 = arange(n2)
        arr = concatenate([arr1, arr2])
        n = aval_of(arr).shape[0]
        aux, order = lsort.sort((arr, arange(n)), 0, num_keys=1)
        mask = ls.full((n,), True, np.dtype(np.bool_))
    else:
        arr1, ind1, count1 = _unique(arr1, 0, return_index=True, size=n1, fill_value=0,
                                     return_true_size=True)
        arr2, ind2, count2 = _unique(arr2, 0, return_index=True, size=n2, fill_value=0,
                                     return_true_size=True)
        dtype = aval_of(arr1).dtype
        n = n1 + n2
        arr = ls.full((n,), 0, dtype)
        arr = li.dynamic_update_slice(arr, convert(arr1, dtype), (0,))
        arr = li.dynamic_update_slice(arr, convert(arr2, dtype), (convert(count1, np.int32),))
        mask = less(arange(n), add(count1, count2))
        _, aux, order = lsort.sort((bitwise_not(mask), arr, arange(n)), 0, num_keys=2)
    hits = bitwise_and(equal(_rows(aux, 1), _rows(aux, None, -1)), _rows(mask, 1))
    count = sum(hits)
    if n:
        positions = _nonzero(hits, size, fill_value=n)
        vals = IndexUpdateHelper(aux)[positions].get(mode="fill", fill_value=0)
    else:
        positions = ls.full((0,), 0, index)
        vals = zeros(size, aval_of(aux).dtype)
    vals = _pad_results(vals, count, fill_value)
    if not return_indices:
        return vals
    valid = less(arange(aval_of(positions).shape[0]), count)
    index1 = IndexUpdateHelper(order)[positions].get(mode="fill", fill_value=n1)
    index1 = where(valid, index1, n1)
    index2 = subtract(IndexUpdateHelper(order)[add(positions, 1)].get(mode="fill",
                                                                     fill_value=n2), count1)
    index2 = where(valid, index2, n2)
    if not assume_unique:
        index1 = IndexUpdateHelper(ind1)[index1].get(mode="fill", fill_value=n1)
        index2 = IndexUpdateHelper(ind2)[index2].get(mode="fill", fill_value=n2)
    return vals, index1, index2


# -- histograms and bincount -----------------------------------------------------------------


def bincount(x, weights=None, minlength: int = 0, *, length=None, out_sharding=None):
    """How often each non-negative integer occurs in the 1-D `x` (negatives count as 0), or
    the sum of the `weights` at its occurrences; `length` (static) fixes the size, which is
    otherwise max(x) + 1 and needs x's values."""
    check_arraylike("bincount", x)
    if out_sharding is not None:
        raise NotImplementedError(at_user_line(
            "fgrad.numpy.bincount: out_sharding is not supported; reshard the result."))
    aval = aval_of(x)
    if dt.is_bool(aval.dtype):
        x = convert(x, np.dtype(np.int32))
    elif not dt.is_integer(aval.dtype):
        raise TypeError(at_user_line(
            f"fgrad.numpy.bincount: x must have an integer dtype, not {aval.dtype.name}."))
    if aval.ndim != 1:
        raise ValueError(at_user_line(
            f"fgrad.numpy.bincount: x must be 1-dimensional, not of shape {aval.shape}."))
    minlength = operator.index(minlength)
    if length is None:
        value = _known(x, "bincount", "the number of bins is max(x) + 1, and x is abstract "
                       "here (traced by jit or vmap). Pass a static length= instead.")
        length = builtins.max(minlength, value.size and int(builtins.max(0, value.max())) + 1)
    else:
        length = operator.index(length)
    if weights is None:
        weights = np.array(1, dt.default_int())
    else:
        check_arraylike("bincount", weights)
        if aval_of(weights).shape != aval.shape:
            raise ValueError(at_user_line(
                f"fgrad.numpy.bincount: weights of shape {aval_of(weights).shape} must have "
                f"x's shape {aval.shape}."))
    base = ls.full((length,), 0, aval_of(weights).dtype)
    return IndexUpdateHelper(base)[clip(x, 0)].add(weights, mode="drop")


def histogram_bin_edges(a, bins=10, range=None, weights=None):  # noqa: A002 (NumPy's name)
    """The edges of the bins `histogram` uses: `bins` itself if it is 1-D, else `bins` equal
    bins over `range` (the data's min and max by default)."""
    if isinstance(bins, str):
        raise NotImplementedError(at_user_line(
            "fgrad.numpy.histogram_bin_edges: string values for bins are not supported."))
    check_arraylike("histogram_bin_edges", a, bins)
    dtype = to_inexact(aval_of(a).dtype)
    if (aval_of(bins).ndim if is_arraylike(bins) else np.ndim(bins)) == 1:
        return asarray(bins, dtype=dtype)
    n_bins = operator.index(_known(bins, "histogram_bin_edges", "bins must be static: an "
                                   "integer, or an array of edges.").item())
    if range is None:
        range = (min(a), max(a))
    if len(range) != 2:
        raise ValueError(at_user_line(
            f"fgrad.numpy.histogram_bin_edges: range must be None or a pair of scalars, not "
            f"{range!r}."))
    low, high = (convert(r, dtype) for r in range)
    same = equal(subtract(maximum(low, high), minimum(low, high)), 0)
    low = where(same, subtract(low, 0.5), low)
    high = where(same, add(high, 0.5), high)
    return linspace(low, high, n_bins + 1, dtype=dtype)


def histogram(a, bins=10, range=None, weights=None, density=None):  # noqa: A002
    """Counts of `a`'s elements (or sums of their `weights`) in each bin, and the bins'
    edges; every bin but the last is half-open, [low, high)."""
    check_arraylike("histogram", a, bins)
    if weights is None:
        (a,) = promote_dtypes(a, kind="inexact")
        weights = ones_like(a)
    else:
        check_arraylike("histogram", weights)
        if aval_of(weights).shape != aval_of(a).shape:
            raise ValueError(at_user_line(
                "fgrad.numpy.histogram: weights should have the same shape as a."))
        a, weights = promote_dtypes(a, weights, kind="inexact")
    edges = histogram_bin_edges(a, bins, range, weights)
    n_edges = aval_of(edges).shape[0]
    index = searchsorted(edges, a, side="right")
    index = where(equal(a, _take(edges, -1)), n_edges - 1, index)
    base = ls.full((n_edges,), 0, aval_of(weights).dtype)
    counts = _rows(IndexUpdateHelper(base)[index].add(weights), 1)
    if density:
        counts = true_divide(true_divide(counts, _diff(edges)), sum(counts))
    return counts, edges


def histogramdd(sample, bins=10, range=None, weights=None, density=None):  # noqa: A002
    """A histogram of N points in D dimensions (`sample` of shape (N, D)): counts in each
    D-dimensional bin, and the edges along each dimension."""
    check_arraylike("histogramdd", sample)
    if weights is None:
        (sample,) = promote_dtypes(sample, kind="inexact")
    else:
        check_arraylike("histogramdd", weights)
        if aval_of(weights).shape != aval_of(sample).shape[:1]:
            raise ValueError(at_user_line(
                "fgrad.numpy.histogramdd: there should be one weight for each sample."))
        sample, weights = promote_dtypes(sample, weights, kind="inexact")
    if aval_of(sample).ndim != 2:
        raise ValueError(at_user_line(
            f"fgrad.numpy.histogramdd: sample must have shape (N, D), not "
            f"{aval_of(sample).shape}."))
    n, d = aval_of(sample).shape
    if range is not None and (len(range) != d or builtins.any(
            r is not None and np.shape(r)[0] != 2 for r in range)):
        raise ValueError(at_user_line(
            f"fgrad.numpy.histogramdd: for a sample of shape {(n, d)}, range must be a "
            f"sequence of {d} pairs or Nones, not {range!r}."))
    if isinstance(bins, (list, tuple)):
        if len(bins) != d:
            raise ValueError(at_user_line(
                "fgrad.numpy.histogramdd: there should be a bin for each dimension."))
        per_dimension = list(bins)
    else:
        per_dimension = [bins] * d
    bin_indices, edges_by_dim, n_bins = [], [], []
    for i in builtins.range(d):
        column = getitem(sample, (slice(None), i))
        edges = histogram_bin_edges(column, per_dimension[i],
                                    None if range is None else range[i], weights)
        index = searchsorted(edges, column, side="right")
        bin_indices.append(where(equal(column, _take(edges, -1)), subtract(index, 1), index))
        edges_by_dim.append(edges)
        n_bins.append(aval_of(edges).shape[0] + 1)
    # One flat bin number per point (NumPy's ravel_multi_index with mode='clip').
    flat, stride = None, 1
    for index, size in reversed(list(zip(bin_indices, n_bins))):
        term = multiply(clip(index, 0, size - 1), stride)
        flat = term if flat is None else add(flat, term)
        stride *= size
    hist = bincount(flat, weights, length=math.prod(n_bins))
    hist = ls.reshape(hist, tuple(n_bins))
    hist = getitem(hist, (slice(1, -1),) * d)
    if density:
        hist = convert(hist, aval_of(sample).dtype)
        hist = true_divide(hist, sum(hist))
        for i, edges in enumerate(edges_by_dim):
            shape = [1] * d
            shape[i] = -1
            hist = true_divide(hist, reshape(_diff(edges), shape))
    return hist, edges_by_dim


def histogram2d(x, y, bins=10, range=None, weights=None, density=None):  # noqa: A002
    """A histogram of the points (x[i], y[i]): counts in each 2-D bin, and both edges."""
    check_arraylike("histogram2d", x, y)
    try:
        n = len(bins)
    except TypeError:
        n = 1
    if n not in (1, 2):
        edges = asarray(bins)
        bins = [edges, edges]
    sample = ls.transpose(stack(promote_dtypes(x, y)), (1, 0))
    hist, edges = histogramdd(sample, bins, range, weights, density)
    return hist, edges[0], edges[1]
