"""An MLP that reads handwritten digits: scikit-learn's bundled digits data set (1,797
8x8 images, no download), an equinox model whose layers run fgrad code, gradients by
`fgrad.filter_value_and_grad`, Adam from optax, each step compiled with `eqx.filter_jit`,
a tqdm progress bar, and the loss curve saved as a PNG.

At full size (the defaults: 3,000 steps of 128 images) it reaches 97.3% accuracy on the 450
held-out images (loss 0.0007), in 14 s including start-up on one shared CPU core of the
development machine. tests/test_ecosystem_examples.py
runs it at a small size and compares its steps with the same model trained by JAX.

Run:  python examples/digits_mlp.py [--steps 3000] [--plot digits_mlp_loss.png]
"""

import argparse

import equinox as eqx
import jax
import numpy as np
import optax
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import fgrad
import fgrad.numpy as fnp
from fgrad import nn as fnn


def load_data(seed=0):
    """(x_train, x_test, y_train, y_test): pixels scaled to [0, 1], a quarter held out."""
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    return train_test_split(x, digits.target, test_size=0.25, random_state=seed,
                            stratify=digits.target)


class MLP(eqx.Module):
    layers: list

    def __init__(self, key, sizes=(64, 128, 64, 10)):
        keys = jax.random.split(key, len(sizes) - 1)
        self.layers = [eqx.nn.Linear(n_in, n_out, key=k)
                       for k, n_in, n_out in zip(keys, sizes[:-1], sizes[1:])]

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = fnn.relu(layer(x))
        return self.layers[-1](x)


def loss(model, x, y):
    """Mean cross-entropy of the model's logits for a batch of images x and labels y."""
    logits = fgrad.vmap(model)(x)
    return -fnp.mean(fnp.sum(fnn.one_hot(y, 10) * fnn.log_softmax(logits), axis=-1))


def make_step(optimizer):
    @eqx.filter_jit
    def step(model, opt_state, x, y):
        value, grads = fgrad.filter_value_and_grad(loss)(model, x, y)
        updates, opt_state = optimizer.update(grads, opt_state, model)
        return eqx.apply_updates(model, updates), opt_state, value
    return step


@eqx.filter_jit
def accuracy(model, x, y):
    return fnp.mean(fnp.argmax(fgrad.vmap(model)(x), axis=-1) == y)


def batches(x, y, batch_size, seed):
    """Endless shuffled minibatches, one epoch after another."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(x))
        for start in range(0, len(x) - batch_size + 1, batch_size):
            idx = order[start:start + batch_size]
            yield x[idx], y[idx]


def train(steps=3000, batch_size=128, learning_rate=1e-3, seed=0, progress=True, model=None):
    """Trains `model` (by default an MLP) on the digits; returns it, the loss of every step
    and the test accuracy."""
    x_train, x_test, y_train, y_test = load_data(seed)
    model = MLP(jax.random.key(seed)) if model is None else model
    optimizer = optax.adam(learning_rate)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_inexact_array))
    step = make_step(optimizer)
    losses = []
    data = batches(x_train, y_train, batch_size, seed)
    with tqdm(range(steps), disable=not progress, desc=type(model).__name__) as bar:
        for i in bar:
            model, opt_state, value = step(model, opt_state, *next(data))
            losses.append(float(value))
            if i % 50 == 0:
                bar.set_postfix(loss=f"{losses[-1]:.4f}")
    return model, losses, float(accuracy(model, x_test, y_test))


def plot_losses(losses, path):
    import matplotlib
    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(losses, lw=0.8, alpha=0.5, label="minibatch loss")
    window = max(1, len(losses) // 50)
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    ax.plot(np.arange(len(smooth)) + window - 1, smooth, lw=2, label=f"mean of {window}")
    ax.set(xlabel="step", ylabel="cross-entropy", yscale="log", title="digits MLP")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--plot", default="digits_mlp_loss.png")
    args = parser.parse_args()
    model, losses, acc = train(args.steps)
    plot_losses(losses, args.plot)
    print(f"final loss {losses[-1]:.4f}, test accuracy {acc:.1%}; loss curve: {args.plot}")
