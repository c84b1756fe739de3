"""fgrad/lax/special.py: the special-function primitives against jax.lax.

Values (eager, traced and jitted, with JAX's types), the derivative rules against finite
differences and against JAX's, batching against jax.vmap, and the refusals: the derivatives
JAX does not define are refused by fgrad too, with an error that says so.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from jax import lax

import fgrad
import oracle
from fgrad.core import MissingRuleError
from fgrad.core.errors import NotDifferentiableError
from fgrad.lax import special as fsp
from fgrad.testing import check_grads

rng = np.random.default_rng(1616)
S = (2, 3)


def _uniform(lo, hi, shape=S, dtype=np.float64):
    return np.asarray(rng.uniform(lo, hi, shape), dtype)


# name -> (fgrad function, jax.lax function, operand ranges)
PRIMITIVES = {
    "lgamma": (fsp.lgamma, lax.lgamma, [(-3.5, 5.0)]),
    "digamma": (fsp.digamma, lax.digamma, [(-3.5, 5.0)]),
    "polygamma": (fsp.polygamma, lax.polygamma, [None, (0.3, 4.0)]),
    "igamma": (fsp.igamma, lax.igamma, [(0.3, 4.0), (0.1, 6.0)]),
    "igammac": (fsp.igammac, lax.igammac, [(0.3, 4.0), (0.1, 6.0)]),
    "igamma_grad_a": (fsp.igamma_grad_a, lax.igamma_grad_a, [(0.3, 4.0), (0.1, 6.0)]),
    "betainc": (fsp.betainc, lax.betainc, [(0.3, 4.0), (0.3, 4.0), (0.02, 0.98)]),
    "zeta": (fsp.zeta, lax.zeta, [(1.1, 6.0), (0.2, 4.0)]),
}


def _operands(name, dtype):
    ops = []
    for bounds in PRIMITIVES[name][2]:
        if bounds is None:  # polygamma's order m: a whole number stored as a float
            ops.append(np.asarray(rng.integers(0, 4, S), dtype))
        else:
            ops.append(_uniform(*bounds, dtype=dtype))
    return ops


# JAX compiles its igamma family (series and continued fractions in while loops) in about a
# second each, per shape and dtype: the tests below keep to one shape, S, and evaluate
# eagerly where they can, so that JAX's compiled primitive is reused (measured: the first
# version of this file, with a compiled program per check, took 90 s).


@pytest.mark.usefixtures("x64", "quick_compile")
def test_values_match_jax_lax():
    """Eagerly and as a traced program, equal to jax.lax's values with JAX's types."""
    for name, (f, jf, _) in PRIMITIVES.items():
        ops = _operands(name, np.float64)
        want = jf(*ops)
        oracle.assert_same(f(*ops), want)
        oracle.assert_same(oracle.traced(f, ops), want)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_types_match_jax_lax(dtype, request):
    """Output types (shape, dtype, weak type) as JAX's shape rules give them, for strongly
    typed arrays and for weakly typed scalars."""
    dtype = oracle.use_dtype(request, dtype)
    for name, (f, jf, ranges) in PRIMITIVES.items():
        for ops in (_operands(name, dtype),
                    [oracle.make((), dtype, seed=i, weak=True) for i in range(len(ranges))]):
            (got,) = fgrad.make_ir(f)(*ops).out_avals
            want = jax.eval_shape(jf, *ops)
            assert (got.shape, got.dtype, got.weak_type) == (
                want.shape, want.dtype, want.weak_type), name


def test_bad_operands_are_refused_at_the_users_line():
    x, y = np.ones(3, np.float32), np.ones(4, np.float32)
    oracle.check_error(lambda: fsp.igamma(x, y), "igamma", "the shapes differ")
    oracle.check_error(lambda: fsp.zeta(x, x.astype(np.float16)), "zeta", "the dtypes differ")
    oracle.check_error(lambda: fsp.lgamma(np.ones(3, np.int32)), "lgamma",
                       "floating-point numbers, not int32")
    oracle.check_error(lambda: fsp.regularized_incomplete_beta_p.bind1(x, x),
                       "regularized_incomplete_beta", "expected 3 operand(s)")


@pytest.mark.usefixtures("x64", "quick_compile")
def test_rules_against_finite_differences():
    """Second order, forward and reverse, in the differentiable operands (x; for igamma and
    igammac also a, to first order only: their second derivative in a does not exist).
    Eager, so each JAX primitive compiles once for all the evaluations. (That the rules
    equal JAX's derivatives of the lowerings is tests/test_lowering_derivatives.py's.)"""
    lg = _uniform(0.4, 4.0)
    m = np.array([[0.0, 1.0, 2.0], [3.0, 1.0, 0.0]])
    a, b, x = _uniform(0.6, 3.0), _uniform(0.6, 3.0), _uniform(0.3, 3.0)
    s, q = _uniform(1.5, 4.0), _uniform(0.5, 3.0)
    check_grads(lambda v: (fsp.lgamma(v), fsp.digamma(v), fsp.polygamma(m, v)), (lg,), order=2)
    check_grads(lambda v: (fsp.igamma(a, v), fsp.igammac(a, v)), (x,), order=2)
    check_grads(lambda v: fsp.betainc(a, b, v), (_uniform(0.1, 0.9),), order=2)
    check_grads(lambda v: fsp.zeta(s, v), (q,), order=2)
    check_grads(lambda v: (fsp.igamma(v, x), fsp.igammac(v, x)), (a,), order=1)


@pytest.mark.usefixtures("x64")
def test_zeta_in_q_is_minus_x_zeta_of_x_plus_one():
    s, q = _uniform(1.5, 4.0), _uniform(0.5, 3.0)
    grad = fgrad.grad(lambda q: fsp.zeta(s, q).sum())(q)
    np.testing.assert_allclose(grad, -s * lax.zeta(s + 1, q), rtol=1e-13)


@pytest.mark.usefixtures("x64")
def test_derivatives_jax_does_not_define_are_refused_as_in_jax():
    a, b, x = _uniform(0.6, 3.0), _uniform(0.6, 3.0), _uniform(0.1, 0.9)
    m = np.ones(S)

    def total(f):
        return lambda v: f(v).sum()

    refused = [
        (lambda v: fsp.polygamma(v, x), lambda v: lax.polygamma(v, x), "polygamma", "m"),
        (lambda v: fsp.betainc(v, b, x), lambda v: lax.betainc(v, b, x), "betainc", "a"),
        (lambda v: fsp.betainc(a, v, x), lambda v: lax.betainc(a, v, x), "betainc", "b"),
        (lambda v: fsp.zeta(v + 1, x), None, "zeta", "x"),
    ]
    for f, jf, name, operand in refused:
        for transform in (fgrad.grad, lambda g: (lambda v: fgrad.jvp(g, (v,), (m,)))):
            with pytest.raises(NotDifferentiableError,
                               match=f"{name} cannot be differentiated with respect to its "
                                     f"operand {operand}"):
                transform(total(f))(m + 0.5)
        if jf is not None:  # JAX refuses too (its lax.zeta has no derivative at all)
            with pytest.raises(ValueError, match="not supported"):
                jax.grad(total(jf))(m + 0.5)
    with pytest.raises(NotImplementedError):
        jax.grad(total(lambda v: lax.zeta(v, x + 1)))(m + 1.5)
    # igamma_grad_a has no derivative: so neither has igamma a second one in a.
    with pytest.raises(MissingRuleError, match="'igamma_grad_a' has no jvp rule"):
        fgrad.grad(total(lambda v: fsp.igamma_grad_a(v, x)))(a)
    with pytest.raises(MissingRuleError, match="'igamma_grad_a' has no jvp rule"):
        fgrad.hessian(total(lambda v: fsp.igamma(v, x)))(a)
    with pytest.raises(NotImplementedError, match="igamma_grad_a"):
        jax.hessian(total(lambda v: lax.igamma(v, x)))(a)
    # A constant operand is never refused: only a tangent reaching it is.
    fgrad.grad(total(lambda v: fsp.betainc(a, b, v)))(x)
    fgrad.grad(total(lambda v: fsp.polygamma(m, v)))(x + 1)


@pytest.mark.usefixtures("x64", "quick_compile")
def test_vmap_matches_jax_vmap():
    """Batched and unbatched operands mixed: each primitive once, batched along the first
    axis of S (so the batched call has S's shape, which JAX has compiled already)."""
    for name in PRIMITIVES:
        f, jf, _ = PRIMITIVES[name]
        ops = _operands(name, np.float64)
        for in_axes in [(0,) * len(ops), (0,) + (None,) * (len(ops) - 1)]:
            ops_in = [o if d == 0 else o[0] for o, d in zip(ops, in_axes)]
            oracle.assert_same(fgrad.vmap(f, in_axes)(*ops_in), jax.vmap(jf, in_axes)(*ops_in))
    # A batch axis that moves, on the cheap ones.
    x, q = _uniform(1.5, 4.0, (3, 2)), _uniform(0.5, 3.0, (3, 2))
    oracle.assert_same(fgrad.vmap(fsp.zeta, (1, 1))(x, q), jax.vmap(lax.zeta, (1, 1))(x, q))
    oracle.assert_same(fgrad.vmap(fsp.lgamma, 1, 1)(x), jax.vmap(lax.lgamma, 1, 1)(x))
    # The derivative of a batched function: the rules' equations batch too.
    a, x = _uniform(0.6, 3.0), _uniform(0.3, 3.0)
    got = fgrad.vmap(fgrad.grad(lambda a, x: fsp.igamma(a, x).sum(), (0, 1)))(a, x)
    want = jax.vmap(jax.grad(lambda a, x: lax.igamma(a, x).sum(), (0, 1)))(a, x)
    oracle.assert_trees_same(got, want, rtol=1e-12)


@pytest.mark.usefixtures("x64", "quick_compile")
def test_jit_round_trip():
    """Under fgrad.jit: fgrad's program, lowered in one jax.jit. (The lowerings on JAX's
    tracers, under jax.jit, are tests/test_lowering_derivatives.py's.)"""
    names = ["lgamma", "digamma", "polygamma", "igamma", "betainc", "zeta"]
    ops = {name: _operands(name, np.float64) for name in names}

    def every(ops):
        return {name: PRIMITIVES[name][0](*o) for name, o in ops.items()}

    want = {name: PRIMITIVES[name][1](*o) for name, o in ops.items()}
    oracle.assert_trees_same(fgrad.jit(every)(ops), want, rtol=1e-14)
