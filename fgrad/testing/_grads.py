"""check_grads: fgrad's derivatives of a function against central finite differences.

How a check works, for a function f with floating-point inputs x and outputs y, in a random
direction v (a tangent for x) and a random cotangent u (for y):

- forward mode: the JVP J·v against (f(x + eps·v) - f(x - eps·v)) / 2eps, element by element;
- reverse mode: <Jᵀ·u, v> against <u, the same finite difference>, one number per direction.
  So each direction costs two evaluations of f, whatever the size of x (checking Jᵀ·u element
  by element would cost two per element of x).

With order=2 the first derivative becomes the function checked: the VJP x ↦ Jᵀ(x)·u for a
fixed random u (or, with forward mode alone, the JVP x ↦ J(x)·v), whose JVP is the
forward-over-reverse Hessian-vector product and whose VJP the reverse-over-reverse one; the
finite differences are of that first derivative. Higher orders repeat the step.

Directions have random signs and magnitudes between 0.5 and 1.5 (random phases, for complex
dtypes): no component is near zero, so a wrong element of a derivative shows in every
direction instead of hiding behind a small component.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import numpy as np

from fgrad.api import jvp, vjp, vmap
from fgrad.core import aval_of
from fgrad.core import dtypes as dt
from fgrad.testing import _tolerances as tols

_MODES = ("fwd", "rev")
_NAMES = {"fwd": "forward", "rev": "reverse"}
_TRANSFORMS = {"fwd": "JVP", "rev": "VJP"}
# Tags that keep the random streams of one check apart, so the draws of a direction depend only
# on the seed, the order and the direction's index.
_DIRECTION, _INNER, _BATCH = range(3)
_BATCH_SIZE = 3
_ELEMENTS_TO_LOCATE = 64  # a failing VJP is pinned to an element of leaves up to this size


def check_grads(fun: Callable, args: Sequence[Any], order: int = 1,
                modes: Sequence[str] = ("fwd", "rev"), atol: float | None = None,
                rtol: float | None = None, eps: float | None = None, directions: int = 2,
                jacobian: bool = False, batched: bool = False, seed: int = 0) -> None:
    """Checks fgrad's derivatives of `fun` at `args` against central finite differences.

    Args:
      fun: a function of the arguments `args`, returning a pytree.
      args: a tuple (or list) of the positional arguments, each a pytree. Its floating-point
        and complex leaves are differentiated; all other leaves (integer and boolean arrays,
        strings, other Python objects) are passed through unchanged and not checked. Outputs
        that are not floating-point or complex are skipped likewise.
      order: the highest order of derivative checked; every order up to it is checked.
      modes: "fwd" (JVPs), "rev" (VJPs) or both. With order >= 2, each mode is checked on the
        derivative of the order below, taken in reverse mode if "rev" is in `modes` (forward
        mode otherwise): both modes give forward-over-reverse and reverse-over-reverse.
      atol: the absolute tolerance of the comparison |analytic - numeric| <= atol +
        rtol·|numeric|; by default from the least precise floating-point dtype of the inputs
        and outputs (float64 1e-5, float32 2e-2, float16 1e-1, bfloat16 2e-1).
      rtol: the relative tolerance of that comparison, by default as `atol`.
      eps: the finite-difference step (float64 1e-5, float32 3e-3, float16 and bfloat16 1e-1).
      directions: how many random directions (and cotangents) each check uses.
      jacobian: check the whole Jacobian, one input element (column) and one output element
        (row) at a time, instead of random directions: two evaluations of the function per
        input element, so for small inputs.
      batched: also check `fgrad.vmap` of the function, its JVP and its VJP (at every order)
        against the same computed one example at a time, to rounding: this catches batching
        rules that are wrong only under vmap.
      seed: the seed of the random directions.

    Raises:
      AssertionError: a derivative disagrees. The message names the order, the mode, the
        argument (its pytree path), the direction, and the analytic and numeric values with
        their absolute and relative errors and the tolerances.
    """
    if not isinstance(args, (tuple, list)):
        raise TypeError(f"check_grads takes the arguments as a tuple or list, got "
                        f"{type(args).__name__}; for one argument write check_grads(f, (x,)).")
    modes = tuple(modes)
    if not modes or set(modes) - set(_MODES) or len(set(modes)) != len(modes):
        raise ValueError(f"check_grads: modes must be a non-empty subset of ('fwd', 'rev'), "
                         f"got {modes!r}.")
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
        raise ValueError(f"check_grads: order must be an int of at least 1, got {order!r}.")
    if (isinstance(directions, bool) or not isinstance(directions, (int, np.integer))
            or directions < 1):
        raise ValueError(f"check_grads: directions must be an int of at least 1 (the number "
                         f"of random directions per check), got {directions!r}.")
    problem = _Problem(fun, tuple(args))
    d_eps, d_atol, d_rtol = tols.GRAD[problem.precision]
    checker = _Checker(
        modes=modes, order=int(order), directions=int(directions), jacobian=jacobian,
        batched=batched, seed=seed, eps=d_eps if eps is None else eps,
        atol=d_atol if atol is None else atol, rtol=d_rtol if rtol is None else rtol,
        close=tols.CLOSE[problem.precision], in_names=problem.in_names)
    checker.run(problem, problem.xs, problem.out_names, level=1, chain=())


def _inexact_aval(x):
    """x's abstract value if it is a floating-point or complex array or scalar, else None."""
    try:
        aval = aval_of(x)
    except (TypeError, ValueError):  # a string, an object: a static leaf
        return None
    return aval if dt.is_inexact(aval.dtype) else None


class _Problem:
    """`fun` as a function of the list of its floating-point input leaves, returning the list
    of its floating-point output leaves: the only values derivatives are checked for."""

    def __init__(self, fun, args):
        self.fun = fun
        with_path, self.tree = jax.tree_util.tree_flatten_with_path(args)
        self.leaves = [x for _, x in with_path]
        self.diff = [i for i, x in enumerate(self.leaves) if _inexact_aval(x) is not None]
        if not self.diff:
            raise ValueError(
                "check_grads: no argument has a floating-point or complex leaf, so there is "
                "nothing to differentiate; pass the values to differentiate as float arrays.")
        self.xs = [self.leaves[i] for i in self.diff]
        self.in_names = [f"args{jax.tree_util.keystr(with_path[i][0])}" for i in self.diff]
        out_with_path = jax.tree_util.tree_flatten_with_path(fun(*args))[0]
        self.out_index = [i for i, (_, y) in enumerate(out_with_path)
                          if _inexact_aval(y) is not None]
        if not self.out_index:
            raise ValueError(
                "check_grads: the function returns no floating-point or complex value, so "
                "there is no derivative to check.")
        self.out_names = [f"output{jax.tree_util.keystr(out_with_path[i][0])}"
                          for i in self.out_index]
        self.precision = tols.least_precise(
            [tols.inexact_name(aval_of(x).dtype) for x in self.xs]
            + [tols.inexact_name(aval_of(out_with_path[i][1]).dtype) for i in self.out_index])

    def __call__(self, *xs):
        leaves = list(self.leaves)
        for i, x in zip(self.diff, xs, strict=True):
            leaves[i] = x
        out = jax.tree_util.tree_leaves(self.fun(*jax.tree_util.tree_unflatten(self.tree,
                                                                                leaves)))
        return [out[i] for i in self.out_index]


def _hi(x) -> np.ndarray:
    """x as float64 or complex128 NumPy values, for exact arithmetic on the results."""
    x = np.asarray(x)
    return x.astype(np.complex128 if dt.is_complex(x.dtype) else np.float64)


def _like(value, x):
    """`value` (high precision) in x's dtype; a Python scalar stays one, keeping its weak type
    (a strongly typed value could change the dtype the function computes in)."""
    if dt.is_python_scalar(x):
        return type(x)(value.item() if dt.is_complex(aval_of(x).dtype) else value.real.item())
    return np.asarray(value, aval_of(x).dtype)


def _random(xs, rng):
    """Random values of each x's shape and dtype: random signs (phases, for complex dtypes)
    and magnitudes uniform in [0.5, 1.5]."""
    out = []
    for x in xs:
        aval = aval_of(x)
        magnitude = rng.uniform(0.5, 1.5, aval.shape)
        if dt.is_complex(aval.dtype):
            r = magnitude * np.exp(2j * np.pi * rng.uniform(size=aval.shape))
        else:
            r = magnitude * rng.choice([-1.0, 1.0], size=aval.shape)
        out.append(np.asarray(r, aval.dtype))
    return out


def _shift(xs, v, step):
    return [_like(_hi(x) + step * _hi(t), x) for x, t in zip(xs, v, strict=True)]


def _pair(a, b) -> float:
    """<a, b> = Re Σ a·b over lists of arrays, without conjugation: JAX's (and fgrad's) VJP of a
    complex function is the plain transpose under this pairing."""
    return float(sum(np.sum(_hi(p) * _hi(q)).real for p, q in zip(a, b, strict=True)))


def _tangents(values, xs):
    """High-precision tangent values in the dtypes of the xs, as JVPs take them."""
    return [np.asarray(t, aval_of(x).dtype) for t, x in zip(values, xs, strict=True)]


def _masked(v, k):
    """The direction v restricted to input leaf k (zeros elsewhere)."""
    return [t if i == k else np.zeros_like(t) for i, t in enumerate(v)]


def _fmt(x) -> str:
    x = complex(x)
    return f"{x.real:.6g}" if x.imag == 0 else f"{x.real:.6g}{x.imag:+.6g}j"


class _Checker:
    def __init__(self, *, modes, order, directions, jacobian, batched, seed, eps, atol, rtol,
                 close, in_names):
        self.modes, self.order, self.directions = modes, order, directions
        self.jacobian, self.batched, self.seed = jacobian, batched, seed
        self.eps, self.atol, self.rtol, self.close = eps, atol, rtol, close
        self.in_names = in_names
        self.inner = "rev" if "rev" in modes else "fwd"

    def rng(self, level, tag, index=0):
        return np.random.default_rng([self.seed, level, tag, index])

    # -- the recursion over orders -----------------------------------------------------------

    def run(self, f, xs, out_names, level, chain):
        if self.jacobian:
            self.check_jacobian(f, xs, out_names, level, chain)
        else:
            self.check_directions(f, xs, out_names, level, chain)
        if self.batched:
            self.check_batched(f, xs, out_names, level, chain)
        if level == self.order:
            return
        if self.inner == "rev":
            u = _random(f(*xs), self.rng(level, _INNER))
            derivative = lambda *a: list(vjp(f, *a)[1](u))
            names = [f"the VJP's cotangent for {n}" for n in self.in_names]
        else:
            v = _random(xs, self.rng(level, _INNER))
            derivative = lambda *a: list(jvp(f, tuple(a), v)[1])
            names = [f"the JVP's tangent of {n}" for n in out_names]
        self.run(derivative, xs, names, level + 1, chain + (self.inner,))

    # -- messages ----------------------------------------------------------------------------

    def what(self, mode, level, chain):
        if level == 1:
            return f"order 1, {_NAMES[mode]} mode ({_TRANSFORMS[mode]})"
        modes = (mode, *reversed(chain))
        kind = "Hessian-vector product" if level == 2 else "derivative"
        return (f"order {level}, {'-over-'.join(_NAMES[m] for m in modes)} {kind} (the "
                f"{' of the '.join(_TRANSFORMS[m] for m in modes)})")

    def fail(self, mode, level, chain, lines, a, n, tol):
        origin = ("finite differences" if level == 1 else
                  f"finite differences of the order-{level - 1} derivative")
        err = abs(a - n)
        rel = err / max(abs(n), np.finfo(np.float64).tiny)
        body = "\n".join(f"  {line}" for line in lines)
        raise AssertionError(
            f"check_grads: {self.what(mode, level, chain)} disagrees with {origin}\n{body}\n"
            f"  analytic {_fmt(a)}, numeric {_fmt(n)}: abs error {err:.3g}, rel error "
            f"{rel:.3g}; allowed {tol:.3g} (atol={self.atol:g}, rtol={self.rtol:g}, "
            f"eps={self.eps:g})")

    def direction(self, d):
        return f"direction: random direction {d} of {self.directions} (seed={self.seed})"

    # -- comparisons -------------------------------------------------------------------------

    def numeric(self, f, xs, v):
        """The central finite difference of f along v, as float64/complex128 arrays, with the
        direction it is along. That is not quite v: x ± eps·v rounded to x's dtype moves by up
        to half a unit in the last place more or less, which in bfloat16 is percents of the
        step. So the direction is read off the two points, (x₊ - x₋) / 2eps, exactly."""
        plus, minus = _shift(xs, v, self.eps), _shift(xs, v, -self.eps)
        along = [(_hi(p) - _hi(m)) / (2 * self.eps) for p, m in zip(plus, minus, strict=True)]
        f_plus, f_minus = f(*plus), f(*minus)
        return along, [(_hi(p) - _hi(m)) / (2 * self.eps)
                       for p, m in zip(f_plus, f_minus, strict=True)]

    def jvp_along(self, f, xs, along):
        return jvp(f, tuple(xs), _tangents(along, xs))[1]

    def worst(self, analytic, numeric):
        """The element with the largest error relative to its tolerance: (ratio, leaf, index,
        analytic, numeric, tolerance). A NaN on one side only is infinitely wrong."""
        best = (-1.0, 0, (), 0.0, 0.0, 0.0)
        for k, (a, n) in enumerate(zip(analytic, numeric, strict=True)):
            a, n = _hi(a), _hi(n)
            if a.shape != n.shape:
                raise AssertionError(
                    f"check_grads: a derivative has shape {a.shape} where the function's values "
                    f"have shape {n.shape}: a JVP rule disagrees with its primitive's shape rule.")
            if a.size == 0:
                continue
            tol = self.atol + self.rtol * np.abs(n)
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = np.abs(a - n) / tol
            ratio = np.where(np.isnan(a) == np.isnan(n), np.nan_to_num(ratio, nan=0.0), np.inf)
            i = np.unravel_index(int(np.argmax(ratio)), a.shape)
            if ratio[i] > best[0]:
                best = (float(ratio[i]), k, tuple(int(j) for j in i), a[i], n[i], float(tol[i]))
        return best

    def gap(self, g, u, v, numeric):
        """<Jᵀu, v> against <u, J·v by finite differences>: (error / tolerance, analytic,
        numeric, tolerance). The tolerance is what the elementwise check of J·v allows,
        weighted by |u|: a bound on how far the finite differences' errors can move <u, ·>."""
        analytic, num = _pair(g, v), _pair(u, numeric)
        tol = float(sum(np.sum(np.abs(_hi(w)) * (self.atol + self.rtol * np.abs(n)))
                        for w, n in zip(u, numeric, strict=True)))
        err = abs(analytic - num)
        if np.isnan(analytic) != np.isnan(num):
            ratio = np.inf
        elif np.isnan(err):  # NaN on both sides, as worst() lets pass
            ratio = 0.0
        else:
            ratio = err / tol if tol > 0 else (0.0 if err == 0 else np.inf)
        return ratio, analytic, num, tol

    # -- random directions -------------------------------------------------------------------

    def check_directions(self, f, xs, out_names, level, chain):
        ys, pullback = vjp(f, *xs) if "rev" in self.modes else (None, None)
        for d in range(self.directions):
            rng = self.rng(level, _DIRECTION, d)
            v = _random(xs, rng)
            along, numeric = self.numeric(f, xs, v)
            if "fwd" in self.modes:
                ratio, k, i, a, n, tol = self.worst(self.jvp_along(f, xs, along), numeric)
                if ratio > 1:
                    self.fail("fwd", level, chain, [
                        f"argument: {self.blame_fwd(f, xs, v, k, i)}",
                        f"output: {out_names[k]}, element {i} of J·v", self.direction(d)],
                        a, n, tol)
            if "rev" in self.modes:
                u = _random(ys, rng)
                g = pullback(u)
                ratio, a, n, tol = self.gap(g, u, along, numeric)
                if ratio > 1:
                    self.fail("rev", level, chain, [
                        f"argument: {self.blame_rev(f, xs, g, u, v)}",
                        f"{self.direction(d)} and a random cotangent u; compared <Jᵀu, v> "
                        f"with <u, J·v>"], a, n, tol)

    def blame_fwd(self, f, xs, v, k, i):
        """The argument whose part of v makes element i of the JVP's output k wrong."""
        if len(xs) == 1:
            return self.in_names[0]
        scores = []
        for j in range(len(xs)):
            if np.size(v[j]):
                along, numeric = self.numeric(f, xs, _masked(v, j))
                a, n = _hi(self.jvp_along(f, xs, along)[k])[i], numeric[k][i]
                scores.append((abs(a - n) / (self.atol + self.rtol * abs(n)), j))
        ratio, j = max(scores)
        return self.in_names[j] if ratio > 1 else "all arguments together, none alone"

    def blame_rev(self, f, xs, g, u, v):
        """The argument, and for a small one the element, that the wrong VJP comes from."""
        scores = []
        for j in range(len(xs)):
            if np.size(v[j]):
                scores.append((self.gap(g, u, *self.numeric(f, xs, _masked(v, j)))[0], j))
        ratio, j = max(scores)
        if ratio <= 1:
            return "all arguments together, none alone"
        if np.size(xs[j]) > _ELEMENTS_TO_LOCATE:
            return self.in_names[j]
        best = (-1.0, "")
        for k, index, unit, e in self.basis(xs):
            if k == j:
                along, numeric = self.numeric(f, xs, e)
                ratio, a, n, _ = self.gap(g, u, along, numeric)
                step = (along[k][index] / unit).real  # 1, up to the rounding of x ± eps
                if ratio > best[0]:
                    part = "" if unit == 1.0 else " (imaginary part)"
                    best = (ratio, f"{self.in_names[j]}, element {index}{part}: the VJP gives "
                                   f"{_fmt(a / step)}, finite differences {_fmt(n / step)}")
        return best[1] if best[0] > 1 else self.in_names[j]

    # -- whole Jacobians ---------------------------------------------------------------------

    def basis(self, xs):
        """Unit tangents, one per real degree of freedom: (leaf, index, unit, tangent)."""
        for k, x in enumerate(xs):
            aval = aval_of(x)
            units = (1.0, 1j) if dt.is_complex(aval.dtype) else (1.0,)
            for index in np.ndindex(aval.shape):
                for unit in units:
                    t = [np.zeros(aval_of(y).shape, aval_of(y).dtype) for y in xs]
                    t[k][index] = unit
                    yield k, index, unit, t

    def check_jacobian(self, f, xs, out_names, level, chain):
        columns = []
        for k, index, unit, t in self.basis(xs):
            along, numeric = self.numeric(f, xs, t)
            step = (along[k][index] / unit).real  # 1, up to the rounding of x ± eps
            numeric = [n / step for n in numeric]
            part = "" if unit == 1.0 else " (imaginary part)"
            column = f"{self.in_names[k]} element {index}{part}"
            columns.append((column, t, numeric))
            if "fwd" in self.modes:
                ratio, o, i, a, n, tol = self.worst(jvp(f, tuple(xs), t)[1], numeric)
                if ratio > 1:
                    self.fail("fwd", level, chain, [
                        f"argument: {column}", f"output: {out_names[o]}, element {i}",
                        "direction: the Jacobian's column for that argument element"],
                        a, n, tol)
        if "rev" not in self.modes:
            return
        ys, pullback = vjp(f, *xs)
        for o, index, unit, u in self.basis(ys):
            g = pullback(u)
            part = "" if unit == 1.0 else " (imaginary part)"
            for column, t, numeric in columns:
                a, n = _pair(g, t), _pair(u, numeric)
                tol = self.atol + self.rtol * abs(n)
                if not abs(a - n) <= tol:
                    self.fail("rev", level, chain, [
                        f"argument: {column}", f"output: {out_names[o]}, element {index}{part}",
                        "direction: the Jacobian's row for that output element"], a, n, tol)

    # -- vmap --------------------------------------------------------------------------------

    def check_batched(self, f, xs, out_names, level, chain):
        """vmap of f, of its JVP and of its VJP against the same one example at a time."""
        rng = self.rng(level, _BATCH)
        n = len(xs)
        # Examples near x (within the finite differences' own step), so that they differ
        # (a batching rule that mixes up examples shows) but stay where f is smooth.
        points = [_shift(xs, _random(xs, rng), self.eps) for _ in range(_BATCH_SIZE)]
        ys = f(*xs)
        tangents = [_random(xs, rng) for _ in range(_BATCH_SIZE)]
        cotangents = [_random(ys, rng) for _ in range(_BATCH_SIZE)]
        fwd = lambda *a: list(jvp(f, tuple(a[:n]), list(a[n:]))[1])
        rev = lambda *a: list(vjp(f, *a[:n])[1](list(a[n:])))
        everything, derivatives_only = [0] * (2 * n), [None] * n + [0] * n
        cases = [(None, f, points, [0] * n, out_names, "")]
        if "fwd" in self.modes:
            cases += [
                ("fwd", fwd, [p + t for p, t in zip(points, tangents)], everything, out_names,
                 " (arguments and tangents batched)"),
                ("fwd", fwd, [list(xs) + t for t in tangents], derivatives_only, out_names,
                 " (tangents batched)")]
        if "rev" in self.modes:
            cases += [
                ("rev", rev, [p + c for p, c in zip(points, cotangents)], everything,
                 self.in_names, " (arguments and cotangents batched)"),
                ("rev", rev, [list(xs) + c for c in cotangents], derivatives_only,
                 self.in_names, " (cotangents batched)")]
        for mode, fun, examples, in_axes, names, how in cases:
            stacked = [examples[0][i] if axis is None else
                       dt.convert_weak(np.stack([np.asarray(ex[i]) for ex in examples]),
                                       aval_of(ex0).dtype, aval_of(ex0).weak_type)
                       for i, (axis, ex0) in enumerate(zip(in_axes, examples[0]))]
            got = vmap(fun, in_axes=tuple(in_axes))(*stacked)
            for b, example in enumerate(examples):
                want = fun(*example)
                for k, (g_k, w_k) in enumerate(zip(got, want, strict=True)):
                    g_b, w_b = _hi(g_k)[b], _hi(w_k)
                    err, tol = np.abs(g_b - w_b), self.close * (1 + np.abs(w_b))
                    bad = ~((err <= tol) | (np.isnan(g_b) & np.isnan(w_b)))
                    if not np.any(bad):
                        continue
                    i = np.unravel_index(int(np.argmax(bad)), w_b.shape)
                    what = (self.what(mode, level, chain) if mode else "the function"
                            if level == 1 else f"the order-{level - 1} derivative")
                    raise AssertionError(
                        f"check_grads: {what} under fgrad.vmap{how} disagrees with the same "
                        f"computed one example at a time, at example {b}, {names[k]} element "
                        f"{tuple(int(j) for j in i)}: vmapped {_fmt(g_b[i])}, one at a time "
                        f"{_fmt(w_b[i])}, abs error {float(err[i]):.3g}; allowed "
                        f"{float(tol[i]):.3g} (rounding only: {self.close:g}·(1 + |value|))")
