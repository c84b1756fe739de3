"""fgrad.scipy.signal (convolve, correlate, convolve2d, correlate2d, fftconvolve) against
jax.scipy.signal: values, shapes, dtypes and weak types over every mode and method, real and
complex, inputs larger and smaller than each other; SciPy itself where JAX refuses (inputs
neither of which is smaller in every dimension); VJPs and JVPs against JAX's, second
derivatives against finite differences; vmap and jit; the errors.

Every comparison of one kind runs inside one jax.jit per side: compiling dominates.
"""

import jax
import jax.numpy as jnp
import jax.scipy.signal as jss
import numpy as np
import pytest
import scipy.signal

import fgrad
import fgrad.scipy.signal as fss
import oracle
from fgrad.core import aval_of
from fgrad.testing import check_grads
from oracle import rand

pytestmark = pytest.mark.usefixtures("quick_compile")

# (in1 shape, in2 shape): larger first, smaller first, equal, 2-d both ways, 3-d, 0-d
SHAPES = [((7,), (3,)), ((3,), (6,)), ((4,), (4,)), ((5, 6), (2, 3)), ((2, 3), (5, 4)),
          ((3, 4, 5), (2, 2, 3)), ((), ())]
MODES = ["full", "same", "valid"]


def _all_close(got, want, rtol=1e-10, atol=1e-10):
    got_leaves, want_leaves = jax.tree.leaves(got), jax.tree.leaves(want)
    assert len(got_leaves) == len(want_leaves)
    for g, w in zip(got_leaves, want_leaves):
        assert aval_of(g) == aval_of(w), (aval_of(g), aval_of(w))
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=rtol, atol=atol)


def _compare(calls: dict, inputs: dict, rtol: float) -> None:
    """Every call (name -> (f(module, in1, in2), shapes)) on fgrad's and on JAX's functions,
    each side in one jax.jit."""
    def run(module):
        return jax.jit(lambda ins: {(name, shapes): f(module, *ins[shapes])
                                    for name, (f, shape_list) in calls.items()
                                    for shapes in shape_list})(inputs)

    _all_close(run(fss), run(jss), rtol=rtol, atol=rtol)


def _direct_calls(names, shapes) -> dict:
    return {f"{name} {mode}": (lambda m, a, b, name=name, mode=mode:
                               getattr(m, name)(a, b, mode), shapes)
            for name in names for mode in MODES}


def test_direct_method_against_jax(x64):
    inputs = {(s1, s2): (rand(s1, 1), rand(s2, 2)) for s1, s2 in SHAPES}
    two_d = [s for s in SHAPES if len(s[0]) == 2]
    _compare({**_direct_calls(["convolve", "correlate"], SHAPES),
              **_direct_calls(["convolve2d", "correlate2d"], two_d)}, inputs, 1e-10)


def test_complex_inputs_against_jax(x64):
    # the conjugations: correlate's of in2, correlate2d's of its 'valid' result when in1 is
    # the smaller
    shapes = [((3,), (6,)), ((5, 6), (2, 3)), ((2, 3), (5, 4))]
    inputs = {(s1, s2): (rand(s1, 1, np.complex128), rand(s2, 2, np.complex128))
              for s1, s2 in shapes}
    calls = _direct_calls(["correlate"], shapes[:1])
    calls.update({f"correlate2d {mode}": (lambda m, a, b, mode=mode: m.correlate2d(a, b, mode),
                                          shapes[1:]) for mode in ["same", "valid"]})
    calls["convolve"] = (lambda m, a, b: m.convolve(a, b, "same"), shapes[1:2])
    _compare(calls, inputs, 1e-10)


def test_fft_method_against_jax(x64):
    inputs = {(s1, s2): (rand(s1, 1), rand(s2, 2))
              for s1, s2 in [((7,), (3,)), ((2, 3), (5, 4)), ((3, 2, 5), (2, 2, 3))]}
    inputs[((4,), (5,))] = (rand((4,), 3, np.complex128), rand((5,), 4, np.complex128))
    shapes = list(inputs)
    calls = {f"{name} {mode} fft": (lambda m, a, b, name=name, mode=mode:
                                    getattr(m, name)(a, b, mode, method="fft"), shapes)
             for name in ["convolve", "correlate"] for mode in MODES}
    inputs[((3, 6), (3, 2))] = (rand((3, 6), 5), rand((3, 2), 6))
    calls["fftconvolve axes=1"] = (lambda m, a, b: m.fftconvolve(a, b, "same", axes=1),
                                   [((3, 6), (3, 2))])
    inputs[((1, 4), (3, 1))] = (rand((1, 4), 7), rand((3, 1), 8))  # single-term sums
    calls["fftconvolve outer"] = (lambda m, a, b: m.fftconvolve(a, b), [((1, 4), (3, 1))])
    _compare(calls, inputs, 1e-9)


def test_dtypes_and_weak_types():
    i32, b = jnp.arange(5, dtype=jnp.int32), jnp.array([True, False, True])
    f16, f32 = jnp.ones(3, jnp.float16), oracle.make((6,), np.float32)
    weak = oracle.make((4,), np.float32, weak=True)
    pairs = [(i32, b), (b, b), (f16, i32), (f16, f32), (weak, weak), (weak, f16), (2.0, 3)]
    for name in ["convolve", "correlate", "fftconvolve"]:
        for a, c in pairs:  # shapes, dtypes and weak types, without compiling
            if name == "fftconvolve" and any(x is f16 for x in (a, c)):
                continue  # neither side transforms float16
            got = jax.eval_shape(getattr(fss, name), a, c)
            assert got == jax.eval_shape(getattr(jss, name), a, c), (name, a, c)
    oracle.assert_same(fss.convolve(2.0, 3), jss.convolve(jnp.asarray(2.0), jnp.asarray(3)))


def test_against_scipy_where_jax_refuses(x64):
    """Inputs neither of which is smaller in every dimension: JAX refuses the direct method,
    SciPy (and fgrad) compute the 'full' and 'same' modes."""
    a, b = rand((4, 2), 1), rand((3, 5), 2)
    for mode in ["full", "same"]:
        for name in ["convolve", "correlate"]:
            want = getattr(scipy.signal, name)(a, b, mode)
            np.testing.assert_allclose(getattr(fss, name)(a, b, mode), want, rtol=1e-10)
            np.testing.assert_allclose(getattr(fss, name)(a, b, mode, method="fft"), want,
                                       rtol=1e-9, atol=1e-12)
        for name in ["convolve2d", "correlate2d"]:
            want = getattr(scipy.signal, name)(a, b, mode)
            np.testing.assert_allclose(getattr(fss, name)(a, b, mode), want, rtol=1e-10)


# -- derivatives, vmap, jit ------------------------------------------------------------------

DERIVATIVE_CASES = [("convolve", "full", (5, 4), (2, 3)), ("convolve", "same", (3,), (6,)),
                    ("correlate", "valid", (3, 4, 5), (2, 2, 3)),
                    ("correlate", "same", (4,), (4,)),
                    ("convolve2d", "valid", (2, 3), (5, 4)),
                    ("correlate2d", "same", (5, 6), (2, 4)),
                    ("correlate2d", "valid", (2, 3), (4, 4)),
                    ("fftconvolve", "same", (5, 3), (4, 2))]


@pytest.mark.parametrize("dtype_name", ["float64", "complex128"])
def test_jvp_and_vjp_against_jax(x64, dtype_name):
    dtype = np.dtype(dtype_name)
    args = [(rand(s1, 1, dtype), rand(s2, 2, dtype)) for _, _, s1, s2 in DERIVATIVE_CASES]
    tangents = [(rand(s1, 3, dtype), rand(s2, 4, dtype)) for _, _, s1, s2 in DERIVATIVE_CASES]
    cts = [rand(jax.eval_shape(lambda a, b, n=n, m=m: getattr(jss, n)(a, b, m), *a).shape, 5,
                dtype) for (n, m, _, _), a in zip(DERIVATIVE_CASES, args)]

    def run(module, jvp, vjp):
        def go():
            out = []
            for (name, mode, _, _), a, t, c in zip(DERIVATIVE_CASES, args, tangents, cts):
                def f(x, y, name=name, mode=mode):
                    return getattr(module, name)(x, y, mode)
                out.append((jvp(f, a, t)[1], vjp(f, *a)[1](c)))
            return out
        return jax.jit(go)()

    _all_close(run(fss, fgrad.jvp, fgrad.vjp), run(jss, jax.jvp, jax.vjp))


def test_second_order_against_finite_differences(x64):
    a, b = rand((4, 5), 1), rand((2, 3), 2)
    check_grads(lambda a, b: fgrad.numpy.tanh(fss.correlate(a, b, "same")), (a, b), order=2)


def test_vmap_and_jit(x64):
    a, b = rand((3, 6, 5), 1), rand((3, 2, 4), 2)

    def run(module, vmap):
        f = vmap(lambda x, y: module.convolve2d(x, y, "same"))
        g = vmap(lambda x: module.correlate(x, b[0], "valid", method="fft"))
        return jax.jit(lambda: (f(a, b), g(a)))()

    _all_close(run(fss, fgrad.vmap), run(jss, jax.vmap), rtol=1e-9, atol=1e-9)
    _all_close(fgrad.jit(lambda x, y: fss.correlate2d(x, y, "full"))(a[0], b[0]),
               jss.correlate2d(a[0], b[0], "full"))


# -- errors ----------------------------------------------------------------------------------


def _raises(error, call, *fragments):
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    code = call.__code__
    assert f"test_scipy_signal.py:{code.co_firstlineno}" in message, message


def test_errors():
    a, b = jnp.ones((4, 2)), jnp.ones((3, 5))
    _raises(ValueError, lambda: fss.convolve(a, b, "valid"), "in 'valid' mode one input must "
            "be at least as large as the other in every dimension")
    _raises(ValueError, lambda: fss.correlate(a, b[0]), "must have the same number of "
            "dimensions")
    _raises(ValueError, lambda: fss.convolve(a, b, "middle"), "mode must be one of")
    _raises(ValueError, lambda: fss.correlate(a, b, method="overlap"), "method must be 'auto', "
            "'direct' or 'fft'")
    _raises(ValueError, lambda: fss.convolve(a, jnp.ones((0, 2))), "zero-size arrays")
    _raises(TypeError, lambda: fss.convolve([1.0, 2.0], a[0]), "requires arrays or scalars")
    _raises(ValueError, lambda: fss.convolve2d(a[0], b[0]), "only 2-dimensional inputs")
    _raises(NotImplementedError, lambda: fss.correlate2d(a, b, boundary="wrap"),
            "boundary='fill' with fillvalue=0 only")
    _raises(NotImplementedError, lambda: fss.convolve2d(a, b, fillvalue=1.0),
            "boundary='fill' with fillvalue=0 only")
    _raises(ValueError, lambda: fss.fftconvolve(a, b, axes=1), "the axes not convolved ((0,))")


# -- spectral analysis: detrend, stft, istft, csd, welch ------------------------------------
#
# Each grid of options runs as one jax.jit per side (fgrad's functions, JAX's), with the
# signals as arguments. Complex inputs ask for two-sided spectra (JAX would switch with a
# warning; test_complex_input_warns checks that).


def _both(fn, args, rtol=1e-9):
    """fn(module, args) for fgrad's and JAX's module, each in one jax.jit, compared; returns
    fgrad's results (to compare with SciPy's without running fgrad eagerly, op by op)."""
    got = jax.jit(lambda a: fn(fss, a))(args)
    _all_close(got, jax.jit(lambda a: fn(jss, a))(args), rtol=rtol, atol=rtol)
    return got


def _close_to_scipy(got, want):
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-9, atol=1e-12)


def test_detrend_against_jax_and_scipy(x64):
    a, c = rand((5, 12), 1), rand((9, 4), 2, np.complex128)
    options = [{}, {"type": "constant"}, {"bp": [3, 7]}, {"axis": 0}, {"bp": 11},
               {"type": "constant", "axis": 0}, {"bp": [1, 2], "axis": 0}]
    complex_options = [{}, {"type": "constant"}, {"bp": [4], "axis": 0}]
    got = _both(lambda m, s: [m.detrend(s[0], **o) for o in options] +
                [m.detrend(s[1], **o) for o in complex_options], (a, c))
    _close_to_scipy(got, [scipy.signal.detrend(a, **o) for o in options] +
                    [scipy.signal.detrend(c, **o) for o in complex_options])


STFT_OPTIONS = [
    {"nperseg": 8},
    {"nperseg": 9, "noverlap": 3, "nfft": 12, "detrend": "linear"},
    {"nperseg": 8, "boundary": None, "padded": False, "detrend": "constant"},
    {"nperseg": 10, "boundary": "even", "fs": 3.0},
    {"nperseg": 6, "boundary": "odd", "return_onesided": False, "axis": 0},
    {"nperseg": 7, "boundary": "constant", "axis": 0},
    {"window": ("tukey", 0.3), "nperseg": 8, "noverlap": 0},
    {"window": np.linspace(0.5, 1.5, 8), "nperseg": 8, "noverlap": 5},
]


def test_stft_against_jax_and_scipy(x64):
    x, z = rand((2, 30), 1), rand((2, 30), 2, np.complex128)

    def calls(m, s):
        out = []
        for o in STFT_OPTIONS:
            t = (lambda a: a.T) if o.get("axis") == 0 else (lambda a: a)
            out.append(m.stft(t(s[0]), **o))
            if "window" not in o:  # complex: two-sided
                out.append(m.stft(t(s[1]), **{**o, "return_onesided": False}))
        return out

    got = _both(calls, (x, z))
    want = [scipy.signal.stft(x, **STFT_OPTIONS[0]),
            scipy.signal.stft(z, **STFT_OPTIONS[0], return_onesided=False),
            scipy.signal.stft(x, **STFT_OPTIONS[1])]
    _close_to_scipy(jax.tree.leaves(got[:3]), jax.tree.leaves(want))


WELCH_OPTIONS = [
    {},  # nperseg: the whole signal (JAX's default), one segment
    {"nperseg": 8},
    {"nperseg": 9, "noverlap": 3, "nfft": 12, "scaling": "spectrum", "detrend": "linear"},
    {"nperseg": 8, "detrend": False, "average": "median", "fs": 2.0},
    {"nperseg": 6, "return_onesided": False, "average": "median", "axis": 0},
    {"window": ("tukey", 0.3), "nperseg": 10, "scaling": "spectrum", "axis": 0},
]


def test_welch_and_csd_against_jax_and_scipy(x64):
    x, y, z = rand((2, 30), 1), rand((1, 26), 2), rand((2, 30), 3, np.complex128)

    def calls(m, s):
        out = []
        for i, o in enumerate(WELCH_OPTIONS):
            t = (lambda a: a.T) if o.get("axis") == 0 else (lambda a: a)
            out += [m.welch(t(s[0]), **o), m.csd(t(s[0]), t(s[1]), **o)]
            if i in (1, 4):  # complex: two-sided
                two = {**o, "return_onesided": False}
                out += [m.welch(t(s[2]), **two), m.csd(t(s[2]), t(s[0]), **two)]
        return out

    got = _both(calls, (x, y, z))
    # SciPy's own zero-padding of y fails when y broadcasts against x: give it x's rows
    y2 = np.broadcast_to(y, (2, 26))
    _close_to_scipy(jax.tree.leaves(got[2:6]), jax.tree.leaves(
        [scipy.signal.welch(x, **WELCH_OPTIONS[1]), scipy.signal.csd(x, y2, **WELCH_OPTIONS[1]),
         scipy.signal.welch(z, **WELCH_OPTIONS[1], return_onesided=False),
         scipy.signal.csd(z, x, **WELCH_OPTIONS[1], return_onesided=False)]))
    _close_to_scipy(got[10], scipy.signal.welch(x.T, **WELCH_OPTIONS[4]))  # median


def test_istft_against_jax_and_round_trip(x64):
    x, z = rand((2, 33), 1), rand((33, 2), 2, np.complex128)
    cases = [{"nperseg": 8}, {"nperseg": 10, "noverlap": 7, "nfft": 16},
             {"nperseg": 6, "window": np.linspace(0.5, 1.5, 6), "noverlap": 4}]

    def calls(m, s):
        out = []
        for o in cases:
            out.append(m.istft(m.stft(s[0], **o)[2], **o))
            out.append(m.istft(m.stft(s[1], return_onesided=False, axis=0, **o)[2],
                               input_onesided=False, freq_axis=0, **o))
        spectrum = m.stft(s[0], window=("tukey", 0.5), nperseg=8, boundary=None)[2]
        out.append(m.istft(spectrum, window=("tukey", 0.5), boundary=False))
        return out

    got = _both(calls, (x, z))
    for (_, back), signal in zip(got[:-1], [x, z.T] * len(cases)):  # the round trips
        np.testing.assert_allclose(back[:, :33], signal, atol=1e-12)


def test_istft_odd_nperseg_against_scipy(x64):
    """JAX fails here (it inverts with an even FFT length); fgrad inverts as SciPy does."""
    x = rand((2, 25), 1)
    spectrum = scipy.signal.stft(x, nperseg=7)[2]
    got = jax.jit(lambda s: fss.istft(s, nperseg=7))(spectrum)
    _close_to_scipy(got, scipy.signal.istft(spectrum, nperseg=7))
    np.testing.assert_allclose(got[1][:, :25], x, atol=1e-12)


def test_spectral_dtypes_float32():
    x, w = oracle.make((2, 20), np.float32), oracle.make((8,), np.float32, seed=1)
    for f in [lambda m: m.stft(x, nperseg=8), lambda m: m.welch(x, window=w),
              lambda m: m.csd(x, x[:1] * 2, nperseg=6, average="median"),
              lambda m: m.istft(jss.stft(x, nperseg=8)[2]),
              lambda m: m.detrend(jnp.arange(6))]:  # shapes and dtypes, without compiling
        assert jax.eval_shape(lambda: f(fss)) == jax.eval_shape(lambda: f(jss))
    # empty signals: JAX's zeros of the input's shape, but the cross spectrum shaped as
    # SciPy shapes it (JAX inserts the axis' number into the shape)
    with pytest.warns(UserWarning, match="nperseg=1 is greater than input_length=0"):
        assert jax.eval_shape(lambda: fss.stft(jnp.zeros((3, 0)), nperseg=1)) == \
            jax.eval_shape(lambda: jss.stft(jnp.zeros((3, 0)), nperseg=1))
    assert fss.csd(jnp.zeros((2, 0)), jnp.zeros((1, 3)))[1].shape == (2, 0)


def test_complex_input_warns():
    z = jax.ShapeDtypeStruct((16,), jnp.complex64)
    for module in [fss, jss]:
        with pytest.warns(UserWarning, match="switching to return_onesided=False"):
            assert jax.eval_shape(lambda s: module.welch(s, nperseg=8)[1], z).shape == (8,)


def _spectral_loss(m, npm, x, w, fs):
    f, t, zxx = m.stft(x, fs=fs, window=w, nperseg=8, detrend="linear")
    pxx = m.welch(x, fs=fs, nperseg=8, average="median")[1]
    back = m.istft(zxx, window=w, nperseg=8)[1]
    return (npm.sum(npm.abs(zxx) ** 2) + npm.sum(npm.sin(pxx)) + npm.sum(t * f[1]) +
            npm.sum(back ** 3))


def test_gradients_against_jax(x64):
    x, w = rand((2, 24), 1), rand((8,), 2) ** 2 + 0.5
    got = jax.jit(fgrad.grad(lambda *a: _spectral_loss(fss, fgrad.numpy, *a),
                             argnums=(0, 1, 2)))(x, w, 2.0)
    want = jax.jit(jax.grad(lambda *a: _spectral_loss(jss, jnp, *a),
                            argnums=(0, 1, 2)))(x, w, 2.0)
    _all_close(got, want, rtol=1e-9, atol=1e-9)


def test_second_order_stft_and_welch(x64):
    x = rand((14,), 1)
    check_grads(fgrad.jit(lambda x: fss.stft(x, nperseg=6, noverlap=2)[2]), (x,), order=2)
    check_grads(fgrad.jit(lambda x: fss.welch(x, nperseg=6, detrend="linear")[1]), (x,),
                order=2)


def test_spectral_vmap(x64):
    x = rand((3, 2, 20), 1)

    def run(module, vmap):
        return jax.jit(vmap(lambda s: module.welch(s, nperseg=8, average="median")))(x)

    _all_close(run(fss, fgrad.vmap), run(jss, jax.vmap))


def _same_error(error, call, *fragments):
    """call(fss) raises `error` naming the fragments and call's line in this file; call(jss)
    raises `error` too (JAX refuses the same arguments)."""
    with pytest.raises(error) as info:
        call(fss)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert f"test_scipy_signal.py:{call.__code__.co_firstlineno}" in message, message
    with pytest.raises(error):
        call(jss)


def test_spectral_errors():
    x = jnp.ones((2, 16))
    _same_error(ValueError, lambda m: m.stft(x, nperseg=8, noverlap=8),
                "noverlap must be less than nperseg")
    _same_error(ValueError, lambda m: m.welch(x, nperseg=8, nfft=4),
                "nfft must be greater than or equal to nperseg")
    _same_error(ValueError, lambda m: m.stft(x, window=jnp.ones(6), nperseg=8),
                "value specified for nperseg (8) is different from length of window (6)")
    _same_error(ValueError, lambda m: m.welch(x, window=jnp.ones((2, 4))),
                "window must be 1-D")
    _same_error(ValueError, lambda m: m.welch(x, window=jnp.ones(20)),
                "window is longer than input signal")
    _same_error(ValueError, lambda m: m.welch(x, nperseg=0), "nperseg must be a positive")
    _same_error(ValueError, lambda m: m.welch(x, nperseg=4, scaling="power"),
                "Unknown scaling: 'power'")
    _same_error(ValueError, lambda m: m.stft(x, nperseg=4, boundary="wrap"),
                "Unknown boundary option 'wrap'")
    _same_error(ValueError, lambda m: jax.eval_shape(lambda: m.welch(x, nperseg=4,
                                                                     average="mode")),
                'average must be "median" or "mean"')  # raised once computed: not compiled
    _same_error(ValueError, lambda m: m.welch(x, nperseg=4, detrend="quadratic"),
                "Trend type must be 'linear' or 'constant'")
    _same_error(ValueError, lambda m: m.csd(x, jnp.ones(16), nperseg=4),
                "x and y must have the same rank")
    _same_error(ValueError, lambda m: m.csd(x, jnp.ones((3, 16)), nperseg=4),
                "x and y cannot be broadcast together")
    _same_error(ValueError, lambda m: m.detrend(x, bp=[20]), "Breakpoints must be")
    _same_error(ValueError, lambda m: m.detrend(x, type="cubic"), "Trend type must be")
    _same_error(NotImplementedError, lambda m: m.detrend(x, overwrite_data=True),
                "overwrite_data")
    spectrum = jnp.ones((5, 7), jnp.complex64)
    _same_error(ValueError, lambda m: m.istft(spectrum[0]), "Input stft must be at least 2d")
    _same_error(ValueError, lambda m: m.istft(spectrum, time_axis=0, freq_axis=-2),
                "Must specify differing time and frequency axes")
    _same_error(ValueError, lambda m: m.istft(spectrum, window=jnp.ones(6)),
                "window must have length of 8")
    _same_error(ValueError, lambda m: m.istft(spectrum, nperseg=8, nfft=6),
                "FFT length (6) must be longer than nperseg (8)")
    _same_error(ValueError, lambda m: m.istft(spectrum, noverlap=9),
                "noverlap must be less than nperseg")
