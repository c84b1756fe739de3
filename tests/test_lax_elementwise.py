"""Every elementwise primitive against the same jax.lax call: values, dtypes, weak types,
eagerly and inside a traced program; and the dtype/shape rules' errors."""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import oracle
from fgrad import lax as fl
from fgrad.core import ShapeDtypeError
from oracle import rotating

HERE = os.path.basename(__file__)
check = functools.partial(oracle.check, rtol=1e-6, atol=1e-7)  # float32 rounding
rng = np.random.default_rng(0)

# name -> (fgrad function, jax function, operand kind, arity)
UNARY_FLOAT = ["exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tan", "tanh",
               "asin", "acos", "atan", "sinh", "cosh", "logistic", "erf", "erf_inv", "erfc",
               "floor", "ceil", "asinh", "acosh", "atanh", "cbrt", "exp2", "bessel_i0e",
               "bessel_i1e"]
UNARY_NUMBER = ["neg", "abs", "sign"]
BINARY_NUMBER = ["add", "sub", "mul", "div", "rem", "max", "min"]
COMPARISONS = ["eq", "ne", "lt", "le", "gt", "ge"]
BITWISE = ["bitwise_and", "bitwise_or", "bitwise_xor"]
POSITIVE_DOMAIN = {"log", "sqrt", "rsqrt", "log1p"}
UNIT_DOMAIN = {"asin", "acos", "erf_inv", "atanh"}


def operand(dtype, shape, name=""):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) > 0.5
    if np.issubdtype(dtype, np.integer):
        x = rng.integers(-5, 6, shape).astype(dtype)
        return np.where(x == 0, 3, x).astype(dtype) if name in ("div", "rem") else x
    if name in POSITIVE_DOMAIN:
        return rng.uniform(0.1, 3.0, shape).astype(dtype)
    if name in UNIT_DOMAIN:
        return rng.uniform(-0.9, 0.9, shape).astype(dtype)
    if name == "acosh":
        return rng.uniform(1.1, 3.0, shape).astype(dtype)
    return rng.uniform(-2.0, 2.0, shape).astype(dtype)


SHAPES = [(), (3,), (2, 3)]


# By default each function at one rotating shape (and both float dtypes): `-m slow` for all.
@pytest.mark.parametrize("name, shape", rotating(UNARY_FLOAT, SHAPES, every=3))
def test_unary_float(name, shape, float_dtype):
    x = operand(float_dtype, shape, name)
    check(getattr(fl, name), getattr(lax, name), x)


@pytest.mark.parametrize("name", UNARY_NUMBER)
@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_unary_number(name, dtype):
    check(getattr(fl, name), getattr(lax, name), operand(dtype, (2, 3)))


# By default each function with each dtype once and at each shape once: `-m slow` for all.
@pytest.mark.parametrize("name, dtype, shape",
                         rotating(BINARY_NUMBER, ["float32", "float64", "int32"], SHAPES,
                                  every=3))
def test_binary_number(name, dtype, shape, x64):
    args = [operand(dtype, shape, name), operand(dtype, shape, name)]
    check(getattr(fl, name), getattr(lax, name), *args)


@pytest.mark.parametrize("name", COMPARISONS)
@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_comparisons(name, dtype):
    x = operand(dtype, (4,))
    y = np.concatenate([x[:2], operand(dtype, (2,))]).astype(dtype)  # some ties
    check(getattr(fl, name), getattr(lax, name), x, y)


@pytest.mark.parametrize("name", BITWISE)
@pytest.mark.parametrize("dtype", ["bool", "int32"])
def test_bitwise(name, dtype):
    check(getattr(fl, name), getattr(lax, name), operand(dtype, (5,)), operand(dtype, (5,)))


def test_not_max_min_on_bool():
    x, y = operand("bool", (5,)), operand("bool", (5,))
    check(fl.bitwise_not, lax.bitwise_not, x)
    check(fl.max, lax.max, x, y)


def test_weak_python_scalars():
    check(fl.add, lax.add, 2.0, 3.0)
    check(fl.mul, lax.mul, np.float32(2.0), 3.0)
    check(fl.lt, lax.lt, 2.0, 3.0)


def test_pow_integer_pow_atan2_nextafter_is_finite(float_dtype):
    x = operand(float_dtype, (4,), "sqrt")
    y = operand(float_dtype, (4,))
    check(fl.pow, lax.pow, x, y)
    check(fl.pow, lax.pow, x, np.array([1, 2, -1, 0], np.int32))
    for n in (0, 1, 2, 3, -2):
        check(lambda a: fl.integer_pow(a, n), lambda a: lax.integer_pow(a, n), x)
    check(fl.atan2, lax.atan2, y, x)
    toward = np.array([np.inf, -np.inf, 0.0, 2.0], float_dtype)
    check(fl.nextafter, lax.nextafter, y, toward)
    z = np.array([1.0, np.inf, -np.inf, np.nan], float_dtype)
    check(fl.is_finite, lax.is_finite, z)


def test_round_both_methods():
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.4], np.float32)
    check(fl.round, lax.round, x)
    check(lambda a: fl.round(a, 1), lambda a: lax.round(a, lax.RoundingMethod.TO_NEAREST_EVEN),
          x)


def test_abs_of_complex_is_real():
    z = np.array([3 + 4j, -1j], np.complex64)
    check(fl.abs, lax.abs, z)
    check(fl.exp, lax.exp, z)


def test_select_n_and_clamp():
    which = operand("bool", (2, 3))
    a, b, c = (operand("float32", (2, 3)) for _ in range(3))
    check(fl.select_n, lax.select_n, which, a, b)
    index = rng.integers(0, 3, (2, 3)).astype(np.int32)
    check(fl.select_n, lax.select_n, index, a, b, c)
    lo, hi = np.float32(-0.5), np.float32(0.5)
    check(fl.clamp, lax.clamp, lo, a, hi)
    check(fl.clamp, lax.clamp, np.full((2, 3), -1, np.float32), a, np.ones((2, 3), np.float32))


def complex_operand(dtype, shape):
    return (operand("float32", shape) + 1j * operand("float32", shape)).astype(dtype)


# By default each shape (0-d and size 0 included) with one float dtype, each dtype at least
# once: `-m slow` runs the other pairs.
@pytest.mark.parametrize("shape, float_dtype", rotating([(), (3,), (2, 0)],
                                                        ["float32", "float64"], every=2),
                         indirect=["float_dtype"])
def test_complex_parts(shape, float_dtype):
    complex_dtype = {"float32": np.complex64, "float64": np.complex128}[float_dtype]
    z = complex_operand(complex_dtype, shape)
    x, y = operand(float_dtype, shape), operand(float_dtype, shape)
    for fn, jfn in [(fl.real, lax.real), (fl.imag, lax.imag), (fl.conj, lax.conj)]:
        check(fn, jfn, z)
    check(fl.conj, lax.conj, x)  # a real operand is taken as complex
    check(fl.complex, lax.complex, x, y)
    for fn, jfn in [(fl.exp2, lax.exp2), (fl.asinh, lax.asinh), (fl.acosh, lax.acosh),
                    (fl.atanh, lax.atanh)]:
        check(fn, jfn, z)
    check(fl.atan2, lax.atan2, z, complex_operand(complex_dtype, shape))


def test_complex_parts_of_weak_scalars():
    check(fl.real, lax.real, 1.5 - 2j)
    check(fl.imag, lax.imag, 1.5 - 2j)
    check(fl.conj, lax.conj, 1.5 - 2j)
    check(fl.conj, lax.conj, 1.5)
    check(fl.complex, lax.complex, 1.5, -2.0)


@pytest.mark.parametrize("dtype", ["int32", "uint8", "int8"])
def test_shifts_and_bit_counts(dtype):
    x = rng.integers(np.iinfo(dtype).min, np.iinfo(dtype).max, (2, 5)).astype(dtype)
    y = rng.integers(0, np.iinfo(dtype).bits + 2, (2, 5)).astype(dtype)  # too far: 0 or -1
    for name in ["shift_left", "shift_right_arithmetic", "shift_right_logical"]:
        check(getattr(fl, name), getattr(lax, name), x, y)
    check(fl.population_count, lax.population_count, x)
    check(fl.clz, lax.clz, x)


@pytest.mark.parametrize("source, target, shape", [
    ("float32", "int32", (2, 3)), ("int32", "float32", (3,)), ("float32", "uint32", ()),
    ("float32", "int16", (2, 3)), ("int16", "float32", (3, 2)), ("float32", "uint8", (2,)),
    ("uint8", "float32", (4,)), ("float64", "int64", (3,)), ("float64", "float32", (2,)),
    ("bool", "bool", (3,)), ("complex64", "complex64", (2,)),
])
def test_bitcast_convert_type(source, target, shape, request):
    if "64" in source + target and source != "complex64":
        request.getfixturevalue("x64")
    x = operand(source, shape) if source != "complex64" else complex_operand(source, shape)
    check(lambda a: fl.bitcast_convert_type(a, target),
          lambda a: lax.bitcast_convert_type(a, target), x)


def test_bitcast_convert_type_of_a_weak_value_is_strong():
    check(lambda a: fl.bitcast_convert_type(a, np.int32),
          lambda a: lax.bitcast_convert_type(a, np.int32), 1.5)


@pytest.mark.parametrize("new_dtype", ["float32", "int32", "bool", "float16"])
def test_convert_element_type(new_dtype):
    x = np.array([-1.7, 0.0, 2.5, 3.0], np.float32)
    check(lambda a: fl.convert_element_type(a, new_dtype),
          lambda a: lax.convert_element_type(a, new_dtype), x)


def test_convert_element_type_keeps_requested_weak_type():
    out = fl.convert_element_type(2, np.float32, weak_type=True)
    assert out.dtype == np.float32 and out.weak_type
    assert not fl.convert_element_type(2.0, np.float32).weak_type


def test_convert_to_float64_without_x64_is_an_error():
    with pytest.raises(ShapeDtypeError, match="float64 is not available"):
        fl.convert_element_type(np.ones(2, np.float32), np.float64)


def test_jax_jit_and_vmap_around_fgrad_lax():
    x = operand("float32", (4, 3))

    def f(a):
        return fl.tanh(fl.mul(fl.sin(a), a))

    expected = jnp.tanh(jnp.sin(x) * x)
    np.testing.assert_allclose(jax.jit(f)(x), expected, rtol=1e-6)
    np.testing.assert_allclose(jax.vmap(f)(x), expected, rtol=1e-6)
    np.testing.assert_allclose(jax.jit(jax.vmap(f, in_axes=1, out_axes=1))(x), expected,
                               rtol=1e-6)


@pytest.mark.parametrize("call, message", [
    (lambda: fl.add(np.ones(3, np.float32), np.ones((3, 1), np.float32)),
     r"add got operands \(f32\[3\], f32\[3,1\]\): the shapes differ"),
    (lambda: fl.sub(np.ones(3, np.float32), np.ones(3, np.int32)),
     r"sub got operands \(f32\[3\], i32\[3\]\): the dtypes differ"),
    (lambda: fl.exp(np.ones(3, np.int32)), r"exp accepts floating-point or complex"),
    (lambda: fl.add(np.ones(2, bool), np.ones(2, bool)), r"add accepts numbers \(not bool\)"),
    (lambda: fl.lt(np.ones(2, np.complex64), np.ones(2, np.complex64)), r"real \(non-complex\)"),
    (lambda: fl.bitwise_and(np.ones(2), np.ones(2)), r"integers or booleans"),
    (lambda: fl.integer_pow(np.ones(2, np.int32), -1), r"negative power"),
    (lambda: fl.pow(np.ones(2, np.int32), np.ones(2, np.int32)), r"pow accepts floating"),
    (lambda: fl.select_n(np.ones(2, np.float32), np.ones(2), np.ones(2)),
     r"selector must be bool or int32"),
    (lambda: fl.select_n(np.ones(2, bool), np.ones(2, np.float32), np.ones(2, np.int32)),
     r"cases' dtypes differ"),
    (lambda: fl.clamp(np.ones(2, np.int32), np.ones(2, np.float32), np.ones(2, np.float32)),
     r"bounds must have the operand's dtype"),
    (lambda: fl.round(np.ones(2, np.float32), 3), r"rounding_method must be 0"),
    (lambda: fl.real(np.ones(2, np.float32)), r"real accepts complex numbers, not float32"),
    (lambda: fl.imag(np.ones(2, np.int32)), r"imag accepts complex numbers, not int32"),
    (lambda: fl.conj(np.ones(2, np.int32)), r"conj accepts complex, float32 or float64"),
    (lambda: fl.complex(np.ones(2, np.int32), np.ones(2, np.int32)),
     r"must both be float32 or both float64"),
    (lambda: fl.complex(np.ones(2, np.float32), np.ones(3, np.float32)), r"the shapes differ"),
    (lambda: fl.shift_left(np.ones(2, np.float32), np.ones(2, np.float32)), r"integers"),
    (lambda: fl.population_count(np.ones(2, bool)), r"population_count accepts integers"),
    (lambda: fl.cbrt(np.ones(2, np.complex64)), r"cbrt accepts floating-point numbers"),
    (lambda: fl.bessel_i0e(np.ones(2, np.int32)), r"bessel_i0e accepts floating-point"),
    (lambda: fl.bitcast_convert_type(np.ones(2, np.complex64), np.float32),
     r"bool and complex values can only be bitcast to their own dtype"),
    (lambda: fl.bitcast_convert_type(np.ones(3, np.int8), np.int32),
     r"32-bit values are made of 4 8-bit ones along the last axis, which has size 3"),
    (lambda: fl.bitcast_convert_type(np.ones(2, np.float32), np.float64),
     r"float64 is not available"),
])
def test_rule_errors_name_operands_and_user_line(call, message):
    with pytest.raises(ShapeDtypeError, match=message) as info:
        call()
    assert HERE in str(info.value)
