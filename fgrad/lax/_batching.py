"""Helpers for writing primitives' batching (vmap) rules.

The contract: `rule(axis_size, values, dims, **params) -> (out, out_dim)`, registered with
`batch_rules.define(prim, rule)`. Each
`dims[i]` is the axis of `values[i]` that runs over the batch, or None when that operand is
the same for every example; at least one is not None. The rule returns its output (a list
for multiple-result primitives) and the output's batch axis (a list, likewise), and must
not loop over the batch: it emits one batched primitive (a batched dot_general is one
dot_general with an extra batch dimension).
"""

from __future__ import annotations

from fgrad.core import Primitive, aval_of
from fgrad.transforms.rules import batch_rules
# The sibling families' functions, reached through the package when called: the
# families need each other's (a rule of one emits primitives of another).
from fgrad import lax as fl


def move_axis(x, src: int, dst: int):
    """x with its axis `src` moved to position `dst`."""
    if src == dst:
        return x
    perm = list(range(aval_of(x).ndim))
    perm.insert(dst, perm.pop(src))
    return fl.transpose(x, perm)


def to_front(x, dim: int | None, axis_size: int):
    """x with its batch axis first; an unbatched x is broadcast along a new first axis."""
    if dim is None:
        aval = aval_of(x)
        return fl.broadcast_in_dim(x, (axis_size, *aval.shape), tuple(range(1, aval.ndim + 1)))
    return move_axis(x, dim, 0)


def defbatch_elementwise(prim: Primitive) -> None:
    """Batching for a primitive applied elementwise to operands of one shape: a single
    operand keeps its batch axis where it is; with several, batched operands move their
    batch axis to the front and unbatched ones are broadcast to match (the primitive needs
    equal shapes)."""
    def batch(axis_size, values, dims, **params):
        if len(values) == 1:
            outs = prim.bind(*values, **params)
            return outs, [dims[0]] * len(outs)
        args = [to_front(x, d, axis_size) for x, d in zip(values, dims)]
        outs = prim.bind(*args, **params)
        return outs, [0] * len(outs)

    batch_rules.define(prim, batch, lists=True)
