"""Checkpointing (rematerialization): `checkpoint` (alias `remat`), `checkpoint_name` and the
saving policies of `checkpoint_policies`.

Reverse mode stores, in the forward pass, every intermediate value the backward pass
reads (the *residuals*). `checkpoint(f)` trades compute for memory: under differentiation
the residuals of `f` are recomputed in the backward pass from `f`'s inputs, except those a
*policy* allows to be saved.

- `checkpoint_p(*consts, *args, body, policy, prevent_cse, differentiated)`: evaluates
  `body`, a program whose leading inputs are the values `f` closes over: a call.
  `differentiated` marks the equations partial evaluation made to compute a derivative
  (they recompute what the forward pass computed already); only those need keeping apart
  from the forward pass when `prevent_cse` (see `_checkpoint_lower`).
- `name_p(x, name)`: the identity, tagging `x` with a name that policies can select
  (`checkpoint_name`).

Checkpointing is a rule of partial evaluation (as in JAX, after "You Only Linearize Once",
POPL'23): linearizing splits the body into a known part (the primal computation) and an
unknown part (the linear map), joined by residuals. Walking the known part backwards from
the residuals the unknown part reads, an equation the policy allows has its outputs
*saved* (they cross to the unknown part); any other equation is *recomputed* in the
unknown part, and its inputs are needed in turn. The body's inputs cross for free. So the
known equation is a checkpoint of the primal computation returning the saved residuals, and
the unknown equation a checkpoint that recomputes the others, then applies the linear map.
Transposition and batching keep it a checkpoint (the recomputation stays inside the
transposed body), and its lowering keeps XLA from merging the backward pass's
recomputation with the forward pass's values: that is what makes the memory saving real
under jit.

A policy is a callable `policy(prim, *in_avals, **params) -> bool` (JAX's signature), asked
of each equation whose outputs the unknown part needs: may they be saved?
"""

from __future__ import annotations

import builtins
import dataclasses
import functools
from typing import Callable

import jax
import numpy as np

from fgrad.core import (
    Eqn, Primitive, Program, Var, Zero, aval_of, staging, tangent_aval,
)
from fgrad.core.dtypes import float0
from fgrad.core.errors import ShapeDtypeError, at_user_line
from fgrad.core.ir import is_key
from fgrad.core.trace import EVAL_TRACE, call_traced, current_trace, has_tracers
from fgrad.core.typecheck import checked
from fgrad.lax._ad import is_undefined
from fgrad.lax.control_flow import (
    _as_type, _nonzero, _pruned, _runner, _same_type, _types, _used_inputs,
)
from fgrad.lax.linalg import dot_general_p
from fgrad.transforms.batch import batch_program
from fgrad.transforms.jvp import jvp_program
from fgrad.transforms.partial_eval import partial_eval
from fgrad.transforms.rules import (
    batch_rules, dce_rules, jvp_rules, partial_eval_rules, transpose_rules,
)
from fgrad.transforms.simplify import dce
from fgrad.transforms.transpose import backward_pass

tree_flatten, tree_unflatten = jax.tree_util.tree_flatten, jax.tree_util.tree_unflatten


# -- name: a value tagged for the policies ------------------------------------------------------


def _name_abstract_eval(x, *, name):
    return x


def _name_lower(x, *, name):
    return x


name_p = Primitive("name", _name_abstract_eval, _name_lower)


def _name_jvp(primals, tangents, *, name):
    (x,), (t,) = primals, tangents
    # The tangent is not tagged (as in JAX): a policy selects primal values to save.
    return name_p.bind1(x, name=name), t


def _name_transpose(ct, x, *, name):
    return [ct]


def _name_batch(axis_size, values, dims, *, name):
    (x,), (d,) = values, dims
    return name_p.bind1(x, name=name), d


jvp_rules.define(name_p, _name_jvp)
transpose_rules.define(name_p, _name_transpose)
batch_rules.define(name_p, _name_batch)
# No simplification rule on purpose: the simplifier must keep the tag until partial
# evaluation has asked the policy about it.


def checkpoint_name(x, name):
    """`x` (an array or a pytree of arrays) unchanged, each value tagged with `name` for the
    policies of `checkpoint` (`checkpoint_policies.save_only_these_names(name)`, ...).

    Args:
      x (Any): an array, a Python scalar, or a pytree of them.
      name (str): the tag, any hashable value (a string, usually).

    Returns:
      (Any): `x`'s values with `x`'s structure, each leaf tagged with `name`.

    Raises:
      TypeError: `name` is not hashable, or a leaf of `x` is not an array or a scalar.
    """
    try:
        hash(name)
    except TypeError:
        raise TypeError(at_user_line(
            f"checkpoint_name's name must be hashable (a string), got {name!r:.60}.")) from None
    leaves, tree = tree_flatten(x)
    for leaf in leaves:
        try:
            aval_of(leaf)
        except TypeError:
            raise TypeError(at_user_line(
                f"checkpoint_name({name!r}) names arrays, but it was given a "
                f"{type(leaf).__name__} ({leaf!r:.60}). Pass an array, a Python scalar or "
                f"a pytree of them.")) from None
    return tree_unflatten(tree, [name_p.bind1(leaf, name=name) for leaf in leaves])


# -- the policies -------------------------------------------------------------------------------
#
# Frozen dataclasses, so that two policies built alike are equal and hash alike: a policy is a
# param of checkpoint_p, and params are part of the keys of program caches (an eager gradient
# would otherwise recompile at every call that builds its policy anew).


class _Policy:
    def __repr__(self) -> str:
        return self._name

    __str__ = __repr__


@dataclasses.dataclass(frozen=True, repr=False)
class _Everything(_Policy):
    _name = "everything_saveable"

    def __call__(self, prim, *avals, **params) -> bool:
        return True


@dataclasses.dataclass(frozen=True, repr=False)
class _Nothing(_Policy):
    _name = "nothing_saveable"

    def __call__(self, prim, *avals, **params) -> bool:
        return False


@dataclasses.dataclass(frozen=True, repr=False)
class _Dots(_Policy):
    only_if_no_batch_dims: bool

    @property
    def _name(self) -> str:
        return ("dots_with_no_batch_dims_saveable" if self.only_if_no_batch_dims
                else "dots_saveable")

    def __call__(self, prim, *avals, **params) -> bool:
        if prim is not dot_general_p:
            return False
        if not self.only_if_no_batch_dims:
            return True
        (_, _), (lhs_batch, rhs_batch) = params["dimension_numbers"]
        return not lhs_batch and not rhs_batch


def _names_text(names) -> str:
    return ", ".join(sorted(repr(n) for n in names))


@dataclasses.dataclass(frozen=True, repr=False)
class _OnlyTheseNames(_Policy):
    names: frozenset

    @property
    def _name(self) -> str:
        return f"save_only_these_names({_names_text(self.names)})"

    def __call__(self, prim, *avals, **params) -> bool:
        return prim is name_p and params["name"] in self.names


@dataclasses.dataclass(frozen=True, repr=False)
class _AnyNamesButThese(_Policy):
    names: frozenset

    @property
    def _name(self) -> str:
        return f"save_any_names_but_these({_names_text(self.names)})"

    def __call__(self, prim, *avals, **params) -> bool:
        return prim is name_p and params["name"] not in self.names


@dataclasses.dataclass(frozen=True, repr=False)
class _Either(_Policy):
    first: Callable
    second: Callable

    @property
    def _name(self) -> str:
        return f"save_from_both_policies({self.first}, {self.second})"

    def __call__(self, prim, *avals, **params) -> bool:
        return bool(self.first(prim, *avals, **params)) or bool(
            self.second(prim, *avals, **params))


everything_saveable = _Everything()
nothing_saveable = _Nothing()
dots_saveable = _Dots(False)
dots_with_no_batch_dims_saveable = _Dots(True)


def save_only_these_names(*names) -> Callable:
    """Saves only the values tagged (`checkpoint_name`) with one of `names`."""
    return _OnlyTheseNames(frozenset(names))


def save_any_names_but_these(*names) -> Callable:
    """Saves only tagged values, except those tagged with one of `names`."""
    return _AnyNamesButThese(frozenset(names))


def save_from_both_policies(policy_1: Callable, policy_2: Callable) -> Callable:
    """Saves what either policy saves."""
    return _Either(_checked_policy(policy_1), _checked_policy(policy_2))


class checkpoint_policies:  # noqa: N801 (a namespace, spelled as JAX's)
    """The policies `checkpoint` accepts: which intermediate values of a checkpointed
    function the forward pass may save for the backward pass (everything else is
    recomputed). Any callable `policy(prim, *in_avals, **params) -> bool` is one."""

    everything_saveable = everything_saveable
    nothing_saveable = nothing_saveable
    dots_saveable = dots_saveable
    checkpoint_dots = dots_saveable
    dots_with_no_batch_dims_saveable = dots_with_no_batch_dims_saveable
    checkpoint_dots_with_no_batch_dims = dots_with_no_batch_dims_saveable
    save_only_these_names = staticmethod(save_only_these_names)
    save_any_names_but_these = staticmethod(save_any_names_but_these)
    save_from_both_policies = staticmethod(save_from_both_policies)

    def __init__(self):
        raise TypeError("checkpoint_policies is a namespace: use its members, as in "
                        "checkpoint_policies.dots_saveable")


def _checked_policy(policy) -> Callable:
    if policy is None:
        return nothing_saveable
    if not callable(policy):
        raise TypeError(at_user_line(
            f"checkpoint's policy must be a callable policy(prim, *avals, **params) -> bool, "
            f"such as fgrad.checkpoint_policies.dots_saveable, got a "
            f"{type(policy).__name__} ({policy!r:.60})."))
    return policy


# -- checkpoint_p: a call whose partial evaluation follows a policy --------------------------------


def _checkpoint_abstract_eval(*args, body, policy, prevent_cse, differentiated):
    if len(args) != len(body.inputs) or not all(builtins.map(_same_type, body.in_avals, args)):
        raise ShapeDtypeError(f"checkpoint: the body takes {_types(body.in_avals)} but is "
                              f"given {_types(args)}")
    return body.out_avals


def _is_array_operand(x) -> bool:
    """Is `x` an array the recomputation must be kept from sharing? Python scalars
    (constants), float0 arrays and key arrays have no values to share."""
    if isinstance(x, (bool, int, float, complex, np.generic)):
        return False
    dtype = aval_of(x).dtype
    return not is_key(dtype) and dtype != float0


def _checkpoint_lower(*args, body, policy, prevent_cse, differentiated):
    run = _runner(body, body.out_avals)
    if not (prevent_cse and differentiated):
        return run(*args)
    # The recomputation in a derivative must not be merged with the forward pass's equal
    # computation (XLA's common-subexpression elimination would, and the forward values
    # would then be stored after all). On GPU and TPU an optimization barrier on the
    # operands prevents it, as in JAX; XLA:CPU removes barriers before its CSE passes
    # (measured: the gradient then stores every residual, with JAX's checkpoint too), so on
    # CPU the recomputation runs in a conditional branch whose predicate XLA cannot decide
    # (it is always true), which no pass merges with the enclosing computation.
    arrays = [_is_array_operand(x) for x in args]
    numeric = all(not is_key(a.dtype) and a.dtype != float0 for a in body.out_avals)

    def with_arrays(values):
        values = iter(values)
        return [next(values) if a else x for x, a in zip(args, arrays)]

    def behind_barrier(*values):
        return run(*with_arrays(jax.lax.optimization_barrier(list(values))))

    def in_branch(*values):
        always = jax.lax.lt(jax.lax.rng_uniform(np.float32(0), np.float32(1), ()),
                            np.float32(2))
        return jax.lax.cond(always, lambda vs: run(*with_arrays(vs)),
                            lambda vs: [_as_type(jax.numpy.zeros(a.shape, a.dtype), a)
                                        for a in body.out_avals], list(values))

    return jax.lax.platform_dependent(*[x for x, a in zip(args, arrays) if a],
                                      cpu=in_branch if numeric else behind_barrier,
                                      default=behind_barrier)


checkpoint_p = Primitive("checkpoint", _checkpoint_abstract_eval, _checkpoint_lower,
                         multiple_results=True)


def _checkpoint_jvp(primals, tangents, *, body, **params):
    jvp, out_nz = jvp_program(body, _nonzero(tangents))
    ts = [t for t in tangents if type(t) is not Zero]
    outs = checkpoint_p.bind(*primals, *ts, body=jvp, **params)
    n = len(body.outputs)
    out, out_ts = outs[:n], iter(outs[n:])
    return out, [next(out_ts) if nz else Zero(tangent_aval(v.aval))
                 for nz, v in zip(out_nz, body.outputs, strict=True)]


def _checkpoint_partial_eval(eqn: Eqn, unknowns):
    body, policy = eqn.params["body"], eqn.params["policy"]
    known, staged, out_unknown, n_res = partial_eval(body, unknowns)
    position = {v: i for i, v in enumerate(body.inputs)}
    free = set(body.constvars) | set(position)  # available to the unknown side as they are

    # Walk the known equations backwards from the residuals the unknown side reads: save the
    # outputs of those the policy allows, recompute the others (and need their inputs).
    needed = {r for r in staged.inputs[:n_res] if r not in free}
    saved: dict[Var, None] = {}  # an ordered set
    recomputed = []
    for e in reversed(known.eqns):
        wanted = [v for v in e.outputs if v in needed]
        if not wanted:
            continue
        if policy(e.primitive, *[a.aval for a in e.inputs], **e.params):
            saved.update(dict.fromkeys(wanted))
        else:
            recomputed.append(e)
            needed.update(a for a in e.inputs if type(a) is Var and a not in free)
    recomputed.reverse()
    saved_vars = list(saved)
    saved_outer = [Var(v.aval) for v in saved_vars]

    known_eqns, unknown_eqns = [], []
    n_known_out = len(known.outputs) - n_res
    known_outs = [v for v, u in zip(eqn.outputs, out_unknown, strict=True) if not u]
    if known_outs or saved_vars:
        known_body = checked(dce(Program(known.constvars, known.constvals, known.inputs,
                                         known.eqns, [*known.outputs[:n_known_out],
                                                      *saved_vars])))
        known_ops = [a for a, u in zip(eqn.inputs, unknowns, strict=True) if not u]
        # The primal computation: nothing to keep apart from (prevent_cse=False); the
        # policy stays, for a differentiation of this one (a gradient of a gradient).
        known_eqns.append(Eqn(checkpoint_p, tuple(known_ops), (*known_outs, *saved_outer),
                              {**eqn.params, "body": known_body, "prevent_cse": False,
                               "differentiated": False}, eqn.source))
    unknown_outs = [v for v, u in zip(eqn.outputs, out_unknown, strict=True) if u]
    if unknown_outs:
        known_inputs = [v for v, u in zip(body.inputs, unknowns, strict=True) if not u]
        unknown_inputs = staged.inputs[n_res:]
        program = dce(Program(body.constvars, body.constvals,
                              [*known_inputs, *saved_vars, *unknown_inputs],
                              [*recomputed, *staged.eqns], staged.outputs))
        reads = _used_inputs(program)
        outer = [eqn.inputs[position[v]] for v in known_inputs] + saved_outer + [
            eqn.inputs[position[v]] for v in unknown_inputs]
        program = checked(Program(program.constvars, program.constvals,
                                  [v for v, r in zip(program.inputs, reads) if r],
                                  program.eqns, program.outputs))
        unknown_eqns.append(Eqn(checkpoint_p,
                                tuple(a for a, r in zip(outer, reads, strict=True) if r),
                                tuple(unknown_outs),
                                {**eqn.params, "body": program, "differentiated": True},
                                eqn.source))
    return known_eqns, unknown_eqns


def _checkpoint_transpose(cts, *operands, body, **params):
    linear = [is_undefined(x) for x in operands]
    fixed = [x for x, lin in zip(operands, linear, strict=True) if not lin]
    fixed_avals = [v.aval for v, lin in zip(body.inputs, linear, strict=True) if not lin]
    given = [c for c in cts if type(c) is not Zero]
    has_ct = [type(c) is not Zero for c in cts]
    with staging("checkpoint transpose") as trace:
        ins = [trace.new_input(a) for a in fixed_avals + [aval_of(c) for c in given]]
        fixed_in, cts_in = iter(ins[:len(fixed)]), iter(ins[len(fixed):])
        args = [None if lin else next(fixed_in) for lin in linear]
        cts_all = [next(cts_in) if h else Zero(v.aval)
                   for h, v in zip(has_ct, body.outputs, strict=True)]
        in_cts = [c for c, lin in zip(backward_pass(body, linear, args, cts_all), linear)
                  if lin]
        nonzero = [type(c) is not Zero for c in in_cts]
        transposed = trace.to_program([c for c in in_cts if type(c) is not Zero])
    if not any(nonzero):
        return [Zero(x.aval) if lin else None for x, lin in zip(operands, linear)]
    # The transposed body recomputes what the linear map needs from the fixed operands:
    # it stays a checkpoint, kept apart from the forward pass. Operands it does not read
    # are dropped.
    transposed = dce(transposed)
    reads = _used_inputs(transposed)
    transposed = Program(transposed.constvars, transposed.constvals,
                         [v for v, r in zip(transposed.inputs, reads) if r], transposed.eqns,
                         transposed.outputs)
    outer = [x for x, r in zip([*fixed, *given], reads, strict=True) if r]
    outs = iter(checkpoint_p.bind(*outer, body=transposed, **params))
    by_linear = iter([next(outs) if nz else None for nz in nonzero])
    results = []
    for x, lin in zip(operands, linear, strict=True):
        if not lin:
            results.append(None)
            continue
        ct = next(by_linear)
        results.append(Zero(x.aval) if ct is None else ct)
    return results


def _checkpoint_batch(axis_size, values, dims, *, body, **params):
    batched, out_dims = batch_program(body, dims, axis_size)
    outs = checkpoint_p.bind(*values, body=batched, **params)
    return outs, out_dims


def _checkpoint_dce(eqn: Eqn, used):
    body = _pruned(eqn.params["body"], used)
    reads = _used_inputs(body)
    body = Program(body.constvars, body.constvals,
                   [v for v, r in zip(body.inputs, reads) if r], body.eqns, body.outputs)
    return Eqn(checkpoint_p, tuple(a for a, r in zip(eqn.inputs, reads, strict=True) if r),
               tuple(v for v, u in zip(eqn.outputs, used, strict=True) if u),
               {**eqn.params, "body": body}, eqn.source)


jvp_rules.define(checkpoint_p, _checkpoint_jvp, lists=True)
transpose_rules.define(checkpoint_p, _checkpoint_transpose, lists=True)
batch_rules.define(checkpoint_p, _checkpoint_batch, lists=True)
partial_eval_rules.define(checkpoint_p, _checkpoint_partial_eval)
dce_rules.define(checkpoint_p, _checkpoint_dce)


# -- the function users call ---------------------------------------------------------------------


def _static_positions(static_argnums) -> tuple[int, ...]:
    if isinstance(static_argnums, (int, np.integer)) and not isinstance(static_argnums, bool):
        return (int(static_argnums),)
    try:
        positions = tuple(static_argnums)
    except TypeError:
        positions = None
    if positions is None or not all(isinstance(i, (int, np.integer))
                                    and not isinstance(i, bool) for i in positions):
        raise TypeError(at_user_line(
            f"checkpoint's static_argnums must be an int or a sequence of ints, got "
            f"{static_argnums!r:.60}."))
    return tuple(int(i) for i in positions)


def checkpoint(fun: Callable, *, prevent_cse: bool = True, policy: Callable | None = None,
               static_argnums: int | tuple[int, ...] = ()) -> Callable:
    """`fun` with the same values, whose intermediate values reverse-mode differentiation
    recomputes in the backward pass instead of storing them (the API of JAX's checkpoint).

    The values `fun` closes over are differentiated through as its arguments are. Outside
    any transformation `fun` simply runs.

    Args:
      fun: the function to checkpoint.
      prevent_cse: `True` keeps XLA from merging the recomputation with the forward pass
        (without it, under jit, the saving may vanish). Inside a `scan` body, where XLA does
        not merge across iterations, `False` lets it optimize more.
      policy: `policy(prim, *in_avals, **params) -> bool` says which values may be stored
        anyway (see `checkpoint_policies`); by default none (`nothing_saveable`): only
        `fun`'s inputs are kept for the backward pass.
      static_argnums: arguments at these positions are Python values closed over while
        tracing (an int that a Python `if` or `range` reads, a string); the others are
        pytrees of arrays.

    Returns:
      a function with `fun`'s arguments that returns `fun`'s output.

    Raises:
      TypeError: `fun` or `policy` is not callable, `prevent_cse` is not a bool, or
        `static_argnums` is not an int or a sequence of ints; when the returned function is
        called, a non-static argument holds a leaf that is not an array.
      ValueError: when the returned function is called, a position in `static_argnums` is
        out of range.
    """
    if not callable(fun):
        raise TypeError(at_user_line(
            f"checkpoint needs a function, got a {type(fun).__name__} ({fun!r:.60}). Write "
            f"fgrad.checkpoint(f)(x), not fgrad.checkpoint(f(x))."))
    if not isinstance(prevent_cse, (bool, np.bool_)):
        raise TypeError(at_user_line(
            f"checkpoint's prevent_cse must be a bool, got {prevent_cse!r:.60}."))
    prevent_cse = bool(prevent_cse)
    policy = _checked_policy(policy)
    static = _static_positions(static_argnums)

    @functools.wraps(fun)
    def checkpointed(*args, **kwargs):
        n = len(args)
        for i in static:
            if not -n <= i < n:
                raise ValueError(at_user_line(
                    f"checkpoint's static_argnums contains {i}, but the function was called "
                    f"with {n} positional argument(s)."))
        positions = {i % n for i in static}
        dynamic = [a for i, a in enumerate(args) if i not in positions]
        leaves, in_tree = tree_flatten((dynamic, kwargs))
        if current_trace() is EVAL_TRACE and not has_tracers(leaves):
            return fun(*args, **kwargs)  # nothing differentiates it: a plain call

        def flat_fun(*flat):
            dyn, kw = tree_unflatten(in_tree, flat)
            dyn = iter(dyn)
            return fun(*[a if i in positions else next(dyn) for i, a in enumerate(args)], **kw)

        avals = []
        for leaf in leaves:
            try:
                avals.append(aval_of(leaf))
            except TypeError:
                raise TypeError(at_user_line(
                    f"checkpoint: an argument holds a {type(leaf).__name__} ({leaf!r:.60}), "
                    f"which is not an array. Mark the argument static with "
                    f"static_argnums, or close over it.")) from None
        name = f"checkpoint({getattr(fun, '__name__', type(fun).__name__)})"
        # Traced with the arguments' values known where the enclosing trace knows them, so
        # Python control flow on values works inside as it does around (define-by-run).
        with staging(name, concrete=True) as trace:
            ins = [trace.new_input(a, leaf) for a, leaf in zip(avals, leaves)]
            out = call_traced(flat_fun, ins, name)
            out_leaves, out_tree = tree_flatten(out)
            program = trace.to_program(out_leaves)
        consts = list(program.constvals)
        outs = checkpoint_p.bind(*consts, *leaves, body=program.consts_as_inputs(),
                                 policy=policy, prevent_cse=prevent_cse, differentiated=False)
        return tree_unflatten(out_tree, outs)

    return checkpointed


remat = checkpoint

