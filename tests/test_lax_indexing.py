"""fgrad.lax.indexing against jax.lax: slices, dynamic slices, gather and the scatters.

Every case runs three ways and must agree with the same jax.lax call on the same inputs in
value, shape, dtype and weak type: eagerly, as a traced program (typechecked and evaluated),
and as that program evaluated under jax.jit (the lowering runs on JAX tracers).
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from fgrad.core import ShapeDtypeError, aval_of, eval_program, trace_to_program, typecheck
from fgrad.lax.indexing import (
    dynamic_slice, dynamic_slice_p, dynamic_update_slice, dynamic_update_slice_p, gather,
    gather_p, scatter, scatter_add, scatter_add_p, scatter_max, scatter_min, scatter_mul,
    slice,
)
from oracle import assert_same, check, check_error, rotating, several

GDN = lax.GatherDimensionNumbers
SDN = lax.ScatterDimensionNumbers
Mode = lax.GatherScatterMode
HERE = os.path.basename(__file__)


def only_eqn(program):
    (eqn,) = [e for e in program.eqns if e.primitive.name not in ("lt", "add", "select_n")]
    return eqn


def weak(shape, value=1.5):
    return lax.broadcast(value, shape)  # a weakly typed array


def arange(*shape, dtype=jnp.float32):
    values = jnp.arange(int(np.prod(shape))).reshape(shape)
    return (values % 3 == 1) if dtype == jnp.bool_ else values.astype(dtype)


def named(values):
    return {getattr(v, "__name__", str(v)): v for v in values}


# -- slice ---------------------------------------------------------------------------------------

SLICE_CASES = [
    ((5,), (1,), (4,), None),
    ((5,), (0,), (5,), (2,)),
    ((5,), (1,), (5,), (3,)),
    ((4, 6), (1, 0), (4, 6), (2, 3)),
    ((4, 6), (2, 2), (2, 5), None),  # empty along dimension 0
    ((3, 4, 5), (0, 1, 2), (3, 4, 5), (3, 1, 2)),
    ((), (), (), None),
]


# By default each case with one rotating dtype, each dtype with several: `-m slow` for all.
@pytest.mark.parametrize("shape, start, limit, strides, dtype", rotating(
    several({f"case{i}": c for i, c in enumerate(SLICE_CASES)}),
    named([jnp.float32, jnp.int32, jnp.bool_]), every=3))
def test_slice_matches_lax(shape, start, limit, strides, dtype):
    x = arange(*shape, dtype=dtype)
    check(lambda x: slice(x, start, limit, strides), lambda x: lax.slice(x, start, limit, strides),
          x)


def test_slice_keeps_weak_type_and_float64(x64):
    check(lambda x: slice(x, (1,), (4,), (2,)), lambda x: lax.slice(x, (1,), (4,), (2,)),
          weak((5,)))
    check(lambda x: slice(x, (0, 1), (2, 3)), lambda x: lax.slice(x, (0, 1), (2, 3)),
          arange(3, 3, dtype=jnp.float64))


def test_slice_params_are_tuples_of_python_ints():
    x = arange(4, 6)
    program = check(lambda x: slice(x, [np.int64(1), 0], np.array([3, 6])),
                    lambda x: lax.slice(x, (1, 0), (3, 6)), x)
    params = only_eqn(program).params
    assert params == {"start_indices": (1, 0), "limit_indices": (3, 6), "strides": (1, 1)}
    assert all(type(v) is int for p in params.values() for v in p)
    hash(tuple(params.items()))


def test_slice_errors():
    x = arange(4, 6)
    check_error(lambda: slice(x, (0, -1), (4, 6)), "slice", "f32[4,6]", match="from 0 to 4|-1")
    check_error(lambda: slice(x, (0, 0), (5, 6)), "slice", "f32[4,6]", "size 4")
    check_error(lambda: slice(x, (3, 0), (2, 6)), "slice", "f32[4,6]", match="from 3 to 2")
    check_error(lambda: slice(x, (0, 0), (4, 6), (1, 0)), "slice", "f32[4,6]", match="stride 0")
    check_error(lambda: slice(x, (0,), (4,)), "slice", "f32[4,6]", match="start_indices has 1")
    check_error(lambda: slice(x, (0, 0), (4, 6), (1,)), "slice", "f32[4,6]", match="strides")
    check_error(lambda: slice(x, (0, 1.5), (4, 6)), "slice", "f32[4,6]", match="integers")


# -- dynamic_slice -------------------------------------------------------------------------------

DYNAMIC_SLICE_CASES = [
    ((1,), (2,)),
    ((4,), (2,)),  # overhangs: clamped back to start 3
    ((-1,), (2,)),  # counts from the end, then clamped
    ((-2,), (2,)),
    ((-10,), (2,)),  # still negative after wrapping: clamped to 0
    ((100,), (5,)),
    ((2,), (0,)),
]


@pytest.mark.parametrize("starts, sizes", DYNAMIC_SLICE_CASES)
def test_dynamic_slice_static_starts(starts, sizes):
    check(lambda x: dynamic_slice(x, starts, sizes), lambda x: lax.dynamic_slice(x, starts, sizes),
          arange(5))


# By default each case with one of the index dtypes, in turn: `-m slow` for both.
@pytest.mark.parametrize("starts, sizes, index_dtype", rotating(
    several({f"case{i}": c for i, c in enumerate(DYNAMIC_SLICE_CASES)}),
    named([jnp.int32, jnp.int8]), every=2))
def test_dynamic_slice_traced_starts(starts, sizes, index_dtype):
    start = jnp.asarray(starts[0], index_dtype)
    check(lambda x, i: dynamic_slice(x, (i,), sizes),
          lambda x, i: lax.dynamic_slice(x, (i,), sizes), arange(5), start)


def test_dynamic_slice_matrix_with_mixed_starts():
    x = arange(3, 4)
    for i in range(-4, 5):
        check(lambda x, j: dynamic_slice(x, (i, j), (2, 3)),
              lambda x, j: lax.dynamic_slice(x, (i, j), (2, 3)), x, jnp.int32(i + 1))


def test_dynamic_slice_start_vector():
    x = arange(3, 4)
    starts = np.array([-1, 2], np.int32)
    check(lambda x, s: dynamic_slice(x, s, (2, 2)), lambda x, s: lax.dynamic_slice(x, s, (2, 2)),
          x, jnp.asarray(starts))
    check(lambda x: dynamic_slice(x, starts, (2, 2)),
          lambda x: lax.dynamic_slice(x, starts, (2, 2)), x)


def test_dynamic_slice_unsigned_starts_never_count_from_the_end():
    check(lambda x, i: dynamic_slice(x, (i,), (2,)),
          lambda x, i: lax.dynamic_slice(x, (i,), (2,)), arange(5), jnp.uint8(200))


def test_dynamic_slice_without_negative_indices_clamps_them():
    for allow in (False, [False, True]):
        check(lambda x, i: dynamic_slice(x, (i, i), (2, 2), allow_negative_indices=allow),
              lambda x, i: lax.dynamic_slice(x, (i, i), (2, 2), allow_negative_indices=allow),
              arange(3, 4), jnp.int32(-1))


def test_dynamic_slice_primitive_only_clamps():
    x = arange(5)
    expected = lax.dynamic_slice(x, (jnp.int32(-1),), (2,), allow_negative_indices=False)
    assert_same(dynamic_slice_p.bind1(x, -1, slice_sizes=(2,)), expected)
    assert_same(dynamic_slice_p.bind1(x, np.int32(-1), slice_sizes=(2,)), expected)
    program, _ = trace_to_program(lambda x: dynamic_slice_p.bind1(x, -1, slice_sizes=(2,)), [x],
                                  "make_ir")
    typecheck(program)
    assert_same(eval_program(program, x)[0], expected)


def test_dynamic_slice_weak_operand_and_float64(x64):
    check(lambda x, i: dynamic_slice(x, (i,), (2,)),
          lambda x, i: lax.dynamic_slice(x, (i,), (2,)), weak((5,)), jnp.int64(3))
    check(lambda x: dynamic_slice(x, (1, -1), (2, 2)),
          lambda x: lax.dynamic_slice(x, (1, -1), (2, 2)), arange(3, 3, dtype=jnp.float64))


def test_dynamic_slice_converts_python_starts_to_the_traced_starts_dtype(x64):
    # jax.lax rejects this mix under x64 (Python ints become int64); fgrad converts them.
    x = arange(3, 4)
    program = check(lambda x, j: dynamic_slice(x, (1, j), (2, 2)),
                    lambda x, j: lax.dynamic_slice(x, (np.int32(1), j), (2, 2)),
                    x, jnp.int32(1))
    assert {a.aval.dtype for a in only_eqn(program).inputs[1:]} == {np.dtype(np.int32)}


def test_dynamic_slice_params():
    program = check(lambda x: dynamic_slice(x, (1, 1), [np.int64(2), 2]),
                    lambda x: lax.dynamic_slice(x, (1, 1), (2, 2)), arange(3, 4))
    assert only_eqn(program).params == {"slice_sizes": (2, 2)}


def test_dynamic_slice_errors():
    x = arange(3, 4)
    i8, i16 = jnp.int8(0), jnp.int16(0)
    check_error(lambda: dynamic_slice(x, (0, 0), (2, 5)), "dynamic_slice", "f32[3,4]",
                match="slice size 5 of dimension 1")
    check_error(lambda: dynamic_slice(x, (0, 0), (-1, 2)), "dynamic_slice", "f32[3,4]",
                match="slice size -1")
    check_error(lambda: dynamic_slice(x, (0, 0), (2,)), "dynamic_slice", match="slice_sizes")
    check_error(lambda: dynamic_slice(x, (0,), (2, 2)), "dynamic_slice", match="1 start ind")
    check_error(lambda: dynamic_slice(x, (0, 1.0), (2, 2)), "dynamic_slice", "f32[]",
                match="must be integers")
    check_error(lambda: dynamic_slice(x, (i16, i8), (2, 2)), "dynamic_slice", "i16[], i8[]",
                match="different dtypes")
    check_error(lambda: dynamic_slice_p.bind1(x, jnp.zeros(2, jnp.int32), 0, slice_sizes=(1, 1)),
                "dynamic_slice", "i32[2]", match="scalar")


# -- dynamic_update_slice ------------------------------------------------------------------------

@pytest.mark.parametrize("start", [0, 2, 3, 7, -1, -3, -9])
def test_dynamic_update_slice_vector(start):
    x, u = arange(5), jnp.array([10.0, 20.0])
    check(lambda x, u: dynamic_update_slice(x, u, (start,)),
          lambda x, u: lax.dynamic_update_slice(x, u, (start,)), x, u)
    check(lambda x, u, i: dynamic_update_slice(x, u, (i,)),
          lambda x, u, i: lax.dynamic_update_slice(x, u, (i,)), x, u, jnp.int32(start))


def test_dynamic_update_slice_matrix_and_dtypes():
    for dtype in (jnp.float32, jnp.int32, jnp.bool_):
        x, u = arange(3, 4, dtype=dtype), jnp.ones((2, 3), dtype)
        for i, j in [(0, 0), (2, 3), (-1, 1), (1, -2)]:
            check(lambda x, u, j: dynamic_update_slice(x, u, (i, j)),
                  lambda x, u, j: lax.dynamic_update_slice(x, u, (i, j)), x, u, jnp.int32(j))
    check(lambda x, u, s: dynamic_update_slice(x, u, s),
          lambda x, u, s: lax.dynamic_update_slice(x, u, s),
          arange(3, 4), jnp.ones((3, 1)), jnp.array([1, -1]))


def test_dynamic_update_slice_weak_types(x64):
    # JAX's rule: weak only when every operand, start indices included, is weak.
    for x, u in [(weak((5,)), weak((2,), 7.0)), (weak((5,)), jnp.ones(2)),
                 (jnp.ones(5), weak((2,), 7.0))]:
        check(lambda x, u: dynamic_update_slice(x, u, (1,)),
              lambda x, u: lax.dynamic_update_slice(x, u, (1,)), x, u)
        check(lambda x, u, i: dynamic_update_slice(x, u, (i,), allow_negative_indices=False),
              lambda x, u, i: lax.dynamic_update_slice(x, u, (i,), allow_negative_indices=False),
              x, u, jnp.asarray(1))
    x, u = weak((5,)), weak((2,), 7.0)
    assert aval_of(dynamic_update_slice_p.bind1(x, u, 1)).weak_type
    program, _ = trace_to_program(lambda x, u: dynamic_update_slice_p.bind1(x, u, -2), [x, u],
                                  "make_ir")
    typecheck(program)
    expected = lax.dynamic_update_slice(x, u, (jnp.asarray(-2),), allow_negative_indices=False)
    assert_same(eval_program(program, x, u)[0], expected)


def test_dynamic_update_slice_errors():
    x = arange(3, 4)
    check_error(lambda: dynamic_update_slice(x, jnp.ones(2), (0, 0)), "dynamic_update_slice",
                "f32[3,4], f32[2]", match="rank 1")
    check_error(lambda: dynamic_update_slice(x, jnp.ones((4, 1)), (0, 0)),
                "dynamic_update_slice", "f32[4,1]", match="larger")
    check_error(lambda: dynamic_update_slice(x, jnp.ones((1, 1), jnp.int32), (0, 0)),
                "dynamic_update_slice", "f32[3,4], i32[1,1]", match="dtype")
    check_error(lambda: dynamic_update_slice(x, jnp.ones((1, 1)), (0,)),
                "dynamic_update_slice", match="1 start indices")
    check_error(lambda: dynamic_update_slice(x, x, (jnp.int8(0), 0.0)), "dynamic_update_slice",
                match="integers")
    check_error(lambda: dynamic_update_slice(x, x, (jnp.int8(0), jnp.int32(0))),
                "dynamic_update_slice", "i8[], i32[]", match="different dtypes")


# -- gather --------------------------------------------------------------------------------------

# The dimension numbers jax.numpy uses for integer-array indexing.
VECTOR_TAKE = GDN(offset_dims=(), collapsed_slice_dims=(0,), start_index_map=(0,))
ROW_TAKE = GDN(offset_dims=(1,), collapsed_slice_dims=(0,), start_index_map=(0,))
COLUMN_TAKE = GDN(offset_dims=(0,), collapsed_slice_dims=(1,), start_index_map=(1,))
POINT_TAKE = GDN(offset_dims=(), collapsed_slice_dims=(0, 1), start_index_map=(0, 1))


def check_gather(x, indices, dnums, slice_sizes, **kwargs):
    return check(lambda x, i: gather(x, i, dnums, slice_sizes, **kwargs),
                 lambda x, i: lax.gather(x, i, dnums, slice_sizes, **kwargs), x, indices)


def test_gather_is_integer_array_indexing_of_a_vector():
    x, idx = arange(6), jnp.array([4, 0, 0, 5, 2])
    program = check_gather(x, idx[:, None], VECTOR_TAKE, (1,))
    assert_same(gather(x, idx[:, None], VECTOR_TAKE, (1,)), x[idx])
    assert only_eqn(program).params["mode"] is Mode.PROMISE_IN_BOUNDS  # jax.lax's default


def test_gather_is_row_and_column_indexing_of_a_matrix():
    x, idx = arange(3, 4), jnp.array([2, 0, 2])
    check_gather(x, idx[:, None], ROW_TAKE, (1, 4))
    assert_same(gather(x, idx[:, None], ROW_TAKE, (1, 4)), x[idx])
    check_gather(x, idx[:, None], COLUMN_TAKE, (3, 1))
    assert_same(gather(x, idx[:, None], COLUMN_TAKE, (3, 1)), x[:, idx])


def test_gather_with_two_dimensional_index_arrays():
    v, idx = arange(6), jnp.array([[1, 5, 0], [3, 3, 2]])
    check_gather(v, idx[..., None], VECTOR_TAKE, (1,))
    assert_same(gather(v, idx[..., None], VECTOR_TAKE, (1,)), v[idx])
    x, rows, cols = arange(3, 4), jnp.array([[0, 2], [1, 1]]), jnp.array([[3, 0], [1, 2]])
    points = jnp.stack([rows, cols], axis=-1)
    check_gather(x, points, POINT_TAKE, (1, 1))
    assert_same(gather(x, points, POINT_TAKE, (1, 1)), x[rows, cols])
    # 2-D indices selecting whole rows: output (2, 2, 4)
    check_gather(x, rows[..., None], GDN((2,), (0,), (0,)), (1, 4))
    assert_same(gather(x, rows[..., None], GDN((2,), (0,), (0,)), (1, 4)), x[rows])


def test_gather_of_windows():
    x = arange(4, 5)
    starts = jnp.array([[0, 0], [2, 3], [3, 4]])  # the last two overhang the operand
    for mode in ("clip", "fill", "promise_in_bounds"):
        check_gather(x, starts, GDN((1, 2), (), (0, 1)), (2, 2), mode=mode)
        check_gather(x, starts, GDN((0, 1), (), (0, 1)), (2, 2), mode=mode)  # batch dim last
    check_gather(x, starts[:, :1], GDN((1,), (0,), (0,)), (1, 3))


# By default each mode (every spelling) with one rotating dtype, each dtype with two modes:
# `-m slow` runs the other pairs.
@pytest.mark.parametrize("mode, dtype", rotating(
    named([None, "clip", "fill", "drop", "promise_in_bounds", Mode.CLIP, Mode.FILL_OR_DROP,
           Mode.PROMISE_IN_BOUNDS]),
    named([jnp.float32, jnp.int32, jnp.uint8, jnp.bool_]), every=4))
def test_gather_out_of_bounds_indices_follow_the_mode(mode, dtype):
    idx = jnp.array([[7], [-1], [1], [5], [-6]])
    x = (arange(5) % 3).astype(dtype)
    program = check_gather(x, idx, VECTOR_TAKE, (1,), mode=mode)
    expected = Mode.PROMISE_IN_BOUNDS if mode is None else Mode.from_any(mode)
    assert only_eqn(program).params["mode"] is expected
    check_gather(arange(3, 4), idx[:3], ROW_TAKE, (1, 4), mode=mode)


def test_gather_fill_value():
    x, idx = arange(5), jnp.array([[7], [1]])
    check_gather(x, idx, VECTOR_TAKE, (1,), mode="fill", fill_value=-3.5)
    check_gather(x, idx, VECTOR_TAKE, (1,), mode="fill", fill_value=np.float32(2))
    check_gather(x.astype(jnp.int32), idx, VECTOR_TAKE, (1,), mode="fill", fill_value=9)
    program = check_gather(x, idx, VECTOR_TAKE, (1,), mode="clip", fill_value=9.0)
    assert only_eqn(program).params["fill_value"] is None  # only fill mode reads it
    # jax.lax.gather fails on a JAX array fill_value (it must hash); fgrad takes its value.
    program = check(lambda x, i: gather(x, i, VECTOR_TAKE, (1,), mode="fill",
                                        fill_value=jnp.float32(2)),
                    lambda x, i: lax.gather(x, i, VECTOR_TAKE, (1,), mode="fill", fill_value=2.0),
                    x, idx)
    assert type(only_eqn(program).params["fill_value"]) is float


def test_gather_with_batching_dims():
    x = arange(3, 5, 2)  # three batches of five rows of two
    idx = jnp.array([[4, 0], [1, 1], [3, 2]])  # two rows per batch
    dnums = GDN(offset_dims=(2,), collapsed_slice_dims=(1,), start_index_map=(1,),
                operand_batching_dims=(0,), start_indices_batching_dims=(0,))
    check_gather(x, idx[..., None], dnums, (1, 1, 2))
    assert_same(gather(x, idx[..., None], dnums, (1, 1, 2)), jax.vmap(lambda x, i: x[i])(x, idx))
    # The batch dimension of the indices need not come first.
    dnums_t = dnums._replace(start_indices_batching_dims=(1,))
    check_gather(x, idx.T[..., None], dnums_t, (1, 1, 2))
    assert_same(gather(x, idx.T[..., None], dnums_t, (1, 1, 2)),
                jax.vmap(lambda x, i: x[i], out_axes=1)(x, idx))
    # Two batching dims, scalar elements gathered, out of bounds clipped.
    y = arange(2, 3, 4)
    jdx = jnp.array([[[0], [9]], [[3], [-1]], [[2], [2]]])  # (3, 2, 1): batch dims swapped
    dnums2 = GDN(offset_dims=(), collapsed_slice_dims=(2,), start_index_map=(2,),
                 operand_batching_dims=(0, 1), start_indices_batching_dims=(1, 0))
    for mode in ("clip", "fill"):
        check_gather(y, jdx, dnums2, (1, 1, 1), mode=mode)


def test_gather_empty_indices():
    dnums = GDN((1,), (0,), (0,))
    check_gather(jnp.zeros((0, 4)), jnp.zeros((0, 1), jnp.int32), dnums, (1, 4))
    check_gather(arange(3, 4), jnp.zeros((0, 1), jnp.int32), dnums, (1, 4))


def test_gather_dtypes_and_weak_types(x64):
    idx = jnp.array([[2], [0]])
    for x in (arange(4, dtype=jnp.float64), arange(4, dtype=jnp.int64), weak((4,)),
              arange(4, dtype=jnp.complex64)):
        check_gather(x, idx, VECTOR_TAKE, (1,))
        check_gather(x, idx.astype(jnp.uint16), VECTOR_TAKE, (1,), mode="fill")


def test_gather_params_are_normalised_and_hashable():
    dnums = GDN(offset_dims=[np.int64(1)], collapsed_slice_dims=np.array([0]),
                start_index_map=[0])
    program = check(lambda x, i: gather(x, i, dnums, [1, np.int32(4)], unique_indices=1),
                    lambda x, i: lax.gather(x, i, ROW_TAKE, (1, 4), unique_indices=True),
                    arange(3, 4), jnp.array([[1]]))
    params = only_eqn(program).params
    assert params["dimension_numbers"] == ROW_TAKE
    assert type(params["dimension_numbers"]) is GDN
    assert all(type(d) is int for field in params["dimension_numbers"] for d in field)
    assert params["slice_sizes"] == (1, 4) and params["unique_indices"] is True
    hash(tuple(sorted(params.items())))
    hash(program.key)


def test_gather_errors():
    x, i, fi = arange(3, 4), jnp.array([[1]]), jnp.array([[1.0]])
    i2 = jnp.array([[1, 2]])
    check_error(lambda: gather(x, i, ROW_TAKE, (1,)), "gather", "f32[3,4], i32[1,1]",
                match="slice_sizes has 1")
    check_error(lambda: gather(x, i, ROW_TAKE, (1, 5)), "gather", "f32[3,4]",
                match="slice size 5")
    check_error(lambda: gather(x, i, ROW_TAKE, (1, -1)), "gather", match="slice size -1")
    none = jnp.zeros((0, 1), jnp.int32)  # reads nothing, yet a negative size stays an error
    check_error(lambda: gather(x, none, ROW_TAKE, (1, -1)), "gather", "i32[0,1]",
                match="slice size -1")
    check_error(lambda: gather(x, i, ROW_TAKE, (2, 4)), "gather", match="collapsed_slice_dims")
    check_error(lambda: gather(x, i2, ROW_TAKE, (1, 4)), "gather", "i32[1,2]",
                match="start_index_map has 1")
    check_error(lambda: gather(x, i, GDN((1,), (0,), (5,)), (1, 4)), "gather",
                match="start_index_map .* dimension 5")
    check_error(lambda: gather(x, i2, GDN((), (0, 1), (1, 1)), (1, 1)), "gather",
                match="repeats")
    check_error(lambda: gather(x, i2, GDN((1, 0), (), (0, 1)), (1, 1)), "gather",
                match="offset_dims .* ascending")
    check_error(lambda: gather(x, i, GDN((2,), (0,), (0,)), (1, 4)), "gather",
                match="offset_dims .* outside")
    check_error(lambda: gather(x, i, GDN((), (0,), (0,)), (1, 4)), "gather",
                match="neither collapsed nor batched")
    check_error(lambda: gather(x, i, GDN((1, 2), (0,), (0,)), (1, 4)), "gather",
                match="neither collapsed nor batched")
    check_error(lambda: gather(x, fi, ROW_TAKE, (1, 4)), "gather", "f32[1,1]",
                match="indices must be integers")
    check_error(lambda: gather(x, jnp.int32(1), ROW_TAKE, (1, 4)), "gather", "i32[]",
                match="at least one dimension")
    check_error(lambda: gather(x, i, ROW_TAKE, (1, 4), mode="wrap"), "gather", match="mode")
    check_error(lambda: gather(x, i, ROW_TAKE, (1, 4), mode="one_hot"), "gather",
                match="ONE_HOT")
    check_error(lambda: gather(x, i, (1,), (1, 4)), "gather", match="GatherDimensionNumbers")
    check_error(lambda: gather(x, i, GDN(1, (0,), (0,)), (1, 4)), "gather",
                match="offset_dims must be a tuple")
    check_error(lambda: gather(x, i, ROW_TAKE, (1, 4), mode="fill", fill_value=[1, 2]),
                "gather", match="fill_value")
    unsure = dict(dimension_numbers=ROW_TAKE, slice_sizes=(1, 4), indices_are_sorted=None,
                  unique_indices=False, mode=Mode.CLIP, fill_value=None)
    check_error(lambda: gather_p.bind1(x, i, **unsure), "gather", match="indices_are_sorted")


def test_gather_batching_dim_errors():
    x, i = arange(3, 5, 2), jnp.zeros((3, 2, 1), jnp.int32)
    batched = GDN(offset_dims=(2,), collapsed_slice_dims=(1,), start_index_map=(1,),
                  operand_batching_dims=(0,), start_indices_batching_dims=(0,))
    check_error(lambda: gather(x, i, batched, (2, 1, 2)), "gather", "f32[3,5,2], i32[3,2,1]",
                match="operand_batching_dims, so its slice size must be 1")
    check_error(lambda: gather(x[:2], i, batched, (1, 1, 2)), "gather",
                match=r"sizes \(2,\) but the indices' have \(3,\)")
    check_error(lambda: gather(x, i, batched._replace(start_indices_batching_dims=()), (1, 1, 2)),
                "gather", match="start_indices_batching_dims has 0")
    index_vector_batched = batched._replace(start_indices_batching_dims=(2,))
    check_error(lambda: gather(x, i, index_vector_batched, (1, 1, 2)), "gather",
                match=r"start_indices_batching_dims \(2,\) names dimension 2")
    check_error(lambda: gather(x, i, batched._replace(collapsed_slice_dims=(0, 1)), (1, 1, 2)),
                "gather", match="share")
    check_error(lambda: gather(x, i, batched._replace(start_index_map=(0,)), (1, 1, 2)),
                "gather", match="start_index_map .* share")


def test_gather_error_inside_a_trace_names_the_traced_line():
    def traced(x, i):
        return gather(x, i, ROW_TAKE, (1, 9))
    with pytest.raises(ShapeDtypeError, match="slice size 9") as info:
        trace_to_program(traced, [arange(3, 4), jnp.array([[1]])], "make_ir")
    assert f"{HERE}:{traced.__code__.co_firstlineno + 1}" in str(info.value)
    assert "gather got operands (f32[3,4], i32[1,1])" in str(info.value)


# -- scatter family ------------------------------------------------------------------------------

VECTOR_PUT = SDN(update_window_dims=(), inserted_window_dims=(0,),
                 scatter_dims_to_operand_dims=(0,))
ROW_PUT = SDN(update_window_dims=(1,), inserted_window_dims=(0,),
              scatter_dims_to_operand_dims=(0,))
COLUMN_PUT = SDN(update_window_dims=(0,), inserted_window_dims=(1,),
                 scatter_dims_to_operand_dims=(1,))
POINT_PUT = SDN(update_window_dims=(), inserted_window_dims=(0, 1),
                scatter_dims_to_operand_dims=(0, 1))

SCATTERS = [(scatter, lax.scatter, "set"), (scatter_add, lax.scatter_add, "add"),
            (scatter_mul, lax.scatter_mul, "multiply"), (scatter_min, lax.scatter_min, "min"),
            (scatter_max, lax.scatter_max, "max")]
SCATTER_IDS = [s[2] for s in SCATTERS]
SCATTERS_BY_ID = dict(zip(SCATTER_IDS, SCATTERS))


def check_scatter(ours, theirs, x, indices, updates, dnums, **kwargs):
    return check(lambda x, i, u: ours(x, i, u, dnums, **kwargs),
                 lambda x, i, u: theirs(x, i, u, dnums, **kwargs), x, indices, updates)


def at(x, index, method, updates):
    return getattr(x.at[index], method)(updates)


@pytest.mark.parametrize("ours, theirs, method", SCATTERS, ids=SCATTER_IDS)
def test_scatter_is_at_update_of_a_vector(ours, theirs, method):
    x, idx, u = arange(6) - 2, jnp.array([4, 0, 5, 2]), jnp.array([10.0, -3.0, 0.5, 7.0])
    program = check_scatter(ours, theirs, x, idx[:, None], u, VECTOR_PUT)
    assert only_eqn(program).primitive.name == ours.__name__
    assert only_eqn(program).params["mode"] is Mode.FILL_OR_DROP  # jax.lax's default
    assert_same(ours(x, idx[:, None], u, VECTOR_PUT), at(x, idx, method, u))


# By default each scatter with one rotating layout, each layout with one or two scatters:
# `-m slow` runs the other pairs.
@pytest.mark.parametrize("ours, theirs, method, layout", rotating(
    several(SCATTERS_BY_ID), named(["rows", "columns", "points"]), every=3))
def test_scatter_rows_columns_and_points_of_a_matrix(ours, theirs, method, layout):
    x, idx = arange(3, 4), jnp.array([2, 0])
    r, c = jnp.array([[0, 2], [1, 2]]), jnp.array([[3, 0], [1, 3]])  # 2-D index arrays
    indices, updates, dnums, where = {
        "rows": (idx[:, None], jnp.ones((2, 4)) * 5, ROW_PUT, idx),
        "columns": (idx[:, None], jnp.arange(6.0).reshape(3, 2), COLUMN_PUT, (slice_all, idx)),
        "points": (jnp.stack([r, c], axis=-1), jnp.array([[1.0, 2.0], [3.0, 4.0]]), POINT_PUT,
                   (r, c)),
    }[layout]
    check_scatter(ours, theirs, x, indices, updates, dnums)
    assert_same(ours(x, indices, updates, dnums), at(x, where, method, updates))


slice_all = np.s_[:]


def test_scatter_add_accumulates_duplicate_indices():
    x, idx = jnp.zeros(4), jnp.array([[1], [1], [3], [1]])
    u = jnp.array([1.0, 2.0, 4.0, 8.0])
    check_scatter(scatter_add, lax.scatter_add, x, idx, u, VECTOR_PUT)
    np.testing.assert_array_equal(scatter_add(x, idx, u, VECTOR_PUT), [0.0, 11.0, 0.0, 4.0])
    check_scatter(scatter_mul, lax.scatter_mul, x + 1, idx, u, VECTOR_PUT)
    np.testing.assert_array_equal(scatter_mul(x + 1, idx, u, VECTOR_PUT), [1, 16, 1, 4])
    rows = jnp.ones((3, 2))
    check_scatter(scatter_add, lax.scatter_add, jnp.zeros((2, 2)), jnp.array([[0], [0], [1]]),
                  rows, ROW_PUT)


# By default each scatter with a rotating mode, each mode (every spelling) with one scatter:
# `-m slow` runs the other pairs.
@pytest.mark.parametrize("ours, theirs, method, mode", rotating(
    several(SCATTERS_BY_ID), named([None, "clip", "fill", "drop", "promise_in_bounds", Mode.CLIP,
                           Mode.FILL_OR_DROP]), every=5))
def test_scatter_out_of_bounds_indices_follow_the_mode(ours, theirs, method, mode):
    x, idx = arange(5), jnp.array([[7], [-1], [1], [5]])
    u = jnp.array([10.0, 20.0, 30.0, 40.0])
    program = check_scatter(ours, theirs, x, idx, u, VECTOR_PUT, mode=mode)
    assert only_eqn(program).params["mode"] is Mode.from_any(mode)
    check_scatter(ours, theirs, arange(3, 4), idx[:2], jnp.ones((2, 4)), ROW_PUT, mode=mode)
    windows = SDN(update_window_dims=(1,), inserted_window_dims=(),
                  scatter_dims_to_operand_dims=(0,))
    check_scatter(ours, theirs, x, jnp.array([[4], [0]]), jnp.ones((2, 3)), windows, mode=mode)


def test_scatter_at_updates_drop_out_of_bounds_indices():
    x, idx, u = arange(5), jnp.array([9, 2]), jnp.array([1.0, 2.0])
    assert_same(scatter(x, idx[:, None], u, VECTOR_PUT), x.at[idx].set(u))
    assert_same(scatter_add(x, idx[:, None], u, VECTOR_PUT), x.at[idx].add(u))


@pytest.mark.parametrize("ours, theirs, method", SCATTERS, ids=SCATTER_IDS)
def test_scatter_with_batching_dims(ours, theirs, method):
    x = arange(3, 5)
    idx = jnp.array([[4, 0], [1, 1], [3, 9]])  # two per batch; 9 is out of bounds
    u = jnp.arange(6.0).reshape(3, 2) * 10
    dnums = SDN(update_window_dims=(), inserted_window_dims=(1,),
                scatter_dims_to_operand_dims=(1,), operand_batching_dims=(0,),
                scatter_indices_batching_dims=(0,))
    for mode in (None, "clip"):
        check_scatter(ours, theirs, x, idx[..., None], u, dnums, mode=mode)
    assert_same(ours(x, idx[..., None], u, dnums),
                jax.vmap(lambda x, i, u: at(x, i, method, u))(x, idx, u))
    # Batch dimension of the indices second, windows of two columns.
    y = arange(3, 5, 2)
    dnums_t = SDN(update_window_dims=(2,), inserted_window_dims=(1,),
                  scatter_dims_to_operand_dims=(1,), operand_batching_dims=(0,),
                  scatter_indices_batching_dims=(1,))
    check_scatter(ours, theirs, y, idx.T[..., None], jnp.ones((2, 3, 2)), dnums_t)


# By default each scatter with one rotating operand (of each dtype, or weakly typed), each
# operand with one scatter: `-m slow` runs the other pairs.
@pytest.mark.parametrize("ours, theirs, method, operand", rotating(
    several(SCATTERS_BY_ID), named(["float64", "int64", "weak", "uint8", "complex128"]), every=5))
def test_scatter_dtypes_and_weak_types(ours, theirs, method, operand, x64):
    idx = jnp.array([[2], [0], [2]])
    x = weak((4,)) if operand == "weak" else arange(4, dtype=jnp.dtype(operand))
    u = jnp.ones(3, x.dtype)
    check_scatter(ours, theirs, x, idx, u, VECTOR_PUT)
    check_scatter(ours, theirs, x, idx, weak((3,), 2.0).astype(x.dtype), VECTOR_PUT)


def test_scatter_of_bools(x64):
    idx = jnp.array([[2], [0], [2]])
    b = jnp.array([True, False, False, True])
    for ours, theirs in ((scatter, lax.scatter), (scatter_min, lax.scatter_min),
                         (scatter_max, lax.scatter_max)):
        check_scatter(ours, theirs, b, idx, jnp.array([False, True, True]), VECTOR_PUT)


def test_scatter_params_are_normalised_and_hashable():
    dnums = SDN(update_window_dims=[np.int64(1)], inserted_window_dims=np.array([0]),
                scatter_dims_to_operand_dims=(np.int8(0),))
    program = check(lambda x, i, u: scatter_add(x, i, u, dnums, indices_are_sorted=1),
                    lambda x, i, u: lax.scatter_add(x, i, u, ROW_PUT, indices_are_sorted=True),
                    arange(3, 4), jnp.array([[1]]), jnp.ones((1, 4)))
    params = only_eqn(program).params
    assert params["dimension_numbers"] == ROW_PUT and type(params["dimension_numbers"]) is SDN
    assert all(type(d) is int for field in params["dimension_numbers"] for d in field)
    assert params["indices_are_sorted"] is True
    hash(tuple(sorted(params.items())))


def test_scatter_errors():
    x, i, u = arange(3, 4), jnp.array([[1]]), jnp.ones((1, 4))
    u1, u5 = jnp.ones(4), jnp.ones((1, 5))
    check_error(lambda: scatter(x, i, u1, ROW_PUT), "scatter", "f32[3,4], i32[1,1], f32[4]",
                match="rank 1")
    check_error(lambda: scatter_add(x, i, u5, ROW_PUT), "scatter_add", "f32[1,5]",
                match="larger than the operand dimension")
    check_error(lambda: scatter_mul(x, jnp.array([[1], [2]]), u, ROW_PUT), "scatter_mul",
                "i32[2,1]", match="non-window dimensions have sizes")
    check_error(lambda: scatter_min(x, i, u.astype(jnp.int32), ROW_PUT), "scatter_min",
                "i32[1,4]", match="dtype")
    check_error(lambda: scatter_max(x, i.astype(jnp.float32), u, ROW_PUT), "scatter_max",
                match="indices must be integers")
    check_error(lambda: scatter(x, jnp.int32(1), jnp.ones(4), ROW_PUT), "scatter",
                match="at least one dimension")
    check_error(lambda: scatter(x, jnp.array([[1, 2]]), u, ROW_PUT), "scatter",
                match="scatter_dims_to_operand_dims has 1")
    check_error(lambda: scatter(x, i, u, SDN((1,), (), (0,))), "scatter",
                match="neither inserted nor batched")
    check_error(lambda: scatter(x, i, jnp.ones((1, 1, 4)), SDN((2, 1), (0,), (0,))), "scatter",
                match="update_window_dims .* ascending")
    check_error(lambda: scatter(x, i, u, SDN((1,), (2,), (0,))), "scatter",
                match="inserted_window_dims .* dimension 2")
    check_error(lambda: scatter(x, i, u, SDN((1,), (0,), (4,))), "scatter",
                match="scatter_dims_to_operand_dims .* dimension 4")
    b, bi = jnp.zeros((3, 4), bool), jnp.ones((1, 4), bool)
    check_error(lambda: scatter_add(b, i, bi, ROW_PUT), "scatter_add", "bool[3,4]",
                match="numbers")
    check_error(lambda: scatter_mul(b, i, bi, ROW_PUT), "scatter_mul", match="not bool")
    check_error(lambda: scatter(x, i, u, ROW_PUT, mode="one_hot"), "scatter", match="ONE_HOT")
    check_error(lambda: scatter(x, i, u, ROW_PUT, mode="nearest"), "scatter", match="mode")
    check_error(lambda: scatter(x, i, u, GDN((1,), (0,), (0,))), "scatter",
                match="ScatterDimensionNumbers")
    unsure = dict(dimension_numbers=ROW_PUT, indices_are_sorted=False, unique_indices="no",
                  mode=Mode.CLIP)
    check_error(lambda: scatter_add_p.bind1(x, i, u, **unsure), "scatter_add",
                match="unique_indices")


def test_scatter_batching_dim_errors():
    x, i, u = arange(3, 5), jnp.zeros((3, 2, 1), jnp.int32), jnp.ones((3, 2))
    dnums = SDN(update_window_dims=(), inserted_window_dims=(1,),
                scatter_dims_to_operand_dims=(1,), operand_batching_dims=(0,),
                scatter_indices_batching_dims=(0,))
    check_error(lambda: scatter(x[:2], i, u, dnums), "scatter", "f32[2,5], i32[3,2,1], f32[3,2]",
                match=r"sizes \(2,\) but the indices' have \(3,\)")
    check_error(lambda: scatter(x, i, u, dnums._replace(scatter_indices_batching_dims=())),
                "scatter", match="scatter_indices_batching_dims has 0")
    check_error(lambda: scatter(x, i, u, dnums._replace(scatter_indices_batching_dims=(2,))),
                "scatter", match="names dimension 2")
    check_error(lambda: scatter(x, i, u, dnums._replace(inserted_window_dims=(0, 1))),
                "scatter", match="share")
    check_error(lambda: scatter(x, i, u, dnums._replace(scatter_dims_to_operand_dims=(0,))),
                "scatter", match="scatter_dims_to_operand_dims .* share")
    check_error(lambda: scatter(x, i, u.T, dnums), "scatter", "f32[2,3]",
                match="non-window dimensions")
