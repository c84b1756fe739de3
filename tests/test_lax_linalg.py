"""fgrad.lax.dot_general against jax.lax.dot_general: every (contract, batch) layout, dtypes,
preferred_element_type, precision, weak types, eagerly and traced, and the shape rule's
errors."""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import oracle
from fgrad.core import ShapeDtypeError, trace_to_program
from fgrad.lax.linalg import dot_general
from oracle import check_error, make, use_dtype

HERE = os.path.basename(__file__)
TOLERANCE = dict(rtol=1e-5, atol=1e-6)  # float32 contractions accumulate rounding
assert_same = functools.partial(oracle.assert_same, **TOLERANCE)
check = functools.partial(oracle.check, **TOLERANCE)


def dims(lhs_contract=(), rhs_contract=(), lhs_batch=(), rhs_batch=()):
    return (lhs_contract, rhs_contract), (lhs_batch, rhs_batch)


# (lhs shape, rhs shape, dimension numbers, result shape)
LAYOUTS = {
    "inner product": ((3,), (3,), dims((0,), (0,)), ()),
    "matrix-vector": ((2, 3), (3,), dims((1,), (0,)), (2,)),
    "vector-matrix": ((3,), (3, 4), dims((0,), (0,)), (4,)),
    "matmul": ((2, 3), (3, 4), dims((1,), (0,)), (2, 4)),
    "matmul, rhs transposed": ((2, 3), (4, 3), dims((1,), (1,)), (2, 4)),
    "matmul, lhs transposed": ((3, 2), (3, 4), dims((0,), (0,)), (2, 4)),
    "two contracting dims, crossed": ((2, 3, 4), (4, 3, 5), dims((1, 2), (1, 0)), (2, 5)),
    "outer product": ((2,), (3,), dims(), (2, 3)),
    "outer product of a matrix": ((2, 3), (4,), dims(), (2, 3, 4)),
    "scalars": ((), (), dims(), ()),
    "scalar times vector": ((), (3,), dims(), (3,)),
    "batched matmul": ((5, 2, 3), (5, 3, 4), dims((2,), (1,), (0,), (0,)), (5, 2, 4)),
    "batched matmul, batch dims not leading": (
        (2, 5, 3), (3, 4, 5), dims((2,), (0,), (1,), (2,)), (5, 2, 4)),
    "two batch dims, crossed, in the middle": (
        (6, 2, 5, 3), (5, 3, 6, 4), dims((3,), (1,), (0, 2), (2, 0)), (6, 5, 2, 4)),
    "batched outer product": ((5, 2), (3, 5), dims((), (), (0,), (1,)), (5, 2, 3)),
    "batch only (elementwise product)": ((5, 3), (5, 3), dims((), (), (0, 1), (0, 1)), (5, 3)),
    "batched inner product": ((4, 3), (3, 4), dims((1,), (0,), (0,), (1,)), (4,)),
    "empty contraction": ((2, 0), (0, 3), dims((1,), (0,)), (2, 3)),
    "empty free dim": ((0, 3), (3, 4), dims((1,), (0,)), (0, 4)),
    "empty batch": ((0, 2, 3), (0, 3), dims((2,), (1,), (0,), (0,)), (0, 2)),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype_name", ["float32", "float64", "int32", "bool"])
def test_dot_general(request, layout, dtype_name):
    dtype = use_dtype(request, dtype_name)
    lhs_shape, rhs_shape, dimension_numbers, result_shape = LAYOUTS[layout]
    lhs, rhs = make(lhs_shape, dtype, 0), make(rhs_shape, dtype, 1)
    program = check(lambda l, r: dot_general(l, r, dimension_numbers),
                    lambda l, r: lax.dot_general(l, r, dimension_numbers), lhs, rhs)
    assert program.out_avals[0].shape == result_shape


def test_matches_einsum():
    # an independent check of the result's layout: batch, lhs free, rhs free
    lhs, rhs = make((2, 5, 3), np.dtype("float32"), 0), make((3, 4, 5), np.dtype("float32"), 1)
    got = dot_general(lhs, rhs, dims((2,), (0,), (1,), (2,)))
    np.testing.assert_allclose(got, np.einsum("aby,ycb->bac", lhs, rhs), rtol=1e-5)


def test_dimension_numbers_become_nested_tuples_of_ints():
    lhs, rhs = make((2, 3), np.dtype("float32")), make((3,), np.dtype("float32"))
    numbers = ([[1], np.array([0])], [[], []])
    program = check(lambda l, r: dot_general(l, r, numbers),
                    lambda l, r: lax.dot_general(l, r, (((1,), (0,)), ((), ()))), lhs, rhs)
    params = program.eqns[0].params
    assert params["dimension_numbers"] == (((1,), (0,)), ((), ()))
    assert type(params["dimension_numbers"][0][1][0]) is int
    hash(program)


# -- dtypes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("lhs_dtype, rhs_dtype, preferred", [
    ("int32", "int32", "float32"),
    ("bool", "bool", "int32"),
    ("int8", "int8", "int32"),
    ("float16", "float16", "float32"),
    ("bfloat16", "bfloat16", "float32"),
    ("float32", "float16", "float32"),
    ("int32", "float32", "float32"),
    ("float32", "float32", "float32"),
    ("float32", "float32", "int32"),
    ("float32", "float32", "float16"),
    ("float32", "float32", "float64"),
    ("int32", "int32", "int64"),
    ("float64", "float64", "float32"),
])
def test_preferred_element_type(request, lhs_dtype, rhs_dtype, preferred):
    if "64" in lhs_dtype + rhs_dtype + preferred:
        request.getfixturevalue("x64")
    lhs, rhs = make((2, 3), jnp.dtype(lhs_dtype), 0), make((3, 4), jnp.dtype(rhs_dtype), 1)
    numbers = dims((1,), (0,))
    program = check(lambda l, r: dot_general(l, r, numbers, preferred_element_type=preferred),
                    lambda l, r: lax.dot_general(l, r, numbers, preferred_element_type=preferred),
                    lhs, rhs)
    assert program.out_avals[0].dtype == np.dtype(preferred)


def test_preferred_element_type_accepts_python_types():
    lhs, rhs = make((3,), np.dtype("int32"), 0), make((3,), np.dtype("int32"), 1)
    numbers = dims((0,), (0,))
    check(lambda l, r: dot_general(l, r, numbers, preferred_element_type=float),
          lambda l, r: lax.dot_general(l, r, numbers, preferred_element_type=float), lhs, rhs)


@pytest.mark.parametrize("weak_lhs, weak_rhs", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("preferred", [None, "float32"])
def test_weak_only_when_both_operands_are(weak_lhs, weak_rhs, preferred):
    f32 = np.dtype("float32")
    lhs, rhs = make((2, 3), f32, 0, weak_lhs), make((3,), f32, 1, weak_rhs)
    numbers = dims((1,), (0,))
    program = check(lambda l, r: dot_general(l, r, numbers, preferred_element_type=preferred),
                    lambda l, r: lax.dot_general(l, r, numbers, preferred_element_type=preferred),
                    lhs, rhs)
    assert program.out_avals[0].weak_type == (weak_lhs and weak_rhs)


# -- precision -------------------------------------------------------------------------------


@pytest.mark.parametrize("precision, canonical", [
    (None, None),
    ("highest", (lax.Precision.HIGHEST, lax.Precision.HIGHEST)),
    (lax.Precision.HIGH, (lax.Precision.HIGH, lax.Precision.HIGH)),
    (["highest", "default"], (lax.Precision.HIGHEST, lax.Precision.DEFAULT)),
    ((lax.Precision.DEFAULT, lax.Precision.HIGHEST),
     (lax.Precision.DEFAULT, lax.Precision.HIGHEST)),
    ("F32_F32_F32", lax.DotAlgorithmPreset.F32_F32_F32),
    (lax.DotAlgorithmPreset.DEFAULT, lax.DotAlgorithmPreset.DEFAULT),
])
def test_precision(precision, canonical):
    lhs, rhs = make((2, 3), np.dtype("float32"), 0), make((3, 4), np.dtype("float32"), 1)
    numbers = dims((1,), (0,))
    program = check(lambda l, r: dot_general(l, r, numbers, precision=precision),
                    lambda l, r: lax.dot_general(l, r, numbers, precision=precision), lhs, rhs)
    assert program.eqns[0].params["precision"] == canonical
    hash(program)


# -- errors ----------------------------------------------------------------------------------

M23 = jnp.zeros((2, 3), jnp.float32)
M34 = jnp.zeros((3, 4), jnp.float32)
MATMUL = dims((1,), (0,))


def test_size_mismatch_errors():
    check_error(lambda: dot_general(M23, M23, MATMUL),
                "contracting dimensions differ in size: lhs dimension 1 has 3 elements, rhs "
                "dimension 0 has 2", "dot_general", "f32[2,3], f32[2,3]")
    batched_lhs, batched_rhs = jnp.zeros((5, 2, 3)), jnp.zeros((4, 3, 2))
    check_error(lambda: dot_general(batched_lhs, batched_rhs, dims((2,), (1,), (0,), (0,))),
                "batch dimensions differ in size: lhs dimension 0 has 5 elements, rhs "
                "dimension 0 has 4", "f32[5,2,3], f32[4,3,2]")


def test_dimension_out_of_range_errors():
    check_error(lambda: dot_general(M23, M34, dims((2,), (0,))),
                "lhs contracting dimension 2 is out of range for rank 2", "f32[2,3], f32[3,4]")
    check_error(lambda: dot_general(M23, M34, dims((1,), (-1,))),
                "rhs contracting dimension -1 is out of range for rank 2")
    check_error(lambda: dot_general(M23, M34, dims((1,), (0,), (2,), (1,))),
                "lhs batch dimension 2 is out of range for rank 2")
    vector = jnp.zeros(3)
    check_error(lambda: dot_general(jnp.float32(1), vector, dims((0,), (0,))),
                "lhs contracting dimension 0 is out of range for rank 0", "f32[], f32[3]")


def test_dimension_used_twice_errors():
    check_error(lambda: dot_general(M23, M23, dims((1, 1), (1, 0))),
                "lhs contracting dimensions (1, 1) repeat a value")
    check_error(lambda: dot_general(M23, M23, dims((), (), (0, 0), (0, 1))),
                "lhs batch dimensions (0, 0) repeat a value")
    check_error(lambda: dot_general(M23, M23, dims((1,), (1,), (0,), (1,))),
                "rhs dimension 1 is both a contracting and a batch dimension")


def test_unpaired_dimension_errors():
    check_error(lambda: dot_general(M23, M23, dims((1,), (1, 0))),
                "lhs_contract (1,) and rhs_contract (1, 0) differ in length")
    check_error(lambda: dot_general(M23, M23, dims((1,), (1,), (0,), ())),
                "lhs_batch (0,) and rhs_batch () differ in length")
    check_error(lambda: dot_general(M23, M34, ((1,), (0,))), "dimension_numbers ((1,), (0,)) "
                "is not ((lhs_contract, rhs_contract), (lhs_batch, rhs_batch))")


def test_dtype_errors(x64):
    f64 = jnp.zeros((3, 4), jnp.float64)
    check_error(lambda: dot_general(M23, f64, MATMUL), "the dtypes differ", "f32[2,3], f64[3,4]",
                "preferred_element_type")
    i32, i64 = jnp.zeros((2, 3), jnp.int32), jnp.zeros((3, 4), jnp.int64)
    check_error(lambda: dot_general(i32, i32.T, MATMUL, preferred_element_type=np.int8),
                "preferred_element_type int8 is narrower than int32", "i32[2,3], i32[3,2]")
    check_error(lambda: dot_general(i32, i64, MATMUL, preferred_element_type=np.int32),
                "preferred_element_type int32 is narrower than int64")
    e5m2 = jnp.zeros((2, 3), jnp.float8_e5m2)
    e5m2fnuz = jnp.zeros((3, 4), jnp.float8_e5m2fnuz)
    check_error(lambda: dot_general(e5m2, e5m2fnuz, MATMUL, preferred_element_type=np.float32),
                "the dtypes differ and neither is wider")


def test_unavailable_preferred_element_type():
    assert not jax.config.read("jax_enable_x64")
    check_error(lambda: dot_general(M23, M34, MATMUL, preferred_element_type=np.float64),
                "preferred_element_type float64 is not available", "jax_enable_x64")


def test_precision_errors():
    check_error(lambda: dot_general(M23, M34, MATMUL, precision="fast"),
                "precision 'fast' is not a precision", "f32[2,3], f32[3,4]")
    check_error(lambda: dot_general(M23, M34, MATMUL, precision=(lax.Precision.HIGH,)),
                "is not a precision")


def test_errors_inside_a_trace_name_the_users_line():
    def f(x, y):
        return dot_general(x, y, dims((0,), (0,)))  # the error must point here
    line = f.__code__.co_firstlineno + 1
    with pytest.raises(ShapeDtypeError, match="dot_general") as info:
        trace_to_program(f, [M23, M34], "make_ir")
    assert f"{HERE}:{line}" in str(info.value)
