"""fgrad.scipy.linalg against jax.scipy.linalg (and SciPy where JAX has no answer or a less
exact one) in float64 and complex128: the values and types of every public function; first
derivatives (JVP and VJP) of the differentiable ones against JAX's, and against finite
differences or hand-derived identities where JAX has no rule; second derivatives of the
solves and of expm; vmap against jax.vmap; and the errors.

Matrices are 3x3 and well conditioned (random plus 3 I; A Aᵀ + 3 I for positive-definite
ones). Value comparisons run all cases in one jax.jit per side: compiling dominates, and
the file has a few seconds of a shared 2-core machine.
"""

import warnings

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
import pytest
import scipy.linalg as sl

import fgrad
import fgrad.numpy as fnp
import fgrad.scipy.linalg as fsl
import oracle
from fgrad.testing import check_grads

pytestmark = pytest.mark.usefixtures("x64", "quick_compile")

TOL = dict(rtol=1e-9, atol=1e-11)  # float64 rounding of 3x3 factorizations and solves
D_TOL = dict(rtol=1e-8, atol=1e-10)  # their derivatives (expm's: many products)

rng = np.random.default_rng(31)
N = 3


def _general(shape=(N, N), dtype=np.float64):
    x = rng.standard_normal(shape)
    if np.issubdtype(dtype, np.complexfloating):
        x = x + 1j * rng.standard_normal(shape)
    return (x + 3 * np.eye(*shape[-2:])).astype(dtype)


def _posdef(dtype=np.float64):
    x = _general(dtype=dtype)
    return x @ x.conj().T + N * np.eye(N)


A = _general()  # general, well conditioned
S = _posdef()  # symmetric positive definite
S2 = _posdef()
U = np.triu(_general())  # upper triangular, diagonal near 3
L = np.tril(_general())
B = rng.standard_normal((N, 2))  # right-hand sides
b = rng.standard_normal(N)
AC = _general(dtype=np.complex128)
SC = _posdef(np.complex128)
BC = _general((N, 2), np.complex128)
TALL = rng.standard_normal((4, 3))
WIDE = rng.standard_normal((3, 4))
H4 = rng.standard_normal((4, 4))
ABATCH = np.stack([_general(), 0.5 * _general()])  # (2, 3, 3)


def _both(calls):
    """Every call (name -> f(module)) on fgrad's and on JAX's module, each side in one
    jax.jit; the outputs' types (shape, dtype, weak type) and values must agree. Returns
    fgrad's outputs by name."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither side may warn on these calls
        got = jax.jit(lambda: {k: f(fsl) for k, f in calls.items()})()
        want = jax.jit(lambda: {k: f(jsl) for k, f in calls.items()})()
    for name in calls:
        try:
            oracle.assert_trees_same(got[name], want[name], **TOL)
        except AssertionError as error:
            raise AssertionError(f"{name}: {error}") from None
    return got


# -- values ----------------------------------------------------------------------------------


def test_solves_and_factorizations_match_jax():
    _both({
        "solve_triangular": lambda m: m.solve_triangular(U, B),
        "solve_triangular lower T vector": lambda m: m.solve_triangular(L, b, trans=1,
                                                                        lower=True),
        "solve_triangular unit C": lambda m: m.solve_triangular(U, B, trans="C",
                                                                unit_diagonal=True),
        "solve_triangular complex C": lambda m: m.solve_triangular(np.triu(AC), BC, trans=2),
        "solve_triangular batched": lambda m: m.solve_triangular(np.triu(ABATCH), B),
        "cholesky": lambda m: m.cholesky(S),
        "cholesky lower": lambda m: m.cholesky(S, lower=True),
        "cho_factor": lambda m: m.cho_factor(S),
        "cho_solve": lambda m: m.cho_solve(m.cho_factor(S), B),
        "cho_solve lower vector": lambda m: m.cho_solve(m.cho_factor(S, lower=True), b),
        "lu": lambda m: m.lu(A),
        "lu permute_l": lambda m: m.lu(A, permute_l=True),
        "lu wide": lambda m: m.lu(WIDE),
        "lu tall complex": lambda m: m.lu(TALL + 1j),
        "lu_factor": lambda m: m.lu_factor(A),
        "lu_solve": lambda m: [m.lu_solve(m.lu_factor(A), B, trans=t) for t in (0, 1, 2)],
        "lu_solve complex vector": lambda m: m.lu_solve(m.lu_factor(AC), BC[:, 0], trans=2),
        "solve": lambda m: m.solve(A, B),
        "solve sym vector": lambda m: m.solve(S, b, assume_a="sym"),
        "solve pos": lambda m: m.solve(S, B, assume_a="pos"),
        "solve pos lower vector": lambda m: m.solve(S, b, assume_a="pos", lower=True),
        "det": lambda m: m.det(A),
        "det batched": lambda m: m.det(ABATCH),
        "inv": lambda m: m.inv(A),
        "inv complex": lambda m: m.inv(AC),
    })


def test_decompositions_match_jax():
    _both({
        "eigh": lambda m: m.eigh(S),
        "eigh upper": lambda m: m.eigh(np.triu(S), lower=False),
        "eigh complex eigvals_only": lambda m: m.eigh(SC, eigvals_only=True),
        "svd": lambda m: m.svd(A),
        "svd tall economic": lambda m: m.svd(TALL, full_matrices=False),
        "svd values": lambda m: m.svd(WIDE, compute_uv=False),
        "qr": lambda m: m.qr(A),
        "qr economic": lambda m: m.qr(TALL, mode="economic"),
        "qr r": lambda m: m.qr(TALL, mode="r"),
        "qr pivoting": lambda m: m.qr(WIDE, pivoting=True),
        "qr_multiply right": lambda m: m.qr_multiply(A, B.T),
        "qr_multiply left vector": lambda m: m.qr_multiply(TALL, b, mode="left"),
        "qr_multiply conjugate": lambda m: m.qr_multiply(AC, BC.T, conjugate=True),
        "hessenberg": lambda m: m.hessenberg(A),
        "hessenberg calc_q": lambda m: m.hessenberg(H4, calc_q=True),
        "hessenberg complex": lambda m: m.hessenberg(AC),
        "eigh_tridiagonal values": lambda m: m.eigh_tridiagonal(b, B[:2, 0],
                                                                eigvals_only=True),
        "eigh_tridiagonal select": lambda m: m.eigh_tridiagonal(
            b, B[:2, 0], eigvals_only=True, select="i", select_range=(1, 2)),
        "polar": lambda m: m.polar(A, method="svd"),
        "polar left wide": lambda m: m.polar(WIDE, side="left", method="svd"),
    })


def test_matrix_functions_match_jax():
    e = _general()
    _both({
        "expm small": lambda m: m.expm(0.003 * A),  # degree 3 (the 1-norm below 0.015)
        "expm large": lambda m: m.expm(4.0 * A),  # degree 13, squarings
        "expm upper": lambda m: m.expm(U, upper_triangular=True),
        "expm complex": lambda m: m.expm(AC),
        "expm too many squarings": lambda m: m.expm(1e3 * A, max_squarings=2),
        "expm_frechet derivative": lambda m: m.expm_frechet(0.1 * A, e, compute_expm=False),
        "sqrtm": lambda m: m.sqrtm(S),
        "funm": lambda m: m.funm(S, jnp.cos),
        "solve_sylvester": lambda m: m.solve_sylvester(A, S, B @ B[:N].T, method="eigen"),
    })
    # NaNs where the Sylvester equation has no unique solution (eig(A) + eig(-A) hits 0)
    x = fsl.solve_sylvester(S, -S, B @ B[:N].T, method="eigen")
    assert np.isnan(np.asarray(x)).all()


def test_special_matrices_match_jax():
    poly = rng.standard_normal(5)
    _both({
        "block_diag": lambda m: m.block_diag(A, b, 2.0, np.ones((1, 2), np.int32)),
        "block_diag none": lambda m: m.block_diag(),
        "toeplitz": lambda m: m.toeplitz(b, B[:, 0]),
        "toeplitz hermitian": lambda m: m.toeplitz(BC[:, 0]),
        "toeplitz batched": lambda m: m.toeplitz(B.T, b[:2]),
        "hankel": lambda m: m.hankel(b, B[:, 0]),
        "hankel zeros": lambda m: m.hankel(b),
        "circulant": lambda m: m.circulant(b),
        "leslie": lambda m: m.leslie(b, b[:2]),
        "companion": lambda m: m.companion(b),
        "fiedler": lambda m: m.fiedler(b),
        "fiedler_companion": lambda m: [m.fiedler_companion(poly[:k]) for k in (2, 3, 4, 5)],
        "convolution_matrix": lambda m: [m.convolution_matrix(b, k, mode) for k in (2, 4)
                                         for mode in ("full", "same", "valid")],
        "hilbert": lambda m: m.hilbert(4),
        "invhilbert": lambda m: m.invhilbert(4),
        "invpascal": lambda m: [m.invpascal(4, kind) for kind in ("symmetric", "lower",
                                                                   "upper")],
        "helmert": lambda m: [m.helmert(4), m.helmert(4, full=True)],
        "hadamard": lambda m: m.hadamard(4),
        "dft": lambda m: [m.dft(4), m.dft(4, "sqrtn"), m.dft(3, "n")],
    })
    # JAX's pascal goes through gammaln and is off by ulps; fgrad's integers are exact.
    for kind in ("symmetric", "lower", "upper"):
        got = fsl.pascal(5, kind)
        assert oracle.aval_of(got) == oracle.aval_of(jsl.pascal(5, kind))
        np.testing.assert_array_equal(np.asarray(got), sl.pascal(5, kind).astype(np.float32))


def test_generalized_and_tridiagonal_eigh_match_scipy():
    # JAX has no b argument: SciPy's eigenvalues, and eigenvectors up to sign (normalized
    # as SciPy's: vᴴ b v = I for types 1 and 2, vᴴ b⁻¹ v = I for type 3)
    for eig_type in (1, 2, 3):
        for lower in (True, False):
            half = np.tril(S2) if lower else np.triu(S2)  # only b's `lower` side is read
            w, v = fsl.eigh(S, half, lower=lower, type=eig_type)
            want_w, want_v = sl.eigh(S, S2, type=eig_type)
            np.testing.assert_allclose(np.asarray(w), want_w, **TOL)
            signs = np.sign(np.sum(np.asarray(v) * want_v, axis=0))
            np.testing.assert_allclose(np.asarray(v) * signs, want_v, **TOL)
    # eigh_tridiagonal's eigenvectors (JAX's come from random inverse iteration): SciPy's
    w, v = fsl.eigh_tridiagonal(b, B[:2, 0])
    want_w, want_v = sl.eigh_tridiagonal(b, B[:2, 0])
    np.testing.assert_allclose(np.asarray(w), want_w, **TOL)
    signs = np.sign(np.sum(np.asarray(v) * want_v, axis=0))
    np.testing.assert_allclose(np.asarray(v) * signs, want_v, **TOL)


def test_triangles_read():
    # only the triangle named by `lower` is read: junk in the other one changes nothing
    junk = S + np.triu(np.full((N, N), 7.0), 1)
    for lower in (True, False):
        a = junk if lower else junk.T
        np.testing.assert_allclose(np.asarray(fsl.solve(a, B, assume_a="pos", lower=lower)),
                                   np.linalg.solve(S, B), **TOL)
        np.testing.assert_allclose(np.asarray(fsl.cholesky(a, lower=lower)),
                                   sl.cholesky(S, lower=lower), **TOL)
    np.testing.assert_allclose(np.asarray(fsl.solve_triangular(U + np.tril(A, -1), b)),
                               sl.solve_triangular(U, b), **TOL)


# -- first derivatives -----------------------------------------------------------------------


def _flat(xp, *outputs):
    """Several (real) outputs as one vector: check_first_order compares one array."""
    return xp.concatenate([xp.ravel(x) for x in outputs])


FIRST_ORDER = {
    "solve_triangular": (lambda m, xp: lambda a, c: m.solve_triangular(a, c, trans=1), (U, B)),
    "solve_triangular lower unit vector": (
        lambda m, xp: lambda a, c: m.solve_triangular(a, c, lower=True, unit_diagonal=True),
        (L, b)),
    "cho_factor cho_solve": (
        lambda m, xp: lambda a, c: m.cho_solve(m.cho_factor(a, lower=True), c), (S, B)),
    "cholesky": (lambda m, xp: lambda a: m.cholesky(a), (S,)),
    "lu_factor lu_solve": (lambda m, xp: lambda a, c: m.lu_solve(m.lu_factor(a), c, trans=1),
                           (A, B)),
    "lu": (lambda m, xp: lambda a: _flat(xp, *m.lu(a)[1:]), (A,)),
    "solve": (lambda m, xp: lambda a, c: m.solve(a, c), (A, B)),
    "solve pos": (lambda m, xp: lambda a, c: m.solve(a, c, assume_a="pos"), (S, b)),
    "inv": (lambda m, xp: m.inv, (A,)),
    "det": (lambda m, xp: m.det, (A,)),
    "expm": (lambda m, xp: m.expm, (0.7 * A,)),
    "eigh": (lambda m, xp: lambda a: _flat(xp, *m.eigh(a)), (S,)),
    "svd": (lambda m, xp: lambda a: _flat(xp, *m.svd(a)), (A,)),
    "qr": (lambda m, xp: lambda a: _flat(xp, *m.qr(a)), (A,)),
    "polar": (lambda m, xp: lambda a: _flat(xp, *m.polar(a, method="svd")), (A,)),
}


@pytest.mark.parametrize("name", FIRST_ORDER)
def test_first_order_matches_jax(name):
    make, args = FIRST_ORDER[name]
    oracle.check_first_order(make(fsl, fnp), make(jsl, jnp), args, **D_TOL)


def test_first_order_without_jax_rules():
    # JAX has no derivative for hessenberg or for eigh with b: finite differences
    check_grads(lambda a: fsl.hessenberg(a), (A,), order=1, modes=("rev",))
    # (symmetrized inputs: like JAX's, fgrad's Cholesky and eigh rules take symmetric
    # tangents, while finite differences of the raw function see one triangle only)
    def sym(x):
        return fnp.divide(fnp.add(x, fnp.matrix_transpose(x)), 2)

    check_grads(lambda a, c: fsl.eigh(sym(a), sym(c), lower=False)[1], (S, S2), order=1)
    check_grads(lambda a, c: fsl.eigh(sym(a), sym(c), type=3, eigvals_only=True), (S, S2),
                order=1, modes=("rev",))


def test_sqrtm_derivative_solves_the_sylvester_equation():
    # X = sqrtm(S), X X = S, so its derivative dX satisfies X dX + dX X = dS; and
    # expm_frechet's derivative is expm's JVP
    ds = rng.standard_normal((N, N))
    (x, dx), (value, derivative) = jax.jit(lambda: (
        fgrad.jvp(fsl.sqrtm, (S,), (ds,)), fsl.expm_frechet(0.7 * A, ds)))()
    x, dx = np.asarray(x), np.asarray(dx)
    np.testing.assert_allclose(x @ x, S, **TOL)
    np.testing.assert_allclose(x @ dx + dx @ x, ds, **D_TOL)
    want = jax.jvp(jsl.expm, (0.7 * A,), (ds,))
    np.testing.assert_allclose(np.asarray(value), want[0], **TOL)
    np.testing.assert_allclose(np.asarray(derivative), want[1], **D_TOL)


# -- second derivatives ----------------------------------------------------------------------


SECOND_ORDER = {
    "solve_triangular": (lambda m: lambda a, c: m.solve_triangular(a, c, lower=True), (L, B)),
    "cho_solve": (lambda m: lambda a, c: m.cho_solve(m.cho_factor(a), c), (S, B)),
    "solve": (lambda m: lambda a, c: m.solve(a, c), (A, B)),
    "solve pos": (lambda m: lambda a, c: m.solve(a, c, assume_a="pos"), (S, B)),
    "expm": (lambda m: m.expm, (0.5 * A[:2, :2],)),  # 2x2: a Hessian of 4 inputs
}


@pytest.mark.parametrize("name", SECOND_ORDER)
def test_second_order_matches_jax(name):
    make, args = SECOND_ORDER[name]
    oracle.check_second_order(make(fsl), make(jsl), args, rtol=1e-7,
                              atol=1e-9)


# -- vmap ------------------------------------------------------------------------------------


def test_vmap_matches_jax():
    # (2, 2, 3, 3), mapped along axis 1: each a batch of two matrices
    a = np.stack([np.stack([_general() for _ in range(2)]) for _ in range(2)], axis=1)
    s = np.stack([_posdef() for _ in range(2)])
    c = rng.standard_normal((2, N, 2))
    c2 = rng.standard_normal((N, 2, 2))

    def batched(vmap, m):
        return [vmap(lambda x: m.solve_triangular(x, B, lower=True), in_axes=1)(np.tril(a)),
                vmap(lambda x, y: m.cho_solve(m.cho_factor(x), y))(s, c),
                vmap(lambda y: m.lu_solve(m.lu_factor(A), y, trans=1), in_axes=2)(c2),
                vmap(m.expm, in_axes=1)(a),
                vmap(lambda x: m.solve(x, b, assume_a="pos"))(s),
                vmap(lambda x: m.eigh(x, eigvals_only=True))(s)]

    got = jax.jit(lambda: batched(fgrad.vmap, fsl))()
    want = jax.jit(lambda: batched(jax.vmap, jsl))()
    oracle.assert_trees_same(got, want, **TOL)


# -- errors ----------------------------------------------------------------------------------


def test_shape_errors():
    oracle.check_error(lambda: fsl.cholesky(WIDE), "cholesky", "(..., n, n)", "(3, 4)")
    oracle.check_error(lambda: fsl.expm(WIDE), "expm", "(..., n, n)", "(3, 4)")
    oracle.check_error(lambda: fsl.solve_triangular(U, np.ones(4)), "solve_triangular",
                       "(..., 3)", "(4,)")
    oracle.check_error(lambda: fsl.solve(S, np.ones((2, N)), assume_a="pos"), "solve",
                       "a=(3, 3)", "b=(2, 3)")
    oracle.check_error(lambda: fsl.eigh(S, type=2), "type=2", "needs a matrix b")
    oracle.check_error(lambda: fsl.expm_frechet(A, WIDE), "expm_frechet", "E", "(3, 4)")


def test_value_errors():
    with pytest.raises(ValueError, match=r"invalid trans 3.*0 \('N'\), 1 \('T'\) or 2"):
        fsl.solve_triangular(U, b, trans=3)
    with pytest.raises(ValueError, match="assume_a must be one of .*'pos'.*got 'banana'"):
        fsl.solve(A, b, assume_a="banana")
    with pytest.raises(ValueError, match="lu_solve: trans must be 0, 1 or 2, got 5"):
        fsl.lu_solve(fsl.lu_factor(A), b, trans=5)
    with pytest.raises(ValueError, match="qr: unsupported mode 'raw'"):
        fsl.qr(A, mode="raw")
    with pytest.raises(ValueError, match="eigvals .* is not supported"):
        fsl.eigh(S, eigvals=(0, 1))
    with pytest.raises(ValueError, match="power of 2, got 3"):
        fsl.hadamard(3)


def test_unimplemented_paths_say_why():
    with pytest.raises(AttributeError, match="jax.scipy.linalg has no 'shur' either.*schur"):
        fsl.shur  # noqa: B018
    with pytest.raises(NotImplementedError, match="method='qdwh'.*pass method='svd'"):
        fsl.polar(A)
    with pytest.raises(TypeError, match="func must be callable"):
        fsl.funm(S, 3)


def test_batched_vector_solve_warns_like_jax():
    a = np.triu(ABATCH)
    with pytest.warns(FutureWarning, match="batched 1D solves .* deprecated") as record:
        x = fsl.solve_triangular(a, B.T)
    assert record[0].filename == __file__  # the warning points at the caller's line
    with pytest.warns(FutureWarning):
        want = jsl.solve_triangular(a, B.T)
    oracle.assert_same(x, want, **TOL)


# -- schur, rsf2csf and solve_sylvester(method='schur') --------------------------------------

_rs = np.random.default_rng(4242)  # its own generator: the draws above stay as they were


def _complex_pairs():
    """A real 4x4 matrix with eigenvalues 1 ± 2i and -0.5 ± 1.7i: two 2x2 Schur blocks."""
    blocks = np.zeros((4, 4))
    blocks[:2, :2] = [[1.0, 2.0], [-2.0, 1.0]]
    blocks[2:, 2:] = [[-0.5, 1.7], [-1.7, -0.5]]
    p = _rs.standard_normal((4, 4)) + 3 * np.eye(4)
    return p @ blocks @ np.linalg.inv(p)


PAIRS = _complex_pairs()
PAIRS_BATCH = np.stack([PAIRS, _complex_pairs()])
SYL_B = _rs.standard_normal((2, 2)) + 2 * np.eye(2)  # n = 2 against A's m = 3
SYL_C = _rs.standard_normal((2, N, 2))  # a batch of right-hand sides


def test_schur_and_rsf2csf_match_jax_and_scipy():
    got = _both({
        "schur real": lambda m: m.schur(PAIRS),
        "schur complex": lambda m: m.schur(PAIRS, output="complex"),
        "schur complex input": lambda m: m.schur(AC),
        "schur batched": lambda m: m.schur(ABATCH),
        "rsf2csf": lambda m: m.rsf2csf(*m.schur(PAIRS)),
        "rsf2csf batched": lambda m: m.rsf2csf(*m.schur(PAIRS_BATCH)),
        "rsf2csf broadcast": lambda m: m.rsf2csf(m.schur(PAIRS_BATCH)[0], m.schur(PAIRS)[1]),
        "rsf2csf 1x1": lambda m: m.rsf2csf(A[:1, :1], S[:1, :1]),
    })
    t, z = (np.asarray(x) for x in got["schur real"])
    assert np.count_nonzero(np.diagonal(t, -1)) == 2  # two 2x2 blocks
    for tt, zz in (got["rsf2csf"], got["schur complex"]):
        tt, zz = np.asarray(tt), np.asarray(zz)
        assert tt.dtype == np.complex128 and not np.tril(tt, -1).any()
        np.testing.assert_allclose(zz @ tt @ zz.conj().T, PAIRS, rtol=0, atol=1e-10)
        np.testing.assert_allclose(zz.conj().T @ zz, np.eye(4), rtol=0, atol=1e-10)
    oracle.assert_trees_same(got["rsf2csf"], sl.rsf2csf(t, z), **TOL)


def test_solve_sylvester_schur_matches_jax_and_scipy():
    c = B @ B[:N].T
    got = _both({
        "default (schur)": lambda m: m.solve_sylvester(A, S, c),
        "complex": lambda m: m.solve_sylvester(AC, A, BC @ BC[:N].T, method="schur"),
        "m != n, batched": lambda m: m.solve_sylvester(ABATCH, SYL_B, SYL_C),
        "defective A": lambda m: m.solve_sylvester(np.triu(np.ones((N, N))), S, c),
        # NaNs where the equation has no unique solution (eig(S) + eig(-S) hits 0)
        "no unique solution": lambda m: m.solve_sylvester(S, -S, c),
    })
    for name, (a, b_, c_) in {"default (schur)": (A, S, c),
                              "m != n, batched": (ABATCH, SYL_B, SYL_C)}.items():
        x = np.asarray(got[name])
        np.testing.assert_allclose(x, np.vectorize(sl.solve_sylvester, signature=(
            "(m,m),(n,n),(m,n)->(m,n)"))(a, b_, c_), **TOL)
        np.testing.assert_allclose(a @ x + x @ b_, c_, **TOL)
    assert np.isnan(np.asarray(got["no unique solution"])).all()


def test_solve_sylvester_schur_derivative_in_c():
    """Differentiable in C (JAX's is too; neither in A or B: no derivative of schur)."""
    c = B @ B[:N].T

    t = oracle.rand(c.shape, 1)

    def derivatives(m, jvp, vjp):
        def f(c):
            return m.solve_sylvester(A, S, c)
        return lambda c, t: (jvp(f, (c,), (t,)), vjp(f, c)[1](t))

    # (one jax.jit per side: the back substitution's loop is costly to compile)
    got = jax.jit(derivatives(fsl, fgrad.jvp, fgrad.vjp))(c, t)
    oracle.assert_trees_same(got, jax.jit(derivatives(jsl, jax.jvp, jax.vjp))(c, t), **D_TOL)
    check_grads(lambda c: fsl.solve_sylvester(A, S, c), (c,), order=1, modes=("rev",))
    with pytest.raises(fgrad.core.MissingRuleError, match="'schur' has no jvp rule"):
        fgrad.grad(lambda a: fnp.sum(fsl.solve_sylvester(a, S, c)))(A)


def test_schur_errors():
    with pytest.raises(ValueError, match="output must be 'real' or 'complex', got 'cplx'"):
        fsl.schur(A, output="cplx")
    oracle.check_error(lambda: fsl.schur(WIDE), "schur", "(..., n, n)", "(3, 4)")
    oracle.check_error(lambda: fsl.rsf2csf(WIDE, A), "rsf2csf", "T", "(3, 4)")
    oracle.check_error(lambda: fsl.rsf2csf(A, H4), "rsf2csf", "(3, 3)", "(4, 4)")
    with pytest.raises(ValueError, match="unknown method 'qz'"):
        fsl.solve_sylvester(A, S, A, method="qz")
