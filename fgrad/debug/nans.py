"""NaN and infinity hunting: raise at the first equation that produces one.

    with fgrad.debug.nans():          # or fgrad.debug.check_nans(True) ... check_nans(False)
        fgrad.grad(f)(x)

While the checks are on, every equation fgrad evaluates eagerly has its floating-point
results checked; the first one that *produces* a NaN (none of its operands held one) or an
infinity (none of its operands held one, nor a NaN) raises `NonFiniteError`, naming the
primitive, whether it was in the forward or the backward pass, and the user's file:line that
created it. Operations that only pass on a NaN or an infinity they were given are not
blamed, so `fnp.where(mask, x, -fnp.inf)` and NaNs in a function's inputs are not errors.

How each kind of execution is checked:

- Eager operations: `Primitive.bind` is swapped for a checking version while the checks are
  on (`core.primitive.set_bind_hook`), and `eval_program` checks each equation of the
  programs that gradients evaluate op by op (the forward program, then the transposed one).
  Eager gradients do not use their compiled executables meanwhile (`xla.eager_executable`).
- `fgrad.jit`: the compiled program runs as usual and its outputs are checked; on a NaN or
  an infinity the function runs again op by op, eagerly, with the checks on, which raises at
  the first equation that produced it. This is JAX's approach (jax_debug_nans): the compiled
  code is the same program, no slower, and the search costs only when something went wrong.
  Inserting a host callback after every equation instead would check intermediate values
  too, but would make every checked program a chain of device-to-host copies that XLA
  cannot fuse. The price: a NaN that the jitted function masks (a `where` that discards it)
  is not reported under jit, while eagerly it is.
- Off, the checks cost nothing per operation: the swapped methods are restored, and
  `eval_program` and eager gradients test one module attribute per program.

Forward or backward: the transforms give the equations a derivative rule makes the source
of the forward equation they differentiate, marked as derived (`DerivedSource`: `jvp_eval`
and `backward_pass` run each rule under `source_of(derived(eqn.source))`). An equation with
an unmarked source is the user's own, in the forward pass. A marked one is in the *backward
pass* (derivative factors such as sqrt's `0.5 / sqrt(x)`, computed alongside the forward
values and saved for the backward pass, tangents and cotangents), unless it applies a
primitive the user's code applied at that line (each `bind` made outside the rules is
recorded while the checks are on): a rule re-computing the forward value (sqrt's JVP
computes sqrt(x) too) counts as forward, and so, ambiguously, does a `mul` in the derivative
of `x * y`. The error names the forward operation's line and, among the primitives the user
applied there, the ones whose derivative this is.

The switch is process-wide (like JAX's configuration), not per thread.
"""

from __future__ import annotations

import contextlib
import linecache
import threading
from typing import Iterator

import jax
import numpy as np

from fgrad.core import EVAL_TRACE, current_trace, eval_program
from fgrad.core import dtypes as dt
from fgrad.core import evaluate as _evaluate
from fgrad.core.errors import DerivedSource, FgradError, Source, user_source
from fgrad.core.primitive import set_bind_hook
from fgrad.core.trace import _context
from fgrad.transforms.rules import jvp_rules, transpose_rules

__all__ = ["NonFiniteError", "check_nans", "nans", "nans_enabled"]


class NonFiniteError(FgradError, FloatingPointError):
    """An equation produced a NaN or an infinity while fgrad.debug's NaN checks were on.

    Attributes: `primitive` (its name), `kind` ("nan" or "inf"), `phase` ("forward" or
    "backward"), `source` (the user's file:line, a `Source`, or None), `derivative_of` (for a
    backward equation, the names of the forward primitives it differentiates).
    """

    def __init__(self, message: str, primitive: str | None = None, kind: str | None = None,
                 phase: str | None = None, source: Source | None = None,
                 derivative_of: tuple[str, ...] = ()):
        super().__init__(message)
        self.primitive = primitive
        self.kind = kind
        self.phase = phase
        self.source = source
        self.derivative_of = derivative_of


# -- the switch ---------------------------------------------------------------------------------

_lock = threading.Lock()
_infs = True  # whether infinities are errors too


def nans_enabled() -> bool:
    """Whether the NaN checks are on."""
    return _evaluate.nan_checker is not None


def check_nans(enabled: bool = True, *, infs: bool = True) -> None:
    """Turns the NaN checks on or off for the whole process. With `infs=False` only NaNs
    are errors (JAX's jax_debug_nans; with infs, jax_debug_infs as well)."""
    global _infs
    with _lock:
        _infs = bool(infs)
        if enabled and _evaluate.nan_checker is None:
            _forward_binds.clear()
            set_bind_hook(_checked_bind)
            _xla().check_jitted_calls(True)
            _evaluate.nan_checker = _CHECKER
        elif not enabled and _evaluate.nan_checker is not None:
            _evaluate.nan_checker = None
            _xla().check_jitted_calls(False)
            set_bind_hook(None)
            _forward_binds.clear()


@contextlib.contextmanager
def nans(enabled: bool = True, *, infs: bool = True) -> Iterator[None]:
    """A block in which the first equation producing a NaN (or, with `infs`, an infinity)
    raises `NonFiniteError`; the previous setting is restored after it, even on an error."""
    previous = (nans_enabled(), _infs)
    check_nans(enabled, infs=infs)
    try:
        yield
    finally:
        check_nans(previous[0], infs=previous[1])


def _xla():
    from fgrad import xla  # xla sits above the core; imported when the switch first flips
    return xla


# -- which primitives the user applied where ---------------------------------------------------

# source -> the primitives the user's code bound at that line (outside every rule)
_forward_binds: dict[Source, set] = {}


def _record(prim, source: Source) -> None:
    prims = _forward_binds.get(source)
    if prims is None:
        if len(_forward_binds) > 100_000:
            _forward_binds.clear()
        prims = _forward_binds[source] = set()
    prims.add(prim)


def _checked_bind(prim, args, params):
    rule_source = _context.source  # set while a transform runs a rule for an equation
    source = rule_source or user_source()
    if rule_source is None and source is not None:
        _record(prim, source)
    trace = current_trace()
    outs = trace.process(prim, args, params, source)
    if trace is EVAL_TRACE:
        _check(prim, params, args, outs, source)
    return outs


# -- the check -----------------------------------------------------------------------------------


def _non_finite(x) -> str | None:
    """'nan' or 'inf' if the concrete floating-point value `x` holds one, else None (also
    for JAX tracers, integers, keys)."""
    t = type(x)
    if t is float or t is complex:
        return "nan" if x != x else "inf" if abs(x) == float("inf") else None
    if t is int or t is bool or isinstance(x, jax.core.Tracer):
        return None
    dtype = getattr(x, "dtype", None)
    if dtype is None or not dt.is_inexact(dtype):
        return None
    a = np.asarray(x)
    if np.isnan(a).any():
        return "nan"
    if np.isinf(a).any():
        return "inf"
    return None


def _bad_output(outs) -> str | None:
    kinds = [_non_finite(x) for x in outs]
    if "nan" in kinds:
        return "nan"
    if _infs and "inf" in kinds:
        return "inf"
    return None


def _check(prim, params, inputs, outs, source) -> None:
    kind = _bad_output(outs)
    if kind is None:
        return
    given = {_non_finite(x) for x in inputs}
    given.update(_non_finite(v) for v in params.values() if type(v) in (float, complex))
    if kind in given or (kind == "inf" and "nan" in given):
        return  # passed on, not produced
    _search_inside(prim, params, inputs)
    raise _error(prim, kind, source)


def _search_inside(prim, params, inputs) -> None:
    """For control flow, runs the programs it holds again, equation by equation and step by
    step, checked, so that the error names the equation inside a branch or a loop body that
    produced the value (eval_program checks each equation while the checks are on). Returns
    if none did: then the control-flow equation itself is to blame."""
    if prim.name == "cond":
        index, *operands = inputs
        branches = params["branches"]
        branch = branches[int(np.clip(int(np.asarray(index)), 0, len(branches) - 1))]
        eval_program(branch, *operands)
    elif prim.name == "scan":
        n_consts, n_carry, body = params["n_consts"], params["n_carry"], params["body"]
        consts, carry = list(inputs[:n_consts]), list(inputs[n_consts:n_consts + n_carry])
        xs = inputs[n_consts + n_carry:]
        steps = range(params["length"])
        for i in reversed(steps) if params["reverse"] else steps:
            carry = eval_program(body, *consts, *carry, *(x[i] for x in xs))[:n_carry]
    elif prim.name == "while":
        n_cond, n_body = params["n_cond_consts"], params["n_body_consts"]
        cond_consts, body_consts = inputs[:n_cond], inputs[n_cond:n_cond + n_body]
        carry, steps = list(inputs[n_cond + n_body:]), 0
        while (params["max_steps"] is None or steps < params["max_steps"]) and bool(
                eval_program(params["cond"], *cond_consts, *carry)[0]):
            carry, steps = eval_program(params["body"], *body_consts, *carry), steps + 1


class _Checker:
    """What eval_program and fgrad.jit call while the checks are on."""

    @staticmethod
    def check_eqn(eqn, inputs, outs) -> None:
        _check(eqn.primitive, eqn.params, inputs, outs, eqn.source)

    @staticmethod
    def run_jitted(call, fun, name: str, args, kwargs):
        outs = call()
        kind = _bad_output(jax.tree_util.tree_leaves(outs))
        if kind is None:
            return outs
        fun(*args, **kwargs)  # op by op, checked: raises at the equation that produced it
        raise NonFiniteError(_with_line(
            f"jit({name}) returned {_WHAT[kind]}, but running {name} again op by op, no "
            f"operation produced one: either the {kind} comes from its arguments (or a "
            f"value it closes over) and is passed through, or XLA's compiled program "
            f"rounds differently from the operations run one by one (fused operations can "
            f"overflow or cancel differently). Try the function without fgrad.jit.",
            user_source()), kind=kind, source=user_source())


_CHECKER = _Checker()
_WHAT = {"nan": "a NaN", "inf": "an infinity"}


def _derivative_of(prim, source) -> tuple[str, ...] | None:
    """None if `prim` at `source` is a forward equation; else the names of the primitives
    the user applied at that line whose derivative it may be."""
    if not isinstance(source, DerivedSource):
        return None  # no derivative rule made it: the user's own operation
    applied = _forward_binds.get(source)
    if applied is None or prim in applied:
        return None  # a rule re-applying the user's primitive: most likely the forward value
    # Primitives with a nonzero derivative, nonlinear ones first: a NaN in a derivative
    # comes from a factor such as sqrt's 0.5 / sqrt(x), not from a linear map.
    differentiable = [p for p in applied if p in jvp_rules
                      and "derivative is zero" not in (transpose_rules.why_absent(p) or "")]
    nonlinear = [p for p in differentiable if p not in transpose_rules]
    return tuple(sorted(p.name for p in (nonlinear or differentiable or applied)))


def _with_line(message: str, source: Source | None) -> str:
    if source is None:
        return message
    text = linecache.getline(source.filename, source.lineno).strip()
    return f"{message}\n  at {source} (in {source.function})" + (f":\n    {text}" if text else "")


def _error(prim, kind: str, source: Source | None) -> NonFiniteError:
    derivative_of = _derivative_of(prim, source)
    phase = "forward" if derivative_of is None else "backward"
    where = "" if source is not None else " (fgrad could not find the line of your code)"
    if phase == "forward":
        message = (f"fgrad.debug.nans: {prim.name} produced {_WHAT[kind]} in the forward "
                   f"pass{where}.")
    else:
        of = " or ".join(derivative_of)
        message = (f"fgrad.debug.nans: {prim.name} produced {_WHAT[kind]} in the backward "
                   f"pass, in the derivative of {of}{where}. The derivative was taken at a "
                   f"point where it is not finite. If the forward value is fine there "
                   f"because fnp.where discards the branch, the discarded branch is still "
                   f"differentiated, and 0 * inf is nan: make the branch safe too, as in "
                   f"fnp.where(x > 0, fnp.sqrt(fnp.where(x > 0, x, 1.0)), 0.0).")
    return NonFiniteError(_with_line(message, source), primitive=prim.name, kind=kind,
                          phase=phase, source=source, derivative_of=derivative_of or ())
