"""A checker for programs, used by the tests and, with `FGRAD_CHECKS=1`, on every program.

It checks what every pass must preserve: each variable is bound once and before use, each
equation's output types are what its primitive's shape rule says, and the consts have the
types of their variables.

`FGRAD_CHECKS=1` in the environment (or `typecheck.CHECKS = True`) makes `checked` typecheck
each program it is handed: every trace's program, and what every transform and
simplification pass returns. The test suite runs with it on (tests/conftest.py), so a rule
that builds an ill-typed program fails where it is built, not later and obscurely.
"""

from __future__ import annotations

import os

from fgrad.core.dtypes import aval_of
from fgrad.core.errors import ProgramTypeError
from fgrad.core.ir import Literal, Program, Var, sub_programs

CHECKS = os.environ.get("FGRAD_CHECKS", "") not in ("", "0")


def checked(program: Program) -> Program:
    """`program`, typechecked first when checks are on (`FGRAD_CHECKS=1`)."""
    if CHECKS:
        typecheck(program)
    return program


def typecheck(program: Program) -> None:
    bound: set[Var] = set()

    def define(v: Var, where: str) -> None:
        if v in bound:
            raise ProgramTypeError(f"variable {v} bound twice ({where})")
        bound.add(v)

    def use(a, where: str) -> None:
        if not isinstance(a, Literal) and a not in bound:
            raise ProgramTypeError(f"variable {a} used before it is bound ({where})")

    for v, c in zip(program.constvars, program.constvals, strict=True):
        got = aval_of(c)
        if (got.shape, got.dtype) != (v.aval.shape, v.aval.dtype):
            raise ProgramTypeError(f"const {v} has type {v.aval} but holds a value of type {got}")
    for v in (*program.constvars, *program.inputs):
        define(v, "program binders")
    for i, eqn in enumerate(program.eqns):
        where = f"equation {i}: {eqn.primitive.name}"
        for a in eqn.inputs:
            use(a, where)
        expected = eqn.primitive.result_avals(*[a.aval for a in eqn.inputs], **eqn.params)
        got = [v.aval for v in eqn.outputs]
        if list(expected) != got:
            raise ProgramTypeError(
                f"{where} outputs {[str(a) for a in got]}, but its shape rule gives "
                f"{[str(a) for a in expected]}")
        for v in eqn.outputs:
            define(v, where)
        for sub in sub_programs(eqn.params):
            typecheck(sub)
    for a in program.outputs:
        use(a, "program outputs")
