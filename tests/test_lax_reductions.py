"""fgrad.lax reductions against jax.lax: values, shapes, dtypes, weak types, eagerly and
traced, and the errors of every shape rule."""

import functools
import os

import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import oracle
from fgrad.core import ShapeDtypeError, aval_of, trace_to_program
from fgrad.lax.reductions import (
    argmax, argmin, cumsum, reduce_max, reduce_min, reduce_prod, reduce_sum,
)
from oracle import check_error, rotating, several, use_dtype

HERE = os.path.basename(__file__)
TOLERANCE = dict(rtol=1e-6)  # float32 sums and products round differently by order
assert_same = functools.partial(oracle.assert_same, **TOLERANCE)
check = functools.partial(oracle.check, **TOLERANCE)
make = functools.partial(oracle.make, int_bound=4)  # small, so products stay exact


# -- reduce_sum, reduce_prod, reduce_max, reduce_min -----------------------------------------


REDUCTIONS = {
    "reduce_sum": (reduce_sum, lax.reduce_sum),
    "reduce_prod": (reduce_prod, lax.reduce_prod),
    "reduce_max": (reduce_max, lax.reduce_max),
    "reduce_min": (reduce_min, lax.reduce_min),
}
AXES_CASES = [
    ((), ()),
    ((3,), (0,)),
    ((2, 3), ()),
    ((2, 3), (1,)),
    ((2, 3), (0, 1)),
    ((2, 3, 4), (0, 2)),
    ((2, 3, 4), (2, 0)),
    ((0, 3), (0,)),
    ((0, 3), (1,)),
    ((4, 5, 6), (1,)),
]


# sums and products of bools are errors (test_sum_and_prod_refuse_bool)
NAMES_AND_DTYPES = [(name, dtype) for name in REDUCTIONS
                    for dtype in ["float32", "float64", "int32", "bool"]
                    if not (dtype == "bool" and name in ("reduce_sum", "reduce_prod"))]


# By default each reduction and dtype with a third of the shapes and axes, each of those with
# several reductions and dtypes: `-m slow` runs the rest.
@pytest.mark.parametrize("name, dtype_name, shape, axes", rotating(
    several(NAMES_AND_DTYPES), several(AXES_CASES), every=3))
def test_reductions(request, name, dtype_name, shape, axes):
    dtype = use_dtype(request, dtype_name)
    fgrad_fn, jax_fn = REDUCTIONS[name]
    x = make(shape, dtype)
    program = check(lambda x: fgrad_fn(x, axes), lambda x: jax_fn(x, axes), x)
    assert program.eqns[0].params == {"axes": tuple(sorted(axes))}


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("weak", [False, True])
def test_reductions_keep_the_weak_type(name, weak):
    fgrad_fn, jax_fn = REDUCTIONS[name]
    x = make((2, 3), np.dtype("float32"), weak=weak)
    check(lambda x: fgrad_fn(x, (1,)), lambda x: jax_fn(x, (1,)), x)
    assert aval_of(fgrad_fn(x, (1,))).weak_type == weak


def test_axes_accept_numpy_integers_and_lists():
    x = make((2, 3, 4), np.dtype("float32"))
    program = check(lambda x: reduce_sum(x, [np.int64(2), 0]), lambda x: lax.reduce_sum(x, (0, 2)),
                    x)
    (eqn,) = program.eqns
    assert eqn.params == {"axes": (0, 2)} and all(type(a) is int for a in eqn.params["axes"])


def test_max_and_min_of_nothing_are_the_identities():
    x = jnp.zeros((0, 2), jnp.float32)
    assert_same(reduce_max(x, (0,)), jnp.full((2,), -jnp.inf, jnp.float32))
    assert_same(reduce_min(x, (0,)), jnp.full((2,), jnp.inf, jnp.float32))


def test_reduction_errors():
    x = jnp.zeros((2, 3), jnp.float32)
    for name, (fgrad_fn, _) in REDUCTIONS.items():
        check_error(lambda: fgrad_fn(x, (2,)), "axis 2 is out of range for rank 2", name,
                    "f32[2,3]")
    check_error(lambda: reduce_sum(x, (-1,)), "axis -1 is out of range for rank 2")
    check_error(lambda: reduce_max(x, (1, 1)), "axes (1, 1) repeat a value")
    check_error(lambda: reduce_min(jnp.float32(0), (0,)), "axis 0 is out of range for rank 0",
                "f32[]")
    check_error(lambda: reduce_sum(x, (0.5,)), "axes (0.5,) must hold integers, but it holds 0.5")


def test_sum_and_prod_refuse_bool():
    b = jnp.zeros((2,), bool)
    check_error(lambda: reduce_sum(b, (0,)), "reduce_sum accepts numbers (not bool), not bool",
                "bool[2]")
    check_error(lambda: reduce_prod(b, (0,)), "reduce_prod accepts numbers (not bool)")


def test_max_and_min_refuse_complex():
    c = jnp.zeros((2,), jnp.complex64)
    check_error(lambda: reduce_max(c, (0,)), "reduce_max accepts real (non-complex) values",
                "c64[2]")
    check_error(lambda: reduce_min(c, (0,)), "reduce_min accepts real (non-complex) values")

# -- argmax, argmin --------------------------------------------------------------------------


ARG_EXTREMA = {"argmax": (argmax, lax.argmax), "argmin": (argmin, lax.argmin)}


# By default a third of the combinations, each name, dtype, shape and index dtype in several:
# `-m slow` runs the rest.
@pytest.mark.parametrize("name, dtype_name, shape, axis, index_dtype", rotating(
    list(ARG_EXTREMA), ["float32", "float64", "int32", "bool"],
    several([((3,), 0), ((2, 3), 0), ((2, 3), 1), ((2, 0), 0), ((2, 3, 4), 1), ((1, 5), 1)]),
    ["int32", "uint8"], every=3))
def test_arg_extrema(request, name, dtype_name, shape, axis, index_dtype):
    dtype = use_dtype(request, dtype_name)
    fgrad_fn, jax_fn = ARG_EXTREMA[name]
    x = make(shape, dtype)
    check(lambda x: fgrad_fn(x, axis, index_dtype), lambda x: jax_fn(x, axis, index_dtype), x)


@pytest.mark.parametrize("name", ARG_EXTREMA)
def test_arg_extrema_ties_and_nan(name, x64):
    fgrad_fn, jax_fn = ARG_EXTREMA[name]
    ties = jnp.asarray([[1, 3, 3, 1], [2, 2, 2, 2]], jnp.int32)
    check(lambda x: fgrad_fn(x, 1, np.int64), lambda x: jax_fn(x, 1, np.int64), ties)
    nan = jnp.asarray([1.0, jnp.nan, 3.0, jnp.nan])
    check(lambda x: fgrad_fn(x, 0, np.int32), lambda x: jax_fn(x, 0, np.int32), nan)


@pytest.mark.parametrize("name", ARG_EXTREMA)
def test_arg_extrema_are_never_weak(name):
    fgrad_fn, jax_fn = ARG_EXTREMA[name]
    x = make((4,), np.dtype("float32"), weak=True)
    check(lambda x: fgrad_fn(x, 0, np.int32), lambda x: jax_fn(x, 0, np.int32), x)
    assert not aval_of(fgrad_fn(x, 0, np.int32)).weak_type


def test_arg_extremum_errors():
    x = jnp.zeros((2, 3), jnp.float32)
    check_error(lambda: argmax(x, 2, np.int32), "axis 2 is out of range for rank 2", "argmax",
                "f32[2,3]")
    check_error(lambda: argmin(x, -1, np.int32), "axis -1 is out of range for rank 2", "argmin")
    check_error(lambda: argmax(jnp.zeros((0, 3)), 0, np.int32),
                "axis 0 is empty, so it has no maximum", "f32[0,3]")
    check_error(lambda: argmin(jnp.zeros((3, 0)), 1, np.int32),
                "axis 1 is empty, so it has no minimum")
    check_error(lambda: argmax(x, 0, np.float32),
                "index_dtype must be an integer dtype, not float32")
    check_error(lambda: argmax(x, 0, np.bool_), "index_dtype must be an integer dtype, not bool")
    check_error(lambda: argmax(x, 0, np.int64), "index_dtype int64 is not available")
    check_error(lambda: argmin(jnp.zeros(3, jnp.complex64), 0, np.int32),
                "argmin accepts real (non-complex) values", "c64[3]")

# -- cumsum ----------------------------------------------------------------------------------


# By default a third of the combinations, each dtype, shape and direction in several:
# `-m slow` runs the rest.
@pytest.mark.parametrize("dtype_name, shape, axis, reverse", rotating(
    ["float32", "float64", "int32"],
    several([((3,), 0), ((2, 3), 0), ((2, 3), 1), ((0, 3), 0), ((2, 0), 1), ((2, 3, 4), 2)]),
    [False, True], every=3))
def test_cumsum(request, dtype_name, shape, axis, reverse):
    dtype = use_dtype(request, dtype_name)
    x = make(shape, dtype)
    check(lambda x: cumsum(x, axis, reverse), lambda x: lax.cumsum(x, axis, reverse), x)


def test_cumsum_defaults_and_weak_type():
    x = make((3, 2), np.dtype("float32"), weak=True)
    program = check(lambda x: cumsum(x), lambda x: lax.cumsum(x), x)
    assert program.out_avals[0].weak_type
    assert program.eqns[0].params == {"axis": 0, "reverse": False}


def test_cumsum_errors():
    x = jnp.zeros((2, 3), jnp.float32)
    check_error(lambda: cumsum(x, 2), "axis 2 is out of range for rank 2", "cumsum", "f32[2,3]")
    check_error(lambda: cumsum(x, -1), "axis -1 is out of range for rank 2")
    check_error(lambda: cumsum(jnp.float32(1)), "axis 0 is out of range for rank 0")
    check_error(lambda: cumsum(jnp.zeros(3, bool)), "cumsum accepts numbers (not bool), not bool",
                "bool[3]")


def test_errors_inside_a_trace_name_the_users_line():
    def f(x):
        return reduce_sum(x, (3,))  # the error must point here
    line = f.__code__.co_firstlineno + 1
    with pytest.raises(ShapeDtypeError, match="reduce_sum") as info:
        trace_to_program(f, [jnp.zeros((2, 3))], "make_ir")
    assert f"{HERE}:{line}" in str(info.value)
