"""fgrad.scipy.stats.expon: the exponential distribution, as jax.scipy.stats.expon."""

from __future__ import annotations

import numpy as np

import fgrad.numpy as fnp
from fgrad.scipy.stats._util import (
    add, div, expm1, gt, inexact, log, log1p, lor, lt, mul, neg, sub, where,
)

__all__ = ["cdf", "logcdf", "logpdf", "logsf", "pdf", "ppf", "sf"]


def logpdf(x, loc=0, scale=1):
    """The log density -(x - loc)/scale - log(scale) from `loc`, -inf before it."""
    x, loc, scale = inexact("expon.logpdf", x, loc, scale)
    linear_term = div(sub(x, loc), scale)
    log_probs = neg(add(linear_term, log(scale)))
    return where(lt(x, loc), -np.inf, log_probs)


def pdf(x, loc=0, scale=1):
    """The exponential density: exp(logpdf)."""
    return fnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    """The distribution function -expm1(-(x - loc)/scale), 0 before `loc`."""
    x, loc, scale = inexact("expon.cdf", x, loc, scale)
    neg_scaled_x = div(sub(loc, x), scale)
    return where(lt(x, loc), fnp.zeros_like(neg_scaled_x), neg(expm1(neg_scaled_x)))


def logcdf(x, loc=0, scale=1):
    """log(cdf), as log1p(-sf)."""
    return log1p(neg(sf(x, loc, scale)))


def logsf(x, loc=0, scale=1):
    """log of the survival function, -(x - loc)/scale (0 before `loc`)."""
    x, loc, scale = inexact("expon.logsf", x, loc, scale)
    neg_scaled_x = div(sub(loc, x), scale)
    return where(lt(x, loc), fnp.zeros_like(neg_scaled_x), neg_scaled_x)


def sf(x, loc=0, scale=1):
    """The survival function: exp(logsf)."""
    return fnp.exp(logsf(x, loc, scale))


def ppf(q, loc=0, scale=1):
    """The quantile function loc - scale log1p(-q); NaN outside [0, 1]."""
    q, loc, scale = inexact("expon.ppf", q, loc, scale)
    bad = lor(fnp.isnan(q), lor(lt(q, 0), gt(q, 1)))
    return where(bad, np.nan, sub(loc, mul(scale, log1p(neg(q)))))
