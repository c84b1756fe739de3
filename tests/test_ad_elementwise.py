"""Differentiation rules of the elementwise primitives against JAX's: JVPs, VJPs (so the
transpose rules), second order, finite differences, and JAX's values at kinks and corners.

Everything runs in float64. Each case is compared with the same jax.lax call under
jax.jvp / jax.vjp / jax.hessian, including dtype, shape and weak type, and the fgrad
derivative is also staged into a program, type-checked and evaluated.
"""

import functools
import math
import warnings

import jax
import numpy as np
import pytest
from jax import lax

import oracle
from oracle import rotating
from fgrad import lax as fl
from fgrad.api import grad, hessian, jvp, vjp
from fgrad.core import (
    Aval, UndefinedPrimal, aval_of, eval_program, trace_to_program, typecheck,
)
from fgrad.core.dtypes import float0
from fgrad.lax import elementwise as ew
from fgrad.testing import check_grads
from fgrad.transforms.rules import jvp_rules, transpose_rules

pytestmark = pytest.mark.usefixtures("x64")

rng = np.random.default_rng(0)
SHAPES = [(), (3,), (2, 3)]
assert_same = functools.partial(oracle.assert_same, rtol=1e-10)  # float64 rounding


def assert_traced(fun, args, expected_flat):
    """`fun` staged into a program type-checks and computes `expected_flat`."""
    program, _ = trace_to_program(fun, list(args), "make_ir")
    typecheck(program)
    outs = eval_program(program, *args)
    assert len(outs) == len(expected_flat)
    for got, want in zip(outs, expected_flat):
        assert_same(got, want)


def uniform(lo, hi, shape):
    return rng.uniform(lo, hi, shape)


def away_from_zero(shape, lo=0.5, hi=2.0):
    return rng.uniform(lo, hi, shape) * rng.choice([-1.0, 1.0], shape)


def normal(shape):
    return rng.normal(size=shape)


# -- one-operand primitives ------------------------------------------------------------------

# name -> (fgrad function, jax function, sampler of the operand)
UNARY = {
    "neg": (fl.neg, lax.neg, lambda s: uniform(-2, 2, s)),
    "abs": (fl.abs, lax.abs, away_from_zero),
    "sign": (fl.sign, lax.sign, away_from_zero),
    "floor": (fl.floor, lax.floor, lambda s: uniform(-2, 2, s)),
    "ceil": (fl.ceil, lax.ceil, lambda s: uniform(-2, 2, s)),
    "round": (fl.round, lax.round, lambda s: uniform(-2, 2, s)),
    "round_even": (lambda x: fl.round(x, 1),
                   lambda x: lax.round(x, lax.RoundingMethod.TO_NEAREST_EVEN),
                   lambda s: uniform(-2, 2, s)),
    "exp": (fl.exp, lax.exp, lambda s: uniform(-2, 2, s)),
    "log": (fl.log, lax.log, lambda s: uniform(0.2, 3, s)),
    "log1p": (fl.log1p, lax.log1p, lambda s: uniform(-0.5, 2, s)),
    "expm1": (fl.expm1, lax.expm1, lambda s: uniform(-2, 2, s)),
    "sqrt": (fl.sqrt, lax.sqrt, lambda s: uniform(0.2, 3, s)),
    "rsqrt": (fl.rsqrt, lax.rsqrt, lambda s: uniform(0.2, 3, s)),
    "sin": (fl.sin, lax.sin, lambda s: uniform(-3, 3, s)),
    "cos": (fl.cos, lax.cos, lambda s: uniform(-3, 3, s)),
    "tan": (fl.tan, lax.tan, lambda s: uniform(-1.2, 1.2, s)),
    "tanh": (fl.tanh, lax.tanh, lambda s: uniform(-2, 2, s)),
    "asin": (fl.asin, lax.asin, lambda s: uniform(-0.9, 0.9, s)),
    "acos": (fl.acos, lax.acos, lambda s: uniform(-0.9, 0.9, s)),
    "atan": (fl.atan, lax.atan, lambda s: uniform(-3, 3, s)),
    "sinh": (fl.sinh, lax.sinh, lambda s: uniform(-2, 2, s)),
    "cosh": (fl.cosh, lax.cosh, lambda s: uniform(-2, 2, s)),
    "logistic": (fl.logistic, lax.logistic, lambda s: uniform(-3, 3, s)),
    "erf": (fl.erf, lax.erf, lambda s: uniform(-2, 2, s)),
    "erf_inv": (fl.erf_inv, lax.erf_inv, lambda s: uniform(-0.9, 0.9, s)),
    "asinh": (fl.asinh, lax.asinh, lambda s: uniform(-2, 2, s)),
    "acosh": (fl.acosh, lax.acosh, lambda s: uniform(1.2, 3, s)),
    "atanh": (fl.atanh, lax.atanh, lambda s: uniform(-0.8, 0.8, s)),
    "cbrt": (fl.cbrt, lax.cbrt, away_from_zero),
    "exp2": (fl.exp2, lax.exp2, lambda s: uniform(-2, 2, s)),
    "bessel_i0e": (fl.bessel_i0e, lax.bessel_i0e, away_from_zero),
    "bessel_i1e": (fl.bessel_i1e, lax.bessel_i1e, lambda s: uniform(-3, 3, s)),
    "conj_of_real": (fl.conj, lax.conj, lambda s: uniform(-2, 2, s)),
    "bitcast_f64": (lambda x: fl.bitcast_convert_type(x, np.float64),
                    lambda x: lax.bitcast_convert_type(x, np.float64),
                    lambda s: uniform(-2, 2, s)),
    **{f"integer_pow{n}": (lambda x, n=n: fl.integer_pow(x, n),
                           lambda x, n=n: lax.integer_pow(x, n), away_from_zero)
       for n in (0, 1, 2, 3, -1, -2)},
    "convert_f32": (lambda x: fl.convert_element_type(x, np.float32),
                    lambda x: lax.convert_element_type(x, np.float32),
                    lambda s: uniform(-2, 2, s)),
    "convert_c128": (lambda x: fl.convert_element_type(x, np.complex128),
                     lambda x: lax.convert_element_type(x, np.complex128),
                     lambda s: uniform(-2, 2, s)),
    # the gradient through a comparison: relu, and a two-sided switch
    "select_gt": (lambda x: fl.select_n(fl.gt(x, ew._full_like(x, 0)), fl.neg(x), fl.sin(x)),
                  lambda x: lax.select_n(lax.gt(x, lax.full_like(x, 0)), -x, lax.sin(x)),
                  lambda s: uniform(-2, 2, s)),
}
# Piecewise constant or linear: their second derivatives are identically zero, and finite
# differences are exact; zero-derivative ones say nothing at second order either.
SECOND_ORDER_TRIVIAL = {"neg", "sign", "floor", "ceil", "round", "round_even",
                        "integer_pow0", "integer_pow1", "convert_f32", "convert_c128",
                        "conj_of_real", "bitcast_f64"}


def cotangent_like(value):
    aval = aval_of(value)
    out = rng.normal(size=aval.shape)
    if np.issubdtype(aval.dtype, np.complexfloating):
        out = out + 1j * rng.normal(size=aval.shape)
    return out.astype(aval.dtype)


# By default each name at one rotating shape of SHAPES (0-d included), so every name and every
# shape runs; `-m slow` runs the other shapes.
@pytest.mark.parametrize("name, shape", rotating(sorted(UNARY), SHAPES,
                                                  every=len(SHAPES)))
def test_unary_jvp_and_vjp(name, shape):
    f, jf, sample = UNARY[name]
    x, t = sample(shape), normal(shape)
    want_out, want_t = jax.jvp(jf, (x,), (t,))
    got_out, got_t = jvp(f, (x,), (t,))
    assert_same(got_out, want_out)
    assert_same(got_t, want_t)
    assert_traced(lambda x, t: jvp(f, (x,), (t,)), [x, t], [want_out, want_t])

    ct = cotangent_like(want_out)
    (want_ct,) = jax.vjp(jf, x)[1](ct)
    (got_ct,) = vjp(f, x)[1](ct)
    assert_same(got_ct, want_ct)
    assert_traced(lambda x, ct: vjp(f, x)[1](ct), [x, ct], [want_ct])


# By default each name's second derivatives are checked one of two ways, in turn (the
# pullback's at a vector, or the Hessian at a scalar); `-m slow` runs both ways for all.
@pytest.mark.parametrize("name, way", [
    pytest.param(name, way, marks=() if (i + j) % 2 == 0 else pytest.mark.slow)
    for i, name in enumerate(sorted(set(UNARY) - SECOND_ORDER_TRIVIAL))
    for j, way in enumerate(["pullback", "hessian"])])
def test_unary_second_order(name, way):
    f, jf, sample = UNARY[name]
    if way == "hessian":  # of a scalar function
        x0 = sample(())
        assert_same(hessian(f)(x0), jax.hessian(jf)(x0))
        return
    x, v, w = sample((3,)), normal((3,)), normal((3,))

    def pullback(fun, vjp_):
        return lambda x: vjp_(fun, x)[1](w)[0]

    # forward over reverse, and reverse over reverse
    want = jax.jvp(pullback(jf, jax.vjp), (x,), (v,))
    got = jvp(pullback(f, vjp), (x,), (v,))
    assert_same(got[0], want[0])
    assert_same(got[1], want[1])
    u = normal((3,))
    assert_same(vjp(pullback(f, vjp), x)[1](u)[0], jax.vjp(pullback(jf, jax.vjp), x)[1](u)[0])


# bitcast_f64 is the identity on values, but a bitcast is piecewise constant to a
# differentiator (JAX's rule), so finite differences do not see its derivative.
@pytest.mark.parametrize("name", sorted(set(UNARY) - {"convert_f32", "bitcast_f64"}))
def test_unary_against_finite_differences(name):
    f, _, sample = UNARY[name]
    check_grads(f, (sample((3,)),), order=2)


def test_python_scalars_keep_weak_types():
    for name in ["sin", "exp", "abs", "integer_pow2", "tanh", "select_gt"]:
        f, jf, _ = UNARY[name]
        want = jax.jvp(jf, (0.7,), (1.0,))
        got = jvp(f, (0.7,), (1.0,))
        assert_same(got[0], want[0])
        assert_same(got[1], want[1])
        assert_same(grad(f)(0.7), jax.grad(jf)(0.7))


# -- two-operand primitives ------------------------------------------------------------------

BINARY = {
    "add": (fl.add, lax.add, normal, normal),
    "sub": (fl.sub, lax.sub, normal, normal),
    "mul": (fl.mul, lax.mul, normal, normal),
    "div": (fl.div, lax.div, normal, away_from_zero),
    "rem": (fl.rem, lax.rem, lambda s: uniform(-5, 5, s), away_from_zero),
    "max": (fl.max, lax.max, normal, normal),
    "min": (fl.min, lax.min, normal, normal),
    "pow": (fl.pow, lax.pow, lambda s: uniform(0.2, 2, s), lambda s: uniform(-2, 2, s)),
    "atan2": (fl.atan2, lax.atan2, normal, away_from_zero),
    "complex": (fl.complex, lax.complex, normal, normal),
}
SECOND_ORDER_LINEAR = {"add", "sub", "complex"}


# As for the unary functions: each name at one rotating shape by default.
@pytest.mark.parametrize("name, shape", rotating(sorted(BINARY), SHAPES,
                                                  every=len(SHAPES)))
def test_binary_jvp_and_vjp(name, shape):
    f, jf, sample_x, sample_y = BINARY[name]
    x, y, tx, ty = sample_x(shape), sample_y(shape), normal(shape), normal(shape)
    want = jax.jvp(jf, (x, y), (tx, ty))
    got = jvp(f, (x, y), (tx, ty))
    assert_same(got[0], want[0])
    assert_same(got[1], want[1])
    assert_traced(lambda *a: jvp(f, a[:2], a[2:]), [x, y, tx, ty], list(want))
    # one side at a time: the other operand's tangent is a symbolic zero
    for fx, jfx, p, t in [(lambda x: f(x, y), lambda x: jf(x, y), x, tx),
                          (lambda y: f(x, y), lambda y: jf(x, y), y, ty)]:
        assert_same(jvp(fx, (p,), (t,))[1], jax.jvp(jfx, (p,), (t,))[1])

    ct = cotangent_like(want[0])  # complex for complex(x, y)
    want_cts = jax.vjp(jf, x, y)[1](ct)
    got_cts = vjp(f, x, y)[1](ct)
    for g, w in zip(got_cts, want_cts):
        assert_same(g, w)
    assert_traced(lambda x, y, ct: vjp(f, x, y)[1](ct), [x, y, ct], list(want_cts))
    # with respect to one operand: the transpose sees one UndefinedPrimal
    assert_same(vjp(lambda y: f(x, y), y)[1](ct)[0], jax.vjp(lambda y: jf(x, y), y)[1](ct)[0])
    assert_same(vjp(lambda x: f(x, y), x)[1](ct)[0], jax.vjp(lambda x: jf(x, y), x)[1](ct)[0])


@pytest.mark.parametrize("name", sorted(set(BINARY) - SECOND_ORDER_LINEAR))
def test_binary_second_order(name):
    f, jf, sample_x, sample_y = BINARY[name]
    x, y = sample_x((3,)), sample_y((3,))
    w, vx, vy = normal((3,)), normal((3,)), normal((3,))

    def pullback(fun, vjp_):
        return lambda x, y: vjp_(fun, x, y)[1](w)

    want = jax.jvp(pullback(jf, jax.vjp), (x, y), (vx, vy))[1]
    got = jvp(pullback(f, vjp), (x, y), (vx, vy))[1]
    for g, e in zip(got, want):
        assert_same(g, e)
    x0, y0 = sample_x(()), sample_y(())
    # under jax.jit, as in oracle.check_second_order: eagerly, each equation of a Hessian
    # compiles on its own
    for argnums in [0, 1, (0, 1)]:
        got_h = jax.jit(hessian(f, argnums))(x0, y0)
        want_h = jax.jit(jax.hessian(jf, argnums))(x0, y0)
        for g, e in zip(jax.tree_util.tree_leaves(got_h), jax.tree_util.tree_leaves(want_h)):
            assert_same(g, e)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_against_finite_differences(name):
    f, _, sample_x, sample_y = BINARY[name]
    check_grads(f, (sample_x((3,)), sample_y((3,))), order=2)


def test_mul_of_a_value_with_itself():
    x, t = normal((3,)), normal((3,))
    assert_same(jvp(lambda x: fl.mul(x, x), (x,), (t,))[1], 2 * x * t)
    assert_same(grad(lambda x: fl.mul(fl.mul(x, x), x))(1.5), jax.grad(lambda x: x * x * x)(1.5))


# -- pow and integer_pow ---------------------------------------------------------------------

def test_pow_with_an_integer_exponent():
    x = away_from_zero((5,))
    n = np.array([0, 1, 2, -1, 3], np.int32)
    t = normal((5,))
    want = jax.jvp(lambda x: lax.pow(x, n), (x,), (t,))
    got = jvp(lambda x: fl.pow(x, n), (x,), (t,))
    assert_same(got[0], want[0])
    assert_same(got[1], want[1])
    # the exponent is never differentiated: its cotangent is a float0 zero, as in JAX
    ct = normal((5,))
    got_cts = vjp(fl.pow, x, n)[1](ct)
    want_cts = jax.vjp(lax.pow, x, n)[1](ct)
    assert_same(got_cts[0], want_cts[0])
    assert got_cts[1].dtype == float0 and want_cts[1].dtype == float0
    assert got_cts[1].shape == (5,)
    # Second order at 0. JAX computes x^(y-1) with the exponent converted to float, so for
    # y = 1 its second derivative at 0 is NaN (the derivative of x^0. at 0); we keep the
    # exponent an integer, where x^0 is constant, and get the true value 0.
    zero, n012 = np.zeros(3), np.array([0, 1, 2], np.int32)
    second = jvp(lambda x: vjp(lambda x: fl.pow(x, n012), x)[1](np.ones(3))[0], (zero,),
                 (np.ones(3),))[1]
    jax_second = jax.jvp(lambda x: jax.vjp(lambda x: lax.pow(x, n012), x)[1](np.ones(3))[0],
                         (zero,), (np.ones(3),))[1]
    np.testing.assert_array_equal(np.asarray(second), [0.0, 0.0, 2.0])
    np.testing.assert_array_equal(np.asarray(jax_second), [0.0, np.nan, 2.0])


@pytest.mark.slow
def test_pow_with_an_integer_exponent_against_finite_differences():
    n = np.array([0, 1, 2, -1, 3], np.int32)
    check_grads(lambda x: fl.pow(x, n), (away_from_zero((5,)),), order=2)


@pytest.mark.parametrize("fun, jax_fun, args, argnums, expected", [
    # the corners of jax-core-notes §3 item 29
    (lambda x: fl.integer_pow(x, 2), lambda x: lax.integer_pow(x, 2), (0.0,), 0, 0.0),
    (lambda x: fl.integer_pow(x, 0), lambda x: lax.integer_pow(x, 0), (0.0,), 0, 0.0),
    (lambda x: fl.integer_pow(x, 1), lambda x: lax.integer_pow(x, 1), (0.0,), 0, 1.0),
    (lambda x: fl.pow(x, 0.0), lambda x: lax.pow(x, 0.0), (0.0,), 0, math.nan),
    (fl.pow, lax.pow, (0.0, 0.0), 0, math.nan),
    (fl.pow, lax.pow, (0.0, 2.0), 1, 0.0),
    (fl.pow, lax.pow, (0.0, 0.0), 1, 0.0),
    (fl.pow, lax.pow, (2.0, 3.0), 1, 8.0 * math.log(2.0)),
    (lambda x, n: fl.pow(x, n), lambda x, n: lax.pow(x, n), (0.0, np.int32(0)), 0, 0.0),
    (lambda x, n: fl.pow(x, n), lambda x, n: lax.pow(x, n), (0.0, np.int32(1)), 0, 1.0),
    (lambda x, n: fl.pow(x, n), lambda x, n: lax.pow(x, n), (-2.0, np.int32(3)), 0, 12.0),
    # the limits JAX's rules take at 0
    (fl.bessel_i1e, lax.bessel_i1e, (0.0,), 0, 0.5),
    (fl.bessel_i1e, lax.bessel_i1e, (1e-20,), 0, 0.5),
    (fl.bessel_i0e, lax.bessel_i0e, (0.0,), 0, 0.0),
    (fl.asinh, lax.asinh, (0.0,), 0, 1.0),
    (fl.atanh, lax.atanh, (0.0,), 0, 1.0),
    (fl.exp2, lax.exp2, (0.0,), 0, math.log(2.0)),
    # infinite slopes
    (fl.cbrt, lax.cbrt, (0.0,), 0, math.inf),
    (fl.acosh, lax.acosh, (1.0,), 0, math.inf),
    (fl.atanh, lax.atanh, (1.0,), 0, math.inf),
    (fl.sqrt, lax.sqrt, (0.0,), 0, math.inf),
    (lambda x: fl.pow(x, 0.5), lambda x: lax.pow(x, 0.5), (0.0,), 0, math.inf),
    (fl.rsqrt, lax.rsqrt, (0.0,), 0, -math.inf),
    (fl.log, lax.log, (0.0,), 0, math.inf),
])
def test_values_at_corners(fun, jax_fun, args, argnums, expected):
    got = grad(fun, argnums)(*args)
    assert_same(got, jax.grad(jax_fun, argnums)(*args))
    np.testing.assert_equal(float(got), expected)


def test_sixth_derivative_of_reciprocal():
    f = lambda x: fl.div(1.0, x)  # noqa: E731
    for _ in range(6):
        f = grad(f)
    # d^6/dx^6 1/x = 720 / x^7
    np.testing.assert_allclose(float(f(4.0)), 720 / 4.0 ** 7, rtol=1e-12)


def test_integer_pow_higher_derivatives_at_zero():
    f = lambda x: fl.integer_pow(x, 3)  # noqa: E731
    jf = lambda x: lax.integer_pow(x, 3)  # noqa: E731
    for _ in range(4):
        f, jf = grad(f), jax.grad(jf)
        assert_same(f(0.0), jf(0.0))
    assert float(grad(grad(grad(lambda x: fl.integer_pow(x, 3))))(0.0)) == 6.0


# -- kinks and ties --------------------------------------------------------------------------

def test_kinks_follow_jax():
    cases = [
        (fl.abs, lax.abs, 0.0, 1.0),
        (fl.abs, lax.abs, -0.0, 1.0),
        (lambda x: fl.max(x, 0.0), lambda x: lax.max(x, 0.0), 0.0, 0.5),
        (lambda x: fl.min(x, 0.0), lambda x: lax.min(x, 0.0), 0.0, 0.5),
        (lambda x: fl.max(x, 0.0), lambda x: lax.max(x, 0.0), 1.0, 1.0),
        (lambda x: fl.max(x, 0.0), lambda x: lax.max(x, 0.0), -1.0, 0.0),
        (lambda x: fl.max(x, x), lambda x: lax.max(x, x), 2.0, 1.0),
        (lambda x: fl.clamp(0.0, x, 1.0), lambda x: lax.clamp(0.0, x, 1.0), 1.0, 0.0),
        (lambda x: fl.clamp(0.0, x, 1.0), lambda x: lax.clamp(0.0, x, 1.0), 0.0, 0.0),
        (lambda x: fl.clamp(0.0, x, 1.0), lambda x: lax.clamp(0.0, x, 1.0), 0.5, 1.0),
        (lambda x: fl.clamp(0.0, x, 1.0), lambda x: lax.clamp(0.0, x, 1.0), 2.0, 0.0),
        (fl.sign, lax.sign, 2.0, 0.0),
        (fl.sign, lax.sign, 0.0, 0.0),
        (fl.floor, lax.floor, 2.5, 0.0),
        (fl.round, lax.round, 2.5, 0.0),
        (lambda x: fl.rem(x, 1.0), lambda x: lax.rem(x, 1.0), 2.5, 1.0),
    ]
    for f, jf, x, expected in cases:
        got = grad(f)(x)
        assert_same(got, jax.grad(jf)(x))
        assert float(got) == expected


def test_max_and_min_split_ties_evenly():
    x = np.array([1.0, 2.0, 3.0, 2.0])
    y = np.array([1.0, 1.0, 3.0, 5.0])
    for f, jf in [(fl.max, lax.max), (fl.min, lax.min)]:
        ct = np.array([1.0, 2.0, 4.0, 8.0])
        got, want = vjp(f, x, y)[1](ct), jax.vjp(jf, x, y)[1](ct)
        for g, w in zip(got, want):
            assert_same(g, w)
        assert float(got[0][0]) == 0.5 and float(got[1][0]) == 0.5
        tx, ty = normal((4,)), normal((4,))
        assert_same(jvp(f, (x, y), (tx, ty))[1], jax.jvp(jf, (x, y), (tx, ty))[1])
    # a NaN operand gives a zero derivative to both sides, as in JAX
    nan_x = np.array([np.nan, 1.0])
    got = vjp(fl.max, nan_x, np.array([0.0, np.nan]))[1](np.ones(2))
    want = jax.vjp(lax.max, nan_x, np.array([0.0, np.nan]))[1](np.ones(2))
    for g, w in zip(got, want):
        assert_same(g, w)


def test_clamp_differentiates_every_operand_like_jax():
    # inside, at both bounds, outside on both sides, and bounds in the wrong order
    lo = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0])
    x = np.array([0.5, 0.0, 1.0, -1.0, 2.0, 0.5, 2.0])
    hi = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0])
    ct = normal((7,))
    got, want = vjp(fl.clamp, lo, x, hi)[1](ct), jax.vjp(lax.clamp, lo, x, hi)[1](ct)
    for g, w in zip(got, want):
        assert_same(g, w)
    ts = tuple(normal((7,)) for _ in range(3))
    assert_same(jvp(fl.clamp, (lo, x, hi), ts)[1], jax.jvp(lax.clamp, (lo, x, hi), ts)[1])
    # Scalar bounds are broadcast (with broadcast_in_dim, whose rules live in shapes.py), so
    # they get the summed cotangent of the elements they bound. JAX 0.10.2 cannot
    # differentiate a scalar bound at all ("select cases must have the same shapes"), so
    # only the operand's cotangent is compared with it.
    xs = np.array([-1.0, 0.2, 0.7, -0.5, 0.5])
    ct = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    lo_ct, x_ct, hi_ct = vjp(fl.clamp, -0.5, xs, 0.5)[1](ct)
    assert_same(x_ct, jax.vjp(lambda x: lax.clamp(-0.5, x, 0.5), xs)[1](ct)[0])
    assert float(lo_ct) == 1.0 and float(hi_ct) == 4.0


@pytest.mark.slow
def test_clamp_against_finite_differences():
    check_grads(fl.clamp, (uniform(-1, -0.5, (4,)), uniform(-2, 2, (4,)), uniform(0.5, 1, (4,))),
                order=2)


# -- select_n ---------------------------------------------------------------------------------

def test_select_n_is_linear_in_the_cases():
    which = np.array([0, 2, 1, 2, 0], np.int32)
    cases = [normal((5,)) for _ in range(3)]
    ts = [normal((5,)) for _ in range(3)]
    f = lambda *c: fl.select_n(which, *c)  # noqa: E731
    jf = lambda *c: lax.select_n(which, *c)  # noqa: E731
    want = jax.jvp(jf, cases, ts)
    got = jvp(f, cases, ts)
    assert_same(got[0], want[0])
    assert_same(got[1], want[1])
    ct = normal((5,))
    for g, w in zip(vjp(f, *cases)[1](ct), jax.vjp(jf, *cases)[1](ct)):
        assert_same(g, w)
    # a single differentiated case: the others are constants (symbolic zero tangents)
    middle = lambda c: f(cases[0], c, cases[2])  # noqa: E731
    jmiddle = lambda c: jf(cases[0], c, cases[2])  # noqa: E731
    assert_same(jvp(middle, (cases[1],), (ts[1],))[1],
                jax.jvp(jmiddle, (cases[1],), (ts[1],))[1])
    assert_same(vjp(middle, cases[1])[1](ct)[0], jax.vjp(jmiddle, cases[1])[1](ct)[0])
    assert_traced(lambda c, ct: vjp(middle, c)[1](ct), [cases[1], ct],
                  [jax.vjp(jmiddle, cases[1])[1](ct)[0]])
    # the same value in two cases accumulates both cotangents
    both = lambda c: f(c, c, cases[2])  # noqa: E731
    assert_same(vjp(both, cases[0])[1](ct)[0],
                jax.vjp(lambda c: jf(c, c, cases[2]), cases[0])[1](ct)[0])


def test_grad_through_a_comparison_and_the_where_nan_trap():
    relu = lambda x: fl.select_n(fl.gt(x, 0.0), 0.0, x)  # noqa: E731
    assert float(grad(relu)(2.0)) == 1.0
    assert float(grad(relu)(-1.0)) == 0.0
    # where(x > 0, log(x), 0) at 0: the unselected branch's infinite slope times a zero
    # cotangent is NaN (JAX's documented trap)...
    trap = lambda x: fl.select_n(fl.gt(x, 0.0), 0.0, fl.log(x))  # noqa: E731
    jtrap = lambda x: lax.select_n(lax.gt(x, 0.0), 0.0, lax.log(x))  # noqa: E731
    assert_same(grad(trap)(0.0), jax.grad(jtrap)(0.0))
    assert math.isnan(float(grad(trap)(0.0)))
    sqrt_trap = lambda x: fl.select_n(fl.gt(x, 0.0), 0.0, fl.sqrt(x))  # noqa: E731
    assert math.isnan(float(grad(sqrt_trap)(0.0)))
    # ... and the fix is an inner select keeping the argument in the domain.
    def safe(x):
        return fl.select_n(fl.gt(x, 0.0), 0.0, fl.log(fl.select_n(fl.gt(x, 0.0), 1.0, x)))
    assert float(grad(safe)(0.0)) == 0.0
    assert float(grad(safe)(2.0)) == 0.5


# -- convert_element_type --------------------------------------------------------------------

@pytest.mark.parametrize("source, target", [
    (np.float64, np.float32), (np.float32, np.float64), (np.float64, np.complex128),
    (np.complex128, np.float64), (np.complex64, np.complex128), (np.float32, np.complex64),
])
def test_convert_between_inexact_dtypes_is_linear(source, target):
    x = (normal((3,)) + (1j * normal((3,)) if np.issubdtype(source, np.complexfloating)
                         else 0)).astype(source)
    t = cotangent_like(x)
    f = lambda x: fl.convert_element_type(x, target)  # noqa: E731
    jf = lambda x: lax.convert_element_type(x, target)  # noqa: E731
    rtol = 1e-6 if np.float32 in (source, target) or np.complex64 in (source, target) else 1e-10
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", np.exceptions.ComplexWarning)  # JAX's complex -> real
        want = jax.jvp(jf, (x,), (t,))
        out, pullback = jax.vjp(jf, x)
        ct = cotangent_like(out)
        (want_ct,) = pullback(ct)
    got = jvp(f, (x,), (t,))
    assert_same(got[0], want[0], rtol=rtol)
    assert_same(got[1], want[1], rtol=rtol)
    assert_same(vjp(f, x)[1](ct)[0], want_ct, rtol=rtol)
    if rtol == 1e-10:  # assert_traced compares at float64 precision
        assert_traced(lambda x, ct: vjp(f, x)[1](ct), [x, ct], [want_ct])


def test_convert_to_or_from_integers_carries_no_tangent():
    x = np.array([1.5, -2.5, 3.0])
    got = jvp(lambda x: fl.convert_element_type(x, np.int32), (x,), (np.ones(3),))
    want = jax.jvp(lambda x: lax.convert_element_type(x, np.int32), (x,), (np.ones(3),))
    assert_same(got[0], want[0])
    assert got[1].dtype == float0 and want[1].dtype == float0
    # float -> int -> float: the gradient is zero, not an error
    round_trip = lambda x: fl.convert_element_type(  # noqa: E731
        fl.convert_element_type(x, np.int32), np.float64)
    assert_same(vjp(round_trip, x)[1](np.ones(3))[0], np.zeros(3))
    n = np.array([1, 2], np.int32)
    got = jvp(lambda n: fl.convert_element_type(n, np.float64), (n,), (np.zeros(2, float0),))
    assert_same(got[0], np.array([1.0, 2.0]))
    assert_same(got[1], np.zeros(2))


# -- complex numbers ---------------------------------------------------------------------------

def complex_normal(shape):
    return normal(shape) + 1j * normal(shape)


COMPLEX_UNARY = {
    "exp": (fl.exp, lax.exp), "log": (fl.log, lax.log), "sqrt": (fl.sqrt, lax.sqrt),
    "rsqrt": (fl.rsqrt, lax.rsqrt), "sin": (fl.sin, lax.sin), "cos": (fl.cos, lax.cos),
    "tan": (fl.tan, lax.tan), "tanh": (fl.tanh, lax.tanh), "sinh": (fl.sinh, lax.sinh),
    "cosh": (fl.cosh, lax.cosh), "log1p": (fl.log1p, lax.log1p),
    "expm1": (fl.expm1, lax.expm1), "logistic": (fl.logistic, lax.logistic),
    "asin": (fl.asin, lax.asin), "acos": (fl.acos, lax.acos), "atan": (fl.atan, lax.atan),
    "neg": (fl.neg, lax.neg), "sign": (fl.sign, lax.sign), "abs": (fl.abs, lax.abs),
    "integer_pow3": (lambda z: fl.integer_pow(z, 3), lambda z: lax.integer_pow(z, 3)),
    "integer_pow-2": (lambda z: fl.integer_pow(z, -2), lambda z: lax.integer_pow(z, -2)),
    "asinh": (fl.asinh, lax.asinh), "acosh": (fl.acosh, lax.acosh),
    "atanh": (fl.atanh, lax.atanh), "exp2": (fl.exp2, lax.exp2),
    "real": (fl.real, lax.real), "imag": (fl.imag, lax.imag), "conj": (fl.conj, lax.conj),
}


@pytest.mark.parametrize("name", sorted(COMPLEX_UNARY))
def test_complex_unary(name):
    f, jf = COMPLEX_UNARY[name]
    z = 0.5 * complex_normal((3,))
    t = complex_normal((3,))
    want = jax.jvp(jf, (z,), (t,))
    got = jvp(f, (z,), (t,))
    assert_same(got[0], want[0])
    assert_same(got[1], want[1])
    ct = cotangent_like(want[0])
    assert_same(vjp(f, z)[1](ct)[0], jax.vjp(jf, z)[1](ct)[0])
    assert_traced(lambda z, ct: vjp(f, z)[1](ct), [z, ct], [jax.vjp(jf, z)[1](ct)[0]])


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow", "atan2"])
def test_complex_binary(name):
    f, jf = getattr(fl, name), getattr(lax, name)
    x, y = complex_normal((3,)), complex_normal((3,))
    tx, ty = complex_normal((3,)), complex_normal((3,))
    want = jax.jvp(jf, (x, y), (tx, ty))
    got = jvp(f, (x, y), (tx, ty))
    assert_same(got[0], want[0])
    assert_same(got[1], want[1])
    ct = complex_normal((3,))
    for g, w in zip(vjp(f, x, y)[1](ct), jax.vjp(jf, x, y)[1](ct)):
        assert_same(g, w)


def test_complex_abs_and_the_gradient_convention():
    # the gradient of a real function of z is df/dx - i df/dy (JAX's convention)
    assert_same(grad(lambda z: fl.integer_pow(fl.abs(z), 2))(3 + 4j),
                jax.grad(lambda z: lax.integer_pow(lax.abs(z), 2))(3 + 4j))
    np.testing.assert_allclose(complex(grad(lambda z: fl.integer_pow(fl.abs(z), 2))(3 + 4j)),
                               6 - 8j, rtol=1e-12)
    got = grad(lambda z: fl.cos(fl.abs(z)))(np.complex128(1 + 0.5j))
    assert_same(got, jax.grad(lambda z: lax.cos(lax.abs(z)))(np.complex128(1 + 0.5j)))
    np.testing.assert_allclose(complex(got), -0.8043 + 0.4022j, atol=1e-4)  # notes §3 item 25
    # at 0 the zero guard makes the derivative 0, as in JAX
    zero = np.zeros(2, np.complex128)
    t = complex_normal((2,))
    assert_same(jvp(fl.abs, (zero,), (t,))[1], jax.jvp(lax.abs, (zero,), (t,))[1])
    assert_same(vjp(fl.abs, zero)[1](np.ones(2))[0], jax.vjp(lax.abs, zero)[1](np.ones(2))[0])
    # second order: the Hessian of |z| in (re, im) directions
    z0 = np.array([0.3 - 1.2j, 2 + 1j])
    w, v = normal((2,)), complex_normal((2,))
    pull = lambda vjp_, f: lambda z: vjp_(f, z)[1](w)[0]  # noqa: E731
    assert_same(jvp(pull(vjp, fl.abs), (z0,), (v,))[1],
                jax.jvp(pull(jax.vjp, lax.abs), (z0,), (v,))[1])
    u = complex_normal((2,))
    assert_same(vjp(pull(vjp, fl.abs), z0)[1](u)[0],
                jax.vjp(pull(jax.vjp, lax.abs), z0)[1](u)[0])


@pytest.mark.slow
def test_complex_abs_against_finite_differences():
    z0 = np.array([0.3 - 1.2j, 2 + 1j])
    # fgrad.testing.check_grads pairs a complex output with its random cotangent through a
    # conjugating inner product, which disagrees with JAX's (non-conjugating) VJP of any
    # complex-valued function; reverse-over-reverse of abs has a complex-valued inner VJP.
    check_grads(fl.abs, (z0,), order=2, modes=("fwd",))
    check_grads(fl.abs, (z0,), order=1)


def test_complex_parts_transpose_as_jax():
    # real: ct -> ct + 0i; imag: ct -> -i ct; conj: ct -> conj(ct) (real ct of a real
    # operand: its real part); complex(x, y): ct -> (re ct, -im ct)
    z, ct = 1.5 - 0.5j, 2.0
    for f, jf, want in [(fl.real, lax.real, 2.0), (fl.imag, lax.imag, -2j)]:
        got = vjp(f, z)[1](ct)[0]
        assert_same(got, jax.vjp(jf, z)[1](ct)[0])
        assert complex(got) == want
    w = 3 + 4j
    assert_same(vjp(fl.conj, z)[1](w)[0], jax.vjp(lax.conj, z)[1](w)[0])
    assert complex(vjp(fl.conj, z)[1](w)[0]) == 3 - 4j
    assert_same(vjp(fl.conj, 1.5)[1](w)[0], jax.vjp(lax.conj, 1.5)[1](w)[0])
    got = vjp(fl.complex, 1.0, 2.0)[1](w)
    for g, e in zip(got, jax.vjp(lax.complex, 1.0, 2.0)[1](w)):
        assert_same(g, e)
    assert (float(got[0]), float(got[1])) == (3.0, -4.0)
    # only one part differentiated: the other gets no cotangent
    x = normal((3,))
    assert_same(vjp(lambda y: fl.complex(x, y), x)[1](np.full(3, w))[0],
                jax.vjp(lambda y: lax.complex(x, y), x)[1](np.full(3, w))[0])


def test_transposes_do_not_conjugate():
    # jax-core-notes §3 item 26: the transpose of z -> (1+2j) z applied to 3+4j is (1+2j)(3+4j)
    got = vjp(lambda z: fl.mul(1 + 2j, z), 1j)[1](3 + 4j)[0]
    assert_same(got, jax.vjp(lambda z: lax.mul(1 + 2j, z), 1j)[1](3 + 4j)[0])
    assert complex(got) == -5 + 10j
    got = vjp(lambda z: fl.div(z, 1 - 1j), 1j)[1](2 + 0j)[0]
    assert_same(got, jax.vjp(lambda z: lax.div(z, 1 - 1j), 1j)[1](2 + 0j)[0])


# -- the transpose rules' own contract ---------------------------------------------------------

def test_transposes_refuse_operands_they_are_not_linear_in():
    aval = Aval((3,), np.dtype(np.float64), False)
    ct = np.ones(3)
    with pytest.raises(TypeError, match="mul is not linear"):
        transpose_rules[ew.mul_p]([ct], UndefinedPrimal(aval), UndefinedPrimal(aval))
    with pytest.raises(TypeError, match="div is not linear in its denominator"):
        transpose_rules[ew.div_p]([ct], np.ones(3), UndefinedPrimal(aval))
    which = UndefinedPrimal(Aval((3,), np.dtype(np.bool_), False))
    with pytest.raises(TypeError, match="select_n is not linear in its selector"):
        transpose_rules[ew.select_n_p]([ct], which, np.ones(3), UndefinedPrimal(aval))


def test_transposes_return_none_for_known_operands():
    aval = Aval((3,), np.dtype(np.float64), False)
    ct, y = np.arange(3.0), np.full(3, 2.0)
    for prim, as_x, as_y in [(ew.add_p, ct, ct), (ew.sub_p, ct, -ct), (ew.mul_p, 2 * ct, 2 * ct),
                             (ew.div_p, ct / 2, None)]:
        x_ct, y_ct = transpose_rules[prim]([ct], UndefinedPrimal(aval), y)
        assert y_ct is None
        np.testing.assert_array_equal(np.asarray(x_ct), as_x)
        if as_y is not None:
            x_ct, y_ct = transpose_rules[prim]([ct], y, UndefinedPrimal(aval))
            assert x_ct is None
            np.testing.assert_array_equal(np.asarray(y_ct), as_y)
    which = np.array([True, False, True])
    cts = transpose_rules[ew.select_n_p]([ct], which, UndefinedPrimal(aval), y)
    assert cts[0] is None and cts[2] is None
    np.testing.assert_array_equal(np.asarray(cts[1]), [0.0, 1.0, 0.0])


def test_every_float_primitive_has_its_rules():
    # Comparisons, is_finite and bitwise operations have bool/int outputs: no rule needed.
    linear = {"neg", "add", "sub", "mul", "div", "select_n", "convert_element_type", "real",
              "imag", "conj", "complex"}
    no_rule = {"is_finite", "eq", "ne", "lt", "le", "gt", "ge", "and", "or", "xor", "not",
               "nextafter",  # nextafter: no derivative, in JAX either
               "shift_left", "shift_right_arithmetic", "shift_right_logical",
               "population_count", "clz"}
    prims = [v for k, v in vars(ew).items() if k.endswith("_p")]
    for prim in prims:
        if prim.name in no_rule:
            continue
        assert prim in jvp_rules, prim.name
        if prim.name in linear:
            assert prim in transpose_rules, prim.name
    def finite_times(x):
        return fl.mul(fl.convert_element_type(fl.is_finite(x), np.float64), x)
    assert_same(grad(finite_times)(np.float64(0.5)), np.float64(1.0))
