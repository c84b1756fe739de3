"""Constants to differentiation: `stop_gradient` of a pytree, and `no_grad()`, PyTorch's
block in which everything computed is a constant to every enclosing differentiation."""

from __future__ import annotations

import contextlib

import jax

from fgrad.core import aval_of, current_trace, is_differentiable, use_trace
from fgrad.core.trace import Trace
from fgrad.lax.elementwise import stop_gradient_p


def stop_gradient(x):
    """`x` (any pytree), as a constant to every enclosing differentiation.

    Args:
      x (Any): a pytree of arrays; leaves of integer, boolean or other non-differentiable
        types pass through unchanged.

    Returns:
      (Any): `x`'s value, with the structure of `x`, whose derivative with respect to
        anything is zero.
    """
    def stop(leaf):
        return stop_gradient_p.bind1(leaf) if is_differentiable(aval_of(leaf)) else leaf
    return jax.tree_util.tree_map(stop, x)


class _NoGradTrace(Trace):
    """Forwards every primitive to the enclosing trace and stops the gradient of its
    results, so values computed inside `no_grad()` are constants to all transforms."""

    def __init__(self, parent: Trace):
        self.parent = parent
        self.name = parent.name

    @property
    def closed(self):
        return self.parent.closed

    def capture(self, x):
        return self.parent.capture(x)

    def process(self, prim, args, params, source):
        outs = self.parent.process(prim, args, params, source)
        if prim is stop_gradient_p:
            return outs
        return [self.parent.process(stop_gradient_p, [o], {}, source)[0]
                if is_differentiable(aval_of(o)) else o for o in outs]


@contextlib.contextmanager
def no_grad():
    """Within the block, computed values are constants to every enclosing differentiation
    (PyTorch's `torch.no_grad()`, as sugar over `stop_gradient`).

    Use it as `with fgrad.no_grad(): ...`.

    Yields:
      (None): nothing; the block runs with every differentiable result of a primitive made
        a constant, as if wrapped in `stop_gradient`.
    """
    with use_trace(_NoGradTrace(current_trace())):
        yield
