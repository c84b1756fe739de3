"""fgrad.scipy.stats.uniform: the uniform distribution on [loc, loc + scale], as
jax.scipy.stats.uniform."""

from __future__ import annotations

import numpy as np

import fgrad.numpy as fnp
from fgrad.core import aval_of
from fgrad.scipy.stats._util import add, div, ge, gt, inexact, land, le, log, lor, lt, mul, neg
from fgrad.scipy.stats._util import sub, where

__all__ = ["cdf", "logpdf", "pdf", "ppf"]


def logpdf(x, loc=0, scale=1):
    """-log(scale) on [loc, loc + scale], -inf outside."""
    x, loc, scale = inexact("uniform.logpdf", x, loc, scale)
    log_probs = neg(log(scale))
    return where(lor(gt(x, add(loc, scale)), lt(x, loc)), -np.inf, log_probs)


def pdf(x, loc=0, scale=1):
    """The uniform density: exp(logpdf)."""
    return fnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    """0 before `loc`, (x - loc)/scale on the interval, 1 after it."""
    x, loc, scale = inexact("uniform.cdf", x, loc, scale)
    dtype = aval_of(x).dtype
    zero, one = fnp.array(0, dtype), fnp.array(1, dtype)
    end = add(loc, scale)
    return fnp.select([lt(x, loc), gt(x, end), land(ge(x, loc), le(x, end))],
                      [zero, one, div(sub(x, loc), scale)])


def ppf(q, loc=0, scale=1):
    """The quantile function loc + scale q; NaN outside [0, 1]."""
    q, loc, scale = inexact("uniform.ppf", q, loc, scale)
    bad = lor(fnp.isnan(q), lor(lt(q, 0), gt(q, 1)))
    return where(bad, np.nan, add(loc, mul(scale, q)))
