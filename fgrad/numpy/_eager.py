"""Eager fgrad.numpy calls as one compiled call each.

On concrete operands, outside every fgrad trace, an fgrad.numpy function would bind its
primitives one by one, and each is a call of its own compiled executable: `fnp.add(x, 1.0)`
broadcasts the scalar and then adds, two dispatches of some 20 µs. A function marked
`compiled_eagerly` runs instead as a `jax.jit` of the whole function, compiled once per
operand signature (shapes, dtypes, weak types, and the options that are not operands): one
dispatch, with the scalar's broadcast and any conversions fused into the one executable.
Inside the jit the same fgrad code runs on JAX tracers, so the values and types are the
op-by-op path's; fgrad.lax primitives called directly keep the per-primitive path
(core/trace.py).

Whatever the compiled path cannot take falls back to the op-by-op path: tracers, lists,
unhashable options, NaN checks (which inspect each operation's result), and every error,
so that the user sees fgrad's own message, at their own line, raised by the same code as
before.
"""

from __future__ import annotations

import functools

import jax
import numpy as np

from fgrad.core import EVAL_TRACE, aval_of
from fgrad.core import evaluate as _evaluate
from fgrad.core.dtypes import CONCRETE_TYPES
from fgrad.core.trace import _context
from fgrad.core.resources import LRUCache, register_cache
from fgrad.numpy._core import _PYTHON_SCALARS

_COMPILED_FUNCTIONS = register_cache(
    "compiled_numpy", LRUCache(1024),
    holds="a `jax.jit` of one fgrad.numpy function with its options bound, with the "
          "executables JAX compiled for it (one per operand signature)",
    key="(function, options that are not operands)",
    why="one entry per function and options used eagerly; an evicted one recompiles on its "
        "next use")
_NUMPY_TYPES = (np.ndarray, np.generic)
_lookup = _COMPILED_FUNCTIONS.get
_CONVERT_EXACTLY = frozenset(map(np.dtype, ["bool", "float32", "float64", "complex64",
                                            "complex128"]))


def _scalars_convert_exactly(arrays) -> bool:
    """Whether the compiled function may take the Python scalars among `arrays` as weakly
    typed arguments. Op by op, a Python scalar converts to the result's dtype in Python: an
    int out of an integer dtype's range is an error, and a float rounds once, even to
    float16. A jit argument is first an int32 or float32 (64 bits with x64) and converts
    inside: a wrap-around instead of the error, a second rounding. Both agree when every
    array operand is a bool, a float32, a float64 or a complex (an int too large for the
    argument's type is JAX's OverflowError, and the op-by-op path's own error follows)."""
    return all(type(a) in _PYTHON_SCALARS or a.dtype in _CONVERT_EXACTLY for a in arrays)


def _compiled(function, rest: tuple, options: dict):
    """The jax.jit of `function` with its options bound. Their types are part of the key:
    2 and 2.0 are equal and hash alike, but `power(x, 2)` is integer_pow and
    `power(x, 2.0)` is pow."""
    if rest or options:
        values = (*rest, *options.values())
        key = (function, *rest, *options.items(), *map(type, values))
    else:
        key = function
    compiled = _COMPILED_FUNCTIONS.get(key)
    if compiled is None:
        compiled = jax.jit(lambda *a: function(*a, *rest, **options))
        _COMPILED_FUNCTIONS.put(key, compiled)
    return compiled


def _first_jax_array(x) -> bool:
    """Whether `x` is a concrete jax.Array of a class fgrad has not met yet: fgrad learns
    the class from the first one it sees (core/dtypes.py), here rather than on the op-by-op
    path, which would compile each primitive for a first call the next call compiles again."""
    if isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer):
        aval_of(x)
        return True
    return False


def compiled_eagerly(operands: int):
    """Decorates a function to run on concrete operands as one compiled call (see the
    module's docstring). Its first `operands` positional arguments are the arrays; the other
    arguments are options, part of the compiled function's identity. A call with fewer
    positional arguments (`where(condition)`, which depends on the values) runs op by op."""
    def decorate(function):
        @functools.wraps(function)
        def run(*args, **options):
            # Every eager call passes here: the checks are inlined, cheapest first, and a
            # call without options looks its function up by identity.
            if (_context.trace is EVAL_TRACE and _evaluate.nan_checker is None
                    and len(args) >= operands):
                arrays = args if len(args) == operands else args[:operands]
                scalars = False
                for a in arrays:
                    t = type(a)
                    if t in _PYTHON_SCALARS:
                        scalars = True
                    elif (t not in CONCRETE_TYPES and not isinstance(a, _NUMPY_TYPES)
                          and not _first_jax_array(a)):
                        break
                else:
                    if not scalars or _scalars_convert_exactly(arrays):
                        try:
                            compiled = (_lookup(function) if arrays is args and not options
                                        else None)
                            if compiled is None:
                                compiled = _compiled(function, args[operands:], options)
                            return compiled(*arrays)
                        except Exception:  # noqa: BLE001 - op by op, fgrad raises its error
                            pass
            return function(*args, **options)

        return run

    return decorate
