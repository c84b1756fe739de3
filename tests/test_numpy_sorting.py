"""fgrad.numpy's sorting, searching, order statistics, unique and set operations, and
histograms against jax.numpy: values, dtypes and weak types eagerly and traced, the errors
jax.numpy raises, derivatives (check_grads, float64, second order), vmap against jax.vmap,
and fgrad.jit / jax.jit, including the static size= that value-dependent sizes need there
and the error that asks for it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.core import ConcretizationError
from fgrad.testing import check_grads
from test_numpy_reductions import assert_same, compare, expect_same_error, reference

pytestmark = pytest.mark.usefixtures("quick_compile")
SLOW = pytest.mark.slow  # the rest of a grid of cases, run with `-m slow`
rng = np.random.default_rng(0)
F32 = rng.standard_normal((3, 5)).astype(np.float32)
F32[0, 1] = np.nan
F32[1, 2] = F32[1, 3]  # a tie
I32 = rng.integers(-3, 4, (3, 5)).astype(np.int32)
ARRAYS = {
    "f32": F32,
    "f64": F32.astype(np.float64),
    "i32": I32,
    "u8": rng.integers(0, 4, (3, 5)).astype(np.uint8),
    "bool": rng.random((3, 5)) > 0.5,
    "c64": (rng.integers(-2, 2, (3, 5)) + 1j * rng.integers(-2, 2, (3, 5))).astype(np.complex64),
    "0-d": np.float32(2.0),
    "python": 3.0,
    "empty": np.zeros((0, 3), np.float32),
}


def both(name, *args, traced=True, eager=False, **kwargs):
    """fnp.name against jnp.name on args and kwargs (see `compare`); the same kind of error
    if JAX raises."""
    def f(*a):
        return getattr(fnp, name)(*a, **kwargs)

    def jf(*a):
        return getattr(jnp, name)(*a, **kwargs)

    try:
        want = reference(jf, args, traced)
    except Exception:
        expect_same_error(f, jf, *args)
        return
    compare(f, jf, *args, traced=traced, eager=eager, want=want, rtol=2e-6, atol=2e-6)


# -- sort, argsort, lexsort, partition ---------------------------------------------------------

SORTS = [  # (name, keyword arguments) of each call
    ("sort", {}), ("sort", {"axis": 0, "descending": True}), ("argsort", {"axis": None}),
    ("argsort", {"descending": True, "stable": False, "dtype": np.int16}), ("sort_complex", {}),
]
SORT_ARRAYS = ["f32", "f64", "i32", "bool", "c64", "0-d", "empty"]


# By default every call on f32 (a NaN and a tie), 0-d and empty arrays, and the other dtypes
# with every other call in turn; `-m slow` runs the rest of the grid.
@pytest.mark.parametrize("array, k", [
    pytest.param(a, k, marks=() if a in ("f32", "0-d", "empty") or (i + k) % 2 == 0 else SLOW,
                 id=f"{a}-{SORTS[k][0]}{k}")
    for i, a in enumerate(SORT_ARRAYS) for k in range(len(SORTS))])
def test_sort_and_argsort(request, array, k):
    if array == "f64":
        request.getfixturevalue("x64")
    name, kwargs = SORTS[k]
    both(name, ARRAYS[array], **kwargs)


def test_sort_arguments():
    both("sort", ARRAYS["python"], axis=None)
    both("argsort", ARRAYS["u8"], axis=0, descending=True)
    both("sort", F32, kind="stable")
    both("argsort", F32, order="x")


def test_lexsort():
    both("lexsort", (I32[0], I32[1]))
    both("lexsort", I32)
    both("lexsort", (F32, I32), axis=0)
    both("lexsort", (3.0, 2))
    both("lexsort", ())
    both("lexsort", (I32, I32[0]))


def test_partition():
    both("partition", F32, 2)
    both("argpartition", I32, -1, axis=0)
    both("partition", ARRAYS["u8"], 0, axis=0)
    both("argpartition", ARRAYS["u8"], 3)
    for array in ("c64", "bool"):
        both("partition", ARRAYS[array], 1)
    both("partition", F32, 7)


# -- searchsorted, digitize ------------------------------------------------------------------

SEARCHSORTED = [  # (arguments, keyword arguments) of each call, the method added
    ((np.sort(F32[1]), F32), {"side": "left"}),  # a NaN and a tie
    ((np.sort(F32[1]), F32), {"side": "right"}),
    ((np.sort(ARRAYS["c64"][0]), ARRAYS["c64"], "left"), {}),
    ((np.sort(ARRAYS["c64"][0]), ARRAYS["c64"], "right"), {}),
    ((np.sort(I32[0]), 0.5), {}),
    ((F32[2], 0.1, "right", np.argsort(F32[2])), {}),
    ((np.zeros(0, np.float32), F32), {}),
]
SEARCH_METHODS = ["scan", "compare_all", "sort"]


# By default every method on the NaN cases, each other call with one method in turn;
# `-m slow` runs the rest of the grid.
@pytest.mark.parametrize("method, k", [
    pytest.param(m, k, marks=() if k < 2 or (i + k) % 3 == 0 else SLOW, id=f"{m}-{k}")
    for i, m in enumerate(SEARCH_METHODS) for k in range(len(SEARCHSORTED))])
def test_searchsorted(method, k):
    args, kwargs = SEARCHSORTED[k]
    both("searchsorted", *args, method=method, **kwargs)


def test_searchsorted_and_digitize_errors_and_edges():
    both("searchsorted", F32, 0.5)
    both("searchsorted", F32[0], 0.5, side="middle")
    both("searchsorted", F32[0], 0.5, method="guess")
    for bins, right in ((np.array([-1.0, 0.0, 1.0], np.float32), False),
                        (np.array([1.0, 0.0, -1.0]), True), (np.zeros(0), False)):
        both("digitize", F32, bins, right)
    both("digitize", I32, np.array([0, 2]), method="compare_all")
    both("digitize", F32, F32)


# -- quantiles -------------------------------------------------------------------------------

Q3 = np.array([0.1, 0.5, 0.93], np.float32)
QUANTILES = [  # (name, arguments, keyword arguments) of each call, the method added
    ("quantile", (F32, Q3), {"axis": 1}),
    ("nanquantile", (F32, 0.3), {"axis": (1, 0), "keepdims": True}),
    ("percentile", (I32, Q3 * 100), {"axis": 0, "keepdims": True}),
    ("nanpercentile", (F32, 40.0), {"axis": 0}),
]
QUANTILE_METHODS = ["linear", "lower", "higher", "midpoint", "nearest", "inverted_cdf"]


# By default each method with two of the functions in turn (each function with three
# methods); `-m slow` runs the rest of the grid.
@pytest.mark.parametrize("method, k", [
    pytest.param(m, k, marks=() if (i + k) % 2 == 0 else SLOW, id=f"{m}-{QUANTILES[k][0]}")
    for i, m in enumerate(QUANTILE_METHODS) for k in range(len(QUANTILES))])
def test_quantiles(method, k):
    name, args, kwargs = QUANTILES[k]
    both(name, *args, method=method, **kwargs)


def test_median_and_quantile_options():
    for name in ("median", "nanmedian"):
        both(name, F32, axis=1)
        both(name, ARRAYS["bool"], axis=(0, 1), keepdims=True)
        both(name, ARRAYS["python"])
        both(name, ARRAYS["c64"])
    both("quantile", ARRAYS["empty"], 0.5, axis=0)
    weights = np.abs(F32) + 0.1
    both("quantile", I32, 0.7, axis=0, method="inverted_cdf", weights=np.abs(I32[:, 0]) + 1.0)
    both("nanquantile", F32, np.array([0.2, 0.9]), axis=1, method="inverted_cdf",
         weights=weights, keepdims=True)
    both("quantile", F32, 0.3, weights=weights)  # weights need inverted_cdf
    both("quantile", F32, 1)  # q must be floating point
    both("quantile", F32, 0.5, method="middle")
    both("quantile", F32, np.ones((2, 2)) / 2)
    both("median", F32, overwrite_input=True)


# -- unique and set operations ---------------------------------------------------------------

NANS = np.array([1.0, np.nan, np.nan, 1.0, -0.0, 0.0, 2.0], np.float32)


UNIQUE_CALLS = [  # (keyword arguments, traced)
    (dict(return_index=True, return_inverse=True, return_counts=True), False),
    (dict(size=8, return_index=True, return_inverse=True, return_counts=True), True),
    (dict(size=3, fill_value=0, equal_nan=False), True),
]


# By default every call on the NaNs, and complex values with size=; `-m slow` the rest.
@pytest.mark.parametrize("array, k", [
    pytest.param(a, k, marks=() if a == "nans" or k == 1 else SLOW, id=f"{a}-{k}")
    for a in ("nans", "c64") for k in range(len(UNIQUE_CALLS))])
def test_unique(array, k):
    x = NANS if array == "nans" else ARRAYS[array]
    kwargs, traced = UNIQUE_CALLS[k]
    both("unique", x, traced=traced, **kwargs)


def test_unique_functions_and_edges():
    both("unique_all", NANS, traced=False)
    both("unique_all", NANS, size=6, fill_value=-1)
    both("unique_counts", I32, size=6)
    both("unique_inverse", NANS, size=5)
    both("unique_values", NANS, traced=False)
    both("unique", ARRAYS["python"], traced=False)
    both("unique", ARRAYS["empty"], return_inverse=True, return_counts=True, traced=False)
    both("unique", np.zeros((0, 2)), size=2)  # an empty input with a size needs a fill_value


def test_unique_along_an_axis():
    rows = np.concatenate([I32, I32[::-1]])
    both("unique", rows, axis=0, return_counts=True, return_inverse=True, return_index=True,
         traced=False)
    both("unique", I32, axis=1, size=6)
    both("unique", np.zeros((3, 0)), axis=0, traced=False)


A1 = np.array([3, 1, 2, 2, 5], np.int32)
A2 = np.array([2, 7, 3, 3], np.int32)


SET_OPERATIONS = ["union1d", "intersect1d", "setdiff1d", "setxor1d"]
SET_CALLS = [  # (arguments, keyword arguments) of each call, after the name
    ((A1.reshape(5, 1), A2.astype(np.float32)), {"traced": False}),  # eagerly, promoted
    ((A1, A2), {"size": 7, "fill_value": -9}),
    ((np.zeros(0, np.int32), 2), {"size": 3, "fill_value": 0}),  # empty, and a scalar
    ((np.unique(A1), np.unique(A2), True), {"size": 6}),  # assume_unique: not union1d's
]


# By default each function on the empty case and one other call in turn; `-m slow` the rest.
@pytest.mark.parametrize("name, k", [
    pytest.param(n, k, marks=() if k == 2 or k == (0, 1, 3)[i % 3] else SLOW, id=f"{n}-{k}")
    for i, n in enumerate(SET_OPERATIONS) for k in range(len(SET_CALLS))
    if not (n == "union1d" and k == 3)])
def test_set_operations(name, k):
    args, kwargs = SET_CALLS[k]
    both(name, *args, **kwargs)


def test_intersect1d_indices():
    both("intersect1d", A1, A2, False, True, traced=False)
    both("intersect1d", np.unique(A1), np.unique(A2), True, True, size=4)


ISIN = [  # (arguments, keyword arguments) of each call, the method added
    ((F32, np.array([F32[1, 2], np.nan, 7.0])), {}),  # NaNs on both sides
    ((I32, A2.astype(np.float32)), {"invert": True}),
    ((np.unique(I32), A2, True), {}),
    ((3, np.zeros(0)), {"invert": True}),
]
ISIN_METHODS = ["auto", "compare_all", "binary_search", "sort"]


# By default every method on the NaNs, each other call with one method in turn; `-m slow`
# runs the rest of the grid.
@pytest.mark.parametrize("method, k", [
    pytest.param(m, k, marks=() if k == 0 or (i + k) % 4 == 0 else SLOW, id=f"{m}-{k}")
    for i, m in enumerate(ISIN_METHODS) for k in range(len(ISIN))])
def test_isin(method, k):
    args, kwargs = ISIN[k]
    both("isin", *args, method=method, **kwargs)


def test_isin_errors_and_in1d():
    both("isin", I32, A2, method="hash")
    assert not hasattr(jnp, "in1d")  # removed from jax.numpy; fgrad has none either
    with pytest.raises(AttributeError, match="in1d"):
        fnp.in1d  # noqa: B018


# -- histograms and bincount -----------------------------------------------------------------

def test_histogram():
    floats = rng.standard_normal(20).astype(np.float32)  # data away from the bins' edges
    both("histogram", floats)
    both("histogram", I32, bins=np.array([-2.0, 0.0, 0.5, 3.0]), density=True)
    both("histogram", ARRAYS["bool"], bins=3, range=(-5.0, 4.0), weights=np.ones((3, 5)) * 2)
    both("histogram_bin_edges", np.ones(4, np.float32), 3)  # one value: the range grows
    both("histogram", floats, bins="auto")
    both("histogram_bin_edges", floats, bins="auto")
    both("histogram", floats, weights=np.ones(3))


def test_histogramdd_and_histogram2d():
    points = rng.standard_normal((20, 3)).astype(np.float32)
    both("histogramdd", points, bins=(2, 3, 4), range=[(-1, 1), None, (0, 2)],
         weights=points[:, 0], density=True)
    both("histogramdd", points, bins=(2, 3))
    both("histogram2d", points[:, 0], points[:, 1], bins=[3, np.array([-1.0, 0.0, 1.0])])


def test_bincount():
    counts = np.abs(I32[0])
    both("bincount", counts, traced=False)
    both("bincount", I32[0], weights=F32[2], minlength=9, traced=False)
    both("bincount", ARRAYS["bool"][0], length=3)
    both("bincount", F32[0], length=3)
    both("bincount", I32, length=3)
    both("bincount", counts, weights=F32[:2], length=3)


# -- eagerly ---------------------------------------------------------------------------------

EAGER_Q = np.array([0.25, 0.9], np.float32)
EAGERLY = [
    ("sort", (F32,), {"axis": 0}), ("argsort", (F32,), {"descending": True}),
    ("lexsort", ((I32[0], F32[0]),), {}), ("argpartition", (ARRAYS["u8"], 1), {}),
    ("searchsorted", (np.sort(F32[1]), F32), {"side": "right"}),
    ("quantile", (F32, EAGER_Q), {"axis": 1, "keepdims": True}),
    ("nanpercentile", (F32, 30.0), {"method": "inverted_cdf"}),
    ("unique", (NANS,), {"size": 5, "return_inverse": True, "return_counts": True}),
    ("isin", (I32, A2), {"method": "sort"}), ("histogram", (F32[2],), {"bins": 4}),
]


# A third of the functions by default (each is checked traced above); `-m slow` the rest.
@pytest.mark.parametrize("k", [pytest.param(k, marks=() if k % 3 == 0 else SLOW,
                                            id=EAGERLY[k][0]) for k in range(len(EAGERLY))])
def test_eagerly(k):
    """Functions on concrete values, primitive by primitive (the tests above check most
    cases traced, where fgrad's values come from one compiled program)."""
    name, args, kwargs = EAGERLY[k]
    both(name, *args, eager=True, **kwargs)


# -- under jit, without and with size= -------------------------------------------------------

VALUE_DEPENDENT = {  # fgrad without size, fgrad with size, JAX with size, JAX eagerly
    "unique": (lambda m, x: m.unique(x), lambda m, x: m.unique(x, size=6, fill_value=-1)),
    "setxor1d": (lambda m, x: m.setxor1d(x, A2), lambda m, x: m.setxor1d(x, A2, size=4)),
    "bincount": (lambda m, x: m.bincount(x), lambda m, x: m.bincount(x, length=8)),
}


@pytest.mark.parametrize("name", list(VALUE_DEPENDENT))
def test_value_dependent_sizes_under_jit(name):
    unsized, sized = VALUE_DEPENDENT[name]
    want = jax.tree.leaves(jax.jit(lambda x: sized(jnp, x))(A1))  # JAX's, compiled once
    for jit in (fgrad.jit, jax.jit):
        for got, w in zip(jax.tree.leaves(jit(lambda x: sized(fnp, x))(A1)), want):
            assert_same(got, w)
        with pytest.raises(ConcretizationError, match="size=|length="):
            jit(lambda x: unsized(fnp, x))(A1)
    # With the values known (eagerly) no size is needed.
    compare(lambda x: unsized(fnp, x), lambda x: unsized(jnp, x), A1, traced=False)


@pytest.mark.usefixtures("x64")
def test_unique_under_grad_needs_no_size():
    """fgrad.grad knows the values, so unique needs no size, and its derivative is that of
    gathering the first occurrences: JAX's with size= (JAX's unique without size drops the
    tangents it reads the values from, and gives zero)."""
    x = np.array([3.0, 1.0, 3.0, 2.0])
    got = fgrad.grad(lambda x: fnp.sum(fnp.unique(x) ** 2))(x)
    want = jax.jit(jax.grad(lambda x: jnp.sum(jnp.unique(x, size=3) ** 2)))(x)
    assert_same(got, want)


# -- derivatives, vmap, jit ------------------------------------------------------------------

GRAD_CASES = {
    "sort, median, partition": lambda x: (fnp.sort(x, axis=0) * np.arange(3.0)[:, None]).sum()
    + fnp.median(x, axis=1).sum() + fnp.partition(x, 2)[:, 1].sum(),
    "quantiles": lambda x: fnp.quantile(x, np.array([0.2, 0.7]), axis=(0, 1)).sum()
    + fnp.nanquantile(fnp.where(x > 1.0, np.nan, x), 0.3, axis=0, method="nearest").sum()
    + fnp.quantile(np.arange(5.0), fnp.abs(x[0, :3]) / 3).sum(),
}


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("name", list(GRAD_CASES))
def test_second_derivatives(name):
    x = np.random.default_rng(2).standard_normal((3, 4))
    check_grads(GRAD_CASES[name], (x,), order=2)


@pytest.mark.parametrize("name, in_axes", [
    ("sort", 0), ("argsort", 1), ("nanquantile", 0), ("searchsorted", 0), ("unique", 0),
    ("isin", 1), ("digitize", 0), ("partition", 1), ("bincount", 0),
])
def test_vmap(name, in_axes):
    x = np.round(np.nan_to_num(F32) * 2) / 2
    calls = {
        "sort": lambda m, x: m.sort(x, descending=True),
        "argsort": lambda m, x: m.argsort(x),
        "nanquantile": lambda m, x: m.nanquantile(x, np.array([0.25, 0.5])),
        "searchsorted": lambda m, x: m.searchsorted(np.arange(-2.0, 2.0), x, side="right"),
        "unique": lambda m, x: m.unique(x, size=4, fill_value=9.0),
        "isin": lambda m, x: m.isin(x, np.array([0.5, -1.0])),
        "digitize": lambda m, x: m.digitize(x, np.array([1.0, 0.0, -1.0])),
        "partition": lambda m, x: m.partition(x, 1),
        "bincount": lambda m, x: m.bincount(m.abs(x * 2).astype(np.int32), length=6),
    }
    got = fgrad.vmap(lambda x: calls[name](fnp, x), in_axes=in_axes)(x)
    # JAX's under jax.jit: one compilation rather than one per operation.
    want = jax.jit(jax.vmap(lambda x: calls[name](jnp, x), in_axes=in_axes))(x)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        assert_same(g, w)


def test_jit():
    def f(m, x):
        return (m.sort(x, axis=0), m.argsort(x, descending=True), m.quantile(x, 0.3, axis=1),
                m.searchsorted(m.sort(x[0]), x), m.histogram(x, bins=3, range=(-2.0, 2.0)),
                m.lexsort(x), m.argpartition(x, 2))

    x = np.nan_to_num(F32)
    want = jax.tree.leaves(jax.jit(lambda x: f(jnp, x))(x))
    for jit in (fgrad.jit, jax.jit):
        for g, w in zip(jax.tree.leaves(jit(lambda x: f(fnp, x))(x)), want):
            assert_same(g, w)
