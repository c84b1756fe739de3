"""fgrad.scipy.stats.gumbel_r: the right-skewed Gumbel distribution, as
jax.scipy.stats.gumbel_r. Every function is NaN unless scale > 0."""

from __future__ import annotations

import numpy as np

import fgrad.nn as fnn
import fgrad.numpy as fnp
from fgrad.scipy import special as fsp
from fgrad.scipy.stats._util import (
    add, div, exp, gt, inexact, land, log, lt, mul, neg, sub, where,
)

__all__ = ["cdf", "logcdf", "logpdf", "logsf", "pdf", "ppf", "sf"]


def logpdf(x, loc=0, scale=1):
    """The log density -(z + exp(-z)) - log(scale), z = (x - loc)/scale."""
    x, loc, scale = inexact("gumbel_r.logpdf", x, loc, scale)
    z = div(sub(x, loc), scale)
    log_pdf = add(fsp.xlogy(-1, scale), neg(add(z, exp(neg(z)))))
    return where(gt(scale, 0), log_pdf, np.nan)


def pdf(x, loc=0, scale=1):
    """The density: exp(logpdf)."""
    return fnp.exp(logpdf(x, loc, scale))


def logcdf(x, loc=0, scale=1):
    """log of the distribution function, -exp(-z)."""
    x, loc, scale = inexact("gumbel_r.logcdf", x, loc, scale)
    z = div(sub(x, loc), scale)
    return where(gt(scale, 0), neg(exp(neg(z))), np.nan)


def cdf(x, loc=0, scale=1):
    """The distribution function: exp(logcdf)."""
    return fnp.exp(logcdf(x, loc, scale))


def ppf(p, loc=0, scale=1):
    """The quantile function loc - scale log(-log p); NaN outside (0, 1)."""
    p, loc, scale = inexact("gumbel_r.ppf", p, loc, scale)
    quantile = sub(loc, mul(scale, log(fsp.xlogy(-1, p))))
    return where(land(gt(p, 0), lt(p, 1)), quantile, np.nan)


def sf(x, loc=0, scale=1):
    """The survival function 1 - exp(-exp(-z))."""
    x, loc, scale = inexact("gumbel_r.sf", x, loc, scale)
    neg_z = div(sub(loc, x), scale)
    return where(gt(scale, 0), sub(1, exp(neg(exp(neg_z)))), np.nan)


def logsf(x, loc=0, scale=1):
    """log of the survival function, log1mexp(exp(-z))."""
    x, loc, scale = inexact("gumbel_r.logsf", x, loc, scale)
    neg_z = div(sub(loc, x), scale)
    return where(gt(scale, 0), fnn.log1mexp(exp(neg_z)), np.nan)
