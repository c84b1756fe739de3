"""Batching dot_general, against jax.vmap of the same jax.lax call: both operands batched
(one more batch dimension), only one batched (the batch folds into that side's free
dimensions, the other side stays unbatched), batch axes anywhere, always exactly one
dot_general; the batched programs typecheck and evaluate to the same numbers; batching
composes with grad and with itself."""

import jax
import numpy as np
import pytest

import fgrad
from fgrad import lax as fl
from fgrad.core import eval_program, trace_to_program, typecheck
from fgrad.core.dtypes import convert_weak
from oracle import rotating

B = 5  # the batch size throughout
rng = np.random.default_rng(1)


def batched(shape, axis, dtype=np.float32):
    """Random data for one operand of `shape` per example, batched along `axis` (None: one
    value for all examples)."""
    if axis is not None:
        shape = list(shape)
        shape.insert(axis % (len(shape) + 1), B)
    if np.issubdtype(dtype, np.integer):
        return rng.integers(-20, 20, size=tuple(shape)).astype(dtype)
    return rng.normal(size=tuple(shape)).astype(dtype)


def check(lhs, rhs, in_axes, out_axes=0, **params):
    ours = fgrad.vmap(lambda a, b: fl.dot_general(a, b, **params), in_axes=in_axes,
                      out_axes=out_axes)
    want = jax.vmap(lambda a, b: jax.lax.dot_general(a, b, **params), in_axes=in_axes,
                    out_axes=out_axes)(lhs, rhs)
    got = ours(lhs, rhs)
    prog, _ = trace_to_program(ours, [lhs, rhs], "make_ir")
    typecheck(prog)
    (traced,) = eval_program(prog, lhs, rhs)
    for result in (got, traced):
        assert result.shape == want.shape
        assert result.dtype == want.dtype
        assert result.weak_type == want.weak_type
        np.testing.assert_allclose(np.asarray(result), np.asarray(want), rtol=1e-5, atol=1e-5)
    names = [e.primitive.name for e in prog.eqns]
    # One dot_general on the operands as they came: nothing moved or broadcast them first
    # (vmap alone may move the result's batch axis to out_axes afterwards).
    assert names[0] == "dot_general" and names.count("dot_general") == 1, names
    return prog


CASES = {
    "matmul": ((3, 4), (4, 2), (((1,), (0,)), ((), ()))),
    "batched matmul": ((2, 3, 4), (2, 4, 6), (((2,), (1,)), ((0,), (0,)))),
    "batch and contraction anywhere": ((4, 2, 3), (3, 6, 2), (((2,), (0,)), ((1,), (2,)))),
    "outer product": ((3,), (4,), (((), ()), ((), ()))),
    "inner product": ((4,), (4,), (((0,), (0,)), ((), ()))),
    "two contractions": ((2, 3, 4), (4, 3), (((1, 2), (1, 0)), ((), ()))),
    "contract everything on lhs": ((3, 4), (4, 2, 3), (((0, 1), (2, 0)), ((), ()))),
}

IN_AXES = [(0, 0), (1, -1), (-1, -1), (0, None), (None, 0), (1, None), (None, 1),
           (-1, None), (None, -1), (-1, 0)]


# The default run checks each case with a third of the batchings, rotating, so every case
# and every batching stays covered; `-m slow` runs the other pairs.
@pytest.mark.parametrize("case, in_axes", rotating(list(CASES), {str(a): a for a in IN_AXES},
                                                   every=3))
def test_dot_general_against_jax(case, in_axes):
    lhs_shape, rhs_shape, numbers = CASES[case]
    lhs, rhs = batched(lhs_shape, in_axes[0]), batched(rhs_shape, in_axes[1])
    check(lhs, rhs, in_axes, dimension_numbers=numbers)


# The default run pairs each batching with one out_axes, rotating; `-m slow` runs the rest.
@pytest.mark.parametrize("in_axes, out_axes", rotating(
    {str(a): a for a in [(0, None), (None, 2), (2, 1)]}, [0, -1, 1], every=3))
def test_out_axes(in_axes, out_axes):
    lhs_shape, rhs_shape, numbers = CASES["batched matmul"]
    lhs, rhs = batched(lhs_shape, in_axes[0]), batched(rhs_shape, in_axes[1])
    check(lhs, rhs, in_axes, out_axes, dimension_numbers=numbers)


def test_unbatched_operand_stays_unbatched():
    # A matrix applied to a batch of vectors: the weights are used as they are, never
    # broadcast to the batch.
    weights, xs = batched((3, 4), None), batched((4,), 0)
    prog = check(weights, xs, (None, 0), dimension_numbers=(((1,), (0,)), ((), ())))
    (eqn,) = [e for e in prog.eqns if e.primitive.name == "dot_general"]
    assert eqn.inputs[0].aval.shape == (3, 4)
    assert eqn.params["dimension_numbers"] == (((1,), (1,)), ((), ()))


def test_both_batched_gains_a_batch_dimension():
    lhs, rhs = batched((3, 4), 1), batched((4, 2), -1)
    prog = check(lhs, rhs, (1, -1), dimension_numbers=(((1,), (0,)), ((), ())))
    (eqn,) = prog.eqns
    assert eqn.params["dimension_numbers"] == (((2,), (0,)), ((1,), (2,)))


@pytest.mark.parametrize("in_axes", [(0, 0), (None, 1), (1, None)], ids=str)
def test_preferred_element_type_and_precision(in_axes):
    lhs = batched((3, 4), in_axes[0], np.int8)
    rhs = batched((4, 2), in_axes[1], np.int8)
    check(lhs, rhs, in_axes, dimension_numbers=(((1,), (0,)), ((), ())),
          preferred_element_type=np.int32)
    lhs, rhs = batched((3, 4), in_axes[0]), batched((4, 2), in_axes[1])
    check(lhs, rhs, in_axes, dimension_numbers=(((1,), (0,)), ((), ())),
          precision=jax.lax.Precision.HIGHEST)


@pytest.mark.parametrize("lhs_weak, rhs_weak", [(True, True), (True, False)])
def test_weak_types(lhs_weak, rhs_weak):
    lhs, rhs = batched((3, 4), 0), batched((4,), None)
    lhs = convert_weak(lhs) if lhs_weak else lhs
    rhs = convert_weak(rhs) if rhs_weak else rhs
    check(lhs, rhs, (0, None), dimension_numbers=(((1,), (0,)), ((), ())))


# -- composition ----------------------------------------------------------------------------

MATMUL = (((1,), (0,)), ((), ()))


def loss(lib, w, x):
    y = lib.dot_general(x, w, MATMUL)
    return lib.reduce_sum(lib.mul(y, y), (0, 1))


def test_vmap_of_grad_per_example_gradients():
    w, xs = batched((4, 2), None), batched((3, 4), 0)
    got = fgrad.vmap(fgrad.grad(lambda a, b: loss(fl, a, b)), in_axes=(None, 0))(w, xs)
    want = jax.vmap(jax.grad(lambda a, b: loss(jax.lax, a, b)), in_axes=(None, 0))(w, xs)
    assert got.shape == want.shape == (B, 4, 2)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5)


def test_grad_of_a_vmapped_sum():
    def total(lib, vmap, w, xs):
        return lib.reduce_sum(vmap(lambda x: loss(lib, w, x), in_axes=-1)(xs), (0,))

    w, xs = batched((4, 2), None), batched((3, 4), -1)
    got = fgrad.grad(lambda a, b: total(fl, fgrad.vmap, a, b), argnums=(0, 1))(w, xs)
    want = jax.grad(lambda a, b: total(jax.lax, jax.vmap, a, b), argnums=(0, 1))(w, xs)
    for g, v in zip(got, want):
        assert g.shape == v.shape
        np.testing.assert_allclose(np.asarray(g), np.asarray(v), rtol=1e-5)


def test_nested_vmap_is_still_one_dot_general():
    # The inner vmap batches lhs only; the outer one batches both.
    def f(lib, a, b):
        return lib.dot_general(a, b, MATMUL)

    lhs = rng.normal(size=(3, 6, 4, B)).astype(np.float32)  # example (3, 4)
    rhs = rng.normal(size=(4, B, 2)).astype(np.float32)  # example (4, 2)
    inner, outer = dict(in_axes=(1, None)), dict(in_axes=(-1, 1))
    ours = fgrad.vmap(fgrad.vmap(lambda a, b: f(fl, a, b), **inner), **outer)
    want = jax.vmap(jax.vmap(lambda a, b: f(jax.lax, a, b), **inner), **outer)(lhs, rhs)
    got = ours(lhs, rhs)
    assert got.shape == want.shape
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5)
    names = [e.primitive.name for e in fgrad.make_ir(ours)(lhs, rhs).eqns]
    assert names.count("dot_general") == 1, names
