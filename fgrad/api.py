"""fgrad's public transformations, on Python functions of arrays and pytrees.

Each one flattens its arguments with `jax.tree_util`, traces the function into a program,
transforms the program, and evaluates the result. This issue provides `make_ir`; the
differentiation and batching transforms build on the same steps.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import jax

from fgrad.core import Program, trace_to_program
from fgrad.core.errors import at_user_line


def make_ir(fun: Callable, static_argnums: int | Sequence[int] = ()) -> Callable[..., Program]:
    """Returns a function that traces `fun` on its arguments and returns the program.

    Arguments may be pytrees of arrays, Python scalars or `jax.ShapeDtypeStruct`s; only
    their shapes and dtypes matter, as with `jax.make_jaxpr`: values are abstract, so
    Python control flow on them raises `ConcretizationError`. Arguments at
    `static_argnums` are passed to `fun` unchanged and are not inputs of the program.

    >>> import fgrad, fgrad.numpy as fnp
    >>> print(fgrad.make_ir(lambda x: fnp.sin(x) * 2.0)(1.0))
    { lambda ; a:f32[]. let
        b:f32[] = sin a
        c:f32[] = mul b 2.0:f32[]
      in (c,) }
    """
    static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    @functools.wraps(fun)
    def make_ir_fun(*args, **kwargs) -> Program:
        static_positions = _normalize_argnums(static, len(args), "static_argnums")
        dynamic = [a for i, a in enumerate(args) if i not in static_positions]
        flat, in_tree = jax.tree_util.tree_flatten((dynamic, kwargs))

        def flat_fun(*flat_tracers):
            dyn, kw = jax.tree_util.tree_unflatten(in_tree, flat_tracers)
            dyn = iter(dyn)
            full = [a if i in static_positions else next(dyn) for i, a in enumerate(args)]
            return fun(*full, **kw)

        program, _ = trace_to_program(flat_fun, flat, "make_ir")
        return program

    return make_ir_fun


def _normalize_argnums(argnums: tuple[int, ...], nargs: int, what: str) -> set[int]:
    positions = set()
    for i in argnums:
        if not -nargs <= i < nargs:
            raise TypeError(at_user_line(
                f"{what} contains {i}, but the function was called with {nargs} positional "
                f"argument(s)."))
        positions.add(i % nargs)
    return positions


__all__: list[Any] = ["make_ir"]
