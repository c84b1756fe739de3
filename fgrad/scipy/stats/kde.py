"""fgrad.scipy.stats.gaussian_kde: kernel density estimation with Gaussian kernels, as
jax.scipy.stats.gaussian_kde (a pytree, so it passes through fgrad's and JAX's
transformations).

`dataset` is (d, n): n points of dimension d (a 1-d array is n points of dimension 1).
The bandwidth is Scott's or Silverman's rule, a scalar factor, or a callable of the kde.
"""

from __future__ import annotations

import math

import jax
import numpy as np

import fgrad
import fgrad.numpy as fnp
from fgrad import random as frandom
from fgrad.core import aval_of
from fgrad.core import dtypes as dt
from fgrad.numpy import linalg as fla
from fgrad.scipy import linalg as fsl
from fgrad.scipy import special as fsp
from fgrad.scipy.stats._util import NS, add, div, fail, inexact_dtypes, log, mul, sub

__all__ = ["gaussian_kde"]


@jax.tree_util.register_pytree_node_class
class gaussian_kde:  # noqa: N801 (SciPy's and JAX's name)
    """A Gaussian kernel density estimate of `dataset` (d x n), optionally weighted."""

    __slots__ = ("neff", "dataset", "weights", "covariance", "inv_cov")

    def __init__(self, dataset, bw_method=None, weights=None):
        dataset = fnp.atleast_2d(dataset)
        if dt.is_complex(aval_of(dataset).dtype):
            raise NotImplementedError(f"{NS}.gaussian_kde does not support complex data.")
        d, n = aval_of(dataset).shape
        if not d * n > 1:
            raise fail("gaussian_kde", "dataset should have multiple elements.", ValueError)
        if weights is not None:
            dataset, weights = inexact_dtypes("gaussian_kde", dataset, weights)
            weights = fnp.atleast_1d(weights)
            weights = div(weights, fnp.sum(weights))
            if aval_of(weights).ndim != 1:
                raise fail("gaussian_kde", "weights should be one-dimensional.", ValueError)
            if aval_of(weights).shape[0] != n:
                raise fail("gaussian_kde", f"weights should be of length n = {n}.", ValueError)
        else:
            (dataset,) = inexact_dtypes("gaussian_kde", dataset)
            weights = fnp.full(n, 1.0 / n, dtype=aval_of(dataset).dtype)
        self._set("dataset", dataset)
        self._set("weights", weights)
        neff = self._set("neff", div(1, fnp.sum(fnp.square(weights))))
        bw_method = "scott" if bw_method is None else bw_method
        if isinstance(bw_method, str) and bw_method == "scott":
            factor = fnp.power(neff, -1.0 / (d + 4))
        elif isinstance(bw_method, str) and bw_method == "silverman":
            factor = fnp.power(div(mul(neff, d + 2), 4.0), -1.0 / (d + 4))
        elif np.ndim(bw_method) == 0 and not isinstance(bw_method, str) \
                and not callable(bw_method):
            factor = bw_method
        elif callable(bw_method):
            factor = bw_method(self)
        else:
            raise fail("gaussian_kde", "bw_method should be 'scott', 'silverman', a scalar, "
                                       "or a callable.", ValueError)
        data_covariance = fnp.atleast_2d(fnp.cov(dataset, rowvar=1, bias=False,
                                                 aweights=weights))
        data_inv_cov = fla.inv(data_covariance)
        factor_sq = fnp.square(factor)
        self._set("covariance", mul(data_covariance, factor_sq))
        self._set("inv_cov", div(data_inv_cov, factor_sq))

    def _set(self, name, value):
        object.__setattr__(self, name, value)
        return value

    def tree_flatten(self):
        return (self.neff, self.dataset, self.weights, self.covariance, self.inv_cov), None

    @classmethod
    def tree_unflatten(cls, aux_data, children):
        del aux_data
        kde = cls.__new__(cls)
        for name, value in zip(cls.__slots__, children):
            kde._set(name, value)
        return kde

    @property
    def d(self):
        """The dimension of the data."""
        return aval_of(self.dataset).shape[0]

    @property
    def n(self):
        """The number of data points."""
        return aval_of(self.dataset).shape[1]

    def evaluate(self, points):
        """The estimated density at `points` (d x m, or m points if d = 1)."""
        points = self._reshape_points(points)
        return fnp.squeeze(_kernel_eval(False, fnp.transpose(self.dataset),
                                        fnp.expand_dims(self.weights, 1),
                                        fnp.transpose(points), self.inv_cov), 1)

    def __call__(self, points):
        return self.evaluate(points)

    def pdf(self, x):
        """The estimated density at `x`, as evaluate."""
        return self.evaluate(x)

    def logpdf(self, x):
        """The log of the estimated density at `x`."""
        points = self._reshape_points(x)
        return fnp.squeeze(_kernel_eval(True, fnp.transpose(self.dataset),
                                        fnp.expand_dims(self.weights, 1),
                                        fnp.transpose(points), self.inv_cov), 1)

    def integrate_gaussian(self, mean, cov):
        """The integral of the estimate times the normal density N(mean, cov)."""
        mean = fnp.atleast_1d(fnp.squeeze(mean))
        cov = fnp.atleast_2d(cov)
        if aval_of(mean).shape != (self.d,):
            raise fail("gaussian_kde.integrate_gaussian",
                       f"mean does not have dimension {self.d}.", ValueError)
        if aval_of(cov).shape != (self.d, self.d):
            raise fail("gaussian_kde.integrate_gaussian",
                       f"covariance does not have dimension {self.d}.", ValueError)
        chol = fsl.cho_factor(add(self.covariance, cov))
        norm = div(1.0, mul(math.sqrt(2 * np.pi) ** self.d, fnp.prod(fnp.diag(chol[0]))))
        return _kernel_convolve(chol, norm, self.dataset, self.weights, mean)

    def integrate_box_1d(self, low, high):
        """The integral of a one-dimensional estimate from `low` to `high`."""
        if self.d != 1:
            raise fail("gaussian_kde.integrate_box_1d", "only 1-d estimates are handled.",
                       ValueError)
        if np.ndim(low) != 0 or np.ndim(high) != 0:
            raise fail("gaussian_kde.integrate_box_1d",
                       "the limits of integration must be scalars.", ValueError)
        sigma = fnp.squeeze(fnp.sqrt(self.covariance))
        low = fnp.squeeze(div(sub(low, self.dataset), sigma))
        high = fnp.squeeze(div(sub(high, self.dataset), sigma))
        return fnp.sum(mul(self.weights, sub(fsp.ndtr(high), fsp.ndtr(low))))

    def integrate_kde(self, other):
        """The integral of the product of this estimate and `other`."""
        if other.d != self.d:
            raise fail("gaussian_kde.integrate_kde", "the estimates have different "
                                                     "dimensions.", ValueError)
        chol = fsl.cho_factor(add(self.covariance, other.covariance))
        norm = div(1.0, mul(math.sqrt(2 * np.pi) ** self.d, fnp.prod(fnp.diag(chol[0]))))
        sm, lg = (self, other) if self.n < other.n else (other, self)
        result = fgrad.vmap(lambda m: _kernel_convolve(chol, norm, lg.dataset, lg.weights, m),
                            in_axes=1)(sm.dataset)
        return fnp.sum(mul(result, sm.weights))

    def resample(self, key, shape=()):
        """Draws from the estimate: shape + (d,) samples, returned as (d,) + shape."""
        ind_key, eps_key = frandom.split(key)
        ind = frandom.choice(ind_key, self.n, shape=shape, p=self.weights)
        eps = frandom.multivariate_normal(
            eps_key, fnp.zeros(self.d, aval_of(self.covariance).dtype), self.covariance,
            shape=shape, dtype=aval_of(self.dataset).dtype)
        return add(fnp.take(self.dataset, ind, axis=1), fnp.transpose(eps))

    def integrate_box(self, low_bounds, high_bounds, maxpts=None):
        """Not supported (as in JAX): use integrate_box_1d."""
        del low_bounds, high_bounds, maxpts
        raise NotImplementedError(f"{NS}.gaussian_kde.integrate_box: only 1-d box "
                                  f"integrations are supported; use integrate_box_1d.")

    def set_bandwidth(self, bw_method=None):
        """Not supported (as in JAX)."""
        del bw_method
        raise NotImplementedError(f"{NS}.gaussian_kde.set_bandwidth: changing the bandwidth "
                                  f"is not supported.")

    def _reshape_points(self, points):
        if dt.is_complex(aval_of(points).dtype):
            raise NotImplementedError(f"{NS}.gaussian_kde does not support complex points.")
        points = fnp.atleast_2d(points)
        d, m = aval_of(points).shape
        if d != self.d:
            if d == 1 and m == self.d:
                return fnp.reshape(points, (self.d, 1))
            raise fail("gaussian_kde", f"points have dimension {d}, dataset has dimension "
                                       f"{self.d}.", ValueError)
        return points


def _kernel_convolve(chol, norm, target, weights, mean):
    diff = sub(target, fnp.expand_dims(mean, 1))
    alpha = fsl.cho_solve(chol, diff)
    arg = mul(0.5, fnp.sum(mul(diff, alpha), axis=0))
    return mul(norm, fnp.sum(mul(fnp.exp(fnp.negative(arg)), weights)))


def _kernel_eval(in_log: bool, points, values, xi, precision):
    points, values, xi, precision = inexact_dtypes("gaussian_kde", points, values, xi,
                                                   precision)
    d = aval_of(points).shape[1]
    if aval_of(xi).shape[1] != d:
        raise fail("gaussian_kde", "points and xi must have the same trailing dimension.",
                   ValueError)
    if aval_of(precision).shape != (d, d):
        raise fail("gaussian_kde", "the precision matrix must match the data's dimension.",
                   ValueError)
    whitening = fsl.cholesky(precision, lower=True)
    points = fnp.dot(points, whitening)
    xi = fnp.dot(xi, whitening)
    log_norm = sub(fnp.sum(log(fnp.diag(whitening))), 0.5 * d * math.log(2 * np.pi))
    # arg[i, j] = log_norm - |x_train_j - x_test_i|^2 / 2: every test point against every
    # training point at once (JAX maps a kernel twice with vmap; the sums are the same).
    sq = fnp.sum(fnp.square(sub(fnp.expand_dims(points, 0), fnp.expand_dims(xi, 1))), axis=-1)
    arg = fnp.expand_dims(sub(log_norm, mul(0.5, sq)), 2)  # (m, n, 1)
    values = fnp.expand_dims(values, 0)  # (1, n, 1)
    if in_log:
        return fsp.logsumexp(add(log(values), arg), axis=1)
    return fnp.sum(mul(values, fnp.exp(arg)), axis=1)
