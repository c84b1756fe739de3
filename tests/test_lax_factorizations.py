"""lu, lu_pivots_to_permutation and qr against jax.lax.linalg: values and types (the four
dtypes, square, tall, wide, empty and batched matrices, every qr option) with the
factorizations' own identities (P A = L U, A[..., p] = Q R, QᴴQ = I, triangles); first- and
second-order derivatives against JAX's (float64 and complex128) and against finite
differences (check_grads, order 2, both modes); vmap against jax.vmap with the batch axis
before, among and after the matrix's own batch axes; and the shape rules' errors.

Many cases run under one jax.jit per side: each eager fgrad operation compiles on its own
and this file has a few seconds of a shared 2-core machine; comparisons with a tolerance
compile with XLA's optimizations off (`quick_compile`)."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.lax import linalg as jll

import fgrad
import fgrad.numpy as fnp
import oracle
from fgrad.lax import factorizations as ff
from fgrad.testing import check_grads

rng = np.random.default_rng(16)
F64 = dict(rtol=1e-9, atol=1e-11)  # float64 rounding of a small factorization and its rules
F32 = dict(rtol=2e-5, atol=2e-5)  # float32 rounding of a small factorization

SHAPES = [(3, 3), (4, 3), (3, 5), (2, 4, 3), (2, 1, 3, 4)]  # square, tall, wide, batches
QR_OPTIONS = [dict(pivoting=p, full_matrices=f) for p in (False, True) for f in (True, False)]


def matrix(shape, dtype=np.float64):
    """Standard normal entries (complex ones have an imaginary part too): full rank, and
    with distinct pivots, almost surely."""
    x = rng.standard_normal(shape)
    if np.issubdtype(dtype, np.complexfloating):
        x = x + 1j * rng.standard_normal(shape)
    return x.astype(dtype)


def permutation_matrix(permutation, dtype):
    """P with P A = A[permutation]."""
    m = permutation.shape[-1]
    return (permutation[..., :, None] == np.arange(m)).astype(dtype)


# -- values ----------------------------------------------------------------------------------


def test_lu_matches_jax_and_factorizes(x64, quick_compile):
    xs = [matrix(s, d) for s, d in zip(SHAPES, (np.float32, np.float64, np.complex64,
                                                np.complex128, np.float32))]
    got = jax.jit(lambda xs: [ff.lu(x) for x in xs])(xs)
    want = jax.jit(lambda xs: [jll.lu(x) for x in xs])(xs)
    for x, g, w in zip(xs, got, want):
        tolerance = F64 if x.dtype in (np.float64, np.complex128) else F32
        oracle.assert_trees_same(g, w, **tolerance)
        packed, pivots, permutation = (np.asarray(a) for a in g)
        *_, m, n = x.shape
        k = min(m, n)
        l = np.tril(packed[..., :, :k], -1) + np.eye(m, k)
        u = np.triu(packed[..., :k, :])
        np.testing.assert_allclose(l @ u, permutation_matrix(permutation, x.dtype) @ x,
                                   **tolerance)
        np.testing.assert_array_equal(
            permutation, np.asarray(jll.lu_pivots_to_permutation(pivots, m)))
    # Eagerly and as a traced program too (types, printing, jit of the program).
    oracle.check(lambda x: ff.lu(x)[0], lambda x: jll.lu(x)[0], xs[1], **F64)


def test_qr_matches_jax_and_factorizes(x64, quick_compile):
    cases = [(matrix((4, 3), np.float32), options) for options in QR_OPTIONS]
    cases += [(matrix((3, 5), np.complex128), options) for options in QR_OPTIONS]
    cases += [(matrix((2, 3, 3), np.complex64), QR_OPTIONS[0]),
              (matrix((2, 1, 4, 2)), QR_OPTIONS[3])]

    def all_of_them(qr):
        return lambda xs: [qr(x, **options) for x, (_, options) in zip(xs, cases)]

    xs = [x for x, _ in cases]
    got = jax.jit(all_of_them(ff.qr))(xs)
    want = jax.jit(all_of_them(jll.qr))(xs)
    for (x, options), g, w in zip(cases, got, want):
        tolerance = F64 if x.dtype in (np.float64, np.complex128) else F32
        assert len(g) == (3 if options["pivoting"] else 2)
        oracle.assert_trees_same(g, w, **tolerance)
        q, r = np.asarray(g[0]), np.asarray(g[1])
        a = np.take_along_axis(x, np.asarray(g[2])[..., None, :], -1) if len(g) == 3 else x
        np.testing.assert_allclose(q @ r, a, **tolerance)
        k = q.shape[-1]
        np.testing.assert_allclose(np.swapaxes(q.conj(), -1, -2) @ q,
                                   np.broadcast_to(np.eye(k), q.shape[:-2] + (k, k)),
                                   **tolerance)
        assert not np.tril(r, -1).any()
    oracle.check(lambda x: ff.qr(x)[1], lambda x: jll.qr(x)[1], cases[-1][0], **F64)


def test_empty_matrices_match_jax(x64):
    for shape in [(0, 3), (3, 0), (2, 0, 0)]:
        x = np.zeros(shape)
        oracle.assert_trees_same(ff.lu(x), jll.lu(x))
        for options in QR_OPTIONS:
            oracle.assert_trees_same(ff.qr(x, **options), jll.qr(x, **options))


def test_lu_pivots_to_permutation_matches_jax():
    pivots = np.array([[2, 2, 3], [1, 3, 4], [0, 1, 2]], np.int32)

    def all_of_them(convert):
        return lambda p: [convert(p, 5), convert(p[0], 3), convert(p[:, :0], 2)]

    oracle.assert_trees_same(jax.jit(all_of_them(ff.lu_pivots_to_permutation))(pivots),
                             jax.jit(all_of_them(jll.lu_pivots_to_permutation))(pivots))
    # ...and it is what lu's permutation is made of.
    x = matrix((5, 3), np.float32)
    _, swaps, permutation = ff.lu(x)
    oracle.assert_same(ff.lu_pivots_to_permutation(swaps, 5), permutation)


def test_weak_types_follow_jax():
    """A weakly typed operand gives weakly typed results, the integer ones included."""
    x = oracle.make((3, 3), np.float32, weak=True)
    oracle.assert_trees_same(ff.lu(x), jll.lu(x), **F32)
    oracle.assert_trees_same(ff.qr(x, pivoting=True), jll.qr(x, pivoting=True), **F32)


# -- derivatives -----------------------------------------------------------------------------


def random_like(tree, seed):
    """Random values of each float leaf's type; float0 zeros for the integer ones."""
    leaves, structure = jax.tree_util.tree_flatten(tree)
    return jax.tree_util.tree_unflatten(structure, [
        oracle.rand(np.shape(x), seed + i, jnp.result_type(x))
        if jnp.issubdtype(jnp.result_type(x), jnp.inexact)
        else np.zeros(np.shape(x), jax.dtypes.float0) for i, x in enumerate(leaves)])


def test_derivatives_match_jax(x64, quick_compile):
    """fgrad's JVP, VJP and (for two complex cases) Hessian-vector product of a real loss
    against JAX's, the cases together as one function under one jax.jit per side (fgrad's
    rules run while JAX traces). The integer outputs' tangents are float0 on both sides.
    tests/test_lowering_derivatives.py checks more real cases, second order included."""
    def cases(lu, qr):
        return [
            lambda x: lu(x[0]),  # complex, tall
            lambda x: qr(x[1], full_matrices=False),  # complex, tall
            lambda x: qr(x[2]),  # complex, wide
            lambda x: qr(x[3]),  # real, a batch of tall ones, full
        ]

    xs = (matrix((4, 3), np.complex128), matrix((4, 3), np.complex128),
          matrix((3, 4), np.complex128), matrix((2, 4, 3)))
    weights = [oracle.rand(shape, 40 + i) for i, shape in enumerate([(4, 3), (3, 3), (3, 4)])]

    def f_of(cs):
        return lambda x: [c(x) for c in cs]

    ts = random_like(xs, 10)
    cts = random_like(jax.eval_shape(f_of(cases(jll.lu, jll.qr)), xs), 20)

    def derivatives(jvp, vjp, grad, lu, qr, abs_, sum_):
        f = f_of(cases(lu, qr))

        def loss(z1, z3):  # real, of complex LU's and wide QR's outputs
            outs = [lu(z1)[0], *qr(z3)]
            return sum(sum_(abs_(y) ** 2 * w) for y, w in zip(outs, weights))

        return lambda x, t, c: (jvp(f, (x,), (t,)), vjp(f, x)[1](c),
                                jvp(grad(loss, (0, 1)), (x[0], x[2]), (t[0], t[2]))[1])

    got = jax.jit(derivatives(fgrad.jvp, fgrad.vjp, fgrad.grad, ff.lu, ff.qr, fnp.abs,
                              fnp.sum))(xs, ts, cts)
    want = jax.jit(derivatives(jax.jvp, jax.vjp, jax.grad, jll.lu, jll.qr, jnp.abs,
                               jnp.sum))(xs, ts, cts)
    oracle.assert_trees_same(got, want, **F64)


def test_derivatives_against_finite_differences(x64, quick_compile):
    """check_grads, order 2, forward and reverse, where JAX's rule cannot be the reference:
    a wide pivoted QR (JAX forms R₂'s tangent from the unpermuted X₂, which these finite
    differences contradict) and a batch of pivoted ones (JAX's rule fails, also under
    vmap)."""
    def f(wide, batch):
        q, r, _ = ff.qr(wide, pivoting=True)
        q2, r2, _ = ff.qr(batch, pivoting=True, full_matrices=False)
        return q, r, q2, r2

    check_grads(f, (matrix((2, 3)), matrix((2, 2, 2))), order=2)


def test_gradients_under_fgrad_jit(x64, quick_compile):
    x = matrix((4, 3))
    w = rng.standard_normal((4, 3))

    def loss(factorize, sum_):
        return lambda x: sum_(factorize(x) * w)

    def grads(grad, sum_, lu, qr):
        return lambda x: [grad(loss(lambda a: lu(a)[0], sum_))(x),
                          grad(loss(lambda a: qr(a, full_matrices=False)[0], sum_))(x)]

    got = fgrad.jit(grads(fgrad.grad, fnp.sum, ff.lu, ff.qr))(x)
    want = jax.jit(grads(jax.grad, jnp.sum, jll.lu, jll.qr))(x)
    oracle.assert_trees_same(got, want, **F64)


# -- vmap ------------------------------------------------------------------------------------


def test_vmap_matches_jax(quick_compile):
    x = matrix((4, 2, 3, 5), np.float32)  # the vmapped axis first, then a batch of 2
    pivots = np.array([[[2, 2, 3], [1, 3, 4]]] * 4, np.int32)
    axes = (0, 1, 2)  # the new batch axis before, among and after the matrix's own

    def batched(vmap, lu, qr, convert, swapaxes):
        def run(x, pivots):
            out = []
            for a in axes:
                moved = jnp.moveaxis(x, 0, a)
                out.append(vmap(lu, in_axes=a)(moved))
                out.append(vmap(lambda y: qr(y, pivoting=True), in_axes=a)(moved))
                out.append(vmap(lambda y: qr(swapaxes(y, -1, -2), full_matrices=False),
                                in_axes=a)(moved))
                out.append(vmap(lambda p: convert(p, 6), in_axes=a)(jnp.moveaxis(pivots, 0, a)))
            return out
        return run

    got = jax.jit(batched(fgrad.vmap, ff.lu, ff.qr, ff.lu_pivots_to_permutation,
                          fnp.swapaxes))(x, pivots)
    want = jax.jit(batched(jax.vmap, jll.lu, jll.qr, jll.lu_pivots_to_permutation,
                           jnp.swapaxes))(x, pivots)
    oracle.assert_trees_same(got, want, **F32)


def test_vmap_of_derivatives_matches_jax(x64, quick_compile):
    x, t = matrix((3, 4, 3)), matrix((3, 4, 3))

    def batched(vmap, jvp, lu, qr):
        return lambda x, t: [
            vmap(lambda a, b: jvp(lu, (a,), (b,)), in_axes=(2, 2))(x, t),
            vmap(lambda a, b: jvp(qr, (a,), (b,)), in_axes=(0, None))(x, t[0])]

    got = jax.jit(batched(fgrad.vmap, fgrad.jvp, ff.lu, ff.qr))(x, t)
    want = jax.jit(batched(jax.vmap, jax.jvp, jll.lu, jll.qr))(x, t)
    oracle.assert_trees_same(got, want, **F64)


# -- errors ----------------------------------------------------------------------------------


def test_errors():
    vector, ints = np.ones(3, np.float32), np.eye(3, dtype=np.int32)
    half = np.eye(3, dtype=np.float16)
    oracle.check_error(lambda: ff.lu(vector), "lu", "(..., m, n)", "(3,)")
    oracle.check_error(lambda: ff.qr(vector), "qr", "(..., m, n)", "(3,)")
    oracle.check_error(lambda: ff.lu(ints), "not int32", "convert_element_type")
    oracle.check_error(lambda: ff.qr(ints), "not int32", "convert_element_type")
    oracle.check_error(lambda: ff.lu(half), "not float16", "float32")
    oracle.check_error(lambda: ff.qr(vector[None], use_magma="yes"), "use_magma")
    pivots = np.zeros((2, 3), np.int32)
    oracle.check_error(lambda: ff.lu_pivots_to_permutation(pivots, 2), "at least", "(3)")
    oracle.check_error(lambda: ff.lu_pivots_to_permutation(pivots[0, 0], 2), "scalar")
    oracle.check_error(lambda: ff.lu_pivots_to_permutation(pivots.astype(np.int16), 3),
                       "int32")
    oracle.check_error(lambda: ff.lu_pivots_to_permutation(pivots, 3.5), "permutation_size")
