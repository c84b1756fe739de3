"""fgrad.scipy.stats.poisson: the Poisson distribution, as jax.scipy.stats.poisson."""

from __future__ import annotations

import math

import numpy as np

import fgrad.numpy as fnp
from fgrad.core import aval_of
from fgrad.lax import special as lsp
from fgrad.scipy import special as fsp
from fgrad.scipy.stats._util import (
    NS, add, div, eq, inexact, inexact_dtypes, lor, lt, mul, ne, strong, sub, where,
)
from fgrad.numpy._core import check_arraylike

__all__ = ["cdf", "entropy", "logpmf", "pmf"]


def logpmf(k, mu, loc=0):
    """The log probability of k events at rate `mu`; -inf below `loc` and off the integers."""
    k, mu, loc = inexact("poisson.logpmf", k, mu, loc)
    x = sub(k, loc)
    log_probs = sub(sub(fsp.xlogy(x, mu), lsp.lgamma(add(x, 1.0))), mu)
    return where(lor(lt(x, 0), ne(fnp.round(k), k)), -np.inf, log_probs)


def pmf(k, mu, loc=0):
    """The Poisson probability mass: exp(logpmf)."""
    return fnp.exp(logpmf(k, mu, loc))


def cdf(k, mu, loc=0):
    """The distribution function, gammaincc(floor(k - loc) + 1, mu)."""
    k, mu, loc = inexact("poisson.cdf", k, mu, loc)
    x = sub(k, loc)
    p = fsp.gammaincc(fnp.floor(add(1.0, x)), mu)
    return where(lt(x, 0), 0.0, p)


# entropy: as JAX, the sum of entr(pmf) over k < mu + 20 (35 terms) for mu < 10, over
# k < mu + 10 sqrt(mu) + 20 (250 terms) for mu < 100, and 0.5 log(2 pi e mu) - 1/(12 mu)
# beyond; 0 at mu = 0.


def _entropy_sum(mu, max_k: int, upper):
    k = fnp.arange(max_k, dtype=aval_of(mu).dtype)[:, None]
    probs = pmf(k, mu, 0)
    probs = where(lt(k, fnp.ceil(upper)[None, :]), probs, 0.0)
    return fnp.sum(fsp.entr(probs), axis=0)


def entropy(mu, loc=0):
    """The entropy of Poisson(mu) (`loc` only broadcasts the result)."""
    check_arraylike("poisson.entropy", mu, loc, namespace=NS)
    mu, loc = (strong(a) for a in inexact_dtypes("poisson.entropy", mu, loc))
    mu_shape, loc_shape = aval_of(mu).shape, aval_of(loc).shape
    flat = fnp.ravel(mu)
    small = _entropy_sum(flat, 35, add(flat, 20.0))
    medium = _entropy_sum(flat, 250, add(add(flat, mul(10.0, fnp.sqrt(flat))), 20.0))
    large = sub(mul(0.5, fnp.log(mul(2 * math.pi * math.e, flat))), div(1.0, mul(12.0, flat)))
    result = where(eq(flat, 0), fnp.zeros_like(flat),
                   where(lt(flat, 10), small, where(lt(flat, 100), medium, large)))
    return fnp.broadcast_to(fnp.reshape(result, mu_shape),
                            np.broadcast_shapes(mu_shape, loc_shape))
