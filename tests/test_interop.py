"""fgrad meeting JAX: fgrad code under JAX's transformations, JAX arrays inside fgrad's
transformations, JAX functions given fgrad's traced values, and every kind of callable.

Each test is named after what it protects; most came from porting real JAX programs to
fgrad (issue 10).
"""

import functools
import os

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fgrad
import fgrad.lax as fl
import fgrad.numpy as fnp
from fgrad.core import EVAL_TRACE, current_trace
from oracle import assert_trees_same, line_of

HERE = os.path.basename(__file__)
THIS_FILE = os.path.abspath(__file__)


# -- stop_gradient and no_grad under JAX's transformations ---------------------------------------


def test_jax_grad_sees_fgrad_stop_gradient():
    assert jax.grad(lambda x: fgrad.stop_gradient(x) * x)(2.0) == 2.0
    assert jax.hessian(lambda x: fgrad.stop_gradient(x) * x ** 2)(2.0) == 4.0
    assert fgrad.grad(lambda x: fgrad.stop_gradient(x) * x)(2.0) == 2.0


def test_jax_grad_sees_no_grad_around_fgrad_operations():
    def f(x):
        with fgrad.no_grad():
            s = fnp.multiply(x, 3.0)  # an fgrad operation: no_grad sees it
        return s * x

    assert jax.grad(f)(2.0) == 6.0
    assert fgrad.grad(f)(2.0) == 6.0


def test_td0_update_and_straight_through_estimator_under_jax_grad():
    # TD(0): the target r + gamma * V(s') is a constant; the gradient flows through V(s) only.
    s, s_next, r, gamma = fnp.array([1.0, 2.0]), fnp.array([0.5, -1.0]), 0.3, 0.9

    def td_loss(np_, stop):
        def loss(w):
            target = r + gamma * stop(np_.dot(w, s_next))
            return (target - np_.dot(w, s)) ** 2
        return loss

    w = jnp.array([0.2, -0.4])
    want = jax.grad(td_loss(jnp, jax.lax.stop_gradient))(w)
    for got in (jax.grad(td_loss(fnp, fgrad.stop_gradient))(w),
                fgrad.grad(td_loss(fnp, fgrad.stop_gradient))(w),
                jax.jit(jax.grad(td_loss(fnp, fgrad.stop_gradient)))(w)):
        np.testing.assert_allclose(got, want, rtol=1e-6)

    # Straight-through: round on the way forward, the identity on the way back.
    def straight_through(x):
        return fnp.sum((x + fgrad.stop_gradient(fnp.round(x) - x)) * fnp.arange(3.0))

    x = jnp.array([0.2, 1.7, -0.6])
    np.testing.assert_array_equal(jax.grad(straight_through)(x), [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(fgrad.grad(straight_through)(x), [0.0, 1.0, 2.0])


def test_equinox_and_optax_see_fgrad_stop_gradient():
    class Critic(eqx.Module):
        w: jax.Array

        def __call__(self, x):
            return fnp.dot(self.w, x)

    critic = Critic(jnp.array([0.5, -1.0]))
    x, x_next = jnp.array([1.0, 2.0]), jnp.array([2.0, 0.0])

    def loss(model):
        return (0.1 + fgrad.stop_gradient(model(x_next)) - model(x)) ** 2

    grads = eqx.filter_grad(loss)(critic)
    # d/dw (c - w.x)^2 = -2 (c - w.x) x, with c the stopped target.
    target = 0.1 + float(critic.w @ x_next)
    np.testing.assert_allclose(grads.w, -2 * (target - float(critic.w @ x)) * x, rtol=1e-6)
    updates, _ = optax.sgd(0.1).update(grads, optax.sgd(0.1).init(critic))
    np.testing.assert_allclose(eqx.apply_updates(critic, updates).w, critic.w - 0.1 * grads.w)


# -- every kind of callable ---------------------------------------------------------------------


class Quadratic:
    """A callable object, as equinox modules and user classes are."""

    def __init__(self, a):
        self.a = a

    def __call__(self, x):
        return fnp.sum(self.a * x ** 2)


def _plain(x):
    return fnp.sum(2.0 * x ** 2)


CALLABLES = {
    "function": _plain,
    "partial": functools.partial(lambda a, x: fnp.sum(a * x ** 2), 2.0),
    "callable object": Quadratic(2.0),
}

# transform -> how to apply it to a scalar function of a vector
TRANSFORMS = {
    "grad": lambda f, x: fgrad.grad(f)(x),
    "value_and_grad": lambda f, x: fgrad.value_and_grad(f)(x),
    "vjp": lambda f, x: fgrad.vjp(f, x)[1](1.0),
    "jvp": lambda f, x: fgrad.jvp(f, (x,), (fnp.ones(3),)),
    "linearize": lambda f, x: fgrad.linearize(f, x)[1](fnp.ones(3)),
    "jacfwd": lambda f, x: fgrad.jacfwd(f)(x),
    "jacrev": lambda f, x: fgrad.jacrev(f)(x),
    "hessian": lambda f, x: fgrad.hessian(f)(x),
    "hvp": lambda f, x: fgrad.hvp(f, (x,), (fnp.ones(3),)),
    "vmap": lambda f, x: fgrad.vmap(f)(fnp.stack([x, 2 * x])),
    "jit": lambda f, x: fgrad.jit(f)(x),
    "jit of grad": lambda f, x: fgrad.jit(fgrad.grad(f))(x),
    "make_ir": lambda f, x: fgrad.eval_program(fgrad.make_ir(f)(x), x),
}


@pytest.mark.parametrize("transform", list(TRANSFORMS))
@pytest.mark.parametrize("kind", ["partial", "callable object"])
def test_every_transform_takes_partials_and_callable_objects(transform, kind):
    x = fnp.array([1.0, -2.0, 0.5])
    apply = TRANSFORMS[transform]
    assert_trees_same(apply(CALLABLES[kind], x), apply(_plain, x), rtol=1e-6)


def test_jit_of_a_partial_names_the_wrapped_function():
    jitted = fgrad.jit(functools.partial(lambda a, x: a * x, 2.0))
    np.testing.assert_array_equal(jitted(fnp.ones(2)), [2.0, 2.0])
    assert "jit(<lambda>)" in str(jitted.lower(fnp.ones(2)).program) or jitted._name
    assert fgrad.jit(Quadratic(1.0))._name == "Quadratic"


NOT_CALLABLE = {
    "grad": lambda: fgrad.grad(3.0),  # not callable: grad
    "value_and_grad": lambda: fgrad.value_and_grad(3.0),  # not callable: value_and_grad
    "vmap": lambda: fgrad.vmap(3.0),  # not callable: vmap
    "jacfwd": lambda: fgrad.jacfwd(3.0),  # not callable: jacfwd
    "jacrev": lambda: fgrad.jacrev(3.0),  # not callable: jacrev
    "hessian": lambda: fgrad.hessian(3.0),  # not callable: hessian
    "make_ir": lambda: fgrad.make_ir(3.0),  # not callable: make_ir
    "jit": lambda: fgrad.jit(3.0),  # not callable: jit
    "vjp": lambda: fgrad.vjp(3.0, 1.0),  # not callable: vjp
    "jvp": lambda: fgrad.jvp(3.0, (1.0,), (1.0,)),  # not callable: jvp
    "linearize": lambda: fgrad.linearize(3.0, 1.0),  # not callable: linearize
}


@pytest.mark.parametrize("transform", list(NOT_CALLABLE))
def test_a_non_callable_is_refused_with_the_users_line(transform):
    with pytest.raises(TypeError) as info:
        NOT_CALLABLE[transform]()
    message = str(info.value)
    assert "float" in message
    assert f"{HERE}:{line_of(THIS_FILE, f'# not callable: {transform}')}" in message


# -- JAX arrays meeting fgrad values inside a traced function --------------------------------------


def test_at_set_on_a_non_differentiated_jax_array():
    x, y = jnp.array([1.0, 2.0]), jnp.array([0.5, -1.0, 3.0])

    def loss(np_):
        return lambda x, y: np_.sum(y.at[0].set(np_.sum(x)) ** 2)

    want = jax.grad(loss(jnp))(x, y)
    np.testing.assert_allclose(fgrad.grad(loss(fnp))(x, y), want, rtol=1e-6)
    # fnp.asarray of a JAX array is a value of the trace too.
    asarray_loss = lambda x, y: fnp.sum(fnp.asarray(y).at[0].set(fnp.sum(x)) ** 2)
    np.testing.assert_allclose(fgrad.grad(asarray_loss)(x, y), want, rtol=1e-6)


def test_preprocessing_a_batch_inside_the_loss():
    batch = {"x": jnp.array([[0.5, 1.0], [2.0, -1.0]]), "y": jnp.array([1.0, 0.0])}

    def loss(np_):
        def f(w, batch):
            x = batch["x"]
            x = x.at[:, 0].set(np_.log1p(x[:, 0]))
            return np_.mean((x @ w - batch["y"]) ** 2)
        return f

    w = jnp.array([0.3, -0.2])
    np.testing.assert_allclose(fgrad.grad(loss(fnp))(w, batch), jax.grad(loss(jnp))(w, batch),
                               rtol=1e-6)


def test_indexing_a_jax_array_with_a_traced_index():
    x, y = jnp.array([0.1, 0.9, 0.3]), jnp.array([10.0, 20.0, 30.0])
    f = lambda np_: lambda x, y: y[np_.argmax(x)] * x[0]
    np.testing.assert_allclose(fgrad.grad(f(fnp))(x, y), jax.grad(f(jnp))(x, y))


def test_non_array_leaves_of_aux_pass_through_as_in_jax():
    def f(np_):
        return lambda x: (np_.sum(x ** 2), {"name": "loss", "step": 3, "x": np_.sum(x)})

    x = jnp.array([1.0, 2.0])
    (value, aux), g = fgrad.value_and_grad(f(fnp), has_aux=True)(x)
    (j_value, j_aux), j_g = jax.value_and_grad(f(jnp), has_aux=True)(x)
    assert aux["name"] == j_aux["name"] == "loss" and aux["step"] == j_aux["step"] == 3
    assert type(aux["step"]) is int
    np.testing.assert_allclose(aux["x"], j_aux["x"])
    np.testing.assert_allclose(g, j_g)
    # The compiled gradient (second and later calls) passes them through as well.
    for _ in range(3):
        (_, aux), _ = fgrad.value_and_grad(f(fnp), has_aux=True)(x)
        assert aux["name"] == "loss" and aux["step"] == 3
    _, _, aux = fgrad.jvp(f(fnp), (x,), (x,), has_aux=True)
    assert aux["name"] == "loss"
    _, _, aux = fgrad.vjp(f(fnp), x, has_aux=True)
    assert aux["step"] == 3
    _, aux = fgrad.jacrev(f(fnp), has_aux=True)(x)
    assert aux["name"] == "loss"


def test_repeated_argnums_are_refused_as_in_jax():
    with pytest.raises(TypeError, match="names an argument twice"):
        fgrad.grad(lambda x, y: x * y, argnums=(0, 0))(1.0, 2.0)
    with pytest.raises(TypeError, match="names an argument twice"):
        fgrad.grad(lambda x, y: x * y, argnums=(1, -1))(1.0, 2.0)
    with pytest.raises(TypeError):  # JAX refuses too (by failing inside)
        jax.grad(lambda x, y: x * y, argnums=(0, 0))(1.0, 2.0)


def test_non_array_arguments_name_the_users_line():
    for bad in ("a string", object()):
        with pytest.raises(TypeError) as info:
            fgrad.grad(lambda s: 1.0)(bad)  # a non-array argument
        assert f"{HERE}:{line_of(THIS_FILE, '# a non-array argument')}" in str(info.value)
    with pytest.raises(TypeError) as info:
        fgrad.vmap(lambda s: s)("abc")  # a string to vmap
    assert f"{HERE}:{line_of(THIS_FILE, '# a string to vmap')}" in str(info.value)


# -- JAX functions given fgrad's traced values ----------------------------------------------

JAX_CALLS = {
    "jax.lax.dynamic_slice": lambda x: jax.lax.dynamic_slice(x, (0,), (2,)).sum(),
    "jax.lax.conv_general_dilated": lambda x: jax.lax.conv_general_dilated(
        x.reshape(1, 1, 3), x.reshape(1, 1, 3), (1,), "SAME").sum(),
    "jax.lax.reduce_window_sum": lambda x: jax.lax.reduce_window(
        x, 0.0, jax.lax.add, (2,), (1,), "VALID").sum(),
    "a function with a custom JAX derivative": lambda x: jax.nn.relu(x).sum(),
    "jax.numpy.sin": lambda x: jnp.sin(x).sum(),
    "jax.nn.softmax": lambda x: jax.nn.softmax(x).sum(),
}


@pytest.mark.parametrize("what", list(JAX_CALLS))
def test_jax_functions_on_traced_values_give_fgrad_errors(what):
    with pytest.raises(fgrad.TracerConversionError) as info:
        fgrad.grad(JAX_CALLS[what])(fnp.ones(3))
    message = str(info.value)
    assert what in message and "fgrad.numpy" in message
    call_line = next(n for n, text in enumerate(open(THIS_FILE), 1)
                     if text.strip().startswith(f'"{what}"'))
    lines = {call_line, call_line + 1}  # the call may sit on the line after its name
    assert any(f"{HERE}:{n}" in message for n in lines), message
    assert current_trace() is EVAL_TRACE


def test_grad_of_jax_jit_says_to_use_fgrad_jit():
    with pytest.raises(fgrad.TracerConversionError) as info:
        fgrad.grad(jax.jit(lambda x: x * 2.0))(1.0)  # jax.jit inside
    message = str(info.value)
    assert "jax.jit" in message and "fgrad.jit" in message
    assert f"{HERE}:{line_of(THIS_FILE, '# jax.jit inside')}" in message
    jitted = jax.jit(lambda x: x * 2.0)
    with pytest.raises(fgrad.TracerConversionError, match="fgrad.jit"):
        fgrad.grad(lambda x: jitted(x) + 1.0)(1.0)
    # The fixes the message names work.
    assert fgrad.grad(fgrad.jit(lambda x: x * 2.0))(1.0) == 2.0
    assert jax.jit(fgrad.grad(lambda x: x * 2.0))(1.0) == 2.0


def test_jax_random_on_a_traced_key_points_at_fgrad_random():
    keys = jax.random.split(jax.random.key(0), 3)
    with pytest.raises(fgrad.TracerConversionError) as info:
        fgrad.vmap(lambda k: jax.random.normal(k))(keys)  # jax.random in vmap
    message = str(info.value)
    assert "fgrad.random" in message and "jax.random.normal" in message
    assert f"{HERE}:{line_of(THIS_FILE, '# jax.random in vmap')}" in message


@pytest.mark.parametrize("namespace, jax_namespace, name", [
    (fnp, jnp, "frompyfunc"), (fl, jax.lax, "approx_max_k"), (fgrad, jax, "named_scope")])
def test_missing_names_say_whether_jax_has_them(namespace, jax_namespace, name):
    assert hasattr(jax_namespace, name)
    with pytest.raises(AttributeError) as info:
        getattr(namespace, name)
    message = str(info.value)
    assert f"{jax_namespace.__name__}.{name} exists" in message and "meanwhile" in message.lower()
    assert not hasattr(namespace, name)


def test_missing_names_jax_lacks_too_suggest_close_ones():
    with pytest.raises(AttributeError, match="Did you mean linspace"):
        fnp.lingspace  # noqa: B018
    with pytest.raises(AttributeError, match="Did you mean while_loop"):
        fl.whilel_loop  # noqa: B018


# -- found by fuzzing against JAX ---------------------------------------------------------------


def test_compiled_gradient_of_a_set_into_a_float32_argument():
    v = jnp.asarray([0.55, 0.25], jnp.float32)
    f = lambda np_: lambda s, v: np_.sum(v.at[0].set(s))
    want = jax.value_and_grad(f(jnp))(1.4855, v)
    for _ in range(3):  # op by op, then through the compiled gradient
        assert_trees_same(fgrad.value_and_grad(f(fnp))(1.4855, v), want)
    g = lambda np_: lambda s, v: np_.sum(v.at[0].set(np_.linalg.norm(v) * s))
    np.testing.assert_allclose(jax.jit(fgrad.grad(g(fnp)))(1.4855, v),
                               jax.jit(jax.grad(g(jnp)))(1.4855, v), rtol=1e-6)
    h = lambda np_: lambda s, v: np_.sum(v.at[0].set(np_.var(v) * s) ** 2)
    np.testing.assert_allclose(fgrad.grad(fgrad.grad(h(fnp)))(1.4855, v),
                               jax.grad(jax.grad(h(jnp)))(1.4855, v), rtol=1e-6)


def test_set_at_duplicate_indices_differentiates(x64):
    idx = np.zeros(4, np.int32)
    x = np.random.default_rng(0).normal(size=(1, 2, 3))
    f = lambda np_: lambda v: np_.sum(v.at[idx].set(np_.sin(v[idx])))
    want = jax.grad(f(jnp))(x)
    for _ in range(3):
        np.testing.assert_allclose(fgrad.grad(f(fnp))(x), want, rtol=1e-12)
        np.testing.assert_allclose(fgrad.value_and_grad(f(fnp))(jnp.asarray(x))[1], want,
                                   rtol=1e-12)


def test_mean_rounds_like_jax_so_std_at_zero_variance_matches():
    # The mean of three equal float32 numbers: JAX's (XLA rewrites the division by 3 into a
    # multiplication by its reciprocal) is one ulp above the numbers, so the variance is
    # 2e-16, not 0, and the derivatives of std are finite. fgrad rounds the same way.
    x = jnp.float32(0.1879)
    y = lambda np_, x: np_.log(np_.abs(np_.broadcast_to(np_.min(x), (3,))) + 1)
    assert np.asarray(fnp.mean(y(fnp, x))).tobytes() == np.asarray(jnp.mean(y(jnp, x))).tobytes()
    assert float(fnp.var(y(fnp, x))) == float(jnp.var(y(jnp, x))) > 0
    f = lambda np_: lambda x: np_.sum(np_.std(y(np_, x), axis=0))
    assert float(fgrad.grad(f(fnp))(x)) == float(jax.grad(f(jnp))(x))
    assert float(fgrad.grad(fgrad.grad(f(fnp)))(x)) == float(jax.grad(jax.grad(f(jnp)))(x))
    xs = jnp.array([0.1879, 0.5, -0.25], jnp.float32)
    np.testing.assert_array_equal(jax.vmap(fgrad.grad(f(fnp)))(xs),
                                  jax.vmap(jax.grad(f(jnp)))(xs))
    # At exactly zero variance both say NaN (sqrt's derivative at 0 times a zero tangent).
    s = lambda np_: lambda x: np_.std(np_.broadcast_to(x, (4,)))
    assert np.isnan(fgrad.grad(s(fnp))(1.0)) and np.isnan(jax.grad(s(jnp))(1.0))
