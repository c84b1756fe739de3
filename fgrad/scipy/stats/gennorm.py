"""fgrad.scipy.stats.gennorm: the generalized normal distribution, as
jax.scipy.stats.gennorm."""

from __future__ import annotations

import fgrad.numpy as fnp
from fgrad import lax as fl
from fgrad.lax import special as lsp
from fgrad.scipy.stats._util import add, div, inexact, log, mul, sub

__all__ = ["cdf", "logpdf", "pdf"]


def logpdf(x, beta):
    """The log density log(beta/2) - lgamma(1/beta) - |x|^beta."""
    x, beta = inexact("gennorm.logpdf", x, beta)
    return sub(sub(log(mul(0.5, beta)), lsp.lgamma(div(1, beta))), fl.pow(fnp.abs(x), beta))


def cdf(x, beta):
    """The distribution function (1 + sign(x) igamma(1/beta, |x|^beta)) / 2."""
    x, beta = inexact("gennorm.cdf", x, beta)
    return mul(0.5, add(1, mul(fnp.sign(x), lsp.igamma(div(1, beta),
                                                        fl.pow(fnp.abs(x), beta)))))


def pdf(x, beta):
    """The generalized normal density: exp(logpdf)."""
    return fnp.exp(logpdf(x, beta))
