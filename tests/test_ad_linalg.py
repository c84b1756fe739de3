"""Derivatives of dot_general against JAX's: forward and reverse mode, first and second order,
for every (contract, batch) layout of tests/test_lax_linalg.py, with preferred element types,
mixed and complex dtypes, and inside traces."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import fgrad
import oracle
from fgrad import lax as fl
from fgrad.core import aval_of, trace_to_program
from fgrad.testing import check_grads
from oracle import rand
from test_lax_linalg import LAYOUTS as FORWARD_LAYOUTS  # the shape rule's tests' table
from test_lax_linalg import dims

pytestmark = pytest.mark.usefixtures("x64")
TOLERANCE = dict(rtol=1e-10, atol=1e-12)  # float64 rounding
assert_same = functools.partial(oracle.assert_same, **TOLERANCE)
assert_trees_same = functools.partial(oracle.assert_trees_same, **TOLERANCE)
check_first_order = functools.partial(oracle.check_first_order, **TOLERANCE)

# Hessians of bigger inputs are built from one JVP per input element; an HVP is enough there.
LARGE = 50


# The forward tests' layouts, and more whose cotangents need their contracting dimensions
# permuted back.
LAYOUTS = {
    **FORWARD_LAYOUTS,
    "crossed contraction around a batch dim": (
        (3, 2, 4), (4, 2, 3), dims((0, 2), (2, 0), (1,), (1,)), (2,)),
    "three contracting dims, rotated": ((2, 3, 4), (3, 4, 2), dims((0, 1, 2), (2, 0, 1)), ()),
    "contracting dims crossed, free dims between": (
        (2, 5, 3), (3, 4, 2), dims((0, 2), (2, 0)), (5, 4)),
}


def one_order(second):
    """The layouts as params of the first (second=False) or the second order test. The
    default run checks each layout at one order: every third at second order, the others at
    first order, and those with an empty or 0-d operand at both; `-m slow` runs the rest."""
    params = []
    for i, (name, (lhs_shape, rhs_shape, _, _)) in enumerate(LAYOUTS.items()):
        corner = 0 in lhs_shape + rhs_shape or not (lhs_shape and rhs_shape)
        quick = corner or (i % 3 == 0) == second
        params.append(pytest.param(name, marks=() if quick else pytest.mark.slow))
    return params


def dot(dimension_numbers, **kw):
    return (lambda l, r: fl.dot_general(l, r, dimension_numbers, **kw),
            lambda l, r: lax.dot_general(l, r, dimension_numbers, **kw))


def quadratic_forms(f, jf, w):
    """sum(f(l, r) * w), bilinear, and sum(f(l, r)² * w), whose Hessian depends on l and r."""
    axes = tuple(range(np.ndim(w)))

    def g(l, r):
        return fl.reduce_sum(fl.mul(f(l, r), w), axes)

    def g2(l, r):
        y = f(l, r)
        return fl.reduce_sum(fl.mul(fl.mul(y, y), w), axes)

    return [(g, lambda l, r: jnp.sum(jf(l, r) * w)),
            (g2, lambda l, r: jnp.sum(jf(l, r) ** 2 * w))]


@pytest.mark.parametrize("layout", one_order(second=False))
def test_first_order(layout):
    lhs_shape, rhs_shape, numbers, out_shape = LAYOUTS[layout]
    f, jf = dot(numbers)
    args = (rand(lhs_shape, 0), rand(rhs_shape, 1))
    tangents = (rand(lhs_shape, 2), rand(rhs_shape, 3))
    check_first_order(f, jf, args, tangents, rand(out_shape, 4))
    # each side alone: the other side is a constant of the linear program
    l, r = args
    check_first_order(lambda l: f(l, r), lambda l: jf(l, r), (l,), tangents[:1],
                      rand(out_shape, 4))
    check_first_order(lambda r: f(l, r), lambda r: jf(l, r), (r,), tangents[1:],
                      rand(out_shape, 4))


@pytest.mark.parametrize("layout", one_order(second=True))
def test_second_order(layout):
    lhs_shape, rhs_shape, numbers, out_shape = LAYOUTS[layout]
    f, jf = dot(numbers)
    args = (rand(lhs_shape, 0), rand(rhs_shape, 1))
    sizes = [np.size(a) for a in args]
    # fgrad's second derivatives run under jax.jit: the same programs as eagerly at a
    # fraction of the CPU (eagerly every equation compiles alone); test_first_order and
    # test_finite_differences run fgrad eagerly.
    for g, jg in quadratic_forms(f, jf, rand(out_shape, 5)):
        if all(sizes) and sum(sizes) <= LARGE:
            assert_trees_same(jax.jit(fgrad.hessian(g, (0, 1)))(*args),
                              jax.jit(jax.hessian(jg, (0, 1)))(*args))
        else:  # no Hessian for empty inputs in fgrad yet, and large ones are slow to build
            v = (rand(lhs_shape, 6), rand(rhs_shape, 7))
            assert_trees_same(
                jax.jit(lambda *a: fgrad.jvp(fgrad.grad(g, (0, 1)), a, v)[1])(*args),
                jax.jit(lambda *a: jax.jvp(jax.grad(jg, (0, 1)), a, v)[1])(*args))
            # reverse over reverse as well
            u = (rand(lhs_shape, 8), rand(rhs_shape, 9))
            assert_trees_same(
                jax.jit(lambda *a: fgrad.vjp(fgrad.grad(g, (0, 1)), *a)[1](u))(*args),
                jax.jit(lambda *a: jax.vjp(jax.grad(jg, (0, 1)), *a)[1](u))(*args))


@pytest.mark.parametrize("layout", [name for name, (lhs, rhs, _, _) in LAYOUTS.items()
                                    if np.prod(lhs) + np.prod(rhs) <= 40])
def test_finite_differences(layout):
    lhs_shape, rhs_shape, numbers, _ = LAYOUTS[layout]
    f, _ = dot(numbers)
    check_grads(f, (rand(lhs_shape, 0), rand(rhs_shape, 1)), order=2)


# -- dtypes ----------------------------------------------------------------------------------

MATMUL = (((1,), (0,)), ((), ()))
BATCHED = (((2,), (0,)), ((1,), (2,)))  # lhs (2, 5, 3), rhs (3, 4, 5)


@pytest.mark.parametrize("lhs_dtype, rhs_dtype, preferred, numbers, shapes, rtol", [
    ("float32", "float32", "float64", MATMUL, [(2, 3), (3, 4)], 1e-6),
    ("float32", "float32", "float64", BATCHED, [(2, 5, 3), (3, 4, 5)], 1e-6),
    ("float16", "float16", "float32", MATMUL, [(2, 3), (3, 4)], 1e-3),
    ("float32", "float64", "float64", BATCHED, [(2, 5, 3), (3, 4, 5)], 1e-6),
    ("float64", "float32", "float64", MATMUL, [(2, 3), (3, 4)], 1e-6),
    ("float64", "float64", "float32", MATMUL, [(2, 3), (3, 4)], 1e-6),
    ("float64", "float64", "float64", BATCHED, [(2, 5, 3), (3, 4, 5)], 1e-10),
    ("complex128", "complex128", None, BATCHED, [(2, 5, 3), (3, 4, 5)], 1e-10),
    ("complex64", "complex64", "complex128", MATMUL, [(2, 3), (3, 4)], 1e-6),
])
def test_dtypes(lhs_dtype, rhs_dtype, preferred, numbers, shapes, rtol):
    # Tangents take the result's dtype; cotangents are converted back to each operand's.
    f, jf = dot(numbers, preferred_element_type=preferred)
    args = (rand(shapes[0], 0, lhs_dtype), rand(shapes[1], 1, rhs_dtype))
    tangents = (rand(shapes[0], 2, lhs_dtype), rand(shapes[1], 3, rhs_dtype))
    out = jf(*args)
    tolerance = dict(rtol=rtol, atol=rtol * 1e-2)
    check_first_order(f, jf, args, tangents, rand(out.shape, 4, out.dtype), **tolerance)
    cts = fgrad.vjp(f, *args)[1](rand(out.shape, 4, out.dtype))
    assert [c.dtype for c in cts] == [np.dtype(lhs_dtype), np.dtype(rhs_dtype)]
    # second order, reverse over forward
    u = rand(out.shape, 5, out.dtype)

    def jvp_of(fn, jvp):
        return lambda *a: jvp(fn, a, tangents)[1]

    assert_trees_same(fgrad.vjp(jvp_of(f, fgrad.jvp), *args)[1](u),
                      jax.vjp(jvp_of(jf, jax.jvp), *args)[1](u), **tolerance)


def test_integer_operand_gets_no_cotangent():
    lhs = np.arange(6, dtype=np.int32).reshape(2, 3)
    rhs = rand((3, 4), 0)
    f, jf = dot(MATMUL, preferred_element_type=np.float64)
    ct = rand((2, 4), 1)
    got = fgrad.vjp(f, lhs, rhs)[1](ct)
    want = jax.vjp(jf, lhs, rhs)[1](ct)
    assert aval_of(got[0]) == aval_of(want[0])  # float0
    assert_same(got[1], want[1])
    got = fgrad.jvp(f, (lhs, rhs), (np.zeros((2, 3), jax.dtypes.float0), rand((3, 4), 2)))
    want = jax.jvp(jf, (lhs, rhs), (np.zeros((2, 3), jax.dtypes.float0), rand((3, 4), 2)))
    assert_trees_same(got, want)


def test_weak_operands():
    # Python scalars are weakly typed; their tangents and cotangents stay weak, as in JAX.
    f, jf = dot((((), ()), ((), ())))
    got = fgrad.jvp(f, (2.0, 3.0), (1.0, 0.5))
    want = jax.jvp(jf, (2.0, 3.0), (1.0, 0.5))
    assert_trees_same(got, want)
    assert_trees_same(fgrad.grad(f, (0, 1))(2.0, 3.0), jax.grad(jf, (0, 1))(2.0, 3.0))


@pytest.mark.parametrize("precision", [lax.Precision.HIGHEST, "bfloat16",
                                       (lax.Precision.DEFAULT, lax.Precision.HIGH)])
def test_precision_carries_into_the_derivatives(precision):
    f, jf = dot(BATCHED, precision=precision)
    args = (rand((2, 5, 3), 0), rand((3, 4, 5), 1))
    check_first_order(f, jf, args, (rand((2, 5, 3), 2), rand((3, 4, 5), 3)),
                      rand((5, 2, 4), 4))
    (forward,) = trace_to_program(f, list(args), "make_ir")[0].eqns
    program, _ = trace_to_program(lambda l, r: fgrad.vjp(f, l, r)[1](np.ones((5, 2, 4))),
                                  list(args), "make_ir")
    dots = [e for e in program.eqns if e.primitive.name == "dot_general"]
    assert len(dots) == 3  # the primal and one per operand's cotangent
    assert all(e.params["precision"] == forward.params["precision"] for e in dots)


def test_matrix_hessian():
    # jax-core-notes §3, case 18: the Hessian of x·A·x is A + Aᵀ
    a = np.array([[1.0, 2.0], [3.0, 4.0]])

    def f(x):
        ax = fl.dot_general(a, x, (((1,), (0,)), ((), ())))
        return fl.dot_general(x, ax, (((0,), (0,)), ((), ())))

    assert_same(fgrad.hessian(f)(np.ones(2)), a + a.T)
