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
