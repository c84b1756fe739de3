"""fgrad.from_jax: JAX code imported into fgrad computes what JAX computes, and fgrad's own
transformations of it (grad, second order, vmap, jit) agree with JAX's of the original.
Every expected value here is JAX's."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fgrad

pytestmark = pytest.mark.usefixtures("x64")

X = np.linspace(-1.3, 1.1, 6)
ONE_HOT = np.eye(3)[[0, 2]]


def close(actual, expected, rtol=1e-9, atol=1e-12):
    jax.tree_util.tree_map(
        lambda a, e: np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol, atol),
        actual, expected)


@jax.custom_jvp
def wrong_jvp_sin(x):
    return jnp.sin(x)


# Deliberately not sin's derivative: fgrad must use this rule, as JAX does.
wrong_jvp_sin.defjvp(lambda p, t: (jnp.sin(p[0]), 3.0 * p[0] * t[0]))


@jax.custom_vjp
def wrong_vjp_sin(x):
    return jnp.sin(x)


wrong_vjp_sin.defvjp(lambda x: (jnp.sin(x), x), lambda x, g: (g * x ** 2,))

SCALAR_FUNCTIONS = {
    "relu": lambda x: jnp.sum(jax.nn.relu(x) * x),
    "gelu": lambda x: jnp.sum(jax.nn.gelu(x)),
    "softplus": lambda x: jnp.sum(jax.nn.softplus(x)),
    "logsumexp": lambda x: jax.nn.logsumexp(x * x),
    "softmax": lambda x: jnp.sum(jax.nn.softmax(x) * jnp.arange(6.0)),
    "norm_logpdf": lambda x: jnp.sum(jax.scipy.stats.norm.logpdf(x, 0.3, 1.7)),
    "softmax_cross_entropy":
        lambda x: jnp.sum(optax.softmax_cross_entropy(x.reshape(2, 3), ONE_HOT)),
    "l2_loss": lambda x: jnp.sum(optax.l2_loss(x, jnp.ones(6))),
    "huber_loss": lambda x: jnp.sum(optax.huber_loss(x, jnp.full(6, 0.5), delta=0.3)),
    "sigmoid_binary_cross_entropy":
        lambda x: jnp.sum(optax.sigmoid_binary_cross_entropy(x, jnp.arange(6.0) % 2)),
    "cond": lambda x: jnp.sum(jax.lax.cond(jnp.sum(x) > 0, jnp.sin, jnp.cos, x)),
    "scan": lambda x: jnp.sum(jax.lax.scan(lambda c, y: (c * jnp.sin(y) + y, c * y), 1.0, x)[1]),
    "fori_loop": lambda x: jnp.sum(jax.lax.fori_loop(0, 3, lambda i, c: jnp.sin(c) * x, x)),
    "custom_jvp": lambda x: jnp.sum(wrong_jvp_sin(x) * x),
    "custom_vjp": lambda x: jnp.sum(wrong_vjp_sin(x)),
}


@pytest.mark.parametrize("name", SCALAR_FUNCTIONS)
def test_value_gradient_and_second_order_are_jaxs(name):
    f = SCALAR_FUNCTIONS[name]
    g = fgrad.from_jax(f)
    x = X if name != "cond" else -X
    close(g(x), f(x))
    close(fgrad.grad(g)(x), jax.grad(f)(x))
    t = np.cos(np.arange(6.0))
    close(fgrad.jvp(fgrad.grad(g), (x,), (t,))[1], jax.jvp(jax.grad(f), (x,), (t,))[1])


@pytest.mark.parametrize("name", ["relu", "scan", "custom_jvp"])
def test_hessian_vmap_and_jit_are_jaxs(name):
    f = SCALAR_FUNCTIONS[name]
    g = fgrad.from_jax(f)
    close(fgrad.hessian(g)(X), jax.hessian(f)(X))
    xs = np.stack([X, 0.5 * X, X[::-1]])
    close(fgrad.vmap(fgrad.grad(g))(xs), jax.vmap(jax.grad(f))(xs))
    close(fgrad.jit(fgrad.grad(g))(X), jax.grad(f)(X))


def test_the_custom_rules_are_the_ones_used():
    """The rules above differ from sin's derivative, so agreeing with JAX means they ran."""
    jvp_grad = fgrad.grad(fgrad.from_jax(lambda x: jnp.sum(wrong_jvp_sin(x))))(X)
    close(jvp_grad, 3.0 * X)
    vjp_grad = fgrad.grad(fgrad.from_jax(lambda x: jnp.sum(wrong_vjp_sin(x))))(X)
    close(vjp_grad, X ** 2)


def test_while_loop_forward_mode_is_jaxs():
    # JAX has no reverse mode for a while loop either; forward mode is compared.
    def f(x):
        return jax.lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, jnp.sin(c[1]) * x),
                                  (0, x))[1]

    g = fgrad.from_jax(f)
    close(g(X), f(X))
    close(fgrad.jacfwd(g)(X), jax.jacfwd(f)(X))


KEY = jax.random.PRNGKey(0)
MODULES = {
    "MLP": (eqx.nn.MLP(4, 2, 5, 2, key=KEY), (4,)),
    "Conv2d": (eqx.nn.Conv2d(2, 3, 3, padding=1, key=KEY), (2, 5, 5)),
    "LayerNorm": (eqx.nn.LayerNorm(4), (4,)),
    "GRUCell": (eqx.nn.GRUCell(4, 3, key=KEY), (4,)),
}


def _model_input(name):
    model, shape = MODULES[name]
    x = np.sin(np.arange(np.prod(shape), dtype=np.float64)).reshape(shape)
    model = jax.tree_util.tree_map(
        lambda a: a.astype(np.float64) if eqx.is_inexact_array(a) else a, model)
    return model, x


def _call(name):
    if name == "GRUCell":
        return lambda m, x: jnp.sum(jnp.tanh(m(x, jnp.linspace(-0.5, 0.5, 3))))
    return lambda m, x: jnp.sum(jnp.tanh(m(x)))


@pytest.mark.parametrize("name", MODULES)
def test_equinox_modules_value_and_gradients_are_jaxs(name):
    model, x = _model_input(name)
    f = _call(name)
    g = fgrad.from_jax(f)
    close(g(model, x), f(model, x))
    close(fgrad.grad(g, argnums=1)(model, x), jax.grad(f, argnums=1)(model, x))
    model_grad = fgrad.filter_grad(g)(model, x)
    expected = eqx.filter_grad(f)(model, x)
    close(eqx.filter(model_grad, eqx.is_array), eqx.filter(expected, eqx.is_array))
    t = np.cos(x)
    close(fgrad.jvp(lambda x: fgrad.grad(g, argnums=1)(model, x), (x,), (t,))[1],
          jax.jvp(lambda x: jax.grad(f, argnums=1)(model, x), (x,), (t,))[1])


def test_equinox_mlp_under_vmap_and_jit():
    model, x = _model_input("MLP")
    f = _call("MLP")
    g = fgrad.from_jax(f)
    xs = np.stack([x, -x, 2 * x])
    per_example = fgrad.vmap(lambda x: fgrad.grad(g, argnums=1)(model, x))
    close(per_example(xs), jax.vmap(lambda x: jax.grad(f, argnums=1)(model, x))(xs))
    close(fgrad.filter_jit(g)(model, x), f(model, x))


def test_translated_once_per_signature():
    calls = []

    def f(x):
        calls.append(1)
        return jnp.sin(x)

    g = fgrad.from_jax(f)
    g(X), g(X + 1.0), fgrad.grad(lambda x: fgrad.numpy.sum(g(x)))(X)
    assert len(calls) == 1
    g(X[:3])
    assert len(calls) == 2
    assert fgrad.cache_info()["from_jax_programs"].size > 0


def test_weak_typed_literals_keep_float32():
    # x * 2.0 in JAX keeps float32: the literal is weakly typed.
    f = lambda x: jnp.sum(x * 2.0 + 1)  # noqa: E731
    x = np.ones(3, np.float32)
    out = fgrad.from_jax(f)(x)
    assert out.dtype == f(x).dtype == np.float32
    close(fgrad.grad(fgrad.from_jax(f))(x), jax.grad(f)(x))


def test_fgrad_transforms_do_not_call_jax_derivatives(monkeypatch):
    """JAX is asked for jaxprs only, when a signature (or a custom rule in it) is first
    translated; the derivatives are fgrad's. Once translated, no JAX transformation runs."""
    f = SCALAR_FUNCTIONS["softplus"]
    g = fgrad.from_jax(f)
    expected_grad, expected_hessian = jax.grad(f)(X), jax.hessian(f)(X)
    fgrad.grad(g)(X), fgrad.hessian(g)(X)  # translates softplus' rule and the rules in it

    def forbidden(*args, **kwargs):
        raise AssertionError("fgrad called a JAX transformation")

    for name in ("grad", "vjp", "jvp", "linearize", "vmap", "value_and_grad", "jacfwd",
                 "jacrev", "hessian", "make_jaxpr"):
        monkeypatch.setattr(jax, name, forbidden)
    close(fgrad.grad(g)(X), expected_grad)
    close(fgrad.hessian(g)(X), expected_hessian)


M = np.array([[3.0, 0.4, 0.1], [0.2, 2.5, 0.3], [0.1, 0.3, 2.0]])
MATRIX_FUNCTIONS = {
    "solve": lambda a: jnp.sum(jnp.linalg.solve(a, X[:3]) ** 2),   # custom_linear_solve
    "inv": lambda a: jnp.sum(jnp.linalg.inv(a)),
    "det": lambda a: jnp.linalg.det(a),
    "cholesky": lambda a: jnp.sum(jnp.linalg.cholesky(a @ a.T) ** 2),
    "eigh": lambda a: jnp.sum(jnp.linalg.eigh(a + a.T)[0] ** 3),
    "svd": lambda a: jnp.sum(jnp.linalg.svd(a, compute_uv=False) ** 2),
    "qr": lambda a: jnp.sum(jnp.linalg.qr(a)[1] ** 2),
    "sort": lambda a: jnp.sum(jnp.sort(a.ravel()) * jnp.arange(9.0)),
    "top_k": lambda a: jnp.sum(jax.lax.top_k(a.ravel(), 3)[0] ** 2),
    "fft": lambda a: jnp.sum(jnp.abs(jnp.fft.fft(a)) ** 2),
    "rfft": lambda a: jnp.sum(jnp.abs(jnp.fft.rfft(a, axis=0)) ** 2),
    "gather": lambda a: jnp.sum(a[np.array([2, 0, 2])] ** 2),
    "scatter_add": lambda a: jnp.sum(a.at[np.array([0, 0])].add(a[1:3]) ** 2),
    "cumsum": lambda a: jnp.sum(jnp.cumsum(a, axis=1) ** 2),
}


@pytest.mark.parametrize("name", MATRIX_FUNCTIONS)
def test_linalg_sorting_fft_and_indexing_are_jaxs(name):
    f = MATRIX_FUNCTIONS[name]
    g = fgrad.from_jax(f)
    a = jnp.asarray(M)
    close(g(a), f(a))
    close(fgrad.grad(g)(a), jax.grad(f)(a), rtol=1e-8)


def test_unsupported_primitives_are_listed_with_the_users_lines():
    def f(x):
        y = jax.lax.reduce_precision(x, 5, 10)  # line A
        return jnp.all(y > 0), jax.lax.reduce_precision(y, 5, 10)  # line B

    with pytest.raises(fgrad.MissingRuleError) as info:
        fgrad.from_jax(f)(X)
    message = str(info.value)
    line_a = f.__code__.co_firstlineno + 1
    assert "reduce_precision" in message and "reduce_and" in message
    assert f"{__file__}:{line_a}" in message and f"{__file__}:{line_a + 1}" in message
    assert "fgrad.numpy" in message and "outside fgrad's transformations" in message
    assert isinstance(info.value, NotImplementedError)


def test_a_library_call_names_the_users_line_of_its_untranslatable_primitives():
    # slogdet picks its LU by platform (platform_index) inside jnp's own jitted code, whose
    # equations carry no user line: the call's line stands for them.
    def f(a):
        return jnp.linalg.slogdet(a)[1]

    with pytest.raises(fgrad.MissingRuleError) as info:
        fgrad.from_jax(f)(M)
    assert f"platform_index: at {__file__}:{f.__code__.co_firstlineno + 1}" in str(info.value)


def test_the_documented_coverage_table_is_the_translators():
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parent.parent / "docs" / "gen_from_jax.py"
    spec = importlib.util.spec_from_file_location("gen_from_jax", path)
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    on_disk = gen.OUTPUT.read_text()
    assert gen.render(on_disk) == on_disk, "run `python docs/gen_from_jax.py`"
