"""Derivatives of the shape and reduction primitives against JAX's: forward and reverse mode,
second order, finite differences, the traced forms, and JAX's values at ties and zeros."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import fgrad
import oracle
from fgrad import lax as fl
from fgrad.core import aval_of
from fgrad.core.dtypes import convert_weak
from fgrad.testing import check_grads
from oracle import rand

pytestmark = pytest.mark.usefixtures("x64")
f64 = np.dtype("float64")
TOLERANCE = dict(rtol=1e-10, atol=1e-12)  # float64 rounding
assert_same = functools.partial(oracle.assert_same, **TOLERANCE)
assert_trees_same = functools.partial(oracle.assert_trees_same, **TOLERANCE)
check_first_order = functools.partial(oracle.check_first_order, **TOLERANCE)
check_second_order = functools.partial(oracle.check_second_order, **TOLERANCE)


def check_all(f, jf, args):
    args = tuple(args)
    check_first_order(f, jf, args)
    check_second_order(f, jf, args)
    check_grads(f, args, order=2)


def same(name, *params):
    """fgrad.lax.<name> and jax.lax.<name>, each applied to the arguments then `params`."""
    return (lambda *a: getattr(fl, name)(*a, *params),
            lambda *a: getattr(lax, name)(*a, *params))


# -- shapes ----------------------------------------------------------------------------------

# id: (fgrad function, JAX function, the shapes of the differentiated arguments)
SHAPES = {
    "broadcast_in_dim scalar": (*same("broadcast_in_dim", (2, 3), ()), [()]),
    "broadcast_in_dim new leading dim": (*same("broadcast_in_dim", (2, 3), (1,)), [(3,)]),
    "broadcast_in_dim stretches size 1": (*same("broadcast_in_dim", (2, 3), (0, 1)), [(1, 3)]),
    "broadcast_in_dim new and stretched": (
        *same("broadcast_in_dim", (2, 4, 3), (0, 2)), [(2, 1)]),
    "broadcast_in_dim keeps size 1": (*same("broadcast_in_dim", (1, 2, 3), (0, 2)), [(1, 3)]),
    "broadcast_in_dim identity": (*same("broadcast_in_dim", (2, 3), (0, 1)), [(2, 3)]),
    "reshape matrix": (*same("reshape", (3, 2)), [(2, 3)]),
    "reshape split": (*same("reshape", (2, 1, 3)), [(6,)]),
    "reshape scalar up": (*same("reshape", (1, 1)), [()]),
    "reshape scalar down": (*same("reshape", ()), [(1, 1)]),
    "reshape with dimensions": (*same("reshape", (6,), (1, 0)), [(2, 3)]),
    "transpose rank 3": (*same("transpose", (2, 0, 1)), [(2, 3, 4)]),
    "transpose matrix": (*same("transpose", (1, 0)), [(2, 3)]),
    "transpose scalar": (*same("transpose", ()), [()]),
    "squeeze two": (*same("squeeze", (0, 2)), [(1, 3, 1)]),
    "squeeze to scalar": (*same("squeeze", (0,)), [(1,)]),
    "squeeze negative": (*same("squeeze", (-1,)), [(2, 1)]),
    "expand_dims two": (*same("expand_dims", (0, 2)), [(3,)]),
    "expand_dims scalar": (*same("expand_dims", (0,)), [()]),
    "expand_dims negative": (*same("expand_dims", (-1,)), [(2, 3)]),
    "rev vector": (*same("rev", (0,)), [(4,)]),
    "rev both": (*same("rev", (0, 1)), [(2, 3)]),
    "rev none": (*same("rev", ()), [(2, 3)]),
    "concatenate rows": (lambda a, b, c: fl.concatenate([a, b, c], 0),
                         lambda a, b, c: lax.concatenate([a, b, c], 0),
                         [(2, 3), (1, 3), (2, 3)]),
    "concatenate columns": (lambda a, b: fl.concatenate([a, b], 1),
                            lambda a, b: lax.concatenate([a, b], 1), [(2, 1), (2, 3)]),
    "concatenate one": (lambda a: fl.concatenate([a], 0), lambda a: lax.concatenate([a], 0),
                        [(3,)]),
    "concatenate the same twice": (lambda a: fl.concatenate([a, a], 0),
                                   lambda a: lax.concatenate([a, a], 0), [(2,)]),
    "concatenate with a constant": (
        lambda a: fl.concatenate([np.ones((2, 2)), a], 1),
        lambda a: lax.concatenate([np.ones((2, 2)), a], 1), [(2, 3)]),
    "pad edges and interior": (*same("pad", [(1, 2, 1)]), [(3,), ()]),
    "pad crop low": (*same("pad", [(-1, 1, 2)]), [(3,), ()]),
    "pad crop both": (*same("pad", [(-2, -1, 0)]), [(4,), ()]),
    "pad crop into interior": (*same("pad", [(-2, -1, 2)]), [(3,), ()]),
    "pad matrix": (*same("pad", [(1, 0, 0), (0, -2, 1)]), [(2, 3), ()]),
    "pad empty operand": (*same("pad", [(2, 1, 3)]), [(0,), ()]),
    "pad scalar": (*same("pad", []), [(), ()]),
    "pad nothing": (*same("pad", [(0, 0, 0), (0, 0, 0)]), [(2, 2), ()]),
    "pad operand only": (lambda x: fl.pad(x, np.float64(0.5), [(1, -1, 1)]),
                         lambda x: lax.pad(x, np.float64(0.5), [(1, -1, 1)]), [(3,)]),
    # JAX's own pad transpose fails when only the padding value is linear (it sums the
    # operand's missing cotangent), so the reference makes the operand depend on v by 0 * v.
    "pad padding value only": (lambda v: fl.pad(np.arange(3.0), v, [(1, 1, 1)]),
                               lambda v: lax.pad(np.arange(3.0) + 0 * v, v, [(1, 1, 1)]),
                               [()]),
}


# The default run keeps each primitive's first case and its corners (an id with a word of
# CORNERS: 0-d and empty operands, negative axes, options, one operand differentiated,
# the same operand twice); `-m slow` runs every case.
CORNERS = ("scalar", "empty", "negative", "none", "dimensions", "reverse", "only", "twice")


def first_and_corners(cases):
    seen, params = set(), []
    for case in cases:
        primitive = case.split()[0]
        quick = primitive not in seen or any(word in case for word in CORNERS)
        seen.add(primitive)
        params.append(pytest.param(case, marks=() if quick else pytest.mark.slow))
    return params


@pytest.mark.parametrize("case", first_and_corners(SHAPES))
def test_shape_primitive(case):
    f, jf, shapes = SHAPES[case]
    check_all(f, jf, [rand(s, i) for i, s in enumerate(shapes)])


def weak(values):
    return convert_weak(np.asarray(values, f64))


@pytest.mark.parametrize("name, params, size", [
    ("broadcast_in_dim", ((2, 3), (1,)), 3),
    ("concatenate", None, 3),
    ("pad", (0.0, [(1, 1, 1)]), 3),
    ("rev", ((0,),), 3),
    ("reduce_sum", ((0,),), 3),
    ("cumsum", (0,), 3),
    ("reduce_max", ((0,),), 3),
    ("reduce_prod", ((0,),), 1),
    ("reduce_prod", ((0,),), 2),
    ("reduce_prod", ((0,),), 3),
    ("reduce_prod", ((0,),), 4),
])
def test_weak_types_of_tangents_and_cotangents(name, params, size):
    # A weakly typed primal has weakly typed tangents and cotangents where JAX's are.
    if name == "concatenate":
        f, jf = (lambda x: fl.concatenate([x, x], 0), lambda x: lax.concatenate([x, x], 0))
    else:
        f, jf = same(name, *params)
    x, t = weak(np.arange(1.0, size + 1)), weak(np.linspace(-1.0, 1.0, size))
    (_, got_t), (_, want_t) = fgrad.jvp(f, (x,), (t,)), jax.jvp(jf, (x,), (t,))
    assert_same(got_t, want_t)
    assert_same(fgrad.vjp(f, x)[1](want_t)[0], jax.vjp(jf, x)[1](want_t)[0])


def test_iota_has_no_tangent():
    f = lambda x: fl.broadcasted_iota(f64, (2, 3), 1)  # noqa: E731
    jf = lambda x: lax.broadcasted_iota(f64, (2, 3), 1)  # noqa: E731
    x, t = np.float64(1.0), np.float64(1.0)
    got, want = fgrad.jvp(f, (x,), (t,)), jax.jvp(jf, (x,), (t,))
    assert_same(got[0], want[0])
    assert_same(got[1], want[1])

    def weighted(x):
        return fl.reduce_sum(fl.mul(f(x), fl.broadcast_in_dim(x, (2, 3), ())), (0, 1))
    assert_same(fgrad.grad(weighted)(x), np.float64(6.0))  # the sum of the iota


def test_iota_as_a_coefficient():
    f = lambda x: fl.mul(x, fl.iota(f64, 4))  # noqa: E731
    jf = lambda x: x * lax.iota(f64, 4)  # noqa: E731
    check_all(f, jf, [rand((4,), 0)])


# JAX's answers for the linear structure operations (jax-core-notes §3, case 37)

def test_grad_of_pad_sum_in_operand_and_padding_value():
    def f(x, v):
        return fl.reduce_sum(fl.pad(x, v, [(1, 1, 1)]), (0,))
    gx, gv = fgrad.grad(f, (0, 1))(np.ones(2), np.float64(0.0))
    assert_same(gx, np.ones(2))
    assert_same(gv, np.float64(3.0))


def test_grad_of_broadcast_sum():
    g = fgrad.grad(lambda x: fl.reduce_sum(fl.broadcast_in_dim(x, (3, 2), (0, 1)), (0, 1)))
    assert_same(g(np.ones((1, 2))), np.full((1, 2), 3.0))


def test_grad_of_concatenate_sum():
    def f(x):
        return fl.reduce_sum(fl.concatenate([x, fl.mul(np.full(2, 2.0), x)], 0), (0,))
    assert_same(fgrad.grad(f)(np.ones(2)), np.full(2, 3.0))


# -- reductions ------------------------------------------------------------------------------

REDUCTIONS = {
    "reduce_sum rows": (*same("reduce_sum", (0,)), [(2, 3)]),
    "reduce_sum columns": (*same("reduce_sum", (1,)), [(2, 3)]),
    "reduce_sum all": (*same("reduce_sum", (0, 1)), [(2, 3)]),
    "reduce_sum none": (*same("reduce_sum", ()), [(2, 3)]),
    "reduce_sum scalar": (*same("reduce_sum", ()), [()]),
    "reduce_sum outer axes": (*same("reduce_sum", (0, 2)), [(2, 3, 2)]),
    "reduce_sum empty": (*same("reduce_sum", (1,)), [(2, 0, 3)]),
    "reduce_max vector": (*same("reduce_max", (0,)), [(5,)]),
    "reduce_max outer axes": (*same("reduce_max", (0, 2)), [(2, 3, 2)]),
    "reduce_max none": (*same("reduce_max", ()), [(3,)]),
    "reduce_max scalar": (*same("reduce_max", ()), [()]),
    "reduce_min vector": (*same("reduce_min", (0,)), [(5,)]),
    "reduce_min columns": (*same("reduce_min", (1,)), [(3, 4)]),
    "reduce_prod vector": (*same("reduce_prod", (0,)), [(4,)]),
    "reduce_prod odd": (*same("reduce_prod", (0,)), [(5,)]),
    "reduce_prod seven": (*same("reduce_prod", (0,)), [(7,)]),
    "reduce_prod outer axes": (*same("reduce_prod", (0, 2)), [(3, 2, 2)]),
    "reduce_prod inner axis": (*same("reduce_prod", (1,)), [(2, 3)]),
    "reduce_prod all": (*same("reduce_prod", (0, 1)), [(2, 3)]),
    "reduce_prod none": (*same("reduce_prod", ()), [(2, 3)]),
    "reduce_prod scalar": (*same("reduce_prod", ()), [()]),
    "reduce_prod single": (*same("reduce_prod", (0,)), [(1, 3)]),
    "reduce_prod empty": (*same("reduce_prod", (0,)), [(0, 3)]),
    "cumsum": (*same("cumsum", 0, False), [(4,)]),
    "cumsum reverse": (*same("cumsum", 0, True), [(4,)]),
    "cumsum columns": (*same("cumsum", 1, False), [(2, 3)]),
    "cumsum columns reverse": (*same("cumsum", 1, True), [(2, 3)]),
    "cumsum rows": (*same("cumsum", 0, False), [(2, 3)]),
}


@pytest.mark.parametrize("case", first_and_corners(REDUCTIONS))  # the rest with -m slow
def test_reduction(case):
    f, jf, shapes = REDUCTIONS[case]
    check_all(f, jf, [rand(s, i) for i, s in enumerate(shapes)])


# Ties share the tangent equally (jax-core-notes §3, case 28)

@pytest.mark.parametrize("name, x, axes, expected", [
    ("reduce_max", [1.0, 3.0, 3.0], (0,), [0.0, 0.5, 0.5]),
    ("reduce_min", [2.0, 1.0, 1.0, 1.0], (0,), [0.0, 1 / 3, 1 / 3, 1 / 3]),
    ("reduce_max", [[1.0, 1.0], [0.0, 2.0]], (1,), [[0.5, 0.5], [0.0, 1.0]]),
    ("reduce_max", [[1.0, 4.0], [4.0, 4.0]], (0, 1), [[0.0, 1 / 3], [1 / 3, 1 / 3]]),
    ("reduce_min", [[5.0, 5.0], [5.0, 5.0]], (0,), [[0.5, 0.5], [0.5, 0.5]]),
])
def test_extremum_ties_share_the_gradient(name, x, axes, expected):
    x = np.asarray(x)
    ones = np.ones(np.shape(np.asarray(getattr(lax, name)(x, axes))))
    got = fgrad.vjp(lambda x: getattr(fl, name)(x, axes), x)[1](ones)[0]
    want = jax.vjp(lambda x: getattr(lax, name)(x, axes), x)[1](ones)[0]
    assert_same(got, want)
    assert_same(got, np.asarray(expected))
    check_first_order(lambda x: getattr(fl, name)(x, axes),
                      lambda x: getattr(lax, name)(x, axes), (x,))
    check_second_order(lambda x: getattr(fl, name)(x, axes),
                       lambda x: getattr(lax, name)(x, axes), (x,))


def test_extremum_with_infinities():
    x = np.array([-np.inf, 2.0, np.inf, np.inf])
    got = fgrad.grad(lambda x: fl.reduce_max(x, (0,)))(x)
    assert_same(got, jax.grad(lambda x: lax.reduce_max(x, (0,)))(x))
    assert_same(got, np.array([0.0, 0.0, 0.5, 0.5]))


@pytest.mark.parametrize("name", ["reduce_max", "reduce_min"])
@pytest.mark.parametrize("x", [np.zeros((0, 3)), np.array([[np.nan, 1.0], [2.0, 1.0]])])
def test_extremum_tangent_is_nan_where_nothing_attains_it(name, x):
    # The mean over no positions: NaN, as in JAX. (Only the JVP: XLA may fold JAX's
    # reverse-mode NaN · 0 into 0 under jit, so JAX has no one answer there.)
    f, jf = same(name, (0,))
    t = rand(x.shape, 0)
    got, want = fgrad.jvp(f, (x,), (t,)), jax.jvp(jf, (x,), (t,))
    assert_trees_same(got, want)
    assert np.isnan(np.asarray(got[1])).any()


# Products with zeros never divide by x (jax-core-notes §3, case 32)

@pytest.mark.parametrize("x, expected", [
    ([0.0, 2.0, 3.0], [6.0, 0.0, 0.0]),
    ([0.0, 0.0, 3.0], [0.0, 0.0, 0.0]),
    ([2.0, 3.0, 0.0, 5.0], [0.0, 0.0, 30.0, 0.0]),
    ([0.0, 0.0, 0.0, 0.0, 0.0], [0.0] * 5),
    ([0.0], [1.0]),
])
def test_prod_with_zeros(x, expected):
    x = np.asarray(x)
    f = lambda x: fl.reduce_prod(x, (0,))  # noqa: E731
    jf = lambda x: lax.reduce_prod(x, (0,))  # noqa: E731
    got = fgrad.grad(f)(x)
    assert_same(got, jax.grad(jf)(x))
    assert_same(got, np.asarray(expected))
    # under jax.jit, as in oracle.check_second_order: the same rules and program as eagerly,
    # where each of the batched Hessian's equations would compile on its own (4 s a case)
    hessian = jax.jit(fgrad.hessian(f))(x)
    assert not np.any(np.isnan(np.asarray(hessian)))
    assert_same(hessian, jax.jit(jax.hessian(jf))(x))
    check_first_order(f, jf, (x,))


def test_prod_with_zeros_along_an_axis():
    x = np.array([[0.0, 2.0, 3.0], [1.0, 0.0, 0.0], [2.0, 3.0, 4.0]])
    f, jf = same("reduce_prod", (1,))
    check_first_order(f, jf, (x,))
    check_second_order(f, jf, (x,))


def test_prod_third_derivative_at_zero():
    x = np.array([0.0, 2.0, 3.0, 0.5])
    f = lambda x: fl.reduce_prod(x, (0,))  # noqa: E731
    jf = lambda x: lax.reduce_prod(x, (0,))  # noqa: E731
    v = np.array([1.0, -1.0, 0.5, 2.0])
    got = fgrad.jvp(lambda x: fgrad.jvp(fgrad.grad(f), (x,), (v,))[1], (x,), (v,))[1]
    want = jax.jvp(lambda x: jax.jvp(jax.grad(jf), (x,), (v,))[1], (x,), (v,))[1]
    assert_same(got, want)


def test_grad_of_cumsum_element():
    # jax-core-notes §3, case 37: grad(lambda x: cumsum(x)[1])(ones(3)) = [1, 1, 0]
    pick = np.array([0.0, 1.0, 0.0])
    g = fgrad.grad(lambda x: fl.reduce_sum(fl.mul(fl.cumsum(x, 0), pick), (0,)))
    assert_same(g(np.ones(3)), np.array([1.0, 1.0, 0.0]))


# argmax and argmin: integer outputs carry no tangent, and need no rule

@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_arg_extremum_has_a_float0_tangent(name):
    x, t = rand((2, 3), 0), rand((2, 3), 1)
    got = fgrad.jvp(lambda x: getattr(fl, name)(x, 1, np.int32), (x,), (t,))
    want = jax.jvp(lambda x: getattr(lax, name)(x, 1, np.int32), (x,), (t,))
    np.testing.assert_array_equal(got[0], want[0])
    assert aval_of(got[1]) == aval_of(want[1])  # float0[2]


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_arg_extremum_as_a_constant_factor(name):
    def f(x):
        index = fl.convert_element_type(getattr(fl, name)(x, 0, np.int32), f64)
        return fl.mul(fl.broadcast_in_dim(index, (3,), ()), x)

    def jf(x):
        return getattr(lax, name)(x, 0, np.int32).astype(f64) * x

    check_all(f, jf, [np.array([0.5, 2.0, -1.0])])


def test_grad_through_an_argmax_index():
    # jax-core-notes §3, case 28: grad(lambda x: x[argmax(x)])([1, 5, 2]) = [0, 1, 0]
    def f(x):
        picked = fl.dynamic_slice(x, [fl.argmax(x, 0, np.int32)], [1])
        return fl.reduce_sum(picked, (0,))

    def jf(x):
        return x[jnp.argmax(x)]

    x = np.array([1.0, 5.0, 2.0])
    assert_same(fgrad.grad(f)(x), jax.grad(jf)(x))
    assert_same(fgrad.grad(f)(x), np.array([0.0, 1.0, 0.0]))
