"""fgrad.lax.conv_general_dilated (and conv, conv_with_general_padding, conv_transpose,
conv_dimension_numbers) against jax.lax: values, shapes, dtypes and weak types; JVPs and
VJPs against JAX's and second derivatives against finite differences (float64); vmap
against jax.vmap over lhs, rhs and both; jit round trips; one test per kind of bad input.

The configurations in CASES cover 1-, 2- and 3-d and 0-d convolutions, strides (larger
than the kernel too), every padding form (the strings, explicit pairs, negative ones),
lhs and rhs dilation, feature and batch groups, string and ConvDimensionNumbers layouts, and
an empty output. Compiling dominates, so each check runs every configuration inside one
jax.jit (fgrad's rules run while JAX traces, and the whole comparison is one program).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import fgrad
import oracle
from fgrad.core import aval_of, eval_program, typecheck
from fgrad.lax import convolution as fc
from fgrad.testing import check_grads
from oracle import check_error, rand

pytestmark = pytest.mark.usefixtures("quick_compile")

CDN = lax.ConvDimensionNumbers
# label -> (lhs shape, rhs shape, keyword arguments of conv_general_dilated)
CASES = {
    "1d stride 2 SAME": ((2, 3, 7), (4, 3, 3), dict(window_strides=(2,), padding="SAME")),
    "1d negative padding, both dilations": (
        (2, 3, 7), (4, 3, 3),
        dict(window_strides=(1,), padding=((-1, 2),), lhs_dilation=(2,), rhs_dilation=(2,))),
    "1d stride > kernel, batch groups": (
        (6, 2, 9), (3, 2, 2), dict(window_strides=(3,), padding="VALID", batch_group_count=3)),
    "2d VALID, feature groups": (
        (2, 4, 6, 5), (6, 2, 3, 2),
        dict(window_strides=(1, 2), padding="VALID", feature_group_count=2)),
    "2d explicit padding, batch groups, rhs dilation": (
        (4, 3, 6, 5), (6, 3, 3, 2),
        dict(window_strides=(2, 1), padding=((1, 0), (2, -1)), rhs_dilation=(1, 2),
             batch_group_count=2)),
    "2d NHWC/HWIO SAME_LOWER": (
        (2, 5, 6, 3), (3, 2, 3, 4),
        dict(window_strides=(1, 1), padding="SAME_LOWER",
             dimension_numbers=("NHWC", "HWIO", "NHWC"))),
    "2d depthwise, ConvDimensionNumbers, lowercase same": (
        (2, 4, 5, 5), (8, 1, 3, 3),
        dict(window_strides=(2, 2), padding="same", feature_group_count=4,
             dimension_numbers=CDN((0, 1, 2, 3), (0, 1, 2, 3), (0, 1, 2, 3)))),
    "2d mixed layouts, lhs dilation, feature groups": (
        (2, 6, 5, 6), (4, 3, 2, 2),
        dict(window_strides=(1, 1), padding=((1, 1), (0, 2)), lhs_dilation=(2, 1),
             feature_group_count=2, dimension_numbers=("NWHC", "OIHW", "CNHW"))),
    "3d SAME, strides, rhs dilation": (
        (1, 2, 4, 5, 3), (2, 2, 2, 3, 2),
        dict(window_strides=(1, 2, 1), padding="SAME", rhs_dilation=(1, 1, 2))),
    "0d (no spatial axes)": ((2, 3), (4, 3), dict(window_strides=(), padding=())),
    "empty output": ((1, 2, 2), (3, 2, 4), dict(window_strides=(1,), padding="VALID")),
}
LABELS = list(CASES)


def _args(label: str, seed: int = 0, dtype=np.float64) -> tuple:
    lhs_shape, rhs_shape, _ = CASES[label]
    return rand(lhs_shape, seed, dtype), rand(rhs_shape, seed + 1, dtype)


def _fns(label: str):
    kwargs = CASES[label][2]
    return (lambda x, w: fc.conv_general_dilated(x, w, **kwargs),
            lambda x, w: lax.conv_general_dilated(x, w, **kwargs))


def _all_close(got, want, rtol=1e-10, atol=1e-10):
    got_leaves, want_leaves = jax.tree.leaves(got), jax.tree.leaves(want)
    assert len(got_leaves) == len(want_leaves)
    for g, w in zip(got_leaves, want_leaves):
        assert aval_of(g) == aval_of(w), (aval_of(g), aval_of(w))
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=rtol, atol=atol)


# -- types, values, programs ----------------------------------------------------------------


def _types_case(label: str, dtype, weak=(False, False), **extra):
    lhs_shape, rhs_shape, kwargs = CASES[label]
    kwargs = dict(kwargs, **extra)
    x = oracle.make(lhs_shape, dtype, weak=weak[0])
    w = oracle.make(rhs_shape, dtype, seed=1, weak=weak[1])
    program = fgrad.make_ir(lambda x, w: fc.conv_general_dilated(x, w, **kwargs))(x, w)
    typecheck(program)
    want = jax.eval_shape(lambda x, w: lax.conv_general_dilated(x, w, **kwargs), x, w)
    assert program.out_avals == [aval_of(want)], (label, dtype, weak, extra)


@pytest.mark.parametrize("dtype_name", ["float32", "float64", "int8", "bool", "complex64"])
def test_types_against_eval_shape(request, dtype_name):
    dtype = oracle.use_dtype(request, dtype_name)
    for label in LABELS:
        _types_case(label, dtype)
    label = LABELS[0]
    for weak in [(True, True), (True, False)]:
        _types_case(label, dtype, weak)
    preferred = {"float32": [np.float64], "float64": [], "int8": [np.int32, np.float32],
                 "bool": [], "complex64": [np.complex128]}[dtype_name]
    for p in preferred:
        if np.dtype(p).itemsize == 8:
            request.getfixturevalue("x64")
        _types_case(label, dtype, preferred_element_type=p)


def test_values_and_programs(x64):
    args = {label: _args(label) for label in LABELS}
    want = jax.jit(lambda a: {k: _fns(k)[1](*a[k]) for k in LABELS})(args)
    programs = {k: fgrad.make_ir(_fns(k)[0])(*args[k]) for k in LABELS}
    for k, program in programs.items():
        typecheck(program)
        assert "conv_general_dilated" in str(program)
    # the lowerings on JAX tracers, every configuration in one program
    got = jax.jit(lambda a: {k: eval_program(programs[k], *a[k])[0] for k in LABELS})(args)
    _all_close(got, want, rtol=1e-12, atol=1e-12)
    # and eagerly, on concrete arrays
    k = "2d NHWC/HWIO SAME_LOWER"
    _all_close(_fns(k)[0](*args[k]), want[k], rtol=1e-12, atol=1e-12)


def test_integer_complex_and_weak_values():
    x, w = oracle.make((2, 3, 5), np.int8), oracle.make((4, 3, 2), np.int8, seed=1)
    xc, wc = (oracle.make((2, 3, 5), np.complex64, seed=2),
              oracle.make((4, 3, 2), np.complex64, seed=3))
    xw, ww = (oracle.make((2, 3, 5), np.float32, weak=True),
              oracle.make((4, 3, 2), np.float32, seed=1, weak=True))

    def calls(conv):
        return [conv(x, w, (1,), "VALID", preferred_element_type=np.int32),
                conv(x > 0, w > 0, (1,), "SAME"),
                conv(xc, wc, (2,), ((1, -1),), precision="highest"),
                conv(xw, ww, (1,), "VALID", precision=lax.Precision.HIGH)]

    want = calls(lax.conv_general_dilated)
    got = calls(fc.conv_general_dilated)
    for g, w_ in zip(got, want):
        oracle.assert_same(g, w_, rtol=1e-5, atol=1e-5)


def test_jit_round_trip(x64):
    label = "2d explicit padding, batch groups, rhs dilation"
    f, jf = _fns(label)
    x, w = _args(label)
    ct = rand(jax.eval_shape(jf, x, w).shape, 5)

    def loss(x, w):
        return fgrad.numpy.sum(f(x, w) * ct)

    got = fgrad.jit(fgrad.value_and_grad(loss, argnums=(0, 1)))(x, w)
    want = jax.jit(jax.value_and_grad(lambda x, w: jnp.sum(jf(x, w) * ct), argnums=(0, 1)))(x, w)
    _all_close(got, want)


# -- derivatives -----------------------------------------------------------------------------


JVP_LABELS = ["1d negative padding, both dilations", "2d VALID, feature groups",
              "2d explicit padding, batch groups, rhs dilation", "0d (no spatial axes)"]


def test_jvp_and_vjp_against_jax(x64):
    args = {k: _args(k) for k in LABELS}
    tangents = {k: _args(k, seed=10) for k in LABELS}
    cts = {k: rand(jax.eval_shape(_fns(k)[1], *args[k]).shape, 20) for k in LABELS}

    def both(jvp, vjp, side):
        # Only the derivatives are returned: XLA drops the unused primal convolutions. The
        # JVP rule is the same product rule for every configuration: a few suffice.
        def run(a, t, c):
            return {k: (jvp(_fns(k)[side], a[k], t[k])[1] if k in JVP_LABELS else None,
                        vjp(_fns(k)[side], *a[k])[1](c[k])) for k in LABELS}
        return jax.jit(run)(args, tangents, cts)

    got = both(fgrad.jvp, fgrad.vjp, 0)
    want = both(jax.jvp, jax.vjp, 1)
    for k in LABELS:
        _all_close(got[k], want[k])
    # eagerly too, for one configuration (each rule's convolution runs on concrete arrays)
    k = "1d stride > kernel, batch groups"
    _all_close(fgrad.vjp(_fns(k)[0], *args[k])[1](cts[k]), want[k][1])


def test_complex_and_preferred_element_type_derivatives(x64):
    label = "1d stride > kernel, batch groups"
    f, jf = _fns(label)
    x, w = _args(label, dtype=np.complex128)
    t = _args(label, 3, np.complex128)
    ct = rand(jax.eval_shape(jf, x, w).shape, 4, np.complex128)
    kwargs = dict(CASES[label][2], preferred_element_type=np.float64)
    x32, w32 = _args(label, dtype=np.float32)
    t32 = _args(label, 3, np.float32)

    def pf(x, w):
        return fc.conv_general_dilated(x, w, **kwargs)

    def pjf(x, w):
        return lax.conv_general_dilated(x, w, **kwargs)

    def run(jvp, vjp, f, pf):
        return jax.jit(lambda: (jvp(f, (x, w), t)[1], vjp(f, x, w)[1](ct),
                                jvp(pf, (x32, w32), t32)[1], vjp(pf, x32, w32)[1](ct.real)))()

    got, want = run(fgrad.jvp, fgrad.vjp, f, pf), run(jax.jvp, jax.vjp, jf, pjf)
    _all_close(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("label", ["1d negative padding, both dilations",
                                   "1d stride > kernel, batch groups"])
def test_second_order_against_finite_differences(x64, label):
    f, _ = _fns(label)
    check_grads(lambda x, w: fgrad.numpy.sin(f(x, w)), _args(label), order=2)


# -- batching --------------------------------------------------------------------------------

IN_AXES = [(0, None), (None, 1), (2, 0)]


def _batched(label: str, in_axes, size: int = 3) -> tuple:
    x, w = _args(label)
    out = []
    for a, axis, seed in ((x, in_axes[0], 30), (w, in_axes[1], 31)):
        out.append(a if axis is None else
                   np.moveaxis(rand((size, *np.shape(a)), seed), 0, axis))
    return tuple(out)


# one configuration per branch of the batching rule: no groups, feature groups, batch groups
VMAP_LABELS = ["2d NHWC/HWIO SAME_LOWER", "2d mixed layouts, lhs dilation, feature groups",
               "2d explicit padding, batch groups, rhs dilation"]


def test_vmap_against_jax(x64):
    args = {(k, i): _batched(k, axes) for k in VMAP_LABELS for i, axes in enumerate(IN_AXES)}

    def run(vmap, side):
        def go(a):
            return {key: vmap(_fns(key[0])[side], IN_AXES[key[1]])(*a[key]) for key in a}
        return jax.jit(go)(args)

    got, want = run(fgrad.vmap, 0), run(jax.vmap, 1)
    for key in args:
        _all_close(got[key], want[key])


def test_vmap_of_gradients_and_empty_batch(x64):
    label = "1d stride > kernel, batch groups"
    f, jf = _fns(label)
    x, w = _batched(label, (2, 0))
    ct = rand((3, *jax.eval_shape(jf, *_args(label)).shape), 7)
    x0, w0 = np.zeros((0, 6, 2, 9)), np.zeros((0, 3, 2, 2))

    def run(vmap, vjp, f):
        return jax.jit(lambda: (vmap(lambda x, w, c: vjp(f, x, w)[1](c), (2, 0, 0))(x, w, ct),
                                vmap(f)(x0, w0)))()

    _all_close(run(fgrad.vmap, fgrad.vjp, f), run(jax.vmap, jax.vjp, jf))


# -- the other public functions --------------------------------------------------------------


def test_conv_wrappers(x64):
    x, w = rand((2, 3, 6, 5), 0), rand((4, 3, 3, 2), 1)
    xt, wt = rand((2, 5, 6, 3), 2), rand((3, 2, 3, 4), 3)  # NHWC, HWIO
    calls = [
        lambda m: m.conv(x, w, (2, 1), "SAME"),
        lambda m: m.conv(x, w, (1, 1), ((1, 2), (0, -1))),
        lambda m: m.conv_with_general_padding(x, w, (1, 2), ((2, 1), (1, 1)), (2, 1), (1, 2)),
        lambda m: m.conv_with_general_padding(x, w, (1, 1), "VALID", None, (2, 2)),
        lambda m: m.conv_transpose(xt, wt, (2, 2), "SAME"),
        lambda m: m.conv_transpose(xt, wt, (2, 1), "VALID", rhs_dilation=(1, 2)),
        lambda m: m.conv_transpose(xt, wt, (2, 2), ((1, 0), (2, 1))),
        lambda m: m.conv_transpose(xt, wt, (2, 2), ((1, 0), (2, 1)),
                                   use_consistent_padding=True),
        lambda m: m.conv_transpose(xt, rand((3, 2, 4, 3), 4), (1, 2), "SAME",
                                   transpose_kernel=True),
        lambda m: m.conv_transpose(x, w, (2, 1), "SAME", dimension_numbers=("NCHW", "OIHW",
                                                                             "NCHW")),
    ]
    want = jax.jit(lambda: [c(lax) for c in calls])()
    _all_close([c(fc) for c in calls], want)
    for numbers in [None, ("NHWC", "HWIO", "NHWC"), ("NCHW", "IOHW", "CNWH"),
                    CDN((0, 1, 2, 3), (1, 0, 2, 3), (0, 1, 2, 3))]:
        assert (fc.conv_dimension_numbers((2, 3, 4, 5), (3, 3, 2, 2), numbers)
                == lax.conv_dimension_numbers((2, 3, 4, 5), (3, 3, 2, 2), numbers))
    assert fc.ConvDimensionNumbers is lax.ConvDimensionNumbers


# -- errors ----------------------------------------------------------------------------------

X, W = jnp.zeros((2, 4, 6, 6)), jnp.zeros((3, 4, 2, 2))


def test_error_mismatched_shapes():
    conv = fc.conv_general_dilated
    check_error(lambda: conv(X, jnp.zeros((3, 4, 2)), (1, 1), "VALID"), "the same rank")
    check_error(lambda: conv(X, jnp.zeros((3, 2, 2, 2)), (1, 1), "VALID"), "the lhs has 4 "
                "features (axis 1), which must be feature_group_count (1) times the kernel's "
                "input features (2")
    check_error(lambda: conv(X, W.astype(jnp.int32), (1, 1), "VALID"), "the dtypes differ")
    check_error(lambda: conv(X, W, (1, 1), ((-4, -3), (0, 0))), "crops more than its 6")
    check_error(lambda: conv(X, W, (1,), "VALID"), "window_strides (1,) must hold one integer "
                "per spatial dimension (2)")
    check_error(lambda: conv(X, W, (1, 0), "VALID"), "must hold positive integers")
    check_error(lambda: conv(X, W, (1, 1), ((1, 1),)), "one (low, high) pair")
    check_error(lambda: conv(X, W, (1, 1), "FULL"), "padding must be 'SAME', 'SAME_LOWER'")
    check_error(lambda: conv(X, W, (1, 1), "SAME", lhs_dilation=(2, 1)), "explicit (low, high)")
    check_error(lambda: conv(X, W, (1, 1), "VALID", preferred_element_type=np.float16),
                "narrower")


def test_error_bad_dimension_numbers():
    conv = fc.conv_general_dilated
    check_error(lambda: conv(X, W, (1, 1), "VALID", dimension_numbers=("NHWC", "HWI", "NHWC")),
                "the rhs string 'HWI' must name the 4 axes")
    check_error(lambda: conv(X, W, (1, 1), "VALID", dimension_numbers=("NHWX", "HWIO", "NHWC")),
                "must hold 'N' and 'C' once each")
    check_error(lambda: conv(X, W, (1, 1), "VALID", dimension_numbers=("NHWC", "HDIO", "NHWC")),
                "must name the same spatial axes")
    check_error(lambda: conv(X, W, (1, 1), "VALID", dimension_numbers="NCHW"),
                "must be None, a ConvDimensionNumbers or three strings")
    check_error(lambda: conv(X, W, (1, 1), "VALID",
                             dimension_numbers=CDN((0, 1, 2, 2), (0, 1, 2, 3), (0, 1, 2, 3))),
                "lhs_spec (0, 1, 2, 2) must order the 4 axes")


def test_error_bad_group_counts():
    conv = fc.conv_general_dilated
    x = jnp.zeros((4, 4, 5))
    check_error(lambda: conv(x, jnp.zeros((4, 2, 2)), (1,), "VALID", feature_group_count=0),
                "feature_group_count must be a positive integer, not 0")
    check_error(lambda: conv(x, jnp.zeros((4, 2, 2)), (1,), "VALID", feature_group_count=3),
                "must be feature_group_count (3) times")
    check_error(lambda: conv(x, jnp.zeros((3, 2, 2)), (1,), "VALID", feature_group_count=2),
                "output features (3, axis 0) must be a multiple of feature_group_count (2)")
    check_error(lambda: conv(x, jnp.zeros((6, 4, 2)), (1,), "VALID", batch_group_count=3),
                "batch_group_count (3) must divide the lhs batch size (4")
    check_error(lambda: conv(x, jnp.zeros((3, 4, 2)), (1,), "VALID", batch_group_count=2),
                "must be a multiple of batch_group_count (2)")
    check_error(lambda: conv(x, jnp.zeros((4, 2, 2)), (1,), "VALID", feature_group_count=2,
                             batch_group_count=2), "are both above 1")


def test_out_sharding_is_refused():
    with pytest.raises(NotImplementedError, match="out_sharding is not supported"):
        fc.conv_general_dilated(X, W, (1, 1), "VALID", out_sharding=object())
