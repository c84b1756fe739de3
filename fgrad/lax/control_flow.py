"""Control flow: cond, while and scan, the primitives whose params hold programs.

Python `if` and `for` on traced values are unrolled while fgrad traces (define-by-run).
These primitives keep the branch or the loop *in* the program instead: the user's functions
are traced once each, abstractly, into sub-programs stored in the equation's params, and
every transform interprets those sub-programs with its own program-level function (a JVP
rule runs `jvp_program` on the body, a batching rule `batch_program`, and so on). This is
the one family that imports the transforms: its rules are transforms of sub-programs.

- `cond_p(index, *operands, branches)`: runs `branches[index]` (index clamped, as
  `jax.lax.switch` does). `cond` and `switch` bind it.
- `while_p(*cond_consts, *body_consts, *init, cond, body, n_cond_consts, n_body_consts,
  max_steps)`: `while cond(carry): carry = body(carry)`, at most `max_steps` times if given.
- `scan_p(*consts, *init, *xs, body, n_consts, n_carry, length, reverse, unroll)`:
  `carry, y = body(*consts, *carry, *x)` over the leading axis of xs; ys are stacked.
  `fori_loop` with static bounds and `map` are scans.

Values a user's function closes over (outer arrays, tracers of enclosing transforms)
become explicit leading operands of the equation, so transforms see them like any operand;
sub-programs built by the transforms themselves may keep concrete consts.

Reverse mode needs two more rules than first-order primitives have (tables in
fgrad/transforms/rules.py): partial evaluation splits a cond or scan into a known part,
which computes the primal and the residuals, and an unknown part, the linear map (for a
scan, the residuals of every iteration are stacked along the loop axis); dead-code
elimination removes a loop's unused outputs and carries.
"""

from __future__ import annotations

import builtins
from typing import Callable, Sequence

import jax
import numpy as np

from fgrad.core import (
    Aval, Eqn, Primitive, Program, Var, Zero, aval_of, eval_program, is_differentiable, staging,
)
from fgrad.core import dtypes as dt
from fgrad.core.errors import (
    ShapeDtypeError, StructureError, at_user_line,
)
from fgrad.core.interpret import interpret
from fgrad.core.trace import Tracer, call_traced
from fgrad.lax._ad import add_tangents, instantiate, is_undefined, zeros
from fgrad.lax._batching import move_axis, to_front
from fgrad.lax.elementwise import (
    add, clamp, convert_element_type, eq, lt, ne, select_n, stop_gradient_p,
)
from fgrad.lax.indexing import slice as slice_array
from fgrad.lax.reductions import reduce_max
from fgrad.lax.shapes import broadcast_in_dim, concatenate, expand_dims, reshape, rev
from fgrad.transforms.batch import batch_eval, batch_program, batched_aval, to_axis
from fgrad.transforms.jvp import jvp_program
from fgrad.transforms.partial_eval import partial_eval
from fgrad.transforms.rules import (
    batch_rules, dce_rules, jvp_rules, partial_eval_rules, transpose_rules,
)
from fgrad.transforms.simplify import dce
from fgrad.transforms.transpose import backward_pass, transpose_program

tree_flatten, tree_unflatten = jax.tree_util.tree_flatten, jax.tree_util.tree_unflatten


# -- helpers on sub-programs -------------------------------------------------------------------


def _trace(fun: Callable, in_tree, avals: Sequence[Aval], name: str):
    """Traces `fun(*args)`, args arranged as `in_tree` with leaves of types `avals`, into a
    program whose leading inputs are the values it closes over. Returns the program, those
    values and the output tree."""
    with staging(name) as trace:
        args = tree_unflatten(in_tree, [trace.new_input(a) for a in avals])
        out = call_traced(fun, args, name)
        flat, out_tree = tree_flatten(out)
        program = trace.to_program(flat)
    return program.consts_as_inputs(), list(program.constvals), out_tree


def _arranged(program: Program, inputs: Sequence[int], outputs: Sequence[int]) -> Program:
    """`program` with its inputs and outputs in another order (or a subset of outputs)."""
    return Program(program.constvars, program.constvals, [program.inputs[i] for i in inputs],
                   program.eqns, [program.outputs[j] for j in outputs])


def _with_inputs(program: Program, before: Sequence[Aval] = (), after: Sequence[Aval] = (),
                 at: int = 0) -> Program:
    """`program` taking unused extra inputs of types `before` at position `at` and `after`
    at the end."""
    ins = list(program.inputs)
    ins[at:at] = [Var(a) for a in before]
    ins += [Var(a) for a in after]
    return Program(program.constvars, program.constvals, ins, program.eqns, program.outputs)


def _joined(traced: Sequence[tuple[Program | None, list]]) -> tuple[list, list]:
    """Programs traced separately, each made to take every program's closed-over values
    (then its own inputs), and those values in order. A None program contributes values
    only."""
    consts = [c for _, cs in traced for c in cs]
    avals = [aval_of(c) for c in consts]
    programs, start = [], 0
    for program, cs in traced:
        before, after = avals[:start], avals[start + len(cs):]
        start += len(cs)
        programs.append(None if program is None else _with_inputs(
            _with_inputs(program, before, at=0), after, at=len(before) + len(cs)))
    return consts, programs


def _used_inputs(program: Program) -> list[bool]:
    read = {a for e in program.eqns for a in e.inputs if type(a) is Var}
    read.update(a for a in program.outputs if type(a) is Var)
    return [v in read for v in program.inputs]


def _pruned(program: Program, outputs: Sequence[bool]) -> Program:
    """`program` computing only the marked outputs, dead code removed."""
    return dce(Program(program.constvars, program.constvals, program.inputs, program.eqns,
                       [a for a, keep in zip(program.outputs, outputs, strict=True) if keep]))


def _restaged(program: Program, name: str, build: Callable[[list], list],
              in_avals: Sequence[Aval] | None = None) -> Program:
    """A new program over inputs of types `in_avals` (by default `program`'s) computing
    `build(inputs)`, which may evaluate `program` and emit more equations."""
    with staging(name) as trace:
        ins = [trace.new_input(a) for a in (in_avals or program.in_avals)]
        return trace.to_program(build(ins))


def _cast_outputs(program: Program, avals: Sequence[Aval]) -> Program:
    """`program` with each output converted to the (same-dtype) type in `avals` where only
    the weak type differs."""
    if [a.aval for a in program.outputs] == list(avals):
        return program
    return _restaged(program, "cast", lambda ins: [
        convert_element_type(x, a.dtype, weak_type=a.weak_type) if aval_of(x) != a else x
        for x, a in zip(eval_program(program, *ins), avals, strict=True)])


def _same_type(a: Aval, b: Aval) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype


def _types(avals) -> str:
    return "(" + ", ".join(str(a) + ("~" if a.weak_type else "") for a in avals) + ")"


def _runner(program: Program, out_avals: Sequence[Aval]) -> Callable:
    """A function of JAX values computing `program` with jax.lax, its outputs of exactly
    the types `out_avals` (JAX's loops require a carry's weak type to match too)."""
    def run(*args):
        outs = interpret(program, args,
                         lambda eqn, vals: eqn.primitive.lower_results(*vals, **eqn.params))
        return [_as_type(x, a) for x, a in zip(outs, out_avals, strict=True)]

    return run


def _as_type(x, aval: Aval):
    return dt.convert_weak(x, aval.dtype, aval.weak_type)


def _fixpoint(marks: list[bool], marked_out: Callable[[list[bool]], Sequence[bool]]
              ) -> list[bool]:
    """Grows `marks` (one per carry: has a tangent, is unknown, ...) until the body,
    given them, marks no further carry output: `marked_out(marks)` are the outputs' marks."""
    while True:
        grown = [a or b for a, b in zip(marks, marked_out(marks), strict=True)]
        if grown == marks:
            return marks
        marks = grown


def _nonzero(tangents) -> list[bool]:
    return [type(t) is not Zero for t in tangents]


def _split(values: Sequence, *sizes: int) -> list[list]:
    out, start = [], 0
    for n in sizes:
        out.append(list(values[start:start + n]))
        start += n
    out.append(list(values[start:]))
    return out


# -- cond: one of several branches ------------------------------------------------------------


def _cond_abstract_eval(index, *operands, branches):
    if index.shape != () or index.dtype != np.int32:
        raise ShapeDtypeError(f"cond's index must be an int32 scalar, got {index}")
    outs = branches[0].out_avals
    for i, b in enumerate(branches):
        if len(b.inputs) != len(operands) or not all(
                builtins.map(_same_type, b.in_avals, operands)):
            raise ShapeDtypeError(
                f"cond: branch {i} takes {_types(b.in_avals)} but is given {_types(operands)}")
        if len(b.outputs) != len(outs) or not all(builtins.map(_same_type, b.out_avals, outs)):
            raise ShapeDtypeError(
                f"cond: branch 0 returns {_types(outs)} but branch {i} returns "
                f"{_types(b.out_avals)}")
    # A result is weakly typed only if every branch's is (JAX joins them the same way).
    return [a.update(weak_type=all(b.out_avals[k].weak_type for b in branches))
            for k, a in enumerate(outs)]


def _cond_lower(index, *operands, branches):
    outs = _cond_abstract_eval(aval_of(index), *builtins.map(aval_of, operands), branches=branches)
    return jax.lax.switch(index, [_runner(b, outs) for b in branches], *operands)


cond_p = Primitive("cond", _cond_abstract_eval, _cond_lower, multiple_results=True)


def _cond_jvp(primals, tangents, *, branches):
    index, *operands = primals
    nonzeros = _nonzero(tangents[1:])
    out_nz = [False] * len(branches[0].outputs)
    for b in branches:
        out_nz = [x or y for x, y in zip(out_nz, jvp_program(b, nonzeros)[1], strict=True)]
    jvps = tuple(jvp_program(b, nonzeros, instantiate=out_nz)[0] for b in branches)
    ts = [t for t in tangents[1:] if type(t) is not Zero]
    outs = cond_p.bind(index, *operands, *ts, branches=jvps)
    primal, out_ts = _split(outs, len(out_nz))
    out_ts = iter(out_ts)
    return primal, [next(out_ts) if nz else Zero(aval_of(p).update(weak_type=False))
                    for nz, p in zip(out_nz, primal, strict=True)]


def _cond_partial_eval(eqn: Eqn, unknowns):
    if unknowns[0]:  # an unknown index: nothing can be decided now
        return [], [eqn]
    branches = eqn.params["branches"]
    op_unknown = unknowns[1:]
    out_unknown = [False] * len(eqn.outputs)
    for b in branches:
        out_unknown = [x or y for x, y in
                       zip(out_unknown, partial_eval(b, op_unknown)[2], strict=True)]
    splits = [partial_eval(b, op_unknown, instantiate=out_unknown) for b in branches]
    # A residual that is an operand of the branch is read from the cond's own operand (so a
    # loop-invariant value stays one, and a bounded while does not stack it); the others are
    # computed, and every branch returns the computed residuals of all branches, zeros for
    # the others' (the branches must all return the same types).
    computed, forwarded = [], []  # per branch: [index among residuals], {operand position}
    for b, (_, staged, _, n_res) in zip(branches, splits):
        position = {v: k for k, v in enumerate(b.inputs)}
        res = staged.inputs[:n_res]
        computed.append([j for j, r in enumerate(res) if r not in position])
        forwarded.append({position[r]: r for r in res if r in position})
    fwd_positions = sorted({k for f in forwarded for k in f})
    comp_avals = [[staged.inputs[j].aval for j in js]
                  for (_, staged, _, _), js in zip(splits, computed)]
    all_comp = [a for avals in comp_avals for a in avals]
    n_known_out = out_unknown.count(False)

    def known_branch(i: int, known: Program) -> Program:
        def build(ins):
            outs = eval_program(known, *ins)
            res = [zeros(a) for avals in comp_avals[:i] for a in avals]
            res += [outs[n_known_out + j] for j in computed[i]]
            res += [zeros(a) for avals in comp_avals[i + 1:] for a in avals]
            return outs[:n_known_out] + res
        return _restaged(known, "cond", build)

    def unknown_branch(i: int, b: Program, staged: Program) -> Program:
        n_res = len(staged.inputs) - op_unknown.count(True)
        before = sum(len(a) for a in comp_avals[:i])
        ins = [Var(a) for a in all_comp[:before]]
        ins += [staged.inputs[j] for j in computed[i]]
        ins += [Var(a) for a in all_comp[before + len(computed[i]):]]
        ins += [forwarded[i].get(k) or Var(b.inputs[k].aval) for k in fwd_positions]
        ins += staged.inputs[n_res:]
        return Program(staged.constvars, staged.constvals, ins, staged.eqns, staged.outputs)

    index, operands = eqn.inputs[0], eqn.inputs[1:]
    known_ops = [a for a, u in zip(operands, op_unknown, strict=True) if not u]
    unknown_ops = [a for a, u in zip(operands, op_unknown, strict=True) if u]
    residuals = [Var(a) for a in all_comp]
    known_eqns, unknown_eqns = [], []
    known_outs = [v for v, u in zip(eqn.outputs, out_unknown, strict=True) if not u]
    if known_outs or residuals:
        known = tuple(known_branch(i, k) for i, (k, _, _, _) in enumerate(splits))
        known_eqns.append(Eqn(cond_p, (index, *known_ops), (*known_outs, *residuals),
                              {"branches": known}, eqn.source))
    unknown_outs = [v for v, u in zip(eqn.outputs, out_unknown, strict=True) if u]
    if unknown_outs:
        staged = tuple(unknown_branch(i, b, s)
                       for i, (b, (_, s, _, _)) in enumerate(zip(branches, splits)))
        unknown_eqns.append(Eqn(
            cond_p, (index, *residuals, *(operands[k] for k in fwd_positions), *unknown_ops),
            tuple(unknown_outs), {"branches": staged}, eqn.source))
    return known_eqns, unknown_eqns


def _cond_transpose(cts, index, *operands, branches):
    linear = [is_undefined(x) for x in operands]
    cts = [instantiate(c) for c in cts]
    ct_avals = [aval_of(c) for c in cts]
    transposed = tuple(transpose_program(b, linear, ct_avals, instantiate=True)[0]
                       for b in branches)
    fixed = [x for x, lin in zip(operands, linear, strict=True) if not lin]
    outs = iter(cond_p.bind(index, *fixed, *cts, branches=transposed))
    return [None] + [next(outs) if lin else None for lin in linear]


def _cond_batch(axis_size, values, dims, *, branches):
    index, *operands = values
    index_dim, *op_dims = dims
    if index_dim is not None:
        # A batched index: every branch runs on the whole batch and each example selects
        # its branch's results (so both sides of a batched cond are computed). A branch sees
        # the examples that do not take it through stop_gradient, so that its derivative
        # there (inf or NaN outside its domain, say) cannot reach them.
        which = to_axis(clamp(np.int32(0), index, np.int32(len(branches) - 1)), index_dim, 0,
                        axis_size)
        results = []
        for i, b in enumerate(branches):
            taken = eq(which, broadcast_in_dim(np.int32(i), (axis_size,), ()))
            ops = [_where_taken(taken, x, d, axis_size) for x, d in zip(operands, op_dims)]
            outs, out_dims = batch_eval(b, [x for x, _ in ops], [d for _, d in ops], axis_size)
            results.append([to_axis(x, d, 0, axis_size) for x, d in zip(outs, out_dims)])
        outs = []
        for cases in zip(*results):
            shape = aval_of(cases[0]).shape
            outs.append(select_n(broadcast_in_dim(which, shape, (0,)), *cases))
        return outs, [0] * len(outs)
    batched = [False] * len(branches[0].outputs)
    for b in branches:
        out_dims = batch_program(b, op_dims, axis_size)[1]
        batched = [x or d is not None for x, d in zip(batched, out_dims, strict=True)]
    new = tuple(batch_program(b, op_dims, axis_size, batch_first=batched)[0] for b in branches)
    outs = cond_p.bind(index, *operands, branches=new)
    return outs, [0 if b else None for b in batched]


def _where_taken(taken, x, dim, axis_size):
    """x (batched at `dim`) where `taken` (one bool per example), elsewhere a constant copy
    of it to differentiation; returns the value and its batch axis."""
    if not is_differentiable(aval_of(x)):
        return x, dim
    x = to_axis(x, dim, 0, axis_size)
    mask = broadcast_in_dim(taken, aval_of(x).shape, (0,))
    return select_n(mask, stop_gradient_p.bind1(x), x), 0


def _cond_dce(eqn: Eqn, used):
    branches = [_pruned(b, used) for b in eqn.params["branches"]]
    needed = [builtins.any(u) for u in zip(*(_used_inputs(b) for b in branches))]
    branches = tuple(Program(b.constvars, b.constvals,
                             [v for v, n in zip(b.inputs, needed) if n], b.eqns, b.outputs)
                     for b in branches)
    inputs = (eqn.inputs[0], *(a for a, n in zip(eqn.inputs[1:], needed, strict=True) if n))
    outputs = tuple(v for v, u in zip(eqn.outputs, used, strict=True) if u)
    return Eqn(cond_p, inputs, outputs, {"branches": branches}, eqn.source)


jvp_rules.define(cond_p, _cond_jvp, lists=True)
transpose_rules.define(cond_p, _cond_transpose, lists=True)
batch_rules.define(cond_p, _cond_batch, lists=True)
partial_eval_rules.define(cond_p, _cond_partial_eval)
dce_rules.define(cond_p, _cond_dce)


# -- scan: a loop over the leading axis of its xs --------------------------------------------


def _scan_abstract_eval(*args, body, n_consts, n_carry, length, reverse, unroll):
    consts, init, xs = _split(args, n_consts, n_carry)
    ins = body.in_avals
    x_avals = [a.update(shape=a.shape[1:]) for a in xs]
    if (len(ins) != len(args) or any(a.shape[:1] != (length,) for a in xs)
            or not all(builtins.map(_same_type, ins, [*consts, *init, *x_avals]))):
        raise ShapeDtypeError(
            f"scan over {length} steps: the body takes {_types(ins)} but is given consts "
            f"{_types(consts)}, carry {_types(init)} and xs {_types(xs)}")
    carry = ins[n_consts:n_consts + n_carry]
    outs = body.out_avals
    if not all(builtins.map(_same_type, outs[:n_carry], carry)):
        raise ShapeDtypeError(f"scan: the body takes the carry {_types(carry)} but returns "
                              f"{_types(outs[:n_carry])}")
    return [*outs[:n_carry], *(a.update(shape=(length, *a.shape)) for a in outs[n_carry:])]


def _scan_lower(*args, body, n_consts, n_carry, length, reverse, unroll):
    consts, init, xs = _split(args, n_consts, n_carry)
    carry_avals = body.in_avals[n_consts:n_consts + n_carry]
    run = _runner(body, body.out_avals)

    def step(carry, x):
        outs = run(*consts, *carry, *x)
        return outs[:n_carry], outs[n_carry:]

    carry, ys = jax.lax.scan(step, [_as_type(c, a) for c, a in zip(init, carry_avals)], xs,
                             length=length, reverse=reverse, unroll=unroll)
    return [*carry, *ys]


scan_p = Primitive("scan", _scan_abstract_eval, _scan_lower, multiple_results=True)


def _scan_jvp(primals, tangents, *, body, n_consts, n_carry, **params):
    nz = _nonzero(tangents)
    const_nz, carry_nz, xs_nz = _split(nz, n_consts, n_carry)
    # A carry's tangent is nonzero if the body can make it so.
    carry_nz = _fixpoint(carry_nz, lambda c: jvp_program(
        body, const_nz + c + xs_nz)[1][:n_carry])
    n_ys = len(body.outputs) - n_carry
    jvp, out_nz = jvp_program(body, const_nz + carry_nz + xs_nz,
                              instantiate=carry_nz + [False] * n_ys)
    # jvp's inputs: primal consts, carry, xs, then the nonzero tangents of each; its outputs:
    # primal carry, ys, then the nonzero tangents. Regroup as scan's consts, carry, xs.
    n_x = len(body.inputs) - n_consts - n_carry
    p = _positions([n_consts, n_carry, n_x, sum(const_nz), sum(carry_nz), sum(xs_nz)])
    q = _positions([n_carry, n_ys, sum(carry_nz), out_nz[n_carry:].count(True)])
    body = _arranged(jvp, p[0] + p[3] + p[1] + p[4] + p[2] + p[5], q[0] + q[2] + q[1] + q[3])
    consts, init, xs = _split(primals, n_consts, n_carry)
    t_consts, t_init, t_xs = _split(tangents, n_consts, n_carry)
    t_init = [instantiate(t) for t, n in zip(t_init, carry_nz, strict=True) if n]
    outs = scan_p.bind(*consts, *(t for t in t_consts if type(t) is not Zero), *init, *t_init,
                       *xs, *(t for t in t_xs if type(t) is not Zero), body=body,
                       n_consts=n_consts + sum(const_nz), n_carry=n_carry + sum(carry_nz),
                       **params)
    carry, t_carry, ys, t_ys = _split(outs, n_carry, sum(carry_nz), n_ys)
    t_carry, t_ys = iter(t_carry), iter(t_ys)
    out_ts = [next(t_carry) if n else Zero(aval_of(c).update(weak_type=False))
              for c, n in zip(carry, carry_nz, strict=True)]
    out_ts += [next(t_ys) if n else Zero(aval_of(y).update(weak_type=False))
               for y, n in zip(ys, out_nz[n_carry:], strict=True)]
    return carry + ys, out_ts


def _positions(sizes: Sequence[int]) -> list[list[int]]:
    """Consecutive index ranges of the given sizes: [[0, 1], [2], ...]."""
    out, start = [], 0
    for n in sizes:
        out.append(list(range(start, start + n)))
        start += n
    return out


def _scan_partial_eval(eqn: Eqn, unknowns):
    params = eqn.params
    body, n_consts, n_carry, length = (params["body"], params["n_consts"], params["n_carry"],
                                       params["length"])
    const_uk, carry_uk, xs_uk = _split(unknowns, n_consts, n_carry)
    carry_uk = _fixpoint(carry_uk, lambda c: partial_eval(
        body, const_uk + c + xs_uk)[2][:n_carry])
    n_ys = len(body.outputs) - n_carry
    known, staged, out_uk, n_res = partial_eval(body, const_uk + carry_uk + xs_uk,
                                                instantiate=carry_uk + [False] * n_ys)
    ys_uk = out_uk[n_carry:]

    # Residuals that are a known const or x of the body are read from the scan's own
    # operands, not stacked: loop-invariant values are not copied once per iteration.
    position = {v: i for i, v in enumerate(body.inputs)}
    residuals = staged.inputs[:n_res]
    const_res, xs_res, stacked = [], [], []
    for k, r in enumerate(residuals):
        i = position.get(r, -1)
        (const_res if 0 <= i < n_consts else
         xs_res if i >= n_consts + n_carry else stacked).append((k, i))

    n_known_out = len(known.outputs) - n_res
    known_body = dce(_arranged(known, range(len(known.inputs)),
                               [*range(n_known_out), *(n_known_out + k for k, _ in stacked)]))
    stacked_vars = [Var(residuals[k].aval.update(shape=(length, *residuals[k].aval.shape)))
                    for k, _ in stacked]
    known_outs = [v for v, u in zip(eqn.outputs, carry_uk + ys_uk, strict=True) if not u]
    const_in, init_in, xs_in = _split(eqn.inputs, n_consts, n_carry)
    known_eqns, unknown_eqns = [], []
    if known_outs or stacked_vars:
        pick = lambda atoms, uk: [a for a, u in zip(atoms, uk, strict=True) if not u]  # noqa: E731
        known_eqns.append(Eqn(
            scan_p, (*pick(const_in, const_uk), *pick(init_in, carry_uk), *pick(xs_in, xs_uk)),
            (*known_outs, *stacked_vars),
            {**params, "body": known_body, "n_consts": const_uk.count(False),
             "n_carry": carry_uk.count(False)}, eqn.source))
    unknown_outs = [v for v, u in zip(eqn.outputs, carry_uk + ys_uk, strict=True) if u]
    if unknown_outs:
        n_uc, n_uk = const_uk.count(True), carry_uk.count(True)
        u = _positions([n_res, n_uc, n_uk, xs_uk.count(True)])
        order = ([k for k, _ in const_res] + u[1] + u[2] + [k for k, _ in stacked]
                 + [k for k, _ in xs_res] + u[3])
        take = lambda atoms, uk: [a for a, x in zip(atoms, uk, strict=True) if x]  # noqa: E731
        inputs = ([const_in[i] for _, i in const_res] + take(const_in, const_uk)
                  + take(init_in, carry_uk) + stacked_vars
                  + [xs_in[i - n_consts - n_carry] for _, i in xs_res] + take(xs_in, xs_uk))
        unknown_eqns.append(Eqn(
            scan_p, tuple(inputs), tuple(unknown_outs),
            {**params, "body": _arranged(staged, order, range(len(staged.outputs))),
             "n_consts": len(const_res) + n_uc, "n_carry": n_uk}, eqn.source))
    return known_eqns, unknown_eqns


def _scan_transpose(cts, *operands, body, n_consts, n_carry, length, reverse, unroll):
    consts, init, xs = _split(operands, n_consts, n_carry)
    const_lin = [is_undefined(c) for c in consts]
    xs_lin = [is_undefined(x) for x in xs]
    # Every carry is linear: one whose init is known is a tangent known to be zero at the
    # start (a JVP's instantiated zeros), and it gets a cotangent all the same.
    linear = const_lin + [True] * n_carry + xs_lin
    fixed_consts = [c for c, lin in zip(consts, const_lin, strict=True) if not lin]
    fixed_xs = [x for x, lin in zip(xs, xs_lin, strict=True) if not lin]
    ct_carry = [instantiate(c) for c in cts[:n_carry]]
    ct_ys = [instantiate(c) for c in cts[n_carry:]]
    ct_avals = [aval_of(c) for c in ct_carry]
    body_avals = body.in_avals
    lin_const_avals = [a for a, lin in zip(body_avals[:n_consts], const_lin) if lin]
    n_acc = len(lin_const_avals)

    def build(ins):
        fc, acc, ctc, fx, cty = _split(ins, len(fixed_consts), n_acc, n_carry, len(fixed_xs))
        fc, fx = iter(fc), iter(fx)
        args = [None if lin else next(fc) for lin in const_lin] + [None] * n_carry
        args += [None if lin else next(fx) for lin in xs_lin]
        # JAX types the carry as its cotangent, so a rule that reads the carry's type
        # (a conversion's) sees the cotangent's weak type, not the primal's
        carry_vars = body.inputs[n_consts:n_consts + n_carry]
        cts_in = backward_pass(body, linear, args, ctc + cty, {
            v: v.aval.update(weak_type=a.weak_type)
            for v, a in zip(carry_vars, ct_avals, strict=True) if v.aval.dtype == a.dtype})
        c_consts, c_carry, c_xs = _split(cts_in, n_consts, n_carry)
        acc = [add_tangents(a, c) for a, c in
               zip(acc, [c for c, lin in zip(c_consts, const_lin) if lin], strict=True)]
        # a carry's cotangent may leave the body with another weak type than it entered
        # with (as a primal carry may); the last iteration's is the init's
        return ([instantiate(c) for c in acc] + [instantiate_as(c, a, keep_weak=True)
                                                  for c, a in zip(c_carry, ct_avals)]
            + [instantiate(c) for c, lin in zip(c_xs, xs_lin) if lin])

    in_avals = ([a for a, lin in zip(body_avals[:n_consts], const_lin) if not lin]
                + lin_const_avals + [aval_of(c) for c in ct_carry]
                + [a for a, lin in zip(body_avals[n_consts + n_carry:], xs_lin) if not lin]
                + [aval_of(c).update(shape=aval_of(c).shape[1:]) for c in ct_ys])
    transposed = _restaged(body, "scan transpose", build, in_avals)
    outs = scan_p.bind(*fixed_consts, *(zeros(a) for a in lin_const_avals), *ct_carry,
                       *fixed_xs, *ct_ys, body=transposed, n_consts=len(fixed_consts),
                       n_carry=n_acc + n_carry, length=length, reverse=not reverse,
                       unroll=unroll)
    ct_consts, ct_init, ct_xs = _split(outs, n_acc, n_carry)
    ct_consts, ct_xs = iter(ct_consts), iter(ct_xs)
    return ([next(ct_consts) if lin else None for lin in const_lin]
            + [c if is_undefined(x) else None for c, x in zip(ct_init, init, strict=True)]
            + [next(ct_xs) if lin else None for lin in xs_lin])


def instantiate_as(t, aval: Aval, keep_weak: bool = False):
    """A cotangent as a value of type `aval` (zeros for `Zero`), as a loop's carry must
    keep its dtype from one iteration to the next; also its weak type unless `keep_weak`."""
    if type(t) is Zero:
        return zeros(aval)
    have = aval_of(t)
    if have.dtype != aval.dtype or (have.weak_type != aval.weak_type and not keep_weak):
        return convert_element_type(t, aval.dtype,
                                    weak_type=have.weak_type if keep_weak else aval.weak_type)
    return t


def _scan_batch(axis_size, values, dims, *, body, n_consts, n_carry, **params):
    consts, init, xs = _split(values, n_consts, n_carry)
    const_dims, init_dims, xs_dims = _split(dims, n_consts, n_carry)
    # The loop runs over axis 0 of xs: a batched x moves its batch axis to 1, which is
    # axis 0 of the body's x.
    xs = [x if d is None else move_axis(x, d, 1) for x, d in zip(xs, xs_dims)]
    x_dims = [None if d is None else 0 for d in xs_dims]
    carry_b = [d is not None for d in init_dims]
    while True:
        out_dims = batch_program(body, const_dims + [0 if b else None for b in carry_b]
                                 + x_dims, axis_size)[1]
        grown = [b or d is not None for b, d in zip(carry_b, out_dims[:n_carry], strict=True)]
        if grown == carry_b:
            break
        carry_b = grown
    ys_b = [d is not None for d in out_dims[n_carry:]]
    new_body, _ = batch_program(body, const_dims + [0 if b else None for b in carry_b] + x_dims,
                                axis_size, batch_first=carry_b + ys_b)
    init = [to_front(x, d, axis_size) if b else x for x, d, b in zip(init, init_dims, carry_b)]
    outs = scan_p.bind(*consts, *init, *xs, body=new_body, n_consts=n_consts,
                       n_carry=n_carry, **params)
    return outs, [0 if b else None for b in carry_b] + [1 if b else None for b in ys_b]


def _scan_dce(eqn: Eqn, used):
    params = eqn.params
    body, n_consts, n_carry = params["body"], params["n_consts"], params["n_carry"]
    carry_used, ys_used = list(used[:n_carry]), list(used[n_carry:])
    while True:  # a carry is live if its result is used or a live output reads it
        pruned = _pruned(body, carry_used + ys_used)
        reads = _used_inputs(Program(pruned.constvars, pruned.constvals, body.inputs,
                                     pruned.eqns, pruned.outputs))
        grown = [a or b for a, b in zip(carry_used, reads[n_consts:n_consts + n_carry])]
        if grown == carry_used:
            break
        carry_used = grown
    keep = reads[:n_consts] + carry_used + reads[n_consts + n_carry:]
    if all(keep) and all(carry_used + ys_used):  # a needed carry's result stays, even unused
        return eqn
    new_body = Program(pruned.constvars, pruned.constvals,
                       [v for v, k in zip(body.inputs, keep) if k], pruned.eqns, pruned.outputs)
    return Eqn(scan_p, tuple(a for a, k in zip(eqn.inputs, keep, strict=True) if k),
               tuple(v for v, k in zip(eqn.outputs, carry_used + ys_used, strict=True) if k),
               {**params, "body": new_body, "n_consts": sum(keep[:n_consts]),
                "n_carry": sum(carry_used)}, eqn.source)


jvp_rules.define(scan_p, _scan_jvp, lists=True)
transpose_rules.define(scan_p, _scan_transpose, lists=True)
batch_rules.define(scan_p, _scan_batch, lists=True)
partial_eval_rules.define(scan_p, _scan_partial_eval)
dce_rules.define(scan_p, _scan_dce)


# -- while: a loop until a predicate fails ----------------------------------------------------

REVERSE_WHILE_ADVICE = (
    "Reverse-mode differentiation (grad, vjp, jacrev) of a while_loop needs a bound on its "
    "number of iterations: pass max_steps=N to fgrad.lax.while_loop, and fgrad runs it in "
    "reverse as a scan of N steps that stops changing the carry once the predicate is "
    "false (storing the residuals of N iterations). Forward mode (jvp, jacfwd, linearize) "
    "works without it. A fori_loop with Python-int bounds is a scan and reverses as it is; "
    "one with traced bounds is a while_loop: make its bounds Python ints (static arguments "
    "under jit), or write it as a while_loop with max_steps.")


def _while_abstract_eval(*args, cond, body, n_cond_consts, n_body_consts, max_steps):
    cond_consts, body_consts, init = _split(args, n_cond_consts, n_body_consts)
    carry = body.in_avals[n_body_consts:]
    if (len(body.inputs) != n_body_consts + len(init)
            or not all(builtins.map(_same_type, body.in_avals, [*body_consts, *init]))
            or not all(builtins.map(_same_type, cond.in_avals, [*cond_consts, *init]))):
        raise ShapeDtypeError(f"while: the loop's functions take {_types(cond.in_avals)} and "
                              f"{_types(body.in_avals)} but are given {_types(args)}")
    if [(a.shape, a.dtype) for a in cond.out_avals] != [((), np.dtype(bool))]:
        raise ShapeDtypeError(f"while: the predicate must return a scalar bool, not "
                              f"{_types(cond.out_avals)}")
    if not all(builtins.map(_same_type, body.out_avals, carry)):
        raise ShapeDtypeError(f"while: the body takes the carry {_types(carry)} but returns "
                              f"{_types(body.out_avals)}")
    return list(body.out_avals)


def _while_lower(*args, cond, body, n_cond_consts, n_body_consts, max_steps):
    cond_consts, body_consts, init = _split(args, n_cond_consts, n_body_consts)
    carry_avals = body.in_avals[n_body_consts:]
    test = _runner(cond, cond.out_avals)
    step = _runner(body, body.out_avals)
    init = [_as_type(x, a) for x, a in zip(init, carry_avals)]
    if max_steps is None:
        return jax.lax.while_loop(lambda c: test(*cond_consts, *c)[0],
                                  lambda c: step(*body_consts, *c), init)

    def bounded_test(state):
        i, carry = state
        return jax.lax.bitwise_and(i < max_steps, test(*cond_consts, *carry)[0])

    def bounded_step(state):
        i, carry = state
        return i + 1, step(*body_consts, *carry)

    return jax.lax.while_loop(bounded_test, bounded_step, (np.int32(0), init))[1]


while_p = Primitive("while", _while_abstract_eval, _while_lower, multiple_results=True)


def _while_jvp(primals, tangents, *, cond, body, n_cond_consts, n_body_consts, max_steps):
    nz = _nonzero(tangents)
    _, bconst_nz, carry_nz = _split(nz, n_cond_consts, n_body_consts)
    carry_nz = _fixpoint(carry_nz, lambda c: jvp_program(body, bconst_nz + c)[1])
    jvp = jvp_program(body, bconst_nz + carry_nz, instantiate=carry_nz)[0]
    n_carry, n_bt, n_ct = len(carry_nz), sum(bconst_nz), sum(carry_nz)
    p = _positions([n_body_consts, n_carry, n_bt, n_ct])
    body = _arranged(jvp, p[0] + p[2] + p[1] + p[3], range(n_carry + n_ct))
    cond_consts, bconsts, init = _split(primals, n_cond_consts, n_body_consts)
    _, t_bconsts, t_init = _split(tangents, n_cond_consts, n_body_consts)
    # The tangent carries start with the types the body gives them (a weak zero would not).
    t_avals = jvp.out_avals[n_carry:]
    t_init = [instantiate_as(t, a) for t, a in
              zip([t for t, n in zip(t_init, carry_nz, strict=True) if n], t_avals, strict=True)]
    cond = _with_inputs(cond, after=t_avals)  # the predicate reads no tangent
    outs = while_p.bind(*cond_consts, *bconsts, *(t for t in t_bconsts if type(t) is not Zero),
                        *init, *t_init, cond=cond, body=body, n_cond_consts=n_cond_consts,
                        n_body_consts=n_body_consts + n_bt, max_steps=max_steps)
    carry, t_carry = outs[:n_carry], iter(outs[n_carry:])
    return carry, [next(t_carry) if n else Zero(aval_of(c).update(weak_type=False))
                   for c, n in zip(carry, carry_nz, strict=True)]


def _while_partial_eval(eqn: Eqn, unknowns):
    params = eqn.params
    if params["max_steps"] is not None:
        # Bounded: the same loop as a scan of max_steps steps, which reverse mode handles.
        scan_eqn = _while_as_scan(eqn)
        return _scan_partial_eval(scan_eqn, unknowns)
    cond, body = params["cond"], params["body"]
    n_cc, n_bc = params["n_cond_consts"], params["n_body_consts"]
    cc_uk, bc_uk, carry_uk = _split(unknowns, n_cc, n_bc)
    carry_uk = _fixpoint(carry_uk, lambda c: partial_eval(body, bc_uk + c)[2])
    cond_reads = _used_inputs(cond)
    if any(cc_uk) or any(r and u for r, u in zip(cond_reads[n_cc:], carry_uk)):
        return [], [eqn]  # the trip count itself is unknown
    # The known carries do not depend on the unknown ones: a loop over them alone computes
    # the known results now; the unknown results come from the whole loop, run again later
    # (whose transpose is refused, with advice: REVERSE_WHILE_ADVICE).
    known_body = _pruned(body, [not u for u in carry_uk])
    keep = [not u for u in bc_uk + carry_uk]
    known_body = Program(known_body.constvars, known_body.constvals,
                         [v for v, k in zip(body.inputs, keep) if k], known_body.eqns,
                         known_body.outputs)
    known_cond = Program(cond.constvars, cond.constvals,
                         cond.inputs[:n_cc] + tuple(v if not u else Var(v.aval) for v, u in
                                                     zip(cond.inputs[n_cc:], carry_uk)),
                         cond.eqns, cond.outputs)
    known_cond = Program(known_cond.constvars, known_cond.constvals,
                         [v for v, u in zip(known_cond.inputs, [False] * n_cc + carry_uk)
                          if not u], known_cond.eqns, known_cond.outputs)
    cc, bc, init = _split(eqn.inputs, n_cc, n_bc)
    known_eqn = Eqn(while_p, (*cc, *(a for a, u in zip(bc, bc_uk) if not u),
                              *(a for a, u in zip(init, carry_uk) if not u)),
                    tuple(v for v, u in zip(eqn.outputs, carry_uk) if not u),
                    {**params, "cond": known_cond, "body": known_body,
                     "n_body_consts": bc_uk.count(False)}, eqn.source)
    unknown_eqn = Eqn(while_p, eqn.inputs,
                      tuple(v if u else Var(v.aval) for v, u in zip(eqn.outputs, carry_uk)),
                      params, eqn.source)
    return [known_eqn], [unknown_eqn]


def _while_as_scan(eqn: Eqn) -> Eqn:
    """A bounded while equation as the equivalent scan: max_steps steps, each running the
    body only while the predicate holds (a cond), and otherwise passing the carry on."""
    params = eqn.params
    cond, body = params["cond"], params["body"]
    n_cc, n_bc = params["n_cond_consts"], params["n_body_consts"]
    n_carry = len(eqn.outputs)
    identity = _restaged(body, "while", lambda ins: ins[n_bc:])

    def step(ins):
        cc, bc, carry = _split(ins, n_cc, n_bc)
        [go] = eval_program(cond, *cc, *carry)
        return cond_p.bind(convert_element_type(go, np.int32), *bc, *carry,
                           branches=(identity, body))

    scan_body = _restaged(body, "while", step, [*cond.in_avals[:n_cc], *body.in_avals])
    return Eqn(scan_p, eqn.inputs, eqn.outputs,
               {"body": scan_body, "n_consts": n_cc + n_bc, "n_carry": n_carry,
                "length": params["max_steps"], "reverse": False, "unroll": 1}, eqn.source)


def _while_batch(axis_size, values, dims, *, cond, body, n_cond_consts, n_body_consts,
                 max_steps):
    cc, bc, init = _split(values, n_cond_consts, n_body_consts)
    cc_dims, bc_dims, init_dims = _split(dims, n_cond_consts, n_body_consts)
    carry_b = [d is not None for d in init_dims]
    while True:
        carry_dims = [0 if b else None for b in carry_b]
        out_dims = batch_program(body, bc_dims + carry_dims, axis_size)[1]
        pred_dim = batch_program(cond, cc_dims + carry_dims, axis_size)[1][0]
        grown = [b or d is not None or pred_dim is not None
                 for b, d in zip(carry_b, out_dims, strict=True)]
        if grown == carry_b:
            break
        carry_b = grown
    carry_dims = [0 if b else None for b in carry_b]
    init = [to_front(x, d, axis_size) if b else x for x, d, b in zip(init, init_dims, carry_b)]
    params = {"n_cond_consts": n_cond_consts, "max_steps": max_steps}
    if pred_dim is None:
        new_cond = batch_program(cond, cc_dims + carry_dims, axis_size)[0]
        new_body = batch_program(body, bc_dims + carry_dims, axis_size, batch_first=carry_b)[0]
        outs = while_p.bind(*cc, *bc, *init, cond=new_cond, body=new_body,
                            n_body_consts=n_body_consts, **params)
        return outs, carry_dims
    # A batched predicate: the loop runs while any example's holds, and an example whose
    # predicate is false keeps its carry unchanged.
    cc_avals = [batched_aval(a, d, axis_size) for a, d in zip(cond.in_avals, cc_dims)]
    bc_avals = [batched_aval(a, d, axis_size) for a, d in zip(body.in_avals, bc_dims)]
    carry_avals = [batched_aval(a, 0, axis_size) for a in body.in_avals[n_body_consts:]]

    def lanes(cc_vals, carry):
        [pred], [d] = batch_eval(cond, cc_vals + carry, cc_dims + carry_dims, axis_size)
        return to_axis(pred, d, 0, axis_size)

    def any_lane(ins):
        cc_vals, carry = ins[:n_cond_consts], ins[n_cond_consts:]
        pred = convert_element_type(lanes(cc_vals, carry), np.int32)
        return [ne(reduce_max(pred, (0,)), np.int32(0))]

    def masked_step(ins):
        cc_vals, bc_vals, carry = _split(ins, n_cond_consts, n_body_consts)
        pred = lanes(cc_vals, carry)
        # A finished example enters the body only as a constant (see _where_taken).
        live = [_where_taken(pred, c, 0, axis_size)[0] for c in carry]
        new, new_dims = batch_eval(body, bc_vals + live, bc_dims + carry_dims, axis_size)
        return [select_n(broadcast_in_dim(pred, aval_of(old).shape, (0,)), old,
                         to_axis(x, d, 0, axis_size))
                for old, x, d in zip(carry, new, new_dims)]

    new_cond = _restaged(cond, "vmap", any_lane, cc_avals + carry_avals)
    new_body = _restaged(body, "vmap", masked_step, cc_avals + bc_avals + carry_avals)
    outs = while_p.bind(*cc, *cc, *bc, *init, cond=new_cond, body=new_body,
                        n_body_consts=n_cond_consts + n_body_consts, **params)
    return outs, carry_dims


jvp_rules.define(while_p, _while_jvp, lists=True)
transpose_rules.absent(while_p, REVERSE_WHILE_ADVICE)
batch_rules.define(while_p, _while_batch, lists=True)
partial_eval_rules.define(while_p, _while_partial_eval)


# -- the functions users call (jax.lax signatures) --------------------------------------------


def _scalar_bool(pred, what: str):
    aval = aval_of(pred)
    if aval.shape != () or aval.dtype != np.dtype(bool):
        raise ShapeDtypeError(at_user_line(
            f"{what} must be a scalar boolean (bool[]), got {aval}. Compare explicitly "
            f"(x > 0, x != 0) or reduce an array first (fgrad.numpy.any(x))."))


def cond(pred, true_fun: Callable, false_fun: Callable, *operands):
    """`true_fun(*operands)` if `pred` else `false_fun(*operands)`, as one equation whose
    branches are programs: under jit both are compiled and one runs; differentiated, only
    the taken branch's derivative is computed (and only its residuals stored)."""
    _scalar_bool(pred, "cond's predicate")
    index = np.int32(bool(pred)) if isinstance(pred, (bool, np.bool_)) else \
        convert_element_type(pred, np.int32)
    return _switch(index, (false_fun, true_fun), operands, "cond",
                   ("false_fun", "true_fun"))


def switch(index, branches: Sequence[Callable], *operands):
    """`branches[index](*operands)`, index clamped into range (as jax.lax.switch does)."""
    aval = aval_of(index)
    if aval.shape != () or not dt.is_integer(aval.dtype):
        raise ShapeDtypeError(at_user_line(
            f"switch's index must be an integer scalar, got {aval}. Convert it with "
            f"fgrad.numpy.int32(...) or .astype(int) if it holds whole numbers."))
    branches = tuple(branches)
    if not branches:
        raise ValueError(at_user_line("switch needs at least one branch"))
    if len(branches) == 1:
        return branches[0](*operands)
    index = convert_element_type(index, np.int32) if aval.dtype != np.int32 else index
    index = clamp(np.int32(0), index, np.int32(len(branches) - 1))
    return _switch(index, branches, operands, "switch",
                   tuple(f"branch {i}" for i in range(len(branches))))


def _switch(index, funs, operands, what: str, names):
    flat, in_tree = tree_flatten(operands)
    avals = [aval_of(x) for x in flat]
    traced = [_trace(f, in_tree, avals, what) for f in funs]
    trees = [t for _, _, t in traced]
    for name, tree in zip(names[1:], trees[1:]):
        if tree != trees[0]:
            raise StructureError(at_user_line(
                f"{what}: {names[0]} returns the structure {trees[0]} but {name} returns "
                f"{tree}. Branches must return the same structure, shapes and dtypes."))
    outs = [p.out_avals for p, _, _ in traced]
    for name, out in zip(names[1:], outs[1:]):
        if not all(builtins.map(_same_type, out, outs[0])):
            raise ShapeDtypeError(at_user_line(
                f"{what}: {names[0]} returns {_types(outs[0])} but {name} returns "
                f"{_types(out)}. Branches must return the same shapes and dtypes; convert "
                f"with .astype(...) or broadcast in the branch that differs."))
    joined = [a.update(weak_type=all(o[k].weak_type for o in outs))
              for k, a in enumerate(outs[0])]
    # Each branch takes every branch's captured values and reads its own.
    consts, programs = _joined([(_cast_outputs(p, joined), cs) for p, cs, _ in traced])
    results = cond_p.bind(index, *consts, *flat, branches=tuple(programs))
    return tree_unflatten(trees[0], results)


def _carry_types(init_avals, out_avals, what: str, init_tree) -> list[Aval]:
    """The carry's types, as JAX decides them: the body must return the init's shapes and
    dtypes, except that a weakly typed initial value (a Python scalar) takes the dtype the
    body computes (then the body is traced again). A difference in weak type alone is
    accepted: the carry enters as the init's type and leaves as the body's."""
    def fits(a: Aval, b: Aval) -> bool:
        return a.shape == b.shape and (a.dtype == b.dtype or a.weak_type)

    if len(init_avals) != len(out_avals) or not all(builtins.map(fits, init_avals, out_avals)):
        raise ShapeDtypeError(at_user_line(
            f"{what}: the carry has type {_types(init_avals)} (structure {init_tree}) but "
            f"the body returns {_types(out_avals)}. The body must return a carry of the "
            f"same shapes and dtypes: convert with .astype(...) in the body, or start from "
            f"an initial value of the type the body computes."))
    return [a if a.dtype == b.dtype else
            Aval(a.shape, dt.promote(a, b.update(weak_type=False))[0], False)
            for a, b in zip(init_avals, out_avals)]


def _trace_carry_fun(fun, init_tree, init_avals, extra_tree, extra_avals, what: str,
                     split_output: bool):
    """Traces a loop body `fun(carry, extra)` and settles the carry's types
    (`_carry_types`). Returns (program, consts, carry avals, y tree or None)."""
    carry_avals = list(init_avals)
    for _ in range(2):
        ys_tree = []

        def flat_fun(*leaves):
            carry = tree_unflatten(init_tree, leaves[:len(carry_avals)])
            if extra_tree is None:
                out = fun(carry)
            else:
                out = fun(carry, tree_unflatten(extra_tree, leaves[len(carry_avals):]))
            if split_output:
                if not isinstance(out, (tuple, list)) or len(out) != 2:
                    raise StructureError(at_user_line(
                        f"{what}: the body must return a pair (carry, y), got "
                        f"{type(out).__name__}."))
                new_carry, y = out
            else:
                new_carry, y = out, None
            carry_leaves, tree = tree_flatten(new_carry)
            if tree != init_tree:
                raise StructureError(at_user_line(
                    f"{what}: the carry has structure {init_tree} but the body returns "
                    f"{tree}. The body must return a carry of the same structure."))
            y_leaves, y_tree = tree_flatten(y)
            ys_tree.append(y_tree)
            return [*carry_leaves, *y_leaves]

        in_tree = tree_flatten([0] * (len(carry_avals) + len(extra_avals)))[1]
        program, consts, _ = _trace(flat_fun, in_tree, carry_avals + list(extra_avals), what)
        out_avals = program.out_avals[:len(carry_avals)]
        settled = _carry_types(carry_avals, out_avals, what, init_tree)
        if settled == carry_avals:
            return program, consts, carry_avals, ys_tree[0]
        carry_avals = settled
    raise ShapeDtypeError(at_user_line(
        f"{what}: the carry's types do not settle: {_types(init_avals)} at first, "
        f"{_types(carry_avals)} after promotion; give the initial value the body's type."))


def _as_carry(leaves, avals: Sequence[Aval]) -> list:
    """The initial values converted to the carry's settled dtypes."""
    return [x if aval_of(x).dtype == a.dtype else convert_element_type(x, a.dtype)
            for x, a in zip(leaves, avals, strict=True)]


def scan(f: Callable, init, xs=None, length: int | None = None, reverse: bool = False,
         unroll: int | bool = 1):
    """Loops `carry, y = f(carry, x)` over the leading axis of `xs` (pytrees); returns the
    final carry and the ys stacked. With `xs=None`, `length` steps with `x = None`."""
    x_leaves, xs_tree = tree_flatten(xs)
    lengths = set()
    for x in x_leaves:
        shape = aval_of(x).shape
        if not shape:
            raise ShapeDtypeError(at_user_line(
                f"scan: every leaf of xs needs a leading axis to loop over, but one is a "
                f"scalar ({aval_of(x)})."))
        lengths.add(shape[0])
    if length is not None:
        length = int(length)
        lengths.add(length)
    if len(lengths) > 1:
        leading = ", ".join(f"{aval_of(x)}" for x in x_leaves)
        raise ShapeDtypeError(at_user_line(
            f"scan: the leaves of xs must have the same leading length"
            f"{' as length=' + str(length) if length is not None else ''}, but they are "
            f"{leading}."))
    if not lengths:
        raise ValueError(at_user_line(
            "scan needs xs with a leading axis or an explicit length=."))
    (n,) = lengths
    init_leaves, init_tree = tree_flatten(init)
    x_avals = [aval_of(x).update(shape=aval_of(x).shape[1:]) for x in x_leaves]
    program, consts, carry_avals, ys_tree = _trace_carry_fun(
        f, init_tree, [aval_of(c) for c in init_leaves], xs_tree, x_avals, "scan", True)
    init_leaves = _as_carry(init_leaves, carry_avals)
    outs = scan_p.bind(*consts, *init_leaves, *x_leaves, body=program, n_consts=len(consts),
                       n_carry=len(init_leaves), length=n, reverse=bool(reverse),
                       unroll=unroll)
    carry, ys = outs[:len(init_leaves)], outs[len(init_leaves):]
    return tree_unflatten(init_tree, carry), tree_unflatten(ys_tree, ys)


def while_loop(cond_fun: Callable, body_fun: Callable, init_val, *,
               max_steps: int | None = None):
    """`while cond_fun(val): val = body_fun(val)`; returns the final `val`.

    Forward-mode differentiable as it is. Reverse mode (grad, vjp) needs `max_steps=N`: the
    loop then stops after at most N iterations, and its reverse pass is a scan over N
    steps storing each one's residuals."""
    if max_steps is not None:
        if not isinstance(max_steps, (int, np.integer)) or max_steps < 0:
            raise ValueError(at_user_line(
                f"while_loop's max_steps must be a non-negative Python int, got {max_steps!r}"))
        max_steps = int(max_steps)
    init_leaves, init_tree = tree_flatten(init_val)
    init_avals = [aval_of(c) for c in init_leaves]
    body, body_consts, carry_avals, _ = _trace_carry_fun(
        body_fun, init_tree, init_avals, None, [], "while_loop", False)
    in_tree = tree_flatten([0] * len(carry_avals))[1]
    test, cond_consts, pred_tree = _trace(
        lambda *leaves: cond_fun(tree_unflatten(init_tree, leaves)), in_tree, carry_avals,
        "while_loop")
    init_leaves = _as_carry(init_leaves, carry_avals)
    if pred_tree.num_leaves != 1 or [(a.shape, a.dtype) for a in test.out_avals] != [
            ((), np.dtype(bool))]:
        raise ShapeDtypeError(at_user_line(
            f"while_loop: cond_fun must return a scalar boolean, got {_types(test.out_avals)}"
            f" (structure {pred_tree}). Compare explicitly (x > 0) or reduce an array "
            f"first (fgrad.numpy.any(x))."))
    outs = while_p.bind(*cond_consts, *body_consts, *init_leaves, cond=test, body=body,
                        n_cond_consts=len(cond_consts), n_body_consts=len(body_consts),
                        max_steps=max_steps)
    return tree_unflatten(init_tree, outs)


def _static_int(x):
    """`x` as a Python int if it is known now (a Python or NumPy integer, or a concrete
    array), else None."""
    if isinstance(x, (bool, np.bool_)):
        return None
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, Tracer) or isinstance(x, jax.core.Tracer):
        return None
    try:
        a = np.asarray(x)
    except Exception:
        return None
    return int(a) if a.shape == () and np.issubdtype(a.dtype, np.integer) else None


def fori_loop(lower, upper, body_fun: Callable, init_val, *, unroll: int | bool = 1):
    """`for i in range(lower, upper): val = body_fun(i, val)`; returns the final `val`.

    With bounds known now (Python ints, concrete arrays) the loop is a scan, differentiable
    in both modes; with traced bounds it is a while_loop (forward mode only)."""
    for bound in (lower, upper):
        a = aval_of(bound)
        if a.shape != () or not dt.is_integer(a.dtype):
            raise ShapeDtypeError(at_user_line(
                f"fori_loop's bounds must be integer scalars, got {a}."))
    dtype, _ = dt.promote(aval_of(lower).update(weak_type=False),
                          aval_of(upper).update(weak_type=False))
    init_leaves, init_tree = tree_flatten(init_val)
    init_avals = [aval_of(x) for x in init_leaves]

    def checked_body(i, val):
        out = body_fun(i, val)
        out_leaves, tree = tree_flatten(out)
        if tree != init_tree:
            raise StructureError(at_user_line(
                f"fori_loop: init_val has structure {init_tree} but body_fun returns {tree}. "
                f"body_fun(i, val) must return a value of init_val's structure."))
        _carry_types(init_avals, [aval_of(x) for x in out_leaves], "fori_loop", init_tree)
        return out

    lo, hi = _static_int(lower), _static_int(upper)
    if lo is not None and hi is not None:
        def step(carry, _):
            i, val = carry
            return (add(i, dtype.type(1)), checked_body(i, val)), None

        (_, out), _ = scan(step, (np.asarray(lo, dtype), init_val), None,
                           length=builtins.max(hi - lo, 0), unroll=unroll)
        return out
    lower = convert_element_type(lower, dtype)
    upper = convert_element_type(upper, dtype)

    def body(carry):
        i, val = carry
        return add(i, dtype.type(1)), checked_body(i, val)

    return while_loop(lambda carry: lt(carry[0], upper), body, (lower, init_val))[1]


def map(f: Callable, xs, *, batch_size: int | None = None):  # noqa: A001
    """`f` applied to each slice of `xs` along its leading axis, as a scan; the results
    stacked. With `batch_size`, `batch_size` slices at a time are computed batched (as vmap
    would), which trades memory for fewer, wider steps."""
    if batch_size is None:
        return scan(lambda carry, x: ((), f(x)), (), xs)[1]
    leaves, tree = tree_flatten(xs)
    if not leaves:
        raise ValueError(at_user_line("map needs xs with at least one array"))
    n = aval_of(leaves[0]).shape[0]
    batch_size = int(batch_size)
    if batch_size < 1:
        raise ValueError(at_user_line(f"map's batch_size must be positive, got {batch_size}"))
    x_avals = [aval_of(x).update(shape=aval_of(x).shape[1:]) for x in leaves]
    program, consts, out_tree = _trace(lambda *ls: f(tree_unflatten(tree, ls)),
                                       tree_flatten([0] * len(leaves))[1], x_avals, "map")
    dims = [None] * len(consts) + [0] * len(leaves)

    def batched(xs_batch, size):
        outs, out_dims = batch_eval(program, [*consts, *xs_batch], dims, size)
        return [to_axis(y, d, 0, size) for y, d in zip(outs, out_dims)]

    n_main, rest = (n // batch_size) * batch_size, n % batch_size
    parts = []
    if n_main:
        main = [reshape(_leading(x, 0, n_main), (n_main // batch_size, batch_size,
                                                 *aval_of(x).shape[1:])) for x in leaves]
        ys = scan(lambda carry, xb: ((), batched(xb, batch_size)), (), main)[1]
        parts.append([reshape(y, (n_main, *aval_of(y).shape[2:])) for y in ys])
    if rest:
        parts.append(batched([_leading(x, n_main, n) for x in leaves], rest))
    outs = parts[0] if len(parts) == 1 else [concatenate(p, 0) for p in zip(*parts)]
    return tree_unflatten(out_tree, outs)


def _leading(x, start: int, stop: int, step: int = 1, axis: int = 0):
    aval = aval_of(x)
    starts = [0] * aval.ndim
    limits = list(aval.shape)
    strides = [1] * aval.ndim
    starts[axis], limits[axis], strides[axis] = start, stop, step
    return slice_array(x, starts, limits, strides)


def associative_scan(fn: Callable, elems, reverse: bool = False, axis: int = 0):
    """All prefix combinations `fn(...fn(fn(e0, e1), e2)..., ek)` of `elems` (a pytree of
    arrays with the same length along `axis`), for an associative `fn`, computed in
    O(log n) rounds of elementwise work (the parallel prefix sum of Blelloch, 1990) instead
    of a sequential loop. `fn` must act elementwise on slices along `axis`."""
    leaves, tree = tree_flatten(elems)
    if not leaves:
        raise ValueError(at_user_line("associative_scan needs at least one array"))
    ndim = aval_of(leaves[0]).ndim
    axis = axis + ndim if axis < 0 else axis
    lengths = {aval_of(x).shape[axis] if aval_of(x).ndim > axis else None for x in leaves}
    if len(lengths) != 1 or None in lengths:
        raise ShapeDtypeError(at_user_line(
            f"associative_scan: every element needs the same length along axis {axis}, got "
            f"{', '.join(str(aval_of(x)) for x in leaves)}."))

    def combine(a, b):
        out, out_tree = tree_flatten(fn(tree_unflatten(tree, a), tree_unflatten(tree, b)))
        if out_tree != tree:
            raise StructureError(at_user_line(
                f"associative_scan: fn returned the structure {out_tree}, not the elements' "
                f"{tree}."))
        return out

    def part(xs, start, stop=None, step=1):
        return [_leading(x, start, aval_of(x).shape[axis] if stop is None else stop, step,
                         axis) for x in xs]

    def prefix(xs):
        n = aval_of(xs[0]).shape[axis]
        if n < 2:
            return xs
        odd = prefix(combine(part(xs, 0, n - 1, 2), part(xs, 1, n, 2)))
        m = aval_of(odd[0]).shape[axis]
        even = combine(part(odd, 0, m - 1) if n % 2 == 0 else odd, part(xs, 2, n, 2))
        even = [concatenate([first, e], axis) for first, e in zip(part(xs, 0, 1), even)]
        return [_interleave(e, o, axis) for e, o in zip(even, odd)]

    if reverse:
        leaves = [rev(x, (axis,)) for x in leaves]
    out = prefix(leaves)
    if reverse:
        out = [rev(x, (axis,)) for x in out]
    return tree_unflatten(tree, out)


def _interleave(a, b, axis: int):
    """a0 b0 a1 b1 ... along `axis`, where a has as many elements as b or one more."""
    n_b = aval_of(b).shape[axis]
    pairs = concatenate([expand_dims(_leading(a, 0, n_b, 1, axis), (axis + 1,)),
                         expand_dims(b, (axis + 1,))], axis + 1)
    shape = list(aval_of(pairs).shape)
    shape[axis:axis + 2] = [2 * n_b]
    out = reshape(pairs, shape)
    if aval_of(a).shape[axis] > n_b:
        out = concatenate([out, _leading(a, n_b, n_b + 1, 1, axis)], axis)
    return out

