"""fgrad.scipy.stats.geom: the geometric distribution on 1, 2, ..., as
jax.scipy.stats.geom."""

from __future__ import annotations

import numpy as np

import fgrad.numpy as fnp
from fgrad.scipy import special as fsp
from fgrad.scipy.stats._util import add, inexact, le, log, neg, sub, where

__all__ = ["logpmf", "pmf"]


def logpmf(k, p, loc=0):
    """The log probability (k - loc - 1) log(1 - p) + log p; -inf for k - loc <= 0."""
    k, p, loc = inexact("geom.logpmf", k, p, loc)
    x = sub(k, loc)
    log_probs = add(fsp.xlog1py(sub(x, 1.0), neg(p)), log(p))
    return where(le(x, 0), -np.inf, log_probs)


def pmf(k, p, loc=0):
    """The geometric probability mass: exp(logpmf)."""
    return fnp.exp(logpmf(k, p, loc))
