"""fgrad.numpy: NumPy's API on fgrad's traced values, behaving like jax.numpy.

    import fgrad.numpy as fnp

Every function is written with fgrad.lax primitives, so it works the same on concrete
arrays (computing at once, returning JAX arrays), inside fgrad's transformations (recording
equations), and inside JAX's jit or vmap (fgrad lowers to jax.lax). Importing this module
also gives traced values their operators and methods (`x + y`, `x[i]`, `x.sum()`, `x.at`).
"""

import jax.numpy as _jnp
import numpy as _np

from fgrad.core.dtypes import bfloat16 as _bfloat16
from fgrad.core.errors import missing_attribute as _missing_attribute
from fgrad.numpy import _methods  # noqa: F401 (installs the tracer's operators and methods)
from fgrad.numpy import linalg as linalg
from fgrad.numpy._creation import (
    ScalarType as _ScalarType,
    arange as arange,
    array as array,
    asarray as asarray,
    astype as astype,
    empty as empty,
    empty_like as empty_like,
    eye as eye,
    full as full,
    full_like as full_like,
    identity as identity,
    linspace as linspace,
    ones as ones,
    ones_like as ones_like,
    zeros as zeros,
    zeros_like as zeros_like,
)
from fgrad.numpy._einsum import (
    dot as dot,
    einsum as einsum,
    matmul as matmul,
    outer as outer,
    vdot as vdot,
)
from fgrad.numpy._math import (
    abs as abs,
    absolute as absolute,
    add as add,
    arccos as arccos,
    arcsin as arcsin,
    arctan as arctan,
    arctan2 as arctan2,
    around as around,
    bitwise_and as bitwise_and,
    bitwise_not as bitwise_not,
    bitwise_or as bitwise_or,
    bitwise_xor as bitwise_xor,
    ceil as ceil,
    clip as clip,
    cos as cos,
    cosh as cosh,
    divide as divide,
    divmod as divmod,
    equal as equal,
    exp as exp,
    expm1 as expm1,
    floor as floor,
    floor_divide as floor_divide,
    greater as greater,
    greater_equal as greater_equal,
    invert as invert,
    isfinite as isfinite,
    isinf as isinf,
    isnan as isnan,
    less as less,
    less_equal as less_equal,
    log as log,
    log1p as log1p,
    logical_and as logical_and,
    logical_not as logical_not,
    logical_or as logical_or,
    logical_xor as logical_xor,
    maximum as maximum,
    minimum as minimum,
    mod as mod,
    multiply as multiply,
    neg as neg,
    negative as negative,
    not_equal as not_equal,
    positive as positive,
    power as power,
    remainder as remainder,
    round as round,
    sign as sign,
    sin as sin,
    sinh as sinh,
    sqrt as sqrt,
    square as square,
    subtract as subtract,
    tan as tan,
    tanh as tanh,
    true_divide as true_divide,
    where as where,
)
from fgrad.numpy._reductions import (
    all as all,
    amax as amax,
    amin as amin,
    any as any,
    argmax as argmax,
    argmin as argmin,
    cumsum as cumsum,
    max as max,
    mean as mean,
    min as min,
    prod as prod,
    std as std,
    sum as sum,
    var as var,
)
from fgrad.numpy._shapes import (
    broadcast_arrays as broadcast_arrays,
    broadcast_to as broadcast_to,
    concatenate as concatenate,
    expand_dims as expand_dims,
    flip as flip,
    matrix_transpose as matrix_transpose,
    moveaxis as moveaxis,
    ravel as ravel,
    repeat as repeat,
    reshape as reshape,
    split as split,
    squeeze as squeeze,
    stack as stack,
    swapaxes as swapaxes,
    tile as tile,
    transpose as transpose,
)

# As NumPy's: `import *` brings names that shadow builtins (sum, max, ...). The submodule
# fgrad.numpy.linalg is imported by name (fnp.linalg), not by `import *`.
__all__ = [
    "abs", "absolute", "add", "all", "amax", "amin", "any", "arange", "arccos", "arcsin", "arctan",
    "arctan2", "argmax", "argmin", "around", "array", "asarray", "astype", "bfloat16",
    "bitwise_and", "bitwise_not", "bitwise_or", "bitwise_xor", "bool", "bool_", "broadcast_arrays",
    "broadcast_to", "ceil", "clip", "complex128", "complex64", "complexfloating", "concatenate",
    "cos", "cosh", "cumsum", "divide", "divmod", "dot", "dtype", "e", "einsum", "empty",
    "empty_like", "equal", "exp", "expand_dims", "expm1", "eye", "flip", "float16", "float32",
    "float64", "floating", "floor", "floor_divide", "full", "full_like", "generic", "greater",
    "greater_equal", "identity", "inexact", "inf", "int16", "int32", "int64", "int8", "integer",
    "invert", "isfinite", "isinf", "isnan", "less", "less_equal", "linspace", "log", "log1p",
    "logical_and", "logical_not", "logical_or", "logical_xor", "matmul", "matrix_transpose", "max",
    "maximum", "mean", "min", "minimum", "mod", "moveaxis", "multiply", "nan", "neg", "negative",
    "newaxis", "not_equal", "number", "ones", "ones_like", "outer", "pi", "positive", "pow",
    "power", "prod", "ravel", "remainder", "repeat", "reshape", "round", "sign", "signedinteger",
    "sin", "sinh", "split", "sqrt", "square", "squeeze", "stack", "std", "subtract", "sum",
    "swapaxes", "tan", "tanh", "tile", "transpose", "true_divide", "uint16", "uint32", "uint64",
    "uint8", "unsignedinteger", "var", "vdot", "where", "zeros", "zeros_like",
]

pow = power  # noqa: A001 (NumPy 2's name)

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
dtype = _np.dtype
# abstract dtype families, for issubdtype checks
generic, number, inexact, floating, complexfloating = (
    _np.generic, _np.number, _np.inexact, _np.floating, _np.complexfloating)
integer, signedinteger, unsignedinteger = _np.integer, _np.signedinteger, _np.unsignedinteger

pi = _np.pi
e = _np.e
inf = _np.inf
nan = _np.nan
newaxis = None


def __getattr__(name: str):
    raise _missing_attribute("fgrad.numpy", _jnp, name, globals())
