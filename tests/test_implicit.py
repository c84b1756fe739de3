"""Implicit differentiation (fgrad.lax.custom_root, fgrad.lax.custom_linear_solve) against
jax.lax.custom_root, jnp.linalg.solve and closed forms.

Every solver is written once over a namespace `m` (fgrad's numpy, lax and transforms, or
JAX's), so fgrad's program and JAX's reference cannot drift apart. The root finders run in
an unbounded while_loop to a tolerance: their reverse-mode derivatives exist only through
the implicit function theorem. float64 throughout, so derivatives compare at 1e-10.
"""

import importlib.util
import os
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.lax as fl
import fgrad.numpy as fnp
import oracle
from fgrad.core import ShapeDtypeError, StructureError

pytestmark = pytest.mark.usefixtures("x64", "quick_compile")

HERE = os.path.basename(__file__)
TOL = dict(rtol=1e-10, atol=1e-12)


def same(got, want, **tolerances):
    """Same pytree structure, leaf types (shape, dtype, weak type) and values."""
    oracle.assert_trees_same(got, want, **(TOL | tolerances))


def close(got, want, **tolerances):
    """Same values (types aside): for comparisons with NumPy closed forms."""
    for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want),
                    strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), **(TOL | tolerances))


# -- the two namespaces every program is written over ---------------------------------------

FG = SimpleNamespace(np=fnp, lax=fl, grad=fgrad.grad, jacfwd=fgrad.jacfwd,
                     cholesky=fl.cholesky, triangular_solve=fl.triangular_solve,
                     bounded_while=lambda cf, bf, init, n: fl.while_loop(cf, bf, init,
                                                                         max_steps=n))


def _jax_bounded_while(cond_fun, body_fun, init, max_steps):
    """fgrad's while_loop(..., max_steps=N) in JAX: N steps, each taken while cond holds."""
    def step(carry, _):
        return jax.lax.cond(cond_fun(carry), body_fun, lambda c: c, carry), None
    return jax.lax.scan(step, init, None, length=max_steps)[0]


JX = SimpleNamespace(np=jnp, lax=jax.lax, grad=jax.grad, jacfwd=jax.jacfwd,
                     cholesky=jax.lax.linalg.cholesky,
                     triangular_solve=jax.lax.linalg.triangular_solve,
                     bounded_while=_jax_bounded_while)


# -- custom_root: a scalar square root by Newton's method -----------------------------------


def newton_scalar(m, tol=1e-13, max_steps=None):
    """Newton's method for a scalar f until the step is below `tol`: an unbounded while loop,
    or at most `max_steps` steps (then differentiable by unrolling)."""
    def solve(f, x0):
        def cond(carry):
            return m.np.abs(carry[1]) > tol

        def body(carry):
            x, _, k = carry
            step = f(x) / m.grad(f)(x)
            return x - step, step, k + 1

        init = (x0, m.np.ones_like(x0), 0)
        if max_steps is None:
            x, _, k = m.lax.while_loop(cond, body, init)
        else:
            x, _, k = m.bounded_while(cond, body, init, max_steps)
        return x, k
    return solve


def scalar_tangent_solve(g, y):
    return y / g(1.0)


def sqrt_root(m, has_aux=False):
    """√a as the root of x² − a, differentiated implicitly. With has_aux: also (the number
    of Newton steps, 2x), which are not differentiated."""
    def root(a):
        def solve(f, x0):
            x, k = newton_scalar(m)(f, x0)
            return (x, (k, 2.0 * x)) if has_aux else x
        return m.lax.custom_root(lambda x: x * x - a, m.np.ones_like(a), solve,
                                 scalar_tangent_solve, has_aux=has_aux)
    return root


def sqrt_unrolled(m, max_steps):
    """The same Newton iterations, differentiated through the iterations themselves."""
    def root(a):
        return newton_scalar(m, max_steps=max_steps)(lambda x: x * x - a, m.np.ones_like(a))[0]
    return root


SQRT_F, SQRT_J = sqrt_root(FG), jax.jit(sqrt_root(JX))
GRAD_SQRT_J = jax.jit(jax.grad(SQRT_J))
A_SCALAR = 2.0
A_VEC = np.array([0.5, 2.0, 9.0])


def test_sqrt_root_values_and_first_order_match_jax():
    same(SQRT_F(A_SCALAR), SQRT_J(A_SCALAR))
    close(SQRT_F(A_SCALAR), np.sqrt(A_SCALAR))
    same(fgrad.grad(SQRT_F)(A_SCALAR), GRAD_SQRT_J(A_SCALAR))
    close(fgrad.grad(SQRT_F)(A_SCALAR), 0.5 / np.sqrt(A_SCALAR))
    same(fgrad.value_and_grad(SQRT_F)(A_SCALAR),
         jax.jit(jax.value_and_grad(SQRT_J))(A_SCALAR))
    same(fgrad.jvp(SQRT_F, (A_SCALAR,), (0.7,)),
         jax.jit(lambda a, t: jax.jvp(SQRT_J, (a,), (t,)))(A_SCALAR, 0.7))
    _, pullback = fgrad.vjp(SQRT_F, A_SCALAR)
    same(pullback(1.5), jax.jit(lambda a, c: jax.vjp(SQRT_J, a)[1](c))(A_SCALAR, 1.5))
    for ours, theirs in ((fgrad.jacfwd, jax.jacfwd), (fgrad.jacrev, jax.jacrev)):
        same(ours(SQRT_F)(A_SCALAR), jax.jit(theirs(SQRT_J))(A_SCALAR))


def test_sqrt_root_second_order_goes_through_the_rule_again():
    want = jax.jit(jax.hessian(SQRT_J))(A_SCALAR)
    same(fgrad.hessian(SQRT_F)(A_SCALAR), want)
    same(fgrad.grad(fgrad.grad(SQRT_F))(A_SCALAR), want)
    close(want, -0.25 * A_SCALAR ** -1.5)
    same(fgrad.jvp(fgrad.grad(SQRT_F), (A_SCALAR,), (1.0,)),
         jax.jit(lambda a, t: jax.jvp(jax.grad(SQRT_J), (a,), (t,)))(A_SCALAR, 1.0))


def test_sqrt_root_under_vmap():
    same(fgrad.vmap(SQRT_F)(A_VEC), jax.vmap(SQRT_J)(A_VEC))
    grads = fgrad.vmap(fgrad.grad(SQRT_F))(A_VEC)
    same(grads, jax.vmap(GRAD_SQRT_J)(A_VEC))
    close(grads, 0.5 / np.sqrt(A_VEC))
    same(fgrad.grad(lambda a: fgrad.vmap(SQRT_F)(a).sum())(A_VEC),
         jax.jit(jax.grad(lambda a: jax.vmap(SQRT_J)(a).sum()))(A_VEC))
    want = jax.jit(jax.jacfwd(jax.vmap(SQRT_J)))(A_VEC)
    same(fgrad.jacfwd(fgrad.vmap(SQRT_F))(A_VEC), want)
    same(fgrad.jit(fgrad.jacrev(fgrad.vmap(SQRT_F)))(A_VEC), want)
    same(fgrad.jit(fgrad.vmap(fgrad.hessian(SQRT_F)))(A_VEC),
         jax.jit(jax.vmap(jax.hessian(SQRT_J)))(A_VEC))


def test_sqrt_root_compiled():
    same(fgrad.jit(fgrad.grad(SQRT_F))(A_SCALAR), GRAD_SQRT_J(A_SCALAR))
    same(fgrad.jit(fgrad.vmap(fgrad.grad(SQRT_F)))(A_VEC), jax.vmap(GRAD_SQRT_J)(A_VEC))
    # JAX differentiates fgrad's compiled code: the lowering carries the rule.
    same(jax.grad(fgrad.jit(SQRT_F))(A_SCALAR), GRAD_SQRT_J(A_SCALAR))
    same(jax.jit(jax.grad(fgrad.jit(SQRT_F)))(A_SCALAR), GRAD_SQRT_J(A_SCALAR))
    same(jax.jit(jax.hessian(fgrad.jit(SQRT_F)))(A_SCALAR),
         jax.jit(jax.hessian(SQRT_J))(A_SCALAR))
    same(jax.jit(fgrad.grad(SQRT_F))(A_SCALAR), GRAD_SQRT_J(A_SCALAR))


def test_custom_root_has_aux():
    ours, theirs = sqrt_root(FG, has_aux=True), jax.jit(sqrt_root(JX, has_aux=True))
    x, (steps, twice) = ours(A_SCALAR)
    same((x, (steps, twice)), theirs(A_SCALAR))
    assert int(steps) == 6  # Newton from 1 to √2: 1.5, 1.4167, ... to a step below 1e-13
    same(fgrad.vmap(ours)(A_VEC), jax.vmap(theirs)(A_VEC))
    same(fgrad.jit(ours)(A_SCALAR), theirs(A_SCALAR))
    # aux is not differentiated: 2x adds nothing to the gradient (JAX's reference is the
    # root without aux, since JAX's custom_root rejects an integer aux under jvp:
    # "primal int64[] with tangent int64[], expecting tangent float0[]").
    total = lambda a: ours(a)[0] + ours(a)[1][1]
    same(fgrad.grad(total)(A_SCALAR), GRAD_SQRT_J(A_SCALAR))
    (value, aux), grad = fgrad.value_and_grad(lambda a: ours(a), has_aux=True)(A_SCALAR)
    same((value, aux, grad), (*theirs(A_SCALAR), GRAD_SQRT_J(A_SCALAR)))
    # The integer step count's tangent is float0, the float aux's is zero.
    _, (dx, (dsteps, dtwice)) = fgrad.jvp(ours, (A_SCALAR,), (1.0,))
    same(dx, GRAD_SQRT_J(A_SCALAR))
    assert dsteps.dtype == jax.dtypes.float0 and float(dtwice) == 0.0


def test_tangent_solve_by_custom_linear_solve():
    """JAX's documented pattern: tangent_solve itself a custom_linear_solve on g (linear in
    y, so reverse mode transposes it; its own rules give the second order)."""
    def sqrt_nested(m):
        def tangent_solve(g, y):
            return m.lax.custom_linear_solve(g, y, lambda mv, b: b / mv(1.0),
                                             lambda vm, b: b / vm(1.0))
        return lambda a: m.lax.custom_root(lambda x: x * x - a, m.np.ones_like(a),
                                           lambda f, x0: newton_scalar(m)(f, x0)[0],
                                           tangent_solve)
    ours, theirs = sqrt_nested(FG), sqrt_nested(JX)
    same(fgrad.grad(ours)(A_SCALAR), jax.jit(jax.grad(theirs))(A_SCALAR))
    close(fgrad.grad(ours)(A_SCALAR), 0.5 / np.sqrt(A_SCALAR))
    same(fgrad.jvp(ours, (A_SCALAR,), (1.0,)),
         jax.jit(lambda a, t: jax.jvp(theirs, (a,), (t,)))(A_SCALAR, 1.0))
    close(fgrad.jit(fgrad.hessian(ours))(A_SCALAR), jax.jit(jax.hessian(theirs))(A_SCALAR))
    same(fgrad.vmap(fgrad.grad(ours))(A_VEC), jax.jit(jax.vmap(jax.grad(theirs)))(A_VEC))


def test_implicit_derivative_is_exact_at_convergence_and_the_unrolled_one_is_not():
    a = 100.0  # Newton from 1 needs 10 steps: 50.5, 26.2, 15.0, 10.8, 10.03, ...
    exact = 0.5 / np.sqrt(a)
    implicit = fgrad.grad(SQRT_F)(a)
    assert abs(float(implicit) - exact) < 1e-10 * exact
    same(implicit, GRAD_SQRT_J(a))
    errors = {}
    for steps in (4, 5, 6, 40):
        unrolled = fgrad.grad(sqrt_unrolled(FG, steps))(a)
        # The same wrong number as JAX's, unrolled the same way:
        same(unrolled, jax.jit(jax.grad(sqrt_unrolled(JX, steps)))(a))
        errors[steps] = abs(float(unrolled) - exact) / exact
    # Stopped early, the unrolled derivative is off by 37%, 2.4%, 0.007%; run to
    # convergence (40 steps allowed, 10 taken) it is right too, having stored every step.
    assert errors[4] > 0.3 and errors[5] > 0.02 and errors[6] > 5e-5, errors
    assert errors[40] < 1e-10, errors


# -- custom_root: the minimum of a strictly convex function of a 3-vector -------------------

Q = np.array([[2.0, 0.5, 0.1], [0.5, 1.5, -0.3], [0.1, -0.3, 1.0]])  # positive definite
THETA = np.array([0.3, -0.5, 0.8])


def cholesky_solve(m, h, y):
    """h⁻¹ y for a positive-definite h, by two triangular solves."""
    low = m.cholesky(h)
    z = m.triangular_solve(low, y, left_side=True, lower=True)
    return m.triangular_solve(low, z, left_side=True, lower=True, transpose_a=True)


def newton_vector(m):
    def solve(f, x0):
        def cond(carry):
            return m.np.max(m.np.abs(carry[1])) > 1e-13

        def body(carry):
            x, _ = carry
            step = cholesky_solve(m, m.jacfwd(f)(x), f(x))
            return x - step, step

        return m.lax.while_loop(cond, body, (x0, m.np.ones_like(x0)))[0]
    return solve


def minimizer(m, tangent_solve):
    """argmin over x of ½xᵀQx + ¼Σ exp(θ)x⁴ − θᵀx, the root of its gradient in x."""
    def root(theta):
        def energy(x):
            return (0.5 * m.np.sum(x * m.np.matmul(Q, x))
                    + 0.25 * m.np.sum(m.np.exp(theta) * x ** 4) - m.np.sum(theta * x))
        return m.lax.custom_root(m.grad(energy), m.np.zeros_like(theta), newton_vector(m),
                                 tangent_solve)
    return root


MIN_F = minimizer(FG, lambda g, y: cholesky_solve(FG, fgrad.jacfwd(g)(y), y))
MIN_J = jax.jit(minimizer(JX, lambda g, y: jnp.linalg.solve(jax.jacfwd(g)(y), y)))


def test_vector_root_jacobians_match_jax_and_the_theorem():
    x = MIN_F(THETA)
    same(x, MIN_J(THETA))
    gradient = np.asarray(Q @ x + np.exp(THETA) * x ** 3 - THETA)
    assert np.abs(gradient).max() < 1e-13
    want = jax.jit(jax.jacfwd(MIN_J))(THETA)
    same(fgrad.jacfwd(MIN_F)(THETA), want)
    same(fgrad.jit(fgrad.jacrev(MIN_F))(THETA), want)
    # The theorem: dx/dθ = −H⁻¹ ∂θ(∇ₓE) with H = Q + 3 diag(exp(θ)x²).
    x = np.asarray(x)
    hess = Q + 3 * np.diag(np.exp(THETA) * x ** 2)
    close(want, -np.linalg.solve(hess, np.diag(np.exp(THETA) * x ** 3) - np.eye(3)))
    w = np.array([1.0, -2.0, 0.5])
    same(fgrad.grad(lambda t: fnp.sum(w * MIN_F(t)))(THETA),
         jax.jit(jax.grad(lambda t: jnp.sum(w * MIN_J(t))))(THETA))


def test_vector_root_hessian_differentiates_the_cholesky_tangent_solve():
    def loss(m, root):
        return lambda t: m.np.sum(m.np.sin(root(t)) * root(t))
    same(fgrad.jit(fgrad.hessian(loss(FG, MIN_F)))(THETA),
         jax.jit(jax.hessian(loss(JX, MIN_J)))(THETA))


# -- custom_linear_solve ----------------------------------------------------------------------

A = np.array([[3.0, 1.0, -0.5], [0.4, 2.0, 0.7], [-0.3, 0.8, 1.5]])  # not symmetric
B = np.array([1.0, -2.0, 0.5])


def cross(u, v):
    return fnp.stack([u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2],
                      u[0] * v[1] - u[1] * v[0]])


def inverse3(mat):
    """The inverse of a 3×3 matrix from its cofactors (rows: cross products of columns)."""
    c0, c1, c2 = mat[:, 0], mat[:, 1], mat[:, 2]
    return fnp.stack([cross(c1, c2), cross(c2, c0), cross(c0, c1)]) / fnp.sum(c0 * cross(c1, c2))


def cofactor_solve(linear_map, b):
    """Solves with any 3×3 linear map: its matrix (the Jacobian), inverted by cofactors. As
    transpose_solve it is handed vecmat, the transpose fgrad derives from matvec."""
    return fnp.matmul(inverse3(fgrad.jacfwd(linear_map)(b)), b)


def solve_f(a, b):
    return fl.custom_linear_solve(lambda x: fnp.matmul(a, x), b, cofactor_solve,
                                  transpose_solve=cofactor_solve)


solve_j = jax.jit(jnp.linalg.solve)


def sin_loss(m, solve):
    return lambda a, b: m.np.sum(m.np.sin(solve(a, b)))


def test_linear_solve_matches_jnp_linalg_solve():
    same(solve_f(A, B), solve_j(A, B))
    same(fgrad.jvp(solve_f, (A, B), (A.T, B[::-1])),
         jax.jit(lambda *t: jax.jvp(solve_j, (A, B), t))(A.T, B[::-1]))
    same(fgrad.grad(sin_loss(FG, solve_f), (0, 1))(A, B),
         jax.jit(jax.grad(sin_loss(JX, solve_j), (0, 1)))(A, B))
    want = jax.jit(jax.jacfwd(solve_j, (0, 1)))(A, B)
    same(fgrad.jacfwd(solve_f, (0, 1))(A, B), want)
    same(fgrad.jit(fgrad.jacrev(solve_f, (0, 1)))(A, B), want)
    same(fgrad.jit(fgrad.hessian(sin_loss(FG, solve_f), 1))(A, B),
         jax.jit(jax.hessian(sin_loss(JX, solve_j), 1))(A, B))


def test_linear_solve_compiled_and_under_jax_grad():
    want = jax.jit(jax.grad(sin_loss(JX, solve_j), (0, 1)))(A, B)
    same(fgrad.jit(fgrad.grad(sin_loss(FG, solve_f), (0, 1)))(A, B), want)
    same(jax.grad(fgrad.jit(sin_loss(FG, solve_f)), (0, 1))(A, B), want)


BS = np.stack([B, 2 * B - 1, -B])
AS = np.stack([A, A + np.eye(3), A.T])


def test_linear_solve_under_vmap():
    same(fgrad.vmap(solve_f, (None, 0))(A, BS), jax.vmap(solve_j, (None, 0))(A, BS))
    same(fgrad.vmap(solve_f, (0, None))(AS, B), jax.vmap(solve_j, (0, None))(AS, B))
    same(fgrad.jit(fgrad.vmap(solve_f))(AS, BS), jax.vmap(solve_j)(AS, BS))
    grads = (fgrad.grad(sin_loss(FG, solve_f), (0, 1)), jax.grad(sin_loss(JX, solve_j), (0, 1)))
    same(fgrad.vmap(grads[0])(AS, BS), jax.jit(jax.vmap(grads[1]))(AS, BS))
    same(fgrad.jit(fgrad.vmap(grads[0], (0, None)))(AS, B),
         jax.jit(jax.vmap(grads[1], (0, None)))(AS, B))


def conjugate_gradient(matvec, b, tol=1e-12):
    """CG to a residual norm of `tol`, in an unbounded while loop; also its step count."""
    def cond(carry):
        return carry[3] > tol ** 2

    def body(carry):
        x, r, p, rr, k = carry
        ap = matvec(p)
        alpha = rr / fnp.sum(p * ap)
        x, r = x + alpha * p, r - alpha * ap
        rr_new = fnp.sum(r * r)
        return x, r, p * (rr_new / rr) + r, rr_new, k + 1

    x, _, _, _, k = fl.while_loop(cond, body, (fnp.zeros_like(b), b, b, fnp.sum(b * b), 0))
    return x, k


SPD = np.array([[4.0, 1.0, 0.3, -0.2], [1.0, 3.0, 0.5, 0.1], [0.3, 0.5, 2.5, 0.4],
                [-0.2, 0.1, 0.4, 2.0]])
B4 = np.array([1.0, -0.5, 2.0, 0.3])


def cg_solve_f(s, b):
    return fl.custom_linear_solve(lambda x: fnp.matmul(s, x), b,
                                  lambda mv, b: conjugate_gradient(mv, b)[0], symmetric=True)


def test_symmetric_conjugate_gradient():
    x = cg_solve_f(SPD, B4)
    same(x, solve_j(SPD, B4))
    assert np.abs(SPD @ np.asarray(x) - B4).max() < 1e-12
    k = fgrad.jit(lambda b: conjugate_gradient(lambda v: fnp.matmul(SPD, v), b)[1])(B4)
    assert 4 <= int(k) <= 6  # n steps in exact arithmetic
    want = jax.jit(jax.grad(sin_loss(JX, solve_j), (0, 1)))(SPD, B4)
    same(fgrad.grad(sin_loss(FG, cg_solve_f), (0, 1))(SPD, B4), want)
    same(fgrad.jit(fgrad.grad(sin_loss(FG, cg_solve_f), (0, 1)))(SPD, B4), want)
    same(fgrad.jit(fgrad.jacrev(cg_solve_f, 1))(SPD, B4), jax.jit(jax.jacrev(solve_j, 1))(SPD, B4))
    bs = np.stack([B4, -B4, B4 ** 2])
    same(fgrad.jit(fgrad.vmap(cg_solve_f, (None, 0)))(SPD, bs),
         jax.vmap(solve_j, (None, 0))(SPD, bs))


def block_matvec(a):
    """A acting on x = (u, v), u of 2 and v of 1 elements, returning the same structure."""
    def matvec(x):
        w = fnp.matmul(a, fnp.concatenate(list(x)))
        return w[:2], w[2:]
    return matvec


def block_solver(a):
    def solve(_, b):
        x = fnp.matmul(inverse3(a), fnp.concatenate(list(b)))
        return x[:2], x[2:]
    return solve


def tuple_solve_f(a, b):
    return fl.custom_linear_solve(block_matvec(a), b, block_solver(a),
                                  transpose_solve=block_solver(a.T))


def tuple_solve_j(a, b):
    x = jnp.linalg.solve(a, jnp.concatenate(b))
    return x[:2], x[2:]


def test_pytree_right_hand_side():
    b = (B[:2], B[2:])
    same(tuple_solve_f(A, b), tuple_solve_j(A, b))

    def loss(m, solve):
        return lambda a, b: m.np.sum(m.np.sin(solve(a, b)[0])) + m.np.sum(solve(a, b)[1] ** 3)
    same(fgrad.grad(loss(FG, tuple_solve_f), (0, 1))(A, b),
         jax.jit(jax.grad(loss(JX, tuple_solve_j), (0, 1)))(A, b))
    same(fgrad.jit(fgrad.jacfwd(tuple_solve_f, 1))(A, b),
         jax.jit(jax.jacfwd(tuple_solve_j, 1))(A, b))


def test_linear_solve_has_aux():
    def solve(s, b):
        return fl.custom_linear_solve(lambda x: fnp.matmul(s, x), b, conjugate_gradient,
                                      symmetric=True, has_aux=True)
    x, steps = solve(SPD, B4)
    same(x, solve_j(SPD, B4))
    assert 4 <= int(steps) <= 6
    same(fgrad.grad(lambda b: fnp.sum(solve(SPD, b)[0] ** 2))(B4),
         jax.grad(lambda b: jnp.sum(solve_j(SPD, b) ** 2))(B4))


def test_linear_solve_keeps_weak_cotangents():
    def x(lax):
        return lambda b: lax.custom_linear_solve(lambda x: 2.0 * x, b, lambda mv, b: b / 2.0,
                                                 symmetric=True)
    same(fgrad.grad(x(fl))(1.0), jax.grad(x(jax.lax))(1.0))  # both 0.5, JAX's weakly typed


def test_linear_solve_has_aux_of_constants():
    """An aux leaf that is not an array (a string) passes through as it is."""
    x, note = fl.custom_linear_solve(
        lambda x: fnp.matmul(A, x), B, lambda mv, b: (cofactor_solve(mv, b), "cofactors"),
        has_aux=True)
    same(x, solve_j(A, B))
    assert note == "cofactors"


# -- errors, each followed by fgrad working normally --------------------------------------------


GRAD_B_J = jax.jit(jax.grad(sin_loss(JX, solve_j), 1))


def works_normally():
    """Right after an error: a solve, a root and their gradients, equal to JAX's."""
    same(fgrad.grad(sin_loss(FG, solve_f), 1)(A, B), GRAD_B_J(A, B))
    same(fgrad.grad(SQRT_F)(A_SCALAR), GRAD_SQRT_J(A_SCALAR))


def assert_names_here(message: str, marker: str):
    assert f"{HERE}:{oracle.line_of(__file__, marker)}" in message, message


def test_reverse_mode_without_transpose_solve_says_how():
    def no_transpose(a, b):
        return fl.custom_linear_solve(lambda x: fnp.matmul(a, x), b, cofactor_solve)
    # Forward mode needs no transposed solve.
    same(fgrad.jit(fgrad.jacfwd(no_transpose, (0, 1)))(A, B),
         jax.jit(jax.jacfwd(solve_j, (0, 1)))(A, B))
    for argnums in (0, 1):
        with pytest.raises(StructureError) as info:
            fgrad.grad(lambda a, b: fnp.sum(no_transpose(a, b)), argnums)(A, B)  # grad-here
        message = str(info.value)
        assert "transpose_solve" in message and "symmetric=True" in message, message
        assert_names_here(message, "# grad-here")
    works_normally()


def test_matvec_of_another_shape():
    with pytest.raises(ShapeDtypeError) as info:
        fl.custom_linear_solve(lambda x: fnp.concatenate([x, x]), B, cofactor_solve)  # mv6
    message = str(info.value)
    for words in ("matvec", "f64[6]", "f64[3]", "square"):
        assert words in message, message
    assert_names_here(message, "# mv6")
    with pytest.raises(StructureError, match="matvec .* returns the structure"):
        fl.custom_linear_solve(lambda x: (x, x), B, cofactor_solve)
    works_normally()


def test_solve_of_another_structure_or_shape():
    with pytest.raises(StructureError) as info:
        fl.custom_linear_solve(lambda x: fnp.matmul(A, x), B, lambda mv, b: (b, b))  # pair
    message = str(info.value)
    assert "returns the structure" in message and "but b has" in message, message
    assert_names_here(message, "# pair")
    with pytest.raises(ShapeDtypeError, match="transpose_solve .* returns \\(f64\\[2\\]\\)"):
        fl.custom_linear_solve(lambda x: fnp.matmul(A, x), B, cofactor_solve,
                               lambda vm, b: b[:2])
    works_normally()


def test_custom_root_f_of_another_shape():
    with pytest.raises(ShapeDtypeError) as info:
        fl.custom_root(lambda x: x[:2], B, lambda f, x: x, lambda g, y: y)  # short f
    message = str(info.value)
    for words in ("custom_root: f", "f64[2]", "f64[3]", "residual of x's structure"):
        assert words in message, message
    assert_names_here(message, "# short f")
    with pytest.raises(ShapeDtypeError, match="structure PyTreeDef\\(\\(\\*, \\*\\)\\)"):
        fl.custom_root(lambda x: (x, x), B, lambda f, x: x, lambda g, y: y)
    works_normally()


def test_arguments_that_are_not_functions():
    cases = [
        (lambda: fl.custom_linear_solve(A, B, cofactor_solve), "matvec must be a function"),
        (lambda: fl.custom_linear_solve(lambda x: x, B, np.eye(3)), "solve must be a function"),
        (lambda: fl.custom_linear_solve(lambda x: x, B, cofactor_solve, 3),
         "transpose_solve must be a function or None, got int"),
        (lambda: fl.custom_root(B, B, lambda f, x: x, scalar_tangent_solve),
         "f must be a function, got ndarray"),
        (lambda: fl.custom_root(lambda x: x, B, None, scalar_tangent_solve),
         "solve must be a function, got NoneType"),
        (lambda: fl.custom_root(lambda x: x, B, lambda f, x: x, np.eye(3)),
         "tangent_solve must be a function"),
    ]
    for call, words in cases:
        with pytest.raises(TypeError) as info:
            call()
        assert words in str(info.value), str(info.value)
    with pytest.raises(ShapeDtypeError, match="floating-point right-hand side, got i64\\[2\\]"):
        fl.custom_linear_solve(lambda x: x, np.array([1, 2]), lambda mv, b: b)
    works_normally()


# -- what solve and tangent_solve may do ------------------------------------------------------


def test_custom_root_solve_of_another_structure_or_shape():
    with pytest.raises(TypeError, match="initial_guess"):  # JAX's TypeError; fgrad's too
        jax.lax.custom_root(lambda x: x - 1.0, B, lambda f, x: (x, x), lambda g, y: y)
    for bad, words in (
            (lambda f, x: (x, x), "returns PyTreeDef((*, *)) of types (f64[3], f64[3])"),
            (lambda f, x: x[:2], "returns PyTreeDef(*) of types (f64[2])")):
        with pytest.raises(ShapeDtypeError) as info:
            fl.custom_root(lambda x: x - 1.0, B, bad, lambda g, y: y)  # bad solve
        message = str(info.value)
        assert isinstance(info.value, TypeError)
        assert "custom_root: solve" in message and words in message, message
        assert "the solution must have the guess's structure and types" in message, message
        assert_names_here(message, "# bad solve")
    works_normally()


def test_tangent_solve_dividing_by_g_of_ones_like():
    def root(m):
        def f(theta):
            return m.lax.custom_root(lambda x: x ** 3 + x - theta, m.np.zeros_like(theta),
                                     lambda f, x0: newton_elementwise(m, f, x0),
                                     lambda g, y: y / g(m.np.ones_like(y)))
        return f
    want = jax.grad(lambda t: jnp.sum(root(JX)(t)))(THETA)
    same(fgrad.grad(lambda t: fnp.sum(root(FG)(t)))(THETA), want)


def newton_elementwise(m, f, x0):
    def body(carry):
        x, _ = carry
        step = f(x) / m.grad(lambda x: m.np.sum(f(x)))(x)
        return x - step, step
    return m.lax.while_loop(lambda c: m.np.max(m.np.abs(c[1])) > 1e-13, body,
                            (x0, m.np.ones_like(x0)))[0]


def test_tangent_solve_dividing_by_g_of_ones():
    """Ones that do not come from y work too."""
    def root(m):
        def f(theta):
            return m.lax.custom_root(lambda x: x ** 3 + x - theta, m.np.zeros_like(theta),
                                     lambda f, x0: newton_elementwise(m, f, x0),
                                     lambda g, y: y / g(np.ones(y.shape)))
        return f
    want = jax.grad(lambda t: jnp.sum(root(JX)(t)))(THETA)
    same(fgrad.grad(lambda t: fnp.sum(root(FG)(t)))(THETA), want)


def test_custom_root_solve_closing_over_the_parameter():
    """solve may read the values f closes over (a Newton step with the derivative written
    out): it is never differentiated, so they are constants to it, as in JAX."""
    def root(m):
        def f(a):
            def solve(f, x0):
                def body(c):
                    step = f(c[0]) / (3 * c[0] ** 2 + a)
                    return c[0] - step, step
                return m.lax.while_loop(lambda c: m.np.abs(c[1]) > 1e-13, body, (x0, 1.0))[0]
            return m.lax.custom_root(lambda x: x ** 3 + a * x - 1.0, 1.0, solve,
                                     scalar_tangent_solve)
        return f
    want = jax.jit(jax.grad(root(JX)))(2.0)
    x = float(root(JX)(2.0))
    close(want, -x / (3 * x ** 2 + 2.0))
    same(fgrad.grad(root(FG))(2.0), want)
    same(fgrad.jit(fgrad.grad(root(FG)))(2.0), want)
    same(fgrad.jacrev(root(FG))(2.0), want)
    same(fgrad.jit(fgrad.hessian(root(FG)))(2.0), jax.jit(jax.hessian(root(JX)))(2.0))


# -- memory does not grow with the iterations ---------------------------------------------------

N_MEMORY = 256


def fixed_point(max_steps=None):
    """x ← x − f(x) to a step of 1e-12 (f(x) = x − c·tanh(x) − θ: a contraction by c)."""
    def solve(f, x0):
        def body(carry):
            x, _, k = carry
            new = x - f(x)
            return new, new - x, k + 1
        kw = {} if max_steps is None else dict(max_steps=max_steps)
        x, _, k = fl.while_loop(lambda c: fnp.max(fnp.abs(c[1])) > 1e-12, body,
                                (x0, fnp.ones_like(x0), 0), **kw)
        return x, k
    return solve


def memory_loss(c, max_steps=None):
    """Σx² for x = c·tanh(x) + θ elementwise: implicitly, or unrolled to max_steps."""
    def loss(theta):
        f = lambda x: x - c * fnp.tanh(x) - theta
        if max_steps is None:
            x, k = fl.custom_root(f, fnp.zeros_like(theta), fixed_point(),
                                  lambda g, y: y / g(np.ones(y.shape)), has_aux=True)
        else:
            x, k = fixed_point(max_steps)(f, fnp.zeros_like(theta))
        return fnp.sum(x ** 2), k
    return loss


def temp_bytes(fn, *args) -> int:
    """XLA's temporaries for the compiled fn (benchmarks/run.py's peak_and_temp_bytes)."""
    return fn.lower(*args).compile().memory_analysis().temp_size_in_bytes


def test_implicit_gradient_memory_does_not_grow_with_the_iterations():
    """Measured with XLA's optimizations on (as benchmarks/run.py measures), whatever
    quick_compile set for the other tests."""
    jax.config.update("jax_disable_most_optimizations", False)  # quick_compile restores it
    theta = np.linspace(-1.0, 1.0, N_MEMORY)
    temps, steps = {}, {}
    for c in (0.1, 0.99):
        grad = fgrad.jit(fgrad.grad(memory_loss(c), has_aux=True))
        g, steps[c] = grad(theta)
        x = np.asarray(fl.custom_root(lambda x: x - c * fnp.tanh(x) - theta, np.zeros_like(theta),
                                      lambda f, x0: fixed_point()(f, x0)[0],
                                      lambda g, y: y / g(np.ones(y.shape))))
        close(g, 2 * x / (1 - c / np.cosh(x) ** 2), rtol=1e-9)  # the theorem, elementwise
        temps[c] = temp_bytes(grad, theta)
    assert int(steps[0.1]) < 20 and int(steps[0.99]) > 500, steps
    assert temps[0.99] <= temps[0.1], temps  # 40x the iterations, the same temporaries
    # Unrolled, reverse mode stores every step: at least one vector per allowed step.
    unrolled = {}
    for c, n in ((0.1, 20), (0.99, 600)):
        grad = fgrad.jit(fgrad.grad(memory_loss(c, n), has_aux=True))
        g, k = grad(theta)
        assert int(k) == int(steps[c])
        implicit = fgrad.jit(fgrad.grad(memory_loss(c), has_aux=True))(theta)[0]
        close(g, implicit, rtol=1e-8)
        unrolled[n] = temp_bytes(grad, theta)
    assert unrolled[600] - unrolled[20] >= (600 - 20) * N_MEMORY * 8, unrolled
    assert temps[0.99] * 100 < unrolled[600], (temps, unrolled)


# -- examples/implicit_newton.py ----------------------------------------------------------------


def load_example(name: str):
    """As tests/test_control_flow_examples.py loads the examples."""
    path = os.path.join(os.path.dirname(__file__), "..", "examples", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"{name}_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_implicit_newton_example_trains_like_jax():
    example = load_example("implicit_newton")
    fgrad_loss, jax_loss = example.main(steps=12, examples=16, verbose=False)
    assert len(fgrad_loss) == len(jax_loss) == 13
    np.testing.assert_allclose(fgrad_loss, jax_loss, rtol=example.RTOL)
    assert example.agree(fgrad_loss, jax_loss)
    assert fgrad_loss[-1] < 0.2 * fgrad_loss[0]  # it learns
    assert all(b <= a for a, b in zip(fgrad_loss, fgrad_loss[1:]))  # at every step
