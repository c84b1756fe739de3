"""Linearization: a program → its primal part and the linear map of its derivative.

    linearize = partial_eval ∘ jvp        (You Only Linearize Once)

The JVP program computes outputs and output tangents from inputs and input tangents.
Partially evaluated with the tangents unknown, it splits into a *known* program, which runs
now on the primal inputs and computes the outputs and the *residuals* (the primal values the
derivative needs), and a *linear* program from the residuals and the input tangents to the
output tangents. Reverse mode transposes the linear program; forward mode runs it, once per
tangent or batched over many.

`linearize_program` builds both programs, for the transforms that need the known part as a
program (a loop body's, a checkpoint's). `linearize_eval` does the same split in one pass
when the primal part is only to be run: the JVP rules run in a `LinearTrace`, which records
an equation only when it reads a tangent and hands every other one to the enclosing trace,
where it runs now (eagerly) or is recorded (under `jit` or another transform). No JVP
program is built, split or copied; the primal values the linear program reads become its
consts, the residuals.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

from fgrad.core import (
    Eqn, Program, StagingTrace, Tracer, Var, Zero, aval_of, current_trace, staging, walk,
    tangent_aval,
)
from fgrad.core.trace import abstract_eval
from fgrad.core.typecheck import checked
from fgrad.transforms.jvp import jvp_eval, jvp_program
from fgrad.transforms.partial_eval import partial_eval
from fgrad.transforms.rules import partial_eval_rules
from fgrad.transforms.simplify import dce


class Linearization(NamedTuple):
    """The parts of a linearized program.

    - `known`: the program's inputs → its outputs, then the residuals.
    - `linear`: the residuals, then one tangent per differentiable input → the tangent of
      each differentiated output marked in `out_linear`.
    - `n_residuals`: how many residuals `known` ends with and `linear` starts with.
    - `out_linear`: per differentiated output, whether its tangent depends on the input
      tangents (an output of `linear`); the others have zero tangents.
    """

    known: Program
    linear: Program
    n_residuals: int
    out_linear: list[bool]


def linearize_program(program: Program, differentiable: Sequence[bool],
                      n_differentiated: int | None = None) -> Linearization:
    """Linearizes `program` in its inputs marked `differentiable`, for its first
    `n_differentiated` outputs (all by default); the other outputs (auxiliary data) are only
    computed."""
    n_all = len(program.outputs)
    n_out = n_all if n_differentiated is None else n_differentiated
    jvp, out_nonzero = jvp_program(program, differentiable)
    tangents = iter(jvp.outputs[n_all:])
    wanted = [next(tangents) if nonzero else None for nonzero in out_nonzero[:n_out]]
    # Partial evaluation drops what no kept output needs from both of its programs.
    jvp = Program(jvp.constvars, jvp.constvals, jvp.inputs, jvp.eqns,
                  [*jvp.outputs[:n_all], *(t for t in wanted if t is not None)])
    known, linear, out_unknown, n_res = partial_eval(
        jvp, [False] * len(program.inputs) + [True] * sum(differentiable))
    # A tangent that does not depend on the input tangents is a constant of a linear map:
    # zero. The known program computes it; it is dropped there and not asked of `linear`.
    unknown = iter(out_unknown[n_all:])
    out_linear = [t is not None and next(unknown) for t in wanted]
    n_known_tangents = len(known.outputs) - n_all - n_res
    if n_known_tangents:
        known = dce(Program(known.constvars, known.constvals, known.inputs, known.eqns,
                            [*known.outputs[:n_all], *known.outputs[n_all + n_known_tangents:]]))
    return Linearization(checked(known), linear, n_res, out_linear)


class LinearTrace(StagingTrace):
    """Records the equations that read one of its own values (the tangents and what is
    computed from them); every other equation goes to `parent`, the trace that was current
    when it opened. A primitive that partial evaluation splits (control flow, `full_like`)
    is split here, equation by equation: its known part goes to the parent, the rest is
    recorded."""

    def __init__(self, name: str, parent):
        super().__init__(name, concrete=False)
        self.parent = parent

    def process(self, prim, args, params, source):
        for a in args:
            if type(a) is Tracer and a._trace is self:
                break
        else:
            return self.parent.process(prim, args, params, source)
        rule = partial_eval_rules.get(prim)
        if rule is None:
            return super().process(prim, args, params, source)
        return self._split(rule, prim, args, params, source)

    def _split(self, rule, prim, args, params, source) -> list:
        inputs = [Var(aval_of(a)) for a in args]
        outputs = [Var(a) for a in abstract_eval(prim, [v.aval for v in inputs], params,
                                                 source)]
        unknown = [type(a) is Tracer and a._trace is self for a in args]
        known, staged = rule(Eqn(prim, tuple(inputs), tuple(outputs), params, source), unknown)
        env = dict(zip(inputs, args, strict=True))
        parent = self.parent
        walk(known, env, lambda e, vals: parent.process(e.primitive, vals, e.params, e.source))
        walk(staged, env, lambda e, vals: StagingTrace.process(self, e.primitive, vals,
                                                               e.params, e.source))
        return [env[v] for v in outputs]


def linearize_eval(program: Program, primals: Sequence[Any], differentiable: Sequence[bool],
                   n_differentiated: int | None = None
                   ) -> tuple[list[Any], Program, list[bool]]:
    """`linearize_program`, with the known part evaluated on `primals` in the current trace
    as it is found. Returns the program's outputs, the linear program (from one tangent per
    differentiable input to the tangents of the differentiated outputs marked in the third
    result; its consts are the residuals) and those marks."""
    n_out = len(program.outputs) if n_differentiated is None else n_differentiated
    with staging("linearize", trace=LinearTrace("linearize", current_trace())) as trace:
        tangents = [trace.new_input(tangent_aval(v.aval)) if d else Zero(tangent_aval(v.aval))
                    for v, d in zip(program.inputs, differentiable, strict=True)]
        outs, out_tangents = jvp_eval(program, primals, tangents)
        # A tangent computed from primal values only is a constant of a linear map: zero.
        out_linear = [type(t) is Tracer and t._trace is trace for t in out_tangents[:n_out]]
        linear = trace.to_program([t for t, lin in zip(out_tangents, out_linear) if lin])
    return outs, checked(dce(linear)), out_linear
