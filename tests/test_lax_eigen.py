"""eigh, svd, eig and schur (fgrad/lax/eigen.py) against jax.lax.linalg.

Values: eigenvalues and singular values against JAX's, eigenvectors up to their sign or
phase, reconstructions and orthonormality, batched, real and complex, output types
(dtype and weak type) equal to JAX's. Derivatives (float64): fgrad.jvp / fgrad.vjp and a
Hessian-vector product against JAX's on functions that do not depend on the eigenvectors'
arbitrary signs or phases, check_grads(order=2) against finite differences, two identities
(the gradient of the nuclear norm is U Vᵀ; of the trace as a sum of eigenvalues, the
identity), and the degenerate case (repeated eigenvalues), where fgrad must return what JAX
returns, NaNs included. vmap against jax.vmap, fgrad.jit and jax.jit, and the errors.
schur: JAX's outputs, the decomposition's properties (A = Z T Zᴴ, Z unitary, T triangular or
quasi-triangular), vmap against each matrix's own, and no derivative, as in JAX.

Most comparisons run many cases under one jax.jit per side (compiling dominates this
file's time), with XLA's optimizations off where values are compared with a tolerance.
"""

import importlib
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.lax import linalg as jll

import fgrad
import fgrad.numpy as fnp
import oracle
from fgrad.core import MissingRuleError, ShapeDtypeError, aval_of
from fgrad.lax import eigen as fe
from fgrad.testing import check_grads

rng = np.random.default_rng(1616)
F64 = dict(rtol=1e-9, atol=1e-11)  # float64 rounding, derivatives included
F32 = dict(rtol=2e-4, atol=2e-5)  # float32 rounding of a small decomposition


def hermitian(shape, dtype=np.float64, gap=3.0, rng=rng):
    """Hermitian matrices whose eigenvalues are about `gap` apart (well separated: the
    eigenvector derivatives divide by the gaps)."""
    x = oracle.rand(shape, int(rng.integers(1 << 30)), dtype)
    return (x + np.conj(np.swapaxes(x, -1, -2)) + np.diag(gap * np.arange(shape[-1]))
            ).astype(dtype)


def general(shape, dtype=np.float64, rng=rng):
    return oracle.rand(shape, int(rng.integers(1 << 30)), dtype)


def _H(x):
    return np.conj(np.swapaxes(x, -1, -2))


def assert_same_vectors(got, want, tol):
    """Unit columns equal up to a sign or phase each: |<got_j, want_j>| = 1."""
    overlap = np.abs(np.sum(np.conj(np.asarray(got)) * np.asarray(want), axis=-2))
    np.testing.assert_allclose(overlap, 1.0, atol=tol)


# -- values ----------------------------------------------------------------------------------


def test_values_match_jax(x64, quick_compile):
    """One program per side: every decomposition, real and complex, in float32 and float64,
    batched; then the types, the eigenvalues, and the vectors up to sign/phase."""
    cases = [
        ("eigh", dict(), hermitian((2, 3, 3), np.float32)),
        ("eigh", dict(), hermitian((4, 4), np.complex128)),
        ("eigh", dict(symmetrize_input=False, lower=False), general((3, 3))),  # upper read
        ("eigh", dict(symmetrize_input=False), general((2, 3, 3), np.complex64)),
        ("svd", dict(), general((2, 4, 3), np.float32)),
        ("svd", dict(full_matrices=False), general((3, 5), np.complex128)),
        ("svd", dict(compute_uv=False), general((2, 3, 2))),
        ("eig", dict(), general((2, 3, 3))),
        ("eig", dict(compute_left_eigenvectors=False), general((3, 3), np.complex64)),
        ("eig", dict(compute_left_eigenvectors=False, compute_right_eigenvectors=False),
         general((3, 3), np.float32)),
    ]
    args = [a for _, _, a in cases]

    def run(module):
        return lambda args: [getattr(module, name)(a, **kw)
                             for (name, kw, _), a in zip(cases, args)]

    got = jax.jit(run(fe))(args)
    want = jax.jit(run(jll))(args)
    for (name, kw, a), g, w in zip(cases, got, want):
        g, w = jax.tree.leaves(g), jax.tree.leaves(w)
        assert [aval_of(x) for x in g] == [aval_of(x) for x in w], (name, kw)
        tol = F32 if a.dtype in (np.float32, np.complex64) else F64
        if name == "eigh":
            (v, w_), (_, jw) = g, w
            oracle.assert_same(w_, jw, **tol)
            assert_same_vectors(v, w[0], 10 * tol["atol"])
            sym = a if kw.get("symmetrize_input", True) else None
            if sym is not None:  # V diag(w) Vᴴ = (A + Aᴴ) / 2, and V is unitary
                sym = (a + _H(a)) / 2
                np.testing.assert_allclose(np.asarray(v) * np.asarray(w_)[..., None, :]
                                           @ _H(np.asarray(v)), sym, **tol)
            np.testing.assert_allclose(_H(np.asarray(v)) @ np.asarray(v),
                                       np.broadcast_to(np.eye(a.shape[-1]), v.shape), **tol)
        elif name == "svd" and kw.get("compute_uv", True):
            (u, s, vh), (ju, js, _) = g, w
            oracle.assert_same(s, js, **tol)
            k = s.shape[-1]
            u_, vh_ = np.asarray(u)[..., :, :k], np.asarray(vh)[..., :k, :]
            np.testing.assert_allclose(u_ * np.asarray(s)[..., None, :] @ vh_, a, **tol)
            for q in (u, _H(np.asarray(vh))):  # full (or reduced) orthonormal columns
                q = np.asarray(q)
                np.testing.assert_allclose(_H(q) @ q, np.broadcast_to(
                    np.eye(q.shape[-1]), q.shape[:-2] + (q.shape[-1],) * 2), **tol)
            assert_same_vectors(u_, np.asarray(ju)[..., :, :k], 10 * tol["atol"])
        elif name == "svd":
            oracle.assert_same(g[0], w[0], **tol)
        else:  # eig: same eigenvalues in the same order, vectors up to phase, A V = V W
            oracle.assert_same(g[0], w[0], **tol)
            wv = np.asarray(g[0])
            for vec, jvec, left in zip(g[1:], w[1:], [kw.get("compute_left_eigenvectors",
                                                             True)] + [False]):
                assert_same_vectors(vec, jvec, 10 * tol["atol"])
                vec = np.asarray(vec)
                if left:  # vlᴴ A = W vlᴴ
                    np.testing.assert_allclose(_H(vec) @ a, wv[..., :, None] * _H(vec), **tol)
                else:
                    np.testing.assert_allclose(a @ vec, vec * wv[..., None, :], **tol)


def test_eager_traced_and_under_fgrad_jit(x64):
    """The same values eagerly (op by op), from a typechecked traced program, and under
    fgrad.jit, where fgrad stages its own program and lowers it inside jax.jit."""
    a, b = hermitian((3, 3)), general((3, 2))
    eager = (fe.eigh(a), fe.svd(b, full_matrices=False), fe.eig(a))
    traced = oracle.traced(lambda a, b: (fe.eigh(a), fe.svd(b, full_matrices=False),
                                         fe.eig(a)), (a, b))
    jitted = fgrad.jit(lambda a, b: (fe.eigh(a), fe.svd(b, full_matrices=False),
                                     fe.eig(a)))(a, b)
    want = (jll.eigh(a), jll.svd(b, full_matrices=False), jll.eig(a))
    for got in (eager, traced, jitted):
        # The same LAPACK calls: the same values, vectors included, to rounding.
        oracle.assert_trees_same(jax.tree.map(jnp.asarray, got), want, **F64)


def test_weak_types_and_empty_matrices():
    weak = oracle.make((3, 3), np.float32, weak=True)
    weak = weak + weak.T
    for f, jf in [(fe.eigh, jll.eigh), (fe.svd, jll.svd), (fe.eig, jll.eig)]:
        oracle.assert_trees_same(f(weak), jf(weak), **F32)
    for f, jf, x in [(fe.eigh, jll.eigh, np.ones((0, 0), np.float32)),
                     (fe.svd, jll.svd, np.ones((2, 0, 3), np.float32)),
                     (lambda x: fe.svd(x, full_matrices=False),
                      lambda x: jll.svd(x, full_matrices=False), np.ones((0, 3), np.float32)),
                     (fe.eig, jll.eig, np.ones((0, 0), np.float32))]:
        oracle.assert_trees_same(f(x), jf(x))


def test_subset_by_index(x64, quick_compile):
    """JAX's CPU lowering refuses subset_by_index; fgrad slices the full decomposition, so
    it is checked against JAX's full decomposition sliced, values and derivatives."""
    a, b = hermitian((2, 4, 4)), general((5, 3))

    def subsets(eigh, svd, sliced):
        def f(a, b):
            v, w = eigh(a, subset_by_index=(1, 3)) if not sliced else \
                (lambda v, w: (v[..., 1:3], w[..., 1:3]))(*eigh(a))
            u, s, vh = svd(b, full_matrices=False, subset_by_index=(0, 2)) if not sliced \
                else (lambda u, s, vh: (u[..., :2], s[..., :2], vh[..., :2, :]))(
                    *svd(b, full_matrices=False))
            return w, v * v, s, u * s[None, :] @ vh
        return f

    got_f = subsets(fe.eigh, fe.svd, False)
    want_f = subsets(jll.eigh, jll.svd, True)
    t = (hermitian((2, 4, 4)), general((5, 3)))
    got = jax.jit(lambda p, t: fgrad.jvp(got_f, p, t))((a, b), t)
    want = jax.jit(lambda p, t: jax.jvp(want_f, p, t))((a, b), t)
    oracle.assert_trees_same(got, want, **F64)
    # (0, n) is the whole decomposition; the singular values alone can be a subset too.
    oracle.assert_trees_same(fe.eigh(a, subset_by_index=(0, 4)), jll.eigh(a), **F64)
    oracle.assert_same(fe.svd(b, full_matrices=False, compute_uv=False,
                              subset_by_index=(1, 3)), jll.svd(b, compute_uv=False)[1:3],
                       **F64)


def test_sort_eigenvalues_false_and_use_magma(x64):
    a = hermitian((3, 3))
    oracle.assert_trees_same(fe.eigh(a, sort_eigenvalues=False),
                             jll.eigh(a, sort_eigenvalues=False), **F64)
    with pytest.warns(DeprecationWarning, match="use_magma"):
        got = fe.eig(a, use_magma=False)  # LAPACK, the CPU's implementation
    oracle.assert_trees_same(got, jll.eig(a), **F64)


# -- derivatives -----------------------------------------------------------------------------


def _is_complex(y) -> bool:
    return np.issubdtype(aval_of(y).dtype, np.complexfloating)


def _re_abs2(y, xp):
    """|y|², a real value of y that ignores y's phase (xp: fgrad.numpy or jax.numpy)."""
    return xp.real(y * xp.conj(y)) if _is_complex(y) else y * y


def _gauge_free(module, xp):
    """Functions of the decompositions (module: fgrad's or jax.lax.linalg) that do not
    depend on the eigen- or singular vectors' signs or phases (those are arbitrary), each
    with its arguments."""
    def eigh_fn(a):
        v, w = module.eigh(a)
        vh = xp.swapaxes(xp.conj(v) if _is_complex(v) else v, -1, -2)
        # eigenvalues, squared moduli of the eigenvectors' entries, and a matrix function
        return w, _re_abs2(v, xp), (v * xp.exp(w)[..., None, :]) @ vh

    def svd_fn(full_matrices):
        def f(a):
            u, s, vh = module.svd(a, full_matrices=full_matrices)
            k = s.shape[-1]
            return (s, _re_abs2(u, xp), _re_abs2(vh, xp),
                    (u[..., :, :k] * (s * s)[..., None, :]) @ vh[..., :k, :])
        return f

    def svdvals(a):
        return module.svd(a, compute_uv=False)

    def eigvals(a):
        return module.eig(a, compute_left_eigenvectors=False, compute_right_eigenvectors=False)

    def eig_vectors(a):
        # With enable_eigvec_derivs the vectors are differentiated under LAPACK's
        # normalization (unit norm, largest component real), which fixes their phase.
        return module.eig(a, enable_eigvec_derivs=True)

    r = np.random.default_rng(160)  # the same arguments for both modules
    return [
        (eigh_fn, (hermitian((2, 3, 3), rng=r),)),
        (eigh_fn, (hermitian((3, 3), np.complex128, rng=r),)),
        (svd_fn(True), (general((3, 3), rng=r),)),
        (svd_fn(False), (general((4, 3), rng=r),)),
        (svd_fn(False), (general((2, 3), np.complex128, rng=r),)),
        (svdvals, (general((2, 4), rng=r),)),  # full_matrices=True: fine without the vectors
        (eigvals, (general((3, 3), rng=r),)),
        (eig_vectors, (general((2, 3, 3), rng=r),)),
        (eig_vectors, (general((3, 3), np.complex128, rng=r),)),
    ]


# The cases whose Hessian-vector product is compared too (second-order programs are most of
# the compile time; tests/test_lowering_derivatives.py compares every primitive's second
# derivative with JAX's, so here one case of each decomposition suffices).
SECOND_ORDER = (0, 3, 8)


FGRAD_CASES = _gauge_free(fe, fnp)
JAX_CASES = _gauge_free(jll, jnp)


def _objective(ys, weights, xp):
    """sum(w * |y|²) over the outputs: real, so the Hessian is defined, and it depends on
    every output's first and second derivatives."""
    return sum(xp.sum(w * _re_abs2(y, xp)) for y, w in zip(ys, weights))


def _tangent_like(x, seed):
    return oracle.rand(np.shape(x), seed, np.asarray(x).dtype)


def test_derivatives_match_jax(x64, quick_compile):
    """JVP and VJP of every gauge-free function above (and a Hessian-vector product of
    some), fgrad's rules under one jax.jit against JAX's under another."""
    args = [case[1] for case in JAX_CASES]
    tangents = [tuple(_tangent_like(a, 100 * i + j) for j, a in enumerate(arg))
                for i, arg in enumerate(args)]
    outs = [jax.eval_shape(f, *a) for (f, _), a in zip(JAX_CASES, args)]
    outs = [jax.tree.leaves(o) for o in outs]
    cts = [[oracle.rand(o.shape, 1000 + 10 * i + j, o.dtype) for j, o in enumerate(out)]
           for i, out in enumerate(outs)]
    weights = [[oracle.rand(o.shape, 5000 + 10 * i + j) for j, o in enumerate(out)]
               for i, out in enumerate(outs)]

    def derivatives(cases, jvp, vjp, grad, xp):
        def run(args, tangents, cts):
            results = []
            for i, ((f, _), a, t, c) in enumerate(zip(cases, args, tangents, cts)):
                flat = (lambda f: lambda *a: jax.tree.leaves(f(*a)))(f)
                entry = [jvp(flat, a, t), vjp(flat, *a)[1](c)]
                if i in SECOND_ORDER:
                    g = (lambda flat, w: lambda *a: _objective(flat(*a), w, xp))(
                        flat, weights[i])
                    entry.append(jvp(grad(g, tuple(range(len(a)))), a, t)[1])
                results.append(entry)
            return results
        return run

    got = jax.jit(derivatives(FGRAD_CASES, fgrad.jvp, fgrad.vjp, fgrad.grad, fnp))(
        args, tangents, cts)
    want = jax.jit(derivatives(JAX_CASES, jax.jvp, jax.vjp, jax.grad, jnp))(
        args, tangents, cts)
    for (f, _), g, w in zip(JAX_CASES, got, want):
        try:
            oracle.assert_trees_same(g, w, **F64)
        except AssertionError as e:
            raise AssertionError(f"{f.__name__}: {e}") from None


def test_check_grads_second_order(x64):
    """Finite differences, forward and reverse, to second order (eagerly, as users run it),
    on well-separated spectra: eigenvectors, singular vectors and general eigenvalues."""
    a, b, c = hermitian((2, 2)), general((3, 2)), general((2, 2)) + np.diag([0.0, 3.0])

    def f(a, b, c):
        v, w = fe.eigh(a)
        u, s, vh = fe.svd(b, full_matrices=False)
        (ev,) = fe.eig(c, compute_left_eigenvectors=False, compute_right_eigenvectors=False,
                       enable_eigvec_derivs=True)
        return w, v * v, s, u * vh[0][None, :2], fnp.real(ev * ev)

    check_grads(f, (a, b, c), order=2, modes=("fwd", "rev"))


def test_identities(x64, quick_compile):
    """d/dA ‖A‖_nuc = U Vᵀ (full column rank); d/dA Σ eigh(A).w = I for symmetric A, also
    at repeated eigenvalues (the eigenvalues' sum is smooth there)."""
    b = general((4, 3))
    u, _, vh = np.linalg.svd(b, full_matrices=False)
    a = hermitian((3, 3))

    def grads(b, a):
        nuclear = fgrad.grad(lambda b: fnp.sum(fe.svd(b, compute_uv=False)))(b)
        nuclear_uv = fgrad.grad(lambda b: fnp.sum(fe.svd(b, full_matrices=False)[1]))(b)
        trace = fgrad.grad(lambda a: fnp.sum(fe.eigh(a)[1]))(a)
        trace_at_identity = fgrad.grad(lambda a: fnp.sum(fe.eigh(a)[1]))(np.eye(3))
        return nuclear, nuclear_uv, trace, trace_at_identity

    nuclear, nuclear_uv, trace, trace_at_identity = fgrad.jit(grads)(b, a)
    for g in (nuclear, nuclear_uv):
        np.testing.assert_allclose(g, u @ vh, **F64)
    for g in (trace, trace_at_identity):
        np.testing.assert_allclose(g, np.eye(3), **F64)


def test_repeated_eigenvalues_behave_as_in_jax(x64):
    """At repeated eigenvalues (singular values) the eigenvalue tangents are finite and the
    eigenvector tangents inf/NaN, and so is a gradient that flows through the vectors, even
    a gauge-free one: exactly JAX's numbers, NaNs where JAX has NaNs."""
    a = np.diag([1.0, 1.0, 2.0])  # eigenvalue 1 twice, singular value 1 twice
    t = hermitian((3, 3))

    def run(module, jvp, grad, sum_):
        def f(a, t):
            return (jvp(module.eigh, (a,), (t,)), jvp(module.svd, (a,), (t,)),
                    grad(lambda a: sum_(module.eigh(a)[1] ** 2))(a),
                    grad(lambda a: sum_(module.svd(a)[1]))(a),
                    grad(lambda a: sum_((lambda v, w: (v * w) @ v.T)(*module.eigh(a))))(a))
        return f

    got = run(fe, fgrad.jvp, fgrad.grad, fnp.sum)(a, t)
    want = jax.jit(run(jll, jax.jvp, jax.grad, jnp.sum))(a, t)
    oracle.assert_trees_same(got, want, **F64)
    (_, (dv, dw)), (_, (du, ds, dvh)), g_w, g_s, g_rec = got
    assert np.isfinite(dw).all() and np.isfinite(ds).all()
    assert np.isfinite(g_w).all() and np.isfinite(g_s).all()
    assert not np.isfinite(dv).all() and not np.isfinite(du).all()
    assert np.isnan(g_rec).all()


# -- vmap ------------------------------------------------------------------------------------


def test_vmap(x64, quick_compile):
    """The batch axis before, among and after the matrices' own axes."""
    a, b = hermitian((4, 2, 3, 3)), general((4, 2, 3, 2))

    def batched(vmap, module):
        def run(a, b):
            out = []
            for axis in (0, 1, 3):
                am, bm = jnp.moveaxis(a, 0, axis), jnp.moveaxis(b, 0, axis)
                out.append(vmap(lambda x: module.eigh(x)[1], in_axes=axis)(am))
                out.append(vmap(lambda x: module.svd(x, full_matrices=False)[1],
                                in_axes=axis)(bm))
                out.append(vmap(lambda x: module.svd(x, compute_uv=False), in_axes=axis)(bm))
                out.append(vmap(lambda x: module.eig(x)[0], in_axes=axis)(am))
            # Gauge-free vector outputs: the batched rule returns the same vectors.
            v = vmap(lambda x: module.eigh(x)[0], in_axes=2)(jnp.moveaxis(a, 0, 2))
            u = vmap(lambda x: module.svd(x)[0], in_axes=3)(jnp.moveaxis(b, 0, 3))
            return out, v * v, u * u
        return run

    got = jax.jit(batched(fgrad.vmap, fe))(a, b)
    want = jax.jit(batched(jax.vmap, jll))(a, b)
    oracle.assert_trees_same(got, want, **F64)


def test_vmap_of_grad(x64, quick_compile):
    a = hermitian((3, 3, 3))

    def g(module, sum_):
        return lambda a: sum_(module.eigh(a)[1] ** 3) + sum_(module.svd(a)[1] ** 3)

    got = fgrad.jit(fgrad.vmap(fgrad.grad(g(fe, fnp.sum))))(a)
    want = jax.jit(jax.vmap(jax.grad(g(jll, jnp.sum))))(a)
    oracle.assert_same(got, want, **F64)


# -- errors ----------------------------------------------------------------------------------


def test_shape_and_dtype_errors():
    sq = np.eye(3, dtype=np.float32)
    oracle.check_error(lambda: fe.eigh(np.ones((2, 3), np.float32)), "eigh", "square",
                       "(2, 3)")
    oracle.check_error(lambda: fe.eigh(np.ones(3, np.float32)), "eigh", "square", "(3,)")
    oracle.check_error(lambda: fe.svd(np.ones(3, np.float32)), "svd", "matrix", "(3,)")
    oracle.check_error(lambda: fe.eig(np.ones((3, 2), np.float32)), "eig", "square")
    for f in (fe.eigh, fe.svd, fe.eig):
        oracle.check_error(lambda: f(np.eye(2, dtype=np.int32)), "int32", "convert_element_type")
        oracle.check_error(lambda: f(np.eye(2, dtype=np.float16)), "float16", "float32")
    oracle.check_error(lambda: fe.eigh(sq, subset_by_index=(2, 4)), "subset_by_index",
                       "<= 3")
    oracle.check_error(lambda: fe.eigh(sq, subset_by_index=3), "subset_by_index")
    oracle.check_error(lambda: fe.svd(sq, subset_by_index=(0, 2)), "full_matrices",
                       "subset_by_index")
    oracle.check_error(lambda: fe.svd(sq, algorithm="qr"), "algorithm", "SvdAlgorithm")
    oracle.check_error(lambda: fe.eigh(sq, implementation="qr"), "EighImplementation")
    oracle.check_error(lambda: fe.eig(sq, implementation="lapack"), "EigImplementation")
    with pytest.raises(ShapeDtypeError, match="lower must be a bool"):  # a direct bind
        fgrad.make_ir(lambda x: fe.eigh_p.bind(x, lower=1, sort_eigenvalues=True,
                                               implementation=None))(sq)


def test_shape_rule_answers_are_not_shared_by_equal_params_of_another_type(monkeypatch):
    # lower=1 equals lower=True (and hashes alike): with program checks off, as users run,
    # a remembered answer for True must not accept 1.
    # (the module: fgrad.core's attribute `typecheck` is the function of that name)
    monkeypatch.setattr(importlib.import_module("fgrad.core.typecheck"), "CHECKS", False)
    sq = general((3, 3))
    fgrad.make_ir(lambda x: fe.eigh_p.bind(x, lower=True, sort_eigenvalues=True,
                                           implementation=None))(sq)
    with pytest.raises(ShapeDtypeError, match="lower must be a bool"):
        fgrad.make_ir(lambda x: fe.eigh_p.bind(x, lower=1, sort_eigenvalues=True,
                                               implementation=None))(sq)


def test_refused_derivatives_as_in_jax(x64):
    """Where JAX has no derivative, fgrad refuses too (a NotImplementedError, as JAX's),
    saying why and what to do, at the user's line."""
    wide, sq = general((2, 3)), general((3, 3))
    with pytest.raises(NotImplementedError):  # JAX refuses it too
        jax.jvp(jll.svd, (wide,), (wide,))
    with pytest.raises(MissingRuleError, match="full_matrices=False") as info:
        fgrad.jvp(fe.svd, (wide,), (wide,))  # refused: full vectors
    assert f"test_lax_eigen.py:{oracle.line_of(__file__, 'refused: full vectors')}" in str(
        info.value)
    with pytest.raises(MissingRuleError, match="full_matrices=False"):
        fgrad.grad(lambda x: fnp.sum(fe.svd(x)[0]))(wide)
    # Without the vectors, the full_matrices flag does not matter.
    fgrad.grad(lambda x: fnp.sum(fe.svd(x, compute_uv=False)))(wide)

    with pytest.raises(NotImplementedError):
        jax.jvp(jll.eig, (sq,), (sq,))
    with pytest.raises(MissingRuleError, match="enable_eigvec_derivs=True"):
        fgrad.jvp(fe.eig, (sq,), (sq,))

    def eigvals(x):
        return fnp.sum(fnp.real(fe.eig(x, compute_left_eigenvectors=False,
                                       compute_right_eigenvectors=False)[0]))

    fgrad.grad(eigvals)(sq)  # first order: fine
    with pytest.raises(NotImplementedError):  # JAX's second order needs the flag
        jax.hessian(lambda x: jnp.sum(jnp.real(jll.eig(
            x, compute_left_eigenvectors=False, compute_right_eigenvectors=False)[0])))(sq)
    with pytest.raises(MissingRuleError, match="second derivative of eigenvalues"):
        fgrad.jvp(fgrad.grad(eigvals), (sq,), (sq,))


def test_unsupported_implementation_is_jaxs_error():
    """An implementation the backend lacks is refused by JAX's lowering, by name."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(NotImplementedError, match="Jacobi"):
            fe.svd(np.eye(2, dtype=np.float32), algorithm=jll.SvdAlgorithm.JACOBI)


# -- schur -----------------------------------------------------------------------------------


def _with_complex_pairs(rng):
    """A real 5x5 matrix with two pairs of complex conjugate eigenvalues (1 ± 2i and
    -0.5 ± 1.7i) and one real one: its real Schur form has two 2x2 blocks."""
    blocks = np.zeros((5, 5))
    blocks[:2, :2] = [[1.0, 2.0], [-2.0, 1.0]]
    blocks[2:4, 2:4] = [[-0.5, 1.7], [-1.7, -0.5]]
    blocks[4, 4] = 3.0
    p = general((5, 5), rng=rng) + 3 * np.eye(5)
    return p @ blocks @ np.linalg.inv(p)


def _check_schur(a, t, z, tol):
    """A = Z T Zᴴ with Z unitary and T upper triangular (complex A) or quasi-triangular
    (real A: nothing below the first subdiagonal, and no two adjacent subdiagonal entries,
    each a 2x2 block of a complex pair)."""
    a, t, z = np.asarray(a), np.asarray(t), np.asarray(z)
    n = a.shape[-1]
    np.testing.assert_allclose(z @ t @ _H(z), a, rtol=0, atol=tol)
    np.testing.assert_allclose(_H(z) @ z, np.broadcast_to(np.eye(n), a.shape), rtol=0,
                               atol=tol)
    assert not np.tril(t, -2).any()
    sub = np.diagonal(t, -1, -2, -1)
    if np.iscomplexobj(a):
        assert not sub.any()
    else:
        assert not ((sub[..., 1:] != 0) & (sub[..., :-1] != 0)).any()


def test_schur_values(x64, quick_compile):
    """The same LAPACK call as jax.lax.linalg.schur (the same outputs and types), under
    jax.jit, eagerly and under fgrad.jit; the decomposition's properties in float64, real
    (with 2x2 blocks) and complex, batched; the form alone without vectors."""
    r = np.random.default_rng(2024)
    real, cplx = _with_complex_pairs(r), general((4, 4), np.complex128, rng=r)
    batch, single = general((2, 3, 3), rng=r), general((3, 3), np.float32, rng=r)
    args = (real, cplx, batch, single)

    def run(module):
        return lambda real, cplx, batch, single: (
            module.schur(real), module.schur(cplx), module.schur(batch), module.schur(single),
            module.schur(real, compute_schur_vectors=False))

    got = jax.jit(run(fe))(*args)
    want = jax.jit(run(jll))(*args)
    oracle.assert_trees_same(got, want, **F64)  # types included
    for x in (got, fgrad.jit(run(fe))(*args), run(fe)(*args)):
        oracle.assert_trees_same(jax.tree.map(jnp.asarray, x), want, **F64)
    assert len(got[-1]) == 1 and fgrad.lax.linalg.schur is fe.schur
    for a, (t, z) in zip(args[:3], got[:3]):
        _check_schur(a, t, z, 1e-10)
    assert np.count_nonzero(np.diagonal(np.asarray(got[0][0]), -1)) == 2  # two 2x2 blocks
    _check_schur(single, *got[3], 1e-5)


def test_schur_vmap(x64, quick_compile):
    """The batch axis before, among and after the matrices' own axes: each matrix's own
    decomposition (the batching rule moves the axis to the front)."""
    a = general((3, 4, 4), rng=np.random.default_rng(7))
    want = [np.stack(m) for m in zip(*[jll.schur(x) for x in a])]
    for axis in (0, 1, 2):
        got = fgrad.vmap(fe.schur, in_axes=axis)(jnp.moveaxis(a, 0, axis))
        oracle.assert_trees_same([jnp.asarray(x) for x in got], [jnp.asarray(w) for w in want],
                                 **F64)
    got = jax.jit(fgrad.vmap(lambda x: fe.schur(x, compute_schur_vectors=False)[0]))(a)
    oracle.assert_same(got, want[0], **F64)


def test_schur_has_no_derivative_as_in_jax(x64):
    a = general((3, 3))
    with pytest.raises(NotImplementedError, match="schur"):  # JAX has none
        jax.jvp(jll.schur, (a,), (a,))
    for attempt in (lambda: fgrad.jvp(fe.schur, (a,), (a,)),
                    lambda: fgrad.grad(lambda x: fnp.sum(fe.schur(x)[0]))(a),
                    lambda: fgrad.vjp(fe.schur, a)):
        with pytest.raises(MissingRuleError, match="'schur' has no jvp rule") as info:
            attempt()
        message = str(info.value)
        assert "JAX defines none" in message and "eig" in message and "eigh" in message
    # Outside what is differentiated it is fine: grad in b of a function using schur(a).
    g = fgrad.grad(lambda b: fnp.sum(fe.schur(a)[0] * b))(a)
    np.testing.assert_array_equal(g, jll.schur(a)[0])


def test_schur_errors():
    oracle.check_error(lambda: fe.schur(np.ones((3, 2))), "schur", "square", "(3, 2)")
    oracle.check_error(lambda: fe.schur(np.ones(3, np.float32)), "schur", "square", "(3,)")
    oracle.check_error(lambda: fe.schur(np.eye(2, dtype=np.int32)), "schur", "int32",
                       "convert_element_type")
    oracle.check_error(lambda: fe.schur(np.eye(2, dtype=np.float16)), "float16", "float32")
    oracle.check_error(lambda: fe.schur(np.eye(2), sort_eig_vals=True), "sort_eig_vals",
                       "not implemented")
    oracle.check_error(lambda: fe.schur(np.eye(2), select_callable=3), "select_callable")
