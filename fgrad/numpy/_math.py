"""Elementwise math with NumPy's broadcasting and JAX's type promotion.

Each function checks and promotes its operands (see `_core.promote_args`), then binds the
fgrad.lax primitive; where NumPy's meaning differs from the primitive's (floor division and
remainder round towards minus infinity, `divide` of integers gives floats, `add` of bools is
`or`) it is composed from several primitives exactly as jax.numpy does, so the numbers agree.
"""

from __future__ import annotations

import functools
import inspect
import operator

import numpy as np
from jax.dtypes import finfo

from fgrad.core import aval_of
from fgrad.core import dtypes as dt
from fgrad.core.dtypes import float0
from fgrad.core.errors import ShapeDtypeError, at_user_line
from fgrad.lax import elementwise as lx
from fgrad.lax import indexing as li
from fgrad.lax import reductions as lr
from fgrad.lax import shapes as ls
from fgrad.lax.control_flow import while_loop
from fgrad.lax.custom import custom_jvp
from fgrad.numpy._eager import compiled_eagerly
from fgrad.numpy._core import (
    as_array, broadcast_shapes, broadcast_to_shape, canonical_axis, check_arraylike, constant,
    convert, promote_args, promote_dtypes,
)

# The public names, gathered by fgrad/numpy/__init__.py.
__all__ = [
    "abs", "absolute", "acos", "acosh", "add", "allclose", "angle", "arccos", "arccosh",
    "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "around", "array_equal",
    "array_equiv", "asin", "asinh", "atan", "atan2", "atanh", "bitwise_and", "bitwise_count",
    "bitwise_invert", "bitwise_left_shift", "bitwise_not", "bitwise_or", "bitwise_right_shift",
    "bitwise_xor", "cbrt", "ceil", "clip", "conj", "conjugate", "copysign", "cos", "cosh",
    "deg2rad", "degrees", "divide", "divmod", "equal", "exp", "exp2", "expm1", "fabs",
    "float_power", "floor", "floor_divide", "fmax", "fmin", "fmod", "frexp", "gcd", "greater",
    "greater_equal", "heaviside", "hypot", "i0", "imag", "invert", "isclose", "iscomplex",
    "isfinite", "isinf", "isnan", "isneginf", "isposinf", "isreal", "lcm", "ldexp",
    "left_shift", "less", "less_equal", "log", "log10", "log1p", "log2", "logaddexp",
    "logaddexp2", "logical_and", "logical_not", "logical_or", "logical_xor", "maximum",
    "minimum", "mod", "modf", "multiply", "nan_to_num", "neg", "negative", "nextafter",
    "not_equal", "packbits", "positive", "power", "rad2deg", "radians", "real", "reciprocal",
    "remainder", "right_shift", "rint", "round", "sign", "signbit", "sin", "sinc", "sinh",
    "spacing", "sqrt", "square", "subtract", "tan", "tanh", "true_divide", "trunc",
    "unpackbits", "where",
]


def _unary(name: str, primitive, kind: str | None = None, doc: str = ""):
    def function(x, /):
        (x,) = promote_args(name, x, kind=kind)
        return primitive(x)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = doc
    return compiled_eagerly(1)(function)


def _binary(name: str, primitive, kind: str | None = None, doc: str = "", names=("x1", "x2")):
    def function(x1, x2, /):
        x1, x2 = promote_args(name, x1, x2, kind=kind)
        return primitive(x1, x2)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = doc
    # jax.numpy's names for the (positional-only) operands, for help() and signatures
    function.__signature__ = inspect.Signature(
        [inspect.Parameter(n, inspect.Parameter.POSITIONAL_ONLY) for n in names])
    return compiled_eagerly(2)(function)


# -- arithmetic ------------------------------------------------------------------------------

negative = _unary("negative", lx.neg, doc="-x, elementwise.")
neg = negative
subtract = _binary("subtract", lx.sub, doc="x1 - x2, elementwise.")
true_divide = _binary("true_divide", lx.div, "inexact", "x1 / x2 in floating point.")
divide = true_divide
maximum = _binary("maximum", lx.max, doc="The larger element (NaN if either is NaN).")
minimum = _binary("minimum", lx.min, doc="The smaller element (NaN if either is NaN).")
sign = _unary("sign", lx.sign, doc="-1, 0 or 1 by the sign of x; x / |x| for complex x.")
arctan2 = _binary("arctan2", lx.atan2, "inexact", "The angle of the point (x2, x1).")


def positive(x, /):
    """x itself, as an array (+x)."""
    return as_array(x, "positive")


@compiled_eagerly(2)
def add(x1, x2, /):
    """x1 + x2, elementwise (or of bools)."""
    x1, x2 = promote_args("add", x1, x2)
    # NumPy adds booleans with `or`.
    return lx.bitwise_or(x1, x2) if dt.is_bool(aval_of(x1).dtype) else lx.add(x1, x2)


@compiled_eagerly(2)
def multiply(x1, x2, /):
    """x1 * x2, elementwise (and of bools)."""
    x1, x2 = promote_args("multiply", x1, x2)
    return lx.bitwise_and(x1, x2) if dt.is_bool(aval_of(x1).dtype) else lx.mul(x1, x2)


def floor_divide(x1, x2, /):
    """x1 // x2: the quotient rounded down."""
    x1, x2 = promote_args("floor_divide", x1, x2, kind="numeric")
    dtype = aval_of(x1).dtype
    if np.issubdtype(dtype, np.unsignedinteger):
        return lx.div(x1, x2)
    if dt.is_integer(dtype):
        # Integer division truncates; step down where the exact quotient is negative and
        # not whole.
        quotient = lx.div(x1, x2)
        inexact = logical_and(not_equal(lx.sign(x1), lx.sign(x2)),
                              not_equal(lx.rem(x1, x2), 0))
        return where(inexact, subtract(quotient, 1), quotient)
    if dt.is_complex(dtype):
        raise TypeError(at_user_line("fgrad.numpy.floor_divide does not support complex "
                                     "numbers."))
    return _float_divmod(x1, x2)[0]


def _float_divmod(x1, x2):
    """Floor quotient and remainder of floats, corrected as CPython's float divmod does."""
    mod = lx.rem(x1, x2)
    dividend = where(equal(x2, 0), x1, lx.sub(x1, mod))
    div = lx.div(dividend, x2)
    off_by_one = logical_and(not_equal(mod, 0), not_equal(lx.sign(x2), lx.sign(mod)))
    mod = where(off_by_one, add(mod, x2), mod)
    div = where(off_by_one, subtract(div, 1), div)
    return lx.round(div, 1), mod


def remainder(x1, x2, /):
    """The remainder with the divisor's sign (NumPy's `%`), not C's truncated one."""
    x1, x2 = promote_args("remainder", x1, x2, kind="numeric")
    if dt.is_integer(aval_of(x2).dtype):
        x2 = where(equal(x2, 0), 1, x2)  # no integer division by zero on any backend
    truncated = lx.rem(x1, x2)
    wrong_sign = logical_and(not_equal(less(truncated, 0), less(x2, 0)),
                             not_equal(truncated, 0))
    return where(wrong_sign, lx.add(truncated, x2), truncated)


mod = remainder


def divmod(x1, x2, /):  # noqa: A001 (NumPy's name)
    """(x1 // x2, x1 % x2), NumPy's floor quotient and remainder."""
    x1, x2 = promote_args("divmod", x1, x2, kind="numeric")
    if dt.is_inexact(aval_of(x1).dtype):
        return _float_divmod(x1, x2)
    return floor_divide(x1, x2), remainder(x1, x2)


def _static_integer(x):
    """`x` as a Python int if it is a static integer scalar (the exponent of `x ** 2`)."""
    if isinstance(x, (bool, np.bool_)):
        return None
    if isinstance(x, (int, np.integer)) or (isinstance(x, np.ndarray) and x.ndim == 0
                                            and dt.is_integer(x.dtype)):
        return operator.index(x)
    return None


def power(x1, x2, /):
    """x1 ** x2. A static integer exponent becomes `integer_pow` (exact repeated
    multiplication), as in jax.numpy."""
    if _static_integer(x2) is not None:
        return _power_by_static_integer(x1, x2)
    return _power_by_operand(x1, x2)


def _power(x1, x2, /):
    check_arraylike("power", x1, x2)
    exponent = _static_integer(x2)
    if exponent is not None:
        (x1,) = promote_dtypes(x1, kind="numeric")
        return lx.integer_pow(as_array(x1, "power"), exponent)
    a1, a2 = aval_of(x1), aval_of(x2)
    base, exp = promote_args("power", x1, x2, kind="numeric")
    dtype = aval_of(base).dtype
    if dt.is_integer(dtype):
        return _integer_power(base, exp)
    if dt.is_inexact(a1.dtype) and dt.is_integer(a2.dtype):
        # An integer exponent keeps its dtype (pow's rule), so pow stays differentiable in
        # the base at 0; JAX does the same.
        shape = broadcast_shapes("power", a1.shape, a2.shape)
        return lx.pow(broadcast_to_shape(x1, shape, "power"),
                      broadcast_to_shape(x2, shape, "power"))
    return lx.pow(base, exp)


# Eagerly, a static integer exponent is part of the compiled function's identity (it
# decides integer_pow); any other exponent is an operand, so a loop over float exponents
# compiles once.
_power_by_static_integer = compiled_eagerly(1)(_power)
_power_by_operand = compiled_eagerly(2)(_power)


def _integer_power(base, exponent):
    # Binary exponentiation over the exponent's low 6 bits: anything larger overflows for
    # any base above 1 (JAX's algorithm, so results agree even on overflow).
    dtype = aval_of(base).dtype
    acc = where(logical_and(equal(base, 0), not_equal(exponent, 0)), dtype.type(0),
                dtype.type(1))
    for _ in range(6):
        acc = where(not_equal(bitwise_and(exponent, 1), 0), lx.mul(acc, base), acc)
        base = lx.mul(base, base)
        exponent = floor_divide(exponent, 2)
    return acc


@compiled_eagerly(1)
def absolute(x, /):
    """|x|; the modulus, a real number, of complex x."""
    check_arraylike("absolute", x)
    dtype = aval_of(x).dtype
    if dt.is_bool(dtype) or np.issubdtype(dtype, np.unsignedinteger):
        return as_array(x, "absolute")
    return lx.abs(x)


abs = absolute  # noqa: A001


@compiled_eagerly(1)
def square(x, /):
    """x * x."""
    (x,) = promote_args("square", x, kind="numeric")
    return lx.integer_pow(x, 2)


# -- rounding --------------------------------------------------------------------------------


def _rounding(name: str, primitive, doc: str):
    def function(x, /):
        check_arraylike(name, x)
        dtype = aval_of(x).dtype
        if dt.is_integer(dtype) or dt.is_bool(dtype):
            return as_array(x, name)  # already whole
        return primitive(x)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = doc
    return compiled_eagerly(1)(function)


floor = _rounding("floor", lx.floor, "Rounds down.")
ceil = _rounding("ceil", lx.ceil, "Rounds up.")


def round(a, decimals: int = 0, out=None):  # noqa: A001
    """Rounds to `decimals` places, halves to even (NumPy's rule); a complex number rounds
    its real and imaginary parts."""
    check_arraylike("round", a)
    decimals = operator.index(decimals)
    if out is not None:
        raise NotImplementedError(at_user_line(
            "fgrad.numpy.round does not support `out`: arrays are immutable, use the result."))
    dtype = aval_of(a).dtype
    if dt.is_bool(dtype):
        raise ValueError(at_user_line(
            "fgrad.numpy.round does not round booleans (jax.numpy refuses them too): convert "
            "them to an integer or float dtype first."))
    if dt.is_integer(dtype):
        if decimals < 0:
            raise ValueError(at_user_line(
                "fgrad.numpy.round of integers supports only decimals >= 0."))
        return as_array(a, "round")
    if decimals > np.log10(finfo(dtype).max):
        return as_array(a, "round")  # beyond the dtype's precision
    if dt.is_complex(dtype):
        return lx.complex(_round_float(lx.real(a), decimals),
                          _round_float(lx.imag(a), decimals))
    return _round_float(a, decimals)


def _round_float(x, decimals: int):
    if decimals == 0:
        return lx.round(x, 1)
    dtype = aval_of(x).dtype
    # float16 scales in float32, as jax.numpy does (10**decimals would lose too much).
    if dtype == np.float16:
        x = lx.convert_element_type(x, np.float32)
    factor = _const(x, 10.0 ** decimals)
    out = lx.div(lx.round(lx.mul(x, factor), 1), factor)
    return lx.convert_element_type(out, dtype) if dtype == np.float16 else out


around = round

# -- transcendental --------------------------------------------------------------------------

exp = _unary("exp", lx.exp, "inexact", "e**x.")
log = _unary("log", lx.log, "inexact", "The natural logarithm (the principal one of complex x).")
log1p = _unary("log1p", lx.log1p, "inexact", "log(1 + x), accurate for small x.")
expm1 = _unary("expm1", lx.expm1, "inexact", "exp(x) - 1, accurate for small x.")
sqrt = _unary("sqrt", lx.sqrt, "inexact", "The square root (the principal one of complex x).")
sin = _unary("sin", lx.sin, "inexact", "The sine.")
cos = _unary("cos", lx.cos, "inexact", "The cosine.")
tan = _unary("tan", lx.tan, "inexact", "The tangent.")
tanh = _unary("tanh", lx.tanh, "inexact", "The hyperbolic tangent.")
arcsin = _unary("arcsin", lx.asin, "inexact", "The inverse sine.")
arccos = _unary("arccos", lx.acos, "inexact", "The inverse cosine.")
arctan = _unary("arctan", lx.atan, "inexact", "The inverse tangent.")
sinh = _unary("sinh", lx.sinh, "inexact", "The hyperbolic sine.")
cosh = _unary("cosh", lx.cosh, "inexact", "The hyperbolic cosine.")


def _float_test(name: str, test, complex_test, value_for_integers: bool, doc: str):
    def function(x, /):
        check_arraylike(name, x)
        aval = aval_of(x)
        if dt.is_float(aval.dtype):
            return test(x)
        if dt.is_complex(aval.dtype):
            return complex_test(x)
        return ls.full(aval.shape, value_for_integers, np.dtype(np.bool_))

    function.__name__ = function.__qualname__ = name
    function.__doc__ = doc
    return compiled_eagerly(1)(function)


def _is_infinite(x):
    aval = aval_of(x)
    return lx.eq(lx.abs(x), constant(aval.shape, np.inf, aval.dtype))


def _is_nan(x):
    return lx.ne(x, x)


isfinite = _float_test("isfinite", lx.is_finite, lambda z: lx.bitwise_and(
    lx.is_finite(lx.real(z)), lx.is_finite(lx.imag(z))), True,
    "Whether x is neither infinite nor NaN (in both parts, if complex).")
isnan = _float_test("isnan", _is_nan, _is_nan, False, "Whether x is NaN (either part, if complex).")
isinf = _float_test("isinf", _is_infinite, lambda z: lx.bitwise_or(
    _is_infinite(lx.real(z)), _is_infinite(lx.imag(z))), False,
    "Whether x is infinite (either part, if complex).")

# -- comparisons and logic -------------------------------------------------------------------

equal = _binary("equal", lx.eq, doc="x == y, elementwise.", names=("x", "y"))
not_equal = _binary("not_equal", lx.ne, doc="x != y, elementwise.", names=("x", "y"))


def _ordering(name: str, primitive, doc: str):
    def function(x, y, /):
        x, y = promote_args(name, x, y)
        if dt.is_complex(aval_of(x).dtype):
            # Complex numbers compare by real part, then by imaginary part (NumPy's order).
            re_x, re_y = lx.real(x), lx.real(y)
            return lx.select_n(lx.eq(re_x, re_y), primitive(re_x, re_y),
                               primitive(lx.imag(x), lx.imag(y)))
        return primitive(x, y)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = doc
    return compiled_eagerly(2)(function)


less = _ordering("less", lx.lt, "x < y, elementwise.")
less_equal = _ordering("less_equal", lx.le, "x <= y, elementwise.")
greater = _ordering("greater", lx.gt, "x > y, elementwise.")
greater_equal = _ordering("greater_equal", lx.ge, "x >= y, elementwise.")
bitwise_and = _binary("bitwise_and", lx.bitwise_and, doc="x1 & x2 (and of bools).")
bitwise_or = _binary("bitwise_or", lx.bitwise_or, doc="x1 | x2 (or of bools).")
bitwise_xor = _binary("bitwise_xor", lx.bitwise_xor, doc="x1 ^ x2 (xor of bools).")
bitwise_not = _unary("bitwise_not", lx.bitwise_not, doc="~x (not of bools).")
invert = bitwise_not


def _to_bool(x):
    aval = aval_of(x)
    if dt.is_bool(aval.dtype):
        return x
    # jax.numpy's zero here is weak only beside a weak scalar, so only then is the result.
    weak_scalar = aval.weak_type and aval.ndim == 0
    zero = convert(0, aval.dtype, True) if weak_scalar else constant(aval.shape, 0, aval.dtype)
    return lx.ne(x, zero)


def logical_and(x1, x2, /):
    """Whether both are nonzero."""
    x1, x2 = promote_args("logical_and", x1, x2)
    return lx.bitwise_and(_to_bool(x1), _to_bool(x2))


def logical_or(x1, x2, /):
    """Whether either is nonzero."""
    x1, x2 = promote_args("logical_or", x1, x2)
    return lx.bitwise_or(_to_bool(x1), _to_bool(x2))


def logical_xor(x1, x2, /):
    """Whether exactly one is nonzero."""
    x1, x2 = promote_args("logical_xor", x1, x2)
    return lx.bitwise_xor(_to_bool(x1), _to_bool(x2))


def logical_not(x, /):
    """Whether x is zero."""
    (x,) = promote_args("logical_not", x)
    return lx.bitwise_not(_to_bool(x))


# -- selection -------------------------------------------------------------------------------


@compiled_eagerly(3)
def where(condition, x=None, y=None, /, *, size=None, fill_value=None):
    """Elements of `x` where `condition` holds, else of `y` (all three broadcast); with
    `condition` alone, `nonzero(condition, size=size, fill_value=fill_value)`."""
    if x is None and y is None:
        from fgrad.numpy._indexing import where_one  # _indexing imports this module
        return where_one(condition, size=size, fill_value=fill_value)
    if x is None or y is None:
        raise ValueError(at_user_line(
            "fgrad.numpy.where takes either condition alone (the positions where it holds, "
            "like nonzero) or condition, x and y; it got only one of x and y."))
    if size is not None or fill_value is not None:
        raise ValueError(at_user_line(
            "fgrad.numpy.where takes size and fill_value only with condition alone."))
    check_arraylike("where", condition, x, y)
    shape = broadcast_shapes("where", *(aval_of(a).shape for a in (condition, x, y)))
    condition = _to_bool(condition)
    x, y = promote_dtypes(x, y)
    condition, x, y = (broadcast_to_shape(a, shape, "where") for a in (condition, x, y))
    return lx.select_n(condition, y, x)


@compiled_eagerly(3)  # with both bounds: each may vary from call to call
def clip(arr=None, /, min=None, max=None):  # noqa: A002
    """`arr` limited to [min, max]: maximum(min, arr), then minimum(max, arr), as jax.numpy
    does (so min > max gives max, and NaN bounds propagate)."""
    if arr is None:
        raise ValueError(at_user_line("fgrad.numpy.clip needs an array to clip."))
    check_arraylike("clip", arr)
    if any(t is not None and dt.is_complex(aval_of(t).dtype) for t in (arr, min, max)):
        raise ValueError(at_user_line(
            "fgrad.numpy.clip: complex numbers have no order, so they cannot be clipped. "
            "Clip the real or imaginary part (fgrad.numpy.real / imag) instead."))
    if min is not None:
        arr = maximum(min, arr)
    if max is not None:
        arr = minimum(max, arr)
    return as_array(arr, "clip")


# -- constants shaped like an operand ---------------------------------------------------------


def _const(x, value):
    """`value` in x's dtype and shape, weakly typed only beside a weakly typed scalar: the
    constants jax.numpy's functions multiply by (JAX's `lax._const`), so results get its
    weak types."""
    aval = aval_of(x)
    if aval.weak_type and aval.shape == ():
        return convert(value, aval.dtype, True)
    return constant(aval.shape, value, aval.dtype)


def _full_like(x, value):
    """`value` in x's dtype and shape, weakly typed when x is (JAX's `lax.full_like`)."""
    aval = aval_of(x)
    return ls.full(aval.shape, value, aval.dtype, weak_type=aval.weak_type)


def _reject_complex(name: str, x, error=TypeError) -> None:
    if dt.is_complex(aval_of(x).dtype):
        raise error(at_user_line(f"fgrad.numpy.{name} does not support complex numbers."))


# -- inverse hyperbolic functions and the array API's names ----------------------------------

arcsinh = _unary("arcsinh", lx.asinh, "inexact", "The inverse hyperbolic sine.")
arctanh = _unary("arctanh", lx.atanh, "inexact", "The inverse hyperbolic tangent.")


def arccosh(x, /):
    """The inverse hyperbolic cosine (NumPy's branch for complex x)."""
    (x,) = promote_args("arccosh", x, kind="inexact")
    result = lx.acosh(x)
    if dt.is_complex(aval_of(result).dtype):
        # NumPy's branch: the result with a non-negative real part.
        result = where(less(lx.real(result), 0), lx.neg(result), result)
    return result


acos, asin, atan, atan2 = arccos, arcsin, arctan, arctan2
acosh, asinh, atanh = arccosh, arcsinh, arctanh

# -- exponentials, logarithms and powers -----------------------------------------------------

cbrt = _unary("cbrt", lx.cbrt, "inexact", "The real cube root.")
exp2 = _unary("exp2", lx.exp2, "inexact", "2**x.")


def _log_base(name: str, scale_of, doc: str):
    """log(x) times 1/log(base); a complex logarithm scales both of its parts."""
    def function(x, /):
        (x,) = promote_args(name, x, kind="inexact")
        r = lx.log(x)
        if dt.is_complex(aval_of(x).dtype):
            re, im = lx.real(r), lx.imag(r)
            return lx.complex(scale_of(re), scale_of(im))
        return scale_of(r)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = doc
    return compiled_eagerly(1)(function)


def _over_log2(r):
    # Divided by log(2) computed in r's dtype, as jax.numpy does (not multiplied by 1/log 2).
    aval = aval_of(r)
    return lx.div(r, lx.log(constant(aval.shape, 2, aval.dtype)))


def _times_log10_e(r):
    aval = aval_of(r)
    return lx.mul(r, constant(aval.shape, 0.4342944819032518, aval.dtype))  # 1 / log(10)


log2 = _log_base("log2", _over_log2, "The base-2 logarithm.")
log10 = _log_base("log10", _times_log10_e, "The base-10 logarithm.")


def _replace_inf(x):
    """x with +inf (in the real part) replaced by 0: keeps exp(x - out) finite in the
    derivative of logaddexp when both operands are +inf."""
    re = lx.real(x) if dt.is_complex(aval_of(x).dtype) else x
    return lx.select_n(lx.eq(re, _const(re, np.inf)), x, _full_like(x, 0))


def _wrap_between(x, a: float):
    """x wrapped into [-a, a)."""
    two_a = _const(x, 2 * a)
    rem = lx.rem(lx.add(x, _const(x, a)), two_a)
    rem = lx.select_n(lx.lt(rem, _const(x, 0)), rem, lx.add(rem, two_a))
    return lx.sub(rem, _const(x, a))


def _log_add(exp_fn, log1p_scale, period: float):
    """log_b(b**x1 + b**x2) without overflow: the larger operand plus the log of one plus
    b to the (non-positive) difference; NaN differences (infinities of one sign, NaNs) give
    x1 + x2, and a complex result's imaginary part is wrapped into one period."""
    def function(x1, x2):
        amax = lx.max(x1, x2)
        if dt.is_float(aval_of(x1).dtype):
            delta = lx.sub(x1, x2)
            return lx.select_n(_is_nan(delta),
                               lx.add(amax, log1p_scale(lx.log1p(exp_fn(lx.neg(lx.abs(delta)))))),
                               lx.add(x1, x2))
        delta = lx.sub(lx.add(x1, x2), lx.mul(amax, _const(amax, 2)))
        out = lx.add(amax, log1p_scale(lx.log1p(exp_fn(delta))))
        return lx.complex(lx.real(out), _wrap_between(lx.imag(out), period))
    return function


# The derivative is exp(x_i - out), as JAX's custom rule gives it: differentiating the stable
# form instead would split a tie x1 == x2 wrongly (max and abs both have kinks there).
_logaddexp = custom_jvp(_log_add(lx.exp, lambda v: v, np.pi))
_logaddexp2 = custom_jvp(_log_add(
    lx.exp2, lambda v: lx.mul(_const(v, 1 / np.log(2)), v), np.pi / np.log(2)))


def _log_add_rule(function, exp_fn):
    def rule(primals, tangents):
        (x1, x2), (t1, t2) = primals, tangents
        out = function(x1, x2)
        return out, lx.add(lx.mul(t1, exp_fn(lx.sub(_replace_inf(x1), _replace_inf(out)))),
                           lx.mul(t2, exp_fn(lx.sub(_replace_inf(x2), _replace_inf(out)))))
    return rule


_logaddexp.defjvp(_log_add_rule(_logaddexp, lx.exp))
_logaddexp2.defjvp(_log_add_rule(_logaddexp2, lx.exp2))


@compiled_eagerly(2)
def logaddexp(x1, x2, /):
    """log(exp(x1) + exp(x2)), computed without overflow."""
    return _logaddexp(*promote_args("logaddexp", x1, x2, kind="inexact"))


def logaddexp2(x1, x2, /):
    """log2(2**x1 + 2**x2), computed without overflow."""
    return _logaddexp2(*promote_args("logaddexp2", x1, x2, kind="inexact"))


float_power = _binary("float_power", lx.pow, "inexact", "x**y in floating point.",
                      names=("x", "y"))


@compiled_eagerly(1)
def reciprocal(x, /):
    """1 / x in floating point."""
    (x,) = promote_dtypes(as_array(x, "reciprocal"), kind="inexact")
    return lx.integer_pow(x, -1)


# -- angles and special functions ------------------------------------------------------------


def deg2rad(x, /):
    """Degrees in radians."""
    (x,) = promote_args("deg2rad", x, kind="inexact")
    return lx.mul(x, _const(x, np.pi / 180))


def rad2deg(x, /):
    """Radians in degrees."""
    (x,) = promote_args("rad2deg", x, kind="inexact")
    return lx.mul(x, _const(x, 180 / np.pi))


radians, degrees = deg2rad, rad2deg


def hypot(x1, x2, /):
    """sqrt(x1**2 + x2**2) without overflow: the larger magnitude times
    sqrt(1 + (smaller / larger)**2)."""
    x1, x2 = promote_args("hypot", x1, x2, kind="inexact")
    _reject_complex("hypot", x1, ValueError)
    x1, x2 = lx.abs(x1), lx.abs(x2)
    infinite = logical_or(isposinf(x1), isposinf(x2))
    x1, x2 = maximum(x1, x2), minimum(x1, x2)
    x1_is_0 = equal(x1, 0)
    ratio = lx.div(x2, where(x1_is_0, _full_like(x1, 1), x1))
    x = where(x1_is_0, x1, multiply(x1, lx.sqrt(add(1, square(ratio)))))
    return where(infinite, _const(x, np.inf), x)


def sinc(x, /):
    """sin(pi x) / (pi x), and 1 at 0 with every derivative there exact."""
    (x,) = promote_dtypes(as_array(x, "sinc"), kind="inexact")
    at_zero = lx.eq(x, _const(x, 0))
    pi_x = lx.mul(_const(x, np.pi), x)
    safe_pi_x = where(at_zero, _const(x, 1), pi_x)
    return where(at_zero, _sinc_maclaurin(0, pi_x), lx.div(lx.sin(safe_pi_x), safe_pi_x))


@functools.partial(custom_jvp, nondiff_argnums=(0,))
def _sinc_maclaurin(k: int, x):
    """The k-th derivative of sin(x)/x at 0, shaped like x, whose derivative is the next
    one: so the derivatives of sinc at 0 come out exact at every order (as JAX's)."""
    if k % 2:
        return multiply(x, 0)
    return add(multiply(x, 0), _const(x, (-1) ** (k // 2) / (k + 1)))


@_sinc_maclaurin.defjvp
def _sinc_maclaurin_jvp(k: int, primals, tangents):
    (x,), (t,) = primals, tangents
    return _sinc_maclaurin(k, x), multiply(_sinc_maclaurin(k + 1, x), t)


def i0(x):
    """The modified Bessel function of the first kind, of order 0."""
    (x,) = promote_args("i0", x, kind="inexact")
    if not dt.is_float(aval_of(x).dtype):
        raise ValueError(at_user_line(
            f"fgrad.numpy.i0 supports real numbers, not {aval_of(x).dtype.name}."))
    # exp(|x|) i0e(|x|). |x| is taken as the constant 0 at 0, so the derivative there is 0
    # (i0 is even) at every order, where abs's kink would give 1: JAX's custom rule says 0.
    magnitude = where(lx.eq(x, _const(x, 0)), _full_like(x, 0), lx.abs(x))
    return lx.mul(lx.exp(magnitude), lx.bessel_i0e(magnitude))


# -- signs and the bits of floats ------------------------------------------------------------

_SIGNED_OF_WIDTH = {2: np.int16, 4: np.int32, 8: np.int64}


def fabs(x, /):
    """|x| of real numbers, as floats."""
    check_arraylike("fabs", x)
    _reject_complex("fabs", x)
    (x,) = promote_args("fabs", x, kind="inexact")
    return lx.abs(x)


def signbit(x, /):
    """Whether the sign bit is set: True for -0.0 and negative NaNs too."""
    (x,) = promote_args("signbit", x)
    dtype = aval_of(x).dtype
    if dt.is_integer(dtype):
        return lx.lt(x, constant(aval_of(x).shape, 0, dtype))
    if dt.is_bool(dtype):
        return ls.full(aval_of(x).shape, False, np.dtype(np.bool_))
    if not dt.is_float(dtype):
        raise ValueError(at_user_line(
            f"fgrad.numpy.signbit is not defined for {dtype.name}."))
    if dtype.itemsize not in _SIGNED_OF_WIDTH:
        raise NotImplementedError(at_user_line(
            f"fgrad.numpy.signbit supports 16-, 32- and 64-bit floats, not {dtype.name}."))
    bits = lx.bitcast_convert_type(x, _SIGNED_OF_WIDTH[dtype.itemsize])
    # An arithmetic shift by all but the sign bit leaves -1 or 0.
    return lx.convert_element_type(right_shift(bits, dtype.itemsize * 8 - 1), np.bool_)


def copysign(x1, x2, /):
    """|x1| with the sign (bit) of x2."""
    x1, x2 = promote_args("copysign", x1, x2, kind="inexact")
    _reject_complex("copysign", x1)
    magnitude = lx.abs(x1)
    return where(signbit(x2), lx.neg(magnitude), magnitude)


nextafter = _binary("nextafter", lx.nextafter, "inexact",
                    "The next float after x in the direction of y.", names=("x", "y"))


def spacing(x, /):
    """The distance from x to the next float away from zero (NumPy's rule)."""
    (x,) = promote_args("spacing", x, kind="inexact")
    _reject_complex("spacing", x, ValueError)
    dtype = aval_of(x).dtype
    inf = _const(x, np.inf)
    if dtype == np.float16:
        return subtract(lx.nextafter(x, inf), x)
    result = subtract(nextafter(x, copysign(inf, x)), x)
    smallest = finfo(dtype).smallest_subnormal
    return where(equal(result, 0), copysign(smallest, x), result)


def heaviside(x1, x2, /):
    """0 where x1 < 0, 1 where x1 > 0, and x2 where x1 is 0."""
    check_arraylike("heaviside", x1, x2)
    x1, x2 = promote_dtypes(x1, x2, kind="inexact")
    zero = _const(x1, 0)
    return where(lx.lt(x1, zero), zero,
                 where(lx.gt(x1, zero), _const(x1, 1), where(_is_nan(x1), x1, x2)))


def _is_signed_infinity(name: str, infinity: float, doc: str):
    def function(x, /, out=None):
        check_arraylike(name, x)
        if out is not None:
            raise NotImplementedError(at_user_line(
                f"fgrad.numpy.{name} does not support `out`: arrays are immutable, use the "
                f"result."))
        aval = aval_of(x)
        if dt.is_float(aval.dtype):
            return lx.eq(x, constant(aval.shape, infinity, aval.dtype))
        if dt.is_complex(aval.dtype):
            raise ValueError(at_user_line(
                f"fgrad.numpy.{name} is not defined for complex numbers (which infinity?)."))
        return ls.full(aval.shape, False, np.dtype(np.bool_))

    function.__name__ = function.__qualname__ = name
    function.__doc__ = doc
    return compiled_eagerly(1)(function)


isposinf = _is_signed_infinity("isposinf", np.inf, "Whether x is +inf.")
isneginf = _is_signed_infinity("isneginf", -np.inf, "Whether x is -inf.")


def nan_to_num(x, copy: bool = True, nan=0.0, posinf=None, neginf=None):
    """x with NaN replaced by `nan` and infinities by `posinf` / `neginf` (by default the
    largest and smallest finite floats); complex numbers part by part."""
    del copy  # arrays are immutable
    x = as_array(x, "nan_to_num")
    dtype = aval_of(x).dtype
    if not dt.is_inexact(dtype):
        return x
    if dt.is_complex(dtype):
        return lx.complex(nan_to_num(lx.real(x), nan=nan, posinf=posinf, neginf=neginf),
                          nan_to_num(lx.imag(x), nan=nan, posinf=posinf, neginf=neginf))
    info = finfo(dtype)
    posinf = info.max if posinf is None else posinf
    neginf = info.min if neginf is None else neginf
    out = where(isnan(x), convert(nan, dtype), x)
    out = where(isposinf(out), convert(posinf, dtype), out)
    return where(isneginf(out), convert(neginf, dtype), out)


# -- frexp and ldexp: floats as mantissa and exponent ----------------------------------------


@custom_jvp
def _frexp(x):
    # JAX's algorithm on the bits, with one change: a subnormal x is scaled up to a normal
    # number from its integer mantissa, not by a float multiplication, and zero is recognised
    # in the bits, because XLA's CPU kernels may treat subnormal floats as zero (an eager
    # x * 2**23 or x == 0 sees 0 for x = 1e-40; a fused program may not).
    dtype = aval_of(x).dtype
    info, int_type = finfo(dtype), _SIGNED_OF_WIDTH[dtype.itemsize]
    mask = (1 << info.nexp) - 1
    bias = 1 - info.minexp
    bits = lx.bitcast_convert_type(x, int_type)
    subnormal = equal(bitwise_and(right_shift(bits, info.nmant), mask), 0)  # or zero
    fraction = bitwise_and(bits, (1 << info.nmant) - 1)
    # m 2^(minexp - nmant) is 2^nmant times the normal number m 2^minexp (0 for m = 0).
    scaled = copysign(lx.mul(lx.convert_element_type(fraction, dtype), _const(x, info.tiny)), x)
    bits = where(subnormal, lx.bitcast_convert_type(scaled, int_type), bits)
    exponent = where(subnormal, int_type(-info.nmant), int_type(0))
    exponent = add(exponent, subtract(bitwise_and(right_shift(bits, info.nmant), mask),
                                      bias - 1))
    # Keep sign and mantissa; set the exponent field to that of [0.5, 1).
    bits = bitwise_or(bitwise_and(bits, ~(mask << info.nmant)), (bias - 1) << info.nmant)
    mantissa = lx.bitcast_convert_type(bits, dtype)
    zero = logical_and(subnormal, equal(fraction, 0))
    special = logical_or(logical_or(isinf(x), isnan(x)), zero)
    exponent = where(special, 0, exponent)
    return where(special, x, mantissa), lx.convert_element_type(exponent, np.int32)


@_frexp.defjvp
def _frexp_jvp(primals, tangents):
    # x = m 2^e with e piecewise constant: dm = dx 2^-e (JAX's rule).
    (x,), (t,) = primals, tangents
    m, e = _frexp(x)
    scale = lx.exp2(lx.neg(lx.convert_element_type(e, aval_of(t).dtype)))
    return (m, e), (lx.mul(t, scale), np.zeros(aval_of(e).shape, float0))


def frexp(x, /):
    """The mantissa in [0.5, 1) (or 0, inf, NaN as x) and the int32 exponent with
    x = mantissa * 2**exponent."""
    check_arraylike("frexp", x)
    (x,) = promote_dtypes(x, kind="inexact")
    _reject_complex("frexp", x)
    return _frexp(as_array(x, "frexp"))


def ldexp(x1, x2, /):
    """x1 * 2**x2, for an integer x2, without overflow on the way."""
    check_arraylike("ldexp", x1, x2)
    d1, d2 = aval_of(x1).dtype, aval_of(x2).dtype
    if dt.is_complex(d1) or dt.is_inexact(d2):
        raise ValueError(at_user_line(
            f"fgrad.numpy.ldexp takes a real x1 and an integer x2, not {d1.name} and "
            f"{d2.name}."))
    (x1,) = promote_args("ldexp", x1, kind="inexact")
    x2 = lx.convert_element_type(x2, aval_of(x1).dtype)
    # The mantissa and exponent of x1 first: 2**(e1 + x2) may be finite where 2**x2 is not.
    m, e = frexp(x1)
    e = add(lx.convert_element_type(e, aval_of(x2).dtype), x2)
    # The exponent may overflow by one with a finite result: fold one factor 2 into m.
    positive = greater(e, 0)
    m = where(positive, multiply(m, 2), m)
    e = where(positive, subtract(e, 1), e)
    x = multiply(m, power(2, e))
    return where(logical_or(isinf(x1), equal(x1, 0)), x1, x)


# -- rounding towards zero ---------------------------------------------------------------------


def rint(x, /):
    """Rounds to the nearest integer, halves to even; integers become floats."""
    check_arraylike("rint", x)
    dtype = aval_of(x).dtype
    if dt.is_bool(dtype) or dt.is_integer(dtype):
        return lx.convert_element_type(x, dt.default_float())
    if dt.is_complex(dtype):
        return lx.complex(rint(lx.real(x)), rint(lx.imag(x)))
    return lx.round(x, 1)


def trunc(x):
    """Rounds towards zero."""
    check_arraylike("trunc", x)
    dtype = aval_of(x).dtype
    if dt.is_bool(dtype) or dt.is_integer(dtype):
        return as_array(x, "trunc")
    return where(lx.lt(x, _const(x, 0)), ceil(x), floor(x))


def modf(x, /, out=None):
    """The fractional and the whole parts of x, both with x's sign."""
    check_arraylike("modf", x)
    if out is not None:
        raise NotImplementedError(at_user_line(
            "fgrad.numpy.modf does not support `out`: arrays are immutable, use the result."))
    (x,) = promote_dtypes(as_array(x, "modf"), kind="inexact")
    whole = where(lx.ge(x, _full_like(x, 0)), floor(x), ceil(x))
    return subtract(x, whole), whole


# -- remainders, and integers' divisors and multiples ------------------------------------------


def fmod(x1, x2, /):
    """The remainder with the dividend's sign (C's fmod), unlike `remainder`."""
    check_arraylike("fmod", x1, x2)
    if dt.is_integer(dt.promote(aval_of(x1), aval_of(x2))[0]):
        x2 = where(equal(x2, 0), 1, x2)  # no integer division by zero on any backend
    x1, x2 = promote_args("fmod", x1, x2, kind="numeric")
    _reject_complex("fmod", x1)
    return lx.rem(x1, x2)


def gcd(x1, x2):
    """The greatest common divisor of integers (Euclid's algorithm, elementwise)."""
    check_arraylike("gcd", x1, x2)
    x1, x2 = promote_args("gcd", x1, x2)
    if not dt.is_integer(aval_of(x1).dtype):
        raise ValueError(at_user_line("fgrad.numpy.gcd takes integers."))

    def step(pair):
        a, b = pair
        a, b = where(not_equal(b, 0), b, a), where(not_equal(b, 0), lx.rem(a, b), 0)
        return where(less(a, b), b, a), where(less(a, b), a, b)

    def any_left(pair):
        return lr.reduce_max(not_equal(pair[1], 0), tuple(range(aval_of(pair[1]).ndim)))

    return while_loop(any_left, step, (absolute(x1), absolute(x2)))[0]


def lcm(x1, x2):
    """The least common multiple of integers (0 if either is 0)."""
    check_arraylike("lcm", x1, x2)
    x1, x2 = promote_args("lcm", x1, x2)
    if not dt.is_integer(aval_of(x1).dtype):
        raise ValueError(at_user_line("fgrad.numpy.lcm takes integers."))
    x1, x2 = absolute(x1), absolute(x2)
    d = gcd(x1, x2)
    return where(equal(d, 0), _const(d, 0), multiply(x1, floor_divide(x2, d)))


# -- minimum and maximum that ignore NaN -------------------------------------------------------


def fmax(x1, x2):
    """The larger element, ignoring a NaN (NaN only where both are)."""
    return where(logical_or(greater(x1, x2), isnan(x2)), x1, x2)


def fmin(x1, x2):
    """The smaller element, ignoring a NaN (NaN only where both are)."""
    return where(logical_or(less(x1, x2), isnan(x2)), x1, x2)


# -- closeness and equality of whole arrays ----------------------------------------------------


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan: bool = False):
    """|a - b| <= atol + rtol |b| elementwise (infinities only equal to themselves)."""
    a, b = promote_args("isclose", a, b)
    a, b = promote_args("isclose", a, b, kind="inexact")
    real_dtype = dt.real_dtype(aval_of(a).dtype)
    rtol = lx.convert_element_type(rtol, real_dtype)
    atol = lx.convert_element_type(atol, real_dtype)
    in_range = less_equal(lx.abs(lx.sub(a, b)), add(atol, multiply(rtol, lx.abs(b))))
    out = logical_or(lx.eq(a, b), logical_and(isfinite(b), in_range))
    return logical_or(out, logical_and(isnan(a), isnan(b))) if equal_nan else out


def _all(x):
    """Whether every element of the bool array x is True (strongly typed, as jnp.all)."""
    x = convert(x, np.dtype(np.bool_))
    return lr.reduce_min(x, tuple(range(aval_of(x).ndim)))


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan: bool = False):
    """Whether every element of a is close to b's (see `isclose`)."""
    check_arraylike("allclose", a, b)
    return _all(isclose(a, b, rtol, atol, equal_nan))


def array_equal(a1, a2, equal_nan: bool = False):
    """Whether a1 and a2 have one shape and equal elements."""
    a1, a2 = as_array(a1, "array_equal"), as_array(a2, "array_equal")
    if aval_of(a1).shape != aval_of(a2).shape:
        return ls.full((), False, np.dtype(np.bool_))
    eq = equal(a1, a2)
    if equal_nan:
        eq = logical_or(eq, logical_and(isnan(a1), isnan(a2)))
    return _all(eq)


def array_equiv(a1, a2):
    """Whether a1 and a2 broadcast together and are equal everywhere."""
    a1, a2 = as_array(a1, "array_equiv"), as_array(a2, "array_equiv")
    try:
        eq = equal(a1, a2)
    except ShapeDtypeError:  # the shapes do not broadcast together
        return ls.full((), False, np.dtype(np.bool_))
    return _all(eq)


# -- complex numbers ---------------------------------------------------------------------------


def real(val, /):
    """The real part (a real number is its own)."""
    val = as_array(val, "real")
    return lx.real(val) if dt.is_complex(aval_of(val).dtype) else val


def imag(val, /):
    """The imaginary part (0 for a real number)."""
    val = as_array(val, "imag")
    return lx.imag(val) if dt.is_complex(aval_of(val).dtype) else _full_like(val, 0)


def conjugate(x, /):
    """The complex conjugate (a real number is its own)."""
    x = as_array(x, "conjugate")
    return lx.conj(x) if dt.is_complex(aval_of(x).dtype) else x


conj = conjugate


def iscomplex(x):
    """Whether the imaginary part is nonzero, elementwise."""
    i = imag(x)
    return lx.ne(i, _const(i, 0))


def isreal(x):
    """Whether the imaginary part is zero, elementwise."""
    i = imag(x)
    return lx.eq(i, _const(i, 0))


def angle(z, deg: bool = False):
    """The argument of a complex number, in radians (degrees with deg=True)."""
    z = as_array(z, "angle")
    aval = aval_of(z)
    re, im = real(z), imag(z)
    if not dt.is_inexact(aval_of(re).dtype) or (dt.is_float(aval.dtype) and aval.ndim == 0):
        # As jax.numpy: integers, and real scalars, in the default float (strongly typed).
        re = lx.convert_element_type(re, dt.default_float())
        im = lx.convert_element_type(im, dt.default_float())
    result = lx.atan2(im, re)
    return rad2deg(result) if deg else result


# -- bits ----------------------------------------------------------------------------------------

bitwise_invert = invert


def left_shift(x, y, /):
    """x shifted left by y bits."""
    return lx.shift_left(*promote_args("left_shift", x, y, kind="numeric"))


def right_shift(x1, x2, /):
    """x1 shifted right by x2 bits: arithmetic (sign-filling) for signed integers."""
    x1, x2 = promote_args("right_shift", x1, x2, kind="numeric")
    unsigned = np.issubdtype(aval_of(x1).dtype, np.unsignedinteger)
    return (lx.shift_right_logical if unsigned else lx.shift_right_arithmetic)(x1, x2)


bitwise_left_shift, bitwise_right_shift = left_shift, right_shift


def bitwise_count(x, /):
    """How many bits of |x| are set, as uint8."""
    (x,) = promote_args("bitwise_count", x, kind="numeric")
    return lx.convert_element_type(lx.population_count(absolute(x)), np.uint8)


def _bit_order(name: str, bitorder: str) -> None:
    if bitorder not in ("little", "big"):
        raise ValueError(at_user_line(
            f"fgrad.numpy.{name}: bitorder must be 'little' or 'big', not {bitorder!r}."))


def _last_axis(x, axis: int | None, name: str):
    """x with `axis` moved last (x flattened when axis is None), and the permutation that
    moves it back (None: x was flattened)."""
    aval = aval_of(x)
    if axis is None:
        return ls.reshape(x, (aval.size,)), None
    axis = canonical_axis(axis, aval.ndim, name)
    order = [d for d in range(aval.ndim) if d != axis] + [axis]
    back = tuple(int(i) for i in np.argsort(order))
    return ls.transpose(x, order), back


def _bit_weights(bitorder: str, shape: tuple[int, ...]):
    """1, 2, 4, ..., 128 as uint8 along a last axis of 8 (reversed for 'big'), broadcast to
    `shape`."""
    weights = np.left_shift(np.uint8(1), np.arange(8, dtype=np.uint8))
    weights = weights[::-1] if bitorder == "big" else weights
    return ls.broadcast_in_dim(np.ascontiguousarray(weights), shape, (len(shape) - 1,))


def packbits(a, axis: int | None = None, bitorder: str = "big"):
    """Booleans (nonzero elements) along `axis` packed into uint8, eight to a byte."""
    check_arraylike("packbits", a)
    dtype = aval_of(a).dtype
    if not (dt.is_integer(dtype) or dt.is_bool(dtype)):
        raise TypeError(at_user_line(
            f"fgrad.numpy.packbits takes integers or booleans, not {dtype.name}."))
    _bit_order("packbits", bitorder)
    bits = lx.convert_element_type(not_equal(a, 0), np.uint8)
    bits, back = _last_axis(bits, axis, "packbits")
    shape = aval_of(bits).shape
    remainder = shape[-1] % 8
    if remainder:
        bits = ls.pad(bits, np.uint8(0), [(0, 0, 0)] * (len(shape) - 1) + [(0, 8 - remainder, 0)])
    shape = (*shape[:-1], aval_of(bits).shape[-1] // 8, 8)
    bits = ls.reshape(bits, shape)
    # Distinct powers of two sum to at most 255: no overflow in uint8.
    packed = lr.reduce_sum(lx.mul(bits, _bit_weights(bitorder, shape)), (len(shape) - 1,))
    return packed if back is None else ls.transpose(packed, back)


def unpackbits(a, axis: int | None = None, count: int | None = None, bitorder: str = "big"):
    """The bits of uint8 elements along `axis`, eight per byte (the first `count`)."""
    check_arraylike("unpackbits", a)
    if aval_of(a).dtype != np.uint8:
        raise TypeError(at_user_line(
            f"fgrad.numpy.unpackbits takes uint8, not {aval_of(a).dtype.name}."))
    _bit_order("unpackbits", bitorder)
    x, back = _last_axis(as_array(a, "unpackbits"), axis, "unpackbits")
    shape = aval_of(x).shape
    wide = (*shape, 8)
    spread = ls.broadcast_in_dim(x, wide, tuple(range(len(shape))))
    bits = lx.convert_element_type(
        greater(lx.bitwise_and(spread, _bit_weights(bitorder, wide)), 0), np.uint8)
    n = shape[-1] * 8
    bits = ls.reshape(bits, (*shape[:-1], n))
    if count is not None:
        count = operator.index(count)
        if count > n:
            config = [(0, 0, 0)] * (len(shape) - 1) + [(0, count - n, 0)]
            bits = ls.pad(bits, np.uint8(0), config)
        else:
            kept = len(range(n)[:count])  # Python's slice rule: a negative count drops bits
            bits = li.slice(bits, [0] * len(shape), [*shape[:-1], kept])
    return bits if back is None else ls.transpose(bits, back)
