"""fgrad.scipy.special against jax.scipy.special and SciPy.

Values on random inputs across each function's domain and at its special points (tails,
poles, branch switches), types and weak types, derivatives against JAX's and against finite
differences (check_grads, second order, forward and reverse, float64), the derivative
conventions JAX chooses where the mathematics leaves a choice, vmap against jax.vmap, jit,
and the errors.

Where JAX's value or derivative is wrong or less accurate than fgrad's, the test says so and
checks fgrad against SciPy (or the formula) instead. Compiling dominates: derivative checks
run under fgrad.jit (eager custom rules re-trace on every call), several functions per
program.
"""

from __future__ import annotations

import functools
import warnings

import jax
import jax.scipy.special as jsp
import numpy as np
import pytest
import scipy.special as ssp

import fgrad
import fgrad.scipy.special as fsp
import oracle
from fgrad.core import ShapeDtypeError, aval_of
from fgrad.core.errors import NotDifferentiableError
from fgrad.testing import check_grads

pytestmark = pytest.mark.usefixtures("x64", "quick_compile")
_SLOW = pytest.mark.slow  # the rest of the functions, on demand: compiling dominates

N = 8  # values per random case


def _rng(seed: int):
    return np.random.default_rng(seed)


def _u(lo, hi, seed, n=N):
    return _rng(seed).uniform(lo, hi, n)


def _close(got, want, rtol, atol=0.0, what=""):
    got, want = np.asarray(got), np.asarray(want)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


# -- values ----------------------------------------------------------------------------------
# name -> operands; each is compared with JAX (and SciPy where it has the function) at the
# tolerance given, on random values across the domain and special points in one array.

ODD = np.r_[-np.inf, np.inf, np.nan]
VALUE_CASES = {
    "gammaln": ((np.r_[_u(-6, 8, 1), 0.5, 1e-8, 170.5, 1e6],), 1e-13),
    "gamma": ((np.r_[_u(-6, 8, 2), -2.0, -0.0, 0.0, 171.0, ODD],), 1e-13),
    "gammasgn": ((np.r_[_u(-6, 8, 3), -3.0, -2.5, -1.5, -0.0, 0.0, ODD],), 0.0),
    "loggamma": ((np.r_[_u(-3, 8, 4), 0.0, 1e-300],), 1e-13),
    "digamma": ((np.r_[_u(-6, 8, 5), 1e-6, 1e4],), 1e-12),
    "polygamma": ((np.r_[0, 1, 2, 3, 4, 1, 0, 5], _u(0.2, 6, 6)), 1e-12),
    "beta": ((_u(0.3, 6, 7), np.r_[_u(0.3, 6, 8)[:6], 50.0, 400.0]), 1e-12),
    "betaln": ((np.r_[_u(0.3, 6, 9), 1e6, 1.0], np.r_[_u(0.3, 6, 10), 2e6, 1e8]), 1e-12),
    "betainc": ((_u(0.3, 5, 11), _u(0.3, 5, 12), np.r_[_u(0.01, 0.99, 13)[:6], 0.0, 1.0]),
                1e-12),
    "gammainc": ((_u(0.2, 8, 14), np.r_[_u(0.0, 12, 15)[:7], 0.0]), 1e-12),
    "gammaincc": ((_u(0.2, 8, 16), np.r_[_u(0.0, 12, 17)[:7], 0.0]), 1e-12),
    "xlogy": ((np.r_[0.0, 0.0, 0.0, 1.5, -2.0, 3.0], np.r_[0.0, 2.0, np.nan, 0.0, 3.0, 0.5]),
              1e-15),
    "xlog1py": ((np.r_[0.0, 0.0, 0.0, 1.5, -2.0, 3.0], np.r_[-1.0, 2.0, np.nan, -1.0, 3.0, 1e-9]),
                1e-15),
    "entr": ((np.r_[_u(0, 5, 18), -1.0, 0.0, np.inf],), 1e-15),
    "rel_entr": ((np.r_[_u(0, 3, 19), 0.0, 0.0, 1.0, -1.0],
                  np.r_[_u(0, 3, 20), 1.0, 0.0, 0.0, 1.0]), 1e-14),
    "kl_div": ((np.r_[_u(0, 3, 21), 0.0, 1.0], np.r_[_u(0, 3, 22), 2.0, 0.0]), 1e-14),
    "expit": ((np.r_[_u(-40, 40, 23), ODD],), 1e-15),
    "logit": ((np.r_[_u(0, 1, 24), 0.0, 1.0, 0.5],), 1e-14),
    "ndtr": ((np.r_[_u(-38, 9, 25), 0.0, -0.5, 0.5, ODD],), 1e-14),
    "log_ndtr": ((np.r_[_u(-19, 6, 26), -1e3, -37.0, -20.5, -20.0, 0.0],), 1e-13),
    "ndtri": ((np.r_[_u(0, 1, 27), 0.0, 1.0, 0.5, 1e-300, 1e-20, 1 - 1e-15, -0.1, 1.1],),
              1e-13),
    "i0": ((np.r_[_u(-30, 30, 28), 0.0],), 1e-14),
    "i0e": ((np.r_[_u(-30, 30, 29), 0.0],), 1e-14),
    "i1": ((np.r_[_u(-30, 30, 30), 0.0],), 1e-14),
    "i1e": ((np.r_[_u(-30, 30, 31), 0.0],), 1e-14),
    "erf": ((np.r_[_u(-6, 6, 32), ODD],), 1e-15),
    "erfc": ((np.r_[_u(-6, 26, 33), ODD],), 1e-14),
    "erfinv": ((np.r_[_u(-1, 1, 34), -1.0, 1.0, 0.0],), 1e-14),
    "zeta": ((np.r_[_u(1.01, 10, 35), 2.0, 1.0], np.r_[_u(0.1, 8, 36), 1.0, 1.0]), 1e-13),
    "multigammaln": ((_u(2, 10, 37), 4), 1e-13),
    "factorial": ((np.r_[-1.0, 0.0, 1.0, 5.0, 2.5, 20.0],), 1e-13),
    "comb": ((np.r_[5.0, 10.0, 3.0, 4.5, -1.0, 50.0], np.r_[2.0, 3.0, 4.0, 1.5, 1.0, 25.0]),
             1e-12),
    "poch": ((_u(0.3, 5, 38), np.r_[_u(-0.5, 4, 39)[:7], 0.0]), 1e-12),
    "boxcox": ((_u(0.1, 5, 40), np.r_[_u(-2, 2, 41)[:7], 0.0]), 1e-14),
    "boxcox1p": ((_u(-0.9, 5, 42), np.r_[_u(-2, 2, 43)[:7], 0.0]), 1e-14),
    "erfcx": ((np.r_[_u(-5, 40, 44), 2.99, 3.0, 3.01, 1e3, 1e8, 0.0, -27.0],), 1e-14),
    "exp1": ((np.r_[_u(0, 40, 45), 1e-9, 0.799, 0.8, 0.801, 700.0, 0.0, -1.0],), 1e-14),
    "expi": ((np.r_[_u(-60, 60, 46), -1e-6, 0.0, 1e-7, 0.37, 39.99, 40.01, 700.0],), 1e-13),
    "expn": ((np.r_[0, 1, 2, 3, 5, 20, 50, 1, 2, 0, -1, 1.5],
              np.r_[_u(0.1, 4, 47)[:4], 2.5, 15.0, 0.7, 0.0, 0.0, 0.0, 1.0, 1.0]), 1e-13),
    "spence": ((np.r_[_u(0, 5, 48), 0.0, 0.5, 1.0, 1.5, 2.0, 1e6, -1.0],), 1e-14),
    "owens_t": ((np.r_[_u(-6, 6, 49), 0.0, 1.0, 0.4], np.r_[_u(-20, 20, 50), 0.5, 1.0, 2.0]),
                1e-13),
}

# Where JAX's value is wrong or less accurate than SciPy's, fgrad is compared with SciPy only
# there (SciPy's value is then checked to be JAX's elsewhere): name -> (positions, why).
JAX_OFF = {
    "beta": (slice(6, 8), "JAX's beta loses 6 digits for large arguments (1e-6 relative)"),
    "betaln": (slice(None), "JAX's betaln for b >= 8 is accurate to ~1e-8 only"),
    "log_ndtr": (slice(None), "JAX's log(ndtr(x)) loses relative precision for x > 3"),
    "expn": (slice(8, 9), "JAX gives E_2(0) = 0.5; it is 1/(n-1) = 1"),
    "expi": (slice(N, N + 2), "JAX gives NaN for Ei(0); it is -inf (and see JAX_HANGS)"),
    "exp1": (slice(None), "JAX's continued fraction is accurate to ~1e-15 near x = 1"),
    "spence": (slice(None), "JAX's rational approximations are accurate to ~2e-15"),
    "owens_t": (slice(None), "JAX's 13-point quadrature loses digits for large h"),
    "ndtri": (slice(None), "JAX's rational approximations are accurate to ~1e-15"),
}

# Where SciPy's value is not the function jax.scipy defines, fgrad is compared with JAX only
# there: name -> (positions, why).
SCIPY_OFF = {
    "expn": (slice(11, 12), "SciPy truncates n = 1.5 to 1 (with a warning); JAX gives NaN"),
    "log_ndtr": (slice(N + 1, N + 4), "below x = -20 log_ndtr is the asymptotic series with "
                 "series_order terms, JAX's definition: 2e-11 from the exact value at -20"),
}

# gamma = sign exp(gammaln): exp carries gammaln's rounding times |gammaln| (706 at x = 171),
# so near overflow 1e-13 relative is float64's accuracy (JAX's too).
SCIPY_RTOL = {"gamma": 2e-13}


# JAX's exp1 and expi never return (their series loop runs on) for an array of two or more
# elements holding a tiny argument (1e-9, -1e-6: measured with jax 0.10.2 under jax.jit).
# JAX gets a harmless 1.0 there instead; fgrad is compared with SciPy at those points.
JAX_HANGS = {"exp1": N, "expi": N}

STATIC = {"multigammaln": 1}  # how many trailing operands are static (d)


def _call_all(ns, cases):
    """Every case's function of namespace `ns` on its operands, as one dict (one compiled
    program: compiling a program per function and shape took minutes)."""
    def run(args):
        out = {}
        for name, ops in args.items():
            static = VALUE_CASES[name][0][len(ops):]
            out[name] = getattr(ns, name)(*ops, *static)
        return out

    args = {name: ops[:len(ops) - STATIC.get(name, 0)] for name, (ops, _) in cases.items()}
    return run, args


def _in_dtype(ops, dtype: str):
    """The floating-point arrays among `ops` in `dtype` (integers and scalars stay)."""
    return [np.asarray(a, dtype) if np.ndim(a) and np.asarray(a).dtype.kind == "f" else a
            for a in ops]


@functools.lru_cache(maxsize=None)
def _values(dtype: str, names: tuple[str, ...] = tuple(VALUE_CASES)):
    cases = {n: (_in_dtype(VALUE_CASES[n][0], dtype), VALUE_CASES[n][1]) for n in names}
    run_fgrad, args = _call_all(fsp, cases)
    run_jax, _ = _call_all(jsp, cases)
    jax_args = dict(args)
    for name in JAX_HANGS.keys() & args.keys():
        jax_args[name] = [np.where(np.arange(np.size(x)) == JAX_HANGS[name], 1.0, x)
                          .astype(x.dtype) for x in args[name]]
    return args, fgrad.jit(run_fgrad)(args), jax.jit(run_jax)(jax_args)


def _mask(table, name, shape):
    """True where `table` says the reference is off for this case."""
    mask = np.zeros(shape, bool)
    if name in table:
        mask[table[name][0]] = True
    return mask


@pytest.mark.parametrize("name", sorted(VALUE_CASES))
def test_values(name):
    args, got, want = _values("float64")
    args = [*args[name], *VALUE_CASES[name][0][len(args[name]):]]
    got, want = np.asarray(got[name]), np.asarray(want[name])
    rtol = VALUE_CASES[name][1]
    assert aval_of(got) == aval_of(want)
    jax_on = ~_mask(JAX_OFF, name, want.shape)
    _close(got[jax_on], want[jax_on], max(rtol, 1e-12) if name in JAX_OFF else rtol,
           atol=1e-300, what="vs JAX")
    scipy_fn = getattr(ssp, name, None)
    if scipy_fn is None or name in ("gammasgn", "polygamma", "multigammaln"):
        return  # SciPy lacks it, or takes other arguments: test_values_scipy_lacks_...
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # expn: SciPy truncating n = 1.5
        reference = np.asarray(scipy_fn(*args))
    # Where JAX's value is trusted, SciPy's is compared where finite; elsewhere everywhere.
    scipy_on = ~_mask(SCIPY_OFF, name, want.shape)
    scipy_on &= np.isfinite(want) | ~jax_on
    _close(got[scipy_on], reference[scipy_on],
           SCIPY_RTOL.get(name, rtol if name in JAX_OFF else max(rtol, 1e-13)),
           atol=1e-300, what="vs SciPy")


def test_betaln_large_arguments_against_mpmath():
    """log B(a, b) where SciPy's own betaln is off by 1e-12 (3e3, 0.5): mpmath's values at
    40 digits."""
    a, b = np.r_[3e3, 1.0, 1e6, 0.5], np.r_[0.5, 1e8, 2e6, 1e10]
    want = [-3.4307771742339495, -18.420680743952367, -1909548.290968533,
            -10.940560522033028]
    _close(fsp.betaln(a, b), want, 2e-15)


# Where JAX's result type is not the promoted inputs' (its own docstrings promise that),
# fgrad keeps the promoted type as every other function does: name -> why.
JAX_TYPE_OFF = {
    "owens_t": "JAX's owens_t returns float64 for float32 and int32 inputs when x64 is on",
    "poch": "JAX's poch of Python scalars is not weakly typed",
}


def _same_type_as_jax(name, got, want, promoted_dtype=None):
    if name not in JAX_TYPE_OFF:
        assert (got.shape, got.dtype, got.weak_type) == (
            want.shape, want.dtype, want.weak_type), name
    else:  # the promoted inputs' type: shape as JAX's, dtype as asked, weak from scalars
        assert got.shape == want.shape, name
        assert got.dtype == (promoted_dtype or got.dtype), name


# The functions compared in float32: all but beta and betaln.
FLOAT32_NAMES = [n for n in VALUE_CASES if n not in ("beta", "betaln")]


def test_float32_types():
    """float32 stays float32: every function's traced type is JAX's (no compile)."""
    for name in FLOAT32_NAMES:
        ops = _in_dtype(VALUE_CASES[name][0], "float32")
        n = len(ops) - STATIC.get(name, 0)
        arrays, static = ops[:n], ops[n:]

        def f(*a, ns=fsp, name=name, static=static):
            return getattr(ns, name)(*a, *static)

        got = fgrad.make_ir(f)(*arrays).out_avals[0]
        want = jax.eval_shape(functools.partial(f, ns=jsp), *arrays)
        _same_type_as_jax(name, got, want, np.float32)


# Every other function's values by default; `-m slow` runs the rest.
@pytest.mark.parametrize("half", [0, pytest.param(1, marks=_SLOW)])
def test_float32_values(half):
    """float32 is float32-accurate, with JAX's types (half the functions per program)."""
    args, got, want = _values("float32", tuple(FLOAT32_NAMES[half::2]))
    for name in got:
        _same_type_as_jax(name, aval_of(got[name]), aval_of(want[name]), np.float32)
        g, w = np.asarray(got[name], np.float64), np.asarray(want[name], np.float64)
        finite = np.isfinite(w) & (np.abs(w) < 1e30) & (np.abs(w) > 1e-30)
        if name in ("ndtri", "log_ndtr", "spence", "expn", "exp1", "expi", "owens_t"):
            continue  # JAX's float32 values differ from SciPy's too: compared below
        _close(g[finite], w[finite], 5e-5, what=name)
    for name in {"ndtri", "log_ndtr", "spence", "exp1", "expi", "owens_t"} & set(got):
        ops = [np.asarray(a, np.float64) for a in args[name]]
        with np.errstate(all="ignore"):
            reference = getattr(ssp, name)(*ops)
        g = np.asarray(got[name], np.float64)
        finite = np.isfinite(reference) & np.isfinite(g) & (np.abs(reference) > 1e-30)
        _close(g[finite], reference[finite], 5e-5, what=name)


def test_values_scipy_lacks_or_needs_integers():
    n, x = np.r_[0, 1, 2, 3, 4, 1], _u(0.2, 6, 6, 6)
    _close(fsp.polygamma(n, x), ssp.polygamma(n, x), 1e-12)
    _close(fsp.multigammaln(_u(2, 10, 37), 4), [ssp.multigammaln(a, 4) for a in _u(2, 10, 37)],
           1e-13)
    # JAX's bernoulli(12) is off by up to 3e-6 relative (B_4 = -1/30 as -0.0333332487),
    # SciPy's by 2e-12: fgrad's are the exact fractions rounded once.
    assert aval_of(fsp.bernoulli(12)) == aval_of(jsp.bernoulli(12))
    exact = [1, -1 / 2, 1 / 6, 0, -1 / 30, 0, 1 / 42, 0, -1 / 30, 0, 5 / 66, 0, -691 / 2730]
    _close(fsp.bernoulli(12), exact, 1e-16)
    _close(fsp.bernoulli(30)[30], 8615841276005 / 14322, 1e-16)
    z = _u(0.5, 12, 51)
    oracle.assert_same(fsp.bessel_jn(z, v=4), jsp.bessel_jn(z, v=4), rtol=1e-12, atol=1e-14)
    _close(fsp.bessel_jn(z, v=4), [ssp.jv(k, z) for k in range(5)], 1e-10, atol=1e-13)


def test_normalizations_are_fgrad_nn():
    x = _rng(52).standard_normal((3, 4))
    oracle.assert_same(fsp.softmax(x), jsp.softmax(x), rtol=1e-15)
    oracle.assert_same(fsp.log_softmax(x, axis=1), jsp.log_softmax(x, axis=1), rtol=1e-15)
    oracle.assert_same(fsp.logsumexp(x, axis=0, b=x > 0, return_sign=True)[0],
                       jsp.logsumexp(x, axis=0, b=x > 0, return_sign=True)[0], rtol=1e-15)


def test_integer_inputs_become_floats():
    """Integers promote to the default float, as in jax.scipy (types only: no compile)."""
    for name in ["gammaln", "gamma", "digamma", "beta", "betaln", "xlogy", "entr", "logit",
                 "i0", "i1", "zeta", "poch", "boxcox", "erfcx", "exp1", "expi", "owens_t",
                 "rel_entr", "comb", "factorial", "betainc", "gammainc", "expit"]:
        ops = [np.arange(1, 4, dtype=np.int32)] * len(VALUE_CASES[name][0])
        got = fgrad.make_ir(getattr(fsp, name))(*ops).out_avals[0]
        want = jax.eval_shape(getattr(jsp, name), *ops)
        _same_type_as_jax(name, got, want, jax.eval_shape(jsp.gammaln, ops[0]).dtype)


def test_weak_types_follow_jax():
    """Python scalars give weakly typed results, as jax.scipy's do."""
    for name, args in [("gammaln", (2.5,)), ("xlogy", (2.0, 3.0)), ("betainc", (1.0, 2.0, 0.5)),
                       ("zeta", (2.0, 1.5)), ("entr", (0.5,)), ("logit", (0.25,)),
                       ("expi", (1.5,)), ("poch", (1.5, 2.0)), ("gammainc", (1.0, 2.0))]:
        got_type = fgrad.make_ir(getattr(fsp, name))(*args).out_avals[0]
        want = jax.eval_shape(getattr(jsp, name), *args)
        _same_type_as_jax(name, got_type, want, want.dtype)
        if name in JAX_TYPE_OFF:
            assert got_type.weak_type, name


# -- derivatives -----------------------------------------------------------------------------

P, Q = _u(0.5, 3, 60, 4), _u(0.5, 3, 61, 4)
UNIT = _u(0.1, 0.9, 62, 4)


def _grad_cases(ns):
    """name -> (function of its differentiated operands, operands), on safe domains: away
    from poles, kinks and the switches between branches."""
    f = ns
    m = np.r_[0.0, 1.0, 2.0, 3.0] if ns is jsp else np.r_[0, 1, 2, 3]
    n_int = np.r_[0, 1, 2, 3]
    return {
        "gammaln": (f.gammaln, (P,)), "gamma": (f.gamma, (P,)), "loggamma": (f.loggamma, (P,)),
        "digamma": (f.digamma, (P,)), "polygamma": (lambda x: f.polygamma(n_int, x), (P,)),
        "beta": (f.beta, (P, Q)), "betaln": (f.betaln, (P, Q)),
        "betainc": (lambda x: f.betainc(P, Q, x), (UNIT,)),
        "gammainc": (lambda x: f.gammainc(P, x), (Q,)),
        "gammaincc": (lambda x: f.gammaincc(P, x), (Q,)),
        "xlogy": (f.xlogy, (P - 1.5, Q)), "xlog1py": (f.xlog1py, (P - 1.5, Q - 0.3)),
        "entr": (f.entr, (P,)), "rel_entr": (f.rel_entr, (P, Q)), "kl_div": (f.kl_div, (P, Q)),
        "expit": (f.expit, (P - 1.5,)), "logit": (f.logit, (UNIT,)),
        "ndtr": (f.ndtr, (2 * P - 3,)), "log_ndtr": (f.log_ndtr, (np.r_[-30, -4.0, 0.5, 3],)),
        "ndtri": (f.ndtri, (UNIT,)),
        "i0": (f.i0, (P,)), "i1": (f.i1, (P,)), "i0e": (f.i0e, (P,)), "i1e": (f.i1e, (P,)),
        "erf": (f.erf, (P - 1.5,)), "erfc": (f.erfc, (P - 1.5,)), "erfinv": (f.erfinv, (UNIT,)),
        "zeta": (f.zeta, (P + 1, Q)),
        "multigammaln": (lambda a: f.multigammaln(a, 3), (P + 1.5,)),
        "factorial": (f.factorial, (P,)), "comb": (f.comb, (P + 5, Q)), "poch": (f.poch, (P, Q)),
        "boxcox": (f.boxcox, (P, Q - 0.3)), "boxcox1p": (f.boxcox1p, (P, Q - 0.3)),
        "erfcx": (f.erfcx, (np.r_[-1.0, 0.5, 2.5, 3.5],)),
        "exp1": (f.exp1, (np.r_[0.3, 1.5, 2.5, 20.0],)),
        "expi": (f.expi, (np.r_[-3.0, -0.5, 0.5, 10.0],)),
        "expn": (lambda x: f.expn(np.r_[1, 2, 3, 5], x), (np.r_[0.5, 1.5, 2.5, 9.0],)),
        "spence": (f.spence, (np.r_[0.2, 0.7, 1.3, 4.0],)),
        "owens_t": (f.owens_t, (np.r_[-1.5, 0.3, 0.8, 2.0], np.r_[0.5, -0.7, 2.5, -4.0])),
        "bessel_jn": (lambda z: f.bessel_jn(z, v=3), (P + 1,)),
        "softmax": (f.softmax, (P,)), "log_softmax": (f.log_softmax, (P,)),
        "logsumexp": (f.logsumexp, (P,)), "gammasgn": (f.gammasgn, (P,)),
    }, m


# Where JAX's derivative is wrong, fgrad's is checked against the formula instead.
JAX_GRAD_OFF = {
    "spence": "JAX's gradient is NaN for 1 < x <= 2 (its rational approximation)",
    "betaln": "JAX's betaln for b >= 8 is accurate to ~1e-8 only (b < 8 here: equal)",
}
SECOND_ORDER_OFF = {"exp1", "expn"}  # JAX cannot differentiate its while loop twice


def _hvp(grad, jvp, f, args):
    def total(*a):
        out = f(*a)
        return (out ** 3).sum()

    v = tuple(np.cos(np.arange(np.size(a))).reshape(np.shape(a)) for a in args)
    g = grad(total, tuple(range(len(args))))
    return g(*args), jvp(g, args, v)[1]


# Every other function of _grad_cases' list (which runs family by family) by default, so
# each family is represented; `-m slow` checks the rest.
@pytest.mark.parametrize("half", [0, pytest.param(1, marks=_SLOW)])
def test_derivatives_match_jax(half):
    """First and second derivatives (the gradient and a Hessian-vector product of
    sum(f^3)), of every function against JAX's, in one compiled program per side."""
    ours, _ = _grad_cases(fsp)
    theirs, _ = _grad_cases(jsp)

    def run(cases, grad, jvp, names):
        return {name: _hvp(grad, jvp, *cases[name]) for name in names}

    names = [n for n in ours if n not in JAX_GRAD_OFF][half::2]
    got = jax.jit(lambda: run(ours, fgrad.grad, fgrad.jvp, names))()
    want = jax.jit(lambda: run(theirs, jax.grad, jax.jvp,
                               [n for n in names if n not in SECOND_ORDER_OFF]))()
    for name in names:
        (g, h) = got[name]
        if name in SECOND_ORDER_OFF:
            jg = jax.jit(jax.grad(lambda *a: (theirs[name][0](*a) ** 3).sum(),
                                  tuple(range(len(theirs[name][1])))))(*theirs[name][1])
            oracle.assert_trees_same(g, jg, rtol=1e-12, atol=1e-14)
            continue
        wg, wh = want[name]
        oracle.assert_trees_same(g, wg, rtol=1e-11, atol=1e-14)
        oracle.assert_trees_same(h, wh, rtol=1e-10, atol=1e-13)


def test_derivatives_where_jax_is_off():
    x = np.r_[0.2, 0.7, 1.3, 1.9, 4.0]
    _close(fgrad.grad(lambda x: fsp.spence(x).sum())(x), np.log(x) / (1 - x), 1e-14)
    assert np.isnan(jax.jit(jax.grad(lambda x: jsp.spence(x).sum()))(x)[2])  # JAX's
    _close(fgrad.grad(lambda x: fsp.spence(x).sum())(1.0), -1.0, 0)
    a, b = _u(0.5, 3, 63, 4), _u(8, 1e3, 64, 4)
    ga, gb = fgrad.grad(lambda a, b: fsp.betaln(a, b).sum(), (0, 1))(a, b)
    _close(ga, ssp.digamma(a) - ssp.digamma(a + b), 1e-13)
    _close(gb, ssp.digamma(b) - ssp.digamma(a + b), 1e-12, atol=1e-15)


@pytest.mark.parametrize("group", ["gamma", "entropy", "normal",
                                   pytest.param("gamma_more", marks=_SLOW),
                                   pytest.param("integrals", marks=_SLOW),
                                   pytest.param("other", marks=_SLOW)])
def test_check_grads_second_order(group):
    """Second derivatives, forward and reverse, against finite differences (the default run
    checks three groups; `-m slow` the rest)."""
    cases, _ = _grad_cases(fsp)
    names = {
        "gamma": ["gammaln", "digamma", "betainc", "gammainc", "multigammaln"],
        "gamma_more": ["gamma", "loggamma", "polygamma", "beta", "betaln", "gammaincc",
                       "factorial", "comb", "poch"],
        "entropy": ["xlogy", "xlog1py", "entr", "rel_entr", "kl_div", "expit", "logit",
                    "boxcox", "boxcox1p", "softmax", "log_softmax", "logsumexp"],
        "normal": ["ndtr", "log_ndtr", "ndtri", "erf", "erfc", "erfinv", "owens_t"],
        "integrals": ["erfcx", "exp1", "expi", "expn", "spence", "zeta"],
        "other": ["i0", "i1", "i0e", "i1e", "bessel_jn"],
    }[group]
    args = tuple(cases[n][1] for n in names)

    def every(*args):
        return tuple(cases[n][0](*a) for n, a in zip(names, args))

    check_grads(fgrad.jit(every), args, order=2)
    # Betaln's large-argument branch (Stirling's series) too.
    if group == "gamma_more":
        check_grads(fgrad.jit(fsp.betaln), (P, Q + 9), order=2)


def test_derivative_conventions():
    """JAX's choices where the formula meets a boundary (JAX's derivatives under jax.jit:
    one compilation each rather than one per operation)."""
    zero = np.zeros(3)
    y = np.r_[0.0, 2.0, 0.5]
    for f, jf in [(fsp.xlogy, jsp.xlogy), (fsp.xlog1py, jsp.xlog1py)]:
        got = fgrad.grad(lambda x, y: f(x, y).sum(), (0, 1))(zero, y)
        want = jax.jit(jax.grad(lambda x, y: jf(x, y).sum(), (0, 1)))(zero, y)
        oracle.assert_trees_same(got, want)
    x = np.r_[0.0, 0.0, 1.0]
    oracle.assert_same(fgrad.grad(lambda x: fsp.entr(x).sum())(x),
                       jax.jit(jax.grad(lambda x: jsp.entr(x).sum()))(x))
    oracle.assert_same(fgrad.grad(lambda x: fsp.logit(x).sum())(x),
                       jax.jit(jax.grad(lambda x: jsp.logit(x).sum()))(x))
    # log_ndtr's derivative deep in the tail: phi/Phi ~ -x, finite.
    x = np.r_[-1e3, -40.0, -20.0, 10.0]
    oracle.assert_same(fgrad.grad(lambda x: fsp.log_ndtr(x).sum())(x),
                       jax.jit(jax.grad(lambda x: jsp.log_ndtr(x).sum()))(x), rtol=1e-13)
    # i0 is even, so i0'(0) = 0 (JAX's exp(|x|) i0e(x) gives 1 there, from abs's kink).
    assert fgrad.grad(fsp.i0)(0.0) == 0.0
    assert jax.jit(jax.grad(jsp.i0))(0.0) == 1.0
    # ndtri's derivative is 1/phi(ndtri(p)), exact in the tails too.
    p = np.r_[1e-30, 1e-5, 1 - 1e-9]
    x = ssp.ndtri(p)
    _close(fgrad.grad(lambda p: fsp.ndtri(p).sum())(p), np.sqrt(2 * np.pi) * np.exp(x * x / 2),
           1e-13)


@_SLOW  # (17 s of compiling; vmap and jit of special functions are also in test_derivatives)
def test_vmap_and_jit():
    """vmap against jax.vmap, with a batched and an unbatched operand, and fgrad.jit
    against eager values, over functions of each kind (primitives, compositions, custom
    rules, loops)."""
    names = ["gammaln", "betainc", "log_ndtr", "expn", "owens_t", "poch"]
    cases, _ = _grad_cases(fsp)
    jcases, _ = _grad_cases(jsp)
    for name in names:
        f, args = cases[name]
        batched = np.stack([args[0], args[0][::-1]])
        in_axes = (0,) + (None,) * (len(args) - 1)
        got = fgrad.vmap(f, in_axes)(batched, *args[1:])
        want = jax.vmap(jcases[name][0], in_axes)(batched, *args[1:])
        _close(got, want, 1e-13, what=name)
    every = {name: cases[name][1] for name in names}
    eager = {name: cases[name][0](*a) for name, a in every.items()}
    jitted = fgrad.jit(lambda every: {n: cases[n][0](*a) for n, a in every.items()})(every)
    oracle.assert_trees_same(jitted, eager, rtol=1e-14, atol=1e-300)


# -- refusals and errors ---------------------------------------------------------------------


def test_refused_derivatives():
    a, b, x = P, Q, UNIT
    with pytest.raises(NotDifferentiableError, match="betainc .* operand a"):
        fgrad.grad(lambda a: fsp.betainc(a, b, x).sum())(a)
    with pytest.raises(ValueError, match="not supported"):
        jax.grad(lambda a: jsp.betainc(a, b, x).sum())(a)
    # gammainc has no second derivative in a (igamma_grad_a has none), as in JAX.
    with pytest.raises(NotImplementedError, match="igamma_grad_a"):
        fgrad.hessian(lambda a: fsp.gammainc(a, x).sum())(a)
    with pytest.raises(NotImplementedError, match="igamma_grad_a"):
        jax.hessian(lambda a: jsp.gammainc(a, x).sum())(a)


def _raises(error, call, *fragments):
    with pytest.raises(error) as info:
        call()
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))
    assert "test_scipy_special.py" in str(info.value)  # the user's line


def test_errors():
    x = np.ones(3)
    _raises(ShapeDtypeError, lambda: fsp.gammaln(x + 1j), "gammaln does not support complex")
    _raises(ShapeDtypeError, lambda: fsp.gamma(x + 1j), "gamma does not support complex")
    _raises(TypeError, lambda: fsp.ndtr(np.ones(3, np.int32)), "float32 or float64", "int32")
    _raises(TypeError, lambda: fsp.ndtri(np.ones(3, np.float16)), "float32 or float64")
    _raises(TypeError, lambda: fsp.log_ndtr(x, 2.0), "series_order must be a Python int")
    _raises(ValueError, lambda: fsp.log_ndtr(x, 31), "from 0 to 30")
    _raises(ValueError, lambda: fsp.polygamma(1.0, x), "n must have an integer dtype")
    _raises(NotImplementedError, lambda: fsp.zeta(x), "q=None")
    _raises(NotImplementedError, lambda: fsp.factorial(x, exact=True), "exact=True")
    _raises(TypeError, lambda: fsp.gammaln([1.0, 2.0]), "fgrad.scipy.special.gammaln",
            "list")
    _raises(ValueError, lambda: fsp.bessel_jn(x, v=60), "v must be from 0 to n_iter")
    _raises(ValueError, lambda: fsp.bernoulli(-1), "n must be >= 0")
    _raises(ShapeDtypeError, lambda: fsp.xlogy(np.ones(3), np.ones(4)), "broadcast")
    with pytest.raises(TypeError, match="d must be a concrete integer"):
        fgrad.jit(lambda d: fsp.multigammaln(x + 3, d))(3)
    _raises(AttributeError, lambda: fsp.hyp1f1, "jax.scipy.special.hyp1f1 exists")
