"""fgrad.vmap: JAX's in_axes/out_axes conventions, unbatched values staying unbatched,
composition with every transform and with JAX, elementwise batching against jax.vmap, and
every error path."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
import oracle
from fgrad import lax as fl

HERE = os.path.basename(__file__)
rng = np.random.default_rng(0)


def line_of(marker):
    return oracle.line_of(__file__, marker)


def close(a, b, rtol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=1e-6)


# -- elementwise batching against jax.vmap ------------------------------------------------------

BINARY = ["add", "sub", "mul", "div", "max", "min", "pow", "atan2", "lt", "eq"]


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("in_axes", [(0, 0), (1, -1), (0, None), (None, 1), (-1, 0)])
def test_binary_elementwise_against_jax(name, in_axes):
    shapes = {0: (4, 3), 1: (3, 4), -1: (3, 4), None: (3,)}
    x, y = (np.abs(rng.normal(size=shapes[ax])).astype(np.float32) + 0.1 for ax in in_axes)
    got = fgrad.vmap(getattr(fl, name), in_axes=in_axes)(x, y)
    want = jax.vmap(getattr(jax.lax, name), in_axes=in_axes)(x, y)
    assert got.shape == want.shape and got.dtype == want.dtype
    close(got, want)


@pytest.mark.parametrize("name", ["sin", "exp", "tanh", "neg", "abs", "logistic", "sqrt"])
def test_unary_elementwise_keeps_the_batch_axis(name):
    x = np.abs(rng.normal(size=(3, 4))).astype(np.float32)
    out = fgrad.vmap(getattr(fl, name), in_axes=1, out_axes=1)(x)
    close(out, jax.vmap(getattr(jax.lax, name), in_axes=1, out_axes=1)(x))
    program = fgrad.make_ir(fgrad.vmap(getattr(fl, name), in_axes=1))(x)
    assert [e.primitive.name for e in program.eqns][0] == name  # no transpose before it


def test_select_clamp_convert_and_integer_pow():
    which = rng.random((4, 3)) > 0.5
    a, b = rng.normal(size=(2, 4, 3)).astype(np.float32)
    close(fgrad.vmap(fl.select_n, in_axes=(0, 0, None))(which, a, b[0]),
          jax.vmap(jax.lax.select_n, in_axes=(0, 0, None))(which, a, b[0]))
    close(fgrad.vmap(lambda x: fl.clamp(-0.5, x, 0.5))(a), jnp.clip(a, -0.5, 0.5))
    close(fgrad.vmap(lambda x: fl.integer_pow(x, 3), in_axes=1)(a), (a ** 3).T)
    out = fgrad.vmap(lambda x: fl.convert_element_type(x, np.int32))(a)
    assert out.dtype == np.int32


# -- the API's conventions ------------------------------------------------------------------------

def test_in_axes_pytrees_none_and_negative():
    params = {"w": np.ones(3, np.float32) * 2, "b": np.arange(4.0, dtype=np.float32)}
    f = lambda p, x: p["w"] * x + p["b"][0]  # noqa: E731
    xs = rng.normal(size=(5, 3)).astype(np.float32)
    close(fgrad.vmap(f, in_axes=({"w": None, "b": None}, 0))(params, xs), 2 * xs)
    close(fgrad.vmap(f, in_axes=(None, -2))(params, xs), 2 * xs)
    per_leaf = fgrad.vmap(lambda p: p["w"] * p["b"], in_axes=({"w": 0, "b": None},))(
        {"w": np.ones((2, 3), np.float32), "b": np.float32(3.0)})
    close(per_leaf, np.full((2, 3), 3.0))


def test_out_axes_and_unbatched_outputs():
    x = np.arange(6.0, dtype=np.float32).reshape(3, 2)
    assert fgrad.vmap(lambda v: v * 2.0, out_axes=1)(x).shape == (2, 3)
    close(fgrad.vmap(lambda v: 1.0)(np.arange(3.0)), [1.0, 1.0, 1.0])
    const, mapped = fgrad.vmap(lambda v: (fnp.ones(2), v), out_axes=(None, 0))(x)
    assert const.shape == (2,) and mapped.shape == (3, 2)
    close(fgrad.vmap(lambda: fnp.ones(2), axis_size=4)(), np.ones((4, 2)))


def test_unbatched_values_stay_unbatched():
    w = np.ones((3, 3), np.float32)

    def f(x):
        scale = fnp.sin(w)  # does not depend on x: no batching, no broadcast
        return x * scale[0]

    program = fgrad.make_ir(fgrad.vmap(f))(np.ones((5, 3), np.float32))
    sin = [e for e in program.eqns if e.primitive.name == "sin"]
    assert sin and sin[0].outputs[0].aval.shape == (3, 3)


def test_nested_vmap_and_composition_with_grad_and_jvp():
    x = rng.normal(size=(2, 3)).astype(np.float32)
    close(fgrad.vmap(fgrad.vmap(lambda v: fnp.sin(v) * v))(x), np.sin(x) * x)
    close(fgrad.vmap(fgrad.grad(lambda v: v ** 3))(fnp.arange(3.0)), [0.0, 3.0, 12.0])
    close(fgrad.grad(lambda v: fnp.sum(fgrad.vmap(fnp.sin)(v)))(np.array([0.0, 1.0])),
          np.cos([0.0, 1.0]))
    tangents = np.ones_like(x)
    got = fgrad.vmap(lambda a, t: fgrad.jvp(fnp.tanh, (a,), (t,))[1])(x, tangents)
    close(got, 1 - np.tanh(x) ** 2)
    f = lambda v: 2.0 * v ** 2 + v  # seed 002: the elementwise derivative 2x + 3 of
    close(fgrad.vmap(fgrad.grad(lambda v: v ** 2 + 3 * v + 2))(fnp.arange(-5.0, 5.0)),
          2 * np.arange(-5.0, 5.0) + 3)
    assert f(1.0) == 3.0


def test_vmap_inside_jax_jit_and_jax_vmap_around_fgrad():
    x = rng.normal(size=(4, 3)).astype(np.float32)
    close(jax.jit(fgrad.vmap(lambda v: fnp.tanh(v) * 2.0))(x), np.tanh(x) * 2.0)
    close(jax.vmap(fgrad.vmap(fnp.sin))(x[None]), np.sin(x)[None])


# -- errors ------------------------------------------------------------------------------------

def test_inconsistent_sizes_name_the_arguments():
    with pytest.raises(ValueError, match="inconsistent sizes") as info:
        fgrad.vmap(fl.add)(np.ones(3), np.ones(4))  # mismatched sizes
    message = str(info.value)
    assert "size 3" in message and "size 4" in message and "[0]" in message and "[1]" in message
    assert f"{HERE}:{line_of('# mismatched sizes')}" in message


def test_axis_out_of_range():
    with pytest.raises(ValueError, match="in_axes 2 is out of range") as info:
        fgrad.vmap(fnp.sin, in_axes=2)(np.ones((2, 3)))  # bad in axis
    assert f"{HERE}:{line_of('# bad in axis')}" in str(info.value)
    with pytest.raises(ValueError, match="out_axes 3 is out of range"):
        fgrad.vmap(fnp.sin, out_axes=3)(np.ones((2, 3)))


def test_out_axes_that_cannot_hold_the_output():
    with pytest.raises(ValueError, match="out_axes is None"):
        fgrad.vmap(fnp.sin, out_axes=None)(np.ones((2, 3)))
    with pytest.raises(ValueError, match="out_axes 2 is out of range"):
        fgrad.vmap(lambda v: 1.0, out_axes=2)(np.ones(3))


def test_in_axes_not_a_prefix():
    with pytest.raises(ValueError, match="pytree prefix") as info:
        fgrad.vmap(lambda a, b: a, in_axes=(0, 0, 0))(np.ones(2), np.ones(2))  # not a prefix
    assert f"{HERE}:{line_of('# not a prefix')}" in str(info.value)
    with pytest.raises(ValueError, match="axis_size"):
        fgrad.vmap(lambda a: a, in_axes=None)(np.ones(2))
