"""Custom derivative rules (fgrad.custom_jvp, fgrad.custom_vjp) against JAX's
(jax.custom_jvp, jax.custom_vjp) on the same math.

Every program is written once over a namespace `m` (fgrad's or JAX's numpy, lax, transforms
and custom-rule decorators), so the two versions cannot drift apart. The rules are chosen so
that they differ from the function's own derivative (sin with the tangent 2cos(x)·t): a
result that equals the rule's and not the function's shows the rule was used. Where JAX
refuses (forward mode of a custom_vjp function), the reference is the math the rule implies,
written as a jax.custom_jvp. float64 throughout.
"""

import functools
import inspect
import os
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.lax as fl
import fgrad.numpy as fnp
import fgrad.xla
import oracle
from fgrad.core import ShapeDtypeError, StructureError
from fgrad.core.errors import NotDifferentiableError
from fgrad.testing import check_grads
from fgrad.transforms.simplify import dce

pytestmark = pytest.mark.usefixtures("x64")

HERE = os.path.basename(__file__)
TOL = dict(rtol=1e-12, atol=1e-14)
X = np.arange(3.0)
COS3 = np.cos(3.0)


def line_of(marker: str) -> int:
    return oracle.line_of(__file__, marker)


def same(got, want, **tolerances):
    """Same pytree structure, leaf types (shape, dtype, weak type) and values."""
    oracle.assert_trees_same(got, want, **(TOL | tolerances))


def close(got, want, rtol=1e-6, atol=1e-12):
    """Values only (for hand-derived numbers)."""
    as_leaf = lambda v: isinstance(v, list)
    got, want = (jax.tree_util.tree_leaves(v, is_leaf=as_leaf) for v in (got, want))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=rtol, atol=atol)


def jitted(fun, *args):
    """JAX's reference, compiled once (faster than JAX's eager dispatch)."""
    return jax.jit(fun)(*args)


# -- the two namespaces every program is written over ---------------------------------------


def _jax_bounded_while(cond_fun, body_fun, init, max_steps):
    """JAX's reverse-differentiable equivalent of fgrad's while_loop(..., max_steps=N)."""
    def step(carry, _):
        return jax.lax.cond(cond_fun(carry), body_fun, lambda c: c, carry), None
    return jax.lax.scan(step, init, None, length=max_steps)[0]


FG = SimpleNamespace(
    np=fnp, lax=fl, custom_jvp=fgrad.custom_jvp, custom_vjp=fgrad.custom_vjp,
    SymbolicZero=fgrad.SymbolicZero, stop_gradient=fgrad.stop_gradient, grad=fgrad.grad,
    value_and_grad=fgrad.value_and_grad, jvp=fgrad.jvp, vjp=fgrad.vjp,
    linearize=fgrad.linearize, jacfwd=fgrad.jacfwd, jacrev=fgrad.jacrev, hessian=fgrad.hessian,
    vmap=fgrad.vmap,
    bounded_while=lambda cf, bf, init, n: fl.while_loop(cf, bf, init, max_steps=n))
JX = SimpleNamespace(
    np=jnp, lax=jax.lax, custom_jvp=jax.custom_jvp, custom_vjp=jax.custom_vjp,
    SymbolicZero=jax.custom_derivatives.SymbolicZero, stop_gradient=jax.lax.stop_gradient,
    grad=jax.grad, value_and_grad=jax.value_and_grad, jvp=jax.jvp, vjp=jax.vjp,
    linearize=jax.linearize, jacfwd=jax.jacfwd, jacrev=jax.jacrev, hessian=jax.hessian,
    vmap=jax.vmap, bounded_while=_jax_bounded_while)


# -- the functions ---------------------------------------------------------------------------


def sin2_jvp(m):
    """sin, with the tangent 2cos(x)·t (twice the true one, so the rule's use shows)."""
    @m.custom_jvp
    def f(x):
        return m.np.sin(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return f(x), 2.0 * m.np.cos(x) * t
    return f


def sin2_vjp(m):
    """sin, with the backward pass 2cos(x)·g (saving cos x)."""
    @m.custom_vjp
    def h(x):
        return m.np.sin(x)

    def h_fwd(x):
        return m.np.sin(x), m.np.cos(x)

    def h_bwd(c, g):
        return (2.0 * c * g,)

    h.defvjp(h_fwd, h_bwd)
    return h


# -- 1. custom_jvp and 5. custom_vjp under every transform ----------------------------------


def test_custom_jvp_rule_gives_first_and_second_derivatives():
    f, jf = sin2_jvp(FG), sin2_jvp(JX)
    same(f(3.0), jf(3.0))
    close(f(3.0), np.sin(3.0), rtol=1e-15)  # the function's value
    same(fgrad.grad(f)(3.0), jax.grad(jf)(3.0))
    close(fgrad.grad(f)(3.0), 2 * COS3)  # -1.979985: the rule's, not cos
    close(fgrad.grad(f)(3.0), -1.979985, rtol=1e-6)
    same(fgrad.hessian(f)(3.0), jitted(jax.hessian(jf), 3.0))  # the rule differentiated
    close(fgrad.hessian(f)(3.0), -0.28224, rtol=1e-5)
    close(fgrad.hessian(f)(3.0), -2 * np.sin(3.0))


def test_custom_vjp_rule_gives_first_and_second_derivatives():
    h, jh = sin2_vjp(FG), sin2_vjp(JX)
    same(h(3.0), jh(3.0))
    same(fgrad.grad(h)(3.0), jax.grad(jh)(3.0))
    close(fgrad.grad(h)(3.0), -1.979985, rtol=1e-6)
    # Second order differentiates bwd: d/dx 2cos(x) = -2 sin x, as JAX's jacfwd(jacrev).
    same(fgrad.hessian(h)(3.0), jitted(jax.hessian(jh), 3.0))
    same(fgrad.grad(fgrad.grad(h))(3.0), jitted(jax.grad(jax.grad(jh)), 3.0))
    close(fgrad.hessian(h)(3.0), -2 * np.sin(3.0))


# name -> (m, f) -> function of x; forward: whether it needs forward mode (which JAX refuses
# for custom_vjp functions).
TRANSFORMS = {
    "jvp": (lambda m, f: lambda x: m.jvp(f, (x,), (x,)), True),
    "vjp": (lambda m, f: lambda x: m.vjp(f, x)[1](x * 0.5 + 1.0), False),
    "linearize": (lambda m, f: lambda x: m.linearize(f, x)[1](x + 1.0), True),
    "jacfwd": (lambda m, f: m.jacfwd(f), True),
    "jacrev": (lambda m, f: m.jacrev(f), False),
    "vmap_of_jvp": (lambda m, f: m.vmap(lambda x: m.jvp(f, (x,), (x,))), True),
    "jvp_of_vmap": (lambda m, f: lambda x: m.jvp(m.vmap(f), (x,), (x,)), True),
    "grad_of_vmap": (lambda m, f: m.grad(lambda x: m.np.sum(m.vmap(f)(x) * x)), False),
    "vmap_of_grad": (lambda m, f: m.vmap(m.grad(f)), False),
}


@pytest.mark.parametrize("kind", ["custom_jvp", "custom_vjp"])
@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_transforms_on_vectors(kind, name):
    """Eagerly and under fgrad.jit, against JAX on the same rule; for custom_vjp under
    forward mode, against the math the (linear) bwd implies, a jax.custom_jvp with the same
    derivative, and JAX itself refuses."""
    build, forward = TRANSFORMS[name]
    make = sin2_jvp if kind == "custom_jvp" else sin2_vjp
    f = build(FG, make(FG))
    reference = sin2_jvp if forward else make
    want = jitted(build(JX, reference(JX)), X)
    same(f(X), want)
    same(fgrad.jit(f)(X), want)
    if kind == "custom_vjp" and forward:
        with pytest.raises(TypeError, match="custom_vjp"):
            build(JX, sin2_vjp(JX))(X)


def test_vmap_of_jvp_and_jvp_of_vmap_agree_with_the_rule():
    want = [0.0, 2 * np.cos(1.0), 4 * np.cos(2.0)]  # tangent x: 2cos(x)·x
    close(want, [0.0, 1.0806, -1.6646], rtol=1e-4)
    for make in (sin2_jvp, sin2_vjp):
        f = make(FG)
        close(fgrad.vmap(lambda x: fgrad.jvp(f, (x,), (x,))[1])(X), want, rtol=1e-12)
        close(fgrad.jvp(fgrad.vmap(f), (X,), (X,))[1], want, rtol=1e-12)
        close(fgrad.vmap(fgrad.grad(f))(X), 2 * np.cos(X), rtol=1e-12)  # [2, 1.0806, -0.8323]


@pytest.mark.parametrize("make", [sin2_jvp, sin2_vjp], ids=["custom_jvp", "custom_vjp"])
def test_jax_transforms_of_fgrad_code_use_the_rule(make):
    f, jf = make(FG), make(JX)
    want = jax.grad(jf)(3.0)
    close(want, 2 * COS3, rtol=1e-12)  # the rule's 2cos, not cos
    same(jax.jit(fgrad.grad(f))(3.0), want)
    same(fgrad.jit(fgrad.grad(f))(3.0), want)
    # jax.grad of fgrad.jit-compiled code: the lowering carries the rule (_with_derivative)
    same(jax.grad(fgrad.jit(f))(3.0), want)
    same(jax.vmap(jax.grad(fgrad.jit(f)))(X), jax.vmap(jax.grad(jf))(X))
    same(jax.hessian(fgrad.jit(f))(3.0), jax.hessian(jf)(3.0))
    g = fgrad.jit(lambda x, y: f(x) * y)
    same(jax.grad(g, (0, 1))(3.0, 2.0), jax.grad(lambda x, y: jf(x) * y, (0, 1))(3.0, 2.0))


def test_compiled_forward_pass_does_not_compute_the_rule():
    # The lowering gives JAX the rule through jax.lax.custom_root, which runs the rule only
    # when JAX differentiates: the compiled forward pass of a softplus whose rule uses
    # sigmoid has exactly the plain softplus's exponentials.
    @fgrad.custom_jvp
    def softplus(x):
        return fnp.log1p(fnp.exp(x))

    @softplus.defjvp
    def _(primals, tangents):
        (x,), (t,) = primals, tangents
        return softplus(x), t / (1 + fnp.exp(-x))

    def exponentials(f):
        return fgrad.jit(f).lower(X).compile().as_text().count(" exponential(")

    assert exponentials(softplus) == exponentials(lambda x: fnp.log1p(fnp.exp(x))) == 1
    same(jax.grad(lambda x: fnp.sum(fgrad.jit(softplus)(x)))(X), 1 / (1 + np.exp(-X)))


def test_jax_jvp_of_fgrad_jit_code_uses_the_custom_jvp_rule():
    f = sin2_jvp(FG)
    same(jax.jvp(fgrad.jit(f), (X,), (X,)), jax.jvp(sin2_jvp(JX), (X,), (X,)))


# -- 2. argument kinds: defjvps, nondiff_argnums, keywords, pytrees, integers, outputs -------


def scaled_product(m):
    """f(x, y) = sin(x)·y with per-argument rules that are not its derivative (2cos, 3sin)."""
    @m.custom_jvp
    def f(x, y):
        return m.np.sin(x) * y

    f.defjvps(lambda tx, ans, x, y: 2.0 * m.np.cos(x) * y * tx,
              lambda ty, ans, x, y: 3.0 * m.np.sin(x) * ty)
    return f


def only_second(m):
    @m.custom_jvp
    def f(x, y):
        return m.np.sin(x) * y

    f.defjvps(None, lambda ty, ans, x, y: m.np.sin(x) * ty)
    return f


@pytest.mark.parametrize("build", [scaled_product, only_second])
def test_defjvps_with_two_arguments(build):
    f, jf = build(FG), build(JX)
    args, tangents = (1.0, 2.0), (0.5, -1.5)
    same(fgrad.grad(f, (0, 1))(*args), jax.grad(jf, (0, 1))(*args))
    same(fgrad.jvp(f, args, tangents), jax.jvp(jf, args, tangents))
    if build is scaled_product:
        close(fgrad.grad(f, (0, 1))(*args), (4 * np.cos(1.0), 3 * np.sin(1.0)))
    vx, vy = np.array([0.1, 0.7, -0.4]), np.array([1.0, -2.0, 0.5])
    same(fgrad.vmap(fgrad.grad(f, (0, 1)))(vx, vy), jax.vmap(jax.grad(jf, (0, 1)))(vx, vy))


def apply_jvp(m):
    """app(g, x) = g(x), a function argument in nondiff_argnums, the tangent 3t."""
    @functools.partial(m.custom_jvp, nondiff_argnums=(0,))
    def app(g, x):
        return g(x)

    @app.defjvp
    def app_jvp(g, primals, tangents):
        (x,), (t,) = primals, tangents
        return app(g, x), 3.0 * t
    return app


def test_nondiff_argnums_with_a_callable():
    app, japp = apply_jvp(FG), apply_jvp(JX)
    got = fgrad.jvp(lambda x: app(lambda y: 2.0 * y, x), (1.0,), (1.0,))
    same(got, jax.jvp(lambda x: japp(lambda y: 2.0 * y, x), (1.0,), (1.0,)))
    close(got, (2.0, 3.0))
    g = fgrad.grad(lambda x: app(lambda y: y * y, x) * x)  # 3x + x²
    same(g(2.0), jax.grad(lambda x: japp(lambda y: y * y, x) * x)(2.0))
    close(g(2.0), 10.0)
    same(fgrad.vmap(g)(X), jax.vmap(jax.grad(lambda x: japp(lambda y: y * y, x) * x))(X))


def scale_by(m, rule_calls_f=True):
    """scale(x, w) = x·w, w (an array) in nondiff_argnums: treated as a constant."""
    @functools.partial(m.custom_jvp, nondiff_argnums=(1,))
    def scale(x, w):
        return x * w

    @scale.defjvp
    def scale_jvp(w, primals, tangents):
        (x,), (t,) = primals, tangents
        return (scale(x, w) if rule_calls_f else x * w), 2.0 * t * w
    return scale


@pytest.mark.parametrize("rule_calls_f", [True, False])
def test_nondiff_argnums_with_an_array_is_a_constant(rule_calls_f):
    s, js = scale_by(FG, rule_calls_f), scale_by(JX)
    w = np.array([1.0, -2.0, 0.5])
    # no derivative flows into the array through the nondiff argument, as in JAX
    for argnums in (0, 1, (0, 1)):
        got = fgrad.grad(lambda x, w: fnp.sum(s(x, w)), argnums)(X, w)
        same(got, jax.grad(lambda x, w: jnp.sum(js(x, w)), argnums)(X, w))
    close(fgrad.grad(lambda w: fnp.sum(s(X, w)))(w), np.zeros(3))
    # a concrete array
    same(fgrad.grad(lambda x: fnp.sum(s(x, w)))(X), jax.grad(lambda x: jnp.sum(js(x, w)))(X))
    same(fgrad.jvp(lambda x: s(x, w), (X,), (X,)), jax.jvp(lambda x: js(x, w), (X,), (X,)))
    same(fgrad.jit(fgrad.grad(lambda x: fnp.sum(s(x, w))))(X),
         jax.grad(lambda x: jnp.sum(js(x, w)))(X))
    # a batched one
    ws = np.stack([w, -w])
    same(fgrad.vmap(lambda w: fgrad.grad(lambda x: fnp.sum(s(x, w)))(X))(ws),
         jax.vmap(lambda w: jax.grad(lambda x: jnp.sum(js(x, w)))(X))(ws))
    # custom_vjp (JAX refuses a tracer in a custom_vjp's nondiff_argnums: the batched case
    # against the hand-derived 2w)
    v, jv = scale_vjp(FG, rule_calls_f), scale_vjp(JX)
    same(fgrad.grad(lambda x: fnp.sum(v(x, w)))(X), jax.grad(lambda x: jnp.sum(jv(x, w)))(X))
    same(fgrad.vmap(lambda w: fgrad.grad(lambda x: fnp.sum(v(x, w)))(X))(ws),
         np.stack([2 * w, -2 * w]))


def scale_vjp(m, fwd_calls_f=True):
    @functools.partial(m.custom_vjp, nondiff_argnums=(1,))
    def scale(x, w):
        return x * w

    def scale_fwd(x, w):
        return (scale(x, w) if fwd_calls_f else x * w), None

    def scale_bwd(w, _, g):
        return (2.0 * g * w,)

    scale.defvjp(scale_fwd, scale_bwd)
    return scale


def keyword_jvp(m):
    @m.custom_jvp
    def f(x, y=2.0):
        return x * m.np.sin(y)

    @f.defjvp
    def f_jvp(primals, tangents):
        (x, y), (tx, ty) = primals, tangents
        return f(x, y), 2.0 * (tx * m.np.sin(y) + x * m.np.cos(y) * ty)
    return f


def keyword_vjp(m):
    @m.custom_vjp
    def f(x, y=2.0):
        return x * m.np.sin(y)

    def f_fwd(x, y):
        return f(x, y), (x, y)

    def f_bwd(res, g):
        x, y = res
        return 2.0 * m.np.sin(y) * g, 2.0 * x * m.np.cos(y) * g

    f.defvjp(f_fwd, f_bwd)
    return f


@pytest.mark.parametrize("build", [keyword_jvp, keyword_vjp])
def test_keyword_arguments(build):
    f, jf = build(FG), build(JX)
    for fun in (lambda m, f: lambda x, y: f(x, y=y), lambda m, f: lambda x, y: f(y=y, x=x)):
        same(fgrad.grad(fun(FG, f), (0, 1))(1.5, 0.5), jax.grad(fun(JX, jf), (0, 1))(1.5, 0.5))
    close(fgrad.grad(lambda x, y: f(x, y=y), (0, 1))(1.5, 0.5),
          (2 * np.sin(0.5), 3.0 * np.cos(0.5)))


@pytest.mark.parametrize("build", [keyword_jvp, keyword_vjp])
def test_default_arguments_reach_the_rule(build):
    f, jf = build(FG), build(JX)
    same(fgrad.grad(lambda x: f(x))(1.5), jax.grad(lambda x: jf(x))(1.5))


def pytree_jvp(m):
    @m.custom_jvp
    def f(d, t):
        return {"s": d["a"] * t[0], "p": (m.np.sin(d["b"]) + t[1],)}

    @f.defjvp
    def f_jvp(primals, tangents):
        (d, t), (dd, dt) = primals, tangents
        return f(d, t), {"s": 2.0 * (dd["a"] * t[0] + d["a"] * dt[0]),
                         "p": (m.np.cos(d["b"]) * dd["b"] + dt[1],)}
    return f


def pytree_vjp(m):
    @m.custom_vjp
    def f(d, t):
        return {"s": d["a"] * t[0], "p": (m.np.sin(d["b"]) + t[1],)}

    def f_fwd(d, t):
        return f(d, t), (d, t)

    def f_bwd(res, g):
        d, t = res
        return ({"a": 2.0 * g["s"] * t[0], "b": m.np.cos(d["b"]) * g["p"][0]},
                (2.0 * g["s"] * d["a"], m.np.sum(g["p"][0])))

    f.defvjp(f_fwd, f_bwd)
    return f


PYTREE_ARGS = ({"a": np.float64(2.0), "b": np.array([0.3, -1.2])}, (np.float64(3.0), 4.0))
PYTREE_CT = {"s": np.float64(1.5), "p": (np.array([1.0, -2.0]),)}


def _pytree_loss(m, f):
    return lambda d, t: f(d, t)["s"] * 0.5 + m.np.sum(f(d, t)["p"][0] ** 2)


def test_pytree_arguments_and_outputs_custom_jvp():
    f, jf = pytree_jvp(FG), pytree_jvp(JX)
    tangents = jax.tree.map(lambda x: np.ones_like(x) * 0.5, PYTREE_ARGS)
    same(fgrad.jvp(f, PYTREE_ARGS, tangents), jax.jvp(jf, PYTREE_ARGS, tangents))
    same(fgrad.vjp(f, *PYTREE_ARGS)[1](PYTREE_CT), jax.vjp(jf, *PYTREE_ARGS)[1](PYTREE_CT))
    same(fgrad.grad(_pytree_loss(FG, f), (0, 1))(*PYTREE_ARGS),
         jax.grad(_pytree_loss(JX, jf), (0, 1))(*PYTREE_ARGS))


def pytree_out_vjp(m):
    """Flat arguments, a dict-of-tuple output, residuals a dict of tuples."""
    @m.custom_vjp
    def f(x, y):
        return {"s": x * y, "p": (m.np.sin(x), y * 3.0)}

    def f_fwd(x, y):
        return f(x, y), {"xy": (x, y), "trig": (m.np.cos(x),)}

    def f_bwd(res, g):
        (x, y), (c,) = res["xy"], res["trig"]
        return (2.0 * (g["s"] * y + c * g["p"][0]), g["s"] * x + 3.0 * g["p"][1])

    f.defvjp(f_fwd, f_bwd)
    return f


def test_pytree_outputs_and_nested_residuals_custom_vjp():
    f, jf = pytree_out_vjp(FG), pytree_out_vjp(JX)
    ct = {"s": 1.5, "p": (-0.5, 2.0)}
    same(fgrad.vjp(f, 0.7, -1.1)[1](ct), jax.vjp(jf, 0.7, -1.1)[1](ct))
    loss = lambda m, f: lambda x, y: f(x, y)["s"] + f(x, y)["p"][0] * f(x, y)["p"][1]
    same(fgrad.grad(loss(FG, f), (0, 1))(0.7, -1.1), jax.grad(loss(JX, jf), (0, 1))(0.7, -1.1))
    # forward mode: bwd transposed (the math: a jvp with the same linear map)
    tx, ty = 0.3, -0.8
    _, out_t = fgrad.jvp(f, (0.7, -1.1), (tx, ty))
    c = np.cos(0.7)
    close(out_t, {"s": 2.0 * (tx * -1.1) + 0.7 * ty, "p": (2.0 * c * tx, 3.0 * ty)})


def test_pytree_arguments_custom_vjp():
    f, jf = pytree_vjp(FG), pytree_vjp(JX)
    same(fgrad.vjp(f, *PYTREE_ARGS)[1](PYTREE_CT), jax.vjp(jf, *PYTREE_ARGS)[1](PYTREE_CT))
    same(fgrad.grad(_pytree_loss(FG, f), (0, 1))(*PYTREE_ARGS),
         jax.grad(_pytree_loss(JX, jf), (0, 1))(*PYTREE_ARGS))


def power_jvp(m, seen):
    @m.custom_jvp
    def f(x, n):
        return x ** n

    @f.defjvp
    def f_jvp(primals, tangents):
        (x, n), (tx, tn) = primals, tangents
        seen.append((tn.dtype, tn.shape))
        return f(x, n), 2.0 * n * x ** (n - 1) * tx
    return f


def power_vjp(m):
    @m.custom_vjp
    def f(x, n):
        return x ** n

    def f_fwd(x, n):
        return f(x, n), (x, n)

    def f_bwd(res, g):
        x, n = res
        return 2.0 * n * x ** (n - 1) * g, None

    f.defvjp(f_fwd, f_bwd)
    return f


def test_integer_arguments_have_float0_tangents():
    seen, jseen = [], []
    f, jf = power_jvp(FG, seen), power_jvp(JX, jseen)
    n = np.int32(3)
    same(fgrad.grad(f)(2.0, n), jax.grad(jf)(2.0, n))
    close(fgrad.grad(f)(2.0, n), 24.0)
    assert seen and set(seen) == {(jax.dtypes.float0, ())}, seen
    assert set(jseen) == {(jax.dtypes.float0, ())}, jseen
    same(fgrad.jvp(lambda x: f(x, n), (2.0,), (1.0,)),
         jax.jvp(lambda x: jf(x, n), (2.0,), (1.0,)))
    gx, gn = fgrad.grad(f, (0, 1), allow_int=True)(2.0, n)
    jgx, jgn = jax.grad(jf, (0, 1), allow_int=True)(2.0, n)
    same(gx, jgx)
    assert gn.dtype == jgn.dtype == jax.dtypes.float0
    ns = np.array([1, 2, 3], np.int32)
    same(fgrad.vmap(fgrad.grad(f))(X, ns), jax.vmap(jax.grad(jf))(X, ns))

    # custom_vjp. With a Python float x JAX's gradient takes the weak type of bwd's
    # cotangent (here strong: n is an int32 array) where fgrad's takes x's: a strong x here.
    v, jv = power_vjp(FG), power_vjp(JX)
    x = np.float64(2.0)
    same(fgrad.grad(v)(x, n), jax.grad(jv)(x, n))
    close(fgrad.grad(v)(2.0, n), 24.0)
    same(fgrad.vmap(fgrad.grad(v))(X, ns), jax.vmap(jax.grad(jv))(X, ns))
    gx, gn = fgrad.grad(v, (0, 1), allow_int=True)(x, n)
    assert gn.dtype == jax.dtypes.float0
    same(gx, jax.grad(jv)(x, n))
    same(jax.grad(fgrad.jit(v))(x, n), jax.grad(jv)(x, n))


def two_outputs(m):
    @m.custom_jvp
    def f(x):
        return m.np.sin(x), m.np.cos(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return f(x), (2.0 * m.np.cos(x) * t, -3.0 * m.np.sin(x) * t)
    return f


def test_multiple_outputs():
    f, jf = two_outputs(FG), two_outputs(JX)
    loss = lambda m, f: lambda x: m.np.sum(f(x)[0] * f(x)[1])
    same(fgrad.grad(loss(FG, f))(X), jax.grad(loss(JX, jf))(X))
    same(fgrad.jacfwd(f)(X), jitted(jax.jacfwd(jf), X))
    same(fgrad.jacrev(f)(X), jitted(jax.jacrev(jf), X))
    same(fgrad.vjp(f, X)[1]((X, X + 1)), jax.vjp(jf, X)[1]((X, X + 1)))


# -- 3. symbolic zeros -----------------------------------------------------------------------


def symbolic(m, seen):
    @m.custom_jvp
    def f(x, y):
        return x * m.np.sin(y)

    def f_jvp(primals, tangents):
        (x, y), (tx, ty) = primals, tangents
        zero = (isinstance(tx, m.SymbolicZero), isinstance(ty, m.SymbolicZero))
        seen.append(zero)
        t = 0.0
        if not zero[0]:
            t = t + 2.0 * tx * m.np.sin(y)
        if not zero[1]:
            t = t + 2.0 * x * m.np.cos(y) * ty
        return f(x, y), t

    f.defjvp(f_jvp, symbolic_zeros=True)
    return f


SYMBOLIC_CASES = {  # name -> (m, f) -> function of (x, y); the zero tangents (of x, of y)
    "jvp_zero_ty": (lambda m, f: lambda x, y: m.jvp(lambda a: f(a, y), (x,), (1.0,)),
                    (False, True)),
    "jvp_zero_tx": (lambda m, f: lambda x, y: m.jvp(lambda b: f(x, b), (y,), (1.0,)),
                    (True, False)),
    "jvp_both": (lambda m, f: lambda x, y: m.jvp(f, (x, y), (1.0, -0.5)), (False, False)),
    "grad_argnums_0": (lambda m, f: m.grad(f, 0), (False, True)),
    "grad_argnums_1": (lambda m, f: m.grad(f, 1), (True, False)),
    "grad_argnums_01": (lambda m, f: m.grad(f, (0, 1)), (False, False)),
    "vmap_of_grad_1": (lambda m, f: m.vmap(m.grad(f, 1), (None, 0)), (True, False)),
}


@pytest.mark.parametrize("name", list(SYMBOLIC_CASES))
def test_symbolic_zeros_are_exactly_the_zero_tangents(name):
    build, zeros = SYMBOLIC_CASES[name]
    seen, jseen = [], []
    f, jf = symbolic(FG, seen), symbolic(JX, jseen)
    y = X + 0.5 if name.startswith("vmap") else 0.7
    same(build(FG, f)(1.5, y), build(JX, jf)(1.5, y))
    assert set(jseen) == {zeros}, jseen
    # fgrad traces the rule once more with every tangent present, to find the values it
    # closes over (see custom.py's _Rules): that trace sees no SymbolicZero at all.
    assert zeros in seen and set(seen) <= {zeros, (False, False)}, seen


def test_symbolic_zero_returned_by_the_rule():
    @fgrad.custom_jvp
    def f(x, y):
        return x * 2.0 + y

    def f_jvp(primals, tangents):
        (x, y), (tx, _) = primals, tangents
        out_t = tx if isinstance(tx, fgrad.SymbolicZero) else 5.0 * tx
        return f(x, y), out_t

    f.defjvp(f_jvp, symbolic_zeros=True)
    close(fgrad.grad(f, 1)(1.0, 2.0), 0.0)  # tx is a SymbolicZero, returned as the tangent
    close(fgrad.jvp(lambda y: f(1.0, y), (2.0,), (1.0,)), (4.0, 0.0))
    close(fgrad.grad(f, 0)(1.0, 2.0), 5.0)
    z = fgrad.SymbolicZero(fgrad.core.Aval((2,), np.dtype("float64")))
    assert z.shape == (2,) and z.dtype == np.float64
    close(z.instantiate(), np.zeros(2))


def test_rule_making_a_coefficient_of_the_tangents_shape():
    # full_like of a tangent depends on its shape only: linearizing computes it with the
    # primal part (a LinearTrace splits it there and then), so the transpose never meets it.
    @fgrad.custom_jvp
    def f(x):
        return fnp.sin(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return f(x), t * fl.full_like(t, 3.0) * fnp.cos(x)

    def loss(x):
        return fnp.sum(f(x) ** 2)

    want = 2 * np.sin(X) * 3.0 * np.cos(X)
    close(fgrad.grad(loss)(X), want)
    close(fgrad.jit(fgrad.grad(loss))(X), want)
    close(fgrad.jacrev(f)(X), np.diag(3.0 * np.cos(X)))
    close(fgrad.jacfwd(f)(X), np.diag(3.0 * np.cos(X)))
    program = fgrad.make_ir(fgrad.grad(loss))(X)
    assert "full_like" not in {e.primitive.name for e in program.eqns}


# -- 4. numerical stability ------------------------------------------------------------------


def sigmoid(m, x):
    e = m.np.exp(-m.np.abs(x))  # at most 1: finite, and so are its derivatives
    return m.np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def log1pexp(m):
    @m.custom_jvp
    def f(x):
        return m.np.where(x > 0, x + m.np.log1p(m.np.exp(-m.np.abs(x))),
                          m.np.log1p(m.np.exp(m.np.minimum(x, 0.0))))

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return f(x), sigmoid(m, x) * t
    return f


def logsumexp(m):
    @m.custom_jvp
    def f(x):
        c = m.stop_gradient(m.np.max(x))
        return c + m.np.log(m.np.sum(m.np.exp(x - c)))

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        y = f(x)
        return y, m.np.sum(m.np.exp(x - y) * t)
    return f


def naive_softplus(x):
    return fnp.log(1.0 + fnp.exp(x))


def naive_logsumexp(x):
    return fnp.log(fnp.sum(fnp.exp(x)))


@pytest.mark.parametrize("x, naive_overflows", [
    (1e4, True), (-1e4, False), (100.0, False), (-100.0, False), (np.float32(100.0), True),
    (np.float32(-1e4), False)], ids=["1e4", "-1e4", "100", "-100", "100_f32", "-1e4_f32"])
def test_softplus_gradient_stays_finite(x, naive_overflows):
    f = log1pexp(FG)
    got = fgrad.grad(f)(x)
    assert np.isfinite(got)
    same(got, jax.grad(jax.nn.softplus)(x), rtol=1e-6, atol=0)
    same(f(x), jax.nn.softplus(x), rtol=1e-6, atol=0)
    same(fgrad.grad(fgrad.grad(f))(x), jax.grad(jax.grad(jax.nn.softplus))(x), rtol=1e-5,
         atol=1e-30)
    naive = fgrad.grad(naive_softplus)(x)
    if naive_overflows:  # exp(x) is inf: inf / inf
        assert not np.isfinite(naive), naive
    else:
        close(naive, got, atol=1e-30)


@pytest.mark.parametrize("xs", [[1e4, 1e4 - 1.0, -1e4], [-1e4, -1e4 + 2.0, -1e4 - 1.0],
                                [800.0, 799.0, 0.0], [100.0, 99.0, 0.0]],
                         ids=["1e4", "-1e4", "800", "100"])
def test_logsumexp_gradient_stays_finite(xs):
    xs = np.asarray(xs)
    f = logsumexp(FG)
    got = fgrad.grad(f)(xs)
    assert np.all(np.isfinite(got))
    same(got, jax.grad(jax.scipy.special.logsumexp)(xs), rtol=1e-12, atol=1e-300)
    close(f(xs), jax.scipy.special.logsumexp(xs), rtol=1e-14)
    same(fgrad.hessian(f)(xs), jitted(jax.hessian(jax.scipy.special.logsumexp), xs),
         rtol=1e-9, atol=1e-12)
    naive = fgrad.grad(naive_logsumexp)(xs)
    if abs(xs[0]) > 700:  # exp overflows (or every exp underflows to 0): nan
        assert not np.all(np.isfinite(naive)), naive
    else:
        close(naive, got, rtol=1e-12, atol=1e-300)


# -- 5. custom_vjp: arguments without a cotangent, nondiff, clipping, closures, training -----


def sin_y(m):
    """f(x, y) = x·sin y, bwd (None, 2cos(y)·g): x gets no cotangent."""
    @m.custom_vjp
    def f(x, y):
        return x * m.np.sin(y)

    def f_fwd(x, y):
        return f(x, y), m.np.cos(y)

    def f_bwd(c, g):
        return None, 2.0 * c * g

    f.defvjp(f_fwd, f_bwd)
    return f


def test_bwd_returning_none_for_an_argument():
    f, jf = sin_y(FG), sin_y(JX)
    same(fgrad.grad(lambda x: f(x, x))(3.0), jax.grad(lambda x: jf(x, x))(3.0))
    close(fgrad.grad(lambda x: f(x, x))(3.0), -1.979985, rtol=1e-6)
    same(fgrad.grad(f, (0, 1))(1.5, 3.0), jax.grad(jf, (0, 1))(1.5, 3.0))
    close(fgrad.grad(f, 0)(1.5, 3.0), 0.0)
    # forward mode: the tangent of x does not reach the output (the bwd's transpose)
    close(fgrad.jvp(f, (1.5, 3.0), (1.0, 1.0))[1], 2 * COS3)


def apply_vjp(m):
    """app2(g, x) = g(x), g in nondiff_argnums, bwd cos(x)·g."""
    @functools.partial(m.custom_vjp, nondiff_argnums=(0,))
    def app2(g, x):
        return g(x)

    def app2_fwd(g, x):
        return app2(g, x), m.np.cos(x)

    def app2_bwd(g, c, ct):
        return (c * ct,)

    app2.defvjp(app2_fwd, app2_bwd)
    return app2


def test_custom_vjp_nondiff_argnums_with_a_callable():
    app2, japp2 = apply_vjp(FG), apply_vjp(JX)
    got = fgrad.value_and_grad(lambda x: app2(lambda y: 2.0 * y, x))(1.0)
    same(got, jax.value_and_grad(lambda x: japp2(lambda y: 2.0 * y, x))(1.0))
    close(got, (2.0, np.cos(1.0)))
    same(fgrad.vmap(fgrad.grad(lambda x: app2(fnp.exp, x)))(X),
         jax.vmap(jax.grad(lambda x: japp2(jnp.exp, x)))(X))


def clip_gradient(m):
    @m.custom_vjp
    def clip(lo, hi, x):
        return x

    def clip_fwd(lo, hi, x):
        return x, (lo, hi)

    def clip_bwd(res, g):
        lo, hi = res
        return None, None, m.np.clip(g, lo, hi)

    clip.defvjp(clip_fwd, clip_bwd)
    return clip


def test_clip_gradient_with_a_bound_depending_on_x():
    clip, jclip = clip_gradient(FG), clip_gradient(JX)
    fun = lambda clip: lambda x: clip(-0.2, x + 0.1, x)
    same(fgrad.grad(fun(clip))(0.1), jax.grad(fun(jclip))(0.1))
    close(fgrad.grad(fun(clip))(0.1), 0.2)
    g = lambda m, clip: m.grad(lambda x: m.np.sum(clip(-0.5, 0.5, x * 3.0)))
    xs = np.array([-1.0, 0.1, 2.0])
    same(g(FG, clip)(xs), g(JX, jclip)(xs))  # each cotangent 1 clipped to 0.5, times 3
    same(fgrad.jit(g(FG, clip))(xs), g(JX, jclip)(xs))


def outer_vjp(x):
    @fgrad.custom_vjp
    def inner(y):
        return x * y

    def inner_fwd(y):
        return x * y, None

    def inner_bwd(_, g):
        return (x * g,)

    inner.defvjp(inner_fwd, inner_bwd)
    return inner


def outer_jvp(x):
    @fgrad.custom_jvp
    def inner(y):
        return x * y

    @inner.defjvp
    def inner_jvp(primals, tangents):
        return x * primals[0], x * tangents[0]
    return inner


@pytest.mark.parametrize("outer", [outer_vjp, outer_jvp], ids=["custom_vjp", "custom_jvp"])
def test_closure_over_a_batched_value(outer):
    close(fgrad.vmap(lambda x: outer(x)(3.0))(X), [0.0, 3.0, 6.0])
    close(fgrad.vmap(lambda x: fgrad.grad(outer(x))(3.0))(X), X)
    close(fgrad.jit(fgrad.vmap(lambda x: fgrad.grad(outer(x))(3.0)))(X), X)
    if outer is outer_vjp:  # JAX refuses this one (a custom_vjp closing over a vmap tracer)
        close(fgrad.grad(lambda y: fnp.sum(fgrad.vmap(lambda x: outer(x)(y))(X)))(3.0), 3.0)


@pytest.mark.parametrize("outer", [outer_vjp, outer_jvp], ids=["custom_vjp", "custom_jvp"])
@pytest.mark.parametrize("how", ["grad", "vmap_of_grad", "jit_of_grad", "jvp"])
def test_differentiating_a_closed_over_value_raises(outer, how):
    inner_line = inspect.getsourcelines(outer)[1] + 1  # the decorator of `inner`
    call = {
        "grad": lambda: fgrad.grad(lambda x: outer(x)(3.0))(2.0),
        "vmap_of_grad": lambda: fgrad.vmap(fgrad.grad(lambda x: outer(x)(3.0)))(X),
        "jit_of_grad": lambda: fgrad.jit(fgrad.grad(lambda x: outer(x)(3.0)))(2.0),
        "jvp": lambda: fgrad.jvp(lambda x: outer(x)(3.0), (2.0,), (1.0,)),
    }[how]
    with pytest.raises(NotDifferentiableError) as info:
        call()
    message = str(info.value)
    kind = "custom_vjp" if outer is outer_vjp else "custom_jvp"
    for fragment in (kind, "closes over a value that is being differentiated",
                     "as an argument", f"{outer.__name__}.<locals>.inner",
                     f"{HERE}:{inner_line}"):
        assert fragment in message, (fragment, message)
    close(fgrad.grad(fnp.sin)(0.0), 1.0)  # fgrad works normally right after


def test_passing_the_value_as_an_argument_instead():
    @fgrad.custom_vjp
    def mul(x, y):
        return x * y

    mul.defvjp(lambda x, y: (x * y, (x, y)), lambda r, g: (r[1] * g, r[0] * g))
    close(fgrad.grad(lambda x: mul(x, 3.0))(2.0), 3.0)
    close(fgrad.vmap(fgrad.grad(lambda x: mul(x, 3.0)))(X), [3.0, 3.0, 3.0])


def cube(m):
    @m.custom_vjp
    def f(x):
        return x ** 3

    def f_fwd(x):
        return x ** 3, x

    def f_bwd(x, g):
        return (3.0 * x ** 2 * g,)

    f.defvjp(f_fwd, f_bwd)
    return f


def test_grad_of_grad_differentiates_bwd():
    f, jf = cube(FG), cube(JX)
    same(fgrad.grad(fgrad.grad(f))(2.0), jax.grad(jax.grad(jf))(2.0))
    close(fgrad.grad(fgrad.grad(f))(2.0), 12.0)  # 6x
    close(fgrad.grad(fgrad.grad(fgrad.grad(f)))(2.0), 6.0)
    same(fgrad.hessian(f)(X), jitted(jax.hessian(jf), X))
    same(fgrad.jacfwd(fgrad.jacrev(f))(X), jitted(jax.jacfwd(jax.jacrev(jf)), X))
    same(fgrad.vmap(fgrad.grad(fgrad.grad(f)))(X), jax.vmap(jax.grad(jax.grad(jf)))(X))
    close(fgrad.jit(fgrad.grad(fgrad.grad(f)))(2.0), 12.0)


def straight_through(m):
    @m.custom_vjp
    def quantize(x):
        return m.np.round(x)

    quantize.defvjp(lambda x: (m.np.round(x), None), lambda _, g: (g,))
    return quantize


def ste_step(m, quantize):
    """One SGD step of a linear model whose weights are rounded in the forward pass."""
    data_x = np.array([[1.0, 2.0], [-1.0, 0.5], [0.3, -2.0], [2.0, 1.0]])
    data_y = np.array([3.0, -0.5, -1.7, 4.0])

    def loss(w):
        pred = data_x @ quantize(w)
        return m.np.mean((pred - data_y) ** 2)

    def step(w):
        value, g = m.value_and_grad(loss)(w)
        return w - 0.05 * g, value
    return step


def test_straight_through_estimator_in_a_training_loop():
    step, jstep = ste_step(FG, straight_through(FG)), ste_step(JX, straight_through(JX))
    w = jw = np.array([0.4, 0.45])
    losses = []
    for _ in range(12):
        w, value = step(w)
        jw, jvalue = jstep(jw)
        same(w, jw)
        same(value, jvalue)
        losses.append(float(value))
    assert losses[-1] < losses[0] / 4  # training moved the rounded weights
    close(straight_through(FG)(w), np.round(np.asarray(w)))
    # the identity backward, exactly: the gradient of rounding is not zero
    close(fgrad.grad(lambda x: fnp.sum(straight_through(FG)(x) * 2.0))(np.array([0.4, 1.6])),
          [2.0, 2.0])
    same(fgrad.jit(step)(w), jax.jit(jstep)(jw))


# -- 6. inside control flow ------------------------------------------------------------------


def rule_pair(m):
    """A custom_jvp (sin, tangent 2cos) and a custom_vjp (tanh, cotangent 3(1-y²))."""
    sj = sin2_jvp(m)

    @m.custom_vjp
    def sv(x):
        return m.np.tanh(x)

    def sv_fwd(x):
        y = m.np.tanh(x)
        return y, y

    def sv_bwd(y, g):
        return (3.0 * (1.0 - y * y) * g,)

    sv.defvjp(sv_fwd, sv_bwd)
    return sj, sv


def control_flow_programs(m):
    sj, sv = rule_pair(m)

    def scan(x, w):
        def body(c, i):
            c = sv(sj(c) * w + 0.01 * i)
            return c, c * c
        c, ys = m.lax.scan(body, x, m.np.arange(40.0))
        return c + m.np.sum(ys)

    def cond(x, w):
        return m.lax.cond(x > 0, lambda a: sj(a) * w, lambda a: sv(a * w), x)

    def while_max_steps(x, w):
        body = lambda c: (c[0] + 1, sv(sj(c[1]) * w))
        return m.bounded_while(lambda c: c[0] < 5, body, (0, x), 8)[1]

    def fori(x, w):
        return m.lax.fori_loop(0, 6, lambda i, c: sv(sj(c) * w) + 0.1 * i, x)

    return dict(scan=scan, cond=cond, while_max_steps=while_max_steps, fori=fori)


@pytest.mark.parametrize("name", ["scan", "cond", "while_max_steps", "fori"])
def test_inside_control_flow(name):
    f, jf = control_flow_programs(FG)[name], control_flow_programs(JX)[name]
    w = np.float64(0.8)  # strong types: a scan's carry types differ from JAX's for weak ones
    for x in (np.float64(0.7), np.float64(-0.4)):  # both branches of the cond
        want = jax.jit(jax.value_and_grad(jf, (0, 1)))(x, w)
        same(fgrad.value_and_grad(f, (0, 1))(x, w), want, rtol=1e-11)
        same(fgrad.jit(fgrad.value_and_grad(f, (0, 1)))(x, w), want, rtol=1e-11)
    xs = np.array([0.7, -0.4, 0.2])
    same(fgrad.vmap(fgrad.grad(f), (0, None))(xs, w),
         jax.jit(jax.vmap(jax.grad(jf), (0, None)))(xs, w), rtol=1e-11)


# -- 7. check_grads --------------------------------------------------------------------------


def square_vjp(bwd_factor):
    @fgrad.custom_vjp
    def f(x):
        return x * x

    f.defvjp(lambda x: (x * x, x), lambda x, g: (bwd_factor * x * g,))
    return f


def test_check_grads_passes_on_correct_rules():
    check_grads(log1pexp(FG), (np.array([-3.0, 0.2, 4.0]),), order=2, modes=("fwd", "rev"))
    check_grads(logsumexp(FG), (np.array([-3.0, 0.2, 4.0]),), order=2, modes=("fwd", "rev"))
    # custom_vjp: bwd is linear in the cotangent, so forward mode works too
    check_grads(cube(FG), (np.array([-1.5, 0.3, 2.0]),), order=2, modes=("fwd", "rev"))
    check_grads(square_vjp(2.0), (1.3,), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("modes", [("rev",), ("fwd",)])
def test_check_grads_rejects_a_wrong_bwd(modes):
    with pytest.raises(AssertionError, match="disagrees with finite differences") as info:
        check_grads(square_vjp(1.0), (1.3,), order=1, modes=modes)  # missing factor 2
    assert ("reverse mode" if modes == ("rev",) else "forward mode") in str(info.value)


def test_check_grads_rejects_a_wrong_custom_jvp_rule():
    with pytest.raises(AssertionError, match="forward mode"):
        check_grads(sin2_jvp(FG), (0.7,), order=1)  # 2cos is not sin's derivative
    with pytest.raises(AssertionError, match="reverse mode"):
        check_grads(sin2_jvp(FG), (0.7,), order=1, modes=("rev",))


# -- 8. errors -------------------------------------------------------------------------------


def _vjp_with(fwd, bwd):
    @fgrad.custom_vjp
    def f(x):
        return fnp.sin(x)

    f.defvjp(fwd, bwd)
    return f


def _jvp_with(rule):
    @fgrad.custom_jvp
    def f(x):
        return fnp.sin(x)

    f.defjvp(rule)
    return f


def good_fwd(x):
    return fnp.sin(x), fnp.cos(x)


def good_bwd(c, g):
    return (c * g,)


def bwd_two_cotangents(c, g):
    return c * g, g


def bwd_dict_cotangent(c, g):
    return ({"x": c * g},)


def bwd_not_a_tuple(c, g):
    return c * g


def bwd_wrong_shape(c, g):
    return (fnp.ones(3) * c * g,)


def bwd_wrong_dtype(c, g):
    return ((c * g).astype(np.float32),)


def fwd_not_a_pair(x):
    return fnp.sin(x)


def rule_not_a_pair(primals, tangents):
    return fnp.sin(primals[0])


def rule_wrong_primal_shape(primals, tangents):
    return fnp.ones(3), fnp.cos(primals[0]) * tangents[0]


def rule_wrong_tangent_shape(primals, tangents):
    return fnp.sin(primals[0]), fnp.ones(2) * tangents[0]


def rule_not_linear(primals, tangents):
    return fnp.sin(primals[0]), fnp.cos(primals[0]) * tangents[0] * tangents[0]


def clipping_bwd(_, g):
    return (fnp.clip(g, -1.0, 1.0),)


ERRORS = {  # name -> (call, error type, rule, fragments)
    "bwd_number_of_cotangents": (
        lambda: fgrad.grad(_vjp_with(good_fwd, bwd_two_cotangents))(1.0), StructureError,
        bwd_two_cotangents, ["returns 2 cotangent(s)", "1 differentiable argument"]),
    "bwd_structure": (
        lambda: fgrad.grad(_vjp_with(good_fwd, bwd_dict_cotangent))(1.0), StructureError,
        bwd_dict_cotangent, ["structure", "PyTreeDef({'x': *})", "PyTreeDef(*)"]),
    "bwd_not_a_tuple": (
        lambda: fgrad.grad(_vjp_with(good_fwd, bwd_not_a_tuple))(1.0), StructureError,
        bwd_not_a_tuple, ["must return a tuple", "(ct,)"]),
    "bwd_shape": (
        lambda: fgrad.grad(_vjp_with(good_fwd, bwd_wrong_shape))(1.0), ShapeDtypeError,
        bwd_wrong_shape, ["f64[3]", "f64[]", "shape and dtype"]),
    "bwd_dtype": (
        lambda: fgrad.grad(_vjp_with(good_fwd, bwd_wrong_dtype))(np.float64(1.0)),
        ShapeDtypeError, bwd_wrong_dtype, ["f32[]", "f64[]", "shape and dtype"]),
    "fwd_not_a_pair": (
        lambda: fgrad.grad(_vjp_with(fwd_not_a_pair, good_bwd))(1.0), StructureError,
        fwd_not_a_pair, ["must return a pair (output, residuals)"]),
    "rule_not_a_pair": (
        lambda: fgrad.grad(_jvp_with(rule_not_a_pair))(1.0), StructureError,
        rule_not_a_pair, ["must return a pair (primal_out, tangent_out)"]),
    "rule_primal_shape": (
        lambda: fgrad.jvp(_jvp_with(rule_wrong_primal_shape), (1.0,), (1.0,)),
        ShapeDtypeError, rule_wrong_primal_shape, ["primal output", "f64[3]", "f64[]"]),
    "rule_tangent_shape": (
        lambda: fgrad.grad(_jvp_with(rule_wrong_tangent_shape))(1.0), ShapeDtypeError,
        rule_wrong_tangent_shape, ["tangent", "f64[2]", "f64[]"]),
    "rule_not_linear": (
        lambda: fgrad.grad(_jvp_with(rule_not_linear))(1.0), NotDifferentiableError,
        rule_not_linear, ["custom_jvp rule", "linear", "Reverse mode"]),
    "jvp_of_clipping_bwd": (
        lambda: fgrad.jvp(_vjp_with(good_fwd, clipping_bwd), (1.0,), (1.0,)),
        NotDifferentiableError, clipping_bwd, ["Forward-mode", "bwd", "linear in the "
                                               "cotangent", "reverse mode"]),
    "jacfwd_of_clipping_bwd": (
        lambda: fgrad.jacfwd(_vjp_with(good_fwd, clipping_bwd))(X), NotDifferentiableError,
        clipping_bwd, ["Forward-mode", "bwd"]),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_errors_name_the_rule_and_its_line(name):
    call, error, rule, fragments = ERRORS[name]
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    line = line_of(f"def {rule.__name__}(")
    assert line == rule.__code__.co_firstlineno
    for fragment in [*fragments, f"`{rule.__name__}`", f"{HERE}:{line}"]:
        assert fragment in message, (fragment, message)
    close(fgrad.grad(fnp.sin)(0.0), 1.0)  # fgrad works normally right after
    close(fgrad.grad(_vjp_with(good_fwd, good_bwd))(0.0), 1.0)


def test_a_non_linear_rule_still_works_in_forward_mode():
    close(fgrad.jvp(_jvp_with(rule_not_linear), (1.0,), (3.0,)), (np.sin(1.0), 9 * np.cos(1.0)))


def test_clipping_bwd_works_in_reverse_mode():
    close(fgrad.grad(lambda x: 3.0 * _vjp_with(good_fwd, clipping_bwd)(x))(0.0), 1.0)


def test_defining_a_rule_twice():
    f = _jvp_with(rule_not_linear)
    with pytest.raises(TypeError, match="defjvp was already called") as info:
        f.defjvp(rule_not_a_pair)
    assert f"{HERE}:{line_of('def rule_not_linear(')}" in str(info.value)
    assert "`rule_not_linear`" in str(info.value)
    with pytest.raises(TypeError, match="defjvp was already called"):
        f.defjvps(lambda t, ans, x: t)
    g = _vjp_with(good_fwd, good_bwd)
    with pytest.raises(TypeError, match="defvjp was already called") as info:
        g.defvjp(good_fwd, bwd_two_cotangents)
    for fragment in ("`good_fwd`", f"{HERE}:{line_of('def good_fwd(')}",
                     "`good_bwd`", f"{HERE}:{line_of('def good_bwd(')}"):
        assert fragment in str(info.value), str(info.value)
    close(fgrad.grad(g)(0.0), 1.0)  # the first rule is kept
    close(fgrad.jvp(f, (1.0,), (2.0,))[1], 4 * np.cos(1.0))


def test_calling_before_any_rule_is_defined():
    def undefined(x):
        return x

    line = undefined.__code__.co_firstlineno
    for kind, what in ((fgrad.custom_jvp, "No JVP defined"), (fgrad.custom_vjp, "No VJP")):
        f = kind(undefined)
        with pytest.raises(AttributeError, match=what) as info:
            f(1.0)
        assert "undefined`" in str(info.value) and f"{HERE}:{line}" in str(info.value)
        with pytest.raises(AttributeError):
            fgrad.grad(f)(1.0)
    close(fgrad.grad(fnp.sin)(0.0), 1.0)


# -- 9. eager calls and the IR ---------------------------------------------------------------


def _primitives(program):
    return [e.primitive.name for e in program.eqns]


def test_eager_calls_compute_the_function():
    calls = []

    @fgrad.custom_jvp
    def f(x):
        calls.append("fun")
        return fnp.sin(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        calls.append("rule")
        return fnp.sin(primals[0]) + 100.0, tangents[0]  # a rule that would show

    @fgrad.custom_vjp
    def h(x):
        calls.append("fun")
        return fnp.sin(x)

    h.defvjp(lambda x: (calls.append("fwd") or fnp.sin(x) + 100.0, None), lambda _, g: (g,))
    for fun in (f, h):
        calls.clear()
        got = fun(jnp.asarray(X))
        assert isinstance(got, jax.Array)
        same(got, jnp.sin(X))
        assert calls == ["fun"]
        same(fun(3.0), jnp.sin(3.0))


@pytest.mark.parametrize("make", [sin2_jvp, sin2_vjp], ids=["custom_jvp", "custom_vjp"])
def test_the_ir_holds_one_call_and_its_gradient_applies_the_rule(make):
    f = make(FG)
    name = "custom_jvp_call" if make is sin2_jvp else "custom_vjp_call"
    program = fgrad.make_ir(f)(X)
    assert _primitives(program) == [name], program
    text = str(program)
    assert text.count(name) == 1 and "sin" in text
    close(fgrad.eval_program(program, X)[0], np.sin(X), rtol=1e-15)

    grad_program = fgrad.make_ir(fgrad.grad(lambda x: fnp.sum(f(x))))(X)
    names = _primitives(grad_program)
    assert "cos" in names and "custom_lin" not in names, grad_program
    # The custom_jvp rule computes its primal output by calling f again (JAX's idiom), an
    # equation the gradient does not use (JAX's jaxpr of grad holds it too): dead code.
    assert names.count(name) == (1 if make is sin2_jvp else 0), grad_program
    assert name not in _primitives(dce(grad_program)), dce(grad_program)
    close(fgrad.eval_program(grad_program, X)[0], 2 * np.cos(X))


def test_the_ir_of_grad_without_a_call_in_the_rule():
    @fgrad.custom_jvp
    def f(x):
        return fnp.sin(x)

    f.defjvp(lambda p, t: (fnp.sin(p[0]), 2.0 * fnp.cos(p[0]) * t[0]))
    assert _primitives(fgrad.make_ir(f)(3.0)) == ["custom_jvp_call"]
    names = _primitives(fgrad.make_ir(fgrad.grad(f))(3.0))
    assert "custom_jvp_call" not in names and "cos" in names, names
    program = fgrad.make_ir(lambda x: fgrad.jvp(f, (x,), (x,)))(X)
    assert "custom_jvp_call" not in _primitives(program)
    program = fgrad.make_ir(lambda x: fgrad.jvp(sin2_vjp(FG), (x,), (x,)))(X)
    assert "custom_lin" in _primitives(program) and "custom_vjp_call" not in \
        _primitives(program), program


# -- 10. eager gradient caching --------------------------------------------------------------


MODULE_VJP = sin2_vjp(FG)
MODULE_JVP = sin2_jvp(FG)


@pytest.mark.parametrize("fun", [MODULE_VJP, MODULE_JVP], ids=["custom_vjp", "custom_jvp"])
def test_eager_gradients_reuse_the_compiled_program(fun, monkeypatch):
    # A fresh cache and compile policy: this test's own count, whatever ran before it.
    from fgrad.core.resources import CompilePolicy, LRUCache
    monkeypatch.setattr(fgrad.xla, "_EAGER_EXECUTABLES", LRUCache(8))
    monkeypatch.setattr(fgrad.xla, "_COMPILE_POLICY", CompilePolicy())
    g = fgrad.grad(lambda x: fnp.sum(fun(x) * x))
    xs = [np.array([0.5, 1.5]) + k for k in range(4)]
    results = [g(x) for x in xs]  # op by op, then compiled once and reused
    assert len(fgrad.xla._EAGER_EXECUTABLES) == 1
    for x, got in zip(xs, results):
        close(got, 2 * np.cos(x) * x + np.sin(x), rtol=1e-12)
    g(np.array([0.25, 0.75, 1.0]))  # another shape: another program
    assert len(fgrad.xla._EAGER_EXECUTABLES) == 1  # (seen once: not compiled yet)


# -- regressions: bugs found while writing these tests -----------------------------------


def closing_over(m, w, kind):
    """inner(y) = w·sin(y), closing over w, whose rule (fwd) calls inner again: JAX's idiom."""
    if kind == "custom_jvp":
        @m.custom_jvp
        def inner(y):
            return w * m.np.sin(y)

        @inner.defjvp
        def inner_jvp(primals, tangents):
            return inner(primals[0]), w * m.np.cos(primals[0]) * tangents[0]
        return inner

    @m.custom_vjp
    def inner(y):
        return w * m.np.sin(y)

    inner.defvjp(lambda y: (inner(y), m.np.cos(y)), lambda c, g: (w * c * g,))
    return inner


WS = np.array([0.5, 1.0, -2.0])
# name -> (fgrad's call, the expected value). Each passes when the rule (or fwd) computes its
# output without calling the function again (test_closure_over_a_batched_value).
RULE_CALLS_THE_FUNCTION = {
    "closure_over_vmap_grad_inside_custom_jvp": (
        lambda: fgrad.vmap(lambda w: fgrad.grad(closing_over(FG, w, "custom_jvp"))(3.0))(WS),
        lambda: jax.vmap(lambda w: jax.grad(closing_over(JX, w, "custom_jvp"))(3.0))(WS)),
    "closure_over_vmap_grad_inside_custom_vjp": (
        lambda: fgrad.vmap(lambda w: fgrad.grad(closing_over(FG, w, "custom_vjp"))(3.0))(WS),
        lambda: jax.vmap(lambda w: jax.grad(closing_over(JX, w, "custom_vjp"))(3.0))(WS)),
    "closure_over_vmap_jvp_inside_custom_jvp": (
        lambda: fgrad.vmap(lambda w: fgrad.jvp(closing_over(FG, w, "custom_jvp"), (3.0,),
                                               (1.0,)))(WS),
        lambda: jax.vmap(lambda w: jax.jvp(closing_over(JX, w, "custom_jvp"), (3.0,),
                                           (1.0,)))(WS)),
    "closure_over_vmap_grad_outside_custom_jvp": (
        lambda: fgrad.grad(lambda y: fnp.sum(fgrad.vmap(
            lambda w: closing_over(FG, w, "custom_jvp")(y))(WS)))(3.0),
        lambda: jax.grad(lambda y: jnp.sum(jax.vmap(
            lambda w: closing_over(JX, w, "custom_jvp")(y))(WS)))(3.0)),
    "closure_over_vmap_jvp_outside_custom_jvp": (
        lambda: fgrad.jvp(lambda y: fnp.sum(fgrad.vmap(
            lambda w: closing_over(FG, w, "custom_jvp")(y))(WS)), (3.0,), (1.0,)),
        lambda: jax.jvp(lambda y: jnp.sum(jax.vmap(
            lambda w: closing_over(JX, w, "custom_jvp")(y))(WS)), (3.0,), (1.0,))),
    "closure_over_vmap_hessian_inside_custom_jvp": (
        lambda: fgrad.vmap(lambda w: fgrad.hessian(
            lambda y: closing_over(FG, w, "custom_jvp")(y) * y)(3.0))(WS),
        lambda: jax.vmap(lambda w: jax.hessian(
            lambda y: closing_over(JX, w, "custom_jvp")(y) * y)(3.0))(WS)),
    # JAX refuses this one (a custom_vjp closing over a tracer); fgrad does it when fwd does
    # not call the function (test_closure_over_a_batched_value).
    "closure_over_vmap_grad_outside_custom_vjp": (
        lambda: fgrad.grad(lambda y: fnp.sum(fgrad.vmap(
            lambda w: closing_over(FG, w, "custom_vjp")(y))(WS)))(3.0),
        lambda: jnp.sum(WS) * np.cos(3.0)),
    "jax_grad_of_fgrad_jit_closure_custom_jvp": (
        lambda: jax.grad(fgrad.jit(lambda y, w: closing_over(FG, w, "custom_jvp")(y)))(3.0, 2.0),
        lambda: jax.grad(lambda y, w: closing_over(JX, w, "custom_jvp")(y))(3.0, 2.0)),
    "jax_grad_of_fgrad_jit_closure_custom_vjp": (
        lambda: jax.grad(fgrad.jit(lambda y, w: closing_over(FG, w, "custom_vjp")(y)))(3.0, 2.0),
        lambda: jax.grad(lambda y, w: closing_over(JX, w, "custom_vjp")(y))(3.0, 2.0)),
}


@pytest.mark.parametrize("name", list(RULE_CALLS_THE_FUNCTION))
def test_rule_calling_the_function_with_values_from_outside(name):
    call, want = RULE_CALLS_THE_FUNCTION[name]
    close(call(), want(), rtol=1e-12)


@pytest.mark.parametrize("kind", ["custom_jvp", "custom_vjp"])
def test_jax_grad_of_fgrad_jit_with_respect_to_a_closed_over_value(kind):
    def f(w):
        @getattr(fgrad, kind)
        def inner(y):
            return w * fnp.sin(y)

        if kind == "custom_jvp":
            inner.defjvp(lambda p, t: (w * fnp.sin(p[0]), w * fnp.cos(p[0]) * t[0]))
        else:
            inner.defvjp(lambda y: (w * fnp.sin(y), fnp.cos(y)), lambda c, g: (w * c * g,))
        return inner(3.0)

    with pytest.raises(NotDifferentiableError):
        fgrad.grad(f)(2.0)
    try:
        got = jax.grad(fgrad.jit(f))(2.0)
    except Exception as e:  # noqa: BLE001 - an error is an acceptable answer
        assert "argument" in str(e), e
    else:
        close(got, np.sin(3.0))  # the true derivative, not 0
