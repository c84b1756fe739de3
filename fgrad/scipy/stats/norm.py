"""fgrad.scipy.stats.norm: the normal distribution, as jax.scipy.stats.norm."""

from __future__ import annotations

import math

import fgrad.numpy as fnp
from fgrad.scipy import special as fsp
from fgrad.scipy.stats._util import add, div, inexact, log, mul, neg, strong, sub

__all__ = ["cdf", "isf", "logcdf", "logpdf", "logsf", "pdf", "ppf", "sf"]


def logpdf(x, loc=0, scale=1):
    """The log of the normal density with mean `loc` and standard deviation `scale`."""
    x, loc, scale = inexact("norm.logpdf", x, loc, scale)
    scale_sqrd = fnp.square(scale)
    log_normalizer = log(mul(2 * math.pi, scale_sqrd))
    quadratic = div(fnp.square(sub(x, loc)), scale_sqrd)
    return div(add(log_normalizer, quadratic), -2.0)


def pdf(x, loc=0, scale=1):
    """The normal density: exp(logpdf)."""
    return fnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    """The normal distribution function, ndtr((x - loc) / scale)."""
    x, loc, scale = inexact("norm.cdf", x, loc, scale)
    return strong(fsp.ndtr(div(sub(x, loc), scale)))


def logcdf(x, loc=0, scale=1):
    """log of the distribution function, log_ndtr((x - loc) / scale), accurate in the tail."""
    x, loc, scale = inexact("norm.logcdf", x, loc, scale)
    return strong(fsp.log_ndtr(div(sub(x, loc), scale)))


def sf(x, loc=0, scale=1):
    """The survival function 1 - cdf, as cdf(-x, -loc, scale)."""
    x, loc, scale = inexact("norm.sf", x, loc, scale)
    return cdf(neg(x), neg(loc), scale)


def logsf(x, loc=0, scale=1):
    """log of the survival function, as logcdf(-x, -loc, scale)."""
    x, loc, scale = inexact("norm.logsf", x, loc, scale)
    return logcdf(neg(x), neg(loc), scale)


def ppf(q, loc=0, scale=1):
    """The quantile function (inverse of cdf), in the default float dtype as in JAX."""
    (q,) = inexact("norm.ppf", q)
    return fnp.asarray(add(mul(fsp.ndtri(q), scale), loc), float)


def isf(q, loc=0, scale=1):
    """The inverse survival function, ppf(1 - q)."""
    return ppf(sub(1, fnp.asarray(q)), loc, scale)
