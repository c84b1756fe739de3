"""Eager fgrad.numpy calls compiled whole (fgrad/numpy/_eager.py): the same values, dtypes
and weak types as JAX's and as fgrad's op-by-op path, one compiled entry per function and
options, and every case the compiled path must leave to the op-by-op one (Python scalars
that convert differently, value-dependent exponents, NaN checks, errors, tracers)."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.nn
import fgrad.numpy as fnp
import oracle
from fgrad.core import trace_to_program
from fgrad.numpy import _eager

HERE = os.path.basename(__file__)
rng = np.random.default_rng(0)
X = jnp.asarray(rng.standard_normal((3, 4)), jnp.float32)
W = jnp.asarray(rng.standard_normal((4, 2)), jnp.float32)


def compiled_names() -> set[str]:
    """The functions with compiled entries (power's body is `_power`)."""
    return {(key[0] if isinstance(key, tuple) else key).__name__.lstrip("_")
            for key, _ in _eager._COMPILED_FUNCTIONS.items()}


CALLS = {  # name -> a call written against a numpy namespace
    "multiply": lambda m: m.multiply(X, 2.0),
    "add": lambda m: m.add(1, X),
    "tanh": lambda m: m.tanh(X),
    "greater": lambda m: m.greater(X, 0.5),
    "where": lambda m: m.where(X > 0, X, 0.0),
    "matmul": lambda m: m.matmul(X, W),
    "dot": lambda m: m.dot(X, np.ones(4, np.float32)),
    "sum": lambda m: m.sum(X, axis=0, keepdims=True),
    "mean": lambda m: m.mean(X, 1),
    "var": lambda m: m.var(X, ddof=1),
    "argmax": lambda m: m.argmax(X, axis=1),
    "power": lambda m: m.power(X, 3),
    "square": lambda m: m.square(np.float32(1.5)),
    "isnan": lambda m: m.isnan(X),
    "log10": lambda m: m.log10(jnp.abs(X)),
    "take": lambda m: m.take(X, jnp.asarray([2, -1, 7]), axis=1),
    "take_along_axis": lambda m: m.take_along_axis(X, jnp.argsort(X, axis=0), axis=0),
    "sort": lambda m: m.sort(X, axis=0),
    "argsort": lambda m: m.argsort(X, descending=True),
    "cumsum": lambda m: m.cumsum(X, axis=1),
    "cumprod": lambda m: m.cumprod(X),
    "clip": lambda m: m.clip(X, -0.5, jnp.float32(0.25)),
}


@pytest.mark.parametrize("name", CALLS)
def test_a_compiled_call_is_jax_and_the_op_by_op_path(name):
    fgrad.clear_caches()
    got = CALLS[name](fnp)
    assert name in compiled_names()
    oracle.assert_same(got, CALLS[name](jnp), rtol=1e-6)
    # the same call traced: the op-by-op path's program, evaluated
    oracle.assert_same(got, oracle.traced(lambda: CALLS[name](fnp), []), rtol=1e-6)


def test_one_entry_per_function_and_options_bounded_and_cleared():
    fgrad.clear_caches()
    for shape in [(2,), (3,), (2, 2)]:  # new shapes: JAX's executables, not new entries
        fnp.sin(np.ones(shape, np.float32))
    for axis in (0, 1, 0):
        fnp.sum(X, axis=axis)
    keys = [key for key, _ in _eager._COMPILED_FUNCTIONS.items()]
    assert len(keys) == 3  # sin; sum with axis=0; sum with axis=1
    assert fgrad.cache_info()["compiled_numpy"].size == 3
    fgrad.clear_caches()
    assert len(_eager._COMPILED_FUNCTIONS) == 0


def test_an_integer_and_a_float_exponent_are_different_programs():
    # 2 == 2.0 with equal hashes; power(x, 2) is integer_pow and power(x, 2.0) pow, as in
    # jax.numpy: the key holds the option's type.
    fgrad.clear_caches()
    x = jnp.asarray([-1.5, 0.0, 2.0], jnp.float32)
    oracle.assert_same(fnp.power(x, 2), jnp.power(x, 2))
    oracle.assert_same(fnp.power(x, 2.0), jnp.power(x, 2.0))
    assert len(_eager._COMPILED_FUNCTIONS) == 2
    # an integer base to a negative integer power: JAX's error, from the value
    with pytest.raises(ValueError, match="negative"):
        fnp.power(7, -2)


def test_an_exponent_that_is_not_a_static_integer_is_an_operand():
    # A loop over float exponents (or array ones) compiles one entry, not one per value;
    # a static integer exponent keys its own entry (integer_pow).
    fgrad.clear_caches()
    x = jnp.asarray([0.5, 1.0, 2.0], jnp.float32)
    for p in (0.5, 1.5, 2.5, jnp.float32(3.5), np.float32(0.25)):
        oracle.assert_same(fnp.power(x, p), jnp.power(x, p), rtol=1e-6)
    assert len(_eager._COMPILED_FUNCTIONS) == 1
    for p in (2, 3):
        oracle.assert_same(fnp.power(x, p), jnp.power(x, p), rtol=1e-6)
    assert len(_eager._COMPILED_FUNCTIONS) == 3


def test_clip_compiles_with_both_bounds_only():
    fgrad.clear_caches()
    # one bound: clip runs op by op (its minimum is compiled on its own)
    oracle.assert_same(fnp.clip(X, None, 0.5), jnp.clip(X, None, 0.5))
    assert compiled_names() == {"minimum"}
    for hi in (0.5, 0.75):
        oracle.assert_same(fnp.clip(X, -hi, hi), jnp.clip(X, -hi, hi))
    keys = [key for key, _ in _eager._COMPILED_FUNCTIONS.items()]
    assert keys.count(fnp.clip.__wrapped__) == 1 and len(keys) == 2  # clip; minimum


def test_python_scalars_that_would_convert_differently_run_op_by_op():
    fgrad.clear_caches()
    small = jnp.asarray([1, 2], jnp.int8)
    with pytest.raises(OverflowError):  # as jnp.add: 300 is no int8
        fnp.add(small, 300)
    half = jnp.asarray([1.0, 2.0], jnp.float16)
    # one rounding of 0.1 to float16, not two (through float32)
    oracle.assert_same(fnp.multiply(half, 0.1), jnp.multiply(half, 0.1))
    assert compiled_names().isdisjoint({"add", "multiply"})
    fnp.multiply(np.float16(2), half)  # no Python scalar: compiled
    assert "multiply" in compiled_names()


def test_errors_are_fgrad_s_at_the_user_s_line():
    with pytest.raises(ValueError) as info:
        fnp.add(X, np.ones(5, np.float32))  # broadcast error
    assert "cannot be broadcast" in str(info.value)
    assert f"{HERE}:{oracle.line_of(__file__, 'fnp.add(X, np.ones(5')}" in str(info.value)
    oracle.assert_same(fnp.add(X, 1.0), jnp.add(X, 1.0))  # and then it works


def test_nan_checks_see_each_operation():
    with fgrad.debug.nans():
        with pytest.raises(fgrad.debug.NonFiniteError, match="log"):
            fnp.log10(-X)
    assert np.isnan(fnp.log10(-X)).any()  # off again: NaNs are values


def test_values_of_transforms_and_jax_tracers_take_their_own_path():
    # Under fgrad's transforms the function records its equations as before.
    program, _ = trace_to_program(lambda x: fnp.multiply(x, 2.0), [X], "make_ir")
    assert [e.primitive.name for e in program.eqns] == ["broadcast_in_dim", "mul"]
    # Under jax.jit, fgrad's code runs on JAX tracers, inlined in the user's program.
    oracle.assert_same(jax.jit(lambda x: fnp.sum(fnp.tanh(x)))(X),
                       jax.jit(lambda x: jnp.sum(jnp.tanh(x)))(X), rtol=1e-6)
    oracle.assert_same(fgrad.grad(lambda x: fnp.sum(fnp.tanh(x)))(X),
                       jax.grad(lambda x: jnp.sum(jnp.tanh(x)))(X), rtol=1e-6)


def test_the_first_call_in_a_process_compiles_once():
    # fgrad learns jax.Array's class from the first one it meets (core/dtypes.py); the
    # first eager call must not run op by op (compiling each primitive) before that.
    code = ("import fgrad, jax.numpy as jnp, fgrad.numpy as fnp; "
            "fnp.multiply(jnp.ones(3), 2.0); info = fgrad.cache_info(); "
            "print(info['compiled_numpy'].size, info['compiled_ops'].size)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert out.stdout.split() == ["1", "0"], out.stdout + out.stderr


@pytest.mark.parametrize("name, kwargs", [("relu", {}), ("gelu", {"approximate": False}),
                                          ("softmax", {"axis": 0}), ("logsumexp", {"axis": 1})])
def test_fgrad_nn_functions_are_compiled_too(name, kwargs):
    fgrad.clear_caches()
    ours = getattr(fgrad.nn, name)
    theirs = getattr(jax.nn, name, None) or getattr(jax.scipy.special, name)
    oracle.assert_same(ours(X, **kwargs), theirs(X, **kwargs), rtol=2e-6, atol=1e-6)
    assert name in compiled_names()


# -- traced code: a tracer beside a Python number (numpy/_core.py's short path) ---------------

@pytest.mark.parametrize("dtype, number", [("float16", 70000), ("float16", 2.5),
                                           ("float32", 2), ("bfloat16", -1),
                                           ("int32", 2.5), ("bool", 2)])
def test_a_traced_operand_beside_a_python_number_types_as_in_jax(dtype, number):
    x = jnp.asarray([1.0, -2.0, 3.0]).astype(dtype)
    for f in (lambda m, x: m.multiply(x, number), lambda m, x: m.subtract(number, x),
              lambda m, x: m.true_divide(x, number)):
        ours = fgrad.jit(lambda x: f(fnp, x))(x)
        theirs = jax.jit(lambda x: f(jnp, x))(x)
        assert (ours.dtype, ours.weak_type) == (theirs.dtype, theirs.weak_type)
        np.testing.assert_array_equal(np.asarray(ours, np.float64),
                                      np.asarray(theirs, np.float64))


@pytest.mark.parametrize("x64", [False, True])
@pytest.mark.parametrize("shape", [(), (3,)])
def test_a_weak_traced_operand_beside_a_python_number_stays_weak(x64, shape):
    with jax.enable_x64(x64):
        x = jnp.full(shape, 1.0)  # weak, of the default float (f64 with x64)
        assert x.weak_type
        for f in (lambda m, x: x * 2 + 1.5, lambda m, x: m.subtract(3, x),
                  lambda m, x: m.true_divide(x, 4)):
            ours = fgrad.jit(lambda x: f(fnp, x))(x)
            theirs = jax.jit(lambda x: f(jnp, x))(x)
            assert (ours.dtype, ours.weak_type) == (theirs.dtype, theirs.weak_type)
            oracle.assert_same(ours, theirs)


def test_a_weak_float32_beside_a_python_int_under_x64_stays_float32_as_in_jax():
    # found while checking the short path: fgrad's promotion made it the default float64
    with jax.enable_x64(True):
        x = fgrad.lax.convert_element_type(jnp.ones(3), jnp.float32, weak_type=True)
        theirs = jnp.subtract(3, x)
        assert (theirs.dtype, theirs.weak_type) == (jnp.float32, True)
        ours = fnp.subtract(3, x)
        assert (ours.dtype, ours.weak_type) == (theirs.dtype, theirs.weak_type)
