"""fgrad.lax's sort, sort_key_val, top_k and running reductions (cumprod, cummax, cummin,
cumlogsumexp) against jax.lax: values, dtypes and weak types (eagerly, traced, and the
traced program under jax.jit), shape-rule errors, JVPs / VJPs / Hessians against JAX's in
float64 (at zeros and ties too), and vmap against jax.vmap over several in_axes."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import fgrad
import oracle
from fgrad import lax as fl
from fgrad.core import aval_of, eval_program, trace_to_program, typecheck
from oracle import check_error, use_dtype

make = functools.partial(oracle.make, int_bound=3)  # small: products stay exact, ties occur
check = functools.partial(oracle.check, rtol=1e-6)


def check_results(fgrad_fn, jax_fn, *args, **tolerances):
    """oracle.check for functions of several results (sort of several operands, top_k)."""
    want = jax_fn(*args)
    oracle.assert_trees_same(tuple(fgrad_fn(*args)), tuple(want), **tolerances)
    program, _ = trace_to_program(lambda *a: tuple(fgrad_fn(*a)), list(args), "make_ir")
    typecheck(program)
    assert program.out_avals == [aval_of(w) for w in want]
    oracle.assert_trees_same(tuple(eval_program(program, *args)), tuple(want), **tolerances)
    jitted = jax.jit(lambda *a: tuple(eval_program(program, *a)))(*args)
    oracle.assert_trees_same(jitted, tuple(want), **tolerances)


# -- values, dtypes and weak types -----------------------------------------------------------

SORT_CASES = [((5,), -1), ((3, 4), 0), ((2, 3, 4), 1), ((0, 3), 0)]  # shape, dimension


@pytest.mark.parametrize("dtype_name", ["float32", "float64", "int32", "bool", "complex64"])
@pytest.mark.parametrize("shape, dimension", SORT_CASES)
def test_sort(request, dtype_name, shape, dimension):
    dtype = use_dtype(request, dtype_name)
    x = make(shape, dtype, weak=dtype_name == "float32")
    check(lambda x: fl.sort(x, dimension), lambda x: lax.sort(x, dimension), x)


def test_sort_orders_nans_last_and_zeros_equal():
    x = jnp.array([np.nan, 1.0, -np.inf, 0.0, -0.0, np.inf, -1.0])
    check(fl.sort, lax.sort, x)
    check(lambda x: fl.sort(x, is_stable=False), lambda x: lax.sort(x, is_stable=False), x)


@pytest.mark.parametrize("num_keys", [1, 2])
@pytest.mark.parametrize("shape, dimension", [((6,), 0), ((3, 4), 0), ((3, 4), 1)])
def test_sort_several_operands(num_keys, shape, dimension):
    keys = make(shape, np.int32)  # many ties: the second key and stability decide
    second = make(shape, np.float32, seed=1)
    values = make(shape, np.bool_, seed=2)
    check_results(lambda *ops: fl.sort(ops, dimension, num_keys=num_keys),
                  lambda *ops: lax.sort(ops, dimension, num_keys=num_keys),
                  keys, second, values)
    check_results(lambda k, v: fl.sort_key_val(k, v, dimension),
                  lambda k, v: lax.sort_key_val(k, v, dimension), keys, values)


@pytest.mark.parametrize("dtype_name", ["float32", "int32", "bool"])
@pytest.mark.parametrize("shape, k, axis", [((5,), 2, -1), ((3, 4), 4, -1), ((2, 3, 4), 1, 1),
                                            ((3, 4), 0, 0)])
def test_top_k(dtype_name, shape, k, axis):
    x = make(shape, np.dtype(dtype_name), weak=dtype_name == "float32")
    check_results(lambda x: fl.top_k(x, k, axis=axis), lambda x: lax.top_k(x, k, axis=axis), x)


CUMULATIVE = {
    "cumprod": (fl.cumprod, lax.cumprod), "cummax": (fl.cummax, lax.cummax),
    "cummin": (fl.cummin, lax.cummin), "cumlogsumexp": (fl.cumlogsumexp, lax.cumlogsumexp),
}
DTYPES = {"cumprod": ["float32", "int32", "complex64"],
          "cummax": ["float32", "int32", "complex64"],
          "cummin": ["float32", "int32"], "cumlogsumexp": ["float32", "float64"]}


@pytest.mark.parametrize("name, dtype_name",
                         [(n, d) for n, dtypes in DTYPES.items() for d in dtypes])
@pytest.mark.parametrize("shape, axis, reverse",
                         [((3, 4), 1, True), ((2, 0, 3), 1, False)])
def test_running_reductions(request, name, dtype_name, shape, axis, reverse):
    dtype = use_dtype(request, dtype_name)
    fgrad_fn, jax_fn = CUMULATIVE[name]
    x = make(shape, dtype, weak=dtype_name == "float32")
    check(lambda x: fgrad_fn(x, axis, reverse), lambda x: jax_fn(x, axis, reverse), x)


def test_errors():
    x = jnp.zeros((2, 3))
    check_error(lambda: fl.sort(jnp.float32(1)), "rank-0 array has no dimension to sort")
    check_error(lambda: fl.sort(x, 2), "dimension 2 is out of range for rank 2")
    check_error(lambda: fl.sort((x, x), num_keys=3), "num_keys must be an integer from 1 to")
    check_error(lambda: fl.sort((x, jnp.zeros(3))), "the shapes differ")
    check_error(lambda: fl.top_k(x, 4), "k must be an integer from 0 to the size of axis 1")
    check_error(lambda: fl.top_k(jnp.zeros(3, jnp.complex64), 1), "complex numbers have no "
                "order")
    check_error(lambda: fl.cumprod(jnp.zeros(3, bool)), "cumprod accepts numbers (not bool)")
    check_error(lambda: fl.cumlogsumexp(jnp.zeros(3, jnp.int32)),
                "cumlogsumexp accepts floating-point numbers")
    check_error(lambda: fl.cummax(x, 2), "axis 2 is out of range")


# -- derivatives against JAX's (float64) -----------------------------------------------------

TIES = np.array([[0.5, -1.5, 0.0, 2.0, 2.0], [2.0, 0.75, 2.0, -1.25, 0.75],
                 [1.0, 1.0, 3.0, 3.0, -2.0]])
ZEROS_AND_INFINITIES = np.array([[0.0, 2.0, 0.0, -3.0], [1.0, -np.inf, 2.0, -np.inf]])
DERIVATIVE_CASES = {
    "sort": (lambda x: fl.sort(x, 1), lambda x: lax.sort(x, 1)),
    "sort dimension 0, unstable": (lambda x: fl.sort(x, 0, is_stable=False),
                                   lambda x: lax.sort(x, 0, is_stable=False)),
    "sort_key_val values": (lambda x: fl.sort_key_val(x, fl.mul(x, x), 1)[1],
                            lambda x: lax.sort_key_val(x, x * x, 1)[1]),
    "sort by two keys": (lambda x: fl.sort((fl.floor(x), x, fl.mul(x, x)), 1, num_keys=2)[2],
                         lambda x: lax.sort((lax.floor(x), x, x * x), 1, num_keys=2)[2]),
    "top_k": (lambda x: fl.top_k(x, 3)[0], lambda x: lax.top_k(x, 3)[0]),
    "top_k axis 0": (lambda x: fl.top_k(x, 2, axis=0)[0], lambda x: lax.top_k(x, 2, axis=0)[0]),
    **{f"{name} axis {axis}{' reverse' if reverse else ''}": (
        lambda x, f=f, a=axis, r=reverse: f(x, a, r), lambda x, j=j, a=axis, r=reverse: j(x, a, r))
       for name, (f, j) in CUMULATIVE.items() for axis, reverse in ((1, False), (0, True))
       if not reverse or name in ("cumprod", "cummax")},
}


SECOND_ORDER = {"sort", "sort by two keys", "top_k", "cumprod axis 1", "cummax axis 0 reverse",
                "cumlogsumexp axis 1"}


def derivatives(f, jvp, vjp, grad, x, t, ct, w, cube, second_order):
    """f's value, JVP along t, VJP of ct, and (second_order) the Hessian of sum(w * f**3)
    along t, by one library's transforms."""
    out, tangent = jvp(f, (x,), (t,))
    (cotangent,) = vjp(f, x)[1](ct)
    if not second_order:
        return out, tangent, cotangent
    _, hvp = jvp(grad(lambda x: cube(f(x), w)), (x,), (t,))
    return out, tangent, cotangent, hvp


def fgrad_cube(y, w):
    return fl.reduce_sum(fl.mul(fl.mul(fl.mul(y, y), y), w), tuple(range(np.ndim(w))))


def jax_cube(y, w):
    return jnp.sum(y ** 3 * w)


def check_derivatives(f, jf, x, second_order=True):
    """fgrad's first and second derivatives of f equal JAX's of jf at x, both computed under
    jax.jit (fgrad's rules all run while JAX traces; a compiled program costs less here
    than the many small eager steps of a scan's JVP; compiling is most of this test's time,
    so second derivatives are checked on a few cases only)."""
    rng = np.random.default_rng(0)
    t = rng.standard_normal(x.shape)
    ct = rng.standard_normal(np.shape(jf(x)))
    w = rng.standard_normal(np.shape(jf(x)))
    got = jax.jit(lambda x: derivatives(f, fgrad.jvp, fgrad.vjp, fgrad.grad, x, t, ct, w,
                                        fgrad_cube, second_order))(x)
    want = jax.jit(lambda x: derivatives(jf, jax.jvp, jax.vjp, jax.grad, x, t, ct, w,
                                         jax_cube, second_order))(x)
    for g, wanted in zip(got, want):
        oracle.assert_same(g, wanted, rtol=1e-10, atol=1e-12)


@pytest.mark.usefixtures("x64", "quick_compile")
@pytest.mark.parametrize("name", list(DERIVATIVE_CASES))
def test_derivatives_match_jax(name):
    """At zeros (cumprod) and ties (sort's stability, cummax's shared tangents)."""
    f, jf = DERIVATIVE_CASES[name]
    check_derivatives(f, jf, TIES[:, :4], name in SECOND_ORDER)


@pytest.mark.usefixtures("x64", "quick_compile")
def test_derivatives_through_zeros_and_minus_infinity():
    zeros, infinities = ZEROS_AND_INFINITIES
    check_derivatives(lambda x: fl.cumprod(x, 0), lambda x: lax.cumprod(x, 0), zeros)
    # A -inf input's tangent is weighted by exp(-inf - ans) = 0, as in JAX's rule.
    check_derivatives(lambda x: fl.cumlogsumexp(x, 0), lambda x: lax.cumlogsumexp(x, 0),
                      infinities, second_order=False)


@pytest.mark.usefixtures("x64", "quick_compile")
def test_full_hessian_and_eager_derivatives():
    """The Hessian matrix (under jit), and the eager JVP and VJP, on one small case each."""
    x = TIES[:2, :3]
    oracle.check_first_order(lambda x: fl.cummax(x, 1), lambda x: lax.cummax(x, 1), (x,),
                             rtol=1e-12)
    oracle.check_second_order(lambda x: fl.cumprod(fl.sort(x, 0), 1),
                              lambda x: lax.cumprod(lax.sort(x, 0), 1), (x,), rtol=1e-10)


# -- vmap ------------------------------------------------------------------------------------

VMAP_CASES = [  # name, fgrad function, jax function, in_axes, argument shapes
    ("sort", lambda x: fl.sort(x, 0), lambda x: lax.sort(x, 0), 1, [(4, 3)]),
    ("sort pair, one unbatched", lambda k, v: fl.sort((k, v), 0),
     lambda k, v: lax.sort((k, v), 0), (1, None), [(4, 3), (4,)]),
    ("sort pair, different axes", lambda k, v: fl.sort((k, v), -1, num_keys=2),
     lambda k, v: lax.sort((k, v), -1, num_keys=2), (0, 1), [(3, 4), (4, 3)]),
    ("top_k", lambda x: fl.top_k(x, 2), lambda x: lax.top_k(x, 2), 1, [(4, 3)]),
    ("top_k axis 0", lambda x: fl.top_k(x, 2, axis=0), lambda x: lax.top_k(x, 2, axis=0), 0,
     [(3, 4, 2)]),
    *[(name, lambda x, f=f: f(x, 0, True), lambda x, j=j: j(x, 0, True), 1, [(4, 3)])
      for name, (f, j) in CUMULATIVE.items()],
]


@pytest.mark.parametrize("name, f, jf, in_axes, shapes", VMAP_CASES,
                         ids=[c[0] for c in VMAP_CASES])
def test_vmap(name, f, jf, in_axes, shapes):
    args = [make(s, np.float32, seed=i) for i, s in enumerate(shapes)]
    oracle.assert_trees_same(fgrad.vmap(f, in_axes=in_axes)(*args),
                             jax.vmap(jf, in_axes=in_axes)(*args), rtol=1e-6)


@pytest.mark.usefixtures("x64", "quick_compile")
def test_vmap_of_derivatives():
    """The JVP rules' gathers and scans batch too: vmap of grad against JAX's."""
    for f, jf in [(lambda x: fl.sort(x, 0), lambda x: lax.sort(x, 0)),
                  (lambda x: fl.cummax(x, 0), lambda x: lax.cummax(x, 0))]:
        got = jax.jit(fgrad.vmap(fgrad.grad(
            lambda x: fl.reduce_sum(fl.mul(f(x), x), (0,)))))(TIES[:, :3])
        want = jax.jit(jax.vmap(jax.grad(lambda x: jnp.sum(jf(x) * x))))(TIES[:, :3])
        oracle.assert_same(got, want, rtol=1e-12)
