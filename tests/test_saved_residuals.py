"""fgrad.debug.residuals.saved_residuals: what reverse mode keeps from the forward pass, each
list derived by hand from the functions' derivatives (and from what fgrad's rules write:
tanh' is (1 + tanh)(1 - tanh), a mul), with the user's lines of this file."""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import api
from fgrad.debug.residuals import Residual, SavedResiduals, saved_residuals

HERE = pathlib.Path(__file__).resolve()
LINES = HERE.read_text().splitlines()


def line(marker: str) -> int:
    """The number of the line of this file that ends with the comment `# <marker>`."""
    found = [i + 1 for i, text in enumerate(LINES) if text.rstrip().endswith(f"# {marker}")]
    assert len(found) == 1, marker
    return found[0]


def summary(res: SavedResiduals):
    return [(r.shape, np.dtype(r.dtype).name, r.nbytes, r.produced_by, r.where) for r in res]


def assert_from_here(r: Residual, marker: str):
    assert r.source is not None
    assert pathlib.Path(r.source.filename).resolve() == HERE
    assert r.source.lineno == line(marker)
    assert str(r.source) == f"{r.source.filename}:{line(marker)}"


def sin_times_w(x, w):
    return fnp.sum(fnp.sin(x) * w)  # L:sinw


X3 = np.array([0.5, 1.0, 2.0], np.float32)
W3 = np.array([1.0, -1.0, 3.0], np.float32)


def test_sin_times_w_both_arguments():
    # d/dx = cos(x) * w * ct, d/dw = sin(x) * ct: the backward pass reads cos(x), w, sin(x).
    res = saved_residuals(sin_times_w, argnums=(0, 1))(X3, W3)
    here = f"test_saved_residuals.py:{line('L:sinw')}"
    assert summary(res) == [((3,), "float32", 12, "cos", here),
                            ((3,), "float32", 12, "input", "argument 1"),
                            ((3,), "float32", 12, "sin", here)]
    assert [r.kind for r in res] == ["computed", "input", "computed"]
    assert_from_here(res[0], "L:sinw")
    assert_from_here(res[2], "L:sinw")
    assert res[1].source is None
    assert res.total_bytes == 36 and len(res) == 3
    assert [r.primitive for r in res] == [r.primitive for r in iter(res)] == ["cos", "input",
                                                                              "sin"]


def test_sin_times_w_first_argument_only():
    # Only d/dx: cos(x) and w, which is a NumPy array argument, so a const of the program.
    res = saved_residuals(sin_times_w)(X3, W3)
    assert summary(res) == [((3,), "float32", 12, "cos",
                             f"test_saved_residuals.py:{line('L:sinw')}"),
                            ((3,), "float32", 12, "const", "argument 1")]
    assert res[1].kind == "const" and res[1].argument == "argument 1"
    # A JAX array argument is captured (a const too): the same list.
    assert summary(saved_residuals(sin_times_w)(jnp.asarray(X3), jnp.asarray(W3))) \
        == summary(res)


def test_the_table():
    res = saved_residuals(sin_times_w, argnums=(0, 1))(X3, W3)
    n = line("L:sinw")
    assert str(res) == "\n".join([
        "#  type    bytes  produced by  where",
        f"0  f32[3]     12  cos          test_saved_residuals.py:{n}",
        "1  f32[3]     12  input        argument 1",
        f"2  f32[3]     12  sin          test_saved_residuals.py:{n}",
        "total: 36 bytes in 3 values"])


def test_the_same_residuals_grad_keeps():
    # The values vjp's pullback holds (api._Linearized.residuals) are the ones listed.
    flat, tree = jax.tree_util.tree_flatten((X3, W3))
    lin = api._Linearized(api._trace_flat(sin_times_w, flat, tree, "vjp", False), flat)
    res = saved_residuals(sin_times_w, argnums=(0, 1))(X3, W3)
    assert [(v.shape, v.dtype) for v in lin.residuals] == [(r.shape, r.dtype) for r in res]
    np.testing.assert_allclose(np.asarray(lin.residuals[0]), np.cos(X3), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(lin.residuals[2]), np.sin(X3), rtol=1e-6)


def test_non_scalar_output_and_a_closed_over_constant():
    scale = np.array([2.0, 3.0, 4.0], np.float32)

    def f(x):
        return fnp.exp(x) * scale  # L:exp

    res = saved_residuals(f)(X3)
    # d = exp(x) * scale * t: exp(x) and the closed-over scale (read by the backward mul).
    assert summary(res) == [((3,), "float32", 12, "exp",
                             f"test_saved_residuals.py:{line('L:exp')}"),
                            ((3,), "float32", 12, "const",
                             f"test_saved_residuals.py:{line('L:exp')}")]
    assert res[1].argument is None


def test_pytree_arguments_are_named():
    def f(p):
        return fnp.sum(p["w"] * p["x"])  # L:tree

    res = saved_residuals(f)({"w": X3, "x": W3})
    # d/dw = x, d/dx = w: both inputs are kept, named by their place in the argument.
    assert summary(res) == [((3,), "float32", 12, "input", "argument 0['x']"),
                            ((3,), "float32", 12, "input", "argument 0['w']")]


# -- checkpoint policies --------------------------------------------------------------------------


def sin3(x):
    return fnp.sum(fnp.sin(fnp.sin(fnp.sin(x))))  # L:sin3


def test_checkpoint_nothing_saveable_keeps_only_the_input():
    x = np.linspace(0, 1, 5).astype(np.float32)
    here = f"test_saved_residuals.py:{line('L:sin3')}"
    plain = saved_residuals(sin3)(x)
    # The chain rule reads cos(x), cos(sin x), cos(sin sin x).
    assert summary(plain) == [((5,), "float32", 20, "cos", here)] * 3
    assert plain.total_bytes == 60
    remat = saved_residuals(fgrad.checkpoint(sin3))(x)  # nothing_saveable by default
    assert summary(remat) == [((5,), "float32", 20, "input", "argument 0")]
    assert remat.total_bytes == 20 < plain.total_bytes
    nothing = fgrad.checkpoint(sin3, policy=fgrad.checkpoint_policies.nothing_saveable)
    assert summary(saved_residuals(nothing)(x)) == summary(remat)
    everything = fgrad.checkpoint(sin3, policy=fgrad.checkpoint_policies.everything_saveable)
    assert summary(saved_residuals(everything)(x)) == [
        ((5,), "float32", 20, "cos in checkpoint", here)] * 3


def layer(w, x):
    return fnp.sum(fnp.tanh(fnp.tanh(w @ x)))  # L:layer


def test_checkpoint_dots_saveable_keeps_the_dot():
    w = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    x = np.array([1.0, -1.0, 0.5], np.float32)
    here = f"test_saved_residuals.py:{line('L:layer')}"
    x_const = ((3,), "float32", 12, "const", "argument 1")  # d/dw = outer(..., x)
    # Without checkpoint: each tanh's derivative factor (1 + y)(1 - y), a mul.
    assert summary(saved_residuals(layer)(w, x)) == [
        ((4,), "float32", 16, "mul", here), ((4,), "float32", 16, "mul", here), x_const]
    dots = fgrad.checkpoint(layer, policy=fgrad.checkpoint_policies.dots_saveable)
    res = saved_residuals(dots)(w, x)
    assert summary(res) == [((4,), "float32", 16, "dot_general in checkpoint", here),
                            x_const]
    assert res[0].within == ("checkpoint",) and res[0].primitive == "dot_general"
    assert_from_here(res[0], "L:layer")
    nothing = saved_residuals(fgrad.checkpoint(layer))(w, x)
    assert summary(nothing) == [((4, 3), "float32", 48, "input", "argument 0"), x_const]


# -- loops ----------------------------------------------------------------------------------------


def test_scan_body_residuals_are_stacked():
    def f(c0, xs):
        def body(c, x):
            return c * fnp.sin(x), None  # L:body

        c, _ = fgrad.lax.scan(body, c0, xs)  # L:scan
        return c

    xs = np.arange(4, dtype=np.float32)
    res = saved_residuals(f, argnums=(0, 1))(np.float32(2.0), xs)
    # Per step: d(c * sin x) = sin(x) dc + c cos(x) dx, so cos(x_t), sin(x_t) and the carry
    # c_t, each stacked over the 4 steps.
    body = f"test_saved_residuals.py:{line('L:body')}"
    assert summary(res) == [((4,), "float32", 16, "cos in scan", body),
                            ((4,), "float32", 16, "sin in scan", body),
                            ((4,), "float32", 16, "scan",
                             f"test_saved_residuals.py:{line('L:scan')}")]
    assert res.total_bytes == 48


# -- dtypes ---------------------------------------------------------------------------------------


def mixed(a, b):
    return fnp.sum(fnp.sin(a).astype(fnp.float32)) + fnp.sum(fnp.exp(b))  # L:mixed


def test_several_float_dtypes():
    res = saved_residuals(mixed, argnums=(0, 1))(np.ones(2, np.float16), np.ones(3, np.float32))
    here = f"test_saved_residuals.py:{line('L:mixed')}"
    assert summary(res) == [((2,), "float16", 4, "cos", here),
                            ((3,), "float32", 12, "exp", here)]
    assert res.total_bytes == 16


def test_float64(x64):
    res = saved_residuals(mixed, argnums=(0, 1))(np.ones(2, np.float16), np.ones(3, np.float64))
    here = f"test_saved_residuals.py:{line('L:mixed')}"
    assert summary(res) == [((2,), "float16", 4, "cos", here),
                            ((3,), "float64", 24, "exp", here)]


def test_integer_argument_is_converted_once():
    def f(x, n):
        return fnp.sum(x * n)  # L:int

    # d/dx = float(n): the conversion of the int32 argument is what the backward pass reads.
    res = saved_residuals(f)(np.ones(3, np.float32), np.arange(3, dtype=np.int32))
    assert summary(res) == [((3,), "float32", 12, "convert_element_type",
                             f"test_saved_residuals.py:{line('L:int')}")]


def test_integer_residual_of_a_cond():
    def f(x):
        return fgrad.lax.cond(x > 0, lambda a: a * 2.0, fnp.cos, x)  # L:cond

    res = saved_residuals(f)(np.float32(1.5))
    # The branch index (an int32 computed from x > 0) and the branches' residual (-sin(x) in
    # the cos branch, a zero in the other).
    here = f"test_saved_residuals.py:{line('L:cond')}"
    assert summary(res) == [((), "int32", 4, "convert_element_type", here),
                            ((), "float32", 4, "cond", here)]


def test_not_a_function():
    with pytest.raises(TypeError, match="saved_residuals"):
        saved_residuals(np.ones(3))
