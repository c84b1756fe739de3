"""cholesky and triangular_solve against jax.lax.linalg: values (float32 and float64, with
batch dimensions), every flag of triangular_solve, first- and second-order derivatives
against jax.jvp / jax.vjp / jax.grad of the same jax.lax.linalg calls (float64), vmap
against jax.vmap with the batch on either operand or both, fgrad.numpy.linalg.cholesky
against jax.numpy.linalg.cholesky, and the shape rules' errors.

Many cases run under one jax.jit per side: each eager fgrad operation compiles on its own,
and this file has a few seconds of a shared 2-core machine; comparisons with a tolerance
compile with XLA's optimizations off (`quick_compile`)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.lax import linalg as jll

import fgrad
import fgrad.numpy as fnp
import oracle
from fgrad.core import ShapeDtypeError
from fgrad.lax import linalg as fll

rng = np.random.default_rng(7)
F64 = dict(rtol=1e-10, atol=1e-12)  # float64 rounding, derivatives included
F32 = dict(rtol=2e-5, atol=2e-6)  # float32 rounding of a 3x3 factorization or solve


def spd(shape, dtype=np.float64):
    """Symmetric positive-definite matrices of shape (..., n, n), well conditioned."""
    n = shape[-1]
    x = rng.standard_normal(shape)
    return (x @ np.swapaxes(x, -1, -2) / n + np.eye(n)).astype(dtype)


def triangular(shape, dtype=np.float64):
    """Matrices (..., m, m) with a dominant diagonal and both triangles filled: a solve must
    read only its own triangle."""
    return (rng.standard_normal(shape) + 3 * np.eye(shape[-1])).astype(dtype)


# -- values ----------------------------------------------------------------------------------


def test_cholesky_matches_jax(float_dtype):
    tolerance = F32 if float_dtype == "float32" else F64
    x = spd((3, 3, 3), float_dtype)
    x[0, 0, 2] += 0.5  # not symmetric: symmetrizing, or not, changes the factor
    x[2] = -np.eye(3)  # not positive definite: NaN on and below the diagonal, as in JAX
    if float_dtype == "float32":
        oracle.check(fll.cholesky, jll.cholesky, x, **tolerance)  # eager, traced, under jit
    for symmetrize in (True, False):
        oracle.assert_same(fll.cholesky(x, symmetrize_input=symmetrize),
                           jll.cholesky(x, symmetrize_input=symmetrize), **tolerance)
    assert np.isnan(np.asarray(fll.cholesky(x))[2, 1, 0])
    one = np.full((1, 1), 4.0, float_dtype)
    oracle.assert_same(fll.cholesky(one), jll.cholesky(one))


FLAGS = [dict(zip(("left_side", "lower", "transpose_a", "unit_diagonal"), flags))
         for flags in itertools.product([False, True], repeat=4)]


def test_triangular_solve_matches_jax_for_every_flag(quick_compile):
    a = triangular((2, 3, 3), np.float32)
    b_left = rng.standard_normal((2, 3, 4)).astype(np.float32)
    b_right = rng.standard_normal((2, 4, 3)).astype(np.float32)

    def solves(solve):
        return lambda a, bl, br: [solve(a, bl if p["left_side"] else br, **p) for p in FLAGS]

    want = jax.jit(solves(jll.triangular_solve))(a, b_left, b_right)
    got = jax.jit(solves(fll.triangular_solve))(a, b_left, b_right)
    oracle.assert_trees_same(got, want, **F32)
    # Eagerly and traced too, for one of them.
    oracle.check(lambda a, b: fll.triangular_solve(a, b, **FLAGS[5]),
                 lambda a, b: jll.triangular_solve(a, b, **FLAGS[5]), a, b_right, **F32)


@pytest.mark.parametrize("left_side", [False, True])
def test_triangular_solve_of_a_vector(left_side):
    a, b = triangular((3, 3), np.float32), rng.standard_normal(3).astype(np.float32)
    oracle.assert_same(fll.triangular_solve(a, b, left_side=left_side, lower=True),
                       jll.triangular_solve(a, b, left_side=left_side, lower=True), **F32)


# -- derivatives -----------------------------------------------------------------------------


def check_derivatives(cases):
    """fgrad's JVP, VJP and Hessian-vector product (of sum(w * out**2)) against JAX's, in
    float64, with random tangents, cotangents, weights and vectors, for `cases` of
    (fgrad function, JAX function, arguments) taken together as one function of all their
    arguments: each side then runs under one jax.jit (fgrad's rules run while JAX traces)."""
    sizes = [len(args) for _, _, args in cases]
    args = tuple(a for _, _, case_args in cases for a in case_args)
    starts = np.cumsum([0, *sizes])

    def joined(which):
        def f(*a):
            return tuple(case[which](*a[lo:hi]) for case, lo, hi in zip(cases, starts, starts[1:]))
        return f

    f, jf = joined(0), joined(1)
    tangents = tuple(oracle.rand(np.shape(a), 10 + i) for i, a in enumerate(args))
    out_shapes = [np.shape(y) for y in jf(*args)]
    cts = tuple(oracle.rand(s, 20 + i) for i, s in enumerate(out_shapes))
    weights = [oracle.rand(s, 40 + i) for i, s in enumerate(out_shapes)]
    argnums = tuple(range(len(args)))

    def derivatives(jvp, vjp, grad, f, sum_):
        def g(*a):
            return sum(sum_(y ** 2 * w) for y, w in zip(f(*a), weights))
        return lambda a, t, c: (jvp(f, a, t), vjp(f, *a)[1](c),
                                jvp(grad(g, argnums), a, t)[1])

    got = jax.jit(derivatives(fgrad.jvp, fgrad.vjp, fgrad.grad, f, fnp.sum))(args, tangents, cts)
    want = jax.jit(derivatives(jax.jvp, jax.vjp, jax.grad, jf, jnp.sum))(args, tangents, cts)
    oracle.assert_trees_same(got, want, **F64)


def test_cholesky_derivatives(x64, quick_compile):
    # The random tangents are not symmetric; like JAX's, the rule uses all of L⁻¹ dA L⁻ᵀ
    # (without symmetrizing only the primal's lower triangle is read, not the tangent's).
    check_derivatives([(lambda a, s=s: fll.cholesky(a, symmetrize_input=s),
                        lambda a, s=s: jll.cholesky(a, symmetrize_input=s), (spd((2, 3, 3)),))
                       for s in (True, False)])


def test_cholesky_derivatives_eagerly(x64, quick_compile):
    """The same rules, run eagerly op by op and inside a trace (oracle's checks)."""
    oracle.check_first_order(fll.cholesky, jll.cholesky, (spd((3, 3)),), **F64)


def test_triangular_solve_derivatives(x64, quick_compile):
    cases = []
    for flags in (FLAGS[i] for i in (0, 6, 9, 15)):  # each flag on in two, off in two
        b = rng.standard_normal((2, 3, 2) if flags["left_side"] else (2, 2, 3))
        cases.append((lambda a, b, p=flags: fll.triangular_solve(a, b, **p),
                      lambda a, b, p=flags: jll.triangular_solve(a, b, **p),
                      (triangular((2, 3, 3)), b)))
    check_derivatives(cases)


def test_numpy_cholesky_matches_jax_with_gradient(x64, quick_compile):
    x = spd((3, 3)) + 0.1 * rng.standard_normal((3, 3))  # not symmetric: both triangles count
    w = rng.standard_normal((3, 3))

    def values_and_grads(cholesky, grad, sum_):
        return lambda x: [(cholesky(x, upper=upper),
                           grad(lambda a: sum_(cholesky(a, upper=upper) * w))(x))
                          for upper in (False, True)]

    got = fgrad.jit(values_and_grads(fnp.linalg.cholesky, fgrad.grad, fnp.sum))(x)
    want = jax.jit(values_and_grads(jnp.linalg.cholesky, jax.grad, jnp.sum))(x)
    oracle.assert_trees_same(got, want, **F64)
    integers = np.eye(2, dtype=np.int32)  # promoted to the default float, as in jax.numpy
    oracle.assert_same(fnp.linalg.cholesky(integers), jnp.linalg.cholesky(integers))



def test_an_infinite_cotangent_above_the_diagonal_is_not_spread(x64, quick_compile):
    # Found by the long fuzz profile (seed 13): 1 / tanh(L) is infinite where L is zero, so
    # its cotangent there is infinite; L's upper triangle does not depend on x, and as in JAX
    # (whose tril selects) nothing comes back from it, where a product with L gave NaNs.
    def f(m, cholesky):
        return lambda x: m.sum(1.0 / m.tanh(cholesky(x)))

    x = spd((2, 3, 3))
    got = fgrad.jit(lambda x: (fgrad.grad(f(fnp, fll.cholesky))(x),
                               fgrad.hessian(f(fnp, fll.cholesky))(x[0])))(x)
    want = jax.jit(lambda x: (jax.grad(f(jnp, jll.cholesky))(x),
                              jax.hessian(f(jnp, jll.cholesky))(x[0])))(x)
    assert np.all(np.isfinite(got[0])) and np.all(np.isfinite(got[1]))
    oracle.assert_trees_same(got, want, **F64)

# -- vmap ------------------------------------------------------------------------------------


def test_cholesky_vmap(quick_compile):
    x = spd((4, 2, 3, 3), np.float32)
    axes = (0, 1, 2)  # the batch before, among and after the matrix's own batch axis

    def batched(vmap, cholesky):
        return lambda x: [vmap(cholesky, in_axes=a)(np.moveaxis(x, 0, a)) for a in axes]

    got = fgrad.jit(batched(fgrad.vmap, fll.cholesky))(x)
    want = jax.jit(batched(jax.vmap, jll.cholesky))(x)
    oracle.assert_trees_same(got, want, **F32)


IN_AXES = [(0, 0), (None, 0), (None, 2), (1, None), (2, 1)]


def test_triangular_solve_vmap(quick_compile):
    a, b = triangular((3, 3), np.float32), rng.standard_normal((3, 2)).astype(np.float32)
    cases = [(left_side, in_axes) for left_side in (False, True) for in_axes in IN_AXES]

    def batch(x, axis):
        return x if axis is None else np.stack([x + 0.1 * i for i in range(4)], axis)

    def operands(left_side, in_axes):
        return batch(a, in_axes[0]), batch(b if left_side else b.T.copy(), in_axes[1])

    def batched(vmap, solve):
        def run():
            return [vmap(lambda a, b: solve(a, b, left_side=left_side, lower=True,
                                            transpose_a=True), in_axes=in_axes)(
                        *operands(left_side, in_axes))
                    for left_side, in_axes in cases]
        return run

    got = fgrad.jit(batched(fgrad.vmap, fll.triangular_solve))()
    want = jax.jit(batched(jax.vmap, jll.triangular_solve))()
    oracle.assert_trees_same(got, want, **F32)
    # One matrix for every example: the right-hand sides are stacked into one solve, and
    # the matrix is not copied once per example.
    program = fgrad.make_ir(fgrad.vmap(
        lambda a, b: fll.triangular_solve(a, b, left_side=True), in_axes=(None, 0)))(
        *operands(True, (None, 0)))
    names = [e.primitive.name for e in program.eqns]
    assert names.count("triangular_solve") == 1 and "broadcast_in_dim" not in names, names


def test_vmap_of_grad_of_cholesky(x64, quick_compile):
    xs = spd((3, 2, 2))
    got = fgrad.jit(fgrad.vmap(fgrad.grad(lambda a: fnp.sum(fnp.linalg.cholesky(a) ** 3))))(xs)
    want = jax.vmap(jax.grad(lambda a: jnp.sum(jnp.linalg.cholesky(a) ** 3)))(xs)
    oracle.assert_same(got, want, **F64)


# -- errors ----------------------------------------------------------------------------------


def test_errors():
    square = np.eye(3, dtype=np.float32)
    oracle.check_error(lambda: fll.cholesky(np.ones((2, 3), np.float32)), "cholesky",
                       "square matrix", "(2, 3)")
    oracle.check_error(lambda: fll.cholesky(np.eye(2, dtype=np.int32)), "floating-point")
    oracle.check_error(lambda: fll.triangular_solve(square, np.ones((2, 4), np.float32),
                                                    left_side=True), "triangular_solve",
                       "rows (2)", "size (3)")
    oracle.check_error(lambda: fll.triangular_solve(square, np.ones((3, 3), np.float16)),
                       "dtypes differ")
    oracle.check_error(lambda: fll.triangular_solve(square, np.ones((2, 3, 3), np.float32)),
                       "batch shape")
    with pytest.raises(ShapeDtypeError, match="square"):
        fll.triangular_solve(np.ones((2, 3), np.float32), np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        fnp.linalg.cholesky(np.ones(3))


@pytest.mark.usefixtures("x64")
def test_triangular_solve_of_complex_matrices_against_jax():
    """Every combination of side, triangle, transpose_a and conjugate_a on complex matrices:
    the values, JVPs and VJPs are JAX's (op(dA) is conjugated when op(A) is)."""
    rng = np.random.default_rng(7)

    def cplx(*shape):
        return rng.normal(size=shape) + 1j * rng.normal(size=shape)

    a, ta = cplx(3, 3) + 3 * np.eye(3), cplx(3, 3)
    b, tb, ct = cplx(3, 2), cplx(3, 2), cplx(3, 2)
    for left, lower, transpose_a, conjugate_a in itertools.product([True, False], repeat=4):
        kw = dict(left_side=left, lower=lower, transpose_a=transpose_a, conjugate_a=conjugate_a)
        bb, tbb, cc = (b, tb, ct) if left else (b.T, tb.T, ct.T)

        def ours(a, b, kw=kw):
            return fll.triangular_solve(a, b, **kw)

        def theirs(a, b, kw=kw):
            return jax.lax.linalg.triangular_solve(a, b, **kw)

        oracle.assert_same(ours(a, bb), theirs(a, bb), rtol=1e-12, atol=1e-12)
        oracle.assert_same(fgrad.jvp(ours, (a, bb), (ta, tbb))[1],
                           jax.jvp(theirs, (a, bb), (ta, tbb))[1], rtol=1e-12, atol=1e-12)
        oracle.assert_trees_same(fgrad.vjp(ours, a, bb)[1](cc), jax.vjp(theirs, a, bb)[1](cc),
                                 rtol=1e-12, atol=1e-12)


@pytest.mark.usefixtures("x64", "quick_compile")
def test_cholesky_of_complex_matrices_against_jax():
    """Hermitian positive-definite complex matrices: L with a = L Lᴴ, its JVP and VJP, a
    second derivative, fgrad.numpy.linalg.cholesky(upper=True) and fgrad.scipy.linalg's
    cho_factor/cho_solve, all against JAX's, in one compiled program per side."""
    import jax.scipy.linalg as jsl

    import fgrad.scipy.linalg as fsl

    rng = np.random.default_rng(8)

    def cplx(*shape):
        return rng.normal(size=shape) + 1j * rng.normal(size=shape)

    x = cplx(2, 3, 3)
    a = x @ np.conj(np.swapaxes(x, -1, -2)) + np.eye(3)  # a batch of two
    t, ct, b = cplx(2, 3, 3), cplx(2, 3, 3), cplx(2, 3, 2)
    weights = np.arange(9.0).reshape(3, 3)

    def run(chol, grad, jvp, vjp, np_chol, cho_factor, cho_solve, np_):
        def energy(a):  # real-valued, through the factor's moduli
            return np_.sum(np_.abs(chol(a)) ** 2 * weights)

        def along(s):
            return grad(energy)(a[0] + s * t[0])

        return dict(value=chol(a), jvp=jvp(chol, (a,), (t,))[1], vjp=vjp(chol, a)[1](ct),
                    grad=grad(energy)(a[0]), second=jvp(along, (0.0,), (1.0,))[1],
                    upper=np_chol(a, upper=True),
                    solve=cho_solve(cho_factor(a[0], lower=False), b[0]))

    got = fgrad.jit(lambda: run(fll.cholesky, fgrad.grad, fgrad.jvp, fgrad.vjp,
                                fnp.linalg.cholesky, fsl.cho_factor, fsl.cho_solve, fnp))()
    want = jax.jit(lambda: run(jll.cholesky, jax.grad, jax.jvp, jax.vjp,
                               jnp.linalg.cholesky, jsl.cho_factor, jsl.cho_solve, jnp))()
    oracle.assert_trees_same(got, want, **F64)
    np.testing.assert_allclose(got["value"] @ np.conj(np.swapaxes(got["value"], -1, -2)), a,
                               rtol=1e-12)
