"""fgrad.numpy's contractions against jax.numpy: einsum (diagonals, traces, ellipses, the
sublist form, implicit outputs, every `optimize=`, precision and preferred_element_type),
einsum_path, tensordot, inner, vecdot, matvec, vecmat, vdot, kron and cross. Values, shapes,
dtypes and weak types eagerly, traced and under jax.jit and fgrad.jit; derivatives to second
order by finite differences; fgrad.vmap against jax.vmap; errors where JAX raises."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.core import aval_of, eval_program, trace_to_program, typecheck
from fgrad.testing import check_grads
from oracle import assert_same, assert_trees_same, check, check_first_order, make, rand

close = functools.partial(assert_same, rtol=1e-5, atol=1e-5)


def agree(f, jf, *args, eager: bool = False, rtol=1e-5, atol=1e-5):
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


def operands(shapes, dtype=np.float32, seed=0):
    """Random NumPy arrays (complex ones with imaginary parts; small integers)."""
    if np.issubdtype(dtype, np.inexact):
        return [rand(s, seed + k, dtype) for k, s in enumerate(shapes)]
    return [np.asarray(make(s, dtype, seed + k, int_bound=3)) for k, s in enumerate(shapes)]


# -- einsum: values, dtypes, weak types ------------------------------------------------------

EINSUMS = [
    # diagonals and traces: a label repeated within one operand
    ("ii->i", [(3, 3)]), ("ii->", [(3, 3)]), ("iij->j", [(3, 3, 2)]), ("iji->ij", [(3, 2, 3)]),
    ("iii->i", [(3, 3, 3)]), ("ii,i->i", [(3, 3), (3,)]), ("bii,bjj->bij", [(2, 3, 3), (2, 2, 2)]),
    ("ii->", [(0, 0)]), ("ijij->ij", [(2, 3, 2, 3)]),
    # ellipses, broadcasting size-1 axes
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]), ("...ii->...i", [(2, 3, 3)]),
    ("ij...,jk...->ik...", [(2, 3, 4), (3, 5)]), ("...", [(2, 3)]), ("...,...", [(2, 1), (3,)]),
    ("ij,ij->ij", [(2, 3), (1, 3)]),
    # implicit outputs, sums, transposes, labels beyond letters, spaces
    ("ij,jk", [(2, 3), (3, 4)]), ("ji", [(2, 3)]), ("ij->", [(2, 3)]),
    ("Ab,bA->", [(2, 3), (3, 2)]), ("i1,1j", [(2, 3), (3, 4)]),
    (" ij , jk -> ki ", [(2, 3), (3, 4)]),
    # three or more operands
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]), ("abc,cd,db->a", [(2, 3, 4), (4, 5), (5, 3)]),
    ("ij,jk,kl,lm->im", [(2, 3), (3, 4), (4, 5), (5, 6)]), ("ij,jk,ki->", [(2, 3), (3, 4),
                                                                       (4, 2)]),
    # 0-d and size-0 operands
    ("", [()]), (",i->i", [(), (3,)]), ("ij,jk", [(2, 0), (0, 3)]), ("i->", [(0,)]),
]


# The cases also evaluated eagerly (the others: traced, and under jax.jit).
EAGER = {"iij->j", "...ij,...jk->...ik", "ij,ij->ij", ""}


@pytest.mark.parametrize("spec,shapes", EINSUMS, ids=[s for s, _ in EINSUMS])
def test_einsum(spec, shapes):
    xs = operands(shapes)
    agree(lambda *a: fnp.einsum(spec, *a), lambda *a: jnp.einsum(spec, *a), *xs,
          eager=spec in EAGER)


DTYPE_CASES = [("ij,jk", np.int32), ("ii->i", np.int32), ("ij->i", np.bool_), ("ii->", np.bool_),
               ("ij,jk", np.bool_), ("ij,jk->ik", np.complex64), ("ii", np.complex64),
               ("ij,jk", np.float16), ("ij->", np.int8), ("ij,jk,kl", np.uint8)]


@pytest.mark.parametrize("spec,dtype", DTYPE_CASES, ids=[f"{s}-{np.dtype(d).name}"
                                                         for s, d in DTYPE_CASES])
def test_einsum_dtypes(spec, dtype):
    n_ops = spec.split("->")[0].count(",") + 1
    xs = operands([(3, 3)] * n_ops, dtype)
    agree(lambda *a: fnp.einsum(spec, *a), lambda *a: jnp.einsum(spec, *a), *xs, rtol=2e-3,
          atol=2e-3, eager=dtype in (np.bool_, np.complex64))


def test_einsum_promotion_and_weak_types():
    x, i = operands([(2, 3)])[0], operands([(3,)], np.int32)[0]
    agree(lambda x, i: fnp.einsum("ij,j->i", x, i), lambda x, i: jnp.einsum("ij,j->i", x, i), x, i,
          eager=True)
    weak = make((3,), np.float32, weak=True)
    agree(lambda w: fnp.einsum("i,i->i", w, w), lambda w: jnp.einsum("i,i->i", w, w), weak,
          eager=True)
    agree(lambda w, i: fnp.einsum("i,i", w, i), lambda w, i: jnp.einsum("i,i", w, i), weak, i)
    for args in [(2.0, 3), (2, 3), (True, 2.5)]:
        close(fnp.einsum(",", *args), jnp.einsum(",", *args))
    close(fnp.einsum("i,->i", i, 2.5), jnp.einsum("i,->i", i, 2.5))


SUBLISTS = [
    lambda a, b: (a, [0, 1], b, [1, 2], [0, 2]),
    lambda a, b: (a, [0, 1], b, [1, 2]),
    lambda a, b: (a, [26, 0]),  # implicit output in the labels' order (0 before 26)
    lambda a, b: (a, [0, Ellipsis]),
    lambda a, b: (a, [Ellipsis, 1], [1]),
    lambda a, b: (a, [0, 1], b, [1, 0], []),
]


@pytest.mark.parametrize("k", range(len(SUBLISTS)))
def test_einsum_sublist_form(k):
    a, b = operands([(2, 3), (3, 2)])
    args = SUBLISTS[k](a, b)
    arrays = [x for x in args if not isinstance(x, list)]

    def call(module):
        def f(*xs):
            it = iter(xs)
            return module.einsum(*[x if isinstance(x, list) else next(it) for x in args])
        return f

    agree(call(fnp), call(jnp), *arrays, eager=k == 0)


def test_einsum_precision_and_preferred_element_type():
    a, b, c = operands([(2, 3), (3, 4), (4, 2)])
    for precision in ["highest", (jax.lax.Precision.HIGH, jax.lax.Precision.DEFAULT)]:
        agree(lambda a, b, c: fnp.einsum("ij,jk,kl", a, b, c, precision=precision),
              lambda a, b, c: jnp.einsum("ij,jk,kl", a, b, c, precision=precision), a, b, c)
    i8, j8 = operands([(3, 3), (3, 3)], np.int8, seed=5)
    for spec in ["ij,jk", "ij->", "ii->i", "ij,jk,kl->"]:
        ops = [i8, j8, i8][:spec.split("->")[0].count(",") + 1]
        agree(lambda *a: fnp.einsum(spec, *a, preferred_element_type=np.int32),
              lambda *a: jnp.einsum(spec, *a, preferred_element_type=np.int32), *ops,
              eager=spec == "ij,jk")
    agree(lambda a, b: fnp.einsum("ij,jk", a, b, preferred_element_type=np.float16),
          lambda a, b: jnp.einsum("ij,jk", a, b, preferred_element_type=np.float16), a, b,
          rtol=1e-2, atol=1e-2)
    bools = operands([(3, 3)], np.bool_)[0]
    agree(lambda x: fnp.einsum("ij->", x, preferred_element_type=np.int32),
          lambda x: jnp.einsum("ij->", x, preferred_element_type=np.int32), bools)


# -- optimize= and einsum_path ---------------------------------------------------------------

CHAIN = "ij,jk,kl,lm->im"
CHAIN_SHAPES = [(6, 5), (5, 2), (2, 5), (5, 6)]


def dot_shapes(spec, xs, **kwargs):
    """The sizes of each dot_general's result (sorted: each step's layout is its own)."""
    program = fgrad.make_ir(lambda *a: fnp.einsum(spec, *a, **kwargs))(*xs)
    return [tuple(sorted(e.outputs[0].aval.shape)) for e in program.eqns
            if e.primitive.name == "dot_general"]


@pytest.mark.parametrize("optimize", [False, True, "greedy", "optimal", "auto", "dp",
                                      [(1, 2), (0, 2), (0, 1)], [(0, 1), (0, 1), (0, 1)]],
                         ids=str)
def test_einsum_optimize(optimize):
    xs = operands(CHAIN_SHAPES)
    agree(lambda *a: fnp.einsum(CHAIN, *a, optimize=optimize),
          lambda *a: jnp.einsum(CHAIN, *a, optimize=optimize), *xs, eager=optimize is False)


def test_einsum_optimize_orders():
    xs = operands(CHAIN_SHAPES)
    # optimize=False contracts strictly left to right: AB, then (AB)C, then ((AB)C)D.
    assert dot_shapes(CHAIN, xs, optimize=False) == [(2, 6), (5, 6), (6, 6)]
    # The optimizers keep the rank-2 factors apart: AB and CD first.
    for optimize in [True, "greedy", "auto"]:
        assert dot_shapes(CHAIN, xs, optimize=optimize) == [(2, 6), (2, 6), (6, 6)]
    # An explicit path is followed: BC (the list is then A, D, BC), then A(BC), then D.
    assert dot_shapes(CHAIN, xs, optimize=[(1, 2), (0, 2), (0, 1)]) == [(5, 5), (5, 6), (6, 6)]
    path, _ = fnp.einsum_path(CHAIN, *xs, optimize="greedy")
    assert len(dot_shapes(CHAIN, xs, optimize=path)) == 3
    # the diagonal is a selection (reshape and strided slice), no arithmetic
    program = fgrad.make_ir(lambda x: fnp.einsum("ii->i", x))(np.ones((3, 3), np.float32))
    assert [e.primitive.name for e in program.eqns] == ["reshape", "slice"]


@pytest.mark.parametrize("optimize", [False, True, "greedy", "optimal", "auto"], ids=str)
@pytest.mark.parametrize("spec,shapes", [(CHAIN, CHAIN_SHAPES),
                                         ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
                                         ("ij", [(2, 3)]), ("ii,jj,ij->", [(2, 2), (3, 3),
                                                                            (2, 3)])],
                         ids=["chain4", "chain3", "one", "diagonals"])
def test_einsum_path(spec, shapes, optimize):
    xs = operands(shapes)
    got_path, got_info = fnp.einsum_path(spec, *xs, optimize=optimize)
    want_path, want_info = jnp.einsum_path(spec, *xs, optimize=optimize)
    assert got_path == want_path
    assert str(got_info) == str(want_info)


# -- einsum: errors --------------------------------------------------------------------------

EINSUM_ERRORS = [
    (lambda m: m.einsum("ij,jk", np.ones((2, 3)), np.ones((4, 5))), "index 'j' has different "
                                                                    "sizes"),
    (lambda m: m.einsum("ij,jk", np.ones((2, 3))), "name 2 operands but 1"),
    (lambda m: m.einsum("ijk->", np.eye(3)), "has 2 axes but its subscripts 'ijk'"),
    (lambda m: m.einsum("ij->iij", np.ones((2, 3))), "repeat the index 'i'"),
    (lambda m: m.einsum("ij->k", np.ones((2, 3))), "output index 'k' appears in no operand"),
    (lambda m: m.einsum("...ij,...jk", np.ones((3, 3, 4)), np.ones((5, 4, 2))),
     "an ellipsis axis has different sizes"),
    (lambda m: m.einsum("i.j", np.ones((2, 3))), "may only appear as one '...'"),
    (lambda m: m.einsum("ij->i->j", np.ones((2, 3))), "one '->'"),
    (lambda m: m.einsum("ij", np.ones((2, 3)), out=np.ones(3)), "'out' argument"),
    (lambda m: m.einsum(CHAIN, *[np.ones(s) for s in CHAIN_SHAPES], optimize=[(0, 1, 2),
                                                                             (0, 1)]),
     "one or two operands at a time"),
    (lambda m: m.einsum(CHAIN, *[np.ones(s) for s in CHAIN_SHAPES], optimize="bogus"),
     "bogus"),
    (lambda m: m.einsum("i,i", np.ones(3), [1.0, 2.0, 3.0]), "list"),
]


@pytest.mark.parametrize("k", range(len(EINSUM_ERRORS)))
def test_einsum_errors(k):
    call, fragment = EINSUM_ERRORS[k]
    with pytest.raises(Exception) as jax_error:
        call(jnp)
    with pytest.raises(Exception) as ours:
        call(fnp)
    assert isinstance(ours.value, type(jax_error.value)), (ours.value, jax_error.value)
    assert fragment in str(ours.value), str(ours.value)


def test_einsum_path_errors():
    xs = [np.ones(s) for s in CHAIN_SHAPES]
    with pytest.raises(ValueError, match="leaves 2 operands"):
        fnp.einsum(CHAIN, *xs, optimize=[(0, 1), (0, 1)])
    with pytest.raises(ValueError, match="does not name one or two distinct"):
        fnp.einsum(CHAIN, *xs, optimize=[(0, 4), (0, 1), (0, 1)])
    with pytest.raises(ValueError, match="different sizes"):
        fnp.einsum("ii", np.ones((2, 3)))  # NumPy's error (JAX computes something)


# -- the other contractions ------------------------------------------------------------------

C64, I32 = np.complex64, np.int32
PRODUCTS = [
    ("tensordot", lambda m, a, b: m.tensordot(a, b), [(2, 3, 4), (3, 4, 5)], np.float32),
    ("tensordot1", lambda m, a, b: m.tensordot(a, b, 1), [(2, 3), (3, 4)], I32),
    ("tensordot0", lambda m, a, b: m.tensordot(a, b, 0), [(2,), (3,)], np.float32),
    ("tensordot_pair", lambda m, a, b: m.tensordot(a, b, ((0, 2), (2, 0))), [(3, 2, 4),
                                                                            (4, 5, 3)], C64),
    ("tensordot_preferred", lambda m, a, b: m.tensordot(a, b, (1, -1),
                                                       preferred_element_type=I32),
     [(2, 3), (4, 3)], np.int8),
    ("tensordot_empty", lambda m, a, b: m.tensordot(a, b, 1), [(2, 0), (0, 3)], np.float32),
    ("inner", lambda m, a, b: m.inner(a, b), [(2, 3), (4, 3)], C64),
    ("inner_scalar", lambda m, a, b: m.inner(a, b), [(), (2, 3)], I32),
    ("inner_preferred", lambda m, a, b: m.inner(a, b, preferred_element_type=np.float32),
     [(), (3,)], I32),
    ("vecdot", lambda m, a, b: m.vecdot(a, b), [(4, 1, 3), (2, 3)], np.float32),
    ("vecdot_axis_complex", lambda m, a, b: m.vecdot(a, b, axis=0), [(3, 2), (3, 2)], C64),
    ("vdot_complex", lambda m, a, b: m.vdot(a, b), [(2, 3), (6,)], C64),
    ("matvec", lambda m, a, b: m.matvec(a, b), [(4, 2, 3), (5, 1, 3)], C64),
    ("vecmat", lambda m, a, b: m.vecmat(a, b), [(4, 1, 3), (5, 3, 2)], np.float32),
    ("vecmat_complex_empty", lambda m, a, b: m.vecmat(a, b), [(0,), (0, 2)], C64),
    ("kron", lambda m, a, b: m.kron(a, b), [(2, 3), (3, 2)], np.float32),
    ("kron_ranks", lambda m, a, b: m.kron(a, b), [(2,), (2, 3, 2)], I32),
    ("kron_scalar", lambda m, a, b: m.kron(a, b), [(), (3,)], C64),
    ("cross", lambda m, a, b: m.cross(a, b), [(4, 3), (3,)], I32),
    ("cross_2d", lambda m, a, b: m.cross(a, b), [(5, 2), (2,)], np.float32),
    ("cross_mixed", lambda m, a, b: m.cross(a, b), [(2,), (4, 3)], C64),
    ("cross_axes", lambda m, a, b: m.cross(a, b, axisa=0, axisb=1, axisc=0), [(3, 4), (4, 3)],
     np.float32),
    ("outer", lambda m, a, b: m.outer(a, b), [(2, 3), (2,)], C64),
]


@pytest.mark.parametrize("name", [p[0] for p in PRODUCTS])
def test_products(name):
    _, f, shapes, dtype = next(p for p in PRODUCTS if p[0] == name)
    xs = operands(shapes, dtype)
    # eagerly too for the first case of each function
    eager = name in {"tensordot", "inner", "vecdot", "vdot_complex", "matvec", "vecmat",
                     "kron", "cross", "outer"}
    agree(lambda a, b: f(fnp, a, b), lambda a, b: f(jnp, a, b), *xs, eager=eager)


def test_products_of_python_scalars_and_weak_values():
    weak = make((3,), np.float32, weak=True)
    for f in [lambda m: m.kron(2.0, 3), lambda m: m.inner(2, 3.5), lambda m: m.kron(weak, 2),
              lambda m: m.inner(weak, weak), lambda m: m.tensordot(weak, weak, 1),
              lambda m: m.vecdot(weak, weak), lambda m: m.cross(weak, weak)]:
        close(f(fnp), f(jnp))


PRODUCT_ERRORS = [
    (lambda m: m.tensordot(np.ones((2, 3)), np.ones((3, 4)), 3), "axes=3"),
    (lambda m: m.tensordot(np.ones((2, 3)), np.ones((4, 4)), 1), "not aligned"),
    (lambda m: m.tensordot(np.ones((2, 3)), np.ones((3, 4)), [[1], [0, 1]]), "equally many"),
    (lambda m: m.tensordot(np.ones((2, 3)), np.ones((3, 4)), "x"), "axes must be"),
    (lambda m: m.vecdot(np.ones(3), np.ones(4)), "differ in length"),
    (lambda m: m.matvec(np.ones((2, 3)), np.ones(4)), "contracted sizes are 3 and 4"),
    (lambda m: m.matvec(np.ones(3), np.ones(3)), "at least 2 and 1 axes"),
    (lambda m: m.vecmat(np.ones(3), np.ones((2, 2))), "contracted sizes"),
    (lambda m: m.cross(np.ones(4), np.ones(3)), "2 or 3 components"),
    (lambda m: m.kron(np.ones(2, bool), np.ones(2, bool)), "booleans"),
]


@pytest.mark.parametrize("k", range(len(PRODUCT_ERRORS)))
def test_product_errors(k):
    call, fragment = PRODUCT_ERRORS[k]
    with pytest.raises(Exception) as jax_error:
        call(jnp)
    with pytest.raises(type(jax_error.value), match=fragment):
        call(fnp)


# -- derivatives, vmap ---------------------------------------------------------------------

GRADS = [
    ("diagonal", lambda x: fnp.einsum("ii->i", x), [(3, 3)]),
    ("trace", lambda x: fnp.einsum("ii->", x), [(3, 3)]),
    ("chain3", lambda a, b, c: fnp.einsum("ij,jk,kl->il", a, b, c), [(2, 3), (3, 4), (4, 2)]),
    ("chain3_left_to_right", lambda a, b, c: fnp.einsum("ij,jk,k->i", a, b, c, optimize=False),
     [(2, 3), (3, 4), (4,)]),
    ("tensordot", lambda a, b: fnp.tensordot(a, b, ((0, 2), (2, 0))), [(3, 2, 4), (4, 2, 3)]),
]


@pytest.mark.parametrize("name", [g[0] for g in GRADS])
def test_second_derivatives(name, x64):
    _, f, shapes = next(g for g in GRADS if g[0] == name)
    check_grads(f, operands(shapes, np.float64), order=2)


def everything(m, a, b, c, v):
    """Every contraction, raveled into one vector."""
    outs = [m.einsum("ii,ij->j", a, b), m.einsum("...ii->...", c), m.einsum("ij,jk,k", a, b, v),
            m.einsum("ij,jk,k", a, b, v, optimize=False), m.tensordot(c, a, 1), m.inner(a, b),
            m.vecdot(a, b), m.matvec(c, v), m.vecmat(v, c), m.kron(a, v), m.cross(a, b),
            m.cross(a[:, :2], v), m.outer(a, v), m.vdot(a, b)]
    return m.concatenate([m.ravel(o) for o in outs])


def test_first_derivatives_against_jax(x64):
    """JVPs and VJPs of every contraction against JAX's, both under jax.jit (one compilation
    each)."""
    args = tuple(operands([(3, 3), (3, 3), (2, 3, 3), (3,)], np.float64))
    tangents = tuple(operands([np.shape(a) for a in args], np.float64, seed=10))
    f, jf = functools.partial(everything, fnp), functools.partial(everything, jnp)
    want = jax.jit(lambda a, t: jax.jvp(jf, a, t))(args, tangents)
    got = jax.jit(lambda a, t: fgrad.jvp(f, a, t))(args, tangents)
    assert_trees_same(got, want, rtol=1e-12, atol=1e-12)
    cotangent = rand(np.shape(want[0]), 20)
    want = jax.jit(lambda a, c: jax.vjp(jf, *a)[1](c))(args, cotangent)
    got = jax.jit(lambda a, c: fgrad.vjp(f, *a)[1](c))(args, cotangent)
    assert_trees_same(got, want, rtol=1e-12, atol=1e-12)


COMPLEX_GRADS = [
    ("vdot", lambda m, a, b: m.vdot(a, b), [(2, 3), (6,)]),
    ("vecdot", lambda m, a, b: m.vecdot(a, b), [(2, 3), (3,)]),
    ("vecmat", lambda m, a, b: m.vecmat(a, b), [(3,), (3, 2)]),
]


@pytest.mark.parametrize("name", [g[0] for g in COMPLEX_GRADS])
def test_complex_derivatives(name, x64):
    """The conjugations (composed without a conj primitive) differentiate as JAX's conj:
    JVPs and VJPs against JAX's, with complex tangents and cotangents."""
    _, f, shapes = next(g for g in COMPLEX_GRADS if g[0] == name)
    xs = tuple(rand(s, k, np.complex128) for k, s in enumerate(shapes))
    tangents = tuple(rand(s, 10 + k, np.complex128) for k, s in enumerate(shapes))
    cotangent = rand(np.shape(f(jnp, *xs)), 20, np.complex128)
    check_first_order(lambda *a: f(fnp, *a), lambda *a: f(jnp, *a), xs, tangents, cotangent,
                      rtol=1e-12, atol=1e-12)


JITS = [
    ("diagonal", lambda m, x, y, z: m.einsum("ii,ij->j", x, y)),
    ("chain", lambda m, x, y, z: m.einsum("ij,jk,k->i", x, y, z, optimize=False)),
    ("sublist", lambda m, x, y, z: m.einsum(x, [0, 1], y, [1, 2], z, [2], [0])),
    ("products", lambda m, x, y, z: m.kron(m.tensordot(x, y, 1), m.cross(z, z + 1.0))),
]


@pytest.mark.parametrize("name", [j[0] for j in JITS])
def test_fgrad_jit(name):
    f = next(j[1] for j in JITS if j[0] == name)
    x, y, z = operands([(3, 3), (3, 3), (3,)])
    want = f(jnp, x, y, z)
    close(fgrad.jit(lambda *a: f(fnp, *a))(x, y, z), want)
    close(jax.jit(lambda *a: f(fnp, *a))(x, y, z), want)


VMAPS = [
    ("diagonal", lambda m, x: m.einsum("ii->i", x), [(3, 3)], 0),
    ("chain", lambda m, a, b, c: m.einsum("ij,jk,kl->il", a, b, c), [(2, 3), (3, 4), (4, 2)],
     (0, None, 1)),
    ("ellipsis", lambda m, a, b: m.einsum("...ij,...jk->...ik", a, b), [(2, 1, 3), (1, 3, 2)],
     (1, 0)),
    ("left_to_right", lambda m, a, b, c: m.einsum("i,ij,j", a, b, c, optimize=False),
     [(3,), (3, 4), (4,)], (None, 0, 0)),
    ("tensordot", lambda m, a, b: m.tensordot(a, b, 1), [(2, 3), (3, 4)], (1, None)),
    ("cross", lambda m, a, b: m.cross(a, b), [(3,), (3,)], (0, 0)),
    ("kron", lambda m, a, b: m.kron(a, b), [(2,), (3,)], (None, 0)),
    ("vecdot", lambda m, a, b: m.vecdot(a, b), [(2, 3), (3,)], (0, None)),
    ("matvec", lambda m, a, b: m.matvec(a, b), [(2, 3), (3,)], (2, 0)),
]


@pytest.mark.parametrize("name", [v[0] for v in VMAPS])
def test_vmap(name):
    _, f, shapes, in_axes = next(v for v in VMAPS if v[0] == name)
    axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(shapes)
    batched = [s if ax is None else s[:ax] + (4,) + s[ax:] for s, ax in zip(shapes, axes)]
    xs = operands(batched)
    # Under jax.jit, so that each batched program compiles once rather than op by op.
    want = jax.jit(jax.vmap(lambda *a: f(jnp, *a), in_axes=in_axes))(*xs)
    close(jax.jit(fgrad.vmap(lambda *a: f(fnp, *a), in_axes=in_axes))(*xs), want)
    close(jax.jit(jax.vmap(lambda *a: f(fnp, *a), in_axes=in_axes))(*xs), want)
