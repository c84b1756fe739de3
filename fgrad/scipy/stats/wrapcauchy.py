"""fgrad.scipy.stats.wrapcauchy: the wrapped Cauchy distribution on [0, 2 pi], as
jax.scipy.stats.wrapcauchy."""

from __future__ import annotations

import math

import numpy as np

import fgrad.numpy as fnp
from fgrad.scipy.stats._util import add, ge, gt, inexact, land, le, log, lt, mul, sub, where

__all__ = ["logpdf", "pdf"]


def logpdf(x, c):
    """log((1 - c^2) / (2 pi (1 + c^2 - 2 c cos x))) on [0, 2 pi]; NaN unless 0 < c < 1."""
    x, c = inexact("wrapcauchy.logpdf", x, c)
    c2 = mul(c, c)
    value = sub(sub(log(sub(1, c2)), math.log(2 * math.pi)),
                log(sub(add(1, c2), mul(mul(2, c), fnp.cos(x)))))
    inside = where(land(ge(x, 0), le(x, np.pi * 2)), value, -np.inf)
    return where(land(gt(c, 0), lt(c, 1)), inside, np.nan)


def pdf(x, c):
    """The wrapped Cauchy density: exp(logpdf)."""
    return fnp.exp(logpdf(x, c))
