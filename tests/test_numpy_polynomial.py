"""fgrad.numpy's polynomials, convolutions, differences, interpolation and sample
statistics against jax.numpy: values, shapes, dtypes and weak types eagerly, traced and
under jax.jit; derivatives to second order by finite differences; fgrad.vmap and jax.vmap
against jax.vmap; fgrad.jit; errors where JAX raises."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.core import ConcretizationError, aval_of, eval_program, trace_to_program, typecheck
from fgrad.testing import check_grads
from oracle import assert_same, assert_trees_same, check, make, rand

close = functools.partial(assert_same, rtol=1e-5, atol=1e-5)
F32, F64, C64, I32 = np.float32, np.float64, np.complex64, np.int32


def array(shape, dtype=F32, seed=0):
    """Random NumPy values (complex ones with imaginary parts; small integers)."""
    if np.issubdtype(dtype, np.inexact):
        return rand(shape, seed, dtype)
    return np.asarray(make(shape, dtype, seed, int_bound=4))


def agree(f, jf, *args, eager: bool, rtol=2e-5, atol=2e-5):
    """f and jf agree: as a traced program that typechecks and declares JAX's output type,
    evaluated under jax.jit; with `eager`, also evaluated eagerly and op by op (oracle.check).
    Eager evaluation compiles every operation on its own, so only some cases do it."""
    if eager:
        check(f, jf, *args, rtol=rtol, atol=atol)
        return
    want = jf(*args)
    program, _ = trace_to_program(f, list(args), "make_ir")
    typecheck(program)
    assert program.out_avals == [aval_of(want)], (program.out_avals, aval_of(want))
    got = jax.jit(lambda *a: eval_program(program, *a)[0])(*args)
    assert_same(got, want, rtol=rtol, atol=atol)


def increasing(n, seed=0, dtype=F32):
    return np.cumsum(np.abs(rand((n,), seed)) + 0.3).astype(dtype)


# -- values against jax.numpy ----------------------------------------------------------------
# (name, function of a namespace and the arrays, the arrays); Python scalars and other
# static arguments live in the function.

# The shapes are few (vectors of 5 and 3, matrices of 3 x 5 and 5 x 3), so that the cases
# share the compiled operations of eager evaluation.
CASES = [
    # convolutions: each mode, each operand the longer
    ("convolve-full", lambda M, a, v: M.convolve(a, v), [array((5,)), array((3,), seed=1)]),
    ("convolve-same-swapped", lambda M, a, v: M.convolve(a, v, "same"),
     [array((3,)), array((5,), seed=1)]),
    ("correlate-valid-swapped", lambda M, a, v: M.correlate(a, v), [array((3,)), array((5,))]),
    ("correlate-same", lambda M, a, v: M.correlate(a, v, "same"), [array((5,)), array((3,))]),
    ("correlate-complex", lambda M, a, v: M.correlate(a, v, "full"),
     [array((3,), C64), array((5,), C64, 1)]),
    ("convolve-int-preferred", lambda M, a, v: M.convolve(a, v, preferred_element_type=I32),
     [array((5,), I32), array((3,), I32, 1)]),
    ("convolve-precision", lambda M, a, v: M.convolve(a, v, precision="highest"),
     [array((5,)), array((1,), seed=1)]),
    # polynomials
    ("poly", lambda M, r: M.poly(r), [array((3,))]),
    ("poly-complex", lambda M, r: M.poly(r), [array((3,), C64)]),
    ("poly-empty", lambda M, r: M.poly(r), [array((0,))]),
    ("polyval", lambda M, p, x: M.polyval(p, x), [array((5,)), array((3,), seed=1)]),
    ("polyval-columns", lambda M, p, x: M.polyval(p, x, unroll=2), [array((5, 3)),
                                                                    array((3,), seed=1)]),
    ("polyval-python", lambda M, p: M.polyval(p, 2.5), [array((5,))]),
    ("polyval-empty", lambda M, p, x: M.polyval(p, x), [array((0,)), array((3,))]),
    ("polyadd", lambda M, a, b: M.polyadd(a, b), [array((5,)), array((3,), seed=1)]),
    ("polyadd-short-first", lambda M, a, b: M.polyadd(a, b), [array((3,), I32),
                                                              array((5,), seed=1)]),
    ("polysub", lambda M, a, b: M.polysub(a, b), [array((3,), C64), array((3,), C64, 1)]),
    ("polymul", lambda M, a, b: M.polymul(a, b), [array((5,)), array((3,), seed=1)]),
    ("polyder", lambda M, p: M.polyder(p), [array((5,))]),
    ("polyder-3-complex", lambda M, p: M.polyder(p, 3), [array((5,), C64)]),
    ("polyder-too-many", lambda M, p: M.polyder(p, 6), [array((5,))]),
    ("polyint-3-int", lambda M, p: M.polyint(p, 3), [array((5,), I32)]),
    ("polyint-constants", lambda M, p, k: M.polyint(p, 3, k), [array((5,)), array((3,))]),
    ("polyint-scalar-constant", lambda M, p: M.polyint(p, 2, k=3.0), [array((5,))]),
    ("vander", lambda M, x: M.vander(x), [array((5,))]),
    ("vander-N-int", lambda M, x: M.vander(x, 5, increasing=True), [array((3,), I32)]),
    ("vander-complex", lambda M, x: M.vander(x, 3), [array((3,), C64)]),
    # differences and integrals
    ("diff", lambda M, a: M.diff(a), [array((5,))]),
    ("diff-2-axis0-int", lambda M, a: M.diff(a, 2, axis=0), [array((5, 3), I32)]),
    ("diff-ends", lambda M, a, b: M.diff(a, prepend=1.5, append=b), [array((5,)), array((3,))]),
    ("diff-bool", lambda M, a: M.diff(a, 2), [array((5,), np.bool_)]),
    ("ediff1d-ends", lambda M, a, b: M.ediff1d(a, to_begin=1, to_end=b), [array((3, 5), I32),
                                                                          array((3,))]),
    ("ediff1d-scalar", lambda M, a: M.ediff1d(a, to_end=2.5), [array(())]),
    ("gradient", lambda M, f: M.gradient(f), [array((5,))]),
    ("gradient-coordinates", lambda M, f, x: M.gradient(f, x, axis=1), [array((3, 5)),
                                                                        increasing(5)]),
    ("gradient-complex", lambda M, f: M.gradient(f, 2.0), [array((5,), C64)]),
    ("trapezoid-dx", lambda M, y: M.trapezoid(y, dx=0.5, axis=0), [array((5, 3), I32)]),
    ("trapezoid-x", lambda M, y, x: M.trapezoid(y, x), [array((3, 5)), increasing(5)]),
    ("trapezoid-x-2d", lambda M, y, x: M.trapezoid(y, x, axis=0), [array((5, 3)),
                                                                   array((5, 3), seed=1)]),
    ("trapezoid-dx-array", lambda M, y, d: M.trapezoid(y, dx=d), [array((3, 5)),
                                                                  array((3, 1), seed=1)]),
    ("unwrap", lambda M, p: M.unwrap(p, axis=0, discont=4.0),
     [np.cumsum(array((5, 3)) * 3, axis=0).astype(F32)]),
    ("unwrap-int", lambda M, p: M.unwrap(p, period=6), [np.array([0, 5, 10, 3, -8], I32)]),
    # interpolation
    ("interp-left-right", lambda M, x, xp, fp: M.interp(x, xp, fp, left=-10.0, right=10),
     [array((3,)) * 3 + 2, increasing(5), array((5,), seed=2)]),
    ("interp-extrapolate", lambda M, x, xp, fp: M.interp(x, xp, fp, left="extrapolate",
                                                         right="extrapolate"),
     [array((3, 5)) * 3 + 2, increasing(5), array((5,), seed=2)]),
    ("interp-period", lambda M, x, xp, fp: M.interp(x, xp, fp, period=3.0),
     [array((3,)) * 4, array((5,), seed=1), array((5,), seed=2)]),
    ("interp-complex", lambda M, x, xp, fp: M.interp(x, xp, fp),
     [array((3,)) * 3 + 2, increasing(5), array((5,), C64, 2)]),
    ("interp-int", lambda M, x, xp, fp: M.interp(x, xp, fp),
     [array((3,), I32), np.arange(-2, 3, dtype=I32), array((5,), I32)]),
    ("interp-repeated-point", lambda M, x, xp, fp: M.interp(x, xp, fp),
     [np.array([0.5, 1.0, 1.5], F32), np.array([0.0, 1.0, 1.0, 2.0, 3.0], F32),
      array((5,))]),
    # statistics
    ("cov", lambda M, m: M.cov(m), [array((3, 5))]),
    ("cov-columns", lambda M, m: M.cov(m, rowvar=False, bias=True), [array((5, 3))]),
    ("cov-y-vector-first", lambda M, m, y: M.cov(m, y), [array((5,)), array((3, 5), seed=1)]),
    ("cov-y-columns", lambda M, m, y: M.cov(m, y, rowvar=False, ddof=2),
     [array((5, 3)), array((5, 1), seed=1)]),
    ("cov-fweights", lambda M, m, f: M.cov(m, fweights=f), [array((3, 5)),
                                                            np.array([1, 2, 1, 3, -1])]),
    ("cov-both-weights", lambda M, m, f, a: M.cov(m, fweights=f, aweights=a, ddof=1),
     [array((3, 5)), np.array([1, 2, 1, 3, 1]), array((5,))]),
    ("cov-int", lambda M, m: M.cov(m), [array((3, 5), I32)]),
    ("cov-complex", lambda M, m: M.cov(m), [array((3, 5), C64)]),
    ("cov-no-variables", lambda M, m: M.cov(m), [array((0, 5))]),
    ("cov-one-variable-no-samples", lambda M, m: M.cov(m), [array((1, 0))]),
    ("corrcoef", lambda M, x: M.corrcoef(x), [array((3, 5))]),
    ("corrcoef-y", lambda M, x, y: M.corrcoef(x, y, rowvar=False), [array((5, 3)),
                                                                    array((5, 3), seed=1)]),
    ("corrcoef-complex", lambda M, x: M.corrcoef(x), [array((3, 5), C64)]),
]


# The cases also evaluated eagerly (the Python scalars among them); the derivative, vmap and
# jit tests below evaluate the others eagerly too.
EAGER = {"correlate-complex", "polyval-python", "polyadd-short-first", "polyint-scalar-constant",
         "diff-ends", "ediff1d-scalar", "trapezoid-x", "interp-left-right", "cov-fweights"}


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_values(name):
    _, f, args = next(c for c in CASES if c[0] == name)
    agree(lambda *a: f(fnp, *a), lambda *a: f(jnp, *a), *args, eager=name in EAGER)


MULTIPLE_RESULTS = [
    ("polydiv", lambda M, u, v: M.polydiv(u, v), [array((5,)), array((3,), seed=1)]),
    ("polydiv-complex-short", lambda M, u, v: M.polydiv(u, v), [array((3,), C64),
                                                                array((5,), C64, 1)]),
    ("gradient-2d", lambda M, f: M.gradient(f), [array((3, 5))]),
    ("gradient-spacing", lambda M, f: M.gradient(f, 0.5, 2.0), [array((3, 5))]),
    ("gradient-spacing-arrays", lambda M, f, x, y: M.gradient(f, x, y),
     [array((3, 5)), increasing(3), increasing(5, seed=1)]),
]


@pytest.mark.parametrize("name", [c[0] for c in MULTIPLE_RESULTS])
def test_multiple_results(name):
    _, f, args = next(c for c in MULTIPLE_RESULTS if c[0] == name)
    want = f(jnp, *args)
    got = f(fnp, *args)
    jitted = jax.jit(lambda *a: f(fnp, *a))(*args)
    assert type(got) is type(want)
    for g, j, w in zip(got, jitted, want):
        close(g, w)
        close(j, w)


WEAK = [lambda M, w: M.polyval(w, 2), lambda M, w: M.polyadd(w, w),
        lambda M, w: M.polyder(w), lambda M, w: M.polyint(w, 1, 2.0),
        lambda M, w: M.diff(w, prepend=1), lambda M, w: M.ediff1d(w),
        lambda M, w: M.gradient(w), lambda M, w: M.trapezoid(w, dx=2),
        lambda M, w: M.vander(w), lambda M, w: M.correlate(w, w, "full"),
        lambda M, w: M.interp(0.5, w, w), lambda M, w: M.unwrap(w), lambda M, w: M.cov(w),
        lambda M, w: M.poly(w), lambda M, w: M.polydiv(w, w)[0]]


def test_weak_values_under_jit():
    """Weakly typed operands (what jax.jit makes of Python scalars) give JAX's weak types;
    under jax.jit, which keeps the weak types and compiles each side once."""
    weak = make((5,), F32, weak=True)
    got = jax.jit(lambda w: [f(fnp, w) for f in WEAK])(weak)
    want = jax.jit(lambda w: [f(jnp, w) for f in WEAK])(weak)
    assert len(got) == len(want) == len(WEAK)
    for g, w in zip(got, want):
        close(g, w)


# -- trim_zeros and what needs concrete values ------------------------------------------------

TRIMS = [(np.array([0.0, 0, 1, 2, 0]), {}), (np.array([0, 0, 1, 2, 0]), {"trim": "f"}),
         (np.array([0.0, 3, 0]), {"trim": "B"}), (np.array([0, 0, 0]), {}),
         (np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]]), {"axis": 0}),
         (np.array([[0, 0, 0], [0, 1, 2], [0, 0, 0]]), {}), (np.array([1.0, 2]), {"trim": ""}),
         (np.array(2.0), {})]


@pytest.mark.parametrize("k", range(len(TRIMS)))
def test_trim_zeros(k):
    x, kwargs = TRIMS[k]
    close(fnp.trim_zeros(x, **kwargs), jnp.trim_zeros(x, **kwargs))


def test_trim_zeros_inside_a_transformation():
    """Define-by-run: with concrete inputs, fgrad's transformations can read the values."""
    x = np.array([0.0, 0.0, 1.5, -2.0, 0.0], F32)
    got = fgrad.grad(lambda x: fnp.sum(fnp.trim_zeros(x) ** 2))(x)
    want = jax.grad(lambda x: jnp.sum(jnp.trim_zeros(x) ** 2))(x)
    close(got, want)


def test_concrete_values_are_required_under_jit():
    x = np.array([0.0, 1.0, 0.0])
    for call in [lambda x: fnp.trim_zeros(x), lambda x: fnp.polymul(x, x, trim_leading_zeros=True),
                 lambda x: fnp.polydiv(x, x[1:], trim_leading_zeros=True)]:
        for jit in (fgrad.jit, jax.jit):
            with pytest.raises(ConcretizationError, match="needs concrete values"):
                jit(call)(x)
    close(fnp.polymul(x, x, trim_leading_zeros=True),
          jnp.polymul(x, x, trim_leading_zeros=True))
    q, r = fnp.polydiv(np.array([1.0, 2, 1]), np.array([1.0, 1]), trim_leading_zeros=True)
    want_q, want_r = jnp.polydiv(np.array([1.0, 2, 1]), np.array([1.0, 1]),
                                 trim_leading_zeros=True)
    close(q, want_q)
    close(r, want_r)


# -- errors ----------------------------------------------------------------------------------

ERRORS = [
    (lambda M: M.convolve(np.ones(3), np.ones(2), "bad"), "mode must be one of"),
    (lambda M: M.convolve(np.ones(0), np.ones(2)), "cannot be empty"),
    (lambda M: M.correlate(np.ones((2, 2)), np.ones(2)), "1-dimensional"),
    (lambda M: M.poly(np.ones((2, 3))), "non-empty square"),
    (lambda M: M.polyder(np.ones(3), -1), "must be positive"),
    (lambda M: M.polyint(np.ones(3), -1), "must be positive"),
    (lambda M: M.polyint(np.ones(3), 2, np.ones(3)), "length 1 or m=2"),
    (lambda M: M.vander(np.ones((2, 2))), "1-D"),
    (lambda M: M.vander(np.ones(2), -1), "nonnegative"),
    (lambda M: M.diff(np.ones(3), -1), "non-negative"),
    (lambda M: M.diff(2.0), "at least one dimension"),
    (lambda M: M.gradient(np.ones((1, 3))), "at least 2 elements"),
    (lambda M: M.gradient(np.ones(3), np.ones(4)), "length of the axis"),
    (lambda M: M.gradient(np.ones((3, 3)), 1.0, 2.0, 3.0), "spacing arguments"),
    (lambda M: M.interp(np.ones(2), np.ones(3), np.ones(4)), "equal size"),
    (lambda M: M.interp(np.ones(2), np.ones(3), np.ones(3), left="nope"), "'extrapolate'"),
    (lambda M: M.interp(np.ones(2), np.ones(3), np.ones(3), period=np.ones(2)), "scalar"),
    (lambda M: M.interp(np.ones(2, C64), np.ones(3), np.ones(3)), "complex"),
    (lambda M: M.cov(np.ones((2, 2, 2))), "more than 2 dimensions"),
    (lambda M: M.cov(np.ones((2, 3)), fweights=np.ones(3)), "integers"),
    (lambda M: M.cov(np.ones((2, 3)), fweights=np.ones(4, I32)), "samples"),
    (lambda M: M.cov(np.ones((2, 3)), aweights=np.ones((3, 1))), "multidimensional"),
    (lambda M: M.cov(np.ones((2, 3)), dtype=I32), "float or complex"),
    (lambda M: M.unwrap(np.ones(3, C64)), "complex"),
]


@pytest.mark.parametrize("k", range(len(ERRORS)))
def test_errors(k):
    call, fragment = ERRORS[k]
    with pytest.raises(Exception) as jax_error:
        call(jnp)
    with pytest.raises(Exception) as ours:
        call(fnp)
    assert isinstance(ours.value, type(jax_error.value)), (ours.value, jax_error.value)
    assert fragment in str(ours.value), str(ours.value)


def test_left_out_and_unsupported():
    with pytest.raises(ValueError, match="not a scalar"):  # JAX: an IndexError in its scan
        fnp.polyval(2.0, np.ones(3))
    with pytest.raises(NotImplementedError, match="first-order edges"):
        fnp.gradient(np.ones(4), edge_order=2)
    close(fnp.gradient(np.arange(4.0) ** 2, edge_order=1), jnp.gradient(np.arange(4.0) ** 2))


# -- derivatives, vmap, jit ------------------------------------------------------------------

# Second order by finite differences (forward and reverse), for a representative few; every
# function's first derivatives against JAX's below.
GRADS = [
    ("convolve", lambda a, v: fnp.convolve(a, v), [(5,), (3,)]),
    ("polyval", fnp.polyval, [(5,), (3,)]),
    ("interp", lambda x, fp: fnp.interp(x, np.arange(5.0), fp), [(3,), (5,)]),
    ("cov", lambda m, a: fnp.cov(m, aweights=a * a + 1), [(3, 5), (5,)]),
    ("corrcoef", fnp.corrcoef, [(3, 5)]),
]


@pytest.mark.parametrize("name", [g[0] for g in GRADS])
def test_second_derivatives(name, x64):
    _, f, shapes = next(g for g in GRADS if g[0] == name)
    args = [rand(s, k) for k, s in enumerate(shapes)]
    if name == "interp":  # away from the kinks at the sample points
        args[0] = np.array([0.3, 1.6, 3.9])
    check_grads(f, args, order=2)


def everything(M, a, v, r, m, x):
    """The differentiable functions test_second_derivatives leaves out, raveled into one
    vector."""
    coordinates = M.cumsum(x * x + 0.5)
    outs = [
        M.correlate(v, a, "full"), M.poly(r), M.polysub(M.polyadd(a, r), M.polymul(r, v)),
        *M.polydiv(a, r), M.polyder(M.polyint(a, 2, r[:2]) ** 2, 2), M.vander(r, 4),
        M.diff(m, 2, axis=0, prepend=v[0]), M.ediff1d(m, to_begin=r[0]),
        M.gradient(a, coordinates), *M.gradient(m, 0.5, 2.0), M.trapezoid(m, coordinates),
        M.trapezoid(m, dx=0.3, axis=0), M.unwrap(m * 3, axis=0),
        M.interp(v, np.array([0.5, 2.0, 1.0]), r, period=2.5),
    ]
    return M.concatenate([M.ravel(o) for o in outs])


def test_first_derivatives_against_jax(x64):
    """JVPs and VJPs against JAX's, both under jax.jit (one compilation each)."""
    args = tuple(rand(s, k) for k, s in enumerate([(5,), (3,), (3,), (3, 5), (5,)]))
    tangents = tuple(rand(np.shape(a), 10 + k) for k, a in enumerate(args))
    f, jf = functools.partial(everything, fnp), functools.partial(everything, jnp)
    want = jax.jit(lambda a, t: jax.jvp(jf, a, t))(args, tangents)
    got = jax.jit(lambda a, t: fgrad.jvp(f, a, t))(args, tangents)
    assert_trees_same(got, want, rtol=1e-10, atol=1e-10)
    cotangent = rand(np.shape(want[0]), 20)
    want = jax.jit(lambda a, c: jax.vjp(jf, *a)[1](c))(args, cotangent)
    got = jax.jit(lambda a, c: fgrad.vjp(f, *a)[1](c))(args, cotangent)
    assert_trees_same(got, want, rtol=1e-10, atol=1e-10)


VMAPS = [
    ("convolve", lambda M, a, v: M.convolve(a, v, "same"), [(5,), (3,)], (0, None)),
    ("correlate", lambda M, a, v: M.correlate(a, v), [(5,), (3,)], (0, 0)),
    ("polyval", lambda M, p, x: M.polyval(p, x), [(4,), (3,)], (1, None)),
    ("poly", lambda M, r: M.poly(r), [(3,)], 0),
    ("polydiv", lambda M, u, v: M.polydiv(u, v)[1], [(5,), (2,)], (0, 0)),
    ("diff", lambda M, a: M.diff(a, axis=0), [(3, 2)], 1),
    ("gradient", lambda M, f, x: M.gradient(f, x), [(4,), (4,)], (0, None)),
    ("trapezoid", lambda M, y, x: M.trapezoid(y, x), [(5,), (5,)], (0, None)),
    ("interp", lambda M, x, fp: M.interp(x, np.arange(5.0, dtype=F32), fp), [(3,), (5,)],
     (0, 0)),
    ("cov", lambda M, m: M.cov(m), [(2, 5)], 2),
    ("corrcoef", lambda M, m: M.corrcoef(m), [(2, 5)], 0),
    ("unwrap", lambda M, p: M.unwrap(p * 4), [(5,)], 0),
]


@pytest.mark.parametrize("name", [v[0] for v in VMAPS])
def test_vmap(name):
    _, f, shapes, in_axes = next(v for v in VMAPS if v[0] == name)
    axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(shapes)
    batched = [s if ax is None else s[:ax] + (3,) + s[ax:] for s, ax in zip(shapes, axes)]
    xs = [array(s, seed=k) for k, s in enumerate(batched)]
    if name == "gradient":
        xs[1] = increasing(4)
    # Under jax.jit, so that each batched program compiles once rather than op by op.
    want = jax.jit(jax.vmap(lambda *a: f(jnp, *a), in_axes=in_axes))(*xs)
    close(jax.jit(fgrad.vmap(lambda *a: f(fnp, *a), in_axes=in_axes))(*xs), want)
    close(jax.jit(jax.vmap(lambda *a: f(fnp, *a), in_axes=in_axes))(*xs), want)


def test_fgrad_jit():
    def f(M, x, y):
        p = M.polymul(M.poly(x), y)
        q, r = M.polydiv(p, y)
        grid = M.linspace(0.0, 1.0, 6)
        return (M.polyval(q, grid) + M.interp(grid, grid * 2, M.diff(M.vander(x, 6)[0], 1, -1,
                                                                         0.0)),
                r, M.cov(M.stack([x, y]), bias=True), M.trapezoid(M.gradient(p), dx=0.1))

    x, y = array((3,)), array((3,), seed=1)
    want = jax.jit(lambda x, y: f(jnp, x, y))(x, y)
    for jit in (fgrad.jit, jax.jit):
        got = jit(lambda x, y: f(fnp, x, y))(x, y)
        for g, w in zip(got, want):
            assert_same(g, w, rtol=1e-4, atol=1e-4)


# -- polyfit, roots, and poly of a matrix: least squares and eigenvalues -----------------------
# Each comparison runs under one jit per side: eager evaluation would compile every
# operation (the SVD, inverse and eigenvalues among them) on its own.

HERE = "test_numpy_polynomial.py"
FIT_X = np.linspace(-1.0, 2.0, 7)
FIT_Y = np.stack([np.cos(3 * FIT_X) + 0.1 * rand((7,), 1, F64), rand((7,), 2, F64)], axis=1)
FIT_W = 1.0 + np.abs(rand((7,), 3, F64))

# (name, function of a namespace and x, y (7, 2), w): each output a value, or a tuple.
POLYFITS = [
    ("plain", lambda M, x, y, w: M.polyfit(x, y[:, 0], 3)),
    ("2-D y, weights", lambda M, x, y, w: M.polyfit(x, y, 2, w=w)),
    ("full, weights", lambda M, x, y, w: M.polyfit(x, y[:, 0], 2, full=True, w=w)),
    ("full, 2-D y, rcond", lambda M, x, y, w: M.polyfit(x, y, 4, rcond=1e-3, full=True)),
    ("cov", lambda M, x, y, w: M.polyfit(x, y[:, 0], 2, cov=True, w=w)),
    ("cov, 2-D y", lambda M, x, y, w: M.polyfit(x, y, 3, cov=True)),
    ("cov unscaled", lambda M, x, y, w: M.polyfit(x, y[:, 0], 2, cov="unscaled")),
    ("cov unscaled, 2-D y", lambda M, x, y, w: M.polyfit(x, y, 2, cov="unscaled")),
    ("degree 0, float32 x", lambda M, x, y, w: M.polyfit(x.astype(F32), y[:, 0], 0)),
    ("rank deficient", lambda M, x, y, w: M.polyfit(M.ones(7) * x[0], y[:, 0], 1, full=True,
                                                     cov=True)),  # full wins over cov
]


@pytest.mark.usefixtures("x64", "quick_compile")
def test_polyfit_matches_jax():
    """Every output (coefficients, residuals, rank, singular values, rcond, covariances)
    with JAX's values, dtypes and weak types."""
    def all_of(M):
        return lambda x, y, w: {name: f(M, x, y, w) for name, f in POLYFITS}

    got = jax.jit(all_of(fnp))(FIT_X, FIT_Y, FIT_W)
    want = jax.jit(all_of(jnp))(FIT_X, FIT_Y, FIT_W)
    for name, _ in POLYFITS:
        try:
            assert_trees_same(got[name], want[name], rtol=1e-9, atol=1e-11)
        except AssertionError as e:
            raise AssertionError(f"{name}: {e}") from None
    assert int(want["rank deficient"][2]) == 1  # the case means what it says


ROOTS = [
    np.array([0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0]),  # leading and trailing zeros, +-i
    np.array([0.0, 0.0, 0.0]),                      # all zero
    np.array([0.0, 5.0]),                           # no root after stripping
    np.array([3.0]),
    np.array(2.0),
    # no leading zeros: strip_zeros does not matter
    np.array([2.0, 1.0, 3.0, -1.0]),                # a complex pair and a real root
    np.array([1.0 + 1.0j, 0.0, -2.0j]),             # complex coefficients
    np.array([2.0, 1.0, 3.0, -1.0], F32),           # complex64 roots
]


def all_roots(M):
    """strip_zeros=False of the traced arguments; the roots of poly's polynomial; the
    characteristic polynomial of a matrix (poly takes its eigenvalues)."""
    def f(ps, matrix):
        return {"kept": [M.roots(p, strip_zeros=False) for p in ps],
                "of poly": M.roots(M.poly(np.array([-1.5, 0.25, 2.0])), strip_zeros=False),
                "poly of a matrix": [M.poly(matrix), M.poly(np.ones((1, 1), F32))]}
    return f


@pytest.mark.usefixtures("x64", "quick_compile")
def test_roots_and_poly_match_jax():
    """JAX's roots (values, order, complex dtype; NaN for each leading zero that
    strip_zeros=False keeps), strip_zeros=False under fgrad.jit; poly of a square matrix.
    strip_zeros=True needs concrete values: fgrad reads those of the constants under
    fgrad.jit (JAX refuses them under jax.jit), which JAX's eager results check."""
    ps = [p for p in ROOTS if np.ndim(p) == 1 and len(p) >= 2]
    matrix = rand((3, 3), 4, F64)
    got = fgrad.jit(all_roots(fnp))(ps, matrix)
    want = jax.jit(all_roots(jnp))(ps, matrix)
    assert_trees_same(got, want, rtol=1e-6, atol=1e-6)  # float32 among them
    assert_trees_same(got["kept"][:-1], want["kept"][:-1], rtol=1e-10, atol=1e-12)
    stripped = fgrad.jit(lambda: [fnp.roots(p) for p in ROOTS])()
    want = [jnp.roots(p) for p in ROOTS[:5]]  # the rest are "kept" above, eigenvalues alike
    assert_trees_same(stripped[:5], want, rtol=1e-10, atol=1e-12)
    assert_trees_same(stripped[5:], got["kept"][-3:])
    assert stripped[0].shape == (4,)  # the two leading zeros stripped
    assert np.isnan(got["kept"][0][-2:]).all()
    close(np.sort_complex(np.asarray(got["of poly"])), np.array([-1.5, 0.25, 2.0], complex))


def fit_losses(M, grad):
    """Gradients of weighted sums of polyfit's coefficients (and covariance), and of the
    roots, for both libraries."""
    weights = np.linspace(-1.0, 1.0, 6).reshape(3, 2)

    def fit(x, y, w):
        p, c = M.polyfit(x, y, 2, w=w, cov=True)
        return M.sum(weights * p) + M.sum(c[..., 0]) / 10

    def root_sum(p):
        r = M.roots(p, strip_zeros=False)
        return M.sum(M.real(r) ** 2 + M.imag(r))

    return lambda x, y, w, p: (grad(fit, (0, 1, 2))(x, y, w), grad(root_sum)(p))


@pytest.mark.usefixtures("x64", "quick_compile")
def test_gradients_match_jax():
    """polyfit's derivatives in x, y and w (through lstsq's SVD and inv), and roots' (the
    eigenvalues of the companion matrix), against jax.grad; each side in one jit."""
    args = (FIT_X, FIT_Y, FIT_W, ROOTS[5])
    got = jax.jit(fit_losses(fnp, fgrad.grad))(*args)
    want = jax.jit(fit_losses(jnp, jax.grad))(*args)
    assert all(np.any(np.asarray(g) != 0) for g in jax.tree.leaves(want))
    assert_trees_same(got, want, rtol=1e-8, atol=1e-10)


@pytest.mark.usefixtures("x64")
def test_polyfit_second_derivatives():
    """Second order in y by finite differences, forward and reverse (of the function under
    fgrad.jit, whose derivatives are its body's: each program compiles once instead of
    operation by operation)."""
    check_grads(fgrad.jit(lambda y: fnp.polyfit(FIT_X, y, 2)), (FIT_Y[:, 0],), order=2)


def raises(error, call, *fragments):
    """call() raises `error`, naming every fragment and the line of `call` in this file."""
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert f"{HERE}:{call.__code__.co_firstlineno}" in message, message


def test_polyfit_and_roots_errors():
    """The types JAX raises (or subclasses), with the problem and the user's line."""
    x, y = np.arange(4.0), np.ones(4)
    raises(ValueError, lambda: fnp.polyfit(x, y, -1), "deg >= 0")
    raises(TypeError, lambda: fnp.polyfit(x, np.ones(5), 2), "same length", "4 and 5")
    raises(TypeError, lambda: fnp.polyfit(np.ones((4, 1)), y, 2), "1-D vector for x")
    raises(TypeError, lambda: fnp.polyfit(np.ones(0), np.ones(0), 1), "non-empty")
    raises(TypeError, lambda: fnp.polyfit(x, np.ones((4, 1, 1)), 1), "1-D or 2-D array for y")
    raises(TypeError, lambda: fnp.polyfit(x, y, 1, w=np.ones(3)), "w and y", "3 and 4")
    raises(TypeError, lambda: fnp.polyfit(x, y, 1, w=np.ones((4, 1))), "the weights")
    raises(ValueError, lambda: fnp.polyfit(x, y, 3, cov=True), "must exceed", "unscaled")
    raises(ValueError, lambda: fnp.polyfit(np.arange(4), y, 1), "rcond", "int")
    raises(TypeError, lambda: fgrad.jit(lambda d: fnp.polyfit(x, y, d))(2), "deg", "static")
    raises(ValueError, lambda: fnp.roots(np.ones((2, 2))), "rank-1")
    raises(TypeError, lambda: fgrad.jit(fnp.roots)(np.ones(3)), "strip_zeros=False",
           "concrete")
    for error, call in ((ValueError, lambda M: M.polyfit(x, y, -1)),
                        (TypeError, lambda M: M.polyfit(x, np.ones(5), 2)),
                        (TypeError, lambda M: jax.jit(M.roots)(np.ones(3)))):
        for M in (jnp, fnp):
            with pytest.raises(error):
                call(M)
