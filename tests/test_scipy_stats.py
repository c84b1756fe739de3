"""fgrad.scipy.stats against jax.scipy.stats (and SciPy where JAX is off).

Every function of every distribution: values on random points of the support, outside it and
at its ends, with broadcast parameters; result types (dtype and weak type) for Python
scalars, integers and float32; gradients in x and the continuous parameters against
jax.grad; finite-difference checks to second order (fgrad.testing.check_grads); vmap, jit,
the multivariate normal with batched means and covariances, mode, rankdata, sem,
gaussian_kde, and the errors.

Compiling dominates: the values and gradients of a group of distributions are computed in one
program per side (fgrad.jit and jax.jit), built once per module (functools.cache), and the
parametrized tests read their entries from it.
"""

from __future__ import annotations

import functools
import inspect

import jax
import jax.numpy as jnp
import jax.scipy.stats as jst
import numpy as np
import pytest
import scipy.stats as sst

import fgrad
import fgrad.numpy as fnp
import fgrad.scipy.stats as fst
import oracle
from fgrad.core import ShapeDtypeError
from fgrad.testing import check_grads

pytestmark = pytest.mark.usefixtures("x64", "quick_compile")

N = 8  # random points per case

FUNCTIONS = ("logpdf", "pdf", "cdf", "logcdf", "sf", "logsf", "ppf", "isf", "pmf", "logpmf",
             "entropy")
DISTRIBUTIONS = ("norm", "t", "beta", "gamma", "chi2", "cauchy", "expon", "laplace",
                 "logistic", "uniform", "truncnorm", "vonmises", "wrapcauchy", "gennorm",
                 "gumbel_l", "gumbel_r", "pareto", "poisson", "bernoulli", "binom",
                 "betabinom", "nbinom", "geom", "dirichlet", "multinomial",
                 "multivariate_normal")


def _u(lo, hi, seed, n=N):
    return np.random.default_rng(seed).uniform(lo, hi, n)


def _close(got, want, rtol, atol=0.0, what=""):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=rtol, atol=atol,
                               equal_nan=True, err_msg=what)


def _functions(dist):
    module = getattr(jst, dist)
    return [f for f in FUNCTIONS if hasattr(module, f)]


def _call(ns, name, args):
    dist, fn = name.split(".")
    return getattr(getattr(ns, dist), fn)(*args)


# -- cases -----------------------------------------------------------------------------------
# name -> operands: random points in the support plus special points (outside it, its ends,
# +-inf, NaN), parameters broadcast from shapes (12,), (1,) and () (0-d arrays).

ODD = np.r_[-np.inf, np.inf, np.nan]
X = np.r_[_u(-4, 4, 1), 0.3, ODD]                          # 12 points on the line
Q = np.r_[_u(0, 1, 2), 0.0, 1.0, -0.1, np.nan]             # 12 probabilities
LOC = np.array([0.3])
SCALE = np.r_[_u(0.5, 2, 3), 1.0, 2.0, 0.7, -1.0]          # the last one invalid
SCALE_OK = np.r_[_u(0.5, 2, 3), 1.0, 2.0, 0.7, 1.5]
HALF_LINE = np.r_[_u(0.01, 8, 4), 0.0, -0.5, np.inf, np.nan]
UNIT_X = np.r_[_u(0.01, 0.99, 5), 0.0, 1.0, -0.2, 1.2]
SHAPE_A = np.r_[_u(0.5, 5, 6), 1.0, 2.0, 0.0, 0.5]
SHAPE_B = np.r_[_u(0.5, 5, 7), 1.0, 0.5, 3.0, -1.0]
K = np.r_[0.0, 1, 2, 3, 5, 7, 9, 10, -1, 2.5, 11, np.nan]  # counts, and off the integers
P = np.r_[_u(0.05, 0.95, 8), 0.0, 1.0, 0.5, 0.3]


def _case_table():
    cases = {}

    def add(dist, x_args, q_args=None):
        for fn in _functions(dist):
            cases[f"{dist}.{fn}"] = q_args if fn in ("ppf", "isf") else x_args

    for dist in ("norm", "cauchy", "logistic", "laplace", "uniform", "expon"):
        add(dist, (X, LOC, SCALE), (Q, LOC, SCALE))
    for dist in ("gumbel_l", "gumbel_r"):  # ppf is NaN outside (0, 1): compare there too
        add(dist, (X, LOC, SCALE), (Q, np.array(0.2), SCALE))
    add("t", (X, np.r_[_u(0.5, 10, 9), 1.0, 3.0, 30.0, 0.5], LOC, SCALE_OK))
    add("beta", (UNIT_X, SHAPE_A, SHAPE_B, np.array(0.0), np.array(1.0)))
    cases["beta.logpdf_scaled"] = (UNIT_X * 3 - 0.5, SHAPE_A, SHAPE_B, np.array(-0.5),
                                   np.array(3.0))
    add("gamma", (HALF_LINE, SHAPE_A + 0.2, np.array(-0.25), SCALE_OK))
    add("chi2", (HALF_LINE, np.r_[_u(0.5, 10, 10), 1.0, 2.0, 4.0, 3.0], np.array(-0.25),
                 SCALE_OK))
    add("pareto", (np.r_[_u(0.5, 6, 11), 1.0, 0.3, np.inf, np.nan],
                   np.r_[_u(0.5, 4, 12), 1.0, 2.0, 3.0, 1.5], np.array(0.0), np.array(1.0)),
        (Q, np.r_[_u(0.5, 4, 12), 1.0, 2.0, 3.0, 1.5], np.array(0.5), SCALE_OK))
    add("gennorm", (X, np.r_[_u(0.5, 3, 13), 1.0, 2.0, 1.5, 0.8]))
    add("vonmises", (np.r_[_u(-np.pi, np.pi, 14), 0.0, np.pi, 7.0, np.nan],
                     np.r_[_u(0.1, 10, 15), 1e-3, 50.0, 0.0, 2.0]))
    add("wrapcauchy", (np.r_[_u(0, 2 * np.pi, 16), 0.0, 2 * np.pi, -0.5, 7.0],
                       np.r_[_u(0.05, 0.95, 17), 0.5, 0.0, 1.0, 0.3]))
    a = np.r_[_u(-2, 1, 18), -1.0, 5.0, -8.0, 1.0]
    b = np.r_[a[:8] + _u(0.1, 3, 19), 1.0, 6.0, -6.0, 0.5]  # tails, and a >= b last
    add("truncnorm", (np.r_[_u(-2, 2.5, 20), 0.0, 5.5, -7.0, 0.7], a, b, LOC, SCALE_OK))
    add("poisson", (K, np.r_[_u(0.5, 8, 21), 1.0, 3.0, 0.0, 2.0], np.array(0.0)))
    cases["poisson.entropy"] = (np.r_[0.0, 0.5, 3.0, 9.9, 10.0, 37.0, 99.0, 100.0, 500.0,
                                      1e-3, 20.0, 2.0], np.array([0.0]))
    add("bernoulli", (np.r_[0.0, 1, 0, 1, 0, 1, -1, 2, 0.5, 1, 0, np.nan], P))
    cases["bernoulli.logpmf"] = cases["bernoulli.pmf"] = (
        np.r_[0.0, 1, 0, 1, 0, 1, -1, 2, 0.5, 1, 0, 1] + 1, P, np.array(1.0))
    cases["bernoulli.ppf"] = (Q, np.r_[_u(0.05, 0.95, 22), 0.5, 0.5, 1.2, np.nan])
    add("binom", (K, np.r_[np.full(8, 10.0), 0.0, 10.0, 10.0, 10.0], P, np.array(0.0)))
    add("betabinom", (K, np.r_[np.full(8, 10.0), 0.0, 10.0, 10.0, -1.0], SHAPE_A + 0.1,
                      SHAPE_B + 1.1, np.array(0.0)))
    add("nbinom", (K, np.r_[_u(0.5, 6, 23), 1.0, 2.0, 3.0, 4.0], P, np.array(0.0)))
    add("geom", (K + 1, P, np.array(0.0)))
    return cases


CASES = _case_table()

# Groups of moderate programs (compiling one program of every function took far longer
# than these, XLA's time growing faster than the program).
GROUPS = {
    "location": ("norm", "cauchy", "logistic", "laplace", "uniform", "expon"),
    "gumbel": ("gumbel_l", "gumbel_r", "vonmises", "wrapcauchy", "gennorm", "pareto"),
    "shape": ("t", "beta", "gamma", "chi2"),
    "truncnorm": ("truncnorm",),
    "discrete": ("poisson", "bernoulli", "binom", "betabinom", "nbinom", "geom"),
}


# truncnorm's pdf, cdf and sf are exp(logpdf), exp(logcdf) and exp(logsf) in JAX's source as
# in fgrad's; each truncnorm function is a large program (three normal masses in logcdf), so
# these three are compared as exp of the log forms checked against JAX (test_values), by
# their types (test_types_follow_jax), and eagerly in test_truncnorm_exp_forms.
EXP_OF = {"truncnorm.pdf": "truncnorm.logpdf", "truncnorm.cdf": "truncnorm.logcdf",
          "truncnorm.sf": "truncnorm.logsf"}


def _group_of(name):
    dist = name.split(".")[0]
    return next(g for g, dists in GROUPS.items() if dist in dists)


def _fn_name(name):
    return name.replace("_scaled", "")


@functools.cache
def _values(group):
    names = [n for n in CASES if _group_of(n) == group and n not in EXP_OF]
    args = {n: CASES[n] for n in names}

    def run(ns, args):
        return {n: _call(ns, _fn_name(n), a) for n, a in args.items()}

    got = fgrad.jit(functools.partial(run, fst))(args)
    want = jax.jit(functools.partial(run, jst))(args)
    return got, want


# Where JAX's special functions are less accurate than fgrad's, fgrad is compared with SciPy
# there: name -> (positions, why).
# name -> (positions compared with SciPy at 1e-13, tolerance against JAX elsewhere, SciPy).
JAX_OFF = {
    # fgrad.scipy.special.log_ndtr keeps its relative precision where JAX's log(ndtr(x)) for
    # x > 3 does not (see tests/test_scipy_special.py): JAX is compared for |x| < 3 only.
    "norm.logcdf": (slice(None), None, sst.norm.logcdf),
    "norm.logsf": (slice(None), None, sst.norm.logsf),
    # JAX's betaln for arguments >= 8 is accurate to ~1e-7 here; SciPy's betabinom at the
    # integer k (JAX floors k = 2.5, SciPy gives -inf there) with valid parameters.
    "betabinom.logpmf": (slice(0, 9), 1e-6, sst.betabinom.logpmf),
    "betabinom.pmf": (slice(0, 9), 1e-6, sst.betabinom.pmf),
}


@pytest.mark.parametrize("name", sorted(set(CASES) - set(EXP_OF)))
def test_values(name):
    """Values, shapes and dtypes equal JAX's (rtol 1e-12), in one compiled program per
    group of distributions."""
    got, want = _values(_group_of(name))
    got, want = got[name], want[name]
    assert (got.shape, got.dtype) == (want.shape, want.dtype)
    if name in JAX_OFF:
        where, rtol, scipy_fn = JAX_OFF[name]
        with np.errstate(all="ignore"):
            reference = scipy_fn(*CASES[name])
        _close(np.asarray(got)[where], reference[where], 1e-13, what="vs SciPy")
        if rtol is None:
            rtol, keep = 1e-12, np.abs(np.asarray(CASES[name][0])) < 3
        else:
            keep = np.ones(np.shape(want), bool)
        _close(np.asarray(got)[keep], np.asarray(want)[keep], rtol, what="vs JAX")
    else:
        _close(got, want, 1e-12, atol=1e-300, what="vs JAX")


def test_truncnorm_exp_forms():
    """truncnorm's pdf, cdf and sf at a few points, eagerly, against JAX and SciPy."""
    x, a, b = np.r_[0.2, -0.5, 5.5], np.r_[-1.0, -1.0, 5.0], np.r_[1.0, 2.0, 6.0]
    for fn in ("pdf", "cdf", "sf"):
        got = getattr(fst.truncnorm, fn)(x, a, b)
        oracle.assert_same(got, getattr(jst.truncnorm, fn)(x, a, b), rtol=1e-12)
        _close(got, getattr(sst.truncnorm, fn)(x, a, b), 1e-12)


def test_values_against_scipy():
    """An independent reference for a few functions of each group: SciPy's values (where
    both are finite and the parameters are valid)."""
    got, _ = _values("location")
    with np.errstate(all="ignore"):
        _close(got["norm.logpdf"][:11], sst.norm.logpdf(X, LOC, SCALE)[:11], 1e-13)
        _close(got["cauchy.cdf"][:11], sst.cauchy.cdf(X, LOC, SCALE)[:11], 1e-13)
        _close(got["expon.logsf"][:11], sst.expon.logsf(X, LOC, SCALE)[:11], 1e-13)
    got, _ = _values("shape")
    x, a, b = UNIT_X[:8], SHAPE_A[:8], SHAPE_B[:8]
    _close(got["beta.logpdf"][:8], sst.beta.logpdf(x, a, b), 1e-12)
    _close(got["beta.cdf"][:8], sst.beta.cdf(x, a, b), 1e-12)
    _close(got["gamma.sf"][:8], sst.gamma.sf(HALF_LINE[:8], SHAPE_A[:8] + 0.2, -0.25,
                                             SCALE_OK[:8]), 1e-12)
    got, _ = _values("truncnorm")
    x, a, b, _, scale = CASES["truncnorm.logpdf"]
    _close(got["truncnorm.logpdf"][:11], sst.truncnorm.logpdf(x, a, b, LOC, scale)[:11],
           1e-12)
    _close(got["truncnorm.logcdf"][:11], sst.truncnorm.logcdf(x, a, b, LOC, scale)[:11],
           1e-11)
    got, _ = _values("discrete")
    k, mu, _ = CASES["poisson.logpmf"]
    _close(got["poisson.logpmf"][:8], sst.poisson.logpmf(k, mu)[:8], 1e-12)
    _close(got["binom.pmf"][:8], sst.binom.pmf(K[:8], 10, P[:8]), 1e-12)
    mu = CASES["poisson.entropy"][0][:9]
    _close(got["poisson.entropy"][:9], sst.poisson.entropy(mu), 1e-4)  # JAX's own method


def test_every_function_of_jax():
    """Each module has exactly jax.scipy.stats's functions, with its signature."""
    for dist in DISTRIBUTIONS:
        ours, theirs = getattr(fst, dist), getattr(jst, dist)
        assert [f for f in FUNCTIONS if hasattr(ours, f)] == _functions(dist), dist
        for fn in _functions(dist) + [f for f in ("pmf", "logpmf", "pdf", "logpdf")
                                      if hasattr(theirs, f) and f not in FUNCTIONS]:
            got = inspect.signature(getattr(ours, fn))
            want = inspect.signature(getattr(theirs, fn))
            assert list(got.parameters) == list(want.parameters), (dist, fn)
            assert [p.default for p in got.parameters.values()] == [
                p.default for p in want.parameters.values()], (dist, fn)
    for name in ("mode", "rankdata", "sem", "gaussian_kde"):
        assert hasattr(fst, name)


# -- types -----------------------------------------------------------------------------------


def _aval(fun, args):
    aval = fgrad.make_ir(fun)(*args).out_avals[0]
    return aval.shape, aval.dtype, aval.weak_type


def _jax_aval(fun, args):
    out = jax.eval_shape(fun, *args)
    return out.shape, out.dtype, out.weak_type


TYPE_CASES = {
    "python scalars": lambda n: (0.5,) * n,
    "python ints": lambda n: (1,) * n,
    "int32 arrays": lambda n: (np.arange(1, 4, dtype=np.int32),) * n,
    "float32 and scalars": lambda n: (np.full((2, 1), 0.5, np.float32),) + (0.5,) * (n - 1),
    "float32 and float64": lambda n: (np.full(3, 0.5, np.float32),)
    + (np.full((2, 1), 0.5),) * (n - 1),
}


@pytest.mark.parametrize("kind", sorted(TYPE_CASES))
def test_types_follow_jax(kind):
    """dtype, weak type and broadcast shape of every function equal JAX's (tracing only, no
    compile)."""
    for name in CASES:
        name = _fn_name(name)
        dist, fn = name.split(".")
        theirs = getattr(getattr(jst, dist), fn)
        required = sum(p.default is inspect.Parameter.empty
                       for p in inspect.signature(theirs).parameters.values())
        args = TYPE_CASES[kind](max(required, 1) if fn != "entropy" else 1)
        got = _aval(lambda *a, f=getattr(getattr(fst, dist), fn): f(*a), args)
        try:
            want = _jax_aval(lambda *a, f=theirs: f(*a), args)
        except TypeError:  # JAX's ndtri refuses integers; fgrad promotes them first
            assert name in ("norm.ppf", "norm.isf") and "int" in kind, name
            assert got[1] == np.float64
            continue
        assert got == want, (name, kind)


# -- derivatives -----------------------------------------------------------------------------
# name -> (operands, argnums): interior points, away from the ends of the support and from
# kinks; derivatives in every argument JAX differentiates (not betainc's a and b, not the
# counts of discrete distributions).

XI = _u(-2, 2, 30, 6)
LOCI = _u(-0.5, 0.5, 31, 6)
SCALEI = _u(0.5, 2, 32, 6)
QI = _u(0.05, 0.95, 33, 6)
AI, BI = _u(0.7, 4, 34, 6), _u(0.7, 4, 35, 6)
POS = _u(0.2, 5, 36, 6)
KI = np.r_[0.0, 1, 2, 3, 5, 4]


def _grad_table():
    cases = {}
    xls, qls = ((XI, LOCI, SCALEI), (0, 1, 2)), ((QI, LOCI, SCALEI), (0, 1, 2))
    for dist in ("norm", "cauchy", "logistic", "laplace", "gumbel_l", "gumbel_r"):
        for fn in _functions(dist):
            cases[f"{dist}.{fn}"] = qls if fn in ("ppf", "isf") else xls
    for name in ("gumbel_l.logpdf", "gumbel_l.pdf", "gumbel_r.logpdf", "gumbel_r.pdf"):
        # JAX's gradient in scale fails (xlogy(-1, scale): a float0 tangent for the integer
        # -1); test_gumbel_gradient_in_scale checks fgrad's against the formula.
        cases[name] = (xls[0], (0, 1))
    for name in ("gumbel_l.ppf", "gumbel_r.ppf"):  # the same in q: xlogy(-1, q)
        cases[name] = (qls[0], (1, 2))
    for fn in _functions("expon"):
        cases[f"expon.{fn}"] = qls if fn == "ppf" else ((POS, LOCI - 1, SCALEI), (0, 1, 2))
    for fn in _functions("uniform"):
        cases[f"uniform.{fn}"] = qls if fn == "ppf" else ((QI, LOCI - 0.5, SCALEI + 1.5),
                                                          (0, 1, 2))
    cases["t.logpdf"] = cases["t.pdf"] = ((XI, POS + 0.5, LOCI, SCALEI), (0, 1, 2, 3))
    for fn in ("logpdf", "pdf"):
        cases[f"beta.{fn}"] = ((QI, AI, BI, LOCI * 0.1, SCALEI + 1), (0, 1, 2, 3, 4))
    for fn in ("cdf", "logcdf", "sf", "logsf"):  # JAX's betainc: no derivative in a, b
        cases[f"beta.{fn}"] = ((QI, AI, BI, LOCI * 0.1, SCALEI + 1), (0, 3, 4))
    for fn in _functions("gamma"):
        cases[f"gamma.{fn}"] = ((POS, AI, LOCI * 0.1, SCALEI), (0, 1, 2, 3))
    for fn in _functions("chi2"):
        cases[f"chi2.{fn}"] = ((POS, AI * 2, LOCI * 0.1, SCALEI), (0, 1, 2, 3))
    for fn in _functions("pareto"):
        cases[f"pareto.{fn}"] = (((QI, AI, LOCI, SCALEI), (0, 1, 2, 3)) if fn == "ppf" else
                                 ((POS + 2.6, AI, LOCI, SCALEI), (0, 1, 2, 3)))
    for fn in _functions("gennorm"):
        cases[f"gennorm.{fn}"] = ((XI + np.sign(XI) * 0.1, AI), (0, 1))
    for fn in _functions("vonmises"):
        cases[f"vonmises.{fn}"] = ((XI, POS), (0, 1))
    for fn in _functions("wrapcauchy"):
        cases[f"wrapcauchy.{fn}"] = ((XI + 3, QI), (0, 1))
    a = _u(-2, 0.5, 37, 6)
    for fn in ("logpdf", "logcdf"):  # see EXP_OF; logsf is logcdf reflected
        cases[f"truncnorm.{fn}"] = ((LOCI * 0.1 + SCALEI * (a + 2.5 * QI), a, a + 2.5,
                                     LOCI * 0.1, SCALEI), (0, 1, 2, 3, 4))
    for fn in ("logpmf", "pmf", "cdf"):
        cases[f"poisson.{fn}"] = ((KI, POS), (1,))
    for fn in ("logpmf", "pmf", "cdf"):
        cases[f"bernoulli.{fn}"] = ((np.r_[0.0, 1, 0, 1, 1, 0], QI), (1,))
    for fn in _functions("binom"):
        cases[f"binom.{fn}"] = ((KI, KI + 3.5, QI), (1, 2))
    for fn in _functions("betabinom"):
        cases[f"betabinom.{fn}"] = ((KI, KI + 4, AI, BI), (1, 2, 3))
    for fn in _functions("nbinom"):
        cases[f"nbinom.{fn}"] = ((KI, POS, QI), (1, 2))
    for fn in _functions("geom"):
        cases[f"geom.{fn}"] = ((KI + 1, QI), (1,))
    return cases


GRAD_CASES = _grad_table()


@functools.cache
def _grads(group):
    names = [n for n in GRAD_CASES if _group_of(n) == group]

    def run(ns, grad, total):
        out = {}
        for n in names:
            args, argnums = GRAD_CASES[n]
            f = functools.partial(_call, ns, n)
            out[n] = grad(lambda *a, f=f: total(f(a)), argnums)(*args)
        return out

    got = jax.jit(lambda: run(fst, fgrad.grad, fnp.sum))()
    want = jax.jit(lambda: run(jst, jax.grad, jnp.sum))()
    return got, want


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_gradients_match_jax(group):
    """Gradients in x and the parameters of every function against jax.grad's, one
    program per side and group."""
    got, want = _grads(group)
    assert set(got) == set(want) and got
    for name in got:
        for g, w in zip(got[name], want[name]):
            assert np.all(np.isfinite(w)), name
            _close(g, w, 1e-10, atol=1e-13, what=name)


def test_every_function_has_a_gradient_case():
    """The gradient table leaves out only the piecewise constant bernoulli.ppf, poisson's
    entropy (sums of 250 pmf terms: a large program, values only) and the
    truncnorm functions that are exp or reflections of logpdf and logcdf."""
    missing = {n for n in CASES if _fn_name(n) == n} - set(GRAD_CASES)
    assert missing == {"bernoulli.ppf", "poisson.entropy", "truncnorm.pdf", "truncnorm.cdf",
                       "truncnorm.sf", "truncnorm.logsf"}


def test_check_grads_location_scale():
    """Finite differences to second order, forward and reverse, for continuous
    location-scale functions (one stacked function per check)."""
    def g(x, loc, scale):
        return fnp.stack([
            fst.norm.logpdf(x, loc, scale), fst.norm.cdf(x, loc, scale),
            fst.norm.logsf(x, loc, scale), fst.logistic.logpdf(x, loc, scale),
            fst.cauchy.logcdf(x, loc, scale), fst.gumbel_r.logpdf(x, loc, scale),
            fst.laplace.cdf(x, loc, scale), fst.t.logpdf(x, 3.5, loc, scale)])
    check_grads(fgrad.jit(g), (XI[:2], LOCI[:2], SCALEI[:2]), order=2)


def test_check_grads_shapes():
    """Finite differences to second order for the shape-parameter densities and cdfs."""
    def f(x, a, b):
        return fnp.stack([fst.beta.logpdf(x, a, b), fst.gamma.logpdf(x, a, 0.0, b),
                          fst.gamma.cdf(x, 2.5), fst.chi2.logpdf(x, a), fst.t.logpdf(x, a),
                          fst.vonmises.logpdf(x, b), fst.pareto.logpdf(x + 1.5, a)])
    check_grads(fgrad.jit(f), (QI[:2], AI[:2], BI[:2]), order=2)


def test_gumbel_gradient_in_scale():
    """d/dscale of the Gumbel log densities, -1/s -+ z/s +- z exp(+-z)/s with
    z = (x - loc)/s (JAX's own gradient fails here, see _grad_table)."""
    x, loc, s = XI, LOCI, SCALEI
    z = (x - loc) / s
    got_l = fgrad.grad(lambda v: fnp.sum(fst.gumbel_l.logpdf(x, loc, v)))(s)
    got_r = fgrad.grad(lambda v: fnp.sum(fst.gumbel_r.logpdf(x, loc, v)))(s)
    _close(got_l, (-1 - z + z * np.exp(z)) / s, 1e-13)
    _close(got_r, (-1 + z - z * np.exp(-z)) / s, 1e-13)
    q = QI
    got_l = fgrad.grad(lambda v: fnp.sum(fst.gumbel_l.ppf(v, loc, s)))(q)
    got_r = fgrad.grad(lambda v: fnp.sum(fst.gumbel_r.ppf(v, loc, s)))(q)
    _close(got_l, s / ((1 - q) * -np.log1p(-q)), 1e-13)
    _close(got_r, -s / (q * np.log(q)), 1e-13)


def test_norm_logpdf_gradient_in_loc_is_the_formula():
    """d/dloc log N(x; loc, scale) = (x - loc) / scale^2."""
    grad = fgrad.grad(lambda loc: fnp.sum(fst.norm.logpdf(XI, loc, SCALEI)))(LOCI)
    _close(grad, (XI - LOCI) / SCALEI ** 2, 1e-14)


# -- transformations -------------------------------------------------------------------------


def test_vmap_matches_jax():
    def run(vmap, ns, x, scale, pos, a, k):
        return {
            "norm": vmap(ns.norm.logpdf, (0, None, 0))(x, 0.2, scale),
            "gamma": vmap(ns.gamma.cdf, (None, 0))(pos, a),
            "t": vmap(lambda x, df: ns.t.logpdf(x, df), (0, 0))(x.reshape(3, 2), a[:3]),
            "mvn": vmap(lambda m: ns.multivariate_normal.logpdf(x[:3], m, np.eye(3) * 2.0))(
                x.reshape(2, 3)),
            "poisson": vmap(ns.poisson.logpmf, (None, 0))(k, pos),
        }

    args = (XI, SCALEI, POS, AI, KI)
    got = jax.jit(functools.partial(run, fgrad.vmap, fst))(*args)
    want = jax.jit(functools.partial(run, jax.vmap, jst))(*args)
    oracle.assert_trees_same(got, want, rtol=1e-12)


def test_jit_and_eager_agree():
    """fgrad.jit's result equals the eager one, and JAX's."""
    args = (XI, LOCI, SCALEI)
    eager = fst.norm.logpdf(*args)
    assert isinstance(eager, jax.Array)
    oracle.assert_same(fgrad.jit(fst.norm.logpdf)(*args), eager, rtol=1e-15)
    oracle.assert_same(eager, jst.norm.logpdf(*args), rtol=1e-15)
    oracle.assert_same(jax.jit(fst.poisson.logpmf)(KI, POS), jst.poisson.logpmf(KI, POS),
                       rtol=1e-13)


# -- multivariate ----------------------------------------------------------------------------


def _spd(seed, batch=(), n=3):
    a = np.random.default_rng(seed).standard_normal(batch + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


MVN_CASES = {
    "vector": (_u(-1, 1, 40, 3), _u(-1, 1, 41, 3), _spd(42)),
    "batched x": (np.random.default_rng(43).standard_normal((4, 3)), _u(-1, 1, 41, 3),
                  _spd(42)),
    "batched mean and cov": (np.random.default_rng(44).standard_normal((2, 1, 3)),
                             np.random.default_rng(45).standard_normal((4, 3)),
                             _spd(46, (4,))),
    "scalar cov": (np.random.default_rng(47).standard_normal((5, 3)), _u(-1, 1, 41, 3),
                   np.array(1.7)),
    "scalar mean": (_u(-1, 1, 48, 4), np.array(0.3), np.array(2.0)),
    "not positive definite": (_u(-1, 1, 40, 2), _u(-1, 1, 41, 2),
                              np.array([[1.0, 2.0], [2.0, 1.0]])),
}


def test_multivariate_normal():
    """logpdf and pdf with batched x, means and covariances, and their gradients in x,
    mean and cov, against JAX (and SciPy for one case)."""
    def run(ns, grad, total):
        out = {}
        for name, args in MVN_CASES.items():
            out[name] = (ns.multivariate_normal.logpdf(*args),
                         ns.multivariate_normal.pdf(*args))
            if name != "not positive definite":
                out[name] += (grad(lambda *a: total(ns.multivariate_normal.logpdf(*a)),
                                   (0, 1, 2))(*args),)
        return out

    got = jax.jit(lambda: run(fst, fgrad.grad, fnp.sum))()
    want = jax.jit(lambda: run(jst, jax.grad, jnp.sum))()
    for name in MVN_CASES:
        assert got[name][0].shape == want[name][0].shape, name
        oracle.assert_trees_same(got[name], want[name], rtol=1e-11, atol=1e-14)
    assert np.isnan(got["not positive definite"][0])
    _close(got["batched x"][0], sst.multivariate_normal.logpdf(*MVN_CASES["batched x"]),
           1e-12)


def test_dirichlet():
    """logpdf and pdf with K and K-1 components, batched, off the simplex; the gradient in
    x and alpha against JAX's."""
    alpha = np.r_[0.7, 2.0, 3.5]
    x = np.random.default_rng(50).dirichlet(alpha, 4).T  # (3, 4)
    x_off = x.copy()
    x_off[:, 0] = [0.5, 0.6, -0.1]
    cases = {"full": (x, alpha), "one fewer": (x[:2], alpha), "off": (x_off, alpha),
             "one point": (x[:, 1], alpha)}

    def run(ns, grad, total):
        out = {n: (ns.dirichlet.logpdf(*a), ns.dirichlet.pdf(*a)) for n, a in cases.items()}
        out["grad"] = grad(lambda *a: total(ns.dirichlet.logpdf(*a)), (0, 1))(x, alpha)
        return out

    got = jax.jit(lambda: run(fst, fgrad.grad, fnp.sum))()
    want = jax.jit(lambda: run(jst, jax.grad, jnp.sum))()
    oracle.assert_trees_same(got, want, rtol=1e-12)
    assert np.isneginf(got["off"][0][0])
    _close(got["full"][0], [sst.dirichlet.logpdf(x[:, i], alpha) for i in range(4)], 1e-12)


def test_multinomial():
    x = np.array([[2, 1, 0], [0, 3, 0], [1, 1, 2]])
    p = np.r_[0.2, 0.5, 0.3]

    def run(ns, grad):
        m = ns.multinomial
        return {"scalar n": m.logpmf(x, 3, p), "batched n": m.logpmf(x, np.array([3, 3, 4]), p),
                "pmf": m.pmf(x[0], 3, p), "grad": grad(lambda q: m.logpmf(x[0], 3, q))(p)}

    got = jax.jit(lambda: run(fst, fgrad.grad))()
    want = jax.jit(lambda: run(jst, jax.grad))()
    oracle.assert_trees_same(got, want, rtol=1e-13)
    _close(got["pmf"], sst.multinomial.pmf(x[0], 3, p), 1e-13)
    with pytest.raises(ValueError, match="integer"):
        fgrad.make_ir(fst.multinomial.logpmf)(x.astype(float), 3, p)


# -- mode, rankdata, sem, gaussian_kde -------------------------------------------------------


def test_mode_rankdata_sem():
    """Against JAX's (one program per side) and SciPy's values."""
    a = np.array([[3, 1, 2, 2], [1, 1, 4, 4], [0, 5, 5, 0]])
    f = np.array([2.0, np.nan, 1.0, np.nan, 2.0, np.nan])
    ties = np.array([3.0, 1.0, 2.0, 2.0, 5.0, 1.0])
    x = np.random.default_rng(60).standard_normal((4, 5))
    x_nan = x.copy()
    x_nan[1, 2] = np.nan
    methods = ("average", "min", "max", "dense", "ordinal")

    def run(ns):
        out = {
            "mode": tuple(ns.mode(a)), "mode 1": tuple(ns.mode(a, axis=1)),
            "mode None": tuple(ns.mode(a, axis=None)),
            "mode keepdims": tuple(ns.mode(a, axis=1, keepdims=True)),
            "mode nan": tuple(ns.mode(f)),
            "rank axis": ns.rankdata(a, axis=1), "rank nan": ns.rankdata(f),
            "sem": ns.sem(x), "sem 1": ns.sem(x, axis=1, ddof=0), "sem None": ns.sem(x, None),
            "sem keepdims": ns.sem(x, keepdims=True),
            "sem omit": ns.sem(x_nan, nan_policy="omit"),
        }
        out.update({m: ns.rankdata(ties, m) for m in methods})
        return out

    got = jax.jit(lambda: run(fst))()
    want = jax.jit(lambda: run(jst))()
    oracle.assert_trees_same(got, want, rtol=1e-14)
    for m in methods:
        np.testing.assert_array_equal(got[m], sst.rankdata(ties, m))
    _close(got["sem"], sst.sem(x), 1e-14)
    _close(got["mode 1"][0], [2, 1, 0], 0)  # the smallest of the most common


def test_gaussian_kde():
    """Density, log density, the integrals and a gradient through the bandwidth, against
    JAX's gaussian_kde (one program per side) and SciPy's density."""
    data = np.random.default_rng(61).standard_normal((2, 20))
    w = _u(0.5, 1.5, 62, 20)
    pts = np.random.default_rng(63).standard_normal((2, 5))
    mean, cov = np.r_[0.1, -0.2], np.eye(2) * 0.5

    def run(ns, grad, total):
        kde = ns.gaussian_kde(data, weights=w)
        one = ns.gaussian_kde(data[0], bw_method="silverman")
        return {
            "covariance": kde.covariance, "evaluate": kde.evaluate(pts),
            "logpdf": kde.logpdf(pts), "gaussian": kde.integrate_gaussian(mean, cov),
            "box": one.integrate_box_1d(-0.5, 1.0),
            "kde": kde.integrate_kde(ns.gaussian_kde(pts)),
            "grad": grad(lambda d: total(ns.gaussian_kde(d).logpdf(pts)))(data),
        }

    got = jax.jit(lambda: run(fst, fgrad.grad, fnp.sum))()
    want = jax.jit(lambda: run(jst, jax.grad, jnp.sum))()
    oracle.assert_trees_same(got, want, rtol=1e-11)
    _close(got["evaluate"], sst.gaussian_kde(data, weights=w).evaluate(pts), 1e-12)


# -- errors ----------------------------------------------------------------------------------


def test_errors_name_the_function_and_the_line():
    with pytest.raises(TypeError) as info:
        fst.norm.logpdf([1.0, 2.0])  # the line named
    message = str(info.value)
    assert "fgrad.scipy.stats.norm.logpdf" in message and "list" in message, message
    assert f"test_scipy_stats.py:{oracle.line_of(__file__, '# the line named')}" in message
    oracle.check_error(lambda: fst.multivariate_normal.logpdf(np.zeros(3), np.zeros(3), np.eye(2)), "multivariate_normal.logpdf", "(3, 3)")  # noqa: E501
    oracle.check_error(lambda: fst.dirichlet.logpdf(np.ones(3) / 3, np.ones((3, 1))), "one-dimensional")  # noqa: E501
    oracle.check_error(lambda: fst.dirichlet.logpdf(np.ones(5) / 5, np.ones(3)), "one entry fewer")  # noqa: E501
    oracle.check_error(lambda: fst.gamma.cdf(np.ones(3), np.ones(4)), "gamma.cdf", "broadcast")  # noqa: E501
    oracle.check_error(lambda: fst.norm.pdf(np.ones(2, complex)), "complex")
    with pytest.raises(NotImplementedError):
        fst.multivariate_normal.logpdf(np.zeros(2), np.zeros(2), np.eye(2), allow_singular=True)
    assert isinstance(ShapeDtypeError("x"), ValueError)  # what JAX raises for these


def test_missing_names():
    with pytest.raises(AttributeError, match="norm"):
        fst.nrom  # noqa: B018
