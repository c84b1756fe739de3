"""Printing and host callbacks that work under every fgrad transformation.

`fgrad.debug.print(fmt, *args, **kwargs)` and `fgrad.debug.callback(fn, *args, **kwargs)`
bind `debug_callback_p` (fgrad/lax/effects.py), a primitive with no results that calls a
function on the host with the concrete values of its operands:

- eagerly (outside every transformation, on concrete arrays) `fn` is called at once,
  directly, with the arguments as given;
- under `fgrad.jit` or `jax.jit` it is a `jax.debug.callback(..., ordered=True)` in the
  compiled program: it runs each time the program runs, in program order;
- under `grad`, `vjp` and `linearize` it runs once per evaluation, on the primal values (in
  the forward part of the computation; tangents and cotangents are not printed);
- under `vmap` it runs once per batch element, with that element's values (as JAX does).

Output of compiled callbacks is written from the thread XLA runs callbacks on: call
`jax.effects_barrier()` to wait until every pending callback has run (before reading
captured output in a test, say).
"""

from __future__ import annotations

import builtins

import jax

from fgrad.core import EVAL_TRACE, current_trace
from fgrad.core.dtypes import aval_of
from fgrad.core.errors import at_user_line
from fgrad.core.resources import LRUCache, register_cache
from fgrad.core.trace import Tracer
from fgrad.lax.effects import Callback, debug_callback

tree_flatten = jax.tree_util.tree_flatten

__all__ = ["callback", "print"]


def _is_concrete(leaf) -> bool:
    return not isinstance(leaf, (Tracer, jax.core.Tracer))


def _bind(fn_for_host, static, name, what: str, args, kwargs) -> None:
    leaves, tree = tree_flatten((args, kwargs))
    for leaf in leaves:
        try:
            aval_of(leaf)
        except TypeError:
            raise TypeError(at_user_line(
                f"{what} takes arrays and scalars (in any pytree), but it was given a "
                f"{type(leaf).__name__} ({leaf!r:.60}). Format other values into the "
                f"format string, or close over them in the callback.")) from None
    if current_trace() is EVAL_TRACE and all(_is_concrete(x) for x in leaves):
        fn_for_host(*args, **kwargs)  # eager: now, directly
        return
    debug_callback(Callback(fn_for_host, tree, static, name), *leaves)


def callback(fn, *args, **kwargs) -> None:
    """Calls `fn(*args, **kwargs)` on the host with concrete values, wherever this runs:
    at once eagerly, when the compiled program runs under `fgrad.jit`/`jax.jit`, once per
    batch element under `vmap`, once per evaluation (on primal values) under `grad`.

    `args` and `kwargs` are pytrees of arrays and scalars; `fn`'s return value is ignored.
    Like `jax.debug.callback(fn, *args, ordered=True)`.
    """
    if not callable(fn):
        raise TypeError(at_user_line(
            f"fgrad.debug.callback needs a function to call, got {type(fn).__name__} "
            f"({fn!r:.60}): fgrad.debug.callback(fn, *args)."))
    _bind(fn, None, getattr(fn, "__qualname__", None), "fgrad.debug.callback", args, kwargs)


class _Printer:
    """The host function of one format string (a param: equal for equal strings)."""

    __slots__ = ("fmt",)

    def __init__(self, fmt):
        self.fmt = fmt

    def __call__(self, *args, **kwargs):
        builtins.print(self.fmt.format(*args, **kwargs))


_PRINTERS = register_cache(
    "debug_printers", LRUCache(4096),
    holds="the host function of one format string of fgrad.debug.print",
    key="the format string",
    why="one object per string makes equal strings equal params, so programs printing the "
        "same string share caches; an evicted one only costs such a cache miss")


def print(fmt: str, *args, **kwargs) -> None:  # noqa: A001 (jax.debug.print's name)
    """Prints `fmt.format(*args, **kwargs)` with the arrays' concrete values, wherever this
    runs (see `callback`): `fgrad.debug.print("x = {x}", x=x)`. Like
    `jax.debug.print(fmt, *args, ordered=True)`.
    """
    if not isinstance(fmt, str):
        raise TypeError(at_user_line(
            f"fgrad.debug.print's first argument is a format string, got "
            f"{type(fmt).__name__} ({fmt!r:.60}): fgrad.debug.print('x = {{}}', x)."))
    try:  # a bad format string fails here, at the user's line, not later on the host
        fmt.format(*[0] * len(args), **{k: 0 for k in kwargs})
    except (IndexError, KeyError) as e:
        raise ValueError(at_user_line(
            f"fgrad.debug.print: the format string {fmt!r} does not fit the arguments "
            f"({len(args)} positional, keywords {sorted(kwargs)}): {type(e).__name__}: "
            f"{e}.")) from None
    except (ValueError, TypeError):
        pass  # a format spec that a 0 cannot take (e.g. '{:s}'); the host will say
    printer = _PRINTERS.get(fmt)
    if printer is None:
        printer = _Printer(fmt)
        _PRINTERS.put(fmt, printer)
    _bind(printer, fmt, "print", "fgrad.debug.print", args, kwargs)
