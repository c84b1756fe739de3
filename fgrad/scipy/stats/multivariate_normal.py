"""fgrad.scipy.stats.multivariate_normal: the multivariate normal distribution, as
jax.scipy.stats.multivariate_normal.

`mean` has the dimension along its last axis (a scalar mean makes every element of `x` its
own univariate normal); `cov` is a scalar (a multiple of the identity) or a batch of n x n
matrices. The density goes through the Cholesky factor of `cov` (NaN where it is not
positive definite), its batch axes broadcasting against x's and mean's.
"""

from __future__ import annotations

import math

import fgrad.numpy as fnp
from fgrad import lax as fl
from fgrad.core import aval_of
from fgrad.numpy import linalg as fla
from fgrad.scipy.stats._util import add, div, fail, inexact_dtypes, log, mul, sub

__all__ = ["logpdf", "pdf"]

_LOG_2PI = math.log(2 * math.pi)


def _solve_lower(lower, y):
    return fl.triangular_solve(lower, y, left_side=False, lower=True, transpose_a=True)


_solve = fnp.vectorize(_solve_lower, signature="(n,n),(n)->(n)")


def logpdf(x, mean, cov, allow_singular: None = None):
    """The log density of N(mean, cov) at `x`."""
    if allow_singular is not None:
        raise NotImplementedError(
            "fgrad.scipy.stats.multivariate_normal.logpdf: allow_singular is not supported "
            "(as in JAX).")
    x, mean, cov = inexact_dtypes("multivariate_normal.logpdf", x, mean, cov)
    mean_shape, cov_shape = aval_of(mean).shape, aval_of(cov).shape
    if not mean_shape:
        return sub(div(mul(-0.5, fnp.square(sub(x, mean))), cov),
                   mul(0.5, add(_LOG_2PI, log(cov))))
    n = mean_shape[-1]
    y = sub(x, mean)
    if not cov_shape:
        return sub(div(mul(-0.5, fnp.einsum("...i,...i->...", y, y)), cov),
                   mul(n / 2, add(_LOG_2PI, log(cov))))
    if len(cov_shape) < 2 or cov_shape[-2:] != (n, n):
        raise fail("multivariate_normal.logpdf",
                   f"got incompatible shapes: mean {mean_shape} has dimension {n}, so cov must "
                   f"be a scalar or end in ({n}, {n}), not {cov_shape}.")
    lower = fla.cholesky(cov)
    z = _solve(lower, y)
    log_det = fnp.sum(log(fnp.diagonal(lower, axis1=-1, axis2=-2)), axis=-1)
    return sub(sub(mul(-0.5, fnp.einsum("...i,...i->...", z, z)), n / 2 * _LOG_2PI), log_det)


def pdf(x, mean, cov):
    """The multivariate normal density: exp(logpdf)."""
    return fnp.exp(logpdf(x, mean, cov))
