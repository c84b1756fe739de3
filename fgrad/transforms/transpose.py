"""Transposition: a program linear in some inputs → the program of its transpose.

`backward_pass` first evaluates the equations that do not touch a linear input (they
compute coefficients), then walks the linear equations in reverse, handing each output's
cotangent to the primitive's rule in `transpose_rules` and accumulating the cotangents of
values used several times. Outputs without a cotangent, and equations none of whose outputs has
one, are skipped: zeros are never computed.
"""

from __future__ import annotations

from typing import Any, Sequence

from fgrad.core import (
    Aval, Eqn, Literal, Program, UndefinedPrimal, Var, Zero, aval_of, current_trace,
    source_of, staging, walk,
)
from fgrad.core.errors import (
    MissingRuleError, NotDifferentiableError, ProgramTypeError, at_user_line, derived,
)
from fgrad.lax._ad import add_tangents, zeros
from fgrad.transforms.rules import transpose_failure_hints, transpose_rules


def backward_pass(program: Program, linear: Sequence[bool], args: Sequence[Any],
                  cts_out: Sequence[Any], linear_avals: dict[Var, Aval] | None = None
                  ) -> list[Any]:
    """Cotangents of the linear inputs (`Zero` where none flows), evaluated in the current
    trace. `args` holds values for the non-linear inputs (anything for the linear ones);
    `cts_out` one cotangent or `Zero` per output. `linear_avals` retypes linear inputs as
    the rules see them (a loop's carry is typed by its incoming cotangent, as in JAX)."""
    linear_vars: set[Var] = {v for v, is_linear in zip(program.inputs, linear, strict=True)
                             if is_linear}
    linear_avals = linear_avals or {}
    forward_eqns, linear_eqns = [], []
    for eqn in program.eqns:
        if any(type(a) is Var and a in linear_vars for a in eqn.inputs):
            linear_eqns.append(eqn)
            linear_vars.update(eqn.outputs)
        else:
            forward_eqns.append(eqn)
    trace = current_trace()
    env: dict = dict(zip(program.constvars, program.constvals, strict=True))
    env.update((v, x) for v, x, is_linear in zip(program.inputs, args, linear, strict=True)
               if not is_linear)
    walk(forward_eqns, env,
         lambda eqn, vals: trace.process(eqn.primitive, vals, eqn.params, eqn.source))

    def transpose(eqn: Eqn, out_cts: list) -> list:
        prim = eqn.primitive
        if len(out_cts) == 1 and out_cts[0] is not None:  # most equations
            cts = out_cts
        else:
            cts = [Zero(v.aval) if c is None else c
                   for v, c in zip(eqn.outputs, out_cts, strict=True)]
        operands = [a.value if type(a) is Literal
                    else UndefinedPrimal(linear_avals.get(a, a.aval)) if a in linear_vars
                    else env[a]
                    for a in eqn.inputs]
        try:
            rule = transpose_rules[prim]
        except MissingRuleError as e:  # name the user's line that made the equation
            raise MissingRuleError(_hinted(at_user_line(str(e), eqn.source), eqn)) from None
        with source_of(derived(eqn.source)):
            try:
                in_cts = rule(cts, *operands, **eqn.params)
            except NotDifferentiableError as e:
                raise NotDifferentiableError(_hinted(str(e), eqn)) from None
        return [_checked(c, a, prim) if type(a) is Var and a in linear_vars else None
                for a, c in zip(eqn.inputs, in_cts, strict=True)]

    cts = {}
    for v, ct in zip(program.outputs, cts_out, strict=True):
        if type(v) is Var and v in linear_vars and ct is not None and type(ct) is not Zero:
            ct = _checked(ct, v, None)
            cts[v] = add_tangents(cts[v], ct) if v in cts else ct
    walk(linear_eqns, cts, transpose, reverse=True, add=add_tangents)
    return [cts.get(v, Zero(v.aval)) if is_linear else None
            for v, is_linear in zip(program.inputs, linear, strict=True)]


def _hinted(message: str, eqn: Eqn) -> str:
    for hint in transpose_failure_hints:
        note = hint(eqn)
        if note:
            return f"{message}\n{note}"
    return message


def _checked(ct, v: Var, prim):
    """`ct` if it fits `v` (None for a `Zero`, which is not summed); a transpose rule that
    returns a cotangent of another type is a bug in that rule, reported as such."""
    if ct is None or type(ct) is Zero:
        return None
    got = aval_of(ct)
    if got.shape != v.aval.shape or got.dtype != v.aval.dtype:
        where = "a cotangent of the program's outputs" if prim is None else \
            f"the transpose rule of {prim.name}"
        raise ProgramTypeError(
            f"{where} produced a cotangent of type {got} for a value of type {v.aval}; "
            f"this is a bug in that rule (or in the program's types), not in your code.")
    return ct


def transpose_program(program: Program, linear: Sequence[bool],
                      ct_avals: Sequence[Aval] | None = None, instantiate: bool = False
                      ) -> tuple[Program, list[bool]]:
    """The transpose as a program: inputs are the non-linear inputs then one cotangent per
    output (of the outputs' types, or `ct_avals`: a cotangent's weak type may differ from
    its output's); outputs are the cotangents of the linear inputs that are not zero (all
    of them, zeros included, with `instantiate`). Returns the program and, per linear
    input, whether it has an output."""
    if ct_avals is None:
        ct_avals = [a.aval for a in program.outputs]
    with staging("transpose") as trace:
        args = [trace.new_input(v.aval) if not is_linear else None
                for v, is_linear in zip(program.inputs, linear, strict=True)]
        cts_out = [trace.new_input(a) for a in ct_avals]
        cts_in = [c for c, is_linear in zip(
            backward_pass(program, linear, args, cts_out), linear) if is_linear]
        if instantiate:
            cts_in = [zeros(c.aval) if isinstance(c, Zero) else c for c in cts_in]
        nonzero = [not isinstance(c, Zero) for c in cts_in]
        result = trace.to_program([c for c in cts_in if not isinstance(c, Zero)])
    return result, nonzero
