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
from test_numpy_reductions import assert_same, compare, expect_same_error

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


def both(name, *args, traced=True, **kwargs):
    """fnp.name against jnp.name on args and kwargs; the same kind of error if JAX raises."""
    def f(*a):
        return getattr(fnp, name)(*a, **kwargs)

    def jf(*a):
        return getattr(jnp, name)(*a, **kwargs)

    try:
        jf(*args)
    except Exception:
        expect_same_error(f, jf, *args)
        return
    compare(f, jf, *args, traced=traced, rtol=2e-6, atol=2e-6)


@pytest.fixture(params=["f32", "f64"])
def float_array(request):
    if request.param == "f64":
        request.getfixturevalue("x64")
    return ARRAYS[request.param]


# -- sort, argsort, lexsort, partition ---------------------------------------------------------

@pytest.mark.parametrize("array", list(ARRAYS))
def test_sort_and_argsort(request, array):
    if array == "f64":
        request.getfixturevalue("x64")
    x = ARRAYS[array]
    for name in ("sort", "argsort"):
        for kwargs in ({}, {"axis": 0, "descending": True}, {"axis": None},
                       {"descending": True, "stable": False}):
            both(name, x, **kwargs)
    both("argsort", x, dtype=np.int16)
    both("sort_complex", x)
    both("sort", x, kind="stable")


def test_lexsort():
    both("lexsort", (I32[0], I32[1]))
    both("lexsort", I32)
    both("lexsort", (F32, I32), axis=0)
    both("lexsort", [ARRAYS["bool"][0], F32[0]])
    both("lexsort", (3.0, 2))
    both("lexsort", ())
    both("lexsort", (I32, I32[0]))


@pytest.mark.parametrize("array", ["f32", "i32", "u8", "bool", "c64", "empty"])
def test_partition(array):
    x = ARRAYS[array]
    for kth in (0, 2, -1):
        both("partition", x, kth)
        both("argpartition", x, kth, axis=0)
    both("partition", x, 7)


# -- searchsorted, digitize ------------------------------------------------------------------

@pytest.mark.parametrize("method", ["scan", "compare_all", "sort"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_searchsorted(method, side):
    for values in (np.sort(F32[1]), np.sort(I32[0])):
        for v in (F32, 0.5, np.float32(np.nan), I32):
            both("searchsorted", values, v, side=side, method=method)
    c = np.sort(ARRAYS["c64"][0])
    both("searchsorted", c, ARRAYS["c64"], side=side, method=method)
    both("searchsorted", F32[2], 0.1, side, np.argsort(F32[2]), method=method)
    both("searchsorted", np.zeros(0, np.float32), F32, side=side, method=method)


def test_searchsorted_and_digitize_errors_and_edges():
    both("searchsorted", F32, 0.5)
    both("searchsorted", F32[0], 0.5, side="middle")
    both("searchsorted", F32[0], 0.5, method="guess")
    for bins in (np.array([-1.0, 0.0, 1.0], np.float32), np.array([1.0, 0.0, -1.0]),
                 np.zeros(0), np.array([0, 2])):
        for right in (False, True):
            both("digitize", F32, bins, right)
            both("digitize", I32, bins, right, method="compare_all")
    both("digitize", F32, F32)


# -- quantiles -------------------------------------------------------------------------------

METHODS = ["linear", "lower", "higher", "midpoint", "nearest", "inverted_cdf"]


@pytest.mark.parametrize("name", ["quantile", "nanquantile", "percentile", "nanpercentile"])
@pytest.mark.parametrize("method", METHODS)
def test_quantiles(name, method):
    scale = 100 if "percentile" in name else 1
    q_vector = np.array([0.1, 0.5, 0.93], np.float32) * scale
    for x in (F32, I32):
        for q in (q_vector, 0.3 * scale):
            for kwargs in ({}, {"axis": 1}, {"axis": 0, "keepdims": True},
                           {"axis": (1, 0), "keepdims": True}):
                both(name, x, q, method=method, **kwargs)
    both(name, ARRAYS["empty"], q_vector, method=method, axis=0)
    both(name, ARRAYS["0-d"], q_vector, method=method)


def test_median_and_quantile_options():
    for name in ("median", "nanmedian"):
        for x in (F32, I32, ARRAYS["bool"], ARRAYS["0-d"], ARRAYS["python"], ARRAYS["c64"]):
            both(name, x)
            if np.ndim(x):
                both(name, x, axis=(0, 1), keepdims=True)
                both(name, x, axis=1)
    weights = np.abs(F32) + 0.1
    both("quantile", F32, 0.3, axis=1, method="inverted_cdf", weights=weights[0])
    both("quantile", I32, 0.7, axis=0, method="inverted_cdf", weights=np.abs(I32) + 1.0)
    both("nanquantile", F32, np.array([0.2, 0.9]), axis=1, method="inverted_cdf",
         weights=weights, keepdims=True)
    both("quantile", F32, 0.3, weights=weights)  # weights need inverted_cdf
    both("quantile", F32, 1)  # q must be floating point
    both("quantile", F32, 0.5, method="middle")
    both("quantile", F32, np.ones((2, 2)) / 2)
    both("median", F32, overwrite_input=True)


# -- unique and set operations ---------------------------------------------------------------

UNIQUE_OPTIONS = [{}, {"return_index": True, "return_inverse": True, "return_counts": True},
                  {"size": 8}, {"size": 3, "fill_value": 0},
                  {"size": 8, "return_counts": True, "return_index": True,
                   "return_inverse": True}, {"equal_nan": False}]


@pytest.mark.parametrize("array", ["f32", "i32", "bool", "c64", "python", "empty", "nans"])
def test_unique(array):
    x = (np.array([1.0, np.nan, np.nan, 1.0, -0.0, 0.0], np.float32) if array == "nans"
         else ARRAYS[array])
    for kwargs in UNIQUE_OPTIONS:
        both("unique", x, traced="size" in kwargs, **kwargs)
    for name in ("unique_all", "unique_counts", "unique_inverse", "unique_values"):
        both(name, x, traced=False)
        both(name, x, size=6, fill_value=-1)


def test_unique_along_an_axis():
    rows = np.concatenate([I32, I32[::-1]])
    both("unique", rows, axis=0, return_counts=True, return_inverse=True, return_index=True,
         traced=False)
    both("unique", I32, axis=1, size=6)
    both("unique", np.zeros((3, 0)), axis=0, traced=False)
    both("unique", np.zeros((0, 2)), size=2)  # an empty input with a size needs a fill_value


A1 = np.array([3, 1, 2, 2, 5], np.int32)
A2 = np.array([2, 7, 3, 3], np.int32)


@pytest.mark.parametrize("name", ["union1d", "intersect1d", "setdiff1d", "setxor1d"])
def test_set_operations(name):
    both(name, A1, A2, traced=False)
    both(name, A1, A2.astype(np.float32), traced=False)
    both(name, A1.reshape(5, 1), 2, traced=False)
    both(name, A1, A2, size=7)
    both(name, A1, A2, size=7, fill_value=-9)
    both(name, A1, np.zeros(0, np.int32), traced=False)
    both(name, np.zeros(0, np.int32), A2, size=3, fill_value=0)
    if name != "union1d":
        both(name, np.unique(A1), np.unique(A2), True, traced=False)
        both(name, np.unique(A1), np.unique(A2), True, size=6)


def test_intersect1d_indices():
    for assume_unique in (False, True):
        x, y = (np.unique(A1), np.unique(A2)) if assume_unique else (A1, A2)
        both("intersect1d", x, y, assume_unique, True, traced=False)
        both("intersect1d", x, y, assume_unique, True, size=4)


@pytest.mark.parametrize("method", ["auto", "compare_all", "binary_search", "sort"])
def test_isin(method):
    for invert in (False, True):
        both("isin", I32, A2, invert=invert, method=method)
        both("isin", F32, np.array([F32[1, 2], 7.0]), invert=invert, method=method)
        both("isin", 3, A1, method=method)
        both("isin", np.unique(I32), A2, True, invert, method=method)
        both("isin", I32, np.zeros(0), invert=invert, method=method)
    both("isin", I32, A2, method="hash")


def test_in1d_is_not_in_jax_numpy_either():
    assert not hasattr(jnp, "in1d")
    with pytest.raises(AttributeError, match="in1d"):
        fnp.in1d  # noqa: B018


# -- histograms and bincount -----------------------------------------------------------------

def test_histogram():
    floats = rng.standard_normal(20).astype(np.float32)  # data away from the bins' edges
    for x in (floats, I32, ARRAYS["bool"]):
        both("histogram", x, bins=4, range=(-5, 4))
        both("histogram", x, bins=np.array([-2.0, 0.0, 0.5, 3.0]), density=True)
        both("histogram", x, bins=3, range=(-5.0, 4.0), weights=np.ones(np.shape(x)) * 2)
        both("histogram_bin_edges", x, 3)
    both("histogram", floats)
    both("histogram", np.ones(4, np.float32))  # one value: the range grows by 0.5 each way
    both("histogram", floats, bins="auto")
    both("histogram", floats, weights=np.ones(3))


def test_histogramdd_and_histogram2d():
    points = rng.standard_normal((20, 3)).astype(np.float32)
    both("histogramdd", points)
    both("histogramdd", points, bins=(2, 3, 4), density=True)
    both("histogramdd", points, bins=3, range=[(-1, 1), None, (0, 2)], weights=points[:, 0])
    both("histogramdd", points, bins=(2, 3))
    both("histogram2d", points[:, 0], points[:, 1])
    both("histogram2d", points[:, 0], points[:, 1], bins=[3, 4], density=True)
    both("histogram2d", points[:, 0], points[:, 1], bins=np.array([-1.0, 0.0, 1.0]))


def test_bincount():
    counts = np.abs(I32[0])
    both("bincount", counts, traced=False)
    both("bincount", I32[0], minlength=9, traced=False)
    both("bincount", counts, weights=F32[2], traced=False)
    both("bincount", ARRAYS["bool"][0], traced=False)
    both("bincount", I32[0], length=3)
    both("bincount", F32[0], length=3)
    both("bincount", I32, length=3)
    both("bincount", counts, weights=F32[:2], length=3)


# -- under jit, without and with size= -------------------------------------------------------

VALUE_DEPENDENT = {
    "unique": (lambda x: fnp.unique(x), lambda x: fnp.unique(x, size=6, fill_value=-1)),
    "union1d": (lambda x: fnp.union1d(x, A2), lambda x: fnp.union1d(x, A2, size=8)),
    "setdiff1d": (lambda x: fnp.setdiff1d(x, A2), lambda x: fnp.setdiff1d(x, A2, size=4)),
    "setxor1d": (lambda x: fnp.setxor1d(x, A2), lambda x: fnp.setxor1d(x, A2, size=4)),
    "intersect1d": (lambda x: fnp.intersect1d(x, A2),
                    lambda x: fnp.intersect1d(x, A2, size=3, fill_value=0)),
    "unique_counts": (lambda x: fnp.unique_counts(x), lambda x: fnp.unique_counts(x, size=6)),
    "bincount": (lambda x: fnp.bincount(x), lambda x: fnp.bincount(x, length=8)),
}


@pytest.mark.parametrize("name", list(VALUE_DEPENDENT))
def test_value_dependent_sizes_under_jit(name):
    unsized, sized = VALUE_DEPENDENT[name]
    jax_sized = {"unique": lambda x: jnp.unique(x, size=6, fill_value=-1),
                 "union1d": lambda x: jnp.union1d(x, A2, size=8),
                 "setdiff1d": lambda x: jnp.setdiff1d(x, A2, size=4),
                 "setxor1d": lambda x: jnp.setxor1d(x, A2, size=4),
                 "intersect1d": lambda x: jnp.intersect1d(x, A2, size=3, fill_value=0),
                 "unique_counts": lambda x: jnp.unique_counts(x, size=6),
                 "bincount": lambda x: jnp.bincount(x, length=8)}[name]
    want = jax.tree.leaves(jax_sized(A1))
    for jit in (fgrad.jit, jax.jit):
        for got, w in zip(jax.tree.leaves(jit(sized)(A1)), want):
            assert_same(got, w)
        with pytest.raises(ConcretizationError, match="size=|length="):
            jit(unsized)(A1)
    # Values known (eagerly, and under fgrad.grad's define-by-run tracing): no size needed.
    compare(unsized, {"unique": jnp.unique, "union1d": lambda x: jnp.union1d(x, A2),
                      "setdiff1d": lambda x: jnp.setdiff1d(x, A2),
                      "setxor1d": lambda x: jnp.setxor1d(x, A2),
                      "intersect1d": lambda x: jnp.intersect1d(x, A2),
                      "unique_counts": jnp.unique_counts, "bincount": jnp.bincount}[name],
            A1, traced=False)


@pytest.mark.usefixtures("x64")
def test_unique_under_grad_needs_no_size():
    x = np.array([3.0, 1.0, 3.0, 2.0])
    got = fgrad.grad(lambda x: fnp.sum(fnp.unique(x) ** 2))(x)
    want = jax.grad(lambda x: jnp.sum(jnp.unique(x) ** 2))(x)
    assert_same(got, want)


# -- derivatives, vmap, jit ------------------------------------------------------------------

GRAD_CASES = {
    "sort": lambda x: fnp.sort(x, axis=0) * np.arange(3.0)[:, None],
    "sort descending": lambda x: fnp.sort(x, axis=None, descending=True),
    "median": lambda x: fnp.median(x, axis=1),
    "quantile": lambda x: fnp.quantile(x, np.array([0.2, 0.7]), axis=(0, 1), keepdims=True),
    "nanquantile nearest": lambda x: fnp.nanquantile(x, 0.3, axis=0, method="nearest"),
    "percentile midpoint": lambda x: fnp.percentile(x, 40.0, method="midpoint"),
    "nanmedian": lambda x: fnp.nanmedian(fnp.where(x > 1.0, np.nan, x), axis=0),
    "partition": lambda x: fnp.partition(x, 2) * np.arange(4.0),
    "histogram weights": lambda x: fnp.histogram(np.arange(12.0) / 4 % 1.7, bins=3,
                                                 weights=x.ravel())[0],
    "quantile in q": lambda x: fnp.quantile(np.arange(5.0), fnp.abs(x[0, :2]) / 3),
}


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("name", list(GRAD_CASES))
def test_second_derivatives(name):
    x = np.random.default_rng(2).standard_normal((3, 4))
    check_grads(GRAD_CASES[name], (x,), order=2)


@pytest.mark.parametrize("name, in_axes", [
    ("sort", 0), ("argsort", 1), ("median", 1), ("nanquantile", 0), ("searchsorted", 0),
    ("unique", 0), ("isin", 1), ("digitize", 0), ("partition", 1), ("bincount", 0),
])
def test_vmap(name, in_axes):
    x = np.round(np.nan_to_num(F32) * 2) / 2
    calls = {
        "sort": lambda m, x: m.sort(x, descending=True),
        "argsort": lambda m, x: m.argsort(x),
        "median": lambda m, x: m.median(x),
        "nanquantile": lambda m, x: m.nanquantile(x, np.array([0.25, 0.5])),
        "searchsorted": lambda m, x: m.searchsorted(np.arange(-2.0, 2.0), x, side="right"),
        "unique": lambda m, x: m.unique(x, size=4, return_counts=True, fill_value=9.0),
        "isin": lambda m, x: m.isin(x, np.array([0.5, -1.0])),
        "digitize": lambda m, x: m.digitize(x, np.array([1.0, 0.0, -1.0])),
        "partition": lambda m, x: m.partition(x, 1),
        "bincount": lambda m, x: m.bincount(m.abs(x * 2).astype(np.int32), length=6),
    }
    got = fgrad.vmap(lambda x: calls[name](fnp, x), in_axes=in_axes)(x)
    want = jax.vmap(lambda x: calls[name](jnp, x), in_axes=in_axes)(x)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        assert_same(g, w)


def test_jit():
    def f(m, x):
        return (m.sort(x, axis=0), m.argsort(x, descending=True), m.quantile(x, 0.3, axis=1),
                m.searchsorted(m.sort(x[0]), x), m.histogram(x, bins=3, range=(-2.0, 2.0)),
                m.lexsort(x), m.argpartition(x, 2))

    x = np.nan_to_num(F32)
    want = jax.tree.leaves(f(jnp, x))
    for jit in (fgrad.jit, jax.jit):
        for g, w in zip(jax.tree.leaves(jit(lambda x: f(fnp, x))(x)), want):
            assert_same(g, w)
