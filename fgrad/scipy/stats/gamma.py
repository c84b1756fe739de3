"""fgrad.scipy.stats.gamma: the gamma distribution, as jax.scipy.stats.gamma."""

from __future__ import annotations

import numpy as np

import fgrad.numpy as fnp
from fgrad.lax import special as lsp
from fgrad.scipy import special as fsp
from fgrad.scipy.stats._util import add, clamp, div, ge, inexact, log, lt, sub, where

__all__ = ["cdf", "logcdf", "logpdf", "logsf", "pdf", "sf"]


def logpdf(x, a, loc=0, scale=1):
    """The log density of Gamma(a) shifted by `loc` and scaled by `scale`."""
    x, a, loc, scale = inexact("gamma.logpdf", x, a, loc, scale)
    ok = ge(x, loc)
    y = where(ok, div(sub(x, loc), scale), 1.0)
    log_linear_term = sub(fsp.xlogy(sub(a, 1.0), y), y)
    shape_terms = add(lsp.lgamma(a), log(scale))
    return where(ok, sub(log_linear_term, shape_terms), -np.inf)


def pdf(x, a, loc=0, scale=1):
    """The gamma density: exp(logpdf)."""
    return fnp.exp(logpdf(x, a, loc, scale))


def cdf(x, a, loc=0, scale=1):
    """The distribution function, the regularized lower incomplete gamma function."""
    x, a, loc, scale = inexact("gamma.cdf", x, a, loc, scale)
    return fsp.gammainc(a, clamp(0.0, div(sub(x, loc), scale), np.inf))


def logcdf(x, a, loc=0, scale=1):
    """log(cdf)."""
    return log(cdf(x, a, loc, scale))


def sf(x, a, loc=0, scale=1):
    """The survival function, the regularized upper incomplete gamma function."""
    x, a, loc, scale = inexact("gamma.sf", x, a, loc, scale)
    y = div(sub(x, loc), scale)
    return where(lt(y, 0), 1, fsp.gammaincc(a, y))


def logsf(x, a, loc=0, scale=1):
    """log(sf)."""
    return log(sf(x, a, loc, scale))
