"""Activation functions, each jax.nn's formula written with fgrad.numpy, so values, dtypes
and weak types come out as JAX's, and derivatives follow JAX's conventions at kinks: where
jax.nn composes `where`, `maximum` and `clip`, fgrad's rules for those give the same
one-sided or half derivatives; where jax.nn has a custom JVP (relu, relu6, log1mexp), the
same derivative comes from a select (see `_util`); softplus is fgrad.numpy's logaddexp,
whose rule is JAX's.
"""

from __future__ import annotations

import numpy as np

import fgrad.numpy as fnp
from fgrad import lax as fl
from fgrad.core import aval_of
from fgrad.core import dtypes as dt
from fgrad.core.errors import at_user_line
from fgrad.nn._util import array, check_float, gradient_only_where, inexact, where_safe
from fgrad.numpy._core import canonical_axis
from fgrad.numpy._eager import compiled_eagerly

__all__ = [
    "celu", "elu", "gelu", "glu", "hard_sigmoid", "hard_silu", "hard_swish", "hard_tanh",
    "identity", "leaky_relu", "log1mexp", "log_sigmoid", "mish", "relu", "relu6", "selu",
    "sigmoid", "silu", "soft_sign", "softplus", "sparse_plus", "sparse_sigmoid",
    "squareplus", "swish",
]


def identity(x):
    """Returns `x` unchanged (as an array)."""
    return array("identity", x)


# -- rectifiers ------------------------------------------------------------------------------


@compiled_eagerly(1)
def relu(x):
    """max(x, 0), with relu'(0) = 0 as in JAX."""
    x = array("relu", x)
    return gradient_only_where(fnp.greater(x, 0), fnp.maximum(x, 0))


@compiled_eagerly(1)
def relu6(x):
    """min(max(x, 0), 6), with derivative 0 at 0 and at 6 as in JAX."""
    x = array("relu6", x)
    inside = fnp.logical_and(fnp.greater(x, 0), fnp.less(x, 6))
    return gradient_only_where(inside, fnp.minimum(fnp.maximum(x, 0), 6.0))


@compiled_eagerly(1)
def leaky_relu(x, negative_slope=1e-2):
    """x where x >= 0, else negative_slope * x."""
    x = array("leaky_relu", x)
    return fnp.where(fnp.greater_equal(x, 0), x, fnp.multiply(negative_slope, x))


@compiled_eagerly(1)
def hard_tanh(x):
    """x clipped to [-1, 1] (derivative 1 at the ends, as in JAX)."""
    x = array("hard_tanh", x)
    return fnp.where(fnp.greater(x, 1), 1, fnp.where(fnp.less(x, -1), -1, x))


@compiled_eagerly(1)
def elu(x, alpha=1.0):
    """x where x > 0, else alpha * (exp(x) - 1)."""
    x = array("elu", x)
    positive = fnp.greater(x, 0)
    return fnp.where(positive, x,
                     fnp.multiply(alpha, fnp.expm1(fnp.where(positive, 0.0, x))))


@compiled_eagerly(1)
def celu(x, alpha=1.0):
    """max(x, 0) + alpha * (exp(min(x, 0) / alpha) - 1)."""
    x = array("celu", x)
    return fnp.add(fnp.maximum(x, 0.0),
                   fnp.multiply(alpha, fnp.expm1(fnp.divide(fnp.minimum(x, 0.0), alpha))))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


@compiled_eagerly(1)
def selu(x):
    """scale * elu(x, alpha) with the self-normalizing constants."""
    return fnp.multiply(_SELU_SCALE, elu(x, _SELU_ALPHA))


# -- sigmoids and their relatives --------------------------------------------------------------


@compiled_eagerly(1)
def sigmoid(x):
    """1 / (1 + exp(-x)) (floating-point inputs only, as lax.logistic)."""
    return fl.logistic(array("sigmoid", x))


@compiled_eagerly(1)
def silu(x):
    """x * sigmoid(x)."""
    x = array("silu", x)
    return fnp.multiply(x, sigmoid(x))


swish = silu


@compiled_eagerly(1)
def softplus(x):
    """log(1 + exp(x)), computed without overflow: logaddexp(x, 0), as in JAX (whose rule
    gives the derivative sigmoid(x), 1/2 at 0)."""
    return fnp.logaddexp(array("softplus", x), 0)


@compiled_eagerly(1)
def log_sigmoid(x):
    """log(sigmoid(x)) = -softplus(-x)."""
    x = array("log_sigmoid", x)
    return fnp.negative(softplus(fnp.negative(x)))


@compiled_eagerly(1)
def soft_sign(x):
    """x / (|x| + 1)."""
    x = array("soft_sign", x)
    return fnp.divide(x, fnp.add(fnp.abs(x), 1))


@compiled_eagerly(1)
def sparse_plus(x):
    """0 for x <= -1, (x + 1)**2 / 4 between, x for x >= 1."""
    x = array("sparse_plus", x)
    return fnp.where(fnp.less_equal(x, -1.0), 0.0,
                     fnp.where(fnp.greater_equal(x, 1.0), x,
                               fnp.divide(fnp.power(fnp.add(x, 1.0), 2), 4)))


@compiled_eagerly(1)
def sparse_sigmoid(x):
    """(x + 1) / 2 clipped to [0, 1]: the derivative of sparse_plus."""
    x = array("sparse_sigmoid", x)
    return fnp.multiply(0.5, fnp.clip(fnp.add(x, 1.0), 0.0, 2.0))


@compiled_eagerly(1)
def hard_sigmoid(x):
    """relu6(x + 3) / 6."""
    x = array("hard_sigmoid", x)
    # Times 1/6 rounded, not divided by 6: XLA rewrites JAX's division by the constant 6
    # into exactly this, so the last bits agree.
    return fnp.multiply(relu6(fnp.add(x, 3.0)), 1 / 6)


@compiled_eagerly(1)
def hard_silu(x):
    """x * hard_sigmoid(x)."""
    x = array("hard_silu", x)
    return fnp.multiply(x, hard_sigmoid(x))


hard_swish = hard_silu


@compiled_eagerly(1)
def squareplus(x, b=4):
    """(x + sqrt(x**2 + b)) / 2."""
    x, b = array("squareplus", x, b)
    return fnp.divide(fnp.add(x, fnp.sqrt(fnp.add(fnp.square(x), b))), 2)


@compiled_eagerly(1)
def mish(x):
    """x * tanh(softplus(x))."""
    x = array("mish", x)
    return fnp.multiply(x, fnp.tanh(softplus(x)))


@compiled_eagerly(1)
def gelu(x, approximate: bool = True):
    """The Gaussian error linear unit x * Phi(x); with `approximate`, its tanh form
    x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x**3)))."""
    x = inexact("gelu", x)
    dtype = aval_of(x).dtype
    if approximate:
        sqrt_2_over_pi = np.sqrt(2 / np.pi).astype(dtype)
        inner = fnp.multiply(sqrt_2_over_pi,
                             fnp.add(x, fnp.multiply(0.044715, fnp.power(x, 3))))
        cdf = fnp.multiply(0.5, fnp.add(1.0, fnp.tanh(inner)))
        return fnp.multiply(x, cdf)
    check_float("gelu", x, "the exact form (erfc is defined for real numbers); pass "
                "approximate=True")
    sqrt_half = np.sqrt(0.5).astype(dtype)
    cdf_times_2 = fl.erfc(fnp.multiply(fnp.negative(x), sqrt_half))
    return fnp.astype(fnp.multiply(fnp.multiply(0.5, x), cdf_times_2), dtype)


@compiled_eagerly(1)
def log1mexp(x):
    """log(1 - exp(-x)) for x >= 0, accurate near 0 and for large x.

    As in JAX: log(-expm1(-x)) below log 2, log1p(-exp(-x)) above. Each branch is fed only
    its own side's values, so the derivative, 1 / expm1(x) (JAX's custom rule), never meets
    a 0 * inf from the branch not taken.
    """
    x = array("log1mexp", x)
    if dt.is_bool(aval_of(x).dtype):
        raise TypeError(at_user_line(
            "fgrad.nn.log1mexp does not accept booleans (JAX's negates them, which it refuses)."))
    x = inexact("log1mexp", x)
    small = fnp.less(x, fnp.log(2.0))
    below = where_safe(small, x, 1.0)
    above = where_safe(fnp.logical_not(small), x, 1.0)
    return fnp.where(small,
                     fnp.log(fnp.negative(fnp.expm1(fnp.negative(below)))),
                     fnp.log1p(fnp.negative(fnp.exp(fnp.negative(above)))))


# -- gating ----------------------------------------------------------------------------------


@compiled_eagerly(1)
def glu(x, axis: int = -1):
    """The gated linear unit: the first half of `x` along `axis` times the sigmoid of the
    second half."""
    x = array("glu", x)
    shape = aval_of(x).shape
    if shape[canonical_axis(axis, len(shape), "glu")] % 2:
        raise AssertionError(at_user_line(
            f"fgrad.nn.glu splits axis {axis} into two halves, so its size must be divisible "
            f"by 2; the array has shape {shape}."))
    first, second = fnp.split(x, 2, axis)
    return fnp.multiply(first, sigmoid(second))
