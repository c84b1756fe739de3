"""fgrad.scipy.stats.beta: the beta distribution, as jax.scipy.stats.beta."""

from __future__ import annotations

import numpy as np

import fgrad.numpy as fnp
from fgrad.scipy import special as fsp
from fgrad.scipy.stats._util import (
    add, clamp, div, gt, inexact, le, log, lor, lt, neg, sub, where,
)

__all__ = ["cdf", "logcdf", "logpdf", "logsf", "pdf", "sf"]


def logpdf(x, a, b, loc=0, scale=1):
    """The log density of Beta(a, b) on [loc, loc + scale]; NaN unless a, b, scale > 0."""
    x, a, b, loc, scale = inexact("beta.logpdf", x, a, b, loc, scale)
    shape_term = neg(fsp.betaln(a, b))
    y = div(sub(x, loc), scale)
    log_linear_term = add(fsp.xlogy(sub(a, 1.0), y), fsp.xlog1py(sub(b, 1.0), neg(y)))
    log_probs = sub(add(shape_term, log_linear_term), log(scale))
    result = where(lor(gt(x, add(loc, scale)), lt(x, loc)), -np.inf, log_probs)
    return where(lor(lor(le(a, 0), le(b, 0)), le(scale, 0)), np.nan, result)


def pdf(x, a, b, loc=0, scale=1):
    """The beta density: exp(logpdf)."""
    return fnp.exp(logpdf(x, a, b, loc, scale))


def _unit(x, loc, scale):
    return clamp(0.0, div(sub(x, loc), scale), 1.0)


def cdf(x, a, b, loc=0, scale=1):
    """The distribution function, the regularized incomplete beta function."""
    x, a, b, loc, scale = inexact("beta.cdf", x, a, b, loc, scale)
    return fsp.betainc(a, b, _unit(x, loc, scale))


def logcdf(x, a, b, loc=0, scale=1):
    """log(cdf)."""
    return log(cdf(x, a, b, loc, scale))


def sf(x, a, b, loc=0, scale=1):
    """The survival function, betainc(b, a, 1 - y)."""
    x, a, b, loc, scale = inexact("beta.sf", x, a, b, loc, scale)
    return fsp.betainc(b, a, sub(1, _unit(x, loc, scale)))


def logsf(x, a, b, loc=0, scale=1):
    """log(sf)."""
    return log(sf(x, a, b, loc, scale))

