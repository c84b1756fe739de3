"""fgrad.scipy.stats.truncnorm: the normal distribution truncated to [a, b] (in standard
units: the interval is [loc + a scale, loc + b scale]), as jax.scipy.stats.truncnorm.

The mass of [a, b] is computed as JAX does: from the log-cdf of the tail on the side away from
the mode, so that intervals far out in a tail keep their precision. Results are strongly
typed, as JAX's (its functions are jitted).
"""

from __future__ import annotations

import numpy as np

import fgrad.numpy as fnp
from fgrad.scipy import special as fsp
from fgrad.scipy.stats import norm
from fgrad.scipy.stats._util import (
    div, exp, ge, gt, inexact, le, log1p, lor, lt, neg, strong, sub, where,
)

__all__ = ["cdf", "logcdf", "logpdf", "logsf", "pdf", "sf"]


def _log_diff(x, y):
    """log(exp(x) - exp(y))."""
    return fsp.logsumexp(fnp.stack([x, y]), axis=0,
                         b=fnp.stack([fnp.ones_like(x), neg(fnp.ones_like(y))]))


def _log_gauss_mass(a, b):
    """log of the standard normal mass of [a, b]."""
    a, b = fnp.broadcast_arrays(strong(a), strong(b))
    case_left = le(b, 0)
    case_right = gt(a, 0)
    case_central = fnp.logical_not(lor(case_left, case_right))
    a_tail = where(case_right, neg(b), a)
    b_tail = where(case_right, neg(a), b)
    mass_tail = _log_diff(fsp.log_ndtr(b_tail), fsp.log_ndtr(a_tail))
    mass_central = log1p(sub(neg(fsp.ndtr(a)), fsp.ndtr(neg(b))))
    return where(case_central, mass_central, mass_tail)


def logpdf(x, a, b, loc=0, scale=1):
    """The log density: norm.logpdf minus the log mass of [a, b]; -inf outside, NaN if a >= b."""
    x, a, b, loc, scale = (strong(v) for v in inexact("truncnorm.logpdf", x, a, b, loc, scale))
    val = sub(norm.logpdf(x, loc, scale), _log_gauss_mass(a, b))
    x_scaled = div(sub(x, loc), scale)
    val = where(lor(lt(x_scaled, a), gt(x_scaled, b)), -np.inf, val)
    return where(ge(a, b), np.nan, val)


def pdf(x, a, b, loc=0, scale=1):
    """The truncated normal density: exp(logpdf)."""
    return fnp.exp(logpdf(x, a, b, loc, scale))


def logcdf(x, a, b, loc=0, scale=1):
    """log of the distribution function (log1p(-sf) where the cdf is near 1)."""
    x, a, b, loc, scale = (strong(v) for v in inexact("truncnorm.logcdf", x, a, b, loc, scale))
    x = div(sub(x, loc), scale)
    lgm_ab = _log_gauss_mass(a, b)
    log_cdf = sub(_log_gauss_mass(a, x), lgm_ab)
    log_sf = sub(_log_gauss_mass(x, b), lgm_ab)
    log_cdf = fnp.select([ge(x, b), le(x, a), gt(log_cdf, -0.1), gt(x, a)],
                         [0, -np.inf, log1p(neg(exp(log_sf))), log_cdf])
    return where(ge(a, b), np.nan, log_cdf)


def cdf(x, a, b, loc=0, scale=1):
    """The distribution function: exp(logcdf)."""
    return fnp.exp(logcdf(x, a, b, loc, scale))


def logsf(x, a, b, loc=0, scale=1):
    """log of the survival function, logcdf(-x, -b, -a, -loc, scale)."""
    x, a, b, loc, scale = inexact("truncnorm.logsf", x, a, b, loc, scale)
    return logcdf(neg(x), neg(b), neg(a), neg(loc), scale)


def sf(x, a, b, loc=0, scale=1):
    """The survival function: exp(logsf)."""
    return fnp.exp(logsf(x, a, b, loc, scale))
