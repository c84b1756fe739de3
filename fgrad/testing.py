"""Checking derivatives against finite differences, for fgrad's tests and for users' own.

    from fgrad.testing import check_grads
    check_grads(my_loss, (params, batch), order=2)

`check_grads` compares fgrad's forward mode (JVPs) and reverse mode (VJPs) with central
finite differences, and with `order=2` does the same for the derivatives themselves
(forward-over-forward, reverse-over-reverse). Run it in float64
(`jax.config.update("jax_enable_x64", True)`) for tight tolerances. A mismatch raises
AssertionError naming the argument path, the element, both values and the relative error.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import numpy as np

from fgrad.api import jvp, vjp
from fgrad.core import aval_of
from fgrad.core import dtypes as dt

_DEFAULTS = {  # (eps, atol, rtol) by the precision of the arguments
    np.dtype("float64"): (1e-5, 1e-5, 1e-5),
    np.dtype("float32"): (3e-3, 2e-2, 2e-2),
    np.dtype("float16"): (1e-1, 1e-1, 1e-1),
}
_MAX_ELEMENTS = 200  # per argument leaf; larger leaves are checked on a random sample


def check_grads(fun: Callable, args: Sequence[Any], order: int = 1,
                modes: Sequence[str] = ("fwd", "rev"), atol: float | None = None,
                rtol: float | None = None, eps: float | None = None) -> None:
    """Checks fgrad's derivatives of `fun` at `args` (a tuple of pytrees) up to `order`."""
    args = tuple(args)
    bad = set(modes) - {"fwd", "rev"}
    if bad or not modes:
        raise ValueError(f"modes must be a subset of ('fwd', 'rev'), got {modes!r}")
    if order < 1:
        raise ValueError(f"order must be at least 1, got {order}")
    d_eps, d_atol, d_rtol = _DEFAULTS.get(_precision(args), _DEFAULTS[np.dtype("float32")])
    tol = (d_eps if eps is None else eps, d_atol if atol is None else atol,
           d_rtol if rtol is None else rtol)
    rng = np.random.default_rng(0)
    _check(fun, args, order, tuple(modes), tol, rng, "")


def _check(fun, args, order, modes, tol, rng, what):
    if "fwd" in modes:
        _check_jvp(fun, args, tol, rng, what)
        if order > 1:
            v = _random_like(args, rng)
            _check(lambda *a: jvp(fun, a, v)[1], args, order - 1, modes, tol, rng,
                   f"{what}the JVP of ")
    if "rev" in modes:
        _check_vjp(fun, args, tol, rng, what)
        if order > 1:
            out = fun(*args)
            u = _random_like(out, rng)
            _check(lambda *a: vjp(fun, *a)[1](u), args, order - 1, modes, tol, rng,
                   f"{what}the VJP of ")


def _check_jvp(fun, args, tol, rng, what):
    eps, atol, rtol = tol
    v = _random_like(args, rng)
    _, analytic = jvp(fun, args, v)
    numeric = _tree_scale(_tree_sub(fun(*_shift(args, v, eps)), fun(*_shift(args, v, -eps))),
                          0.5 / eps)
    for path, a, n in _paired_leaves(analytic, numeric):
        if np.asarray(a).dtype == dt.float0:  # integer outputs have no derivative to check
            continue
        _compare(a, n, atol, rtol, f"{what}forward mode (a JVP in a random direction)",
                 f"output{path}")


def _check_vjp(fun, args, tol, rng, what):
    eps, atol, rtol = tol
    out = fun(*args)
    u = _random_like(out, rng)
    (analytic,) = [vjp(fun, *args)[1](u)]

    def inner(*a):  # <u, fun(a)>: its gradient is the VJP
        # No conjugation: JAX's (and fgrad's) VJP of a complex function is the plain
        # transpose, so the matching scalar is the real part of sum(u * y).
        return sum(float(np.sum(np.asarray(x) * np.asarray(y)).real)
                   for x, y in zip(jax.tree_util.tree_leaves(u),
                                   jax.tree_util.tree_leaves(fun(*a)))
                   if np.asarray(x).dtype != dt.float0)

    flat_args, tree = jax.tree_util.tree_flatten(args)
    flat_analytic = jax.tree_util.tree_leaves(analytic)
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(args)[0]]
    for k, (x, g) in enumerate(zip(flat_args, flat_analytic)):
        if not dt.is_inexact(aval_of(x).dtype):
            continue
        x = np.asarray(x)
        g = np.asarray(g)
        indices = list(np.ndindex(x.shape))
        if len(indices) > _MAX_ELEMENTS:
            picks = rng.choice(len(indices), _MAX_ELEMENTS, replace=False)
            indices = [indices[i] for i in sorted(picks)]
        for index in indices:
            def at(delta, index=index):
                shifted = x.copy()
                shifted[index] += delta
                leaves = list(flat_args)
                leaves[k] = shifted
                return inner(*jax.tree_util.tree_unflatten(tree, leaves))
            numeric = (at(eps) - at(-eps)) / (2 * eps)
            _compare_scalar(np.real(g[index]), numeric, atol, rtol,
                            f"{what}reverse mode (a VJP with a random cotangent)",
                            f"args{paths[k]}", index)


def _compare(a, n, atol, rtol, mode, path):
    a, n = np.asarray(a, dtype=np.result_type(np.asarray(a), np.float64)), np.asarray(n)
    err = np.abs(a - n)
    bad = err > atol + rtol * np.abs(n)
    if np.any(bad) or np.any(np.isnan(a) != np.isnan(n)):
        index = np.unravel_index(int(np.argmax(np.where(np.isnan(err), np.inf, err))),
                                 a.shape) if a.shape else ()
        _compare_scalar(a[index], n[index], atol, rtol, mode, path, index, force=True)


def _compare_scalar(a, n, atol, rtol, mode, path, index, force=False):
    err = abs(a - n)
    if force or not err <= atol + rtol * abs(n):
        rel = err / max(abs(n), np.finfo(np.float64).tiny)
        raise AssertionError(
            f"check_grads: {mode} disagrees with finite differences at {path}, element "
            f"{tuple(int(i) for i in index)}: analytic {a!r}, numeric {n!r}, relative error "
            f"{rel:.3g} (atol={atol}, rtol={rtol})")


def _precision(tree) -> np.dtype:
    dtypes = [np.dtype(dt.real_dtype(aval_of(x).dtype))
              for x in jax.tree_util.tree_leaves(tree) if dt.is_inexact(aval_of(x).dtype)]
    return min(dtypes, key=lambda d: d.itemsize) if dtypes else np.dtype("float32")


def _random_like(tree, rng):
    def leaf(x):
        aval = aval_of(x)
        if not dt.is_inexact(aval.dtype):
            return np.zeros(aval.shape, dt.float0)
        r = rng.standard_normal(aval.shape)
        if dt.is_complex(aval.dtype):
            r = r + 1j * rng.standard_normal(aval.shape)
        return np.asarray(r, aval.dtype)
    return jax.tree_util.tree_map(leaf, tree)


def _shift(args, v, eps):
    def leaf(x, t):
        if not dt.is_inexact(aval_of(x).dtype):
            return x
        return np.asarray(np.asarray(x) + eps * np.asarray(t), aval_of(x).dtype)
    return jax.tree_util.tree_map(leaf, args, v)


def _tree_sub(a, b):
    def sub(x, y):
        x, y = np.asarray(x), np.asarray(y)
        return x if x.dtype == dt.float0 else x - y
    return jax.tree_util.tree_map(sub, a, b)


def _tree_scale(a, s):
    return jax.tree_util.tree_map(lambda x: x if x.dtype == dt.float0 else x * s, a)



def _paired_leaves(a, b):
    paths = jax.tree_util.tree_flatten_with_path(a)[0]
    for (path, x), y in zip(paths, jax.tree_util.tree_leaves(b), strict=True):
        yield jax.tree_util.keystr(path), x, y
