"""A variational autoencoder trained with fgrad, next to the same program in JAX.

Encoder and decoder are small MLPs; the latent code is Gaussian, sampled with the
reparameterization trick (z = mu + sigma * eps, eps from fgrad.random.normal), and the
likelihood of the binarized pixels is Bernoulli. Each training step draws a minibatch with
fgrad.random.choice and new noise from its own key, takes fgrad.jit(fgrad.value_and_grad(.))
of the negative ELBO, and applies Adam.

The model is written once, over a numpy-like module and a random module: fgrad.numpy and
fgrad.random on one side, jax.numpy and jax.random on the other. Both start from the same
parameters and use the same keys, so they draw the same minibatches and the same noise; the
script prints both ELBO curves and their largest difference, and exits with status 1 if
they differ beyond float32 rounding.

    python examples/vae.py [steps]
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np

import fgrad
import fgrad.numpy as fnp
import fgrad.random as frandom

SIDE = 8  # images are SIDE x SIDE pixels
D, H, Z = SIDE * SIDE, 64, 2  # pixels, hidden units, latent dimensions
N, BATCH = 512, 64  # examples, minibatch size
LEARNING_RATE, BETA1, BETA2, EPS = 3e-3, 0.9, 0.999, 1e-8
# Agreement required between the two ELBO curves, relative to the ELBO. The two programs
# compute the same float32 arithmetic, but XLA fuses and orders JAX's and fgrad's
# operations differently (fgrad's programs are its own equations), so each step can round
# differently in the last bits, and training carries those differences forward.
RTOL = 1e-5


def make_data(seed: int = 0) -> np.ndarray:
    """N binarized images: each one of four patterns (horizontal or vertical bars, two
    checkerboards of 2x2 blocks), with 5% of its pixels flipped."""
    rows, cols = np.indices((SIDE, SIDE))
    patterns = np.stack([rows % 2, cols % 2, (rows // 2 + cols // 2) % 2,
                         1 - (rows // 2 + cols // 2) % 2]).reshape(4, D)
    rng = np.random.default_rng(seed)
    images = patterns[rng.integers(0, 4, N)]
    flips = rng.random((N, D)) < 0.05
    return np.where(flips, 1 - images, images).astype(np.float32)


def init_params(key) -> dict:
    def dense(k, n_in, n_out):
        return {"w": jax.random.normal(k, (n_in, n_out)) / np.sqrt(n_in),
                "b": jnp.zeros(n_out)}

    k = jax.random.split(key, 5)
    return {"encoder": dense(k[0], D, H), "mu": dense(k[1], H, Z),
            "log_var": dense(k[2], H, Z), "decoder": dense(k[3], Z, H),
            "logits": dense(k[4], H, D)}


def make_elbo(np_, random):
    """The ELBO of a minibatch, with `np_` (fgrad.numpy or jax.numpy) and `random`
    (fgrad.random or jax.random)."""
    def dense(p, x):
        return x @ p["w"] + p["b"]

    def softplus(x):  # log(1 + e^x), stable for large |x|
        return np_.maximum(x, 0) + np_.log1p(np_.exp(-np_.abs(x)))

    def elbo(params, data, key):
        batch_key, noise_key = random.split(key)
        x = random.choice(batch_key, data, (BATCH,), replace=False)
        h = np_.tanh(dense(params["encoder"], x))
        mu, log_var = dense(params["mu"], h), dense(params["log_var"], h)
        # The reparameterization trick: the noise is a constant, mu and sigma are not.
        z = mu + np_.exp(0.5 * log_var) * random.normal(noise_key, mu.shape)
        logits = dense(params["logits"], np_.tanh(dense(params["decoder"], z)))
        log_likelihood = np_.sum(x * logits - softplus(logits), axis=-1)  # Bernoulli
        kl = 0.5 * np_.sum(np_.exp(log_var) + mu ** 2 - 1 - log_var, axis=-1)  # to N(0, I)
        return np_.mean(log_likelihood - kl)

    return elbo


def make_step(np_, random, value_and_grad):
    """One Adam step on the negative ELBO; returns the new state and the minibatch ELBO."""
    elbo = make_elbo(np_, random)
    loss_and_grad = value_and_grad(lambda p, data, key: -elbo(p, data, key))
    tree_map = jax.tree_util.tree_map

    def step(params, moments, data, key, t):
        loss, grads = loss_and_grad(params, data, key)
        first, second = moments
        first = tree_map(lambda m, g: BETA1 * m + (1 - BETA1) * g, first, grads)
        second = tree_map(lambda v, g: BETA2 * v + (1 - BETA2) * g * g, second, grads)
        scale = LEARNING_RATE * np_.sqrt(1 - BETA2 ** t) / (1 - BETA1 ** t)
        params = tree_map(lambda p, m, v: p - scale * m / (np_.sqrt(v) + EPS),
                          params, first, second)
        return params, (first, second), -loss

    return step


def train(step, params, data, keys) -> list[float]:
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    moments = (zeros, zeros)
    elbos = []
    for t, key in enumerate(keys, 1):
        params, moments, elbo = step(params, moments, data, key, np.float32(t))
        elbos.append(float(elbo))
    return elbos


def main(steps: int = 300, verbose: bool = True) -> tuple[list[float], list[float]]:
    """Trains both for `steps` steps; returns the fgrad and JAX ELBO curves."""
    data = jnp.asarray(make_data())
    params = init_params(jax.random.key(0))
    keys = jax.random.split(jax.random.key(1), steps)
    fgrad_step = fgrad.jit(make_step(fnp, frandom, fgrad.value_and_grad))
    jax_step = jax.jit(make_step(jnp, jax.random, jax.value_and_grad))
    fgrad_elbo = train(fgrad_step, params, data, keys)
    jax_elbo = train(jax_step, params, data, keys)
    if verbose:
        print(f"{'step':>5} {'fgrad ELBO':>12} {'JAX ELBO':>12}")
        for t in sorted({*range(0, steps, max(steps // 12, 1)), steps - 1}):
            print(f"{t + 1:>5} {fgrad_elbo[t]:>12.4f} {jax_elbo[t]:>12.4f}")
        diff = np.abs(np.subtract(fgrad_elbo, jax_elbo))
        relative = diff / np.abs(jax_elbo)
        print(f"largest difference: {diff.max():.3g} (relative {relative.max():.3g}, "
              f"tolerance {RTOL:g}) at step {int(relative.argmax()) + 1}")
    return fgrad_elbo, jax_elbo


if __name__ == "__main__":
    fgrad_elbo, jax_elbo = main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
    agree = np.allclose(fgrad_elbo, jax_elbo, rtol=RTOL, atol=0)
    print("the curves agree" if agree else "the curves DISAGREE")
    sys.exit(0 if agree else 1)
