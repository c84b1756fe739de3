"""fgrad.scipy.stats.chi2: the chi-square distribution, as jax.scipy.stats.chi2."""

from __future__ import annotations

import math

import numpy as np

import fgrad.numpy as fnp
from fgrad.lax import special as lsp
from fgrad.scipy import special as fsp
from fgrad.scipy.stats._util import add, clamp, div, inexact, log, lt, mul, neg, sub, where

__all__ = ["cdf", "logcdf", "logpdf", "logsf", "pdf", "sf"]


def logpdf(x, df, loc=0, scale=1):
    """The log density of chi-square with `df` degrees of freedom."""
    x, df, loc, scale = inexact("chi2.logpdf", x, df, loc, scale)
    y = div(sub(x, loc), scale)
    df_on_two = div(df, 2.0)
    kernel = sub(mul(sub(df_on_two, 1.0), log(y)), div(y, 2.0))
    nrml_cnst = neg(add(lsp.lgamma(df_on_two), div(mul(math.log(2.0), df), 2.0)))
    log_probs = add(sub(nrml_cnst, log(scale)), kernel)
    return where(lt(x, loc), -np.inf, log_probs)


def pdf(x, df, loc=0, scale=1):
    """The chi-square density: exp(logpdf)."""
    return fnp.exp(logpdf(x, df, loc, scale))


def _half_y(x, loc, scale):
    return clamp(0.0, div(sub(x, loc), mul(scale, 2.0)), np.inf)


def cdf(x, df, loc=0, scale=1):
    """The distribution function, gammainc(df / 2, y / 2)."""
    x, df, loc, scale = inexact("chi2.cdf", x, df, loc, scale)
    return fsp.gammainc(div(df, 2.0), _half_y(x, loc, scale))


def logcdf(x, df, loc=0, scale=1):
    """log(cdf)."""
    return log(cdf(x, df, loc, scale))


def sf(x, df, loc=0, scale=1):
    """The survival function, gammaincc(df / 2, y / 2)."""
    x, df, loc, scale = inexact("chi2.sf", x, df, loc, scale)
    return fsp.gammaincc(div(df, 2.0), _half_y(x, loc, scale))


def logsf(x, df, loc=0, scale=1):
    """log(sf)."""
    return log(sf(x, df, loc, scale))
