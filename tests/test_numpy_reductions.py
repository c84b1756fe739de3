"""fgrad.numpy's reductions against jax.numpy: the NaN-ignoring family (nansum ... nanargmin),
running products and the array-API cumulative functions, count_nonzero, average and ptp,
the where=/out= arguments of the reductions, and complex inputs wherever jax.numpy takes
them (max and min order them lexicographically; var and std are real). Values, dtypes and
weak types eagerly and traced; derivatives (check_grads, float64, second order); vmap
against jax.vmap; fgrad.jit and jax.jit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.core import aval_of, eval_program, trace_to_program, typecheck
from fgrad.testing import check_grads

def assert_same(got, want, rtol=1e-6, atol=1e-6, where="eagerly"):
    assert isinstance(got, jax.Array), f"{where}: a {type(got).__name__}, not a jax.Array"
    assert aval_of(got) == aval_of(want), (where, aval_of(got), aval_of(want))
    if np.issubdtype(want.dtype, np.inexact):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=rtol, atol=atol,
                                   equal_nan=True, err_msg=where)
    else:
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want), err_msg=where)


def _array_positions(args) -> list[int]:
    return [i for i, a in enumerate(args) if isinstance(a, (np.ndarray, np.generic, jax.Array))]


def _over_arrays(f, args):
    """f as a function of args' arrays only (the other arguments fixed: static)."""
    positions = _array_positions(args)

    def over_arrays(*inputs):
        full = list(args)
        for i, x in zip(positions, inputs):
            full[i] = x
        return f(*full)

    return over_arrays, [args[i] for i in positions]


def reference(jf, args, traced=True):
    """jax.numpy's answer: compiled whole under jax.jit (one compilation rather than one
    per operation of an eager call), or eagerly where sizes depend on values."""
    if not traced:
        return jf(*args)
    fn, inputs = _over_arrays(jf, args)
    return jax.jit(fn)(*inputs)


def compare(f, jf, *args, traced=True, eager=False, want=None, **tolerances):
    """f(*args) has jf(*args)'s pytree, types and values.

    Traced: the typechecked program (array arguments its inputs) declares JAX's output types,
    and evaluated under jax.jit gives JAX's values. Eagerly as well when `eager`, and always
    when not `traced` (value-dependent sizes need concrete values). Compiling is most of
    these tests' time, and an eager call compiles each new primitive, so each function is
    checked eagerly in a few cases only.
    """
    want = jax.tree.leaves(reference(jf, args, traced) if want is None else want)
    if eager or not traced:
        got = jax.tree.leaves(f(*args))
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert_same(g, w, **tolerances)
    if not traced:
        return
    fn, inputs = _over_arrays(f, args)
    program, _ = trace_to_program(fn, inputs, "make_ir")
    typecheck(program)
    assert program.out_avals == [aval_of(w) for w in want]
    outputs = jax.jit(lambda *a: eval_program(program, *a))(*inputs)
    for g, w in zip(outputs, want):
        assert_same(g, w, where="traced, under jax.jit", **tolerances)


def expect_same_error(f, jf, *args):
    """jax.numpy refuses args; fgrad.numpy too, with an exception of the same built-in kind."""
    with pytest.raises(Exception) as theirs:
        jf(*args)
    kinds = tuple(c for c in type(theirs.value).__mro__
                  if c.__module__ == "builtins" and c not in (Exception, BaseException, object))
    with pytest.raises(kinds):
        f(*args)


rng = np.random.default_rng(0)
X = rng.standard_normal((3, 4)).astype(np.float32)
X[0, 1] = np.nan
X[2, :] = np.nan  # a row of NaNs only
ARRAYS = {
    "f32": X,
    "i32": rng.integers(-3, 4, (3, 4)).astype(np.int32),
    "bool": rng.random((3, 4)) > 0.5,
    "c64": (rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))).astype(np.complex64),
    "0-d": np.float32(1.5),
    "empty": np.zeros((0, 3), np.float32),
}
MASK = rng.random((3, 4)) > 0.3

# -- the NaN-ignoring reductions -------------------------------------------------------------

NAN_REDUCTIONS = ["nansum", "nanprod", "nanmax", "nanmin", "nanmean", "nanvar", "nanstd",
                  "nanargmax", "nanargmin", "nancumsum", "nancumprod", "cumprod", "ptp",
                  "count_nonzero"]
AXES = [{}, {"axis": 1, "keepdims": True}]


# Integers, bools, 0-d and empty arrays hold no NaN: a few functions suffice for them.
FEW = {"nansum", "nanmax", "nanmean", "nanvar", "nanargmin", "nancumprod", "ptp",
       "count_nonzero"}


def _reduction_params():
    """Each function on the float32 array with its NaNs; the default run also gives each
    function every other one of its other arrays, rotating among the functions that take
    the same arrays (so each array meets half of them), and `-m slow` the rest."""
    params = []
    for name in NAN_REDUCTIONS:
        others = [a for a in ARRAYS if a == "c64" or a != "f32" and name in FEW]
        i = [n for n in NAN_REDUCTIONS if (n in FEW) == (name in FEW)].index(name)
        params.append(pytest.param(name, "f32", id=f"{name}-f32"))
        params += [pytest.param(name, a, id=f"{name}-{a}",
                                marks=() if (i + j) % 2 == 0 else pytest.mark.slow)
                   for j, a in enumerate(others)]
    return params


@pytest.mark.parametrize("name, array", _reduction_params())
def test_reductions_against_jax(name, array):
    x = ARRAYS[array]
    for kwargs in AXES if array == "f32" else AXES[-1:] if np.ndim(x) else [{}]:
        if "cum" in name:
            kwargs = {k: v for k, v in kwargs.items() if k != "keepdims"}
        f = lambda x, kw=kwargs: getattr(fnp, name)(x, **kw)  # noqa: E731
        jf = lambda x, kw=kwargs: getattr(jnp, name)(x, **kw)  # noqa: E731
        try:
            want = reference(jf, (x,))
        except Exception:  # an empty max, complex argmax, ptp of bools ...
            expect_same_error(f, jf, x)
            continue
        compare(f, jf, x, eager=array in ("f32", "c64"), want=want, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("name, kwargs", [
    ("nansum", {"where": MASK, "axis": 1}), ("nanprod", {"initial": 2.0, "keepdims": True}),
    ("nanmax", {"where": MASK, "initial": -1.0}), ("nanmin", {"initial": 0.0, "axis": 0}),
    ("nanmean", {"where": MASK, "dtype": np.float16}), ("nanvar", {"ddof": 1, "axis": 1}),
    ("nanvar", {"where": MASK, "mean": np.zeros((3, 1), np.float32), "axis": 1}),
    ("nanstd", {"ddof": 3, "axis": 1, "keepdims": True}), ("nansum", {"dtype": np.int32}),
    ("nancumsum", {"axis": 0, "dtype": np.float16}), ("nancumprod", {"dtype": bool}),
    ("sum", {"where": MASK, "axis": 0}), ("prod", {"where": MASK, "dtype": np.float16}),
    ("max", {"where": MASK, "initial": 0.5, "axis": 1}), ("mean", {"where": MASK, "axis": 1}),
    ("var", {"where": MASK, "axis": 0, "ddof": 1}), ("std", {"where": MASK, "correction": 2}),
    ("any", {"where": MASK, "axis": 1}), ("all", {"where": MASK}),
    ("argmax", {"axis": 1, "keepdims": None}), ("mean", {"dtype": np.float16}),
])
def test_arguments_against_jax(name, kwargs):
    for x in (X, ARRAYS["i32"]) if "where" in kwargs else (X,):  # complex: a test below
        f = lambda x: getattr(fnp, name)(x, **kwargs)  # noqa: E731
        jf = lambda x: getattr(jnp, name)(x, **kwargs)  # noqa: E731
        try:
            want = reference(jf, (x,))
        except Exception:
            expect_same_error(f, jf, x)
            continue
        compare(f, jf, x, eager=x is X, want=want, rtol=1e-3 if "float16" in str(kwargs) else 2e-6,
                atol=2e-6)


def test_complex_numbers_where_jax_takes_them():
    c = ARRAYS["c64"]
    ties = np.array([[1 + 2j, 1 - 1j, -1 + 0j], [1 + 2j, 1 + 3j, 0j]], np.complex64)
    names = ("max", "min", "var", "std", "any", "all", "sum", "prod", "mean", "cumsum",
             "cumprod", "ptp")

    def every(m, c, ties, imaginary):  # one program: one compilation per side, not 26
        return ([getattr(m, name)(x, 0) for name in names for x in (c, ties)]
                + [m.var(c, ddof=1), m.any(imaginary)])  # any: of the real part only

    compare(lambda *a: every(fnp, *a), lambda *a: every(jnp, *a), c, ties, np.array([1j, 0j]))
    for name in ("argmax", "nanargmin"):
        expect_same_error(getattr(fnp, name), getattr(jnp, name), c)
    expect_same_error(lambda x: fnp.var(x, dtype=np.float32),
                      lambda x: jnp.var(x, dtype=np.float32), c)


def test_out_and_mask_errors():
    for name in ("sum", "max", "mean", "var", "cumsum", "nanmean", "argmax", "ptp"):
        with pytest.raises(NotImplementedError, match="'out' argument"):
            getattr(fnp, name)(X, out=X)
    expect_same_error(lambda x: fnp.max(x, where=MASK), lambda x: jnp.max(x, where=MASK), X)
    expect_same_error(lambda x: fnp.sum(x, where=1), lambda x: jnp.sum(x, where=1), X)
    expect_same_error(lambda x: fnp.std(x, dtype=np.int32), lambda x: jnp.std(x, dtype=np.int32),
                      X)
    expect_same_error(lambda x: fnp.var(x, ddof=1, correction=1),
                      lambda x: jnp.var(x, ddof=1, correction=1), X)


# -- running sums and products ---------------------------------------------------------------

@pytest.mark.parametrize("name", ["cumulative_sum", "cumulative_prod"])
@pytest.mark.parametrize("x", [np.arange(1, 5, dtype=np.int8), ARRAYS["bool"], X,
                               ARRAYS["c64"], np.zeros((0,), np.float32)],
                         ids=["i8", "bool", "f32", "c64", "empty"])
def test_cumulative_functions(name, x):
    variants = [{"axis": 0}, {"axis": -1, "include_initial": True},
                {"axis": 0, "dtype": np.float32}]
    if np.ndim(x) == 1:
        variants.append({"include_initial": True})
    else:  # axis may only be left out for 1-D input
        expect_same_error(getattr(fnp, name), getattr(jnp, name), x)
    # every variant in one program: one compilation per side
    compare(lambda x: [getattr(fnp, name)(x, **kwargs) for kwargs in variants],
            lambda x: [getattr(jnp, name)(x, **kwargs) for kwargs in variants], x)
    expect_same_error(getattr(fnp, name), getattr(jnp, name), np.float32(1))


def test_cumsum_and_cumprod_of_scalars_and_axes():
    names = ("cumsum", "cumprod", "nancumsum")

    def every(m, *scalars, x):  # one program: one compilation per side, not 15
        return [getattr(m, name)(s) for name in names for s in scalars] + [
            getattr(m, name)(x, None, np.int32) for name in names]

    # Python scalars stay constants of the program, np.int8(3) and X are its inputs
    compare(lambda *a: every(fnp, *a[:-1], x=a[-1]), lambda *a: every(jnp, *a[:-1], x=a[-1]),
            2.0, 3, np.int8(3), True, X)
    for name in names:
        expect_same_error(lambda x: getattr(fnp, name)(x, 0), lambda x: getattr(jnp, name)(x, 0),
                          jnp.float32(1))


# -- average ---------------------------------------------------------------------------------

@pytest.mark.parametrize("axis, weights", [
    (None, None), (1, None), ((0, 1), None), (None, np.abs(X) + 1), (1, np.arange(1.0, 5.0)),
    ((1, 0), np.arange(12.0).reshape(4, 3).T.T.reshape(4, 3) + 1),
])
def test_average(axis, weights):
    def every(m, x, i):  # one program: one compilation per side, not five
        return [m.average(x, axis, weights, returned, keepdims) for returned in (False, True)
                for keepdims in (False, True)] + [m.average(i, axis, weights)]

    compare(lambda *a: every(fnp, *a), lambda *a: every(jnp, *a), np.nan_to_num(X),
            ARRAYS["i32"])


def test_average_errors():
    x = np.nan_to_num(X)
    expect_same_error(lambda x: fnp.average(x, weights=np.ones(4)),
                      lambda x: jnp.average(x, weights=np.ones(4)), x)
    expect_same_error(lambda x: fnp.average(x, 1, weights=np.ones(3)),
                      lambda x: jnp.average(x, 1, weights=np.ones(3)), x)


# -- derivatives, vmap, jit ------------------------------------------------------------------

GRAD_CASES = {
    "cumprod through zeros": lambda x: fnp.cumprod(x * np.array([1.0, 0.0, 0.0]), 1),
    "cumulative_prod": lambda x: fnp.cumulative_prod(x, axis=0, include_initial=True),
    "nanmean": lambda x: fnp.nanmean(fnp.where(x > 1.0, np.nan, x), axis=1),
    "nanvar": lambda x: fnp.nanvar(fnp.where(x > 1.0, np.nan, x), axis=0),
    "nanmax, nanmin, ptp": lambda x: fnp.nanmax(x, 1) - fnp.nanmin(x, 1, initial=0.0)
    + fnp.ptp(x, 1),
    "average": lambda x: fnp.average(x, 1, weights=x[0] ** 2),
    "var where": lambda x: fnp.var(x, 1, where=MASK[:2, :3]),
    "complex max and var": lambda x: fnp.max(x + 1j * x[::-1], 0).real + fnp.var(x + 1j * x, 0),
}


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("name", list(GRAD_CASES))
def test_second_derivatives(name):
    x = np.random.default_rng(1).standard_normal((2, 3))
    check_grads(GRAD_CASES[name], (x,), order=2)


@pytest.mark.parametrize("name, kwargs, in_axes", [
    ("nanmean", {}, 0), ("nanvar", {"ddof": 1}, 1), ("nanargmax", {}, 1), ("cumprod", {}, 0),
    ("cumulative_sum", {"include_initial": True}, 1), ("average", {}, 1),
    ("nanmax", {"initial": -5.0}, 0),
])
def test_vmap(name, kwargs, in_axes):
    got = fgrad.vmap(lambda x: getattr(fnp, name)(x, **kwargs), in_axes=in_axes)(X)
    # JAX's side compiled whole (one compilation, not one per operation)
    want = jax.jit(jax.vmap(lambda x: getattr(jnp, name)(x, **kwargs), in_axes=in_axes))(X)
    assert_same(got, want)


def test_jit():
    def f(x):
        return (fnp.nanvar(x, 1), fnp.nancumprod(x, 0), fnp.cumulative_sum(x, axis=1),
                fnp.average(x, 0, weights=fnp.abs(x[:, 0]), returned=True), fnp.nanargmin(x, 0))

    def jf(x):
        return (jnp.nanvar(x, 1), jnp.nancumprod(x, 0), jnp.cumulative_sum(x, axis=1),
                jnp.average(x, 0, weights=jnp.abs(x[:, 0]), returned=True), jnp.nanargmin(x, 0))

    want = jax.tree.leaves(jax.jit(jf)(X))
    for jit in (fgrad.jit, jax.jit):
        for g, w in zip(jax.tree.leaves(jit(f)(X)), want):
            assert_same(g, w)
