"""fgrad.scipy.stats.laplace: the Laplace distribution, as jax.scipy.stats.laplace."""

from __future__ import annotations

import fgrad.numpy as fnp
from fgrad.scipy.stats._util import add, div, exp, inexact, le, log, mul, neg, sub, where

__all__ = ["cdf", "logpdf", "pdf"]


def logpdf(x, loc=0, scale=1):
    """The log density -|x - loc|/scale - log(2 scale)."""
    x, loc, scale = inexact("laplace.logpdf", x, loc, scale)
    linear_term = div(fnp.abs(sub(x, loc)), scale)
    return neg(add(linear_term, log(mul(2.0, scale))))


def pdf(x, loc=0, scale=1):
    """The Laplace density: exp(logpdf)."""
    return fnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    """The distribution function: exp(z)/2 for z = (x - loc)/scale <= 0, else 1 - exp(-z)/2."""
    x, loc, scale = inexact("laplace.cdf", x, loc, scale)
    diff = div(sub(x, loc), scale)
    return where(le(diff, 0), mul(0.5, exp(diff)), sub(1.0, mul(0.5, exp(neg(diff)))))
