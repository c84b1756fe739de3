"""Transposition: a program linear in some inputs → the program of its transpose.

`backward_pass` first evaluates the equations that do not touch a linear input (they
compute coefficients), then walks the linear equations in reverse, handing each output's
cotangent to the primitive's `transpose` rule and accumulating the cotangents of values
used several times. Outputs without a cotangent, and equations none of whose outputs has
one, are skipped: zeros are never computed.
"""

from __future__ import annotations

from typing import Any, Sequence

from fgrad.core import (
    Aval, Literal, Program, UndefinedPrimal, Var, Zero, aval_of, current_trace, source_of,
    staging,
)
from fgrad.lax._ad import add_tangents


def backward_pass(program: Program, linear: Sequence[bool], args: Sequence[Any],
                  cts_out: Sequence[Any]) -> list[Any]:
    """Cotangents of the linear inputs (`Zero` where none flows), evaluated in the current
    trace. `args` holds values for the non-linear inputs (anything for the linear ones);
    `cts_out` one cotangent or `Zero` per output."""
    env: dict = dict(zip(program.constvars, program.constvals))
    linear_vars: set[Var] = set()
    for v, is_linear, x in zip(program.inputs, linear, args, strict=True):
        if is_linear:
            linear_vars.add(v)
        else:
            env[v] = x
    trace = current_trace()
    linear_eqns = []
    for eqn in program.eqns:
        if any(isinstance(a, Var) and a in linear_vars for a in eqn.inputs):
            linear_eqns.append(eqn)
            linear_vars.update(eqn.outputs)
        else:
            vals = [a.value if isinstance(a, Literal) else env[a] for a in eqn.inputs]
            outs = trace.process(eqn.primitive, vals, eqn.params, eqn.source)
            env.update(zip(eqn.outputs, outs if eqn.primitive.multiple_results else [outs]))

    cts: dict[Var, Any] = {}

    def accumulate(v: Var, ct, prim_name: str) -> None:
        if ct is None or isinstance(ct, Zero):
            return
        got = aval_of(ct)
        if got.shape != v.aval.shape or got.dtype != v.aval.dtype:
            raise AssertionError(f"the transpose rule of {prim_name} produced a cotangent of "
                                 f"type {got} for a value of type {v.aval}")
        cts[v] = add_tangents(cts[v], ct) if v in cts else ct

    for v, ct in zip(program.outputs, cts_out, strict=True):
        if isinstance(v, Var) and v in linear_vars:
            accumulate(v, ct, "the program's outputs")
    for eqn in reversed(linear_eqns):
        prim = eqn.primitive
        out_cts = [cts.pop(v, None) for v in eqn.outputs]
        if all(ct is None for ct in out_cts):
            continue
        if prim.multiple_results:
            ct = [Zero(v.aval) if c is None else c for v, c in zip(eqn.outputs, out_cts)]
        else:
            ct = out_cts[0]
        operands = [
            a.value if isinstance(a, Literal)
            else UndefinedPrimal(a.aval) if a in linear_vars else env[a]
            for a in eqn.inputs]
        with source_of(eqn.source):
            in_cts = prim.rule("transpose")(ct, *operands, **eqn.params)
        for a, c in zip(eqn.inputs, in_cts, strict=True):
            if isinstance(a, Var) and a in linear_vars:
                accumulate(a, c, prim.name)
    return [cts.get(v, Zero(v.aval)) if is_linear else None
            for v, is_linear in zip(program.inputs, linear)]


def transpose_program(program: Program, linear: Sequence[bool],
                      ct_avals: Sequence[Aval] | None = None) -> tuple[Program, list[bool]]:
    """The transpose as a program: inputs are the non-linear inputs then one cotangent per
    output (of the outputs' types, or `ct_avals`: a cotangent's weak type may differ from
    its output's); outputs are the cotangents of the linear inputs that are not zero.
    Returns the program and, per linear input, whether it has an output."""
    if ct_avals is None:
        ct_avals = [a.aval for a in program.outputs]
    with staging("transpose") as trace:
        args = [trace.new_input(v.aval) if not is_linear else None
                for v, is_linear in zip(program.inputs, linear, strict=True)]
        cts_out = [trace.new_input(a) for a in ct_avals]
        cts_in = [c for c, is_linear in zip(
            backward_pass(program, linear, args, cts_out), linear) if is_linear]
        nonzero = [not isinstance(c, Zero) for c in cts_in]
        result = trace.to_program([c for c in cts_in if not isinstance(c, Zero)])
    return result, nonzero
