"""Handing programs to XLA: `compile_program`, and `jit`, which traces a whole function once
per signature, simplifies it and compiles it.

`jit(f)(*args)` flattens the arguments, looks up a program for their *signature* (pytree
structure, each leaf's shape, dtype and weak type, and the static arguments' values),
tracing `f` abstractly on a miss, and runs that program's compiled executable. Programs are
handed to JAX the cheapest honest way we measured (benchmarks/run.py): calling every
equation's `jax.lax` lowering inside `jax.jit`, which traces them into one XLA
computation. Values the function closes over are passed to the executable as arguments
rather than baked into it, as JAX does with large constants.

Inside another fgrad transformation (`grad(jit(f))`, `vmap(jit(f))`, `jit` inside `jit`)
the jitted function's program is evaluated in the enclosing trace: the outer transform sees
the simplified equations, as if `f` had been called directly, but traced abstractly.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import jax

from fgrad.core import EVAL_TRACE, Literal, Program, aval_of, current_trace, eval_program
from fgrad.core.errors import at_user_line
from fgrad.core.trace import Tracer, trace_to_program
from fgrad.lax.elementwise import convert_element_type
from fgrad.transforms.simplify import simplify

tree_flatten = jax.tree_util.tree_flatten
tree_unflatten = jax.tree_util.tree_unflatten


def consts_as_inputs(program: Program) -> Program:
    """The same program with its consts turned into leading inputs."""
    return Program((), (), program.constvars + program.inputs, program.eqns, program.outputs)


def compile_program(program: Program, name: str = "program",
                    donate_argnums: Sequence[int] = ()) -> Callable:
    """A `jax.jit` function of `(*consts, *inputs)` computing `program`'s outputs, named
    `name` in XLA's dumps. `donate_argnums` count the program's inputs (not its consts)."""
    open_program = consts_as_inputs(program)
    n_consts = len(program.constvars)

    def run(*args):
        outs = lower_program(open_program, args)
        # A literal output (a folded constant) is a bare scalar: give it its exact type.
        return [convert_element_type(x, a.aval.dtype, weak_type=a.aval.weak_type)
                if isinstance(a, Literal) else x for x, a in zip(outs, program.outputs)]

    run.__name__ = run.__qualname__ = name
    return jax.jit(run, donate_argnums=tuple(n_consts + i for i in donate_argnums))


def lower_program(program: Program, args) -> list:
    """Calls each equation's `jax.lax` lowering on JAX values, in order.

    `eval_program` would also work, but it re-checks every equation's types through the
    current trace; a program is already typed, and under `jax.jit` those checks were a
    sixth of the time JAX spends tracing the program (measured on the D=50 chain of
    benchmarks/run.py, section 2).
    """
    env = dict(zip(program.inputs, args))
    for eqn in program.eqns:
        outs = eqn.primitive.lower(
            *[a.value if isinstance(a, Literal) else env[a] for a in eqn.inputs], **eqn.params)
        if eqn.primitive.multiple_results:
            env.update(zip(eqn.outputs, outs))
        else:
            env[eqn.outputs[0]] = outs
    return [a.value if isinstance(a, Literal) else env[a] for a in program.outputs]


def has_tracers(values) -> bool:
    """True if any value is a tracer (fgrad's or JAX's): such a program cannot be cached
    beyond the current transformation."""
    return any(isinstance(v, (Tracer, jax.core.Tracer)) for v in values)


class _Compiled:
    """One specialization of a jitted function: its program and executable."""

    __slots__ = ("program", "out_tree", "executable", "cacheable")

    def __init__(self, program: Program, out_tree, name: str, donate: Sequence[int]):
        self.program = program
        self.out_tree = out_tree
        self.executable = compile_program(program, name, donate)
        self.cacheable = not has_tracers(program.constvals)

    def __call__(self, leaves):
        return self.executable(*self.program.constvals, *leaves)


def _index_tuple(value, what: str) -> tuple:
    if isinstance(value, (int, str)):
        return (value,)
    try:
        return tuple(value)
    except TypeError:
        raise TypeError(at_user_line(
            f"jit {what} must be an int/str or a sequence of them, got {value!r}.")) from None


class Jitted:
    """The function `jit` returns: call it, or `.lower(*args)` to inspect what it runs."""

    def __init__(self, fun: Callable, static_argnums, static_argnames, donate_argnums):
        functools.update_wrapper(self, fun)
        self._fun = fun
        self._static_argnums = _index_tuple(static_argnums, "static_argnums")
        self._static_argnames = _index_tuple(static_argnames, "static_argnames")
        self._donate_argnums = _index_tuple(donate_argnums, "donate_argnums")
        self._cache: dict[Any, _Compiled] = {}

    def _split(self, args, kwargs):
        """The dynamic leaves, and the signature that keys the cache."""
        nargs = len(args)
        static_pos = set()
        for i in self._static_argnums:
            if not -nargs <= i < nargs:
                raise TypeError(at_user_line(
                    f"jit static_argnums contains {i}, but {self.__name__} was called with "
                    f"{nargs} positional argument(s)."))
            static_pos.add(i % nargs)
        static = tuple((i, args[i]) for i in sorted(static_pos))
        static += tuple((k, kwargs[k]) for k in sorted(kwargs) if k in self._static_argnames)
        try:
            hash(static)
        except TypeError:
            bad = next(name for name, v in static if not _hashable(v))
            raise TypeError(at_user_line(
                f"jit: static argument {bad!r} of {self.__name__} is not hashable "
                f"({type(dict(static)[bad]).__name__}); static arguments key the compilation "
                f"cache. Pass a tuple instead of a list, or make the argument dynamic.")) from None
        dynamic_args = [a for i, a in enumerate(args) if i not in static_pos]
        dynamic_kwargs = {k: v for k, v in kwargs.items() if k not in self._static_argnames}
        leaves, in_tree = tree_flatten((dynamic_args, dynamic_kwargs))
        avals = tuple(aval_of(x) for x in leaves)
        donated = self._donated_leaves(args, static_pos)
        return leaves, in_tree, (in_tree, avals, static), static_pos, donated

    def _donated_leaves(self, args, static_pos) -> list[int]:
        if not self._donate_argnums:
            return []
        donated, offset = [], 0
        for i, a in enumerate(args):
            if i in static_pos:
                continue
            n = len(jax.tree_util.tree_leaves(a))
            if i in self._donate_argnums or i - len(args) in self._donate_argnums:
                donated.extend(range(offset, offset + n))
            offset += n
        return donated

    def _specialize(self, args, kwargs):
        leaves, in_tree, signature, static_pos, donated = self._split(args, kwargs)
        compiled = self._cache.get(signature)
        if compiled is None:
            fun = self._fun

            def flat_fun(*flat):
                dyn, kw = tree_unflatten(in_tree, flat)
                dyn = iter(dyn)
                full = [a if i in static_pos else next(dyn) for i, a in enumerate(args)]
                kw.update((k, kwargs[k]) for k in kwargs if k in self._static_argnames)
                return fun(*full, **kw)

            program, out_tree = trace_to_program(flat_fun, leaves, f"jit({self.__name__})")
            compiled = _Compiled(simplify(program), out_tree, self.__name__, donated)
            if compiled.cacheable:
                self._cache[signature] = compiled
        return compiled, leaves

    def __call__(self, *args, **kwargs):
        compiled, leaves = self._specialize(args, kwargs)
        if current_trace() is not EVAL_TRACE:
            outs = eval_program(compiled.program, *leaves)  # inline into the enclosing trace
        else:
            outs = compiled(leaves)
        return tree_unflatten(compiled.out_tree, outs)

    def lower(self, *args, **kwargs) -> Lowered:
        """The simplified fgrad program for these arguments and its StableHLO."""
        compiled, leaves = self._specialize(args, kwargs)
        consts = compiled.program.constvals
        return Lowered(compiled.program, compiled.executable.lower(*consts, *leaves))

    def __get__(self, instance, owner):
        # Decorating a method: bind `self` like a plain function would.
        return self if instance is None else functools.partial(self, instance)


def _hashable(value) -> bool:
    try:
        hash(value)
        return True
    except TypeError:
        return False


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
