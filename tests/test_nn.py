"""fgrad.nn against jax.nn on the same inputs.

- Every activation on shapes (), (3,), (2, 0), (2, 3, 4) in float32, float64, float16 and
  bfloat16: the traced program's types (shapes, dtypes, weak types) are JAX's; the values
  are JAX's; integer, boolean, Python-scalar and weak inputs too.
- Extreme inputs (±1e4, each dtype's largest, ±inf): values and derivatives equal JAX's, so
  they are finite where JAX's are. The derivatives at kinks, first and second order, are
  JAX's (relu'(0) = 0 ...); check_grads(order=2) in float64 away from the kinks.
- softmax, log_softmax, logsumexp, logmeanexp and standardize over axes, with where masks
  (fully masked rows too), b, return_sign, keepdims; gradients against JAX's.
- one_hot, glu, dot_product_attention (MHA/GQA/MQA, masks, bias, lengths, windows,
  residuals), the initializers (JAX's values from the same key), scaled_matmul.
- fgrad.vmap against jax.vmap, fgrad.jit and jax.jit round trips, every public name.

Compiling is what these tests spend their time on (XLA compiles each eager operation of a
new type once, and each jitted program), so each test computes a whole table of cases at
once: fgrad's side eagerly (its cases share operations) or under one jit, JAX's side under
one jit compiled without XLA's optimizations (`reference`), and the cases are compared one
by one, naming the case that differs.
"""

import contextlib
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.nn as fnn
import fgrad.numpy  # noqa: F401 (fgrad.numpy.tanh)
import oracle
from fgrad.core import aval_of, trace_to_program, typecheck
from fgrad.core.dtypes import convert_weak
from fgrad.testing import check_grads

BF16 = np.dtype(jnp.bfloat16)
TOLERANCE = {  # (rtol, atol): a few ulps (XLA fuses and rewrites; eager operations do not)
    np.dtype(np.float32): (4e-6, 2e-6), np.dtype(np.float64): (1e-11, 1e-12),
    np.dtype(np.float16): (4e-3, 2e-3), BF16: (3e-2, 1.6e-2),
}


def tolerance(dtype) -> dict:
    rtol, atol = TOLERANCE.get(np.dtype(dtype), TOLERANCE[np.dtype(np.float32)])
    return dict(rtol=rtol, atol=atol)


def dtype_of(request, name: str) -> np.dtype:
    """The dtype called `name`, with x64 on for float64."""
    return BF16 if name == "bfloat16" else oracle.use_dtype(request, name)


def rand(shape, dtype, low=-8.0, high=8.0, seed=0):
    values = np.random.default_rng(seed).uniform(low, high, shape)
    return jnp.asarray(np.asarray(values, np.float64 if dtype == np.float64 else np.float32),
                       dtype)


@contextlib.contextmanager
def _unoptimized():
    previous = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    try:
        yield
    finally:
        jax.config.update("jax_disable_most_optimizations", previous)


def reference(fun, *args):
    """fun(*args) under a new jax.jit: JAX's results for comparison with fgrad's eager ones
    (each eager operation is compiled with XLA's optimizations, so this is too)."""
    return jax.jit(fun)(*args)


def both_jitted(ours, theirs, *args):
    """ours(*args) and theirs(*args), each under a new jax.jit compiled without XLA's
    optimizations: in half the time, and alike (XLA's unoptimized transcendental functions
    differ from its optimized ones in the last bits). The programs are this call's own, so
    no other test reuses their unoptimized code."""
    with _unoptimized():
        return jax.jit(ours)(*args), jax.jit(theirs)(*args)


def refused_by_jax(jf, *args, **kwargs):
    """The type of exception JAX raises for jf(*args), found by tracing and lowering alone,
    without compiling (None if it accepts them). Arguments that are not arrays are static."""
    arrays = [i for i, a in enumerate(args) if isinstance(a, (jax.Array, np.ndarray))]

    def with_arrays(*values):
        full = list(args)
        for i, value in zip(arrays, values):
            full[i] = value
        return jf(*full, **kwargs)

    try:
        jax.jit(with_arrays).lower(*(args[i] for i in arrays))
    except Exception as e:  # noqa: BLE001 (whatever type JAX raises, fgrad must too)
        return type(e)
    return None


def same(got, want, rtol=0.0, atol=0.0):
    """Equal pytrees: types (shape, dtype, weak type) exactly, values within rtol/atol
    (NaN equal to NaN; bfloat16 compared through float64, which NumPy cannot do itself)."""
    got_leaves, got_tree = jax.tree_util.tree_flatten(got)
    want_leaves, want_tree = jax.tree_util.tree_flatten(want)
    assert got_tree == want_tree, (got_tree, want_tree)
    for g, w in zip(got_leaves, want_leaves):
        if np.dtype(w.dtype) == BF16:
            assert aval_of(g) == aval_of(w), (aval_of(g), aval_of(w))
            g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
        oracle.assert_same(g, w, rtol=rtol, atol=atol)


def assert_no_new_nans(got, want, rtol, atol):
    """got has want's type and equals want where want is a number (finite or infinite);
    where want is NaN, got may be NaN or a number (fgrad is sometimes finite where JAX is
    not: log1mexp''(1e4) is 0, JAX's inf / inf)."""
    got_leaves, want_leaves = jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)
    assert len(got_leaves) == len(want_leaves)
    for g, w in zip(got_leaves, want_leaves):
        assert aval_of(g) == aval_of(w), (aval_of(g), aval_of(w))
        g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
        known = ~np.isnan(w)
        np.testing.assert_allclose(g[known], w[known], rtol=rtol, atol=atol)


def compare_each(got: dict, want: dict, compare=same, **tol):
    """compare(got[case], want[case], **tol) for every case, naming the one that differs."""
    assert set(got) == set(want)
    for case in want:
        try:
            compare(got[case], want[case], **tol)
        except AssertionError as e:
            raise AssertionError(f"case {case!r}: {e}") from None


def assert_types(f, jf, *args):
    """f(*args) traces into a program that typechecks and has the types (shapes, dtypes
    and weak types) of JAX's jf(*args): found without compiling anything."""
    program, _ = trace_to_program(f, list(args), "make_ir")
    typecheck(program)
    want = jax.tree_util.tree_leaves(jax.eval_shape(jf, *args))
    assert [(a.shape, a.dtype, a.weak_type) for a in program.out_avals] == [
        (w.shape, w.dtype, w.weak_type) for w in want]


def raises_alike(f, jf, *args, **kwargs):
    """If JAX refuses the call, fgrad refuses it with an exception of the same type; returns
    whether JAX refused."""
    try:
        jf(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 (whatever type JAX raises, fgrad must too)
        with pytest.raises(type(e)):
            f(*args, **kwargs)
        return True
    return False


def elementwise_derivative(f, x, jvp, vjp, order: int = 1):
    """f's elementwise derivative at every point of x: the first in reverse mode, or the
    second (forward over reverse), with the given transforms (fgrad's or JAX's)."""
    ones = jnp.ones_like(x)

    def first(x):
        return vjp(f, x)[1](ones)[0]

    return first(x) if order == 1 else jvp(first, (x,), (ones,))[1]


FGRAD_AD = dict(jvp=fgrad.jvp, vjp=fgrad.vjp)
JAX_AD = dict(jvp=jax.jvp, vjp=jax.vjp)

# -- activations -----------------------------------------------------------------------------

LOG2 = float(np.log(2.0))
# (name, keyword arguments, kinks: where JAX picks a derivative by convention). swish and
# hard_swish are the same functions as silu and hard_silu (test_aliases).
ACTIVATIONS = [
    ("celu", {}, (0,)), ("celu", {"alpha": 0.5}, (0,)), ("elu", {}, (0,)),
    ("elu", {"alpha": 2.0}, (0,)), ("gelu", {}, ()), ("gelu", {"approximate": False}, ()),
    ("hard_sigmoid", {}, (-3, 3)), ("hard_silu", {}, (-3, 3)), ("hard_tanh", {}, (-1, 1)),
    ("identity", {}, ()), ("leaky_relu", {}, (0,)), ("leaky_relu", {"negative_slope": 0.2}, (0,)),
    ("log1mexp", {}, (LOG2,)), ("log_sigmoid", {}, (0,)), ("mish", {}, (0,)), ("relu", {}, (0,)),
    ("relu6", {}, (0, 6)), ("selu", {}, (0,)), ("sigmoid", {}, (0,)), ("silu", {}, (0,)),
    ("soft_sign", {}, (0,)), ("softplus", {}, (0,)), ("sparse_plus", {}, (-1, 1)),
    ("sparse_sigmoid", {}, (-1, 1)), ("squareplus", {}, (0,)), ("squareplus", {"b": 1.0}, (0,)),
    ("tanh", {}, (0,)),
]
KINKS = sorted({k for _, _, kinks in ACTIVATIONS for k in kinks})
SHAPES = [(), (3,), (2, 0), (2, 3, 4)]


def each_activation(module, apply, variants: bool = True):
    """{case: apply(activation, name)} for every activation of `module` (fgrad.nn or
    jax.nn), a case being the name and keyword arguments; without `variants`, only the
    default arguments (but gelu's two forms)."""
    return {name + "".join(f"-{k}={v}" for k, v in kw.items()):
            apply(lambda *a, name=name, kw=kw: getattr(module, name)(*a, **kw), name)
            for name, kw, _ in ACTIVATIONS if variants or not kw or name == "gelu"}


def on_domain(name, x):
    """log1mexp is defined for x >= 0 only: it gets |x|."""
    return abs(x) if name == "log1mexp" else x


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_activation_types(request, dtype):
    """Every activation on every shape traces to a typechecked program of JAX's types.
    (The values, checked below, do not depend on the shape.)"""
    dtype = dtype_of(request, dtype)
    for shape in SHAPES:
        x = rand(shape, dtype)
        compare_each(each_activation(fnn, lambda f, name: f),
                     each_activation(jax.nn, lambda f, name: f),
                     lambda f, jf: assert_types(f, jf, x))


EXTREMES = [-np.inf, -1e4, -1000.0, -100.0, -30.0, -1e-30, -0.0, 0.0, 1e-30, 30.0, 100.0,
            1000.0, 1e4, np.inf]


def values_and_derivatives(module, ad, x, second_order: bool = False):
    """{case: [f(x), f'(x) in reverse mode (, f''(x) forward over reverse)]}, for the
    variants with other arguments in float32 only (they share the code of the defaults)."""
    def apply(f, name):
        point = on_domain(name, x)
        out = [f(point), elementwise_derivative(f, point, **ad)]
        if second_order:
            out.append(elementwise_derivative(f, point, **ad, order=2))
        return out
    return each_activation(module, apply, variants=x.dtype == np.float32)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_activations_against_jax(request, dtype):
    """Every activation at random points, at ±1e4, ±inf and the dtype's largest numbers, and
    at the kinks: values and derivatives equal JAX's, so they are finite where JAX's are,
    and the derivatives at kinks follow JAX's conventions. fgrad's run eagerly in float32,
    under jax.jit in half precision."""
    dtype = dtype_of(request, dtype)
    largest = float(jax.dtypes.finfo(dtype).max)
    points = [p for p in EXTREMES + [-largest, largest] if abs(p) <= largest]
    x = jnp.asarray(points + KINKS + [-k for k in KINKS] + list(rand((12,), np.float32)), dtype)
    if dtype == np.float32:
        got = values_and_derivatives(fnn, FGRAD_AD, x)
        want = reference(lambda x: values_and_derivatives(jax.nn, JAX_AD, x), x)
    else:
        got, want = both_jitted(lambda x: values_and_derivatives(fnn, FGRAD_AD, x),
                                lambda x: values_and_derivatives(jax.nn, JAX_AD, x), x)
    compare_each(got, want, assert_no_new_nans, **tolerance(dtype))


@pytest.mark.usefixtures("x64")
def test_activations_against_jax_float64():
    """In float64, at random points, ±1e4 and the kinks: values, first and second
    derivatives (forward over reverse) equal JAX's, under jax.jit. (Forward mode on its
    own: test_activation_check_grads.)"""
    x = jnp.asarray(EXTREMES[1:-1] + KINKS + [-k for k in KINKS] + list(rand((12,), np.float64)))
    compare_each(*both_jitted(lambda x: values_and_derivatives(fnn, FGRAD_AD, x, True),
                              lambda x: values_and_derivatives(jax.nn, JAX_AD, x, True), x),
                 assert_no_new_nans, **tolerance(np.float64))


PROMOTED = {  # all 0-d, so that the eager operations of one kind serve the next
    "int32": lambda: jnp.array(3, jnp.int32), "bool": lambda: jnp.array(True),
    "python float": lambda: 0.5, "python int": lambda: 2,
    "weak float32": lambda: convert_weak(jnp.array(1.5)),
}


def test_activation_input_types():
    """Integers, booleans, Python and NumPy scalars and weak arrays: JAX's result types and
    values, or JAX's refusal (sigmoid of an integer, log1mexp of a bool)."""
    refused = {}

    def jax_side(inputs):  # under jit, jax.nn's functions see what their own jit makes
        def apply(kind):
            def attempt(f, name):
                try:
                    return f(inputs[kind])
                except Exception as e:  # noqa: BLE001 (its type is what fgrad must raise)
                    refused[kind, name] = type(e)
            return each_activation(jax.nn, attempt, variants=False)
        return {kind: apply(kind) for kind in PROMOTED}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = reference(jax_side, {kind: make() for kind, make in PROMOTED.items()})
        for kind, make in PROMOTED.items():
            def attempt(f, name):
                if (kind, name) not in refused:
                    return f(make())
                with pytest.raises(refused[kind, name]):
                    f(make())
            compare_each(each_activation(fnn, attempt, variants=False), want[kind],
                         **tolerance(np.float32))


SMOOTH = ["celu", "elu", "gelu", "log1mexp", "log_sigmoid", "mish", "sigmoid", "silu",
          "soft_sign", "softplus", "squareplus", "tanh"]  # (selu is elu scaled)


@pytest.mark.usefixtures("x64")
def test_activation_check_grads():
    """Second derivatives, forward and reverse, against finite differences in float64, at
    points at least 0.25 from every kink, of the activations that are not piecewise linear
    (gelu in both forms)."""
    x = np.array([-7.2, -2.5, -1.6, -0.4, 0.35, 1.5, 2.2, 4.5, 7.7])

    def smooth(x):
        out = [getattr(fnn, name)(on_domain(name, x)) for name in SMOOTH]
        return out + [fnn.gelu(x, approximate=False)]

    check_grads(smooth, (x,), order=2)


def test_relu_family_gradient_conventions():
    """The conventions spelled out: relu'(0) = 0 (not max's 1/2), relu6' is 0 at 0 and 6,
    leaky_relu'(0) = 1, hard_tanh' = 1 at ±1, and relu''(0) = 0."""
    x = jnp.array([0.0, 6.0, -1.0, 1.0])

    def check(f, expected, order=1):
        np.testing.assert_allclose(elementwise_derivative(f, x, **FGRAD_AD, order=order),
                                   expected, rtol=1e-7)

    check(fnn.relu, [0, 1, 0, 1])
    check(fnn.relu6, [0, 0, 0, 1])
    check(fnn.leaky_relu, [1, 1, 0.01, 1])
    check(fnn.hard_tanh, [1, 0, 1, 1])
    check(fnn.relu, [0, 0, 0, 0], order=2)


def test_gelu_exact_tail():
    """gelu(approximate=False) through the erfc primitive keeps relative precision deep in
    the negative tail, where JAX's values are tiny."""
    x = jnp.linspace(-12.0, -4.0, 17)
    got, want = fnn.gelu(x, approximate=False), jax.nn.gelu(x, approximate=False)
    assert np.all(np.asarray(want) < 0) and np.min(np.abs(want)) < 1e-25
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_complex_operands_where_jax_takes_them():
    z = jnp.asarray([1 + 1j, 2 - 1j, -0.5 + 3j], jnp.complex64)
    for fgrad_fn, jax_fn in [
            (fnn.gelu, jax.nn.gelu), (fnn.logsumexp, jax.nn.logsumexp),
            (lambda z: fnn.logsumexp(z, return_sign=True),
             lambda z: jax.nn.logsumexp(z, return_sign=True)),
            (lambda z: fnn.logsumexp(z, b=jnp.asarray([1.0, -2.0, 0.5])),
             lambda z: jax.nn.logsumexp(z, b=jnp.asarray([1.0, -2.0, 0.5])))]:
        oracle.assert_trees_same(fgrad_fn(z), jax_fn(z), rtol=2e-6, atol=1e-6)
    with pytest.raises(TypeError):
        jax.nn.gelu(z, approximate=False)
    with pytest.raises(TypeError, match="approximate=True"):
        fnn.gelu(z, approximate=False)


def test_aliases():
    assert fnn.swish is fnn.silu and jax.nn.swish is jax.nn.silu
    assert fnn.hard_swish is fnn.hard_silu and jax.nn.hard_swish is jax.nn.hard_silu
    assert fnn.tanh is fgrad.numpy.tanh


@pytest.mark.parametrize("shape,axis", [((2, 4), -1), ((4, 3), 0), ((2, 3, 6), 2), ((2, 0), 1),
                                        ((2, 3), -1), ((), -1), ((4,), 1)])
def test_glu(shape, axis):
    x = rand(shape, np.float32)
    if raises_alike(fnn.glu, jax.nn.glu, x, axis):
        return
    same(fnn.glu(x, axis), jax.nn.glu(x, axis), **tolerance(np.float32))
    assert_types(lambda x: fnn.glu(x, axis), lambda x: jax.nn.glu(x, axis), x)


# -- softmax and friends ---------------------------------------------------------------------

X = np.asarray(np.random.default_rng(5).normal(0, 3, (2, 3, 4)), np.float32)
MASK = np.random.default_rng(6).random((2, 3, 4)) > 0.4
MASK[0, 0] = False  # a fully masked row along the last axis
MASK[1, :, 0] = False  # and along the first two
B = np.asarray(np.random.default_rng(7).normal(0, 1, (3, 4)), np.float32)


def _axis_text(v):
    return f"shape{np.shape(v)}" if isinstance(v, np.ndarray) else repr(v)


def _case(name, **kw):
    return (f"{name}({', '.join(f'{k}={_axis_text(v)}' for k, v in kw.items())})", (name, kw))


NORMALIZERS = dict(
    [_case("softmax", axis=a) for a in (-1, (0, 2), None, ())]
    + [_case("softmax", axis=-1, where=MASK), _case("softmax", axis=(0, 1), where=MASK[0, 1]),
       _case("softmax", axis=None, where=MASK)]
    + [_case("log_softmax", axis=a) for a in (-1, (1, 2))]
    + [_case("log_softmax", axis=a, where=MASK) for a in (-1, (0, 1))]
    + [_case("logsumexp", axis=a, keepdims=k) for a, k in ((None, False), (-1, True),
                                                           ((0, 2), False), ((), True))]
    + [_case("logsumexp", axis=-1, where=MASK), _case("logsumexp", axis=(0, 1), where=MASK),
       _case("logsumexp", axis=-1, b=B), _case("logsumexp", axis=None, b=np.abs(B)),
       _case("logsumexp", axis=-1, b=B, return_sign=True, keepdims=True),
       _case("logsumexp", axis=0, b=B, where=MASK, return_sign=True),
       _case("logsumexp", axis=-1, b=np.zeros(4, np.float32))]
    + [_case("logmeanexp", axis=a, keepdims=k) for a, k in ((None, False), (-1, True),
                                                            ((0, 2), False))]
    + [_case("logmeanexp", axis=-1, where=MASK), _case("logmeanexp", axis=None, where=MASK)]
    + [_case("standardize", axis=a, algorithm=al) for a, al in (
        (-1, "fast"), (-1, "stable"), ((0, 2), "fast"), (None, "stable"))]
    + [_case("standardize", axis=-1, where=MASK, algorithm="stable"),
       _case("standardize", axis=(1, 2), where=MASK),
       _case("standardize", axis=-1, mean=0.5, variance=np.full(4, 2.0, np.float32),
             epsilon=0.1)]
)


def normalizer(module, name, kw, dtype=np.float32):
    """The function of x alone; float arrays among kw become JAX arrays of `dtype`."""
    kw = {k: jnp.asarray(v, dtype if v.dtype == np.float32 else v.dtype)
          if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    return lambda x: getattr(module, name)(x, **kw)


def spread(x):
    """x with every row's variance well away from 0, so that standardize's default "fast"
    variance, mean(x²) - mean(x)², does not cancel (its last bits are noise then)."""
    return x + np.arange(x.size).reshape(x.shape) % 3 * 4


def all_normalizers(module, x, dtype=np.float32):
    return {case: normalizer(module, name, kw, dtype)(spread(x) if name == "standardize" else x)
            for case, (name, kw) in NORMALIZERS.items()}


def test_normalizers():
    """Every case: its traced program has JAX's types and, under jax.jit, JAX's values."""
    x = jnp.asarray(X)
    for case, (name, kw) in NORMALIZERS.items():
        assert_types(normalizer(fnn, name, kw), normalizer(jax.nn, name, kw), x)
    compare_each(*both_jitted(lambda x: all_normalizers(fnn, x),
                              lambda x: all_normalizers(jax.nn, x), x), **tolerance(np.float32))


NORMALIZER_NAMES = ["softmax", "log_softmax", "logsumexp", "logmeanexp", "standardize"]


# JAX's max of integers with initial=-inf converts -inf to an integer, which NumPy warns of.
@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("dtypes", [("float64",), ("float16", "bfloat16", "int32")])
def test_normalizer_shapes_and_dtypes(request, dtypes):
    """Each function on every shape: JAX's types (or JAX's refusal), and JAX's values."""
    xs = [oracle.make(shape, dtype_of(request, dtype), seed=len(shape))
          for shape in SHAPES for dtype in dtypes]
    valued = [(2, 3, 4), ()]  # the values do not depend on the shape: two shapes do
    accepted = {name: [] for name in NORMALIZER_NAMES}
    for name in NORMALIZER_NAMES:
        f, jf = getattr(fnn, name), getattr(jax.nn, name)
        for x in xs:
            refusal = refused_by_jax(jf, x)
            if refusal is None:
                assert_types(f, jf, x)
                if x.shape in valued:
                    accepted[name].append(x)
            else:
                with pytest.raises(refusal):
                    f(x)

    def apply(module):
        return lambda xs: {name: [getattr(module, name)(x) for x in xs[name]]
                           for name in NORMALIZER_NAMES}

    got, want = both_jitted(apply(fnn), apply(jax.nn), accepted)
    for name in NORMALIZER_NAMES:
        for x, g, w in zip(accepted[name], got[name], want[name]):
            compare_each({name: g}, {name: w}, **tolerance(x.dtype))


def test_normalizer_input_types():
    for kind in ["python float", "weak float32", "bool", "int32"]:
        for name in NORMALIZER_NAMES:
            f, jf = getattr(fnn, name), getattr(jax.nn, name)
            if not raises_alike(f, jf, PROMOTED[kind]()):
                same(f(PROMOTED[kind]()), jf(PROMOTED[kind]()), **tolerance(np.float32))


SPECIAL_ROWS = np.array([[-np.inf, 1.0, 2.0], [-np.inf, -np.inf, -np.inf], [1e4, -1e4, 0.0],
                         [np.inf, 1.0, 2.0], [-1e30, 3.0, 3.0]], np.float32)


def test_normalizer_special_values():
    """-inf entries, an all -inf row, ±1e4 and +inf: JAX's values (NaN where JAX's are), and
    JAX's gradients where those are numbers."""
    x = jnp.asarray(SPECIAL_ROWS)
    weights = jnp.asarray(np.random.default_rng(8).normal(size=(5, 3)), np.float32)

    def values_and_gradients(module, grad):
        def loss(name):
            keep = dict(axis=-1, keepdims=True) if name in ("logsumexp", "logmeanexp") else {}
            return lambda x: (getattr(module, name)(x, **keep) * weights).sum()
        names = ["softmax", "log_softmax", "logsumexp", "logmeanexp"]
        return {name: [getattr(module, name)(x), grad(loss(name))(x)] for name in names}

    compare_each(values_and_gradients(fnn, fgrad.grad),
                 reference(lambda: values_and_gradients(jax.nn, jax.grad)), assert_no_new_nans,
                 **tolerance(np.float32))


@pytest.mark.usefixtures("x64")
def test_normalizer_gradients():
    """The VJPs of a third of the cases (every function, axes, masks with fully masked rows,
    b, return_sign), with random cotangents, equal JAX's in float64 (NaN where JAX's is
    NaN), under jax.jit."""
    chosen = [0, 4, 5, 8, 9, 13, 15, 17, 20, 25, 27, 32, 33]
    cases = {case: NORMALIZERS[case] for case in np.array(list(NORMALIZERS))[chosen]}
    x = jnp.asarray(X, np.float64)
    shapes = jax.eval_shape(lambda x: all_normalizers(jax.nn, x, np.float64), x)
    rng = np.random.default_rng(12)
    cotangents = {case: jax.tree_util.tree_map(
        lambda s: jnp.asarray(rng.normal(size=s.shape), s.dtype), shapes[case]) for case in cases}

    def vjps(module, vjp):
        def one(name, kw):
            return lambda x: normalizer(module, name, kw, np.float64)(
                spread(x) if name == "standardize" else x)
        return lambda x: {case: vjp(one(*cases[case]), x)[1](cotangents[case])
                          for case in cases}

    compare_each(*both_jitted(vjps(fnn, fgrad.vjp), vjps(jax.nn, jax.vjp), x),
                 rtol=1e-10, atol=1e-12)


@pytest.mark.usefixtures("x64")
def test_normalizer_check_grads():
    """Second derivatives, forward and reverse, against finite differences in float64
    (log_softmax and logmeanexp are softmax's and logsumexp's computations)."""
    x = spread(np.asarray(X, np.float64)[0, :, :3])

    def smooth(x):
        return [fnn.softmax(x), fnn.logsumexp(x, axis=1, b=np.abs(B[:, :3]) + 0.5),
                fnn.standardize(x, axis=None)]

    check_grads(smooth, (x,), order=2)


def test_softmax_custom_jvp_flag():
    """With jax_softmax_custom_jvp on, softmax's derivative is JAX's rule y (t - Σ y t),
    which is 0 on a fully masked row (where the computation's own derivative is NaN)."""
    x = jnp.asarray(X)

    def results(module, grad, jvp):
        out = {}
        for where in (None, jnp.asarray(MASK)):
            sm = lambda x: module.softmax(x, where=where)  # noqa: E731
            out[where is None] = [sm(x), grad(lambda x: (sm(x) * x).sum())(x),
                                  jvp(sm, (x,), (jnp.ones_like(x),))[1]]
        return out

    previous = jax.config.jax_softmax_custom_jvp
    jax.config.update("jax_softmax_custom_jvp", True)
    try:
        compare_each(results(fnn, fgrad.grad, fgrad.jvp),
                     reference(lambda: results(jax.nn, jax.grad, jax.jvp)), rtol=1e-5, atol=1e-6)
    finally:
        jax.config.update("jax_softmax_custom_jvp", previous)


def test_normalizer_errors():
    x = jnp.asarray(X)
    with pytest.raises(ValueError, match="boolean"):
        fnn.softmax(x, where=jnp.ones(4))
    with pytest.raises(ValueError, match="algorithm"):
        fnn.standardize(x, algorithm="slow")
    assert raises_alike(fnn.logsumexp, jax.nn.logsumexp, x, axis=3)
    assert raises_alike(fnn.softmax, jax.nn.softmax, x, axis=(0, 0))


# -- one_hot ---------------------------------------------------------------------------------

ONE_HOT = {  # case: (indices, num_classes, options)
    "vector": (np.array([0, 1, 2, -1, 3, 5]), 3, {}),
    "matrix axis 0": (np.array([[0, 2], [1, 7]]), 4, dict(axis=0)),
    "matrix axis -2": (np.array([[0, 2], [1, 7]]), 4, dict(axis=-2)),
    "scalar": (np.array(2), 3, {}), "python int": (1, 3, {}),
    "uint8": (np.array([0, 1, 2], np.uint8), 2, {}),
    "float indices": (np.array([0.0, 1.5, 2.0]), 3, {}),
    "empty": (np.zeros((2, 0), np.int32), 3, dict(axis=1)),
    "no classes": (np.array([0, 1]), 0, {}),
    "int32 result": (np.array([0, 2]), 3, dict(dtype=jnp.int32)),
    "bfloat16 result": (np.array([0, 2]), 3, dict(dtype=jnp.bfloat16)),
    "bool result": (np.array([0, 2]), 3, dict(dtype=bool)),
}


def test_one_hot():
    def apply(module):
        return lambda: {case: module.one_hot(x, n, **options)
                        for case, (x, n, options) in ONE_HOT.items()}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        compare_each(apply(fnn)(), reference(apply(jax.nn)))
    for x, n, options in [(np.array([0, 1]), 3, dict(axis=2)), (np.array([0]), 3, dict(axis=-3)),
                          (np.array([0]), -1, {})]:
        assert raises_alike(fnn.one_hot, jax.nn.one_hot, x, n, **options)


def test_one_hot_details(request):
    with pytest.warns(DeprecationWarning, match="integer"):
        fnn.one_hot(jnp.array([1.0]), 2)
    with pytest.raises(TypeError, match="num_classes"):
        fnn.one_hot(jnp.array([1]), 2.5)
    with pytest.raises(NotImplementedError, match="mapped axis"):
        fnn.one_hot(jnp.array([1]), 2, axis="batch")
    request.getfixturevalue("x64")
    assert_types(lambda x: fnn.one_hot(x, 3), lambda x: jax.nn.one_hot(x, 3),
                 jnp.array([0, 1]))  # float64 by default under x64


# -- attention -------------------------------------------------------------------------------

B_, T_, S_, N_, K_, H_ = 2, 3, 5, 4, 2, 8


def qkv(dtype=np.float32, heads=K_, seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(B_, T_, N_, H_), (B_, S_, heads, H_), (B_, S_, heads, H_)]
    return [jnp.asarray(rng.normal(size=s), dtype) for s in shapes]


_rng = np.random.default_rng(9)
LENGTHS = dict(query_seq_lengths=jnp.array([2, 3], jnp.int32),
               key_value_seq_lengths=jnp.array([4, 1], jnp.int32))
ATTENTION = {
    "plain": {}, "causal": dict(is_causal=True), "scale": dict(scale=0.3),
    "bias": dict(bias=jnp.asarray(_rng.normal(size=(B_, N_, T_, S_)), np.float32)),
    "bias broadcast": dict(bias=jnp.asarray(_rng.normal(size=(1, 1, T_, S_)), np.float32)),
    "bias per key": dict(bias=jnp.asarray(_rng.normal(size=(B_, 1, 1, S_)), np.float32)),
    "mask": dict(mask=jnp.asarray(_rng.random((B_, N_, T_, S_)) > 0.3)),
    "mask broadcast": dict(mask=jnp.asarray(_rng.random((1, 1, T_, S_)) > 0.3)),
    "query lengths": dict(query_seq_lengths=LENGTHS["query_seq_lengths"]),
    "kv lengths": dict(key_value_seq_lengths=LENGTHS["key_value_seq_lengths"]),
    "lengths causal": dict(is_causal=True, **LENGTHS),
    "window": dict(local_window_size=1), "window pair": dict(local_window_size=(2, 0)),
    "xla": dict(implementation="xla"), "residual": dict(return_residual=True),
    "residual masked": dict(return_residual=True, is_causal=True, **LENGTHS),
}


def test_attention_options():
    """Every option (GQA: 4 query heads, 2 key/value heads): JAX's types, and JAX's values
    under jax.jit; one case with most options eagerly too."""
    q, k, v = qkv()
    for kw in ATTENTION.values():
        assert_types(lambda q, k, v: fnn.dot_product_attention(q, k, v, **kw),
                     lambda q, k, v: jax.nn.dot_product_attention(q, k, v, **kw), q, k, v)

    def apply(module):
        return lambda q, k, v: {case: module.dot_product_attention(q, k, v, **kw)
                                for case, kw in ATTENTION.items()}

    got, want = both_jitted(apply(fnn), apply(jax.nn), q, k, v)
    compare_each(got, want, rtol=1e-5, atol=1e-6)
    eager = "residual masked"
    compare_each({eager: fnn.dot_product_attention(q, k, v, **ATTENTION[eager])},
                 {eager: want[eager]}, rtol=1e-5, atol=1e-6)


def test_attention_heads_and_dtypes():
    """Multi-head, grouped-query and multi-query attention in float32 and bfloat16 (whose
    logits are float32), 4-D and 3-D; float16's types."""
    cases = {f"{np.dtype(dtype).name} {heads} heads": qkv(np.dtype(dtype), heads)
             for dtype, heads in ((np.float32, N_), (np.float32, 1), (BF16, K_))}

    def apply(module):
        return lambda cases: {
            key: [module.dot_product_attention(q, k, v, is_causal=True),
                  module.dot_product_attention(q[0], k[0], v[0])]
            for key, (q, k, v) in cases.items()}

    got, want = both_jitted(apply(fnn), apply(jax.nn), cases)
    for key in cases:
        dtype = cases[key][0].dtype
        tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else tolerance(dtype)
        compare_each({key: got[key]}, {key: want[key]}, **tol)
    # jax.nn's float16 attention fails under jax.jit on CPU (it asks for F16_F16_F32
    # precision, and catches the backend's refusal only when it comes eagerly), and
    # eagerly its compilations cost seconds: float16 is checked for its types, by tracing.
    q, k, v = qkv(np.float16)
    assert_types(lambda *a: fnn.dot_product_attention(*a, is_causal=True),
                 lambda *a: jax.nn.dot_product_attention(*a, is_causal=True), q, k, v)


@pytest.mark.usefixtures("x64")
def test_attention_gradients():
    """Gradients in query, key and value (and bias), with masks, lengths and the residual
    (a constant), equal JAX's under jax.jit (the softmax runs in float32, as in JAX)."""
    q, k, v = qkv(np.float64)
    bias = ATTENTION["bias"]["bias"].astype(np.float64)

    def loss(module):
        def scalar(q, k, v, bias):
            plain = module.dot_product_attention(q, k, v, bias=bias)
            masked = module.dot_product_attention(q, k, v, mask=ATTENTION["mask"]["mask"],
                                                  is_causal=True, **LENGTHS)
            out, residual = module.dot_product_attention(q, k, v, return_residual=True)
            return (plain ** 2).sum() + (masked * plain).sum() + (out ** 3).sum() + residual.sum()
        return scalar

    same(*both_jitted(fgrad.grad(loss(fnn), (0, 1, 2, 3)), jax.grad(loss(jax.nn), (0, 1, 2, 3)),
                      q, k, v, bias), rtol=1e-5, atol=1e-6)


ATTENTION_ERRORS = {
    "heads": lambda q, k, v: ((q[:, :, :3], k, v), {}),
    "dtype": lambda q, k, v: ((q, k.astype(np.float16), v), {}),
    "value shape": lambda q, k, v: ((q, k, v[:, :2]), {}),
    "mask dtype": lambda q, k, v: ((q, k, v), dict(mask=jnp.ones((B_, N_, T_, S_)))),
    "mask rank": lambda q, k, v: ((q, k, v), dict(mask=jnp.ones((B_, N_, T_, S_, 1), bool))),
    "lengths": lambda q, k, v: ((q, k, v), dict(query_seq_lengths=jnp.array([1, 2, 3]))),
    "implementation": lambda q, k, v: ((q, k, v), dict(implementation="flash")),
}


def test_attention_errors():
    for case, make in ATTENTION_ERRORS.items():
        args, kw = make(*qkv())
        assert raises_alike(fnn.dot_product_attention, jax.nn.dot_product_attention, *args,
                            **kw), case
    with pytest.raises(NotImplementedError, match="cudnn.*'xla'"):
        fnn.dot_product_attention(*qkv(), implementation="cudnn")


# -- initializers ----------------------------------------------------------------------------

INIT = fnn.initializers
INITIALIZERS = {  # name: the builder's arguments (None: the name is an initializer itself).
    # The other variance_scaling specializations: test_initializer_modes_and_axes.
    "zeros": None, "ones": None, "constant": (-7,), "uniform": (10.0,), "normal": (5.0,),
    "truncated_normal": (5.0, None, -1.0, 3.0), "glorot_uniform": (), "lecun_normal": (),
    "orthogonal": (2.0,), "delta_orthogonal": (),
    "variance_scaling": (2.0, "fan_geo_avg", "normal"),
}
# Every initializer in the default dtype; bfloat16, complex64 (where JAX accepts it), empty
# and 3-D shapes for a few: each new shape and dtype of a sampler is a new compilation.
INIT_CASES = ([(name, (3, 4), None) for name in INITIALIZERS]
              + [(name, (3, 4), BF16) for name in ("uniform", "truncated_normal",
                                                    "glorot_uniform", "orthogonal")]
              + [(name, (3, 4), np.complex64) for name in ("normal", "uniform", "glorot_uniform",
                                                           "lecun_normal", "orthogonal")]
              + [(name, (4, 0), None) for name in ("zeros", "constant", "orthogonal")]
              + [(name, (2, 3, 4), None) for name in ("ones", "delta_orthogonal",
                                                      "variance_scaling")])


def initializer(module, name):
    args = INITIALIZERS[name]
    built = getattr(module.initializers, name)
    return built if args is None else built(*args)


def test_initializers_match_jax():
    """The same key gives JAX's values (to a few ulps: the samplers draw JAX's bits, and the
    arithmetic on top is JAX's), for each shape and dtype, under jax.jit; JAX's refusals (a
    1-D weight's fans, orthogonal in bfloat16 ...) are fgrad's, eagerly."""
    key = jax.random.key(42)
    accepted = {}
    for name, shape, dtype in INIT_CASES:
        assert isinstance(initializer(fnn, name), INIT.Initializer)
        refusal = refused_by_jax(initializer(jax.nn, name), key, shape, dtype)
        if refusal is None:
            accepted[f"{name} {shape} {np.dtype(dtype or np.float32).name}"] = (
                name, shape, dtype)
        else:
            with pytest.raises(refusal):
                initializer(fnn, name)(key, shape, dtype)

    def apply(module):
        return lambda key: {case: initializer(module, name)(key, shape, dtype)
                            for case, (name, shape, dtype) in accepted.items()}

    compare_each(*both_jitted(apply(fnn), apply(jax.nn), key), rtol=1e-6, atol=1e-7)
    for name in ["glorot_uniform", "variance_scaling", "orthogonal", "delta_orthogonal"]:
        for shape in [(5,), ()]:  # too few dimensions
            assert raises_alike(initializer(fnn, name), initializer(jax.nn, name), key, shape)


def test_initializer_defaults_float64(request):
    """Under x64 the default dtype is float64, as in JAX (the types, by tracing)."""
    request.getfixturevalue("x64")
    key = jax.random.key(0)
    for name in ["zeros", "uniform", "lecun_normal", "orthogonal"]:
        assert_types(lambda k: initializer(fnn, name)(k, (3, 4)),
                     lambda k: initializer(jax.nn, name)(k, (3, 4)), key)


SPECIALIZATIONS = ["glorot_uniform", "glorot_normal", "lecun_uniform", "lecun_normal",
                   "he_uniform", "he_normal"]


def test_initializer_modes_and_axes():
    """variance_scaling in every mode and every distribution, with in, out and batch axes,
    and its named specializations (with axes too), under jax.jit."""
    key = jax.random.key(1)
    cases = {f"{mode} {distribution}": (0.5, mode, distribution)
             for mode, distribution in (("fan_in", "truncated_normal"), ("fan_out", "normal"),
                                        ("fan_avg", "uniform"), ("fan_geo_avg", "normal"),
                                        ("fan_in", "uniform"), ("fan_out", "truncated_normal"))}
    cases.update({f"fan_avg uniform {axes}": (0.5, "fan_avg", "uniform", *axes)
                  for axes in (((0, 1), 2, ()), (1, 2, 0), (2, (0, 1), ()))})

    def apply(module):
        init = module.initializers
        return lambda key: {
            **{case: init.variance_scaling(*args)(key, (2, 3, 4)) for case, args in cases.items()},
            **{name: getattr(init, name)()(key, (2, 3, 4)) for name in SPECIALIZATIONS},
            **{f"{name} axes": getattr(init, name)(1, 0, 2)(key, (2, 3, 4))
               for name in SPECIALIZATIONS[:2]}}

    compare_each(*both_jitted(apply(fnn), apply(jax.nn), key), rtol=1e-6, atol=1e-7)
    for bad in [(1.0, "fan_max", "normal"), (1.0, "fan_in", "cauchy")]:
        with pytest.raises(ValueError, match="invalid"):
            INIT.variance_scaling(*bad)(key, (2, 3))
    with pytest.raises(NotImplementedError, match="out_sharding"):
        INIT.normal()(key, (2,), out_sharding=jax.sharding.PartitionSpec())


def test_initializer_aliases():
    pairs = [("xavier_uniform", "glorot_uniform"), ("xavier_normal", "glorot_normal"),
             ("kaiming_uniform", "he_uniform"), ("kaiming_normal", "he_normal")]
    for alias, name in pairs:
        assert getattr(INIT, alias) is getattr(INIT, name)
        assert getattr(jax.nn.initializers, alias) is getattr(jax.nn.initializers, name)


def test_orthogonal_is_orthogonal():
    key = jax.random.key(3)
    for shape, axis in [((4, 6), -1), ((3, 2, 5), 0)]:
        w = np.asarray(INIT.orthogonal(column_axis=axis)(key, shape), np.float64)
        columns = np.moveaxis(w, axis, -1).reshape(-1, shape[axis])
        gram = columns.T @ columns if columns.shape[0] >= columns.shape[1] else columns @ columns.T
        np.testing.assert_allclose(gram, np.eye(min(columns.shape)), atol=1e-5)
    w = np.asarray(INIT.delta_orthogonal()(key, (3, 3, 4, 4)))
    np.testing.assert_allclose(w[1, 1].T @ w[1, 1], np.eye(4), atol=1e-5)
    assert not np.any(np.delete(w.reshape(9, 4, 4), 4, axis=0))


def test_initializers_under_transforms():
    """An initializer under fgrad.jit, and fgrad.vmap over keys."""
    keys = jax.random.split(jax.random.key(0), 3)
    init = INIT.he_uniform()
    want = reference(jax.vmap(lambda k: jax.nn.initializers.he_uniform()(k, (3, 4))), keys)
    same(fgrad.vmap(lambda k: init(k, (3, 4)))(keys), want, rtol=1e-6)
    same(fgrad.jit(lambda k: init(k, (3, 4)))(keys[0]), want[0], rtol=1e-6)


# -- scaled products -------------------------------------------------------------------------


def test_scaled_matmul_is_the_documented_formula():
    """jax.nn.scaled_matmul runs on CUDA GPUs only (JAX has no CPU lowering), so fgrad's is
    checked against the formula in its docstring, computed with jax.numpy in float32."""
    rng = np.random.default_rng(10)
    a = jnp.asarray(rng.normal(size=(2, 3, 8)), jnp.float8_e4m3fn)
    b = jnp.asarray(rng.normal(size=(2, 5, 8)), jnp.float8_e4m3fn)
    a_scales = jnp.asarray(2.0 ** rng.integers(-3, 3, (2, 3, 2)), jnp.float8_e8m0fnu)
    b_scales = jnp.asarray(2.0 ** rng.integers(-3, 3, (2, 5, 2)), jnp.float8_e8m0fnu)
    scaled = [x.astype(np.float32) * jnp.repeat(s.astype(np.float32), 4, -1)
              for x, s in ((a, a_scales), (b, b_scales))]
    want = jnp.einsum("BMK,BNK->BMN", *scaled)
    same(fnn.scaled_matmul(a, b, a_scales, b_scales), want, rtol=1e-6)
    same(fnn.scaled_matmul(a, b, a_scales, b_scales, preferred_element_type=jnp.bfloat16),
         want.astype(jnp.bfloat16), rtol=1e-2)
    for args in [(a[0], b, a_scales, b_scales), (a, b[:1], a_scales, b_scales),
                 (a, b, a_scales, b_scales[:, :, :1])]:
        with pytest.raises(ValueError, match="scaled_matmul"):
            fnn.scaled_matmul(*args)


def test_scaled_dot_general():
    rng = np.random.default_rng(11)
    lhs, rhs = (jnp.asarray(rng.normal(size=(3, 4, 6)), np.float32) for _ in range(2))
    dims = (((2,), (2,)), ((0,), (0,)))
    same(fnn.scaled_dot_general(lhs, rhs, dims), jax.nn.scaled_dot_general(lhs, rhs, dims),
         rtol=1e-6)
    for mode in ("mxfp8", "nvfp4"):
        ours, theirs = (m.get_scaled_dot_general_config(mode) for m in (fnn, jax.nn))
        for field in ("mode", "block_size", "data_type", "scale_type", "infer_only"):
            assert getattr(ours, field) == getattr(theirs, field)
    configs = [fnn.get_scaled_dot_general_config("mxfp8")] * 3
    with pytest.raises(NotImplementedError, match="configs"):
        fnn.scaled_dot_general(lhs, rhs, dims, configs=configs)
    with pytest.raises(ValueError, match="mode"):
        fnn.get_scaled_dot_general_config("int4")


# -- transforms ------------------------------------------------------------------------------

TRANSFORMED = {  # case: (function of module, batched arguments)
    "relu": (lambda m: m.relu, (X,)),
    "gelu": (lambda m: m.gelu, (X,)),
    "log1mexp": (lambda m: m.log1mexp, (np.abs(X) + 0.1,)),
    "softmax where": (lambda m: lambda x, w: m.softmax(x, where=w), (X, MASK)),
    "log_softmax axis 0": (lambda m: lambda x: m.log_softmax(x, axis=0), (X,)),
    "logsumexp b": (lambda m: lambda x, b: m.logsumexp(x, b=b, axis=-1, return_sign=True),
                    (X, np.stack([B, -B]))),
    "standardize": (lambda m: m.standardize, (spread(X),)),
    "glu": (lambda m: m.glu, (X,)),
    "one_hot": (lambda m: lambda i: m.one_hot(i, 5), (np.array([[0, 4, 7], [2, -1, 1]]),)),
    "attention": (lambda m: lambda q, k, v: m.dot_product_attention(q, k, v, is_causal=True),
                  tuple(qkv())),
}


def _args(case):
    return tuple(jnp.asarray(a) for a in TRANSFORMED[case][1])


def _scalar(f):
    """A scalar of f's first output, for per-example gradients."""
    return lambda *a: jax.tree_util.tree_leaves(f(*a))[0].sum()


def test_vmap():
    """fgrad.vmap, and fgrad.vmap of fgrad.grad (per-example gradients), against jax.vmap,
    under jax.jit."""
    differentiable = [c for c in TRANSFORMED if jnp.issubdtype(_args(c)[0].dtype, jnp.floating)]

    def apply(module, vmap, grad):
        return lambda: {
            **{c: vmap(TRANSFORMED[c][0](module))(*_args(c)) for c in TRANSFORMED},
            **{f"{c} grad": vmap(grad(_scalar(TRANSFORMED[c][0](module))))(*_args(c))
               for c in differentiable}}

    compare_each(*both_jitted(apply(fnn, fgrad.vmap, fgrad.grad),
                              apply(jax.nn, jax.vmap, jax.grad)), rtol=1e-5, atol=1e-6)


def test_jit_round_trips():
    """Every case under fgrad.jit and under jax.jit equals jax.nn's."""
    def apply(module):
        return lambda: {c: TRANSFORMED[c][0](module)(*_args(c)) for c in TRANSFORMED}

    want = reference(apply(jax.nn))
    compare_each(fgrad.jit(apply(fnn))(), want, rtol=1e-5, atol=1e-6)
    compare_each(jax.jit(apply(fnn))(), want, rtol=1e-5, atol=1e-6)


# -- names -----------------------------------------------------------------------------------

# Names fgrad.nn has only in part, and why (none of jax.nn's or jax.nn.initializers' names is
# missing altogether).
PARTIAL = {
    "scaled_dot_general": "with configs (mxfp8/nvfp4 quantization and its straight-through "
                          "backward pass) it raises NotImplementedError: JAX runs it on CUDA "
                          "GPUs only, so there is no reference to test it against here",
    "dot_product_attention": "implementation='cudnn' raises NotImplementedError: cuDNN's fused "
                             "kernel; None and 'xla' compute the same attention",
    "initializers": "out_sharding other than None raises NotImplementedError: fgrad's arrays "
                    "carry no sharding",
}


@pytest.mark.parametrize("jax_module,ours", [(jax.nn, fnn), (jax.nn.initializers, INIT)],
                         ids=["nn", "initializers"])
def test_every_public_name_exists(jax_module, ours):
    public = [n for n in dir(jax_module) if not n.startswith("_")]
    missing = [n for n in public if not hasattr(ours, n)]
    assert not missing, missing
    assert set(public) <= set(ours.__all__)
    wrong_kind = [n for n in public if callable(getattr(jax_module, n))
                  != callable(getattr(ours, n))]
    assert not wrong_kind, wrong_kind
    assert all(hasattr(fnn, name) for name in PARTIAL)


def test_missing_names_say_so():
    with pytest.raises(AttributeError, match="fgrad.nn"):
        fnn.no_such_function  # noqa: B018
    with pytest.raises(AttributeError, match="fgrad.nn.initializers"):
        INIT.no_such_initializer  # noqa: B018
    assert math.isclose(float(fnn.tanh(0.5)), math.tanh(0.5), rel_tol=1e-6)
