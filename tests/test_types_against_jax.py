"""Random programs, every transform: fgrad's results (values, shapes, dtypes AND weak types)
are JAX's.

Weak types decide the dtype of every later operation (`float32_array * weak` stays float32,
`float32_array * strong_float64` does not), so a transform that returns a strongly typed
value where JAX returns a weak one changes the dtypes of the user's code downstream. This
file draws small well-typed programs from a catalogue of operations written once and run
twice, with `fgrad.numpy` / `fgrad.lax` and with `jax.numpy` / `jax.lax`
(tests/fuzz_programs.py): elementwise operations with broadcasting and Python scalars,
reductions, matmul, dot and einsum with random subscripts, reshapes and transposes,
indexing and `.at[]` updates, `where` (on a comparison of two operands, or a constant
mask), sorting (sort, argsort-based takes, argmax along an axis, top_k; ties avoided by
construction), cumsum and cumprod, linear algebra on well-conditioned batched matrices
(solve, inv, det, slogdet, cholesky, matrix-vector products), control flow (cond on data,
scan with a carry, fori_loop, while_loop with and without max_steps), custom_jvp and
custom_vjp rules, tags and backward hooks, and int inputs as indices and multipliers. Inputs
are of every kind (Python scalars, NumPy scalars and arrays, strongly and weakly typed JAX
arrays; rank 0 to 3 with sizes 0 to 3; float32, float64 with x64 on, complex64 and
complex128). Each program is compared on a random subset of

    value, fgrad.jit, jvp, vjp (outputs and cotangents), grad, value_and_grad, linearize,
    jacfwd, jacrev, hessian, vmap(grad), grad(vmap), jax.jit(fgrad.grad),
    jax.jit(fgrad.vjp), and the nested fgrad.jit(jvp(grad)), jacfwd(jacrev),
    vmap(hessian) and fgrad.jit(vmap(jvp));

complex programs on the ones JAX defines for non-holomorphic functions (fuzz_programs.
COMPLEX_CHECKS), differentiating a real function of the outputs (sum |o|^2 + Re o).

JAX's side is computed eagerly (the reference: its types follow the lax rules), through
jax.jit first for speed (see `check` in `_run_checks` for the one place the two differ).
Where JAX's result type is not defined by its rules, only shapes and dtypes are compared,
each case explained where it is decided: tangents or cotangents whose weak type differs from
their primal's, and derivatives of programs containing lax.pow. Where JAX has no counterpart
of an fgrad feature (fgrad's while_loop with max_steps, forward mode through custom_vjp, a
backward hook) its side is the equivalent program, explained in tests/fuzz_programs.py.
Mismatches diagnosed in fgrad and awaiting fixes would be listed in KNOWN; the ones found
and fixed keep a regression test each at the end of the file.

Profiles (FGRAD_FUZZ_PROFILE):

    python -m pytest tests/test_types_against_jax.py -p no:cacheprovider -q
        The default, CI's: 30 programs, 5 transforms each besides the value, derandomized
        (the same programs every run), about 50 s of CPU.
    FGRAD_FUZZ_PROFILE=long FGRAD_FUZZ_SEED=1 nice -n 10 python -m pytest \\
            tests/test_types_against_jax.py -k test_types_and_values -p no:cacheprovider -x -q
        12,000 programs, 4 transforms each, seeded by FGRAD_FUZZ_SEED (another seed,
        other programs), XLA's optimizations off while comparing (compiling is most of a
        tiny program's time; results are compared with a tolerance): about 50 programs a
        minute at nice 10 on a shared two-core machine, so about four hours; it prints
        its progress every 100 programs (-s shows it).

FGRAD_FUZZ_EXAMPLES=<n> and FGRAD_FUZZ_CHECKS=<n>|all override a profile's number of
programs and of transforms per program.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fuzz_programs import (FG, FORWARD_CHECKS, JX, JX_FORWARD, REVERSE_CHECKS, Case, Const, Mask,
                           Step, cases, like, numbers, weak_array)
from hypothesis import HealthCheck, Phase, given, seed, settings

import fgrad
import fgrad.numpy as fnp
from fgrad.core import aval_of

# -- how much to run (environment variables) --------------------------------------------------

PROFILES = {
    # CI's: derandomized, so every run draws the same programs.
    "default": {"examples": 30, "checks": 5, "derandomize": True, "quick_compile": False},
    # Exploration: random programs (seeded by FGRAD_FUZZ_SEED), XLA's optimizations off.
    # Not in CI's profile: JAX's compilation caches do not key on that flag, and other test
    # files compare results exactly (see the quick_compile fixture in tests/conftest.py).
    "long": {"examples": 12_000, "checks": 4, "derandomize": False, "quick_compile": True},
}
PROFILE_NAME = os.environ.get("FGRAD_FUZZ_PROFILE", "default")
PROFILE = PROFILES[PROFILE_NAME]
EXAMPLES = int(os.environ.get("FGRAD_FUZZ_EXAMPLES", PROFILE["examples"]))
_checks = os.environ.get("FGRAD_FUZZ_CHECKS", str(PROFILE["checks"]))
CHECKS_PER_CASE = 10**6 if _checks == "all" else int(_checks)
SEED = os.environ.get("FGRAD_FUZZ_SEED")

for _name, _p in PROFILES.items():
    # The long profile reports a failing program as drawn, unshrunk: each shrinking step
    # reruns the program's checks, which could take the rest of the run.
    settings.register_profile(
        f"fgrad-fuzz-{_name}", deadline=None, database=None, print_blob=True,
        derandomize=_p["derandomize"] and SEED is None,
        phases=[Phase.explicit, Phase.reuse, Phase.generate] + (
            [] if _name == "long" else [Phase.shrink]),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.filter_too_much])


# -- comparing -------------------------------------------------------------------------------


def type_of(x) -> tuple:
    a = aval_of(x)
    return tuple(a.shape), np.dtype(a.dtype).name, bool(a.weak_type)


class Mismatch(NamedTuple):
    check: str      # which transform
    path: str       # which leaf of its result
    what: str       # "type", "value", "structure", "class" or "error"
    fgrad: Any
    jax: Any

    def __str__(self):
        return f"{self.check}{self.path}: {self.what}: fgrad {self.fgrad} vs jax {self.jax}"


def _is_float0(x) -> bool:
    return getattr(x, "dtype", None) == jax.dtypes.float0


def compare(check: str, got, want, mismatches: list, weak: bool = True,
            rtol: float = 1e-4) -> None:
    """Records every leaf of `got` whose type or value differs from `want`'s (not looking
    at weak types if `weak` is False)."""
    got_leaves, got_tree = jax.tree_util.tree_flatten_with_path(got)
    want_leaves, want_tree = jax.tree_util.tree_flatten_with_path(want)
    if (jax.tree_util.tree_structure(got) != jax.tree_util.tree_structure(want)):
        mismatches.append(Mismatch(check, "", "structure", got_tree, want_tree))
        return
    for (path, g), (_, w) in zip(got_leaves, want_leaves):
        name = jax.tree_util.keystr(path)
        if _is_float0(w):
            # The cotangent of an int input: JAX's is a NumPy-like array of float0 (a
            # jax.Array cannot hold float0), and so is fgrad's.
            if not _is_float0(g) or np.shape(g) != np.shape(w):
                mismatches.append(Mismatch(check, name, "type", type_of(g), "float0"))
            continue
        if not isinstance(g, jax.Array):  # fgrad hands arrays back, never bare scalars
            mismatches.append(Mismatch(check, name, "class", type(g).__name__, "Array"))
        gt, wt = type_of(g), type_of(w)
        if gt != wt and (weak or gt[:2] != wt[:2]):
            mismatches.append(Mismatch(check, name, "type", gt, wt))
        if not values_close(g, w, rtol):
            mismatches.append(Mismatch(check, name, "value", np.asarray(g), np.asarray(w)))


def values_close(got, want, rtol: float) -> bool:
    """NaN-aware closeness, relative to the scale of the whole array (so an entry that
    cancels to ~0 in one library and exactly 0 in the other is not a difference)."""
    dtype = np.complex128 if np.iscomplexobj(want) else np.float64
    g = np.asarray(got, dtype)
    w = np.asarray(want, dtype)
    if g.shape != w.shape:
        return False
    if np.asarray(want).dtype not in (np.float64, np.complex128):
        rtol = max(rtol, 1e-4)
    finite = np.isfinite(w)
    scale = max(1.0, float(np.max(np.abs(w[finite]), initial=0.0)))
    return bool(np.allclose(g, w, rtol=rtol, atol=rtol * scale, equal_nan=True))


def sum_all(m, out):
    """A real scalar from the (tuple of) outputs, for grad: the sum of every output's sum
    (of |o|^2 + Re o for a complex output: a real, non-holomorphic function)."""
    total = None
    for o in (out if isinstance(out, tuple) else (out,)):
        if np.iscomplexobj(o):
            o = m.np.add(m.np.real(m.np.multiply(o, m.np.conj(o))), m.np.real(o))
        total = m.np.sum(o) if total is None else m.np.add(total, m.np.sum(o))
    return total


@contextlib.contextmanager
def _quick_compile(on: bool):
    previous = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", on or previous)
    try:
        yield
    finally:
        jax.config.update("jax_disable_most_optimizations", previous)


def run_checks(case: Case, only=None) -> list[Mismatch]:
    """The case's transforms of its program (`only`, a set of names from CHECKS, instead if
    given), fgrad against JAX."""
    mismatches: list[Mismatch] = []
    with jax.enable_x64(case.x64), _quick_compile(PROFILE["quick_compile"]):
        _run_checks(case, mismatches, only)
    return mismatches


def _tangent(x, kind, seed_):
    dtype = aval_of(x).dtype
    if not jnp.issubdtype(dtype, jnp.inexact):  # an int input's tangent
        return np.zeros(np.shape(x), jax.dtypes.float0)
    values = numbers(np.shape(x), seed_, dtype)
    if kind == "same":
        return like(x, values) if not isinstance(x, np.generic) else dtype.type(values)
    if kind == "weak" and dtype in (default_float(), default_complex()):
        return weak_array(values)
    return jnp.asarray(values, dtype)


def default_float() -> np.dtype:
    return np.dtype(np.float64 if jax.config.jax_enable_x64 else np.float32)


def default_complex() -> np.dtype:
    return np.dtype(np.complex128 if jax.config.jax_enable_x64 else np.complex64)


def _cotangent(out, kind, seed_):
    def one(o, k):
        a = aval_of(o)
        values = numbers(a.shape, seed_ + k, a.dtype)
        if kind == "weak" and a.dtype in (default_float(), default_complex()):
            return weak_array(values)
        if kind == "np":
            return np.asarray(values, a.dtype)
        return jnp.asarray(values, a.dtype)
    if isinstance(out, tuple):
        return tuple(one(o, k) for k, o in enumerate(out))
    return one(out, 0)


def _run_checks(case: Case, mismatches: list, only) -> None:
    f_fg, f_jx, f_jxf = case.fn(FG), case.fn(JX), case.fn(JX_FORWARD)
    xs = tuple(case.make_inputs())
    n = len(xs)
    selected = set(case.checks if only is None else only)
    if only is None:
        selected.add("value")

    def g_fg(*a):
        return sum_all(FG, f_fg(*a))

    def g_jx(*a):
        return sum_all(JX, f_jx(*a))

    tangents = tuple(_tangent(x, k, 100 + i)
                     for i, (x, k) in enumerate(zip(xs, case.tangent_kinds)))

    # When every tangent (cotangent) has its primal's (output's) weak type, every value of
    # JAX's linear and transposed programs has a type fixed by the primal computation, which
    # the lax rules define, and fgrad must agree. A tangent of another weak type has no
    # defined result type in JAX: it leaks through JAX's internal program structure. For
    # tangents, lax.neg(x) passes the tangent's weak type on but jnp.negative(x) (a jitted
    # function, whose JVP is traced with tangents typed like the primals) gives the primal's;
    # for cotangents, jax.vjp(lambda x: x / 1.0, x) turns a weak cotangent of a strong x
    # strong but jax.vjp(lambda x: x, x) keeps it weak (and jnp.mean of a 0-d array divides
    # by 1 where fgrad's simplifier drops the division). With such (co)tangents only shapes
    # and dtypes are compared.
    tangents_typed = all(aval_of(t).weak_type == aval_of(x).weak_type
                         for t, x in zip(tangents, xs) if not _is_float0(t))
    # JAX's pow JVP converts its tangent to a strong type even when the result is weak (the
    # rules `_pow_jvp_lhs` / `_pow_jvp_rhs` call lax.convert_element_type); the next
    # jax.numpy function, being jitted, re-types that tangent like its primal (weak), while
    # a lax function downstream would keep it strong: after a floating-point power the weak
    # types of derivatives depend on JAX's jit boundaries, which fgrad has no counterpart of.
    # fgrad converts where JAX's pow rule does; derivatives of programs with a lax.pow are
    # compared without weak types. (jvp(lambda x: jnp.sin(2.0 ** x), (w,), (w,)) for a weak
    # w: JAX's tangent is weak, fgrad's strong; jvp(lambda x: 2.0 ** x, ...) both strong.)
    # A gather's transpose scatters into strongly typed zeros, in JAX (jax.make_jaxpr of
    # jax.vjp(lambda x: x[i], w)[1] shows the scatter-add into `0.0:f64[]`) and in fgrad, so
    # a gathered weak input gets a strong cotangent (fgrad's zeros followed the cotangent's
    # type until the long profile, seed 4, met take_along_axis(x, argsort(x)) on a weak x).
    # jax.numpy.linalg's functions are jitted, and the transpose of a jitted function types
    # the cotangents it receives like its outputs: a strong cotangent reaching a weak result
    # (after W @ L with a strong W) comes out weak, where the same operations without a jit
    # keep it strong, in JAX and in fgrad, which has no jit boundaries (jax.grad(lambda a:
    # jnp.sum(W @ jnp.linalg.cholesky(a)))(w) is weak for a weak w, jax.grad(lambda a:
    # jnp.sum(W @ jnp.tril(a)))(w) strong; found by the long profile, seed 1). Derivatives
    # through linalg steps are compared without weak types; the weak types of the linalg
    # rules themselves are tested with typed cotangents at the end of this file.
    # jnp.einsum takes a diagonal (a label repeated within one operand, 'abb->') by masking
    # with select and summing, after summing the operand's unique labels; fgrad slices the
    # diagonal out, whose transpose pads with a strong zero as JAX's slice transpose does.
    # The values agree exactly; the cotangent's weak type follows the algorithm (long
    # profile, seed 7), so einsums with a diagonal are compared without weak types.
    diagonal = any(s.op == "einsum" and any(len(set(t)) < len(t) for t in
                                            s.params["spec"].split("->")[0].split(","))
                   for s in case.steps)
    strict = not case.uses_lax_pow() and not diagonal and not any(
        s.op == "linalg" for s in case.steps)
    # The same jit boundaries retype the strong tangent that a rule with a constant
    # coefficient gives a weak *array* (JAX's `_const` is strong for one, weak for a weak
    # scalar: jax.jvp(jnp.square, (w,), (w,)) is strong in both libraries): jnp.where,
    # jnp.clip and jnp.maximum then return a weak tangent, where fgrad's selects keep the
    # lax rule's strong one (long profile, seed 11: jvp of where(w > w, sin(w), square(w))).
    # So with a weak array input, forward-mode tangents are compared without weak types;
    # reverse mode agrees and stays strict.
    forward_typed = tangents_typed and strict and not case.has_weak_array_input()
    # Under vmap a cond whose predicate is batched becomes a select of both branches, and
    # JAX's reverse mode pads the residuals one branch lacks with strongly typed `empty`
    # placeholders (visible in jax.make_jaxpr(jax.vmap(jax.grad(f))), f a cond of
    # a -> a + a and a -> sin(a)): its cotangents then turn strong or stay weak depending on
    # which branch saved what, not on the lax rules. fgrad's follow the rules (weak in, weak
    # out); batched reverse mode through a cond is compared without weak types.
    batched_reverse = strict and not any(s.op == "cond" for s in case.steps)
    rtol = case.rtol()
    reverse_ok = case.reverse_differentiable()
    dead_while = case.unbounded_whiles()[1]

    def check(name, fg_thunk, jx_thunk, weak=True, jx_compiled=None):
        """Compares fgrad's result with JAX's eager one. `jx_thunk` computes JAX's result
        eagerly; the check first runs it under jax.jit (one compilation instead of
        op-by-op dispatch: several times faster), and again eagerly only if something
        differs. The two differ in two places: JAX sums the cotangents of a value used twice
        with add_any, whose staged result takes its *first* operand's weak type, while eagerly
        it follows lax.add (weak only if both are); and XLA's simplifier is not IEEE for
        every expression (a one-hot basis divided by zero, 0/0, comes out 0 under jit and
        NaN eagerly: long profile, seed 9). Eager JAX follows the lax rules and IEEE
        arithmetic, and so does fgrad, so eager JAX is the reference; a difference from it
        counts where fgrad's result differs from jitted JAX's too (the same leaf and
        aspect). A compiled check may name JAX's compiled counterpart, `jx_compiled`, run on
        the inputs as arguments (in jax.jit(jx_thunk) they are constants, which XLA folds
        on the host): a difference counts where fgrad differs from that one as well.
        fgrad.jit's complex x / 0 is XLA's NaN at run time, as jitted JAX's, where eager
        JAX and folding give an infinity (long profile, seed 17)."""
        if name not in selected:
            return
        if name in REVERSE_CHECKS and dead_while:
            return  # fgrad drops the dead loop and differentiates, JAX refuses (see Case)
        if name in REVERSE_CHECKS and not reverse_ok:
            # An unbounded while_loop: neither library has a reverse mode for it, and both
            # must say so rather than return something, unless both find nothing to reverse
            # (a zero-size output: long profile, seed 6), when their results are compared.
            results = {}
            for who, thunk in (("fgrad", fg_thunk), ("jax", jx_thunk)):
                try:
                    results[who] = thunk()
                except Exception:  # noqa: BLE001 (JAX's error types are its own)
                    pass
            if len(results) == 2:
                compare(name, results["fgrad"], results["jax"], mismatches, weak, rtol)
            elif results:
                mismatches.append(Mismatch(name, "", "error", f"{next(iter(results))} "
                                           f"differentiated", "an error"))
            return
        got = fg_thunk()
        found: list = []
        compare(name, got, jax.jit(jx_thunk)(), found, weak, rtol)
        if found:
            jitted = {(m.path, m.what) for m in found}
            found = []
            compare(name, got, jx_thunk(), found, weak, rtol)
            found = [m for m in found if (m.path, m.what) in jitted]
        if found and jx_compiled is not None:
            differing = {(m.path, m.what) for m in found}
            compiled: list = []
            compare(name, got, jx_compiled(), compiled, weak, rtol)
            found = [m for m in compiled if (m.path, m.what) in differing]
        mismatches.extend(found)

    want_out = f_jx(*xs)
    ct = _cotangent(want_out, case.cotangent_kind, 200)
    cotangents_typed = all(aval_of(c).weak_type == aval_of(o).weak_type for c, o in zip(
        jax.tree_util.tree_leaves(ct), jax.tree_util.tree_leaves(want_out)))
    argnums = case.argnums
    assert FORWARD_CHECKS == {"jvp", "linearize", "jacfwd", "jit(vmap(jvp))"}
    check("value", lambda: f_fg(*xs), lambda: f_jx(*xs))
    check("jvp", lambda: fgrad.jvp(f_fg, xs, tangents), lambda: jax.jvp(f_jxf, xs, tangents),
          forward_typed)
    check("linearize",
          lambda: (lambda o, lf: (o, lf(*tangents)))(*fgrad.linearize(f_fg, *xs)),
          lambda: (lambda o, lf: (o, lf(*tangents)))(*jax.linearize(f_jxf, *xs)),
          forward_typed)
    check("vjp",
          lambda: (lambda o, pb: (o, pb(ct)))(*fgrad.vjp(f_fg, *xs)),
          lambda: (lambda o, pb: (o, pb(ct)))(*jax.vjp(f_jx, *xs)),
          cotangents_typed and strict)
    check("grad", lambda: fgrad.grad(g_fg, argnums)(*xs),
          lambda: jax.grad(g_jx, argnums)(*xs), strict)
    # The second gradient of one structure runs fgrad's compiled gradient cache.
    check("value_and_grad", lambda: fgrad.value_and_grad(g_fg, argnums)(*xs),
          lambda: jax.value_and_grad(g_jx, argnums)(*xs), strict)
    check("jacfwd", lambda: fgrad.jacfwd(f_fg, argnums)(*xs),
          lambda: jax.jacfwd(f_jxf, argnums)(*xs), strict)
    check("jacrev", lambda: fgrad.jacrev(f_fg, argnums)(*xs),
          lambda: jax.jacrev(f_jx, argnums)(*xs), strict)
    check("hessian", lambda: fgrad.hessian(g_fg, argnums)(*xs),
          lambda: jax.hessian(g_jx, argnums)(*xs), strict)
    check("jacfwd(jacrev)", lambda: fgrad.jacfwd(fgrad.jacrev(f_fg, argnums), argnums)(*xs),
          lambda: jax.jacfwd(jax.jacrev(f_jx, argnums), argnums)(*xs), strict)

    # vmap: a batch of two versions of the first input (never an int), the others shared.
    batch = like(xs[0], np.stack([numbers(np.shape(xs[0]), 300 + k, aval_of(xs[0]).dtype)
                                  for k in range(2)]))
    # A batch of tangents for the batch of first inputs, the other tangents shared.
    t_batch = like(tangents[0], np.stack([numbers(np.shape(xs[0]), 400 + k,
                                                  aval_of(xs[0]).dtype) for k in range(2)]))
    # JAX's side of the batched checks gets its NumPy inputs as JAX arrays of the same type:
    # closed over by the jax.jit that `check` runs it under, a NumPy array is a constant, and
    # JAX's custom_jvp under vmap then fails an internal assertion ("non-canonical constant";
    # long profile, seed 2 under jit(vmap(jvp)), seed 4 under vmap(grad) with a float64
    # NumPy batch and x64 off).
    j_batch, j_t_batch, *j_rest = (jnp.asarray(v) if isinstance(v, np.ndarray) else v
                                   for v in (batch, t_batch, *xs[1:]))
    in_axes = (0,) + (None,) * (n - 1)
    check("vmap(grad)", lambda: fgrad.vmap(fgrad.grad(g_fg), in_axes)(batch, *xs[1:]),
          lambda: jax.vmap(jax.grad(g_jx), in_axes)(j_batch, *j_rest), batched_reverse)
    check("grad(vmap)",
          lambda: fgrad.grad(lambda b, *r: fnp.sum(fgrad.vmap(g_fg, in_axes)(b, *r)))(
              batch, *xs[1:]),
          lambda: jax.grad(lambda b, *r: jnp.sum(jax.vmap(g_jx, in_axes)(b, *r)))(
              j_batch, *j_rest), batched_reverse)
    check("vmap(hessian)", lambda: fgrad.vmap(fgrad.hessian(g_fg), in_axes)(batch, *xs[1:]),
          lambda: jax.vmap(jax.hessian(g_jx), in_axes)(j_batch, *j_rest), batched_reverse)

    def batched_jvp(jvp, f, rest):
        return lambda b, tb: jvp(f, (b, *rest), (tb, *tangents[1:]))
    check("jit(vmap(jvp))",
          lambda: fgrad.jit(fgrad.vmap(batched_jvp(fgrad.jvp, f_fg, xs[1:])))(batch, t_batch),
          lambda: jax.vmap(batched_jvp(jax.jvp, f_jxf, j_rest))(j_batch, j_t_batch),
          forward_typed)

    # Compiled: fgrad.jit, and fgrad's code under jax.jit (its rules run on JAX tracers).
    check("fgrad.jit", lambda: fgrad.jit(f_fg)(*xs), lambda: f_jx(*xs),
          jx_compiled=lambda: jax.jit(f_jx)(*xs))
    check("jax.jit(grad)", lambda: jax.jit(fgrad.grad(g_fg, argnums))(*xs),
          lambda: jax.grad(g_jx, argnums)(*xs), strict)
    check("jax.jit(vjp)",
          lambda: jax.jit(lambda a, c: (lambda o, pb: (o, pb(c)))(*fgrad.vjp(f_fg, *a)))(
              xs, ct),
          lambda: (lambda o, pb: (o, pb(ct)))(*jax.vjp(f_jx, *xs)),
          cotangents_typed and strict)
    # A Hessian-vector product by forward over reverse, jitted. JAX's custom_vjp (and so its
    # counterpart of a hook) cannot take a tangent that its reverse pass does not see: of an
    # input other than the first, which grad differentiates (long profile, seed 15). With
    # such steps the tangent is the first input's only, on both sides.
    def hvp(jvp, grad, g):
        if not {"custom_vjp", "hook"} & {step.op for step in case.steps}:
            return lambda *a: jvp(grad(g), a, tangents)
        return lambda x, *rest: jvp(lambda x: grad(g)(x, *rest), (x,), tangents[:1])
    check("fgrad.jit(jvp(grad))", lambda: fgrad.jit(hvp(fgrad.jvp, fgrad.grad, g_fg))(*xs),
          lambda: hvp(jax.jvp, jax.grad, g_jx)(*xs), forward_typed,
          jx_compiled=lambda: jax.jit(hvp(jax.jvp, jax.grad, g_jx))(*xs))


CHECKS = ("value", "jvp", "linearize", "vjp", "grad", "value_and_grad", "jacfwd", "jacrev",
          "hessian", "jacfwd(jacrev)", "vmap(grad)", "grad(vmap)", "vmap(hessian)",
          "jit(vmap(jvp))", "fgrad.jit", "jax.jit(grad)", "jax.jit(vjp)",
          "fgrad.jit(jvp(grad))")


# -- known differences -----------------------------------------------------------------------
#
# Mismatches diagnosed in fgrad and waiting for their fixes: a predicate per cause on
# (case, mismatch), narrow enough to name one cause, each with an xfail(strict=True)
# regression test.

KNOWN: dict = {}


def unexplained(case: Case, mismatches: list[Mismatch]) -> list[Mismatch]:
    return [m for m in mismatches if not any(pred(case, m) for pred in KNOWN.values())]


# -- the property test -----------------------------------------------------------------------


def _settings(test):
    test = settings(settings.get_profile(f"fgrad-fuzz-{PROFILE_NAME}"),
                    max_examples=EXAMPLES)(test)
    return seed(int(SEED))(test) if SEED is not None else test


_progress = {"programs": 0, "start": time.monotonic()}


@_settings
@given(cases(CHECKS, CHECKS_PER_CASE))
def test_types_and_values_match_jax(case):
    bad = unexplained(case, run_checks(case))
    _progress["programs"] += 1
    if PROFILE_NAME == "long" and _progress["programs"] % 100 == 0:
        # Throughput for a long run's log (pytest -s shows it).
        minutes = (time.monotonic() - _progress["start"]) / 60
        print(f"fuzz: {_progress['programs']} programs in {minutes:.1f} min", flush=True)
    assert not bad, f"{case!r}\n" + "\n".join(map(str, bad))


# -- the known mismatches, one regression test each ------------------------------------------
#
# Minimal reproductions of the mismatches the property test found (issue 10), each comparing
# with JAX at run time.


def same_types(got, want):
    got_types = jax.tree_util.tree_map(type_of, got)
    want_types = jax.tree_util.tree_map(type_of, want)
    assert got_types == want_types, (got_types, want_types)


def test_jacobian_blocks_take_jax_types():
    same_types(fgrad.jacrev(lambda x: FG.getitem(x, None))(1.5),
               jax.jacrev(lambda x: jnp.asarray(x)[None])(1.5))
    same_types(fgrad.jacfwd(lambda x: FG.getitem(x, None))(1.5),
               jax.jacfwd(lambda x: jnp.asarray(x)[None])(1.5))
    same_types(fgrad.hessian(lambda x: fnp.true_divide(2.0, x))(1.5),
               jax.hessian(lambda x: 2.0 / x)(1.5))


def test_gather_transpose_scatters_into_strong_zeros():
    x = weak_array(np.ones((3, 3)))
    index = (None, np.array([0, 2]))
    for ct in (jnp.ones((1, 2, 3), jnp.float32), weak_array(np.ones((1, 2, 3)))):
        same_types(fgrad.vjp(lambda x: FG.getitem(x, index), x)[1](ct),
                   jax.vjp(lambda x: x[index], x)[1](ct))
    # Found by the long profile (seed 4): a weak input sorted by its own order, with a weak
    # cotangent, got a weak cotangent back from fgrad and a strong one from JAX.
    x = weak_array(np.array([[0.3, -1.2, 2.0], [1.5, 0.1, -0.4]]))
    ct = weak_array(np.ones((2, 3)))
    same_types(
        fgrad.vjp(lambda x: fnp.take_along_axis(x, fnp.argsort(x, axis=0), axis=0), x)[1](ct),
        jax.vjp(lambda x: jnp.take_along_axis(x, jnp.argsort(x, axis=0), axis=0), x)[1](ct))


def test_rule_coefficients_of_weak_arrays_are_strong():
    x = weak_array([0.5, 2.0])
    for f, jf in [(fnp.sqrt, jnp.sqrt), (fnp.square, jnp.square), (fnp.tan, jnp.tan),
                  (lambda v: fnp.power(v, 3), lambda v: v ** 3)]:
        same_types(fgrad.grad(lambda v: fnp.sum(f(v)))(x),
                   jax.grad(lambda v: jnp.sum(jf(v)))(x))
    same_types(fgrad.hessian(lambda v: fnp.sum(fnp.true_divide(2.0, v)))(x),
               jax.hessian(lambda v: jnp.sum(2.0 / v))(x))


def test_dot_keeps_operand_weak_types():
    w = np.ones((3, 2), np.float32)
    ct = jnp.ones(2, jnp.float32)
    same_types(fgrad.vjp(lambda x: fnp.matmul(fnp.broadcast_to(x, (3,)), w), 1.5)[1](ct),
               jax.vjp(lambda x: jnp.broadcast_to(x, (3,)) @ w, 1.5)[1](ct))
    same_types(fgrad.grad(lambda x: fnp.sum(fnp.dot(x, np.float32(2.0))))(1.5),
               jax.grad(lambda x: jnp.sum(jnp.dot(x, np.float32(2.0))))(1.5))


def test_scatter_max_min_types():
    # Against jax.jit(jax.grad): JAX's eager gradient with respect to x is strongly typed
    # where its jitted one is weak (JAX disagrees with itself); fgrad gives jit's types
    # both eagerly and under jax.jit.
    i = np.array([0, 2])
    x, y = weak_array([0.5, -1.0, 2.0]), weak_array([1.0, 1.0])
    for how in ("max", "min"):
        want = jax.jit(jax.grad(lambda x, y: jnp.sum(getattr(x.at[i], how)(y)), (0, 1)))(x, y)
        f = fgrad.grad(lambda x, y: fnp.sum(getattr(FG.at(x)[i], how)(y)), (0, 1))
        same_types(f(x, y), want)
        same_types(jax.jit(f)(x, y), want)
        same_types(
            fgrad.jvp(lambda x, y: getattr(FG.at(x)[i], how)(y), (x, y), (x, y)),
            jax.jvp(lambda x, y: getattr(x.at[i], how)(y), (x, y), (x, y)))


def test_inverse_of_a_weak_matrix_has_a_weak_cotangent():
    # Found by the long profile (seed 1): jnp.linalg.inv solves against a strong identity,
    # which promotes a weak matrix to a strong one; the conversion's transpose turns the
    # cotangent weak again. fgrad's inv skipped the promotion, so its gradient was strong.
    a = weak_array(3.0 * np.eye(2) + 0.1)
    ct = jnp.ones((2, 2), jnp.float32)
    same_types(fgrad.grad(lambda a: fnp.sum(fnp.linalg.inv(a)))(a),
               jax.grad(lambda a: jnp.sum(jnp.linalg.inv(a)))(a))
    same_types(fgrad.vjp(fnp.linalg.inv, a)[1](ct), jax.vjp(jnp.linalg.inv, a)[1](ct))
    same_types(jax.jit(fgrad.grad(lambda a: fnp.sum(fnp.linalg.inv(a[None]))))(a),
               jax.grad(lambda a: jnp.sum(jnp.linalg.inv(a[None])))(a))


def test_linalg_cotangents_typed_like_their_outputs_are_jax_types():
    # The case the fuzzer compares without weak types (see `strict` in _run_checks) checked
    # here with cotangents typed like the outputs, where JAX's types are defined.
    a = weak_array(np.array([[2.0, 0.3], [0.3, 2.0]]))
    for name in ("cholesky", "inv", "det", "slogdet"):
        f, jf = getattr(fnp.linalg, name), getattr(jnp.linalg, name)
        out = f(a)  # fgrad's own result types (slogdet's namedtuple is fgrad's)
        ct = jax.tree_util.tree_map(lambda o: weak_array(np.ones(o.shape)) if o.weak_type
                                    else jnp.ones(o.shape, o.dtype), out)
        ct_jax = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(jf(a)),
                                              jax.tree_util.tree_leaves(ct))
        same_types(fgrad.vjp(f, a)[1](ct), jax.vjp(jf, a)[1](ct_jax))
    b = weak_array(np.array([1.0, -1.0]))
    same_types(fgrad.vjp(fnp.linalg.solve, a, b)[1](weak_array(np.ones(2))),
               jax.vjp(jnp.linalg.solve, a, b)[1](weak_array(np.ones(2))))



def test_batches_of_numpy_float64_scalars_are_strong():
    # Found by the default profile in a full run: the batch of an np.float64 input was built
    # weak (np.float64 is a Python float), its tangents' batch strong, and JAX's batched JVP
    # of such mistyped tangents has no defined type. Batches keep their input's type now.
    case = Case(False, (("np_scalar", (), "float64", 0),), (Step("abs", (0,), {}),), (1, 1),
                ("same",), "strong", 0, ("jit(vmap(jvp))",))
    assert type(like(np.float64(1.5), np.ones(2))) is np.ndarray
    assert run_checks(case) == []


def test_forward_tangents_of_a_weak_array_are_compared_without_weak_types():
    # Found by the long profile (seed 11); see `forward_typed` in _run_checks. JAX's jitted
    # jnp.where retypes square's strong tangent of a weak array like its primal.
    w = weak_array(np.array([0.3, -1.2], np.float32))

    def f(m):
        return lambda x: m.where(x > x, m.sin(x), m.square(x))

    got, want = fgrad.jvp(f(fnp), (w,), (w,))[1], jax.jvp(f(jnp), (w,), (w,))[1]
    np.testing.assert_array_equal(got, want)
    assert not aval_of(got).weak_type and aval_of(want).weak_type  # the difference, pinned
    case = Case(False, (("jax_weak", (3, 2, 3), "float32", 2044),),
                (Step("binary", (0, 0), {"fn": "subtract"}),
                 Step("where_cmp", (0, 0), {"cmp": "greater", "fns": ("sin", "square")})),
                (2, 1), ("same",), "weak", 0, ("jacfwd", "jacfwd(jacrev)", "jvp", "value"))
    assert run_checks(case) == []


def test_a_mask_with_an_empty_axis_keeps_its_shape():
    # Found by the long profile (seed 10): a (0, 3) mask stored as nested lists came back as
    # shape (0,), which broadcasts with neither side's (0, 3).
    mask = Mask("np", np.zeros((0, 3), bool).tolist(), (0, 3))
    assert mask.make(np).shape == (0, 3)
    case = Case(False, (("jax", (0, 3), "float32", 0), ("np", (0, 3), "float32", 1)),
                (Step("where_mask", (0, 1), {"mask": mask}),), (2,), ("same", "same"),
                "strong", 0, ("value", "grad"))
    assert run_checks(case) == []


def test_jax_gets_numpy_batches_as_arrays():
    # Found by the long profile (seeds 2 and 4): JAX's own assertion failed on the NumPy
    # batch, a float32 one under jit(vmap(jvp)) and a float64 one with x64 off under
    # vmap(grad).
    case = Case(False, (("np", (3,), "float32", 1144),),
                (Step("power", (0,), {"c": -1}), Step("custom_vjp", (0,), {})), (2, 2),
                ("strong",), "weak", 0, ("jit(vmap(jvp))",))
    assert run_checks(case) == []
    case = Case(False, (("np", (3, 2, 3), "float64", 1941), ("np", (), "float32", 1)),
                (Step("custom_jvp", (0,), {}),), (2,), ("strong", "strong"), "strong", 0,
                ("vmap(grad)", "grad(vmap)", "vmap(hessian)"))
    assert run_checks(case) == []


def test_a_dead_unbounded_while_loop_is_not_compared_in_reverse_mode():
    # Found by the long profile (seed 2): the loop's result is unused, so fgrad (which drops
    # dead code before differentiating) reverses the program and JAX refuses; forward mode
    # is still compared.
    case = Case(True, (("np", (2, 2), "float64", 539), ("np", (2, 2), "float64", 65200)),
                (Step("while", (1,), {"limit": 1, "bound": 4.0, "max_steps": None}),
                 Step("dot", (1,), {"w": Const("np", (2,), "float64", 52)})),
                (3,), ("weak", "strong"), "np", (0, 1), ("hessian", "jax.jit(vjp)", "jvp"))
    assert case.unbounded_whiles() == (False, True)
    assert run_checks(case) == []


def test_einsum_sums_a_weak_operand_into_a_strong_one():
    # Found by the long profile (seed 5): jnp.einsum sums an index no other operand has with
    # lax.reduce from a strong NumPy zero, so that operand turns strong and the gradient of
    # a weak input used there comes back strong.
    x = weak_array(np.array([1.3, -0.4]))
    for spec in ("a,b->a", "ab,b->a", "a,a->"):
        ops = [x if len(term) == 1 else weak_array(np.outer([1.0, 2.0], [0.5, -1.0]))
               for term in spec.split("->")[0].split(",")]
        same_types(fgrad.grad(lambda *o: fnp.sum(fnp.einsum(spec, *o)), (0, 1))(*ops),
                   jax.grad(lambda *o: jnp.sum(jnp.einsum(spec, *o)), (0, 1))(*ops))
        same_types(fnp.einsum(spec, *ops), jnp.einsum(spec, *ops))
    x = weak_array(np.float64(1.3))
    same_types(fgrad.grad(lambda x: fnp.sum(fnp.einsum("a,b->a", x[None], x[None])))(x),
               jax.grad(lambda x: jnp.sum(jnp.einsum("a,b->a", x[None], x[None])))(x))


def test_an_unbounded_while_loop_with_nothing_to_reverse_is_compared():
    # Found by the long profile (seed 6): on zero-size values both libraries differentiate
    # through a while_loop without max_steps (the Jacobian is empty), so the results are
    # compared instead of both being required to refuse.
    case = Case(True, (("jax", (3, 0, 3), "float32", 9059),
                       ("jax_weak", (3, 0, 3), "float64", 65536)),
                (Step("while", (1,), {"limit": 2, "bound": 30.0, "max_steps": None}),
                 Step("scan", (2,), {"init": Const("jax_weak", (0, 3), "float64", 44),
                                     "reverse": True, "out": "ys"}),
                 Step("tag", (3,), {})),
                (4,), ("weak", "strong"), "weak", 0,
                ("grad(vmap)", "jacfwd(jacrev)", "jacrev", "vmap(hessian)"))
    assert case.unbounded_whiles() == (True, False)  # live: reverse mode is not assumed to work
    assert run_checks(case) == []


def test_an_einsum_diagonal_is_compared_without_weak_types():
    # Found by the long profile (seed 7): the weak type of the cotangent through 'abb->'
    # differs (see `diagonal` in _run_checks); the values are still compared, and exactly
    # this difference is what the relaxation allows.
    case = Case(False, (("jax_weak", (2, 2, 2), "float32", 107),
                        ("jax_weak", (2, 2, 2), "float32", 583)),
                (Step("einsum", (0,), {"spec": "abb->", "w": None}),
                 Step("scalar", (2,), {"fn": "true_divide", "left": True,
                                       "c": Const("np_scalar", (), "float32", 8469)})),
                (3,), ("same", "same"), "np", 0, ("grad", "hessian", "value_and_grad", "vjp"))
    assert run_checks(case) == []
    x = weak_array(np.arange(8.0).reshape(2, 2, 2))
    fg = fgrad.grad(lambda x: fnp.einsum("abb->", x))(x)
    jx = jax.grad(lambda x: jnp.einsum("abb->", x))(x)
    np.testing.assert_array_equal(fg, jx)
    assert (fg.weak_type, jx.weak_type) == (False, True)


def test_jax_under_jit_is_not_the_reference_for_values():
    # Found by the long profile (seed 9): jacrev of x / 0 is inf on the diagonal and NaN
    # (0 * inf) elsewhere, in fgrad and in eager JAX; under jax.jit XLA folds the off-diagonal
    # 0/0 to 0. The check compares with eager JAX when the jitted result differs.
    case = Case(False, (("np", (3,), "float64", 28), ("int", (), "int32", 15211)),
                (Step("fori", (0,), {"n": 0}),
                 Step("where_mask", (0, 2), {"mask": Mask("jax", [True])}),
                 Step("fori", (3,), {"n": 3}),
                 Step("scalar", (0,), {"fn": "true_divide", "left": False,
                                       "c": Const("py_int", (), "float32", 1)})),
                (5,), ("weak", "same"), "strong", 0, ("jacrev", "jacfwd(jacrev)"))
    assert run_checks(case) == []
    x = np.array([1.5, -2.0], np.float32)
    eager = np.asarray(jax.jacrev(lambda x: x / 0)(x))
    assert np.isnan(eager[0, 1]) and np.isinf(eager[0, 0])
    np.testing.assert_array_equal(fgrad.jacrev(lambda x: fnp.true_divide(x, 0))(x), eager)


def test_scan_transpose_of_a_weak_carry_types_its_cotangent_as_jax():
    # Found by the long profile (seed 8): a carry that stays weak gets the cotangent's
    # (strong) type back, where a weak init whose carry settled to a strong type gets its
    # own weak type back (the transpose of the conversion JAX puts before the loop).
    def f(m, lax):
        def step(c, _):
            return c * 1.3 + 0.2, None
        return lambda x: m.real(lax.scan(step, x / 33, None, length=1)[0] ** 2)

    same_types(fgrad.grad(f(fnp, fgrad.lax))(1.9 - 0.47j),
               jax.grad(f(jnp, jax.lax))(1.9 - 0.47j))

    def settles(m, lax):
        def step(c, x):
            return c * x, None
        return lambda c: lax.scan(step, c, m.arange(1.0, 3.0, dtype=m.float32))[0]

    same_types(fgrad.grad(settles(fnp, fgrad.lax))(0.5), jax.grad(settles(jnp, jax.lax))(0.5))


def test_dot_of_weak_operands_of_two_kinds_is_weak():
    # Found by the long profile (seeds 8 and 12): a Python complex dotted with a Python
    # float (or a weak float array with a Python int) converted the float operand to a
    # strong complex, so the product came back strong where JAX's is weak.
    same_types(fnp.dot(1 + 2j, 0.5), jnp.dot(1 + 2j, 0.5))
    x = weak_array([0.5, 2.0])
    for f, jf in [(fnp.dot, jnp.dot), (fnp.matmul, jnp.matmul), (fnp.vdot, jnp.vdot)]:
        same_types(fgrad.value_and_grad(lambda v: f(v, fnp.full(2, 3)))(x),
                   jax.value_and_grad(lambda v: jf(v, jnp.full(2, 3)))(x))
        # A preferred_element_type is strong whatever the operands.
        same_types(f(x, 3 * x, preferred_element_type=np.float32),
                   jf(x, 3 * x, preferred_element_type=np.float32))


def test_dot_with_a_python_complex_is_the_product_under_x64(x64):
    # Found by the long profile (seed 14): JAX's jnp.dot of a complex64 (or float32) 0-d
    # array and a Python complex raises under x64, so the fuzzer gives such a dot a strong
    # complex; fgrad's is the product, with jnp.multiply's value and type.
    x = jnp.asarray(1.0 + 2.0j, jnp.complex64)
    with pytest.raises(TypeError, match="preferred_element_type"):
        jnp.dot(x, 0.5 + 1j)
    got, want = fnp.dot(x, 0.5 + 1j), jnp.multiply(x, 0.5 + 1j)
    same_types(got, want)
    np.testing.assert_array_equal(got, want)


def test_a_custom_vjp_of_an_input_grad_does_not_see_is_compared_by_its_first_input():
    # Found by the long profile (seed 15): JAX's jvp of grad fails on a custom_vjp of the
    # second input ("can't apply forward-mode autodiff (jvp) to a custom_vjp function"), so
    # the forward-over-reverse check of a program with one gives the first input alone a
    # tangent. fgrad differentiates the full version: its forward mode of the custom_vjp
    # transposes the bwd rule, whose factor is cos(y) / 2 + 1 / 4 (fuzz_programs).
    case = Case(False, (("np", (), "complex128", 333), ("jax", (), "complex64", 57667)),
                (Step("custom_vjp", (1,), {}), Step("transpose", (0,), {"perm": ()}),
                 Step("where_mask", (3, 2), {"mask": Mask("jax", False, ())})),
                (4,), ("same", "strong"), "np", 0, ("fgrad.jit(jvp(grad))", "grad", "jvp"))
    mismatches = []
    _run_checks(case, mismatches, None)
    assert not mismatches
    y = 0.7
    got = fgrad.jvp(fgrad.grad(lambda x, y: FG.custom_vjp_fn(y) * x), (2.0, y), (0.0, 1.0))
    np.testing.assert_allclose(got, (np.sin(y), np.cos(y) / 2 + 0.25), rtol=1e-6)


def test_a_difference_counts_only_against_both_of_jax_s_modes(x64):
    # Found by the long profile (seed 17): complex x / 0 is inf+infj in eager JAX and
    # nan+nanj under jax.jit (XLA's complex division); fgrad eagerly gives the first and
    # fgrad.jit the second, as JAX does in each mode.
    x = 0.3 + 0.7j
    assert np.isinf(jnp.true_divide(x, 0)) and np.isinf(fnp.true_divide(x, 0))
    assert np.isnan(jax.jit(lambda x: jnp.true_divide(x, 0))(x))
    assert np.isnan(fgrad.jit(lambda x: fnp.true_divide(x, 0))(x))
    case = Case(True, (("py", (), "complex128", 4916),),
                (Step("scalar", (0,), {"fn": "true_divide", "left": False,
                                       "c": Const("py_int", (), "complex64", 7050)}),),
                (1,), ("same",), "weak", 0,
                ("fgrad.jit", "fgrad.jit(jvp(grad))", "grad(vmap)", "jax.jit(grad)"))
    mismatches = []
    _run_checks(case, mismatches, None)
    assert not mismatches
