"""Dead-code elimination: drop equations and consts that no output depends on.

Every primitive is pure, so an equation whose outputs nobody reads can go. This is what
makes an input that does not influence the output cost nothing under differentiation.
"""

from __future__ import annotations

from fgrad.core import Program, Var


def dce(program: Program) -> Program:
    live: set[Var] = {a for a in program.outputs if isinstance(a, Var)}
    kept = []
    for eqn in reversed(program.eqns):
        if any(v in live for v in eqn.outputs):
            kept.append(eqn)
            live.update(a for a in eqn.inputs if isinstance(a, Var))
    if len(kept) == len(program.eqns) and all(v in live for v in program.constvars):
        return program
    consts = [(v, c) for v, c in zip(program.constvars, program.constvals) if v in live]
    return Program([v for v, _ in consts], [c for _, c in consts], program.inputs,
                   kept[::-1], program.outputs)
