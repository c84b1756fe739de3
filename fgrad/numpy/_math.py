"""Elementwise math with NumPy's broadcasting and JAX's type promotion.

Each function checks and promotes its operands (see `_core.promote_args`), then binds the
fgrad.lax primitive; where NumPy's meaning differs from the primitive's (floor division and
remainder round towards minus infinity, `divide` of integers gives floats, `add` of bools is
`or`) it is composed from several primitives exactly as jax.numpy does, so the numbers agree.
"""

from __future__ import annotations

import operator

import numpy as np

from fgrad.core import aval_of
from fgrad.core import dtypes as dt
from fgrad.core.errors import at_user_line
from fgrad.lax import elementwise as lx
from fgrad.lax import shapes as ls
from fgrad.numpy._core import (
    as_array, broadcast_shapes, broadcast_to_shape, check_arraylike, constant, convert,
    promote_args, promote_dtypes,
)

# The public names, gathered by fgrad/numpy/__init__.py.
__all__ = [
    "abs", "absolute", "add", "arccos", "arcsin", "arctan", "arctan2", "around",
    "bitwise_and", "bitwise_not", "bitwise_or", "bitwise_xor", "ceil", "clip", "cos",
    "cosh", "divide", "divmod", "equal", "exp", "expm1", "floor", "floor_divide", "greater",
    "greater_equal", "invert", "isfinite", "isinf", "isnan", "less", "less_equal", "log",
    "log1p", "logical_and", "logical_not", "logical_or", "logical_xor", "maximum",
    "minimum", "mod", "multiply", "neg", "negative", "not_equal", "positive", "power",
    "remainder", "round", "sign", "sin", "sinh", "sqrt", "square", "subtract", "tan",
    "tanh", "true_divide", "where",
]


def _unary(name: str, primitive, kind: str | None = None):
    def function(x, /):
        (x,) = promote_args(name, x, kind=kind)
        return primitive(x)

    function.__name__ = function.__qualname__ = name
    return function


def _binary(name: str, primitive, kind: str | None = None):
    def function(x1, x2, /):
        x1, x2 = promote_args(name, x1, x2, kind=kind)
        return primitive(x1, x2)

    function.__name__ = function.__qualname__ = name
    return function


# -- arithmetic ------------------------------------------------------------------------------

negative = _unary("negative", lx.neg)
neg = negative
subtract = _binary("subtract", lx.sub)
true_divide = _binary("true_divide", lx.div, "inexact")
divide = true_divide
maximum = _binary("maximum", lx.max)
minimum = _binary("minimum", lx.min)
sign = _unary("sign", lx.sign)
arctan2 = _binary("arctan2", lx.atan2, "inexact")


def positive(x, /):
    return as_array(x, "positive")


def add(x1, x2, /):
    x1, x2 = promote_args("add", x1, x2)
    # NumPy adds booleans with `or`.
    return lx.bitwise_or(x1, x2) if dt.is_bool(aval_of(x1).dtype) else lx.add(x1, x2)


def multiply(x1, x2, /):
    x1, x2 = promote_args("multiply", x1, x2)
    return lx.bitwise_and(x1, x2) if dt.is_bool(aval_of(x1).dtype) else lx.mul(x1, x2)


def floor_divide(x1, x2, /):
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


def absolute(x, /):
    check_arraylike("absolute", x)
    dtype = aval_of(x).dtype
    if dt.is_bool(dtype) or np.issubdtype(dtype, np.unsignedinteger):
        return as_array(x, "absolute")
    return lx.abs(x)


abs = absolute  # noqa: A001


def square(x, /):
    (x,) = promote_args("square", x, kind="numeric")
    return lx.integer_pow(x, 2)


# -- rounding --------------------------------------------------------------------------------


def _rounding(name: str, primitive):
    def function(x, /):
        check_arraylike(name, x)
        dtype = aval_of(x).dtype
        if dt.is_integer(dtype) or dt.is_bool(dtype):
            return as_array(x, name)  # already whole
        return primitive(x)

    function.__name__ = function.__qualname__ = name
    return function


floor = _rounding("floor", lx.floor)
ceil = _rounding("ceil", lx.ceil)


def round(a, decimals: int = 0):  # noqa: A001
    """Rounds to `decimals` places, halves to even (NumPy's rule)."""
    check_arraylike("round", a)
    decimals = operator.index(decimals)
    dtype = aval_of(a).dtype
    if dt.is_integer(dtype) or dt.is_bool(dtype):
        if decimals < 0:
            raise ValueError(at_user_line(
                "fgrad.numpy.round of integers supports only decimals >= 0."))
        return as_array(a, "round")
    if decimals == 0:
        return lx.round(a, 1)
    if decimals > np.log10(np.finfo(dtype).max):
        return as_array(a, "round")  # beyond the dtype's precision
    x = lx.convert_element_type(a, np.float32) if dtype == np.float16 else a
    factor = (10.0 ** decimals)
    out = true_divide(lx.round(multiply(x, factor), 1), factor)
    return lx.convert_element_type(out, dtype) if dtype == np.float16 else out


around = round

# -- transcendental --------------------------------------------------------------------------

exp = _unary("exp", lx.exp, "inexact")
log = _unary("log", lx.log, "inexact")
log1p = _unary("log1p", lx.log1p, "inexact")
expm1 = _unary("expm1", lx.expm1, "inexact")
sqrt = _unary("sqrt", lx.sqrt, "inexact")
sin = _unary("sin", lx.sin, "inexact")
cos = _unary("cos", lx.cos, "inexact")
tan = _unary("tan", lx.tan, "inexact")
tanh = _unary("tanh", lx.tanh, "inexact")
arcsin = _unary("arcsin", lx.asin, "inexact")
arccos = _unary("arccos", lx.acos, "inexact")
arctan = _unary("arctan", lx.atan, "inexact")
sinh = _unary("sinh", lx.sinh, "inexact")
cosh = _unary("cosh", lx.cosh, "inexact")


def _float_test(name: str, test, value_for_integers: bool):
    def function(x, /):
        check_arraylike(name, x)
        aval = aval_of(x)
        if dt.is_float(aval.dtype):
            return test(x)
        if dt.is_complex(aval.dtype):
            raise TypeError(at_user_line(f"fgrad.numpy.{name} does not support complex "
                                         f"numbers."))
        return ls.full(aval.shape, value_for_integers, np.dtype(np.bool_))

    function.__name__ = function.__qualname__ = name
    return function


isfinite = _float_test("isfinite", lx.is_finite, True)
isnan = _float_test("isnan", lambda x: lx.ne(x, x), False)


def _is_infinite(x):
    aval = aval_of(x)
    return lx.eq(lx.abs(x), constant(aval.shape, np.inf, aval.dtype))


isinf = _float_test("isinf", _is_infinite, False)

# -- comparisons and logic -------------------------------------------------------------------

equal = _binary("equal", lx.eq)
not_equal = _binary("not_equal", lx.ne)
less = _binary("less", lx.lt)
less_equal = _binary("less_equal", lx.le)
greater = _binary("greater", lx.gt)
greater_equal = _binary("greater_equal", lx.ge)
bitwise_and = _binary("bitwise_and", lx.bitwise_and)
bitwise_or = _binary("bitwise_or", lx.bitwise_or)
bitwise_xor = _binary("bitwise_xor", lx.bitwise_xor)
bitwise_not = _unary("bitwise_not", lx.bitwise_not)
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
    x1, x2 = promote_args("logical_and", x1, x2)
    return lx.bitwise_and(_to_bool(x1), _to_bool(x2))


def logical_or(x1, x2, /):
    x1, x2 = promote_args("logical_or", x1, x2)
    return lx.bitwise_or(_to_bool(x1), _to_bool(x2))


def logical_xor(x1, x2, /):
    x1, x2 = promote_args("logical_xor", x1, x2)
    return lx.bitwise_xor(_to_bool(x1), _to_bool(x2))


def logical_not(x, /):
    (x,) = promote_args("logical_not", x)
    return lx.bitwise_not(_to_bool(x))


# -- selection -------------------------------------------------------------------------------


def where(condition, x=None, y=None, /):
    """Elements of `x` where `condition` holds, else of `y` (all three broadcast)."""
    if x is None or y is None:
        raise ValueError(at_user_line(
            "fgrad.numpy.where needs both x and y: the one-argument form (nonzero) has a "
            "result whose shape depends on the values, which a traced program cannot have."))
    check_arraylike("where", condition, x, y)
    shape = broadcast_shapes("where", *(aval_of(a).shape for a in (condition, x, y)))
    condition = _to_bool(condition)
    x, y = promote_dtypes(x, y)
    condition, x, y = (broadcast_to_shape(a, shape, "where") for a in (condition, x, y))
    return lx.select_n(condition, y, x)


def clip(arr, /, min=None, max=None, *, a_min=None, a_max=None):  # noqa: A002
    """`arr` limited to [min, max]: maximum(min, arr), then minimum(max, arr), as jax.numpy
    does (so min > max gives max, and NaN bounds propagate)."""
    min = a_min if min is None else min
    max = a_max if max is None else max
    check_arraylike("clip", arr)
    if min is not None:
        arr = maximum(min, arr)
    if max is not None:
        arr = minimum(max, arr)
    return as_array(arr, "clip")
