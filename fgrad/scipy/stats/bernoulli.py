"""fgrad.scipy.stats.bernoulli: the Bernoulli distribution, as jax.scipy.stats.bernoulli."""

from __future__ import annotations

import numpy as np

import fgrad.numpy as fnp
from fgrad.core import aval_of
from fgrad.lax import elementwise as lx
from fgrad.scipy import special as fsp
from fgrad.scipy.stats._util import (
    add, const, ge, gt, inexact, land, le, lor, lt, neg, sub, where,
)

__all__ = ["cdf", "logpmf", "pmf", "ppf"]


def logpmf(k, p, loc=0):
    """log p at k = loc + 1, log(1 - p) at k = loc, -inf elsewhere."""
    k, p, loc = inexact("bernoulli.logpmf", k, p, loc)
    x = sub(k, loc)
    log_probs = add(fsp.xlogy(x, p), fsp.xlog1py(sub(1.0, x), neg(p)))
    return where(lor(lt(x, 0), gt(x, 1)), -np.inf, log_probs)


def pmf(k, p, loc=0):
    """The Bernoulli probability mass: exp(logpmf)."""
    return fnp.exp(logpmf(k, p, loc))


def _bad(p):
    return lor(fnp.isnan(p), lor(lt(p, 0), gt(p, 1)))


def cdf(k, p):
    """0 below 0, 1 - p on [0, 1), 1 from 1; NaN for NaN k or p outside [0, 1]."""
    k, p = inexact("bernoulli.cdf", k, p)
    zero, one = 0.0, 1.0
    return fnp.select([lor(fnp.isnan(k), _bad(p)), lt(k, zero), land(ge(k, zero), lt(k, one)),
                       ge(k, one)], [np.nan, zero, sub(one, p), one])


def ppf(q, p):
    """The quantile function: 0 for q <= 1 - p, else 1; NaN outside the domain."""
    q, p = inexact("bernoulli.ppf", q, p)
    zero, one = const(q, 0), const(q, 1)
    bad = lor(lor(fnp.isnan(q), _bad(p)), lor(lt(q, zero), gt(q, one)))
    out = where(bad, np.nan, where(le(q, sub(one, p)), zero, one))
    return lx.convert_element_type(out, aval_of(q).dtype, weak_type=aval_of(q).weak_type)
