"""The one evaluator: runs a program by binding each equation in the current trace.

Because it binds rather than computes, the same function evaluates eagerly (eval trace:
JAX arrays or JAX tracers), re-stages a program into an enclosing trace (copying its
equations when the arguments have the program's input types: see `StagingTrace.splice`),
and later drives every transform that interprets a program.
"""

from __future__ import annotations

from typing import Any

from fgrad.core.dtypes import aval_of
from fgrad.core.interpret import interpret
from fgrad.core.ir import Program
from fgrad.core.trace import StagingTrace, current_trace


def eval_program(program: Program, *args) -> list[Any]:
    """Evaluates `program` on `args` (one per input); returns the list of outputs."""
    if len(args) != len(program.inputs):
        raise TypeError(
            f"The program takes {len(program.inputs)} inputs but was given {len(args)}.")
    trace = current_trace()
    if type(trace) is StagingTrace and all(
            aval_of(x) == v.aval for x, v in zip(args, program.inputs, strict=True)):
        return trace.splice(program, args)
    return interpret(program, args,
                     lambda eqn, vals: trace.process(eqn.primitive, vals, eqn.params, eqn.source))
