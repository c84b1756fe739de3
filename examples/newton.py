"""A Newton solver in a while loop, and its derivatives, with fgrad next to JAX.

For a > 0 the cubic x**3 + a*x - b is increasing in x, so it has exactly one real root
x(a, b). The solver finds it for a vector of right-hand sides b at once, by Newton's method
in fgrad.lax.while_loop, which keeps iterating until every step is below a tolerance: the
number of iterations depends on the values, so the loop cannot be a Python loop under jit
nor a fixed-count loop.

The root is a differentiable function of a and b, and its derivative is known without
looking at the solver (the implicit function theorem on F(x, a, b) = x**3 + a x - b = 0):

    dx/da = -F_a / F_x = -x / (3 x**2 + a),        dx/db = 1 / (3 x**2 + a).

Differentiating through the iterations gives the same numbers, because each Newton step maps
a tangent t to -F_a/F_x + O(F), exact once the iterates have converged:

- forward mode, fgrad.jvp and fgrad.jacfwd, through the while loop as it is;
- reverse mode, fgrad.grad and fgrad.jacrev, through the same loop given max_steps=N: it
  runs at most N iterations and is reverse-differentiated as a bounded loop that stops
  changing the carry once the condition is false, storing N iterations' residuals.

JAX's side is the same solver: forward mode through jax.lax.while_loop, and reverse mode
through the same bounded loop written by hand (jax.lax.fori_loop over N steps whose carry
changes only while the condition holds), since JAX does not reverse-differentiate
while_loop. The script prints fgrad's derivatives, JAX's and the implicit function
theorem's, and exits with status 1 if any two differ beyond float32 rounding.

    python examples/newton.py
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np

import fgrad
import fgrad.numpy as fnp

TOL = 1e-6  # the loop stops once every Newton step is at most this
MAX_ITER = 50  # and after at most this many steps
MAX_STEPS = 30  # the bound that makes the loop reverse-differentiable (it needs about 8)
RTOL = 1e-5  # relative agreement of derivatives, between libraries and with the theorem


def make_solver(np_, while_loop):
    """The root of x**3 + a x - b for each element of b, and the number of Newton steps;
    `while_loop(cond, body, init)` runs the iterations."""
    def solve(a, b):
        def cond(carry):
            x, step, k = carry
            return np_.any(np_.abs(step) > TOL) & (k < MAX_ITER)

        def body(carry):
            x, _, k = carry
            step = (x ** 3 + a * x - b) / (3 * x ** 2 + a)
            return x - step, step, k + 1

        x, _, k = while_loop(cond, body, (np_.ones_like(b), np_.ones_like(b), 0))
        return x, k
    return solve


def bounded_while_loop(cond, body, init):
    """For JAX: MAX_STEPS iterations of `body` in a fori_loop, each applied only while
    `cond` holds (what fgrad's while_loop(..., max_steps=MAX_STEPS) computes)."""
    def step(i, carry):
        go = cond(carry)
        return jax.tree.map(lambda new, old: jnp.where(go, new, old), body(carry), carry)
    return jax.lax.fori_loop(0, MAX_STEPS, step, init)


def derivatives(np_, solve, bounded, grad, jvp, jacfwd, jacrev, a, b) -> dict:
    """The root, and its derivatives in a and b in both modes, with one library."""
    def root(a, b):
        return solve(a, b)[0]

    def root_bounded(a, b):
        return bounded(a, b)[0]

    x, iterations = solve(a, b)
    v = np_.linspace(1.0, 2.0, b.shape[0])  # a tangent for b
    _, jvp_b = jvp(lambda b: root(a, b), (b,), (v,))
    weights = np_.linspace(-1.0, 1.0, b.shape[0])
    grad_a, grad_b = grad(lambda a, b: np_.sum(weights * root_bounded(a, b)),
                          argnums=(0, 1))(a, b)
    return {"iterations": int(iterations),
            "root x": x,
            "dx/da, jacfwd": jacfwd(root)(a, b),
            "dx/db v, jvp": jvp_b,
            "dx/db, jacrev": np.diagonal(jacrev(root_bounded, argnums=1)(a, b)),
            "d(w.x)/da, grad": grad_a,
            "d(w.x)/db, grad": grad_b}


def implicit_function_theorem(x, a, b) -> dict:
    """The same derivatives from the theorem, given the root."""
    x = np.asarray(x, np.float64)
    dx_da, dx_db = -x / (3 * x ** 2 + a), 1 / (3 * x ** 2 + a)
    v, weights = np.linspace(1.0, 2.0, len(b)), np.linspace(-1.0, 1.0, len(b))
    return {"dx/da, jacfwd": dx_da, "dx/db v, jvp": dx_db * v, "dx/db, jacrev": dx_db,
            "d(w.x)/da, grad": np.sum(weights * dx_da), "d(w.x)/db, grad": weights * dx_db}


def fgrad_solvers():
    solve = make_solver(fnp, fgrad.lax.while_loop)
    bounded = make_solver(fnp, lambda c, f, init: fgrad.lax.while_loop(c, f, init,
                                                                       max_steps=MAX_STEPS))
    return solve, bounded


def main(a: float = 2.0, b=(-3.0, -1.0, 0.5, 2.0, 5.0, 30.0),
         verbose: bool = True) -> tuple[dict, dict, dict]:
    """Solves and differentiates with both; returns fgrad's, JAX's and the theorem's
    numbers."""
    a, b = np.float32(a), np.asarray(b, np.float32)
    solve, bounded = fgrad_solvers()
    ours = derivatives(fnp, fgrad.jit(solve), bounded, fgrad.grad, fgrad.jvp, fgrad.jacfwd,
                       fgrad.jacrev, a, b)
    jax_solve = make_solver(jnp, jax.lax.while_loop)
    jax_bounded = make_solver(jnp, bounded_while_loop)
    theirs = derivatives(jnp, jax.jit(jax_solve), jax_bounded, jax.grad, jax.jvp, jax.jacfwd,
                         jax.jacrev, a, b)
    theory = implicit_function_theorem(ours["root x"], a, b)
    if verbose:
        print(f"roots of x**3 + {a} x - b for b = {b}, in {ours['iterations']} Newton steps "
              f"(JAX: {theirs['iterations']})")
        for name in ours:
            if name == "iterations":
                continue
            print(f"{name}:")
            for label, row in (("fgrad", ours), ("JAX", theirs), ("theorem", theory)):
                if name in row:
                    print(f"  {label:>8} {np.array2string(np.asarray(row[name]), precision=6)}")
        residual = np.abs(np.asarray(ours["root x"]) ** 3 + a * ours["root x"] - b).max()
        print(f"largest |x**3 + a x - b| at fgrad's roots: {residual:.2g}")
    return ours, theirs, theory


def agree(ours: dict, theirs: dict, theory: dict) -> bool:
    same = ours["iterations"] == theirs["iterations"] and all(
        np.allclose(ours[k], theirs[k], rtol=RTOL, atol=1e-7) for k in ours)
    right = all(np.allclose(ours[k], theory[k], rtol=RTOL, atol=1e-7) for k in theory)
    return same and right


if __name__ == "__main__":
    results = main()
    ok = agree(*results)
    print("fgrad, JAX and the implicit function theorem agree" if ok
          else "the derivatives DISAGREE")
    sys.exit(0 if ok else 1)
