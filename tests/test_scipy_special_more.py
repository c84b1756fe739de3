"""fgrad.scipy.special's dawsn, sici, fresnel and wofz against jax.scipy.special, SciPy and
mpmath (values measured once at 40 digits, written below).

Values on random inputs and special points (branch switches, axes, infinities, NaN) in one
compiled program per side, types and weak types, first derivatives against JAX's and second
derivatives against finite differences, vmap against jax.vmap, and the errors. Where JAX or
SciPy is less accurate than fgrad, the test says so and compares with the other (or with
mpmath) there. (Every JAX call below was run once under `timeout 30` first: none of these
loops forever, unlike JAX's exp1 and expi on some arrays.)
"""

from __future__ import annotations

import functools

import jax
import jax.scipy.special as jsp
import numpy as np
import pytest
import scipy.special as ssp

import fgrad
import fgrad.scipy.special as fsp
from fgrad.core import ShapeDtypeError, aval_of
from fgrad.testing import check_grads

pytestmark = pytest.mark.usefixtures("x64", "quick_compile")

INF, NAN = np.inf, np.nan


def _u(lo, hi, seed, n=8):
    return np.random.default_rng(seed).uniform(lo, hi, n)


def _close(got, want, rtol, atol=0.0, what=""):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=rtol, atol=atol,
                               equal_nan=True, err_msg=what)


# -- values ----------------------------------------------------------------------------------

POINTS = {
    "dawsn": np.r_[_u(-10, 10, 1), 0.0, -0.0, 6.5, 6.5001, 1e-9, 0.0145, 30.0, 1e10, INF,
                   -INF, NAN],
    # 2 is the switch from the series to the continued fraction.
    "sici": np.r_[_u(-30, 30, 2), 0.0, 2.0, 2.0001, 1e-9, -4.0, 1e9 + 0.5, 2.5e9, 1e12, INF,
                  -INF, NAN],
    # 1.2 is the switch from the series to wofz.
    "fresnel": np.r_[_u(-10, 10, 3), 0.0, 1.2, 1.2001, 1e-9, -3.0, 5e4, 1.3e8, INF, -INF,
                     NAN],
    # Both methods' regions and their borders, the axes, below the real axis, far out.
    "wofz": np.r_[_u(-10, 10, 4) + 1j * _u(-10, 10, 5), _u(-30, 30, 6) + 1j * _u(0, 3, 7),
                  6 + 7j, 6.01 + 0.1j, 28 + 1e-11j, 0.5 + 0j, 3j, -3j, -3 - 2j, 1e10 + 1e10j,
                  1e-9j, 1e-9 + 1e-9j, 1e200 - 1e200j, complex(INF, 0), complex(NAN, 1)],
}

# Where JAX's value is less accurate than fgrad's, fgrad is compared with SciPy only there:
# name -> (positions, why).
JAX_OFF = {
    "sici": (slice(13, 16), "JAX's Ci above 1e9 is sin(x)/x alone: off by up to 5e-10"),
    "wofz": (slice(None), "JAX's 32-term rational approximation is within ~3e-13 of SciPy, "
             "and NaN at infinity"),
}
# Where SciPy's is off, fgrad is compared with JAX (checked against mpmath below) there.
SCIPY_OFF = {
    "fresnel": (slice(13, 15), "SciPy's S and C above x ~ 4e4 have the wrong phase: off by "
                "up to 1e-8"),
}
# Where both are off or differ: compared with neither here (see the tests further below).
NEITHER = {
    "wofz": (slice(-3, -2), "1e200 - 1e200i overflows to inf + nan*i in SciPy and JAX"),
}


@functools.lru_cache(maxsize=None)
def _values():
    def run(ns):
        return lambda args: {name: getattr(ns, name)(x) for name, x in args.items()}

    return fgrad.jit(run(fsp))(POINTS), jax.jit(run(jsp))(POINTS)


def _mask(table, name, shape):
    mask = np.zeros(shape, bool)
    if name in table:
        mask[table[name][0]] = True
    return mask


@pytest.mark.parametrize("name", sorted(POINTS))
def test_values(name):
    got_all, want_all = _values()
    x = POINTS[name]
    with np.errstate(all="ignore"):
        reference = getattr(ssp, name)(x)
    reference = reference if isinstance(reference, tuple) else (reference,)
    got = jax.tree_util.tree_leaves(got_all[name])
    want = jax.tree_util.tree_leaves(want_all[name])
    # Which of SciPy's pair is which: sici gives (Si, Ci); fresnel (S, C), as JAX.
    for g, w, r in zip(got, want, reference):
        g, w = np.asarray(g), np.asarray(w)
        assert aval_of(g) == aval_of(w), name
        skip = _mask(NEITHER, name, x.shape)
        jax_on = ~_mask(JAX_OFF, name, x.shape) & ~skip
        scipy_on = ~_mask(SCIPY_OFF, name, x.shape) & ~skip
        _close(g[jax_on], w[jax_on], 1e-14, atol=1e-300, what=f"{name} vs JAX")
        _close(g[scipy_on], r[scipy_on], 1e-14, atol=1e-300, what=f"{name} vs SciPy")
        if name in JAX_OFF:  # JAX's accuracy where it is off (and finite), for the record
            on = ~skip & np.isfinite(w)
            _close(g[on], w[on], 1e-9 if name == "sici" else 5e-13, atol=1e-300)


def test_values_against_mpmath():
    """fgrad at 1e-15 where SciPy (dawsn near 0.0145 and 30, wofz near the switch of its
    methods, fresnel far out) and JAX (wofz, sici's Ci) are further off: mpmath at 40
    digits. Then signs of zero and values at infinities, where allclose does not look."""
    x = np.r_[0.0145, 3.0, 6.5, 30.0]
    z = np.r_[6 + 7j, 7.88 + 0.0507j, 2 + 5.2j, 3.7 - 3.3j]
    x_sici, x_fresnel = np.r_[3.0, 1e9 + 0.5], np.r_[2.5, 5e4 + 0.3, 1.3e8]
    edges = np.array([complex(-INF, 0), complex(0, INF), complex(-1, 1e300), 1e200 + 1e200j,
                      -1e250 + 3e249j, complex(0, -INF)])
    got = fgrad.jit(lambda: (fsp.dawsn(x), fsp.wofz(z), fsp.sici(x_sici),
                             fsp.fresnel(x_fresnel), fsp.dawsn(-0.0), fsp.fresnel(-0.0),
                             fsp.wofz(edges)))()
    dawsn, w, (si, ci), (s, c), dawsn_zero, fresnel_zero, w_edges = got
    _close(dawsn, [0.014497967754249308, 0.1782710306105583, 0.07786781898606987,
                   0.016675941401059175], 1e-15)
    want = [0.04664649536313751 + 0.039516922497262456j,
            0.00047224269546407483 + 0.07218559104304087j,
            0.09376264045931591 + 0.034970133190608356j,
            0.014457165963037045 + 0.00394748824663688j]
    # Below the real axis w's condition number is ~2|z|^2 (50 here): 1e-14 is its accuracy.
    _close(w[:3], want[:3], 1e-15)
    _close(w[3:], want[3:], 2e-14)
    _close(si, [1.8486525279994683, 1.5707963263212728], 1e-15)
    _close(ci, [0.11962978600800032, 8.807272050592268e-10], 1e-15)
    _close(s, [0.6191817558195929, 0.4999936973518697, 0.4999999975514624], 1e-15)
    _close(c, [0.45741300964177706, 0.5000008970026005, 0.5], 1e-15)
    assert np.signbit(dawsn_zero)  # odd, as JAX's sign(x) * ...
    assert not np.signbit(fresnel_zero[0]) and not np.signbit(fresnel_zero[1])  # as JAX's
    w_edges = np.asarray(w_edges)
    np.testing.assert_array_equal(w_edges[:2], 0)
    # Far out, the first term of the expansion, i / (sqrt(pi) z), without overflow.
    _close(w_edges[2:5], 1j / np.sqrt(np.pi) / edges[2:5], 1e-15)
    assert w_edges[5] == ssp.wofz(edges[5]) == INF  # erfcx(-inf), as SciPy


def test_float32_values():
    """float32 stays float32 and is float32-accurate (one compiled program; fresnel's
    float32 path is wofz's)."""
    with np.errstate(over="ignore"):  # 1e200 - 1e200i is inf - inf*i in complex64
        args = {name: x.astype(np.complex64 if name == "wofz" else np.float32)
                for name, x in POINTS.items() if name != "fresnel"}
    got = fgrad.jit(lambda a: {n: getattr(fsp, n)(x) for n, x in a.items()})(args)
    for name, x in args.items():
        with np.errstate(all="ignore"):
            reference = getattr(ssp, name)(x.astype(np.complex128 if name == "wofz"
                                                    else np.float64))
        reference = reference if isinstance(reference, tuple) else (reference,)
        for g, r in zip(jax.tree_util.tree_leaves(got[name]), reference):
            assert aval_of(g).dtype == x.dtype, name
            ok = np.isfinite(r) & (np.abs(r) < 1e30) & ~_mask(SCIPY_OFF, name, x.shape)
            ok &= ~_mask(NEITHER, name, x.shape)
            _close(np.asarray(g)[ok], r[ok], 2e-5, atol=1e-37, what=name)


def test_types_follow_jax():
    """Promotion as jax.scipy's (integers and bools to floats, wofz to complex), and weak
    types (Python scalars give strong results here, as JAX's custom_jvp's do)."""
    cases = [1.5, np.float32(1.5), np.int32(2), np.arange(3), True,
             np.ones(2, np.float32)]
    for name in POINTS:
        for a in cases + ([1.5j, np.ones(2, np.complex64)] if name == "wofz" else []):
            got = fgrad.make_ir(getattr(fsp, name))(a).out_avals
            want = jax.tree_util.tree_leaves(jax.eval_shape(getattr(jsp, name), a))
            assert [(g.shape, g.dtype, g.weak_type) for g in got] == [
                (w.shape, w.dtype, w.weak_type) for w in want], (name, a)


# -- derivatives -----------------------------------------------------------------------------

X = np.r_[-3.2, -0.4, 0.7, 1.9, 5.5, 8.0]
Z = np.r_[0.3 + 1j, 1.5 - 0.5j, 5.0 + 7j, -2.0 + 0.2j, 9.0 + 1.0j, 0.7 - 2.0j]


def _grad_cases(ns):
    """name -> (a real function of real or complex operands, operands)."""
    return {
        "dawsn": (lambda x: ns.dawsn(x), (X,)),
        "sici": (lambda x: ns.sici(x)[0] + 2.0 * ns.sici(x)[1], (np.abs(X) + 0.1,)),
        "fresnel": (lambda x: ns.fresnel(x)[0] - 3.0 * ns.fresnel(x)[1], (X,)),
        "wofz_complex": (lambda z: ns.wofz(z).real + 2.0 * ns.wofz(z).imag, (Z,)),
        "wofz_real": (lambda x: ns.wofz(x).imag, (X,)),
    }


def test_derivatives_match_jax():
    """Gradients (JAX's rules: dawsn' = 1 - 2x dawsn, Si' = sin(x)/x, Ci' = cos(x)/x,
    S' = sin(pi x^2/2), C' = cos(pi x^2/2), w' = -2zw + 2i/sqrt(pi)), in one compiled
    program per side; for complex z, JAX's convention (the conjugate of d/dz of a real
    function)."""
    def run(cases, grad):
        return {n: grad(lambda *a, f=f: f(*a).sum())(*args) for n, (f, args) in cases.items()}

    got = jax.jit(lambda: run(_grad_cases(fsp), fgrad.grad))()
    want = jax.jit(lambda: run(_grad_cases(jsp), jax.grad))()
    for name in got:
        # JAX's values of wofz are within ~3e-13 only, and its rule uses them in
        # -2zw + 2i/sqrt(pi), whose two terms cancel to O(1/z^2) for large z: on the real
        # axis 2/sqrt(pi) (1 - 2x dawsn(x)) with SciPy's dawsn is the reference.
        if name == "wofz_real":
            _close(got[name], want[name], 1e-10, what=name)
            _close(got[name], 2 / np.sqrt(np.pi) * (1 - 2 * X * ssp.dawsn(X)), 1e-13)
            continue
        _close(got[name], want[name], 1e-13, atol=1e-13 if "wofz" in name else 1e-14,
               what=name)


def test_check_grads_second_order():
    """Second derivatives, forward and reverse, against finite differences: sici and
    fresnel's pairs, and w of complex z through its real and imaginary parts as real
    functions of real operands."""
    def every(x, x_sici, x_fresnel, re, im):
        w = fsp.wofz(re + 1j * im)
        return fsp.dawsn(x), fsp.sici(x_sici), fsp.fresnel(x_fresnel), w.real, w.imag

    check_grads(fgrad.jit(every), (X, np.abs(X) + 0.1, X, Z.real, Z.imag), order=2)


def test_vmap():
    """vmap against jax.vmap (custom rules, one of a pair of outputs, with a batched and an
    unbatched operand), under jit."""
    x = np.stack([X, X[::-1] * 2])

    def run(vmap, ns):
        sici = vmap(lambda a, b: ns.sici(a * b), (0, None))
        return lambda x, y: (vmap(ns.dawsn)(x), sici(x, y))

    got = fgrad.jit(run(fgrad.vmap, fsp))(x, X)
    want = jax.jit(run(jax.vmap, jsp))(x, X)
    for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        _close(g, w, 1e-14, atol=1e-15)


# -- errors ----------------------------------------------------------------------------------


def _raises(error, call, *fragments):
    with pytest.raises(error) as info:
        call()
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))
    assert "test_scipy_special_more.py" in str(info.value)  # the user's line


def test_errors():
    x = np.ones(3)
    _raises(ShapeDtypeError, lambda: fsp.dawsn(x + 1j), "dawsn does not support complex")
    _raises(ShapeDtypeError, lambda: fsp.sici(x + 1j), "sici does not support complex")
    _raises(ShapeDtypeError, lambda: fsp.fresnel(x + 1j), "fresnel does not support complex")
    _raises(TypeError, lambda: fsp.wofz([1.0, 2.0]), "fgrad.scipy.special.wofz", "list")


def test_erfcx_of_complex_arguments_is_wofz_of_iz():
    """erfcx(z) = w(iz) for complex z, as JAX defines it: against SciPy's values and JAX's
    gradient of the real part."""
    z = np.array([0.5 + 0.3j, -2.0 + 1.0j, 3.0 - 0.5j, 10.0 + 10.0j, 0j])
    assert fgrad.make_ir(fsp.erfcx)(z).out_avals[0] == aval_of(jsp.erfcx(z))
    got, slope = fgrad.jit(lambda z: (fsp.erfcx(z), fgrad.grad(
        lambda w: fsp.erfcx(w).real.sum())(z[:3])))(z)  # one compile
    np.testing.assert_allclose(got, ssp.erfcx(z), rtol=1e-15)
    np.testing.assert_allclose(slope, jax.grad(lambda z: jsp.erfcx(z).real.sum())(z[:3]),
                               rtol=1e-13)
