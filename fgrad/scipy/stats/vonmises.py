"""fgrad.scipy.stats.vonmises: the von Mises distribution, as jax.scipy.stats.vonmises."""

from __future__ import annotations

import math

import numpy as np

import fgrad.numpy as fnp
from fgrad.scipy import special as fsp
from fgrad.scipy.stats._util import gt, inexact, log, mul, sub, where

__all__ = ["logpdf", "pdf"]


def logpdf(x, kappa):
    """The log density kappa (cos x - 1) - log(2 pi i0e(kappa)); NaN unless kappa > 0."""
    x, kappa = inexact("vonmises.logpdf", x, kappa)
    value = sub(mul(kappa, sub(fnp.cos(x), 1)), log(mul(2 * math.pi, fsp.i0e(kappa))))
    return where(gt(kappa, 0), value, np.nan)


def pdf(x, kappa):
    """The von Mises density: exp(logpdf)."""
    return fnp.exp(logpdf(x, kappa))
