"""dtype utilities: promotion, casting rules and dtype tests, as jax.numpy has them.

Promotion goes through fgrad's own rule (`fgrad.core.dtypes.promote`, the one every
fgrad.numpy function applies), so `result_type(x, y)` is the dtype `x + y` gets. The helpers
jax.numpy takes from NumPy (printing options, `iterable`, `array_repr`, `can_cast`) or from
ml_dtypes (`finfo`, `iinfo`) are the same objects here.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import dtypes as jdt

from fgrad.core import Tracer, aval_of
from fgrad.core import dtypes as dt
from fgrad.core.errors import at_user_line
from fgrad.core.ir import Aval
from fgrad.numpy._core import is_arraylike, user_dtype

# The public names, gathered by fgrad/numpy/__init__.py.
__all__ = [
    "array_repr", "array_str", "can_cast", "finfo", "get_printoptions", "iinfo",
    "iscomplexobj", "isdtype", "isrealobj", "isscalar", "issubdtype", "iterable",
    "printoptions", "promote_types", "result_type", "set_printoptions",
]

# The same objects as jax.numpy's.
finfo, iinfo = jdt.finfo, jdt.iinfo
can_cast = np.can_cast
iterable = np.iterable
array_repr, array_str = np.array_repr, np.array_str
# Printing goes through NumPy, so JAX's aliases of NumPy's print options are ours too.
get_printoptions, set_printoptions, printoptions = (
    jnp.get_printoptions, jnp.set_printoptions, jnp.printoptions)

# Python's scalar types stand for weakly typed values in promotion (JAX's convention).
_WEAK_TYPES = (int, float, complex)


def issubdtype(arg1, arg2) -> bool:
    """Whether dtype `arg1` is `arg2` or below it in NumPy's hierarchy (np.floating, ...),
    knowing the ml_dtypes types (bfloat16 is a floating type)."""
    return jdt.issubdtype(arg1, arg2)


_KINDS = {
    "bool": (np.bool_,), "signed integer": (np.signedinteger,),
    "unsigned integer": (np.unsignedinteger,), "integral": (np.integer,),
    "real floating": (np.floating,), "complex floating": (np.complexfloating,),
    "numeric": (np.integer, np.floating, np.complexfloating),
}


def isdtype(dtype, kind) -> bool:
    """Whether `dtype` is of `kind`: a dtype, a name of a kind ('bool', 'signed integer',
    'unsigned integer', 'integral', 'real floating', 'complex floating', 'numeric'), or a
    tuple of them."""
    dtype = np.dtype(dtype)
    for k in kind if isinstance(kind, tuple) else (kind,):
        if isinstance(k, str) and k in _KINDS:
            if any(jdt.issubdtype(dtype, family) for family in _KINDS[k]):
                return True
            continue
        try:
            if dtype == np.dtype(k):
                return True
        except TypeError:
            if isinstance(k, str):
                raise ValueError(at_user_line(
                    f"fgrad.numpy.isdtype: unknown kind {k!r}; expected a dtype or one of "
                    f"{list(_KINDS)}.")) from None
            raise TypeError(at_user_line(
                f"fgrad.numpy.isdtype: kind must be a dtype, a kind's name or a tuple of "
                f"them, not {k!r}.")) from None
    return False


def _promotion_aval(x) -> Aval:
    """What `x` contributes to promotion: a dtype is strongly typed, Python's int, float and
    complex types are weakly typed (None means the default float), and a value brings its
    own type."""
    if any(x is t for t in _WEAK_TYPES):
        return Aval((), dt.canonicalize(np.dtype(x)), True)
    if x is None:
        return Aval((), dt.default_float(), False)
    if isinstance(x, (np.dtype, type, str)):
        return Aval((), user_dtype(x, "result_type"), False)
    if hasattr(x, "dtype") and not is_arraylike(x):  # a scalar type object (fnp.float32)
        return Aval((), user_dtype(x.dtype, "result_type"), False)
    return aval_of(x)


def result_type(*args: Any) -> np.dtype:
    """The dtype fgrad.numpy's functions give a combination of `args` (values, dtypes, or
    Python's scalar types), as jax.numpy.result_type."""
    if not args:
        raise ValueError(at_user_line(
            "fgrad.numpy.result_type needs at least one array or dtype."))
    dtype, _ = dt.promote(*(_promotion_aval(a) for a in args))
    return dtype


def promote_types(a, b) -> np.dtype:
    """The dtype two values of dtypes `a` and `b` promote to (JAX's lattice, not NumPy's);
    Python's int, float and complex count as weakly typed."""
    if jax.config.jax_enable_x64:
        return result_type(a, b)
    # Unlike result_type, promote_types does not narrow to 32 bits without x64, as in
    # jax.numpy: a weakly typed result is Python's type, whose dtype has 64 bits...
    dtype, weak = dt.promote(_promotion_aval(a), _promotion_aval(b))
    if weak:
        return np.dtype(_WEAK_TYPES[("i", "f", "c").index(dtype.kind)])
    # ... and 64-bit dtypes keep their width (promotion among them is the same with x64).
    strong = [np.dtype(t) for t in (a, b) if not any(t is w for w in _WEAK_TYPES)]
    if any(t.itemsize == 8 or t == np.complex128 for t in strong):
        with jax.enable_x64(True):
            return np.dtype(jdt.result_type(a, b))
    return dtype


def iscomplexobj(x: Any) -> bool:
    """Whether `x` has a complex dtype (its values are not looked at)."""
    if isinstance(x, (complex, np.complexfloating)):
        return True
    if x is None or isinstance(x, (bool, int, float, str, np.generic)):
        return False
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        dtype = np.asarray(x).dtype  # a list or another sequence
    return bool(jdt.issubdtype(dtype, np.complexfloating))


def isrealobj(x: Any) -> bool:
    """Whether `x` does not have a complex dtype."""
    return not iscomplexobj(x)


def isscalar(element: Any) -> bool:
    """Whether `element` is a scalar: a Python or NumPy scalar, or a 0-d array (fgrad's
    traced values included, as jax.numpy counts its tracers)."""
    if np.isscalar(element):
        return True
    if isinstance(element, (np.ndarray, jax.Array, Tracer)):
        return len(element.shape) == 0
    return False
