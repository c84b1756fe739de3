"""fgrad.lax shape primitives against jax.lax: values, shapes, dtypes, weak types, eagerly and
traced, and the errors of every shape rule."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from fgrad.core import ShapeDtypeError, aval_of, trace_to_program, typecheck
from fgrad.lax.shapes import (
    broadcast_in_dim, broadcasted_iota, concatenate, expand_dims, iota, pad, reshape, rev,
    squeeze, transpose,
)
from oracle import check, check_error, make

HERE = os.path.basename(__file__)


@pytest.fixture(params=["float32", "float64", "int32", "bool"])
def dtype(request):
    if request.param == "float64":
        request.getfixturevalue("x64")
    return np.dtype(request.param)


# -- values ----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape, target, dims", [
    ((), (), ()),
    ((), (2, 3), ()),
    ((3,), (2, 3), (1,)),
    ((1, 3), (4, 3), (0, 1)),
    ((2, 1, 3), (2, 5, 4, 3), (0, 1, 3)),
    ((1,), (0,), (0,)),
    ((0,), (2, 0), (1,)),
])
def test_broadcast_in_dim(dtype, shape, target, dims):
    x = make(shape, dtype)
    check(lambda x: broadcast_in_dim(x, target, dims),
          lambda x: lax.broadcast_in_dim(x, target, dims), x)


@pytest.mark.parametrize("shape, new_sizes, dimensions", [
    ((), (), None),
    ((), (1, 1), None),
    ((2, 3), (3, 2), None),
    ((2, 3), (6,), None),
    ((0, 3), (3, 0), None),
    ((2, 3), (6,), (1, 0)),
    ((2, 3), (2, 3), (0, 1)),
    ((2, 3, 4), (4, 6), (2, 0, 1)),
])
def test_reshape(dtype, shape, new_sizes, dimensions):
    x = make(shape, dtype)
    check(lambda x: reshape(x, new_sizes, dimensions),
          lambda x: lax.reshape(x, new_sizes, dimensions), x)


@pytest.mark.parametrize("shape, permutation", [
    ((), ()),
    ((2, 3), (1, 0)),
    ((2, 0, 4), (2, 0, 1)),
    ((2, 3, 4), (0, 1, 2)),
    ((2, 3, 4), (1, 2, 0)),
])
def test_transpose(dtype, shape, permutation):
    x = make(shape, dtype)
    check(lambda x: transpose(x, permutation), lambda x: lax.transpose(x, permutation), x)


@pytest.mark.parametrize("shape, dimensions", [
    ((1,), (0,)),
    ((1, 3, 1), (0, 2)),
    ((1, 3, 1), (-1,)),
    ((1, 3, 1), (2, -3)),
    ((0, 1), (1,)),
    ((2, 3), ()),
])
def test_squeeze(dtype, shape, dimensions):
    x = make(shape, dtype)
    check(lambda x: squeeze(x, dimensions), lambda x: lax.squeeze(x, dimensions), x)


@pytest.mark.parametrize("shape, dimensions", [
    ((), (0,)),
    ((), (0, 1)),
    ((3,), (0,)),
    ((3,), (-1,)),
    ((2, 3), (0, 3)),
    ((2, 3), (-1, 0)),
    ((2, 3), (1, -2)),
    ((0,), (1,)),
])
def test_expand_dims(dtype, shape, dimensions):
    x = make(shape, dtype)
    program = check(lambda x: expand_dims(x, dimensions),
                    lambda x: lax.expand_dims(x, dimensions), x)
    # its own primitive, with the positions counted in the result and non-negative
    (eqn,) = program.eqns
    assert eqn.primitive.name == "expand_dims"
    assert all(d >= 0 for d in eqn.params["dimensions"])


@pytest.mark.parametrize("shape, dimensions", [
    ((), ()),
    ((3,), (0,)),
    ((2, 3), (0, 1)),
    ((2, 0), (1,)),
    ((2, 3, 4), (1,)),
])
def test_rev(dtype, shape, dimensions):
    x = make(shape, dtype)
    check(lambda x: rev(x, dimensions), lambda x: lax.rev(x, dimensions), x)


@pytest.mark.parametrize("shapes, dimension", [
    ([(3,)], 0),
    ([(2, 3), (4, 3)], 0),
    ([(2, 3), (2, 0), (2, 1)], 1),
    ([(0, 2), (0, 2)], 0),
    ([(2, 1, 2), (2, 3, 2), (2, 1, 2), (2, 2, 2)], 1),
])
def test_concatenate(dtype, shapes, dimension):
    xs = [make(s, dtype, seed) for seed, s in enumerate(shapes)]
    program = check(lambda *xs: concatenate(xs, dimension),
                    lambda *xs: lax.concatenate(xs, dimension), *xs)
    assert len(program.eqns[0].inputs) == len(xs)  # operands are positional


@pytest.mark.parametrize("shape, config", [
    ((), ()),
    ((3,), ((1, 2, 0),)),
    ((3,), ((-1, -1, 0),)),
    ((3,), ((-2, 1, 2),)),
    ((4,), ((-4, 0, 0),)),
    ((3,), ((-3, -2, 1),)),
    ((2, 3), ((0, 0, 1), (1, -2, 0))),
    ((0,), ((1, 1, 2),)),
    ((2, 0, 3), ((1, 0, 0), (0, 2, 3), (0, 0, 0))),
])
def test_pad(dtype, shape, config):
    x, value = make(shape, dtype, 0), make((), dtype, 1)
    check(lambda x, v: pad(x, v, config), lambda x, v: lax.pad(x, v, config), x, value)


@pytest.mark.parametrize("iota_dtype", ["int32", "float32", "float64", "uint8", "int16"])
@pytest.mark.parametrize("size", [0, 1, 5])
def test_iota(request, iota_dtype, size):
    if iota_dtype == "float64":
        request.getfixturevalue("x64")
    check(lambda: iota(iota_dtype, size), lambda: lax.iota(iota_dtype, size))


@pytest.mark.parametrize("iota_dtype", ["int32", "float32", "float64"])
@pytest.mark.parametrize("shape, dimension", [
    ((5,), 0), ((2, 3), 0), ((2, 3), 1), ((0, 4), 1), ((2, 3, 4), 2),
])
def test_broadcasted_iota(request, iota_dtype, shape, dimension):
    if iota_dtype == "float64":
        request.getfixturevalue("x64")
    program = check(lambda: broadcasted_iota(iota_dtype, shape, dimension),
                    lambda: lax.broadcasted_iota(iota_dtype, shape, dimension))
    (eqn,) = program.eqns
    assert eqn.primitive.name == "iota" and eqn.inputs == ()
    assert eqn.params == {"dtype": np.dtype(iota_dtype), "shape": shape, "dimension": dimension}


def test_iota_python_types_mean_the_default_dtypes(request):
    check(lambda: iota(int, 3), lambda: lax.iota(int, 3))
    check(lambda: iota(float, 3), lambda: lax.iota(float, 3))
    request.getfixturevalue("x64")
    check(lambda: iota(int, 3), lambda: lax.iota(int, 3))


# -- weak types ------------------------------------------------------------------------------

SINGLE_OPERAND_CASES = {
    "broadcast_in_dim": (lambda x: broadcast_in_dim(x, (2, 3), (1,)),
                         lambda x: lax.broadcast_in_dim(x, (2, 3), (1,))),
    "reshape": (lambda x: reshape(x, (3, 1)), lambda x: lax.reshape(x, (3, 1))),
    "transpose": (lambda x: transpose(x, (0,)), lambda x: lax.transpose(x, (0,))),
    "expand_dims": (lambda x: expand_dims(x, (0,)), lambda x: lax.expand_dims(x, (0,))),
    "rev": (lambda x: rev(x, (0,)), lambda x: lax.rev(x, (0,))),
    "squeeze": (lambda x: squeeze(reshape(x, (1, 3)), (0,)),
                lambda x: lax.squeeze(lax.reshape(x, (1, 3)), (0,))),
}


@pytest.mark.parametrize("name", SINGLE_OPERAND_CASES)
@pytest.mark.parametrize("weak", [False, True])
def test_shape_ops_keep_the_weak_type(name, weak):
    fgrad_fn, jax_fn = SINGLE_OPERAND_CASES[name]
    x = make((3,), np.dtype("float32"), weak=weak)
    check(fgrad_fn, jax_fn, x)
    assert aval_of(fgrad_fn(x)).weak_type == weak


@pytest.mark.parametrize("weak_x, weak_y", [(True, True), (True, False), (False, True)])
def test_joining_is_weak_only_when_every_operand_is(weak_x, weak_y):
    f32 = np.dtype("float32")
    x, y = make((3,), f32, 0, weak_x), make((2,), f32, 1, weak_y)
    check(lambda x, y: concatenate([x, y], 0), lambda x, y: lax.concatenate([x, y], 0), x, y)
    value = make((), f32, 2, weak_y)
    check(lambda x, v: pad(x, v, [(1, 1, 1)]), lambda x, v: lax.pad(x, v, [(1, 1, 1)]),
          x, value)


def test_python_scalar_operands():
    check(lambda: broadcast_in_dim(2.0, (2, 3), ()), lambda: lax.broadcast_in_dim(2.0, (2, 3), ()))
    check(lambda: expand_dims(7, (0,)), lambda: lax.expand_dims(7, (0,)))
    x = make((3,), np.dtype("float32"))
    check(lambda x: pad(x, 0.0, [(1, 1, 0)]), lambda x: lax.pad(x, 0.0, [(1, 1, 0)]), x)


# -- params ----------------------------------------------------------------------------------


def test_params_are_tuples_of_python_ints():
    x = make((3,), np.dtype("float32"))

    def f(x):
        y = broadcast_in_dim(x, np.array([2, 3]), [np.int64(1)])
        y = transpose(y, np.array([1, 0]))
        y = pad(y, np.float32(0), [[np.int32(1), 0, 0], (0, 0, np.int64(1))])
        y = expand_dims(y, [-1])
        return concatenate([y, y], np.int64(2))

    program, _ = trace_to_program(f, [x], "make_ir")
    typecheck(program)
    hash(program)
    for eqn in program.eqns:
        for value in eqn.params.values():
            flat = value if isinstance(value, tuple) else (value,)
            flat = [v for item in flat for v in (item if isinstance(item, tuple) else (item,))]
            assert all(type(v) is int for v in flat), eqn
    assert program.eqns[0].params == {"shape": (2, 3), "broadcast_dimensions": (1,)}
    assert program.eqns[2].params == {"padding_config": ((1, 0, 0), (0, 0, 1))}
    assert program.eqns[3].params == {"dimensions": (2,)}


def test_reshape_with_dimensions_transposes_first():
    x = make((2, 3), np.dtype("float32"))
    program = check(lambda x: reshape(x, (6,), (1, 0)), lambda x: lax.reshape(x, (6,), (1, 0)),
                    x)
    assert [e.primitive.name for e in program.eqns] == ["transpose", "reshape"]
    program = check(lambda x: reshape(x, (6,), (0, 1)), lambda x: lax.reshape(x, (6,), (0, 1)),
                    x)
    assert [e.primitive.name for e in program.eqns] == ["reshape"]


# -- errors ----------------------------------------------------------------------------------

F32_2x3 = jnp.zeros((2, 3), jnp.float32)


def test_broadcast_in_dim_errors():
    x = F32_2x3
    check_error(lambda: broadcast_in_dim(x, (2, 3), (0,)),
                "broadcast_dimensions (0,) has 1 entries but the operand has rank 2",
                "broadcast_in_dim", "f32[2,3]")
    check_error(lambda: broadcast_in_dim(x, (2, 3), (0, 2)),
                "broadcast dimension 2 is out of range for rank 2", "f32[2,3]")
    check_error(lambda: broadcast_in_dim(x, (3, 2), (1, 0)),
                "broadcast_dimensions (1, 0) must be strictly increasing")
    check_error(lambda: broadcast_in_dim(x, (2, 4), (0, 1)),
                "operand dimension 1 has size 3, which cannot broadcast to size 4")
    check_error(lambda: broadcast_in_dim(x, (2, -3), (0, 1)),
                "shape (2, -3) must hold integers >= 0")
    check_error(lambda: broadcast_in_dim(x, (2, 3, 4), (0, 1.5)),
                "broadcast dimensions (0, 1.5) must hold integers, but it holds 1.5")


def test_reshape_errors():
    x = F32_2x3
    check_error(lambda: reshape(x, (4, 2)),
                "new_sizes (4, 2) hold 8 elements but the operand holds 6", "reshape",
                "f32[2,3]")
    check_error(lambda: reshape(x, (-2, -3)), "new_sizes (-2, -3) must hold integers >= 0")
    check_error(lambda: reshape(x, (6,), (0, 0)),
                "permutation (0, 0) is not a permutation of the operand's 2 dimensions",
                "transpose", "f32[2,3]")


def test_transpose_errors():
    check_error(lambda: transpose(F32_2x3, (0,)),
                "permutation (0,) is not a permutation of the operand's 2 dimensions",
                "transpose", "f32[2,3]")
    check_error(lambda: transpose(F32_2x3, (1, 2)), "(1, 2) is not a permutation")


def test_squeeze_errors():
    check_error(lambda: squeeze(F32_2x3, (1,)), "dimension 1 has size 3", "squeeze", "f32[2,3]",
                "Only dimensions of size 1 can be squeezed")
    check_error(lambda: squeeze(F32_2x3, (2,)), "dimension 2 is out of range for rank 2")
    check_error(lambda: squeeze(F32_2x3, (-3,)), "dimension -3 is out of range for rank 2")
    x = jnp.zeros((1, 3))
    check_error(lambda: squeeze(x, (0, -2)), "dimensions (0, 0) repeat a value")


def test_expand_dims_errors():
    check_error(lambda: expand_dims(F32_2x3, (3, 4)), "dimension 4 is out of range for rank 4",
                "expand_dims", "f32[2,3]")
    check_error(lambda: expand_dims(F32_2x3, (-4,)), "dimension -4 is out of range for rank 3")
    # 3 and -1 name the same position of the rank-4 result
    check_error(lambda: expand_dims(F32_2x3, (3, -1)), "dimensions (3, 3) repeat a value")


def test_rev_errors():
    check_error(lambda: rev(F32_2x3, (2,)), "dimension 2 is out of range for rank 2", "rev",
                "f32[2,3]")
    check_error(lambda: rev(F32_2x3, (-1,)), "dimension -1 is out of range for rank 2")
    check_error(lambda: rev(F32_2x3, (1, 1)), "dimensions (1, 1) repeat a value")


def test_concatenate_errors():
    x, i = F32_2x3, jnp.zeros((2, 3), jnp.int32)
    check_error(lambda: concatenate([x, i], 0), "the dtypes differ", "concatenate",
                "f32[2,3], i32[2,3]")
    check_error(lambda: concatenate([x, jnp.zeros((2, 4))], 0),
                "the shapes differ outside dimension 0", "f32[2,3], f32[2,4]")
    check_error(lambda: concatenate([x, jnp.zeros((2, 3, 1))], 0), "the operands' ranks differ")
    check_error(lambda: concatenate([x, x], 2), "dimension 2 is out of range for rank 2")
    check_error(lambda: concatenate([x, x], -1), "dimension -1 is out of range for rank 2")
    s = jnp.float32(1)
    check_error(lambda: concatenate([s, s], 0), "rank-0 arrays have no dimension")
    check_error(lambda: concatenate([], 0), "there is nothing to concatenate")


def test_pad_errors():
    x, zero = F32_2x3, jnp.float32(0)
    no_pad = (0, 0, 0)
    check_error(lambda: pad(x, jnp.zeros(1), [no_pad, no_pad]),
                "the padding value must be a scalar", "pad", "f32[2,3], f32[1]")
    check_error(lambda: pad(x, jnp.int32(0), [no_pad, no_pad]),
                "the padding value's dtype differs", "f32[2,3], i32[]")
    check_error(lambda: pad(x, zero, [no_pad]), "padding_config has 1 entries but the operand "
                "has rank 2")
    check_error(lambda: pad(x, zero, [no_pad, (0, 0, -1)]),
                "interior padding -1 of dimension 1 is negative")
    check_error(lambda: pad(x, zero, [(-2, -1, 0), no_pad]),
                "dimension 0 would have size -1 after padding (-2, -1, 0)")
    check_error(lambda: pad(x, zero, [no_pad, (1, 2)]), "padding_config entry 1 is (1, 2), not "
                "a (low, high, interior) triple")


def test_iota_errors():
    check_error(lambda: iota(np.bool_, 3), "iota: iota counts in numbers, not bool")
    check_error(lambda: broadcasted_iota(np.int32, (2, 3), 2),
                "iota: dimension 2 is out of range for rank 2")
    check_error(lambda: broadcasted_iota(np.int32, (), 0),
                "dimension 0 is out of range for rank 0")
    check_error(lambda: iota(np.int32, -1), "shape (-1,) must hold integers >= 0")


def test_iota_refuses_unavailable_64_bit_dtypes():
    assert not jax.config.read("jax_enable_x64")
    check_error(lambda: iota(np.int64, 3), "iota: dtype int64 is not available",
                "jax_enable_x64")


def test_errors_inside_a_trace_name_the_users_line():
    def f(x):
        return reshape(x, (5,))  # the error must point here
    line = f.__code__.co_firstlineno + 1
    with pytest.raises(ShapeDtypeError, match="reshape") as info:
        trace_to_program(f, [F32_2x3], "make_ir")
    assert f"{HERE}:{line}" in str(info.value)
