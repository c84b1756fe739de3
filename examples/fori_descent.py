"""Seed 000's gradient descent as one compiled loop, with fgrad.lax.fori_loop, next to JAX.

Seed 000 (the computer vision lecture) descends l(a, b) = (a-1)**2 + (b+1)**2 + (a-b)**2
from (0.7, -0.7) with step 0.1 for 100 steps and ends at (1/3, -1/3); with the third term
written (stop_gradient(a) - b)**2 it starts from (0.5, -0.5) and ends at (1, 0).
examples/seeds/seed_000_cv_lecture.py runs those steps as a Python loop, one gradient call
per step. Here the whole descent is one jitted function: fgrad.lax.fori_loop(0, steps, body,
params) keeps the loop in the program, whose size is the same for 10 steps or 10,000 (the
script prints both), and the body takes the gradient.

Because the loop is a primitive with derivative rules, the descent itself can be
differentiated: the script also computes the derivative of the loss reached after a few
steps with respect to the step size (a hypergradient), in reverse mode through the loop, and
compares it with its closed form. The loss is quadratic with Hessian [[4, -2], [-2, 4]], and
the start lies on the eigenvector (1, -1) of eigenvalue 6, so after k steps of size lr the
loss is 4/3 + 3 (1 - 6 lr)**(2k) |e0|**2, where e0 = (0.7 - 1/3, -0.7 + 1/3).

The descent is written once, over a lax-like module, a grad and a stop_gradient: fgrad's on
one side, JAX's on the other. The script prints both results and exits with status 1 if they
differ beyond float32 rounding or miss the seed's numbers.

    python examples/fori_descent.py [steps]
"""

from __future__ import annotations

import sys

import jax
import numpy as np

import fgrad

LR = 0.1
HORIZON = 5  # steps of the descent whose final loss is differentiated in the step size
RTOL = 1e-6  # fgrad against JAX: the same float32 arithmetic, possibly fused differently
SEED_TOL = 1e-4  # against the seed's numbers (its "~": 1e-4 relative in float32)


def make_loss(stop_gradient):
    """Seed 000's loss; `stop_gradient` is the identity for example 6, and the library's
    stop_gradient for example 8."""
    def loss(params):
        a, b = params
        return (a - 1) ** 2 + (b + 1) ** 2 + (stop_gradient(a) - b) ** 2
    return loss


def make_descent(lax, grad, loss, steps: int):
    """`steps` steps of gradient descent on `loss` from `params`, with step size `lr`."""
    def descend(params, lr):
        def body(i, p):
            g = grad(loss)(p)
            return jax.tree.map(lambda x, gx: x - lr * gx, p, g)
        return lax.fori_loop(0, steps, body, params)
    return descend


def make_hypergradient(lax, grad, loss, steps: int):
    """The loss after `steps` steps and its derivative with respect to the step size."""
    descend = make_descent(lax, grad, loss, steps)

    def final_loss(params, lr):
        return loss(descend(params, lr))
    return final_loss, grad(final_loss, argnums=1)


def hypergradient_closed_form(lr: float, steps: int) -> tuple[float, float]:
    e0 = 2 * (0.7 - 1 / 3) ** 2  # |e0|**2
    q = 1 - 6 * lr
    return 4 / 3 + 3 * q ** (2 * steps) * e0, -36 * steps * q ** (2 * steps - 1) * e0


def program_size(steps: int) -> int:
    descend = make_descent(fgrad.lax, fgrad.grad, make_loss(lambda x: x), steps)
    return len(fgrad.make_ir(descend)((np.float32(0.7), np.float32(-0.7)), np.float32(LR)).eqns)


def run(lax, grad, stop_gradient, jit, steps: int) -> dict:
    """Both descents of the seed and the hypergradient, with one library's functions."""
    plain, stopped = make_loss(lambda x: x), make_loss(stop_gradient)
    lr = np.float32(LR)
    start6 = (np.float32(0.7), np.float32(-0.7))
    start8 = (np.float32(0.5), np.float32(-0.5))
    ends6 = jit(make_descent(lax, grad, plain, steps))(start6, lr)
    ends8 = jit(make_descent(lax, grad, stopped, steps))(start8, lr)
    final_loss, d_final_loss = make_hypergradient(lax, grad, plain, HORIZON)
    return {"example 6 ends at": [float(v) for v in ends6],
            "loss there": float(plain(ends6)),
            "example 8 ends at": [float(v) for v in ends8],
            f"loss after {HORIZON} steps": float(jit(final_loss)(start6, lr)),
            "its derivative in lr": float(jit(d_final_loss)(start6, lr))}


def main(steps: int = 100, verbose: bool = True) -> tuple[dict, dict, dict]:
    """Runs both; returns fgrad's results, JAX's, and the seed's (closed-form) numbers."""
    ours = run(fgrad.lax, fgrad.grad, fgrad.stop_gradient, fgrad.jit, steps)
    theirs = run(jax.lax, jax.grad, jax.lax.stop_gradient, jax.jit, steps)
    loss_h, d_loss_h = hypergradient_closed_form(LR, HORIZON)
    expected = {"example 6 ends at": [1 / 3, -1 / 3], "loss there": 4 / 3,
                "example 8 ends at": [1.0, 0.0], f"loss after {HORIZON} steps": loss_h,
                "its derivative in lr": d_loss_h}
    if verbose:
        print(f"{steps} steps of size {LR}, one fori_loop each")
        print(f"{'':>24} {'fgrad':>24} {'JAX':>24} {'expected':>24}")
        for name in ours:
            print(f"{name:>24} " + " ".join(f"{_fmt(r[name]):>24}"
                                            for r in (ours, theirs, expected)))
        print(f"equations in the descent's program: {program_size(10)} for 10 steps, "
              f"{program_size(10_000)} for 10,000")
    return ours, theirs, expected


def agree(ours: dict, theirs: dict, expected: dict, steps: int = 100) -> bool:
    same = all(np.allclose(ours[k], theirs[k], rtol=RTOL, atol=1e-7) for k in ours)
    # The seed's end points need the descent to have converged (100 steps: 0.4**100).
    keys = list(expected) if steps >= 50 else list(expected)[3:]
    right = all(np.allclose(ours[k], expected[k], rtol=SEED_TOL, atol=SEED_TOL) for k in keys)
    return same and right


def _fmt(value) -> str:
    if isinstance(value, list):
        return "(" + ", ".join(f"{v:.6f}" for v in value) + ")"
    return f"{value:.6g}"


if __name__ == "__main__":
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    results = main(steps)
    ok = agree(*results, steps=steps)
    print("fgrad, JAX and the seed agree" if ok else "the results DISAGREE")
    sys.exit(0 if ok else 1)
