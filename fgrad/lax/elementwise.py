"""Elementwise primitives: arithmetic, transcendental functions, comparisons, logic,
selection and dtype conversion.

Binary primitives take operands of *equal* shape and dtype; fgrad.numpy broadcasts and
promotes before it binds them, so no rule here ever has to undo a broadcast.
"""

from __future__ import annotations

import math

import numpy as np
from jax import lax
from jax.dtypes import finfo

from fgrad.core import Aval, Primitive, Zero, aval_of
from fgrad.core.errors import NotDifferentiableError
from fgrad.core import dtypes as dt
from fgrad.lax._ad import deflinear, defjvp, defjvp_zero, instantiate, is_undefined, zeros
from fgrad.lax._batching import defbatch_elementwise, move_axis
from fgrad.lax._rules import (
    check_available, check_dtype, check_same_shapes, elementwise, fail, operand_when_type_kept,
    sharded_alike,
)
from fgrad.transforms.rules import (
    batch_rules, identity_rules, involutions, jvp_rules, transpose_rules, units,
)
# The sibling families' functions, reached through the package when called: the
# families need each other's (a rule of one emits primitives of another).
from fgrad import lax as fl


def _full_like(x, value):
    """`value` with x's shape and dtype; weakly typed when x is, so that combining it with x
    never changes the result's type."""
    aval = aval_of(x)
    return fl.full(aval.shape, value, aval.dtype, weak_type=aval.weak_type)


def _const(x, value):
    """JAX's `_const(x, value)`: `value` in x's dtype, weakly typed only when x is a weakly
    typed *scalar* (for a weak array JAX makes a strongly typed NumPy constant). JAX's rules
    build their coefficients with it, so the tangents of weak arrays come out strong;
    `_full_like` (JAX's `_zeros` / `_ones` / `full_like`) follows x's weak type at any
    shape."""
    aval = aval_of(x)
    return fl.full(aval.shape, value, aval.dtype, weak_type=aval.weak_type and not aval.shape)


def _replace_zero(x):
    """x with its zeros replaced by ones: keeps a log or a division finite at 0."""
    return select_n(eq(x, _full_like(x, 0)), x, _full_like(x, 1))


def _square(x):
    return integer_pow(x, 2)


def _strong(x):
    """x without its weak type. A few of JAX's rules convert dtypes on the way, which makes
    their tangents strongly typed; converting at the same places keeps our types equal to
    JAX's."""
    aval = aval_of(x)
    return convert_element_type(x, aval.dtype, weak_type=False) if aval.weak_type else x


def _not_linear_in(name, operand):
    return NotDifferentiableError(
        f"{name} is not linear in its {operand}, so it cannot be transposed with respect to "
        f"it (a program multiplying two tangents is not linear)")

# -- arithmetic ------------------------------------------------------------------------------

neg_p = elementwise("neg", lax.neg, "number")
deflinear(neg_p, [0], lambda ct, x: [neg(ct)])
involutions.define(neg_p, True)


def _add_transpose(ct, x, y):
    return [ct if is_undefined(x) else None, ct if is_undefined(y) else None]


add_p = elementwise("add", lax.add, "number", 2)
defjvp(add_p, lambda t, ans, x, y: t, lambda t, ans, x, y: t)
transpose_rules.define(add_p, _add_transpose)
units.define(add_p, (0, True))  # x + 0 = 0 + x = x: the simplifier drops it


def _sub_transpose(ct, x, y):
    return [ct if is_undefined(x) else None, neg(ct) if is_undefined(y) else None]


sub_p = elementwise("sub", lax.sub, "number", 2)
defjvp(sub_p, lambda t, ans, x, y: t, lambda t, ans, x, y: neg(t))
transpose_rules.define(sub_p, _sub_transpose)
units.define(sub_p, (0, False))


def _mul_transpose(ct, x, y):
    # Bilinear: the linear program only ever multiplies a tangent by a primal coefficient.
    if is_undefined(x) and is_undefined(y):
        raise _not_linear_in("mul", "two operands at once")
    if is_undefined(x):
        return [mul(ct, y), None]
    return [None, mul(x, ct)]


mul_p = elementwise("mul", lax.mul, "number", 2)
defjvp(mul_p, lambda t, ans, x, y: mul(t, y), lambda t, ans, x, y: mul(x, t))
transpose_rules.define(mul_p, _mul_transpose)
units.define(mul_p, (1, True))


def _div_jvp_denominator(t, ans, x, y):
    return mul(t, neg(mul(x, integer_pow(y, -2))))


def _div_transpose(ct, x, y):
    if is_undefined(y):
        raise _not_linear_in("div", "denominator")
    return [div(ct, y), None]


div_p = elementwise("div", lax.div, "number", 2)
defjvp(div_p, lambda t, ans, x, y: div(t, y), _div_jvp_denominator)
transpose_rules.define(div_p, _div_transpose)
units.define(div_p, (1, False))


def _rem_jvp_divisor(t, ans, x, y):
    # rem(x, y) = x - y * trunc(x / y), and trunc is piecewise constant.
    quotient = div(x, y)
    return mul(t, neg(mul(sign(quotient), floor(abs(quotient)))))


rem_p = elementwise("rem", lax.rem, "number", 2)
defjvp(rem_p, lambda t, ans, x, y: t, _rem_jvp_divisor)


def _share_of(x, ans, other):
    """How much of the tangent of `x` the result of max/min gets: 1 where x won, 0 where it
    lost, and 1/2 on a tie, so that the two operands split the derivative equally (JAX's
    convention; jnp.maximum(x, 0.) has derivative 0.5 at 0)."""
    zero, one, two = (_full_like(ans, v) for v in (0, 1, 2))
    return div(select_n(eq(x, ans), zero, one), select_n(eq(other, ans), one, two))


max_p = elementwise("max", lax.max, "any", 2)
defjvp(max_p, lambda t, ans, x, y: mul(t, _share_of(x, ans, y)),
       lambda t, ans, x, y: mul(t, _share_of(y, ans, x)))
min_p = elementwise("min", lax.min, "any", 2)
defjvp(min_p, lambda t, ans, x, y: mul(t, _share_of(x, ans, y)),
       lambda t, ans, x, y: mul(t, _share_of(y, ans, x)))


def _abs_jvp(t, ans, x):
    x_aval, ans_aval = aval_of(x), aval_of(ans)
    if dt.is_complex(x_aval.dtype):
        # d|x| = re(conj(x)/|x| * dx). conj(x)/|x| is computed as |x|/x, with x replaced by
        # 1 where it is 0 so the coefficient is 0 there and never divides by zero (a zero
        # division would turn into NaN in higher derivatives). Both conversions are strongly
        # typed, as JAX's are, so the tangent's type matches JAX's.
        magnitude = convert_element_type(ans, x_aval.dtype, weak_type=False)
        safe_x = select_n(eq(ans, _full_like(ans, 0)), x, _full_like(x, 1))
        tangent = mul(t, div(magnitude, safe_x))
        return convert_element_type(tangent, ans_aval.dtype, weak_type=False)
    # x >= 0 takes +t, so abs'(0) = 1 as in JAX.
    return select_n(ge(x, _full_like(x, 0)), neg(t), t)


abs_p = elementwise("abs", lax.abs, "signed", out_dtype=dt.real_dtype)
defjvp(abs_p, _abs_jvp)
sign_p = elementwise("sign", lax.sign, "number")
defjvp_zero(sign_p)
floor_p = elementwise("floor", lax.floor, "float")
defjvp_zero(floor_p)
ceil_p = elementwise("ceil", lax.ceil, "float")
defjvp_zero(ceil_p)


def _round_lower(x, *, rounding_method):
    return lax.round(x, lax.RoundingMethod(rounding_method))


def _round_abstract_eval(x, *, rounding_method):
    if rounding_method not in (0, 1):
        raise fail("round", [x], f"rounding_method must be 0 (away from zero) or 1 (to "
                   f"nearest even), not {rounding_method!r}")
    check_dtype("round", [x], "float")
    return x


round_p = Primitive("round", _round_abstract_eval, _round_lower)
defbatch_elementwise(round_p)
defjvp_zero(round_p)


def _pow_abstract_eval(x, y):
    check_same_shapes("pow", [x, y])
    check_dtype("pow", [x, y], "inexact", [x])
    if not (y.dtype == x.dtype or dt.is_integer(y.dtype)):
        raise fail("pow", [x, y], "the exponent must have the base's dtype or an integer dtype")
    return Aval(x.shape, x.dtype, x.weak_type and y.weak_type)


def _pow_jvp_base(t, ans, x, y):
    x, y_aval = _strong(x), aval_of(y)  # strongly typed like JAX's
    if dt.is_integer(y_aval.dtype):
        # y * x^(y-1), except that x^0 is constant even at x = 0, where 0 * 0^-1 would be NaN.
        # The exponent stays an integer (JAX converts it to a float): x^(y-1) is then exact
        # for negative x, and x^0 is constant, so d2/dx2 x^1 at 0 is 0 where JAX says NaN.
        y_as_x = convert_element_type(y, aval_of(x).dtype, weak_type=False)
        slope = mul(_replace_zero(y_as_x), pow(x, sub(y, _full_like(y, 1))))
        slope = select_n(eq(y, _full_like(y, 0)), slope, _full_like(x, 0))
    else:
        # With a float exponent the derivative at (0, 0) is NaN, as in JAX.
        slope = mul(_strong(y), pow(x, sub(y, _full_like(y, 1))))
    return mul(t, slope)


def _pow_jvp_exponent(t, ans, x, y):
    # d(x^y)/dy = log(x) x^y, taken as 0 at x = 0 (where x^y is 0 or 1 and log(x) is -inf).
    return _strong(mul(t, mul(log(_replace_zero(x)), ans)))


pow_p = Primitive("pow", _pow_abstract_eval, sharded_alike(lax.pow))
defbatch_elementwise(pow_p)
defjvp(pow_p, _pow_jvp_base, _pow_jvp_exponent)


def _integer_pow_abstract_eval(x, *, y):
    if not isinstance(y, int):
        raise fail("integer_pow", [x], f"the exponent must be a Python int, not {y!r}")
    check_dtype("integer_pow", [x], "number")
    if y < 0 and dt.is_integer(x.dtype):
        raise fail("integer_pow", [x], f"integers cannot be raised to a negative power ({y})")
    return x


def _integer_pow_jvp(t, ans, x, *, y):
    # Special-casing y = 0 and y = 1 keeps the derivative finite at x = 0 (no 0 * 0^-1).
    if y == 0:
        return Zero(aval_of(ans))
    if y == 1:
        return t
    power = x if y == 2 else integer_pow(x, y - 1)  # x**1 is x: no equation for it
    return mul(t, mul(_const(x, y), power))


integer_pow_p = Primitive("integer_pow", _integer_pow_abstract_eval, lax.integer_pow)
defbatch_elementwise(integer_pow_p)
defjvp(integer_pow_p, _integer_pow_jvp)
identity_rules.define(integer_pow_p, lambda y: 0 if y == 1 else None)

# -- transcendental --------------------------------------------------------------------------

_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)

exp_p = elementwise("exp", lax.exp, "inexact")
defjvp(exp_p, lambda t, ans, x: mul(t, ans))
log_p = elementwise("log", lax.log, "inexact")
defjvp(log_p, lambda t, ans, x: div(t, x))
log1p_p = elementwise("log1p", lax.log1p, "inexact")
defjvp(log1p_p, lambda t, ans, x: div(t, add(x, _full_like(x, 1))))
expm1_p = elementwise("expm1", lax.expm1, "inexact")
defjvp(expm1_p, lambda t, ans, x: mul(t, add(ans, _full_like(ans, 1))))
sqrt_p = elementwise("sqrt", lax.sqrt, "inexact")
defjvp(sqrt_p, lambda t, ans, x: mul(t, div(_const(x, 0.5), ans)))
rsqrt_p = elementwise("rsqrt", lax.rsqrt, "inexact")
defjvp(rsqrt_p, lambda t, ans, x: mul(t, mul(_const(x, -0.5), div(ans, x))))
sin_p = elementwise("sin", lax.sin, "inexact")
defjvp(sin_p, lambda t, ans, x: mul(t, cos(x)))
cos_p = elementwise("cos", lax.cos, "inexact")
defjvp(cos_p, lambda t, ans, x: mul(t, neg(sin(x))))
tan_p = elementwise("tan", lax.tan, "inexact")
defjvp(tan_p, lambda t, ans, x: mul(t, add(_const(x, 1), _square(ans))))
tanh_p = elementwise("tanh", lax.tanh, "inexact")


def _tanh_jvp(t, ans, x):
    # (1 + ans)(1 - ans) rather than 1 - ans^2: accurate where tanh is close to +-1.
    one = _full_like(ans, 1)
    return mul(t, mul(add(one, ans), sub(one, ans)))


defjvp(tanh_p, _tanh_jvp)
asin_p = elementwise("asin", lax.asin, "inexact")
defjvp(asin_p, lambda t, ans, x: mul(t, rsqrt(sub(_const(x, 1), _square(x)))))
acos_p = elementwise("acos", lax.acos, "inexact")
defjvp(acos_p, lambda t, ans, x: mul(t, neg(rsqrt(sub(_const(x, 1), _square(x))))))
atan_p = elementwise("atan", lax.atan, "inexact")
defjvp(atan_p, lambda t, ans, x: div(t, add(_const(x, 1), _square(x))))
sinh_p = elementwise("sinh", lax.sinh, "inexact")
defjvp(sinh_p, lambda t, ans, x: mul(t, cosh(x)))
cosh_p = elementwise("cosh", lax.cosh, "inexact")
defjvp(cosh_p, lambda t, ans, x: mul(t, sinh(x)))
logistic_p = elementwise("logistic", lax.logistic, "inexact")
defjvp(logistic_p, lambda t, ans, x: mul(t, mul(ans, sub(_full_like(ans, 1), ans))))
erf_p = elementwise("erf", lax.erf, "float")
defjvp(erf_p, lambda t, ans, x: mul(
    t, mul(_const(x, _TWO_OVER_SQRT_PI), exp(neg(_square(x))))))
erfc_p = elementwise("erfc", lax.erfc, "float")
# 1 - erf(x) as its own primitive: keeps relative precision where erfc(x) is tiny (x > 4).
defjvp(erfc_p, lambda t, ans, x: mul(
    t, mul(_const(x, -_TWO_OVER_SQRT_PI), exp(neg(_square(x))))))
erf_inv_p = elementwise("erf_inv", lax.erf_inv, "float")
# erf'(y) = 2/sqrt(pi) exp(-y^2), so the inverse's derivative is sqrt(pi)/2 exp(ans^2).
defjvp(erf_inv_p, lambda t, ans, x: mul(
    t, mul(_const(x, 1 / _TWO_OVER_SQRT_PI), exp(_square(ans)))))
asinh_p = elementwise("asinh", lax.asinh, "inexact")
defjvp(asinh_p, lambda t, ans, x: mul(t, rsqrt(add(_square(x), _full_like(x, 1)))))
acosh_p = elementwise("acosh", lax.acosh, "inexact")
# x^2 - 1 rather than (x + 1)(x - 1), as JAX: the domain is x >= 1, away from the
# cancellation the product would avoid.
defjvp(acosh_p, lambda t, ans, x: mul(t, rsqrt(sub(_square(x), _full_like(x, 1)))))
atanh_p = elementwise("atanh", lax.atanh, "inexact")
defjvp(atanh_p, lambda t, ans, x: mul(integer_pow(add(_full_like(x, 1), x), -1),
                                      div(t, sub(_full_like(x, 1), x))))
cbrt_p = elementwise("cbrt", lax.cbrt, "float")
defjvp(cbrt_p, lambda t, ans, x: mul(t, mul(_const(x, 1 / 3), integer_pow(ans, -2))))
exp2_p = elementwise("exp2", lax.exp2, "inexact")
defjvp(exp2_p, lambda t, ans, x: mul(log(_const(x, 2)), mul(t, ans)))


def _bessel_i1e_jvp(t, ans, x):
    # i1e'(x) = i0e(x) - i1e(x) (sign(x) + 1/x), whose limit at 0 is 1/2: within an epsilon
    # of 0 the formula would divide by (almost) zero, so the limit is used there, as JAX does.
    eps = float(finfo(aval_of(x).dtype).eps)
    not_tiny = gt(abs(x), _full_like(x, eps))
    safe_x = select_n(not_tiny, _full_like(x, eps), x)
    slope = sub(bessel_i0e(safe_x), mul(ans, add(sign(safe_x), integer_pow(safe_x, -1))))
    return mul(t, select_n(not_tiny, _full_like(x, 0.5), slope))


# Exponentially scaled modified Bessel functions: i0e(x) = exp(-|x|) I0(x), and I1 alike.
bessel_i0e_p = elementwise("bessel_i0e", lax.bessel_i0e, "float")
defjvp(bessel_i0e_p, lambda t, ans, x: mul(t, sub(bessel_i1e(x), mul(sign(x), ans))))
bessel_i1e_p = elementwise("bessel_i1e", lax.bessel_i1e, "float")
defjvp(bessel_i1e_p, _bessel_i1e_jvp)


def _atan2_jvp(which):
    def term(t, ans, x, y):
        # atan2(x, y) is the angle of (y, x): its gradient is (y, -x) / (x^2 + y^2).
        numerator = y if which == "x" else neg(x)
        return mul(t, div(numerator, add(_square(x), _square(y))))
    return term


atan2_p = elementwise("atan2", lax.atan2, "inexact", 2)
defjvp(atan2_p, _atan2_jvp("x"), _atan2_jvp("y"))

is_finite_p = elementwise("is_finite", lax.is_finite, "float", out_dtype=lambda d: np.bool_)
jvp_rules.absent(is_finite_p, "its result (bool, integer or key) carries no tangent")
transpose_rules.absent(is_finite_p, "it is not linear in any operand")
# The next representable float after x in the direction of y. No derivative (JAX has none
# either): nudging by one ulp is neither constant nor the identity to a differentiator.
nextafter_p = elementwise("nextafter", lax.nextafter, "float", 2)
jvp_rules.absent(nextafter_p, "a step of one ulp is neither constant nor the identity to a "
                 "differentiator, and JAX defines no derivative either")
transpose_rules.absent(nextafter_p, "it is not linear in any operand")

# -- complex numbers -------------------------------------------------------------------------
# All four are linear over the reals. Their transposes follow JAX's convention for complex
# cotangents (no conjugation: a VJP is the plain transpose), which makes grad of a real
# function of z come out as df/dx - i df/dy.

_COMPLEX_OF = {np.dtype(np.float32): np.dtype(np.complex64),
               np.dtype(np.float64): np.dtype(np.complex128)}


def _complex_part_abstract_eval(name):
    def abstract_eval(x):
        if not dt.is_complex(x.dtype):
            raise fail(name, [x], f"{name} accepts complex numbers, not {x.dtype.name}",
                       "A real number is its own real part, with imaginary part 0.")
        return Aval(x.shape, dt.real_dtype(x.dtype), x.weak_type)
    return abstract_eval


def _complex_part_transpose(part):
    def transpose(ct, x):
        # real: ct -> ct + 0i; imag: ct -> 0 - ct i (JAX's signs: grad of imag(z) is -i).
        zero = zeros(Aval(aval_of(ct).shape, aval_of(ct).dtype, False))
        return [complex(ct, zero) if part == "real" else complex(zero, neg(ct))]
    return transpose


real_p = Primitive("real", _complex_part_abstract_eval("real"), lax.real)
defbatch_elementwise(real_p)
deflinear(real_p, [0], _complex_part_transpose("real"))
imag_p = Primitive("imag", _complex_part_abstract_eval("imag"), lax.imag)
defbatch_elementwise(imag_p)
deflinear(imag_p, [0], _complex_part_transpose("imag"))


def _complex_abstract_eval(x, y):
    check_same_shapes("complex", [x, y])
    if x.dtype not in _COMPLEX_OF or y.dtype != x.dtype:
        raise fail("complex", [x, y], "the real and imaginary parts must both be float32 or "
                   "both float64", "Convert them with fgrad.lax.convert_element_type.")
    return Aval(x.shape, _COMPLEX_OF[x.dtype], x.weak_type and y.weak_type)


def _complex_transpose(ct, x, y):
    return [real(ct) if is_undefined(x) else None,
            imag(neg(ct)) if is_undefined(y) else None]


complex_p = Primitive("complex", _complex_abstract_eval, sharded_alike(lax.complex))
defbatch_elementwise(complex_p)
deflinear(complex_p, [0, 1], _complex_transpose)


def _conj_abstract_eval(x):
    # As jax.lax.conj: a float32 or float64 operand is taken as complex (imaginary part 0).
    if not (dt.is_complex(x.dtype) or x.dtype in _COMPLEX_OF):
        raise fail("conj", [x], f"conj accepts complex, float32 or float64 numbers, not "
                   f"{x.dtype.name}")
    return Aval(x.shape, _COMPLEX_OF.get(x.dtype, x.dtype), x.weak_type)


def _conj_transpose(ct, x):
    # Conjugation is its own transpose; from a real operand, only the real part flows back.
    return [conj(ct) if dt.is_complex(x.aval.dtype) else real(ct)]


conj_p = Primitive("conj", _conj_abstract_eval, lax.conj)
defbatch_elementwise(conj_p)
deflinear(conj_p, [0], _conj_transpose)

# -- comparisons and logic -------------------------------------------------------------------
# Their outputs are bool or integer, which never carry a tangent: no rules needed.


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
jvp_rules.absent(eq_p, "its result (bool, integer or key) carries no tangent")
transpose_rules.absent(eq_p, "it is not linear in any operand")
jvp_rules.absent(ne_p, "its result (bool, integer or key) carries no tangent")
transpose_rules.absent(ne_p, "it is not linear in any operand")
jvp_rules.absent(lt_p, "its result (bool, integer or key) carries no tangent")
transpose_rules.absent(lt_p, "it is not linear in any operand")
jvp_rules.absent(le_p, "its result (bool, integer or key) carries no tangent")
transpose_rules.absent(le_p, "it is not linear in any operand")
jvp_rules.absent(gt_p, "its result (bool, integer or key) carries no tangent")
transpose_rules.absent(gt_p, "it is not linear in any operand")
jvp_rules.absent(ge_p, "its result (bool, integer or key) carries no tangent")
transpose_rules.absent(ge_p, "it is not linear in any operand")
jvp_rules.absent(and_p, "its result (bool, integer or key) carries no tangent")
transpose_rules.absent(and_p, "it is not linear in any operand")
jvp_rules.absent(or_p, "its result (bool, integer or key) carries no tangent")
transpose_rules.absent(or_p, "it is not linear in any operand")
jvp_rules.absent(xor_p, "its result (bool, integer or key) carries no tangent")
transpose_rules.absent(xor_p, "it is not linear in any operand")
jvp_rules.absent(not_p, "its result (bool, integer or key) carries no tangent")
transpose_rules.absent(not_p, "it is not linear in any operand")

# -- bits ------------------------------------------------------------------------------------
# Integer results carry no tangent; bitcast_convert_type reinterprets bits, which is
# piecewise constant to a differentiator (JAX's rule too).

shift_left_p = elementwise("shift_left", lax.shift_left, "integer", 2)
shift_right_arithmetic_p = elementwise(
    "shift_right_arithmetic", lax.shift_right_arithmetic, "integer", 2)
shift_right_logical_p = elementwise("shift_right_logical", lax.shift_right_logical, "integer", 2)
population_count_p = elementwise("population_count", lax.population_count, "integer")
clz_p = elementwise("clz", lax.clz, "integer")
for _prim in (shift_left_p, shift_right_arithmetic_p, shift_right_logical_p,
              population_count_p, clz_p):
    jvp_rules.absent(_prim, "its result (bool, integer or key) carries no tangent")
    transpose_rules.absent(_prim, "it is not linear in any operand")
del _prim


def _bitcast_abstract_eval(x, *, new_dtype):
    old_bits, new_bits = x.dtype.itemsize * 8, new_dtype.itemsize * 8
    check_available("bitcast_convert_type", [x], new_dtype, "new_dtype")
    if x.dtype != new_dtype and any(dt.is_bool(d) or dt.is_complex(d)
                                    for d in (x.dtype, new_dtype)):
        raise fail("bitcast_convert_type", [x], f"bool and complex values can only be "
                   f"bitcast to their own dtype, not from {x.dtype.name} to {new_dtype.name}")
    # No weak type: the bits of a weak value are those of its dtype (JAX strips it too).
    if old_bits == new_bits:
        return Aval(x.shape, new_dtype, False)
    if old_bits > new_bits:
        return Aval((*x.shape, old_bits // new_bits), new_dtype, False)
    if not x.shape or x.shape[-1] * old_bits != new_bits:
        raise fail("bitcast_convert_type", [x], f"{new_bits}-bit values are made of "
                   f"{new_bits // old_bits} {old_bits}-bit ones along the last axis, which "
                   f"has size {x.shape[-1] if x.shape else 'none (rank 0)'}")
    return Aval(x.shape[:-1], new_dtype, False)


def _bitcast_batch(axis_size, values, dims, *, new_dtype):
    # A change of width adds or removes the last axis: keep the batch axis in front of it.
    (x,), (d,) = values, dims
    if aval_of(x).dtype.itemsize != new_dtype.itemsize:
        x, d = move_axis(x, d, 0), 0
    return bitcast_convert_type_p.bind1(x, new_dtype=new_dtype), d


bitcast_convert_type_p = Primitive("bitcast_convert_type", _bitcast_abstract_eval,
                                   lax.bitcast_convert_type)
batch_rules.define(bitcast_convert_type_p, _bitcast_batch)
defjvp_zero(bitcast_convert_type_p)

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


def _select_n_jvp(primals, tangents):
    # Linear in the cases; the selector is an index and never carries a tangent.
    which, *cases = primals
    ans = select_n_p.bind1(which, *cases)
    case_tangents = tangents[1:]
    if all(isinstance(t, Zero) for t in case_tangents):
        return ans, Zero(aval_of(ans))
    return ans, select_n(which, *(instantiate(t) for t in case_tangents))


def _select_n_transpose(ct, which, *cases):
    if is_undefined(which):
        raise _not_linear_in("select_n", "selector")
    zero = zeros(aval_of(ct)) if len(cases) > 1 else None
    return [None] + [
        select_n(which, *(ct if j == i else zero for j in range(len(cases))))
        if is_undefined(case) else None
        for i, case in enumerate(cases)]


select_n_p = Primitive("select_n", _select_n_abstract_eval, sharded_alike(lax.select_n))
defbatch_elementwise(select_n_p)
jvp_rules.define(select_n_p, _select_n_jvp)
transpose_rules.define(select_n_p, _select_n_transpose)


def _clamp_abstract_eval(lo, x, hi):
    avals = [lo, x, hi]
    check_same_shapes("clamp", avals)
    if lo.dtype != x.dtype or hi.dtype != x.dtype:
        raise fail("clamp", avals, "the bounds must have the operand's dtype")
    check_dtype("clamp", avals, "ordered")
    return Aval(x.shape, x.dtype, all(a.weak_type for a in avals))


def _passes_where(condition, t):
    return select_n(condition, zeros(aval_of(t)), t)


# As in JAX, the operand's tangent passes only strictly inside the bounds (so the derivative
# is 0 *at* a bound, unlike jnp.clip's 0.5), and a bound's tangent where that bound is the
# result.
clamp_p = Primitive("clamp", _clamp_abstract_eval, sharded_alike(lax.clamp))
defbatch_elementwise(clamp_p)
defjvp(clamp_p,
       lambda t, ans, lo, x, hi: _passes_where(bitwise_and(gt(lo, x), lt(lo, hi)), t),
       lambda t, ans, lo, x, hi: _passes_where(bitwise_and(gt(x, lo), lt(x, hi)), t),
       lambda t, ans, lo, x, hi: _passes_where(lt(hi, x), t))

# -- dtype conversion ------------------------------------------------------------------------


def _convert_abstract_eval(x, *, new_dtype, weak_type):
    if np.dtype(new_dtype) != dt.canonicalize(new_dtype):
        raise fail("convert_element_type", [x], f"{np.dtype(new_dtype).name} is not available "
                   f"(enable it with jax.config.update('jax_enable_x64', True))")
    return Aval(x.shape, np.dtype(new_dtype), weak_type)


def _convert_lower(x, *, new_dtype, weak_type):
    # Complex -> real keeps the real part, as XLA's conversion does, but silently: it is a
    # legitimate step here (the transpose of real -> complex, and how abs of a complex number
    # gets a real tangent), where JAX's or NumPy's ComplexWarning would fire on ordinary
    # reverse-mode code.
    if dt.is_complex(aval_of(x).dtype) and not dt.is_complex(new_dtype):
        x = lax.real(x)
    return dt.convert_weak(x, new_dtype, weak_type)  # lax's own conversion sets no weak type


def _convert_transpose(ct, x, *, new_dtype, weak_type):
    # Rules only run between float/complex dtypes: an integer or bool side has no tangent.
    # Complex -> real transposes to real -> complex and back, without conjugating.
    return [convert_element_type(ct, x.aval.dtype, weak_type=x.aval.weak_type)]


convert_element_type_p = Primitive(
    "convert_element_type", _convert_abstract_eval, _convert_lower)
defbatch_elementwise(convert_element_type_p)
deflinear(convert_element_type_p, [0], _convert_transpose)
identity_rules.define(convert_element_type_p, operand_when_type_kept)

# -- the functions users call (jax.lax signatures) -------------------------------------------


def neg(x): return neg_p.bind1(x)
def add(x, y): return add_p.bind1(x, y)
def sub(x, y): return sub_p.bind1(x, y)
def mul(x, y): return mul_p.bind1(x, y)
def div(x, y): return div_p.bind1(x, y)
def rem(x, y): return rem_p.bind1(x, y)
def max(x, y): return max_p.bind1(x, y)  # noqa: A001 (jax.lax's name)
def min(x, y): return min_p.bind1(x, y)  # noqa: A001
def abs(x): return abs_p.bind1(x)  # noqa: A001
def sign(x): return sign_p.bind1(x)
def floor(x): return floor_p.bind1(x)
def ceil(x): return ceil_p.bind1(x)
def pow(x, y): return pow_p.bind1(x, y)  # noqa: A001
def integer_pow(x, y: int): return integer_pow_p.bind1(x, y=int(y))
def exp(x): return exp_p.bind1(x)
def log(x): return log_p.bind1(x)
def log1p(x): return log1p_p.bind1(x)
def expm1(x): return expm1_p.bind1(x)
def sqrt(x): return sqrt_p.bind1(x)
def rsqrt(x): return rsqrt_p.bind1(x)
def sin(x): return sin_p.bind1(x)
def cos(x): return cos_p.bind1(x)
def tan(x): return tan_p.bind1(x)
def tanh(x): return tanh_p.bind1(x)
def asin(x): return asin_p.bind1(x)
def acos(x): return acos_p.bind1(x)
def atan(x): return atan_p.bind1(x)
def sinh(x): return sinh_p.bind1(x)
def cosh(x): return cosh_p.bind1(x)
def logistic(x): return logistic_p.bind1(x)
def erf(x): return erf_p.bind1(x)
def erf_inv(x): return erf_inv_p.bind1(x)
def erfc(x): return erfc_p.bind1(x)
def nextafter(x, y): return nextafter_p.bind1(x, y)
def atan2(x, y): return atan2_p.bind1(x, y)
def is_finite(x): return is_finite_p.bind1(x)
def eq(x, y): return eq_p.bind1(x, y)
def ne(x, y): return ne_p.bind1(x, y)
def lt(x, y): return lt_p.bind1(x, y)
def le(x, y): return le_p.bind1(x, y)
def gt(x, y): return gt_p.bind1(x, y)
def ge(x, y): return ge_p.bind1(x, y)
def bitwise_and(x, y): return and_p.bind1(x, y)
def bitwise_or(x, y): return or_p.bind1(x, y)
def bitwise_xor(x, y): return xor_p.bind1(x, y)
def bitwise_not(x): return not_p.bind1(x)
def select_n(which, *cases): return select_n_p.bind1(which, *cases)
def asinh(x): return asinh_p.bind1(x)
def acosh(x): return acosh_p.bind1(x)
def atanh(x): return atanh_p.bind1(x)
def cbrt(x): return cbrt_p.bind1(x)
def exp2(x): return exp2_p.bind1(x)
def bessel_i0e(x): return bessel_i0e_p.bind1(x)
def bessel_i1e(x): return bessel_i1e_p.bind1(x)
def real(x): return real_p.bind1(x)
def imag(x): return imag_p.bind1(x)
def complex(x, y): return complex_p.bind1(x, y)  # noqa: A001 (jax.lax's name)
def conj(x): return conj_p.bind1(x)
def shift_left(x, y): return shift_left_p.bind1(x, y)
def shift_right_arithmetic(x, y): return shift_right_arithmetic_p.bind1(x, y)
def shift_right_logical(x, y): return shift_right_logical_p.bind1(x, y)
def population_count(x): return population_count_p.bind1(x)
def clz(x): return clz_p.bind1(x)


def bitcast_convert_type(operand, new_dtype):
    """The bits of `operand` read as `new_dtype`; a narrower dtype adds a last axis, a wider
    one consumes it (jax.lax's rule)."""
    return bitcast_convert_type_p.bind1(operand, new_dtype=np.dtype(new_dtype))


def round(x, rounding_method=0):  # noqa: A001
    """Rounds to the nearest integer; 0 rounds halves away from zero, 1 to the nearest even."""
    return round_p.bind1(x, rounding_method=int(rounding_method))


def clamp(min, x, max):  # noqa: A002
    """Clamps `x` into [min, max]; scalar (rank-0) bounds are broadcast, as in jax.lax."""
    shape = aval_of(x).shape
    min, max = (fl.broadcast_in_dim(b, shape, ()) if aval_of(b).shape == () and shape != () else b
                for b in (min, max))
    return clamp_p.bind1(min, x, max)


def convert_element_type(x, new_dtype, weak_type: bool = False):
    return convert_element_type_p.bind1(x, new_dtype=np.dtype(new_dtype), weak_type=weak_type)


# -- stop_gradient ---------------------------------------------------------------------------

# Lowered to lax.stop_gradient, not the identity: under jax.grad / jax.hessian wrapped
# around fgrad code, JAX differentiates the lowering, and must see the constant too.
stop_gradient_p = Primitive("stop_gradient", lambda x: x, lax.stop_gradient)
defbatch_elementwise(stop_gradient_p)


def _stop_gradient_jvp(primals, tangents):
    # Re-binding stop_gradient on the primal keeps it constant to *every* enclosing
    # differentiation, not just this one (hessian of stop_gradient(x) * x**2 is 2x, not 6x).
    (x,) = primals
    ans = stop_gradient_p.bind1(x)
    return ans, Zero(aval_of(ans))


jvp_rules.define(stop_gradient_p, _stop_gradient_jvp)
transpose_rules.absent(stop_gradient_p, "its tangent is zero, so it never acts on a tangent "
                       "and no linear program contains it")
