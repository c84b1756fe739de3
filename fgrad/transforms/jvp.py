"""Forward mode: a program → the program that also carries tangents.

`jvp_eval` interprets a program on primal values and tangents, calling each primitive's
rule from `jvp_rules`; the rules bind fgrad.lax operations in the current trace, so
interpreting eagerly computes the result, and interpreting inside a staging trace
(`jvp_program`) builds the JVP program. Zero tangents are symbolic: an equation whose
inputs all have `Zero` tangents is re-emitted as it is, with no rule call, and integer or
boolean values never carry a tangent.
"""

from __future__ import annotations

from typing import Any, Sequence

from fgrad.core import (
    Eqn, Literal, Program, Zero, current_trace, interpret, is_differentiable, source_of,
    staging, tangent_aval,
)
from fgrad.core.errors import derived
from fgrad.lax._ad import zeros
from fgrad.transforms.rules import jvp_rules


def jvp_eval(program: Program, primals: Sequence[Any], tangents: Sequence[Any]
             ) -> tuple[list[Any], list[Any]]:
    """Evaluates `program` and its JVP in the current trace; tangents may be `Zero`."""
    trace = current_trace()

    def apply(eqn: Eqn, pairs: list) -> list:
        prim = eqn.primitive
        ps = [p for p, _ in pairs]
        ts = [t for _, t in pairs]
        differentiable = [is_differentiable(v.aval) for v in eqn.outputs]
        # No tangent flows in, or none can flow out (comparisons, argmax, integer math):
        # re-emit the equation as it is. (A loop, not all/any: this runs per equation.)
        for t in ts:
            if type(t) is not Zero and True in differentiable:
                break
        else:
            outs = trace.process(prim, ps, eqn.params, eqn.source)
            return [(out, Zero(tangent_aval(v.aval)))
                    for out, v in zip(outs, eqn.outputs, strict=True)]
        with source_of(derived(eqn.source)):
            outs, out_tangents = jvp_rules[prim](ps, ts, **eqn.params)
        return [(out, t if t is not None and type(t) is not Zero and diff
                 else Zero(tangent_aval(v.aval)))
                for out, t, v, diff in zip(outs, out_tangents, eqn.outputs, differentiable,
                                           strict=True)]

    def literal(lit: Literal):
        return lit.value, Zero(tangent_aval(lit.aval))

    consts = [(c, Zero(tangent_aval(v.aval)))
              for v, c in zip(program.constvars, program.constvals, strict=True)]
    pairs = interpret(program, list(zip(primals, tangents, strict=True)), apply, literal,
                      consts)
    return [p for p, _ in pairs], [t for _, t in pairs]


def jvp_program(program: Program, nonzeros: Sequence[bool],
                instantiate: bool | Sequence[bool] = False) -> tuple[Program, list[bool]]:
    """The JVP of `program` as a program.

    Its inputs are the primal inputs, then a tangent for each input marked in `nonzeros`;
    its outputs are the primal outputs, then a tangent for each output that is nonzero (or
    marked in `instantiate`, which materialises zero tangents). Returns the program and
    which outputs have tangents.
    """
    n_out = len(program.outputs)
    if isinstance(instantiate, bool):
        instantiate = [instantiate] * n_out
    with staging("jvp") as trace:
        primals = [trace.new_input(v.aval) for v in program.inputs]
        tangents = [trace.new_input(tangent_aval(v.aval)) if nz else Zero(tangent_aval(v.aval))
                    for v, nz in zip(program.inputs, nonzeros, strict=True)]
        out_primals, out_tangents = jvp_eval(program, primals, tangents)
        out_tangents = [zeros(t.aval) if isinstance(t, Zero) and inst else t
                        for t, inst in zip(out_tangents, instantiate, strict=True)]
        out_nonzeros = [not isinstance(t, Zero) for t in out_tangents]
        result = trace.to_program(
            out_primals + [t for t in out_tangents if not isinstance(t, Zero)])
    return result, out_nonzeros
