"""The interpreter loop: the one place that walks a program's equations.

Every consumer of programs is an interpretation of the same walk, differing only in what a
variable holds and what happens at an equation: evaluation (values), re-staging (atoms of
another program), JVP (primal–tangent pairs), batching (value–axis pairs), lowering (JAX
values), transposition (cotangents, walking backwards). Each passes `apply(eqn, inputs)`,
which returns one value per equation output, a list, however many results the primitive has.

Walking backwards, as transposition does, the roles swap: `apply` receives the values of an
equation's *outputs* (None where nothing arrived) and returns one per *input*; values that
arrive at the same variable more than once are summed with `add`.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from fgrad.core.ir import Eqn, Literal, Program, Var


def literal_value(lit: Literal):
    return lit.value


def walk(eqns: Sequence[Eqn], env: dict, apply: Callable[[Eqn, list], Sequence[Any]],
         literal: Callable[[Literal], Any] = literal_value, *, reverse: bool = False,
         add: Callable[[Any, Any], Any] | None = None) -> dict:
    """Runs `apply` over `eqns` in order (or in reverse), reading and writing `env`, a map
    from variables to the interpretation's values; returns `env`.

    Forward, an equation's inputs are read from `env` (a literal through `literal`) and its
    outputs written. In reverse, its outputs' values are taken out of `env` (None if absent;
    an equation with none is skipped) and the values `apply` returns for its inputs are
    added into `env`; None is skipped, and so are literals, which have nowhere to go.
    """
    if not reverse:
        for eqn in eqns:
            outs = apply(eqn, [literal(a) if type(a) is Literal else env[a]
                               for a in eqn.inputs])
            outputs = eqn.outputs
            if len(outputs) == 1 == len(outs):  # most equations: no zip to build
                env[outputs[0]] = outs[0]
            else:
                env.update(zip(outputs, outs, strict=True))
        return env
    for eqn in reversed(eqns):
        outs = [env.pop(v, None) for v in eqn.outputs]
        if all(o is None for o in outs):
            continue
        for a, x in zip(eqn.inputs, apply(eqn, outs), strict=True):
            if x is not None and type(a) is Var:
                env[a] = add(env[a], x) if a in env else x
    return env


def interpret(program: Program, args: Sequence[Any], apply: Callable[[Eqn, list], Sequence[Any]],
              literal: Callable[[Literal], Any] = literal_value,
              consts: Sequence[Any] | None = None) -> list[Any]:
    """Walks `program` forward on `args` (one per input) and returns its outputs' values.
    Its consts hold `consts`, by default the program's own const values."""
    env = dict(zip(program.constvars,
                   program.constvals if consts is None else consts, strict=True))
    env.update(zip(program.inputs, args, strict=True))
    walk(program.eqns, env, apply, literal)
    return [literal(a) if type(a) is Literal else env[a] for a in program.outputs]

