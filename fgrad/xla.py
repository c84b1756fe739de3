"""Handing programs to XLA: `compile_program`, and `jit`, which traces a whole function once
per signature, simplifies it and compiles it.

`jit(f)(*args)` runs the executable for the arguments' *signature* (pytree structure, each
leaf's shape, dtype and weak type, and the static arguments' values), tracing `f`
abstractly into an fgrad program on a miss. Programs are handed to JAX the cheapest honest
way we measured (benchmarks/run.py): calling every equation's `jax.lax` lowering inside
`jax.jit`, which traces them into one XLA computation.

Inside another fgrad transformation (`grad(jit(f))`, `vmap(jit(f))`, `jit` inside `jit`)
the jitted function's program is evaluated in the enclosing trace: the outer transform sees
the simplified equations, as if `f` had been called directly, but traced abstractly.
"""

from __future__ import annotations

import functools
import inspect
import time
from typing import Any, Callable, Sequence

import jax

from fgrad.core import (
    EVAL_TRACE, Eqn, Literal, Program, aval_of, current_trace, eval_program, has_tracers,
    interpret,
)
from fgrad.core import evaluate as _evaluate
from fgrad.core.errors import StructureError, at_user_line
from fgrad.core.resources import CompilePolicy, LRUCache, PerObjectCaches, register_cache
from fgrad.core.trace import trace_to_program
from fgrad.lax.elementwise import convert_element_type
from fgrad.transforms.simplify import simplify

tree_flatten = jax.tree_util.tree_flatten
tree_unflatten = jax.tree_util.tree_unflatten


def compile_program(program: Program, name: str = "program",
                    donate_argnums: Sequence[int] = ()) -> Callable:
    """A `jax.jit` function of `(*consts, *inputs)` computing `program`'s outputs, named
    `name` in XLA's dumps. `donate_argnums` count the program's inputs (not its consts)."""
    open_program = program.consts_as_inputs()
    n_consts = len(program.constvars)

    def run(*args):
        return run_program(open_program, args)

    run.__name__ = run.__qualname__ = name
    return jax.jit(run, donate_argnums=tuple(n_consts + i for i in donate_argnums))


# -- eager programs seen again: compiled when it pays ---------------------------------------------
#
# Eagerly, `grad` traces the user's function on every call (so Python control flow on values
# works) and runs the derivative op by op. Calls whose program has the same *structure*
# (Program.key: equations, shapes, dtypes, literal values; consts are inputs) can instead
# run one compiled executable of the whole value-and-gradient program. When to compile is
# CompilePolicy's decision (fgrad/core/resources.py): never at first sight, at the second
# when the compile is cheap, else once the op-by-op time spent on the structure reaches
# the estimated compile time. Executables are kept for the 512 most recently used
# structures (benchmarks/caches.py measures both choices).

_EAGER_EXECUTABLES = register_cache(
    "eager_executables", LRUCache(512),
    holds="the compiled value-and-gradient program of one structure (a `jax.jit` and its "
          "executables) and the program's own consts",
    key="(program.key, number of outputs): the forward program's structure",
    why="an executable costs compile time and memory: 512 covers an eager loop over "
        "hundreds of structures (benchmarks/caches.py); the policy keeps eviction rare")
_COMPILE_POLICY = register_cache(
    "compile_policy", CompilePolicy(),
    holds="call counts and the fastest op-by-op time of one structure (a few numbers)",
    key="hash of the eager executables' key, so no program is kept alive",
    why="records are tiny and must outlive evicted executables (CompilePolicy)")


def eager_executable(key) -> Callable | None:
    """The compiled executable of the structure `key`, if one was made (never while
    fgrad.debug's NaN checks are on: they check the gradient op by op)."""
    if _evaluate.nan_checker is not None:
        return None
    return _EAGER_EXECUTABLES.get(key)


def run_op_by_op(key, n_eqns: int, run: Callable[[], Any], build: Callable[[], Program],
                 name: str) -> Any:
    """`run()`, timed; then, if the policy says the structure `key` (a forward program of
    `n_eqns` equations) has cost enough op by op, compiles the program `build()` returns
    for its later calls. `key` None: never compiled (a call inside a transformation)."""
    start = time.perf_counter()
    result = run()
    if key is not None and _COMPILE_POLICY.record(key, n_eqns, time.perf_counter() - start):
        program = build()
        # The program's own consts come from rules (masks, constants): they depend on the
        # structure only, so they are bound once; the traced consts vary per call.
        _EAGER_EXECUTABLES.put(
            key, functools.partial(compile_program(program, name), *program.constvals))
    return result


def clear_eager_executables() -> None:
    """Forgets every compiled eager program and the policy's records (benchmarks of the
    cold start use it)."""
    _EAGER_EXECUTABLES.clear()
    _COMPILE_POLICY.clear()


def run_program(program: Program, args) -> list:
    """`program`'s outputs on JAX values (inside `jax.jit`), consts included."""
    outs = lower_program(program, [*program.constvals, *args])
    # A literal output (a folded constant) is a bare scalar: give it its exact type.
    return [convert_element_type(x, a.aval.dtype, weak_type=a.aval.weak_type)
            if isinstance(a, Literal) else x for x, a in zip(outs, program.outputs, strict=True)]


def lower_program(program: Program, args) -> list:
    """Calls each equation's `jax.lax` lowering on JAX values, in order.

    `eval_program` would also work, but it re-checks every equation's types through the
    current trace; a program is already typed, and under `jax.jit` those checks were a
    sixth of the time JAX spends tracing the program (measured on the D=50 chain of
    benchmarks/run.py, section 2).
    """
    n_consts = len(program.constvars)
    return interpret(program, args[n_consts:], _lower, consts=args[:n_consts])


def _lower(eqn: Eqn, values: list) -> list:
    return eqn.primitive.lower_results(*values, **eqn.params)


def function_name(fun: Callable) -> str:
    """A name for `fun` in messages and programs: a function's own name, the wrapped
    function's for a `functools.partial`, the class's for a callable object."""
    while isinstance(fun, functools.partial):
        fun = fun.func
    return getattr(fun, "__name__", None) or type(fun).__name__


def normalize_argnums(argnums: Sequence[int], nargs: int, what: str) -> set[int]:
    """Argument positions (negative ones count from the end) as non-negative indices."""
    positions = set()
    for i in argnums:
        if not -nargs <= i < nargs:
            raise TypeError(at_user_line(
                f"{what} contains {i}, but the function was called with {nargs} positional "
                f"argument(s)."))
        positions.add(i % nargs)
    return positions


def _index_tuple(value, what: str) -> tuple:
    if isinstance(value, (int, str)):
        return (value,)
    try:
        return tuple(value)
    except TypeError:
        raise TypeError(at_user_line(
            f"jit {what} must be an int/str or a sequence of them, got {value!r}.")) from None


def _clear_executables(jitted: Jitted) -> None:
    jitted._jitted.clear_cache()


_JIT_PROGRAMS = register_cache(
    "jit_programs", PerObjectCaches(64, on_clear=_clear_executables),
    holds="the simplified program of one argument signature of one fgrad.jit function, "
          "with its consts; clearing also clears the function's compiled executables "
          "(`jax.jit`'s, which JAX bounds)",
    key="(argument tree, leaf avals, static argument values)",
    why="read for inlining (grad(jit(f)) re-reads it every call) and `lower`; 64 "
        "signatures per function covers bucketed shapes, and an evicted one is traced again")


class Jitted:
    """The function `jit` returns: call it, or `.lower(*args)` to inspect what it runs.

    Dispatch is JAX's: the function handed to `jax.jit` traces `fun` into an fgrad program
    (once per signature, cached here for `lower` and for inlining), simplifies it and calls
    each equation's lowering on JAX's tracers; `jax.jit` keys its executables on the same
    signature and calls them from C++, so a cached call costs what a `jax.jit` call costs.
    """

    def __init__(self, fun: Callable, static_argnums, static_argnames, donate_argnums):
        functools.update_wrapper(self, fun)
        # A functools.partial or a callable object has no __name__ for update_wrapper to copy.
        self._name = function_name(fun)
        self._fun = fun
        self._static_argnums = _index_tuple(static_argnums, "static_argnums")
        self._static_argnames = _index_tuple(static_argnames, "static_argnames")
        self._has_static = bool(self._static_argnums or self._static_argnames)
        self._programs = _JIT_PROGRAMS.new(self)

        @functools.wraps(fun)  # jax.jit reads the signature to place static arguments
        def staged(*args, **kwargs):
            program, out_tree, leaves = self._program(args, kwargs)
            return tree_unflatten(out_tree, run_program(program, leaves))

        try:
            self._jitted = jax.jit(staged, static_argnums=static_argnums,
                                   static_argnames=static_argnames,
                                   donate_argnums=donate_argnums)
        except ValueError as e:  # argnums that the function's signature cannot have
            raise ValueError(at_user_line(f"jit({self._name}): {e}")) from None

    def _static_positions(self, args) -> set[int]:
        return normalize_argnums(self._static_argnums, len(args), "jit static_argnums")

    def _check_static(self, args, kwargs) -> None:
        static = [(i, args[i]) for i in sorted(self._static_positions(args))]
        static += [(k, kwargs[k]) for k in kwargs if k in self._static_argnames]
        for name, value in static:
            try:
                hash(value)
            except TypeError:
                raise StructureError(at_user_line(
                    f"jit: static argument {name!r} of {self._name} is not hashable "
                    f"({type(value).__name__}); static arguments key the compilation cache. "
                    f"Pass a tuple instead of a list, or make the argument dynamic.")) from None

    def _program(self, args, kwargs):
        """The simplified program for these arguments, its output tree, and the dynamic
        leaves to evaluate it on."""
        static_pos = self._static_positions(args)
        dynamic_args = [a for i, a in enumerate(args) if i not in static_pos]
        dynamic_kwargs = {k: v for k, v in kwargs.items() if k not in self._static_argnames}
        leaves, in_tree = tree_flatten((dynamic_args, dynamic_kwargs))
        static = tuple((i, args[i]) for i in sorted(static_pos))
        static += tuple((k, kwargs[k]) for k in sorted(kwargs) if k in self._static_argnames)
        signature = (in_tree, tuple(aval_of(x) for x in leaves), static)
        cached = self._programs.get(signature)
        if cached is not None:
            return (*cached, leaves)

        def flat_fun(*flat):
            dyn, kw = tree_unflatten(in_tree, flat)
            dyn = iter(dyn)
            full = [a if i in static_pos else next(dyn) for i, a in enumerate(args)]
            kw.update((k, kwargs[k]) for k in kwargs if k in self._static_argnames)
            return self._fun(*full, **kw)

        program, out_tree = trace_to_program(flat_fun, leaves, f"jit({self._name})")
        program = simplify(program)
        if not has_tracers(program.constvals):  # a closure over a tracer is this call's only
            self._programs.put(signature, (program, out_tree))
        return program, out_tree, leaves

    def __call__(self, *args, **kwargs):
        # The common case first and lean: this wraps every call of a jitted training step.
        if current_trace() is EVAL_TRACE and not self._has_static:
            try:
                return self._jitted(*args, **kwargs)
            except TypeError:
                self._explain_bad_arguments(args, kwargs)
                raise
        if current_trace() is not EVAL_TRACE:  # inside an fgrad transformation: inline
            program, out_tree, leaves = self._program(args, kwargs)
            return tree_unflatten(out_tree, eval_program(program, *leaves))
        self._check_static(args, kwargs)
        try:
            return self._jitted(*args, **kwargs)
        except TypeError:
            self._explain_bad_arguments(args, kwargs)
            raise

    def _checked_call(self, *args, **kwargs):
        """`__call__` while fgrad.debug's NaN checks are on (`check_jitted_calls`): on a NaN
        or an infinity in the outputs, `f` runs again op by op, checked, to find the
        equation that produced it (JAX's approach to jax_debug_nans)."""
        checker = _evaluate.nan_checker
        if checker is None or current_trace() is not EVAL_TRACE:
            return _unchecked_call(self, *args, **kwargs)
        return checker.run_jitted(lambda: _unchecked_call(self, *args, **kwargs), self._fun,
                                  self._name, args, kwargs)

    def _explain_bad_arguments(self, args, kwargs) -> None:
        try:
            inspect.signature(self._fun).bind(*args, **kwargs)
        except ValueError:  # a callable without a signature: nothing to check
            pass
        except TypeError as e:  # Python's message names the function, not the caller's line
            raise TypeError(at_user_line(
                f"jit({self._name}) was called with arguments its function does not take: "
                f"{e}.")) from None
        for leaf in jax.tree_util.tree_leaves((args, kwargs)):
            aval_of(leaf)  # raises, in fgrad's words, for a leaf that is not an array

    def lower(self, *args, **kwargs) -> Lowered:
        """The simplified fgrad program for these arguments and its StableHLO."""
        jax_lowered = self._jitted.lower(*args, **kwargs)
        return Lowered(self._program(args, kwargs)[0], jax_lowered)

    def __get__(self, instance, owner):
        # Decorating a method: bind `self` like a plain function would.
        return self if instance is None else functools.partial(self, instance)


_unchecked_call = Jitted.__call__


def check_jitted_calls(on: bool) -> None:
    """Makes jitted functions check their outputs for NaNs and infinities (fgrad.debug's NaN
    checks turn it on): the methods are swapped, so calls cost nothing extra while off."""
    Jitted.__call__ = Jitted._checked_call if on else _unchecked_call


class Lowered:
    """A jitted function specialised to some arguments: `program` is the simplified fgrad
    program, `as_text()` its StableHLO, `compile()` JAX's compiled executable (with
    `memory_analysis()` and `cost_analysis()`)."""

    def __init__(self, program: Program, jax_lowered):
        self.program = program
        self._jax_lowered = jax_lowered

    def as_text(self) -> str:
        return self._jax_lowered.as_text()

    def compile(self):
        return self._jax_lowered.compile()

    def __str__(self) -> str:
        return f"fgrad program:\n{self.program}\n\nStableHLO:\n{self.as_text()}"


def jit(fun: Callable | None = None, *, static_argnums: int | Sequence[int] = (),
        static_argnames: str | Sequence[str] = (),
        donate_argnums: int | Sequence[int] = ()) -> Jitted:
    """Compiles `fun` with XLA: traced once per argument signature into an fgrad program,
    simplified, and run as one executable.

    Arguments are pytrees of arrays; those at `static_argnums` / `static_argnames` are
    Python values baked into the trace (they must be hashable, and a new value retraces).
    `donate_argnums` lets XLA reuse those arguments' buffers for the outputs. Usable as
    `@jit` or `@jit(static_argnums=...)`.

    Args:
      fun: the function to compile. Omitted, `jit(static_argnums=..., ...)` returns a
        decorator.
      static_argnums: the position(s) of the positional arguments that are static.
      static_argnames: the name(s) of the keyword arguments that are static.
      donate_argnums: the position(s) of the arguments whose buffers XLA may reuse for the
        outputs.

    Returns:
      a `Jitted` function with `fun`'s arguments and results, whose `.lower(*args)` gives
        the program it runs; with `fun` omitted, a decorator that makes one.

    Raises:
      TypeError: `fun` is not callable.
      StructureError: when the `Jitted` function is called, a static argument is not
        hashable.

    Examples:
      >>> import fgrad, fgrad.numpy as fnp
      >>> f = fgrad.jit(lambda x: fnp.sum(fnp.sin(x) ** 2))
      >>> f(fnp.zeros(3))
      Array(0., dtype=float32)
    """
    if fun is None:
        return functools.partial(jit, static_argnums=static_argnums,
                                 static_argnames=static_argnames,
                                 donate_argnums=donate_argnums)
    if not callable(fun):
        raise TypeError(at_user_line(
            f"jit needs a function, got {type(fun).__name__}. Write fgrad.jit(f), or use "
            f"@fgrad.jit / @fgrad.jit(static_argnums=...) as a decorator."))
    return Jitted(fun, static_argnums, static_argnames, donate_argnums)
