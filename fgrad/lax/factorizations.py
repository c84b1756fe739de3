"""LU and QR factorizations: `lu`, `lu_pivots_to_permutation` and `qr`, with jax.lax.linalg's
signatures and output conventions, on matrices (..., m, n) whose leading axes are a batch.

- `lu(x) -> [lu, pivots, permutation]`: partial pivoting, P x = L U, with L unit lower
  triangular (m, min(m, n)) and U upper triangular (min(m, n), n) packed into one (m, n)
  matrix (L's unit diagonal left out); `pivots` (..., min(m, n)) are LAPACK's row swaps
  (0-based), `permutation` (..., m) the rows of x in P x's order, both int32.
- `lu_pivots_to_permutation(pivots, permutation_size)`: the swaps applied to 0..size-1.
- `qr(x, pivoting=, full_matrices=, use_magma=) -> (q, r)` or `(q, r, p)`: x = Q R (with
  pivoting, x[..., p] = Q R), Q with orthonormal columns, R upper triangular (trapezoidal).

The derivatives are the matrix-calculus ones JAX uses, written with fgrad's primitives:

- LU (De Hoog, Anderssen and Lukas): from P dA = dL U + L dU, the matrix
  F = L⁻¹ P dA U⁻¹ = L⁻¹ dL + dU U⁻¹ splits into a strictly lower part (L⁻¹ dL, as L has a
  unit diagonal) and an upper part, so dL = L tril(F, -1) and dU = triu(F) U. A rectangular
  x extends L (m > n) or U (m < n) to a square matrix with an identity block, as JAX does.
  The integer outputs have no tangent. The derivative exists where U is invertible (it is
  NaN or infinite otherwise) and assumes the pivots do not change, as JAX's.
- QR with m >= n (Walter, Lehmann and Lamour; j-towns.github.io/papers/qr-derivative.pdf):
  with C = Qᴴ dA R⁻¹, dQ = Q (Ω - C) + dA R⁻¹ and dR = (C - Ω) R, where Ω is skew-Hermitian,
  built from C's strictly lower triangle (plus C's imaginary diagonal for complex input).
  A wide x = [X₁ X₂] (m < n) differentiates X₁ = Q R₁ so, and R₂ = Qᴴ X₂ by the product
  rule. Q's extra columns with full_matrices (m > n) are not determined by x; their
  derivative is that of the Householder construction LAPACK uses (arXiv:2409.13374, as in
  JAX), which solves with Q's top n x n block minus the identity. With pivoting the
  columns of dA are permuted like x's (X₂ too: there JAX's rule, which reads X₂ from the
  unpermuted x, is wrong for wide matrices, and it fails on batches of pivoted ones; fgrad's
  agrees with finite differences), and the permutation has no tangent. All of it needs R's
  leading block invertible (x of full column rank, or X₁ of full rank when wide).

None of these is linear, so there are no transpose rules.
"""

from __future__ import annotations


import numpy as np
from jax import lax

from fgrad.core import Aval, Primitive, Zero, aval_of
from fgrad.core import dtypes as dt
from fgrad.lax._batching import move_axis
from fgrad.lax._rules import as_int, fail
from fgrad.lax.elementwise import (
    add, complex, conj, eq, ge, gt, imag, le, select_n, sub,
)
from fgrad.lax.indexing import slice
from fgrad.lax.linalg import dot_general, triangular_solve
from fgrad.lax.shapes import (
    broadcast_in_dim, broadcasted_iota, concatenate, full, pad, transpose,
)
from fgrad.lax.sorting import gather_along
from fgrad.transforms.rules import batch_rules, jvp_rules, transpose_rules

# The dtypes LAPACK (and so XLA on CPU) factorizes.
_DTYPES = tuple(np.dtype(d) for d in (np.float32, np.float64, np.complex64, np.complex128))

# -- helpers: matrices over the last two axes ------------------------------------------------


def _check_matrix(name: str, x: Aval) -> None:
    if x.ndim < 2:
        raise fail(name, [x], f"the operand must be a matrix or a batch of them, of shape "
                   f"(..., m, n), not {x.shape}",
                   "Reshape a vector to a one-column matrix first.")
    if x.dtype not in _DTYPES:
        raise fail(name, [x], f"{name} factorizes float32, float64, complex64 or complex128 "
                   f"matrices, not {x.dtype.name}",
                   "Convert it first with fgrad.lax.convert_element_type.")


def _filled(aval: Aval, value):
    return full(aval.shape, value, aval.dtype, weak_type=aval.weak_type)


def _rows_cols(shape: tuple):
    n = len(shape)
    return (broadcasted_iota(np.int32, shape, n - 2), broadcasted_iota(np.int32, shape, n - 1))


def _strict_lower(x):
    """x with the elements on and above its diagonal zeroed."""
    rows, cols = _rows_cols(aval_of(x).shape)
    return select_n(gt(rows, cols), _filled(aval_of(x), 0), x)


def _upper(x):
    """x with the elements below its diagonal zeroed."""
    rows, cols = _rows_cols(aval_of(x).shape)
    return select_n(le(rows, cols), _filled(aval_of(x), 0), x)


def _eye(aval: Aval, first: int = 0):
    """A (..., p, q) matrix of type `aval`: ones on the diagonal from row `first` on, zeros
    elsewhere."""
    rows, cols = _rows_cols(aval.shape)
    on = eq(rows, cols)
    if first:
        on = select_n(ge(rows, full(aval.shape, first, np.int32)),
                      full(aval.shape, False, np.bool_), on)
    return select_n(on, _filled(aval, 0), _filled(aval, 1))


def _mT(x):
    n = aval_of(x).ndim
    return transpose(x, (*range(n - 2), n - 1, n - 2))


def _H(x):
    """The conjugate transpose."""
    x = _mT(x)
    return conj(x) if dt.is_complex(aval_of(x).dtype) else x


def _mm(x, y, precision=None):
    """x @ y over the last two axes, the leading ones paired as batch dimensions."""
    n = aval_of(x).ndim
    batch = tuple(range(n - 2))
    return dot_general(x, y, (((n - 1,), (n - 2,)), (batch, batch)), precision=precision)


def _block(x, rows: tuple, cols: tuple):
    """x[..., r0:r1, c0:c1]."""
    shape = aval_of(x).shape
    lead = len(shape) - 2
    return slice(x, (0,) * lead + (rows[0], cols[0]), shape[:lead] + (rows[1], cols[1]))


def _along_rows(indices, shape: tuple):
    """Indices (..., m) broadcast over the columns of a (..., m, n) matrix."""
    return broadcast_in_dim(indices, shape, tuple(range(len(shape) - 1)))


def _along_cols(indices, shape: tuple):
    """Indices (..., n) broadcast over the rows of a (..., m, n) matrix."""
    lead = len(shape) - 2
    return broadcast_in_dim(indices, shape, (*range(lead), lead + 1))


def _solve(a, b, *, left_side: bool, lower: bool, unit_diagonal: bool = False):
    """X with a X = b (left_side) or X a = b, for triangular a (only its `lower` or upper
    triangle is read, and not its diagonal when unit_diagonal)."""
    return triangular_solve(a, b, left_side=left_side, lower=lower,
                            unit_diagonal=unit_diagonal)


# -- lu --------------------------------------------------------------------------------------


def _lu_abstract_eval(x):
    _check_matrix("lu", x)
    *batch, m, n = x.shape
    pivots = Aval((*batch, min(m, n)), np.dtype(np.int32), x.weak_type)
    permutation = Aval((*batch, m), np.dtype(np.int32), x.weak_type)
    # JAX's integer outputs are weakly typed exactly when the operand is; so are ours.
    return [x, pivots, permutation]


def _lu_lower(x):
    return list(lax.linalg.lu(x))


lu_p = Primitive("lu", _lu_abstract_eval, _lu_lower, multiple_results=True)


def _lu_factors(lu):
    """The unit lower triangular L (..., m, m) and upper triangular U (..., n, n) packed in
    `lu` (..., m, n), each made square with an identity block where the other is larger."""
    aval = aval_of(lu)
    *batch, m, n = aval.shape
    k = min(m, n)
    zero = aval.dtype.type(0)
    lead = [(0, 0, 0)] * len(batch)
    l = _strict_lower(_block(lu, (0, m), (0, k)) if k < n else lu)
    if k < m:
        l = pad(l, zero, [*lead, (0, 0, 0), (0, m - k, 0)])
    l = add(l, _eye(aval_of(l)))
    u = _upper(_block(lu, (0, k), (0, n)) if k < m else lu)
    if k < n:
        u = pad(u, zero, [*lead, (0, n - k, 0), (0, 0, 0)])
        u = add(u, _eye(aval_of(u), first=k))
    return l, u


def _lu_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    lu, pivots, permutation = lu_p.bind(x)
    no_tangent = [Zero(aval_of(pivots)), Zero(aval_of(permutation))]
    if isinstance(t, Zero):
        return [lu, pivots, permutation], [Zero(aval_of(lu)), *no_tangent]
    shape = aval_of(x).shape
    l, u = _lu_factors(lu)
    # F = L⁻¹ P dA U⁻¹; dL = L tril(F, -1) and dU = triu(F) U, packed like lu.
    p_t = gather_along(t, _along_rows(permutation, shape), len(shape) - 2)
    f = _solve(l, p_t, left_side=True, lower=True, unit_diagonal=True)
    f = _solve(u, f, left_side=False, lower=False)
    highest = lax.Precision.HIGHEST
    t_lu = add(_mm(l, _strict_lower(f), highest), _mm(_upper(f), u, highest))
    return [lu, pivots, permutation], [t_lu, *no_tangent]


jvp_rules.define(lu_p, _lu_jvp)
transpose_rules.absent(lu_p, "it is not linear in its operand")


def _lu_batch(axis_size, values, dims):
    (x,), (dim,) = values, dims
    # Leading axes are already a batch: the new one goes first.
    outs = lu_p.bind(move_axis(x, dim, 0))
    return outs, [0, 0, 0]


batch_rules.define(lu_p, _lu_batch, lists=True)

# -- lu_pivots_to_permutation ----------------------------------------------------------------


def _pivots_abstract_eval(pivots, *, permutation_size):
    name, avals = "lu_pivots_to_permutation", [pivots]
    if pivots.ndim < 1:
        raise fail(name, avals, "pivots must be a vector of row swaps or a batch of them, of "
                   "shape (..., k), not a scalar")
    if pivots.dtype != np.int32:
        raise fail(name, avals, f"pivots must be int32 (as lu returns them), not "
                   f"{pivots.dtype.name}", "Convert with fgrad.lax.convert_element_type.")
    k = pivots.shape[-1]
    if type(permutation_size) is not int or permutation_size < k:
        raise fail(name, avals, f"permutation_size must be an integer at least the number of "
                   f"swaps ({k}), not {permutation_size!r}",
                   "Pass the number of rows of the factorized matrix.")
    return Aval((*pivots.shape[:-1], permutation_size), pivots.dtype, pivots.weak_type)


def _pivots_lower(pivots, *, permutation_size):
    return lax.linalg.lu_pivots_to_permutation(pivots, permutation_size)


lu_pivots_to_permutation_p = Primitive("lu_pivots_to_permutation", _pivots_abstract_eval,
                                       _pivots_lower)
jvp_rules.absent(lu_pivots_to_permutation_p,
                 "its result (integer) carries no tangent")
transpose_rules.absent(lu_pivots_to_permutation_p, "it is not linear in its operand")


def _pivots_batch(axis_size, values, dims, *, permutation_size):
    (pivots,), (dim,) = values, dims
    # Every axis but the last is a batch already: the new one stays where it is, unless it
    # is the last.
    last = aval_of(pivots).ndim - 1
    if dim == last:
        pivots, dim = move_axis(pivots, dim, 0), 0
    return lu_pivots_to_permutation_p.bind1(pivots, permutation_size=permutation_size), dim


batch_rules.define(lu_pivots_to_permutation_p, _pivots_batch)

# -- qr --------------------------------------------------------------------------------------


def _qr_abstract_eval(x, *, pivoting, full_matrices, use_magma):
    name = "qr"
    for flag, value in (("pivoting", pivoting), ("full_matrices", full_matrices)):
        if type(value) is not bool:
            raise fail(name, [x], f"{flag} must be a bool, not {value!r}")
    if use_magma is not None and type(use_magma) is not bool:
        raise fail(name, [x], f"use_magma must be None or a bool, not {use_magma!r}")
    _check_matrix(name, x)
    *batch, m, n = x.shape
    k = m if full_matrices else min(m, n)
    outs = [Aval((*batch, m, k), x.dtype, x.weak_type), Aval((*batch, k, n), x.dtype,
                                                             x.weak_type)]
    if pivoting:
        outs.append(Aval((*batch, n), np.dtype(np.int32), x.weak_type))
    return outs


def _qr_lower(x, *, pivoting, full_matrices, use_magma):
    return list(lax.linalg.qr(x, pivoting=pivoting, full_matrices=full_matrices,
                              use_magma=use_magma))


qr_p = Primitive("qr", _qr_abstract_eval, _qr_lower, multiple_results=True)


def _qr_jvp_square(q, r, t):
    """dQ and dR of A = Q R for Q (..., m, n) with orthonormal columns and an invertible
    upper triangular R (..., n, n), m >= n."""
    t_rinv = _solve(r, t, left_side=False, lower=False)  # dA R⁻¹
    c = _mm(_H(q), t_rinv)  # C = Qᴴ dA R⁻¹ = Qᴴ dQ + dR R⁻¹
    # Qᴴ dQ is skew-Hermitian and dR R⁻¹ upper triangular: below the diagonal C is Qᴴ dQ's,
    # which fixes Ω = Qᴴ dQ above it; on the diagonal dR R⁻¹ is real (R's diagonal stays
    # real), so Ω there is C's imaginary part.
    below = _strict_lower(c)
    omega = sub(below, _H(below))
    if dt.is_complex(aval_of(c).dtype):
        c_aval = aval_of(c)
        imaginary = complex(_filled(c_aval.update(dtype=dt.real_dtype(c_aval.dtype)), 0),
                            imag(c))
        omega = add(omega, select_n(eq(*_rows_cols(c_aval.shape)), _filled(c_aval, 0),
                                    imaginary))
    t_q = add(_mm(q, sub(omega, c)), t_rinv)
    t_r = _mm(sub(c, omega), r)
    return t_q, t_r


def _qr_jvp(primals, tangents, *, pivoting, full_matrices, use_magma):
    (x,), (t,) = primals, tangents
    params = dict(pivoting=pivoting, full_matrices=full_matrices, use_magma=use_magma)
    outs = qr_p.bind(x, **params)
    q, r = outs[:2]
    no_tangent = [Zero(aval_of(outs[2]))] if pivoting else []
    if isinstance(t, Zero):
        return outs, [Zero(aval_of(q)), Zero(aval_of(r)), *no_tangent]
    shape = aval_of(x).shape
    *batch, m, n = shape
    if pivoting:  # x[..., p] = Q R
        t = gather_along(t, _along_cols(outs[2], shape), len(shape) - 1)
    if m < n:
        # x = [X₁ X₂] with X₁ (m, m): X₁ = Q R₁ is a square QR, and R₂ = Qᴴ X₂.
        t_q, t_r1 = _qr_jvp_square(q, _block(r, (0, m), (0, m)), _block(t, (0, m), (0, m)))
        # (With pivoting X₂ is taken from x[..., p]; JAX's rule takes it from x, unpermuted,
        # which finite differences contradict.)
        x2 = x if not pivoting else gather_along(x, _along_cols(outs[2], shape), len(shape) - 1)
        x2, t2 = _block(x2, (0, m), (m, n)), _block(t, (0, m), (m, n))
        t_r2 = add(_mm(_H(t_q), x2), _mm(_H(q), t2))
        return outs, [t_q, concatenate([t_r1, t_r2], len(shape) - 1), *no_tangent]
    if not full_matrices or m == n:
        t_q, t_r = _qr_jvp_square(q, r, t)
        return outs, [t_q, t_r, *no_tangent]
    q_mn, q_mp = _block(q, (0, m), (0, n)), _block(q, (0, m), (n, m))
    t_q_mn, t_r_nn = _qr_jvp_square(q_mn, _block(r, (0, n), (0, n)), t)
    t_q_mp = _householder_complement_jvp(q_mn, q_mp, t_q_mn)
    t_r = pad(t_r_nn, aval_of(t_r_nn).dtype.type(0),
              [(0, 0, 0)] * len(batch) + [(0, m - n, 0), (0, 0, 0)])
    return outs, [concatenate([t_q_mn, t_q_mp], len(shape) - 1), t_r, *no_tangent]


def _householder_complement_jvp(q_mn, q_mp, t_q_mn):
    """The tangent of Q's last m - n columns (full_matrices, m > n), which LAPACK's
    Householder reflections fix: with Z = Q_pn (Q_nn - I)⁻¹ (Q_nn, Q_pn the top n and the
    bottom p = m - n rows of Q's first n columns), eq. 32 of arXiv:2409.13374 gives
    dQ_mp = dQ_mn Zᴴ - (Q_mn + Q_mp Z) (dQ_pn - Z dQ_nn)ᴴ."""
    m, n = aval_of(q_mn).shape[-2:]
    q_nn, q_pn = _block(q_mn, (0, n), (0, n)), _block(q_mn, (n, m), (0, n))
    t_nn, t_pn = _block(t_q_mn, (0, n), (0, n)), _block(t_q_mn, (n, m), (0, n))
    # (Q_nn - I) = Pᵀ L U by LU with pivoting, so Z = Q_pn U⁻¹ L⁻¹ P.
    packed, _, permutation = lu_p.bind(sub(q_nn, _eye(aval_of(q_nn))))
    l, u = _lu_factors(packed)
    z = _solve(u, q_pn, left_side=False, lower=False)
    z = _solve(l, z, left_side=False, lower=True, unit_diagonal=True)
    aval = aval_of(q_nn)
    rows, cols = _rows_cols(aval.shape)
    p_matrix = select_n(eq(_along_rows(permutation, aval.shape), cols), _filled(aval, 0),
                        _filled(aval, 1))  # P[i, j] = 1 where permutation[i] = j
    z = _mm(z, p_matrix)
    return sub(_mm(t_q_mn, _H(z)),
               _mm(add(q_mn, _mm(q_mp, z)), _H(sub(t_pn, _mm(z, t_nn)))))


jvp_rules.define(qr_p, _qr_jvp)
transpose_rules.absent(qr_p, "it is not linear in its operand")


def _qr_batch(axis_size, values, dims, **params):
    (x,), (dim,) = values, dims
    outs = qr_p.bind(move_axis(x, dim, 0), **params)
    return outs, [0] * len(outs)


batch_rules.define(qr_p, _qr_batch, lists=True)

# -- the functions users call (jax.lax.linalg signatures) ------------------------------------


def lu(x):
    """LU decomposition with partial pivoting of matrices (..., m, n): P x = L U.

    Returns `[lu, pivots, permutation]` (a list, as jax.lax.linalg.lu returns): `lu` packs
    the unit lower triangular L (below its diagonal) and the upper triangular U (on and
    above it); `pivots` (..., min(m, n)) are the row swaps made, in order (row i with row
    pivots[i]); `permutation` (..., m) lists the rows of x in the order of P x. Both are
    int32 and carry no derivative.
    """
    return lu_p.bind(x)


def lu_pivots_to_permutation(pivots, permutation_size: int):
    """The permutation of 0..permutation_size-1 that the row swaps `pivots` (..., k), as lu
    returns them, make; int32, of shape (..., permutation_size)."""
    return lu_pivots_to_permutation_p.bind1(pivots, permutation_size=as_int(permutation_size))


def qr(x, *, pivoting: bool = False, full_matrices: bool = True, use_magma: bool | None = None):
    """QR decomposition of matrices (..., m, n): x = Q R, Q with orthonormal columns and R
    upper triangular.

    Returns `(q, r)`, or `(q, r, p)` with `pivoting` (column pivoting: x[..., p] = Q R, R's
    diagonal non-increasing in magnitude; CPU and GPU only, as in JAX). With
    `full_matrices` q is (..., m, m) and r (..., m, n); otherwise q is (..., m, k) and r
    (..., k, n), k = min(m, n). `use_magma` picks MAGMA for the pivoted factorization on
    GPU, as in jax.lax.linalg.qr.
    """
    outs = qr_p.bind(x, pivoting=bool(pivoting), full_matrices=bool(full_matrices),
                     use_magma=use_magma)
    return tuple(outs)
