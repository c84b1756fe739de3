"""Elementwise primitives: arithmetic, transcendental functions, comparisons, logic,
selection and dtype conversion.

Binary primitives take operands of *equal* shape and dtype; fgrad.numpy broadcasts and
promotes before it binds them, so no rule here ever has to undo a broadcast.
"""

from __future__ import annotations

import numpy as np
from jax import lax
from jax._src.lax.lax import _convert_element_type as _jax_convert_element_type

from fgrad.core import Aval, Primitive
from fgrad.core import dtypes as dt
from fgrad.lax._rules import check_dtype, check_same_shapes, elementwise, fail

# -- arithmetic ------------------------------------------------------------------------------

neg_p = elementwise("neg", lax.neg, "number")
add_p = elementwise("add", lax.add, "number", 2)
sub_p = elementwise("sub", lax.sub, "number", 2)
mul_p = elementwise("mul", lax.mul, "number", 2)
div_p = elementwise("div", lax.div, "number", 2)
rem_p = elementwise("rem", lax.rem, "number", 2)
max_p = elementwise("max", lax.max, "any", 2)
min_p = elementwise("min", lax.min, "any", 2)
abs_p = elementwise("abs", lax.abs, "signed", out_dtype=dt.real_dtype)
sign_p = elementwise("sign", lax.sign, "number")
floor_p = elementwise("floor", lax.floor, "float")
ceil_p = elementwise("ceil", lax.ceil, "float")


def _round_lower(x, *, rounding_method):
    return lax.round(x, lax.RoundingMethod(rounding_method))


def _round_abstract_eval(x, *, rounding_method):
    if rounding_method not in (0, 1):
        raise fail("round", [x], f"rounding_method must be 0 (away from zero) or 1 (to "
                   f"nearest even), not {rounding_method!r}")
    check_dtype("round", [x], "float")
    return x


round_p = Primitive("round", _round_abstract_eval, _round_lower)


def _pow_abstract_eval(x, y):
    check_same_shapes("pow", [x, y])
    check_dtype("pow", [x, y], "inexact", [x])
    if not (y.dtype == x.dtype or dt.is_integer(y.dtype)):
        raise fail("pow", [x, y], "the exponent must have the base's dtype or an integer dtype")
    return Aval(x.shape, x.dtype, x.weak_type and y.weak_type)


pow_p = Primitive("pow", _pow_abstract_eval, lax.pow)


def _integer_pow_abstract_eval(x, *, y):
    if not isinstance(y, int):
        raise fail("integer_pow", [x], f"the exponent must be a Python int, not {y!r}")
    check_dtype("integer_pow", [x], "number")
    if y < 0 and dt.is_integer(x.dtype):
        raise fail("integer_pow", [x], f"integers cannot be raised to a negative power ({y})")
    return x


integer_pow_p = Primitive("integer_pow", _integer_pow_abstract_eval, lax.integer_pow)

# -- transcendental --------------------------------------------------------------------------

exp_p = elementwise("exp", lax.exp, "inexact")
log_p = elementwise("log", lax.log, "inexact")
log1p_p = elementwise("log1p", lax.log1p, "inexact")
expm1_p = elementwise("expm1", lax.expm1, "inexact")
sqrt_p = elementwise("sqrt", lax.sqrt, "inexact")
rsqrt_p = elementwise("rsqrt", lax.rsqrt, "inexact")
sin_p = elementwise("sin", lax.sin, "inexact")
cos_p = elementwise("cos", lax.cos, "inexact")
tan_p = elementwise("tan", lax.tan, "inexact")
tanh_p = elementwise("tanh", lax.tanh, "inexact")
asin_p = elementwise("asin", lax.asin, "inexact")
acos_p = elementwise("acos", lax.acos, "inexact")
atan_p = elementwise("atan", lax.atan, "inexact")
sinh_p = elementwise("sinh", lax.sinh, "inexact")
cosh_p = elementwise("cosh", lax.cosh, "inexact")
logistic_p = elementwise("logistic", lax.logistic, "inexact")
erf_p = elementwise("erf", lax.erf, "float")
atan2_p = elementwise("atan2", lax.atan2, "float", 2)
is_finite_p = elementwise("is_finite", lax.is_finite, "float", out_dtype=lambda d: np.bool_)

# -- comparisons and logic -------------------------------------------------------------------


def _comparison(name, lower, kind):
    return elementwise(name, lower, kind, 2, out_dtype=lambda d: np.bool_)


eq_p = _comparison("eq", lax.eq, "any")
ne_p = _comparison("ne", lax.ne, "any")
lt_p = _comparison("lt", lax.lt, "ordered")
le_p = _comparison("le", lax.le, "ordered")
gt_p = _comparison("gt", lax.gt, "ordered")
ge_p = _comparison("ge", lax.ge, "ordered")
and_p = elementwise("and", lax.bitwise_and, "int_or_bool", 2)
or_p = elementwise("or", lax.bitwise_or, "int_or_bool", 2)
xor_p = elementwise("xor", lax.bitwise_xor, "int_or_bool", 2)
not_p = elementwise("not", lax.bitwise_not, "int_or_bool")

# -- selection -------------------------------------------------------------------------------


def _select_n_abstract_eval(which, *cases):
    avals = [which, *cases]
    if not cases:
        raise fail("select_n", avals, "at least one case is needed")
    check_same_shapes("select_n", avals)
    if not (dt.is_bool(which.dtype) or which.dtype == np.int32):
        raise fail("select_n", avals, f"the selector must be bool or int32, not "
                   f"{which.dtype.name}")
    if dt.is_bool(which.dtype) and len(cases) > 2:
        raise fail("select_n", avals, "a bool selector chooses between at most two cases")
    dtype = cases[0].dtype
    if any(c.dtype != dtype for c in cases):
        raise fail("select_n", avals, "the cases' dtypes differ")
    return Aval(which.shape, dtype, all(c.weak_type for c in cases))


select_n_p = Primitive("select_n", _select_n_abstract_eval, lax.select_n)


def _clamp_abstract_eval(lo, x, hi):
    avals = [lo, x, hi]
    check_same_shapes("clamp", avals)
    if lo.dtype != x.dtype or hi.dtype != x.dtype:
        raise fail("clamp", avals, "the bounds must have the operand's dtype")
    check_dtype("clamp", avals, "ordered")
    return Aval(x.shape, x.dtype, all(a.weak_type for a in avals))


clamp_p = Primitive("clamp", _clamp_abstract_eval, lax.clamp)

# -- dtype conversion ------------------------------------------------------------------------


def _convert_abstract_eval(x, *, new_dtype, weak_type):
    if np.dtype(new_dtype) != dt.canonicalize(new_dtype):
        raise fail("convert_element_type", [x], f"{np.dtype(new_dtype).name} is not available "
                   f"(enable it with jax.config.update('jax_enable_x64', True))")
    return Aval(x.shape, np.dtype(new_dtype), weak_type)


def _convert_lower(x, *, new_dtype, weak_type):
    return _jax_convert_element_type(x, new_dtype, weak_type=weak_type)


convert_element_type_p = Primitive(
    "convert_element_type", _convert_abstract_eval, _convert_lower)

# -- the functions users call (jax.lax signatures) -------------------------------------------


def neg(x): return neg_p.bind(x)
def add(x, y): return add_p.bind(x, y)
def sub(x, y): return sub_p.bind(x, y)
def mul(x, y): return mul_p.bind(x, y)
def div(x, y): return div_p.bind(x, y)
def rem(x, y): return rem_p.bind(x, y)
def max(x, y): return max_p.bind(x, y)  # noqa: A001 (jax.lax's name)
def min(x, y): return min_p.bind(x, y)  # noqa: A001
def abs(x): return abs_p.bind(x)  # noqa: A001
def sign(x): return sign_p.bind(x)
def floor(x): return floor_p.bind(x)
def ceil(x): return ceil_p.bind(x)
def pow(x, y): return pow_p.bind(x, y)  # noqa: A001
def integer_pow(x, y: int): return integer_pow_p.bind(x, y=int(y))
def exp(x): return exp_p.bind(x)
def log(x): return log_p.bind(x)
def log1p(x): return log1p_p.bind(x)
def expm1(x): return expm1_p.bind(x)
def sqrt(x): return sqrt_p.bind(x)
def rsqrt(x): return rsqrt_p.bind(x)
def sin(x): return sin_p.bind(x)
def cos(x): return cos_p.bind(x)
def tan(x): return tan_p.bind(x)
def tanh(x): return tanh_p.bind(x)
def asin(x): return asin_p.bind(x)
def acos(x): return acos_p.bind(x)
def atan(x): return atan_p.bind(x)
def sinh(x): return sinh_p.bind(x)
def cosh(x): return cosh_p.bind(x)
def logistic(x): return logistic_p.bind(x)
def erf(x): return erf_p.bind(x)
def atan2(x, y): return atan2_p.bind(x, y)
def is_finite(x): return is_finite_p.bind(x)
def eq(x, y): return eq_p.bind(x, y)
def ne(x, y): return ne_p.bind(x, y)
def lt(x, y): return lt_p.bind(x, y)
def le(x, y): return le_p.bind(x, y)
def gt(x, y): return gt_p.bind(x, y)
def ge(x, y): return ge_p.bind(x, y)
def bitwise_and(x, y): return and_p.bind(x, y)
def bitwise_or(x, y): return or_p.bind(x, y)
def bitwise_xor(x, y): return xor_p.bind(x, y)
def bitwise_not(x): return not_p.bind(x)
def select_n(which, *cases): return select_n_p.bind(which, *cases)


def round(x, rounding_method=0):  # noqa: A001
    """Rounds to the nearest integer; 0 rounds halves away from zero, 1 to the nearest even."""
    return round_p.bind(x, rounding_method=int(rounding_method))


def clamp(min, x, max):  # noqa: A002
    """Clamps `x` into [min, max]; scalar (rank-0) bounds are broadcast, as in jax.lax."""
    from fgrad.core import aval_of
    from fgrad.lax.shapes import broadcast_in_dim
    shape = aval_of(x).shape
    min, max = (broadcast_in_dim(b, shape, ()) if aval_of(b).shape == () and shape != () else b
                for b in (min, max))
    return clamp_p.bind(min, x, max)


def convert_element_type(x, new_dtype, weak_type: bool = False):
    return convert_element_type_p.bind(x, new_dtype=np.dtype(new_dtype), weak_type=weak_type)
