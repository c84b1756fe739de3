"""Property tests with hypothesis: fgrad.numpy's broadcasting and promotion agree with
jax.numpy on random shapes and dtypes, and gradients of random elementwise chains agree
with JAX's."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import fgrad
import fgrad.numpy as fnp

DTYPES = ["float32", "int32", "bool", "float16"]


@st.composite
def broadcastable_shapes(draw):
    shape = draw(st.lists(st.integers(1, 3), max_size=3))
    other = [draw(st.sampled_from([n, 1])) for n in shape]
    cut = draw(st.integers(0, len(other)))
    return tuple(shape), tuple(other[cut:])


def operand(shape, dtype, seed):
    values = np.random.default_rng(seed).uniform(-3, 3, shape)
    return (values > 0) if dtype == "bool" else values.astype(dtype)


@settings(max_examples=60, deadline=None)
@given(broadcastable_shapes(), st.sampled_from(DTYPES), st.sampled_from(DTYPES + ["python"]),
       st.sampled_from(["add", "multiply", "maximum", "less", "subtract"]),
       st.booleans())
def test_binary_ops_broadcast_and_promote_like_jax(shapes, dtype_a, dtype_b, name, swap):
    a = operand(shapes[0], dtype_a, 0)
    b = 1.5 if dtype_b == "python" else operand(shapes[1], dtype_b, 1)
    if name == "subtract" and "bool" in (dtype_a, dtype_b):
        return  # both libraries reject boolean subtraction
    if swap:
        a, b = b, a
    got, want = getattr(fnp, name)(a, b), getattr(jnp, name)(a, b)
    assert (got.shape, got.dtype, got.weak_type) == (want.shape, want.dtype, want.weak_type)
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(want, np.float64),
                               rtol=1e-3)


UNARY = {"sin": (fnp.sin, jnp.sin), "tanh": (fnp.tanh, jnp.tanh),
         "square": (lambda x: x * x, lambda x: x * x), "exp": (fnp.exp, jnp.exp),
         "cube": (lambda x: x ** 3, lambda x: x ** 3)}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(sorted(UNARY)), min_size=1, max_size=4),
       st.floats(-1.0, 1.0))
def test_gradients_of_random_chains_match_jax(chain, x):
    def compose(which):
        def f(v):
            for name in chain:
                v = UNARY[name][which](v)
            return v
        return f

    got = fgrad.grad(fgrad.grad(compose(0)))(np.float32(x))
    want = jax.grad(jax.grad(compose(1)))(np.float32(x))
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-5)
