"""fgrad.scipy.stats.nbinom: the negative binomial distribution, as
jax.scipy.stats.nbinom."""

from __future__ import annotations

import numpy as np

import fgrad.numpy as fnp
from fgrad.scipy import special as fsp
from fgrad.scipy.stats._util import add, inexact, lt, sub, where

__all__ = ["logpmf", "pmf"]


def logpmf(k, n, p, loc=0):
    """The log probability of k - loc failures before the n-th success of probability p."""
    k, n, p, loc = inexact("nbinom.logpmf", k, n, p, loc)
    y = sub(k, loc)
    comb_term = sub(sub(fsp.gammaln(add(y, n)), fsp.gammaln(n)), fsp.gammaln(add(y, 1.0)))
    log_linear_term = add(fsp.xlogy(n, p), fsp.xlogy(y, sub(1.0, p)))
    return where(lt(k, loc), -np.inf, add(comb_term, log_linear_term))


def pmf(k, n, p, loc=0):
    """The negative binomial probability mass: exp(logpmf)."""
    return fnp.exp(logpmf(k, n, p, loc))
