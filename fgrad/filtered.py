"""Equinox's filtered transformations, run by fgrad's: `filter_grad`, `filter_value_and_grad`,
`filter_vjp`, `filter_jvp`, `filter_vmap` and `filter_jit`.

fgrad's own transforms are JAX's strict ones: every leaf of a differentiated (or batched, or
jitted) argument is an array. An equinox model is a pytree whose leaves also include its
activation functions, integer sizes and flags, so these wrappers split each argument with
`eqx.partition` into the arrays the transform acts on and the rest, which passes through
untouched and is put back with `eqx.combine` before the user's function sees it:

    filter_grad(loss)(model, x)   differentiates the floating-point arrays of `model` (the
                                  first argument); every other leaf's gradient is None
    filter_vmap(f)(xs, config)    maps axis 0 of every array, holds the rest fixed
    filter_jit(step)(model, ...)  traces the arrays, keys the compilation on the rest

Which leaves count is decided by `is_array` and `is_inexact_array`, which, unlike
equinox's predicates of the same names, also recognise fgrad's traced values, so the
wrappers nest inside fgrad's transforms.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import equinox as eqx
import jax
import numpy as np
from jax.tree_util import tree_flatten, tree_leaves, tree_map, tree_unflatten

from fgrad import api
from fgrad.core import Tracer, Zero, aval_of
from fgrad.core import dtypes as dt
from fgrad.core.errors import StructureError, at_user_line
from fgrad.core.resources import PerObjectCaches, register_cache
from fgrad.xla import jit


def is_array(x) -> bool:
    """Whether `x` is an array: a JAX or NumPy array (or NumPy scalar), or fgrad's traced
    value of one.

    Args:
      x (Any): any value, typically a pytree leaf.

    Returns:
      whether `x` is one of those (a Python scalar is not).
    """
    return isinstance(x, (jax.Array, np.ndarray, np.generic, Tracer))


def is_inexact_array(x) -> bool:
    """Whether `x` is an array of a floating-point or complex dtype: the leaves the
    filtered derivatives differentiate.

    Args:
      x (Any): any value, typically a pytree leaf.

    Returns:
      whether `is_array(x)` holds and its dtype is floating-point or complex.
    """
    return is_array(x) and dt.is_inexact(aval_of(x).dtype)


def _first_argument(args, name: str):
    if not args:
        raise TypeError(at_user_line(
            f"fgrad.{name} differentiates its function's first argument, which must be "
            f"passed by position; the function was called without positional arguments."))
    return args[0], args[1:]


def filter_value_and_grad(fun: Callable | None = None, *, has_aux: bool = False) -> Callable:
    """`fun`'s value and its gradient with respect to the floating-point arrays of its first
    argument (any pytree, an equinox Module say); the gradient has that argument's structure
    with None at every other leaf. With `has_aux=True`, `fun` returns `(value, aux)` and the
    result is `((value, aux), gradient)`.

    Args:
      fun: the function to differentiate, of the pytree to differentiate as its first
        positional argument, returning a real floating-point scalar (or `(scalar, aux)`
        with `has_aux`). Omitted, `filter_value_and_grad(has_aux=...)` returns a decorator.
      has_aux: whether `fun` returns a pair `(output, aux)`, of which only `output` is
        differentiated.

    Returns:
      a function with `fun`'s arguments that returns `(value, gradient)` (`((value, aux),
        gradient)` with `has_aux`), or, with `fun` omitted, a decorator that makes one.

    Raises:
      TypeError: when the returned function is called without positional arguments.

    Examples:
      >>> import equinox as eqx, fgrad, fgrad.numpy as fnp
      >>> class Line(eqx.Module):
      ...     slope: float
      ...     name: str = "line"
      >>> f = fgrad.filter_value_and_grad(lambda m, x: fnp.sum((m.slope * x) ** 2))
      >>> value, g = f(Line(fnp.asarray(2.0)), fnp.ones(3))
      >>> float(value), float(g.slope), g.name
      (12.0, 12.0, None)
    """
    if fun is None:
        return functools.partial(filter_value_and_grad, has_aux=has_aux)
    api._check_callable(fun, "filter_value_and_grad")

    @functools.wraps(fun)
    def value_and_grad_fun(*args, **kwargs):
        x, rest = _first_argument(args, "filter_value_and_grad")
        diff, static = eqx.partition(x, is_inexact_array)

        def of_diff(d, *a, **kw):
            return fun(eqx.combine(d, static), *a, **kw)

        return api.value_and_grad(of_diff, has_aux=has_aux)(diff, *rest, **kwargs)

    return value_and_grad_fun


def filter_grad(fun: Callable | None = None, *, has_aux: bool = False) -> Callable:
    """The gradient of `fun` with respect to the floating-point arrays of its first argument,
    None at its other leaves (equinox's `filter_grad`); `(gradient, aux)` with `has_aux`.

    Args:
      fun: the function to differentiate, of the pytree to differentiate as its first
        positional argument, returning a real floating-point scalar (or `(scalar, aux)`
        with `has_aux`). Omitted, `filter_grad(has_aux=...)` returns a decorator.
      has_aux: whether `fun` returns a pair `(output, aux)`, of which only `output` is
        differentiated.

    Returns:
      a function with `fun`'s arguments that returns the gradient, with the structure of
        the first argument and None at its leaves that are not floating-point arrays
        (`(gradient, aux)` with `has_aux`), or, with `fun` omitted, a decorator that makes
        one.

    Examples:
      >>> import equinox as eqx, jax, fgrad, fgrad.numpy as fnp
      >>> model = eqx.nn.Linear(3, 1, key=jax.random.key(0))
      >>> grads = fgrad.filter_grad(lambda m, x: fnp.sum(m.weight @ x + m.bias))(
      ...     model, fnp.ones(3))
      >>> grads.weight
      Array([[1., 1., 1.]], dtype=float32)
    """
    if fun is None:
        return functools.partial(filter_grad, has_aux=has_aux)
    value_and_grad_fun = filter_value_and_grad(fun, has_aux=has_aux)

    @functools.wraps(fun)
    def grad_fun(*args, **kwargs):
        value, grads = value_and_grad_fun(*args, **kwargs)
        return (grads, value[1]) if has_aux else grads

    return grad_fun


def filter_vjp(fun: Callable, *primals, has_aux: bool = False):
    """`(fun(*primals), pullback)` (and `aux` with `has_aux`), differentiating the
    floating-point arrays of `primals` and of the output; every other leaf passes through.
    `pullback` takes a cotangent with an array at each floating-point output leaf and None
    elsewhere, and returns one per primal with None at the leaves not differentiated.

    Args:
      fun: the function to differentiate, of `len(primals)` positional arguments.
      *primals (Any): the arguments to evaluate `fun` at, any pytrees.
      has_aux: whether `fun` returns a pair `(output, aux)`, of which only `output` is
        differentiated.

    Returns:
      primals_out (Any): `fun(*primals)` (its `output` with `has_aux`).
      pullback (Callable): `pullback(ct)` returns a tuple with one cotangent per primal,
        each with its primal's structure and None at the leaves not differentiated.
      aux (Any): only with `has_aux=True`, the auxiliary data `fun` returned.
    """
    api._check_callable(fun, "filter_vjp", "fgrad.filter_vjp(f, *primals)")
    diff, static = eqx.partition(primals, is_inexact_array)

    def of_diff(*d):
        out = fun(*eqx.combine(d, static))
        out, aux = out if has_aux else (out, None)
        diff_out, static_out = eqx.partition(out, is_inexact_array)
        return diff_out, (static_out, aux)

    diff_out, pullback, (static_out, aux) = api.vjp(of_diff, *diff, has_aux=True)
    out = eqx.combine(diff_out, static_out)
    return (out, pullback, aux) if has_aux else (out, pullback)


def _is_none(x) -> bool:
    return x is None


def filter_jvp(fun: Callable, primals, tangents, **kwargs):
    """`(fun(*primals), tangents_out)` for arbitrary pytrees (equinox's `filter_jvp`).

    `tangents` has the structure of `primals` with an array at each floating-point leaf to
    move and None at every other leaf (None is also a zero tangent). `tangents_out` has the
    output's structure, with None wherever the output's tangent is zero by construction: its
    non-array and integer leaves, and arrays that do not depend on a moved input. `kwargs`
    go to `fun` and are not differentiated.

    Args:
      fun: the function to differentiate, of `len(primals)` positional arguments.
      primals (tuple | list): the arguments to evaluate `fun` at, any pytrees.
      tangents (tuple | list): the input tangents: the structure of `primals`, an array at
        each leaf that moves and None at the others.
      **kwargs (Any): keyword arguments passed to `fun`, not differentiated.

    Returns:
      primals_out (Any): `fun(*primals, **kwargs)`.
      tangents_out (Any): the output tangent, with the structure of `primals_out` and None
        where it is zero by construction.

    Raises:
      TypeError: `primals` or `tangents` is not a tuple or list.
      StructureError: `tangents` does not have the structure of `primals`.
    """
    api._check_callable(fun, "filter_jvp", "fgrad.filter_jvp(f, primals, tangents)")
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(at_user_line(
            f"filter_jvp takes its primals and tangents as tuples or lists, got "
            f"{type(primals).__name__} and {type(tangents).__name__}. For one argument write "
            f"filter_jvp(f, (x,), (t,))."))
    primal_tree = jax.tree_util.tree_structure(tuple(primals), is_leaf=_is_none)
    tangent_tree = jax.tree_util.tree_structure(tuple(tangents), is_leaf=_is_none)
    if primal_tree != tangent_tree:
        raise StructureError(at_user_line(
            f"filter_jvp needs tangents with the structure of the primals (None where a leaf "
            f"does not move): primals are {primal_tree}, tangents are {tangent_tree}."))
    moving = tree_map(lambda t: t is not None, tuple(tangents), is_leaf=_is_none)
    dynamic, static = eqx.partition(tuple(primals), moving, is_leaf=_is_none)
    flat_dynamic, dynamic_tree = tree_flatten(dynamic)
    flat_tangents = tree_leaves(tangents)
    outputs = {}

    def of_dynamic(*d):
        out = fun(*eqx.combine(d, static), **kwargs)
        arrays, outputs["rest"] = eqx.partition(out, is_array)
        return arrays

    traced, outs, out_tangents = api._jvp_flat(of_dynamic, flat_dynamic, dynamic_tree,
                                               flat_tangents, "filter_jvp")
    out_avals = [v.aval for v in traced.program.outputs]
    tangents_out = [None if isinstance(t, Zero) or not dt.is_inexact(a.dtype)
                    else api._as_array(t) for t, a in zip(out_tangents, out_avals, strict=True)]
    primal_out = eqx.combine(tree_unflatten(traced.out_tree, api._as_arrays(outs)),
                             outputs["rest"])
    return primal_out, tree_unflatten(traced.out_tree, tangents_out)


def _axes_per_leaf(what: str, tree, axes) -> list:
    """One axis (an int or None) per leaf of `tree`, from `axes`: an int, None, a function
    of a leaf, or a pytree prefix of `tree` made of those (an equinox Module, eqx.if_array(0)
    say, is a prefix node, not a function). Non-array leaves are never mapped."""
    def is_spec(x):
        return x is None or isinstance(x, int) or (callable(x) and not isinstance(x, eqx.Module))

    specs, spec_tree = tree_flatten(axes, is_leaf=is_spec)
    try:
        subtrees = spec_tree.flatten_up_to(tree)
    except ValueError as e:
        raise ValueError(at_user_line(
            f"filter_vmap {what} must be an int, None, a function of a leaf, or a pytree "
            f"prefix of the arguments made of those; {e}")) from None
    out = []
    for spec, subtree in zip(specs, subtrees, strict=True):
        for leaf in tree_leaves(subtree):
            ax = spec(leaf) if callable(spec) else spec
            out.append(ax if is_array(leaf) else None)
    return out


def filter_vmap(fun: Callable | None = None, *, in_axes=0, out_axes=0,
                axis_size: int | None = None) -> Callable:
    """`fun` vectorized over an axis of its array arguments (equinox's `filter_vmap`).

    `in_axes` is an int, None, a callable returning either for a leaf, or a pytree prefix of
    the arguments made of those; it applies to array leaves only, and every other leaf (a
    module's activation, an int, a string) is passed to each call unchanged. Array outputs
    are stacked along `out_axes` (an int, or None for outputs that do not depend on the
    mapped axis); other outputs are returned as `fun` returned them.

    Args:
      fun: the function to vectorize, of positional arguments only. Omitted,
        `filter_vmap(in_axes=..., ...)` returns a decorator.
      in_axes (int | None | Callable | Any): the mapped axis of the array leaves, as above.
      out_axes (int | None): the axis of every array output, or None.
      axis_size: the size of the mapped axis, needed only when no array is mapped.

    Returns:
      a function with `fun`'s positional arguments that returns `fun`'s output with its
        array leaves stacked along `out_axes`, or, with `fun` omitted, a decorator that
        makes one.

    Raises:
      TypeError: `out_axes` is neither an int nor None.

    Examples:
      >>> import fgrad, fgrad.numpy as fnp
      >>> scale = fgrad.filter_vmap(lambda x, how: x * 2 if how == "double" else x)
      >>> scale(fnp.arange(3.0), "double")
      Array([0., 2., 4.], dtype=float32)
    """
    if fun is None:
        return functools.partial(filter_vmap, in_axes=in_axes, out_axes=out_axes,
                                 axis_size=axis_size)
    api._check_callable(fun, "filter_vmap")
    if not (out_axes is None or isinstance(out_axes, int)):
        raise TypeError(at_user_line(
            f"filter_vmap out_axes must be an int or None (applied to every array output), "
            f"got {out_axes!r}."))

    @functools.wraps(fun)
    def batched(*args):
        axes = _axes_per_leaf("in_axes", args, in_axes)
        leaves, tree = tree_flatten(args)
        at = [i for i, leaf in enumerate(leaves) if is_array(leaf)]
        outputs = {}

        def of_arrays(*arrays):
            filled = list(leaves)
            for i, a in zip(at, arrays, strict=True):
                filled[i] = a
            out = fun(*tree_unflatten(tree, filled))
            arrays_out, outputs["rest"] = eqx.partition(out, is_array)
            return arrays_out

        mapped = api.vmap(of_arrays, in_axes=tuple(axes[i] for i in at), out_axes=out_axes,
                          axis_size=axis_size)(*(leaves[i] for i in at))
        return eqx.combine(mapped, outputs["rest"])

    return batched


_STATIC_OUTPUTS = register_cache(
    "filter_jit_static_outputs", PerObjectCaches(64),
    holds="the non-array leaves one argument signature of one fgrad.filter_jit function "
          "returned when it was traced",
    key="(the arguments' non-array leaves and tree, the arrays' avals)",
    why="the same bound and key as fgrad.jit's programs of the function, which it mirrors")


class _Static(NamedTuple):
    """The non-array part of filter_jit's arguments, as one static argument of fgrad.jit
    (hashed and compared as a tuple, so its leaves must be hashable): the arguments' tree,
    and their leaves with None where an array goes (tree_flatten never yields None)."""
    tree: Any
    leaves: tuple

    @property
    def at(self) -> tuple:
        return tuple(i for i, leaf in enumerate(self.leaves) if leaf is None)


def filter_jit(fun: Callable | None = None) -> Callable:
    """`fun` compiled with `fgrad.jit`, its array leaves traced and every other leaf static
    (equinox's `filter_jit`): a model's activation functions, sizes and flags key the
    compilation, and may also be returned. Non-array leaves must be hashable.

    Args:
      fun: the function to compile, of any positional and keyword arguments. Omitted,
        `filter_jit()` returns the decorator `filter_jit`.

    Returns:
      a function with `fun`'s arguments that returns `fun`'s output: its array leaves
        computed by the compiled program, its other leaves as `fun` returned them when
        traced. With `fun` omitted, `filter_jit` itself.

    Raises:
      TypeError: when the returned function is called with a non-array leaf that is not
        hashable.

    Examples:
      >>> import fgrad, fgrad.numpy as fnp
      >>> @fgrad.filter_jit
      ... def apply(x, activation):
      ...     return activation(x), "done"
      >>> apply(fnp.zeros(2), fnp.tanh)
      (Array([0., 0.], dtype=float32), 'done')
    """
    if fun is None:
        return filter_jit
    api._check_callable(fun, "filter_jit")
    static_outputs = None

    def of_arrays(static: _Static, *arrays):
        leaves = list(static.leaves)
        for i, a in zip(static.at, arrays, strict=True):
            leaves[i] = a
        args, kwargs = tree_unflatten(static.tree, leaves)
        out = fun(*args, **kwargs)
        arrays_out, rest = eqx.partition(out, is_array)
        static_outputs.put(_signature(static, arrays), rest)
        return arrays_out

    jitted = jit(of_arrays, static_argnums=0)

    @functools.wraps(fun)
    def compiled(*args, **kwargs):
        leaves, tree = tree_flatten((args, kwargs))
        static = _Static(tree, tuple(None if is_array(leaf) else leaf for leaf in leaves))
        arrays = [leaf for leaf in leaves if is_array(leaf)]
        try:
            hash(static)
        except TypeError as e:
            raise TypeError(at_user_line(
                f"filter_jit: a non-array argument leaf is not hashable ({e}); non-array "
                f"leaves key the compilation cache. Make it an array, or hashable.")) from None
        out = jitted(static, *arrays)
        key = _signature(static, arrays)
        if key not in static_outputs:  # evicted or cleared while jit kept the executable
            api.make_ir(of_arrays, static_argnums=0)(static, *arrays)
        return eqx.combine(out, static_outputs.get(key))

    static_outputs = _STATIC_OUTPUTS.new(compiled)
    return compiled


def _signature(static: _Static, arrays) -> tuple:
    return (static, tuple(aval_of(a) for a in arrays))
