"""Equinox models with fgrad: the filtered transforms against equinox's own, and models
whose `__call__` uses fgrad trained with optax under `eqx.filter_jit`, step for step against
the same models written with jax.numpy and differentiated by equinox."""

from __future__ import annotations

from typing import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import lax as fl
from fgrad import nn as fnn


class FG:
    """fgrad's namespaces, as a model's (static, hashable) field."""
    np, lax, nn = fnp, fl, fnn


class JX:
    """JAX's namespaces of the same names."""
    np, lax, nn = jnp, jax.lax, jax.nn


def tree_allclose(got, want, rtol=1e-6, atol=1e-6):
    got_leaves, got_tree = jax.tree_util.tree_flatten(got, is_leaf=lambda x: x is None)
    want_leaves, want_tree = jax.tree_util.tree_flatten(want, is_leaf=lambda x: x is None)
    assert got_tree == want_tree, (got_tree, want_tree)
    for g, w in zip(got_leaves, want_leaves, strict=True):
        if eqx.is_array(w):
            np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=rtol, atol=atol)
        else:
            assert g == w, (g, w)


# -- the filtered transforms against equinox's --------------------------------------------


class Affine(eqx.Module):
    weight: jax.Array
    bias: jax.Array
    steps: jax.Array          # an integer array: not differentiated
    activation: Callable      # a function: not an array at all
    ns: type
    label: str = "affine"

    def __call__(self, x):
        m = self.ns
        return self.activation(m.np.matmul(self.weight, x) + self.bias) * self.steps


def affine(ns):
    return Affine(jnp.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]]), jnp.array([0.1, -0.2]),
                  jnp.array(2), ns.nn.softplus, ns)


X = jnp.array([0.3, -0.4, 0.8])


def loss(model, x):
    return model.ns.np.sum(model(x) ** 2)


def test_filter_grad_differentiates_the_float_arrays_of_the_first_argument():
    got = fgrad.filter_grad(loss)(affine(FG), X)
    want = eqx.filter_grad(loss)(affine(JX), X)
    assert got.steps is None and got.activation is None and got.label is None
    tree_allclose(eqx.filter(got, eqx.is_array), eqx.filter(want, eqx.is_array))


def test_filter_value_and_grad_and_aux():
    def with_aux(model, x):
        return loss(model, x), {"out": model(x), "tag": "aux"}

    (value, aux), grads = fgrad.filter_value_and_grad(with_aux, has_aux=True)(affine(FG), X)
    (want_value, want_aux), want = eqx.filter_value_and_grad(with_aux, has_aux=True)(
        affine(JX), X)
    np.testing.assert_allclose(value, want_value, rtol=1e-6)
    tree_allclose(aux, want_aux)
    tree_allclose(eqx.filter(grads, eqx.is_array), eqx.filter(want, eqx.is_array))
    g, aux = fgrad.filter_grad(with_aux, has_aux=True)(affine(FG), X)
    tree_allclose(eqx.filter(g, eqx.is_array), eqx.filter(want, eqx.is_array))
    assert aux["tag"] == "aux"


def test_filter_grad_as_a_method_decorator_and_with_keywords():
    class Model(eqx.Module):
        w: jax.Array

        @fgrad.filter_grad
        def grad_of_energy(self, x, *, scale):
            return fnp.sum(scale * (self.w * x) ** 2)

    m = Model(jnp.array([1.0, 2.0]))
    np.testing.assert_allclose(m.grad_of_energy(jnp.array([3.0, 1.0]), scale=0.5).w,
                               [9.0, 2.0])


def test_filter_vjp_passes_non_arrays_through():
    def f(model, x):
        return {"y": model(x), "n": fnp.argmax(x), "name": model.label}

    out, pullback = fgrad.filter_vjp(f, affine(FG), X)
    want_out, want_pullback = eqx.filter_vjp(f, affine(JX), X)
    tree_allclose(out, want_out)
    ct = {"y": jnp.array([1.0, -2.0]), "n": None, "name": None}
    got_m, got_x = pullback(ct)
    want_m, want_x = want_pullback(ct)
    tree_allclose(got_x, want_x)
    assert got_m.activation is None and got_m.steps is None
    tree_allclose(eqx.filter(got_m, eqx.is_array), eqx.filter(want_m, eqx.is_array))


def test_filter_jvp_tangents_are_none_where_zero_by_construction():
    def f(model, x, y):
        return model(x), fnp.argmax(x), y * 2.0, "label"

    t_model = jax.tree_util.tree_map(lambda _: None, affine(FG))
    t_model = eqx.tree_at(lambda m: m.bias, t_model, jnp.array([1.0, 1.0]),
                          is_leaf=lambda x: x is None)
    primals = (affine(FG), X, jnp.array(3.0))
    out, t_out = fgrad.filter_jvp(f, primals, (t_model, jnp.ones(3), None))
    jax_primals = (affine(JX), X, jnp.array(3.0))
    want_out, want_t = eqx.filter_jvp(f, jax_primals, (t_model, jnp.ones(3), None))
    tree_allclose(out, want_out)
    assert t_out[1:] == (None, None, None)   # integer, independent of moving inputs, str
    np.testing.assert_allclose(t_out[0], want_t[0], rtol=1e-6)


def test_filter_vmap_maps_arrays_and_holds_the_rest():
    model = affine(FG)
    xs = jnp.stack([X, 2 * X, -X])
    got = fgrad.filter_vmap(lambda m, x: (m(x), m.label), in_axes=(None, 0))(model, xs)
    want = eqx.filter_vmap(lambda m, x: (m(x), m.label), in_axes=(None, 0))(affine(JX), xs)
    tree_allclose(got, want)
    # A callable in_axes, per leaf, and the default: every array mapped on axis 0.
    batch = jnp.stack([X, X + 1.0])
    got = fgrad.filter_vmap(lambda x, s: fnp.sum(x) * s, in_axes=lambda leaf: 0)(batch, 3)
    np.testing.assert_allclose(got, 3 * np.sum(batch, axis=1), rtol=1e-6)


def test_per_example_gradients_nest_filter_grad_in_filter_vmap():
    xs = jnp.stack([X, 2 * X, -X])
    got = fgrad.filter_vmap(fgrad.filter_grad(loss), in_axes=(None, 0))(affine(FG), xs)
    want = eqx.filter_vmap(eqx.filter_grad(loss), in_axes=(None, 0))(affine(JX), xs)
    tree_allclose(eqx.filter(got, eqx.is_array), eqx.filter(want, eqx.is_array), rtol=1e-5)


def test_filter_jit_traces_arrays_and_keys_on_the_rest():
    traces = []

    @fgrad.filter_jit
    def apply(model, x, mode):
        traces.append(mode)
        y = model(x)
        return (y if mode == "plain" else 2 * y), {"mode": mode, "steps": model.steps}

    model = affine(FG)
    y, info = apply(model, X, "plain")
    np.testing.assert_allclose(y, affine(JX)(X), rtol=1e-6)
    assert info["mode"] == "plain" and int(info["steps"]) == 2
    apply(model, 2 * X, "plain")
    assert traces == ["plain"]                      # same static leaves: no retrace
    y2, info2 = apply(model, X, "double")
    assert traces == ["plain", "double"] and info2["mode"] == "double"
    np.testing.assert_allclose(y2, 2 * y, rtol=1e-6)
    fgrad.clear_caches()                             # static outputs survive a clear
    assert apply(model, X, "plain")[1]["mode"] == "plain"


def test_filter_jit_refuses_unhashable_static_leaves():
    with pytest.raises(TypeError, match="not hashable"):
        fgrad.filter_jit(lambda x, opts: x)(X, opts={"a", "b"})


# -- errors -----------------------------------------------------------------------------------


def test_grad_names_the_non_array_leaf_and_suggests_filter_grad():
    with pytest.raises(TypeError, match=r"but model\.steps has dtype int32.*filter_grad"):
        fgrad.grad(loss)(affine(FG), X)
    model = eqx.tree_at(lambda m: m.steps, affine(FG), jnp.array(2.0))
    with pytest.raises(TypeError,
                       match=r"model\.activation is a function, not an array.*filter_grad"):
        fgrad.grad(loss)(model, X)
    with pytest.raises(TypeError, match=r"argument 0\.activation .*eqx.partition"):
        fgrad.jacrev(lambda *a: loss(*a))(model, X)


def test_filtered_transform_errors():
    with pytest.raises(TypeError, match="first argument, which must be passed by position"):
        fgrad.filter_grad(loss)(model=affine(FG), x=X)
    with pytest.raises(fgrad.core.errors.StructureError, match="structure of the primals"):
        fgrad.filter_jvp(lambda a, b: a * b, (X, X), (None,))
    with pytest.raises(TypeError, match="out_axes must be an int or None"):
        fgrad.filter_vmap(lambda x: x, out_axes={"a": 0})


# -- models trained with optax, against the same models in JAX ------------------------------


def _dense(key, n_in, n_out):
    w = jax.random.normal(key, (n_out, n_in)) / np.sqrt(n_in)
    return w, jnp.zeros(n_out)


class MLP(eqx.Module):
    layers: tuple
    ns: type

    def __init__(self, ns, key):
        k1, k2 = jax.random.split(key)
        self.layers, self.ns = (_dense(k1, 4, 16), _dense(k2, 16, 3)), ns

    def __call__(self, x):
        (w1, b1), (w2, b2) = self.layers
        return w2 @ self.ns.nn.relu(w1 @ x + b1) + b2


class CNN(eqx.Module):
    kernel: jax.Array
    head: tuple
    ns: type

    def __init__(self, ns, key):
        k1, k2 = jax.random.split(key)
        self.kernel = jax.random.normal(k1, (4, 1, 3, 3)) / 3.0
        self.head, self.ns = _dense(k2, 4 * 3 * 3, 3), ns

    def __call__(self, x):  # x: (16,) as a 4x4 image
        m = self.ns
        img = m.np.reshape(x, (1, 1, 4, 4))
        h = m.lax.conv_general_dilated(img, self.kernel, (1, 1), "SAME")   # (1, 4, 4, 4)
        h = m.nn.relu(h)[0, :, :3, :3]
        w, b = self.head
        return w @ m.np.reshape(h, (-1,)) + b


class RNN(eqx.Module):
    wx: jax.Array
    wh: jax.Array
    head: tuple
    ns: type

    def __init__(self, ns, key):
        k1, k2, k3 = jax.random.split(key, 3)
        self.wx = jax.random.normal(k1, (8, 1)) * 0.5
        self.wh = jax.random.normal(k2, (8, 8)) * 0.3
        self.head, self.ns = _dense(k3, 8, 3), ns

    def __call__(self, x):  # x: a sequence of scalars
        m = self.ns

        def cell(h, xt):
            h = m.np.tanh(self.wx @ m.np.reshape(xt, (1,)) + self.wh @ h)
            return h, None

        h, _ = m.lax.scan(cell, m.np.zeros(8), x)
        w, b = self.head
        return w @ h + b


class LayerNormMLP(eqx.Module):
    gamma: jax.Array
    beta: jax.Array
    layers: tuple
    ns: type

    def __init__(self, ns, key):
        self.gamma, self.beta = jnp.ones(4), jnp.zeros(4)
        self.layers, self.ns = MLP(ns, key).layers, ns

    def __call__(self, x):
        m = self.ns
        mean = m.np.mean(x)
        normed = (x - mean) / m.np.sqrt(m.np.var(x) + 1e-5) * self.gamma + self.beta
        (w1, b1), (w2, b2) = self.layers
        return w2 @ m.nn.gelu(w1 @ normed + b1) + b2


def _data(n_features):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, n_features)).astype(np.float32)
    y = rng.integers(0, 3, size=32)
    return jnp.asarray(x), jnp.asarray(y)


def _train(model, ns, value_and_grad, x, y, steps=6):
    def batch_loss(model, x, y):
        logits = jax.vmap(model)(x) if ns is JX else fgrad.vmap(model)(x)
        logp = ns.nn.log_softmax(logits)
        return -ns.np.mean(ns.np.take_along_axis(logp, y[:, None], axis=1))

    optimizer = optax.adam(1e-2)
    state = optimizer.init(eqx.filter(model, eqx.is_inexact_array))

    @eqx.filter_jit
    def step(model, state, x, y):
        value, grads = value_and_grad(batch_loss)(model, x, y)
        updates, state = optimizer.update(grads, state, model)
        return eqx.apply_updates(model, updates), state, value

    losses = []
    for _ in range(steps):
        model, state, value = step(model, state, x, y)
        losses.append(float(value))
    return model, losses


@pytest.mark.parametrize("Model, n_features", [(MLP, 4), (CNN, 16), (RNN, 5),
                                               (LayerNormMLP, 4)],
                         ids=["mlp", "cnn", "rnn_scan", "layernorm"])
def test_equinox_models_train_under_filter_jit_with_optax(Model, n_features):
    x, y = _data(n_features)
    key = jax.random.key(1)
    model, losses = _train(Model(FG, key), FG, fgrad.filter_value_and_grad, x, y)
    want_model, want_losses = _train(Model(JX, key), JX, eqx.filter_value_and_grad, x, y)
    np.testing.assert_allclose(losses, want_losses, rtol=2e-5)
    assert losses[-1] < losses[0]
    tree_allclose(eqx.filter(model, eqx.is_array), eqx.filter(want_model, eqx.is_array),
                  rtol=1e-4, atol=1e-5)
