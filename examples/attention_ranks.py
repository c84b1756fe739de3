"""A one-layer transformer that learns to rank the tokens of a sequence, trained with
fgrad next to the same program in JAX.

Each example is a sequence of T tokens drawn from V values; the target at each position is
the token's rank in the sequence (where it would go if the sequence were sorted; ties keep
their order), computed with argsort. The model embeds tokens with one_hot, adds learned
positions, applies one multi-head self-attention layer (fgrad.nn.dot_product_attention)
and a GELU MLP, both with standardize-style layer norms, and classifies each position into
one of T ranks with log_softmax. The data pipeline uses fgrad.random and argsort; the heads
are split and merged with einsum.

The model is written once over (numpy, nn, random) modules: fgrad.numpy, fgrad.nn and
fgrad.random on one side, jax.numpy, jax.nn and jax.random on the other. Both start from the
same parameters and keys, so they see the same batches; the script prints both loss curves
and the final accuracy, and exits with status 1 if the curves differ beyond float32
rounding.

    python examples/attention_ranks.py [steps]
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np

import fgrad
import fgrad.nn as fnn
import fgrad.numpy as fnp
import fgrad.random as frandom

T, V = 8, 16  # sequence length, vocabulary
D, HEADS, HIDDEN = 32, 4, 64  # model width, attention heads, MLP width
BATCH = 64
LEARNING_RATE, BETA1, BETA2, EPS = 3e-3, 0.9, 0.999, 1e-8
# The two programs do the same float32 arithmetic in differently fused orders, so their
# losses drift apart by rounding as training carries the differences forward.
RTOL = 1e-4


def init_params(key) -> dict:
    k = jax.random.split(key, 8)

    def dense(k, n_in, n_out):
        return {"w": jax.random.normal(k, (n_in, n_out)) / np.sqrt(n_in),
                "b": jnp.zeros(n_out)}

    return {
        "embed": jax.random.normal(k[0], (V, D)) * 0.5,
        "position": jax.random.normal(k[1], (T, D)) * 0.5,
        "qkv": jax.random.normal(k[2], (3, D, HEADS, D // HEADS)) / np.sqrt(D),
        "out": jax.random.normal(k[3], (HEADS, D // HEADS, D)) / np.sqrt(D),
        "norm1": {"scale": jnp.ones(D), "shift": jnp.zeros(D)},
        "norm2": {"scale": jnp.ones(D), "shift": jnp.zeros(D)},
        "mlp_in": dense(k[4], D, HIDDEN),
        "mlp_out": dense(k[5], HIDDEN, D),
        "classify": dense(k[6], D, T),
    }


def make_loss(np_, nn, random):
    """Batch loss and accuracy, written with `np_`, `nn` and `random` modules."""
    def layer_norm(p, x):
        return nn.standardize(x, axis=-1, epsilon=1e-5) * p["scale"] + p["shift"]

    def model(params, tokens):
        x = nn.one_hot(tokens, V) @ params["embed"] + params["position"]
        q, k, v = np_.einsum("btd,cdhe->cbthe", layer_norm(params["norm1"], x), params["qkv"])
        attended = nn.dot_product_attention(q, k, v)  # (batch, T, heads, head width)
        x = x + np_.einsum("bthe,hed->btd", attended, params["out"])
        h = layer_norm(params["norm2"], x)
        h = nn.gelu(h @ params["mlp_in"]["w"] + params["mlp_in"]["b"])
        x = x + h @ params["mlp_out"]["w"] + params["mlp_out"]["b"]
        return x @ params["classify"]["w"] + params["classify"]["b"]

    def batch(key):
        tokens = random.randint(key, (BATCH, T), 0, V)
        order = np_.argsort(tokens, axis=-1, stable=True)  # position of each rank
        ranks = np_.argsort(order, axis=-1)  # rank of each position
        return tokens, ranks

    def loss(params, key):
        tokens, ranks = batch(key)
        log_probs = nn.log_softmax(model(params, tokens), axis=-1)
        nll = -np_.mean(np_.sum(log_probs * nn.one_hot(ranks, T), axis=-1))
        accuracy = np_.mean(np_.argmax(log_probs, axis=-1) == ranks)
        return nll, accuracy

    return loss


def make_step(np_, nn, random, value_and_grad):
    loss_and_grad = value_and_grad(make_loss(np_, nn, random), has_aux=True)
    tree_map = jax.tree_util.tree_map

    def step(params, moments, key, t):
        (loss, accuracy), grads = loss_and_grad(params, key)
        first, second = moments
        first = tree_map(lambda m, g: BETA1 * m + (1 - BETA1) * g, first, grads)
        second = tree_map(lambda v, g: BETA2 * v + (1 - BETA2) * g * g, second, grads)
        scale = LEARNING_RATE * np_.sqrt(1 - BETA2 ** t) / (1 - BETA1 ** t)
        params = tree_map(lambda p, m, v: p - scale * m / (np_.sqrt(v) + EPS),
                          params, first, second)
        return params, (first, second), loss, accuracy

    return step


def train(step, params, keys) -> tuple[list[float], list[float]]:
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    moments = (zeros, zeros)
    losses, accuracies = [], []
    for t, key in enumerate(keys, 1):
        params, moments, loss, accuracy = step(params, moments, key, np.float32(t))
        losses.append(float(loss))
        accuracies.append(float(accuracy))
    return losses, accuracies


def main(steps: int = 400, verbose: bool = True):
    """Trains both for `steps` steps; returns fgrad's and JAX's (losses, accuracies)."""
    params = init_params(jax.random.key(0))
    keys = jax.random.split(jax.random.key(1), steps)
    fgrad_step = fgrad.jit(make_step(fnp, fnn, frandom, fgrad.value_and_grad))
    jax_step = jax.jit(make_step(jnp, jax.nn, jax.random, jax.value_and_grad))
    ours, theirs = train(fgrad_step, params, keys), train(jax_step, params, keys)
    if verbose:
        print(f"{'step':>5} {'fgrad loss':>11} {'JAX loss':>11} {'fgrad acc':>10} "
              f"{'JAX acc':>8}")
        for t in sorted({*range(0, steps, max(steps // 10, 1)), steps - 1}):
            print(f"{t + 1:>5} {ours[0][t]:>11.4f} {theirs[0][t]:>11.4f} "
                  f"{ours[1][t]:>10.3f} {theirs[1][t]:>8.3f}")
        relative = np.abs(np.subtract(ours[0], theirs[0])) / np.abs(theirs[0])
        print(f"largest relative difference of the losses: {relative.max():.3g} "
              f"(tolerance {RTOL:g})")
    return ours, theirs


if __name__ == "__main__":
    ours, theirs = main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
    agree = np.allclose(ours[0], theirs[0], rtol=RTOL, atol=0)
    print("the curves agree" if agree else "the curves DISAGREE")
    sys.exit(0 if agree else 1)
