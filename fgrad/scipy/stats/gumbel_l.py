"""fgrad.scipy.stats.gumbel_l: the left-skewed Gumbel distribution, as
jax.scipy.stats.gumbel_l. Every function is NaN unless scale > 0."""

from __future__ import annotations

import numpy as np

import fgrad.numpy as fnp
from fgrad.scipy import special as fsp
from fgrad.scipy.stats._util import (
    add, div, exp, expm1, gt, inexact, land, log, lt, mul, neg, sub, where,
)

__all__ = ["cdf", "logcdf", "logpdf", "logsf", "pdf", "ppf", "sf"]


def logpdf(x, loc=0, scale=1):
    """The log density z - exp(z) - log(scale), z = (x - loc)/scale."""
    x, loc, scale = inexact("gumbel_l.logpdf", x, loc, scale)
    z = div(sub(x, loc), scale)
    log_pdf = add(fsp.xlogy(-1, scale), sub(z, exp(z)))
    return where(gt(scale, 0), log_pdf, np.nan)


def pdf(x, loc=0, scale=1):
    """The density: exp(logpdf)."""
    return fnp.exp(logpdf(x, loc, scale))


def logcdf(x, loc=0, scale=1):
    """log of the distribution function, log(-expm1(-exp(z)))."""
    x, loc, scale = inexact("gumbel_l.logcdf", x, loc, scale)
    z = div(sub(x, loc), scale)
    log_cdf = log(neg(expm1(neg(exp(z)))))
    return where(gt(scale, 0), log_cdf, np.nan)


def cdf(x, loc=0, scale=1):
    """The distribution function: exp(logcdf)."""
    return fnp.exp(logcdf(x, loc, scale))


def ppf(p, loc=0, scale=1):
    """The quantile function loc + scale log(-log1p(-p)); NaN outside (0, 1)."""
    p, loc, scale = inexact("gumbel_l.ppf", p, loc, scale)
    quantile = add(loc, mul(scale, log(fsp.xlog1py(-1, neg(p)))))
    return where(land(gt(p, 0), lt(p, 1)), quantile, np.nan)


def sf(x, loc=0, scale=1):
    """The survival function: exp(logsf)."""
    return fnp.exp(logsf(x, loc, scale))


def logsf(x, loc=0, scale=1):
    """log of the survival function, -exp(z)."""
    x, loc, scale = inexact("gumbel_l.logsf", x, loc, scale)
    z = div(sub(x, loc), scale)
    return where(gt(scale, 0), neg(exp(z)), np.nan)
