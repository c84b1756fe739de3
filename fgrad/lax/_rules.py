"""Helpers shared by the primitive families: shape/dtype checks that explain themselves."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from fgrad.core import Aval, Primitive, ShapeDtypeError
from fgrad.core import dtypes as dt


def describe(avals: Sequence[Aval]) -> str:
    return ", ".join(str(a) for a in avals)


def fail(name: str, avals: Sequence[Aval], problem: str, advice: str = "") -> ShapeDtypeError:
    """An error naming the primitive, its operands' types, the problem and what to do."""
    text = f"{name} got operands ({describe(avals)}): {problem}"
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


def check_axes(name: str, avals: Sequence[Aval], axes: Sequence[int], ndim: int,
               what: str = "axis") -> None:
    for ax in axes:
        if not (isinstance(ax, (int, np.integer)) and 0 <= ax < ndim):
            raise fail(name, avals, f"{what} {ax} is out of range for rank {ndim}",
                       f"Use an {what} in [0, {ndim}).")
    if len(set(axes)) != len(axes):
        raise fail(name, avals, f"repeated {what} in {tuple(axes)}")


def elementwise(name: str, lower: Callable, kind: str, n_operands: int = 1,
                out_dtype: Callable = None, keeps_weak: bool = True) -> Primitive:
    """A primitive applied elementwise to operands of one shape and one dtype.

    The result is weakly typed only when every operand is (JAX's rule).
    """
    def abstract_eval(*avals):
        if len(avals) != n_operands:
            raise fail(name, avals, f"expected {n_operands} operand(s)")
        shape = check_same_shapes(name, avals)
        dtype = check_same_dtypes(name, avals)
        check_dtype(name, avals, kind)
        if out_dtype is not None:
            dtype = np.dtype(out_dtype(dtype))
        return Aval(shape, dtype, keeps_weak and all(a.weak_type for a in avals))

    return Primitive(name, abstract_eval, lower)
