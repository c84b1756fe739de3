"""The differentiation API: nesting, closures, define-by-run, pytrees, zeros, dtypes,
composition with JAX's transformations, and every error path."""

import collections
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import oracle
import fgrad.numpy as fnp
from fgrad.core import current_trace
from fgrad.core.trace import EVAL_TRACE

HERE = os.path.basename(__file__)


def line_of(marker: str) -> int:
    return oracle.line_of(__file__, marker)


def close(a, b, **kw):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=kw.get("rtol", 1e-6),
                               atol=kw.get("atol", 1e-6))


# -- nesting and perturbation confusion ------------------------------------------------------

def test_grad_nests_to_third_order():
    f = lambda x: fnp.sin(x) * x ** 3  # noqa: E731
    jf = lambda x: jnp.sin(x) * x ** 3  # noqa: E731
    fg, jg = f, jf
    for _ in range(3):
        fg, jg = fgrad.grad(fg), jax.grad(jg)
        close(fg(0.7), jg(0.7), rtol=1e-5)


def test_sixth_derivative_of_reciprocal():
    f = lambda x: 1.0 / x  # noqa: E731
    for _ in range(6):
        f = fgrad.grad(f)
    assert float(f(4.0)) == pytest.approx(0.0439453125, rel=1e-5)


@pytest.mark.parametrize("f, x, expected", [
    (lambda x: x * fgrad.grad(lambda y: x * y)(1.0), 2.0, 4.0),  # the case
    (lambda x: x * fgrad.grad(lambda y: x + y)(0.0), 3.0, 1.0),  # confusion would give 2
    (lambda x: x * fgrad.grad(lambda y: x)(0.0), 3.0, 0.0),
    (lambda x: x * fgrad.grad(lambda y: x * y)(2.0), 3.0, 6.0),
    # closures at two depths: d/dx [x * d/dy (y * d/dz (x*y*z))] = d/dx [x * 2xy|...] ...
    (lambda x: fgrad.grad(lambda y: fgrad.grad(lambda z: x * y * z)(1.0) * y)(2.0), 3.0, 4.0),
    (lambda x: fgrad.grad(lambda y: x ** 2 * fgrad.grad(lambda z: y * z * x)(5.0))(1.0),
     2.0, 12.0),
])
def test_no_perturbation_confusion(f, x, expected):
    assert float(fgrad.grad(f)(x)) == pytest.approx(expected)


def test_inner_jvp_closing_over_outer_primal():
    def foo(x):
        return fgrad.jvp(lambda y: x * y, (3.0,), (1.0,))[1]
    out = fgrad.jvp(foo, (1.0,), (2.0,))
    assert (float(out[0]), float(out[1])) == (1.0, 2.0)


def test_jvp_of_grad_and_grad_of_jvp():
    f = lambda x: fnp.sum(fnp.tanh(x) ** 2)  # noqa: E731
    jf = lambda x: jnp.sum(jnp.tanh(x) ** 2)  # noqa: E731
    x = np.array([0.1, -0.4, 0.9], np.float32)
    v = np.array([1.0, 0.5, -2.0], np.float32)
    close(fgrad.jvp(fgrad.grad(f), (x,), (v,))[1], jax.jvp(jax.grad(jf), (x,), (v,))[1])
    g = lambda x: fgrad.jvp(f, (x,), (v,))[1]  # noqa: E731
    jg = lambda x: jax.jvp(jf, (x,), (v,))[1]  # noqa: E731
    close(fgrad.grad(g)(x), jax.grad(jg)(x))


def test_hessian_is_forward_over_reverse_and_hvp():
    A = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    close(fgrad.hessian(lambda x: x @ A @ x)(np.ones(2, np.float32)), A + A.T)
    g = lambda x: fnp.sum(fnp.tanh(A @ x) ** 2) + 0.5 * fnp.sum(x ** 2)  # noqa: E731
    x0 = np.zeros(2, np.float32)
    close(fgrad.hvp(g, (x0,), (np.array([1.0, 0.0], np.float32),)), [21.0, 28.0])
    close(fgrad.hessian(g)(x0), [[21.0, 28.0], [28.0, 41.0]])
    X = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    H = fgrad.hessian(lambda X: fnp.sum(X ** 3))(X)
    assert H.shape == (2, 2, 2, 2) and float(H[1, 0, 1, 0]) == 18.0 and float(H[0, 1, 1, 0]) == 0


# -- define-by-run -------------------------------------------------------------------------------

def test_python_if_picks_the_branch_for_the_input():
    f = lambda x: x ** 2 if x > 0 else -x  # noqa: E731
    assert float(fgrad.grad(f)(3.0)) == 6.0 and float(fgrad.grad(f)(-3.0)) == -1.0


def test_data_dependent_while_loop_under_vjp():
    def double_until_large(x):
        y = x * 2
        while fnp.linalg.norm(y) < 1000:
            y = y * 2
        return y

    x = np.array([0.5, -0.3, 0.8], np.float32)
    y, pullback = fgrad.vjp(double_until_large, x)
    k = int(round(np.log2(float(y[0]) / float(x[0]))))
    v = np.array([0.1, 1.0, 0.0001], np.float32)
    close(pullback(v)[0], 2.0 ** k * v)


def test_python_control_flow_under_jit_is_a_concretization_error():
    f = lambda x: x ** 2 if x > 0 else -x  # the jitted branch  # noqa: E731
    with pytest.raises(fgrad.ConcretizationError) as info:
        jax.jit(fgrad.grad(f))(3.0)
    assert f"{HERE}:{line_of('# the jitted branch')}" in str(info.value)
    assert current_trace() is EVAL_TRACE


# -- zeros: unused inputs, constant outputs, stop_gradient, no_grad ----------------------------

def test_unused_inputs_get_exact_zeros_and_cost_nothing():
    assert float(fgrad.grad(lambda x, y: x, argnums=1)(1.0, 2.0)) == 0.0
    assert float(fgrad.grad(lambda x: 3.0)(1.0)) == 0.0
    out = fgrad.jvp(lambda x: 3.0, (1.0,), (1.0,))
    assert (float(out[0]), float(out[1])) == (3.0, 0.0)
    program = fgrad.make_ir(fgrad.grad(lambda x, y: fnp.sin(x) * 2.0, argnums=1))(1.0, 2.0)
    # The gradient with respect to y spends no equation: only the primal sin remains, or none.
    assert all(e.primitive.name in ("sin", "mul", "broadcast_in_dim", "convert_element_type")
               for e in program.eqns)
    assert "cos" not in str(program)


def test_linearize_instantiates_zero_outputs():
    _, f_jvp = fgrad.linearize(lambda x: (x, 1.0), 3.0)
    a, b = f_jvp(1.0)
    assert (float(a), float(b)) == (1.0, 0.0)


def test_stop_gradient_at_every_order_and_on_pytrees():
    f = lambda x: fnp.sin(x) * fnp.cos(fgrad.stop_gradient(x))  # noqa: E731
    assert float(fgrad.grad(f)(3.14)) == pytest.approx(0.9999975, rel=1e-5)
    assert float(fgrad.grad(fgrad.grad(f))(3.14)) == pytest.approx(0.0015925, rel=1e-3)
    assert float(fgrad.hessian(lambda x: fgrad.stop_gradient(x) * x ** 2)(2.0)) == 4.0
    assert float(fgrad.grad(lambda x: fgrad.stop_gradient({"foo": x})["foo"])(3.0)) == 0.0
    close(fgrad.grad(lambda x: fnp.sum(x ** 2 + fgrad.stop_gradient(x ** 3)))(fnp.ones(10)),
          np.full(10, 2.0))


def test_no_grad_block_makes_constants():
    def f(x):
        with fgrad.no_grad():
            scale = x * 3.0
        return scale * x

    assert float(fgrad.grad(f)(2.0)) == 6.0  # d/dx (c * x) with c = 3x held constant
    assert float(fgrad.grad(fgrad.grad(f))(2.0)) == 0.0
    with fgrad.no_grad():
        assert float(fnp.sin(0.0)) == 0.0  # harmless outside any transform


# -- pytrees, argnums, has_aux ------------------------------------------------------------------

Point = collections.namedtuple("Point", "x y")


def test_pytrees_with_none_and_namedtuples():
    g = fgrad.grad(lambda d: d["a"] * d["b"][0])({"a": 2.0, "b": (3.0, None)})
    assert float(g["a"]) == 3.0 and float(g["b"][0]) == 2.0 and g["b"][1] is None
    p = fgrad.grad(lambda p: fnp.sqrt(p.x ** 2 + p.y ** 2))(Point(3.0, 4.0))
    assert isinstance(p, Point) and float(p.x) == pytest.approx(0.6)
    assert float(p.y) == pytest.approx(0.8)


def test_argnums_and_value_and_grad():
    f = lambda x, y, z: x + 2 * y + 3 * z  # noqa: E731
    g = fgrad.grad(f, argnums=(2, 0))(1.0, 1.0, 1.0)
    assert isinstance(g, tuple) and [float(v) for v in g] == [3.0, 1.0]
    value, grads = fgrad.value_and_grad(f, argnums=(2, 0))(1.0, 1.0, 1.0)
    assert float(value) == 6.0 and [float(v) for v in grads] == [3.0, 1.0]
    assert float(fgrad.grad(f, argnums=-1)(1.0, 1.0, 1.0)) == 3.0


def test_has_aux_returns_plain_values():
    g, aux = fgrad.grad(lambda x: (x ** 3, [x ** 2]), has_aux=True)(3.0)
    assert float(g) == 27.0 and float(aux[0]) == 9.0
    assert isinstance(aux[0], jax.Array)

    def f(x):
        return fgrad.grad(lambda x: (x ** 3, [x ** 3]), has_aux=True)(x)[1][0]
    assert float(fgrad.grad(f)(4.0)) == 48.0


def test_vjp_pullback_called_many_times():
    y, pullback = fgrad.vjp(lambda a, b: a * (a + b), 2.0, 3.0)
    assert float(y) == 10.0
    first, second = pullback(1.0), pullback(1.0)
    assert [float(v) for v in first] == [7.0, 2.0] == [float(v) for v in second]


def test_jacobians_of_pytrees_and_mixed_modes():
    for jac in (fgrad.jacfwd, fgrad.jacrev):
        out = jac(lambda x, y: (x, y), (0, 1))(0.0, 1.0)
        assert [[float(v) for v in row] for row in out] == [[1.0, 0.0], [0.0, 1.0]]
    f = lambda x, u: fnp.dot(x, x) + fnp.dot(u, u)  # noqa: E731
    x, u = np.ones(5, np.float32), np.ones(2, np.float32)
    assert fgrad.jacrev(fgrad.jacfwd(f, 1), 0)(x, u).shape == (2, 5)
    assert fgrad.jacfwd(fgrad.jacrev(f, 0), 1)(x, u).shape == (5, 2)
    H = fgrad.hessian(lambda x: fnp.array(x) ** 2)((1.0, 2.0))
    assert [[np.asarray(b).tolist() for b in row] for row in H] == [
        [[2.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 2.0]]]


def test_jacobians_match_jax():
    W = np.arange(6.0, dtype=np.float32).reshape(2, 3) / 6
    f = lambda x: fnp.tanh(W @ x) * fnp.sum(x)  # noqa: E731
    jf = lambda x: jnp.tanh(W @ x) * jnp.sum(x)  # noqa: E731
    x = np.array([0.2, -0.5, 1.0], np.float32)
    close(fgrad.jacfwd(f)(x), jax.jacfwd(jf)(x), rtol=1e-5)
    close(fgrad.jacrev(f)(x), jax.jacrev(jf)(x), rtol=1e-5)
    close(fgrad.hessian(lambda x: fnp.sum(f(x)))(x), jax.hessian(lambda x: jnp.sum(jf(x)))(x),
          rtol=1e-5)


# -- integers, dtypes, complex ----------------------------------------------------------------

def test_integer_inputs():
    with pytest.raises(TypeError, match="allow_int"):
        fgrad.grad(lambda x: x ** 2)(3)
    g = fgrad.grad(lambda x: x + 0.0, allow_int=True)(1)
    assert g.dtype == jax.dtypes.float0 and g.shape == ()
    grads = fgrad.vjp(lambda x, i: x[i], 2 * fnp.ones(2), 1)[1](1.0)
    close(grads[0], [0.0, 1.0])
    assert grads[1].dtype == jax.dtypes.float0
    out, tangent = fgrad.jvp(lambda x: x.astype(np.int32) + 1, (2.0,), (1.0,))
    assert int(out) == 3 and tangent.dtype == jax.dtypes.float0


def test_dtypes_are_preserved(x64):
    assert fgrad.grad(lambda x: x * 2)(np.float16(1.0)).dtype == np.float16
    assert fgrad.grad(lambda x: x * 2)(np.float32(1.0)).dtype == np.float32
    assert fgrad.grad(lambda x: x * 2)(1.0).dtype == np.float64
    assert fgrad.grad(lambda x: x)(1.0).weak_type


def test_complex_follows_jax():
    with pytest.raises(TypeError, match="holomorphic=True"):
        fgrad.grad(fnp.sin)(1 + 2j)
    close(fgrad.grad(fnp.sin, holomorphic=True)(1 + 2j), jnp.cos(1 + 2j), rtol=1e-5)
    close(fgrad.grad(lambda z: fnp.abs(z) ** 2)(3 + 4j), 6 - 8j, rtol=1e-5)
    close(fgrad.grad(lambda z: fnp.sum(fnp.cos(fnp.abs(z))))(np.array([1 + 0.5j])),
          jax.grad(lambda z: jnp.sum(jnp.cos(jnp.abs(z))))(jnp.array([1 + 0.5j])), rtol=1e-5)


# -- composition with JAX ----------------------------------------------------------------------

def test_fgrad_grad_inside_jax_jit_vmap_and_grad():
    f = lambda x: fnp.sum(fnp.tanh(x) ** 3)  # noqa: E731
    jf = lambda x: jnp.sum(jnp.tanh(x) ** 3)  # noqa: E731
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    close(jax.jit(fgrad.grad(f))(x), jax.grad(jf)(x))
    close(jax.vmap(fgrad.grad(f))(x), jax.vmap(jax.grad(jf))(x))
    close(jax.grad(lambda x: fnp.sum(fgrad.grad(f)(x)))(x),
          jax.grad(lambda x: jnp.sum(jax.grad(jf)(x)))(x), rtol=1e-5)


# -- errors ------------------------------------------------------------------------------------

def test_grad_of_non_scalar_output():
    with pytest.raises(TypeError, match=r"scalar-output.*shape: \(3,\)") as info:
        fgrad.grad(lambda x: x)(np.zeros(3, np.float32))  # non-scalar grad
    assert "vjp" in str(info.value) and "jacrev" in str(info.value)
    assert f"{HERE}:{line_of('# non-scalar grad')}" in str(info.value)
    with pytest.raises(TypeError, match="scalar-output"):
        fgrad.grad(lambda x: (x, x))(1.0)


def test_complex_output_without_holomorphic():
    with pytest.raises(TypeError, match="holomorphic=True") as info:
        fgrad.grad(lambda x: x ** 2 + 1j)(3.0)  # complex output
    assert f"{HERE}:{line_of('# complex output')}" in str(info.value)


def test_argnums_out_of_range():
    with pytest.raises(TypeError, match="argnums contains 2") as info:
        fgrad.grad(lambda x, y: x, argnums=2)(1.0, 2.0)  # bad argnums
    assert f"{HERE}:{line_of('# bad argnums')}" in str(info.value)


def test_pullback_checks_its_cotangent():
    _, pullback = fgrad.vjp(lambda x: 2 * x, fnp.ones(3))
    with pytest.raises(TypeError, match=r"float32\[3\]") as info:
        pullback(fnp.ones(2))  # wrong shape
    assert f"{HERE}:{line_of('# wrong shape')}" in str(info.value)
    with pytest.raises(TypeError, match="float32"):
        pullback(np.ones(3, np.int32))
    with pytest.raises(TypeError, match="structure"):
        pullback((fnp.ones(3),))
    close(pullback(fnp.ones(3))[0], [2.0, 2.0, 2.0])  # still works afterwards


def test_jvp_argument_checks():
    with pytest.raises(TypeError, match="same tree structure"):
        fgrad.jvp(lambda x, y: x, (1.0, 2.0), (1.0,))
    with pytest.raises(TypeError, match="float16"):
        fgrad.jvp(fnp.sin, (np.float32(1.0),), (np.float16(1.0),))
    with pytest.raises(TypeError, match="tuples or lists"):
        fgrad.jvp(fnp.sin, 1.0, 1.0)


def test_has_aux_without_a_pair():
    with pytest.raises(TypeError, match="two-element tuple") as info:
        fgrad.grad(lambda x: x ** 2, has_aux=True)(1.0)  # no pair
    assert f"{HERE}:{line_of('# no pair')}" in str(info.value)


def test_leaked_tracer_from_grad():
    leaked = []

    def f(x):
        leaked.append(x)
        return x ** 2

    fgrad.grad(f)(1.0)
    with pytest.raises(fgrad.EscapedTracerError, match="traced by grad") as info:
        fnp.sin(leaked[0])  # use of the leak
    assert f"{HERE}:{line_of('# use of the leak')}" in str(info.value)
    assert float(fgrad.grad(f)(3.0)) == 6.0  # the next call works
    assert current_trace() is EVAL_TRACE


def test_jacobians_with_empty_inputs_and_outputs():
    empty = np.zeros(0, np.float32)
    assert fgrad.jacfwd(lambda x: fnp.sum(x))(empty).shape == (0,)
    assert fgrad.jacrev(lambda x: x)(empty).shape == (0, 0)
    assert fgrad.jacrev(lambda x: x * 2.0)(np.ones(0, np.float32)).shape == (0, 0)
    close(fgrad.jacfwd(lambda x: x[:0])(np.ones(2, np.float32)), np.zeros((0, 2)))


def test_jacobians_and_hessian_with_has_aux_and_argnums():
    f = lambda x: (fnp.sum(x ** 3), {"n": fnp.sum(x)})  # noqa: E731
    jf = lambda x: (jnp.sum(x ** 3), {"n": jnp.sum(x)})  # noqa: E731
    x = np.array([1.0, 2.0], np.float32)
    for ours, theirs in [(fgrad.hessian, jax.hessian), (fgrad.jacrev, jax.jacrev),
                         (fgrad.jacfwd, jax.jacfwd)]:
        got, want = ours(f, has_aux=True)(x), theirs(jf, has_aux=True)(x)
        jax.tree.map(close, got, want)
    got = fgrad.hessian(lambda a, b: fnp.sum(a * b ** 2), argnums=(0, 1))(x, x)
    want = jax.hessian(lambda a, b: jnp.sum(a * b ** 2), argnums=(0, 1))(x, x)
    jax.tree.map(close, got, want)
