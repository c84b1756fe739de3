"""fgrad.scipy.stats: jax.scipy.stats's distributions and functions on fgrad's traced values.

    import fgrad, fgrad.scipy.stats as fst
    fgrad.grad(lambda mu: fst.norm.logpdf(x, mu, 2.0).sum())(mu)

Each distribution is a module with exactly the functions jax.scipy.stats's has (`logpdf`,
`cdf`, `ppf`, ... for `norm`, `t`, `beta`, `gamma`, ...; `logpmf`, `pmf`, ... for `poisson`,
`binom`, ...), with its signature, defaults, dtype promotion (integers become floats, Python
scalars stay weakly typed), broadcasting and values at the edges (-inf log density outside the
support, NaN for invalid parameters where JAX gives NaN). The formulas are JAX's, written with
fgrad.numpy and fgrad.scipy.special, so they work eagerly, under every fgrad transformation
and inside jax.jit, and their derivatives (in x and in the parameters) are fgrad's own through
the same special functions and custom rules as JAX's (xlogy, log_ndtr, logaddexp, ...).

Also `mode`, `rankdata` and `sem` (fgrad/scipy/stats/_core.py) and `gaussian_kde`
(fgrad/scipy/stats/kde.py). Complex inputs are refused with an error.
"""

from fgrad.core.errors import missing_attribute as _missing_attribute
from fgrad.scipy.stats import bernoulli as bernoulli
from fgrad.scipy.stats import beta as beta
from fgrad.scipy.stats import betabinom as betabinom
from fgrad.scipy.stats import binom as binom
from fgrad.scipy.stats import cauchy as cauchy
from fgrad.scipy.stats import chi2 as chi2
from fgrad.scipy.stats import dirichlet as dirichlet
from fgrad.scipy.stats import expon as expon
from fgrad.scipy.stats import gamma as gamma
from fgrad.scipy.stats import gennorm as gennorm
from fgrad.scipy.stats import geom as geom
from fgrad.scipy.stats import gumbel_l as gumbel_l
from fgrad.scipy.stats import gumbel_r as gumbel_r
from fgrad.scipy.stats import laplace as laplace
from fgrad.scipy.stats import logistic as logistic
from fgrad.scipy.stats import multinomial as multinomial
from fgrad.scipy.stats import multivariate_normal as multivariate_normal
from fgrad.scipy.stats import nbinom as nbinom
from fgrad.scipy.stats import norm as norm
from fgrad.scipy.stats import pareto as pareto
from fgrad.scipy.stats import poisson as poisson
from fgrad.scipy.stats import t as t
from fgrad.scipy.stats import truncnorm as truncnorm
from fgrad.scipy.stats import uniform as uniform
from fgrad.scipy.stats import vonmises as vonmises
from fgrad.scipy.stats import wrapcauchy as wrapcauchy
from fgrad.scipy.stats._core import ModeResult as ModeResult
from fgrad.scipy.stats._core import mode as mode
from fgrad.scipy.stats._core import rankdata as rankdata
from fgrad.scipy.stats._core import sem as sem
from fgrad.scipy.stats.kde import gaussian_kde as gaussian_kde

__all__ = [
    "bernoulli", "beta", "betabinom", "binom", "cauchy", "chi2", "dirichlet", "expon",
    "gamma", "gaussian_kde", "gennorm", "geom", "gumbel_l", "gumbel_r", "laplace", "logistic",
    "mode", "multinomial", "multivariate_normal", "nbinom", "norm", "pareto", "poisson",
    "rankdata", "sem", "t", "truncnorm", "uniform", "vonmises", "wrapcauchy",
]


def __getattr__(name: str):
    raise _missing_attribute("fgrad.scipy.stats", None, name, globals())
