"""fgrad.scipy.stats.pareto: the Pareto distribution, as jax.scipy.stats.pareto."""

from __future__ import annotations

import numpy as np

import fgrad.numpy as fnp
from fgrad import lax as fl
from fgrad.scipy.stats._util import (
    add, div, gt, inexact, log, log1p, lor, lt, mul, neg, sub, where,
)

__all__ = ["cdf", "logcdf", "logpdf", "logsf", "pdf", "ppf", "sf"]


def logpdf(x, b, loc=0, scale=1):
    """The log density log(b/scale) - (b + 1) log((x - loc)/scale) from loc + scale on."""
    x, b, loc, scale = inexact("pareto.logpdf", x, b, loc, scale)
    scaled_x = div(sub(x, loc), scale)
    normalize_term = log(div(scale, b))
    log_probs = neg(add(normalize_term, mul(add(b, 1.0), log(scaled_x))))
    return where(lt(x, add(loc, scale)), -np.inf, log_probs)


def pdf(x, b, loc=0, scale=1):
    """The Pareto density: exp(logpdf)."""
    return fnp.exp(logpdf(x, b, loc, scale))


def cdf(x, b, loc=0, scale=1):
    """The distribution function 1 - ((x - loc)/scale)^-b, 0 before loc + scale."""
    x, b, loc, scale = inexact("pareto.cdf", x, b, loc, scale)
    scaled_x = div(sub(x, loc), scale)
    value = sub(1.0, fl.pow(scaled_x, neg(b)))
    return where(lt(x, add(loc, scale)), 0.0, value)


def logcdf(x, b, loc=0, scale=1):
    """log of the distribution function, log1p(-((x - loc)/scale)^-b)."""
    x, b, loc, scale = inexact("pareto.logcdf", x, b, loc, scale)
    scaled_x = div(sub(x, loc), scale)
    value = log1p(neg(fl.pow(scaled_x, neg(b))))
    return where(lt(x, add(loc, scale)), -np.inf, value)


def logsf(x, b, loc=0, scale=1):
    """log of the survival function, -b log((x - loc)/scale)."""
    x, b, loc, scale = inexact("pareto.logsf", x, b, loc, scale)
    scaled_x = div(sub(x, loc), scale)
    return where(lt(x, add(loc, scale)), 0.0, neg(mul(b, log(scaled_x))))


def sf(x, b, loc=0, scale=1):
    """The survival function: exp(logsf)."""
    return fnp.exp(logsf(x, b, loc, scale))


def ppf(q, b, loc=0, scale=1):
    """The quantile function loc + scale (1 - q)^(-1/b); NaN outside [0, 1]."""
    q, b, loc, scale = inexact("pareto.ppf", q, b, loc, scale)
    value = add(loc, mul(scale, fl.pow(sub(1.0, q), neg(div(1.0, b)))))
    return where(lor(fnp.isnan(q), lor(lt(q, 0), gt(q, 1))), np.nan, value)
