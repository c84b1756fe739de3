"""fgrad.scipy.stats.binom: the binomial distribution, as jax.scipy.stats.binom."""

from __future__ import annotations

import numpy as np

import fgrad.numpy as fnp
from fgrad.scipy import special as fsp
from fgrad.scipy.stats._util import add, eq, ge, inexact, land, lor, lt, neg, sub, where

__all__ = ["logpmf", "pmf"]


def logpmf(k, n, p, loc=0):
    """The log probability of k - loc successes in n trials of probability p."""
    k, n, p, loc = inexact("binom.logpmf", k, n, p, loc)
    y = sub(k, loc)
    comb_term = sub(fsp.gammaln(add(n, 1)),
                    add(fsp.gammaln(add(y, 1)), fsp.gammaln(add(sub(n, y), 1))))
    log_linear_term = add(fsp.xlogy(y, p), fsp.xlog1py(sub(n, y), neg(p)))
    log_probs = add(comb_term, log_linear_term)
    y_n_cond = lor(land(eq(y, 0), eq(n, 0)), eq(log_linear_term, 0))
    log_probs = where(y_n_cond, 0.0, log_probs)
    return where(land(ge(k, loc), lt(k, add(add(loc, n), 1))), log_probs, -np.inf)


def pmf(k, n, p, loc=0):
    """The binomial probability mass: exp(logpmf)."""
    return fnp.exp(logpmf(k, n, p, loc))
