"""Eigen- and singular-value decompositions: `eigh`, `svd`, `eig` and `schur`, with
jax.lax.linalg's signatures and output conventions.

Each acts on the last two axes; leading axes are a batch. The primitives lower to
jax.lax.linalg (LAPACK on CPU; `eig` and `schur` only exist there). None is linear, so none
has a transpose rule. `eigh`, `svd` and `eig` have JVP rules; reverse mode transposes the
JVP's tangent equations, which are products with the decomposition's factors, elementwise
scalings and sums.

The JVP rules are first-order perturbation theory, as JAX's are (see Giles, "An extended
collection of matrix derivative results for forward and reverse mode algorithmic
differentiation", 2008). For A = V diag(w) Vᴴ (eigh), with P = Vᴴ dA V:

    dw = Re diag(P),   dV = V (F ∘ P),   F_ij = 1 / (w_j − w_i) off the diagonal, 0 on it.

F is built as 1 / (I + w_j − w_i) − I, so its diagonal is finite; where two eigenvalues
are equal an off-diagonal entry is infinite, and so — exactly as in JAX — eigenvector
tangents (and gradients that flow through the eigenvectors) are inf or NaN at repeated
eigenvalues, while eigenvalue tangents stay finite. svd has the same structure with
1 / (s_j² − s_i²) and `eig` with 1 / (w_j − w_i) in the complex plane;
docs/linalg_derivatives.md explains what the numbers mean at such points.

Where JAX refuses a derivative fgrad refuses it too, with the reason: the JVP of `svd` with
full_matrices=True (its extra columns are not unique) for a non-square matrix, and the
eigenvector JVP of `eig` unless enable_eigvec_derivs=True (the eigenvector derivative is
only valid for distinct eigenvalues under LAPACK's normalization, which cannot be checked
while tracing). `subset_by_index` (which JAX's CPU lowering refuses) is the full
decomposition sliced, so it works everywhere, and is differentiable.

`schur` (A = Z T Zᴴ, T upper triangular, or quasi-triangular with 2x2 blocks for a real
matrix's complex eigenvalue pairs) has no derivative, in fgrad as in JAX: its JVP is
declared absent, and the error says to differentiate through `eig` or `eigh` instead.
"""

from __future__ import annotations

import operator
import warnings

import numpy as np
from jax import lax
from jax.lax import linalg as jll

from fgrad.core import Aval, Primitive, aval_of
from fgrad.core import dtypes as dt
from fgrad.core.errors import MissingRuleError, ShapeDtypeError, at_user_line
from fgrad.lax._batching import move_axis
from fgrad.lax._rules import fail
from fgrad.lax.elementwise import (
    abs, add, complex, conj, convert_element_type, div, eq, imag, mul, neg, real, select_n,
    sub,
)
from fgrad.lax.indexing import slice
from fgrad.lax.linalg import dot_general
from fgrad.lax.reductions import argmax, reduce_sum
from fgrad.lax.shapes import broadcast_in_dim, broadcasted_iota, full, transpose
from fgrad.transforms.rules import batch_rules, jvp_rules, transpose_rules

# The dtypes LAPACK decomposes; JAX's lowerings refuse the others (float16, bfloat16).
_DTYPES = tuple(np.dtype(d) for d in (np.float32, np.float64, np.complex64, np.complex128))
_COMPLEX_OF = {np.dtype(np.float32): np.dtype(np.complex64),
               np.dtype(np.float64): np.dtype(np.complex128)}

# -- helpers: matrices over the last two axes ------------------------------------------------


def _check_matrix(name: str, x: Aval, square: bool) -> None:
    if x.ndim < 2 or (square and x.shape[-2] != x.shape[-1]):
        what = "a square matrix or a batch of them, of shape (..., n, n)" if square else \
            "a matrix or a batch of them, of shape (..., m, n)"
        raise fail(name, [x], f"the operand must be {what}, not {x.shape}")
    if x.dtype not in _DTYPES:
        raise fail(name, [x], f"{name} decomposes float32, float64, complex64 or complex128 "
                   f"matrices, not {x.dtype.name}",
                   "Convert with fgrad.lax.convert_element_type.")


def _check_flags(name: str, x: Aval, **flags) -> None:
    for flag, value in flags.items():
        if type(value) is not bool:
            raise fail(name, [x], f"{flag} must be a bool, not {value!r}")


def _check_choice(name: str, x: Aval, what: str, value, kind: type) -> None:
    if value is not None and not isinstance(value, kind):
        raise fail(name, [x], f"{what} must be None or a jax.lax.linalg.{kind.__name__}, not "
                   f"{value!r}")


def _mT(x):
    n = aval_of(x).ndim
    return transpose(x, (*range(n - 2), n - 1, n - 2))


def _H(x):
    """The conjugate transpose (the transpose, for real matrices)."""
    return conj(_mT(x)) if dt.is_complex(aval_of(x).dtype) else _mT(x)


def _mm(x, y):
    """x @ y over the last two axes, at the highest precision (as JAX's rules ask)."""
    n = aval_of(x).ndim
    batch = tuple(range(n - 2))
    return dot_general(x, y, (((n - 1,), (n - 2,)), (batch, batch)),
                       precision=lax.Precision.HIGHEST)


def _filled(shape, value, dtype):
    return full(shape, value, dtype)


def _is_diagonal(shape):
    n = len(shape)
    return eq(broadcasted_iota(np.int32, shape, n - 2), broadcasted_iota(np.int32, shape, n - 1))


def _eye(shape, dtype):
    """Identity matrices of `shape` (..., n, n)."""
    return select_n(_is_diagonal(shape), _filled(shape, 0, dtype), _filled(shape, 1, dtype))


def _diagonal(x):
    """The diagonal of square matrices (..., n, n), as (..., n). A select, not a product with
    the identity, so an infinite entry off the diagonal does not leak in as NaN."""
    aval = aval_of(x)
    on = select_n(_is_diagonal(aval.shape), _filled(aval.shape, 0, aval.dtype), x)
    return reduce_sum(on, (aval.ndim - 1,))


def _along_rows(v, n: int):
    """(..., k) -> (..., n, k), every row a copy of v: element [i, j] is v[j]."""
    shape = aval_of(v).shape
    nb = len(shape) - 1
    return broadcast_in_dim(v, (*shape[:-1], n, shape[-1]), (*range(nb), nb + 1))


def _along_cols(v, n: int):
    """(..., k) -> (..., k, n), every column a copy of v: element [i, j] is v[i]."""
    shape = aval_of(v).shape
    nb = len(shape) - 1
    return broadcast_in_dim(v, (*shape, n), tuple(range(nb + 1)))


def _as(x, dtype):
    return x if aval_of(x).dtype == dtype else convert_element_type(x, dtype)


def _reciprocal_gaps(shifted):
    """F with F_ij = 1 / gap_ij off the diagonal and 0 on it, from `shifted` = I + gaps
    (gaps with a zero diagonal), computed as JAX does: 1 / (I + gaps) − I, so the diagonal
    is finite. Repeated eigen- or singular values make entries infinite (see the module's
    docstring)."""
    aval = aval_of(shifted)
    eye = _eye(aval.shape, aval.dtype)
    return sub(div(_filled(aval.shape, 1, aval.dtype), shifted), eye)


def _shifted_gaps(w, n: int):
    """I + (w_j - w_i), in JAX's order of operations: (I + w_j) - w_i."""
    shape = (*aval_of(w).shape[:-1], n, n)
    return sub(add(_eye(shape, aval_of(w).dtype), _along_rows(w, n)), _along_cols(w, n))


def _batch_matrix_primitive(prim, n_outputs_of):
    """The batching rule of a primitive of one matrix operand whose leading axes are a
    batch: a batch axis already among them stays where it is; one among the matrix's own
    axes moves to the front."""
    def batch(axis_size, values, dims, **params):
        (x,), (dim,) = values, dims
        ndim = aval_of(x).ndim
        if dim >= ndim - 2:
            x, dim = move_axis(x, dim, 0), 0
        outs = prim.bind(x, **params)
        return outs, [dim] * n_outputs_of(**params)
    return batch


def _refuse(message: str) -> MissingRuleError:
    return MissingRuleError(at_user_line(message))


# -- eigh ------------------------------------------------------------------------------------
# A = V diag(w) Vᴴ for Hermitian A (only its `lower` or upper triangle is read): v's columns
# are the eigenvectors, w the real eigenvalues, in ascending order.


def _eigh_abstract_eval(x, *, lower, sort_eigenvalues, implementation):
    name = "eigh"
    _check_matrix(name, x, square=True)
    _check_flags(name, x, lower=lower, sort_eigenvalues=sort_eigenvalues)
    _check_choice(name, x, "implementation", implementation, jll.EighImplementation)
    return [x, Aval(x.shape[:-1], dt.real_dtype(x.dtype), x.weak_type)]


def _eigh_lower(x, *, lower, sort_eigenvalues, implementation):
    v, w = jll.eigh(x, lower=lower, symmetrize_input=False, sort_eigenvalues=sort_eigenvalues,
                    implementation=implementation)
    return [v, w]


eigh_p = Primitive("eigh", _eigh_abstract_eval, _eigh_lower, multiple_results=True)


def _eigh_jvp(primals, tangents, **params):
    (a,), (da,) = primals, tangents
    # As JAX's rule: the decomposition of (A + Aᴴ) / 2 (A itself when A is Hermitian, bit
    # for bit), and a tangent that uses all of dA, not just the triangle the primal reads.
    # So the derivative is that of a function of Hermitian matrices, and its own derivative
    # (second order) sees symmetrized tangents, exactly as JAX's does.
    v, w = eigh_p.bind(_symmetrize(a), **params)
    dtype, n = aval_of(a).dtype, aval_of(a).shape[-1]
    # F_ij = 1 / (w_j - w_i); P = Vᴴ dA V.
    f = _as(_reciprocal_gaps(_shifted_gaps(w, n)), dtype)
    p = _mm(_mm(_H(v), da), v)
    dv = _mm(v, mul(f, p))
    dw = _diagonal(real(p) if dt.is_complex(dtype) else p)
    return [v, w], [dv, dw]


jvp_rules.define(eigh_p, _eigh_jvp)
transpose_rules.absent(eigh_p, "it is not linear in any operand")
batch_rules.define(eigh_p, _batch_matrix_primitive(eigh_p, lambda **_: 2), lists=True)

# -- svd -------------------------------------------------------------------------------------
# A = U diag(s) Vᴴ, s real, non-negative and descending. The primitive's outputs are
# [u, s, vh], or [s] without compute_uv.


def _svd_abstract_eval(x, *, full_matrices, compute_uv, algorithm):
    name = "svd"
    _check_matrix(name, x, square=False)
    _check_flags(name, x, full_matrices=full_matrices, compute_uv=compute_uv)
    _check_choice(name, x, "algorithm", algorithm, jll.SvdAlgorithm)
    *batch, m, n = x.shape
    k = min(m, n)
    s = Aval((*batch, k), dt.real_dtype(x.dtype), x.weak_type)
    if not compute_uv:
        return [s]
    u = Aval((*batch, m, m if full_matrices else k), x.dtype, x.weak_type)
    vh = Aval((*batch, n if full_matrices else k, n), x.dtype, x.weak_type)
    return [u, s, vh]


def _svd_lower(x, *, full_matrices, compute_uv, algorithm):
    out = jll.svd(x, full_matrices=full_matrices, compute_uv=compute_uv, algorithm=algorithm)
    return list(out) if compute_uv else [out]


svd_p = Primitive("svd", _svd_abstract_eval, _svd_lower, multiple_results=True)


def _svd_jvp(primals, tangents, *, full_matrices, compute_uv, algorithm):
    (a,), (da,) = primals, tangents
    aval = aval_of(a)
    *batch, m, n = aval.shape
    if compute_uv and full_matrices and m != n:
        raise _refuse(
            f"svd of a {m}x{n} matrix with full_matrices=True and compute_uv=True has no "
            f"derivative in fgrad, as in JAX: the {max(m, n) - min(m, n)} extra singular "
            f"vectors span a space whose basis is not unique. Pass full_matrices=False (the "
            f"reduced factors, which are differentiable), or compute_uv=False for the "
            f"singular values alone.")
    u, s, vh = svd_p.bind(a, full_matrices=False, compute_uv=True, algorithm=algorithm)
    dtype, real_dtype = aval.dtype, aval_of(s).dtype
    is_complex = dt.is_complex(dtype)
    k = min(m, n)
    ut, v = _H(u), _H(vh)
    ds_matrix = _mm(_mm(ut, da), v)  # Uᴴ dA V, k x k
    ds = _diagonal(real(ds_matrix) if is_complex else ds_matrix)
    if not compute_uv:
        return [s], [ds]
    square = (*batch, k, k)
    s_j, s_i = _along_rows(s, k), _along_cols(s, k)
    s_gaps = mul(add(s_j, s_i), sub(s_j, s_i))  # s_j² - s_i²
    f = _as(_reciprocal_gaps(add(s_gaps, _eye(square, real_dtype))), dtype)
    s_j_c, s_i_c = _as(s_j, dtype), _as(s_i, dtype)
    ds_s = mul(s_j_c, ds_matrix)  # dS diag(s)
    s_ds = mul(s_i_c, ds_matrix)  # diag(s) dS
    du_inner = mul(f, add(ds_s, _H(ds_s)))
    if is_complex:
        # The phases: Im diag(Uᴴ dA V) / s goes to U's columns (s = 0 gives 0, as JAX).
        zero_s = convert_element_type(eq(s, _filled(aval_of(s).shape, 0, real_dtype)),
                                      real_dtype)
        s_inv = sub(div(_filled(aval_of(s).shape, 1, real_dtype), add(s, zero_s)), zero_s)
        s_inv_matrix = _as(mul(_along_rows(s_inv, k), _eye(square, real_dtype)), dtype)
        half = _filled(square, 0.5, dtype)
        du_inner = add(du_inner, mul(mul(half, sub(ds_matrix, _H(ds_matrix))), s_inv_matrix))
    du = _mm(u, du_inner)
    dv = _mm(v, mul(f, add(s_ds, _H(s_ds))))
    # A tall or wide matrix: the part of dA outside the span of U (or V) turns U (or V)
    # out of it.
    if m > n:
        dav = _mm(da, v)
        du = add(du, div(sub(dav, _mm(u, _mm(ut, dav))), _as(_along_rows(s, m), dtype)))
    if n > m:
        dahu = _mm(_H(da), u)
        dv = add(dv, div(sub(dahu, _mm(v, _mm(vh, dahu))), _as(_along_rows(s, n), dtype)))
    return [u, s, vh], [du, ds, _H(dv)]


jvp_rules.define(svd_p, _svd_jvp)
transpose_rules.absent(svd_p, "it is not linear in any operand")
batch_rules.define(svd_p, _batch_matrix_primitive(svd_p, lambda compute_uv, **_:
                                                  3 if compute_uv else 1), lists=True)

# -- eig -------------------------------------------------------------------------------------
# A v_j = w_j v_j (right eigenvectors), u_jᴴ A = w_j u_jᴴ (left), for a general square A;
# complex results, each eigenvector of unit norm with its largest component real (LAPACK's
# geev). Outputs [w, vl?, vr?].


def _eig_abstract_eval(x, *, compute_left_eigenvectors, compute_right_eigenvectors,
                       enable_eigvec_derivs, implementation):
    name = "eig"
    _check_matrix(name, x, square=True)
    _check_flags(name, x, compute_left_eigenvectors=compute_left_eigenvectors,
                 compute_right_eigenvectors=compute_right_eigenvectors,
                 enable_eigvec_derivs=enable_eigvec_derivs)
    _check_choice(name, x, "implementation", implementation, jll.EigImplementation)
    dtype = _COMPLEX_OF.get(x.dtype, x.dtype)
    w = Aval(x.shape[:-1], dtype, x.weak_type)
    vectors = Aval(x.shape, dtype, x.weak_type)
    return [w] + [vectors] * (compute_left_eigenvectors + compute_right_eigenvectors)


def _eig_lower(x, **params):
    return list(jll.eig(x, **params))


eig_p = Primitive("eig", _eig_abstract_eval, _eig_lower, multiple_results=True)


def _eigvec_tangent(w, v, p):
    """The tangent of eigenvectors v (eigenvalues w), given P = V⁻¹ dA V: V (F ∘ P) plus
    the multiple of each v_j that keeps LAPACK's normalization (unit norm, largest
    component real)."""
    shape, dtype = aval_of(v).shape, aval_of(v).dtype
    n, rows_axis = shape[-1], len(shape) - 2
    u = _mm(v, mul(_reciprocal_gaps(_shifted_gaps(w, n)), p))
    largest = argmax(abs(v), rows_axis, np.int32)  # k_j, the row of v_j's largest component
    mask = _as(eq(broadcasted_iota(np.int32, shape, rows_axis), _along_rows(largest, n)),
               dtype)
    # c_j = -Re(v_jᴴ u_j) - i Im(u_kj) / v_kj, with v_kj real.
    norm_part = neg(real(reduce_sum(mul(conj(v), u), (rows_axis,))))
    phase_part = neg(div(imag(reduce_sum(mul(mask, u), (rows_axis,))),
                         real(reduce_sum(mul(mask, v), (rows_axis,)))))
    return add(u, mul(v, _along_rows(complex(norm_part, phase_part), n)))


def _eig_jvp(primals, tangents, *, compute_left_eigenvectors, compute_right_eigenvectors,
             enable_eigvec_derivs, implementation):
    (a,), (da,) = primals, tangents
    vectors = compute_left_eigenvectors or compute_right_eigenvectors
    if vectors and not enable_eigvec_derivs:
        raise _refuse(
            "eig's eigenvectors have no derivative unless you opt in with "
            "enable_eigvec_derivs=True, as in jax.lax.linalg.eig: it is only valid when the "
            "eigenvalues are distinct and no eigenvector has two components tied for the "
            "largest magnitude, which cannot be checked while tracing. (The second "
            "derivative of eigenvalues needs it too: their first derivative uses the "
            "eigenvectors.) Pass enable_eigvec_derivs=True, or compute only the eigenvalues "
            "(compute_left_eigenvectors=False, compute_right_eigenvectors=False).")
    # Both sets of eigenvectors: the left ones give V⁻¹ without a solve. For distinct
    # eigenvalues vlᴴ vr is diagonal (D), so vr⁻¹ = D⁻¹ vlᴴ and vl⁻¹ = D⁻ᴴ vrᴴ.
    w, vl, vr = eig_p.bind(a, compute_left_eigenvectors=True, compute_right_eigenvectors=True,
                           enable_eigvec_derivs=enable_eigvec_derivs,
                           implementation=implementation)
    n = aval_of(a).shape[-1]
    rows_axis = aval_of(a).ndim - 2
    da = _as(da, aval_of(w).dtype)
    d = reduce_sum(mul(conj(vl), vr), (rows_axis,))
    p = div(_mm(_mm(_H(vl), da), vr), _along_cols(d, n))  # vr⁻¹ dA vr
    dw = _diagonal(p)
    outs, out_tangents = [w], [dw]
    if compute_left_eigenvectors:
        p_left = div(_mm(_mm(_H(vr), _H(da)), vl), _along_cols(conj(d), n))  # vl⁻¹ dAᴴ vl
        outs.append(vl)
        out_tangents.append(_eigvec_tangent(conj(w), vl, p_left))
    if compute_right_eigenvectors:
        outs.append(vr)
        out_tangents.append(_eigvec_tangent(w, vr, p))
    return outs, out_tangents


jvp_rules.define(eig_p, _eig_jvp)
transpose_rules.absent(eig_p, "it is not linear in any operand")
batch_rules.define(eig_p, _batch_matrix_primitive(
    eig_p, lambda compute_left_eigenvectors, compute_right_eigenvectors, **_:
    1 + compute_left_eigenvectors + compute_right_eigenvectors), lists=True)

# -- schur -----------------------------------------------------------------------------------
# A = Z T Zᴴ with Z unitary: for a complex A, T is upper triangular (the complex Schur form);
# for a real A, T is real and quasi-upper-triangular, a 2x2 block on its diagonal for each
# pair of complex conjugate eigenvalues (the real Schur form). LAPACK's gees, CPU only, as in
# JAX. Outputs [t, z], or [t] without compute_schur_vectors.


def _schur_abstract_eval(x, *, compute_schur_vectors, sort_eig_vals, select_callable):
    name = "schur"
    _check_matrix(name, x, square=True)
    _check_flags(name, x, compute_schur_vectors=compute_schur_vectors,
                 sort_eig_vals=sort_eig_vals)
    if sort_eig_vals:
        raise fail(name, [x], "sort_eig_vals=True is not implemented: JAX's lowering does not "
                   "implement the sorting of LAPACK's gees routine either",
                   "Pass sort_eig_vals=False (the default).")
    if select_callable is not None and not callable(select_callable):
        raise fail(name, [x], f"select_callable must be None or a function, not "
                   f"{select_callable!r}")
    return [x] * (1 + compute_schur_vectors)


def _schur_lower(x, *, compute_schur_vectors, sort_eig_vals, select_callable):
    return list(jll.schur(x, compute_schur_vectors=compute_schur_vectors,
                          sort_eig_vals=sort_eig_vals, select_callable=select_callable))


schur_p = Primitive("schur", _schur_abstract_eval, _schur_lower, multiple_results=True)
jvp_rules.absent(schur_p, (
    "the Schur decomposition has no derivative, and JAX defines none for "
    "jax.lax.linalg.schur either (the Schur vectors are not unique: each is fixed only up to "
    "a phase, and a real Schur form's 2x2 blocks only up to a rotation). Differentiate "
    "through the eigendecomposition instead: fgrad.lax.linalg.eig for general matrices, "
    "eigh for Hermitian ones (fgrad.scipy.linalg.sqrtm and funm are built on eig)"))
transpose_rules.absent(schur_p, "it is not linear in any operand")
batch_rules.define(schur_p, _batch_matrix_primitive(
    schur_p, lambda compute_schur_vectors, **_: 1 + compute_schur_vectors), lists=True)

# -- the functions users call (jax.lax.linalg signatures) ------------------------------------


def _subset(name: str, subset_by_index, size: int) -> tuple[int, int]:
    """subset_by_index as (start, end) with 0 <= start <= end <= size, or a clear error."""
    try:
        start, end = (operator.index(i) for i in subset_by_index)
    except (TypeError, ValueError):
        start = end = None
    if type(start) is not int or type(end) is not int or not 0 <= start <= end <= size:
        raise ShapeDtypeError(at_user_line(
            f"{name}: subset_by_index must be a pair (start, end) of integers with 0 <= start "
            f"<= end <= {size}, selecting the eigen- or singular values start to end - 1, not "
            f"{subset_by_index!r}"))
    return start, end


def _take_last(x, start: int, end: int, axis_from_end: int = 1):
    """x[..., start:end] along the axis `axis_from_end` places from the end."""
    shape = aval_of(x).shape
    axis = len(shape) - axis_from_end
    starts = [0] * len(shape)
    limits = list(shape)
    starts[axis], limits[axis] = start, end
    return slice(x, starts, limits)


def _symmetrize(x):
    """(x + xᴴ) / 2, as operations, so its derivative is the symmetrized tangent."""
    aval = aval_of(x)
    return div(add(x, _H(x)), full(aval.shape, 2, aval.dtype, weak_type=aval.weak_type))


def _is_square(x) -> bool:
    shape = aval_of(x).shape
    return len(shape) >= 2 and shape[-1] == shape[-2]


def eigh(x, *, lower: bool = True, symmetrize_input: bool = True,
         sort_eigenvalues: bool = True, subset_by_index: tuple[int, int] | None = None,
         implementation: jll.EighImplementation | None = None):
    """Eigendecomposition of Hermitian (real symmetric or complex Hermitian) matrices.

    Arguments:
      x: matrices of shape (..., n, n), float32/64 or complex64/128.
      lower: which triangle is read when symmetrize_input is False.
      symmetrize_input: first replace x by (x + xᴴ) / 2, so the derivative is symmetric too.
      sort_eigenvalues: ascending eigenvalues (CPU and GPU always sort).
      subset_by_index: (start, end): only the eigenpairs start to end - 1 of the ascending
        order (the full decomposition, sliced).
      implementation: a jax.lax.linalg.EighImplementation, passed to JAX.

    Returns:
      (v, w): v[..., :, i] is the unit eigenvector of the real eigenvalue w[..., i].
      Eigenvector derivatives are inf/NaN at repeated eigenvalues, as in JAX
      (docs/linalg_derivatives.md).
    """
    if symmetrize_input and _is_square(x):  # else: the shape rule says what is wrong
        x = _symmetrize(x)
    if subset_by_index is not None:
        sort_eigenvalues = True  # the subset counts in ascending order
    v, w = eigh_p.bind(x, lower=bool(lower), sort_eigenvalues=bool(sort_eigenvalues),
                       implementation=implementation)
    if subset_by_index is not None:
        n = aval_of(w).shape[-1]
        start, end = _subset("eigh", subset_by_index, n)
        if (start, end) != (0, n):
            v, w = _take_last(v, start, end), _take_last(w, start, end)
    return v, w


def svd(x, *, full_matrices: bool = True, compute_uv: bool = True,
        subset_by_index: tuple[int, int] | None = None,
        algorithm: jll.SvdAlgorithm | None = None):
    """Singular value decomposition x = u diag(s) vh.

    Arguments:
      x: matrices of shape (..., m, n), float32/64 or complex64/128.
      full_matrices: u (..., m, m) and vh (..., n, n) rather than (..., m, k) and
        (..., k, n), k = min(m, n).
      compute_uv: return (u, s, vh); otherwise only s.
      subset_by_index: (start, end): only the singular values (descending) start to end - 1
        and their vectors; needs full_matrices=False.
      algorithm: a jax.lax.linalg.SvdAlgorithm, passed to JAX.

    Returns:
      (u, s, vh), or s: s real, non-negative and descending. Singular-vector derivatives
      are inf/NaN at repeated singular values, and refused for non-square x with
      full_matrices=True, as in JAX (docs/linalg_derivatives.md).
    """
    aval = aval_of(x)
    start_end = None
    if subset_by_index is not None and aval.ndim >= 2:
        k = min(aval.shape[-2:])
        start_end = _subset("svd", subset_by_index, k)
        if start_end == (0, k):
            start_end = None
        elif full_matrices:
            raise ShapeDtypeError(at_user_line(
                "svd: full_matrices and subset_by_index cannot both be set (a subset of the "
                "singular vectors is never full); pass full_matrices=False"))
    outs = svd_p.bind(x, full_matrices=bool(full_matrices), compute_uv=bool(compute_uv),
                      algorithm=algorithm)
    if start_end is not None:
        start, end = start_end
        if compute_uv:
            u, s, vh = outs
            outs = [_take_last(u, start, end), _take_last(s, start, end),
                    _take_last(vh, start, end, axis_from_end=2)]
        else:
            outs = [_take_last(outs[0], start, end)]
    return tuple(outs) if compute_uv else outs[0]


def eig(x, *, compute_left_eigenvectors: bool = True, compute_right_eigenvectors: bool = True,
        enable_eigvec_derivs: bool = False,
        implementation: jll.EigImplementation | None = None, use_magma: bool | None = None):
    """Eigendecomposition of general square matrices (CPU only, as in JAX).

    Arguments:
      x: matrices of shape (..., n, n), float32/64 or complex64/128.
      compute_left_eigenvectors, compute_right_eigenvectors: which eigenvectors to return.
      enable_eigvec_derivs: allow derivatives of the eigenvectors (valid only for distinct
        eigenvalues; see jax.lax.linalg.eig). Eigenvalue derivatives need no flag.
      implementation: a jax.lax.linalg.EigImplementation, passed to JAX.
      use_magma: deprecated, as in JAX: True means implementation=MAGMA, False LAPACK.

    Returns:
      [w, vl, vr] (the vectors only if asked for), complex: A vr_j = w_j vr_j and
      vl_jᴴ A = w_j vl_jᴴ, each vector of unit norm with its largest component real.
    """
    if use_magma is not None:
        warnings.warn("use_magma is deprecated, please use "
                      "implementation=jax.lax.linalg.EigImplementation.MAGMA instead.",
                      DeprecationWarning, stacklevel=2)
        implementation = (jll.EigImplementation.MAGMA if use_magma
                          else jll.EigImplementation.LAPACK)
    return eig_p.bind(x, compute_left_eigenvectors=bool(compute_left_eigenvectors),
                      compute_right_eigenvectors=bool(compute_right_eigenvectors),
                      enable_eigvec_derivs=bool(enable_eigvec_derivs),
                      implementation=implementation)


def schur(x, *, compute_schur_vectors: bool = True, sort_eig_vals: bool = False,
          select_callable=None):
    """Schur decomposition x = z t zᴴ of general square matrices (CPU only, as in JAX).

    Arguments:
      x: matrices of shape (..., n, n), float32/64 or complex64/128.
      compute_schur_vectors: also return the unitary z.
      sort_eig_vals: must be False: JAX's lowering does not implement LAPACK's sorting.
      select_callable: unused, as in JAX.

    Returns:
      [t, z], or [t] without compute_schur_vectors (a list, as jax.lax.linalg.schur
      returns). For complex x, t is upper triangular; for real x it is the real Schur form,
      quasi-upper-triangular with a 2x2 block per pair of complex conjugate eigenvalues.
      Not differentiable, as in JAX: use eig or eigh for derivatives.
    """
    return schur_p.bind(x, compute_schur_vectors=bool(compute_schur_vectors),
                        sort_eig_vals=bool(sort_eig_vals), select_callable=select_callable)
