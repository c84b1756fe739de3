"""fgrad.scipy.stats.dirichlet: the Dirichlet distribution, as jax.scipy.stats.dirichlet.

`x` holds the components along its first axis (K of them, or K - 1 with the last implied),
any further axes are a batch; `alpha` is one-dimensional. Points off the simplex (a component
not positive, or components summing to 1 only within 1e-6) have log density -inf.
"""

from __future__ import annotations

import numpy as np

import fgrad.numpy as fnp
from fgrad.core import aval_of
from fgrad.lax import special as lsp
from fgrad.scipy import special as fsp
from fgrad.scipy.stats._util import fail, gt, inexact_dtypes, lt, sub, where

__all__ = ["logpdf", "pdf"]


def _is_simplex(x):
    x_sum = fnp.sum(x, axis=0)
    return fnp.logical_and(fnp.all(gt(x, 0), axis=0), lt(fnp.abs(sub(x_sum, 1)), 1e-6))


def logpdf(x, alpha):
    """The log density of Dirichlet(alpha) at `x` (components along axis 0)."""
    x, alpha = inexact_dtypes("dirichlet.logpdf", x, alpha)
    x_shape, alpha_shape = aval_of(x).shape, aval_of(alpha).shape
    if len(alpha_shape) != 1:
        raise fail("dirichlet.logpdf", f"alpha must be one-dimensional; got alpha.shape="
                                       f"{alpha_shape}.")
    if not x_shape or x_shape[0] not in (alpha_shape[0], alpha_shape[0] - 1):
        raise fail("dirichlet.logpdf", f"x must have either the same number of entries as "
                                       f"alpha or one entry fewer (along its first axis); got "
                                       f"x.shape={x_shape}, alpha.shape={alpha_shape}.")
    if x_shape[0] != alpha_shape[0]:
        x = fnp.concatenate([x, sub(1.0, fnp.sum(x, axis=0, keepdims=True))], axis=0)
    normalize_term = sub(fnp.sum(lsp.lgamma(alpha)), lsp.lgamma(fnp.sum(alpha)))
    if len(x_shape) > 1:
        alpha = fnp.reshape(alpha, alpha_shape + (1,) * (len(x_shape) - 1))
    log_probs = sub(fnp.sum(fsp.xlogy(sub(alpha, 1.0), x), axis=0), normalize_term)
    return where(_is_simplex(x), log_probs, -np.inf)


def pdf(x, alpha):
    """The Dirichlet density: exp(logpdf)."""
    return fnp.exp(logpdf(x, alpha))
