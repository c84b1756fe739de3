"""The one evaluator: runs a program by binding each equation in the current trace.

Because it binds rather than computes, the same function evaluates eagerly (eval trace:
JAX arrays or JAX tracers), re-stages a program into an enclosing trace (copying its
equations when the arguments have the program's input types: see `StagingTrace.splice`),
and later drives every transform that interprets a program.
"""

from __future__ import annotations

from typing import Any

from fgrad.core.dtypes import aval_of
from fgrad.core.ir import Literal, Program
from fgrad.core.trace import StagingTrace, current_trace


def eval_program(program: Program, *args) -> list[Any]:
    """Evaluates `program` on `args` (one per input); returns the list of outputs."""
    if len(args) != len(program.inputs):
        raise TypeError(
            f"The program takes {len(program.inputs)} inputs but was given {len(args)}.")
    trace = current_trace()
    if type(trace) is StagingTrace and all(
            aval_of(x) == v.aval for x, v in zip(args, program.inputs)):
        return trace.splice(program, args)
    env: dict = dict(zip(program.constvars, program.constvals))
    env.update(zip(program.inputs, args))
    for eqn in program.eqns:
        vals = [a.value if isinstance(a, Literal) else env[a] for a in eqn.inputs]
        outs = trace.process(eqn.primitive, vals, eqn.params, eqn.source)
        if eqn.primitive.multiple_results:
            env.update(zip(eqn.outputs, outs))
        else:
            env[eqn.outputs[0]] = outs
    return [a.value if isinstance(a, Literal) else env[a] for a in program.outputs]
