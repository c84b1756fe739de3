"""Differentially private SGD with fgrad, next to the same program in JAX.

DP-SGD (Abadi et al., 2016) bounds how much any one example can move the model: it takes
each example's gradient separately (fgrad.vmap of fgrad.grad), clips each to norm at most
CLIP, sums them, adds Gaussian noise of scale NOISE * CLIP (fgrad.random.normal, a fresh key
per step from fgrad.random.fold_in) and averages. Minibatches come from
fgrad.random.permutation. The whole step runs under fgrad.jit, keys included.

The step is written once over a numpy-like module, a random module and a transformation
module: (fgrad.numpy, fgrad.random, fgrad) on one side and (jax.numpy, jax.random, jax) on
the other. Both start from the same parameters and keys, so they draw the same batches and
noise; the script prints both loss curves and exits with status 1 if the parameters differ
beyond float32 rounding.

    python examples/dp_sgd.py [steps]
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np

import fgrad
import fgrad.numpy as fnp
import fgrad.random as frandom

N, D, BATCH = 256, 5, 32
CLIP, NOISE, LEARNING_RATE = 1.0, 1.1, 0.5
RTOL = 1e-4  # float32: XLA orders the two programs' sums differently


def make_data(seed: int = 0):
    """A linearly separable-ish binary problem: labels from a random hyperplane, 10% flipped."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, D)).astype(np.float32)
    w = rng.normal(size=D)
    y = ((x @ w > 0) ^ (rng.random(N) < 0.1)).astype(np.float32)
    return x, y


def make_step(np_, random, transforms):
    """One DP-SGD step, written once for fgrad or JAX."""

    def example_loss(params, x, y):
        w, b = params
        logit = np_.dot(x, w) + b
        # logistic loss, computed stably: log(1 + exp(-s)) with s = +-logit
        s = np_.where(y > 0.5, logit, -logit)
        return np_.maximum(-s, 0.0) + np_.log1p(np_.exp(-np_.abs(s)))

    def loss(params, x, y):
        return np_.mean(transforms.vmap(example_loss, in_axes=(None, 0, 0))(params, x, y))

    def step(params, data, key, t):
        x, y = data
        step_key = random.fold_in(key, t)
        batch_key, noise_key = random.split(step_key)
        rows = random.permutation(batch_key, N)[:BATCH]
        xb, yb = x[rows], y[rows]
        grads = transforms.vmap(transforms.grad(example_loss), in_axes=(None, 0, 0))(
            params, xb, yb)  # per-example gradients: (BATCH, D) and (BATCH,)
        norms = np_.sqrt(np_.sum(grads[0] ** 2, axis=1) + grads[1] ** 2)
        scale = 1.0 / np_.maximum(1.0, norms / CLIP)
        w_key, b_key = random.split(noise_key)
        noisy = (np_.sum(grads[0] * scale[:, None], axis=0)
                 + NOISE * CLIP * random.normal(w_key, (D,)),
                 np_.sum(grads[1] * scale) + NOISE * CLIP * random.normal(b_key, ()))
        new = tuple(p - LEARNING_RATE * g / BATCH for p, g in zip(params, noisy))
        return new, loss(params, x, y)

    return step


def train(np_, random, transforms, jit, steps: int):
    x, y = make_data()
    data = (np_.asarray(x), np_.asarray(y))
    params = (np_.zeros(D), np_.asarray(0.0, dtype=np_.float32))
    key = random.key(42)
    step = jit(make_step(np_, random, transforms))
    losses = []
    for t in range(steps):
        params, value = step(params, data, key, t)
        losses.append(float(value))
    return params, np.array(losses)


def main(steps: int = 200, verbose: bool = True):
    ours, our_losses = train(fnp, frandom, fgrad, fgrad.jit, steps)
    theirs, their_losses = train(jnp, jax.random, jax, jax.jit, steps)
    if verbose:
        print(" step   fgrad loss   JAX loss")
        for t in range(0, steps, max(1, steps // 8)):
            print(f"{t:5d}   {our_losses[t]:10.6f} {their_losses[t]:10.6f}")
    difference = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)) / (np.abs(b) + 1e-3)))
                     for a, b in zip(ours, theirs))
    if verbose:
        print(f"largest relative parameter difference: {difference:.2e} (tolerance {RTOL})")
        print(f"loss from {our_losses[0]:.4f} to {our_losses[-1]:.4f}")
    return ours, theirs, our_losses, their_losses, difference


if __name__ == "__main__":
    *_, difference = main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
    if difference > RTOL:
        print("the two runs disagree")
        sys.exit(1)
    print("the two runs agree")
