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
"""

from __future__ import annotations

from typing import Any, Callable

from fgrad.core.trace import current_trace


class Primitive:
    __slots__ = ("name", "multiple_results", "abstract_eval", "lower", "result_avals",
                 "lower_results")

    def __init__(self, name: str, abstract_eval: Callable, lower: Callable,
                 multiple_results: bool = False):
        self.name = name
        self.multiple_results = multiple_results
        self.abstract_eval = abstract_eval
        self.lower = lower
        if multiple_results:
            self.result_avals, self.lower_results = abstract_eval, lower
        else:
            self.result_avals = lambda *avals, **params: [abstract_eval(*avals, **params)]
            self.lower_results = lambda *values, **params: [lower(*values, **params)]

    def bind(self, *args, **params) -> list[Any]:
        """Applies the primitive to `args` in the current trace; returns its results."""
        return current_trace().process(self, args, params, None)

    def bind1(self, *args, **params) -> Any:
        """`bind` for a one-result primitive: its result."""
        [out] = current_trace().process(self, args, params, None)
        return out

    def __repr__(self) -> str:
        return self.name
