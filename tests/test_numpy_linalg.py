"""fgrad.numpy.linalg against jax.numpy.linalg, in float64: every name of its __all__.

Values (options, batches of (2, 3, 3) matrices, integer operands, the result types' field
names) with a few hand-derived numbers; first-order derivatives (JVP and VJP) of every
differentiable function against JAX's; second-order ones (Hessians, under jax.jit) of the
main ones; vmap against jax.vmap; the determinant's derivative at singular matrices against
the adjugate; empty matrices; svd's subset_by_index (against NumPy: JAX has none on CPU);
and the errors.

The operands are well conditioned (diagonally dominated, SPD by a aᵀ + n I, or built with
distinct eigenvalues), so float64 results agree to ~1e-10. Many cases run as one program
per side: compiling is most of the time on this shared 2-core machine, so the comparisons
compile with XLA's optimizations off (`quick_compile`, hence the tolerances).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
import fgrad.numpy.linalg as fla
import oracle

pytestmark = pytest.mark.usefixtures("x64", "quick_compile")

jla = jnp.linalg
F64 = dict(rtol=1e-8, atol=1e-10)  # float64 rounding of small factorizations and their rules

rng = np.random.default_rng(23)
I3 = np.eye(3)


def orthogonal(n, seed):
    return np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))[0]


# General square matrices, far from singular.
A = rng.standard_normal((3, 3)) + 3 * I3
AB = rng.standard_normal((2, 3, 3)) + 3 * I3
C4 = rng.standard_normal((4, 4)) + 4 * np.eye(4)
# Symmetric positive definite.
G = rng.standard_normal((2, 3, 3))
SPDB = G @ np.swapaxes(G, -1, -2) + 3 * I3
SPD = SPDB[0]
# Symmetric with known, distinct eigenvalues (one negative, for the hermitian SVD's signs).
EIGH_VALUES = np.array([-1.0, 0.5, 2.0])
Q3 = orthogonal(3, 1)
SYM = Q3 @ np.diag(EIGH_VALUES) @ Q3.T
SYMB = np.stack([SYM, orthogonal(3, 2) @ np.diag([0.3, 1.1, 2.6]) @ orthogonal(3, 2).T])
# Non-symmetric with known, distinct real eigenvalues.
EIG_VALUES = np.array([-2.0, 1.0, 3.5])
X = rng.standard_normal((3, 3)) + 2 * I3
EIG = X @ np.diag(EIG_VALUES) @ np.linalg.inv(X)
# Rectangular, right-hand sides, vectors.
R = rng.standard_normal((4, 3))
RB = rng.standard_normal((2, 4, 3))
WIDE = rng.standard_normal((3, 5))
B = rng.standard_normal((3, 2))
BB = rng.standard_normal((2, 3, 2))
B4 = rng.standard_normal((4, 2))
V = rng.standard_normal(3)
V2 = rng.standard_normal(3)
# Rank 2, 4 x 3; an integer matrix; tensors for tensordot / tensorinv / tensorsolve.
LOW_RANK = rng.standard_normal((4, 2)) @ rng.standard_normal((2, 3))
INTS = np.array([[2, 1, 0], [1, 3, 1], [0, 1, 4]], np.int32)
T4 = rng.standard_normal((2, 3, 6)) + np.eye(6).reshape(2, 3, 6) * 3
T = rng.standard_normal((3, 3, 2))

MATRIX_ORDS = [None, "fro", 1, -1, 2, -2, np.inf, -np.inf, "nuc"]
VECTOR_ORDS = [None, 0, 1, 2, 3, 0.5, -1, np.inf, -np.inf]


def plain(tree):
    """Named tuples as plain tuples: fgrad's result types are not JAX's classes."""
    if isinstance(tree, tuple):
        return tuple(plain(t) for t in tree)
    if isinstance(tree, list):
        return [plain(t) for t in tree]
    return tree


# -- values ----------------------------------------------------------------------------------


def value_cases(L, d):  # noqa: N803 (L: the linalg module)
    """Every function, with its options, on the operands in `d` (jit arguments, so nothing
    is a constant folded at trace time)."""
    return {
        "cholesky": [L.cholesky(d["SPDB"]), L.cholesky(d["SPD"], upper=True),
                     L.cholesky(d["SPD"], symmetrize_input=False)],
        "cond": [L.cond(d["AB"]), L.cond(d["R"], -2), L.cond(d["AB"], 1)],
        "cross": [L.cross(d["V"], d["V2"]), L.cross(d["R"].T, d["R"][::-1].T, axis=0)],
        "det": [L.det(d["AB"]), L.det(d["AB"][:, :2, :2]), L.det(d["AB"][:, :1, :1]),
                L.det(d["C4"]), L.det(d["SYM"])],
        "diagonal": [L.diagonal(d["AB"]), L.diagonal(d["R"], offset=1)],
        "eig": [L.eig(d["EIG"])],
        "eigh": [L.eigh(d["SYMB"]), L.eigh(d["A"], UPLO="U", symmetrize_input=False),
                 L.eigh(d["A"], symmetrize_input=False)],
        "eigvals": [L.eigvals(d["AB"]), L.eigvals(d["EIG"])],
        "eigvalsh": [L.eigvalsh(d["SYM"]), L.eigvalsh(d["A"], "U", symmetrize_input=False)],
        "inv": [L.inv(d["AB"]), L.inv(d["INTS"])],
        "lstsq": [L.lstsq(d["R"], d["B4"]), L.lstsq(d["LOW_RANK"], d["B4"][:, 0], rcond=1e-3)],
        "matmul": [L.matmul(d["AB"], d["B"]), L.matmul(d["V"], d["A"])],
        "matrix_norm": [L.matrix_norm(d["AB"]), L.matrix_norm(d["AB"], ord=2, keepdims=True)],
        "matrix_power": [L.matrix_power(d["AB"], n) for n in (0, 3, -2)],
        "matrix_rank": [L.matrix_rank(d["AB"]), L.matrix_rank(d["LOW_RANK"]),
                        L.matrix_rank(d["R"], 0.9), L.matrix_rank(d["R"], tol=0.01),
                        L.matrix_rank(d["SYM"], hermitian=True), L.matrix_rank(d["V"])],
        "matrix_transpose": [L.matrix_transpose(d["RB"])],
        "multi_dot": [L.multi_dot([d["V"], d["A"], d["B"], d["B"].T]),
                      L.multi_dot([d["R"], d["A"], d["B"]]), L.multi_dot([d["V"], d["V2"]])],
        "norm": [L.norm(d["AB"]), L.norm(d["V"], 1), L.norm(d["R"], 2, axis=0, keepdims=True)]
                + [L.norm(d["AB"], o, axis=(1, 2)) for o in MATRIX_ORDS]
                + [L.norm(d["RB"], o, axis=(2, 0), keepdims=True) for o in (1, "nuc")]
                + [L.norm(d["RB"], o, axis=-1) for o in (0, 3, -np.inf)] + [L.norm(d["R"], 2)],
        "outer": [L.outer(d["V"], d["B"][:, 0])],
        "pinv": [L.pinv(d["AB"]), L.pinv(d["WIDE"]), L.pinv(d["LOW_RANK"]),
                 L.pinv(d["SYMB"], hermitian=True), L.pinv(d["AB"], rcond=0.5)],
        "qr": [L.qr(d["R"]), L.qr(d["R"], mode="complete"), L.qr(d["AB"], mode="r"),
               L.qr(d["WIDE"]), L.qr(d["R"], mode="raw")],
        "slogdet": [L.slogdet(d["AB"]), L.slogdet(d["AB"][:, :2, :2]), L.slogdet(d["SYM"]),
                    L.slogdet(d["AB"], method="qr"), L.slogdet(d["SYM"], method="qr")],
        "solve": [L.solve(d["AB"], d["BB"]), L.solve(d["A"], d["V"]), L.solve(d["A"], d["BB"]),
                  L.solve(d["AB"], d["B"]), L.solve(d["INTS"], d["V"])],
        "svd": [L.svd(d["R"]), L.svd(d["R"], full_matrices=False), L.svd(d["AB"]),
                L.svd(d["WIDE"], compute_uv=False), L.svd(d["SYM"], hermitian=True)],
        "svdvals": [L.svdvals(d["RB"])],
        "tensordot": [L.tensordot(d["AB"], d["T"]), L.tensordot(d["A"], d["B"], axes=1)],
        "tensorinv": [L.tensorinv(d["T4"].reshape(6, 2, 3), ind=1),
                      L.tensorinv(d["C4"].reshape(2, 2, 4))],
        "tensorsolve": [L.tensorsolve(d["T4"], d["B"].T),
                        L.tensorsolve(jnp.moveaxis(d["T4"], 2, 0), d["B"].T, axes=(0,))],
        "trace": [L.trace(d["AB"]), L.trace(d["R"], offset=-1)],
        "vecdot": [L.vecdot(d["R"], d["R"][::-1], axis=0), L.vecdot(d["AB"], d["V"])],
        "vector_norm": [L.vector_norm(d["AB"]), L.vector_norm(d["AB"], axis=(0, 2), ord=3),
                        L.vector_norm(d["R"], axis=0, ord=np.inf, keepdims=True)],
    }


OPERANDS = dict(A=A, AB=AB, C4=C4, SPD=SPD, SPDB=SPDB, SYM=SYM, SYMB=SYMB, EIG=EIG, R=R, RB=RB,
                WIDE=WIDE, B=B, BB=BB, B4=B4, V=V, V2=V2, LOW_RANK=LOW_RANK, INTS=INTS, T4=T4,
                T=T)


def test_values_match_jax():
    """Every function and option against JAX: types (shapes, dtypes, weak types), values,
    and the field names of the named results. One program per side."""
    got = jax.jit(lambda d: value_cases(fla, d))(OPERANDS)
    want = jax.jit(lambda d: value_cases(jla, d))(OPERANDS)
    assert sorted(got) == sorted(fla.__all__)  # every function has cases
    for name in fla.__all__:
        for i, (g, w) in enumerate(zip(got[name], want[name], strict=True)):
            if isinstance(w, tuple):
                assert type(g).__name__ == type(w).__name__, (name, i)
                assert getattr(g, "_fields", None) == getattr(w, "_fields", None), (name, i)
            try:
                oracle.assert_trees_same(plain(g), plain(w), **F64)
            except AssertionError as e:
                raise AssertionError(f"{name} case {i}") from e

    # A few numbers that do not come from JAX.
    np.testing.assert_allclose(got["eigvalsh"][0], EIGH_VALUES, **F64)
    np.testing.assert_allclose(np.sort(got["eigvals"][1].real), EIG_VALUES, **F64)
    np.testing.assert_allclose(got["eigvals"][1].imag, 0, atol=1e-10)
    np.testing.assert_allclose(got["det"][4], np.prod(EIGH_VALUES), **F64)
    for sign, logdet in (got["slogdet"][2], got["slogdet"][4]):  # LU and QR
        np.testing.assert_allclose(sign, -1)  # one negative eigenvalue
        np.testing.assert_allclose(logdet, np.log(np.prod(np.abs(EIGH_VALUES))), **F64)
    np.testing.assert_allclose(got["inv"][1] @ INTS, I3, atol=1e-6)  # float32, as in JAX
    np.testing.assert_allclose(got["svd"][4][1], [2.0, 1.0, 0.5], **F64)  # |eigenvalues|
    np.testing.assert_allclose(got["pinv"][0] @ AB, np.broadcast_to(I3, AB.shape), atol=1e-12)
    assert got["matrix_rank"][1] == 2 and got["matrix_rank"][5] == 1
    np.testing.assert_allclose(got["cond"][0], np.linalg.cond(AB), **F64)  # NumPy's


def test_hand_derived_values():
    """Small cases worked out by hand (no JAX on the reference side)."""
    s = np.array([[2.0, 1.0], [1.0, 3.0]])
    m = np.array([[1.0, -2.0], [3.0, 4.0]])
    got = jax.jit(lambda s, m: [
        fla.det(s), fla.det(np.diag([1.0, 2.0, 3.0, 4.0])[[1, 0, 2, 3]]),
        fla.slogdet(np.diag([-2.0, 3.0, 0.5])), fla.norm(np.array([3.0, -4.0])),
        fla.norm(m, 1), fla.norm(m, np.inf), fla.norm(m, -np.inf),
        fla.cross(np.array([1.0, 0, 0]), np.array([0.0, 1, 0])),
        fla.matrix_power(np.array([[1.0, 1.0], [0.0, 1.0]]), 5), fla.inv(s),
        fla.solve(s, np.array([3.0, 5.0])), fla.eigvalsh(s), fla.matrix_rank(np.ones((3, 3))),
        fla.trace(m), fla.outer(np.array([1.0, 2.0]), np.array([3.0, 4.0]))])(s, m)
    want = [5.0, -24.0, (-1.0, np.log(3.0)), 5.0, 6.0, 7.0, 3.0, [0.0, 0, 1],
            [[1.0, 5.0], [0.0, 1.0]], np.array([[3.0, -1.0], [-1.0, 2.0]]) / 5, [0.8, 1.4],
            [(5 - np.sqrt(5)) / 2, (5 + np.sqrt(5)) / 2], 1, 5.0, [[3.0, 4.0], [6.0, 8.0]]]
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_allclose(np.asarray(g, dtype=float), w, rtol=1e-12, atol=1e-14,
                                   err_msg=str(i))


def test_eager_and_traced_programs_match_jax():
    """Outside jax.jit too, and as traced fgrad programs (typechecked, printed, evaluated
    and jitted) declaring JAX's output types."""
    oracle.check(fla.solve, jla.solve, AB, BB, **F64)
    oracle.check(lambda r: fla.norm(r, "nuc"), lambda r: jla.norm(r, "nuc"), R, **F64)


def test_empty_matrices():
    """0 x 0 matrices (batched too): det 1, log|det| 0, empty inverses, as in JAX; det's and
    slogdet's derivatives are 0 (hand-derived: JAX's det JVP fails there with an
    IndexError, so it is not the reference)."""
    z, zb = np.zeros((0, 0)), np.zeros((2, 0, 0))

    def cases(L):  # noqa: N803
        return lambda z, zb: [L.det(z), L.det(zb), L.slogdet(z), L.slogdet(zb),
                              L.slogdet(zb, method="qr"), L.inv(zb)]

    got = jax.jit(cases(fla))(z, zb)
    oracle.assert_trees_same(plain(got), plain(jax.jit(cases(jla))(z, zb)))
    np.testing.assert_array_equal(got[1], [1.0, 1.0])
    derivatives = fgrad.jit(lambda z: [fgrad.jvp(fla.det, (z,), (z,)),
                                       fgrad.jvp(lambda a: fla.slogdet(a)[1], (z,), (z,)),
                                       fgrad.grad(fla.det)(z)])
    (det, d_det), (logdet, d_logdet), grad = derivatives(zb[0])
    np.testing.assert_array_equal([det, d_det, logdet, d_logdet], [1.0, 0.0, 0.0, 0.0])
    assert grad.shape == (0, 0)


def test_svd_subset_by_index_against_numpy():
    """subset_by_index picks singular values (descending) start..end-1 and their vectors.
    JAX does not implement it on CPU (NotImplementedError), so the reference is NumPy's
    full SVD, sliced; vectors compared up to sign. The hermitian case picks by |eigenvalue|
    from both ends of an indefinite spectrum."""
    q = orthogonal(4, 5)
    indefinite = q @ np.diag([-3.0, 0.5, 1.0, 2.0]) @ q.T
    got = jax.jit(lambda r, h: [fla.svd(r, full_matrices=False, subset_by_index=(1, 3)),
                                fla.svd(h, hermitian=True, subset_by_index=(0, 2)),
                                fla.svd(fnp.stack([h, -h]), hermitian=True, compute_uv=False,
                                        subset_by_index=(1, 3))])(R, indefinite)
    (u, s, vh), (hu, hs, hvh), hs_batch = got
    u0, s0, vh0 = np.linalg.svd(R, full_matrices=False)
    np.testing.assert_allclose(s, s0[1:3], **F64)
    np.testing.assert_allclose(np.abs(u.T @ u0[:, 1:3]), np.eye(2), atol=1e-10)
    np.testing.assert_allclose(np.abs(vh @ vh0[1:3].T), np.eye(2), atol=1e-10)
    np.testing.assert_allclose(hs, [3.0, 2.0], **F64)
    np.testing.assert_allclose(hs_batch, [[2.0, 1.0], [2.0, 1.0]], **F64)
    # u diag(s) vh is the part of the matrix on the eigenvalues -3 and 2.
    part = -3.0 * np.outer(q[:, 0], q[:, 0]) + 2.0 * np.outer(q[:, 3], q[:, 3])
    np.testing.assert_allclose((hu * hs) @ hvh, part, atol=1e-10)


def test_lstsq_numpy_residuals_match_jax():
    """numpy_resid needs concrete values (eager only, in JAX too)."""
    for a, b in [(R, B4), (LOW_RANK, B4[:, 0])]:  # residuals; none (rank 2 < 3)
        oracle.assert_trees_same(fla.lstsq(a, b, numpy_resid=True),
                                 jla.lstsq(a, b, numpy_resid=True), **F64)


# -- derivatives -----------------------------------------------------------------------------


def flat(xp, outputs):
    """Real outputs of several functions as one vector (the oracle's checks take one
    array)."""
    return xp.concatenate([xp.ravel(y) for y in outputs])


def family(*fs):
    """Several functions of the same operands as one function of the linalg module `L` and
    its numpy `xp`, whose output is their outputs flattened and concatenated."""
    return lambda L, xp: lambda *a: flat(xp, [y for f in fs for y in f(L, xp, *a)])


# (id, the function of (L, xp), its operands): every differentiable function of __all__,
# in small groups (one compilation each: a large program compiles slower than its parts).
FIRST_ORDER = [
    ("det", family(lambda L, xp, a, c: [L.det(a), L.det(c), L.det(a[:2, :2]),
                                        L.det(a[:1, :1])]), (A, C4)),
    ("slogdet", family(lambda L, xp, a, c: [*L.slogdet(a), L.slogdet(a[:2, :2])[1],
                                            L.slogdet(c, method="qr").logabsdet]), (A, C4)),
    ("inv_solve", family(lambda L, xp, a, b: [L.inv(a), L.solve(a, b), L.solve(a, b[:, 0])]),
     (A, B)),
    ("matrix_power_cond", family(lambda L, xp, a: [L.matrix_power(a, -2), L.matrix_power(a, 3)]
                                 + [L.cond(a, p) for p in (None, 1, "fro", "nuc")]),
     (A,)),
    ("tensorinv_tensorsolve", family(lambda L, xp, c, b: [
        L.tensorinv(c.reshape(2, 2, 4)), L.tensorsolve(c.reshape(4, 2, 2), b[:, 0]),
        L.tensorsolve(c[:, None], b[:, 1], axes=(2,))]), (C4, B4)),
    ("pinv_lstsq", family(lambda L, xp, r, s, b: [L.pinv(r), L.pinv(s, hermitian=True),
                                                  L.lstsq(r, b)[0], L.lstsq(r, b[:, 0])[0]]),
     (R, SYM, B4)),
    ("svd", family(lambda L, xp, r: [*L.svd(r, full_matrices=False), L.svdvals(r)]), (R,)),
    ("svd_hermitian", family(lambda L, xp, s: [*L.svd(s, hermitian=True)]), (SYM,)),
    ("eigh", family(lambda L, xp, s: [*L.eigh(s), L.eigvalsh(s),
                                      *L.eigh(s, UPLO="U", symmetrize_input=False)]), (SYM,)),
    # Eigenvalues only: eig's eigenvector derivatives are refused by both (as documented).
    ("eigvals", family(lambda L, xp, e: [xp.real(L.eigvals(e)), xp.imag(L.eigvals(e))]),
     (EIG,)),
    ("cholesky_qr", family(lambda L, xp, s, r: [L.cholesky(s), L.cholesky(s, upper=True),
                                                *L.qr(r), L.qr(r, mode="r")]), (SPD, R)),
    ("matrix_norms", family(lambda L, xp, r: [L.norm(r, o) for o in MATRIX_ORDS]
                            + [L.matrix_norm(r, ord=-2)]), (R,)),
    ("vector_norms", family(lambda L, xp, r: [L.norm(r, o, axis=0)
                                              for o in (None, 0, 1, 3, 0.5, -np.inf)]
                            + [L.norm(r), L.vector_norm(r, ord=3),
                               L.vector_norm(r, axis=(0, 1), ord=1)]), (R,)),
    ("products", family(lambda L, xp, a, b, v: [
        L.matmul(a, b), L.multi_dot([v, a, a, b]), L.outer(v, b[:, 0]), L.cross(a, v),
        L.vecdot(a, v), L.tensordot(a, b, axes=1), L.trace(a, offset=1),
        L.diagonal(a, offset=-1), L.matrix_transpose(b)]), (A, B, V)),
]


# Through oracle.check_first_order (which also runs fgrad's traced programs, but compiles
# several of them per case); the other groups compare one jitted program per side, to fit
# this file in its time.
ORACLE_GROUPS = {"inv_solve", "svd"}


def check_first_order_jitted(groups, seed=1):
    """oracle.check_first_order's comparisons (outputs, JVP and VJP against JAX's, random
    tangents and cotangent) for several groups at once, with fgrad's derivatives taken
    under jax.jit: one program per side."""
    data = []
    for _, make, args in groups:
        tangents = tuple(oracle.rand(np.shape(a), seed + i) for i, a in enumerate(args))
        cotangent = oracle.rand(jax.eval_shape(make(jla, jnp), *args).shape, seed + 10)
        data.append((args, tangents, cotangent))

    def derivatives(jvp, vjp, L, xp):  # noqa: N803
        def run(data):
            out = []
            for (_, make, _), (args, tangents, cotangent) in zip(groups, data):
                f = make(L, xp)
                out.append((jvp(f, args, tangents), vjp(f, *args)[1](cotangent)))
            return out
        return run

    got = jax.jit(derivatives(fgrad.jvp, fgrad.vjp, fla, fnp))(data)
    want = jax.jit(derivatives(jax.jvp, jax.vjp, jla, jnp))(data)
    for (name, _, _), g, w in zip(groups, got, want, strict=True):
        try:
            oracle.assert_trees_same(g, w, **F64)
        except AssertionError as e:
            raise AssertionError(f"the first-order derivatives of group {name}") from e


@pytest.mark.parametrize("name, make, args", [c for c in FIRST_ORDER if c[0] in ORACLE_GROUPS],
                         ids=[c[0] for c in FIRST_ORDER if c[0] in ORACLE_GROUPS])
def test_first_order_matches_jax(name, make, args):
    """JVP and VJP against JAX's, fgrad's side under fgrad.jit, by the oracle."""
    oracle.check_first_order(fgrad.jit(make(fla, fnp)), make(jla, jnp), args, **F64)


def test_first_order_of_the_others_matches_jax():
    check_first_order_jitted([c for c in FIRST_ORDER if c[0] not in ORACLE_GROUPS])


def test_first_order_covers_every_differentiable_function():
    names = set()
    for _, make, args in FIRST_ORDER:
        seen = set()
        spy = type("Spy", (), {"__getattr__": lambda self, n: seen.add(n) or getattr(jla, n)})
        jax.eval_shape(make(spy(), jnp), *args)
        names |= seen
    # matrix_rank is an integer; eig: test_eig_derivatives.
    assert names == set(fla.__all__) - {"matrix_rank", "eig"}


def test_eig_derivatives():
    """eigvals differentiates: against the hand-derived dλᵢ = (X⁻¹ dE X)ᵢᵢ for E = X Λ X⁻¹
    (JAX's agree: test_first_order_matches_jax[eigvals]). eig, which computes the
    eigenvectors, refuses to differentiate unless opted in, as JAX's does."""
    t = oracle.rand((3, 3), 7)
    w, dw = fgrad.jit(lambda e, t: fgrad.jvp(fla.eigvals, (e,), (t,)))(EIG, t)
    order = np.argsort(w.real)
    np.testing.assert_allclose(w[order], EIG_VALUES, **F64)
    np.testing.assert_allclose(dw[order], np.diag(np.linalg.inv(X) @ t @ X), **F64)
    for jvp, L in ((fgrad.jvp, fla), (jax.jvp, jla)):  # noqa: N806
        with pytest.raises(NotImplementedError, match="enable_eigvec_derivs"):
            jvp(lambda e: L.eig(e).eigenvalues, (EIG,), (t,))  # noqa: B023


# The main differentiable functions, for Hessians (fgrad's under jax.jit).
SECOND_ORDER = [
    ("det_slogdet", family(lambda L, xp, a, c: [L.det(a), L.det(c), L.slogdet(a)[1]]),
     (A, C4)),
    ("inv_solve", family(lambda L, xp, a, b: [L.inv(a), L.solve(a, b)]), (A, B)),
    ("norms_eigh", family(lambda L, xp, r, s: [L.norm(r, o) for o in (None, 2, -2, "nuc", 1)]
                          + [L.norm(r, 3, axis=0), *L.eigh(s)]), (R, SYM)),
    ("svd_pinv", family(lambda L, xp, r: [*L.svd(r, full_matrices=False), L.cond(r),
                                          L.pinv(r)]), (R,)),
]


@pytest.mark.parametrize("make, args", [c[1:] for c in SECOND_ORDER],
                         ids=[c[0] for c in SECOND_ORDER])
def test_second_order_matches_jax(make, args):
    oracle.check_second_order(make(fla, fnp), make(jla, jnp), args, **F64)


def adjugate(a):
    """adj(a)[j, i] = (-1)^(i+j) det(a without row i and column j), by NumPy."""
    n = len(a)
    cofactors = np.array([[(-1) ** (i + j) * np.linalg.det(np.delete(np.delete(a, i, 0), j, 1))
                           for j in range(n)] for i in range(n)])
    return cofactors.T


def test_det_gradient_at_singular_matrices():
    """The gradient of det is adj(a)ᵀ: finite and nonzero at a singular matrix of rank
    n - 1 (where a⁻¹ does not exist), zero at rank n - 2. 4 x 4 takes the LU path."""
    x, y = orthogonal(4, 3), orthogonal(4, 4)
    rank3 = x @ np.diag([1.0, 2.0, 3.0, 0.0]) @ y
    rank2 = x @ np.diag([1.0, 2.0, 0.0, 0.0]) @ y
    got = fgrad.jit(fgrad.grad(fla.det))
    want = jax.jit(jax.grad(jla.det))
    for a in (rank3, rank2):
        np.testing.assert_allclose(got(a), want(a), atol=1e-10)
        np.testing.assert_allclose(got(a), adjugate(a).T, atol=1e-10)
    assert np.abs(adjugate(rank3)).max() > 0.1  # so the rank-3 case is not trivially zero


# -- vmap ------------------------------------------------------------------------------------


def test_vmap_matches_jax():
    """fgrad.vmap against jax.vmap, the batch axis first, last or of one operand only, and a
    vmapped gradient; one program per side."""
    def batched(vmap, grad, L):  # noqa: N803
        return lambda ab, a, b, symb, rb: [
            vmap(L.det)(ab), vmap(L.slogdet)(ab), vmap(L.inv, in_axes=2)(ab.transpose(1, 2, 0)),
            vmap(L.solve, in_axes=(0, None))(ab, b), vmap(L.solve, in_axes=(None, 1))(a, b),
            vmap(L.eigh, in_axes=2)(symb.transpose(1, 2, 0)),
            vmap(lambda r: L.norm(r, 2))(rb), vmap(L.pinv, in_axes=1)(rb.transpose(1, 0, 2)),
            vmap(lambda r: L.svd(r, full_matrices=False))(rb),
            vmap(grad(lambda a: L.slogdet(a).logabsdet))(ab)]

    args = (AB, A, B, SYMB, RB)
    got = jax.jit(batched(fgrad.vmap, fgrad.grad, fla))(*args)
    want = jax.jit(batched(jax.vmap, jax.grad, jla))(*args)
    oracle.assert_trees_same(plain(got), plain(want), **F64)


# -- errors ----------------------------------------------------------------------------------


def test_shape_and_dtype_errors():
    """ShapeDtypeErrors that say what is wrong, at the caller's line."""
    oracle.check_error(lambda: fla.inv(np.ones((3, 4))), "inv", "square", "(3, 4)")
    oracle.check_error(lambda: fla.det(np.ones(3)), "det", "square", "(3,)")
    oracle.check_error(lambda: fla.slogdet(np.ones((2, 3))), "slogdet", "(2, 3)")
    oracle.check_error(lambda: fla.solve(np.ones((3, 4)), np.ones(3)), "square", "(3, 4)")
    oracle.check_error(lambda: fla.solve(np.ones(3), np.ones(3)), "two-dimensional", "(3,)")
    oracle.check_error(lambda: fla.solve(I3, np.ones((2, 3))), "n = 3", "(2, 3)")
    oracle.check_error(lambda: fla.solve(np.ones((2, 3, 3)), np.ones((2, 3))),
                       "batch of matrices", "b[..., None]")
    oracle.check_error(lambda: fla.eigh(np.ones((2, 3))), "eigh", "square", "(2, 3)")
    oracle.check_error(lambda: fla.eig(np.ones((2, 3))), "eig", "square", "(2, 3)")
    oracle.check_error(lambda: fla.svd(np.ones(3)), "svd", "(..., m, n)", "(3,)")
    oracle.check_error(lambda: fla.cholesky(np.ones(3)), "cholesky", "(3,)")
    oracle.check_error(lambda: fla.lstsq(np.ones((2, 2, 2)), np.ones(2)), "two-dimensional",
                       "3-dimensional")
    oracle.check_error(lambda: fla.lstsq(np.ones((3, 2)), np.ones(2)), "(3, 2)", "(2,)")
    oracle.check_error(lambda: fla.cross(np.ones(2), np.ones(2)), "3-dimensional", "2 and 2")
    oracle.check_error(lambda: fla.outer(np.ones((2, 2)), np.ones(2)), "one-dimensional")
    oracle.check_error(lambda: fla.matrix_power(A, 1.5), "integer", "1.5")
    oracle.check_error(lambda: fla.matrix_power(np.ones((2, 3)), 2), "square", "(2, 3)")
    oracle.check_error(lambda: fla.tensorinv(np.ones((2, 3)), 1), "product", "(2, 3)")
    oracle.check_error(lambda: fla.multi_dot([A, np.ones((2, 2))]), "(3, 3)", "(2, 2)")
    oracle.check_error(lambda: fla.norm(np.ones((2, 2, 2)), 2), "axes", "3 dimensions")
    oracle.check_error(lambda: fla.cond(np.ones(3)), "two-dimensional", "(3,)")
    oracle.check_error(lambda: fla.cond(R, 1), "square", "(4, 3)")
    # dtypes: LAPACK has no float16 (JAX raises NotImplementedError from its lookup).
    half = np.eye(3, dtype=np.float16)
    oracle.check_error(lambda: fla.inv(half), "float16", "float32")
    oracle.check_error(lambda: fla.eigh(half), "float16", "float32")


def test_value_and_type_errors():
    with pytest.raises(ValueError, match="invalid order 'bad' for a matrix norm"):
        fla.norm(A, "bad")
    with pytest.raises(ValueError, match="invalid order 'inf'.*fgrad.numpy.inf"):
        fla.vector_norm(V, ord="inf")
    with pytest.raises(ValueError, match="unsupported mode 'x'"):
        fla.qr(A, mode="x")
    with pytest.raises(ValueError, match="unknown method 'x'"):
        fla.slogdet(A, method="x")
    with pytest.raises(ValueError, match="UPLO must be None, 'L' or 'U', got 'X'"):
        fla.eigh(SYM, UPLO="X")
    with pytest.raises(ValueError, match="only one of rtol and rcond"):
        fla.pinv(A, rtol=0.1, rcond=0.1)
    with pytest.raises(ValueError, match="only one of tol and rtol"):
        fla.matrix_rank(A, 0.1, tol=0.1)
    with pytest.raises(ValueError, match="at least two arrays, got 1"):
        fla.multi_dot([A])
    with pytest.raises(ValueError, match="ind must be a positive integer, got 0"):
        fla.tensorinv(A, 0)
    with pytest.raises(TypeError, match="list"):
        fla.inv([[1.0, 0.0], [0.0, 1.0]])


def test_matrix_calculus_identities():
    """The textbook gradients, against NumPy's matrices (no JAX): d/dA log|det A| = A⁻ᵀ;
    for SPD A through the Cholesky factor, d/dA (2 Σ log diag L) = A⁻¹ (symmetric, as the
    factor reads a symmetrized A); the gradient of the nuclear norm is U Vᵀ; solve's
    gradient equals the one through inv (in A and in b); d/dA tr(A⁻¹ W) = -A⁻ᵀ Wᵀ A⁻ᵀ."""
    W = rng.standard_normal((3, 2))
    M = rng.standard_normal((3, 3))

    def every(a, spd, r, b):
        return dict(
            logdet=fgrad.grad(lambda a: fla.slogdet(a)[1])(a),
            chol=fgrad.grad(lambda s: 2 * fnp.sum(fnp.log(fnp.diagonal(fla.cholesky(s)))))(spd),
            nuc=fgrad.grad(lambda r: fla.norm(r, "nuc"))(r),
            solve=fgrad.grad(lambda a, b: fnp.sum(W * fla.solve(a, b)), (0, 1))(a, b),
            via_inv=fgrad.grad(lambda a, b: fnp.sum(W * (fla.inv(a) @ b)), (0, 1))(a, b),
            trace_inv=fgrad.grad(lambda a: fnp.trace(fla.inv(a) @ M))(a))

    got = fgrad.jit(every)(A, SPD, R, B)
    inv_a = np.linalg.inv(A)
    np.testing.assert_allclose(got["logdet"], inv_a.T, **F64)
    np.testing.assert_allclose(got["chol"], np.linalg.inv(SPD), **F64)
    u, _, vt = np.linalg.svd(R, full_matrices=False)
    np.testing.assert_allclose(got["nuc"], u @ vt, **F64)
    oracle.assert_trees_same(got["solve"], got["via_inv"], **F64)
    np.testing.assert_allclose(got["solve"][1], inv_a.T @ W, **F64)  # dL/db = A⁻ᵀ W
    np.testing.assert_allclose(got["trace_inv"], -inv_a.T @ M.T @ inv_a.T, **F64)
