"""What fgrad.nn's functions share: accepting operands, and gradients that JAX defines by
convention where the mathematical derivative has a kink."""

from __future__ import annotations

import fgrad.numpy as fnp
from fgrad.core import aval_of
from fgrad.core import dtypes as dt
from fgrad.core.errors import at_user_line
from fgrad.numpy._core import as_array, check_arraylike, promote_dtypes
from fgrad.transforms.stop_gradient import stop_gradient


def array(name: str, *args):
    """Each argument as an fgrad or JAX array of its own dtype and weak type.

    jax.nn's functions are jitted, so a Python scalar arrives in them as a weakly typed
    array; converting here keeps `x > 0` and friends on fgrad's operations, never Python's.
    """
    check_arraylike(name, *args, namespace="fgrad.nn")
    arrays = [as_array(x, name) for x in args]
    return arrays[0] if len(arrays) == 1 else arrays


def inexact(name: str, x):
    """`x` as an array of a floating-point dtype (jax.numpy's `promote_args_inexact`:
    integers and bools become the default float, weak types are kept)."""
    (x,) = promote_dtypes(array(name, x), kind="inexact")
    return as_array(x, name)


def check_float(name: str, x, what: str) -> None:
    """Refuses complex operands where jax.nn does (with the same TypeError)."""
    dtype = aval_of(x).dtype
    if dt.is_complex(dtype):
        raise TypeError(at_user_line(
            f"fgrad.nn.{name} does not accept dtype {dtype.name} in {what}."))


def gradient_only_where(condition, y):
    """`y`, whose derivative is kept where `condition` holds and is 0 elsewhere.

    JAX gives relu and relu6 custom JVPs of exactly this form (`select(x > 0, g, 0)`), so
    that relu'(0) = 0 rather than the 1/2 that max's tie rule would give. Selecting between
    `y` and its stop_gradient gives the same value everywhere, NaN included, and the same
    derivative, to every order (a comparison has no derivative), with no custom rule.
    """
    return fnp.where(condition, y, stop_gradient(y))


def where_safe(condition, x, fill: float):
    """`x` where `condition` holds and the Python number `fill` elsewhere (x's type kept):
    the operand of a branch of a `where` that is only valid on one side. The branch then
    never sees a value where its derivative is infinite, so reverse mode never multiplies a
    zero cotangent by infinity into NaN (the "double where" trick)."""
    return fnp.where(condition, x, fill)
