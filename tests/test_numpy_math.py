"""fgrad.numpy's elementwise math (inverse hyperbolics, logarithms and exponentials in other
bases, floats' bits, rounding, remainders, integer math, closeness, complex parts, bit
packing) and its dtype utilities, against jax.numpy: values, shapes, dtypes and weak types
for each dtype JAX accepts (and the same exception where it refuses), Python scalars, 0-d
and size-0 arrays, special values; signatures; derivatives to second order against finite
differences and against JAX's at their special points; fgrad.vmap against jax.vmap; fgrad.jit
and jax.jit round trips.

Every new (function, shape, dtype) compiles on both sides, so the grid pairs each dtype with
one shape; JAX's derivatives are taken under jax.jit (one compilation, not one per
operation).
"""

import functools
import inspect
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.testing import check_grads
from oracle import assert_same, rotating, traced

F32, F64, I32, U8, BOOL, C64 = (np.dtype(t) for t in (
    np.float32, np.float64, np.int32, np.uint8, np.bool_, np.complex64))


def operand(dtype, shape, domain="any", seed=0):
    """Random NumPy values of `dtype` in `domain` ('any', 'positive', 'unit', 'above1';
    'shift' and 'count' for small non-negative integers)."""
    rng = np.random.default_rng(seed)
    if dtype == BOOL:
        return rng.random(shape) > 0.5
    if np.issubdtype(dtype, np.integer):
        low = 0 if domain in ("shift", "count") or dtype == U8 else -5
        return rng.integers(low, 6, shape).astype(dtype)
    low, high = {"any": (-2.0, 2.0), "positive": (0.2, 3.0), "unit": (-0.9, 0.9),
                 "above1": (1.1, 3.0), "shift": (0.0, 4.0), "count": (0.0, 4.0)}[domain]
    x = rng.uniform(low, high, shape)
    if np.issubdtype(dtype, np.complexfloating):
        x = x + 1j * rng.uniform(low, high, shape)
    return x.astype(dtype)


# name -> the domain of each operand (the number of operands is the length). The complex
# numbers of the functions fgrad.numpy had before are tested in tests/test_complex.py.
ELEMENTWISE = {
    **{name: ("any",) for name in [
        "arcsinh", "cbrt", "exp2", "sinc", "deg2rad", "rad2deg", "fabs", "i0", "signbit",
        "spacing", "reciprocal", "rint", "trunc", "real", "imag", "conj", "angle",
        "iscomplex", "isreal", "isposinf", "isneginf", "nan_to_num", "bitwise_count", "frexp",
        "modf"]},
    "arccosh": ("above1",), "arctanh": ("unit",), "log2": ("positive",),
    "log10": ("positive",),
    **{name: ("any", "any") for name in [
        "logaddexp", "logaddexp2", "hypot", "copysign", "float_power", "fmax", "fmin",
        "fmod", "heaviside", "nextafter", "isclose", "allclose", "array_equal", "array_equiv",
        "gcd", "lcm"]},
    **{name: ("any", "shift") for name in ["left_shift", "right_shift", "ldexp"]},
}
# jax.numpy's second names (the array API's) for the same functions
ALIASES = {"acos": "arccos", "asin": "arcsin", "atan": "arctan", "atan2": "arctan2",
           "acosh": "arccosh", "asinh": "arcsinh", "atanh": "arctanh", "degrees": "rad2deg",
           "radians": "deg2rad", "conjugate": "conj", "bitwise_invert": "invert",
           "bitwise_left_shift": "left_shift", "bitwise_right_shift": "right_shift",
           "around": "round"}


def jax_or_error(jax_fn, *args):
    """(result, None), or (None, the exception) where JAX refuses the operands."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NumPy's and JAX's complex-to-real casts
            return jax_fn(*args), None
    except Exception as error:  # noqa: BLE001 (the same class is expected of fgrad)
        return None, error


def check_same(fgrad_fn, jax_fn, args, *, rtol=1e-5, atol=1e-6, trace=True):
    """fgrad_fn(*args) is what jax_fn(*args) is: the same values (within tolerances),
    shapes, dtypes and weak types, eagerly and (`trace`) from a traced, typechecked
    program; or the same class of exception where JAX raises one."""
    want, error = jax_or_error(jax_fn, *args)
    if error is not None:
        with pytest.raises(type(error)):
            fgrad_fn(*args)
        return
    got = fgrad_fn(*args)
    assert jax.tree_util.tree_structure(got) == jax.tree_util.tree_structure(want)
    for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        assert isinstance(g, jax.Array), type(g)
        assert_same(g, w, rtol=rtol, atol=atol)
    arrays = [a for a in args if isinstance(a, np.ndarray)]
    if trace and arrays and all(a.size for a in arrays):
        def with_arrays(*values):
            it = iter(values)
            return fgrad_fn(*(next(it) if isinstance(a, np.ndarray) else a for a in args))
        for g, w in zip(jax.tree_util.tree_leaves(traced(with_arrays, arrays)),
                        jax.tree_util.tree_leaves(want)):
            assert_same(g, w, rtol=rtol, atol=atol)


def check_types(fgrad_fn, jax_fn, args):
    """fgrad_fn's traced program has jax_fn's output types (shapes, dtypes, weak types), or
    both refuse the operands: without computing anything (nothing compiles)."""
    want, error = jax_or_error(lambda *a: jax.eval_shape(jax_fn, *a), *args)
    if error is not None:
        with pytest.raises(type(error)):
            fgrad.make_ir(fgrad_fn)(*args)
        return
    program = fgrad.make_ir(fgrad_fn)(*args)
    assert [(a.shape, a.dtype, a.weak_type) for a in program.out_avals] == [
        (w.shape, w.dtype, w.weak_type) for w in jax.tree_util.tree_leaves(want)]


def operands(name, dtype, shape, seed=0):
    return [operand(dtype if domain != "shift" or not np.issubdtype(dtype, np.inexact)
                    else I32, shape, domain, seed + i)
            for i, domain in enumerate(ELEMENTWISE[name])]


# (dtype, shape): each dtype and each shape, with values (every new pair compiles on both
# sides) or only the types (booleans, whose values promotion decides, and size 0)
CASES = [(F32, (2, 3)), (C64, (2, 3)), (I32, (3,))]
TYPE_CASES = [(BOOL, ()), (BOOL, (2, 3)), (F32, (2, 0)), (I32, (0,))]


def scalar_operands(name):
    """Python scalars (weakly typed), and for two operands a float32 0-d array beside one
    (whose dtype it takes): lists of arguments."""
    scalars = [{"above1": 1.5, "positive": 2.5, "unit": 0.5, "shift": 2}.get(d, 0.75)
               for d in ELEMENTWISE[name]]
    return [scalars] + ([[operands(name, F32, ())[0], scalars[1]]] if len(scalars) == 2 else [])


# Values in each of the CASES and on Python scalars, each compiling every operation anew: the
# default run checks each function in one of them, rotating, so every function and every case
# appears (and the types of all of them, below); `-m slow` runs the rest.
@pytest.mark.parametrize("name, case", rotating(sorted(ELEMENTWISE), range(len(CASES) + 1),
                                                every=len(CASES) + 1))
def test_values(name, case):
    fn, jfn = getattr(fnp, name), getattr(jnp, name)
    if case < len(CASES):
        dtype, shape = CASES[case]  # a value, or JAX's refusal of the dtype
        check_same(fn, jfn, operands(name, dtype, shape))
    else:
        for args in scalar_operands(name):
            check_same(fn, jfn, args, trace=False)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_dtypes_and_weak_types(name):
    fn, jfn = getattr(fnp, name), getattr(jnp, name)
    for dtype, shape in CASES + TYPE_CASES:
        check_types(fn, jfn, operands(name, dtype, shape))
    check_types(fn, jfn, [0.5 - 0.25j] * len(ELEMENTWISE[name]))  # weak complex scalars
    for args in scalar_operands(name):
        check_types(fn, jfn, args)


@pytest.mark.parametrize("name", ["hypot", "logaddexp", "spacing", "frexp", "sinc"])
def test_float64(name, x64):
    check_same(getattr(fnp, name), getattr(jnp, name), operands(name, F64, (2, 3)),
               rtol=1e-12, atol=1e-14, trace=False)


def test_aliases_are_the_same_functions():
    for alias, name in ALIASES.items():
        assert getattr(fnp, alias) is getattr(fnp, name), alias
        x = operand(F32 if "shift" not in name and name != "invert" else I32, (3,), "unit")
        args = [x, x] if name in ("arctan2", "left_shift", "right_shift") else [x]
        check_same(getattr(fnp, alias), getattr(jnp, alias), args, trace=False)


def test_signatures_match_jax():
    """Argument names, defaults, positional-only and keyword-only markers as jax.numpy's
    (its ufuncs, logaddexp and logaddexp2, take (x1, x2) positionally)."""
    names = set(ELEMENTWISE) | set(ALIASES) | {"packbits", "unpackbits", "round", "clip"}
    for name in sorted(names - {"logaddexp", "logaddexp2"}):
        want = inspect.signature(getattr(jnp, name)).parameters
        got = inspect.signature(getattr(fnp, name)).parameters
        assert [(p.name, p.kind, p.default) for p in got.values()] == [
            (p.name, p.kind, p.default) for p in want.values()], name
    for name in ("logaddexp", "logaddexp2"):
        assert [(p.name, p.kind) for p in inspect.signature(
            getattr(fnp, name)).parameters.values()] == [
            ("x1", inspect.Parameter.POSITIONAL_ONLY), ("x2", inspect.Parameter.POSITIONAL_ONLY)]


# -- special values ------------------------------------------------------------------------------

SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, 0.5, 2.5, -2.5, 1e-40, -1e-40, 3e38, np.inf, -np.inf,
                    np.nan, -np.nan, 7.0, -0.3])
OTHER = np.array([1.0, -1.0, -0.0, 0.0, np.nan, np.inf, 2.0, -np.inf, 1.0, -3.0, np.inf,
                  -np.inf, 0.0, 1.0, 7.0, 0.3])


# functions whose special values depend on the dtype's bits, checked in every float dtype
BITWISE_FLOATS = ["signbit", "spacing", "nan_to_num"]


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_special_values(dtype, request):
    if dtype == "float64":
        request.getfixturevalue("x64")
    with np.errstate(over="ignore"):  # 3e38 is infinite in float16
        x = SPECIAL.astype(dtype)
    y = OTHER.astype(dtype)
    tol = dict(rtol=1e-6 if dtype != "float16" else 1e-3, atol=0.0)
    unary = BITWISE_FLOATS + (["isposinf", "rint", "trunc", "modf"]
                              if dtype == "float32" else [])
    for name in unary:
        check_same(getattr(fnp, name), getattr(jnp, name), [x], trace=False, **tol)
    binary = ["copysign", "hypot", "logaddexp", "fmax", "fmod", "heaviside", "nextafter",
              "isclose"] if dtype == "float32" else ["copysign"]
    for name in binary:
        check_same(getattr(fnp, name), getattr(jnp, name), [x, y], trace=False, **tol)
    exponents = np.array([0, 1, -1, 3, -200, 200, 130, -140, 2, 0, 5, -5, 1, 2, 1000, -1000],
                         np.int32)
    check_same(fnp.ldexp, jnp.ldexp, [x, exponents], trace=False, **tol)
    # frexp against NumPy: on XLA's CPU JAX's frexp of a subnormal number is wrong
    # (1e-40 -> 0.5 * 2**-149), where fgrad normalizes it exactly (0.544 * 2**-132).
    mantissa, exponent = fnp.frexp(x)
    np.testing.assert_array_equal(np.asarray(mantissa), np.frexp(x)[0])
    np.testing.assert_array_equal(np.asarray(exponent), np.frexp(x)[1])
    normal = np.abs(x) >= np.finfo(x.dtype).tiny
    np.testing.assert_array_equal(np.asarray(mantissa)[normal],
                                  np.asarray(jnp.frexp(x)[0])[normal])
    if dtype == "float32":
        check_same(lambda a: fnp.nan_to_num(a, nan=1.5, posinf=9.0, neginf=-9.0),
                   lambda a: jnp.nan_to_num(a, nan=1.5, posinf=9.0, neginf=-9.0), [x],
                   trace=False)
        check_same(lambda a, b: fnp.isclose(a, b, equal_nan=True),
                   lambda a, b: jnp.isclose(a, b, equal_nan=True), [x, y], trace=False)


def test_special_complex_values():
    z = np.array([1 + 1j, np.inf + 0j, complex(0, np.inf), complex(np.nan, 1), -np.inf - 2j,
                  0j, complex(3, -np.nan)], np.complex64)
    for name in ["isfinite", "isinf", "isnan", "angle"]:
        check_same(getattr(fnp, name), getattr(jnp, name), [z], trace=False)
    w = np.array([1 + 2j, 1 + 0j, 1 - 1j, 2 + 1j, -2j, 0j, 5j], np.complex64)
    for name in ["less", "maximum", "logaddexp"]:
        check_same(getattr(fnp, name), getattr(jnp, name), [w, z[::-1].copy()], trace=False)
    check_same(lambda a: fnp.round(a, 1), lambda a: jnp.round(a, 1), [w * 1.234], trace=False)


def test_integer_math():
    a = np.array([12, -18, 0, 7, 0, -5, 9, 1], np.int32)
    b = np.array([18, 12, 5, 0, 0, -15, -6, 1], np.int32)
    check_same(fnp.gcd, jnp.gcd, [a, b], trace=False)
    check_same(fnp.lcm, jnp.lcm, [a[:, None], b[None, :4]], trace=False)  # broadcast
    u = np.array([0, 1, 7, 200, 255, 3, 9, 128], np.uint8)
    check_same(fnp.right_shift, jnp.right_shift, [u, np.uint8(2)], trace=False)
    check_same(fnp.bitwise_count, jnp.bitwise_count, [a * 1000 - 3], trace=False)


@pytest.mark.parametrize("kwargs", [{}, {"axis": 0, "bitorder": "little"}])
def test_packbits_and_unpackbits(kwargs):
    bits = operand(BOOL, (3, 11), seed=3)
    check_same(lambda a: fnp.packbits(a, **kwargs), lambda a: jnp.packbits(a, **kwargs), [bits])
    if not kwargs:
        ints = operand(I32, (9,), seed=4)  # nonzero integers count as set bits
        check_same(fnp.packbits, jnp.packbits, [ints], trace=False)
    packed = np.asarray(jnp.packbits(bits, **kwargs))
    for count in (None, -3):
        check_same(lambda a: fnp.unpackbits(a, count=count, **kwargs),
                   lambda a: jnp.unpackbits(a, count=count, **kwargs), [packed],
                   trace=count is None)


@pytest.mark.parametrize("call", [
    lambda M: M.packbits(np.ones(3, np.float32)),
    lambda M: M.packbits(np.ones(3, bool), bitorder="middle"),
    lambda M: M.unpackbits(np.ones(3, np.int32)),
    lambda M: M.gcd(np.ones(3), np.ones(3)),
    lambda M: M.lcm(1.5, 2),
    lambda M: M.ldexp(np.ones(2, np.complex64), 2),
    lambda M: M.ldexp(np.ones(2), np.ones(2)),
    lambda M: M.i0(np.ones(2, np.complex64)),
    lambda M: M.clip(np.ones(2, np.complex64), 0, 1),
    lambda M: M.clip(np.ones(2), 1j, 2),
    lambda M: M.modf(np.ones(2), out=np.ones(2)),
    lambda M: M.isposinf(np.ones(2), out=np.ones(2)),
    lambda M: M.round(np.ones(2), out=np.ones(2)),
    lambda M: M.signbit(np.ones(2, np.complex64)),
    lambda M: M.frexp(np.ones(2, np.complex64)),
], ids=range(15))
def test_errors_where_jax_raises(call):
    _, error = jax_or_error(call, jnp)
    assert error is not None
    with pytest.raises(type(error)):
        call(fnp)


def test_array_equal_and_equiv_of_other_shapes():
    a, b = np.ones((2, 3)), np.ones((3,))
    for name in ("array_equal", "array_equiv", "allclose"):
        check_same(getattr(fnp, name), getattr(jnp, name), [a, b], trace=False)
    check_same(fnp.array_equiv, jnp.array_equiv, [a, np.ones((4,))], trace=False)
    check_same(lambda x, y: fnp.array_equal(x, y, equal_nan=True),
               lambda x, y: jnp.array_equal(x, y, equal_nan=True),
               [np.array([np.nan, 1.0]), np.array([np.nan, 1.0])])
    check_same(fnp.allclose, jnp.allclose, [np.ones(3), np.ones(3) + 1e-7])


# -- derivatives ---------------------------------------------------------------------------------

# name -> (function of the arrays, samplers of the arrays): the differentiable ones
GRADS = {
    "arcsinh": (fnp.arcsinh, ("any",)), "arccosh": (fnp.arccosh, ("above1",)),
    "arctanh": (fnp.arctanh, ("unit",)), "cbrt": (fnp.cbrt, ("any",)),
    "exp2": (fnp.exp2, ("any",)), "log2": (fnp.log2, ("positive",)),
    "log10": (fnp.log10, ("positive",)), "sinc": (fnp.sinc, ("any",)),
    "deg2rad": (fnp.deg2rad, ("any",)), "rad2deg": (fnp.rad2deg, ("any",)),
    "fabs": (fnp.fabs, ("any",)), "reciprocal": (fnp.reciprocal, ("above1",)),
    "i0": (fnp.i0, ("any",)), "nan_to_num": (fnp.nan_to_num, ("any",)),
    "modf": (lambda x: fnp.modf(x)[0], ("any",)),
    "frexp": (lambda x: fnp.frexp(x)[0], ("any",)),
    "ldexp": (lambda x: fnp.ldexp(x, np.int32(-2)), ("any",)),
    "angle": (fnp.angle, ("any",)), "real": (fnp.real, ("any",)),
    "imag": (lambda x: fnp.imag(x * (1 + 2j)), ("any",)),
    "conj": (lambda x: fnp.conj(x * (1 - 1j)), ("any",)),
    "logaddexp": (fnp.logaddexp, ("any", "any")),
    "logaddexp2": (fnp.logaddexp2, ("any", "any")),
    "hypot": (fnp.hypot, ("any", "any")), "copysign": (fnp.copysign, ("any", "any")),
    "float_power": (fnp.float_power, ("positive", "any")),
    "fmax": (fnp.fmax, ("any", "any")), "fmin": (fnp.fmin, ("any", "any")),
    "fmod": (fnp.fmod, ("any", "above1")),
    "heaviside": (fnp.heaviside, ("any", "any")),
    "arctan2": (fnp.arctan2, ("any", "above1")),
}
# the same functions of complex numbers, where they are holomorphic
COMPLEX_GRADS = ["sinc", "logaddexp"]


@pytest.mark.parametrize("name", sorted(GRADS))
def test_derivatives_against_finite_differences(name, x64):
    fn, domains = GRADS[name]
    args = [operand(F64, (), d, seed=i) for i, d in enumerate(domains)]
    check_grads(fn, args, order=2)


@pytest.mark.parametrize("name", COMPLEX_GRADS)
def test_complex_derivatives_against_finite_differences(name, x64):
    fn, domains = GRADS[name]
    args = [operand(np.dtype(np.complex128), (2,), d if d != "above1" else "positive",
                    seed=i) + (1.5 if d == "above1" else 0) for i, d in enumerate(domains)]
    # Forward mode of complex-valued functions; reverse mode through a real part, the
    # convention fgrad.testing's finite differences assume.
    check_grads(fn, args, order=2, modes=("fwd",))
    check_grads(lambda *a: fnp.real(fn(*a) * fnp.conj(fn(*a))), args, order=2)


def nested_grads(f, jf, x, orders):
    """The first `orders` derivatives of f and jf at x agree (each under its own jit: one
    compilation instead of one per operation)."""
    for _ in range(orders):
        f, jf = fgrad.grad(f), jax.grad(jf)
        assert_same(fgrad.jit(f)(x), jax.jit(jf)(x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name, x, orders", [
    ("sinc", 0.0, 4), ("i0", 0.0, 2), ("hypot", 0.0, 1), ("logaddexp", 0.0, 2),
    ("copysign", -0.0, 1), ("fabs", 0.0, 1),
])
def test_higher_derivatives_at_special_points_match_jax(name, x, orders, x64):
    """sinc's derivatives at 0 are exact at every order (-pi**2 / 3 the second, pi**4 / 5
    the fourth); i0's are 0 there; logaddexp at a tie; hypot at 0 and abs' kink."""
    two = {"hypot": 0.0, "logaddexp": x, "copysign": 1.5}
    if name in two:
        f = lambda x: getattr(fnp, name)(x, two[name])  # noqa: E731
        jf = lambda x: getattr(jnp, name)(x, two[name])  # noqa: E731
    else:
        f, jf = getattr(fnp, name), getattr(jnp, name)
    nested_grads(f, jf, x, orders)


def test_spacing_and_nextafter_have_no_derivative():
    with pytest.raises(Exception, match="nextafter"):
        fgrad.grad(fnp.spacing)(1.0)
    with pytest.raises(Exception, match="nextafter"):
        jax.grad(jnp.spacing)(1.0)


def test_logaddexp_at_infinities_matches_jax(x64):
    x = np.array([-np.inf, np.inf, -np.inf, 2.0])
    y = np.array([-np.inf, np.inf, 1.0, 2.0])
    for fn, jfn in [(fnp.logaddexp, jnp.logaddexp), (fnp.logaddexp2, jnp.logaddexp2)]:
        ct = np.ones(4)
        got = fgrad.vjp(fn, x, y)[1](ct)
        want = jax.jit(lambda x, y, ct: jax.vjp(jfn, x, y)[1](ct))(x, y, ct)
        for g, w in zip(got, want):
            assert_same(g, w)
    x = np.array([0.0, 1.0, -2.0, np.inf])
    assert_same(fgrad.jvp(fnp.frexp, (x,), (np.ones(4),))[1][0],
                jax.jit(lambda x, t: jax.jvp(jnp.frexp, (x,), (t,))[1][0])(x, np.ones(4)))


# -- fgrad.vmap, fgrad.jit and jax.jit ----------------------------------------------------------

MAPPED = ["sinc", "frexp", "logaddexp", "gcd"]


@pytest.mark.parametrize("name", MAPPED)
def test_vmap_and_jit_match_jax(name):
    dtype = I32 if name in ("gcd", "left_shift", "right_shift", "bitwise_count") else F32
    args = operands(name, dtype, (4, 3), seed=5)
    fn, jfn = getattr(fnp, name), getattr(jnp, name)
    want = jax.jit(jax.vmap(jfn))(*args)  # also what jnp computes on the whole arrays
    for got in (fgrad.vmap(fn)(*args), fgrad.jit(fn)(*args), jax.jit(fn)(*args)):
        for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
            assert_same(g, w, rtol=1e-6, atol=1e-7)


def test_packbits_under_vmap_and_jit():
    bits = operand(BOOL, (4, 2, 11), seed=6)
    f = functools.partial(fnp.packbits, axis=1)
    want = jax.vmap(functools.partial(jnp.packbits, axis=1))(bits)
    assert_same(fgrad.vmap(f)(bits), want)
    assert_same(fgrad.jit(f)(bits), jnp.packbits(bits, axis=1))
    packed = np.asarray(want)
    g = functools.partial(fnp.unpackbits, axis=0, count=9)
    assert_same(fgrad.vmap(g, in_axes=1)(packed),
                jax.vmap(functools.partial(jnp.unpackbits, axis=0, count=9), in_axes=1)(packed))


# -- dtype utilities -------------------------------------------------------------------------

DTYPE_NAMES = [bool, int, float, complex, "bool", "int8", "uint8", "int16", "uint32",
               "int64", "uint64", "float16", "bfloat16", "float32", "float64", "complex64",
               "complex128"]


@pytest.mark.parametrize("x64_on", [False, True])
def test_promote_types_and_result_type(x64_on, request):
    if x64_on:
        request.getfixturevalue("x64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 64-bit names without x64
        for a in DTYPE_NAMES:
            for b in DTYPE_NAMES:
                assert fnp.promote_types(a, b) == jnp.promote_types(a, b), (a, b)
                assert fnp.result_type(a, b) == jnp.result_type(a, b), (a, b)
    values = [np.ones(2, np.int8), 2.0, 3, np.float32(1), jnp.ones(2, jnp.bfloat16), 1j,
              fnp.float32, jnp.int16, None]
    for a in values:
        assert fnp.result_type(a) == jnp.result_type(a), a
        for b in values:
            assert fnp.result_type(a, b) == jnp.result_type(a, b), (a, b)
    with pytest.raises(ValueError):
        fnp.result_type()


@pytest.mark.parametrize("x64_on", [False, True])
def test_weak_operands_of_any_width_promote_as_in_jax(x64_on, request):
    # All operands weak: the bound of their dtypes taken as strong, made weak (JAX's rule).
    # A weak array of a width that is not the default (float16, or float32 under x64)
    # keeps it beside a Python int, and a Python float's own width joins the bound.
    if x64_on:
        request.getfixturevalue("x64")
    weak = [fgrad.lax.convert_element_type(jnp.ones(2), d, weak_type=True)
            for d in (jnp.float16, jnp.float32, jnp.int16, jnp.int32, jnp.complex64)]
    values = [*weak, jnp.ones(2), 3, 2.5, 1j, np.float32(1), jnp.ones(2, jnp.float16)]
    for a in values:
        for b in values:  # types only: traced, nothing compiled
            [ours] = fgrad.make_ir(lambda: fnp.add(a, b))().out_avals
            theirs = jax.eval_shape(lambda: jnp.add(a, b))
            assert (ours.dtype, ours.weak_type) == (theirs.dtype, theirs.weak_type), (a, b)


def test_result_type_is_what_fgrad_computes():
    """result_type of values (traced ones too) is the dtype fgrad.numpy gives their sum."""
    x, y = np.ones(2, np.int8), np.ones(2, np.uint8)

    def check(a, b):
        assert fnp.result_type(a, b) == fnp.add(a, b).dtype
        return a

    check(x, y)
    check(x, 2.5)
    fgrad.make_ir(lambda a: check(a, y))(np.ones(2, np.float16))


def test_dtype_predicates():
    kinds = ["bool", "signed integer", "unsigned integer", "integral", "real floating",
             "complex floating", "numeric", np.float32, ("bool", "complex floating")]
    for name in DTYPE_NAMES[4:]:
        for kind in kinds:
            assert fnp.isdtype(name, kind) == jnp.isdtype(name, kind), (name, kind)
        for family in (np.floating, np.integer, np.inexact, np.signedinteger, np.number,
                       np.complexfloating, np.float32):
            assert fnp.issubdtype(name, family) == jnp.issubdtype(name, family), (name, family)
    with pytest.raises(ValueError):
        fnp.isdtype("float32", "reals")
    with pytest.raises(TypeError):
        fnp.isdtype("float32", 3)


def test_object_predicates():
    values = [1, 1.0, 1j, True, np.float32(1), np.complex64(1), np.ones(()), np.ones(2),
              jnp.ones(()), jnp.ones(2, jnp.complex64), [1, 2], [1j], "a", None, (1,)]
    for v in values:
        for name in ("iscomplexobj", "isrealobj", "isscalar", "iterable"):
            assert getattr(fnp, name)(v) == getattr(jnp, name)(v), (name, v)

    def inside(x):
        assert fnp.isscalar(x[0]) and not fnp.isscalar(x)
        assert fnp.iscomplexobj(x * 1j) and fnp.isrealobj(x)
        return x

    fgrad.make_ir(inside)(np.ones(3))
    jax.jit(inside)(np.ones(3))


def test_numpy_objects_as_jax_numpy_has_them():
    assert fnp.finfo is jnp.finfo and fnp.iinfo is jnp.iinfo
    assert fnp.finfo(fnp.bfloat16).bits == 16 and fnp.iinfo(fnp.int8).max == 127
    for name in ("can_cast", "iterable", "array_repr", "array_str"):
        assert getattr(fnp, name) is getattr(jnp, name)
    assert fnp.can_cast(np.int8, np.float32) and not fnp.can_cast(np.float32, np.int8)
    before = fnp.get_printoptions()
    assert before == jnp.get_printoptions()
    with fnp.printoptions(precision=2):
        assert fnp.get_printoptions()["precision"] == 2
        assert fnp.array_str(jnp.array([1.23456])) == "[1.23]"
    fnp.set_printoptions(precision=3)
    try:
        assert jnp.get_printoptions()["precision"] == 3
    finally:
        fnp.set_printoptions(**before)
