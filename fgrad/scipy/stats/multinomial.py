"""fgrad.scipy.stats.multinomial: the multinomial distribution, as
jax.scipy.stats.multinomial. `x` and `n` must be integers; categories lie along x's last
axis."""

from __future__ import annotations

import numpy as np

import fgrad.numpy as fnp
from fgrad.core import aval_of
from fgrad.numpy._core import as_array, check_arraylike, promote_dtypes
from fgrad.scipy import special as fsp
from fgrad.scipy.stats._util import NS, add, eq, fail, inexact, sub, where

__all__ = ["logpmf", "pmf"]


def logpmf(x, n, p):
    """The log probability of the counts `x` in `n` draws with category probabilities `p`."""
    (p,) = inexact("multinomial.logpmf", p)
    check_arraylike("multinomial.logpmf", x, n, namespace=NS)
    x, n = (as_array(v, "multinomial.logpmf") for v in promote_dtypes(x, n, kind="numeric"))
    # JAX's rank promotion without broadcasting: the lower-rank array of two gets leading
    # axes of size 1, a scalar stays a scalar.
    x_shape, n_shape = aval_of(x).shape, aval_of(n).shape
    if x_shape and n_shape and len(x_shape) != len(n_shape):
        rank = max(len(x_shape), len(n_shape))
        x = fnp.reshape(x, (1,) * (rank - len(x_shape)) + x_shape)
        n = fnp.reshape(n, (1,) * (rank - len(n_shape)) + n_shape)
    if not np.issubdtype(aval_of(x).dtype, np.integer):
        raise fail("multinomial.logpmf", f"x and n must be of integer type; got "
                                         f"x.dtype={aval_of(x).dtype}, n.dtype="
                                         f"{aval_of(n).dtype}.", ValueError)
    dtype = aval_of(p).dtype
    x, n = fnp.astype(x, dtype), fnp.astype(n, dtype)
    logprobs = add(fsp.gammaln(add(n, 1)),
                   fnp.sum(sub(fsp.xlogy(x, p), fsp.gammaln(add(x, 1))), axis=-1))
    return where(eq(fnp.sum(x), n), logprobs, -np.inf)


def pmf(x, n, p):
    """The multinomial probability mass: exp(logpmf)."""
    return fnp.exp(logpmf(x, n, p))
