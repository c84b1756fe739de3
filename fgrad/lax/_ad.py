"""Helpers for writing primitives' differentiation rules.

The contract every rule follows:

- `prim.jvp(primals, tangents, **params) -> (primal_out, tangent_out)`. `primals` are
  values (tracers, arrays or Python scalars); each tangent is a value of the tangent type
  or `Zero(aval)`. The rule computes the primal output itself (usually by binding `prim`)
  and returns `Zero` for a tangent it knows is zero. Multiple-result primitives return lists.
  The tangent must be *linear* in the input tangents and built only from primitives that
  have transpose rules, with the tangent on one side of each bilinear operation: reverse
  mode transposes exactly these equations.
- `prim.transpose(ct, *operands, **params) -> list`: for a primitive linear in some
  operands. Those operands arrive as `UndefinedPrimal(aval)`, the others as values; `ct` is
  the output's cotangent (never `Zero`: the transform skips those equations). It returns one
  entry per operand: the cotangent of each `UndefinedPrimal`, `None` for the others, or a
  `Zero`.

The family helpers below cover most primitives: `defjvp` (a sum of per-operand terms),
`deflinear` (the tangent is the primitive applied to the tangents), `defjvp_zero`
(piecewise constant, or integer-valued). Rules call fgrad.lax functions, which bind in the
current trace: eagerly they compute, inside a transform they emit equations.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from fgrad.core import Aval, Primitive, UndefinedPrimal, Zero, aval_of
from fgrad.core.dtypes import float0


def is_undefined(x) -> bool:
    return isinstance(x, UndefinedPrimal)


def zeros(aval: Aval):
    """An array of zeros of type `aval` (used where a rule needs a zero as a real value)."""
    from fgrad.lax.elementwise import convert_element_type
    from fgrad.lax.shapes import broadcast_in_dim
    if aval.dtype == float0:
        return np.zeros(aval.shape, float0)
    zero = convert_element_type(0, aval.dtype, weak_type=aval.weak_type)
    return broadcast_in_dim(zero, aval.shape, ()) if aval.shape else zero


def instantiate(t):
    """A tangent as a value: `Zero` becomes an array of zeros."""
    return zeros(t.aval) if isinstance(t, Zero) else t


def add_tangents(a, b):
    """a + b where either may be `Zero`."""
    from fgrad.lax.elementwise import add
    if isinstance(a, Zero):
        return b
    if isinstance(b, Zero):
        return a
    return add(a, b)


def defjvp(prim: Primitive, *terms: Callable | None) -> None:
    """JVP = sum over operands i with a nonzero tangent t_i of `terms[i](t_i, ans, *primals)`.

    `terms[i]` is None for an operand that is never differentiated (an index).
    """
    def jvp(primals, tangents, **params):
        ans = prim.bind(*primals, **params)
        out = Zero(aval_of(ans))
        for term, t in zip(terms, tangents, strict=True):
            if isinstance(t, Zero):
                continue
            if term is None:
                raise TypeError(f"{prim.name} cannot be differentiated with respect to this "
                                f"operand")
            out = add_tangents(out, term(t, ans, *primals, **params))
        return ans, out

    prim.jvp = jvp


def deflinear(prim: Primitive, linear: Sequence[int], transpose: Callable) -> None:
    """A primitive linear in the operands at positions `linear` (jointly).

    Its JVP applies the primitive to the tangents of those operands (zeros where a tangent
    is `Zero`) and to the primal values of the others (indices, selectors).
    """
    linear = tuple(linear)

    def jvp(primals, tangents, **params):
        ans = prim.bind(*primals, **params)
        if all(isinstance(tangents[i], Zero) for i in linear):
            out_avals = [aval_of(a) for a in ans] if prim.multiple_results else aval_of(ans)
            return ans, ([Zero(a) for a in out_avals] if prim.multiple_results
                         else Zero(out_avals))
        args = [instantiate(tangents[i]) if i in linear else p for i, p in enumerate(primals)]
        return ans, prim.bind(*args, **params)

    prim.jvp = jvp
    prim.transpose = transpose


def defjvp_zero(prim: Primitive) -> None:
    """A primitive whose derivative is zero everywhere it exists (sign, floor, comparisons)."""
    def jvp(primals, tangents, **params):
        ans = prim.bind(*primals, **params)
        if prim.multiple_results:
            return ans, [Zero(aval_of(a)) for a in ans]
        return ans, Zero(aval_of(ans))

    prim.jvp = jvp
