"""fgrad.jit: values against jax.jit, the compilation cache (counted traces), static and
donated arguments, the ahead-of-time `lower`, composition with every transform and with JAX,
and every error path."""

import gc
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
import oracle
from fgrad.core import EVAL_TRACE, current_trace

HERE = os.path.basename(__file__)
rng = np.random.default_rng(0)


def line_of(marker):
    return oracle.line_of(__file__, marker)


def close(a, b, rtol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=1e-6)


def same_type(a, b):
    assert (a.shape, a.dtype, a.weak_type) == (b.shape, b.dtype, b.weak_type)


def mlp_loss(np_mod):
    def loss(params, x, y):
        (W1, b1), (W2, b2) = params
        h = np_mod.tanh(x @ W1 + b1)
        return np_mod.mean((h @ W2 + b2 - y) ** 2)
    return loss


def mlp_inputs(dtype=np.float32):
    shapes = [((3, 8), (8,)), ((8, 2), (2,))]
    params = [tuple(jnp.asarray(rng.normal(size=s), dtype) for s in layer) for layer in shapes]
    x = jnp.asarray(rng.normal(size=(5, 3)), dtype)
    y = jnp.asarray(rng.normal(size=(5, 2)), dtype)
    return params, x, y


# -- values -------------------------------------------------------------------------------------


def test_values_match_jax_jit_on_pytrees_and_kwargs():
    def f(np_mod):
        def g(d, scale=1.0):
            return {"s": np_mod.sin(d["a"]) * scale, "t": (d["a"] @ d["b"], d["b"].sum())}
        return g
    d = {"a": jnp.asarray(rng.normal(size=(2, 3)), jnp.float32),
         "b": jnp.asarray(rng.normal(size=(3,)), jnp.float32)}
    ours, theirs = fgrad.jit(f(fnp))(d, scale=2.0), jax.jit(f(jnp))(d, scale=2.0)
    assert jax.tree_util.tree_structure(ours) == jax.tree_util.tree_structure(theirs)
    for a, b in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(theirs)):
        close(a, b)
        same_type(a, b)


def test_python_scalars_stay_weakly_typed(float_dtype):
    f = fgrad.jit(lambda x, y: x * y + 1.0)
    out = f(2.0, jnp.ones(3, float_dtype))
    ref = jax.jit(lambda x, y: x * y + 1.0)(2.0, jnp.ones(3, float_dtype))
    close(out, ref)
    same_type(out, ref)
    same_type(f(2.0, 3.0), jax.jit(lambda x, y: x * y + 1.0)(2.0, 3.0))


def test_mlp_gradient_float64(x64):
    params, x, y = mlp_inputs(np.float64)
    ours = fgrad.jit(fgrad.grad(mlp_loss(fnp)))(params, x, y)
    theirs = jax.grad(mlp_loss(jnp))(params, x, y)
    for a, b in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
        assert a.dtype == np.float64


# -- the cache ----------------------------------------------------------------------------------


def counting(fun):
    """`fun` and a list that grows by one each time fgrad traces it."""
    traces = []

    def counted(*args, **kwargs):
        traces.append(1)
        return fun(*args, **kwargs)
    return counted, traces


def test_same_signature_never_retraces_and_a_new_one_does():
    fun, traces = counting(lambda x, y: fnp.sin(x) + y)
    f = fgrad.jit(fun)
    x3 = jnp.ones(3, jnp.float32)
    f(x3, 1.0), f(x3 + 1, 2.0), f(np.zeros(3, np.float32), 3.0)
    assert len(traces) == 1  # new values, same shapes and dtypes (NumPy or JAX arrays alike)
    f(jnp.ones(4, jnp.float32), 1.0)
    assert len(traces) == 2  # new shape
    f(jnp.ones(4, jnp.int32), 1.0)
    assert len(traces) == 3  # new dtype
    f(x3, jnp.float32(1.0))
    assert len(traces) == 4  # a strongly typed scalar instead of a weak Python float
    f({"a": x3}["a"], 1.0), f(x3, y=5.0)
    assert len(traces) == 5  # passing y by keyword changes the pytree structure
    close(f(x3, y=5.0), np.sin(1.0) + 5.0)


def test_static_arguments_key_the_cache():
    fun, traces = counting(lambda x, n, *, mode: x ** n if mode == "pow" else x * n)
    f = fgrad.jit(fun, static_argnums=1, static_argnames="mode")
    x = jnp.arange(3.0)
    close(f(x, 3, mode="pow"), np.arange(3.0) ** 3)
    f(x + 1, 3, mode="pow")
    assert len(traces) == 1
    close(f(x, 2, mode="pow"), np.arange(3.0) ** 2)
    close(f(x, 2, mode="mul"), np.arange(3.0) * 2)
    assert len(traces) == 3
    g = fgrad.jit(lambda n, x: fnp.ones(n) * x, static_argnums=-2)
    close(g(4, 2.0), np.full(4, 2.0))


def test_closed_over_arrays_are_captured_when_traced_as_in_jax_jit():
    table = {"w": jnp.asarray(rng.normal(size=(8, 8)), jnp.float32)}
    ours = fgrad.jit(lambda x: table["w"] @ x)
    theirs = jax.jit(lambda x: jnp.dot(table["w"], x))
    x = jnp.ones(8, jnp.float32)
    close(ours(x), theirs(x), rtol=1e-5)
    table["w"] = table["w"] * 2  # a cached executable keeps the value it was traced with
    close(ours(x), theirs(x), rtol=1e-5)
    close(ours(x), table["w"] @ x / 2, rtol=1e-5)


def test_decorator_forms_and_methods():
    @fgrad.jit
    def double(x):
        return 2 * x

    @fgrad.jit(static_argnums=(1,))
    def power(x, n):
        return x ** n

    class Scaler:
        def __init__(self, s):
            self.s = s

        @fgrad.jit(static_argnums=0)
        def apply(self, x):
            return x * self.s

    close(double(jnp.arange(3.0)), [0.0, 2.0, 4.0])
    close(power(jnp.arange(3.0), 2), [0.0, 1.0, 4.0])
    close(Scaler(3.0).apply(jnp.arange(3.0)), [0.0, 3.0, 6.0])
    assert double.__name__ == "double"


def test_donated_buffers_are_consumed():
    f = fgrad.jit(lambda p, g: jax.tree_util.tree_map(lambda a, b: a - 0.1 * b, p, g),
                  donate_argnums=0)
    p = {"w": jnp.ones((4, 4)), "b": jnp.zeros(4)}
    g = {"w": jnp.ones((4, 4)), "b": jnp.ones(4)}
    out = f(p, g)
    close(out["w"], np.full((4, 4), 0.9))
    assert all(leaf.is_deleted() for leaf in jax.tree_util.tree_leaves(p))
    assert not any(leaf.is_deleted() for leaf in jax.tree_util.tree_leaves(g))


# -- lower: the program and the StableHLO -------------------------------------------------------


def test_lower_shows_the_simplified_program_and_stablehlo():
    params, x, y = mlp_inputs()
    lowered = fgrad.jit(fgrad.grad(mlp_loss(fnp))).lower(params, x, y)
    names = [e.primitive.name for e in lowered.program.eqns]
    assert "dot_general" in names and "tanh" in names
    unsimplified = fgrad.make_ir(fgrad.grad(mlp_loss(fnp)))(params, x, y)
    assert len(lowered.program.eqns) < len(unsimplified.eqns)
    text = lowered.as_text()
    assert "func.func public @main" in text and "stablehlo.dot_general" in text
    assert str(lowered.program) in str(lowered) and text in str(lowered)
    memory = lowered.compile().memory_analysis()
    assert memory.argument_size_in_bytes == 4 * (3 * 8 + 8 + 8 * 2 + 2 + 5 * 3 + 5 * 2)


# -- composition --------------------------------------------------------------------------------


def test_jit_of_grad_and_grad_of_jit_match_jax():
    params, x, y = mlp_inputs()
    ref = jax.grad(mlp_loss(jnp))(params, x, y)
    for ours in (fgrad.jit(fgrad.grad(mlp_loss(fnp)))(params, x, y),
                 fgrad.grad(fgrad.jit(mlp_loss(fnp)))(params, x, y),
                 fgrad.jit(fgrad.grad(fgrad.jit(mlp_loss(fnp))))(params, x, y)):
        for a, b in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(ref)):
            close(a, b)


def test_vmap_hessian_and_nested_jit():
    f = fgrad.jit(lambda x: fnp.sum(fnp.tanh(x) ** 3))
    xs = jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)
    g = lambda x: jnp.sum(jnp.tanh(x) ** 3)  # noqa: E731
    close(fgrad.vmap(f)(xs), jax.vmap(g)(xs))
    close(fgrad.vmap(fgrad.grad(f))(xs), jax.vmap(jax.grad(g))(xs))
    close(fgrad.hessian(f)(xs[0]), jax.hessian(g)(xs[0]))
    outer = fgrad.jit(lambda x: f(x) * f(2 * x))
    close(outer(xs[0]), g(xs[0]) * g(2 * xs[0]))


def test_inside_jax_jit_and_jax_vmap():
    f = fgrad.jit(lambda x: fnp.sin(x) * 2.0)
    xs = jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)
    close(jax.jit(f)(xs), 2 * np.sin(xs))
    close(jax.vmap(f)(xs), 2 * np.sin(xs))
    close(jax.jit(jax.vmap(fgrad.grad(lambda x: fnp.sum(f(x)))))(xs), 2 * np.cos(xs))


def test_an_inlined_jit_keeps_stop_gradient():
    f = fgrad.jit(lambda x: x * fgrad.stop_gradient(x))
    close(fgrad.grad(f)(3.0), 3.0)


# -- errors -------------------------------------------------------------------------------------


def test_python_control_flow_on_a_jitted_value_names_the_line():
    def f(x):
        if x > 0:  # value branch
            return x
        return -x
    with pytest.raises(fgrad.ConcretizationError, match="fgrad.numpy.where") as e:
        fgrad.jit(f)(1.0)
    assert f"{HERE}:{line_of('# value branch')}" in str(e.value)
    assert current_trace() is EVAL_TRACE
    assert gc.isenabled()  # tracing pauses the garbage collector, and restores it
    close(fgrad.jit(lambda x: x + 1)(1.0), 2.0)  # fgrad still works after the error


def test_shape_errors_inside_jit_name_the_line():
    with pytest.raises(ValueError, match="not aligned") as e:
        fgrad.jit(lambda x: x @ fnp.ones((4, 2)))(jnp.ones(3))  # bad matmul
    assert f"{HERE}:{line_of('# bad matmul')}" in str(e.value)
    with pytest.raises(fgrad.ShapeDtypeError, match="add") as e:
        fgrad.jit(lambda x: fgrad.lax.add(x, fnp.ones(4)))(jnp.ones(3))  # bad add
    assert f"{HERE}:{line_of('# bad add')}" in str(e.value)


def test_argument_errors():
    with pytest.raises(TypeError, match="jit needs a function") as e:
        fgrad.jit(3)  # not callable
    assert f"{HERE}:{line_of('# not callable')}" in str(e.value)
    f = fgrad.jit(lambda x, n: x * n, static_argnums=1)
    with pytest.raises(TypeError, match="not hashable.*tuple instead of a list") as e:
        f(1.0, [2])  # unhashable static
    assert f"{HERE}:{line_of('# unhashable static')}" in str(e.value)
    with pytest.raises(ValueError, match="static_argnums=.3,.*accepts 1") as e:
        fgrad.jit(lambda x: x, static_argnums=3)  # static out of range
    assert f"{HERE}:{line_of('# static out of range')}" in str(e.value)
    g = fgrad.jit(lambda *xs: xs[0], static_argnums=3)
    with pytest.raises(TypeError, match="static_argnums contains 3") as e:
        g(1.0)  # static out of range for these arguments
    assert f"{HERE}:{line_of('# static out of range for these')}" in str(e.value)
    with pytest.raises(TypeError, match="cannot use a value of type str"):
        fgrad.jit(lambda x: x)("text")
    with pytest.raises(TypeError, match="static_argnums must be an int/str or a sequence") as e:
        fgrad.jit(lambda x: x, static_argnums=1.5)  # not an index
    assert f"{HERE}:{line_of('# not an index')}" in str(e.value)


def test_a_tracer_closed_over_is_not_cached_beyond_its_transform():
    def outer(x):
        inner = fgrad.jit(lambda y: x * y)
        return inner(2.0) + inner(3.0)
    close(fgrad.grad(outer)(1.5), 5.0)
    close(fgrad.grad(outer)(-1.0), 5.0)


@pytest.mark.parametrize("x64_on", [False, True])
def test_constant_outputs_keep_their_types(x64_on):
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", x64_on)
    try:
        def f(np_mod):
            return lambda x: (x * 0 + 1, 3.0, np_mod.float32(2.0) * 2, (2 * 3) + 1)
        x = jnp.ones(2, jnp.float32)
        ours, theirs = fgrad.jit(f(fnp))(x), jax.jit(f(jnp))(x)
        for a, b in zip(ours, theirs):
            close(a, b)
            same_type(a, b)
    finally:
        jax.config.update("jax_enable_x64", previous)
