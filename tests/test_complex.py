"""Complex numbers through fgrad.numpy and fgrad's transforms, against JAX.

- fgrad.numpy's elementwise functions take complex operands exactly where jax.numpy does,
  with its values, dtypes and weak types (complex Python scalars are weak); the newer
  functions' complex numbers are tested with the rest of them in tests/test_numpy_math.py.
- Holomorphic functions: grad (to second order), jacfwd and jacrev with holomorphic=True
  equal JAX's (the complex derivative f'(z)).
- Real-valued functions of complex inputs: the gradient follows JAX's convention,
  df/dx - i df/dy (the conjugate of the gradient some other libraries return), so
  grad |z|^2 is 2 conj(z).
- jvp and vjp with complex tangents and cotangents: JAX's linear maps, no conjugation.
- Real parameters through complex intermediates: real gradients equal jax.grad's.
- The errors for complex outputs without holomorphic=True, and for holomorphic=True with
  real inputs, are raised where JAX raises them.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.core import aval_of
from oracle import assert_same, assert_trees_same, rand

pytestmark = pytest.mark.usefixtures("x64")
C64, C128 = np.dtype(np.complex64), np.dtype(np.complex128)
close = dict(rtol=1e-10, atol=1e-12)


def z_sample(shape=(3,), seed=0, scale=0.6):
    return scale * rand(shape, seed, C128)


# -- every elementwise function accepts complex numbers where jax.numpy does ---------------------

# The functions fgrad.numpy had before complex numbers came everywhere, on complex scalars
# (weakly typed), and on complex64 arrays those whose complex numbers take code of their
# own (ARRAYS). The newer functions' complex numbers are in tests/test_numpy_math.py.
UNARY = ["exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tan", "tanh", "sinh", "cosh",
         "arcsin", "arccos", "arctan", "negative", "positive", "absolute", "sign", "square",
         "isfinite", "isinf", "isnan", "round", "floor", "ceil", "logical_not", "bitwise_not"]
BINARY = ["add", "subtract", "multiply", "true_divide", "power", "equal", "not_equal", "less",
          "less_equal", "greater", "greater_equal", "maximum", "minimum", "arctan2",
          "remainder", "floor_divide", "divmod", "logical_and", "logical_xor"]
ARRAYS = {"isfinite", "isinf", "isnan", "round", "sign", "absolute", "floor", "logical_not",
          "sqrt", "arccos", "less", "greater_equal", "maximum", "minimum", "arctan2", "power",
          "true_divide", "remainder", "divmod", "logical_and", "equal"}


def jax_or_error(fn, *args):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args), None
    except Exception as error:  # noqa: BLE001 (fgrad must raise the same class)
        return None, error


def check_like_jax(name, *args):
    want, error = jax_or_error(getattr(jnp, name), *args)
    if error is not None:
        with pytest.raises(type(error)):
            getattr(fnp, name)(*args)
        return
    assert_trees_same(getattr(fnp, name)(*args), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", UNARY)
def test_unary_functions_of_complex_numbers(name):
    if name in ARRAYS:
        check_like_jax(name, rand((2, 3), 1, C64))
    check_like_jax(name, 0.5 - 0.25j)  # a weakly typed complex scalar


@pytest.mark.parametrize("name", BINARY)
def test_binary_functions_of_complex_numbers(name):
    if name in ARRAYS:
        check_like_jax(name, rand((2, 3), 2, C64), rand((3,), 3, C64))  # broadcast
    check_like_jax(name, rand((3,), 4, np.float32), 1j)  # a weak complex scalar: complex64


def test_where_and_select_complex_values():
    z, w = rand((4,), 1, C64), rand((4,), 2, C64)
    cond = np.array([True, False, True, False])
    assert_same(fnp.where(cond, z, w), jnp.where(cond, z, w))
    assert_same(fnp.where(cond, z, 1.5), jnp.where(cond, z, 1.5))


# -- holomorphic functions ---------------------------------------------------------------------

# functions of a namespace (fgrad.numpy or jax.numpy) and one complex scalar
HOLOMORPHIC = {
    "exp-sin": lambda M, z: M.exp(M.sin(z)),
    "log-sqrt": lambda M, z: M.log(z) * M.sqrt(z + 2),
    "tan-tanh": lambda M, z: M.tan(z) + M.tanh(2 * z),
    "inverse-trig": lambda M, z: M.arcsin(z) * M.arccos(z / 2) + M.arctan(z),
    "inverse-hyperbolic": lambda M, z: M.arcsinh(z) + M.arccosh(z + 2) * M.arctanh(z / 2),
    "powers": lambda M, z: z ** 3 - 2 / z + M.power(z, 2.5 + 0.5j) + M.reciprocal(1 + z),
    "bases": lambda M, z: M.exp2(z) + M.log2(z + 2) * M.log10(z + 3),
    "log1p-expm1": lambda M, z: M.log1p(z) * M.expm1(z),
    "cosh-sinh": lambda M, z: M.cosh(z) / (2 + M.sinh(z)),
    "sinc": lambda M, z: M.sinc(z),
    "logaddexp": lambda M, z: M.logaddexp(z, 0.5 - z) + M.logaddexp2(z, 1.0),
    "square-conj-conj": lambda M, z: M.square(M.conj(M.conj(z))),
}


# the ones with rules of fgrad.numpy's own (custom derivatives, branches), to second order
SECOND_ORDER = ["inverse-hyperbolic", "powers", "sinc", "logaddexp"]


def derivatives_agree(names, order):
    """The order-th derivative of each function at its own point, all in one program (the
    functions are elementwise, so the gradient of their sum holds each one's derivative),
    under fgrad.jit and jax.jit: one compilation each, not one per operation."""
    z = (0.4 - 0.3j) + 0.05 * rand((len(names),), 20, C128)

    def derivative(M, grad):
        f = lambda z: sum(HOLOMORPHIC[n](M, z[i]) for i, n in enumerate(names))  # noqa: E731
        for _ in range(order):
            f = grad(lambda z, f=f: M.sum(f(z)), holomorphic=True)
        return f

    got, want = fgrad.jit(derivative(fnp, fgrad.grad))(z), jax.jit(derivative(jnp, jax.grad))(z)
    assert aval_of(got) == aval_of(want)
    bad = [n for n, g, w in zip(names, np.asarray(got), np.asarray(want))
           if not np.isclose(g, w, rtol=1e-10, atol=1e-12)]
    assert not bad, bad


def test_holomorphic_grad():
    derivatives_agree(sorted(HOLOMORPHIC), 1)


def test_holomorphic_grad_of_grad():
    derivatives_agree(SECOND_ORDER, 2)


def test_holomorphic_jacobians():
    z = z_sample((3,), 7)

    def mixed(M):  # holomorphic, coupling the elements
        return lambda z: M.exp(M.sin(z)) * M.sum(z) + M.arcsinh(z) * z[0]

    for fgrad_jac, jax_jac in [(fgrad.jacfwd, jax.jacfwd), (fgrad.jacrev, jax.jacrev)]:
        assert_same(fgrad_jac(mixed(fnp), holomorphic=True)(z),
                    jax.jit(jax_jac(mixed(jnp), holomorphic=True))(z), **close)


def test_holomorphic_grad_under_vmap_and_jit():
    f = HOLOMORPHIC["inverse-trig"]
    z = z_sample((4,), 8)
    want = jax.jit(jax.vmap(jax.grad(lambda z: f(jnp, z), holomorphic=True)))(z)
    g = fgrad.grad(lambda z: f(fnp, z), holomorphic=True)
    assert_same(fgrad.vmap(g)(z), want, **close)
    assert_same(fgrad.jit(fgrad.vmap(g))(z), want, **close)
    assert_same(jax.jit(jax.vmap(g))(z), want, **close)


# -- real-valued functions of complex inputs: JAX's conjugate convention -----------------------

REAL_OF_COMPLEX = {
    "|z|^2": lambda M, z, w: M.sum(M.abs(z) ** 2),
    "z conj(z)": lambda M, z, w: M.sum(M.real(z * M.conj(z))),
    "re(z conj(w))": lambda M, z, w: M.sum(M.real(z * M.conj(w))),
    "im(z w)": lambda M, z, w: M.sum(M.imag(z * w)),
    "abs": lambda M, z, w: M.sum(M.abs(z - w)),
    "angle": lambda M, z, w: M.sum(M.angle(z) * M.abs(w)),
    "exp-abs": lambda M, z, w: M.sum(M.abs(M.exp(z)) + M.real(M.log(w))),
    "sinc-arcsinh": lambda M, z, w: M.sum(M.real(M.sinc(z)) * M.imag(M.arcsinh(w))),
}
SECOND_ORDER_REAL = {"|z|^2", "abs", "angle", "sinc-arcsinh"}


@pytest.mark.parametrize("name", sorted(REAL_OF_COMPLEX))
def test_gradient_of_real_function_of_complex_inputs(name):
    f = REAL_OF_COMPLEX[name]
    z, w = z_sample((3,), 9), z_sample((3,), 10)
    got = fgrad.grad(lambda z, w: f(fnp, z, w), (0, 1))(z, w)
    want = jax.jit(jax.grad(lambda z, w: f(jnp, z, w), (0, 1)))(z, w)
    assert_trees_same(got, want, **close)
    if name not in SECOND_ORDER_REAL:
        return
    # second order: the gradient's own derivative in a complex direction
    t = rand((3,), 11, C128)
    got = fgrad.jvp(fgrad.grad(lambda z: f(fnp, z, w)), (z,), (t,))[1]
    want = jax.jit(lambda z, t: jax.jvp(jax.grad(lambda z: f(jnp, z, w)), (z,), (t,))[1])(z, t)
    assert_same(got, want, **close)


def test_gradient_convention_values():
    z = np.complex128(3 + 4j)
    # df/dx - i df/dy: for |z|^2 = x^2 + y^2 that is 2x - 2iy = 2 conj(z)
    assert complex(fgrad.grad(lambda z: fnp.abs(z) ** 2)(z)) == pytest.approx(6 - 8j)
    assert complex(fgrad.grad(lambda z: fnp.real(z))(z)) == pytest.approx(1)
    assert complex(fgrad.grad(lambda z: fnp.imag(z))(z)) == pytest.approx(-1j)
    assert complex(fgrad.grad(lambda z: fnp.abs(z))(z)) == pytest.approx((3 - 4j) / 5)


# -- jvp and vjp with complex tangents and cotangents --------------------------------------------

LINEARIZED = {
    "holomorphic": lambda M, z: M.exp(z) * M.sin(z) + M.arctanh(z / 3),
    "conj": lambda M, z: M.conj(z) * z + M.conjugate(M.exp(z)),
    "parts": lambda M, z: M.real(z) ** 2 - 1j * M.imag(z) + M.abs(z),
    "angle-abs": lambda M, z: M.angle(z) + M.abs(z) * 1j,
    "logaddexp": lambda M, z: M.logaddexp(z, M.conj(z)),
}


@pytest.mark.parametrize("name", sorted(LINEARIZED))
def test_jvp_and_vjp_with_complex_tangents(name):
    f = LINEARIZED[name]
    z, t = z_sample((4,), 12), rand((4,), 13, C128)
    want = jax.jit(lambda z, t: jax.jvp(lambda z: f(jnp, z), (z,), (t,)))(z, t)
    got = fgrad.jvp(lambda z: f(fnp, z), (z,), (t,))
    assert_trees_same(got, want, **close)
    ct = rand(want[0].shape, 14, want[0].dtype)
    want = jax.jit(lambda z, ct: jax.vjp(lambda z: f(jnp, z), z)[1](ct))(z, ct)
    assert_trees_same(fgrad.vjp(lambda z: f(fnp, z), z)[1](ct), want, **close)


def test_complex_to_real_and_real_to_complex_vjps():
    x, z = rand((3,), 15), z_sample((3,), 16)
    cases = [
        # real -> complex: the cotangent's real part flows back
        (lambda M, x: M.exp(1j * x), x), (lambda M, x: x * (2 - 1j), x),
        # complex -> real: a real cotangent comes back complex
        (lambda M, z: M.real(z), z), (lambda M, z: M.imag(z), z), (lambda M, z: M.abs(z), z),
        (lambda M, z: M.angle(z), z),
    ]
    for k, (f, arg) in enumerate(cases):
        out, pullback = jax.vjp(lambda a: f(jnp, a), arg)
        ct = rand(out.shape, 17 + k, out.dtype)
        assert_trees_same(fgrad.vjp(lambda a: f(fnp, a), arg)[1](ct), pullback(ct), **close)


# -- real parameters, complex intermediates -----------------------------------------------------

def test_real_parameters_through_complex_intermediates():
    """A real loss of real parameters computed with complex numbers (a sum of phasors)."""
    k = np.arange(1.0, 6.0)

    def loss(M, theta, amp):
        phasors = amp * M.exp(1j * k * theta)
        total = M.sum(phasors)
        return M.abs(total) ** 2 + M.real(M.sqrt(total + 3)) + M.angle(total + 10)

    theta, amp = 0.3, rand((5,), 19)
    got = fgrad.grad(lambda t, a: loss(fnp, t, a), (0, 1))(theta, amp)
    want = jax.jit(jax.grad(lambda t, a: loss(jnp, t, a), (0, 1)))(theta, amp)
    assert_trees_same(got, want, **close)
    # complex64 intermediates of float32 parameters keep float32 gradients
    got = fgrad.grad(lambda a: loss(fnp, np.float32(theta), a))(amp.astype(np.float32))
    want = jax.jit(jax.grad(lambda a: loss(jnp, np.float32(theta), a)))(amp.astype(np.float32))
    assert_same(got, want, rtol=1e-4, atol=1e-4)


# -- errors --------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", [
    # grad of a complex output without holomorphic=True
    lambda G: G.grad(lambda z: z * z)(np.complex128(1 + 1j)),
    # holomorphic=True with a real input
    lambda G: G.grad(lambda z: z * z, holomorphic=True)(1.5),
    lambda G: G.jacrev(lambda z: z * z, holomorphic=True)(np.ones(2)),
    # holomorphic=True with a real output
    lambda G: G.grad(lambda z: (z * z).real, holomorphic=True)(np.complex128(1 + 1j)),
    lambda G: G.jacfwd(lambda z: (z * z).real, holomorphic=True)(np.ones(2, np.complex128)),
    # complex inputs to jacfwd, complex outputs of jacrev, without holomorphic=True
    lambda G: G.jacfwd(lambda z: z * z)(np.ones(2, np.complex128)),
    lambda G: G.jacrev(lambda x: x * (1 + 1j))(np.ones(2)),
    # integer inputs
    lambda G: G.grad(lambda z: z * 1.0)(np.int32(1)),
], ids=["complex-output", "holomorphic-real-input", "jacrev-holomorphic-real-input",
        "grad-holomorphic-real-output", "jacfwd-holomorphic-real-output",
        "jacfwd-complex-input", "jacrev-complex-output", "integer-input"])
def test_errors_where_jax_raises(case):
    _, error = jax_or_error(case, jax)
    assert isinstance(error, TypeError)
    with pytest.raises(TypeError) as info:
        case(fgrad)
    message = str(info.value)
    assert "test_complex.py:" in message, message  # the user's line
    if "holomorphic" in str(error):
        assert "holomorphic" in message, message


def test_jacfwd_of_complex_output_of_real_input_is_allowed():
    """JAX's jacfwd pushes real basis vectors forward, so complex outputs need no flag."""
    x = np.array([0.5, -1.0])
    f = lambda M: lambda x: M.exp(x * (1 + 2j))  # noqa: E731
    assert_same(fgrad.jacfwd(f(fnp))(x), jax.jacfwd(f(jnp))(x))


def test_grad_of_real_output_of_complex_input_is_allowed():
    """Without holomorphic=True JAX differentiates a real function of complex inputs (the
    convention above); fgrad does too."""
    z = np.complex128(1 - 2j)
    f = lambda M: lambda z: M.real(z) * M.imag(z)  # noqa: E731
    assert_same(fgrad.grad(f(fnp))(z), jax.grad(f(jnp))(z))
    assert_same(fgrad.value_and_grad(f(fnp))(z)[1], jax.value_and_grad(f(jnp))(z)[1])
