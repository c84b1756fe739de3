"""fgrad.numpy.fft and the fft primitive (fgrad/lax/fft.py) against jax.numpy.fft / jax.lax.fft.

Values, dtypes, first derivatives (forward and reverse) against JAX's, second derivatives
against finite differences, the adjoint property through the transpose rule, vmap, jit, and
the errors. Many cases run as one jitted program per side: compiling is most of the time.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.lax as fl
import fgrad.numpy as fnp
import fgrad.numpy.fft as ffft
from fgrad.lax.fft import FftType
from fgrad.lax.fft import fft as lax_fft
from fgrad.testing import check_grads

RNG = np.random.default_rng(16)


def complex_normal(rng, *shape, dtype=np.complex128):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


def real_normal(rng, *shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def _assert_all_close(got, want, rtol, atol, labels):
    assert len(got) == len(want) == len(labels)
    for g, w, label in zip(got, want, labels):
        assert g.shape == w.shape and g.dtype == w.dtype, (label, g.shape, w.shape, g.dtype,
                                                           w.dtype)
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=rtol, atol=atol,
                                   err_msg=label)


# -- the cases: (function name, input kind, keyword arguments) -------------------------------

ONE_AXIS = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"]
TWO_AXES = ["fft2", "ifft2", "rfft2", "irfft2"]
N_AXES = ["fftn", "ifftn", "rfftn", "irfftn"]
REAL_INPUT = {"rfft", "ihfft", "rfft2", "rfftn"}

ONE_AXIS_ARGS = [
    dict(),                                    # defaults: the last axis, its own length
    dict(n=7, axis=0, norm="ortho"),           # padded
    dict(n=3, axis=1, norm="forward"),         # odd, cropped
    dict(n=1, axis=-1, norm="backward"),       # a single point
]
TWO_AXES_ARGS = [
    dict(),
    dict(s=(3, 5), axes=(0, 2), norm="ortho"),
    dict(s=(6, 4), axes=(2, 1), norm="forward"),  # reversed order, padded and cropped
    dict(axes=(1, 0)),
]
N_AXES_ARGS = [
    dict(norm="ortho"),                                  # all four axes: two transforms
    dict(s=(2, 3, 4)),                                   # the last three, cropped / padded
    dict(s=(2, 2, 3, 4), axes=(3, 0, 1, 2), norm="forward"),
    dict(s=(3,)),
    dict(axes=()),                                       # nothing to transform
]


def value_cases(rng, real_dtype, complex_dtype):
    cases = []
    for name, arg_list, shape in [(n, ONE_AXIS_ARGS, (5, 6)) for n in ONE_AXIS] + [
            (n, TWO_AXES_ARGS, (4, 5, 6, 3)) for n in TWO_AXES] + [
            (n, N_AXES_ARGS, (4, 5, 6, 3)) for n in N_AXES]:
        for kwargs in arg_list:
            x = (real_normal(rng, *shape, dtype=real_dtype) if name in REAL_INPUT
                 else complex_normal(rng, *shape, dtype=complex_dtype))
            cases.append((name, x, kwargs))
    return cases


def _apply_all(module, cases):
    names_kwargs = [(name, kwargs) for name, _, kwargs in cases]

    def run(xs):
        return [getattr(module, name)(x, **kwargs) for (name, kwargs), x in zip(names_kwargs, xs)]

    return jax.jit(run)([x for _, x, _ in cases])


def _label(name, kwargs):
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"


# -- values ----------------------------------------------------------------------------------


def test_values_match_jax(quick_compile):
    """Every transform, with n / s / axes / norm combinations, in float32 / complex64."""
    cases = value_cases(np.random.default_rng(1), np.float32, np.complex64)
    got = _apply_all(ffft, cases)
    want = _apply_all(jnp.fft, cases)
    _assert_all_close(got, want, 2e-5, 2e-4, [_label(n, k) for n, _, k in cases])


def test_round_trips(x64, quick_compile):
    """The inverses undo the transforms (a check that does not lean on JAX)."""
    rng = np.random.default_rng(2)
    x, z = real_normal(rng, 3, 6, 5), complex_normal(rng, 3, 6, 5)

    def run(x, z):
        return [ffft.ifft(ffft.fft(z, axis=1), axis=1), ffft.irfft(ffft.rfft(x), 5),
                ffft.ifftn(ffft.fftn(z, norm="ortho"), norm="ortho"),
                ffft.irfftn(ffft.rfftn(x, axes=(0, 1)), x.shape[:2], axes=(0, 1)),
                ffft.ihfft(ffft.hfft(ffft.ihfft(x), 5)), ffft.ifftshift(ffft.fftshift(z))]

    got = jax.jit(run)(x, z)
    for g, w in zip(got, [z, x, z, x, ffft.ihfft(x), z]):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), atol=1e-10)


def test_against_the_definition():
    """fft and rfft against the sum that defines them (not JAX), with a padded length."""
    x = np.array([1.0, -2.0, 0.5, 3.0, 0.25])
    n = 8
    padded = np.concatenate([x, np.zeros(n - len(x))])
    k = np.arange(n)
    dft = padded @ np.exp(-2j * np.pi * np.outer(k, k) / n)
    np.testing.assert_allclose(ffft.fft(x, n), dft.astype(np.complex64), atol=1e-5)
    np.testing.assert_allclose(ffft.rfft(x, n), dft[:n // 2 + 1].astype(np.complex64),
                               atol=1e-5)


def test_freqs_and_shifts_match_jax(quick_compile):
    freq_cases = [(f, n, kwargs) for f in ("fftfreq", "rfftfreq") for n in (1, 5, 6)
                  for kwargs in ({}, dict(d=0.1), dict(dtype=jnp.int32),
                                 dict(dtype=jnp.float16))]
    x = np.arange(60.0, dtype=np.float32).reshape(3, 4, 5)
    shift_cases = [(f, kwargs) for f in ("fftshift", "ifftshift")
                   for kwargs in ({}, dict(axes=0), dict(axes=(1, -1)))]

    def run(module):
        return ([getattr(module, f)(n, **kwargs) for f, n, kwargs in freq_cases]
                + [getattr(module, f)(x, **kwargs) for f, kwargs in shift_cases])

    got, want = jax.jit(lambda: (run(ffft), run(jnp.fft)))()
    _assert_all_close(got, want, 1e-6, 0, [_label(f"{f}[{n}]", k) for f, n, k in freq_cases]
                      + [_label(f, k) for f, k in shift_cases])


@pytest.mark.parametrize("enable_x64", [False, True], ids=["x32", "x64"])
def test_dtypes_match_jax(enable_x64):
    """Output dtypes and weak types for every input dtype (shapes only: jax.eval_shape)."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", enable_x64)
    try:
        checked = 0
        for dtype in (np.bool_, np.uint8, np.int32, np.int64, np.float16, jnp.bfloat16,
                      np.float32, np.float64, np.complex64, np.complex128):
            x = jax.ShapeDtypeStruct((4, 6), dtype)
            for name in ONE_AXIS + TWO_AXES + N_AXES:
                try:
                    want = jax.eval_shape(getattr(jnp.fft, name), x)
                except ValueError:  # rfft of complex or half-precision numbers
                    with pytest.raises(ValueError):
                        jax.eval_shape(getattr(ffft, name), x)
                    continue
                got = jax.eval_shape(getattr(ffft, name), x)
                assert (got.shape, got.dtype, got.weak_type) == (
                    want.shape, want.dtype, want.weak_type), (name, dtype)
                checked += 1
        assert checked > 100
        # A weakly typed Python scalar scaled into an array stays weak in neither.
        assert ffft.fft(fnp.ones(3) * 2.0).dtype == jnp.fft.fft(jnp.ones(3) * 2.0).dtype
    finally:
        jax.config.update("jax_enable_x64", previous)


# -- first derivatives against JAX -----------------------------------------------------------


def derivative_cases(rng):
    """(name, input, kwargs): every transform, two argument forms each, float64."""
    cases = []
    for name, arg_list, shape in [
            (n, [dict(), dict(n=5, axis=0, norm="ortho")], (3, 6)) for n in ONE_AXIS] + [
            (n, [dict(), dict(s=(2, 5), axes=(2, 0), norm="forward")], (3, 4, 5))
            for n in TWO_AXES] + [
            (n, [dict(norm="ortho"), dict(s=(2, 5, 4))], (3, 4, 5)) for n in N_AXES]:
        for kwargs in arg_list:
            x = (real_normal(rng, *shape) if name in REAL_INPUT
                 else complex_normal(rng, *shape))
            cases.append((name, x, kwargs))
    for name in ("fftshift", "ifftshift"):
        cases.append((name, real_normal(rng, 3, 5), dict(axes=(0, 1))))
    return cases


def _random_like(rng, aval):
    if jnp.issubdtype(aval.dtype, jnp.complexfloating):
        return complex_normal(rng, *aval.shape, dtype=aval.dtype)
    return real_normal(rng, *aval.shape, dtype=aval.dtype)


def test_jvp_and_vjp_match_jax(x64, quick_compile):
    rng = np.random.default_rng(3)
    cases = derivative_cases(rng)
    fns = [(lambda x, n=name, k=kwargs: getattr(ffft, n)(x, **k),
            lambda x, n=name, k=kwargs: getattr(jnp.fft, n)(x, **k)) for name, _, kwargs in cases]
    xs = [x for _, x, _ in cases]
    tangents = [_random_like(rng, jax.ShapeDtypeStruct(x.shape, x.dtype)) for x in xs]
    cotangents = [_random_like(rng, jax.eval_shape(j, x)) for (_, j), x in zip(fns, xs)]

    @jax.jit
    def ours(xs, ts, cts):
        out = []
        for (f, _), x, t, ct in zip(fns, xs, ts, cts):
            y, dy = fgrad.jvp(f, (x,), (t,))
            (g,) = fgrad.vjp(f, x)[1](ct)
            out.append((y, dy, g))
        return out

    @jax.jit
    def theirs(xs, ts, cts):
        out = []
        for (_, f), x, t, ct in zip(fns, xs, ts, cts):
            y, dy = jax.jvp(f, (x,), (t,))
            (g,) = jax.vjp(f, x)[1](ct)
            out.append((y, dy, g))
        return out

    got, want = ours(xs, tangents, cotangents), theirs(xs, tangents, cotangents)
    labels = [_label(n, k) for n, _, k in cases]
    for part, what in enumerate(("value", "jvp", "vjp")):
        _assert_all_close([g[part] for g in got], [w[part] for w in want], 1e-10, 1e-10,
                          [f"{what} of {label}" for label in labels])


def test_freq_derivatives_match_jax(x64, quick_compile):
    """fftfreq and rfftfreq are differentiable in the spacing d."""
    w5, w4 = np.linspace(-1.0, 1.0, 5), np.linspace(0.5, 2.0, 4)

    def ours(d):
        return fnp.sum(ffft.fftfreq(5, d) * w5) + fnp.sum(ffft.rfftfreq(6, d) * w4)

    def theirs(d):
        return jnp.sum(jnp.fft.fftfreq(5, d) * w5) + jnp.sum(jnp.fft.rfftfreq(6, d) * w4)

    got, want = jax.jit(lambda d: (fgrad.grad(ours)(d), jax.grad(theirs)(d)))(0.3)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(got, -(w5 @ np.fft.fftfreq(5) + w4 @ np.fft.rfftfreq(6)) / 0.09,
                               rtol=1e-12)


# -- second derivatives against finite differences --------------------------------------------


def _complex_input(f):
    """f of a complex argument as a function of its real and imaginary parts, so that
    check_grads perturbs (and checks the cotangents of) both."""
    return lambda re, im: f(fl.complex(re, im))


@pytest.mark.parametrize("name, f, args", [
    ("fft", _complex_input(lambda z: ffft.fft(z, 4)), (2, 3)),
    ("rfft", lambda x: ffft.rfft(x, norm="ortho"), (2, 5)),
    ("irfft", _complex_input(lambda z: ffft.irfft(z, 4, axis=0)), (3, 2)),
    ("hfft", _complex_input(lambda z: ffft.hfft(z, 5)), (2, 3)),
    ("fftn", _complex_input(lambda z: ffft.fftn(z, norm="forward")), (2, 3)),
    ("rfftn", lambda x: ffft.rfftn(x, (2, 4)), (3, 3)),
    ("irfftn", _complex_input(lambda z: ffft.irfftn(z, (3, 3))), (3, 2)),
], ids=lambda v: v if isinstance(v, str) else "")
def test_check_grads_order_2(x64, name, f, args):
    rng = np.random.default_rng(4)
    n_args = 2 if f.__code__.co_argcount == 2 else 1
    values = tuple(real_normal(rng, *args) for _ in range(n_args))
    # The transforms are linear: second derivatives are zero, so make them matter.
    check_grads(lambda *a: fl.mul(f(*a), f(*a)), values, order=2)


# -- the adjoint: <A x, y> = <x, A^H y> through the transpose rule ---------------------------


@pytest.mark.parametrize("fft_type, lengths, in_shape", [
    ("FFT", (5,), (2, 5)), ("IFFT", (3, 4), (3, 4)), ("FFT", (2, 3, 4), (2, 3, 4)),
    ("RFFT", (6,), (2, 6)), ("RFFT", (3, 5), (3, 5)), ("RFFT", (2, 2, 4), (2, 2, 4)),
    ("IRFFT", (6,), (2, 4)), ("IRFFT", (3, 5), (3, 3)), ("IRFFT", (2, 2, 4), (2, 2, 3)),
])
def test_adjoint_property(x64, fft_type, lengths, in_shape):
    """The cotangent map (fgrad's transpose rule, reached through fgrad.vjp) is the adjoint
    of the transform for the real inner product <u, v> = Re(sum(conj(u) * v)): JAX's
    convention makes the pullback of a conjugated cotangent, conjugated, the adjoint."""
    rng = np.random.default_rng(5)
    complex_in = fft_type != "RFFT"
    x = (complex_normal if complex_in else real_normal)(rng, *in_shape)

    def f(v):
        return lax_fft(v, fft_type, lengths)

    y_aval = jax.eval_shape(lambda v: jax.lax.fft(v, fft_type, lengths), x)
    y = _random_like(rng, y_aval)
    pullback = fgrad.vjp(f, x)[1]
    adjoint_y = np.conj(pullback(np.conj(y))[0])

    def inner(u, v):
        return np.real(np.vdot(u, v))

    np.testing.assert_allclose(inner(np.asarray(f(x)), y), inner(x, adjoint_y), rtol=1e-12)
    if complex_in and fft_type in ("FFT", "IFFT"):
        # A complex-linear map: the adjoint is complex-linear too (the imaginary part of the
        # complex inner product agrees as well), and is N IFFT (or IFFT / N).
        np.testing.assert_allclose(np.vdot(np.asarray(f(x)), y), np.vdot(x, adjoint_y),
                                   rtol=1e-12)
        total = np.prod(lengths)
        axes = tuple(range(-len(lengths), 0))
        expected = (np.fft.ifftn(y, axes=axes) * total if fft_type == "FFT"
                    else np.fft.fftn(y, axes=axes) / total)
        np.testing.assert_allclose(adjoint_y, expected, atol=1e-12)


def test_adjoint_of_orthonormal_fft_is_its_inverse(x64):
    """With norm='ortho' the DFT is unitary: its adjoint (through the transpose rule) is
    the inverse transform."""
    rng = np.random.default_rng(6)
    x, y = complex_normal(rng, 3, 4), complex_normal(rng, 3, 4)
    pullback = fgrad.vjp(lambda v: ffft.fftn(v, norm="ortho"), x)[1]
    np.testing.assert_allclose(np.conj(pullback(np.conj(y))[0]),
                               np.fft.ifftn(y, norm="ortho"), atol=1e-12)


def test_rfft_and_irfft_transposes_against_dense_matrices(x64):
    """The cotangents of rfft and irfft against their matrices written out in NumPy (no JAX),
    for odd and even n: rfft keeps rows of the DFT matrix; irfft weighs each kept entry by
    how many entries of the full spectrum it stands for, and reads only the real parts of
    entry 0 and (even n) entry n / 2."""
    for n in (5, 6):
        rng = np.random.default_rng(n)
        x, c = real_normal(rng, n), complex_normal(rng, n // 2 + 1)
        k = np.arange(n)
        half = np.exp(-2j * np.pi * np.outer(k[:n // 2 + 1], k) / n)  # rows of the DFT
        # cotangent of x for the real pairing Re(sum(c * (half @ x))): Re(half^T c)
        got = fgrad.vjp(lambda v: ffft.rfft(v), x)[1](c)[0]
        np.testing.assert_allclose(got, np.real(half.T @ c), atol=1e-12)
        # irfft(z)_j = (1/n) sum_k w_k Re(z_k exp(2 pi i jk / n)); as a real-linear map of
        # (Re z, Im z): Re part coefficient w_k cos / n, Im part -w_k sin / n.
        w = np.where((k[:n // 2 + 1] == 0) | (2 * k[:n // 2 + 1] == n), 1.0, 2.0)
        angle = 2 * np.pi * np.outer(k, k[:n // 2 + 1]) / n
        d_re, d_im = w * np.cos(angle) / n, -w * np.sin(angle) / n
        z, ct = complex_normal(rng, n // 2 + 1), real_normal(rng, n)
        np.testing.assert_allclose(ffft.irfft(z, n), d_re @ z.real + d_im @ z.imag, atol=1e-12)
        got = fgrad.vjp(lambda v: ffft.irfft(v, n), z)[1](ct)[0]
        # JAX's convention: the cotangent of z = a + ib is d/da - i d/db of <ct, irfft(z)>
        np.testing.assert_allclose(got, d_re.T @ ct - 1j * (d_im.T @ ct), atol=1e-12)


# -- vmap and jit ----------------------------------------------------------------------------


def test_vmap_matches_jax(quick_compile):
    rng = np.random.default_rng(7)
    cases = [  # (function, in_axes, input): batch axes inside and outside the transformed ones
        (lambda x: ffft.fft(x), 0, complex_normal(rng, 3, 4, 5, dtype=np.complex64)),
        (lambda x: ffft.fft(x), 1, complex_normal(rng, 4, 3, 5, dtype=np.complex64)),
        (lambda x: ffft.rfft(x, 6, axis=0), 1, real_normal(rng, 5, 3, dtype=np.float32)),
        (lambda x: ffft.irfftn(x), 2, complex_normal(rng, 4, 3, 2, dtype=np.complex64)),
        (lambda x: ffft.fftn(x, axes=(0, 1)), 2, complex_normal(rng, 3, 4, 2, 2,
                                                                dtype=np.complex64)),
        (lambda x: ffft.hfft(x, 6), 0, complex_normal(rng, 2, 4, dtype=np.complex64)),
        (lambda x: ffft.fftshift(x), 1, real_normal(rng, 3, 2, 5, dtype=np.float32)),
    ]
    jnp_fns = [lambda x: jnp.fft.fft(x), lambda x: jnp.fft.fft(x),
               lambda x: jnp.fft.rfft(x, 6, axis=0), lambda x: jnp.fft.irfftn(x),
               lambda x: jnp.fft.fftn(x, axes=(0, 1)), lambda x: jnp.fft.hfft(x, 6),
               lambda x: jnp.fft.fftshift(x)]
    xs = [x for _, _, x in cases]
    got = jax.jit(lambda xs: [fgrad.vmap(f, a)(x) for (f, a, _), x in zip(cases, xs)])(xs)
    want = jax.jit(lambda xs: [jax.vmap(f, a)(x)
                               for f, (_, a, _), x in zip(jnp_fns, cases, xs)])(xs)
    _assert_all_close(got, want, 2e-5, 2e-4, [f"case {i}" for i in range(len(cases))])


def test_lax_fft_batching_rule(x64, quick_compile):
    """The primitive's batch rule for every type, the batch axis among the transformed
    axes and in front of them, against jax.vmap of jax.lax.fft."""
    rng = np.random.default_rng(8)
    cases = []
    for fft_type, lengths, shape in [("FFT", (4,), (3, 4)), ("IFFT", (2, 4), (2, 4)),
                                     ("RFFT", (5,), (2, 5)), ("IRFFT", (2, 6), (2, 4))]:
        x = (real_normal if fft_type == "RFFT" else complex_normal)(rng, 3, *shape)
        cases += [(fft_type, lengths, axis, np.moveaxis(x, 0, axis)) for axis in (0, 1, 2)]

    def run(vmap, fft, xs):
        return [vmap(lambda v, t=t, n=n: fft(v, t, n), axis)(x)
                for (t, n, axis, _), x in zip(cases, xs)]

    xs = [x for *_, x in cases]
    got, want = jax.jit(lambda xs: (run(fgrad.vmap, lax_fft, xs),
                                    run(jax.vmap, jax.lax.fft, xs)))(xs)
    _assert_all_close(got, want, 1e-12, 1e-12, [f"{t} {n} axis {a}" for t, n, a, _ in cases])


def test_jit_round_trips(x64):
    rng = np.random.default_rng(9)
    x = real_normal(rng, 4, 6)

    def loss(v):
        spectrum = ffft.rfft2(v, norm="ortho")
        return fnp.sum(fnp.abs(spectrum) ** 2) + fnp.sum(ffft.irfft(spectrum, 6) ** 3)

    def jax_loss(v):
        spectrum = jnp.fft.rfft2(v, norm="ortho")
        return jnp.sum(jnp.abs(spectrum) ** 2) + jnp.sum(jnp.fft.irfft(spectrum, 6) ** 3)

    want_value, want_grad = jax.jit(jax.value_and_grad(jax_loss))(x)
    for jit in (fgrad.jit, jax.jit):
        value, grad = jit(fgrad.value_and_grad(loss))(x)
        np.testing.assert_allclose(value, want_value, rtol=1e-12)
        np.testing.assert_allclose(grad, want_grad, rtol=1e-10, atol=1e-12)
    program = fgrad.make_ir(fgrad.grad(loss))(x)
    assert "fft" in str(program)


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("call, error, match", [
    (lambda: ffft.fft(np.ones(4), norm="orthogonal"), ValueError, "norm must be"),
    (lambda: ffft.rfftn(np.ones((2, 2)), norm=1), ValueError, "norm must be"),
    (lambda: ffft.fft(np.ones(4), axis=1), np.exceptions.AxisError, "out of bounds"),
    (lambda: ffft.fftn(np.ones((2, 2)), axes=(0, 0)), ValueError, "repeat an axis"),
    (lambda: ffft.fft(np.ones((2, 2)), axis=(0, 1)), ValueError, "use fgrad.numpy.fft.fftn"),
    (lambda: ffft.fft2(np.ones((2, 2, 2)), axes=(0, 1, 2)), ValueError, "two axes"),
    (lambda: ffft.fftn(np.ones((2, 2)), s=(2,), axes=(0, 1)), ValueError, "same length"),
    (lambda: ffft.fftn(np.ones((2, 2)), s=(2, 2, 2)), ValueError, "only 2"),
    (lambda: ffft.fft(np.ones(4), n=0), ValueError, "at least 1"),
    (lambda: ffft.irfft(np.ones(4), n=-2), ValueError, "at least 1"),
    (lambda: ffft.rfftn(np.ones((2, 2)), s=(2, 0)), ValueError, "at least 1"),
    (lambda: ffft.fft(np.ones(4), n=2.5), TypeError, "n must be an integer"),
    (lambda: ffft.rfft(np.ones(4, np.complex64)), ValueError, "not complex"),
    (lambda: ffft.fft(1.0), np.exceptions.AxisError, "out of bounds"),
    (lambda: ffft.fft([1.0, 2.0]), TypeError, "requires arrays"),
    (lambda: ffft.fftfreq([4]), ValueError, "one integer"),
    (lambda: ffft.rfftfreq(4, d=[1.0]), ValueError, "one value"),
    (lambda: ffft.fft_frequencies, AttributeError, "fgrad.numpy.fft"),
    (lambda: lax_fft(np.ones(4, np.complex64), "DCT", (4,)), ValueError, "fft_type"),
    (lambda: lax_fft(np.ones(4, np.complex64), 3, (4,)), TypeError, "fft_type"),
    (lambda: lax_fft(np.ones(4, np.complex64), "FFT", (5,)), ValueError, "trailing axes"),
    (lambda: lax_fft(np.ones((3, 4), np.complex64), "IRFFT", (3, 4)), ValueError,
     "n // 2 \\+ 1"),
    (lambda: lax_fft(np.ones((2,) * 4, np.complex64), "FFT", (2,) * 4), ValueError,
     "1 to 3 axes"),
    (lambda: lax_fft(np.ones(4, np.complex64), FftType.FFT, (2, 2)), ValueError,
     "the operand has 1"),
])
def test_errors(call, error, match):
    with pytest.raises(error, match=match) as info:
        call()
    assert "(at " in str(info.value) and "test_numpy_fft.py" in str(info.value), (
        "the error should point at the user's line")


def test_missing_name_points_to_jax():
    with pytest.raises(AttributeError, match="has no attribute 'nonexistent'"):
        ffft.nonexistent  # noqa: B018
    assert set(ffft.__all__) == {n for n in dir(jnp.fft) if not n.startswith("_")}
