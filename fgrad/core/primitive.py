"""Primitives: the operations programs are made of.

A primitive is a name and the two rules every layer needs, written in its family module
(`fgrad/lax/<family>.py`) next to the rules the transforms own (registered in their tables,
`fgrad/transforms/rules.py`), so its whole story sits in one place:

- `abstract_eval(*avals, **params)`: the shape and dtype rule. Returns the output aval (a
  list of them for a primitive with `multiple_results`), or raises `ShapeDtypeError`.
- `lower(*values, **params)`: computes the result with `jax.lax`. It runs on JAX arrays
  (eagerly) and on JAX tracers (inside `jax.jit`), so it *is* fgrad's backend.

Whatever a primitive's arity, fgrad's machinery sees lists: `bind` returns a list of
results, and `result_avals` / `lower_results` are the two rules in list form, so nothing
downstream branches on `multiple_results`. `bind1` is the one-result shorthand.

A primitive marked `effectful` (fgrad.debug's callback) exists for what it does, not for its
results: dead-code and common-subexpression elimination keep every one of its equations.
"""

from __future__ import annotations

from typing import Any, Callable

from fgrad.core.trace import _context


class Primitive:
    __slots__ = ("name", "multiple_results", "abstract_eval", "lower", "result_avals",
                 "lower_results", "effectful")

    def __init__(self, name: str, abstract_eval: Callable, lower: Callable,
                 multiple_results: bool = False, effectful: bool = False):
        self.name = name
        self.multiple_results = multiple_results
        self.effectful = effectful
        self.abstract_eval = abstract_eval
        self.lower = lower
        if multiple_results:
            self.result_avals, self.lower_results = abstract_eval, lower
        else:
            self.result_avals = lambda *avals, **params: [abstract_eval(*avals, **params)]
            self.lower_results = lambda *values, **params: [lower(*values, **params)]

    def bind(self, *args, **params) -> list[Any]:
        """Applies the primitive to `args` in the current trace; returns its results."""
        return _context.trace.process(self, args, params, None)  # current_trace(), inlined

    def bind1(self, *args, **params) -> Any:
        """`bind` for a one-result primitive: its result."""
        [out] = _context.trace.process(self, args, params, None)
        return out

    def __repr__(self) -> str:
        return self.name


_PLAIN_BINDS = (Primitive.bind, Primitive.bind1)


def set_bind_hook(hook: Callable | None) -> None:
    """Routes every `bind` through `hook(prim, args, params) -> results` (None: back to the
    plain methods). fgrad.debug's NaN checks install one while they are on, so binding
    costs nothing extra while they are off (the methods themselves are swapped)."""
    if hook is None:
        Primitive.bind, Primitive.bind1 = _PLAIN_BINDS
        return

    def bind(self, *args, **params):
        return hook(self, args, params)

    def bind1(self, *args, **params):
        [out] = hook(self, args, params)
        return out

    bind.__doc__, bind1.__doc__ = _PLAIN_BINDS[0].__doc__, _PLAIN_BINDS[1].__doc__
    Primitive.bind, Primitive.bind1 = bind, bind1
