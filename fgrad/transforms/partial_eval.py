"""Partial evaluation: split a program into what can run now and what must wait.

Given which inputs are *unknown* (for linearize: the tangents), every equation that
depends on an unknown input is unknown; the rest is known. The known program computes the
known outputs and the *residuals*, the known values the unknown equations read; the
unknown program takes the residuals and the unknown inputs and computes the rest. Applied to
a JVP program this is linearization: the known part is the primal computation, the unknown
part the linear map on tangents (You Only Linearize Once).

The types line up: known inputs → (known outputs, residuals); (residuals, unknown inputs)
→ unknown outputs.
"""

from __future__ import annotations

from typing import Sequence

from fgrad.core import Program, Var
from fgrad.core.typecheck import checked
from fgrad.transforms.rules import partial_eval_rules
from fgrad.transforms.simplify import dce


def partial_eval(program: Program, unknowns: Sequence[bool],
                 instantiate: bool | Sequence[bool] = False
                 ) -> tuple[Program, Program, list[bool], int]:
    """Returns (known program, unknown program, which outputs are unknown, #residuals).

    An output marked in `instantiate` is made unknown even when it could be known: the
    unknown program returns it (as a residual passed through). Control flow needs this so
    that every branch of a cond, or every iteration of a loop, splits the same way.
    """
    unknown: set[Var] = {v for v, u in zip(program.inputs, unknowns, strict=True) if u}
    known_eqns, unknown_eqns = [], []
    for eqn in program.eqns:
        in_unknown = [type(a) is Var and a in unknown for a in eqn.inputs]
        if not any(in_unknown):
            known_eqns.append(eqn)
            continue
        rule = partial_eval_rules.get(eqn.primitive)
        known, staged = rule(eqn, in_unknown) if rule is not None else ([], [eqn])
        known_eqns += known
        unknown_eqns += staged
        for e in staged:
            unknown.update(e.outputs)
    out_unknowns = [isinstance(a, Var) and a in unknown for a in program.outputs]
    if isinstance(instantiate, bool):
        instantiate = [instantiate] * len(program.outputs)
    out_unknowns = [u or inst for u, inst in zip(out_unknowns, instantiate, strict=True)]

    consts = set(program.constvars)
    candidates: dict[Var, None] = {}  # an ordered set: known values unknown equations read
    for eqn in unknown_eqns:
        for a in eqn.inputs:
            if isinstance(a, Var) and a not in unknown and a not in consts:
                candidates[a] = None
    # An instantiated known output reaches the unknown program as a residual.
    for a, u in zip(program.outputs, out_unknowns, strict=True):
        if u and isinstance(a, Var) and a not in unknown and a not in consts:
            candidates[a] = None

    unknown_inputs = [v for v, u in zip(program.inputs, unknowns, strict=True) if u]
    unknown_outputs = [a for a, u in zip(program.outputs, out_unknowns, strict=True) if u]
    staged = dce(Program(program.constvars, program.constvals,
                         list(candidates) + unknown_inputs, unknown_eqns, unknown_outputs))
    # Only the residuals the surviving unknown equations read are worth keeping alive.
    read = {a for eqn in staged.eqns for a in eqn.inputs if isinstance(a, Var)}
    read.update(a for a in staged.outputs if isinstance(a, Var))
    residuals = [v for v in candidates if v in read]
    if len(residuals) != len(candidates):
        staged = Program(staged.constvars, staged.constvals, residuals + unknown_inputs,
                         staged.eqns, staged.outputs)

    known_inputs = [v for v, u in zip(program.inputs, unknowns, strict=True) if not u]
    known_outputs = [a for a, u in zip(program.outputs, out_unknowns, strict=True) if not u]
    known = dce(Program(program.constvars, program.constvals, known_inputs, known_eqns,
                        known_outputs + residuals))
    return checked(known), checked(staged), out_unknowns, len(residuals)
