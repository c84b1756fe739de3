"""Linearization: a program → its primal part and the linear map of its derivative.

    linearize = partial_eval ∘ jvp        (You Only Linearize Once)

The JVP program computes outputs and output tangents from inputs and input tangents.
Partially evaluated with the tangents unknown, it splits into a *known* program, which runs
now on the primal inputs and computes the outputs and the *residuals* (the primal values the
derivative needs), and a *linear* program from the residuals and the input tangents to the
output tangents. Reverse mode transposes the linear program; forward mode runs it, once per
tangent or batched over many.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

from fgrad.core import Program
from fgrad.core.typecheck import checked
from fgrad.transforms.jvp import jvp_program
from fgrad.transforms.partial_eval import partial_eval
from fgrad.transforms.simplify import dce


class Linearization(NamedTuple):
    """The parts of a linearized program.

    - `known`: the program's inputs → its outputs, then the residuals.
    - `linear`: the residuals, then one tangent per differentiable input → the tangent of
      each differentiated output marked in `out_linear`.
    - `n_residuals`: how many residuals `known` ends with and `linear` starts with.
    - `out_linear`: per differentiated output, whether its tangent depends on the input
      tangents (an output of `linear`); the others have zero tangents.
    """

    known: Program
    linear: Program
    n_residuals: int
    out_linear: list[bool]


def linearize_program(program: Program, differentiable: Sequence[bool],
                      n_differentiated: int | None = None) -> Linearization:
    """Linearizes `program` in its inputs marked `differentiable`, for its first
    `n_differentiated` outputs (all by default); the other outputs (auxiliary data) are only
    computed."""
    n_all = len(program.outputs)
    n_out = n_all if n_differentiated is None else n_differentiated
    jvp, out_nonzero = jvp_program(program, differentiable)
    tangents = iter(jvp.outputs[n_all:])
    wanted = [next(tangents) if nonzero else None for nonzero in out_nonzero[:n_out]]
    # Partial evaluation drops what no kept output needs from both of its programs.
    jvp = Program(jvp.constvars, jvp.constvals, jvp.inputs, jvp.eqns,
                  [*jvp.outputs[:n_all], *(t for t in wanted if t is not None)])
    known, linear, out_unknown, n_res = partial_eval(
        jvp, [False] * len(program.inputs) + [True] * sum(differentiable))
    # A tangent that does not depend on the input tangents is a constant of a linear map:
    # zero. The known program computes it; it is dropped there and not asked of `linear`.
    unknown = iter(out_unknown[n_all:])
    out_linear = [t is not None and next(unknown) for t in wanted]
    n_known_tangents = len(known.outputs) - n_all - n_res
    if n_known_tangents:
        known = dce(Program(known.constvars, known.constvals, known.inputs, known.eqns,
                            [*known.outputs[:n_all], *known.outputs[n_all + n_known_tangents:]]))
    return Linearization(checked(known), linear, n_res, out_linear)

