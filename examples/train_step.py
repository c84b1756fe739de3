"""Training steps with fgrad, equinox and optax: the pattern to copy.

fgrad computes the gradient; `eqx.filter_jit` (or `jax.jit`) compiles the whole step, the
gradient program and the optax update together, with XLA. Both steps below fit y = sin(3x)
on 256 points with adam.

Using equinox modules as parameters, as checked by tests/test_training.py:
- `eqx.nn.Linear` computes with `@` and `+` on its weights, operators fgrad traces, so
  `eqx.nn.MLP` and other modules built from Linear layers can be called on fgrad values.
- Nothing may call `jax.numpy`, `jax.nn` or `jax.lax` on a traced value: give `eqx.nn.MLP`
  an fgrad.numpy activation (its default, `jax.nn.relu`, fails inside JAX; `jnp.tanh`
  raises `fgrad.TracerConversionError`), and write your own modules' `__call__` with
  fgrad.numpy. For the same reason `jax.vmap` cannot batch a model fgrad is tracing:
  batch a single-example model with `fgrad.vmap`.
- A module also holds non-array leaves (here the activation function), which `fgrad.grad`
  refuses to differentiate: `fgrad.filter_value_and_grad` differentiates the floating-point
  arrays and gives the other leaves a None gradient, as `eqx.filter_value_and_grad` does
  (docs/equinox.md).

Run:  python examples/train_step.py
"""

import equinox as eqx
import jax
import optax

import fgrad
import fgrad.numpy as fnp

POINTS = 256
STEPS = 300
PRINT_EVERY = 50
LAYER_SIZES = (1, 32, 32, 1)

optimizer = optax.adam(1e-2)


def make_data(points=POINTS):
    """y = sin(3x) at `points` evenly spaced x in [-1, 1], both of shape (points, 1)."""
    x = fnp.linspace(-1.0, 1.0, points).reshape(points, 1)
    return x, fnp.sin(3.0 * x)


# -- an equinox model, under eqx.filter_jit ---------------------------------------------------

def make_model(key):
    return eqx.nn.MLP(in_size=1, out_size=1, width_size=32, depth=2, activation=fnp.tanh,
                      key=key)


def loss(model, x, y):
    return fnp.mean((fgrad.vmap(model)(x) - y) ** 2)


@eqx.filter_jit
def train_step(model, opt_state, x, y):
    value, grads = fgrad.filter_value_and_grad(loss)(model, x, y)
    updates, opt_state = optimizer.update(grads, opt_state, model)
    return value, eqx.apply_updates(model, updates), opt_state


# -- the same step on a pytree of arrays, under jax.jit ---------------------------------------

def init_params(key, sizes=LAYER_SIZES):
    """A list of (weights, biases) per layer, scaled so tanh starts in its linear range."""
    keys = jax.random.split(key, len(sizes) - 1)
    return [(jax.random.normal(k, (n_in, n_out)) / n_in ** 0.5, fnp.zeros(n_out))
            for k, n_in, n_out in zip(keys, sizes[:-1], sizes[1:])]


def predict(params, x):
    for w, b in params[:-1]:
        x = fnp.tanh(x @ w + b)
    w, b = params[-1]
    return x @ w + b


def params_loss(params, x, y):
    return fnp.mean((predict(params, x) - y) ** 2)


@jax.jit
def train_step_on_params(params, opt_state, x, y):
    value, grads = fgrad.value_and_grad(params_loss)(params, x, y)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return value, optax.apply_updates(params, updates), opt_state


def train(step, trainable, x, y, steps=STEPS, print_every=None):
    """Runs `step` `steps` times from `trainable` (a model or a params pytree); returns the
    trained one and the loss before each step."""
    opt_state = optimizer.init(eqx.filter(trainable, eqx.is_inexact_array))
    losses = []
    for i in range(steps):
        value, trainable, opt_state = step(trainable, opt_state, x, y)
        losses.append(float(value))
        if print_every and i % print_every == 0:
            print(f"  step {i:4d}  loss {losses[-1]:.6f}")
    return trainable, losses


if __name__ == "__main__":
    x, y = make_data()
    print("eqx.nn.MLP, step under eqx.filter_jit:")
    model, losses = train(train_step, make_model(jax.random.key(0)), x, y, print_every=PRINT_EVERY)
    print(f"  final loss {losses[-1]:.6f}")
    print("params pytree, step under jax.jit:")
    params, losses = train(train_step_on_params, init_params(jax.random.key(0)), x, y,
                           print_every=PRINT_EVERY)
    print(f"  final loss {losses[-1]:.6f}")
