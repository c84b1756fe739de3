"""The training steps of examples/train_step.py: fgrad's gradients under eqx.filter_jit and
jax.jit, with an equinox model and optax's adam, against the same steps differentiated by
JAX."""

import os
import pathlib
import subprocess
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fgrad
import fgrad.numpy as fnp

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
import dp_sgd  # noqa: E402
import train_step as example  # noqa: E402

TOLERANCES = {"float32": dict(rtol=2e-4, atol=2e-6), "float64": dict(rtol=1e-10, atol=1e-12)}
STEPS_COMPARED = 10


def reference_loss(params, static, x, y):
    model = eqx.combine(params, static)
    return jnp.mean((jax.vmap(model)(x) - y) ** 2)


@eqx.filter_jit
def reference_train_step(model, opt_state, x, y):
    params, static = eqx.partition(model, eqx.is_inexact_array)
    value, grads = jax.value_and_grad(reference_loss)(params, static, x, y)
    updates, opt_state = example.optimizer.update(grads, opt_state, params)
    return value, eqx.apply_updates(model, updates), opt_state


def reference_params_loss(params, x, y):
    for w, b in params[:-1]:
        x = jnp.tanh(x @ w + b)
    w, b = params[-1]
    return jnp.mean((x @ w + b - y) ** 2)


@jax.jit
def reference_train_step_on_params(params, opt_state, x, y):
    value, grads = jax.value_and_grad(reference_params_loss)(params, x, y)
    updates, opt_state = example.optimizer.update(grads, opt_state, params)
    return value, optax.apply_updates(params, updates), opt_state


def asymmetric_data():
    """The example's targets on inputs shifted off zero. On the example's symmetric inputs an
    odd target makes the gradients of zero biases vanish, up to rounding, and adam's first
    step divides each gradient by its own size: rounding noise would become whole steps."""
    x, y = example.make_data()
    return x + 0.25, y


def with_jax_tanh(model):
    """The same model, arrays and all, with JAX's tanh as its activation."""
    return eqx.tree_at(lambda m: m.activation, model, jnp.tanh)


def assert_same_arrays(ours, theirs, tolerance):
    ours, theirs = (jax.tree.leaves(eqx.filter(t, eqx.is_inexact_array)) for t in (ours, theirs))
    assert len(ours) == len(theirs) > 0
    for a, b in zip(ours, theirs):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), **tolerance)


def test_model_step_matches_jax_grad(float_dtype):
    x, y = asymmetric_data()
    key = jax.random.key(1)
    ours = example.make_model(key)
    theirs = with_jax_tanh(ours)
    assert ours.layers[0].weight.dtype == float_dtype
    ours, our_losses = example.train(example.train_step, ours, x, y, steps=STEPS_COMPARED)
    theirs, their_losses = example.train(reference_train_step, theirs, x, y,
                                         steps=STEPS_COMPARED)
    np.testing.assert_allclose(our_losses, their_losses, **TOLERANCES[float_dtype])
    assert_same_arrays(ours, theirs, TOLERANCES[float_dtype])
    # Ten adam steps of size 1e-2 moved the weights: the parameters compared are not the start.
    moved = np.asarray(ours.layers[0].weight - example.make_model(key).layers[0].weight)
    assert np.abs(moved).mean() > 1e-2


def test_params_step_matches_jax_grad(float_dtype):
    x, y = asymmetric_data()
    params = example.init_params(jax.random.key(2))
    assert params[0][0].dtype == float_dtype
    ours, our_losses = example.train(example.train_step_on_params, params, x, y,
                                      steps=STEPS_COMPARED)
    theirs, their_losses = example.train(reference_train_step_on_params, params, x, y,
                                         steps=STEPS_COMPARED)
    np.testing.assert_allclose(our_losses, their_losses, **TOLERANCES[float_dtype])
    assert_same_arrays(ours, theirs, TOLERANCES[float_dtype])
    assert np.abs(np.asarray(ours[0][0] - params[0][0])).mean() > 1e-2


@pytest.mark.parametrize("step, make", [
    ("train_step", lambda: example.make_model(jax.random.key(0))),
    ("train_step_on_params", lambda: example.init_params(jax.random.key(0))),
])
def test_the_examples_run_fits_the_data(step, make):
    x, y = example.make_data()
    trained, losses = example.train(getattr(example, step), make(), x, y)
    assert len(losses) == example.STEPS
    assert losses[0] > 0.3  # sin(3x) has mean square 0.52; an untrained net is far off
    assert losses[-1] < 1e-3 and losses[-1] < losses[0] / 500


def test_filter_jit_traces_the_step_once():
    traces = []

    @eqx.filter_jit
    def counted_step(model, opt_state, x, y):
        traces.append(x.shape)
        return example.train_step.__wrapped__(model, opt_state, x, y)

    x, y = example.make_data()
    model, losses = example.train(counted_step, example.make_model(jax.random.key(0)), x, y,
                                  steps=5)
    assert traces == [x.shape]
    # The model and optimiser state the step returns feed the next call without a retrace,
    # and a new shape does retrace, so the count above is a real one.
    x_small, y_small = example.make_data(points=64)
    example.train(counted_step, model, x_small, y_small, steps=3)
    assert traces == [x.shape, x_small.shape]


def test_a_jax_activation_cannot_trace_fgrad_values():
    x, y = example.make_data(points=8)
    model = eqx.nn.MLP(in_size=1, out_size=1, width_size=4, depth=1, activation=fnp.tanh,
                       key=jax.random.key(3))
    params = eqx.filter(model, eqx.is_inexact_array)
    jax_static = eqx.partition(with_jax_tanh(model), eqx.is_inexact_array)[1]
    # Under filter_jit each gradient compiles once instead of dispatching op by op.
    fgrad_grad = eqx.filter_jit(fgrad.filter_grad(example.loss))
    with pytest.raises(fgrad.TracerConversionError, match="fgrad.numpy"):
        fgrad_grad(with_jax_tanh(model), x, y)
    grads = fgrad_grad(model, x, y)
    expected = eqx.filter_jit(jax.grad(reference_loss))(params, jax_static, x, y)
    assert_same_arrays(grads, expected, TOLERANCES["float32"])


@pytest.mark.slow
def test_the_example_script_runs():
    process = subprocess.run([sys.executable, "examples/train_step.py"], cwd=ROOT,
                             capture_output=True, text=True, timeout=300,
                             env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                 [str(ROOT), os.environ.get("PYTHONPATH", "")])})
    assert process.returncode == 0, process.stderr
    final_losses = [float(line.split()[-1]) for line in process.stdout.splitlines()
                    if "final loss" in line]
    assert len(final_losses) == 2 and max(final_losses) < 1e-3, process.stdout


def test_dp_sgd_example_matches_jax():
    # Per-example gradients (vmap of grad), clipping, noise from fgrad.random with a key per
    # step, minibatches from fgrad.random.permutation, all under fgrad.jit: the same
    # parameters as the same program in JAX, step for step.
    ours, theirs, our_losses, their_losses, difference = dp_sgd.main(steps=20, verbose=False)
    assert difference <= dp_sgd.RTOL
    np.testing.assert_allclose(our_losses, their_losses, rtol=dp_sgd.RTOL)
    assert our_losses[-1] < our_losses[0] - 0.05
