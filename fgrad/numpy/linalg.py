"""fgrad.numpy.linalg: norms, the Cholesky factorization (and the contractions of
fgrad.numpy)."""

import jax.numpy as _jnp
import numpy as _np

from fgrad.core import aval_of as _aval_of
from fgrad.core.errors import at_user_line as _at_user_line
from fgrad.core.errors import missing_attribute as _missing_attribute
from fgrad.lax import linalg as _lax_linalg
from fgrad.numpy._core import canonical_axis as _canonical_axis
from fgrad.numpy._core import check_arraylike as _check_arraylike
from fgrad.numpy._core import promote_dtypes as _promote_dtypes
from fgrad.numpy._einsum import matmul as matmul
from fgrad.numpy._math import absolute as _absolute
from fgrad.numpy._math import multiply as _multiply
from fgrad.numpy._math import not_equal as _not_equal
from fgrad.numpy._math import power as _power
from fgrad.numpy._math import sqrt as _sqrt
from fgrad.numpy._reductions import max as _max
from fgrad.numpy._reductions import min as _min
from fgrad.numpy._reductions import sum as _sum
from fgrad.numpy._shapes import matrix_transpose as _matrix_transpose
from fgrad.numpy._shapes import reshape as _reshape

__all__ = ["cholesky", "matmul", "norm"]


def cholesky(a, *, upper: bool = False, symmetrize_input: bool = True):
    """The Cholesky factor of symmetric positive-definite matrices, as jax.numpy.linalg.

    Arguments:
        a: matrices of shape (..., n, n) (integers are promoted to floats).
        upper: return the upper factor U = Lᵀ (a = Uᵀ U) instead of the lower L (a = L Lᵀ).
        symmetrize_input: factor (a + aᵀ) / 2, so both triangles of `a` count (and the
            gradient with respect to `a` is symmetric); otherwise only the lower one is read.

    Returns:
        The factor, of a's shape; NaNs for a matrix that is not positive definite.
    """
    _check_arraylike("linalg.cholesky", a)
    (a,) = _promote_dtypes(a, kind="inexact")
    if _aval_of(a).ndim < 2:
        raise ValueError(_at_user_line(
            f"fgrad.numpy.linalg.cholesky needs matrices of shape (..., n, n), not an array "
            f"of shape {_aval_of(a).shape}."))
    factor = _lax_linalg.cholesky(a, symmetrize_input=symmetrize_input)
    return _matrix_transpose(factor) if upper else factor


def norm(x, ord=None, axis=None, keepdims: bool = False):  # noqa: A002
    """Vector norms (ord None or 2, 1, inf, -inf, 0, any other p) along one axis, or matrix
    norms ('fro', 1, -1, inf, -inf) over two; with axis=None, of a vector or a matrix (or,
    for ord=None, of all the elements)."""
    _check_arraylike("linalg.norm", x)
    (x,) = _promote_dtypes(x, kind="inexact")
    ndim = _aval_of(x).ndim
    if axis is None:
        if ord is None:
            out = _sqrt(_sum(_multiply(x, x)))
            return _reshape(out, (1,) * ndim) if keepdims else out
        if ndim not in (1, 2):
            raise ValueError(_at_user_line(
                f"fgrad.numpy.linalg.norm: ord={ord!r} without axis needs a vector or a matrix, "
                f"not an array of {ndim} dimensions."))
        axis = tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, _np.integer)) else tuple(axis)
    axes = tuple(_canonical_axis(a, ndim, "linalg.norm") for a in axes)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) == 2:
        if axes[0] == axes[1]:
            raise ValueError(_at_user_line(
                f"fgrad.numpy.linalg.norm: the two axes of a matrix norm must differ, got "
                f"{axis}."))
        return _matrix_norm(x, ord, axes, keepdims)
    raise ValueError(_at_user_line(
        f"fgrad.numpy.linalg.norm: axis must name one axis (a vector norm) or two (a matrix "
        f"norm), not {axis}."))


def _vector_norm(x, ord, axis: int, keepdims: bool):  # noqa: A002
    if ord is None or ord == 2:
        return _sqrt(_sum(_multiply(x, x), axis, keepdims=keepdims))
    if isinstance(ord, str):
        raise ValueError(_at_user_line(
            f"fgrad.numpy.linalg.norm: ord={ord!r} is a matrix norm; vector norms take a "
            f"number."))
    if ord == _np.inf:
        return _max(_absolute(x), axis, keepdims=keepdims)
    if ord == -_np.inf:
        return _min(_absolute(x), axis, keepdims=keepdims)
    dtype = _aval_of(x).dtype
    if ord == 0:
        return _sum(_not_equal(x, 0), axis, dtype=dtype, keepdims=keepdims)
    if ord == 1:
        return _sum(_absolute(x), axis, keepdims=keepdims)
    # A float exponent of x's dtype (not integer_pow), as jax.numpy computes it.
    total = _sum(_power(_absolute(x), dtype.type(ord)), axis, keepdims=keepdims)
    return _power(total, dtype.type(1.0) / dtype.type(ord))


def _matrix_norm(x, ord, axes: tuple[int, int], keepdims: bool):  # noqa: A002
    row, col = axes
    if ord is None or ord == "fro":
        return _sqrt(_sum(_multiply(x, x), axes, keepdims=keepdims))
    if ord in (1, -1, _np.inf, -_np.inf):
        extremum = _max if ord > 0 else _min
        # 1-norms sum down the columns, inf-norms along the rows.
        summed, reduced = (row, col) if ord in (1, -1) else (col, row)
        if not keepdims and reduced > summed:
            reduced -= 1
        return extremum(_sum(_absolute(x), summed, keepdims=keepdims), reduced,
                        keepdims=keepdims)
    if ord in (2, -2, "nuc"):
        raise ValueError(_at_user_line(
            f"fgrad.numpy.linalg.norm: the matrix norm ord={ord!r} needs singular values, and "
            f"fgrad has no SVD. Use ord='fro', 1, -1, inf or -inf, or a vector norm along "
            f"one axis."))
    raise ValueError(_at_user_line(
        f"fgrad.numpy.linalg.norm: invalid order {ord!r} for a matrix norm."))


def __getattr__(name: str):
    raise _missing_attribute("fgrad.numpy.linalg", _jnp.linalg, name, globals())
