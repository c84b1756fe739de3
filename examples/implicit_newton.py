"""An equilibrium (implicit) layer trained by gradient descent, with fgrad next to JAX.

The model's hidden state for an input x is not given by a formula but defined by an
equation: it is the z ∈ R^H with

    z = tanh(W z + U x + b),        and the prediction is  y = v·z + c.

W is rescaled to a Frobenius norm of at most 0.9, so the equation has exactly one solution.
A generic Newton solver finds it: it knows nothing of the model, only the residual
f(z) = z − tanh(W z + U x + b), whose Jacobian it takes with jacfwd, and it iterates in
fgrad.lax.while_loop until the step is below a tolerance. How many steps that takes
depends on the parameters and on x, so the loop is an unbounded while loop.

fgrad.lax.custom_root(f, z0, solve, tangent_solve) differentiates the solution without
differentiating the solver (the implicit function theorem): with θ the parameters f closes
over, f(z*(θ), θ) = 0 gives dz*/dθ = −(∂f/∂z)⁻¹ ∂f/∂θ, and `tangent_solve` solves with
∂f/∂z (here by Cholesky on the normal equations). So fgrad.grad goes through a while loop
that has no max_steps, and reverse mode stores the solution, not the iterations. The
derivative is exact once the solver has converged, however it got there.

The program is written once, over a namespace of numpy-like, lax-like and transform
functions: fgrad's on one side, JAX's (jax.lax.custom_root) on the other. Both fit the same
synthetic regression task from the same parameters, by full-batch gradient descent, each
step one compiled value-and-gradient (fgrad.jit, jax.jit). The script prints both loss
curves and the Newton steps the solver takes, and exits with status 1 if the curves differ
beyond float32 rounding.

    python examples/implicit_newton.py
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np

import fgrad
import fgrad.numpy as fnp

HIDDEN, INPUTS, EXAMPLES = 8, 2, 64
STEPS, LEARNING_RATE = 60, 0.3
TOL = 1e-5  # Newton stops once every step is at most this (float32)
MAX_ITER = 50  # a safeguard only: the solver needs 3 or 4
# Agreement required between the two loss curves, relative to the loss: the same float32
# arithmetic, fused and ordered differently by XLA, rounds differently in the last bits.
RTOL = 1e-5

FGRAD = SimpleNamespace(np=fnp, lax=fgrad.lax, jacfwd=fgrad.jacfwd, vmap=fgrad.vmap,
                        value_and_grad=fgrad.value_and_grad, jit=fgrad.jit,
                        cholesky=fgrad.lax.cholesky, triangular_solve=fgrad.lax.triangular_solve)
JAX = SimpleNamespace(np=jnp, lax=jax.lax, jacfwd=jax.jacfwd, vmap=jax.vmap,
                      value_and_grad=jax.value_and_grad, jit=jax.jit,
                      cholesky=jax.lax.linalg.cholesky,
                      triangular_solve=jax.lax.linalg.triangular_solve)


def make_data(seed: int = 0, examples: int = EXAMPLES):
    """Inputs in [-1, 1]², and a smooth target with a little noise."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (examples, INPUTS))
    y = np.sin(2 * x[:, 0]) * np.cos(x[:, 1]) + 0.05 * rng.normal(size=examples)
    return x.astype(np.float32), y.astype(np.float32)


def init_params(seed: int = 1, hidden: int = HIDDEN) -> dict:
    rng = np.random.default_rng(seed)
    params = {"W": rng.normal(size=(hidden, hidden)) / hidden,
              "U": rng.normal(size=(hidden, INPUTS)),
              "b": np.zeros(hidden),
              "v": rng.normal(size=hidden) / np.sqrt(hidden),
              "c": np.zeros(())}
    return {k: np.asarray(p, np.float32) for k, p in params.items()}


def make_model(m):
    """The model, its loss and its training step, with one library's functions `m`."""
    def solve_with(jac, rhs):
        """jac⁻¹ rhs, by Cholesky on the normal equations (jacᵀjac) x = jacᵀ rhs."""
        jt = m.np.transpose(jac)
        low = m.cholesky(m.np.matmul(jt, jac))
        y = m.triangular_solve(low, m.np.matmul(jt, rhs), left_side=True, lower=True)
        return m.triangular_solve(low, y, left_side=True, lower=True, transpose_a=True)

    def newton(f, z0):
        """A root of f by Newton's method, to a step of TOL; also the number of steps."""
        def cond(carry):
            _, step, k = carry
            return (m.np.max(m.np.abs(step)) > TOL) & (k < MAX_ITER)

        def body(carry):
            z, _, k = carry
            step = solve_with(m.jacfwd(f)(z), f(z))
            return z - step, step, k + 1

        z, _, k = m.lax.while_loop(cond, body, (z0, m.np.ones_like(z0), 0))
        return z, k

    def tangent_solve(g, y):  # g: ∂f/∂z at the solution, a linear function
        return solve_with(m.jacfwd(g)(y), y)

    def residual(params, x):
        w = params["W"]
        w = w * (0.9 / m.np.maximum(0.9, m.np.sqrt(m.np.sum(w * w))))
        pre = m.np.matmul(params["U"], x) + params["b"]
        return lambda z: z - m.np.tanh(m.np.matmul(w, z) + pre)

    def equilibrium(params, x):
        z0 = m.np.zeros_like(params["b"])
        return m.lax.custom_root(residual(params, x), z0, lambda f, z: newton(f, z)[0],
                                 tangent_solve)

    def predict(params, x):
        return m.np.sum(params["v"] * equilibrium(params, x)) + params["c"]

    def loss(params, xs, ys):
        return m.np.mean((m.vmap(predict, (None, 0))(params, xs) - ys) ** 2)

    loss_and_grad = m.value_and_grad(loss)

    def step(params, xs, ys):
        value, grads = loss_and_grad(params, xs, ys)
        return jax.tree_util.tree_map(lambda p, g: p - LEARNING_RATE * g, params, grads), value

    def newton_steps(params, xs):
        """The Newton steps each example's equilibrium takes (the solver, undifferentiated)."""
        return m.vmap(lambda x: newton(residual(params, x), m.np.zeros_like(params["b"]))[1])(xs)

    return SimpleNamespace(step=m.jit(step), loss=m.jit(loss), newton_steps=m.jit(newton_steps))


def train(model, params, xs, ys, steps: int) -> tuple[list[float], dict]:
    losses = []
    for _ in range(steps):
        params, loss = model.step(params, xs, ys)
        losses.append(float(loss))
    return losses, params


def main(steps: int = STEPS, examples: int = EXAMPLES, hidden: int = HIDDEN,
         verbose: bool = True) -> tuple[list[float], list[float]]:
    """Trains both for `steps` steps; returns the fgrad and JAX loss curves (the loss before
    each step, then the final loss)."""
    xs, ys = make_data(examples=examples)
    params = init_params(hidden=hidden)
    curves, steps_taken = {}, {}
    for name, m in (("fgrad", FGRAD), ("JAX", JAX)):
        model = make_model(m)
        before = np.asarray(model.newton_steps(params, xs))
        losses, trained = train(model, params, xs, ys, steps)
        curves[name] = losses + [float(model.loss(trained, xs, ys))]
        steps_taken[name] = (before, np.asarray(model.newton_steps(trained, xs)))
    if verbose:
        print(f"equilibrium layer z = tanh(W z + U x + b), {hidden} units, {examples} "
              f"examples, gradient descent with learning rate {LEARNING_RATE}")
        print(f"{'step':>5} {'fgrad loss':>12} {'JAX loss':>12}")
        for t in sorted({*range(0, steps, max(steps // 10, 1)), steps}):
            print(f"{t:>5} {curves['fgrad'][t]:>12.6f} {curves['JAX'][t]:>12.6f}")
        print(f"variance of the targets: {float(np.var(ys)):.6f}")
        for name, (first, last) in steps_taken.items():
            print(f"{name} Newton steps per example: {first.min()}-{first.max()} before "
                  f"training, {last.min()}-{last.max()} after")
        relative = np.abs(np.subtract(curves["fgrad"], curves["JAX"])) / np.abs(curves["JAX"])
        print(f"largest relative difference: {relative.max():.3g} (tolerance {RTOL:g}) at "
              f"step {int(relative.argmax())}")
    return curves["fgrad"], curves["JAX"]


def agree(fgrad_loss, jax_loss) -> bool:
    return bool(np.allclose(fgrad_loss, jax_loss, rtol=RTOL, atol=0))


if __name__ == "__main__":
    fgrad_loss, jax_loss = main()
    ok = agree(fgrad_loss, jax_loss)
    print("the curves agree" if ok else "the curves DISAGREE")
    sys.exit(0 if ok else 1)
