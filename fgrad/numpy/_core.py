"""What every fgrad.numpy function shares: accepting operands, JAX's dtype promotion (with
weakly typed Python scalars), NumPy's broadcasting, and axis arguments.

fgrad.lax primitives neither broadcast nor promote, so fgrad.numpy does both explicitly,
before it binds anything. Values pass through untouched whenever they already have the
right type and shape, so a program only records the conversions a user's code needs.
"""

from __future__ import annotations

import operator
import warnings

import numpy as np

from fgrad.core import Tracer, aval_of, current_trace
from fgrad.core import dtypes as dt
from fgrad.core.errors import ShapeDtypeError, at_user_line
from fgrad.core.ir import Aval
from fgrad.lax import elementwise as lx
from fgrad.lax import shapes as ls

_PYTHON_SCALARS = (bool, int, float, complex)


def is_arraylike(x) -> bool:
    """True for what fgrad.numpy functions accept as an array: fgrad tracers, JAX arrays and
    tracers, NumPy arrays and scalars, and Python scalars (not lists: JAX refuses them too)."""
    if isinstance(x, Tracer) or type(x) in _PYTHON_SCALARS:
        return True
    if isinstance(x, (np.ndarray, np.generic)):
        return x.dtype.kind in "biufc" or x.dtype == dt.bfloat16
    return hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, type)


def check_arraylike(name: str, *args, namespace: str = "fgrad.numpy") -> None:
    for position, x in enumerate(args):
        if not is_arraylike(x):
            hint = (" Convert a list or tuple with fgrad.numpy.array first."
                    if isinstance(x, (list, tuple)) else "")
            raise TypeError(at_user_line(
                f"{namespace}.{name} requires arrays or scalars, but argument {position} is a "
                f"{type(x).__name__}.{hint}"))


def as_array(x, name: str = "asarray"):
    """`x` as an fgrad or JAX array (a tracer inside a trace), keeping its dtype and weak type.

    Functions that would return their argument unchanged call this, so they never hand back
    a Python scalar or a NumPy array.
    """
    check_arraylike(name, x)
    if isinstance(x, Tracer):
        return x
    aval = aval_of(x)
    if not isinstance(x, (np.ndarray, np.generic)) and type(x) not in _PYTHON_SCALARS:
        # A JAX array or a JAX tracer. Inside an fgrad trace it becomes a value of the
        # trace, so that `fnp.asarray(y).at[0].set(x)` uses fgrad's methods.
        return current_trace().capture(x)
    return lx.convert_element_type(x, aval.dtype, weak_type=aval.weak_type)


# -- dtypes ----------------------------------------------------------------------------------


def user_dtype(dtype, name: str = "") -> np.dtype | None:
    """A dtype a user names, in the form JAX would use: Python's types mean the defaults,
    and 64-bit types become 32-bit ones unless x64 is enabled (with JAX's warning)."""
    if dtype is None:
        return None
    requested = ls.user_dtype(dtype)
    canonical = dt.canonicalize(requested)
    if canonical != requested and not any(dtype is t for t in (int, float, complex)):
        warnings.warn(
            f"Explicitly requested dtype {requested.name} requested in fgrad.numpy.{name} is "
            f"not available, and will be truncated to dtype {canonical.name}. To enable more "
            f"dtypes, set the jax_enable_x64 configuration option.", UserWarning, stacklevel=3)
    return canonical


def to_inexact(dtype: np.dtype) -> np.dtype:
    """The dtype integer and bool values take when they must become floating point (JAX's
    table: bool and integers up to 32 bits become float32, 64-bit integers float64)."""
    if dt.is_inexact(dtype):
        return dtype
    if dtype.itemsize == 8:
        return dt.canonicalize(np.float64)
    return np.dtype(np.float32)


def to_numeric(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.int32) if dt.is_bool(dtype) else dtype


def promote_integer(dtype: np.dtype) -> np.dtype:
    """Sums and products of small integers (and bools) accumulate in the default integer."""
    if dt.is_bool(dtype):
        return dt.default_int()
    if np.issubdtype(dtype, np.unsignedinteger):
        default = dt.canonicalize(np.uint64)
        return default if dtype.itemsize < default.itemsize else dtype
    if np.issubdtype(dtype, np.signedinteger):
        default = dt.default_int()
        return default if dtype.itemsize < default.itemsize else dtype
    return dtype


def upcast_f16(dtype: np.dtype) -> np.dtype:
    """Half-precision floats accumulate in float32."""
    return np.dtype(np.float32) if dtype in (np.float16, dt.bfloat16) else dtype


_WEAK_PYTHON_TYPE = {"b": bool, "i": int, "u": int, "f": float, "c": complex}


def convert(x, dtype: np.dtype, weak_type: bool = False, aval: Aval | None = None):
    """`x` as (dtype, weak_type); no equation when it already is one.

    Python scalars convert in Python (2 -> 2.0, or a NumPy scalar when the target is strong),
    so a program records `x * 2.0` as one multiplication by a literal.
    """
    aval = aval_of(x) if aval is None else aval
    if aval.dtype == dtype and aval.weak_type == weak_type:
        return x
    if type(x) in _PYTHON_SCALARS:
        if weak_type:
            python_type = _WEAK_PYTHON_TYPE.get(dtype.kind)
            if python_type is not None:
                value = python_type(x)
                if aval_of(value).dtype == dtype:
                    return value
        elif not (type(x) is complex and not dt.is_complex(dtype)):
            return dtype.type(x)
    return lx.convert_element_type(x, dtype, weak_type=weak_type)


def promote_dtypes(*args, kind: str | None = None) -> list:
    """JAX's promotion of `args` to one dtype; `kind` 'inexact' or 'numeric' lifts integers
    and bools to floats, or bools to int32, as jax.numpy does for functions that need it."""
    avals = [aval_of(a) for a in args]
    dtype, weak = _promoted(avals, kind)
    return [convert(a, dtype, weak, aval) for a, aval in zip(args, avals)]


def _promoted(avals, kind: str | None) -> tuple[np.dtype, bool]:
    dtype, weak = dt.promote(*avals)
    if kind == "inexact":
        dtype = to_inexact(dtype)
    elif kind == "numeric":
        dtype = to_numeric(dtype)
    return dtype, weak


# -- broadcasting ----------------------------------------------------------------------------


def _shape_text(shapes) -> str:
    return ", ".join(str(tuple(s)) for s in shapes)


def broadcast_shapes(name: str, *shapes) -> tuple[int, ...]:
    """NumPy's broadcast of `shapes`, or a ValueError naming `name` and the shapes."""
    shapes = [tuple(s) for s in shapes]
    if all(s == shapes[0] for s in shapes[1:]):
        return shapes[0]
    ndim = max(len(s) for s in shapes)
    result = []
    for axis in range(-ndim, 0):
        sizes = {s[axis] for s in shapes if len(s) >= -axis}
        other = sizes - {1}
        if len(other) > 1:
            raise ShapeDtypeError(at_user_line(
                f"fgrad.numpy.{name}: shapes {_shape_text(shapes)} cannot be broadcast together: "
                f"axis {axis} has sizes {sorted(other)}. NumPy's rule: aligned from the right, "
                f"each pair of sizes must be equal or one of them 1."))
        result.append(other.pop() if other else 1)
    return tuple(result)


def broadcast_to_shape(x, shape: tuple[int, ...], name: str = "broadcast_to", aval=None):
    """`x` broadcast to `shape` by NumPy's rule (it may only gain leading axes or stretch
    size-1 ones)."""
    aval = aval_of(x) if aval is None else aval
    if aval.shape == shape:
        return x
    lead = len(shape) - aval.ndim
    if lead < 0 or any(n not in (1, m) for n, m in zip(aval.shape, shape[lead:])):
        raise ShapeDtypeError(at_user_line(
            f"fgrad.numpy.{name}: an array of shape {aval.shape} cannot be broadcast to shape "
            f"{tuple(shape)}. NumPy's rule: aligned from the right, each size must equal the "
            f"target's or be 1, and the target cannot have fewer axes."))
    return ls.broadcast_in_dim(x, shape, tuple(range(lead, len(shape))))


def _tracer_and_python_number(args) -> list | None:
    """The operands of `x * 2.0` or `1 - x` (a tracer of a float dtype beside a Python int
    or float) promoted, or None for any other pair. Traced code is full of these, and the
    general path's checks cost as much as the operation: the number takes the tracer's
    dtype (a weak scalar never changes a float's) and becomes a literal, broadcast to the
    tracer's shape as jax.numpy does. Beside a weak tracer it stays a weak Python float,
    which only the default float dtype can be without a conversion."""
    x, y = args
    if type(x) is Tracer:
        tracer, number, first = x, y, True
    else:
        tracer, number, first = y, x, False
    if type(tracer) is not Tracer or (type(number) is not float and type(number) is not int):
        return None
    aval = tracer._var.aval
    if getattr(aval.dtype, "kind", None) != "f":  # a key's dtype has no kind
        return None
    if not aval.weak_type:
        literal = aval.dtype.type(number)  # as the general path converts it
    elif aval.dtype == dt.default_float():
        literal = float(number)
    else:
        return None
    if aval.shape:
        literal = ls.broadcast_in_dim_p.bind1(literal, shape=aval.shape, broadcast_dimensions=())
    return [tracer, literal] if first else [literal, tracer]


def promote_args(name: str, *args, kind: str | None = None) -> list:
    """Checks, promotes and broadcasts the operands of an elementwise function."""
    if type(args[0]) is Tracer:
        # The common case in traced code, first: operands that are tracers of one type
        # (of the kind the function needs) already are what the primitive needs.
        aval = args[0].aval
        if (all(type(a) is Tracer and a.aval == aval for a in args[1:])
                and (kind is None or _promoted((aval,), kind) == (aval.dtype, aval.weak_type))):
            return list(args)
    if len(args) == 2:  # a float tracer keeps its dtype, whatever the kind
        fast = _tracer_and_python_number(args)
        if fast is not None:
            return fast
    check_arraylike(name, *args)
    avals = [aval_of(a) for a in args]
    shape = broadcast_shapes(name, *(a.shape for a in avals))
    dtype, weak = _promoted(avals, kind)
    return [broadcast_to_shape(convert(a, dtype, weak, aval), shape, name, aval)
            for a, aval in zip(args, avals)]


# -- axes and shapes -------------------------------------------------------------------------


def canonical_axis(axis, ndim: int, name: str, namespace: str = "fgrad.numpy",
                   what: str = "axis") -> int:
    """`axis` as an index in [0, ndim); errors name `namespace.name` and the argument."""
    try:
        axis = operator.index(axis)
    except TypeError:
        raise TypeError(at_user_line(
            f"{namespace}.{name}: {what} must be an integer, not {axis!r}.")) from None
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(at_user_line(
            f"{namespace}.{name}: {what} {axis} is out of bounds for an array of dimension "
            f"{ndim}."))
    return axis + ndim if axis < 0 else axis


def canonical_axes(axis, ndim: int, name: str) -> tuple[int, ...]:
    """`axis` (None for all, an int, or a sequence) as sorted non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    axes = tuple(canonical_axis(a, ndim, name) for a in axes)
    if len(set(axes)) != len(axes):
        raise ValueError(at_user_line(f"fgrad.numpy.{name}: repeated axis in {axis!r}."))
    return tuple(sorted(axes))


def int_tuple(value, name: str, what: str = "argument") -> tuple[int, ...]:
    """A static int argument, or a sequence of them, as a tuple of Python ints."""
    try:
        if isinstance(value, (tuple, list)) or (isinstance(value, np.ndarray)
                                                and value.ndim == 1):
            return tuple(operator.index(v) for v in value)
        return (operator.index(value),)
    except TypeError:
        raise TypeError(at_user_line(
            f"fgrad.numpy.{name}: {what} must be an integer or a sequence of integers, not "
            f"{value!r}.")) from None


def is_scalar_argument(value) -> bool:
    """True for a single static argument, False for a sequence (`split(x, 3)` vs
    `split(x, [1, 2])`)."""
    return not (isinstance(value, (tuple, list)) or (isinstance(value, np.ndarray)
                                                     and value.ndim > 0))


def canonical_shape(shape, name: str) -> tuple[int, ...]:
    """A shape argument (an int or a sequence of ints) as a tuple of non-negative ints."""
    dims = int_tuple(shape, name, "a shape")
    if any(d < 0 for d in dims):
        # NumPy raises a ValueError here, JAX a TypeError: ShapeDtypeError is both.
        raise ShapeDtypeError(at_user_line(
            f"fgrad.numpy.{name}: negative dimensions are not allowed (shape {dims})."))
    return dims


# -- constants -------------------------------------------------------------------------------


def constant(shape: tuple[int, ...], value, dtype: np.dtype):
    """A strongly typed constant operand for another primitive: just a literal when `shape`
    is (), else a broadcast literal. Not for handing back to users (it may be a NumPy
    scalar)."""
    return dtype.type(value) if shape == () else ls.full(shape, value, dtype)
