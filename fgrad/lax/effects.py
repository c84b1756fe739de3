"""Effectful primitives: `debug_callback`, the one primitive that exists for what it does
rather than what it returns (fgrad.debug.print and fgrad.debug.callback bind it).

- `debug_callback_p(*args; callback)`: no results. Calls `callback.fn` on the host with the
  concrete values of `args` (rebuilt into the pytrees the user passed). It is lowered to
  `jax.debug.callback(..., ordered=True)`, so under `fgrad.jit` or `jax.jit` it runs when the
  compiled program runs, in program order relative to every other ordered callback.

The primitive is marked `effectful=True` (`fgrad/core/primitive.py`): dead-code elimination
keeps it although nothing reads its (absent) results, and common-subexpression elimination
never merges two of them (two prints of the same value print twice).

Its rules:

- JVP: the callback is re-emitted on the primal values; tangents are ignored (the user
  printed the value, not its derivative: print a derivative by printing inside the function
  that computes it). jvp_eval never even calls the rule, since the equation has no
  differentiable result: it is re-emitted as it is, once.
- Partial evaluation: its inputs are primal values, so it lands in the known (forward)
  program, which runs once per evaluation of a gradient; the linear and transposed programs
  never see it. So a print in a function prints once per `grad` call, not once per
  transform.
- Transpose: nothing to do (no results, so no cotangents ever reach it; the rule is defined
  for completeness and returns no cotangents).
- vmap: one call per batch element, each seeing one example's values, in order of the batch
  index: what `jax.debug.callback` does under `jax.vmap` (its batching rule loops over the
  batch). The rule therefore emits `axis_size` equations, each on a slice of the batched
  operands: this is the one batching rule that loops, on purpose, since a print of a batch
  would show values the unbatched function never had.
"""

from __future__ import annotations

import jax

from fgrad.core import Primitive, aval_of
from fgrad.transforms.rules import batch_rules, jvp_rules, transpose_rules
# The sibling families' functions, reached through the package when called.
from fgrad import lax as fl

tree_unflatten = jax.tree_util.tree_unflatten


class Callback:
    """The `callback` param: the host function and the pytree structure of its arguments.

    Equal (and hashed) by the function's identity, the structure and `static` (the format
    string of a print): equal params let eager calls reuse one compiled op, and programs
    with different callbacks have different keys.
    """

    __slots__ = ("fn", "tree", "static", "name")

    def __init__(self, fn, tree, static=None, name: str | None = None):
        self.fn = fn
        self.tree = tree
        self.static = static
        self.name = name or getattr(fn, "__qualname__", None) or type(fn).__name__

    def __eq__(self, other):
        return (type(other) is Callback and other.fn is self.fn and other.tree == self.tree
                and other.static == self.static)

    def __hash__(self):
        return hash((id(self.fn), self.tree, self.static))

    def __repr__(self):
        return self.name if self.static is None else f"{self.name}({self.static!r})"

    def __call__(self, *leaves):
        args, kwargs = tree_unflatten(self.tree, leaves)
        self.fn(*args, **kwargs)


def _abstract_eval(*avals, callback):
    return []


def _lower(*args, callback):
    # With concrete JAX arrays (outside any jit) jax.debug.callback calls `callback` at once;
    # under jit it stages an ordered host callback.
    jax.debug.callback(callback, *args, ordered=True)
    return []


debug_callback_p = Primitive("debug_callback", _abstract_eval, _lower, multiple_results=True,
                             effectful=True)


def _jvp(primals, tangents, *, callback):
    debug_callback_p.bind(*primals, callback=callback)
    return [], []


def _transpose(cts, *operands, callback):
    return [None] * len(operands)


def _batch(axis_size, values, dims, *, callback):
    for i in range(axis_size):
        example = []
        for x, d in zip(values, dims, strict=True):
            if d is None:
                example.append(x)
                continue
            shape = aval_of(x).shape
            start = [0] * len(shape)
            limit = list(shape)
            start[d], limit[d] = i, i + 1
            example.append(fl.squeeze(fl.slice(x, start, limit), (d,)))
        debug_callback_p.bind(*example, callback=callback)
    return [], []


jvp_rules.define(debug_callback_p, _jvp, lists=True)
transpose_rules.define(debug_callback_p, _transpose)
batch_rules.define(debug_callback_p, _batch)


def debug_callback(callback: Callback, *leaves) -> None:
    """Binds `debug_callback_p` on flat array leaves (fgrad.debug.callback's core)."""
    debug_callback_p.bind(*leaves, callback=callback)
