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
from fgrad.core.trace import EVAL_TRACE, StagingTrace, current_trace


# fgrad.debug's NaN checks (fgrad/debug/nans.py) install their checker here while they are
# on: `check_eqn(eqn, inputs, outputs)` after every equation evaluated eagerly, which raises
# at the first one producing a NaN or an infinity. None while off: one test per program.
nan_checker = None


def eval_program(program: Program, *args) -> list[Any]:
    """Evaluates `program` on `args` (one per input); returns the list of outputs.

    Evaluation is in the current trace: eager at top level, staged into an enclosing
    transform's program inside one.

    Args:
      program: the program to evaluate.
      *args (Any): its inputs' values, one per variable of `program.inputs` (constants come
        from `program.constvals`).

    Returns:
      the values of `program.outputs`, in order.

    Raises:
      TypeError: the number of `args` is not the number of inputs.
    """
    if len(args) != len(program.inputs):
        raise TypeError(
            f"The program takes {len(program.inputs)} inputs but was given {len(args)}.")
    trace = current_trace()
    if type(trace) is StagingTrace and all(
            aval_of(x) == v.aval for x, v in zip(args, program.inputs, strict=True)):
        return trace.splice(program, args)
    if nan_checker is not None and trace is EVAL_TRACE:
        check = nan_checker.check_eqn

        def checked(eqn, vals):
            outs = trace.process(eqn.primitive, vals, eqn.params, eqn.source)
            check(eqn, vals, outs)
            return outs

        return interpret(program, args, checked)
    return interpret(program, args,
                     lambda eqn, vals: trace.process(eqn.primitive, vals, eqn.params, eqn.source))
