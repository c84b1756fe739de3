"""Differentiable control flow (fgrad.lax.cond, switch, while_loop, fori_loop, scan, map,
associative_scan) against the same programs written with jax.lax.

Every program is written once, over a namespace `m` (fgrad's or JAX's numpy, lax and grad),
so fgrad's version and JAX's reference cannot drift apart. The table CASES runs each
construct through values, forward mode, reverse mode, second order, jit and finite
differences; vmap, closures, compositions, eager use, program sizes and error messages have
tests of their own. float64 throughout, so derivatives compare tightly.
"""

import contextlib
import functools
import os
from types import SimpleNamespace
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.lax as fl
import fgrad.numpy as fnp
import oracle
from fgrad.core import FgradError, ShapeDtypeError, StructureError, typecheck
from fgrad.testing import check_grads

pytestmark = pytest.mark.usefixtures("x64")

HERE = os.path.basename(__file__)
TOL = dict(rtol=1e-9, atol=1e-12)
tree_leaves = jax.tree_util.tree_leaves


def line_of(marker: str) -> int:
    return oracle.line_of(__file__, marker)


def same(got, want, **tolerances):
    """Same pytree structure, leaf types (shape, dtype, weak type) and values."""
    oracle.assert_trees_same(got, want, **(TOL | tolerances))


def rand_like(tree, seed):
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return jax.tree_util.tree_unflatten(
        treedef, [oracle.rand(np.shape(x), seed + 7 * i) for i, x in enumerate(leaves)])


# -- the two namespaces every program is written over ---------------------------------------


def _jax_bounded_while(cond_fun, body_fun, init, max_steps):
    """JAX's reverse-differentiable equivalent of fgrad's while_loop(..., max_steps=N): at
    most N steps, each taken only while cond_fun holds (JAX cannot reverse a while_loop)."""
    def step(carry, _):
        return jax.lax.cond(cond_fun(carry), body_fun, lambda c: c, carry), None
    return jax.lax.scan(step, init, None, length=max_steps)[0]


FG = SimpleNamespace(
    np=fnp, grad=fgrad.grad, lax=fl,
    bounded_while=lambda cf, bf, init, n: fl.while_loop(cf, bf, init, max_steps=n),
    vmap=fgrad.vmap, stop_gradient=fgrad.stop_gradient)
JX = SimpleNamespace(np=jnp, grad=jax.grad, lax=jax.lax,
                     bounded_while=_jax_bounded_while, vmap=jax.vmap,
                     stop_gradient=jax.lax.stop_gradient)

# Inputs: small, fixed, away from every branch boundary and loop-exit threshold.
A = np.array([0.3, -0.5, 0.9])
B = np.array([0.2, 0.7, -0.4])
XS = np.array([[0.8, -1.0, 0.2], [-0.2, -0.4, -0.1], [-0.8, -0.1, -0.3], [1.3, 0.1, -0.15]])
W = np.array([[0.5, -0.2, 0.1], [0.3, 0.4, -0.6], [-0.1, 0.2, 0.7]])
XB = np.stack([A, B, 0.5 * A, 2.0 * A])  # the while loop below runs 4, 4, 5, 3 times on these


# -- the programs ----------------------------------------------------------------------------


def cond_prog(m):
    def f(x, y):
        def true_fun(a, d):
            return m.np.sin(a) * d["y"] + a * a

        def false_fun(a, d):
            return m.np.cos(a * d["y"]) - a

        return m.lax.cond(m.np.sum(x) > 0, true_fun, false_fun, x, {"y": y})
    return f


def cond_closure_prog(m):
    def f(x, w):  # branches close over w, which the tests differentiate
        return m.lax.cond(m.np.sum(x) > 0, lambda a: a * w * a, lambda a: m.np.sin(a + w), x)
    return f


def switch_prog(m, index):
    def f(x, y):
        branches = [lambda a, b: m.np.sin(a) * 2.0 + b,
                    lambda a, b: a * a * b,
                    lambda a, b: m.np.exp(-a) * a - b * b]
        return m.lax.switch(index, branches, x, y)
    return f


def while_funs(m):
    def cond_fun(c):
        i, y = c
        return m.np.logical_and(i < 10, m.np.sum(y * y) < 30.0)

    def body_fun(c):
        i, y = c
        return i + 1, y * 1.3 + m.np.sin(y) * 0.5

    return cond_fun, body_fun


def while_prog(m):
    def f(x):
        cond_fun, body_fun = while_funs(m)
        return m.lax.while_loop(cond_fun, body_fun, (0, x))[1]
    return f


def bounded_while_prog(m, max_steps):
    def f(x, w):
        cond_fun, body_fun = while_funs(m)
        body = lambda c: (c[0], c[1] * w)  # noqa: E731  (closes over w)
        out = m.bounded_while(cond_fun, lambda c: body_fun(body(c)), (0, x), max_steps)
        return out[1]
    return f


def fori_prog(m, lower=1, upper=6, unroll=1):
    def f(x, y):
        def body(i, c):
            return c * m.np.cos(y) + 0.1 * i * m.np.sin(c)
        kw = {} if unroll == 1 else {"unroll": unroll}
        return m.lax.fori_loop(lower, upper, body, x, **kw)
    return f


def fori_traced_prog(m):
    def f(x, n):
        return m.lax.fori_loop(0, n, lambda i, c: c * 0.9 + m.np.sin(c) * 0.3, x)
    return f


def scan_prog(m, reverse=False, unroll=1):
    def f(c0, xs):
        def body(c, x):
            new = m.np.tanh(c * x + 0.5) + 0.3 * c
            return new, new * x
        kw = {} if unroll == 1 else {"unroll": unroll}
        return m.lax.scan(body, c0, xs, reverse=reverse, **kw)
    return f


def scan_tree_prog(m):
    def f(init, xs):
        def body(carry, x):
            a, b = x
            h = m.np.sin(carry["h"] * a) + b * carry["s"]
            s = carry["s"] * 0.9 + m.np.sum(h * a)
            return {"h": h, "s": s}, (h * b, s)
        return m.lax.scan(body, init, xs)
    return f


SCAN_TREE_ARGS = ({"h": A, "s": np.float64(0.4)}, (XS, np.array([0.5, -0.3, 0.2, 0.1])))


def scan_length_prog(m):
    def f(c0):
        def body(c, none):
            assert none is None
            new = m.np.sin(c) * 1.1 + 0.2
            return new, new * new
        return m.lax.scan(body, c0, None, length=5)
    return f


def map_prog(m, batch_size=None):
    def f(xs, y):
        kw = {} if batch_size is None else {"batch_size": batch_size}
        return m.lax.map(lambda x: m.np.tanh(m.np.dot(W, x) + y), xs, **kw)
    return f


MAP_XS = np.concatenate([XS, -XS[:1]])  # 5 rows: batch_size=2 leaves a remainder


def assoc_add_prog(m, reverse=False, axis=0):
    def f(x):
        return m.lax.associative_scan(m.np.add, x * x, reverse=reverse, axis=axis)
    return f


def assoc_matmul_prog(m, reverse=False, axis=0):
    def f(x):
        return m.lax.associative_scan(m.np.matmul, x, reverse=reverse, axis=axis)
    return f


MATS = 0.6 * oracle.rand((5, 2, 2), 11) + np.eye(2)
MATS_AXIS1 = 0.6 * oracle.rand((2, 4, 2, 2), 12) + np.eye(2)


def assoc_tree_prog(m):
    def f(a, b):  # the linear recurrence h[t] = a[t] * h[t-1] + b[t], as pairs
        def combine(left, right):
            a1, b1 = left
            a2, b2 = right
            return a1 * a2, a2 * b1 + b2
        return m.lax.associative_scan(combine, (a, b))
    return f


# -- compositions (also run through the whole table) ----------------------------------------


def cond_in_scan_prog(m):
    def f(c0, xs):
        def body(c, x):
            c = m.lax.cond(x[0] > 0, lambda c: m.np.sin(c) * x, lambda c: c * c - x, c)
            return c, m.np.sum(c)
        return m.lax.scan(body, c0, xs)
    return f


def nested_scan_prog(m):
    def f(c0, xs):
        def outer(c, row):
            def inner(d, x):
                d = m.np.tanh(d * 0.7 + x * m.np.sum(c))  # closes over the outer carry
                return d, d * x
            d, ys = m.lax.scan(inner, c[0], row)
            return c * 0.5 + ys, d
        return m.lax.scan(outer, c0, xs)
    return f


def grad_in_scan_prog(m):
    def energy(c, x):
        return m.np.sum(m.np.sin(c * x) + c * c * c * c * 0.1)

    def f(c0, xs):
        def body(c, x):
            c = c - 0.1 * m.grad(energy)(c, x)
            return c, m.np.sum(c * c)
        return m.lax.scan(body, c0, xs)
    return f


def switch_in_fori_prog(m):
    def f(x):
        branches = [lambda c: m.np.sin(c), lambda c: c * 1.5, lambda c: m.np.cos(c) * c]
        # i - 1 runs over -1, 0, 1, 2, 3: the index is traced and clamped at both ends
        return m.lax.fori_loop(0, 5, lambda i, c: m.lax.switch(i - 1, branches, c) + 0.1, x)
    return f


def bounded_while_in_scan_prog(m):
    def f(c0, xs):
        def body(c, x):
            def cond_fun(s):
                return m.np.logical_and(s[0] < 3, m.np.sum(s[1] * s[1]) < 4.0)
            _, c = m.bounded_while(cond_fun, lambda s: (s[0] + 1, s[1] * 1.2 + x), (0, c), 3)
            return c, c[0]
        return m.lax.scan(body, c0, xs)
    return f


def scan_in_map_prog(m):
    def f(xs, y):
        def row(r):
            return m.lax.scan(lambda c, x: (m.np.sin(c * x + y), c), np.float64(0.3), r)[0]
        return m.lax.map(row, xs)
    return f


class Case(NamedTuple):
    build: Callable  # namespace -> function
    args: tuple
    reverse: bool = True  # whether reverse mode is defined (not for an unbounded while)


CASES = {
    "cond_true": Case(cond_prog, (A, B)),
    "cond_false": Case(cond_prog, (-A, B)),
    "cond_closure": Case(cond_closure_prog, (A, B)),
    "switch_clamped_low": Case(lambda m: switch_prog(m, np.array(-2, np.int32)), (A, B)),
    "while_forward": Case(while_prog, (A,), reverse=False),
    "while_max_steps": Case(lambda m: bounded_while_prog(m, 20), (A, np.float64(1.1))),
    "while_max_steps_truncated": Case(lambda m: bounded_while_prog(m, 2),
                                      (A, np.float64(1.1))),
    "fori_static": Case(fori_prog, (A, B)),
    "fori_unroll": Case(lambda m: fori_prog(m, 0, 5, unroll=2), (A, B)),
    "scan": Case(scan_prog, (A, XS)),
    "scan_reverse_unroll": Case(lambda m: scan_prog(m, reverse=True, unroll=3), (A, XS)),
    "scan_pytree": Case(scan_tree_prog, SCAN_TREE_ARGS),
    "scan_length": Case(scan_length_prog, (A,)),
    "map_batch_size": Case(lambda m: map_prog(m, batch_size=2), (MAP_XS, B)),
    "assoc_add_reverse_axis1": Case(lambda m: assoc_add_prog(m, reverse=True, axis=1), (XS,)),
    "assoc_matmul_reverse": Case(lambda m: assoc_matmul_prog(m, reverse=True), (MATS,)),
    "assoc_matmul_axis1": Case(lambda m: assoc_matmul_prog(m, axis=1), (MATS_AXIS1,)),
    "assoc_pytree": Case(assoc_tree_prog, (0.9 * np.cos(XS), XS)),
    "cond_in_scan": Case(cond_in_scan_prog, (A, XS)),
    "nested_scan": Case(nested_scan_prog, (A, XS)),
    "grad_in_scan": Case(grad_in_scan_prog, (A, XS)),
    "switch_in_fori": Case(switch_in_fori_prog, (A,)),
    "while_max_steps_in_scan": Case(bounded_while_in_scan_prog, (A, XS)),
    "scan_in_map": Case(scan_in_map_prog, (XS, np.float64(0.2))),
}
# linearize (besides jvp) on one case of each kind of loop, the unbounded while included
LINEARIZE = {"cond_true", "while_forward", "while_max_steps", "fori_static", "scan"}
# Jacobians (the costlier checks) on a representative subset: every construct, the bounded
# and forward-only whiles, pytrees, a composition; second order (the costliest) on most.
DEEP = {"cond_true", "switch_clamped_low", "while_forward", "while_max_steps_truncated",
        "scan_reverse_unroll", "scan_pytree", "map_batch_size", "assoc_matmul_axis1",
        "grad_in_scan"}
SECOND_ORDER = DEEP - {"assoc_matmul_axis1"}  # check_grads below has assoc_matmul_reverse
# Finite differences to order 2 (fgrad.testing.check_grads): every construct but map once
# (the fori_loop runs a switch; map's second order is in DEEP).
FINITE_DIFFERENCES = ["cond_false", "switch_in_fori", "while_forward", "while_max_steps",
                      "scan", "assoc_matmul_reverse"]


@contextlib.contextmanager
def quick():
    """XLA's optimizations off while compiling this test file's own jitted functions (the
    conftest's quick_compile, as a block): they are compiled for these tests alone, so no
    other test reuses them unoptimized, and results are compared with tolerances."""
    previous = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    try:
        yield
    finally:
        jax.config.update("jax_disable_most_optimizations", previous)


def pair(name):
    case = CASES[name]
    return case.build(FG), case.build(JX), case.args


def scalarize(m, f, like_out, seed=5):
    """A weighted sum of squares of f's outputs: a scalar whose Hessian depends on the point
    and on every second-order rule on the way."""
    weights = [oracle.rand(np.shape(x), seed + i) for i, x in enumerate(tree_leaves(like_out))]

    def s(*args):
        terms = [m.np.sum(o * o * w) for o, w in zip(tree_leaves(f(*args)), weights)]
        return functools.reduce(lambda a, b: a + b, terms)
    return s


def tree_dot(m, a, b):
    return functools.reduce(lambda x, y: x + y,
                            [m.np.sum(x * y) for x, y in zip(tree_leaves(a), tree_leaves(b))])


# -- every construct: values, forward, reverse, second order, jit, finite differences ----


def derivatives(m, name, f, s):
    """jacfwd, jacrev and (in SECOND_ORDER) the Hessian (forward over reverse) of the
    weighted sum of squares s; forward over forward for a while loop without max_steps."""
    argnums = tuple(range(len(CASES[name].args)))
    if not CASES[name].reverse:
        return lambda *a: (m.jacfwd(f, argnums)(*a), m.jacfwd(m.jacfwd(s, argnums), argnums)(*a))
    second = name in SECOND_ORDER
    return lambda *a: (m.jacfwd(f, argnums)(*a), m.jacrev(f, argnums)(*a),
                       m.hessian(s, argnums)(*a) if second else None)


@functools.cache
def reference(name, with_deep=False):
    """JAX's results for CASES[name], all from one compilation, shared by the tests below;
    `with_deep` adds those of test_jacobians_and_second_order (the costliest to compile)."""
    case = CASES[name]
    jf, args = case.build(JX), case.args
    like = jax.eval_shape(jf, *args)
    tangents, cotangent = rand_like(args, 1), rand_like(like, 2)
    js = scalarize(JX, jf, like)

    def everything(args, tangents, cotangent):
        out, out_t = jax.jvp(jf, args, tangents)
        ct = jax.vjp(jf, *args)[1](cotangent) if case.reverse else None
        deep = derivatives(jax, name, jf, js)(*args) if with_deep else None
        return out, out_t, ct, deep

    with quick():
        out, out_t, ct, deep = jax.jit(everything)(args, tangents, cotangent)
    return SimpleNamespace(like=like, tangents=tangents, cotangent=cotangent, out=out,
                           out_t=out_t, ct=ct, deep=deep)


def jax_jit(fun, *args):
    """JAX's reference for fun(*args): compiled once (quick()), faster than running eagerly."""
    with quick():
        return jax.jit(fun)(*args)


# Default run: every case of the table in one of the three tests below at least. The Jacobians
# of the DEEP cases but three scans and whiles (scan and while_max_steps go to second order in
# check_grads), check_grads of FINITE_DIFFERENCES, and the values and first order of the other
# cases and of those that linearize; `-m slow` runs every case in every test.
QUICK_DEEP = DEEP - {"scan_reverse_unroll", "scan_pytree", "while_max_steps_truncated"}
QUICK_VALUES = {name for name in CASES
                if name in LINEARIZE or name not in QUICK_DEEP | {*FINITE_DIFFERENCES}}


def _params(names, quick_names):
    return [pytest.param(name, marks=() if name in quick_names else pytest.mark.slow)
            for name in names]


@pytest.mark.parametrize("name", _params(CASES, QUICK_VALUES))
def test_values_and_first_order(name):
    """Values (eager, as a traced program, under fgrad.jit), JVP, linearize and VJP."""
    f, args, want = CASES[name].build(FG), CASES[name].args, reference(name)
    same(f(*args), want.out)
    program = fgrad.make_ir(f)(*args)
    typecheck(program)
    assert str(program)
    flat = fgrad.eval_program(program, *tree_leaves(args))
    same(jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(want.out), flat), want.out)
    with quick():
        same(fgrad.jit(f)(*args), want.out)

    same(fgrad.jvp(f, args, want.tangents), (want.out, want.out_t))
    if name in LINEARIZE:
        out, f_jvp = fgrad.linearize(f, *args)
        same(out, want.out)
        same(f_jvp(*want.tangents), want.out_t)
    if CASES[name].reverse:
        out, pullback = fgrad.vjp(f, *args)
        same(out, want.out)
        same(pullback(want.cotangent), want.ct)


@pytest.mark.parametrize("name", _params(sorted(DEEP, key=list(CASES).index), QUICK_DEEP))
def test_jacobians_and_second_order(name):
    """Reverse over reverse is test_check_grads_order_2's. fgrad's run under fgrad.jit
    (compiling once is several times faster than running eagerly); eager derivatives are
    tested above and below."""
    f, args, want = CASES[name].build(FG), CASES[name].args, reference(name, with_deep=True)
    s = scalarize(FG, f, want.like)
    with quick():
        same(fgrad.jit(derivatives(fgrad, name, f, s))(*args), want.deep)


@pytest.mark.parametrize("name", FINITE_DIFFERENCES)
def test_check_grads_order_2(name):
    f, _, args = pair(name)
    check_grads(f, args, order=2, modes=("fwd", "rev") if CASES[name].reverse else ("fwd",))


# -- vmap ---------------------------------------------------------------------------------


@contextlib.contextmanager
def vmap_checks():
    """Yields check_vmap(build, in_axes, *args, out_axes=0), which checks fgrad.vmap of
    build(FG) (eager) against jax.vmap of build(JX) on args when the block ends: JAX's
    results of all the block's checks come from one compilation."""
    checks = []
    yield lambda build, in_axes, *args, out_axes=0: checks.append(
        (build, in_axes, args, out_axes))

    def jax_side(all_args):
        return [jax.vmap(build(JX), in_axes, out_axes)(*args)
                for (build, in_axes, _, out_axes), args in zip(checks, all_args)]
    wants = jax_jit(jax_side, [args for _, _, args, _ in checks])
    for (build, in_axes, args, out_axes), want in zip(checks, wants):
        same(fgrad.vmap(build(FG), in_axes, out_axes)(*args), want)


PREDS = np.array([True, False, False, True])


def test_vmap_cond():
    with vmap_checks() as check_vmap:
        check_vmap(cond_prog, 0, XB, XB[::-1])  # the predicate follows the batched operand
        check_vmap(cond_prog, (0, None), XB, B)
        check_vmap(cond_prog, (None, 0), A, XB)  # predicate unbatched, an operand batched
        check_vmap(cond_prog, (1, None), XB.T, B)
        only_pred = lambda m: lambda p, x: m.lax.cond(  # noqa: E731
            p, lambda a: m.np.sin(a), lambda a: a * a, x)
        check_vmap(only_pred, (0, None), PREDS, A)
        check_vmap(only_pred, (0, 0), PREDS, XB)
        # only a value the branches close over is batched; one branch's output is unbatched
        only_closure = lambda m: lambda w: m.lax.cond(  # noqa: E731
            m.np.sum(A) > 0, lambda a: a * w, lambda a: a, A)
        check_vmap(only_closure, 0, XB)
        constant_branch = lambda m: lambda x: m.lax.cond(  # noqa: E731
            x[0] > 0, lambda a: a * a, lambda a: m.np.ones(3), x)
        check_vmap(constant_branch, 0, XB * np.array([[1.0], [-1.0], [1.0], [-1.0]]))


def test_vmap_of_grad_with_a_batched_predicate():
    def build(m):
        def f(p, x):
            return m.np.sum(m.lax.cond(p > 0, lambda a: m.np.sin(a) * a, lambda a: a * a * a, x))
        return lambda p, x: m.grad(f, argnums=1)(p, x)
    with vmap_checks() as check_vmap:
        check_vmap(build, (0, None), np.array([1.0, -1.0, 2.0, -0.5]), A)
        check_vmap(build, (0, 0), np.array([1.0, -1.0, 2.0, -0.5]), XB)


def test_vmap_switch():
    with vmap_checks() as check_vmap:
        index = np.array([-1, 0, 1, 2, 5], np.int32)
        build = lambda m: lambda i, x, y: switch_prog(m, i)(x, y)  # noqa: E731
        check_vmap(build, (0, None, None), index, A, B)  # only the index batched
        check_vmap(build, (None, 0, None), np.int32(2), XB, B)
        check_vmap(build, (0, 0, None), index[:4], XB, B)
        grad = lambda m: lambda i, x: m.grad(  # noqa: E731
            lambda x: m.np.sum(switch_prog(m, i)(x, B)))(x)
        check_vmap(grad, (0, None), index, A)


def test_vmap_while():
    with vmap_checks() as check_vmap:
        check_vmap(while_prog, 0, XB)  # a different trip count per element
        check_vmap(lambda m: lambda x: m.lax.while_loop(*while_funs(m), (0, x)), 0, XB)

        def only_limit(m):  # only the predicate is batched; the carry becomes batched
            def f(limit, x):
                return m.lax.while_loop(lambda c: m.np.sum(c * c) < limit,
                                        lambda c: c * 1.5 + 0.1, x)
            return f
        check_vmap(only_limit, (0, None), np.array([1.0, 5.0, 30.0, 2.5]), A)
        check_vmap(only_limit, (None, 0), np.float64(10.0), XB)


def test_vmap_while_max_steps_and_its_gradient():
    with vmap_checks() as check_vmap:
        for steps in (20, 2):
            build = functools.partial(bounded_while_prog, max_steps=steps)
            check_vmap(build, (0, None), XB, np.float64(1.1))
            check_vmap(build, (None, 0), A, np.array([1.1, 0.9, 1.4, 1.0]))
            grad = lambda m, build=build: lambda x, w: m.grad(  # noqa: E731
                lambda x, w: m.np.sum(build(m)(x, w) ** 2), (0, 1))(x, w)
            check_vmap(grad, (0, None), XB, np.float64(1.1))


def test_vmap_fori_loop():
    with vmap_checks() as check_vmap:
        check_vmap(fori_prog, (0, None), XB, B)  # carry batched
        check_vmap(fori_prog, (None, 0), A, XB)  # carry unbatched, becomes batched by the body
        check_vmap(fori_traced_prog, (None, 0), A, np.array([0, 3, 1, 6], np.int32))  # bounds
        check_vmap(fori_traced_prog, (0, 0), XB, np.array([0, 3, 1, 6], np.int32))


def test_vmap_scan():
    with vmap_checks() as check_vmap:
        xs_batch = np.stack([XS, XS[::-1], 0.5 * XS])
        check_vmap(scan_prog, (0, None), XB, XS)  # carry batched, xs not
        check_vmap(scan_prog, (None, 0), A, xs_batch)  # xs batched, carry becomes batched
        check_vmap(scan_prog, (None, 1), A, np.moveaxis(xs_batch, 0, 1))  # batch axis not leading
        check_vmap(scan_prog, (0, 0), XB[:3], xs_batch)
        check_vmap(functools.partial(scan_prog, reverse=True), (None, 0), A, xs_batch, out_axes=1)
        check_vmap(scan_length_prog, 0, XB)
        init, xs = SCAN_TREE_ARGS
        check_vmap(scan_tree_prog, ({"h": 0, "s": None}, None), {"h": XB, "s": init["s"]}, xs)
        check_vmap(scan_tree_prog, (None, (None, 0)), init, (xs[0], np.stack([xs[1]] * 2)))
        # ys that do not depend on the batched values, and vmap of vmap
        constant_ys = lambda m: lambda c0: m.lax.scan(  # noqa: E731
            lambda c, x: (c * x, m.np.sum(x)), c0, XS)
        check_vmap(constant_ys, 0, XB)
        nested = lambda m: m.vmap(scan_prog(m), (0, None))  # noqa: E731
        check_vmap(nested, (None, 0), XB[:2], xs_batch)


def test_vmap_map_and_associative_scan():
    with vmap_checks() as check_vmap:
        check_vmap(map_prog, (1, None), np.stack([MAP_XS, -MAP_XS], 1), B)
        # xs unbatched, the closure batched
        check_vmap(functools.partial(map_prog, batch_size=2), (None, 0), MAP_XS, XB)
        check_vmap(functools.partial(assoc_add_prog, axis=1), 0, np.stack([XS, -XS]))
        check_vmap(functools.partial(assoc_matmul_prog, reverse=True), 1,
                   np.stack([MATS, MATS[::-1]], 1))


# -- closures -----------------------------------------------------------------------------


def test_bodies_close_over_outer_jax_and_numpy_arrays():
    bias = jnp.asarray(B)  # a JAX array; W is a NumPy one

    def build(m):
        def f(c0):
            body = lambda c, x: (m.np.tanh(m.np.dot(W, c) + x * bias), m.np.sum(c))  # noqa: E731
            return m.lax.scan(body, c0, XS)
        return f
    f, jf = build(FG), build(JX)
    same(f(A), jf(A))
    same(fgrad.grad(lambda c: fnp.sum(f(c)[1] ** 2))(A),
         jax_jit(jax.grad(lambda c: jnp.sum(jf(c)[1] ** 2)), A))


def test_grad_through_a_body_closing_over_the_differentiated_argument():
    def build(m):
        def f(w):
            c, ys = m.lax.scan(lambda c, x: (m.np.sin(c * w) + x, c * w), A, XS)
            r = m.lax.fori_loop(0, 3, lambda i, r: r * w + 1.0, c)
            q = m.lax.cond(m.np.sum(w) > 0, lambda: r * w, lambda: r - w)
            return m.np.sum(q * q) + m.np.sum(ys)
        return f
    f, jf = build(FG), build(JX)
    want_grad, want_jvp, want_hessian = jax_jit(
        lambda b: (jax.grad(jf)(b), jax.jvp(jf, (b,), (A,)), jax.hessian(jf)(b)), B)
    same(fgrad.grad(f)(B), want_grad)
    same(fgrad.jvp(f, (B,), (A,)), want_jvp)
    with quick():
        same(fgrad.jit(fgrad.hessian(f))(B), want_hessian)


def test_forward_mode_of_a_while_closing_over_the_argument():
    def build(m):
        def f(w, limit):  # the body closes over w, cond_fun over limit: both get tangents
            return m.lax.while_loop(lambda c: m.np.sum(c * c) < limit,
                                    lambda c: c * w + 0.1, A * 2.0)
        return f
    w, limit = np.array([1.3, 1.2, 1.4]), np.float64(20.0)
    ws = np.stack([w, 1.1 * w, w[::-1]])
    f, jf = build(FG), build(JX)
    want_jvp, want_jacobian, want_batched = jax_jit(lambda w, limit, ws: (
        jax.jvp(jf, (w, limit), (B, np.float64(1.0))), jax.jacfwd(jf, (0, 1))(w, limit),
        jax.vmap(jax.jacfwd(jf), (0, None))(ws, limit)), w, limit, ws)
    same(fgrad.jvp(f, (w, limit), (B, np.float64(1.0))), want_jvp)
    same(fgrad.jacfwd(f, (0, 1))(w, limit), want_jacobian)
    # vmap of jacfwd: a batched predicate and batched tangents
    same(fgrad.vmap(fgrad.jacfwd(f), (0, None))(ws, limit), want_batched)


def test_fori_body_indexing_a_closed_over_argument_with_the_loop_index():
    def build(m):
        def f(table, x):
            return m.np.sum(m.lax.fori_loop(0, 3, lambda i, c: m.np.sin(c * table[i]) + c, x))
        return f
    f, jf = build(FG), build(JX)
    same(fgrad.grad(f, (0, 1))(W, A), jax_jit(jax.grad(jf, (0, 1)), W, A))


def test_vmap_of_grad_of_a_bounded_while_whose_finished_examples_would_overflow():
    """Under vmap the loop runs until every example is done; an example done early must not
    feed its carry through the body again (squaring overflows to inf, and 0 * inf is NaN
    in the gradient). Hand-derived: k squarings give d/dx x**(2**k) = 2**k x**(2**k - 1)."""
    def f(x):
        return fl.while_loop(lambda c: c < 10.0, lambda c: c * c, x, max_steps=12)
    xs = np.array([1.5, 1.1, 3.0])
    steps = np.array([3, 5, 2])  # 1.5 -> 25.6 in 3 squarings, 1.1 -> 21.1 in 5, 3 -> 81 in 2
    want = 2.0 ** steps * xs ** (2.0 ** steps - 1)
    np.testing.assert_allclose(fgrad.vmap(f)(xs), xs ** (2.0 ** steps), **TOL)
    np.testing.assert_allclose([fgrad.grad(f)(x) for x in xs], want, **TOL)
    np.testing.assert_allclose(fgrad.vmap(fgrad.grad(f))(xs), want, **TOL)


@pytest.mark.parametrize("kind", ["scan", "fori", "cond", "while_max_steps", "map"])
def test_no_perturbation_confusion(kind):
    # d/dx [x * d/dy h(x, y)], where the loop or branch in h uses both x and y
    def h(m, x, y):
        if kind == "scan":
            return m.lax.scan(lambda c, t: (m.np.sin(c * y) + x * t, None), np.float64(1.0),
                              XS[:, 0])[0]
        if kind == "fori":
            return m.lax.fori_loop(0, 3, lambda i, c: c * y + x * c * c, np.float64(0.5))
        if kind == "cond":
            return m.lax.cond(y > 0, lambda y: x * y * y, lambda y: y, y)
        if kind == "map":
            return m.np.sum(m.lax.map(lambda t: m.np.sin(t * y) * x, XS[:, 1]))
        out = m.bounded_while(lambda c: c[0] < 4, lambda c: (c[0] + 1, m.np.sin(c[1] * y) + x),
                              (0, np.float64(0.3)), 6)
        return out[1]

    def outer(m):
        return lambda x: x * m.grad(lambda y: h(m, x, y))(np.float64(0.7))

    x = np.float64(1.3)
    want = jax_jit(jax.grad(outer(JX)), x)
    np.testing.assert_allclose(fgrad.grad(outer(FG))(x), want, **TOL)
    if kind == "cond":  # by hand: x * 2xy at y = 0.7 is 1.4 x^2, whose derivative is 2.8 x
        np.testing.assert_allclose(want, 2.8 * 1.3, rtol=1e-12)


def test_no_perturbation_confusion_forward_mode_through_while():
    def outer(m, jvp):
        def f(x):
            inner = lambda y: m.lax.while_loop(  # noqa: E731
                lambda c: c < 5.0, lambda c: c * y + x, np.float64(0.5))
            return x * jvp(inner, (np.float64(1.5),), (np.float64(1.0),))[1]
        return f
    x, t = np.float64(0.8), np.float64(1.0)
    same(fgrad.jvp(outer(FG, fgrad.jvp), (x,), (t,)), jax.jvp(outer(JX, jax.jvp), (x,), (t,)))


# -- types, symbolic zeros, known carries and edge sizes ---------------------------------


def test_weak_typed_init_made_strong_by_the_body_is_accepted_like_jax():
    # JAX promotes a weakly typed initial carry (a Python float) to the body's dtype.
    def build(m):
        return lambda y: m.lax.scan(lambda c, x: (c * y + x, c), 1.0, XS[:, 0])
    same(build(FG)(np.float64(0.5)), build(JX)(np.float64(0.5)))
    same(fgrad.grad(lambda y: build(FG)(y)[0])(np.float64(0.5)),
         jax.grad(lambda y: build(JX)(y)[0])(np.float64(0.5)))


def test_weak_typed_init_takes_the_body_dtype_like_jax():
    # a Python float carry meeting float32 values (with float64 enabled): float32, as in JAX
    xs32 = XS[:, 0].astype(np.float32)
    body = lambda c, x: (c * x + 1.0, c)  # noqa: E731
    same(fl.scan(body, 1.0, xs32), jax.lax.scan(body, 1.0, xs32))


@pytest.mark.parametrize("bounds, init", [
    pytest.param((0, 3), np.int32(0), marks=pytest.mark.xfail(
        strict=True, raises=fgrad.ShapeDtypeError,
        reason="open: fgrad's index for Python-int bounds is strongly typed (int64 under x64), "
               "JAX's is weak, so an int32 carry plus the index changes type in fgrad")),
    ((np.int16(1), np.int16(4)), np.int32(2)),
    ((0, 3), np.float32(0.5)),
], ids=["python_int_bounds_int32_carry", "int16_bounds_int32_carry",
        "python_int_bounds_float32_carry"])
def test_fori_loop_index_type_matches_jax(bounds, init):
    """JAX's fori_loop with bounds known at trace time gives the body a weakly typed index,
    so `carry + i` keeps an int32 (or float32) carry's type."""
    body = lambda i, c: c + i * 2  # noqa: E731
    same(fl.fori_loop(*bounds, body, init), jax.lax.fori_loop(*bounds, body, init))
    traced = lambda m: lambda lo, hi: m.lax.fori_loop(lo, hi, body, init)  # noqa: E731
    same(fgrad.jit(traced(FG))(*bounds), jax.jit(traced(JX))(*bounds))


def int_aware_cotangent(like, seed):
    """Random cotangents, float0 zeros for integer outputs (JAX's cotangent type)."""
    leaves, tree = jax.tree_util.tree_flatten(like)
    return jax.tree_util.tree_unflatten(tree, [
        oracle.rand(x.shape, seed + i) if jnp.issubdtype(x.dtype, jnp.inexact)
        else np.zeros(x.shape, jax.dtypes.float0) for i, x in enumerate(leaves)])


def known_carry_prog(m):
    def f(x, y):  # k never depends on x or y: known to partial evaluation, a zero tangent
        def body(c, t):
            k, h = c
            k = k * 0.5 + 1.0
            h = m.np.sin(h * k) + x * t
            return (k, h), (k, h * y)
        return m.lax.scan(body, (np.float64(0.3), y), XS[:, 0])
    return f


def late_dependence_prog(m):
    def f(x, y):  # a starts constant and depends on x only from the second step
        def body(c, t):
            a, b = c
            return (a + b * t, b * 0.9 + x * y), a
        return m.lax.scan(body, (np.zeros(3), np.ones(3)), XS[:, 1])
    return f


def constant_branch_prog(m):
    def f(x, y):  # one branch ignores its operands; an integer output rides along
        return m.lax.cond(m.np.sum(x) > 0, lambda a, b: (a * b, m.np.int32(1)),
                          lambda a, b: (m.np.ones(3) * 2.0, m.np.int32(2)), x, y)
    return f


def counting_while_prog(m):
    def f(x, y):  # the counter (an integer) and a float carry both come out
        return m.bounded_while(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * y + x),
                               (np.int32(0), x), 5)
    return f


def stop_gradient_prog(m):
    def f(x, y):
        stop = m.stop_gradient
        return m.lax.scan(lambda c, t: (stop(c) * x + c * t, stop(c * y)), y, XS[:, 2])
    return f


def counting_fori_prog(m):
    def f(x, y):
        return m.lax.fori_loop(0, 3, lambda i, c: (c[0] + 1, c[1] * y + m.np.sin(x)),
                               (np.int32(0), x))
    return f


@pytest.mark.parametrize("build, args", [
    (known_carry_prog, (A, B)), (late_dependence_prog, (A, B)),
    (constant_branch_prog, (-A, B)), (counting_while_prog, (A, B)),
    (stop_gradient_prog, (A, B)), (counting_fori_prog, (A, B)),
], ids=["known_carry", "late_dependence", "constant_branch", "counting_while",
        "stop_gradient", "counting_fori"])
def test_zero_tangents_known_carries_and_integer_outputs(build, args):
    """Parts of a carry or a branch output that do not depend on the differentiated input
    (symbolic zeros, known to partial evaluation), or depend on it only after a few steps,
    and integer outputs (float0 tangents and cotangents); differentiated in each argument
    alone and in both."""
    f, jf = build(FG), build(JX)
    like = jax.eval_shape(jf, *args)
    tangents, cotangent = rand_like(args, 1), int_aware_cotangent(like, 2)
    inexact = [jnp.issubdtype(x.dtype, jnp.inexact) for x in tree_leaves(like)]
    weights = [w for w, keep in zip(tree_leaves(cotangent), inexact) if keep]

    def scalar(m, f):
        def s(*a):
            outs = [x for x, keep in zip(tree_leaves(f(*a)), inexact) if keep]
            return tree_dot(m, outs, weights)
        return s
    want_jvp, want_cts, want_grads = jax_jit(lambda a: (
        jax.jvp(jf, a, tangents), jax.vjp(jf, *a)[1](cotangent),
        [jax.grad(scalar(JX, jf), argnums)(*a) for argnums in (0, 1)]), args)
    same(fgrad.jvp(f, args, tangents), want_jvp)
    same(fgrad.vjp(f, *args)[1](cotangent), want_cts)
    for argnums in (0, 1):
        same(fgrad.grad(scalar(FG, f), argnums)(*args), want_grads[argnums])


def test_zero_trip_loops_return_their_initial_values():
    def build(m):
        def f(x):
            a = m.lax.scan(lambda c, t: (c * t, c), x, np.zeros((0, 3)))
            b = m.lax.fori_loop(5, 2, lambda i, c: c * 2.0, x)
            c = m.bounded_while(lambda c: c[0] < 1e9, lambda c: c * 2.0, x, 0)
            d = m.lax.scan(lambda c, _: (c * 2.0, c), x, None, length=0)
            return a, b, c, d
        return f
    f, jf = build(FG), build(JX)
    same(f(A), jf(A))
    cotangent = rand_like(jax.eval_shape(jf, A), 4)
    same(fgrad.vjp(f, A)[1](cotangent), jax_jit(lambda a: jax.vjp(jf, a)[1](cotangent), A))


def test_small_and_uneven_sizes_for_map_and_associative_scan():
    matmul = lambda m: lambda x: m.lax.associative_scan(m.np.matmul, x)  # noqa: E731
    add = lambda m: lambda x: m.lax.associative_scan(m.np.add, x, axis=-1)  # noqa: E731
    tree = lambda m: lambda xs: m.lax.map(  # noqa: E731
        lambda d: {"s": m.np.sum(d["a"]) * d["b"], "t": d["a"] * 2.0}, xs, batch_size=2)
    # (program, arguments) pairs; JAX's results all come from one compilation
    checks = [(matmul, (MATS[:n],)) for n in (1, 2)] + [(add, (XS,))]
    checks += [(functools.partial(map_prog, batch_size=batch_size), (MAP_XS, B))
               for batch_size in (1, 8)]  # every slice alone, more than there are
    checks += [(tree, ({"a": MAP_XS, "b": np.arange(5.0)},))]
    wants = jax_jit(lambda all_args: [build(JX)(*args) for (build, _), args
                                      in zip(checks, all_args)], [args for _, args in checks])
    for (build, args), want in zip(checks, wants):
        same(build(FG)(*args), want)


# -- compositions -------------------------------------------------------------------------


def test_scan_inside_grad_inside_vmap():
    f, jf = scan_prog(FG), scan_prog(JX)
    like = jax.eval_shape(jf, A, XS)
    s, js = scalarize(FG, f, like), scalarize(JX, jf, like)
    xs_batch = np.stack([XS, -XS])
    same(fgrad.vmap(fgrad.grad(s, (0, 1)), (None, 0))(A, xs_batch),
         jax_jit(jax.vmap(jax.grad(js, (0, 1)), (None, 0)), A, xs_batch))


def test_fori_loop_inside_jit_inside_grad():
    f, jf = fori_prog(FG), fori_prog(JX)
    s = lambda x, y: fnp.sum(f(x, y) ** 2)  # noqa: E731
    js = lambda x, y: jnp.sum(jf(x, y) ** 2)  # noqa: E731
    want_grad, want_hessian = jax_jit(
        lambda x, y: (jax.grad(js, (0, 1))(x, y), jax.hessian(js)(x, y)), A, B)
    same(fgrad.grad(fgrad.jit(s), (0, 1))(A, B), want_grad)
    same(fgrad.hessian(fgrad.jit(lambda x: s(x, B)))(A), want_hessian)


def test_traced_fori_bounds_under_jit_in_forward_mode():
    f, jf = fori_traced_prog(FG), fori_traced_prog(JX)
    n = np.int32(4)
    same(fgrad.jit(f)(A, n), jax.jit(jf)(A, n))
    same(fgrad.jvp(lambda x: fgrad.jit(f)(x, n), (A,), (B,)),
         jax.jvp(lambda x: jax.jit(jf)(x, n), (A,), (B,)))
    same(fgrad.jit(lambda x, n: fgrad.jacfwd(f)(x, n))(A, n),
         jax.jit(lambda x, n: jax.jacfwd(jf)(x, n))(A, n))


# (scan_pytree with `-m slow`: cond_in_scan runs both constructs' lowerings by default)
@pytest.mark.parametrize("name", [pytest.param("scan_pytree", marks=pytest.mark.slow),
                                  "cond_in_scan"])
def test_jax_transforms_of_fgrad_code_match_fgrad_and_jax(name):
    f, jf, args = pair(name)
    like = jax.eval_shape(jf, *args)
    s, js = scalarize(FG, f, like), scalarize(JX, jf, like)
    want = jax.jit(jf)(*args)
    same(jax.jit(f)(*args), want)
    argnums = tuple(range(len(args)))
    want_grad = jax.jit(jax.grad(js, argnums))(*args)
    same(jax.grad(s, argnums)(*args), want_grad)
    same(jax.jit(jax.grad(s, argnums))(*args), want_grad)
    same(fgrad.grad(s, argnums)(*args), want_grad)
    same(jax.jit(fgrad.grad(s, argnums))(*args), want_grad)


@pytest.mark.xfail(strict=True, raises=ValueError, reason=(
    "documented difference: a bounded while lowers to jax.lax.while_loop, which JAX cannot "
    "reverse-differentiate; fgrad.grad can (tests/test_lowering_derivatives.py lists it)"))
def test_jax_grad_of_fgrad_code_with_a_bounded_while():
    """fgrad.grad differentiates while_loop(..., max_steps=N) in reverse; JAX's grad of the
    same fgrad code (which runs fgrad's lowering) should too, as it does for scan and
    cond, and give the same derivative."""
    f = lambda x: fl.while_loop(lambda c: c < 10.0, lambda c: c * c, x, max_steps=8)  # noqa
    x = np.float64(1.5)  # three squarings: d/dx x**8 = 8 x**7
    np.testing.assert_allclose(fgrad.grad(f)(x), 8 * 1.5 ** 7, **TOL)
    np.testing.assert_allclose(jax.jvp(f, (x,), (1.0,))[1], 8 * 1.5 ** 7, **TOL)
    np.testing.assert_allclose(jax.grad(f)(x), 8 * 1.5 ** 7, **TOL)


# -- eager --------------------------------------------------------------------------------


def test_outside_transforms_results_are_concrete_jax_arrays():
    outs = [
        fl.cond(True, lambda a: a * 2.0, lambda a: a, A),
        fl.cond(np.bool_(False), lambda a: a * 2.0, lambda a: a, A),
        fl.cond(jnp.asarray(True), lambda a: a * 2.0, lambda a: a, A),
        fl.switch(1, [lambda a: a, lambda a: a + 1.0], A),
        fl.while_loop(lambda c: c < 10.0, lambda c: c * 2.0, np.float64(1.0)),
        fl.fori_loop(0, 3, lambda i, c: c + 1.0, A),
        fl.scan(lambda c, x: (c + x, c * x), A, XS),
        fl.map(fnp.sin, XS),
        fl.associative_scan(fnp.add, XS),
    ]
    for out in outs:
        for leaf in tree_leaves(out):
            assert type(leaf) is type(jnp.zeros(1)), type(leaf)  # noqa: E721
    same(outs[0], 2.0 * A)
    same(outs[1], jnp.asarray(A))
    same(outs[3], jnp.asarray(A + 1.0))
    assert float(outs[4]) == 16.0
    same(outs[5], jnp.asarray(A + 3.0))
    same(outs[6], jax.lax.scan(lambda c, x: (c + x, c * x), A, XS))
    same(outs[7], jnp.sin(XS))
    same(outs[8], jnp.cumsum(XS, 0))


def test_define_by_run_inside_grad_with_a_concrete_predicate():
    def build(m, scale_of):
        def f(x):
            s = m.np.sum(x)
            x = x * scale_of(s)
            y = m.lax.cond(s > 0, lambda a: m.np.sin(a) * a, lambda a: a * a * a, x)
            return m.np.sum(y * x)
        return f
    # fgrad: Python control flow on the traced (but concrete) sum, then cond on it
    f = build(FG, lambda s: 2.0 if s > 0 else 1.0)
    # JAX needs it decided outside: the scale is 2 at A, 1 at -A
    jfs = [build(JX, lambda s: 2.0), build(JX, lambda s: 1.0)]
    want, want_hessian = jax_jit(lambda xs: (
        [(jax.grad(jf)(x), jax.value_and_grad(jf)(x)) for jf, x in zip(jfs, xs)],
        jax.hessian(jfs[0])(xs[0])), [A, -A])
    for x, (want_grad, want_value_and_grad) in zip((A, -A), want):
        same(fgrad.grad(f)(x), want_grad)
        same(fgrad.value_and_grad(f)(x), want_value_and_grad)  # a second call
    same(fgrad.hessian(f)(A), want_hessian)


# -- program sizes do not grow with the trip count ----------------------------------------


def _indented_deeper(program, primitive_text):
    lines = str(program).splitlines()
    eqn_lines = [line for line in lines if " = " in line]
    top = min(len(line) - len(line.lstrip()) for line in eqn_lines)
    return any(primitive_text in line and len(line) - len(line.lstrip()) > top
               for line in eqn_lines)


@pytest.mark.parametrize("loop", ["fori", "scan", "while_max_steps"])
def test_program_sizes_do_not_depend_on_the_trip_count(loop):
    def build(n):
        def f(x):
            if loop == "fori":
                y = fl.fori_loop(0, n, lambda i, c: fnp.sin(c) * 0.5 + c * 0.1, x)
            elif loop == "scan":
                y = fl.scan(lambda c, _: (fnp.sin(c) * 0.5 + c * 0.1, c[0]), x, None,
                            length=n)[0]
            else:
                y = fl.while_loop(lambda c: c[0] < 1e9, lambda c: fnp.sin(c) * 0.5 + c * 1.1, x,
                                  max_steps=n)
            return fnp.sum(y * y)
        return f
    small, big = fgrad.make_ir(build(10))(A), fgrad.make_ir(build(10_000))(A)
    assert len(small.eqns) == len(big.eqns)
    assert len(small.eqns) < 10, small
    assert _indented_deeper(small, "sin"), small  # the body is a sub-program
    small_grad = fgrad.make_ir(fgrad.grad(build(10)))(A)
    big_grad = fgrad.make_ir(fgrad.grad(build(10_000)))(A)
    assert len(small_grad.eqns) == len(big_grad.eqns)
    assert len(small_grad.eqns) < 40, small_grad
    if loop != "while_max_steps":  # a long loop runs and differentiates correctly
        jf = lambda x: jnp.sum(jax.lax.fori_loop(  # noqa: E731
            0, 1000, lambda i, c: jnp.sin(c) * 0.5 + c * 0.1, x) ** 2)
        np.testing.assert_allclose(fgrad.grad(build(1000))(A), jax_jit(jax.grad(jf), A), **TOL)


# -- errors name both types, what to do, and the user's line ------------------------------


def expect_error(kind, call, *fragments, line=None):
    """`call()` raises `kind` whose message contains every fragment (a tuple: one of its
    strings) and names the user's line: `line`, or by default the first line of `call` (a
    lambda that calls fgrad on that line)."""
    with pytest.raises(kind) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        options = fragment if isinstance(fragment, tuple) else (fragment,)
        assert any(option in message for option in options), (fragment, message)
    line = call.__code__.co_firstlineno if line is None else line
    assert f"{HERE}:{line}" in message, message
    return message


SCALAR_BOOL = ("bool[]", "scalar bool")  # the type a predicate must have, in either words
cond, switch, scan, while_loop = fl.cond, fl.switch, fl.scan, fl.while_loop  # short lines
double = lambda a: a * 2.0  # noqa: E731
ident = lambda a: a  # noqa: E731


def test_cond_predicate_errors():
    expect_error(ShapeDtypeError, lambda: cond(np.array([True, False]), double, ident, A),
                 "bool[2]", SCALAR_BOOL)
    expect_error(ShapeDtypeError, lambda: cond(np.array(1.0), double, ident, A), "f64[]",
                 SCALAR_BOOL)
    expect_error(ShapeDtypeError, lambda: cond(np.array(1, np.int32), double, ident, A),
                 "i32[]", SCALAR_BOOL)
    jitted = fgrad.jit(lambda x: cond(fnp.sum(x), double, ident, x))  # marker: float pred
    expect_error(ShapeDtypeError, lambda: jitted(A), "f64[]", SCALAR_BOOL,
                 line=line_of("marker: float pred"))
    s = lambda x: fnp.sum(cond(x > 0, double, ident, x))  # noqa: E731  marker: vector pred
    expect_error(ShapeDtypeError, lambda: fgrad.grad(s)(A), "bool[3]", SCALAR_BOOL,
                 line=line_of("marker: vector pred"))
    assert issubclass(ShapeDtypeError, TypeError) and issubclass(ShapeDtypeError, ValueError)


def test_switch_index_errors():
    branches = [ident, double]
    expect_error(ShapeDtypeError, lambda: switch(np.array(1.0), branches, A), "f64[]")
    jitted = fgrad.jit(lambda x: switch(x[0], branches, x))  # marker: traced float index
    expect_error(ShapeDtypeError, lambda: jitted(A), "f64[]",
                 line=line_of("marker: traced float index"))


def test_branches_with_different_output_types():
    expect_error(ShapeDtypeError, lambda: cond(True, ident, lambda a: a[:2], A),
                 "f64[3]", "f64[2]")
    expect_error(ShapeDtypeError, lambda: cond(True, ident, lambda a: a.astype("float32"), A),
                 "f64[3]", "f32[3]")
    expect_error(StructureError, lambda: cond(False, lambda a: (a, a), ident, A))
    expect_error(ShapeDtypeError, lambda: switch(0, [ident, ident, fnp.sum], A),
                 "f64[3]", "f64[]")
    jitted = fgrad.jit(lambda x: cond(x[0] > 0, ident, lambda a: a[:2], x))  # marker: jit branch
    expect_error(ShapeDtypeError, lambda: jitted(A), "f64[3]", "f64[2]",
                 line=line_of("marker: jit branch"))


def test_carry_type_changed_by_the_body():
    expect_error(ShapeDtypeError, lambda: scan(lambda c, x: (c[:2], x), A, XS),
                 "f64[3]", "f64[2]")
    expect_error(ShapeDtypeError, lambda: scan(lambda c, x: (c.astype("float32"), x), A, XS),
                 "f64[3]", "f32[3]")
    expect_error(StructureError, lambda: scan(lambda c, x: ((c, c), x), A, XS))
    expect_error(ShapeDtypeError, lambda: fl.fori_loop(0, 3, lambda i, c: c[:2], A),
                 "f64[3]", "f64[2]")
    expect_error(ShapeDtypeError, lambda: while_loop(lambda c: c[0] < 1.0, fnp.sum, A),
                 "f64[3]", "f64[]")
    expect_error(ShapeDtypeError,
                 lambda: while_loop(lambda c: c[0] < 1.0, lambda c: c[:1], A, max_steps=3),
                 "f64[3]", "f64[1]")


def test_xs_leaves_with_different_leading_lengths():
    expect_error(ShapeDtypeError, lambda: scan(lambda c, x: (c, x), A, (XS, np.ones(5))),
                 "f64[4,3]", "f64[5]")
    expect_error(ShapeDtypeError, lambda: fl.map(lambda x: x[0], (XS, np.ones((5, 3)))),
                 "f64[4,3]", "f64[5,3]")
    expect_error(ShapeDtypeError, lambda: scan(lambda c, x: (c, x), A, XS, length=3),
                 "f64[4,3]", "length=3")


def body_with_python_if(c, x):
    if x[0] > 0:  # marker: python if in a body
        return c + x, c
    return c - x, c


def test_python_control_flow_inside_a_body_is_a_concretization_error():
    line = line_of("marker: python if in a body")
    for call in (lambda: scan(body_with_python_if, A, XS),
                 lambda: fgrad.grad(lambda c: fnp.sum(scan(body_with_python_if, c, XS)[0]))(A),
                 lambda: cond(True, lambda a: body_with_python_if(a, a), ident, A)):
        message = expect_error(fgrad.ConcretizationError, call, line=line)
        assert "scan" in message or "cond" in message, message


def test_other_argument_errors():
    expect_error(ShapeDtypeError, lambda: fl.fori_loop(0.0, 3, lambda i, c: c, A), "f64[]")
    expect_error(StructureError, lambda: scan(lambda c, x: c, A, XS), "pair")
    expect_error(ValueError, lambda: while_loop(lambda c: c[0] < 1.0, double, A, max_steps=-1),
                 "max_steps", "-1")
    expect_error(ValueError, lambda: switch(0, [], A), "branch")


def test_while_cond_fun_must_return_a_scalar_bool():
    expect_error(ShapeDtypeError, lambda: while_loop(lambda c: c < 1.0, double, A),
                 "bool[3]", SCALAR_BOOL)
    expect_error(ShapeDtypeError, lambda: while_loop(fnp.sum, double, A), "f64[]", SCALAR_BOOL)


# -- reverse mode of a while loop without max_steps --------------------------------------


@pytest.mark.parametrize("how", ["grad", "vjp", "jacrev", "jit_grad", "hessian"])
def test_reverse_mode_of_an_unbounded_while_asks_for_max_steps(how):
    f = CASES["while_forward"].build(FG)
    s = lambda x: fnp.sum(f(x) ** 2)  # noqa: E731
    calls = {
        "grad": lambda: fgrad.grad(s)(A),
        "vjp": lambda: fgrad.vjp(f, A)[1](B),
        "jacrev": lambda: fgrad.jacrev(f)(A),
        "jit_grad": lambda: fgrad.jit(fgrad.grad(s))(A),
        "hessian": lambda: fgrad.hessian(s)(A),
    }
    with pytest.raises(FgradError) as info:
        calls[how]()
    message = str(info.value)
    assert "max_steps" in message, message
    # the user's line: the call that asked for reverse mode, or the loop's own line
    lines = {calls[how].__code__.co_firstlineno,
             line_of("m.lax.while_loop(cond_fun, body_fun, (0, x))")}
    assert any(f"{HERE}:{n}" in message for n in lines), message
    # forward mode of the same loop works and matches JAX's
    want_jvp, want_jacobian = _unbounded_while_forward_mode()
    same(fgrad.jvp(f, (A,), (B,)), want_jvp)
    same(fgrad.jacfwd(f)(A), want_jacobian)


@functools.cache
def _unbounded_while_forward_mode():
    """JAX's JVP and Jacobian of while_forward at A, compiled once for the five tests above."""
    jf = CASES["while_forward"].build(JX)
    return jax_jit(lambda a: (jax.jvp(jf, (a,), (B,)), jax.jacfwd(jf)(a)), A)


def test_reverse_mode_of_a_fori_loop_with_traced_bounds_is_an_fgrad_error():
    f = fori_traced_prog(FG)
    g = fgrad.jit(fgrad.grad(lambda x, n: fnp.sum(f(x, n))))
    with pytest.raises(FgradError) as info:
        g(A, np.int32(3))
    assert HERE in str(info.value), str(info.value)


def test_the_gradient_of_a_weak_initial_carry_is_weak_as_in_jax():
    # The carry settles to the body's strong type; the init's cotangent keeps the init's.
    def f(m, lax):
        return lambda x: lax.scan(lambda c, i: (c * 1.1 + i, c), x, m.arange(3.0))[0]
    same(fgrad.grad(f(fnp, fl))(0.7), jax.grad(f(jnp, jax.lax))(0.7))
    same(fgrad.jit(fgrad.grad(f(fnp, fl)))(0.7), jax.grad(f(jnp, jax.lax))(0.7))
