"""Tracing: how calls to primitives become values or equations.

There is one thread-local *current trace*. `prim.bind(*args, **params)` hands every
primitive application to it, and gets back the list of results:

- the `EvalTrace` at the bottom computes at once through `prim.lower` (eager mode). Its
  values are JAX arrays, or JAX tracers when fgrad runs inside JAX's `jit` or `vmap`;
- a `StagingTrace` records an equation and returns a `Tracer` for each output. Anything
  that is not one of *its own* tracers (checked by identity) becomes a const of the program
  being built: Python and NumPy scalars become literals; arrays, JAX tracers and tracers of
  outer fgrad traces become const variables. That is closure conversion, and it is why nested
  transforms need no trace levels: an inner trace sees an outer value as a constant.

A staging trace may know the concrete values of its inputs (define-by-run, outside jit).
Then `bool(x > 0)`, `float(x)` or a Python `while` on a traced value evaluates just the part
of the program that value needs, memoized. On an abstract trace the same read raises
`ConcretizationError`. When a trace is closed its tracers are dead; touching one raises
`EscapedTracerError`.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import jax
import numpy as np

from fgrad.core import dtypes as _dtypes
from fgrad.core.dtypes import aval_of, canonicalize
from fgrad.core.errors import (
    ConcretizationError, EscapedTracerError, ShapeDtypeError, Source, TracerConversionError,
    CONTROL_FLOW_ADVICE, at_user_line, explain_jax_failure, user_source,
)
from fgrad.core.interpret import interpret, walk
from fgrad.core.ir import Aval, Eqn, Literal, Program, Var
from fgrad.core.resources import LRUCache, collector_paused, register_cache
from fgrad.core.typecheck import checked


class Trace:
    name: str
    closed: bool = False

    def process(self, prim, args, params, source: Source | None):
        raise NotImplementedError  # abstract base: EvalTrace and StagingTrace implement it

    def capture(self, x):
        """An array from outside the traced function as a value of this trace, so that its
        methods and operators are fgrad's. The eval trace computes on arrays as they are."""
        return x


class EvalTrace(Trace):
    """Computes each primitive at once with `jax.lax`."""

    name = "eval"

    def process(self, prim, args, params, source):
        avals = []
        concrete = True
        for a in args:
            t = type(a)
            if t is Tracer:
                raise _escaped(a) if a._trace.closed else _other_thread(a)
            concrete = concrete and (t in _CONCRETE_TYPES or isinstance(a, np.generic))
            avals.append(aval_of(a))
        abstract_eval(prim, avals, params, source)
        if concrete:
            compiled = _compiled_op(prim, params)
            if compiled is not None:
                return compiled(*args)
        return prim.lower_results(*args, **params)


# Concrete operands (not JAX tracers) are computed by a `jax.jit` of the primitive's
# lowering, one per primitive and params: its calls take JAX's C++ dispatch path, about half
# the time of calling `jax.lax` eagerly, which goes through JAX's Python dispatch. Both
# compile once per operand signature.
_CONCRETE_TYPES = _dtypes.CONCRETE_TYPES  # jax.Array's class joins it when first met
_COMPILED_OPS = register_cache(
    "compiled_ops", LRUCache(4096),
    holds="a `jax.jit` of one primitive's lowering, with the executables JAX compiled for it "
          "(one per operand signature), and the params it closes over",
    key="(primitive, params)",
    why="one entry per primitive and params used eagerly: a program's worth of distinct "
        "operations many times over; an evicted one recompiles on its next use")


def _compiled_op(prim, params) -> Callable | None:
    try:
        # The params' types too, as in abstract_eval: fill_value=1.0 and fill_value=1+0j
        # are equal and hash alike, but the executable closes over the one it was made for.
        key = (prim, *params.items(), *map(type, params.values()))
        compiled = _COMPILED_OPS.get(key)
    except TypeError:  # an unhashable param
        return None
    if compiled is None:
        lower = prim.lower_results

        def op(*args):
            return lower(*args, **params)

        op.__name__ = op.__qualname__ = prim.name
        compiled = jax.jit(op, inline=True)
        _COMPILED_OPS.put(key, compiled)
    return compiled


class _Context(threading.local):
    def __init__(self):
        self.trace: Trace = EVAL_TRACE
        # While a transform re-emits an equation, the equations its rule emits inherit that
        # equation's source, so they still name the user's line.
        self.source: Source | None = None
        # id of an outside value -> the tracer standing for it while a re-trace runs
        # (StagingTrace.bind_outside), seen by every trace opened inside that one.
        self.stand_ins: dict[int, Tracer] = {}
        self.originals: dict[int, Any] = {}  # id of a stand-in -> the value it stands for


EVAL_TRACE = EvalTrace()
_context = _Context()


def current_trace() -> Trace:
    return _context.trace


class use_trace:  # noqa: N801 - used as a function: `with use_trace(trace):`
    """`trace` is the current trace for the duration of the block. A class rather than a
    generator: every staging trace opens one (see `staging`)."""

    __slots__ = ("trace", "previous")

    def __init__(self, trace: Trace):
        self.trace = trace

    def __enter__(self) -> Trace:
        self.previous = _context.trace
        _context.trace = self.trace
        return self.trace

    def __exit__(self, *exc) -> None:
        _context.trace = self.previous


class source_of:  # noqa: N801 - used as a function: `with source_of(eqn.source):`
    """Equations staged in this block are attributed to `source`. A class rather than a
    generator: the transforms enter one per equation they re-emit through a rule."""

    __slots__ = ("source", "previous")

    def __init__(self, source: Source | None):
        self.source = source

    def __enter__(self) -> None:
        self.previous = _context.source
        _context.source = self.source

    def __exit__(self, *exc) -> None:
        _context.source = self.previous


# Shape rules are pure functions of the avals and params, and tracing the same code again
# (every step of an eager training loop) asks the same questions: answers are memoized.
# Errors are never cached, so a bad call always raises with its own line.
_SHAPE_RULE_CACHE = register_cache(
    "shape_rules", LRUCache(1 << 16),
    holds="a primitive's output avals (tiny), and the params in its key",
    key="(primitive, operand avals, params, x64 flag)",
    why="answers are a few hundred bytes: enough for every distinct operation of large "
        "programs traced repeatedly, at a few tens of MB at most")


def abstract_eval(prim, avals, params, source):
    try:
        # The params' types too: 1 == True and 2 == 2.0 with equal hashes, so lower=1 would
        # otherwise be answered from the entry of lower=True, skipping the rule's checks.
        key = ((prim, *avals, *params.items(), *map(type, params.values()),
                jax.config.jax_enable_x64) if params
               else (prim, *avals, jax.config.jax_enable_x64))  # most elementwise primitives
        out = _SHAPE_RULE_CACHE.get(key)
    except TypeError:  # an unhashable param: the rule will say what is wrong with it
        key = out = None
    if out is not None:
        return out
    try:
        out = prim.result_avals(*avals, **params)
    except ShapeDtypeError as e:
        raise ShapeDtypeError(at_user_line(str(e), source)) from None
    if key is not None:
        _SHAPE_RULE_CACHE.put(key, out)
    return out


class StagingTrace(Trace):
    """Records equations into a program, closing over everything that is not its own."""

    def __init__(self, name: str, concrete: bool):
        self.name = name
        self.concrete = concrete
        self.closed = False
        self.thread = threading.get_ident()  # traces, like the current trace, are per thread
        self.source = user_source()
        self.inputs: list[Var] = []
        self.eqns: list[Eqn] = []
        self.constvars: list[Var] = []
        self.constvals: list[Any] = []
        self._const_of_id: dict[int, Var] = {}
        # Output variable -> index of its equation, for the equations before `_indexed`:
        # built when first asked (a concrete read, an error message), not per equation.
        self._producer: dict[Var, int] = {}
        self._indexed = 0
        # The values from outside the trace behind consts and concrete inputs. They may be
        # tracers of enclosing traces, whose concrete values those traces compute.
        self._outside: dict[Var, Any] = {}
        self._known: dict[Var, Any] = {}  # concrete values, computed on demand
        self._replaced: list = []  # (id, previous stand-in) for each bind_outside entry
        self._constants: dict = {}  # (primitive, literals, params) -> its outputs

    # -- building ----------------------------------------------------------------------

    def new_input(self, aval: Aval, value: Any = None) -> Tracer:
        var = Var(aval)
        self.inputs.append(var)
        if value is not None:
            self._outside[var] = value
        return Tracer(self, var)

    def bind_outside(self, values, tracers) -> None:
        """Makes each tracer in `values` (of a trace that may have finished) read as the
        corresponding tracer of this trace wherever a function traced here, or in a trace
        opened inside this one, reads it through a closure: re-tracing a function whose
        closed-over values the first trace hoisted into inputs. Until this trace closes;
        the caller keeps the values alive meanwhile, so their ids stay unique."""
        stand_ins, originals = _context.stand_ins, _context.originals
        for x, t in zip(values, tracers, strict=True):
            if isinstance(x, Tracer):
                self._replaced.append((id(x), stand_ins.get(id(x)), id(t)))
                stand_ins[id(x)] = t
                originals[id(t)] = x

    def atom(self, x) -> Var | Literal:
        if isinstance(x, Tracer):
            if x._trace is self:
                return x._var
            stand_in = _context.stand_ins.get(id(x))
            if stand_in is not None and stand_in is not x:  # see bind_outside
                return self.atom(stand_in)
            if x._trace.closed:
                raise _escaped(x)
            if x._trace.thread != self.thread:
                raise _other_thread(x)
            return self._const(x)
        t = type(x)
        if t is bool or t is int or t is float or t is complex:
            return Literal(x, aval_of(x))
        if isinstance(x, np.generic):
            dtype = canonicalize(x.dtype)
            return Literal(x if x.dtype == dtype else x.astype(dtype), Aval((), dtype, False))
        return self._const(x)

    def capture(self, x):
        atom = self.atom(x)
        return x if isinstance(atom, Literal) else Tracer(self, atom)

    def _const(self, x) -> Var:
        var = self._const_of_id.get(id(x))
        if var is None:
            var = self._const_of_id[id(x)] = Var(aval_of(x))
            self._outside[var] = x
            self.constvars.append(var)
            self.constvals.append(x)  # the strong reference keeps id(x) unique while we trace
        return var

    def process(self, prim, args, params, source):
        if self.closed:
            raise EscapedTracerError(at_user_line(
                f"The {self.name} trace has already finished, but a primitive ({prim.name}) "
                f"was applied in it. This is an fgrad bug or a tracer that escaped."))
        inputs = tuple([a._var if type(a) is Tracer and a._trace is self else self.atom(a)
                        for a in args])
        if inputs and type(inputs[0]) is Literal and not prim.effectful:
            return self._constant(prim, inputs, params, source)
        return self._record(prim, inputs, params, source)

    def _constant(self, prim, inputs, params, source) -> list:
        """An equation of literals only (a constant broadcast to a shape, say): recorded
        once per trace. Rules make the same constants over and over (the ones of every
        tanh's derivative), and each would otherwise be an equation to transform, lower and
        compile."""
        if not all(type(a) is Literal for a in inputs):
            return self._record(prim, inputs, params, source)
        try:
            key = (prim, *[a.key for a in inputs], *params.items(), *map(type, params.values()))
            outputs = self._constants.get(key)
        except TypeError:  # an unhashable param
            return self._record(prim, inputs, params, source)
        if outputs is None:
            outputs = self._constants[key] = self._record(prim, inputs, params, source)
        return list(outputs)

    def _record(self, prim, inputs, params, source) -> list:
        if source is None:
            # Skip this frame, process and Primitive.bind: they are always fgrad's.
            source = _context.source or user_source(skip=3)
        out_avals = abstract_eval(prim, [a.aval for a in inputs], params, source)
        if len(out_avals) == 1:  # most primitives: no list to build
            out = Var(out_avals[0])
            self.eqns.append(Eqn(prim, inputs, (out,), params, source))
            return [Tracer(self, out)]
        outputs = tuple([Var(a) for a in out_avals])
        self.eqns.append(Eqn(prim, inputs, outputs, params, source))
        return [Tracer(self, v) for v in outputs]

    def producer_of(self, var: Var) -> int | None:
        """The index of the equation that binds `var`, if one of this trace's does."""
        producer, eqns = self._producer, self.eqns
        for index in range(self._indexed, len(eqns)):
            for v in eqns[index].outputs:
                producer[v] = index
        self._indexed = len(eqns)
        return producer.get(var)

    def splice(self, program: Program, args) -> list:
        """Records `program`'s equations on `args` as they are, with fresh variables.

        Evaluating a program into a staging trace by binding would re-run every shape rule
        and re-find every source; a program is already typed, so when the arguments have
        exactly its input types its equations can be copied instead (the transforms
        re-stage whole programs this way, several times per gradient).
        """
        if self.closed:
            raise EscapedTracerError(at_user_line(
                f"The {self.name} trace has already finished, but a program was evaluated "
                f"in it. This is an fgrad bug or a tracer that escaped."))
        eqns = self.eqns

        def copy(eqn: Eqn, inputs: list) -> tuple[Var, ...]:
            outputs = tuple([Var(v.aval) for v in eqn.outputs])
            eqns.append(Eqn(eqn.primitive, tuple(inputs), outputs, eqn.params, eqn.source))
            return outputs

        atoms = interpret(program, [self.atom(x) for x in args], copy, literal=_same,
                          consts=[self.atom(x) for x in program.constvals])
        return [a.value if type(a) is Literal else Tracer(self, a) for a in atoms]

    def to_program(self, outputs) -> Program:
        out_atoms = [self.atom(x) for x in outputs]
        return checked(Program(self.constvars, self.constvals, self.inputs, self.eqns, out_atoms))

    def close(self) -> None:
        self.closed = True
        stand_ins, originals = _context.stand_ins, _context.originals
        for key, previous, stand_in in reversed(self._replaced):
            originals.pop(stand_in, None)
            if previous is None:
                stand_ins.pop(key, None)
            else:
                stand_ins[key] = previous
        self._replaced.clear()
        # A tracer that escaped (in a closure that a cache key holds, say) keeps its closed
        # trace alive, so the trace lets go of every value: computed, read from outside, or
        # captured (the program built from it has its own tuple of consts).
        self._known.clear()
        self._outside.clear()
        self.constvals.clear()
        self._const_of_id.clear()

    # -- define-by-run -----------------------------------------------------------------

    def concrete_value(self, var: Var):
        """The concrete value of one of this trace's variables, evaluating what it needs."""
        known = self._known
        if var in known:
            return known[var]
        if self.closed:
            raise _escaped(Tracer(self, var))
        needed: set[int] = set()
        stack = [var]
        while stack:
            v = stack.pop()
            if v in known:
                continue
            index = self.producer_of(v)
            if index is None:
                if v not in self._outside:  # an input of an abstract trace
                    raise ConcretizationError(self._abstract_message(Tracer(self, var)))
                value = self._outside[v]
                known[v] = value.concrete() if isinstance(value, Tracer) else value
                continue
            if index not in needed:
                needed.add(index)
                stack.extend(a for a in self.eqns[index].inputs if isinstance(a, Var))
        # Equations were recorded in dependency order; evaluating in that order is safe.
        with use_trace(EVAL_TRACE):
            walk([self.eqns[i] for i in sorted(needed)], known,
                 lambda eqn, vals: eqn.primitive.lower_results(*vals, **eqn.params))
        return known[var]

    def _abstract_message(self, tracer: Tracer) -> str:
        return at_user_line(
            f"Python needed the concrete value of an abstract traced value "
            f"({tracer.aval}, traced by {self.name}). Under {self.name} values are abstract: "
            f"only their shapes and dtypes are known. {CONTROL_FLOW_ADVICE}"
        )


def _same(atom):
    return atom


def original_of(x):
    """The value `x` stands for, if it is a stand-in of a re-trace now running (see
    `StagingTrace.bind_outside`); else `x`. What a function's closure actually holds."""
    originals = _context.originals
    while id(x) in originals:
        x = originals[id(x)]
    return x


def has_tracers(values) -> bool:
    """True if any value is a tracer (fgrad's or JAX's): a program closing over one belongs
    to the current transformation and cannot be cached beyond it."""
    return any(isinstance(v, (Tracer, jax.core.Tracer)) for v in values)


def _other_thread(tracer: Tracer) -> EscapedTracerError:
    trace = tracer._trace
    return EscapedTracerError(at_user_line(
        f"A value traced by {trace.name} ({tracer.aval}) was used in another thread while "
        f"{trace.name} was still tracing it. A trace belongs to the thread that runs the "
        f"transformed function: compute with traced values on that thread, and hand other "
        f"threads the transformation's results instead."))


def _escaped(tracer: Tracer) -> EscapedTracerError:
    trace = tracer._trace
    index = trace.producer_of(tracer._var) if isinstance(trace, StagingTrace) else None
    made = None if index is None else trace.eqns[index]
    where = made.source if made is not None and made.source is not None else trace.source
    created = f", created at {where}" if where is not None else ""
    return EscapedTracerError(at_user_line(
        f"A value traced by {trace.name} ({tracer.aval}{created}) was used after {trace.name} "
        f"had returned: the tracer escaped its transformation, for example through a global "
        f"variable, a list or a closure. Return the value from the transformed function "
        f"instead."
    ))


class staging(use_trace):  # noqa: N801 - used as a function: `with staging("jvp") as t:`
    """A new staging trace, current for the duration of the block and closed after it.

    The cyclic garbage collector runs rarely while a trace is open (resources.
    collector_paused): tracing allocates many small objects that all stay alive until the
    program is built, so the collector's passes (which also walk every object JAX keeps)
    find nothing to free and cost a fifth of the tracing time. It is made rarer rather than
    stopped, so a long trace in one thread cannot starve another thread's collection.
    `trace` opens a trace of a subclass, made by the caller, instead of a new one.
    """

    __slots__ = ()

    def __init__(self, name: str, concrete: bool = False, trace: StagingTrace | None = None):
        super().__init__(StagingTrace(name, concrete) if trace is None else trace)

    def __enter__(self) -> StagingTrace:
        collector_paused().__enter__()
        return super().__enter__()

    def __exit__(self, *exc) -> None:
        super().__exit__()
        try:
            collector_paused().__exit__(*exc)
        finally:
            self.trace.close()


def call_traced(fun: Callable, args, name: str):
    """`fun(*args)` on tracers of the trace `name`; a JAX function failing on them is
    rewritten into fgrad's advice (errors.explain_jax_failure)."""
    try:
        return fun(*args)
    except (TypeError, ValueError, IndexError) as e:
        explained = explain_jax_failure(e, name)
        if explained is None:
            raise
        raise explained from e


def trace_to_program(fun: Callable, args: list, name: str, concrete: bool = False
                     ) -> tuple[Program, Any]:
    """Traces `fun(*args)` on flat arguments into a program; returns it and the output tree.

    With `concrete=True` the arguments' values stay known to the trace (define-by-run).
    """
    with staging(name, concrete) as trace:
        inputs = [trace.new_input(aval_of(a), a if concrete else None) for a in args]
        out = call_traced(fun, inputs, name)
        flat_out, out_tree = jax.tree_util.tree_flatten(out)
        program = trace.to_program(flat_out)
    return program, out_tree


class Tracer:
    """A traced value: a variable of the program its trace is building.

    fgrad.numpy installs the array methods and operators (`+`, `x[i]`, `.sum()`, ...).
    """

    __slots__ = ("_trace", "_var")
    __array_priority__ = 1000  # NumPy defers binary operators to us

    def __init__(self, trace: StagingTrace, var: Var):
        self._trace = trace
        self._var = var

    aval = property(lambda self: self._var.aval)
    shape = property(lambda self: self._var.aval.shape)
    dtype = property(lambda self: self._var.aval.dtype)
    ndim = property(lambda self: len(self._var.aval.shape))
    size = property(lambda self: self._var.aval.size)
    weak_type = property(lambda self: self._var.aval.weak_type)

    def __repr__(self) -> str:
        return f"Tracer<{self.aval}>({self._trace.name})"

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError(at_user_line("len() of a 0-d (scalar) traced value"))
        return self.shape[0]

    __hash__ = None  # like NumPy and JAX arrays: unhashable

    # -- concrete reads (define-by-run) ---------------------------------------------------

    def concrete(self):
        """The concrete value, if the trace knows its inputs; else ConcretizationError."""
        trace = self._trace
        if trace.closed:
            raise _escaped(self)
        if not trace.concrete:
            raise ConcretizationError(trace._abstract_message(self))
        return trace.concrete_value(self._var)

    def _python_scalar(self, convert, what: str):
        value = self.concrete()
        if self.shape != ():
            raise TypeError(at_user_line(
                f"{what} of a traced value needs a single element, but it has shape "
                f"{self.shape}."))
        try:
            return convert(value)
        except jax.errors.ConcretizationTypeError:
            raise ConcretizationError(at_user_line(
                f"Python needed the concrete value of a traced value ({self.aval}) that "
                f"depends on an abstract JAX value (fgrad runs inside jax.jit or another JAX "
                f"transformation). {CONTROL_FLOW_ADVICE}")) from None

    def __bool__(self):
        return self._python_scalar(bool, "bool()")

    def __int__(self):
        return self._python_scalar(int, "int()")

    def __float__(self):
        return self._python_scalar(float, "float()")

    def __complex__(self):
        return self._python_scalar(complex, "complex()")

    def __index__(self):
        if not np.issubdtype(self.dtype, np.integer):
            raise TypeError(at_user_line(
                f"Only integer traced values can be used as an index, not {self.aval}."))
        return self._python_scalar(int, "Using as an index")

    def item(self):
        return self._python_scalar(lambda v: np.asarray(v).item(), "item()")

    def tolist(self):
        return np.asarray(self.concrete()).tolist()

    # -- handing a tracer to JAX or NumPy is a mistake -------------------------------------
    #
    # The tracer has no `__jax_array__`: JAX cannot trace it. A jax.Array's operators accept
    # only the types they know (JAX and NumPy arrays, NumPy and Python scalars) and return
    # NotImplemented for anything else, so `jax_array * tracer` falls to the tracer's
    # reflected operator. A JAX function handed a tracer fails with JAX's own error, which
    # trace_to_program rewrites into advice (errors.explain_jax_failure). Checked with
    # jax 0.10.2 (the `_operator_*` functions of jax/_src/numpy/array_methods.py).

    def __array__(self, dtype=None, copy=None):
        raise TracerConversionError(at_user_line(
            f"An fgrad traced value ({self.aval}, traced by {self._trace.name}) cannot be "
            f"converted to a NumPy array. Compute with fgrad.numpy instead of numpy inside "
            f"functions that fgrad traces."))


_dtypes.TRACER_TYPE = Tracer
