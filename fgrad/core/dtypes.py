"""Dtypes and abstract values of the things users hand to fgrad.

fgrad follows JAX's type system exactly (JAX runs the programs, so it must agree with JAX):
dtypes are canonicalized (float64 becomes float32 unless `jax_enable_x64` is on), Python
scalars are *weakly typed*, and promotion uses JAX's lattice through `jax.dtypes`.
"""

from __future__ import annotations

import functools

import jax
import numpy as np
from jax import dtypes as jdt
from jax.extend.core.primitives import convert_element_type_p as _jax_convert_p

from fgrad.core.errors import at_user_line
from fgrad.core.ir import Aval, as_dtype, is_key
from fgrad.core.resources import register_cache

float0 = jdt.float0
bfloat16 = np.dtype(jdt.bfloat16)

_PYTHON_SCALAR_DTYPES = {bool: np.bool_, int: np.int64, float: np.float64, complex: np.complex128}


def canonicalize(dtype) -> np.dtype:
    return _canonical(dtype, jax.config.jax_enable_x64)


@functools.lru_cache(maxsize=None)
def _canonical(dtype, x64: bool) -> np.dtype:
    if is_key(dtype):
        return dtype
    return np.dtype(jdt.canonicalize_dtype(dtype))


register_cache(
    "dtype_canonical", _canonical, holds="a dtype", key="(dtype, x64 flag)",
    why="unbounded: the dtypes a program uses, twice, are a finite set")


def default_float() -> np.dtype:
    return canonicalize(np.float64)


def default_int() -> np.dtype:
    return canonicalize(np.int64)


def is_python_scalar(x) -> bool:
    return type(x) in _PYTHON_SCALAR_DTYPES


# Set by fgrad.core.trace (which imports this module): the class of fgrad's tracers.
TRACER_TYPE: type | None = None

# The types of concrete operands (values, not tracers), which fgrad.core.trace computes with
# at once. The concrete class of jax.Array joins, as `_JAX_ARRAY_TYPE`, when aval_of first
# meets one of its instances: JAX names that class only privately, and making an array here
# to learn it would start JAX's backend when fgrad is imported (before
# jax.distributed.initialize or a platform choice, say).
CONCRETE_TYPES: set[type] = {bool, int, float, complex, np.ndarray}
_JAX_ARRAY_TYPE: type | None = None


def _learn_jax_array_type(t: type) -> None:
    global _JAX_ARRAY_TYPE
    _JAX_ARRAY_TYPE = t
    CONCRETE_TYPES.add(t)


def aval_of(x) -> Aval:
    """The abstract value of anything fgrad accepts as an operand."""
    t = type(x)
    # The two common cases first: tracing asks this of every operand of every operation.
    if t is TRACER_TYPE:
        return x._var.aval
    if t is _JAX_ARRAY_TYPE:
        return Aval(x.shape, x.dtype, x.weak_type)
    aval = getattr(x, "aval", None)  # JAX arrays and tracers
    if isinstance(aval, Aval):
        return aval
    if aval is not None and hasattr(aval, "weak_type"):
        # Only a plain array's class (a key array is a jax.Array of another class, without
        # the `weak_type` attribute the fast path reads).
        if _JAX_ARRAY_TYPE is None and isinstance(x, jax.Array) and hasattr(
                x, "weak_type") and not isinstance(x, jax.core.Tracer):
            _learn_jax_array_type(t)
        return Aval(tuple(aval.shape), as_dtype(aval.dtype), aval.weak_type)
    if t in _PYTHON_SCALAR_DTYPES:
        # Python bools are strongly typed in JAX; ints, floats and complexes are weak.
        return Aval((), canonicalize(_PYTHON_SCALAR_DTYPES[t]), t is not bool)
    if isinstance(x, (np.ndarray, np.generic)):
        return Aval(x.shape, canonicalize(x.dtype), False)
    if hasattr(x, "shape") and hasattr(x, "dtype"):  # jax.Array, jax.ShapeDtypeStruct
        return Aval(tuple(x.shape), canonicalize(x.dtype), bool(getattr(x, "weak_type", False)))
    raise TypeError(at_user_line(
        f"fgrad cannot use a value of type {t.__name__} as an array: expected a fgrad or JAX "
        f"array, a NumPy array, or a Python scalar (got {x!r:.80})."))


# jax.dtypes.issubdtype knows the ml_dtypes floats (bfloat16, float8_*) that NumPy doesn't.
@functools.lru_cache(maxsize=None)  # asked for every operand while tracing
def is_float(dtype) -> bool:
    return jdt.issubdtype(dtype, np.floating)


@functools.lru_cache(maxsize=None)
def is_complex(dtype) -> bool:
    return jdt.issubdtype(dtype, np.complexfloating)


@functools.lru_cache(maxsize=None)
def is_inexact(dtype) -> bool:
    return is_float(dtype) or is_complex(dtype)


@functools.lru_cache(maxsize=None)
def is_integer(dtype) -> bool:
    return jdt.issubdtype(dtype, np.integer)


for _name, _predicate in [("float", is_float), ("complex", is_complex),
                          ("inexact", is_inexact), ("integer", is_integer)]:
    register_cache(f"dtype_is_{_name}", _predicate, holds="a bool", key="a dtype",
                   why="unbounded: the dtypes a program uses are a finite set, and these are "
                       "asked for every operand while tracing, where a bound costs a lock")


def is_bool(dtype) -> bool:
    return dtype == np.bool_


def real_dtype(dtype) -> np.dtype:
    """The real dtype of a complex dtype (complex64 -> float32); other dtypes unchanged."""
    return np.dtype(jdt.finfo(dtype).dtype) if is_complex(dtype) else np.dtype(dtype)


def promote(*avals: Aval) -> tuple[np.dtype, bool]:
    """JAX's type promotion: the common dtype of operands and whether it is weak."""
    return _promote(avals, jax.config.jax_enable_x64)


@functools.lru_cache(maxsize=4096)  # tracing promotes at almost every operation
def _promote(avals: tuple[Aval, ...], x64: bool) -> tuple[np.dtype, bool]:
    if all(a.weak_type for a in avals):
        # All weak: the bound of their dtypes as if strong, made weak (JAX's rule, so a weak
        # float32 beside a Python int stays float32 with x64, where the int is an int64).
        dtype = canonicalize(jdt.result_type(*(a.dtype for a in avals)))
        return dtype, not is_bool(dtype)
    args = [_PYTHON_TYPE_OF_KIND[a.dtype.kind] if a.weak_type else a.dtype for a in avals]
    dtype, weak = jdt.result_type(*args, return_weak_type_flag=True)
    return canonicalize(dtype), weak


register_cache(
    "dtype_promotion", _promote, holds="a dtype and a weak-type flag",
    key="(operand avals, x64 flag)",
    why="keyed by avals, so by shapes too: bounded, and 4096 covers a program's operations")


_PYTHON_TYPE_OF_KIND = {"b": bool, "i": int, "u": int, "f": float, "c": complex, "V": float}


def convert_weak(x, dtype=None, weak_type: bool = True):
    """`x` (a JAX array or tracer, NumPy array or scalar) converted to `dtype` (None: its
    own), weakly typed or not as `weak_type` says, exactly as JAX itself converts: the same
    convert_element_type equation in a jaxpr, and JAX's derivatives and batching of it.

    jax.lax.convert_element_type always makes a strongly typed result and JAX has no
    public function that sets the flag (checked with jax 0.10.2), so this binds JAX's
    primitive, which jax.extend publishes. Like JAX, it returns a JAX array that already has
    the type unchanged.
    """
    if type(x) is int and dtype is not None:  # as JAX: 2**40 fits float32, not int32
        x = np.asarray(x).astype(canonicalize(dtype))
    aval = jax.typeof(x)
    dtype = aval.dtype if dtype is None else canonicalize(dtype)
    if isinstance(x, jax.Array) and aval.dtype == dtype and aval.weak_type == weak_type:
        return x
    return _jax_convert_p.bind(x, new_dtype=dtype, weak_type=bool(weak_type), sharding=None)
