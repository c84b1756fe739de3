"""fgrad.scipy.linalg: jax.scipy.linalg on fgrad's primitives.

    import fgrad, fgrad.scipy.linalg as fsl
    fgrad.grad(lambda a: fsl.expm(a).sum())(a)

Each function has jax.scipy.linalg's signature, dtype promotion and batching (where JAX
batches), and is a composition of fgrad's primitives (the factorizations of fgrad.lax and
fgrad.numpy.linalg), so it is differentiable, batchable and jittable through their rules:

- `expm` is Padé approximation with scaling and squaring (Al-Mohy and Higham's degrees and
  bounds, as JAX and SciPy), written with fgrad's switch, cond and scan: its derivative is
  the derivative of that computation, so `expm_frechet` is fgrad's JVP of it.
- `solve(..., assume_a='pos')` solves with the Cholesky factors and differentiates
  implicitly (custom_linear_solve, symmetric), as JAX does.
- `schur` is fgrad.lax.linalg.schur's LAPACK decomposition (CPU only, not differentiable,
  as in JAX); `rsf2csf` and `solve_sylvester(method='schur')` (the Bartels-Stewart
  algorithm, differentiable in C) are built on it as in JAX.
- `sqrtm` and `funm` use the eigendecomposition: they need a diagonalizable matrix, and
  their derivatives distinct eigenvalues; JAX's Schur-based versions have no derivatives.
- `eigh` also solves the generalized problems (b given, type 1, 2 or 3) by a Cholesky
  reduction, which JAX does not.

jax.scipy.linalg names fgrad does not provide (none at present: see `_MISSING`) raise an
AttributeError saying why.
"""

from __future__ import annotations

import functools
import math
import operator
import warnings

import jax.scipy.linalg as _jax_linalg
import numpy as np
from jax import lax as _jax_lax

import fgrad.numpy as fnp
from fgrad.api import jvp as _jvp
from fgrad.api import vmap as _vmap
from fgrad.core import aval_of
from fgrad.core import dtypes as dt
from fgrad.core.errors import ShapeDtypeError, at_user_line
from fgrad.core.errors import missing_attribute as _missing_attribute
from fgrad.lax import control_flow as _cf
from fgrad.lax import eigen as _lax_eigen
from fgrad.lax import factorizations as _lax_fact
from fgrad.lax import linalg as _lax_linalg
from fgrad.lax.indexing import dynamic_slice as _dynamic_slice
from fgrad.lax.indexing import dynamic_update_slice as _dynamic_update_slice
from fgrad.lax.implicit import custom_linear_solve as _custom_linear_solve
from fgrad.numpy import linalg as _fla
from fgrad.numpy._core import broadcast_shapes as _broadcast_shapes
from fgrad.numpy._core import check_arraylike as _check_arraylike
from fgrad.numpy._core import convert as _convert
from fgrad.numpy._core import promote_dtypes as _promote_dtypes
from fgrad.numpy._core import user_dtype as _user_dtype
from fgrad.transforms.stop_gradient import stop_gradient as _stop_gradient

__all__ = [
    "block_diag", "cho_factor", "cho_solve", "cholesky", "circulant", "companion",
    "convolution_matrix", "det", "dft", "eigh", "eigh_tridiagonal", "expm", "expm_frechet",
    "fiedler", "fiedler_companion", "funm", "hadamard", "hankel", "helmert", "hessenberg",
    "hilbert", "inv", "invhilbert", "invpascal", "leslie", "lu", "lu_factor", "lu_solve",
    "pascal", "polar", "qr", "qr_multiply", "rsf2csf", "schur", "solve", "solve_sylvester",
    "solve_triangular", "sqrtm", "svd", "toeplitz",
]

_NS = "fgrad.scipy.linalg"
_HIGHEST = _jax_lax.Precision.HIGHEST

# The names of jax.scipy.linalg fgrad does not provide, and why (see __getattr__).
_MISSING: dict[str, str] = {}


def _shape(x) -> tuple:
    return aval_of(x).shape


def _dtype(x) -> np.dtype:
    return aval_of(x).dtype


def _inexact(name: str, *args) -> list:
    _check_arraylike(name, *args, namespace=_NS)
    return _promote_dtypes(*args, kind="inexact")


def _astype(x, dtype):
    return _convert(x, np.dtype(dtype))


def _square(name: str, a) -> None:
    shape = _shape(a)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ShapeDtypeError(at_user_line(
            f"{_NS}.{name} needs square matrices of shape (..., n, n), got shape {shape}."))


def _mm(a, b):
    return fnp.matmul(a, b, precision=_HIGHEST)


# -- triangular, Cholesky and LU solves ------------------------------------------------------


def _vector_rhs(name: str, a, b) -> bool:
    """Whether b is one vector per matrix (scipy's (n,n),(n)->(n)) rather than matrices
    (n,n),(n,k)->(n,k), with JAX's deprecation warning for batched vectors."""
    a_shape, b_shape = _shape(a), _shape(b)
    if len(b_shape) == 1:
        return True
    if len(a_shape) == len(b_shape) + 1 and a_shape[-1] == b_shape[-1]:
        warnings.warn(
            f"{_NS}.{name}: batched 1D solves with b.ndim > 1 are deprecated (as in JAX), and "
            f"in the future will be treated as a batched 2D solve. Use {name}(..., "
            f"b[..., None]).squeeze(-1) to avoid this warning.", FutureWarning, stacklevel=3)
        return True
    return False


def _broadcast_system(name: str, a, b, vector: bool, extra=()):
    """a (..., n, n) and b (..., n) or (..., n, k) (and `extra` arrays (..., n)) broadcast to
    one batch shape; b gains a trailing axis if it is a vector."""
    a_shape, b_shape = _shape(a), _shape(b)
    if len(a_shape) < 2 or a_shape[-1] != a_shape[-2]:
        raise ShapeDtypeError(at_user_line(
            f"{_NS}.{name}: the matrix must have shape (..., n, n), got {a_shape}."))
    n = a_shape[-1]
    core = 1 if vector else 2
    if len(b_shape) < core or b_shape[-core] != n:
        raise ShapeDtypeError(at_user_line(
            f"{_NS}.{name}: b must have shape (..., {n}) or (..., {n}, k) to match the "
            f"matrix's {a_shape}, got {b_shape}."))
    batch = _broadcast_shapes(name, a_shape[:-2], b_shape[:-core],
                              *(_shape(e)[:-1] for e in extra))
    a = fnp.broadcast_to(a, (*batch, n, n))
    if vector:
        b = fnp.expand_dims(b, -1)
    b = fnp.broadcast_to(b, (*batch, n, _shape(b)[-1]))
    extra = [fnp.broadcast_to(e, (*batch, n)) for e in extra]
    return a, b, extra


def solve_triangular(a, b, trans=0, lower: bool = False, unit_diagonal: bool = False,
                     overwrite_b: bool = False, debug=None, check_finite: bool = True):
    """x with op(a) x = b for triangular a (..., n, n): op(a) = a (trans 0 or 'N'), aᵀ (1,
    'T') or aᴴ (2, 'C'); only a's lower (or upper) triangle is read, and not its diagonal
    with unit_diagonal. b is (n,) or (..., n, k). Differentiable in a and b."""
    del overwrite_b, debug, check_finite  # unused, as in JAX
    if trans in (0, "N"):
        transpose, conjugate = False, False
    elif trans in (1, "T"):
        transpose, conjugate = True, False
    elif trans in (2, "C"):
        transpose, conjugate = True, True
    else:
        raise ValueError(at_user_line(
            f"{_NS}.solve_triangular: invalid trans {trans!r}; use 0 ('N'), 1 ('T') or 2 "
            f"('C')."))
    a, b = _inexact("solve_triangular", a, b)
    vector = _vector_rhs("solve_triangular", a, b)
    a, b, _ = _broadcast_system("solve_triangular", a, b, vector)
    x = _fla._triangular(a, b, lower=bool(lower), unit_diagonal=bool(unit_diagonal),
                         transpose=transpose, conjugate=conjugate)
    return fnp.squeeze(x, -1) if vector else x


def cholesky(a, lower: bool = False, overwrite_a: bool = False, check_finite: bool = True):
    """The Cholesky factor of positive-definite matrices (..., n, n): upper U with a = Uᴴ U
    (SciPy's default), or lower L with a = L Lᴴ. Only the triangle of a on the factor's side
    is read."""
    del overwrite_a, check_finite  # unused, as in JAX
    (a,) = _inexact("cholesky", a)
    _square("cholesky", a)
    if lower:
        return _lax_linalg.cholesky(a, symmetrize_input=False)
    return _fla._H(_lax_linalg.cholesky(_fla._H(a), symmetrize_input=False))


def cho_factor(a, lower: bool = False, overwrite_a: bool = False, check_finite: bool = True):
    """(c, lower): the Cholesky factor of a (see cholesky) and which triangle it is, for
    cho_solve."""
    del overwrite_a, check_finite  # unused, as in JAX
    return cholesky(a, lower=lower), lower


def _cho_solve(c, b, lower: bool):
    """x with a x = b from a's Cholesky factor c; c (..., n, n), b (..., n, k) one batch."""
    y = _fla._triangular(c, b, lower=lower, transpose=not lower, conjugate=not lower)
    return _fla._triangular(c, y, lower=lower, transpose=lower, conjugate=lower)


def cho_solve(c_and_lower, b, overwrite_b: bool = False, check_finite: bool = True):
    """x with a x = b, from cho_factor(a) = (c, lower); b is (n,) or (..., n, k)."""
    del overwrite_b, check_finite  # unused, as in JAX
    c, lower = c_and_lower
    c, b = _inexact("cho_solve", c, b)
    vector = _vector_rhs("cho_solve", c, b)
    c, b, _ = _broadcast_system("cho_solve", c, b, vector)
    x = _cho_solve(c, b, bool(lower))
    return fnp.squeeze(x, -1) if vector else x


def lu(a, permute_l: bool = False, overwrite_a: bool = False, check_finite: bool = True):
    """The LU decomposition with partial pivoting a = P L U of matrices (..., m, n).

    Returns:
        (p, l, u): the permutation matrix p (m, m) (real), unit lower triangular l (m, k)
        and upper triangular u (k, n), k = min(m, n); with permute_l, (p @ l, u). l and u
        are differentiable where U is invertible (with the pivots held fixed).
    """
    del overwrite_a, check_finite  # unused, as in JAX
    (a,) = _inexact("lu", a)
    shape = _shape(a)
    if len(shape) < 2:
        raise ShapeDtypeError(at_user_line(
            f"{_NS}.lu needs matrices of shape (..., m, n), got shape {shape}."))
    m, n = shape[-2:]
    k = min(m, n)
    dtype = _dtype(a)
    packed, _, permutation = _lax_fact.lu(a)
    p = _astype(fnp.equal(fnp.expand_dims(permutation, -2), fnp.arange(m)[:, None]),
                dt.real_dtype(dtype))
    l_factor = fnp.add(fnp.tril(packed, -1)[..., :, :k], fnp.eye(m, k, dtype=dtype))
    u_factor = fnp.triu(packed)[..., :k, :]
    if permute_l:
        return _mm(_astype(p, dtype), l_factor), u_factor
    return p, l_factor, u_factor


def lu_factor(a, overwrite_a: bool = False, check_finite: bool = True):
    """(lu, piv): L and U packed in one matrix (..., n, n) and LAPACK's row swaps (0-based),
    for lu_solve."""
    del overwrite_a, check_finite  # unused, as in JAX
    (a,) = _inexact("lu_factor", a)
    if len(_shape(a)) < 2:
        raise ShapeDtypeError(at_user_line(
            f"{_NS}.lu_factor needs matrices of shape (..., m, n), got shape {_shape(a)}."))
    packed, pivots, _ = _lax_fact.lu(a)
    return packed, pivots


def lu_solve(lu_and_piv, b, trans: int = 0, overwrite_b: bool = False,
             check_finite: bool = True):
    """x with a x = b (trans 0), aᵀ x = b (1) or aᴴ x = b (2), from lu_factor(a); b is
    (n,) or (..., n, k). Differentiable in the factors and in b."""
    del overwrite_b, check_finite  # unused, as in JAX
    packed, pivots = lu_and_piv
    if trans not in (0, 1, 2):
        raise ValueError(at_user_line(
            f"{_NS}.lu_solve: trans must be 0, 1 or 2, got {trans!r}."))
    _check_arraylike("lu_solve", pivots, namespace=_NS)
    packed, b = _inexact("lu_solve", packed, b)
    m = _shape(packed)[-2] if len(_shape(packed)) >= 2 else 0
    vector = _vector_rhs("lu_solve", packed, b)
    permutation = _lax_fact.lu_pivots_to_permutation(pivots, m)
    packed, b, (permutation,) = _broadcast_system("lu_solve", packed, b, vector,
                                                  extra=(permutation,))
    x = _fla._lu_solve(packed, permutation, b, trans)
    return fnp.squeeze(x, -1) if vector else x


def solve(a, b, lower: bool = False, overwrite_a: bool = False, overwrite_b: bool = False,
          debug: bool = False, check_finite: bool = True, assume_a: str = "gen"):
    """x with a x = b. assume_a 'gen', 'sym' or 'her' solve with the LU factors (as
    fgrad.numpy.linalg.solve); 'pos' (positive definite) with the Cholesky factor of a's
    `lower` (or upper) triangle. Both differentiate implicitly: derivatives solve again with
    the same factors."""
    del overwrite_a, overwrite_b, debug, check_finite  # unused, as in JAX
    valid = ("gen", "sym", "her", "pos")
    if assume_a not in valid:
        raise ValueError(at_user_line(
            f"{_NS}.solve: assume_a must be one of {valid}, got {assume_a!r}."))
    if assume_a != "pos":
        return _fla.solve(a, b)
    a, b = _inexact("solve", a, b)
    a_shape, b_shape = _shape(a), _shape(b)
    if not (len(a_shape) >= 2 and len(b_shape) in (len(a_shape), len(a_shape) - 1)
            and a_shape[-1] == a_shape[-2] == b_shape[len(a_shape) - 2]):
        raise ShapeDtypeError(at_user_line(
            f"{_NS}.solve: the arguments must have shapes a=(..., m, m) and b=(..., m, k) or "
            f"(..., m); got a={a_shape} and b={b_shape}."))
    vector = len(b_shape) == len(a_shape) - 1
    a, b, _ = _broadcast_system("solve", a, b, vector)
    factor = cholesky(_stop_gradient(a), lower=lower)
    x = _custom_linear_solve(lambda x: fnp.matmul(a, x), b,
                             solve=lambda _, x: _cho_solve(factor, x, bool(lower)),
                             symmetric=True)
    return fnp.squeeze(x, -1) if vector else x


def det(a, overwrite_a: bool = False, check_finite: bool = True):
    """The determinant (fgrad.numpy.linalg.det)."""
    del overwrite_a, check_finite  # unused, as in JAX
    return _fla.det(a)


def inv(a, overwrite_a: bool = False, check_finite: bool = True):
    """The inverse (fgrad.numpy.linalg.inv)."""
    del overwrite_a, check_finite  # unused, as in JAX
    return _fla.inv(a)


# -- decompositions --------------------------------------------------------------------------


def eigh(a, b=None, lower: bool = True, eigvals_only: bool = False, overwrite_a: bool = False,
         overwrite_b: bool = False, turbo: bool = True, eigvals=None, type: int = 1,  # noqa: A002
         check_finite: bool = True):
    """Eigenvalues (ascending) and eigenvectors of Hermitian matrices (..., n, n); with b
    (positive definite), of the generalized problem a v = w b v (type 1), a b v = w v (2)
    or b a v = w v (3), the vectors normalized so that vᴴ b v = I (types 1, 2) or
    vᴴ b⁻¹ v = I (3), as SciPy.

    Returns:
        (w, v), or w with eigvals_only. a is symmetrized, (a + aᴴ)/2, as in JAX; `lower`
        picks the triangle of b that is read.
    """
    del overwrite_a, overwrite_b, turbo, check_finite  # unused, as in JAX
    if eigvals is not None:
        raise ValueError(at_user_line(
            f"{_NS}.eigh: eigvals (SciPy's deprecated subset selection) is not supported, as "
            f"in JAX; take a slice of the result, or use fgrad.lax.eigen.eigh's "
            f"subset_by_index."))
    if type not in (1, 2, 3):
        raise ValueError(at_user_line(f"{_NS}.eigh: type must be 1, 2 or 3, got {type!r}."))
    if b is None:
        if type != 1:
            raise ShapeDtypeError(at_user_line(
                f"{_NS}.eigh: type={type} needs a matrix b (it names a generalized problem)."))
        (a,) = _inexact("eigh", a)
        _square("eigh", a)
        v, w = _lax_eigen.eigh(a, lower=bool(lower))
    else:
        a, b = _inexact("eigh", a, b)
        _square("eigh", a)
        _square("eigh", b)
        factor = cholesky(b, lower=True) if lower else _fla._H(cholesky(b, lower=False))
        a = fnp.divide(fnp.add(a, _fla._H(a)), 2)
        if type == 1:  # L⁻¹ a L⁻ᴴ y = w y, v = L⁻ᴴ y
            c = _fla._triangular(factor, a, lower=True)
            c = _fla._H(_fla._triangular(factor, _fla._H(c), lower=True))
        else:  # Lᴴ a L y = w y; v = L⁻ᴴ y (type 2) or L y (type 3)
            c = _mm(_mm(_fla._H(factor), a), factor)
        y, w = _lax_eigen.eigh(c)
        if type == 3:
            v = _mm(factor, y)
        else:
            v = _fla._triangular(factor, y, lower=True, transpose=True, conjugate=True)
    return w if eigvals_only else (w, v)


def svd(a, full_matrices: bool = True, compute_uv: bool = True, overwrite_a: bool = False,
        check_finite: bool = True, lapack_driver: str = "gesdd"):
    """The singular value decomposition (u, s, vh), or s without compute_uv; see
    fgrad.numpy.linalg.svd. lapack_driver is ignored, as in JAX."""
    del overwrite_a, check_finite, lapack_driver  # unused, as in JAX
    (a,) = _inexact("svd", a)
    out = _fla.svd(a, full_matrices=full_matrices, compute_uv=compute_uv)
    return tuple(out) if compute_uv else out


def qr(a, overwrite_a: bool = False, lwork=None, mode: str = "full", pivoting: bool = False,
       check_finite: bool = True):
    """The QR decomposition, as a tuple: (q, r) for mode 'full' (q (..., m, m)) or
    'economic' (q (..., m, k)), (r,) for mode 'r'; with pivoting, the column permutation p
    too (a[..., p] = q r)."""
    del overwrite_a, lwork, check_finite  # unused, as in JAX
    if mode in ("full", "r"):
        full_matrices = True
    elif mode == "economic":
        full_matrices = False
    else:
        raise ValueError(at_user_line(
            f"{_NS}.qr: unsupported mode {mode!r}; the modes are 'full', 'economic' and 'r'."))
    (a,) = _inexact("qr", a)
    if len(_shape(a)) < 2:
        raise ShapeDtypeError(at_user_line(
            f"{_NS}.qr needs matrices of shape (..., m, n), got shape {_shape(a)}."))
    q, r, *p = _lax_fact.qr(a, pivoting=bool(pivoting), full_matrices=full_matrices)
    if mode == "r":
        return (r, *p)
    return (q, r, *p)


def qr_multiply(a, c, mode: str = "right", pivoting: bool = False, conjugate: bool = False,
                overwrite_a: bool = False, overwrite_c: bool = False):
    """(Q c or c Q, r[, p]) for the QR decomposition of a (m, n), without returning Q:
    mode 'left' gives Q @ c (c with k = min(m, n) rows), 'right' gives c @ Q (c with m
    columns), each with Q's first k columns; `conjugate` uses Q's complex conjugate. r is
    (k, n); p the column permutation with pivoting."""
    del overwrite_a, overwrite_c  # unused, as in JAX
    a, c = _inexact("qr_multiply", a, c)
    if mode not in ("right", "left"):
        raise ValueError(at_user_line(
            f"{_NS}.qr_multiply: mode must be 'right' or 'left', got {mode!r}."))
    if len(_shape(a)) < 2:
        raise ShapeDtypeError(at_user_line(
            f"{_NS}.qr_multiply needs matrices a of shape (..., m, n), got {_shape(a)}."))
    vector = len(_shape(c)) == 1
    if vector:
        c = c[:, None] if mode == "left" else c[None, :]
    m, n = _shape(a)[-2:]
    k = min(m, n)
    if mode == "left" and _shape(c)[-2] != k:
        raise ShapeDtypeError(at_user_line(
            f"{_NS}.qr_multiply: for Q @ c, c needs {k} rows (Q's columns for a of shape "
            f"{_shape(a)}), got shape {_shape(c)}."))
    if mode == "right" and _shape(c)[-1] != m:
        raise ShapeDtypeError(at_user_line(
            f"{_NS}.qr_multiply: for c @ Q, c needs {m} columns (Q's rows for a of shape "
            f"{_shape(a)}), got shape {_shape(c)}."))
    q, r, *p = _lax_fact.qr(a, pivoting=bool(pivoting), full_matrices=False)
    if conjugate:
        q = fnp.conj(q)
    out = fnp.matmul(q, c) if mode == "left" else fnp.matmul(c, q)
    if vector:
        out = fnp.ravel(out)
    return (out, r, *p)


def hessenberg(a, *, calc_q: bool = False, overwrite_a: bool = False,
               check_finite: bool = True):
    """The Hessenberg form h = qᴴ a q (zero below the first subdiagonal) of square matrices
    (..., n, n), by Householder reflections as LAPACK's gehrd; with calc_q, (h, q).
    Differentiable (it is a composition of elementwise operations and products)."""
    del overwrite_a, check_finite  # unused, as in JAX
    (a,) = _inexact("hessenberg", a)
    _square("hessenberg", a)
    n = _shape(a)[-1]
    dtype = _dtype(a)
    if n == 0:
        return (fnp.zeros_like(a), fnp.zeros_like(a)) if calc_q else fnp.zeros_like(a)
    rows = fnp.arange(n)
    eye = fnp.eye(n, dtype=dtype)
    q0 = fnp.broadcast_to(eye, _shape(a))

    def step(i, carry):
        h, q = carry
        # The reflector of column i below row i + 1, as larfg makes it.
        column = fnp.sum(fnp.where(rows[None, :] == i, h, np.array(0, dtype)), axis=-1)  # h[..., i]
        v, tau, _, _ = _fla._reflector(column, rows, i + 1, dtype)
        # h <- Hᴴ h H with H = I - tau v vᴴ; q <- q H.
        h = _fla._reflect_left(h, v, fnp.conj(tau))
        h = _fla._reflect_right(h, v, tau)
        q = _fla._reflect_right(q, v, tau)
        return h, q

    # n - 1 reflectors, as gehrd: the last (of one element) makes a complex subdiagonal real.
    h, q = _cf.fori_loop(0, n - 1, step, (a, q0))
    h = fnp.triu(h, -1)
    return (h, q) if calc_q else h


# -- the Schur decomposition -----------------------------------------------------------------


def _complex_dtype(dtype) -> np.dtype:
    return np.dtype(np.result_type(dtype, np.complex64))


def schur(a, output: str = "real"):
    """The Schur decomposition a = z t zᴴ of square matrices (..., n, n) (CPU only), as the
    list [t, z] jax.scipy.linalg.schur returns: z unitary, t upper triangular for
    output='complex', and for output='real' (of a real matrix) quasi-upper-triangular, with
    a 2x2 block on the diagonal per pair of complex conjugate eigenvalues. Integer input is
    promoted to float (JAX refuses it). Not differentiable, as in JAX."""
    if output not in ("real", "complex"):
        raise ValueError(at_user_line(
            f"{_NS}.schur: output must be 'real' or 'complex', got {output!r}."))
    (a,) = _inexact("schur", a)
    _square("schur", a)
    if output == "complex":
        a = _astype(a, _complex_dtype(_dtype(a)))
    return _lax_eigen.schur(a)


def _rsf2csf_step(i, carry, *, n: int, eps: float, batch: tuple):
    """Step i of rsf2csf: with m = n - i, a Givens rotation of rows and columns m - 1, m
    that zeroes t[m, m - 1] when it is not negligible (as SciPy and JAX: mu is the first
    eigenvalue of the 2x2 block minus t[m, m]); then t[m, m - 1] is set to 0."""
    t, z = carry
    m = n - i
    at = (0,) * len(batch)
    block = _dynamic_slice(t, (*at, m - 1, m - 1), (*batch, 2, 2))
    t_mm, sub = block[..., 1, 1], block[..., 1, 0]
    significant = fnp.abs(sub) > eps * (fnp.abs(block[..., 0, 0]) + fnp.abs(t_mm))
    (w,) = _lax_eigen.eig(block, compute_left_eigenvectors=False,
                          compute_right_eigenvectors=False)
    mu = w[..., 0] - t_mm
    r = fnp.linalg.norm(fnp.stack([mu, sub], axis=-1), axis=-1)
    # (1 where no rotation is made, so that branch divides by no 0, even in a derivative)
    r = _astype(fnp.where(significant, r, 1), _dtype(t))
    c, s = mu / r, sub / r
    g = fnp.stack([fnp.stack([fnp.conj(c), s], axis=-1), fnp.stack([-s, c], axis=-1)],
                  axis=-2)
    gh = _fla._H(g)
    index = fnp.arange(n)
    # Rows m - 1 and m (from column m - 1 on) from the left by G ...
    rows = _dynamic_slice(t, (*at, m - 1, 0), (*batch, 2, n))
    right = index >= m - 1
    rows = fnp.where(right, _mm(g, fnp.where(right, rows, 0)), rows)
    rotated = _dynamic_update_slice(t, rows, (*at, m - 1, 0))
    # ... columns m - 1 and m (down to row m) from the right by Gᴴ, and Z's columns too.
    cols = _dynamic_slice(rotated, (*at, 0, m - 1), (*batch, n, 2))
    above = (index < m + 1)[:, None]
    cols = fnp.where(above, _mm(fnp.where(above, cols, 0), gh), cols)
    rotated = _dynamic_update_slice(rotated, cols, (*at, 0, m - 1))
    z_cols = _mm(_dynamic_slice(z, (*at, 0, m - 1), (*batch, n, 2)), gh)
    rotated_z = _dynamic_update_slice(z, z_cols, (*at, 0, m - 1))
    keep = significant[..., None, None]
    t, z = fnp.where(keep, rotated, t), fnp.where(keep, rotated_z, z)
    t = fnp.where((index[:, None] == m) & (index[None, :] == m - 1), 0, t)
    return t, z


def rsf2csf(T, Z, check_finite: bool = True):  # noqa: N803
    """The complex Schur form (t, z) of a real Schur form T with its Schur vectors Z
    (..., n, n) (batch axes broadcast), by Givens rotations that zero the subdiagonal of
    each 2x2 block, as SciPy's and JAX's rsf2csf; complex results. check_finite is unused,
    as in JAX."""
    del check_finite  # unused, as in JAX
    t, z = _inexact("rsf2csf", T, Z)
    for what, x in (("T", t), ("Z", z)):
        if len(_shape(x)) < 2 or _shape(x)[-1] != _shape(x)[-2]:
            raise ShapeDtypeError(at_user_line(
                f"{_NS}.rsf2csf: {what} must be a square matrix (..., n, n), got shape "
                f"{_shape(x)}."))
    n = _shape(t)[-1]
    if _shape(z)[-1] != n:
        raise ShapeDtypeError(at_user_line(
            f"{_NS}.rsf2csf: T and Z must have matrices of one size, got T {_shape(t)} and "
            f"Z {_shape(z)}."))
    batch = _broadcast_shapes("rsf2csf", _shape(t)[:-2], _shape(z)[:-2])
    dtype = _complex_dtype(_dtype(t))
    t = fnp.broadcast_to(_astype(t, dtype), (*batch, n, n))
    z = fnp.broadcast_to(_astype(z, dtype), (*batch, n, n))
    step = functools.partial(_rsf2csf_step, n=n, eps=float(np.finfo(dtype).eps),
                             batch=tuple(batch))
    return tuple(_cf.fori_loop(1, n, step, (t, z))) if n > 1 else (t, z)


def eigh_tridiagonal(d, e, *, eigvals_only: bool = False, select: str = "a",
                     select_range=None, tol=None, key=None):
    """Eigenvalues (ascending), and eigenvectors unless eigvals_only, of the Hermitian
    tridiagonal matrix with diagonal d (n,) and off-diagonal e (n - 1,).

    fgrad builds the tridiagonal matrix and decomposes it with eigh (JAX bisects, then
    inverse-iterates from random vectors): the eigenvalues agree to rounding, eigenvectors
    up to sign. `tol` (the bisection's tolerance) and `key` (inverse iteration's random
    start) therefore have no effect. select 'a' (all) or 'i' (select_range = (lo, hi), the
    eigenpairs lo to hi inclusive); 'v' (a range of values) is refused, as in JAX.
    """
    del tol, key  # see the docstring
    _check_arraylike("eigh_tridiagonal", d, e, namespace=_NS)
    alpha, beta = fnp.asarray(d), fnp.asarray(e)
    if _dtype(alpha) != _dtype(beta):
        raise ShapeDtypeError(at_user_line(
            f"{_NS}.eigh_tridiagonal: the diagonal and off-diagonal must have one dtype, got "
            f"{_dtype(alpha)} and {_dtype(beta)}."))
    if _dtype(alpha) not in (np.float32, np.float64, np.complex64, np.complex128):
        raise ShapeDtypeError(at_user_line(
            f"{_NS}.eigh_tridiagonal takes float32, float64, complex64 or complex128 values, "
            f"got {_dtype(alpha)}."))
    if len(_shape(alpha)) != 1 or _shape(beta) != (max(_shape(alpha)[0] - 1, 0),):
        raise ShapeDtypeError(at_user_line(
            f"{_NS}.eigh_tridiagonal: d must be (n,) and e (n - 1,), got {_shape(alpha)} and "
            f"{_shape(beta)}."))
    n = _shape(alpha)[0]
    if select == "a":
        subset = None
    elif select == "i":
        if select_range is None:
            raise ValueError(at_user_line(
                f"{_NS}.eigh_tridiagonal: select='i' needs select_range=(lo, hi)."))
        if select_range[0] > select_range[1]:
            raise ValueError(at_user_line(
                f"{_NS}.eigh_tridiagonal: empty index range {select_range}."))
        subset = (int(select_range[0]), int(select_range[1]) + 1)
    elif select == "v":
        raise NotImplementedError(at_user_line(
            f"{_NS}.eigh_tridiagonal: select='v' (eigenvalues in a range of values) is not "
            f"implemented, as in JAX; use select='a' and keep the values in range."))
    else:
        raise ValueError(at_user_line(
            f"{_NS}.eigh_tridiagonal: select must be 'a', 'i' or 'v', got {select!r}."))
    if n <= 1:
        w = fnp.real(alpha)
        return w if eigvals_only else (w, fnp.eye(n, dtype=_dtype(alpha)))
    matrix = fnp.add(fnp.add(fnp.diag(alpha), fnp.diag(beta, -1)), fnp.diag(fnp.conj(beta), 1))
    v, w = _lax_eigen.eigh(matrix, subset_by_index=subset)
    return w if eigvals_only else (w, v)


def polar(a, side: str = "right", *, method: str = "qdwh", eps=None, max_iterations=None):
    """The polar decomposition a = u p (side 'right', p (n, n) positive semi-definite) or
    a = p u ('left', p (m, m)), with u having orthonormal columns (rows), from the SVD
    a = U S Vᴴ: u = U Vᴴ, p = V S Vᴴ (or U S Uᴴ). Batched over leading axes.

    method='svd' only: JAX's default 'qdwh' (a QR-based Halley iteration, a different
    algorithm for the same decomposition) is refused with an error; pass method='svd'.
    """
    del eps, max_iterations  # parameters of the qdwh iteration
    (a,) = _inexact("polar", a)
    if len(_shape(a)) < 2:
        raise ShapeDtypeError(at_user_line(f"{_NS}.polar: a must be at least a 2-D array."))
    if side not in ("right", "left"):
        raise ValueError(at_user_line(
            f"{_NS}.polar: side must be 'right' or 'left', got {side!r}."))
    if method == "qdwh":
        raise NotImplementedError(at_user_line(
            f"{_NS}.polar: method='qdwh' (JAX's default) is not implemented in fgrad; pass "
            f"method='svd', which computes the same decomposition from the SVD."))
    if method != "svd":
        raise ValueError(at_user_line(
            f"{_NS}.polar: unknown method {method!r}; fgrad has 'svd'."))
    u, s, vh = _lax_eigen.svd(a, full_matrices=False)
    s = _astype(s, _dtype(u))
    unitary = _mm(u, vh)
    if side == "right":
        posdef = _mm(fnp.multiply(_fla._H(vh), s[..., None, :]), vh)
    else:
        posdef = _mm(fnp.multiply(u, s[..., None, :]), _fla._H(u))
    return unitary, posdef


def _eig_function(name: str, a, f):
    """V f(w) V⁻¹ from the eigendecomposition of a diagonalizable (n, n) matrix."""
    w, v = _lax_eigen.eig(a, compute_left_eigenvectors=False, enable_eigvec_derivs=True)
    fw = fnp.asarray(f(w))
    if _shape(fw) != _shape(w):
        raise ShapeDtypeError(at_user_line(
            f"{_NS}.{name}: func must map the eigenvalues (shape {_shape(w)}) elementwise, "
            f"but it returned shape {_shape(fw)}."))
    fw = _astype(fw, _dtype(v))
    # (V diag(f)) V⁻¹ = ((V⁻ᵀ) (V diag(f))ᵀ)ᵀ: one solve with Vᵀ.
    return fnp.matrix_transpose(_fla.solve(fnp.matrix_transpose(v),
                                           fnp.matrix_transpose(fnp.multiply(v, fw[..., None, :]))))


def sqrtm(A, blocksize: int = 1):  # noqa: N803
    """The principal square root of a diagonalizable square matrix, as a complex matrix
    (as jax.scipy.linalg.sqrtm returns it): V diag(√w) V⁻¹ from the eigendecomposition (CPU
    only, as fgrad's eig). JAX uses the Schur form instead (Björck and Hammarling's
    recurrence), which also handles defective matrices but has no derivative; fgrad keeps
    the eigendecomposition so that sqrtm is differentiable, where the eigenvalues are
    distinct (and not on the negative real axis, √'s branch cut). The values agree with
    JAX's to rounding for well-conditioned eigenvectors."""
    if blocksize > 1:
        raise NotImplementedError(at_user_line(
            f"{_NS}.sqrtm: the blocked algorithm (blocksize > 1) is not implemented, as in "
            f"JAX; use blocksize=1."))
    (a,) = _inexact("sqrtm", A)
    if len(_shape(a)) != 2 or _shape(a)[0] != _shape(a)[1]:
        raise ShapeDtypeError(at_user_line(
            f"{_NS}.sqrtm expects a square matrix (n, n), got shape {_shape(a)}."))
    return _eig_function("sqrtm", a, fnp.sqrt)


def funm(A, func, disp: bool = True):  # noqa: N803
    """func applied to a diagonalizable square matrix, V diag(func(w)) V⁻¹ from its
    eigendecomposition (CPU only), as a complex matrix. JAX uses the Schur form and
    Parlett's recurrence, which has no derivative (the Schur decomposition has none); fgrad
    keeps the eigendecomposition, which is differentiable where the eigenvalues are
    distinct: the results agree for diagonalizable matrices. disp=False (which also returns
    an error estimate from the Schur form) is refused."""
    if not disp:
        raise NotImplementedError(at_user_line(
            f"{_NS}.funm: disp=False (the error estimate, computed from the Schur form) is "
            f"not implemented; call funm(A, func) for the value."))
    if not callable(func):
        raise TypeError(at_user_line(f"{_NS}.funm: func must be callable, got {func!r}."))
    (a,) = _inexact("funm", A)
    if len(_shape(a)) != 2 or _shape(a)[0] != _shape(a)[1]:
        raise ShapeDtypeError(at_user_line(
            f"{_NS}.funm expects a square matrix (n, n), got shape {_shape(a)}."))
    return _eig_function("funm", a, func)


def _triangular_sylvester(r, s, f):
    """Y with R Y + Y Sᴴ = F, for upper triangular R (..., m, m) and S (..., n, n): the
    Bartels-Stewart back substitution, one column of Y at a time from the last: column j
    solves (R + conj(s_jj) I) y_j = f_j - Σ_{k > j} conj(s_jk) y_k, a triangular solve."""
    m, n = _shape(f)[-2:]
    sh = _fla._H(s)  # lower triangular: column j holds conj(s_jk), k >= j
    index = fnp.arange(n)
    eye = fnp.eye(m, dtype=_dtype(f))

    def column(t, y):
        j = n - 1 - t
        at_j = index == j
        s_col = fnp.sum(fnp.where(at_j, sh, 0), axis=-1)  # sh[..., :, j]
        later = fnp.where(index > j, s_col, 0)
        rhs = fnp.sum(fnp.where(at_j, f, 0), axis=-1) - _mm(y, later[..., None])[..., 0]
        diagonal = fnp.sum(fnp.where(at_j, s_col, 0), axis=-1)  # conj(s_jj)
        y_j = _lax_linalg.triangular_solve(r + diagonal[..., None, None] * eye,
                                           rhs[..., None], left_side=True, lower=False)
        return fnp.where(at_j, y_j, y)

    return _cf.fori_loop(0, n, column, fnp.zeros_like(f))


def solve_sylvester(A, B, C, *, method: str = "schur", tol: float = 1e-8):  # noqa: N803
    """X with A X + X B = C, for A (..., m, m), B (..., n, n), C (..., m, n) (batch axes
    broadcast). CPU only, as both methods decompose general matrices.

    method='schur' (JAX's default): the Bartels-Stewart algorithm, as JAX's: complex Schur
    forms A = U R Uᴴ and Bᴴ = V S Vᴴ turn the equation into R Y + Y Sᴴ = Uᴴ C V with
    triangular R and S, solved by back substitution, and X = U Y Vᴴ. It needs no
    diagonalizable A or B. Differentiable in C (the Schur decomposition, as in JAX, has no
    derivative, so neither has X in A or B). method='eigen': diagonalizing A and B (their
    eigenvectors, which must be well conditioned); differentiable in all three.

    Where some eigenvalue of A plus one of B is below tol in magnitude (no unique solution)
    the result is NaN, as in JAX (method='schur' reads the eigenvalues off the Schur forms'
    diagonals, where JAX computes them once more with eig).
    """
    a, b, c = _inexact("solve_sylvester", A, B, C)
    m, n = _shape(c)[-2:]
    if _shape(a)[-2:] != (m, m) or _shape(b)[-2:] != (n, n):
        raise ShapeDtypeError(at_user_line(
            f"{_NS}.solve_sylvester: incompatible shapes A {_shape(a)}, B {_shape(b)}, C "
            f"{_shape(c)}; A must be (m, m), B (n, n) and C (m, n)."))
    if method == "schur":
        batch = _broadcast_shapes("solve_sylvester", _shape(a)[:-2], _shape(b)[:-2],
                                  _shape(c)[:-2])
        cdtype = _complex_dtype(_dtype(c))
        a = fnp.broadcast_to(_astype(a, cdtype), (*batch, m, m))
        b = fnp.broadcast_to(_astype(b, cdtype), (*batch, n, n))
        r, u = _lax_eigen.schur(a)
        s, v = _lax_eigen.schur(_fla._H(b))
        f = _mm(_mm(_fla._H(u), _astype(c, cdtype)), v)
        x = _mm(_mm(u, _triangular_sylvester(r, s, f)), _fla._H(v))
        wa, wb = fnp.diagonal(r, axis1=-2, axis2=-1), fnp.conj(fnp.diagonal(s, axis1=-2,
                                                                             axis2=-1))
    elif method == "eigen":
        wa, ua = _lax_eigen.eig(a, compute_left_eigenvectors=False, enable_eigvec_derivs=True)
        wb, ub = _lax_eigen.eig(b, compute_left_eigenvectors=False, enable_eigvec_derivs=True)
        cdtype = _dtype(ua)
        f = _fla.solve(ua, fnp.matmul(_astype(c, cdtype), ub))
        y = fnp.divide(f, fnp.add(wa[..., :, None], wb[..., None, :]))
        x = fnp.matmul(fnp.matmul(ua, y), _fla.inv(ub))
    else:
        raise ValueError(at_user_line(
            f"{_NS}.solve_sylvester: unknown method {method!r}; the methods are 'schur' and "
            f"'eigen'."))
    if not dt.is_complex(_dtype(c)):
        x = fnp.real(x)
    singular = fnp.any(fnp.less(fnp.abs(fnp.add(wa[..., :, None], wb[..., None, :])), tol),
                       axis=(-2, -1))
    return fnp.where(singular[..., None, None], np.array(np.nan, _dtype(x)), x)


# -- the matrix exponential ------------------------------------------------------------------

# Padé coefficients b_k of the [m/m] approximant of exp, and the 1-norm bounds up to which
# each degree is accurate in float64 (Al-Mohy and Higham 2009, as in JAX and SciPy).
_PADE = {
    3: (120., 60., 12., 1.),
    5: (30240., 15120., 3360., 420., 30., 1.),
    7: (17297280., 8648640., 1995840., 277200., 25200., 1512., 56., 1.),
    9: (17643225600., 8821612800., 2075673600., 302702400., 30270240., 2162160., 110880.,
        3960., 90., 1.),
    13: (64764752532480000., 32382376266240000., 7771770303897600., 1187353796428800.,
         129060195264000., 10559470521600., 670442572800., 33522128640., 1323241920.,
         40840800., 960960., 16380., 182., 1.),
}
# (largest scaled norm, the norm bounds between the degrees, the degrees)
_EXPM_DOUBLE = (5.371920351148152, (1.495585217958292e-002, 2.539398330063230e-001,
                                    9.504178996162932e-001, 2.097847961257068e+000),
                (3, 5, 7, 9, 13))
_EXPM_SINGLE = (3.925724783138660, (4.258730016922831e-001, 1.880152677804762e+000),
                (3, 5, 7))


def _pade_table(degrees, dtype) -> np.ndarray:
    """The coefficients b_0..b_13 of each degree's Padé approximant, zero beyond its
    degree: row k for degrees[k]."""
    table = np.zeros((len(degrees), 14))
    for row, degree in enumerate(degrees):
        table[row, :degree + 1] = _PADE[degree]
    return table.astype(dtype)


def _pade(b, a):
    """(U, V): the odd and even parts of the Padé numerator, p(A) = U + V, q(A) = V - U, for
    the coefficients b (14,) of any degree up to 13 (zeros above it), in the evaluation
    order of degree 13 (Higham's): with a lower degree the extra terms are exact zeros, so
    one program serves every degree and no branch is needed."""
    n = _shape(a)[-1]
    eye = fnp.eye(n, dtype=_dtype(a))
    a2 = _mm(a, a)
    a4 = _mm(a2, a2)
    a6 = _mm(a4, a2)

    def terms(*pairs):  # Σ b_k A^k over (k, A^k), highest first
        total = None
        for k, power in pairs:
            term = fnp.multiply(b[k], power)
            total = term if total is None else fnp.add(total, term)
        return total

    u_high = _mm(a6, terms((13, a6), (11, a4), (9, a2)))
    u = _mm(a, fnp.add(u_high, terms((7, a6), (5, a4), (3, a2), (1, eye))))
    v_high = _mm(a6, terms((12, a6), (10, a4), (8, a2)))
    v = fnp.add(v_high, terms((6, a6), (4, a4), (2, a2), (0, eye)))
    return u, v


def _expm_matrix(a, upper_triangular: bool, max_squarings: int):
    dtype = _dtype(a)
    real = dt.real_dtype(dtype)
    maxnorm, bounds, degrees = _EXPM_DOUBLE if real == np.float64 else _EXPM_SINGLE
    norm1 = _fla.norm(a, 1)
    squarings = fnp.maximum(0, fnp.floor(fnp.log2(fnp.divide(norm1, np.array(maxnorm, real)))))
    a = fnp.divide(a, _astype(fnp.power(np.array(2, real), squarings), dtype))
    # The lowest degree accurate for this norm (np.digitize of the norm in the bounds).
    index = fnp.sum(fnp.less_equal(np.asarray(bounds, real), norm1), dtype=np.int32)
    b = fnp.take(_pade_table(degrees, dtype), index, axis=0)
    u, v = _pade(b, a)
    p, q = fnp.add(u, v), fnp.subtract(v, u)
    r = solve_triangular(q, p) if upper_triangular else _fla.solve(q, p)

    def square(r, i):  # r², squarings times
        return fnp.where(fnp.less(i, squarings), _mm(r, r), r), None

    r, _ = _cf.scan(square, r, fnp.arange(max_squarings, dtype=real))
    # A matrix needing more than max_squarings squarings gives NaNs, as in JAX.
    return fnp.where(fnp.greater(squarings, max_squarings), np.array(np.nan, dtype), r)


def expm(A, *, upper_triangular: bool = False, max_squarings: int = 16):  # noqa: N803
    """The matrix exponential of square matrices (..., n, n), by scaling and squaring with a
    Padé approximant (degree 3 to 13 by the 1-norm, as JAX and SciPy).

    Arguments:
        upper_triangular: A is upper triangular (the Padé quotient is a triangular solve).
        max_squarings: the most squarings allowed; a matrix needing more gives NaNs.

    Returns:
        exp(A), of A's shape. Its derivative is the derivative of this computation (the
        squarings and the solve differentiated, the choice of degree and of the number of
        squarings held fixed), which approximates the Fréchet derivative of exp as closely
        as the value approximates exp.
    """
    (a,) = _inexact("expm", A)
    _square("expm", a)
    if _dtype(a) not in (np.float32, np.float64, np.complex64, np.complex128):
        raise ShapeDtypeError(at_user_line(
            f"{_NS}.expm takes float32, float64, complex64 or complex128 matrices, got "
            f"{_dtype(a)}."))
    max_squarings = operator.index(max_squarings)
    shape = _shape(a)
    run = functools.partial(_expm_matrix, upper_triangular=bool(upper_triangular),
                            max_squarings=max_squarings)
    if len(shape) == 2:
        return run(a)
    flat = fnp.reshape(a, (-1, *shape[-2:]))
    return fnp.reshape(_vmap(run)(flat), shape)


def expm_frechet(A, E, *, method=None, compute_expm: bool = True):  # noqa: N803
    """The Fréchet derivative of expm at A in the direction E (fgrad's JVP of expm), and
    expm(A) first unless compute_expm is False. `method` is ignored, as in JAX."""
    del method  # unused, as in JAX
    a, e = fnp.asarray(A), fnp.asarray(E)
    for what, x in (("A", a), ("E", e)):
        if len(_shape(x)) < 2 or _shape(x)[-1] != _shape(x)[-2]:
            raise ShapeDtypeError(at_user_line(
                f"{_NS}.expm_frechet expects {what} to be a (batched) square matrix, got "
                f"shape {_shape(x)}."))
    if _shape(a) != _shape(e):
        raise ShapeDtypeError(at_user_line(
            f"{_NS}.expm_frechet expects A and E of one shape, got {_shape(a)} and "
            f"{_shape(e)}."))
    value, derivative = _jvp(expm, (a,), (e,))
    return (value, derivative) if compute_expm else derivative


# -- special matrices ------------------------------------------------------------------------


def block_diag(*arrs):
    """The block-diagonal matrix of the given arrays (scalars, vectors as rows, matrices),
    promoted to one dtype."""
    if len(arrs) == 0:
        arrs = (fnp.zeros((1, 0)),)
    _check_arraylike("block_diag", *arrs, namespace=_NS)
    arrs = _promote_dtypes(*arrs)
    for i, x in enumerate(arrs):
        if len(_shape(x)) > 2:
            raise ShapeDtypeError(at_user_line(
                f"{_NS}.block_diag takes arrays of at most 2 dimensions, got shape "
                f"{_shape(x)} at argument {i}."))
    blocks = [fnp.atleast_2d(x) for x in arrs]
    total = sum(_shape(x)[1] for x in blocks)
    rows, start = [], 0
    for x in blocks:
        cols = _shape(x)[1]
        rows.append(fnp.pad(x, ((0, 0), (start, total - cols - start))))
        start += cols
    return fnp.concatenate(rows, axis=0)


def _batched_pair(name: str, c, r):
    """c (..., m) and r (..., n) with their leading axes broadcast."""
    batch = _broadcast_shapes(name, _shape(c)[:-1], _shape(r)[:-1])
    return (fnp.broadcast_to(c, (*batch, _shape(c)[-1])),
            fnp.broadcast_to(r, (*batch, _shape(r)[-1])))


def toeplitz(c, r=None):
    """The Toeplitz matrix with first column c and first row r (default conj(c)); c[0]
    wins the corner. Batched: c (..., m) and r (..., n) give (..., m, n)."""
    if r is None:
        _check_arraylike("toeplitz", c, namespace=_NS)
        r = fnp.conj(fnp.asarray(c))
    else:
        _check_arraylike("toeplitz", c, r, namespace=_NS)
    c, r = _promote_dtypes(fnp.atleast_1d(c), fnp.atleast_1d(r))
    c, r = _batched_pair("toeplitz", c, r)
    m, n = _shape(c)[-1], _shape(r)[-1]
    if m == 0 or n == 0:
        return fnp.zeros((*_shape(c)[:-1], m, n), _dtype(c))
    elements = fnp.concatenate([fnp.flip(c, -1), r[..., 1:]], axis=-1)
    index = (m - 1) - np.arange(m)[:, None] + np.arange(n)[None, :]
    return fnp.take(elements, index, axis=-1)


def hankel(c, r=None):
    """The Hankel matrix with first column c and last row r (default zeros); c[-1] wins the
    corner. Batched over leading axes."""
    if r is None:
        _check_arraylike("hankel", c, namespace=_NS)
        c = fnp.asarray(c)
        r = fnp.zeros_like(c)
    else:
        _check_arraylike("hankel", c, r, namespace=_NS)
        c, r = fnp.asarray(c), fnp.asarray(r)
    for what, x in (("c", c), ("r", r)):
        if len(_shape(x)) == 0:
            raise ShapeDtypeError(at_user_line(
                f"{_NS}.hankel: {what} must be at least 1-dimensional, got a scalar."))
    c, r = _promote_dtypes(c, r)
    c, r = _batched_pair("hankel", c, r)
    m, n = _shape(c)[-1], _shape(r)[-1]
    if m == 0 or n == 0:
        return fnp.zeros((*_shape(c)[:-1], m, n), _dtype(c))
    elements = fnp.concatenate([c, r[..., 1:]], axis=-1)
    return fnp.take(elements, np.arange(m)[:, None] + np.arange(n)[None, :], axis=-1)


def circulant(c):
    """The circulant matrix whose first column is c (..., n): C[i, j] = c[(i - j) mod n]."""
    _check_arraylike("circulant", c, namespace=_NS)
    c = fnp.atleast_1d(c)
    n = _shape(c)[-1]
    return fnp.take(c, (np.arange(n)[:, None] - np.arange(n)[None, :]) % n, axis=-1)


def leslie(f, s):
    """The Leslie matrix: fecundities f (..., n) in the first row, survival rates s
    (..., n - 1) on the subdiagonal."""
    _check_arraylike("leslie", f, s, namespace=_NS)
    f, s = fnp.atleast_1d(f), fnp.atleast_1d(s)
    n = _shape(f)[-1]
    if n < 2:
        raise ShapeDtypeError(at_user_line(
            f"{_NS}.leslie: f needs at least 2 elements along its last axis, got shape "
            f"{_shape(f)}."))
    if _shape(s)[-1] != n - 1:
        raise ShapeDtypeError(at_user_line(
            f"{_NS}.leslie: s must have one element fewer than f along the last axis; got f "
            f"{_shape(f)} and s {_shape(s)}."))
    f, s = _promote_dtypes(f, s)
    f, s = _batched_pair("leslie", f, s)
    padded = fnp.pad(s, [(0, 0)] * (len(_shape(s)) - 1) + [(0, 1)])
    sub = fnp.take(padded, np.broadcast_to(np.arange(n)[None, :], (n, n)), axis=-1)
    rows, cols = np.arange(n)[:, None], np.arange(n)[None, :]
    zero = np.array(0, _dtype(f))
    out = fnp.where(rows == cols + 1, sub, zero)
    return fnp.where(rows == 0, fnp.expand_dims(f, -2), out)


def companion(a):
    """The companion matrix of the polynomial with coefficients a (..., n) (highest degree
    first): first row -a[1:] / a[0], ones on the subdiagonal."""
    (a,) = _inexact("companion", a)
    a = fnp.atleast_1d(a)
    if _shape(a)[-1] < 2:
        raise ShapeDtypeError(at_user_line(
            f"{_NS}.companion: a needs at least 2 elements along its last axis, got shape "
            f"{_shape(a)}."))
    first = fnp.negative(fnp.divide(a[..., 1:], a[..., :1]))
    m = _shape(a)[-1] - 1
    rows = np.arange(m)[:, None]
    out = fnp.broadcast_to(fnp.eye(m, m, k=-1, dtype=_dtype(a)), (*_shape(a)[:-1], m, m))
    return fnp.where(rows == 0, fnp.expand_dims(first, -2), out)


def fiedler(a):
    """The symmetric Fiedler matrix |a_i - a_j| of a (..., n)."""
    _check_arraylike("fiedler", a, namespace=_NS)
    a = fnp.atleast_1d(a)
    return fnp.abs(fnp.subtract(a[..., :, None], a[..., None, :]))


def fiedler_companion(a):
    """The Fiedler companion matrix of the polynomial with coefficients a (..., n + 1): a
    pentadiagonal matrix with the companion matrix's characteristic polynomial."""
    (a,) = _inexact("fiedler_companion", a)
    a = fnp.atleast_1d(a)
    if _shape(a)[-1] == 0:
        raise ShapeDtypeError(at_user_line(
            f"{_NS}.fiedler_companion: a must not be empty along its last axis, got shape "
            f"{_shape(a)}."))
    n = _shape(a)[-1] - 1
    batch = _shape(a)[:-1]
    dtype = _dtype(a)
    if n == 0:
        return fnp.zeros((*batch, 0, 0), dtype)
    a = fnp.divide(a, a[..., :1])
    if n == 1:
        return fnp.reshape(fnp.negative(a[..., 1:]), (*batch, 1, 1))
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    neg_a = fnp.negative(a)
    super_value = fnp.take(neg_a, np.broadcast_to(np.minimum(i + 2, n), (n, n)), axis=-1)
    sub_value = fnp.take(neg_a, np.broadcast_to(np.minimum(i + 1, n), (n, n)), axis=-1)
    even, odd = i % 2 == 0, i % 2 == 1
    one = np.array(1, dtype)
    first = fnp.broadcast_to(neg_a[..., 1, None, None], (*batch, n, n))
    conditions = [(i == 0) & (j == 0), (i == 1) & (j == 0), (j == i + 1) & even,
                  (j == i + 2) & even, (j == i - 1) & even & (i >= 2),
                  (j == i - 2) & odd & (i >= 3)]
    choices = [first, one, super_value, one, sub_value, one]
    out = fnp.zeros((*batch, n, n), dtype)
    for condition, choice in reversed(list(zip(conditions, choices))):
        out = fnp.where(np.broadcast_to(condition, (n, n)), choice, out)
    return out


def convolution_matrix(a, n: int, mode: str = "full"):
    """The Toeplitz matrix T with T @ v = convolve(a, v, mode) for v of length n; batched
    over a's leading axes."""
    n = operator.index(n)
    if n <= 0:
        raise ShapeDtypeError(at_user_line(
            f"{_NS}.convolution_matrix: n must be a positive integer, got {n}."))
    _check_arraylike("convolution_matrix", a, namespace=_NS)
    a = fnp.asarray(a)
    if len(_shape(a)) == 0:
        raise ShapeDtypeError(at_user_line(
            f"{_NS}.convolution_matrix: a must be at least 1-dimensional, got a scalar."))
    m = _shape(a)[-1]
    if m < 1:
        raise ShapeDtypeError(at_user_line(
            f"{_NS}.convolution_matrix: a must not be empty, got shape {_shape(a)}."))
    if mode not in ("full", "valid", "same"):
        raise ValueError(at_user_line(
            f"{_NS}.convolution_matrix: mode must be 'full', 'valid' or 'same', got "
            f"{mode!r}."))
    widths = [(0, 0)] * (len(_shape(a)) - 1) + [(0, n - 1)]
    padded = fnp.pad(a, widths)
    reversed_padded = fnp.pad(fnp.flip(a, -1), widths)
    length = m + n - 1
    if mode == "same":
        trim = min(n, m) - 1
        begin = trim // 2
        end = trim - begin
    elif mode == "valid":
        begin = end = min(n, m) - 1
    else:
        begin = end = 0
    column = padded[..., begin:length - end]
    row = reversed_padded[..., length - n - begin:length - begin]
    return toeplitz(column, row)


def hilbert(n: int):
    """The Hilbert matrix 1 / (i + j + 1), (n, n), in the default float dtype."""
    n = operator.index(n)
    i = fnp.arange(n, dtype=dt.default_float())
    return fnp.divide(1, fnp.add(fnp.add(i[:, None], i[None, :]), 1))


def invhilbert(n: int):
    """The inverse of the Hilbert matrix of order n (integers, exactly computed, in the
    default float dtype)."""
    n = operator.index(n)
    c = math.comb
    values = [[(-1) ** (i + j) * (i + j + 1) * c(n + i, n - j - 1) * c(n + j, n - i - 1)
               * c(i + j, i) ** 2 for j in range(n)] for i in range(n)]
    return fnp.asarray(np.array(values, dtype=np.float64).reshape(n, n), dt.default_float())


def _check_kind(kind):
    kind = "symmetric" if kind is None else kind
    if kind not in ("symmetric", "lower", "upper"):
        raise ValueError(at_user_line(
            f"{_NS}: kind must be 'symmetric', 'lower' or 'upper', got {kind!r}."))
    return kind


def pascal(n: int, kind: str | None = None):
    """The Pascal matrix (binomial coefficients; 'lower', 'upper' or 'symmetric' =
    lower @ upper), float32 as in JAX, its integers computed exactly."""
    n = operator.index(n)
    kind = _check_kind(kind)
    lower = np.array([[math.comb(i, j) for j in range(n)] for i in range(n)],
                     dtype=np.float64).reshape(n, n)
    values = {"lower": lower, "upper": lower.T, "symmetric": lower @ lower.T}[kind]
    return fnp.asarray(values, np.float32)


def invpascal(n: int, kind: str | None = None):
    """The inverse of pascal(n, kind), exactly computed, in the default float dtype."""
    n = operator.index(n)
    kind = _check_kind(kind)
    inverse = np.array([[(-1) ** (i - j) * math.comb(i, j) for j in range(n)]
                        for i in range(n)], dtype=np.float64).reshape(n, n)
    values = {"lower": inverse, "upper": inverse.T, "symmetric": inverse.T @ inverse}[kind]
    return fnp.asarray(values, dt.default_float())


def helmert(n: int, full: bool = False):
    """The Helmert matrix of order n: (n - 1, n), or (n, n) with full (its first row
    constant 1/√n); orthonormal rows."""
    n = operator.index(n)
    if n < 1:
        raise ValueError(at_user_line(f"{_NS}.helmert: n must be positive, got {n}."))
    dtype = dt.default_float()
    i = fnp.arange(n - 1, dtype=dtype)[:, None]
    j = fnp.arange(n, dtype=dtype)[None, :]
    k = fnp.add(i, 1)
    denominator = fnp.sqrt(fnp.multiply(k, fnp.add(k, 1)))
    h = fnp.where(fnp.less_equal(j, i), fnp.divide(1, denominator),
                  fnp.where(fnp.equal(j, k), fnp.negative(fnp.divide(k, denominator)),
                            np.array(0, dtype)))
    if full:
        first = fnp.full((1, n), 1 / math.sqrt(n), dtype)
        h = fnp.concatenate([first, h], axis=0)
    return h


def hadamard(n: int, dtype=int):
    """The Hadamard matrix of order n, a power of 2 (Sylvester's construction)."""
    n = operator.index(n)
    if n < 1 or not math.log2(n).is_integer():
        raise ValueError(at_user_line(
            f"{_NS}.hadamard: n must be a positive power of 2, got {n}."))
    h = np.ones((1, 1), dtype=np.int64)
    for _ in range(int(math.log2(n))):
        h = np.block([[h, h], [h, -h]])
    return fnp.asarray(h, _user_dtype(dtype, "hadamard"))


def dft(n: int, scale: str | None = None, *, dtype=None):
    """The discrete Fourier transform matrix exp(-2πi jk / n), scaled by 1/√n ('sqrtn') or
    1/n ('n'); complex (the default complex dtype unless dtype is given)."""
    n = operator.index(n)
    if scale is not None and scale not in ("sqrtn", "n"):
        raise ValueError(at_user_line(
            f"{_NS}.dft: scale must be None, 'sqrtn' or 'n', got {scale!r}."))
    if dtype is None:
        dtype = np.dtype(np.complex128) if dt.default_float() == np.float64 else np.dtype(
            np.complex64)
    else:
        dtype = _user_dtype(dtype, "dft")
        if not dt.is_complex(dtype):
            raise ValueError(at_user_line(
                f"{_NS}.dft: dtype must be a complex floating-point type, got {dtype}."))
    a = fnp.arange(n, dtype=dtype)
    omegas = fnp.exp(fnp.multiply(-2j * np.pi / n, fnp.multiply(a[:, None], a[None, :])))
    if scale == "sqrtn":
        omegas = fnp.divide(omegas, math.sqrt(n))
    elif scale == "n":
        omegas = fnp.divide(omegas, n)
    return omegas


def __getattr__(name: str):
    if name in _MISSING:
        raise AttributeError(at_user_line(
            f"module {_NS!r} has no attribute {name!r}: {_MISSING[name]}."))
    raise _missing_attribute(_NS, _jax_linalg, name, globals())
