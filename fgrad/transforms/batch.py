"""Batching (vmap): a program over one example → the program over a batch.

`batch_eval` interprets a program on values that each carry a batch dimension (an axis
index) or none (`None`: the same for every example). An equation none of whose inputs is
batched is re-emitted unchanged, so unbatched values stay unbatched; otherwise the
primitive's `batch` rule emits the batched computation in the current trace. Interpreted
inside a staging trace (`batch_program`) this builds the batched program.
"""

from __future__ import annotations

from typing import Any, Sequence

from fgrad.core import Literal, Program, current_trace, source_of, staging
from fgrad.core.ir import Aval


def batch_eval(program: Program, values: Sequence[Any], dims: Sequence[int | None],
               axis_size: int) -> tuple[list[Any], list[int | None]]:
    """Evaluates `program` on batched `values` in the current trace; returns the outputs
    and their batch dimensions."""
    env: dict = dict(zip(program.constvars, program.constvals))
    dim_env: dict = {}
    for v, x, d in zip(program.inputs, values, dims, strict=True):
        env[v] = x
        if d is not None:
            dim_env[v] = d
    trace = current_trace()

    def read(a):
        return (a.value, None) if isinstance(a, Literal) else (env[a], dim_env.get(a))

    for eqn in program.eqns:
        prim = eqn.primitive
        vals, ds = zip(*map(read, eqn.inputs)) if eqn.inputs else ((), ())
        if all(d is None for d in ds):
            outs = trace.process(prim, list(vals), eqn.params, eqn.source)
            out_dims = [None] * len(eqn.outputs) if prim.multiple_results else None
        else:
            with source_of(eqn.source):
                outs, out_dims = prim.rule("batch")(axis_size, list(vals), list(ds),
                                                    **eqn.params)
        if not prim.multiple_results:
            outs, out_dims = [outs], [out_dims]
        for v, x, d in zip(eqn.outputs, outs, out_dims, strict=True):
            env[v] = x
            if d is not None:
                dim_env[v] = d
    outs, out_dims = zip(*map(read, program.outputs)) if program.outputs else ((), ())
    return list(outs), list(out_dims)


def batched_aval(aval: Aval, dim: int | None, axis_size: int) -> Aval:
    if dim is None:
        return aval
    shape = list(aval.shape)
    shape.insert(dim, axis_size)
    return aval.update(shape=shape)


def batch_program(program: Program, in_dims: Sequence[int | None], axis_size: int
                  ) -> tuple[Program, list[int | None]]:
    """The batched program: input i carries its batch at `in_dims[i]` (None: unbatched);
    returns the program and the batch dimension of each output."""
    with staging("vmap") as trace:
        args = [trace.new_input(batched_aval(v.aval, d, axis_size))
                for v, d in zip(program.inputs, in_dims, strict=True)]
        outs, out_dims = batch_eval(program, args, in_dims, axis_size)
        result = trace.to_program(outs)
    return result, out_dims


