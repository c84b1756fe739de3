"""Primitives: the operations programs are made of.

A primitive is one object holding every rule about one operation, so its whole story sits
in one place (`fgrad/lax/<family>.py`):

- `abstract_eval(*avals, **params)`: the shape and dtype rule. Returns the output aval (or a
  list of them when `multiple_results`), or raises `ShapeDtypeError`.
- `lower(*values, **params)`: computes the result with `jax.lax`. It runs on JAX arrays
  (eagerly) and on JAX tracers (inside `jax.jit`), so it *is* fgrad's backend.
- `jvp`, `transpose`, `batch`: the rules of the autodiff and vmap transforms. A transform
  asks for them with `rule(...)`, which explains a missing one instead of failing obscurely.
"""

from __future__ import annotations

from typing import Any, Callable

from fgrad.core.errors import MissingRuleError
from fgrad.core.trace import bind

RULE_NAMES = ("jvp", "transpose", "batch")


class Primitive:
    __slots__ = ("name", "multiple_results", "abstract_eval", "lower", "jvp", "transpose",
                 "batch")

    def __init__(self, name: str, abstract_eval: Callable, lower: Callable,
                 multiple_results: bool = False):
        self.name = name
        self.multiple_results = multiple_results
        self.abstract_eval = abstract_eval
        self.lower = lower
        self.jvp: Callable | None = None
        self.transpose: Callable | None = None
        self.batch: Callable | None = None

    def bind(self, *args, **params) -> Any:
        return bind(self, *args, **params)

    def rule(self, transform: str) -> Callable:
        """The primitive's rule for `transform` ('jvp', 'transpose' or 'batch')."""
        if transform not in RULE_NAMES:
            raise ValueError(f"unknown transform {transform!r}; expected one of {RULE_NAMES}")
        rule = getattr(self, transform)
        if rule is None:
            raise MissingRuleError(
                f"The primitive '{self.name}' has no {transform} rule, so the {transform} "
                f"transform cannot be applied to it."
            )
        return rule

    def __repr__(self) -> str:
        return self.name
