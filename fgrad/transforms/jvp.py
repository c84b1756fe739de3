"""Forward mode: a program → the program that also carries tangents.

`jvp_eval` interprets a program on primal values and tangents, calling each primitive's
`jvp` rule; the rules bind fgrad.lax operations in the current trace, so interpreting
eagerly computes the result, and interpreting inside a staging trace (`jvp_program`) builds
the JVP program. Zero tangents are symbolic: an equation whose inputs all have `Zero`
tangents is re-emitted as it is, with no rule call, and integer or boolean values never
carry a tangent.
"""

from __future__ import annotations

from typing import Any, Sequence

from fgrad.core import (
    Literal, Program, Zero, current_trace, is_differentiable, source_of, staging,
    tangent_aval,
)
from fgrad.lax._ad import zeros


def jvp_eval(program: Program, primals: Sequence[Any], tangents: Sequence[Any]
             ) -> tuple[list[Any], list[Any]]:
    """Evaluates `program` and its JVP in the current trace; tangents may be `Zero`."""
    env: dict = dict(zip(program.constvars, program.constvals))
    env.update(zip(program.inputs, primals, strict=True))
    tangent_env: dict = {
        v: t for v, t in zip(program.inputs, tangents, strict=True) if not isinstance(t, Zero)}
    trace = current_trace()

    def primal(a):
        return a.value if isinstance(a, Literal) else env[a]

    def tangent(a):
        if isinstance(a, Literal):
            return Zero(tangent_aval(a.aval))
        t = tangent_env.get(a)
        return Zero(tangent_aval(a.aval)) if t is None else t

    for eqn in program.eqns:
        prim = eqn.primitive
        ps = [primal(a) for a in eqn.inputs]
        ts = [tangent(a) for a in eqn.inputs]
        # No tangent flows in, or none can flow out (comparisons, argmax, integer math):
        # re-emit the equation as it is.
        if all(isinstance(t, Zero) for t in ts) or not any(
                is_differentiable(v.aval) for v in eqn.outputs):
            outs = trace.process(prim, ps, eqn.params, eqn.source)
            out_tangents = None
        else:
            with source_of(eqn.source):
                outs, out_tangents = prim.rule("jvp")(ps, ts, **eqn.params)
        if not prim.multiple_results:
            outs, out_tangents = [outs], [out_tangents]
        for v, out, t in zip(eqn.outputs, outs, out_tangents or [None] * len(outs)):
            env[v] = out
            if t is not None and not isinstance(t, Zero) and is_differentiable(v.aval):
                tangent_env[v] = t
    return [primal(a) for a in program.outputs], [tangent(a) for a in program.outputs]


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
