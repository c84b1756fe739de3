"""Batching rules of the shape primitives and the reductions, against jax.vmap of the same
jax.lax call: values, shapes, dtypes and weak types, for batch axes at the front, inside, at
the end (negative) and absent; the batched programs typecheck and evaluate to the same
numbers; and batching composes with grad and with itself."""

import jax
import numpy as np
import pytest

import fgrad
from fgrad import lax as fl
from fgrad.core import eval_program, trace_to_program, typecheck
from fgrad.core.dtypes import convert_weak
from oracle import rotating

B = 5  # the batch size throughout
rng = np.random.default_rng(0)


def batched(shape, axis, dtype=np.float32):
    """Random data for one operand of `shape` per example, batched along `axis` (None: one
    value for all examples)."""
    if axis is not None:
        shape = list(shape)
        shape.insert(axis % (len(shape) + 1), B)
    return rng.normal(size=tuple(shape)).astype(dtype)


def weak(x):
    return convert_weak(x)


def check(fgrad_fun, jax_fun, args, in_axes, out_axes=0):
    """fgrad.vmap(fgrad_fun) agrees with jax.vmap(jax_fun) eagerly and as a program."""
    ours = fgrad.vmap(fgrad_fun, in_axes=in_axes, out_axes=out_axes)
    want = jax.vmap(jax_fun, in_axes=in_axes, out_axes=out_axes)(*args)
    got = ours(*args)
    prog, _ = trace_to_program(ours, list(args), "make_ir")
    typecheck(prog)
    (traced,) = eval_program(prog, *args)
    for result in (got, traced):
        assert result.shape == want.shape
        assert result.dtype == want.dtype
        # jax.vmap hands back a NumPy input untouched (an identity transpose): never weak
        assert getattr(result, "weak_type", False) == getattr(want, "weak_type", False)
        if np.issubdtype(want.dtype, np.floating):
            np.testing.assert_allclose(np.asarray(result), np.asarray(want), rtol=1e-5,
                                       atol=1e-6)
        else:
            np.testing.assert_array_equal(np.asarray(result), np.asarray(want))
    return prog


def assert_applied_once_in_place(prog, name):
    """The batched program applies `name` once, to the operand as it came (nothing moved its
    batch axis first; vmap may still move the result's to out_axes afterwards)."""
    names = [e.primitive.name for e in prog.eqns]
    assert names[0] == name and names.count(name) == 1, names


# -- broadcast_in_dim, reshape, transpose, squeeze, expand_dims, rev --------------------------

@pytest.mark.parametrize("axis", [0, 1, 2, -1])
@pytest.mark.parametrize("shape, target, dims", [
    ((3, 1), (2, 3, 4), (1, 2)),
    ((4,), (4, 2), (0,)),
    ((1, 1), (3, 2), (0, 1)),
])
def test_broadcast_in_dim(axis, shape, target, dims):
    if axis == 2 and len(shape) < 2:
        axis = 1
    x = batched(shape, axis)
    check(lambda v: fl.broadcast_in_dim(v, target, dims),
          lambda v: jax.lax.broadcast_in_dim(v, target, dims), [x], axis)


def test_broadcast_in_dim_of_a_scalar_and_a_weak_operand():
    x = weak(batched((), 0))
    check(lambda v: fl.broadcast_in_dim(v, (2, 3), ()),
          lambda v: jax.lax.broadcast_in_dim(v, (2, 3), ()), [x], 0)


@pytest.mark.parametrize("axis", [0, 1, 3, -1, -2])
@pytest.mark.parametrize("new_sizes", [(6, 4), (4, 6), (24,), (2, 1, 12)])
def test_reshape(axis, new_sizes):
    x = batched((2, 3, 4), axis)
    check(lambda v: fl.reshape(v, new_sizes), lambda v: jax.lax.reshape(v, new_sizes),
          [x], axis)


@pytest.mark.parametrize("axis", [0, 1, 2, 3, -1])
@pytest.mark.parametrize("perm", [(2, 0, 1), (0, 1, 2), (1, 0, 2), (2, 1, 0)])
def test_transpose_is_one_transpose(axis, perm):
    x = batched((2, 3, 4), axis)
    prog = check(lambda v: fl.transpose(v, perm), lambda v: jax.lax.transpose(v, perm),
                 [x], axis)
    assert_applied_once_in_place(prog, "transpose")


@pytest.mark.parametrize("axis", [0, 1, 2, 3, 4, -1, -3])
@pytest.mark.parametrize("dims", [(0, 2), (0,), (2,), ()])
def test_squeeze_keeps_the_batch_axis_in_place(axis, dims):
    x = batched((1, 3, 1, 4), axis)
    prog = check(lambda v: fl.squeeze(v, dims), lambda v: jax.lax.squeeze(v, dims), [x], axis)
    assert_applied_once_in_place(prog, "squeeze")


# The default run keeps half of the (batch axis, dims) pairs, rotating; `-m slow` the rest.
@pytest.mark.parametrize("axis, dims", rotating(
    [0, 1, 2, -1], [(0,), (1,), (2,), (0, 2), (1, 2), (0, 3), (-1,), (0, 1, 2, 3)], every=2))
def test_expand_dims_needs_no_transpose(axis, dims):
    x = batched((3, 4), axis)
    prog = check(lambda v: fl.expand_dims(v, dims), lambda v: jax.lax.expand_dims(v, dims),
                 [x], axis)
    assert_applied_once_in_place(prog, "expand_dims")


def test_expand_dims_of_a_scalar():
    x = batched((), 0)
    check(lambda v: fl.expand_dims(v, (0, 1)), lambda v: jax.lax.expand_dims(v, (0, 1)),
          [x], 0)


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
@pytest.mark.parametrize("dims", [(0,), (1,), (0, 1), ()])
def test_rev(axis, dims):
    x = batched((3, 4), axis)
    check(lambda v: fl.rev(v, dims), lambda v: jax.lax.rev(v, dims), [x], axis, out_axes=-1)


# -- concatenate ----------------------------------------------------------------------------

@pytest.mark.parametrize("in_axes", [(0, 0, 0), (1, None, -1), (None, 0, None), (-1, 2, None),
                                     (None, None, 1)])
@pytest.mark.parametrize("dimension", [0, 1])
def test_concatenate_broadcasts_unbatched_operands(in_axes, dimension):
    sizes = (2, 4, 1)
    shapes = [(n, 3) if dimension == 0 else (3, n) for n in sizes]
    args = [batched(s, a) for s, a in zip(shapes, in_axes)]
    check(lambda *xs: fl.concatenate(xs, dimension),
          lambda *xs: jax.lax.concatenate(xs, dimension), args, in_axes)


def test_concatenate_is_weak_only_when_every_operand_is():
    a, b = weak(batched((2,), 0)), weak(batched((3,), None))
    check(lambda x, y: fl.concatenate([x, y], 0), lambda x, y: jax.lax.concatenate([x, y], 0),
          [a, b], (0, None))
    check(lambda x, y: fl.concatenate([x, y], 0), lambda x, y: jax.lax.concatenate([x, y], 0),
          [a, batched((3,), None)], (0, None))


# -- pad --------------------------------------------------------------------------------------

PAD_CONFIGS = [
    ((1, 2, 1), (-1, 0, 0)),
    ((0, 0, 0), (2, 1, 2)),
    ((-1, -1, 1), (0, 3, 0)),
]


# The default run checks each batching with one of the PAD_CONFIGS, rotating, so every
# configuration and batching stays covered; `-m slow` runs the other pairs.
@pytest.mark.parametrize("in_axes, config", rotating(
    [(0, None), (1, None), (-1, None), (None, 0), (0, 0), (2, 0), (-2, 0)], PAD_CONFIGS,
    every=3))
def test_pad(config, in_axes):
    x = batched((3, 4), in_axes[0])
    value = batched((), in_axes[1])
    check(lambda v, p: fl.pad(v, p, config), lambda v, p: jax.lax.pad(v, p, config),
          [x, value], in_axes)


def test_pad_with_an_unbatched_value_is_one_pad():
    x, value = batched((3, 4), 1), np.float32(7)
    prog = check(lambda v, p: fl.pad(v, p, PAD_CONFIGS[0]),
                 lambda v, p: jax.lax.pad(v, p, PAD_CONFIGS[0]), [x, value], (1, None))
    assert_applied_once_in_place(prog, "pad")


def test_batched_padding_values_keep_special_operand_values():
    # Each example's own value fills its padding, while the operand's -0.0, inf and NaN
    # come through untouched (adding a masked value would turn -0.0 into 0.0).
    x = np.array([[-0.0, np.inf, np.nan]] * B, np.float32)
    values = np.array([np.nan, -np.inf, -0.0, 1.5, 0.0], np.float32)
    config = ((2, 1, 1),)
    want = jax.vmap(lambda v, p: jax.lax.pad(v, p, config))(x, values)
    got = fgrad.vmap(lambda v, p: fl.pad(v, p, config))(x, values)
    np.testing.assert_array_equal(np.signbit(np.asarray(got)), np.signbit(np.asarray(want)))
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


@pytest.mark.parametrize("operand_weak, value_weak", [(True, True), (True, False),
                                                      (False, True)])
def test_pad_weak_types(operand_weak, value_weak):
    x, value = batched((3,), 0), batched((), 0)
    x = weak(x) if operand_weak else x
    value = weak(value) if value_weak else value
    check(lambda v, p: fl.pad(v, p, ((1, 1, 1),)), lambda v, p: jax.lax.pad(v, p, ((1, 1, 1),)),
          [x, value], (0, 0))


def test_pad_of_integers_and_of_a_scalar_operand():
    x = rng.integers(-9, 9, (B, 2, 3)).astype(np.int32)
    value = np.arange(B, dtype=np.int32)
    check(lambda v, p: fl.pad(v, p, ((1, 0, 1), (0, 2, 0))),
          lambda v, p: jax.lax.pad(v, p, ((1, 0, 1), (0, 2, 0))), [x, value], (0, 0))
    check(lambda v, p: fl.pad(v, p, ()), lambda v, p: jax.lax.pad(v, p, ()),
          [np.float32(3), batched((), 0)], (None, 0))


# -- iota: no operands, so never batched itself --------------------------------------------------

def test_iota_inside_a_batched_function():
    x = batched((3, 4), 1)
    check(lambda v: fl.add(v, fl.broadcasted_iota(np.float32, (3, 4), 1)),
          lambda v: jax.lax.add(v, jax.lax.broadcasted_iota(np.float32, (3, 4), 1)), [x], 1)


# -- reductions -----------------------------------------------------------------------------

REDUCTIONS = ["reduce_sum", "reduce_max", "reduce_min", "reduce_prod"]


# The default run keeps a third of the (reduction, batch axis, axes) grid, rotating, so
# each reduction meets every batch axis and every `axes` twice; `-m slow` runs the rest.
@pytest.mark.parametrize("name, axis, axes", rotating(
    REDUCTIONS, [0, 1, 2, 3, -1, -3], [(0,), (1,), (2,), (0, 2), (0, 1, 2), ()], every=3))
def test_reductions_shift_their_axes(name, axis, axes):
    x = batched((2, 3, 4), axis)
    prog = check(lambda v: getattr(fl, name)(v, axes),
                 lambda v: getattr(jax.lax, name)(v, axes), [x], axis)
    assert_applied_once_in_place(prog, name)


@pytest.mark.parametrize("name", REDUCTIONS)
def test_reductions_of_integers_and_weak_values(name):
    x = rng.integers(-3, 4, (2, B, 3)).astype(np.int32)
    check(lambda v: getattr(fl, name)(v, (1,)), lambda v: getattr(jax.lax, name)(v, (1,)),
          [x], 1)
    check(lambda v: getattr(fl, name)(v, (0,)), lambda v: getattr(jax.lax, name)(v, (0,)),
          [weak(batched((3,), 0))], 0)


# The default run keeps a third of the grid, rotating, so every function, batch axis,
# reduced axis and index dtype stays covered; `-m slow` runs the rest.
@pytest.mark.parametrize("name, axis, reduced, index_dtype", rotating(
    ["argmax", "argmin"], [0, 1, 2, 3, -1], [0, 1, 2], [np.int32, np.int8], every=3))
def test_argmax_argmin(name, axis, reduced, index_dtype):
    # Few distinct values, so ties occur and the first position must win.
    x = rng.integers(0, 3, size=np.shape(batched((2, 3, 4), axis))).astype(np.float32)
    prog = check(lambda v: getattr(fl, name)(v, reduced, index_dtype),
                 lambda v: getattr(jax.lax, name)(v, reduced, index_dtype), [x], axis)
    assert_applied_once_in_place(prog, name)


# The default run keeps half of the grid, rotating; `-m slow` runs the rest.
@pytest.mark.parametrize("axis, summed, reverse", rotating([0, 1, 2, -1], [0, 1], [False, True],
                                                           every=2))
def test_cumsum(axis, summed, reverse):
    x = batched((3, 4), axis)
    prog = check(lambda v: fl.cumsum(v, summed, reverse),
                 lambda v: jax.lax.cumsum(v, summed, reverse), [x], axis, out_axes=axis)
    assert_applied_once_in_place(prog, "cumsum")


# -- composition ----------------------------------------------------------------------------

def test_vmap_of_grad_through_cumsum_reshape_and_max():
    def f(lib, x):
        y = lib.cumsum(lib.reshape(x, (2, 6)), 1)
        return lib.reduce_sum(lib.mul(y, y), (0, 1)) + lib.reduce_max(x, (0, 1))

    xs = batched((3, 4), 1)
    got = fgrad.vmap(fgrad.grad(lambda x: f(fl, x)), in_axes=1)(xs)
    want = jax.vmap(jax.grad(lambda x: f(jax.lax, x)), in_axes=1)(xs)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5)


def test_grad_of_a_vmapped_pad_with_batched_padding_values():
    def loss(lib, vmap, x, values):
        padded = vmap(lambda v, p: lib.pad(v, p, ((1, 2, 1), (-1, 1, 0))), in_axes=(-1, 0))(
            x, values)
        return lib.reduce_sum(lib.mul(padded, padded), (0, 1, 2))

    x, values = batched((3, 4), -1), batched((), 0)
    got = fgrad.grad(lambda a, b: loss(fl, fgrad.vmap, a, b), argnums=(0, 1))(x, values)
    want = jax.grad(lambda a, b: loss(jax.lax, jax.vmap, a, b), argnums=(0, 1))(x, values)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5)


def test_nested_vmap_of_concatenate_and_transpose():
    def f(lib, x, y):
        return lib.transpose(lib.concatenate([x, y], 0), (1, 0))

    # x: examples (2, 3) under an inner batch at axis 1 (size 3) and an outer one at -1 (4);
    # y: examples (1, 3) shared by the inner batch, the outer batch at axis 1 (size 4).
    x = rng.normal(size=(2, 3, 3, 4)).astype(np.float32)
    y = rng.normal(size=(1, 4, 3)).astype(np.float32)
    inner = dict(in_axes=(1, None))
    outer = dict(in_axes=(-1, 1))
    got = fgrad.vmap(fgrad.vmap(lambda a, b: f(fl, a, b), **inner), **outer)(x, y)
    want = jax.vmap(jax.vmap(lambda a, b: f(jax.lax, a, b), **inner), **outer)(x, y)
    assert got.shape == want.shape
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)


def test_nested_vmap_of_reductions_and_squeeze():
    def f(lib, x):
        return lib.reduce_sum(lib.squeeze(x, (1,)), (0,))

    x = rng.normal(size=(2, 1, 3, 4)).astype(np.float32)
    got = fgrad.vmap(fgrad.vmap(lambda a: f(fl, a), in_axes=-1), in_axes=2)(x)
    want = jax.vmap(jax.vmap(lambda a: f(jax.lax, a), in_axes=-1), in_axes=2)(x)
    assert got.shape == want.shape
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)
