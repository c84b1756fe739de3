"""fgrad.scipy.stats.betabinom: the beta-binomial distribution, as
jax.scipy.stats.betabinom."""

from __future__ import annotations

import numpy as np

import fgrad.numpy as fnp
from fgrad.scipy import special as fsp
from fgrad.scipy.stats._util import (
    add, eq, gt, inexact, land, le, log1p, lor, lt, neg, sub, where,
)

__all__ = ["logpmf", "pmf"]


def logpmf(k, n, a, b, loc=0):
    """The log probability of floor(k) - loc successes in n Beta(a, b)-binomial trials."""
    k, n, a, b, loc = inexact("betabinom.logpmf", k, n, a, b, loc)
    y = sub(fnp.floor(k), loc)
    combiln = neg(add(log1p(n), fsp.betaln(add(sub(n, y), 1.0), add(y, 1.0))))
    beta_lns = sub(fsp.betaln(add(y, a), add(sub(n, y), b)), fsp.betaln(a, b))
    log_probs = where(land(eq(y, 0), eq(n, 0)), 0.0, add(combiln, beta_lns))
    y_cond = lor(lor(lt(y, neg(loc)), gt(y, n)), le(add(y, a), 0))
    log_probs = where(y_cond, -np.inf, log_probs)
    return where(lor(lor(lt(n, 0), le(a, 0)), le(b, 0)), np.nan, log_probs)


def pmf(k, n, a, b, loc=0):
    """The beta-binomial probability mass: exp(logpmf)."""
    return fnp.exp(logpmf(k, n, a, b, loc))
