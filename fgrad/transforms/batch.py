"""Batching (vmap): a program over one example → the program over a batch.

`batch_eval` interprets a program on values that each carry a batch dimension (an axis
index) or none (`None`: the same for every example). An equation none of whose inputs is
batched is re-emitted unchanged, so unbatched values stay unbatched; otherwise the
primitive's rule in `batch_rules` emits the batched computation in the current trace.
Interpreted inside a staging trace (`batch_program`) this builds the batched program.
"""

from __future__ import annotations

from typing import Any, Sequence

from fgrad.core import Aval, Eqn, Literal, Program, current_trace, interpret, source_of, staging
from fgrad.lax._batching import move_axis, to_front
from fgrad.transforms.rules import batch_rules


def batch_eval(program: Program, values: Sequence[Any], dims: Sequence[int | None],
               axis_size: int) -> tuple[list[Any], list[int | None]]:
    """Evaluates `program` on batched `values` in the current trace; returns the outputs
    and their batch dimensions."""
    trace = current_trace()

    def apply(eqn: Eqn, pairs: list) -> list:
        vals = [x for x, _ in pairs]
        ds = [d for _, d in pairs]
        if all(d is None for d in ds):
            outs = trace.process(eqn.primitive, vals, eqn.params, eqn.source)
            return [(out, None) for out in outs]
        with source_of(eqn.source):
            outs, out_dims = batch_rules[eqn.primitive](axis_size, vals, ds, **eqn.params)
        return list(zip(outs, out_dims, strict=True))

    consts = [(c, None) for c in program.constvals]
    pairs = interpret(program, list(zip(values, dims, strict=True)), apply, _unbatched, consts)
    return [x for x, _ in pairs], [d for _, d in pairs]


def _unbatched(lit: Literal):
    return lit.value, None


def batched_aval(aval: Aval, dim: int | None, axis_size: int) -> Aval:
    if dim is None:
        return aval
    shape = list(aval.shape)
    shape.insert(dim, axis_size)
    return aval.update(shape=shape)


def batch_program(program: Program, in_dims: Sequence[int | None], axis_size: int,
                  batch_first: Sequence[bool] | None = None) -> tuple[Program, list[int | None]]:
    """The batched program: input i carries its batch at `in_dims[i]` (None: unbatched);
    returns the program and the batch dimension of each output. Outputs marked in
    `batch_first` get their batch axis first, broadcast there if they were unbatched (control
    flow needs every branch and iteration to batch its outputs alike)."""
    with staging("vmap") as trace:
        args = [trace.new_input(batched_aval(v.aval, d, axis_size))
                for v, d in zip(program.inputs, in_dims, strict=True)]
        outs, out_dims = batch_eval(program, args, in_dims, axis_size)
        if batch_first is not None:
            outs = [to_axis(x, d, 0, axis_size) if front else x
                    for x, d, front in zip(outs, out_dims, batch_first, strict=True)]
            out_dims = [0 if front else d for d, front in zip(out_dims, batch_first, strict=True)]
        result = trace.to_program(outs)
    return result, out_dims


def to_axis(x, dim: int | None, axis: int, axis_size: int):
    """x with its batch dimension `dim` moved to `axis`; an unbatched x (`dim` None) is
    broadcast along a new axis there."""
    return move_axis(to_front(x, dim, axis_size), 0, axis)
