"""Results whose size depends on values: nonzero, argwhere, flatnonzero, the one-argument
where, compress, extract, place, and boolean-mask indexing `x[mask]` / `x.at[mask]`.

With concrete values (eagerly, or define-by-run under fgrad.grad as under jax.grad) they
need nothing more; with abstract ones (fgrad.jit, jax.jit, vmap) they need a static `size=`,
and without it the error says so. Compared with jax.numpy: values, shapes, dtypes, weak
types; derivatives in float64; vmap against jax.vmap; jit round trips.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.core import ConcretizationError, eval_program, trace_to_program
from fgrad.numpy._indexing import where_one
from fgrad.testing import check_grads
from test_numpy import assert_same, check, operand
from test_numpy_indexing_functions import check_compiled

HERE = os.path.basename(__file__)
A = np.array

Z = A([[0.0, 5.0, -0.0], [-6.0, 0.0, np.nan]], np.float32)  # NaN is nonzero, -0.0 is not
INPUTS = {
    "f32": Z, "i32_1d": A([0, 3, 0, -1, 2], np.int32), "bool_3d": operand("bool[2,3,2]"),
    "empty": np.zeros((0, 3), np.float32), "weak": jnp.full((3,), 2.0),
}
# keyword arguments of nonzero and friends
SIZES = {
    "none": {}, "fewer": {"size": 2}, "more": {"size": 5}, "zero": {"size": 0},
    "fill": {"size": 5, "fill_value": -1}, "fill_float": {"size": 4, "fill_value": 1.5},
}
CASES = ([("nonzero", "f32", s) for s in SIZES]
         + [("nonzero", "i32_1d", "fill"), ("nonzero", "bool_3d", "none"),
            ("nonzero", "empty", "fill"), ("nonzero", "weak", "none"),
            ("argwhere", "f32", "none"), ("argwhere", "bool_3d", "fill"),
            ("flatnonzero", "f32", "none"), ("flatnonzero", "bool_3d", "fill")])


def _define_by_run(f, *args):
    """f(*args) traced with known values (as fgrad.grad traces outside jit), so data-dependent
    sizes are known while tracing; the program then runs compiled as one."""
    program, tree = trace_to_program(f, list(args), "grad", concrete=True)
    return jax.tree_util.tree_unflatten(
        tree, jax.jit(lambda *a: eval_program(program, *a))(*args))


def _compare(got, want):
    got_leaves, got_tree = jax.tree_util.tree_flatten(got)
    want_leaves, want_tree = jax.tree_util.tree_flatten(want)
    assert got_tree == want_tree
    for g, w in zip(got_leaves, want_leaves):
        assert_same(g, w)


@pytest.mark.parametrize("function,input,size", CASES,
                         ids=[f"{f}-{i}-{s}" for f, i, s in CASES])
def test_positions_of_nonzero_elements(function, input, size):
    x, kwargs = INPUTS[input], SIZES[size]
    f = lambda m, x: getattr(m, function)(x, **kwargs)  # noqa: E731
    if kwargs:  # a static size: as a program, like any function (and eagerly, once)
        eager = (function, input, size) == ("nonzero", "f32", "fill")
        (check if eager else check_compiled)(lambda x: f(fnp, x), jax.jit(lambda x: f(jnp, x)),
                                             x)
    else:  # concrete values: eagerly, and define-by-run inside a trace that knows them
        want = f(jnp, x)
        _compare(f(fnp, x), want)
        _compare(_define_by_run(lambda x: f(fnp, x), x), want)


def test_fill_value_per_axis_and_zero_d_inputs():
    for f in (lambda m: m.nonzero(Z, size=5, fill_value=(1, 2)), lambda m: m.argwhere(A(3.0)),
              lambda m: m.argwhere(A(0.0), size=2), lambda m: m.flatnonzero(4.0)):
        _compare(f(fnp), f(jnp))
    with pytest.raises(ValueError, match="0-d"):
        fnp.nonzero(A(1.0))
    with pytest.raises(ValueError, match="a tuple of 2 scalars"):
        fnp.nonzero(Z, size=3, fill_value=(1, 2, 3))


def test_one_argument_where():
    for kwargs in SIZES.values():
        _compare(where_one(Z > 0, **kwargs), jnp.where(Z > 0, **kwargs))
    _compare(fgrad.jit(lambda z: where_one(z, size=3, fill_value=9))(Z),
             jnp.where(Z, size=3, fill_value=9))


def test_one_argument_where_through_fnp_where():
    _compare(fnp.where(Z > 0), jnp.where(Z > 0))
    _compare(fgrad.jit(lambda z: fnp.where(z > 0, size=4, fill_value=-1))(Z),
             jnp.where(Z > 0, size=4, fill_value=-1))


# -- under jit and vmap: size= makes the shape static --------------------------------------------

def _sized(m, x):
    """Every function with a static size, on x: f32[2,2]."""
    return (m.nonzero(x, size=4, fill_value=-1), m.argwhere(x, size=3),
            m.flatnonzero(x, size=2), m.extract(x > 0, x, size=3, fill_value=9.0),
            m.compress(x[0] > 0, x, axis=1, size=2),
            m.place(x, x > 0, A([7.0, 8.0]), inplace=False), m.where(x > 0, 1.0, x))


def test_jit_round_trip_with_size():
    x = Z[:, :2]
    want = jax.jit(lambda x: _sized(jnp, x))(x)
    for jit in (fgrad.jit, jax.jit):
        _compare(jit(lambda x: _sized(fnp, x))(x), want)


def test_vmap_with_size_matches_jax():
    x = A([[[0.0, 1.0], [2.0, 0.0]], [[0.0, 0.0], [-3.0, 4.0]], [[5.0, 6.0], [7.0, -8.0]]],
          np.float32)
    want = jax.jit(jax.vmap(lambda x: _sized(jnp, x)))(x)
    # fgrad's batched program compiled as one, and fgrad's functions on JAX's batch tracers
    _compare(jax.jit(fgrad.vmap(lambda x: _sized(fnp, x)))(x), want)
    _compare(jax.jit(jax.vmap(lambda x: _sized(fnp, x)))(x), want)
    # and eagerly, op by op
    _compare(fgrad.vmap(lambda x: fnp.nonzero(x, size=3))(x), jax.vmap(
        lambda x: jnp.nonzero(x, size=3))(x))


# -- without size, abstract values are an error that says what to do --------------------------

UNSIZED = {
    "nonzero": lambda x: fnp.nonzero(x), "argwhere": lambda x: fnp.argwhere(x),
    "flatnonzero": lambda x: fnp.flatnonzero(x), "where": lambda x: fnp.where(x),
    "extract": lambda x: fnp.extract(x > 0, x), "compress": lambda x: fnp.compress(x[0], x),
}
TRANSFORMS = {"fgrad.jit": fgrad.jit, "jax.jit": jax.jit,
              "fgrad.vmap": lambda f: fgrad.vmap(lambda x: f(x[None])),
              "jax.vmap": lambda f: jax.vmap(lambda x: f(x[None]))}
ERROR_CASES = [(n, t) for n in UNSIZED for t in TRANSFORMS]


@pytest.mark.parametrize("name,transform", ERROR_CASES,
                         ids=[f"{n}-{t}" for n, t in ERROR_CASES])
def test_abstract_values_need_size(name, transform):
    with pytest.raises(ConcretizationError) as info:
        TRANSFORMS[transform](UNSIZED[name])(Z)
    message = str(info.value)
    assert "size=" in message and "where(" in message, message
    assert f"fgrad.numpy.{name}" in message, message
    assert f"{HERE}:" in message, message  # the user's line (in the table above)


# -- boolean masks ---------------------------------------------------------------------------------

X = operand("f32[3,4]")
MASK = X > 0
MASK_CASES = {
    "getitem": lambda x, m: x[m],
    "getitem_rows": lambda x, m: x[m[:, 0]],
    "getitem_with_slice": lambda x, m: x[1:, m[0]],
    "getitem_all_false": lambda x, m: x[m & ~m],
    "set": lambda x, m: x.at[m].set(0.5),
    "add": lambda x, m: x.at[m[:, 1]].add(x[0]),
    "multiply": lambda x, m: x.at[m].multiply(3.0),
}


@pytest.mark.parametrize("name", MASK_CASES)
def test_boolean_masks_with_concrete_values(name):
    # Eagerly fgrad.numpy hands back JAX arrays, which JAX indexes; fgrad's indexing is the
    # tracer's, so it is checked on traced values.
    f = MASK_CASES[name]
    want = f(jnp.asarray(X), jnp.asarray(MASK))
    for mask in (MASK, jnp.asarray(MASK)):  # NumPy and JAX masks, concrete
        check_compiled(lambda x: f(x, mask), lambda x: want, X)
    # define-by-run: the mask is traced but its value is known
    assert_same(_define_by_run(lambda x: f(x, x > 0), X), want)


def test_gradients_through_boolean_masks(x64):
    x = np.random.default_rng(5).uniform(0.5, 2.0, (3, 4)) * A([1, -1, -1, 1])
    mask = x > 0
    # A constant mask, and a mask computed from the input (define-by-run, as jax.grad allows;
    # the points stay away from 0, so finite differences keep the masks).
    check_grads(lambda x: x[mask] * fnp.sin(x[x < 0]), (x,), order=2)
    f = lambda x: (x[x > 0] ** 3).sum() + fnp.asarray(x).at[x < 0].set(x[0, 0]).sum()  # noqa: E731
    assert_same(fgrad.grad(f)(x), jax.grad(f)(jnp.asarray(x)))


def test_abstract_masks_say_what_to_do():
    x = jnp.asarray(X)
    calls = [
        lambda: fgrad.jit(lambda x: x[x > 0])(x),
        lambda: fgrad.jit(lambda x: x.at[x > 0].set(0.0))(x),
        lambda: fgrad.vmap(lambda x: x[x > 0])(x),
        # the mask depends on jax.jit's abstract input through fgrad.grad's trace
        lambda: jax.jit(fgrad.grad(lambda x: x[x > 0].sum()))(x),
    ]
    for call in calls:
        with pytest.raises(ConcretizationError) as info:
            call()
        message = str(info.value)
        assert "boolean mask must be concrete" in message, message
        assert "fgrad.numpy.where(mask, x, 0)" in message and "size=" in message, message
        assert f"{HERE}:" in message, message


# -- compress, extract, place -------------------------------------------------------------------

CONDITIONS = {"bool": A([True, False, True]), "ints": A([0, 2, -1]), "short": A([False, True]),
              "long_false": A([1, 0, 1, 0, 0, 0]), "empty": A([], bool)}
COMPRESS_CASES = [("bool", None, None), ("bool", 0, 1), ("ints", 1, None), ("ints", None, 1),
                  ("short", 1, None), ("short", 0, 1), ("long_false", None, None),
                  ("long_false", 1, 1), ("empty", None, None)]


@pytest.mark.parametrize("condition,axis,size", COMPRESS_CASES,
                         ids=[f"{c}-{a}-{s}" for c, a, s in COMPRESS_CASES])
def test_compress(condition, axis, size):
    c = CONDITIONS[condition]
    x = operand("i32[3,3]") if condition == "ints" else X[:3, :3]
    f = lambda m, x: m.compress(c, x, axis, size=size, fill_value=-7)  # noqa: E731
    eager = condition == "bool"
    (check if eager else check_compiled)(lambda x: f(fnp, x), lambda x: f(jnp, x), x)


def test_extract_and_place():
    f = lambda m, x: (m.extract(x, x, size=12), m.extract(x > 9, x, size=2),  # noqa: E731
                      m.compress(A([1, 0, 1]), x, size=2, fill_value=0.5),
                      m.place(x, x < 0, A([1.0, 2.0, 3.0]), inplace=False),
                      m.place(x, x > 9, 1, inplace=False))
    check_compiled(lambda x: f(fnp, x), jax.jit(lambda x: f(jnp, x)), X)
    for f, x in [(lambda m, x: m.extract(X > 0, x), X),  # without size: JAX's side eagerly
                 (lambda m, x: m.extract(A(True), x), A(2.0, np.float32)),
                 (lambda m, x: m.compress(A([True]), x), jnp.full((2,), 3.0))]:  # stays weak
        check(lambda x: f(fnp, x), lambda x: f(jnp, x), x)


def test_compress_errors():
    with pytest.raises(ValueError, match="beyond the 3 elements"):
        fnp.compress(A([0, 0, 0, 1]), X[:, 0])
    with pytest.raises(ValueError, match="must not exceed"):
        fnp.compress(A([1, 1]), X, axis=0, size=3)
    with pytest.raises(ValueError, match="1-D"):
        fnp.compress(A([[1]]), X)
    with pytest.raises(NotImplementedError, match="'out'"):
        fnp.compress(A([1]), X, out=X)


def test_gradients_of_compress(x64):
    x = np.random.default_rng(6).uniform(0.5, 2.0, (3, 4)) * A([1, -1, 1, -1])
    check_grads(lambda x: (fnp.sin(fnp.compress(A([1, 0, 1]), x, axis=0)),
                           fnp.compress(x[0] > 0, x, axis=1, size=3, fill_value=1.0)),
                (x,), order=2)


def test_a_branch_on_the_output_of_a_jitted_function_inside_grad():
    """The jitted function's program is spliced into grad's trace (its equations copied,
    not re-bound); a concrete read of its output finds the copied equations that made it."""
    doubled_sin = fgrad.jit(lambda x: fnp.sin(x) * 2.0)

    def f(x):
        y = doubled_sin(x)
        return fnp.sum(y ** 2) if float(fnp.sum(y)) > 0 else fnp.sum(y)

    for x in (np.array([0.3, 0.5]), np.array([-0.3, -0.5])):
        # By hand: d/dx sum((2 sin x)^2) = 8 sin x cos x; d/dx sum(2 sin x) = 2 cos x.
        want = 8 * np.sin(x) * np.cos(x) if np.sin(x).sum() > 0 else 2 * np.cos(x)
        np.testing.assert_allclose(fgrad.grad(f)(x), want, rtol=1e-6)
