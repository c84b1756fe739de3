"""fgrad.scipy.stats.cauchy: the Cauchy distribution, as jax.scipy.stats.cauchy."""

from __future__ import annotations

import math

import fgrad.numpy as fnp
from fgrad.scipy.stats._util import add, div, inexact, log, log1p, mul, neg, sub

__all__ = ["cdf", "isf", "logcdf", "logpdf", "logsf", "pdf", "ppf", "sf"]


def logpdf(x, loc=0, scale=1):
    """The log density of the Cauchy distribution centred at `loc` with half-width `scale`."""
    x, loc, scale = inexact("cauchy.logpdf", x, loc, scale)
    scaled_x = div(sub(x, loc), scale)
    normalize_term = log(mul(math.pi, scale))
    return neg(add(normalize_term, log1p(mul(scaled_x, scaled_x))))


def pdf(x, loc=0, scale=1):
    """The Cauchy density: exp(logpdf)."""
    return fnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    """The distribution function 1/2 + arctan((x - loc) / scale) / pi."""
    x, loc, scale = inexact("cauchy.cdf", x, loc, scale)
    scaled_x = div(sub(x, loc), scale)
    return add(0.5, mul(1.0 / math.pi, fnp.arctan(scaled_x)))


def logcdf(x, loc=0, scale=1):
    """log(cdf)."""
    return log(cdf(x, loc, scale))


def sf(x, loc=0, scale=1):
    """The survival function, cdf(-x, -loc, scale)."""
    x, loc, scale = inexact("cauchy.sf", x, loc, scale)
    return cdf(neg(x), neg(loc), scale)


def logsf(x, loc=0, scale=1):
    """log of the survival function, logcdf(-x, -loc, scale)."""
    x, loc, scale = inexact("cauchy.logsf", x, loc, scale)
    return logcdf(neg(x), neg(loc), scale)


def isf(q, loc=0, scale=1):
    """The inverse survival function, loc + scale tan(pi/2 - pi q)."""
    q, loc, scale = inexact("cauchy.isf", q, loc, scale)
    unscaled = fnp.tan(sub(math.pi / 2, mul(math.pi, q)))
    return add(mul(unscaled, scale), loc)


def ppf(q, loc=0, scale=1):
    """The quantile function, loc + scale tan(pi q - pi/2)."""
    q, loc, scale = inexact("cauchy.ppf", q, loc, scale)
    unscaled = fnp.tan(sub(mul(math.pi, q), math.pi / 2))
    return add(mul(unscaled, scale), loc)
