"""Helpers for writing primitives' differentiation rules.

The contract every rule follows (registered in the tables of `fgrad/transforms/rules.py`):

- `jvp_rules`: `rule(primals, tangents, **params) -> (primal_out, tangent_out)`. `primals` are
  values (tracers, arrays or Python scalars); each tangent is a value of the tangent type
  or `Zero(aval)`. The rule computes the primal output itself (usually by binding `prim`)
  and returns `Zero` for a tangent it knows is zero. Multiple-result primitives return lists.
  The tangent must be *linear* in the input tangents and built only from primitives that
  have transpose rules, with the tangent on one side of each bilinear operation: reverse
  mode transposes exactly these equations.
- `transpose_rules`: `rule(ct, *operands, **params) -> list`: for a primitive linear in some
  operands. Those operands arrive as `UndefinedPrimal(aval)`, the others as values; `ct` is
  the output's cotangent (never `Zero`: the transform skips those equations). It returns one
  entry per operand: the cotangent of each `UndefinedPrimal`, `None` for the others, or a
  `Zero`.

The family helpers below cover most primitives: `defjvp` (a sum of per-operand terms),
`deflinear` (the tangent is the primitive applied to the tangents), `defjvp_zero`
(piecewise constant, or integer-valued). The first and the last also declare that the
primitive has no transpose rule, and why. Rules call fgrad.lax functions, which bind in the
current trace: eagerly they compute, inside a transform they emit equations.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from fgrad.core import Aval, Primitive, UndefinedPrimal, Zero, aval_of
from fgrad.core.errors import NotDifferentiableError
from fgrad.core.dtypes import float0
from fgrad.transforms.rules import jvp_rules, transpose_rules
# The sibling families' functions, reached through the package when called: the
# families need each other's (a rule of one emits primitives of another).
from fgrad import lax as fl


def is_undefined(x) -> bool:
    return isinstance(x, UndefinedPrimal)


def zeros(aval: Aval):
    """An array of zeros of type `aval` (used where a rule needs a zero as a real value)."""
    if aval.dtype == float0:
        return np.zeros(aval.shape, float0)
    return fl.full(aval.shape, 0, aval.dtype, weak_type=aval.weak_type)


def instantiate(t):
    """A tangent as a value: `Zero` becomes an array of zeros."""
    return zeros(t.aval) if isinstance(t, Zero) else t


def add_tangents(a, b):
    """a + b where either may be `Zero`."""
    if isinstance(a, Zero):
        return b
    if isinstance(b, Zero):
        return a
    return fl.add(a, b)


def defjvp(prim: Primitive, *terms: Callable | None) -> None:
    """JVP = sum over operands i with a nonzero tangent t_i of `terms[i](t_i, ans, *primals)`.

    `terms[i]` is None for an operand that is never differentiated (an index).
    """
    def jvp(primals, tangents, **params):
        ans = prim.bind1(*primals, **params)
        out = Zero(aval_of(ans))
        for i, (term, t) in enumerate(zip(terms, tangents, strict=True)):
            if isinstance(t, Zero):
                continue
            if term is None:
                raise NotDifferentiableError(
                    f"{prim.name} cannot be differentiated with respect to its operand {i}, "
                    f"which is an index or a selector: pass it as a constant.")
            out = add_tangents(out, term(t, ans, *primals, **params))
        return ans, out

    jvp_rules.define(prim, jvp)
    transpose_rules.absent(prim, "it is not linear in any operand")


def deflinear(prim: Primitive, linear: Sequence[int], transpose: Callable) -> None:
    """A primitive linear in the operands at positions `linear` (jointly).

    Its JVP applies the primitive to the tangents of those operands (zeros where a tangent
    is `Zero`) and to the primal values of the others (indices, selectors).
    """
    linear = tuple(linear)

    def jvp(primals, tangents, **params):
        ans = prim.bind(*primals, **params)
        if all(isinstance(tangents[i], Zero) for i in linear):
            return ans, [Zero(aval_of(a)) for a in ans]
        args = [instantiate(tangents[i]) if i in linear else p for i, p in enumerate(primals)]
        return ans, prim.bind(*args, **params)

    jvp_rules.define(prim, jvp, lists=True)
    transpose_rules.define(prim, transpose)


def defjvp_zero(prim: Primitive) -> None:
    """A primitive whose derivative is zero everywhere it exists (sign, floor, comparisons)."""
    def jvp(primals, tangents, **params):
        ans = prim.bind(*primals, **params)
        return ans, [Zero(aval_of(a)) for a in ans]

    jvp_rules.define(prim, jvp, lists=True)
    transpose_rules.absent(prim, "its derivative is zero wherever it exists")
