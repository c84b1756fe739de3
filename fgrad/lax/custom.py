"""Custom derivative rules: `custom_jvp` and `custom_vjp`, with JAX's conventions.

The user's function and rules are traced, abstractly, into programs held in the params of
one equation, as control flow's are (closed-over values become leading operands):

- `custom_jvp_call(*consts, *args; fun, rule, symbolic, n_consts)` computes `fun`. Its JVP
  evaluates `rule` (primals, tangents → outputs, output tangents) in place of `fun`'s own
  derivative; reverse mode transposes those equations, so the rule must be linear in the
  tangents for grad (JAX's behaviour), and an error names the rule when it is not. With
  `symbolic_zeros=True` the rule is traced again for each pattern of zero tangents
  (`symbolic`), and sees `SymbolicZero` for the tangents known to be zero.
- `custom_vjp_call(*consts, *args; fun, rules, n_consts)` computes `fun`. Its JVP runs
  `fwd` for the outputs and residuals, and applies `custom_lin(*consts, *residuals,
  *tangents; bwd)`, a linear primitive whose transpose evaluates `bwd`: reverse mode calls
  the user's bwd as it is (it need not be linear: a gradient clip is not), and the
  equations bwd emits are differentiated like any others (grad of grad). Forward mode
  evaluates `custom_lin` as the transpose of `bwd`, which exists when bwd is linear in the
  cotangent (JAX refuses forward mode outright; fgrad does it when it can, and says why
  when it cannot).

The rules are traced when a transform first needs them (`_Rules`), not when the function is
called: a rule calling its own function would otherwise recurse without end.

Differentiating with respect to a value the function or its rules close over is an error:
the rule never sees it. Arguments named in `nondiff_argnums` are passed as they are (a
function, a Python number) or, for arrays, as constants (`stop_gradient`), as JAX does.

Lowered to JAX, an equation computes the function's value once and gives it the rule's
derivative through `jax.lax.custom_root` (`_with_derivative`), so `jax.grad` of fgrad code
uses the rules too, to second order.
"""

from __future__ import annotations

import functools
import inspect
import threading
from contextlib import contextmanager
from typing import Callable, Sequence

import jax
import numpy as np

from fgrad.core import (
    Aval, Eqn, Primitive, Program, Zero, aval_of, eval_program, is_differentiable, staging,
    tangent_aval,
)
from fgrad.core.dtypes import float0
from fgrad.core.errors import (
    FgradError, NotDifferentiableError, ShapeDtypeError, StructureError, at_user_line,
)
from fgrad.core.trace import (
    EVAL_TRACE, call_traced, current_trace, has_tracers, original_of, source_of,
)
from fgrad.lax._ad import instantiate, is_undefined, zeros
from fgrad.lax.control_flow import _as_type, _joined, _pruned, _restaged, _runner, _trace
from fgrad.lax.elementwise import convert_element_type
from fgrad.lax.reductions import reduce_sum
from fgrad.transforms.batch import batch_eval, batch_program, batched_aval, to_axis
from fgrad.transforms.jvp import jvp_eval
from fgrad.transforms.rules import (
    batch_rules, jvp_rules, transpose_failure_hints, transpose_rules,
)
from fgrad.transforms.stop_gradient import stop_gradient
from fgrad.transforms.transpose import transpose_program
from fgrad.core.resources import LRUCache, register_cache

tree_flatten, tree_unflatten = jax.tree_util.tree_flatten, jax.tree_util.tree_unflatten


# -- naming the user's functions in errors ------------------------------------------------------


def _where(fn) -> str:
    """`name` (file:line) of a user's function, for messages."""
    if isinstance(fn, _Named):
        return fn.text
    inner = fn
    while isinstance(inner, functools.partial):
        inner = inner.func
    name = getattr(inner, "__qualname__", None) or getattr(inner, "__name__", None) or \
        type(inner).__name__
    code = getattr(inner, "__code__", None)
    return f"`{name}` ({code.co_filename}:{code.co_firstlineno})" if code else f"`{name}`"


def _types(avals) -> str:
    return "(" + ", ".join(str(a) for a in avals) + ")"


class SymbolicZero:
    """A tangent known to be zero, as a custom_jvp rule defined with `symbolic_zeros=True`
    sees it: it has the shape and dtype of the tangent it stands for, and no value. The rule
    may return one for an output tangent it knows is zero.

    Args:
      aval: the shape and dtype (an `Aval`) of the tangent it stands for.
    """

    def __init__(self, aval: Aval):
        self.aval = aval

    shape = property(lambda self: self.aval.shape)
    dtype = property(lambda self: self.aval.dtype)

    def instantiate(self):
        """The zeros it stands for, as an array."""
        return zeros(self.aval)

    def __repr__(self) -> str:
        return f"SymbolicZero({self.aval})"


# -- arguments: which are differentiated, which are passed through -----------------------------


@functools.lru_cache(maxsize=512)
def _positional_count(fun: Callable) -> int:
    """How many positional arguments `fun` takes (all of them fill its signature)."""
    try:
        params = inspect.signature(fun).parameters.values()
    except (TypeError, ValueError):
        return 0
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 0
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


register_cache(
    "custom_positional_count", _positional_count,
    holds="how many positional parameters a custom_jvp/custom_vjp function takes, and the "
          "function itself with whatever its closure holds",
    key="the user's function",
    why="one entry per custom function; a function defined anew on every call keeps at most "
        "512 closures alive")


def _resolve(fun: Callable, args: tuple, kwargs: dict, what: str) -> tuple:
    """All arguments as positional ones: keywords bound by fun's signature and defaults
    filled in, as JAX does (the rules receive every argument)."""
    try:
        complete = not kwargs and len(args) >= _positional_count(fun)
    except TypeError:  # an unhashable callable
        complete = not kwargs
    if complete:
        return args
    try:
        bound = inspect.signature(fun).bind(*args, **kwargs)
    except TypeError as e:
        raise TypeError(at_user_line(f"{what} {_where(fun)}: {e}")) from None
    bound.apply_defaults()
    return bound.args + tuple(bound.kwargs.values())


def _nondiff_positions(nondiff_argnums, nargs: int, fun, what: str) -> tuple[int, ...]:
    positions = []
    for i in nondiff_argnums:
        if not -nargs <= i < nargs:
            raise TypeError(at_user_line(
                f"{what} {_where(fun)} has nondiff_argnums={tuple(nondiff_argnums)}, but was "
                f"called with {nargs} positional argument(s)."))
        positions.append(i % nargs)
    return tuple(sorted(set(positions)))


def _constant(x):
    """A nondiff argument as the rule sees it: arrays as constants, the rest as they are."""
    def leaf(v):
        if isinstance(v, (jax.Array, np.ndarray)) or hasattr(v, "_trace"):
            return stop_gradient(v)
        return v
    return jax.tree_util.tree_map(leaf, x)


class _Args:
    """A call's arguments split into the nondiff ones (kept in place) and the flat leaves of
    the others, which become the equation's operands."""

    def __init__(self, args: tuple, nondiff: tuple[int, ...]):
        self.nargs = len(args)
        self.nondiff = nondiff
        self.static = [_constant(args[i]) for i in nondiff]
        # The nondiff arrays: operands of the equation, which the rules read by closure.
        self.arrays = [x for x in jax.tree_util.tree_leaves(self.static)
                       if _is_array_like(x) and not isinstance(x, (bool, int, float, complex))]
        self.leaves, self.tree = tree_flatten(
            tuple(a for i, a in enumerate(args) if i not in nondiff))
        self.avals = [aval_of(x) for x in self.leaves]
        self.diff = [is_differentiable(a) for a in self.avals]

    def full(self, diff_args: Sequence) -> list:
        """Every argument in its place, given the differentiated ones."""
        diff_args = iter(diff_args)
        static = iter(self.static)
        return [next(static) if i in self.nondiff else next(diff_args)
                for i in range(self.nargs)]

    def unflatten(self, leaves) -> tuple:
        return tree_unflatten(self.tree, list(leaves))

    def take_leaves(self) -> list:
        """The leaves, handed over once to become operands. The rules' retrace closure keeps
        this object as long as any program or cache key holds the rules, and the leaves are
        the caller's tracers, which would keep their whole trace alive, values included."""
        leaves, self.leaves = self.leaves, None
        return leaves


def _eager(args: Sequence) -> bool:
    """Whether a call computes at once on concrete arrays, with no transform to apply."""
    return current_trace() is EVAL_TRACE and not has_tracers(jax.tree_util.tree_leaves(args))


def _closure_error(kind: str, fun, aval: Aval) -> NotDifferentiableError:
    return NotDifferentiableError(at_user_line(
        f"The {kind} function {_where(fun)} closes over a value that is being differentiated "
        f"({aval}): its custom rule only sees the function's arguments, so it cannot give "
        f"that value's derivative. Pass the value to the function as an argument (and "
        f"return its derivative from the rule)."))


def _check_const_tangents(tangents, n_consts: int, kind: str, fun) -> None:
    for t in tangents[:n_consts]:
        if type(t) is not Zero:
            raise _closure_error(kind, fun, aval_of(t))


# -- rules traced on demand -------------------------------------------------------------------


class _Rules:
    """A custom function's rules, traced into programs when a transform first needs them, one
    per variant (a pattern of zero tangents; custom_vjp's "fwd" and "bwd"), memoized.

    Tracing them when the function is called would recurse: a rule usually calls the
    function itself (`return f(x), ...`), which binds another equation whose rule would be
    traced, and so on. So a call traces its rules once, to find the values they close over
    (which become operands), while the calls inside a rule trace nothing further. Equal for
    the same user functions and types, so programs holding them still key caches."""

    def __init__(self, key, trace: Callable):
        self.key = key
        self._trace = trace
        self._programs: dict = {}
        self.keepalive: list = []  # closed-over values bound by id while tracing

    def program(self, variant=None) -> Program:
        program = self._programs.get(variant)
        if program is None:
            program = self._programs[variant] = self._trace(variant)
        return program

    def prefill(self, variant, program: Program) -> None:
        self._programs[variant] = program

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return type(other) is _Rules and self.key == other.key

    def __repr__(self):
        return "rules"


class _RuleState(threading.local):
    depth = 0  # rules being traced
    lowering = 0  # rules' tangents being lowered, one inside another (_with_derivative)


_rule_state = _RuleState()


@contextmanager
def _tracing_rule():
    """While a rule is traced, the custom functions it calls defer their own rules."""
    _rule_state.depth += 1
    try:
        yield
    finally:
        _rule_state.depth -= 1


def _trace_rule(flat: Callable, avals: Sequence[Aval], name: str):
    """A rule's first trace, its closed-over values hoisted (see `_trace`)."""
    with _tracing_rule(), source_of(None):
        program, consts, _ = _trace(flat, tree_flatten([0] * len(avals))[1], avals, name)
    return program, consts


def _retrace_rule(flat: Callable, consts: Sequence, outside: Sequence, avals, name: str
                  ) -> Program:
    """`flat` traced again into a program taking every const of the equation, then `avals`:
    the values it closes over that are among the equation's consts (hoisted by the first
    traces, or nondiff arrays) are read from those inputs. `outside` holds what each const
    stood for when it was hoisted (`original_of`): what the user's closures hold."""
    const_avals = [aval_of(c) for c in consts]
    with staging(name) as trace:
        ins = [trace.new_input(a) for a in [*const_avals, *avals]]
        trace.bind_outside(consts, ins[:len(consts)])
        trace.bind_outside(outside, ins[:len(consts)])
        # The rule's equations name its own lines, not the equation being differentiated.
        with _tracing_rule(), source_of(None):
            outs = call_traced(flat, ins[len(const_avals):], name)
        return trace.to_program(outs)


def _batched_rules(rules: _Rules, dims: tuple, axis_size: int, batch: Callable) -> _Rules:
    """`rules` under vmap: each variant's program batched by `batch(program, variant)`."""
    return _Rules(("vmap", rules.key, dims, axis_size),
                  lambda variant: batch(rules.program(variant), variant))


# -- custom_jvp -------------------------------------------------------------------------------


def _custom_jvp_abstract_eval(*avals, fun, rule, symbolic, n_consts, name):
    if len(avals) != len(fun.inputs):
        raise ShapeDtypeError(f"custom_jvp_call of {name}: {len(fun.inputs)} operands "
                              f"expected, got {len(avals)}")
    return list(fun.out_avals)


def _custom_jvp_lower(*args, fun, rule, symbolic, n_consts, name):
    program = rule.program(None)
    n_out = len(fun.outputs)
    # The tangents alone: a rule's primal output is usually a call of the function itself.
    tangents = _pruned(program, [False] * n_out + [True] * (len(program.outputs) - n_out))
    run_rule = _runner(tangents, tangents.out_avals)
    return _with_derivative(_runner(fun, fun.out_avals), args, n_consts, fun,
                            lambda c, xs, ts: run_rule(*c, *xs, *ts))


def _with_derivative(run_fun: Callable, args, n_consts: int, fun: Program,
                     tangent: Callable | None) -> list:
    """`fun`'s values, lowered so that JAX differentiating them (jax.grad of fgrad code)
    finds the custom rule, with jax.lax alone.

    The value y = f(c, x) is computed once. Its derivative comes from `jax.lax.custom_root`
    with y as the solution of r(y; c, x) = y - sg(y) - G(c, x) = 0, where sg is
    stop_gradient and

        G(c, x) = [f(c, sg x) - sg(f(c, sg x))] + ½ [D(c, x, δ) + D(c, sg x, δ)]

    is zero in value: δ = x - sg(x) is zero with derivative one and `tangent` D(c, x, t) is
    the rule's output tangent, linear in t. Since ∂r/∂y = 1, implicit differentiation gives
    y's derivative as G's: the rule's in the arguments x, and f's own in the closed-over
    values c; of the two halves one sees x move and the other not, which makes the second
    derivative the rule's derivative. r runs only when JAX differentiates, so a compiled
    forward pass costs f alone. Exact to the second order: a custom function inside the
    rule of a custom function inside a rule is a constant to JAX. Without `tangent`
    (a custom_vjp whose bwd is not linear) JAX differentiates f.
    """
    consts, xs = list(args[:n_consts]), list(args[n_consts:])
    value = run_fun(*consts, *xs)
    diff_out = [i for i, a in enumerate(fun.out_avals) if is_differentiable(a)]
    sg = jax.lax.stop_gradient
    if _rule_state.lowering >= 2:
        # A custom function in the rule of a custom function in a rule: only a third
        # derivative would see it move, and differentiating its own code might fail
        # (a while loop) even where it is multiplied by zero.
        return [sg(v) for v in value]
    if (tangent is None or not diff_out
            or not any(isinstance(x, jax.core.Tracer) for x in xs)):
        return value  # concrete arguments: no JAX transform is differentiating them
    diff_in = [is_differentiable(a) for a in fun.in_avals[n_consts:]]

    def zero_with_derivative():  # G(c, x)
        fixed = [sg(x) for x in xs]
        own = run_fun(*consts, *fixed)
        deltas = [x - x0 for x, x0, d in zip(xs, fixed, diff_in) if d]
        moving, still = tangent(consts, xs, deltas), tangent(consts, fixed, deltas)
        return [own[i] - sg(own[i]) + (m + t) * 0.5
                for i, m, t in zip(diff_out, moving, still, strict=True)]

    # y's own derivative, f's, must not reach JAX (it may not exist: a while loop)
    roots = [sg(value[i]) for i in diff_out]

    def residual(ys):
        return [y - y0 - g for y, y0, g in zip(ys, roots, zero_with_derivative())]

    _rule_state.lowering += 1
    try:  # JAX traces `residual` now; it runs only in JAX's derivatives
        solution = jax.lax.custom_root(residual, roots,
                                       solve=lambda _, y: y, tangent_solve=lambda _, b: b)
    finally:
        _rule_state.lowering -= 1
    outs = list(value)
    for i, y in zip(diff_out, solution):
        outs[i] = _as_type(y, fun.out_avals[i])
    return outs


custom_jvp_call_p = Primitive("custom_jvp_call", _custom_jvp_abstract_eval, _custom_jvp_lower,
                              multiple_results=True)


def _custom_jvp_call_jvp(primals, tangents, *, fun, rule, symbolic, n_consts, name):
    _check_const_tangents(tangents, n_consts, "custom_jvp", name)
    n_out = len(fun.outputs)
    diff_in = [is_differentiable(a) for a in fun.in_avals[n_consts:]]
    arg_tangents = [t for t, d in zip(tangents[n_consts:], diff_in) if d]
    if symbolic:
        variant = tuple(type(t) is not Zero for t in arg_tangents)
        ts = [t for t in arg_tangents if type(t) is not Zero]
    else:
        variant, ts = None, [instantiate(t) for t in arg_tangents]
    outs = eval_program(rule.program(variant), *primals, *ts)
    out_ts = iter(outs[n_out:])
    return outs[:n_out], [next(out_ts) if is_differentiable(a) else Zero(tangent_aval(a))
                          for a in fun.out_avals]


def _custom_jvp_call_batch(axis_size, values, dims, *, fun, rule, symbolic, n_consts, name):
    # The rule's programs are traced later, so every output is batched, whatever they do.
    n_out = len(fun.outputs)
    diff_in = [is_differentiable(a) for a in fun.in_avals[n_consts:]]
    t_dims = [d for d, diff in zip(dims[n_consts:], diff_in) if diff]  # as their primals'

    def batch(program, variant):
        ts = t_dims if variant is None else [d for d, nz in zip(t_dims, variant) if nz]
        return batch_program(program, [*dims, *ts], axis_size,
                             batch_first=[True] * len(program.outputs))[0]

    new_fun = batch_program(fun, dims, axis_size, batch_first=[True] * n_out)[0]
    outs = custom_jvp_call_p.bind(*values, fun=new_fun,
                                  rule=_batched_rules(rule, tuple(dims), axis_size, batch),
                                  symbolic=symbolic, n_consts=n_consts, name=name)
    return outs, [0] * n_out


jvp_rules.define(custom_jvp_call_p, _custom_jvp_call_jvp, lists=True)
batch_rules.define(custom_jvp_call_p, _custom_jvp_call_batch, lists=True)
transpose_rules.absent(custom_jvp_call_p, "it is not linear; reverse mode transposes its JVP "
                                          "rule instead")


class custom_jvp:
    """A function with a custom JVP rule (the API of JAX's custom_jvp).

    The rule `rule(primals, tangents) -> (primal_out, tangent_out)` (with nondiff arguments
    first: `rule(*nondiff, primals, tangents)`) replaces the function's own derivative under
    every transform. Reverse mode (grad, vjp) transposes the rule, so it must be linear in
    the tangents, as JAX requires.

    Args:
      fun: the function, called as it is outside any transform; set its rule with `defjvp`
        (or `defjvps`).
      nondiff_argnums: the positions of the arguments that are not differentiated (negative
        ones count from the end); the rule receives them first, as they are.

    Raises:
      TypeError: `fun` is not callable.

    Examples:
      >>> import fgrad, fgrad.numpy as fnp
      >>> @fgrad.custom_jvp
      ... def log1pexp(x):
      ...     return fnp.log(1. + fnp.exp(x))
      >>> @log1pexp.defjvp
      ... def log1pexp_jvp(primals, tangents):
      ...     (x,), (t,) = primals, tangents
      ...     return log1pexp(x), t * (1. - 1. / (1. + fnp.exp(x)))
      >>> float(fgrad.grad(log1pexp)(100.))
      1.0
    """

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()):
        if not callable(fun):
            raise TypeError(at_user_line(
                f"custom_jvp needs a function, got {type(fun).__name__}."))
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)
        self.jvp: Callable | None = None
        self.symbolic_zeros = False

    def defjvp(self, jvp: Callable, symbolic_zeros: bool = False) -> Callable:
        """Sets the rule `jvp(primals, tangents) -> (primal_out, tangent_out)`. With
        `symbolic_zeros=True` a tangent known to be zero arrives as a `SymbolicZero` (and
        the rule may return one)."""
        if not callable(jvp):
            raise TypeError(at_user_line(
                f"defjvp needs a function, got {type(jvp).__name__}."))
        if self.jvp is not None:
            raise TypeError(at_user_line(
                f"defjvp was already called for {_where(self.fun)} (with {_where(self.jvp)}): "
                f"a function has one JVP rule. Define a new custom_jvp function instead."))
        self.jvp, self.symbolic_zeros = jvp, bool(symbolic_zeros)
        _remember_rule(jvp)
        return jvp

    def defjvps(self, *jvps: Callable | None) -> None:
        """Sets the rule from one function per argument, `jvp_i(t_i, primal_out, *primals)
        -> the output tangent due to argument i` (None: no dependence); they are summed."""
        def rule(primals, tangents):
            if len(jvps) != len(primals):
                raise TypeError(at_user_line(
                    f"defjvps of {_where(self.fun)} was given {len(jvps)} rule(s), but the "
                    f"function takes {len(primals)} differentiable argument(s)."))
            out = self(*primals)
            total = None
            for fn, t in zip(jvps, tangents):
                if fn is None:
                    continue
                term = fn(t, out, *primals)
                total = term if total is None else jax.tree_util.tree_map(
                    lambda a, b: a + b, total, term)
            if total is None:
                total = jax.tree_util.tree_map(lambda y: zeros(tangent_aval(aval_of(y))), out)
            return out, total

        for fn in jvps:
            _remember_rule(fn)
        self.defjvp(rule)

    def __call__(self, *args, **kwargs):
        if self.jvp is None:
            raise AttributeError(at_user_line(
                f"No JVP defined for the custom_jvp function {_where(self.fun)}: call "
                f"defjvp (or defjvps) before calling the function."))
        args = _resolve(self.fun, args, kwargs, "custom_jvp")
        nondiff = _nondiff_positions(self.nondiff_argnums, len(args), self.fun, "custom_jvp")
        if _eager(args):
            return self.fun(*args)
        return _bind_custom_jvp(self, args, nondiff)


def _bind_custom_jvp(cj: custom_jvp, args: tuple, nondiff: tuple[int, ...]):
    a = _Args(args, nondiff)
    fun_prog, fun_consts, out_tree = _trace(lambda *xs: cj.fun(*a.full(xs)), a.tree, a.avals,
                                            "custom_jvp")
    out_avals = fun_prog.out_avals
    n_leaves = len(a.leaves)
    diff_avals = [tangent_aval(x) for x, d in zip(a.avals, a.diff) if d]

    def rule_flat(variant):
        """The rule on the primal leaves then the tangent leaves (those of `variant`)."""
        def flat(*leaves):
            ts = iter(leaves[n_leaves:])
            tangents, k = [], 0
            for x, d in zip(a.avals, a.diff):
                if not d:
                    tangents.append(np.zeros(x.shape, float0))
                    continue
                present = variant is None or variant[k]
                k += 1
                tangents.append(next(ts) if present else SymbolicZero(tangent_aval(x)))
            out = cj.jvp(*a.static, a.unflatten(leaves[:n_leaves]), a.unflatten(tangents))
            return _rule_result(out, cj, out_tree, out_avals)
        return flat

    rule_consts, rule_prog = [], None
    if not _rule_state.depth:  # find what the rule closes over (inside a rule: later)
        rule_prog, rule_consts = _trace_rule(rule_flat(None), [*a.avals, *diff_avals],
                                             "custom_jvp rule")
    consts, programs = _joined([(None, a.arrays), (fun_prog, fun_consts),
                                (rule_prog, rule_consts)])
    fun_prog = programs[1]

    def trace(variant):
        t_avals = diff_avals if variant is None else [
            x for x, nz in zip(diff_avals, variant) if nz]
        return _retrace_rule(rule_flat(variant), consts, outside, [*a.avals, *t_avals],
                             "custom_jvp rule")

    outside = [original_of(c) for c in consts]
    rules = _Rules(("jvp", cj.jvp, _static_key(a.static), fun_prog, len(consts)), trace)
    rules.keepalive = consts + outside
    if rule_prog is not None:
        rules.prefill(None, programs[2])
    outs = custom_jvp_call_p.bind(*consts, *a.take_leaves(), fun=fun_prog, rule=rules,
                                  symbolic=cj.symbolic_zeros, n_consts=len(consts),
                                  name=_Named(cj.fun))
    return tree_unflatten(out_tree, outs)


class _Named:
    """A user's function in params: shown and compared by name and place (equations of the
    same function key caches alike), but kept for messages."""

    def __init__(self, fun):
        self.fun = fun
        self.text = _where(fun)

    def __hash__(self):
        return hash(self.text)

    def __eq__(self, other):
        return type(other) is _Named and other.text == self.text

    def __repr__(self):
        return self.text.split(" ")[0].strip("`")


def _static_key(static: list):
    """What identifies the nondiff arguments in a cache key: an array by its type (the
    rules read it as an operand), anything else by value, or by identity if unhashable."""
    leaves, tree = tree_flatten(static)
    key = []
    for leaf in leaves:
        if _is_array_like(leaf) and not isinstance(leaf, (bool, int, float, complex)):
            key.append(aval_of(leaf))
            continue
        try:
            hash(leaf)
            key.append(leaf)
        except TypeError:
            key.append(id(leaf))
    return tree, tuple(key)


def _rule_result(out, cj, out_tree, out_avals) -> list:
    """The rule's (primal_out, tangent_out) checked against the function's outputs, as flat
    leaves: the primal outputs, then the tangents of the differentiable ones."""
    rule = cj.jvp
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise StructureError(at_user_line(
            f"The custom_jvp rule {_where(rule)} must return a pair (primal_out, "
            f"tangent_out), got {type(out).__name__}" + (
                f" of length {len(out)}" if isinstance(out, (tuple, list)) else "") + "."))
    primal, tangent = out
    p_leaves, p_tree = tree_flatten(primal)
    t_leaves, t_tree = tree_flatten(tangent, is_leaf=lambda x: isinstance(x, SymbolicZero))
    for what, tree in (("primal output", p_tree), ("tangent output", t_tree)):
        if tree != out_tree:
            raise StructureError(at_user_line(
                f"The custom_jvp rule {_where(rule)} returns a {what} of structure {tree}, "
                f"but {_where(cj.fun)} returns {out_tree}."))
    got = [aval_of(x) for x in p_leaves]
    if any(g.shape != e.shape or g.dtype != e.dtype for g, e in zip(got, out_avals)):
        raise ShapeDtypeError(at_user_line(
            f"The custom_jvp rule {_where(rule)} returns a primal output of types "
            f"{_types(got)}, but {_where(cj.fun)} returns {_types(out_avals)}: the rule's "
            f"primal output must have the function's shapes and dtypes."))
    tangents = []
    for t, e in zip(t_leaves, out_avals):
        if not is_differentiable(e):
            continue
        expected = tangent_aval(e)
        if isinstance(t, SymbolicZero):
            t = zeros(expected)
        g = aval_of(t)
        if g.shape != expected.shape or (g.dtype != expected.dtype and not g.weak_type):
            raise ShapeDtypeError(at_user_line(
                f"The custom_jvp rule {_where(rule)} returns a tangent of type {g} for a "
                f"primal output of type {e}: each tangent must have its primal's shape and "
                f"dtype."))
        tangents.append(_as_weak(t, expected))
    return [_as_weak(x, e) for x, e in zip(p_leaves, out_avals)] + tangents


def _as_weak(x, aval: Aval):
    """x as exactly `aval` (same shape; the dtype and weak type made aval's)."""
    got = aval_of(x)
    if got == aval:
        return x
    return convert_element_type(x, aval.dtype, weak_type=aval.weak_type)


# Reverse mode transposes the equations of a custom_jvp rule; when one is not linear in the
# tangents, the error names the rule (matched by the equation's source line).
_RULE_CODES: dict = {}  # code object of each custom_jvp rule -> its description


def _remember_rule(fn) -> None:
    code = getattr(fn, "__code__", None)
    if code is not None:
        _RULE_CODES[code] = _where(fn)


def _nonlinear_rule_hint(eqn: Eqn) -> str | None:
    source = eqn.source
    if source is None:
        return None
    for code, text in _RULE_CODES.items():
        if (code.co_filename == source.filename and code.co_name == source.function
                and code.co_firstlineno <= source.lineno <= _last_line(code)):
            return (f"This equation comes from the custom_jvp rule {text}. Reverse mode "
                    f"(grad, vjp, jacrev) transposes a custom_jvp rule, so the tangent it "
                    f"returns must be linear in the input tangents (multiplied by values of "
                    f"the primals, added, reshaped), as JAX requires; or define the function "
                    f"with fgrad.custom_vjp to give reverse mode its own rule.")
    return None


def _last_line(code) -> int:
    return max((line for _, _, line in code.co_lines() if line is not None),
               default=code.co_firstlineno)


transpose_failure_hints.append(_nonlinear_rule_hint)

# -- custom_vjp -------------------------------------------------------------------------------


def _custom_vjp_abstract_eval(*avals, fun, rules, n_consts, name, bwd_name):
    if len(avals) != len(fun.inputs):
        raise ShapeDtypeError(f"custom_vjp_call of {name}: {len(fun.inputs)} operands "
                              f"expected, got {len(avals)}")
    return list(fun.out_avals)


def _custom_vjp_lower(*args, fun, rules, n_consts, name, bwd_name):
    fwd, bwd = rules.program("fwd"), rules.program("bwd")
    n_out, n_res = len(fun.outputs), len(fwd.outputs) - len(fun.outputs)
    try:  # the rule's forward derivative: bwd transposed (see _with_derivative)
        forward = _forward_of(bwd, n_consts, n_res, bwd_name)
    except NotDifferentiableError:
        tangent = None
    else:
        run_fwd, run_forward = _runner(fwd, fwd.out_avals), _runner(forward, forward.out_avals)

        def tangent(consts, xs, ts):
            return run_forward(*consts, *run_fwd(*consts, *xs)[n_out:], *ts)
    return _with_derivative(_runner(fun, fun.out_avals), args, n_consts, fun, tangent)


custom_vjp_call_p = Primitive("custom_vjp_call", _custom_vjp_abstract_eval, _custom_vjp_lower,
                              multiple_results=True)


def _custom_vjp_call_jvp(primals, tangents, *, fun, rules, n_consts, name, bwd_name):
    _check_const_tangents(tangents, n_consts, "custom_vjp", name)
    n_out = len(fun.outputs)
    outs = eval_program(rules.program("fwd"), *primals)
    out, res = outs[:n_out], outs[n_out:]
    diff_in = [is_differentiable(a) for a in fun.in_avals[n_consts:]]
    ts = [instantiate(t) for t, d in zip(tangents[n_consts:], diff_in) if d]
    out_ts = iter(custom_lin_p.bind(*primals[:n_consts], *res, *ts, bwd=rules.program("bwd"),
                                    n_consts=n_consts, n_res=len(res), name=bwd_name))
    return out, [next(out_ts) if is_differentiable(a) else Zero(tangent_aval(a))
                 for a in fun.out_avals]


def _matched(x, dim, target, axis_size: int):
    """A cotangent computed with batch dim `dim` for an operand batched at `target`: moved
    there, or summed over the batch when the operand is the same for every example."""
    if target is None:
        return x if dim is None else reduce_sum(x, (dim,))
    return to_axis(x, dim, target, axis_size)


def _batched_bwd(bwd: Program, fixed_dims, ct_dims, arg_dims, axis_size: int) -> Program:
    """`bwd` (fixed operands, cotangents → argument cotangents) over a batch: the fixed
    operands and cotangents batched at the given dims, each result at its argument's."""
    dims = [*fixed_dims, *ct_dims]
    in_avals = [batched_aval(a, d, axis_size) for a, d in zip(bwd.in_avals, dims, strict=True)]

    def build(ins):
        outs, out_dims = batch_eval(bwd, ins, dims, axis_size)
        return [_matched(x, d, t, axis_size) for x, d, t in zip(outs, out_dims, arg_dims,
                                                                strict=True)]

    return _restaged(bwd, "vmap", build, in_avals)


def _custom_vjp_call_batch(axis_size, values, dims, *, fun, rules, n_consts, name, bwd_name):
    # The rules' programs are traced later, so every output and residual is batched.
    n_out = len(fun.outputs)
    diff_in = [is_differentiable(a) for a in fun.in_avals[n_consts:]]
    arg_dims = [d for d, x in zip(dims[n_consts:], diff_in) if x]

    def batch(program, variant):
        if variant == "fwd":
            return batch_program(program, dims, axis_size,
                                 batch_first=[True] * len(program.outputs))[0]
        n_res = len(rules.program("fwd").outputs) - n_out
        n_cts = len(program.inputs) - n_consts - n_res
        return _batched_bwd(program, [*dims[:n_consts], *[0] * n_res], [0] * n_cts, arg_dims,
                            axis_size)

    new_fun = batch_program(fun, dims, axis_size, batch_first=[True] * n_out)[0]
    outs = custom_vjp_call_p.bind(*values, fun=new_fun,
                                  rules=_batched_rules(rules, tuple(dims), axis_size, batch),
                                  n_consts=n_consts, name=name, bwd_name=bwd_name)
    return outs, [0] * n_out


jvp_rules.define(custom_vjp_call_p, _custom_vjp_call_jvp, lists=True)
batch_rules.define(custom_vjp_call_p, _custom_vjp_call_batch, lists=True)
transpose_rules.absent(custom_vjp_call_p, "it is not linear; its JVP applies custom_lin, whose "
                                          "transpose is the user's bwd")


# -- custom_lin: the linear map whose transpose is a custom_vjp's bwd -------------------------


def _custom_lin_abstract_eval(*avals, bwd, n_consts, n_res, name):
    n_fixed = n_consts + n_res
    if [(a.shape, a.dtype) for a in avals] != [(a.shape, a.dtype) for a in
                                               [*bwd.in_avals[:n_fixed], *bwd.out_avals]]:
        raise ShapeDtypeError(f"custom_lin of {name}: operands {_types(avals)} do not fit its "
                              f"bwd, which takes {_types(bwd.in_avals)}")
    return list(bwd.in_avals[n_fixed:])


_FORWARD = register_cache(
    "custom_vjp_forward", LRUCache(256),
    holds="the linear map whose transpose is a custom_vjp's bwd (a program), for forward mode",
    key="(bwd program, number of consts, number of residuals)",
    why="one per custom_vjp rule differentiated in forward mode; a transpose costs a trace")


def _forward_of(bwd: Program, n_consts: int, n_res: int, name) -> Program:
    """The linear map whose transpose is `bwd`: (consts, residuals, argument tangents) →
    output tangents. It exists when bwd is linear in the cotangent."""
    key = (bwd, n_consts, n_res)
    forward = _FORWARD.get(key)
    if forward is None:
        n_fixed = n_consts + n_res
        try:
            forward, _ = transpose_program(bwd, [False] * n_fixed + [True] * (
                len(bwd.inputs) - n_fixed), bwd.out_avals, instantiate=True)
        except FgradError as e:
            raise NotDifferentiableError(at_user_line(
                f"Forward-mode differentiation (jvp, jacfwd, linearize, hessian) of a "
                f"custom_vjp function runs its bwd rule {_where(name)} transposed, which "
                f"needs bwd to be linear in the cotangent, and it is not: {e}\nUse reverse "
                f"mode (grad, vjp, jacrev) with this function, or give it a custom_jvp rule "
                f"for forward mode.")) from None
        _FORWARD.put(key, forward)
    return forward


def _custom_lin_lower(*args, bwd, n_consts, n_res, name):
    forward = _forward_of(bwd, n_consts, n_res, name)
    return _runner(forward, bwd.in_avals[n_consts + n_res:])(*args)


custom_lin_p = Primitive("custom_lin", _custom_lin_abstract_eval, _custom_lin_lower,
                         multiple_results=True)


def _custom_lin_jvp(primals, tangents, *, bwd, n_consts, n_res, name):
    n_fixed = n_consts + n_res
    params = dict(bwd=bwd, n_consts=n_consts, n_res=n_res, name=name)
    outs = custom_lin_p.bind(*primals, **params)
    if all(type(t) is Zero for t in tangents[:n_fixed]):  # linear in the tangents it maps
        ts = [instantiate(t) for t in tangents[n_fixed:]]
        return outs, custom_lin_p.bind(*primals[:n_fixed], *ts, **params)
    # The residuals vary too (a higher derivative): differentiate the map itself.
    return outs, jvp_eval(_forward_of(bwd, n_consts, n_res, name), primals, tangents)[1]


def _custom_lin_transpose(cts, *operands, bwd, n_consts, n_res, name):
    n_fixed = n_consts + n_res
    fixed = operands[:n_fixed]
    if any(is_undefined(x) for x in fixed):
        raise NotDifferentiableError(at_user_line(
            f"custom_lin of {name} is linear in its tangents only, not in its residuals."))
    cts = [instantiate(c) for c in cts]
    in_cts = eval_program(bwd, *fixed, *cts)
    return [None] * n_fixed + [c if is_undefined(x) else None
                               for c, x in zip(in_cts, operands[n_fixed:], strict=True)]


def _custom_lin_batch(axis_size, values, dims, *, bwd, n_consts, n_res, name):
    n_fixed = n_consts + n_res
    n_cts = len(bwd.inputs) - n_fixed
    new_bwd = _batched_bwd(bwd, dims[:n_fixed], [0] * n_cts, dims[n_fixed:], axis_size)
    outs = custom_lin_p.bind(*values, bwd=new_bwd, n_consts=n_consts, n_res=n_res, name=name)
    return outs, [0] * len(outs)


jvp_rules.define(custom_lin_p, _custom_lin_jvp, lists=True)
transpose_rules.define(custom_lin_p, _custom_lin_transpose, lists=True)
batch_rules.define(custom_lin_p, _custom_lin_batch, lists=True)


class custom_vjp:
    """A function with a custom VJP rule (the API of JAX's custom_vjp).

    `fwd(*args) -> (output, residuals)` computes the output and what the backward pass
    needs (any pytree of arrays); `bwd(residuals, cotangent) -> tuple` returns one cotangent
    per argument (None: zero), in the arguments' structures, shapes and dtypes. With
    `nondiff_argnums`, bwd takes those arguments first: `bwd(*nondiff, residuals, ct)`.

    Args:
      fun: the function, called as it is outside any transform; set its rule with
        `defvjp(fwd, bwd)` before calling it.
      nondiff_argnums: the positions of the arguments that are not differentiated (negative
        ones count from the end); `bwd` receives them first and returns no cotangent for
        them.

    Raises:
      TypeError: `fun` is not callable.

    Examples:
      >>> import fgrad, fgrad.numpy as fnp
      >>> @fgrad.custom_vjp
      ... def clip_gradient(x):
      ...     return x
      >>> clip_gradient.defvjp(lambda x: (x, None), lambda res, g: (fnp.clip(g, -1., 1.),))
      >>> float(fgrad.grad(lambda x: 3. * clip_gradient(x))(2.))
      1.0
    """

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()):
        if not callable(fun):
            raise TypeError(at_user_line(
                f"custom_vjp needs a function, got {type(fun).__name__}."))
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)
        self.fwd: Callable | None = None
        self.bwd: Callable | None = None

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        """Sets the forward function `fwd(*args) -> (out, residuals)` and the backward
        function `bwd(residuals, ct) -> (ct per argument,)`."""
        for what, fn in (("fwd", fwd), ("bwd", bwd)):
            if not callable(fn):
                raise TypeError(at_user_line(
                    f"defvjp needs functions; its {what} is a {type(fn).__name__}."))
        if self.fwd is not None:
            raise TypeError(at_user_line(
                f"defvjp was already called for {_where(self.fun)} (with fwd "
                f"{_where(self.fwd)} and bwd {_where(self.bwd)}): a function has one VJP "
                f"rule. Define a new custom_vjp function instead."))
        self.fwd, self.bwd = fwd, bwd

    def __call__(self, *args, **kwargs):
        if self.fwd is None:
            raise AttributeError(at_user_line(
                f"No VJP defined for the custom_vjp function {_where(self.fun)}: call "
                f"defvjp(fwd, bwd) before calling the function."))
        args = _resolve(self.fun, args, kwargs, "custom_vjp")
        nondiff = _nondiff_positions(self.nondiff_argnums, len(args), self.fun, "custom_vjp")
        if _eager(args):
            return self.fun(*args)
        return _bind_custom_vjp(self, args, nondiff)


def _is_array_like(x) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, np.generic, bool, int, float, complex)) or \
        hasattr(x, "_trace") or isinstance(x, jax.core.Tracer)


def _bind_custom_vjp(cv: custom_vjp, args: tuple, nondiff: tuple[int, ...]):
    a = _Args(args, nondiff)
    fun_prog, fun_consts, out_tree = _trace(lambda *xs: cv.fun(*a.full(xs)), a.tree, a.avals,
                                            "custom_vjp")
    out_avals = fun_prog.out_avals
    n_out = len(out_avals)
    diff_out = [is_differentiable(x) for x in out_avals]
    ct_avals = [tangent_aval(x) for x, d in zip(out_avals, diff_out) if d]
    res_tree = []

    def fwd_flat(*leaves):
        out = cv.fwd(*a.full(a.unflatten(leaves)))
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise StructureError(at_user_line(
                f"The custom_vjp fwd {_where(cv.fwd)} must return a pair (output, residuals), "
                f"got {type(out).__name__}" + (f" of length {len(out)}" if isinstance(
                    out, (tuple, list)) else "") + "."))
        primal, res = out
        p_leaves, p_tree = tree_flatten(primal)
        if p_tree != out_tree:
            raise StructureError(at_user_line(
                f"The custom_vjp fwd {_where(cv.fwd)} returns an output of structure {p_tree}, "
                f"but {_where(cv.fun)} returns {out_tree}."))
        got = [aval_of(x) for x in p_leaves]
        if any(g.shape != e.shape or g.dtype != e.dtype for g, e in zip(got, out_avals)):
            raise ShapeDtypeError(at_user_line(
                f"The custom_vjp fwd {_where(cv.fwd)} returns an output of types "
                f"{_types(got)}, but {_where(cv.fun)} returns {_types(out_avals)}."))
        r_leaves, r_tree = tree_flatten(res)
        for leaf in r_leaves:
            if not _is_array_like(leaf):
                raise TypeError(at_user_line(
                    f"The custom_vjp fwd {_where(cv.fwd)} returns a residual of type "
                    f"{type(leaf).__name__}: residuals must be arrays (any pytree of them). "
                    f"Pass other values through nondiff_argnums."))
        res_tree[:] = [r_tree]
        return [_as_weak(x, e) for x, e in zip(p_leaves, out_avals)] + r_leaves

    def bwd_flat(n_res):
        def flat(*leaves):
            res = tree_unflatten(res_tree[0], leaves[:n_res])
            cts = iter(leaves[n_res:])
            ct = tree_unflatten(out_tree, [next(cts) if d else np.zeros(x.shape, float0)
                                           for x, d in zip(out_avals, diff_out)])
            return _bwd_result(cv.bwd(*a.static, res, ct), cv, a)
        return flat

    fwd_prog = bwd_prog = None
    fwd_consts, bwd_consts = [], []
    if not _rule_state.depth:  # find what the rules close over (inside a rule: later)
        fwd_prog, fwd_consts = _trace_rule(fwd_flat, a.avals, "custom_vjp fwd")
        res_avals = fwd_prog.out_avals[n_out:]
        bwd_prog, bwd_consts = _trace_rule(bwd_flat(len(res_avals)), [*res_avals, *ct_avals],
                                           "custom_vjp bwd")
    consts, (_, fun_prog, fwd_prog, bwd_prog) = _joined(
        [(None, a.arrays), (fun_prog, fun_consts), (fwd_prog, fwd_consts),
         (bwd_prog, bwd_consts)])

    def trace(variant):
        if variant == "fwd":
            return _retrace_rule(fwd_flat, consts, outside, a.avals, "custom_vjp fwd")
        res_avals = rules.program("fwd").out_avals[n_out:]
        return _retrace_rule(bwd_flat(len(res_avals)), consts, outside,
                             [*res_avals, *ct_avals], "custom_vjp bwd")

    outside = [original_of(c) for c in consts]
    rules = _Rules(("vjp", cv.fwd, cv.bwd, _static_key(a.static), fun_prog, len(consts)),
                   trace)
    rules.keepalive = consts + outside
    if fwd_prog is not None:
        rules.prefill("fwd", fwd_prog)
        rules.prefill("bwd", bwd_prog)
    outs = custom_vjp_call_p.bind(*consts, *a.take_leaves(), fun=fun_prog, rules=rules,
                                  n_consts=len(consts), name=_Named(cv.fun),
                                  bwd_name=_Named(cv.bwd))
    return tree_unflatten(out_tree, outs)


def _bwd_result(out, cv: custom_vjp, a: _Args) -> list:
    """bwd's cotangents checked against the arguments, as flat leaves: one per
    differentiable argument leaf, zeros where bwd returned None."""
    bwd = cv.bwd
    n_args = a.nargs - len(a.nondiff)
    if not isinstance(out, (tuple, list)):
        raise StructureError(at_user_line(
            f"The custom_vjp bwd {_where(bwd)} must return a tuple with one cotangent per "
            f"argument of {_where(cv.fun)} ({n_args}), got a {type(out).__name__}. For one "
            f"argument return (ct,)."))
    if len(out) != n_args:
        raise StructureError(at_user_line(
            f"The custom_vjp bwd {_where(bwd)} returns {len(out)} cotangent(s), but "
            f"{_where(cv.fun)} takes {n_args} differentiable argument(s): return one per "
            f"argument (None for a zero cotangent)" + (
                ", leaving out the nondiff_argnums" if a.nondiff else "") + "."))
    args = a.unflatten([jax.ShapeDtypeStruct(x.shape, x.dtype) for x in a.avals])
    arg_avals = iter(a.avals)
    flat = []
    for i, (ct, arg) in enumerate(zip(out, args)):
        arg_leaves, arg_tree = tree_flatten(arg)
        if ct is None:
            cts = [None] * len(arg_leaves)
        else:
            cts, ct_tree = tree_flatten(ct, is_leaf=lambda x: x is None)
            if ct_tree != arg_tree:
                raise StructureError(at_user_line(
                    f"The custom_vjp bwd {_where(bwd)} returns, for argument {i}, a cotangent "
                    f"of structure {ct_tree}, but the argument has structure {arg_tree}."))
        for c, x in zip(cts, arg_leaves):
            primal = next(arg_avals)
            expected = tangent_aval(primal)
            if not is_differentiable(primal):
                if c is not None and aval_of(c).dtype != float0:
                    raise ShapeDtypeError(at_user_line(
                        f"The custom_vjp bwd {_where(bwd)} returns a cotangent of type "
                        f"{aval_of(c)} for argument {i}, which is an integer array: return "
                        f"None for it."))
                continue
            if c is None:  # zeros of the argument's type (weak for a Python scalar)
                flat.append(zeros(expected))
                continue
            g = aval_of(c)
            if g.shape != expected.shape or (g.dtype != expected.dtype and not g.weak_type):
                raise ShapeDtypeError(at_user_line(
                    f"The custom_vjp bwd {_where(bwd)} returns a cotangent of type {g} for "
                    f"argument {i} of type {primal}: each cotangent must have its argument's "
                    f"shape and dtype."))
            flat.append(c)
    diff_avals = [tangent_aval(x) for x, d in zip(a.avals, a.diff) if d]
    # The dtype is the argument's; the weak type stays bwd's (as in JAX).
    return [_as_weak(c, e.update(weak_type=aval_of(c).weak_type))
            for c, e in zip(flat, diff_avals, strict=True)]
