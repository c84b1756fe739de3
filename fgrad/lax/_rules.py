"""Helpers shared by the primitive families: shape/dtype checks that explain themselves."""

from __future__ import annotations

import operator
from typing import Callable, Sequence

import jax
import numpy as np
from jax.sharding import AxisType

from fgrad.core import Aval, Primitive, ShapeDtypeError
from fgrad.core import dtypes as dt
from fgrad.core.errors import at_user_line
from fgrad.lax._batching import defbatch_elementwise


def describe(avals: Sequence[Aval]) -> str:
    return ", ".join(str(a) for a in avals)


def fail(name: str, avals: Sequence[Aval], problem: str, advice: str = "") -> ShapeDtypeError:
    """An error naming the primitive, its operands' types, the problem and what to do."""
    text = f"{name} got operands ({describe(avals)}): {problem}" if avals else f"{name}: {problem}"
    return ShapeDtypeError(f"{text}. {advice}".rstrip() if advice else text)


# dtype families, named as in the error messages
def _any(d): return True
def _number(d): return not dt.is_bool(d)
def _inexact(d): return dt.is_inexact(d)
def _float(d): return dt.is_float(d)
def _int_or_bool(d): return dt.is_integer(d) or dt.is_bool(d)
def _integer(d): return dt.is_integer(d)
def _signed_number(d): return _number(d) and not np.issubdtype(d, np.unsignedinteger)
def _ordered(d): return not dt.is_complex(d)


KINDS = {
    "any": _any, "number": _number, "inexact": _inexact, "float": _float,
    "int_or_bool": _int_or_bool, "integer": _integer, "signed": _signed_number,
    "ordered": _ordered,
}
KIND_WORDS = {
    "any": "any dtype", "number": "numbers (not bool)",
    "inexact": "floating-point or complex numbers", "float": "floating-point numbers",
    "int_or_bool": "integers or booleans", "integer": "integers",
    "signed": "signed numbers", "ordered": "real (non-complex) values",
}


def check_dtype(name: str, avals: Sequence[Aval], kind: str, which: Sequence[Aval] = None):
    for a in which if which is not None else avals:
        if not KINDS[kind](a.dtype):
            raise fail(name, avals, f"{name} accepts {KIND_WORDS[kind]}, not {a.dtype.name}")


def check_same_shapes(name: str, avals: Sequence[Aval]) -> tuple[int, ...]:
    shape = avals[0].shape
    if any(a.shape != shape for a in avals[1:]):
        raise fail(name, avals, "the shapes differ",
                   "fgrad.lax primitives do not broadcast: use fgrad.numpy, which does, or "
                   "fgrad.lax.broadcast_in_dim.")
    return shape


def check_same_dtypes(name: str, avals: Sequence[Aval]) -> np.dtype:
    dtype = avals[0].dtype
    if any(a.dtype != dtype for a in avals[1:]):
        raise fail(name, avals, "the dtypes differ",
                   "Convert with fgrad.lax.convert_element_type, or use fgrad.numpy, which "
                   "promotes.")
    return dtype


def operand_when_type_kept(**params) -> int:
    """The simplifier's identity rule (`identity_rules`) of a primitive that returns its
    operand exactly when its output has the operand's type: a reshape or broadcast to the
    operand's shape, a conversion to its dtype and weak type, a reduction over no axes."""
    return 0


# -- checks of static params -------------------------


def as_ints(values) -> tuple:
    """`values` as a tuple, with every integer made a Python int.

    A lone integer counts as a one-element sequence. Anything that is not an integer is
    kept as it is, so the shape rule can name it in its error instead of Python failing
    somewhere deeper.
    """
    if type(values) is tuple:
        for v in values:  # a loop, not all(): asked several times by every traced call
            if type(v) is not int:
                break
        else:
            return values  # already canonical: the common case
    if isinstance(values, (int, np.integer)):
        return (int(values),)
    try:
        return tuple(as_int(v) for v in values)
    except TypeError:  # not iterable
        return (values,)


def as_int(value):
    """`value` as a Python int if it is an integer; otherwise unchanged, for a rule to reject."""
    try:
        return operator.index(value)
    except TypeError:
        return value


def check_ints(name: str, avals: Sequence[Aval], values: tuple, what: str,
               minimum: int | None = None) -> None:
    """Every element of `values` is a Python int, and at least `minimum` if that is given."""
    for v in values:
        if type(v) is not int:
            raise fail(name, avals, f"{what} must hold integers, but it holds {v!r}")
        if minimum is not None and v < minimum:
            raise fail(name, avals, f"{what} must hold integers >= {minimum}, but it holds "
                        f"{v}")


def check_shape(name: str, avals: Sequence[Aval], shape: tuple, what: str = "shape") -> None:
    check_ints(name, avals, shape, f"{what} {shape}", minimum=0)


def check_dims(name: str, avals: Sequence[Aval], dims: tuple, ndim: int,
               what: str = "dimension") -> None:
    """`dims` are distinct integers in [0, ndim)."""
    whats = "axes" if what == "axis" else f"{what}s"
    check_ints(name, avals, dims, f"{whats} {dims}")
    for d in dims:
        if not 0 <= d < ndim:
            raise fail(name, avals, f"{what} {d} is out of range for rank {ndim}",
                        f"Valid values are 0 to {ndim - 1}." if ndim else
                        "A rank-0 array has no dimensions.")
    if len(set(dims)) != len(dims):
        raise fail(name, avals, f"{whats} {dims} repeat a value", "Name each one once.")


def user_dtype(dtype) -> np.dtype:
    """The dtype a user names; Python's scalar types mean JAX's default dtypes."""
    if isinstance(dtype, np.dtype):  # the common case: rules pass their operands' dtypes
        return dtype
    if dtype is bool:
        return np.dtype(np.bool_)
    if dtype is int:
        return dt.default_int()
    if dtype is float:
        return dt.default_float()
    if dtype is complex:
        return dt.canonicalize(np.complex128)
    try:
        return np.dtype(dtype)
    except TypeError:  # NumPy's "data type 'foo' not understood" names no line
        raise TypeError(at_user_line(
            f"{dtype!r} is not a dtype. Name one as NumPy does: np.float32, 'float32', "
            f"float, int or bool.")) from None


def check_available(name: str, avals: Sequence[Aval], dtype, what: str) -> None:
    # JAX truncates a 64-bit request (with a warning); a program would then disagree with its
    # own types, so we refuse instead.
    if not isinstance(dtype, np.dtype):
        raise fail(name, avals, f"{what} must be a NumPy dtype, not {dtype!r}")
    if dtype != dt.canonicalize(dtype):
        raise fail(name, avals, f"{what} {dtype.name} is not available",
                    "Enable 64-bit types with jax.config.update('jax_enable_x64', True), or "
                    "ask for a 32-bit dtype.")


def _explicit_sharding(x):
    """x's sharding if x is sharded over an Explicit mesh axis, else None."""
    if not isinstance(x, (jax.Array, jax.core.Tracer)):
        return None  # a Python or NumPy scalar written into the program
    sharding = getattr(jax.typeof(x), "sharding", None)
    spec = getattr(sharding, "spec", None)
    if (spec is None or sharding.mesh.empty or AxisType.Explicit not in sharding.mesh.axis_types
            or all(p is None for p in spec)):
        return None
    return sharding


def sharded_alike(lower: Callable) -> Callable:
    """`lower` for an elementwise primitive of several operands, with replicated operands
    resharded like a sharded one first.

    Under a mesh with Explicit axes a sharding is part of each value's type, and JAX's
    select_n (among others) wants its operands' shardings equal. jax.numpy broadcasts a
    scalar straight to the combined sharding; fgrad's avals carry no sharding, so fgrad's
    broadcasts come out replicated, and the operation matches them up here, when the
    shardings are known.
    """
    def lower_alike(*values, **params):
        target = next((s for s in map(_explicit_sharding, values) if s is not None), None)
        if target is not None:
            values = [jax.sharding.reshard(v, target)
                      if isinstance(v, (jax.Array, jax.core.Tracer)) and jax.typeof(v).ndim
                      and _explicit_sharding(v) is None else v
                      for v in values]
        return lower(*values, **params)

    return lower_alike


def elementwise(name: str, lower: Callable, kind: str, n_operands: int = 1,
                out_dtype: Callable = None) -> Primitive:
    """A primitive applied elementwise to operands of one shape and one dtype.

    The result is weakly typed only when every operand is (JAX's rule, which holds for
    comparisons too: 2.0 < 3.0 is a weak bool).
    """
    def abstract_eval(*avals):
        if len(avals) != n_operands:
            raise fail(name, avals, f"expected {n_operands} operand(s)")
        shape = check_same_shapes(name, avals)
        dtype = check_same_dtypes(name, avals)
        check_dtype(name, avals, kind)
        if out_dtype is not None:
            dtype = np.dtype(out_dtype(dtype))
        return Aval(shape, dtype, all(a.weak_type for a in avals))

    prim = Primitive(name, abstract_eval, sharded_alike(lower) if n_operands > 1 else lower)
    defbatch_elementwise(prim)
    return prim
