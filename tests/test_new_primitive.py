"""Adding a primitive is writing its rules in one place: every transform then works on it.

The block below is all it takes, for two primitives:

- `cube` (x³), nonlinear: a shape rule, a lowering to jax.lax, a JVP rule registered with
  `jvp_rules.define` (and its transpose declared absent, with the reason), batching by the
  family helper `defbatch_elementwise`;
- `scale_by_two` (2x), linear: `deflinear` gives its JVP from its transpose rule, and its
  batching rule is registered with `batch_rules.define`.

The tests run both through every transform fgrad has, and through jax.jit around fgrad code,
and compare with the same math in jax.numpy under JAX's own transforms, in float64.
Primitives stay registered for the whole session (a rule cannot be defined twice), so they
are defined once, at import, under names no other primitive has.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax as jax_lax

import fgrad
import fgrad.numpy as fnp
from fgrad import lax
from fgrad.core import Primitive, ShapeDtypeError
from fgrad.lax._ad import deflinear
from fgrad.lax._batching import defbatch_elementwise
from fgrad.transforms.rules import REQUIRED, batch_rules, jvp_rules, transpose_rules

# -- the new primitives: everything about them is in this block ------------------------------


def _float_only(name):
    def abstract_eval(x):
        if not jnp.issubdtype(x.dtype, jnp.inexact):
            raise ShapeDtypeError(f"{name} takes floating-point values, not {x.dtype.name}")
        return x  # same shape, dtype and weak type
    return abstract_eval


cube_p = Primitive("test_new_primitive_cube", _float_only("cube"),
                   lambda x: jax_lax.integer_pow(x, 3))


def _cube_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    three = lax.full_like(x, 3)
    return cube(x), lax.mul(t, lax.mul(three, lax.mul(x, x)))


jvp_rules.define(cube_p, _cube_jvp)
transpose_rules.absent(cube_p, "it is not linear in any operand")
defbatch_elementwise(cube_p)

scale_by_two_p = Primitive("test_new_primitive_scale_by_two", _float_only("scale_by_two"),
                           lambda x: jax_lax.mul(x, jax_lax.full_like(x, 2)))
deflinear(scale_by_two_p, [0], lambda ct, x: [scale_by_two(ct)])  # 2ᵀ = 2
batch_rules.define(scale_by_two_p, lambda axis_size, values, dims: (scale_by_two(values[0]),
                                                                    dims[0]))


def cube(x):
    return cube_p.bind1(x)


def scale_by_two(x):
    return scale_by_two_p.bind1(x)

# -- the same math in JAX --------------------------------------------------------------------


def f(x):
    """A scalar function of a vector that uses both new primitives."""
    return fnp.sum(cube(x) * scale_by_two(fnp.sin(x)))


def f_jax(x):
    return jnp.sum(x ** 3 * (2 * jnp.sin(x)))


def g(x):
    """A vector function of a vector, for the Jacobians."""
    return scale_by_two(cube(x)) + fnp.cos(x) * cube(x)


def g_jax(x):
    return 2 * x ** 3 + jnp.cos(x) * x ** 3


def close(a, b):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-12)


@pytest.fixture
def xs(x64):
    """A vector, a tangent for it, and a batch of vectors, in float64."""
    x = jnp.linspace(-1.5, 2.0, 5)
    assert x.dtype == jnp.float64
    return x, jnp.cos(3 * x), jnp.stack([x, 0.5 * x, x - 1.0])


def test_rules_are_accounted_for_like_every_primitive():
    for prim in (cube_p, scale_by_two_p):
        assert all(prim in t or t.why_absent(prim) for t in REQUIRED)
    assert scale_by_two_p in transpose_rules and cube_p not in transpose_rules


def test_eager_and_jit(xs):
    x, _, _ = xs
    close(cube(x), x ** 3)
    close(scale_by_two(x), 2 * x)
    close(f(x), f_jax(x))
    close(fgrad.jit(f)(x), f_jax(x))
    close(jax.jit(f)(x), f_jax(x))  # fgrad code traced by JAX: the lowerings run
    close(jax.jit(fgrad.grad(f))(x), jax.grad(f_jax)(x))


def test_shape_rule_rejects_integers():
    with pytest.raises(ShapeDtypeError, match="cube takes floating-point"):
        cube(jnp.arange(3))


def test_first_order(xs):
    x, v, _ = xs
    close(fgrad.grad(f)(x), jax.grad(f_jax)(x))
    out, tangent = fgrad.jvp(f, (x,), (v,))
    want_out, want_tangent = jax.jvp(f_jax, (x,), (v,))
    close(out, want_out)
    close(tangent, want_tangent)
    out, pullback = fgrad.vjp(g, x)
    want_out, want_pullback = jax.vjp(g_jax, x)
    close(out, want_out)
    close(pullback(v)[0], want_pullback(v)[0])
    out, f_lin = fgrad.linearize(f, x)
    want_out, want_lin = jax.linearize(f_jax, x)
    close(out, want_out)
    close(f_lin(v), want_lin(v))


def test_jacobians_and_second_order(xs):
    x, _, _ = xs
    close(fgrad.jacfwd(g)(x), jax.jacfwd(g_jax)(x))
    close(fgrad.jacrev(g)(x), jax.jacrev(g_jax)(x))
    close(fgrad.hessian(f)(x), jax.hessian(f_jax)(x))


def test_batching(xs):
    _, _, batch = xs
    close(fgrad.vmap(f)(batch), jax.vmap(f_jax)(batch))
    close(fgrad.vmap(g, in_axes=1, out_axes=1)(batch.T), jax.vmap(g_jax, 1, 1)(batch.T))
    close(fgrad.vmap(fgrad.grad(f))(batch), jax.vmap(jax.grad(f_jax))(batch))
    total = lambda b: fnp.sum(fgrad.vmap(f)(b))
    close(fgrad.grad(total)(batch), jax.grad(lambda b: jnp.sum(jax.vmap(f_jax)(b)))(batch))


def test_reverse_mode_transposes_the_linear_primitive(xs):
    # The gradient program applies scale_by_two to the cotangent: its transpose rule ran.
    x, _, _ = xs
    program = fgrad.make_ir(fgrad.grad(lambda x: fnp.sum(scale_by_two(x) * x)))(x)
    assert str(program).count(scale_by_two_p.name) == 2  # forward and transposed
    close(fgrad.grad(lambda x: fnp.sum(scale_by_two(x) * x))(x), 4 * x)
