"""fgrad.numpy.linalg: jax.numpy.linalg on fgrad's primitives.

Every function has jax.numpy.linalg's signature, dtype promotion (integers become floats)
and batching (leading axes of a (..., m, n) operand are a batch), and is a composition of
fgrad.lax primitives: `lu`, `qr` (fgrad/lax/factorizations.py), `eigh`, `svd`, `eig`
(fgrad/lax/eigen.py), `cholesky`, `triangular_solve`, `dot_general` (fgrad/lax/linalg.py)
and `custom_linear_solve` (fgrad/lax/implicit.py). So each works eagerly, under every fgrad
transformation and inside jax.jit, and its derivative is the one matrix calculus gives:

- `solve` differentiates implicitly (custom_linear_solve): the derivative solves again with
  the same LU factors (the transposed factors in reverse mode) instead of differentiating
  the elimination.
- `det` has JAX's derivative rule: the tangent is trace(adj(A) dA), computed from the LU
  factors by a "cofactor solve" that stays finite when A is singular of rank n - 1 (where
  A⁻¹ does not exist but the adjugate does). `slogdet`'s tangent is trace(A⁻¹ dA).
- `pinv` has the derivative of the Moore-Penrose inverse of a matrix of constant rank
  (Golub and Pereyra), as JAX's; `lstsq`, `norm` of ord 2/-2/'nuc', `cond`, `svdvals`,
  `matrix_rank`... differentiate through the SVD.

docs/linalg_derivatives.md explains the eigen- and singular-value derivatives.
"""


import math as _math
import operator as _operator
from typing import Any as _Any
from typing import NamedTuple as _NamedTuple

import jax.numpy as _jnp
import numpy as _np

import fgrad.numpy as _fnp
from fgrad.core import aval_of as _aval_of
from fgrad.core import dtypes as _dt
from fgrad.core.errors import ShapeDtypeError as _ShapeDtypeError
from fgrad.core.errors import at_user_line as _at_user_line
from fgrad.core.errors import missing_attribute as _missing_attribute
from fgrad.lax import control_flow as _control_flow
from fgrad.lax import eigen as _lax_eigen
from fgrad.lax import factorizations as _lax_fact
from fgrad.lax import linalg as _lax_linalg
from fgrad.lax.custom import custom_jvp as _custom_jvp
from fgrad.lax.implicit import custom_linear_solve as _custom_linear_solve
from fgrad.numpy._core import broadcast_shapes as _broadcast_shapes
from fgrad.numpy._core import canonical_axis as _canonical_axis
from fgrad.numpy._core import check_arraylike as _check_arraylike
from fgrad.numpy._core import convert as _convert
from fgrad.numpy._core import promote_dtypes as _promote_dtypes
from fgrad.numpy._einsum import matmul as _matmul
from fgrad.numpy._einsum import tensordot as _tensordot
from fgrad.numpy._einsum import vecdot as _vecdot
from fgrad.transforms.stop_gradient import stop_gradient as _stop_gradient

__all__ = [
    "cholesky", "cond", "cross", "det", "diagonal", "eig", "eigh", "eigvals", "eigvalsh", "inv",
    "lstsq", "matmul", "matrix_norm", "matrix_power", "matrix_rank", "matrix_transpose",
    "multi_dot", "norm", "outer", "pinv", "qr", "slogdet", "solve", "svd", "svdvals",
    "tensordot", "tensorinv", "tensorsolve", "trace", "vecdot", "vector_norm",
]

_NS = "fgrad.numpy.linalg"

# The result types, as jax.numpy.linalg names them (JAX does not export them either).
_EighResult = _NamedTuple("EighResult", [("eigenvalues", _Any), ("eigenvectors", _Any)])
_EigResult = _NamedTuple("EigResult", [("eigenvalues", _Any), ("eigenvectors", _Any)])
_QRResult = _NamedTuple("QRResult", [("Q", _Any), ("R", _Any)])
_SlogdetResult = _NamedTuple("SlogdetResult", [("sign", _Any), ("logabsdet", _Any)])
_SVDResult = _NamedTuple("SVDResult", [("U", _Any), ("S", _Any), ("Vh", _Any)])

# -- helpers ---------------------------------------------------------------------------------


def _shape(x) -> tuple:
    return _aval_of(x).shape


def _dtype(x) -> _np.dtype:
    return _aval_of(x).dtype


def _is_complex(x) -> bool:
    return _dt.is_complex(_dtype(x))


def _inexact(name: str, *args) -> list:
    """The operands checked and promoted to one inexact dtype, as jax.numpy.linalg does."""
    _check_arraylike(f"linalg.{name}", *args)
    return _promote_dtypes(*args, kind="inexact")


def _matrices(name: str, x, square: bool = False) -> None:
    shape = _shape(x)
    if len(shape) < 2 or (square and shape[-1] != shape[-2]):
        what = "square matrices of shape (..., n, n)" if square else "matrices (..., m, n)"
        raise _ShapeDtypeError(_at_user_line(
            f"{_NS}.{name} needs {what}, not an array of shape {shape}."))


def _astype(x, dtype):
    return _convert(x, _np.dtype(dtype))


def _mT(x):
    return _fnp.matrix_transpose(x)


def _H(x):
    return _fnp.conj(_mT(x)) if _is_complex(x) else _mT(x)


def _mm(x, y, precision=None):
    return _matmul(x, y, precision=precision)


def _eye(n: int, dtype, batch: tuple = ()):
    eye = _fnp.eye(n, dtype=dtype)
    return _fnp.broadcast_to(eye, (*batch, n, n)) if batch else eye


def _trace(x):
    return _fnp.trace(x, axis1=-2, axis2=-1)


def _diag(x):
    return _fnp.diagonal(x, axis1=-2, axis2=-1)


def _sq_abs(x):
    """|x|², real."""
    return _fnp.real(_fnp.multiply(x, _fnp.conj(x))) if _is_complex(x) else _fnp.multiply(x, x)


def _eps(dtype) -> float:
    return float(_np.finfo(_dt.real_dtype(_np.dtype(dtype))).eps)


def _rows_along(index, like):
    """An index vector (..., n) as (..., n, 1), for gathering the rows of `like` (..., n, k)."""
    return _fnp.broadcast_to(_fnp.expand_dims(index, -1), (*_shape(index), _shape(like)[-1]))


# -- triangular and LU solves (batched: every operand has the same leading axes) -------------


def _triangular(a, b, *, lower: bool, unit_diagonal: bool = False, transpose: bool = False,
                conjugate: bool = False):
    """x with op(a) x = b, for triangular a (..., n, n) and b (..., n, k); op(a) is a, aᵀ or
    aᴴ."""
    if not _is_complex(a):
        return _lax_linalg.triangular_solve(a, b, left_side=True, lower=lower,
                                            transpose_a=transpose, unit_diagonal=unit_diagonal)
    if transpose:
        a, lower = _mT(a), not lower
    if conjugate:
        a = _fnp.conj(a)
    # fgrad.lax.linalg.triangular_solve is real-only for now; factorizations' solver takes
    # complex matrices (by a real embedding until triangular_solve takes them itself).
    return _lax_fact._solve(a, b, left_side=True, lower=lower, unit_diagonal=unit_diagonal)


def _lu_solve(lu, permutation, b, trans: int):
    """x with A x = b (trans 0), Aᵀ x = b (1) or Aᴴ x = b (2), for P A = L U packed in `lu`
    (..., n, n) with `permutation` (..., n); b (..., n, k) has lu's leading axes."""
    if trans == 0:
        x = _fnp.take_along_axis(b, _rows_along(permutation, b), axis=-2)
        x = _triangular(lu, x, lower=True, unit_diagonal=True)
        return _triangular(lu, x, lower=False)
    conjugate = trans == 2
    x = _triangular(lu, b, lower=False, transpose=True, conjugate=conjugate)
    x = _triangular(lu, x, lower=True, unit_diagonal=True, transpose=True, conjugate=conjugate)
    inverse = _fnp.argsort(permutation, axis=-1)
    return _fnp.take_along_axis(x, _rows_along(inverse, x), axis=-2)


def _solve_matrices(a, b):
    """x with a x = b for a (..., n, n) and b (..., n, k) of equal leading axes: one linear
    system of all the batch, solved and differentiated with the LU factors of a."""
    lu, _, permutation = _lax_fact.lu(_stop_gradient(a))
    return _custom_linear_solve(
        lambda x: _mm(a, x), b,
        solve=lambda _, x: _lu_solve(lu, permutation, x, 0),
        transpose_solve=lambda _, x: _lu_solve(lu, permutation, x, 1))


def _solve(a, b, vector: bool):
    """jnp.linalg.solve's broadcasting: a (..., n, n) with b (n,) [vector] or (..., n, k)."""
    a_batch = _shape(a)[:-2]
    if vector:
        b = _fnp.expand_dims(b, -1)
    b_shape = _shape(b)
    n, k = b_shape[-2:]
    if not a_batch and len(b_shape) > 2:
        # One matrix for a batch of right-hand sides: they are more columns of one system,
        # so the matrix is factored once.
        lead = b_shape[:-2]
        columns = _fnp.reshape(_fnp.moveaxis(b, -2, 0), (n, -1))
        x = _solve_matrices(a, columns)
        x = _fnp.moveaxis(_fnp.reshape(x, (n, *lead, k)), 0, -2)
    else:
        batch = _broadcast_shapes("linalg.solve", a_batch, b_shape[:-2])
        a = _fnp.broadcast_to(a, (*batch, n, n))
        b = _fnp.broadcast_to(b, (*batch, n, k))
        x = _solve_matrices(a, b)
    if vector:
        x = _fnp.squeeze(x, -1)
    return x


def solve(a, b):
    """The solution x of the linear system a x = b.

    Arguments:
        a: matrices of shape (..., n, n).
        b: a vector (n,), or matrices (..., n, k) whose leading axes broadcast with a's.

    Returns:
        x of shape (..., n) or (..., n, k). Derivatives solve again with the same LU
        factors (implicit differentiation), so they cost a triangular solve each.
    """
    a, b = _inexact("solve", a, b)
    a_shape, b_shape = _shape(a), _shape(b)
    if len(a_shape) < 2:
        raise _ShapeDtypeError(_at_user_line(
            f"{_NS}.solve: the left-hand side must be at least two-dimensional, got an array "
            f"of shape {a_shape}."))
    if (len(b_shape) > 1 and len(a_shape) == len(b_shape) + 1 and a_shape[-1] == b_shape[-1]
            and a_shape[-1] != b_shape[-2]):
        raise _ShapeDtypeError(_at_user_line(
            f"{_NS}.solve: invalid shapes {a_shape} and {b_shape}: b is a batch of matrices "
            f"(..., n, k), not of vectors. For a batch of vector right-hand sides use "
            f"solve(a, b[..., None])[..., 0]."))
    if a_shape[-1] != a_shape[-2]:
        raise _ShapeDtypeError(_at_user_line(
            f"{_NS}.solve: a must be square matrices (..., n, n), got shape {a_shape}."))
    vector = len(b_shape) == 1
    if len(b_shape) == 0 or b_shape[-1 if vector else -2] != a_shape[-1]:
        raise _ShapeDtypeError(_at_user_line(
            f"{_NS}.solve: b must have shape (n,) or (..., n, k) with n = {a_shape[-1]}, a's "
            f"size; got {b_shape}."))
    return _solve(a, b, vector)


def inv(a):
    """The inverse of square matrices (..., n, n), computed as solve(a, I) (so derivatives
    are solves with a's LU factors: d(a⁻¹) = -a⁻¹ da a⁻¹)."""
    (a,) = _inexact("inv", a)
    shape = _shape(a)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise _ShapeDtypeError(_at_user_line(
            f"{_NS}.inv needs square matrices of shape (..., n, n), got {shape}."))
    # Promoted with the (strong) identity, as jnp.linalg.inv's call of solve does: a weakly
    # typed a is converted to a strong one, so its cotangent converts back to weak.
    a, eye = _promote_dtypes(a, _eye(shape[-1], _dtype(a), shape[:-2]))
    return _solve(a, eye, vector=False)


def matrix_power(a, n: int):
    """a raised to the integer power n (by repeated squaring; n < 0 inverts first, n = 0
    gives identities)."""
    _check_arraylike("linalg.matrix_power", a)
    a = _fnp.asarray(a)
    shape = _shape(a)
    if len(shape) < 2:
        raise _ShapeDtypeError(_at_user_line(
            f"{_NS}.matrix_power: {len(shape)}-dimensional array given; it must be at least "
            f"two-dimensional."))
    if shape[-2] != shape[-1]:
        raise _ShapeDtypeError(_at_user_line(
            f"{_NS}.matrix_power: the last two dimensions must be square, got {shape}."))
    try:
        n = _operator.index(n)
    except TypeError:
        raise _ShapeDtypeError(_at_user_line(
            f"{_NS}.matrix_power: the exponent must be an integer, got {n!r}.")) from None
    if n == 0:
        return _eye(shape[-1], _dtype(a), shape[:-2])
    if n < 0:
        a, n = inv(a), -n
    result, power = None, None
    while n > 0:
        power = a if power is None else _mm(power, power)
        n, bit = divmod(n, 2)
        if bit:
            result = power if result is None else _mm(result, power)
    return result


# -- determinants ----------------------------------------------------------------------------


def _lu_sign_logdet(a):
    """sign and log|det| of matrices (..., n, n) from their LU factors."""
    dtype = _dtype(a)
    n = _shape(a)[-1]
    lu, pivots, _ = _lax_fact.lu(a)
    diag = _diag(lu)
    is_zero = _fnp.any(_fnp.equal(diag, 0), axis=-1)
    parity = _fnp.count_nonzero(_fnp.not_equal(pivots, _fnp.arange(n, dtype=_dtype(pivots))),
                                axis=-1)
    if _is_complex(a):
        sign = _fnp.prod(_fnp.divide(diag, _astype(_fnp.abs(diag), dtype)), axis=-1)
    else:
        sign = _np.array(1, dtype)
        parity = _fnp.add(parity, _fnp.count_nonzero(_fnp.less(diag, 0), axis=-1))
    flip = _astype(_fnp.subtract(1, _fnp.multiply(2, _fnp.remainder(parity, 2))), dtype)
    sign = _fnp.where(is_zero, _np.array(0, dtype), _fnp.multiply(sign, flip))
    logdet = _fnp.where(is_zero, _np.array(-_np.inf, _dt.real_dtype(dtype)),
                        _fnp.sum(_fnp.log(_fnp.abs(diag)), axis=-1))
    return sign, logdet


def _small_det(a):
    """The determinant of 1 x 1 or 2 x 2 matrices, by formula."""
    if _shape(a)[-1] == 1:
        return a[..., 0, 0]
    return _fnp.subtract(_fnp.multiply(a[..., 0, 0], a[..., 1, 1]),
                         _fnp.multiply(a[..., 0, 1], a[..., 1, 0]))


def _small_sign_logdet(a):
    det = _small_det(a)
    return _fnp.sign(det), _fnp.real(_fnp.log(_fnp.abs(det)))


@_custom_jvp
def _slogdet_lu(a):
    if 0 < _shape(a)[-1] <= 2:
        return _small_sign_logdet(a)
    return _lu_sign_logdet(a)


@_custom_jvp
def _slogdet_qr(a):
    n = _shape(a)[-1]
    packed, taus = _geqrf(a)
    diag = _diag(packed)
    logdet = _fnp.sum(_fnp.log(_fnp.abs(diag)), axis=-1)
    # Each reflector with tau ≠ 0 has determinant -1 (LAPACK leaves the last one I).
    flips = _fnp.where(_fnp.not_equal(taus[..., :n - 1], 0), -1, 1)
    sign = _fnp.multiply(_fnp.prod(_fnp.sign(diag), axis=-1),
                         _astype(_fnp.prod(flips, axis=-1), _dtype(a)))
    return sign, logdet


def _slogdet_tangent(x, t, sign):
    """d log det = trace(x⁻¹ dx): its real part is d log|det|, its imaginary part turns the
    sign (a complex phase)."""
    n = _shape(x)[-1]
    if 0 < n <= 2:
        if n == 1:
            dlog = _fnp.divide(t[..., 0, 0], x[..., 0, 0])
        else:  # trace(adj(x) t) / det(x)
            adj_t = _fnp.subtract(
                _fnp.add(_fnp.multiply(t[..., 0, 0], x[..., 1, 1]),
                         _fnp.multiply(t[..., 1, 1], x[..., 0, 0])),
                _fnp.add(_fnp.multiply(t[..., 0, 1], x[..., 1, 0]),
                         _fnp.multiply(t[..., 1, 0], x[..., 0, 1])))
            dlog = _fnp.divide(adj_t, _small_det(x))
    else:
        dlog = _trace(_solve(x, t, vector=False))
    if _is_complex(x):
        real = _fnp.real(dlog)
        return _fnp.multiply(_fnp.subtract(dlog, _astype(real, _dtype(dlog))), sign), real
    return _fnp.zeros_like(sign), dlog


def _slogdet_lu_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    sign, logdet = _slogdet_lu(x)
    return (sign, logdet), _slogdet_tangent(x, t, sign)


def _slogdet_qr_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    sign, logdet = _slogdet_qr(x)
    return (sign, logdet), _slogdet_tangent(x, t, sign)


_slogdet_lu.defjvp(_slogdet_lu_jvp)
_slogdet_qr.defjvp(_slogdet_qr_jvp)


def slogdet(a, *, method: str | None = None):
    """The sign and the natural logarithm of the absolute value of the determinant.

    Arguments:
        a: square matrices (..., n, n).
        method: 'lu' (None, the default: from the LU factorization) or 'qr' (from a
            Householder QR factorization; real matrices only).

    Returns:
        SlogdetResult(sign, logabsdet): sign is ±1 (a unit complex number for complex a, 0
        for a singular matrix, whose logabsdet is -inf). The derivative of logabsdet is
        Re trace(a⁻¹ da); the gradient of logabsdet with respect to a is a⁻ᵀ (conjugated
        for complex a).
    """
    (a,) = _inexact("slogdet", a)
    shape = _shape(a)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise _ShapeDtypeError(_at_user_line(
            f"{_NS}.slogdet needs square matrices of shape (..., n, n), got {shape}."))
    if method is None or method == "lu":
        return _SlogdetResult(*_slogdet_lu(a))
    if method == "qr":
        if _is_complex(a):
            raise ValueError(_at_user_line(
                f"{_NS}.slogdet: method='qr' takes real matrices only (as in JAX); use "
                f"method='lu' for complex ones."))
        return _SlogdetResult(*_slogdet_qr(a))
    raise ValueError(_at_user_line(
        f"{_NS}.slogdet: unknown method {method!r}; the methods are 'lu' (or None) and "
        f"'qr'."))


def _cofactor_solve(a, b):
    """(det a, adj(a) b) for square a and b (..., n, n) of one shape, from a's LU factors.

    Equal to (det a, det a · a⁻¹ b) where a is invertible, and still right (the adjugate
    exists) where a is singular of rank n - 1: U's last diagonal element is then the zero
    one (pivoting puts it last), so U is replaced by U with that element set to
    1 / (the product of the others), and the product of the others multiplies everything
    else. Where a has rank < n - 1 the adjugate is zero, and so is the result.
    """
    n = _shape(a)[-1]
    if n == 0:  # the determinant of an empty matrix is 1, its adjugate empty
        return _fnp.ones(_shape(a)[:-2], _dtype(a)), b
    if n == 1:
        return a[..., 0, 0], b
    dtype = _dtype(a)
    lu, pivots, permutation = _lax_fact.lu(a)
    diag = _diag(lu)
    parity = _fnp.count_nonzero(_fnp.not_equal(pivots, _fnp.arange(n, dtype=_dtype(pivots))),
                                axis=-1)
    sign = _astype(_fnp.subtract(1, _fnp.multiply(2, _fnp.remainder(parity, 2))), dtype)
    partial_det = _fnp.multiply(_fnp.cumprod(diag, axis=-1), sign[..., None])
    last = _fnp.logical_and(_fnp.arange(n)[:, None] == n - 1, _fnp.arange(n)[None, :] == n - 1)
    lu = _fnp.where(last, _fnp.divide(1, partial_det[..., -2])[..., None, None], lu)
    ones = _fnp.ones((*_shape(b)[:-1], 1), dtype)
    d = _triangular(lu, ones, lower=False)
    degenerate = _fnp.any(_fnp.logical_or(_fnp.isnan(d), _fnp.isinf(d)), axis=(-2, -1))
    degenerate = degenerate[..., None, None]
    x = _fnp.where(degenerate, _fnp.zeros_like(b), b)
    x = _fnp.take_along_axis(x, _rows_along(permutation, x), axis=-2)
    x = _triangular(lu, x, lower=True, unit_diagonal=True)
    scale = _fnp.where(_fnp.arange(n)[:, None] == n - 1, _np.array(1, dtype),
                       partial_det[..., -1, None, None])
    x = _triangular(lu, _fnp.multiply(x, scale), lower=False)
    x = _fnp.where(degenerate, _fnp.zeros_like(x), x)
    return partial_det[..., -1], x


@_custom_jvp
def _det(a):
    sign, logdet = _lu_sign_logdet(a)
    return _fnp.multiply(sign, _astype(_fnp.exp(logdet), _dtype(sign)))


def _det_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    det, adj_t = _cofactor_solve(x, t)
    return det, _trace(adj_t)


_det.defjvp(_det_jvp)


def det(a):
    """The determinant of square matrices (..., n, n).

    2 x 2 and 3 x 3 matrices use the explicit formula; larger ones the LU factorization,
    whose derivative is d det = trace(adj(a) da), finite at singular matrices too (where
    the gradient is the transposed adjugate: nonzero for rank n - 1, zero below).
    """
    (a,) = _inexact("det", a)
    shape = _shape(a)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise _ShapeDtypeError(_at_user_line(
            f"{_NS}.det needs square matrices of shape (..., n, n), got {shape}."))
    n = shape[-1]
    if n == 2:
        return _small_det(a)
    if n == 3:
        m = [[a[..., i, j] for j in range(3)] for i in range(3)]
        mul = _fnp.multiply
        plus = [mul(mul(m[0][0], m[1][1]), m[2][2]), mul(mul(m[0][1], m[1][2]), m[2][0]),
                mul(mul(m[0][2], m[1][0]), m[2][1])]
        minus = [mul(mul(m[0][2], m[1][1]), m[2][0]), mul(mul(m[0][0], m[1][2]), m[2][1]),
                 mul(mul(m[0][1], m[1][0]), m[2][2])]
        total = plus[0]
        for term in plus[1:]:
            total = _fnp.add(total, term)
        for term in minus:
            total = _fnp.subtract(total, term)
        return total
    return _det(a)


# -- Householder QR as LAPACK computes it (for qr's 'raw' mode and slogdet's 'qr') ----------


def _reflector(column, rows, start: int, dtype):
    """LAPACK's larfg on column[..., start:] (column (..., m); `start` may be traced):
    (v, tau, beta, trivial) with v zero above `start` and v[start] = 1, such that
    (I - tau v vᴴ)ᴴ column[start:] = (beta, 0, ...): beta = -sign(Re alpha) ‖column[start:]‖
    with alpha = column[start], and tau = 0 (`trivial`, H = I) where the column is already
    (alpha, 0, ...) with real alpha. So the numbers are LAPACK's up to rounding."""
    zero = _np.array(0, dtype)
    alpha = _fnp.sum(_fnp.where(rows == start, column, zero), axis=-1)
    below = _fnp.where(rows > start, column, zero)
    xnorm2 = _fnp.sum(_sq_abs(below), axis=-1)
    trivial = _fnp.logical_and(xnorm2 == 0, _fnp.imag(alpha) == 0)
    norm = _fnp.sqrt(_fnp.add(_sq_abs(alpha), xnorm2))
    beta = _fnp.where(_fnp.real(alpha) >= 0, _fnp.negative(norm), norm)
    beta = _astype(_fnp.where(trivial, _np.array(1, _dtype(beta)), beta), dtype)
    tau = _fnp.where(trivial, zero, _fnp.divide(_fnp.subtract(beta, alpha), beta))
    scale = _fnp.where(trivial, _np.array(1, dtype), _fnp.subtract(alpha, beta))
    v = _fnp.where(rows == start, _np.array(1, dtype),
                   _fnp.where(rows > start, _fnp.divide(below, scale[..., None]), zero))
    return v, tau, beta, trivial


def _reflect_left(x, v, tau):
    """(I - tau v vᴴ) x, for x (..., m, n) and v (..., m)."""
    w = _fnp.sum(_fnp.multiply(_fnp.conj(v)[..., :, None], x), axis=-2)
    return _fnp.subtract(x, _fnp.multiply(_fnp.multiply(tau[..., None, None], v[..., :, None]),
                                          w[..., None, :]))


def _reflect_right(x, v, tau):
    """x (I - tau v vᴴ), for x (..., m, n) and v (..., n)."""
    w = _fnp.sum(_fnp.multiply(x, v[..., None, :]), axis=-1)
    return _fnp.subtract(x, _fnp.multiply(_fnp.multiply(tau[..., None, None], w[..., :, None]),
                                          _fnp.conj(v)[..., None, :]))


def _geqrf(a):
    """LAPACK's geqrf as a composition: (packed, taus) with R on and above packed's
    diagonal and the Householder vectors v_i (v_i[i] = 1 implied) below it, a = H_1 ⋯ H_k R
    with H_i = I - tau_i v_i v_iᴴ (see _reflector)."""
    shape = _shape(a)
    m, n = shape[-2:]
    k = min(m, n)
    dtype = _dtype(a)
    rows, cols = _fnp.arange(m), _fnp.arange(n)[None, :]

    def step(i, carry):
        a, taus = carry
        column = _fnp.sum(_fnp.where(cols == i, a, _np.array(0, dtype)), axis=-1)  # a[..., i]
        v, tau, beta, trivial = _reflector(column, rows, i, dtype)
        # Hᴴ to the columns right of i; column i becomes (beta, v below it) as LAPACK stores
        # it (unchanged where trivial).
        a = _fnp.where(cols > i, _reflect_left(a, v, _fnp.conj(tau)), a)
        reflected = _fnp.logical_and(rows > i, _fnp.logical_not(trivial)[..., None])
        diagonal = _fnp.where(trivial[..., None], column, beta[..., None])
        new_column = _fnp.where(rows == i, diagonal, _fnp.where(reflected, v, column))
        a = _fnp.where(cols == i, new_column[..., :, None], a)
        taus = _fnp.where(_fnp.arange(k) == i, tau[..., None], taus)
        return a, taus

    taus = _fnp.zeros((*shape[:-2], k), dtype)
    return _control_flow.fori_loop(0, k, step, (a, taus))


# -- factorizations --------------------------------------------------------------------------


def cholesky(a, *, upper: bool = False, symmetrize_input: bool = True):
    """The Cholesky factor of Hermitian (real: symmetric) positive-definite matrices, as
    jax.numpy.linalg.

    Arguments:
        a: matrices of shape (..., n, n), real or complex (integers are promoted to floats).
        upper: return the upper factor U = Lᴴ (a = Uᴴ U) instead of the lower L (a = L Lᴴ).
        symmetrize_input: factor (a + aᴴ) / 2, so both triangles of `a` count (and the
            gradient with respect to `a` is Hermitian); otherwise only the lower one is read.

    Returns:
        The factor, of a's shape; NaNs for a matrix that is not positive definite.
    """
    (a,) = _inexact("cholesky", a)
    if len(_shape(a)) < 2:
        raise _ShapeDtypeError(_at_user_line(
            f"{_NS}.cholesky needs matrices of shape (..., n, n), not an array of shape "
            f"{_shape(a)}."))
    factor = _lax_linalg.cholesky(a, symmetrize_input=symmetrize_input)
    return _H(factor) if upper else factor


def qr(a, mode: str = "reduced"):
    """The QR factorization a = Q R of matrices (..., m, n).

    Arguments:
        mode: 'reduced' (or 'full', NumPy's old name for it): Q (..., m, k) and R
            (..., k, n), k = min(m, n); 'complete': Q (..., m, m) and R (..., m, n); 'r':
            only R (reduced); 'raw': LAPACK's Householder form (h, tau), h (..., n, m)
            holding R and the reflectors, as numpy.linalg.qr(mode='raw') returns it.

    Returns:
        QRResult(Q, R), R alone for 'r'. Q and R are differentiable where a has full column
        rank (the columns beyond n of a complete Q are not determined by a; their derivative
        is that of the Householder construction, as in JAX).
    """
    (a,) = _inexact("qr", a)
    _matrices("qr", a)
    if mode == "raw":
        packed, taus = _geqrf(a)
        return _QRResult(_mT(packed), taus)
    if mode in ("reduced", "r", "full"):
        full_matrices = False
    elif mode == "complete":
        full_matrices = True
    else:
        raise ValueError(_at_user_line(
            f"{_NS}.qr: unsupported mode {mode!r}; the modes are 'reduced', 'complete', 'r' "
            f"and 'raw'."))
    q, r = _lax_fact.qr(a, pivoting=False, full_matrices=full_matrices)
    return r if mode == "r" else _QRResult(q, r)


def _uplo_lower(name: str, UPLO) -> bool:  # noqa: N803
    if UPLO is None or UPLO == "L":
        return True
    if UPLO == "U":
        return False
    raise ValueError(_at_user_line(
        f"{_NS}.{name}: UPLO must be None, 'L' or 'U', got {UPLO!r}."))


def eigh(a, UPLO: str | None = None, symmetrize_input: bool = True):  # noqa: N803
    """Eigenvalues and eigenvectors of Hermitian (real symmetric) matrices (..., n, n).

    Arguments:
        UPLO: 'L' (or None) reads the lower triangle, 'U' the upper, when symmetrize_input
            is False.
        symmetrize_input: decompose (a + aᴴ) / 2 (both triangles count, and the gradient
            is Hermitian).

    Returns:
        EighResult(eigenvalues (..., n) ascending, eigenvectors (..., n, n) as columns).
        Eigenvector derivatives are infinite or NaN where eigenvalues repeat (as in JAX);
        eigenvalue derivatives are not (docs/linalg_derivatives.md).
    """
    _check_arraylike("linalg.eigh", a)
    lower = _uplo_lower("eigh", UPLO)
    (a,) = _promote_dtypes(a, kind="inexact")
    _matrices("eigh", a, square=True)
    v, w = _lax_eigen.eigh(a, lower=lower, symmetrize_input=symmetrize_input)
    return _EighResult(w, v)


def eigvalsh(a, UPLO: str | None = "L", *, symmetrize_input: bool = True):  # noqa: N803
    """The eigenvalues (ascending) of Hermitian matrices; see eigh."""
    return eigh(a, UPLO, symmetrize_input=symmetrize_input).eigenvalues


def eig(a):
    """Eigenvalues and right eigenvectors of general square matrices (CPU only, as in JAX).

    Returns:
        EigResult(eigenvalues (..., n), eigenvectors (..., n, n)), both complex; each
        eigenvector has unit norm. Eigenvalue derivatives exist for distinct eigenvalues;
        eigenvector derivatives are refused, as in JAX (use fgrad.lax.eigen.eig with
        enable_eigvec_derivs=True where the eigenvalues are distinct).
    """
    (a,) = _inexact("eig", a)
    _matrices("eig", a, square=True)
    w, v = _lax_eigen.eig(a, compute_left_eigenvectors=False)
    return _EigResult(w, v)


def eigvals(a):
    """The (complex) eigenvalues of general square matrices (CPU only, as in JAX)."""
    (a,) = _inexact("eigvals", a)
    _matrices("eigvals", a, square=True)
    return _lax_eigen.eig(a, compute_left_eigenvectors=False,
                          compute_right_eigenvectors=False)[0]


def _hermitian_svd(a, compute_uv: bool, subset_by_index):
    """The SVD of Hermitian matrices from their eigendecomposition: singular values |w|
    (descending), u the eigenvectors in that order, vh = (u sign(w))ᴴ.

    subset_by_index counts in that descending order of |w|, which is no range of eigh's
    ascending eigenvalues (for indefinite matrices the largest |w| are at both ends), so
    the full decomposition is sliced. (JAX passes it to eigh, whose subset counts from the
    smallest eigenvalue, where it is supported at all: not on CPU or GPU.)"""
    v, w = _lax_eigen.eigh(a)
    s = _fnp.abs(w)
    # An ascending stable sort, reversed: ties keep JAX's order.
    order = _fnp.flip(_fnp.argsort(s, axis=-1), axis=-1)
    if subset_by_index is not None:
        start, end = subset_by_index
        order = order[..., start:end]
    s = _fnp.take_along_axis(s, order, axis=-1)
    if not compute_uv:
        return s
    sign = _fnp.take_along_axis(_fnp.sign(w), order, axis=-1)
    columns = _fnp.broadcast_to(order[..., None, :], (*_shape(v)[:-1], _shape(order)[-1]))
    u = _fnp.take_along_axis(v, columns, axis=-1)
    vh = _H(_fnp.multiply(u, _astype(sign, _dtype(u))[..., None, :]))
    return _SVDResult(u, s, vh)


def svd(a, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False,
        subset_by_index: tuple[int, int] | None = None):
    """The singular value decomposition a = U diag(S) Vh of matrices (..., m, n).

    Arguments:
        full_matrices: U (..., m, m) and Vh (..., n, n); otherwise (..., m, k) and
            (..., k, n), k = min(m, n).
        compute_uv: return SVDResult(U, S, Vh); otherwise S alone.
        hermitian: a is Hermitian: decompose it with eigh (its singular values are the
            eigenvalues' absolute values).
        subset_by_index: (start, end): only the singular values start to end - 1 (of the
            descending order) and their vectors.

    Returns:
        SVDResult(U, S, Vh), or S: real, non-negative, descending. The derivative of S is
        Re diag(Uᴴ dA V); singular-vector derivatives are infinite or NaN where singular
        values repeat (as in JAX).
    """
    (a,) = _inexact("svd", a)
    _matrices("svd", a)
    if hermitian:
        return _hermitian_svd(a, compute_uv, subset_by_index)
    out = _lax_eigen.svd(a, full_matrices=full_matrices, compute_uv=compute_uv,
                         subset_by_index=subset_by_index)
    return _SVDResult(*out) if compute_uv else out


def svdvals(x, /):
    """The singular values (descending) of matrices (..., m, n)."""
    return svd(x, compute_uv=False, hermitian=False)


def _pinv_fun(a, rtol, hermitian):
    m, n = _shape(a)[-2:]
    dtype = _dtype(a)
    if m == 0 or n == 0:
        return _fnp.zeros((*_shape(a)[:-2], n, m), dtype)
    a = _fnp.conj(a)
    if rtol is None:
        rtol = 10.0 * max(m, n) * _eps(dtype)
    rtol = _fnp.asarray(rtol)
    u, s, vh = svd(a, full_matrices=False, hermitian=hermitian)
    cutoff = _fnp.multiply(_fnp.expand_dims(rtol, -1), s[..., 0:1])
    s = _astype(_fnp.where(_fnp.greater(s, cutoff), s, _np.inf), dtype)
    return _mm(_mT(vh), _fnp.divide(_mT(u), s[..., :, None]))


def pinv(a, rtol=None, hermitian: bool = False, *, rcond=None):
    """The Moore-Penrose pseudo-inverse of matrices (..., m, n), from their SVD.

    Arguments:
        rtol: singular values at most rtol times the largest are treated as zero (default
            10 · max(m, n) · eps); an array broadcasts over the batch. `rcond` is its
            older name (give one of the two).
        hermitian: a is Hermitian (its SVD comes from eigh).

    Returns:
        (..., n, m). Its derivative is that of the pseudo-inverse at constant rank (Golub and
        Pereyra): where a small singular value crosses the cutoff the rank, and the
        pseudo-inverse, jump, and the derivative does not see it.
    """
    if rcond is not None:
        if rtol is not None:
            raise ValueError(_at_user_line(
                f"{_NS}.pinv: give only one of rtol and rcond (rcond is rtol's older name)."))
        rtol = rcond
    (a,) = _inexact("pinv", a)
    _matrices("pinv", a)
    if rtol is not None:
        _check_arraylike("linalg.pinv", rtol)
    return _pinv_value(a, rtol, bool(hermitian))


# The cutoff and the flag are not differentiated (JAX's nondiff_argnums=(1, 2)).
_pinv_value = _custom_jvp(_pinv_fun, nondiff_argnums=(1, 2))


def _pinv_nondiff_jvp(rtol, hermitian, primals, tangents):
    (a,), (da,) = primals, tangents
    p = _pinv_value(a, rtol, hermitian)
    if hermitian:
        a = _fnp.divide(_fnp.add(a, _H(a)), 2)
        da = _fnp.divide(_fnp.add(da, _H(da)), 2)
    m, n = _shape(a)[-2:]
    mm, sub, add, neg = _mm, _fnp.subtract, _fnp.add, _fnp.negative
    if m >= n:
        s = mm(mm(p, _H(p)), _H(da))
        t = mm(mm(_H(da), _H(p)), p)
        dp = add(sub(add(neg(mm(mm(p, da), p)), s), mm(mm(s, a), p)),
                 sub(t, mm(mm(p, a), t)))
    else:
        s = mm(p, mm(_H(p), _H(da)))
        t = mm(_H(da), mm(_H(p), p))
        dp = add(sub(add(neg(mm(p, mm(da, p))), s), mm(s, mm(a, p))),
                 sub(t, mm(p, mm(a, t))))
    return p, dp


_pinv_value.defjvp(_pinv_nondiff_jvp)


def lstsq(a, b, rcond=None, *, numpy_resid: bool = False):
    """The least-squares solution x minimizing ‖b - a x‖₂, from the SVD of a (m, n).

    Arguments:
        b: (m,) or (m, k).
        rcond: singular values below rcond times the largest are treated as zero (default
            eps · max(m, n); a negative rcond means eps).
        numpy_resid: return the residuals as NumPy does (empty unless a has full column
            rank and m > n); otherwise always ‖b - a x‖² per column.

    Returns:
        (x, residuals, rank, s): x (n,) or (n, k); rank an int32 scalar; s the singular
        values. x is differentiable where the rank is constant (the pseudo-inverse's
        derivative).
    """
    a, b = _inexact("lstsq", a, b)
    a_shape, b_shape = _shape(a), _shape(b)
    if len(a_shape) != 2:
        raise _ShapeDtypeError(_at_user_line(
            f"{_NS}.lstsq: {len(a_shape)}-dimensional array given; a must be two-dimensional "
            f"(lstsq does not batch, as in JAX)."))
    if len(b_shape) not in (1, 2):
        raise _ShapeDtypeError(_at_user_line(
            f"{_NS}.lstsq: {len(b_shape)}-dimensional array given; b must be one- or "
            f"two-dimensional."))
    if a_shape[0] != b_shape[0]:
        raise _ShapeDtypeError(_at_user_line(
            f"{_NS}.lstsq: the leading dimensions of a {a_shape} and b {b_shape} must match."))
    vector = len(b_shape) == 1
    if vector:
        b = b[:, None]
    m, n = a_shape
    dtype = _dtype(a)
    real = _dt.real_dtype(dtype)
    if m * n == 0:
        s = _fnp.zeros((0,), real)
        rank = _fnp.asarray(0, dtype=_dt.default_int())
        x = _fnp.zeros((n, _shape(b)[1]), dtype)
    else:
        eps = _eps(dtype)
        if rcond is None:
            rcond = eps * max(n, m)
        else:
            rcond = _fnp.where(_fnp.less(rcond, 0), eps, rcond)
        u, s, vt = svd(a, full_matrices=False)
        mask = _fnp.logical_and(_fnp.greater(s, 0),
                                _fnp.greater_equal(s, _fnp.multiply(_astype(rcond, real),
                                                                    s[0])))
        rank = _fnp.sum(mask)
        safe_s = _astype(_fnp.where(mask, s, _np.array(1, real)), dtype)
        s_inv = _fnp.where(mask, _fnp.divide(1, safe_s), _np.array(0, dtype))[:, None]
        highest = "highest"
        utb = _mm(_H(u), b, precision=highest)
        x = _mm(_H(vt), _fnp.multiply(s_inv, utb), precision=highest)
    if numpy_resid and (bool(_fnp.less(rank, n)) or m <= n):
        resid = _fnp.asarray([])
    else:
        estimate = _mm(a, x, precision="highest")
        resid = _fnp.square(norm(_fnp.subtract(b, estimate), axis=0))
    if vector:
        x = _fnp.ravel(x)
    return x, resid, rank, s


def matrix_rank(M, rtol=None, *, hermitian: bool = False, tol=None):  # noqa: N803
    """The number of singular values of M (..., m, n) above rtol (default: the largest
    times max(m, n) · eps); `tol` is rtol's older name. A vector's rank is 1 unless it is
    zero."""
    if tol is not None:
        if rtol is not None:
            raise ValueError(_at_user_line(
                f"{_NS}.matrix_rank: give only one of tol and rtol (tol is rtol's older "
                f"name)."))
        rtol = tol
    (M,) = _inexact("matrix_rank", M)
    if len(_shape(M)) < 2:
        return _astype(_fnp.any(_fnp.not_equal(M, 0)), _np.int32)
    s = svd(M, full_matrices=False, compute_uv=False, hermitian=hermitian)
    if rtol is None:
        rtol = _fnp.multiply(_fnp.max(s, axis=-1),
                             max(_shape(M)[-2:]) * _eps(_dtype(s)))
    rtol = _fnp.asarray(rtol)
    return _fnp.sum(_fnp.greater(s, _fnp.expand_dims(rtol, -1)), axis=-1)


def cond(x, p=None):
    """The condition number of matrices (..., m, n) in the norm p (None or 2: the ratio of
    the extreme singular values; -2 its inverse; 'fro', 'nuc', 1, -1, inf, -inf:
    norm(x) · norm(inv(x)), square matrices only). A singular matrix gives inf."""
    _check_arraylike("linalg.cond", x)
    shape = _shape(x)
    if len(shape) < 2:
        raise _ShapeDtypeError(_at_user_line(
            f"{_NS}.cond: the input must be at least two-dimensional, got shape {shape}."))
    if shape[-1] == 0 or shape[-2] == 0:
        raise _ShapeDtypeError(_at_user_line(
            f"{_NS}.cond: the input must not be empty, got shape {shape}."))
    if p is None or p == 2:
        s = svdvals(x)
        return _fnp.divide(s[..., 0], s[..., -1])
    if p == -2:
        s = svdvals(x)
        r = _fnp.divide(s[..., -1], s[..., 0])
    else:
        if shape[-2] != shape[-1]:
            raise _ShapeDtypeError(_at_user_line(
                f"{_NS}.cond: for p={p!r} the matrices must be square, got shape {shape}."))
        r = _fnp.multiply(norm(x, ord=p, axis=(-2, -1)), norm(inv(x), ord=p, axis=(-2, -1)))
    nan_input = _fnp.any(_fnp.isnan(x), axis=(-2, -1))
    return _fnp.where(_fnp.logical_and(_fnp.isnan(r), _fnp.logical_not(nan_input)),
                      _np.inf, r)


# -- norms -----------------------------------------------------------------------------------


def norm(x, ord=None, axis=None, keepdims: bool = False):  # noqa: A002
    """Vector and matrix norms, as jax.numpy.linalg.norm.

    Arguments:
        ord: for vectors (one axis): None or 2, 1, inf, -inf, 0 (the number of nonzeros) or
            any other p (the p-norm). For matrices (two axes): None or 'fro' (Frobenius), 1,
            -1 (largest / smallest column sum of |x|), inf, -inf (row sums), 2, -2 (largest
            / smallest singular value), 'nuc' (their sum).
        axis: None (x as one vector, or, with ord given, x as a vector or a matrix by its
            dimensions), an axis (vector norms) or a pair (matrix norms).
        keepdims: keep the reduced axes with size 1.

    Returns:
        Real norms; complex x uses |x|. Derivatives are those of the formulas: through the
        singular values for 2, -2 and 'nuc' (the gradient of the nuclear norm is U Vᴴ), and
        at 0 the subgradient JAX picks (NaN for the 2-norm of a zero vector, as in JAX).
    """
    (x,) = _inexact("norm", x)
    ndim = len(_shape(x))
    if axis is None:
        if ord is None:
            return _fnp.sqrt(_fnp.sum(_sq_abs(x), keepdims=keepdims))
        axes = tuple(range(ndim))
    elif isinstance(axis, tuple):
        axes = tuple(_canonical_axis(a, ndim, "linalg.norm") for a in axis)
    else:
        axes = (_canonical_axis(axis, ndim, "linalg.norm"),)
    if len(axes) == 1:
        return vector_norm(x, ord=2 if ord is None else ord, axis=axes, keepdims=keepdims)
    if len(axes) == 2:
        if axes[0] == axes[1]:
            raise _ShapeDtypeError(_at_user_line(
                f"{_NS}.norm: the two axes of a matrix norm must differ, got {axis}."))
        return _matrix_norm(x, ord, axes, keepdims)
    raise _ShapeDtypeError(_at_user_line(
        f"{_NS}.norm: improper number of axes {axis!r} (an array of {ndim} dimensions "
        f"without axis counts as all of them): pass one axis for a vector norm or two for a "
        f"matrix norm."))


def _matrix_norm(x, ord, axes: tuple[int, int], keepdims: bool):  # noqa: A002
    row, col = axes
    if ord is None or ord in ("f", "fro"):
        return _fnp.sqrt(_fnp.sum(_sq_abs(x), axis=axes, keepdims=keepdims))
    if isinstance(ord, str) and ord != "nuc":
        raise ValueError(_at_user_line(f"{_NS}.norm: invalid order {ord!r} for a matrix norm."))
    if ord in (1, -1, _np.inf, -_np.inf):
        # 1-norms sum down the columns, inf-norms along the rows.
        summed, reduced = (row, col) if ord in (1, -1) else (col, row)
        if not keepdims and reduced > summed:
            reduced -= 1
        sums = _fnp.sum(_fnp.abs(x), axis=summed, keepdims=keepdims)
        if ord > 0:
            return _fnp.max(sums, axis=reduced, keepdims=keepdims, initial=0)
        return _fnp.min(sums, axis=reduced, keepdims=keepdims)
    if ord in ("nuc", 2, -2):
        s = svd(_fnp.moveaxis(x, axes, (-2, -1)), compute_uv=False)
        if ord == 2:
            y = _fnp.max(s, axis=-1, initial=0)
        elif ord == -2:
            y = _fnp.min(s, axis=-1)
        else:
            y = _fnp.sum(s, axis=-1)
        return _fnp.expand_dims(y, axes) if keepdims else y
    raise ValueError(_at_user_line(f"{_NS}.norm: invalid order {ord!r} for a matrix norm."))


def vector_norm(x, /, *, axis=None, keepdims: bool = False, ord=2):  # noqa: A002
    """The vector norm of x along `axis` (None: all of x as one vector; a tuple: those axes
    as one vector); ord as for norm's vectors. Complex x uses |x|."""
    (x,) = _inexact("vector_norm", x)
    if ord is None or ord == 2:
        return _fnp.sqrt(_fnp.sum(_sq_abs(x), axis=axis, keepdims=keepdims))
    if isinstance(ord, str):
        hint = ""
        if ord in ("inf", "-inf"):
            hint = f" Use {'-' if ord[0] == '-' else ''}fgrad.numpy.inf instead."
        raise ValueError(_at_user_line(
            f"{_NS}.vector_norm: invalid order {ord!r} for a vector norm.{hint}"))
    if ord == _np.inf:
        return _fnp.max(_fnp.abs(x), axis=axis, keepdims=keepdims, initial=0)
    if ord == -_np.inf:
        return _fnp.min(_fnp.abs(x), axis=axis, keepdims=keepdims)
    real = _dt.real_dtype(_dtype(x))
    if ord == 0:
        return _fnp.sum(_fnp.not_equal(x, 0), dtype=real, axis=axis, keepdims=keepdims)
    if ord == 1:
        return _fnp.sum(_fnp.abs(x), axis=axis, keepdims=keepdims)
    # A float exponent of x's real dtype (not integer_pow), as jax.numpy computes it.
    p = real.type(ord)
    total = _fnp.sum(_fnp.power(_fnp.abs(x), p), axis=axis, keepdims=keepdims)
    return _fnp.power(total, real.type(1) / p)


def matrix_norm(x, /, *, keepdims: bool = False, ord="fro"):  # noqa: A002
    """The matrix norm of the last two axes of x; ord as for norm's matrices."""
    _check_arraylike("linalg.matrix_norm", x)
    return norm(x, ord=ord, keepdims=keepdims, axis=(-2, -1))


# -- products and reshaped solves ------------------------------------------------------------


def matmul(x1, x2, /, *, precision=None, preferred_element_type=None):
    """The matrix product of x1 and x2 (fgrad.numpy.matmul, positional arguments only)."""
    _check_arraylike("linalg.matmul", x1, x2)
    return _matmul(x1, x2, precision=precision, preferred_element_type=preferred_element_type)


def tensordot(x1, x2, /, *, axes=2, precision=None, preferred_element_type=None,
              out_sharding=None):
    """fgrad.numpy.tensordot with the array API's signature."""
    _check_arraylike("linalg.tensordot", x1, x2)
    if out_sharding is not None:
        raise NotImplementedError(_at_user_line(
            f"{_NS}.tensordot: out_sharding is not supported; shard the result with "
            f"jax.lax.with_sharding_constraint outside fgrad instead."))
    return _tensordot(x1, x2, axes=axes, precision=precision,
                      preferred_element_type=preferred_element_type)


def vecdot(x1, x2, /, *, axis: int = -1, precision=None, preferred_element_type=None):
    """The vector dot product Σ conj(x1) x2 along `axis` (fgrad.numpy.vecdot)."""
    _check_arraylike("linalg.vecdot", x1, x2)
    return _vecdot(x1, x2, axis=axis, precision=precision,
                   preferred_element_type=preferred_element_type)


def outer(x1, x2, /):
    """The outer product of two vectors: x1[:, None] * x2[None, :]."""
    _check_arraylike("linalg.outer", x1, x2)
    d1, d2 = len(_shape(x1)), len(_shape(x2))
    if d1 != 1 or d2 != 1:
        raise _ShapeDtypeError(_at_user_line(
            f"{_NS}.outer needs one-dimensional arrays, got {d1} and {d2} dimensions."))
    return _fnp.multiply(_fnp.expand_dims(x1, 1), _fnp.expand_dims(x2, 0))


def cross(x1, x2, /, *, axis: int = -1):
    """The cross product of (arrays of) 3-vectors along `axis`."""
    _check_arraylike("linalg.cross", x1, x2)
    s1, s2 = _shape(x1), _shape(x2)
    try:
        n1, n2 = s1[axis], s2[axis]
    except IndexError:
        raise _ShapeDtypeError(_at_user_line(
            f"{_NS}.cross: axis {axis} is out of bounds for shapes {s1} and {s2}.")) from None
    if n1 != 3 or n2 != 3:
        raise _ShapeDtypeError(_at_user_line(
            f"{_NS}.cross needs (arrays of) 3-dimensional vectors along axis {axis}, got "
            f"sizes {n1} and {n2}."))
    return _fnp.cross(x1, x2, axis=axis)


def multi_dot(arrays, *, precision=None):
    """The product of a chain of matrices (the first and last may be vectors), contracted
    in the cheapest order (by einsum's optimizer)."""
    arrays = list(arrays)
    _check_arraylike("linalg.multi_dot", *arrays)
    if len(arrays) < 2:
        raise ValueError(_at_user_line(
            f"{_NS}.multi_dot needs at least two arrays, got {len(arrays)}."))
    shapes = [_shape(a) for a in arrays]
    if not (len(shapes[0]) in (1, 2) and len(shapes[-1]) in (1, 2)
            and all(len(s) == 2 for s in shapes[1:-1])):
        raise _ShapeDtypeError(_at_user_line(
            f"{_NS}.multi_dot: the arrays must be matrices, except the first and last, which "
            f"may be vectors; got shapes {shapes}."))
    if any(s[-1] != t[0] for s, t in zip(shapes[:-1], shapes[1:])):
        raise _ShapeDtypeError(_at_user_line(
            f"{_NS}.multi_dot: each array's last dimension must match the next one's first; "
            f"got shapes {shapes}."))
    letters = [chr(ord("a") + i) for i in range(len(arrays) + 1)]
    terms = [letters[i] + letters[i + 1] for i in range(len(arrays))]
    if len(shapes[0]) == 1:
        terms[0] = terms[0][1:]
    if len(shapes[-1]) == 1:
        terms[-1] = terms[-1][:1]
    free = "".join(t for t in (terms[0][0] if len(shapes[0]) == 2 else "",
                               terms[-1][-1] if len(shapes[-1]) == 2 else "") if t)
    return _fnp.einsum(",".join(terms) + "->" + free, *arrays, precision=precision)


def tensorinv(a, ind: int = 2):
    """The inverse of a tensor with respect to tensordot over its first `ind` axes: the
    tensor b with tensordot(b, a, ind) the identity."""
    _check_arraylike("linalg.tensorinv", a)
    ind = _operator.index(ind)
    if ind <= 0:
        raise ValueError(_at_user_line(
            f"{_NS}.tensorinv: ind must be a positive integer, got {ind}."))
    shape = _shape(a)
    contracting, batch = shape[:ind], shape[ind:]
    rows, cols = _math.prod(contracting), _math.prod(batch)
    if rows != cols:
        raise _ShapeDtypeError(_at_user_line(
            f"{_NS}.tensorinv: the product of the first {ind} dimensions must equal that of "
            f"the others; got shape {shape}."))
    return _fnp.reshape(inv(_fnp.reshape(a, (rows, cols))), (*batch, *contracting))


def tensorsolve(a, b, axes=None):
    """The x with tensordot(a, x, x.ndim) = b; `axes` of a are moved to the end first."""
    _check_arraylike("linalg.tensorsolve", a, b)
    if axes is not None:
        axes = tuple(axes)
        ndim = len(_shape(a))
        a = _fnp.moveaxis(a, axes, tuple(range(ndim - len(axes), ndim)))
    a_shape, b_shape = _shape(a), _shape(b)
    out_shape = a_shape[len(b_shape):]
    if a_shape[:len(b_shape)] != b_shape:
        raise _ShapeDtypeError(_at_user_line(
            f"{_NS}.tensorsolve: after moving axes to the end, a's leading shape must equal "
            f"b's; got a.shape={a_shape}, b.shape={b_shape}."))
    size = _math.prod(b_shape)
    if size != _math.prod(out_shape):
        raise _ShapeDtypeError(_at_user_line(
            f"{_NS}.tensorsolve: prod(a.shape[:b.ndim]) must equal prod(a.shape[b.ndim:]); "
            f"got a.shape={a_shape}, b.ndim={len(b_shape)}."))
    x = solve(_fnp.reshape(a, (size, _math.prod(out_shape))), _fnp.ravel(b))
    return _fnp.reshape(x, out_shape)


def matrix_transpose(x, /):
    """x with its last two axes swapped."""
    _check_arraylike("linalg.matrix_transpose", x)
    ndim = len(_shape(x))
    if ndim < 2:
        raise _ShapeDtypeError(_at_user_line(
            f"{_NS}.matrix_transpose needs at least 2 dimensions, got {ndim}."))
    return _fnp.matrix_transpose(x)


def diagonal(x, /, *, offset: int = 0):
    """The diagonals (offset above the main one when positive) of matrices (..., m, n)."""
    _check_arraylike("linalg.diagonal", x)
    return _fnp.diagonal(x, offset=offset, axis1=-2, axis2=-1)


def trace(x, /, *, offset: int = 0, dtype=None):
    """The traces (sums of the diagonal `offset`) of matrices (..., m, n)."""
    _check_arraylike("linalg.trace", x)
    return _fnp.trace(x, offset=offset, axis1=-2, axis2=-1, dtype=dtype)


def __getattr__(name: str):
    raise _missing_attribute("fgrad.numpy.linalg", _jnp.linalg, name, globals())
