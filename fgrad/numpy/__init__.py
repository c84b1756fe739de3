"""fgrad.numpy: NumPy's API on fgrad's traced values, behaving like jax.numpy.

    import fgrad.numpy as fnp

Every function is written with fgrad.lax primitives, so it works the same on concrete
arrays (computing at once, returning JAX arrays), inside fgrad's transformations (recording
equations), and inside JAX's jit or vmap (fgrad lowers to jax.lax). Importing this module
also gives traced values their operators and methods (`x + y`, `x[i]`, `x.sum()`, `x.at`).
"""

import jax as _jax
import jax.numpy as _jnp
import numpy as _np

from fgrad.core import Tracer as _Tracer
from fgrad.core.dtypes import bfloat16 as _bfloat16
from fgrad.core.errors import missing_attribute as _missing_attribute
from fgrad.numpy import _methods  # noqa: F401 (installs the tracer's operators and methods)
from fgrad.numpy import fft as fft
from fgrad.numpy import linalg as linalg
from fgrad.numpy._creation import ScalarType as _ScalarType
from fgrad.numpy import (
    _creation, _dtypes, _einsum, _indexing, _math, _polynomial, _reductions, _shapes, _sorting,
)
from fgrad.numpy._creation import *  # noqa: F401,F403
from fgrad.numpy._dtypes import *  # noqa: F401,F403
from fgrad.numpy._einsum import *  # noqa: F401,F403
from fgrad.numpy._indexing import *  # noqa: F401,F403
from fgrad.numpy._math import *  # noqa: F401,F403
from fgrad.numpy._polynomial import *  # noqa: F401,F403
from fgrad.numpy._reductions import *  # noqa: F401,F403
from fgrad.numpy._shapes import *  # noqa: F401,F403
from fgrad.numpy._sorting import *  # noqa: F401,F403

# The dtypes and constants defined below.
_OWN = [
    "bfloat16", "bool", "bool_", "complex128", "complex64", "complexfloating", "dtype", "e",
    "float16", "float32", "float64", "floating", "generic", "inexact", "inf", "int16", "int32",
    "int64", "int8", "integer", "nan", "newaxis", "number", "pi", "pow", "signedinteger",
    "uint16", "uint32", "uint64", "uint8", "unsignedinteger",
    "ComplexWarning", "cdouble", "character", "complex_", "csingle", "double", "euler_gamma",
    "flexible", "float4_e2m1fn", "float6_e2m3fn", "float6_e3m2fn", "float8_e3m4", "float8_e4m3",
    "float8_e4m3b11fnuz", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz",
    "float8_e8m0fnu", "float_", "int1", "int2", "int4", "int_", "ndarray", "object_", "single",
    "uint", "uint1", "uint2", "uint4",
]
# As NumPy's: `import *` brings names that shadow builtins (sum, max, ...). The submodule
# fgrad.numpy.linalg is imported by name (fnp.linalg), not by `import *`. Each function
# module lists its public names in its own __all__.
_MODULES = (_creation, _dtypes, _einsum, _indexing, _math, _polynomial, _reductions, _shapes,
            _sorting)
__all__ = sorted(set(_OWN).union(*(m.__all__ for m in _MODULES)))

pow = _math.power  # noqa: A001 (NumPy 2's name)

# dtypes: usable as dtype arguments, and callable like jnp.float32(x)
bool_ = _ScalarType(_np.bool_, "bool_")
bool = bool_  # noqa: A001 (NumPy 2's name)
int8 = _ScalarType(_np.int8, "int8")
int16 = _ScalarType(_np.int16, "int16")
int32 = _ScalarType(_np.int32, "int32")
int64 = _ScalarType(_np.int64, "int64")
uint8 = _ScalarType(_np.uint8, "uint8")
uint16 = _ScalarType(_np.uint16, "uint16")
uint32 = _ScalarType(_np.uint32, "uint32")
uint64 = _ScalarType(_np.uint64, "uint64")
float16 = _ScalarType(_np.float16, "float16")
bfloat16 = _ScalarType(_bfloat16, "bfloat16")
float32 = _ScalarType(_np.float32, "float32")
float64 = _ScalarType(_np.float64, "float64")
complex64 = _ScalarType(_np.complex64, "complex64")
complex128 = _ScalarType(_np.complex128, "complex128")
# NumPy's C-style aliases, meaning what they mean in jax.numpy
single, double, float_ = float32, float64, float64
csingle, cdouble, complex_ = complex64, complex128, complex128
int_, uint = int64, uint64
# the narrow types of ml_dtypes (storage formats for quantized values), as jax.numpy has them
for _name in ("float8_e3m4", "float8_e4m3", "float8_e4m3b11fnuz", "float8_e4m3fn",
              "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz", "float8_e8m0fnu",
              "float6_e2m3fn", "float6_e3m2fn", "float4_e2m1fn", "int1", "int2", "int4",
              "uint1", "uint2", "uint4"):
    globals()[_name] = _ScalarType(getattr(_jnp, _name).dtype, _name)
del _name
dtype = _np.dtype
# abstract dtype families, for issubdtype checks
generic, number, inexact, floating, complexfloating = (
    _np.generic, _np.number, _np.inexact, _np.floating, _np.complexfloating)
integer, signedinteger, unsignedinteger = _np.integer, _np.signedinteger, _np.unsignedinteger
character, flexible, object_ = _np.character, _np.flexible, _np.object_
ComplexWarning = _np.exceptions.ComplexWarning


class _ArrayType(type):
    def __instancecheck__(cls, value) -> bool:
        return isinstance(value, (_jax.Array, _Tracer))


class ndarray(metaclass=_ArrayType):
    """The type of arrays for isinstance checks: true of JAX arrays and of fgrad's traced
    values alike, as `isinstance(x, jnp.ndarray)` is true of JAX's arrays and tracers."""

pi = _np.pi
e = _np.e
euler_gamma = _np.euler_gamma
inf = _np.inf
nan = _np.nan
newaxis = None


def __getattr__(name: str):
    raise _missing_attribute("fgrad.numpy", _jnp, name, globals())
