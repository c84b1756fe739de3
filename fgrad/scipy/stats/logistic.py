"""fgrad.scipy.stats.logistic: the logistic distribution, as jax.scipy.stats.logistic."""

from __future__ import annotations

import fgrad.numpy as fnp
from fgrad.scipy import special as fsp
from fgrad.scipy.stats._util import add, div, inexact, log, mul, neg, sub

__all__ = ["cdf", "isf", "logpdf", "pdf", "ppf", "sf"]


def logpdf(x, loc=0, scale=1):
    """The log density -2 logaddexp(z/2, -z/2) - log(scale), z = (x - loc)/scale."""
    x, loc, scale = inexact("logistic.logpdf", x, loc, scale)
    z = div(sub(x, loc), scale)
    half_z = div(z, 2.0)
    return sub(mul(-2.0, fnp.logaddexp(half_z, neg(half_z))), log(scale))


def pdf(x, loc=0, scale=1):
    """The logistic density: exp(logpdf)."""
    return fnp.exp(logpdf(x, loc, scale))


def ppf(x, loc=0, scale=1):
    """The quantile function loc + scale logit(q)."""
    x, loc, scale = inexact("logistic.ppf", x, loc, scale)
    return add(mul(fsp.logit(x), scale), loc)


def sf(x, loc=0, scale=1):
    """The survival function expit(-(x - loc)/scale)."""
    x, loc, scale = inexact("logistic.sf", x, loc, scale)
    return fsp.expit(neg(div(sub(x, loc), scale)))


def isf(x, loc=0, scale=1):
    """The inverse survival function loc - scale logit(q)."""
    x, loc, scale = inexact("logistic.isf", x, loc, scale)
    return add(mul(neg(fsp.logit(x)), scale), loc)


def cdf(x, loc=0, scale=1):
    """The distribution function expit((x - loc)/scale)."""
    x, loc, scale = inexact("logistic.cdf", x, loc, scale)
    return fsp.expit(div(sub(x, loc), scale))
