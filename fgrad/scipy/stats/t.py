"""fgrad.scipy.stats.t: Student's t distribution, as jax.scipy.stats.t."""

from __future__ import annotations

import math

import fgrad.numpy as fnp
from fgrad.lax import special as lsp
from fgrad.scipy.stats._util import add, div, inexact, log, log1p, mul, neg, sub

__all__ = ["logpdf", "pdf"]


def logpdf(x, df, loc=0, scale=1):
    """The log density of Student's t with `df` degrees of freedom."""
    x, df, loc, scale = inexact("t.logpdf", x, df, loc, scale)
    scaled_x = div(sub(x, loc), scale)
    df_over_two = div(df, 2.0)
    df_plus_one_over_two = add(df_over_two, 0.5)
    normalize_term_const = mul(mul(scale, scale), math.pi)
    normalize_term_tmp = div(log(mul(normalize_term_const, df)), 2.0)
    normalize_term = sub(add(lsp.lgamma(df_over_two), normalize_term_tmp),
                         lsp.lgamma(df_plus_one_over_two))
    quadratic = div(mul(scaled_x, scaled_x), df)
    return neg(add(normalize_term, mul(df_plus_one_over_two, log1p(quadratic))))


def pdf(x, df, loc=0, scale=1):
    """Student's t density: exp(logpdf)."""
    return fnp.exp(logpdf(x, df, loc, scale))
