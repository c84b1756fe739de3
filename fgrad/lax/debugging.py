"""Debugging primitives: `tag` (gradients of intermediate values) and `hook` (backward hooks).

- `tag_p(x; name, index, tree)`: the identity, marking `x` as the leaf `index` of the pytree
  `tree` a user tagged `name`. `fgrad.grad_with_tags` (fgrad/debug/tags.py) rewrites each
  tag into `x + eps` with `eps` a new input of the program and differentiates with respect
  to the eps too: the gradient of an `eps` is the gradient at the tagged value (PyTorch's
  `retain_grad`). Under any other transform the tag is just the identity (its tangent is
  not tagged: only the primal value is what a user named).
- `hook_p(x; fn)`: the identity, whose JVP hands the tangent through `hook_ct_p`.
- `hook_ct_p(t; fn)`: the identity on tangents (forward mode leaves them untouched), linear;
  its transpose applies the hook to the cotangent with `hook_apply_p`.
- `hook_apply_p(ct; fn, n_batch)`: `fn(ct)` (or `ct` when fn returns None), computed on the
  host by a callback, looping over the `n_batch` leading axes that vmap added (so `fn`
  always sees one example's cotangent, of the shape of the value it hooks).

Why `jax.experimental.io_callback(..., ordered=False)` rather than `jax.pure_callback`:
a hook exists for its effect (printing, logging, clipping), and `pure_callback` tells XLA
the call is pure, so it may be deduplicated (two hooks with the same function on equal
cotangents would run once) or dropped; `io_callback` is kept as written. Unordered, because
ordering would forbid vmap and cost a token through every loop. The cost: every call is a
device→host copy of the cotangent, a Python call, and a host→device copy of the result,
and XLA cannot fuse across it. Eagerly fgrad runs each primitive as a small compiled
computation, so the hook is called through the same callback there: `fn` always receives
NumPy arrays (printing them works), and whatever it returns is converted back.

Higher order: the derivative of `hook_apply_p` is taken as the identity ("straight
through"): `grad(grad(f))` calls the hook in the inner backward pass on the inner cotangent,
and the outer differentiation treats the replacement as `ct + stop_gradient(fn(ct) - ct)`.
That is exact for observing hooks (fn returns None) and for hooks that add a constant; for
others (a scaling hook) the second derivative ignores the hook's own dependence on `ct`.
The outer backward pass also calls the hook on the cotangent reaching the hooked value, as
PyTorch does with `create_graph=True`.
"""

from __future__ import annotations

import inspect

import jax
import numpy as np
from jax.experimental import io_callback

from fgrad.core import Primitive, Zero, aval_of
from fgrad.core import dtypes as dt
from fgrad.core.errors import FgradError, at_user_line
from fgrad.lax._batching import move_axis
from fgrad.lax.shapes import reshape
from fgrad.transforms.rules import batch_rules, jvp_rules, transpose_rules

tree_flatten, tree_unflatten = jax.tree_util.tree_flatten, jax.tree_util.tree_unflatten


class HookError(FgradError, TypeError, ValueError):
    """A hook function returned something other than None or a cotangent of the hooked
    value's shape and dtype (a TypeError and a ValueError, as fgrad's ShapeDtypeError)."""


# -- tag: a value whose gradient grad_with_tags reports -----------------------------------------


def _tag_abstract_eval(x, *, name, index, tree):
    return x


def _tag_lower(x, *, name, index, tree):
    return x


tag_p = Primitive("tag", _tag_abstract_eval, _tag_lower)


def _tag_jvp(primals, tangents, *, name, index, tree):
    (x,), (t,) = primals, tangents
    # The primal keeps its tag (grad_with_tags of a function that calls jvp finds it); the
    # tangent passes through untagged.
    return tag_p.bind1(x, name=name, index=index, tree=tree), t


def _tag_transpose(ct, x, *, name, index, tree):
    return [ct]


def _tag_batch(axis_size, values, dims, *, name, index, tree):
    (x,), (d,) = values, dims
    return tag_p.bind1(x, name=name, index=index, tree=tree), d


jvp_rules.define(tag_p, _tag_jvp)
transpose_rules.define(tag_p, _tag_transpose)
batch_rules.define(tag_p, _tag_batch)


def tag(x, name: str):
    """`x` (an array or a pytree of arrays) unchanged, marked so that
    `fgrad.grad_with_tags` reports the gradient with respect to it under `name`.

    Args:
      x (Any): a floating-point or complex array, or a pytree of them.
      name: the name `grad_with_tags` reports the gradient under.

    Returns:
      (Any): `x`'s values with `x`'s structure, each leaf marked.

    Raises:
      TypeError: `name` is not a string, or a leaf of `x` is not an array of a
        floating-point or complex dtype.
    """
    if not isinstance(name, str):
        raise TypeError(at_user_line(f"tag's name must be a string, got {name!r:.60}."))
    leaves, tree = tree_flatten(x)
    out = []
    for i, leaf in enumerate(leaves):
        try:
            aval = aval_of(leaf)
        except TypeError:
            raise TypeError(at_user_line(
                f"tag({name!r}) marks arrays, but it was given a {type(leaf).__name__} "
                f"({leaf!r:.60}). Pass an array or a pytree of arrays.")) from None
        if not dt.is_inexact(aval.dtype):
            raise TypeError(at_user_line(
                f"tag({name!r}) marks values to differentiate with respect to, but it was "
                f"given an array of dtype {aval.dtype.name}, which has no gradient. Tag "
                f"floating-point values."))
        out.append(tag_p.bind1(leaf, name=name, index=i, tree=tree))
    return tree_unflatten(tree, out)


# -- hook: a function of the cotangent, run in the backward pass ---------------------------------


class HookFn:
    """A hook function as a param: hashable by identity, printed by name and line."""

    __slots__ = ("fn", "where")

    def __init__(self, fn):
        self.fn = fn
        self.where = _where(fn)

    def __eq__(self, other):
        return isinstance(other, HookFn) and other.fn is self.fn

    def __hash__(self):
        return hash(id(self.fn))

    def __repr__(self):
        return f"{getattr(self.fn, '__qualname__', type(self.fn).__name__)}@{self.where}"


def _where(fn) -> str:
    """The hook function's file:line, for messages."""
    target = inspect.unwrap(fn)
    try:
        filename = inspect.getsourcefile(target) or inspect.getfile(target)
        line = inspect.getsourcelines(target)[1]
        return f"{filename}:{line}"
    except (TypeError, OSError):
        try:
            return f"{inspect.getfile(type(target))} ({type(target).__name__})"
        except TypeError:
            return repr(fn)


def _same(x, *, fn, **_):
    return x


hook_p = Primitive("hook", _same, _same)
hook_ct_p = Primitive("hook_ct", _same, _same)


def _hook_jvp(primals, tangents, *, fn):
    (x,), (t,) = primals, tangents
    y = hook_p.bind1(x, fn=fn)
    if type(t) is Zero:
        return y, t
    return y, hook_ct_p.bind1(t, fn=fn)


def _hook_batch(axis_size, values, dims, *, fn):
    return hook_p.bind1(values[0], fn=fn), dims[0]


jvp_rules.define(hook_p, _hook_jvp)
transpose_rules.absent(hook_p, "its JVP emits hook_ct, which reverse mode transposes")
batch_rules.define(hook_p, _hook_batch)


def _hook_ct_jvp(primals, tangents, *, fn):
    # Forward mode over a tangent program: the hook acts on cotangents only.
    (x,), (t,) = primals, tangents
    return hook_ct_p.bind1(x, fn=fn), t


def _hook_ct_transpose(ct, t, *, fn):
    shape = aval_of(ct).shape
    if shape == ():
        # A scalar cotangent travels as an array of one element: the simplifier folds
        # scalar equations of literal operands at trace time, which would run the hook once
        # when the program is built instead of at every run (a cotangent of 1 is a literal).
        out = hook_apply_p.bind1(reshape(ct, (1,)), fn=fn, n_batch=0, shape=())
        return [reshape(out, ())]
    return [hook_apply_p.bind1(ct, fn=fn, n_batch=0, shape=shape)]


def _hook_ct_batch(axis_size, values, dims, *, fn):
    return hook_ct_p.bind1(values[0], fn=fn), dims[0]


jvp_rules.define(hook_ct_p, _hook_ct_jvp)
transpose_rules.define(hook_ct_p, _hook_ct_transpose)
batch_rules.define(hook_ct_p, _hook_ct_batch)


def _checked_result(fn: HookFn, ct: np.ndarray, result) -> np.ndarray:
    if result is None:
        return ct
    shape, dtype = ct.shape, ct.dtype
    if isinstance(result, (int, float)) and not isinstance(result, bool) and shape == ():
        return np.asarray(result, dtype)  # a Python number for a scalar cotangent
    got = np.asarray(result) if isinstance(result, (np.ndarray, np.generic, jax.Array)) else None
    if got is None or got.shape != shape or got.dtype != dtype:
        what = (f"a {type(result).__name__}" if got is None
                else f"{got.dtype.name}{list(got.shape)}")
        raise HookError(
            f"The backward hook {fn} must return None or a cotangent of the hooked value's "
            f"type {np.dtype(dtype).name}{list(shape)}, but it returned {what}. Return None "
            f"to leave the cotangent as it is.")
    return got


def _host_hook(fn: HookFn, n_batch: int, shape: tuple, ct):
    """Runs on the host: fn on each example's cotangent (the leading n_batch axes looped),
    reshaped to `shape` (a scalar travels as an array of one element, see below)."""
    ct = np.asarray(ct)
    out = np.empty_like(ct)
    for idx in np.ndindex(*ct.shape[:n_batch]):
        example = ct[idx].reshape(shape)
        out[idx] = _checked_result(fn, example, fn.fn(example)).reshape(ct[idx].shape)
    return out


def _hook_apply_abstract_eval(ct, *, fn, n_batch, shape):
    return ct


def _hook_apply_lower(ct, *, fn, n_batch, shape):
    aval = aval_of(ct)
    out = io_callback(lambda c: _host_hook(fn, n_batch, shape, c),
                      jax.ShapeDtypeStruct(aval.shape, aval.dtype), ct, ordered=False)
    return dt.convert_weak(out, aval.dtype, aval.weak_type)


# Effectful: never dropped by dead-code elimination nor merged by common-subexpression
# elimination (two hooks are two calls).
hook_apply_p = Primitive("hook_apply", _hook_apply_abstract_eval, _hook_apply_lower,
                         effectful=True)


def _hook_apply_jvp(primals, tangents, *, fn, n_batch, shape):
    # Straight through: the hook's replacement is differentiated as the identity (see the
    # module's docstring).
    (ct,), (t,) = primals, tangents
    return hook_apply_p.bind1(ct, fn=fn, n_batch=n_batch, shape=shape), t


def _hook_apply_transpose(ct, t, *, fn, n_batch, shape):
    return [ct]  # consistent with the straight-through JVP


def _hook_apply_batch(axis_size, values, dims, *, fn, n_batch, shape):
    (ct,), (d,) = values, dims
    # The batch axis goes just before the example's axes: fn is called once per example.
    ct = move_axis(ct, d, n_batch)
    return hook_apply_p.bind1(ct, fn=fn, n_batch=n_batch + 1, shape=shape), n_batch


jvp_rules.define(hook_apply_p, _hook_apply_jvp)
transpose_rules.define(hook_apply_p, _hook_apply_transpose)
batch_rules.define(hook_apply_p, _hook_apply_batch)


def hook(x, fn):
    """`x` (an array or a pytree of arrays) unchanged; in reverse mode `fn` is called with
    the cotangent reaching each array (a NumPy array of its shape) and may return a
    replacement of the same shape and dtype, or None to leave it.

    Args:
      x (Any): an array or a pytree of arrays; only its floating-point and complex leaves
        are hooked, the others pass through.
      fn (Callable): the function of the cotangent, called in the backward pass.

    Returns:
      (Any): `x`'s values with `x`'s structure.

    Raises:
      TypeError: `fn` is not callable, or a leaf of `x` is not an array.
    """
    if not callable(fn):
        raise TypeError(at_user_line(
            f"hook needs a function of the cotangent, got a {type(fn).__name__} "
            f"({fn!r:.60})."))
    leaves, tree = tree_flatten(x)
    wrapped = HookFn(fn)
    out = []
    for leaf in leaves:
        try:
            aval = aval_of(leaf)
        except TypeError:
            raise TypeError(at_user_line(
                f"hook marks arrays, but it was given a {type(leaf).__name__} "
                f"({leaf!r:.60}). Pass an array or a pytree of arrays.")) from None
        out.append(hook_p.bind1(leaf, fn=wrapped) if dt.is_inexact(aval.dtype) else leaf)
    return tree_unflatten(tree, out)
