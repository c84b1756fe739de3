"""A checker for programs, used by the tests and by transforms in debug runs.

It checks what every pass must preserve: each variable is bound once and before use, and
each equation's output types are what its primitive's shape rule says.
"""

from __future__ import annotations

from fgrad.core.ir import Literal, Program, Var


class ProgramTypeError(Exception):
    pass


def typecheck(program: Program) -> None:
    bound: set[Var] = set()

    def define(v: Var, where: str) -> None:
        if v in bound:
            raise ProgramTypeError(f"variable {v} bound twice ({where})")
        bound.add(v)

    def use(a, where: str) -> None:
        if not isinstance(a, Literal) and a not in bound:
            raise ProgramTypeError(f"variable {a} used before it is bound ({where})")

    for v in (*program.constvars, *program.inputs):
        define(v, "program binders")
    for i, eqn in enumerate(program.eqns):
        where = f"equation {i}: {eqn.primitive.name}"
        for a in eqn.inputs:
            use(a, where)
        expected = eqn.primitive.abstract_eval(*[a.aval for a in eqn.inputs], **eqn.params)
        expected = expected if eqn.primitive.multiple_results else [expected]
        got = [v.aval for v in eqn.outputs]
        if list(expected) != got:
            raise ProgramTypeError(
                f"{where} outputs {[str(a) for a in got]}, but its shape rule gives "
                f"{[str(a) for a in expected]}")
        for v in eqn.outputs:
            define(v, where)
    for a in program.outputs:
        use(a, "program outputs")
