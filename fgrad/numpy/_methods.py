"""Operators and array methods of fgrad's traced values, installed on `fgrad.core.Tracer`
when fgrad.numpy is imported, so traced code reads like jax.numpy code (`x @ w + b`,
`x[:, 0]`, `x.sum(axis=1)`, `x.at[i].set(v)`).

Operators defer to the other operand (return NotImplemented) when it is not an array or a
scalar, as JAX's do; reflected forms make `2.0 - x`, `np_array * x` and `jax_array @ x`
work.
"""

from __future__ import annotations

import functools

import fgrad.numpy as fnp
from fgrad.core import Tracer
from fgrad.core.errors import at_user_line
from fgrad.numpy import _creation, _einsum, _indexing, _math, _reductions, _shapes
from fgrad.numpy._core import is_arraylike, is_scalar_argument


def _operator(function, reflected: bool = False):
    if reflected:
        def method(self, other):
            return function(other, self) if is_arraylike(other) else NotImplemented
    else:
        def method(self, other):
            return function(self, other) if is_arraylike(other) else NotImplemented
    return method


_BINARY = {
    "add": _math.add, "sub": _math.subtract, "mul": _math.multiply,
    "truediv": _math.true_divide, "floordiv": _math.floor_divide, "mod": _math.remainder,
    "divmod": _math.divmod, "matmul": _einsum.matmul, "and": _math.bitwise_and,
    "or": _math.bitwise_or, "xor": _math.bitwise_xor,
}
_COMPARISONS = {
    "eq": _math.equal, "ne": _math.not_equal, "lt": _math.less, "le": _math.less_equal,
    "gt": _math.greater, "ge": _math.greater_equal,
}
_UNARY = {
    "neg": _math.negative, "pos": _math.positive, "abs": _math.absolute,
    "invert": _math.invert,
}


def _pow(self, other, modulo=None):
    if modulo is not None:
        raise TypeError(at_user_line("pow() with a modulus is not supported on arrays."))
    return _math.power(self, other) if is_arraylike(other) else NotImplemented


def _rpow(self, other):
    return _math.power(other, self) if is_arraylike(other) else NotImplemented


def _round(self, ndigits=None):
    # Python's round(x) gives an integer, round(x, n) a number of x's type (as jax.Array's).
    if ndigits is None:
        return _creation.astype(_math.round(self), int)
    return _math.round(self, ndigits)


def _setitem(self, index, value):
    raise TypeError(at_user_line(
        "fgrad arrays are immutable: `x[idx] = y` cannot work on a traced value. Use "
        "`x = x.at[idx].set(y)` instead (or .add, .multiply, .min, .max)."))


def _iter(self):
    if not self.shape:
        raise TypeError(at_user_line("iteration over a 0-d (scalar) traced value"))
    return (_indexing.getitem(self, i) for i in range(self.shape[0]))


def _method(function, name: str):
    @functools.wraps(function)
    def method(self, *args, **kwargs):
        return function(self, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    return method


def _reshape(self, *shape, order: str = "C"):
    """x.reshape(2, 3) or x.reshape((2, 3))."""
    return _shapes.reshape(self, shape[0] if len(shape) == 1 else shape, order)


def _transpose(self, *axes):
    """x.transpose(), x.transpose(1, 0) or x.transpose((1, 0))."""
    if not axes:
        axes = None
    elif len(axes) == 1 and (axes[0] is None or not is_scalar_argument(axes[0])):
        axes = axes[0]
    return _shapes.transpose(self, axes)


_METHODS = {
    "sum": _reductions.sum, "prod": _reductions.prod, "max": _reductions.max,
    "min": _reductions.min, "mean": _reductions.mean, "std": _reductions.std,
    "var": _reductions.var,
    "any": _reductions.any, "all": _reductions.all,
    "argmax": _reductions.argmax, "argmin": _reductions.argmin,
    "cumsum": _reductions.cumsum, "astype": _creation.astype, "ravel": _shapes.ravel,
    "flatten": _shapes.ravel, "squeeze": _shapes.squeeze, "swapaxes": _shapes.swapaxes,
    "repeat": _shapes.repeat, "clip": _math.clip, "round": _math.round, "dot": _einsum.dot,
    "nonzero": _indexing.nonzero, "take": _indexing.take,
}


def _compress(self, condition, axis=None, *, out=None, size=None, fill_value=0):
    """x.compress(condition, axis): fgrad.numpy.compress(condition, x, axis)."""
    return _indexing.compress(condition, self, axis, size=size, fill_value=fill_value, out=out)


def _choose(self, choices, out=None, mode: str = "raise"):
    """x.choose(choices): fgrad.numpy.choose(x, choices)."""
    return _indexing.choose(self, choices, out, mode)


def _copy(self):
    """A copy (the same value: arrays are immutable)."""
    return _creation.array(self, copy=True)


# Methods whose functions may live in any module of the package, some loaded after this one
# or not yet written: they are looked up on the package when called (`fnp` is bound while
# the package is still importing, so nothing may read it at import time).
_PACKAGE_METHODS = ("argpartition", "argsort", "conj", "conjugate", "cumprod", "diagonal",
                    "ptp", "searchsorted", "sort", "trace")


def _package_method(name: str):
    def method(self, *args, **kwargs):
        return getattr(fnp, name)(self, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"fgrad.numpy.{name}(x, ...)."
    return method


def _real(self):
    return fnp.real(self)


def _imag(self):
    return fnp.imag(self)


def install(cls=Tracer) -> None:
    for name, function in _BINARY.items():
        setattr(cls, f"__{name}__", _operator(function))
        setattr(cls, f"__r{name}__", _operator(function, reflected=True))
    for name, function in _COMPARISONS.items():
        setattr(cls, f"__{name}__", _operator(function))
    for name, function in _UNARY.items():
        setattr(cls, f"__{name}__", function)
    cls.__pow__ = _pow
    cls.__rpow__ = _rpow
    cls.__round__ = _round
    cls.__getitem__ = _indexing.getitem
    cls.__setitem__ = _setitem
    cls.__iter__ = _iter
    for name, function in _METHODS.items():
        setattr(cls, name, _method(function, name))
    for name in _PACKAGE_METHODS:
        setattr(cls, name, _package_method(name))
    cls.compress = _compress
    cls.choose = _choose
    cls.copy = _copy
    cls.real = property(_real, doc="The real part (fgrad.numpy.real).")
    cls.imag = property(_imag, doc="The imaginary part (fgrad.numpy.imag).")
    cls.reshape = _reshape
    cls.transpose = _transpose
    cls.T = property(_shapes.transpose, doc="The array with its axes reversed.")
    cls.mT = property(_shapes.matrix_transpose, doc="The array with its last two axes "
                      "swapped.")
    cls.at = property(_indexing.IndexUpdateHelper, doc="Functional index updates: "
                      "x.at[idx].set(y), .add, .multiply, .min, .max, .get.")


install()
