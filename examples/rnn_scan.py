"""An Elman RNN trained with fgrad.lax.scan, next to the same program in JAX.

The task: read a noisy sine wave one value at a time and predict the next value. Each of
BATCH sequences has its own frequency and phase, so the network must infer them from what it
has read. The recurrent cell is Elman's,

    h_t = tanh(x_t W_xh + h_{t-1} W_hh + b_h),        y_t = h_t W_hy + b_y,

and fgrad.lax.scan runs it along the sequence: the cell is traced once, whatever the
sequence's length, and the hidden state is the scan's carry while the predictions are
stacked along the time axis. A training step is fgrad.jit(fgrad.value_and_grad(loss)) and
Adam written by hand; reverse mode through the scan stacks each step's residuals along the
time axis and runs the transposed cell in a reversed scan (backpropagation through time).

The model is written once, over a numpy-like module and a lax-like module: fgrad.numpy and
fgrad.lax on one side, jax.numpy and jax.lax on the other. Both start from the same
parameters and see the same data; the script prints both loss curves, the loss of the
baseline that predicts "the next value equals this one", and exits with status 1 if the
curves differ beyond float32 rounding.

    python examples/rnn_scan.py [steps]
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np

import fgrad
import fgrad.numpy as fnp

HIDDEN = 16
BATCH, LENGTH = 32, 50  # sequences, values read per sequence
NOISE = 0.05
LEARNING_RATE, BETA1, BETA2, EPS = 3e-3, 0.9, 0.999, 1e-8
# Agreement required between the two loss curves, relative to the loss. The same float32
# arithmetic, fused and ordered differently by XLA, rounds differently in the last bits,
# and training carries the differences forward (as in examples/vae.py).
RTOL = 1e-5


def make_data(seed: int = 0, batch: int = BATCH, length: int = LENGTH):
    """Inputs and targets of shape (length, batch, 1): time first, as scan reads them."""
    rng = np.random.default_rng(seed)
    t = np.arange(length + 1)[:, None]
    frequency = rng.uniform(0.1, 0.3, batch)
    phase = rng.uniform(0, 2 * np.pi, batch)
    waves = np.sin(frequency * t + phase) + NOISE * rng.normal(size=(length + 1, batch))
    waves = waves[..., None].astype(np.float32)
    return waves[:-1], waves[1:]


def init_params(key) -> dict:
    k = jax.random.split(key, 3)
    return {"W_xh": jax.random.normal(k[0], (1, HIDDEN)),
            "W_hh": jax.random.normal(k[1], (HIDDEN, HIDDEN)) / np.sqrt(HIDDEN),
            "b_h": jnp.zeros(HIDDEN),
            "W_hy": jax.random.normal(k[2], (HIDDEN, 1)) / np.sqrt(HIDDEN),
            "b_y": jnp.zeros(1)}


def make_loss(np_, lax):
    """The mean squared error of the next-value predictions, with `np_` (fgrad.numpy or
    jax.numpy) and `lax` (fgrad.lax or jax.lax)."""
    def predict(params, xs):
        def cell(h, x):
            h = np_.tanh(x @ params["W_xh"] + h @ params["W_hh"] + params["b_h"])
            return h, h @ params["W_hy"] + params["b_y"]

        h0 = np_.zeros((xs.shape[1], HIDDEN), xs.dtype)
        _, ys = lax.scan(cell, h0, xs)
        return ys

    def loss(params, xs, targets):
        return np_.mean((predict(params, xs) - targets) ** 2)

    return loss


def make_step(np_, lax, value_and_grad):
    """One Adam step; returns the new parameters and moments, and the loss before it."""
    loss_and_grad = value_and_grad(make_loss(np_, lax))
    tree_map = jax.tree_util.tree_map

    def step(params, moments, xs, targets, t):
        loss, grads = loss_and_grad(params, xs, targets)
        first, second = moments
        first = tree_map(lambda m, g: BETA1 * m + (1 - BETA1) * g, first, grads)
        second = tree_map(lambda v, g: BETA2 * v + (1 - BETA2) * g * g, second, grads)
        scale = LEARNING_RATE * np_.sqrt(1 - BETA2 ** t) / (1 - BETA1 ** t)
        params = tree_map(lambda p, m, v: p - scale * m / (np_.sqrt(v) + EPS),
                          params, first, second)
        return params, (first, second), loss

    return step


def train(step, params, xs, targets, steps: int) -> list[float]:
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    moments = (zeros, zeros)
    losses = []
    for t in range(1, steps + 1):
        params, moments, loss = step(params, moments, xs, targets, np.float32(t))
        losses.append(float(loss))
    return losses


def main(steps: int = 300, batch: int = BATCH, length: int = LENGTH,
         verbose: bool = True) -> tuple[list[float], list[float]]:
    """Trains both for `steps` steps; returns the fgrad and JAX loss curves."""
    xs, targets = make_data(batch=batch, length=length)
    params = init_params(jax.random.key(0))
    fgrad_step = fgrad.jit(make_step(fnp, fgrad.lax, fgrad.value_and_grad))
    jax_step = jax.jit(make_step(jnp, jax.lax, jax.value_and_grad))
    fgrad_loss = train(fgrad_step, params, xs, targets, steps)
    jax_loss = train(jax_step, params, xs, targets, steps)
    if verbose:
        print(f"Elman RNN, {HIDDEN} hidden units, {batch} sequences of {length} values")
        print(f"{'step':>5} {'fgrad loss':>12} {'JAX loss':>12}")
        for t in sorted({*range(0, steps, max(steps // 12, 1)), steps - 1}):
            print(f"{t + 1:>5} {fgrad_loss[t]:>12.6f} {jax_loss[t]:>12.6f}")
        baseline = float(np.mean((xs - targets) ** 2))
        print(f"predicting the current value as the next: loss {baseline:.6f}")
        diff = np.abs(np.subtract(fgrad_loss, jax_loss))
        relative = diff / np.abs(jax_loss)
        print(f"largest difference: {diff.max():.3g} (relative {relative.max():.3g}, "
              f"tolerance {RTOL:g}) at step {int(relative.argmax()) + 1}")
    return fgrad_loss, jax_loss


if __name__ == "__main__":
    fgrad_loss, jax_loss = main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
    agree = np.allclose(fgrad_loss, jax_loss, rtol=RTOL, atol=0)
    print("the curves agree" if agree else "the curves DISAGREE")
    sys.exit(0 if agree else 1)
