"""JAX's derivative of every primitive's *lowering* equals fgrad's own rules.

fgrad code also runs inside JAX's transforms: under `jax.grad(f)` (or eqx.filter_grad,
optax, ...) with `f` calling fgrad, each primitive runs its `lower(...)` on JAX tracers and
JAX differentiates the jax.lax calls it makes. A lowering that computes the right value with
the wrong derivative (stop_gradient once lowered to the identity, so
`jax.grad(lambda x: fgrad.stop_gradient(x) * x)(2.0)` was 4.0, not 2.0) is invisible to
fgrad's own transforms and to forward tests. So for every registered primitive, on examples
in its domain and away from its kinks and ties:

1. forward: `jax.jvp` of `prim.lower` against `fgrad.jvp` of `prim.bind` (fgrad's JVP rule);
2. reverse: `jax.vjp` of the lowering against `fgrad.vjp` of bind (JVP rule, partial
   evaluation and transpose rules);
3. second order, where a float output depends on a float operand: the Hessian-vector product
   of sum(w * out**3) with random w, `jax.jvp(jax.grad(.))` against
   `fgrad.jvp(fgrad.grad(.))` (a cube rather than a square, which would make sqrt's
   Hessian vanish).

Float operands are the differentiated arguments; integer and boolean ones (indices,
selectors) are fixed. A primitive without a float operand is differentiated in all of its
operands with float0 tangents, so integer and boolean outputs are still checked to carry
float0 tangents on both sides. A registered primitive without an example fails
`test_every_primitive_has_an_example` (and its own test), naming it.

To add an example, call `example(label, fn, *operands)` in `_table()` below, where `fn`
calls one public fgrad function on `operands`: its *last* equation is the example (the
primitive and its params are read off the program, the operands are `operands` or
literals). Random primitives take PRNG keys: pass a key (e.g. `jax.random.key(0)`) as an
operand like any other; it is not float, so it is fixed (or, when the primitive has no
float operand at all, differentiated with a float0 tangent, as JAX does).

JAX's side runs under jax.jit, its three derivatives of one example in one compiled program
(compiling is most of this file's time); fgrad's side runs eagerly.

JAX_DIFFERS lists the cases where JAX's derivative of a lowering is not fgrad's, and why
fgrad keeps its own (strict xfails: each must keep failing exactly so, or be moved out);
REFUSED the primitives neither side differentiates on purpose. docs/interop.md lists both.
"""

from __future__ import annotations

import functools
import zlib
from typing import Callable, NamedTuple

import jax
import numpy as np
import pytest
from jax import lax

import fgrad
import oracle
from fgrad import lax as fl
from fgrad.lax import control_flow as cf
from fgrad.lax import custom as fcustom
from fgrad.lax import debugging as fdebugging
from fgrad.lax import remat as fremat
from fgrad.lax import linalg as fll
from fgrad.lax import random as fr
from fgrad.lax import primitives as all_primitives
from fgrad.core import Aval, Literal, MissingRuleError, Primitive, aval_of
from fgrad.core import dtypes as dt
from fgrad.core.dtypes import float0
from fgrad.core.ir import is_key
from fgrad.transforms.rules import jvp_rules, transpose_rules

pytestmark = pytest.mark.usefixtures("x64", "quick_compile")


# Primitives with no derivative on purpose: both JAX (for the lowering) and fgrad must refuse
# to differentiate them. name -> reason.
REFUSED = {
    "nextafter": "the next float after x towards y moves by one ulp: neither constant nor the "
                 "identity to a differentiator, and JAX defines no JVP for lax.nextafter",
}

# Where JAX's derivative of the lowering is not fgrad's, and fgrad is right: JAX has no rule
# (scatter_mul in repeated updates) or a NaN where the derivative exists (x**1 at 0). Making
# JAX agree would need a custom JAX derivative on the lowering, which fgrad does not use, so
# these stay documented differences (docs/interop.md), checked to stay exactly as they are:
# (check, case id) -> (what the check raises, reason); check is "jvp", "vjp" or "hvp", and
# AssertionError means differing values. fgrad's side of both is checked against finite
# differences in tests/test_ad_indexing.py and tests/test_ad_elementwise.py.
_SCATTER_MUL = (
    NotImplementedError,
    "JAX cannot differentiate lax.scatter_mul in its updates without unique_indices=True, "
    "so under jax.grad fgrad's scatter_mul raises where fgrad.grad applies its product rule")
_POW_AT_ZERO = (
    AssertionError,
    "second derivative of pow(x, y) with an integer y = 1 at x = 0: fgrad gives 0 (d2/dx2 x "
    "= 0), JAX's rule for lax.pow gives NaN (it computes y * x**(y - 1) with a float "
    "exponent, whose derivative at 0 is 0 * 0**-1)")
JAX_DIFFERS: dict[tuple[str, str], tuple[type, str]] = {
    **{(check, case): _SCATTER_MUL for check in ("jvp", "vjp", "hvp")
       for case in ("scatter_mul:rows, repeated", "scatter_mul:out of bounds, clip")},
    ("hvp", "pow:int exponent, base 0"): _POW_AT_ZERO,
    # Gamma samples' second derivative: fgrad has no rule for random_gamma_grad (JAX's
    # implicit derivative, a series approximation), so it refuses; JAX forward-differentiates
    # the approximation's code and returns a number that disagrees with finite differences
    # of its own first derivative (0.055 against 0.063 for a = 1.7, key 0, float64), and
    # refuses in reverse mode.
    **{("hvp", f"random_gamma:{label}"): (
        MissingRuleError, "fgrad refuses the second derivative of a gamma sample")
       for label in ("key<fry>[] f64[2,3]", "log space", "2 keys")},
    # A while loop: JAX reverse-differentiates none; fgrad refuses one without max_steps (as
    # JAX does) and differentiates a bounded one as a scan (fgrad's side is checked against
    # JAX's scan in tests/test_control_flow.py).
    **{(check, f"while:max_steps={steps}"): (error, reason)
       for check in ("vjp", "hvp") for steps, error, reason in (
           (None, ValueError, "neither side reverse-differentiates an unbounded while"),
           (30, ValueError, "JAX cannot reverse-differentiate lax.while_loop; fgrad bounds it"))},
    # A hook's host call: fgrad differentiates it straight through (fgrad/lax/debugging.py);
    # JAX differentiates no io_callback.
    **{(check, "hook_apply:f64[2,3]"): (ValueError, "JAX does not differentiate io_callback")
       for check in ("jvp", "vjp", "hvp")},
    ("jvp", "random_gamma_grad:f64[2,3] f64[2,3]"): (
        MissingRuleError, "random_gamma_grad has no derivative in fgrad"),
    ("vjp", "random_gamma_grad:f64[2,3] f64[2,3]"): (
        ValueError, "JAX cannot reverse-differentiate random_gamma_grad's while loop"),
    ("hvp", "random_gamma_grad:f64[2,3] f64[2,3]"): (
        ValueError, "JAX cannot reverse-differentiate random_gamma_grad's while loop"),
}

# (rtol, atol) by dtype; see _assert_close. float32 values appear in convert_element_type
# and dot_general examples.
TOLERANCES = {np.dtype(np.float64): (1e-10, 1e-12), np.dtype(np.float32): (1e-5, 1e-6),
              np.dtype(np.complex128): (1e-10, 1e-12)}  # complex parts (real, conj, ...)


# -- the table of examples --------------------------------------------------------------------


class Case(NamedTuple):
    name: str  # the primitive's
    label: str
    prim: Primitive
    operands: tuple  # every operand's value, in bind order
    params: dict
    diff: tuple  # positions of the differentiated operands
    out_avals: tuple  # the primitive's output types (one per result)

    @property
    def id(self) -> str:
        return f"{self.name}:{self.label}"

    @property
    def float_out(self) -> tuple:
        return tuple(dt.is_inexact(a.dtype) for a in self.out_avals)

    @property
    def has_float32(self) -> bool:
        avals = [aval_of(x) for x in self.operands] + list(self.out_avals)
        return any(not is_key(a.dtype) and a.dtype == np.float32 for a in avals)

    @property
    def float_in(self) -> bool:
        return any(dt.is_inexact(aval_of(self.operands[i]).dtype) for i in self.diff)


def _differentiated(operands) -> tuple:
    floats = tuple(i for i, x in enumerate(operands) if dt.is_inexact(aval_of(x).dtype))
    # No float operand (bitwise ops, integer conversions, iota, keys): differentiate all of
    # them with float0 tangents, as JAX lets one do.
    return floats or tuple(range(len(operands)))


def _read_example(label: str, fn: Callable, operands, diff=None) -> Case:
    """The last equation of fn(*operands)'s program, with its operands' values.

    `diff` (positions) overrides which operands are differentiated."""
    program = fgrad.make_ir(fn)(*operands)
    eqn = program.eqns[-1]
    env = dict(zip(program.constvars, program.constvals))
    env.update(zip(program.inputs, operands))
    values = []
    for a in eqn.inputs:
        if isinstance(a, Literal):
            values.append(a.value)
        elif a in env:
            values.append(env[a])
        else:
            raise AssertionError(f"example {label!r}: operand {a} of {eqn.primitive.name} is "
                                 f"computed inside fn; pass it as an operand instead")
    values = tuple(values)
    label = label or " ".join(str(aval_of(x)) for x in values)
    return Case(eqn.primitive.name, label, eqn.primitive, values, dict(eqn.params),
                _differentiated(values) if diff is None else tuple(diff),
                tuple(v.aval for v in eqn.outputs))


def _table() -> list[Case]:  # noqa: C901 (a table)
    cases: list[Case] = []
    rng = np.random.default_rng(20240612)

    def example(label, fn, *operands, diff=None):
        cases.append(_read_example(label, fn, operands, diff))

    def normal(*shape):
        return rng.standard_normal(shape)

    def uniform(lo, hi, *shape):
        return rng.uniform(lo, hi, shape)

    def away(*shape, lo=0.5, hi=2.0):
        """|x| in [lo, hi], either sign: away from 0, the kink of abs and sign."""
        return rng.uniform(lo, hi, shape) * rng.choice([-1.0, 1.0], shape)

    def distinct(*shape):
        """Values at least 0.2 apart from each other: no ties for max, min, argmax."""
        n = int(np.prod(shape))
        return (rng.permutation(n) * 0.3 + rng.uniform(0, 0.1, n) - 0.15 * n).reshape(shape)

    def off_integers(*shape):
        """Fractional parts in [0.2, 0.8]: away from floor's and round's jumps and from
        round's halves."""
        return rng.integers(-3, 3, shape) + rng.uniform(0.2, 0.8, shape)

    def ints(lo, hi, *shape, dtype=np.int32):
        return rng.integers(lo, hi, shape).astype(dtype)

    def bools(*shape):
        return rng.random(shape) > 0.5

    S = (2, 3)

    # -- elementwise: one operand
    for label, fn, x in [
        ("", fl.neg, normal(*S)),
        ("", fl.abs, away(*S)),
        ("", fl.sign, away(*S)),
        ("", fl.floor, off_integers(*S)),
        ("", fl.ceil, off_integers(*S)),
        ("away from zero", fl.round, off_integers(*S)),
        ("to nearest even", lambda x: fl.round(x, 1), off_integers(*S)),
        ("", fl.exp, uniform(-2, 2, *S)),
        ("", fl.log, uniform(0.2, 3, *S)),
        ("", fl.log1p, uniform(-0.5, 2, *S)),
        ("", fl.expm1, uniform(-2, 2, *S)),
        ("", fl.sqrt, uniform(0.2, 3, *S)),
        ("", fl.rsqrt, uniform(0.2, 3, *S)),
        ("", fl.sin, uniform(-3, 3, *S)),
        ("", fl.cos, uniform(-3, 3, *S)),
        ("", fl.tan, uniform(-1.2, 1.2, *S)),
        ("", fl.tanh, uniform(-2, 2, *S)),
        ("", fl.asin, uniform(-0.9, 0.9, *S)),
        ("", fl.acos, uniform(-0.9, 0.9, *S)),
        ("", fl.atan, normal(*S)),
        ("", fl.sinh, uniform(-2, 2, *S)),
        ("", fl.cosh, uniform(-2, 2, *S)),
        ("", fl.logistic, uniform(-3, 3, *S)),
        ("", fl.erf, uniform(-2, 2, *S)),
        ("", fl.erf_inv, uniform(-0.9, 0.9, *S)),
        ("", fl.erfc, uniform(-2, 2, *S)),
        ("", fgrad.stop_gradient, normal(*S)),
        ("scalar", fl.exp, normal()),
        ("", fl.is_finite, np.array([[1.5, np.inf, -2.0], [np.nan, 0.25, -np.inf]])),
        ("bool", fl.bitwise_not, bools(*S)),
        ("int32", fl.bitwise_not, ints(-9, 9, *S)),
    ]:
        example(label, fn, x)

    # -- elementwise: two operands
    y_nonzero = away(*S)
    quotient = rng.integers(-3, 3, S) + rng.uniform(0.2, 0.8, S)  # x / y off the integers
    for label, fn, x, y in [
        ("", fl.add, normal(*S), normal(*S)),
        ("", fl.sub, normal(*S), normal(*S)),
        ("", fl.mul, normal(*S), normal(*S)),
        ("", fl.div, normal(*S), away(*S)),
        ("", fl.rem, quotient * y_nonzero, y_nonzero),
        ("", fl.max, normal(*S), normal(*S)),
        ("", fl.min, normal(*S), normal(*S)),
        ("float exponent", fl.pow, uniform(0.3, 2, *S), normal(*S)),
        ("int exponent", fl.pow, away(*S), np.array([[0, 1, 2], [3, -1, -2]], np.int32)),
        # 0 is inside pow's domain for non-negative integer exponents, and x**1 is smooth.
        ("int exponent, base 0", fl.pow, np.array([[0.0, 0.0, 0.0], [0.0, 1.5, -0.75]]),
         np.array([[0, 1, 2], [3, 1, 2]], np.int32)),
        ("", fl.atan2, normal(*S), normal(*S)),
        ("", fl.nextafter, normal(*S), normal(*S)),
        ("bool", fl.bitwise_and, bools(*S), bools(*S)),
        ("int32", fl.bitwise_and, ints(-9, 9, *S), ints(-9, 9, *S)),
        ("bool", fl.bitwise_or, bools(*S), bools(*S)),
        ("int32", fl.bitwise_or, ints(-9, 9, *S), ints(-9, 9, *S)),
        ("bool", fl.bitwise_xor, bools(*S), bools(*S)),
        ("int32", fl.bitwise_xor, ints(-9, 9, *S), ints(-9, 9, *S)),
    ]:
        example(label, fn, x, y)
    for fn in (fl.eq, fl.ne, fl.lt, fl.le, fl.gt, fl.ge):
        x = normal(*S)
        y = np.where(bools(*S), x, normal(*S))  # some equal elements: the output is bool
        example("", fn, x, y)
    example("weak scalars", fl.mul, oracle.make((), np.float64, seed=1, weak=True),
            oracle.make((), np.float64, seed=2, weak=True))
    # -- elementwise: inverse hyperbolics, roots, Bessel functions, complex parts, bits
    z = normal(*S) + 1j * normal(*S)
    for label, fn, operands in [
        ("", fl.asinh, [normal(*S)]),
        ("", fl.acosh, [uniform(1.2, 3, *S)]),
        ("", fl.atanh, [uniform(-0.8, 0.8, *S)]),
        ("", fl.cbrt, [away(*S)]),
        ("", fl.exp2, [uniform(-2, 2, *S)]),
        ("", fl.bessel_i0e, [away(*S)]),
        ("", fl.bessel_i1e, [uniform(-3, 3, *S)]),
        ("", fl.real, [z]),
        ("", fl.imag, [z]),
        ("complex", fl.conj, [z]),
        ("real", fl.conj, [normal(*S)]),
        ("", fl.complex, [normal(*S), normal(*S)]),
        ("", fl.shift_left, [ints(-9, 9, *S), ints(0, 5, *S)]),
        ("", fl.shift_right_arithmetic, [ints(-9, 9, *S), ints(0, 5, *S)]),
        ("", fl.shift_right_logical, [ints(-9, 9, *S), ints(0, 5, *S)]),
        ("", fl.population_count, [ints(-9, 9, *S)]),
        ("", fl.clz, [ints(-9, 9, *S)]),
        ("f64 -> int64", lambda x: fl.bitcast_convert_type(x, np.int64), [normal(*S)]),
        ("f64 -> f64", lambda x: fl.bitcast_convert_type(x, np.float64), [normal(*S)]),
    ]:
        example(label, fn, *operands)
    for y in (2, 3, -2, 1, 0):
        example(f"y={y}", lambda x, y=y: fl.integer_pow(x, y), away(*S))

    # -- selection, clamping, conversion
    example("bool selector", fl.select_n, bools(*S), normal(*S), normal(*S))
    example("int32 selector, 3 cases", fl.select_n, ints(0, 3, *S), normal(*S), normal(*S),
            normal(*S))
    inside = uniform(-0.4, 0.4, 4)
    outside = np.concatenate([uniform(-1, -0.6, 1), uniform(0.6, 1, 1)])
    example("below, inside, above", fl.clamp, uniform(-0.55, -0.45, 6),
            rng.permutation(np.concatenate([inside, outside])), uniform(0.45, 0.55, 6))
    example("f64 -> f32", lambda x: fl.convert_element_type(x, np.float32), normal(*S))
    example("f32 -> f64", lambda x: fl.convert_element_type(x, np.float64),
            normal(*S).astype(np.float32))
    example("f64 -> weak f64", lambda x: fl.convert_element_type(x, np.float64, True),
            normal(*S))
    example("f64 -> int32", lambda x: fl.convert_element_type(x, np.int32),
            off_integers(*S))
    example("int32 -> f64", lambda x: fl.convert_element_type(x, np.float64),
            ints(-9, 9, *S))

    # -- shapes
    example("(3, 1) -> (2, 3, 4)", lambda x: fl.broadcast_in_dim(x, (2, 3, 4), (1, 2)),
            normal(3, 1))
    example("scalar", lambda x: fl.broadcast_in_dim(x, S, ()), normal())
    example("", lambda x: fl.reshape(x, (3, 2)), normal(*S))
    example("", lambda x: fl.transpose(x, (2, 0, 1)), normal(2, 3, 4))
    example("", lambda x: fl.squeeze(x, (1,)), normal(2, 1, 3))
    example("", lambda x: fl.expand_dims(x, (0, 3)), normal(*S))
    example("", lambda x: fl.rev(x, (0, 1)), normal(*S))
    example("three operands", lambda a, b, c: fl.concatenate([a, b, c], 1),
            normal(2, 1), normal(2, 3), normal(2, 2))
    example("crop, interior", lambda x, v: fl.pad(x, v, ((1, -1, 1), (0, 2, 0))),
            normal(*S), normal())
    example("int32", lambda: fl.iota(np.int32, 4))
    example("f64", lambda: fl.broadcasted_iota(np.float64, S, 1))
    example("same dtype", lambda x: fl.full_like(x, 2.5), normal(*S))
    example("to int32", lambda x: fl.full_like(x, 3, np.int32), normal(*S))

    # -- indexing
    example("strided", lambda x: fl.slice(x, (1, 0), (4, 5), (2, 2)), normal(4, 5))
    example("inside", lambda x: fl.dynamic_slice(x, (1, 2), (2, 2)), normal(4, 5))
    example("clamped, int32 starts",
            lambda x, i, j: fl.dynamic_slice(x, (i, j), (3, 2), allow_negative_indices=False),
            normal(4, 5), np.int32(3), np.int32(9))
    example("inside", lambda x, u: fl.dynamic_update_slice(x, u, (1, 2)),
            normal(4, 5), normal(2, 2))
    example("clamped", lambda x, u: fl.dynamic_update_slice(x, u, (3, 4)),
            normal(4, 5), normal(3, 2))

    GDN, SDN, mode = lax.GatherDimensionNumbers, lax.ScatterDimensionNumbers, lax.GatherScatterMode
    rows = GDN(offset_dims=(1,), collapsed_slice_dims=(0,), start_index_map=(0,))
    points = GDN(offset_dims=(), collapsed_slice_dims=(0, 1), start_index_map=(0, 1))
    windows = GDN(offset_dims=(1, 2), collapsed_slice_dims=(), start_index_map=(1, 0))
    repeated = np.array([[2], [0], [2], [4]], np.int32)
    out_of_bounds = np.array([[1], [7], [-2], [4]], np.int32)
    example("rows, repeated", lambda x, i: fl.gather(x, i, rows, (1, 3)), normal(5, 3),
            repeated)
    example("points", lambda x, i: fl.gather(x, i, points, (1, 1)), normal(3, 4),
            np.array([[0, 1], [2, 3], [0, 1]], np.int32))
    example("overhanging windows, clip",
            lambda x, i: fl.gather(x, i, windows, (2, 2), mode="clip"), normal(4, 5),
            np.array([[0, 1], [3, 0], [2, 4]], np.int32))
    example("out of bounds, clip", lambda x, i: fl.gather(x, i, rows, (1, 2), mode="clip"),
            normal(5, 3), out_of_bounds)
    example("out of bounds, fill",
            lambda x, i: fl.gather(x, i, rows, (1, 2), mode="fill", fill_value=-3.5),
            normal(5, 3), out_of_bounds)
    example("out of bounds, promise_in_bounds",
            lambda x, i: fl.gather(x, i, rows, (1, 2), mode=mode.PROMISE_IN_BOUNDS),
            normal(5, 3), out_of_bounds)
    batched = GDN(offset_dims=(), collapsed_slice_dims=(1,), start_index_map=(1,),
                  operand_batching_dims=(0,), start_indices_batching_dims=(0,))
    example("batching dims", lambda x, i: fl.gather(x, i, batched, (1, 1)), normal(2, 4),
            np.array([[[1], [1]], [[0], [3]]], np.int32))

    elements = SDN(update_window_dims=(), inserted_window_dims=(0,),
                   scatter_dims_to_operand_dims=(0,))
    row_updates = SDN(update_window_dims=(1,), inserted_window_dims=(0,),
                      scatter_dims_to_operand_dims=(0,))
    unique = np.array([[3], [0], [4]], np.int32)
    collide = np.array([[1], [3], [1], [1], [0]], np.int32)
    rows_repeated = np.array([[1], [3], [1]], np.int32)
    for fn in (fl.scatter_add, fl.scatter, fl.scatter_mul):
        example("unique", lambda x, i, u, fn=fn: fn(x, i, u, elements, unique_indices=True),
                normal(5), unique, normal(3))
        example("rows, repeated", lambda x, i, u, fn=fn: fn(x, i, u, row_updates),
                normal(4, 3), rows_repeated, normal(3, 3))
        example("out of bounds, clip",
                lambda x, i, u, fn=fn: fn(x, i, u, elements, mode="clip"),
                normal(5), out_of_bounds, normal(4))
    # JAX differentiates a scatter_mul without unique_indices in its operand only (see
    # JAX_DIFFERS): check that path on its own.
    example("rows, repeated, operand only",
            lambda x, i, u: fl.scatter_mul(x, i, u, row_updates),
            normal(4, 3), rows_repeated, normal(3, 3), diff=(0,))
    for fn in (fl.scatter_add, fl.scatter):
        example("out of bounds, fill", lambda x, i, u, fn=fn: fn(x, i, u, elements),
                normal(5), out_of_bounds, normal(4))
        example("out of bounds, promise_in_bounds",
                lambda x, i, u, fn=fn: fn(x, i, u, elements, mode=mode.PROMISE_IN_BOUNDS),
                normal(5), out_of_bounds, normal(4))
    batched_updates = SDN(update_window_dims=(), inserted_window_dims=(1,),
                          scatter_dims_to_operand_dims=(1,), operand_batching_dims=(0,),
                          scatter_indices_batching_dims=(0,))
    example("batching dims", lambda x, i, u: fl.scatter_add(x, i, u, batched_updates),
            normal(2, 4), np.array([[[1], [1]], [[0], [3]]], np.int32), normal(2, 2))
    for fn in (fl.scatter_min, fl.scatter_max):
        # Distinct values everywhere: some updates beat the operand, some lose, and the
        # repeated index has one winner.
        values = distinct(10)
        example("repeated", lambda x, i, u, fn=fn: fn(x, i, u, elements),
                values[:5], collide, values[5:])
        example("unique", lambda x, i, u, fn=fn: fn(x, i, u, elements, unique_indices=True),
                values[:5], unique, values[5:8])

    # -- linalg
    example("matmul", lambda a, b: fl.dot_general(a, b, (((1,), (0,)), ((), ()))),
            normal(2, 3), normal(3, 4))
    example("batched", lambda a, b: fl.dot_general(a, b, (((2,), (1,)), ((0,), (0,)))),
            normal(2, 3, 4), normal(2, 4, 2))
    example("outer", lambda a, b: fl.dot_general(a, b, (((), ()), ((), ()))),
            normal(3), normal(2))
    example("f32 x f32 -> f64",
            lambda a, b: fl.dot_general(a, b, (((1,), (0,)), ((), ())),
                                        preferred_element_type=np.float64),
            normal(2, 3).astype(np.float32), normal(3, 4).astype(np.float32))
    example("int32", lambda a, b: fl.dot_general(a, b, (((1,), (0,)), ((), ()))),
            ints(-5, 5, 2, 3), ints(-5, 5, 3, 4))

    def spd(*batch, n=3):
        m = rng.standard_normal((*batch, n, n))
        return m @ np.swapaxes(m, -1, -2) + n * np.eye(n)

    def triangular(*shape):
        """Entries everywhere (the solve reads one triangle), a diagonal away from 0."""
        a = rng.standard_normal(shape)
        n = shape[-1]
        a[..., range(n), range(n)] = away(*shape[:-2], n, lo=1.0, hi=2.0)
        return a

    example("3x3", lambda x: fll.cholesky(x, symmetrize_input=False), spd())
    example("batch of 2", lambda x: fll.cholesky(x, symmetrize_input=False), spd(2))
    for label, kwargs, a, b in [
        ("left, lower", dict(left_side=True, lower=True), triangular(3, 3), normal(3, 2)),
        ("right, upper, transpose_a", dict(lower=False, transpose_a=True), triangular(3, 3),
         normal(2, 3)),
        ("left, unit_diagonal", dict(left_side=True, lower=True, unit_diagonal=True),
         triangular(3, 3), normal(3, 2)),
        ("batch of 2, left, upper", dict(left_side=True), triangular(2, 3, 3),
         normal(2, 3, 2)),
    ]:
        example(label, lambda a, b, kwargs=kwargs: fll.triangular_solve(a, b, **kwargs), a, b)

    # -- random: keys are fixed operands (no tangent); a batch of 2 keys runs jax.lax.map
    key = jax.random.key(0)
    keys = jax.random.split(jax.random.key(1), 2)
    f64 = np.dtype(np.float64)
    example("seed", lambda s: fr.random_seed(s, "threefry2x32"), np.int32(7))
    example("2 seeds", lambda s: fr.random_seed(s, "threefry2x32"), np.array([3, 4], np.int32))
    example("", lambda d: fr.random_wrap(d, "threefry2x32"), np.array([0, 5], np.uint32))
    example("", fr.random_unwrap, keys)
    example("", lambda k: fr.random_split(k, (3,)), key)
    example("2 keys", lambda k: fr.random_split(k, (2,)), keys)
    example("", fr.random_fold_in, keys, np.array([5, 6], np.uint32))
    example("", lambda k: fr.random_bits(k, 32, S), key)
    for name in ("uniform", "normal", "exponential", "laplace", "logistic", "cauchy",
                 "maxwell"):
        sampler = getattr(fr, f"random_{name}")
        example("", lambda k, sampler=sampler: sampler(k, S, f64), key)
    example("2 keys", lambda k: fr.random_normal(k, (3,), f64), keys)
    example("", lambda k: fr.random_rademacher(k, S, np.dtype(np.int32)), key)
    example("", lambda k: fr.random_gumbel(k, S, f64, "low"), key)
    example("", lambda k: fr.random_generalized_normal(k, 1.5, S, f64), key)
    example("", lambda k: fr.random_ball(k, 3, 2.0, (2,), f64), key)
    example("", lambda k: fr.random_orthogonal(k, 3, 3, (), f64), key)
    example("", lambda k, p: fr.random_bernoulli(k, p, S), key, uniform(0.2, 0.8, *S))
    example("", lambda k, lo, hi: fr.random_randint(k, lo, hi, S, np.dtype(np.int32)), key,
            np.int32(-3), np.int32(9))
    example("", lambda k, lam: fr.random_poisson(k, lam, S, np.dtype(np.int32)), key,
            uniform(1.0, 4.0, *S))
    example("", lambda k, p: fr.random_geometric(k, p, S, np.dtype(np.int32)), key,
            uniform(0.2, 0.8, *S))
    example("", lambda k, n, p: fr.random_binomial(k, n, p, S, f64), key,
            np.full(S, 5.0), uniform(0.2, 0.8, *S))
    example("", lambda k, n, p: fr.random_multinomial(k, n, p, (2, 3), f64), key,
            np.full((2,), 6.0), np.array([0.2, 0.3, 0.5]))
    example("", lambda k, logits: fr.random_categorical(k, logits, 1, (2,), True, "low"), key,
            normal(*S))
    example("", lambda k: fr.random_choice(k, 5, (3,), False), key)
    example("with p", lambda k, p: fr.random_choice(k, 4, (3,), True, p), key,
            np.array([0.1, 0.2, 0.3, 0.4]))
    example("", lambda k: fr.random_permutation(k, (5,), 0), key)
    example("", lambda k, a: fr.random_gamma(k, a), key, uniform(0.5, 3.0, *S))
    example("log space", lambda k, a: fr.random_gamma(k, a, log_space=True), key,
            uniform(0.5, 3.0, *S))
    example("2 keys", lambda k, a: fr.random_gamma(k, a), keys, uniform(0.5, 3.0, 2, 3))
    example("", fr.random_gamma_grad, uniform(0.5, 3.0, *S), uniform(0.5, 3.0, *S))

    # -- reductions
    example("axis 1", lambda x: fl.reduce_sum(x, (1,)), normal(*S))
    example("all axes", lambda x: fl.reduce_sum(x, (0, 1)), normal(*S))
    example("axis 1", lambda x: fl.reduce_prod(x, (1,)), normal(2, 5))
    example("all axes, one zero", lambda x: fl.reduce_prod(x, (0, 1)),
            np.array([[0.5, -1.5, 0.0], [2.0, 0.75, -1.25]]))
    for fn in (fl.reduce_max, fl.reduce_min):
        example("axis 1", lambda x, fn=fn: fn(x, (1,)), distinct(*S))
        example("all axes", lambda x, fn=fn: fn(x, (0, 1)), distinct(*S))
    for fn in (fl.argmax, fl.argmin):
        example("axis 1", lambda x, fn=fn: fn(x, 1, np.int32), distinct(*S))
    example("axis 1", lambda x: fl.cumsum(x, 1), normal(*S))
    example("axis 0, reverse", lambda x: fl.cumsum(x, 0, reverse=True), normal(*S))

    # -- sorting and running reductions (fgrad/lax/sorting.py): values of their own seed, so
    # the examples after them keep theirs
    own = np.random.default_rng(5)
    apart = (own.permutation(6) * 0.3 + own.uniform(0, 0.1, 6) - 0.9).reshape(S)  # no ties
    example("dimension 1", lambda x: fl.sort(x, 1), apart)
    example("two keys and a value", lambda k, x, v: fl.sort((k, x, v), 0, num_keys=2),
            own.integers(0, 2, S).astype(np.int32), apart, own.standard_normal(S))
    example("k=2", lambda x: fl.top_k(x, 2), apart)
    example("axis 1", lambda x: fl.cumprod(x, 1), own.standard_normal(S))
    example("axis 1, zeros", lambda x: fl.cumprod(x, 1),
            np.array([[0.5, 0.0, 2.0], [0.0, -1.5, 0.0]]))
    for fn in (fl.cummax, fl.cummin):
        example("axis 1", lambda x, fn=fn: fn(x, 1), apart)
        example("axis 0, reverse", lambda x, fn=fn: fn(x, 0, True), apart)
    example("axis 1", lambda x: fl.cumlogsumexp(x, 1), own.standard_normal(S))

    # -- control flow: the sub-programs are the user's functions, traced (make_ir)
    x, y = normal(*S), normal(*S)
    branches = tuple(fgrad.make_ir(b)(x, y) for b in (
        lambda a, b: (fl.mul(a, b), fl.sin(a)), lambda a, b: (fl.exp(b), fl.mul(a, a))))
    for index in (0, 1):
        example(f"branch {index}", lambda i, a, b: cf.cond_p.bind(i, a, b, branches=branches),
                np.int32(index), x, y)
    w, h0, xs = normal(3, 3) * 0.5, normal(3), normal(4, 3)
    body = fgrad.make_ir(lambda w, h, x: (fl.tanh(fl.add(fl.dot_general(
        w, h, (((1,), (0,)), ((), ()))), x)), fl.mul(h, h)))(w, h0, xs[0])
    for reverse in (False, True):
        example("reverse" if reverse else "forward", lambda w, h, xs: cf.scan_p.bind(
            w, h, xs, body=body, n_consts=1, n_carry=1, length=4, reverse=reverse, unroll=1),
            w, h0, xs)
    a0 = np.array([1.5, 2.5])
    test = fgrad.make_ir(lambda x: fl.gt(fl.reduce_max(fl.abs(x), (0,)), 1e-3))(a0)
    halve = fgrad.make_ir(lambda a, x: fl.mul(fl.mul(x, a), np.full(2, 0.5)))(a0, a0)
    for steps in (None, 30):
        example(f"max_steps={steps}", lambda a, x: cf.while_p.bind(
            a, x, cond=test, body=halve, n_cond_consts=0, n_body_consts=1, max_steps=steps),
            np.array([0.9, 0.7]), a0)

    # -- custom rules, checkpoints and solves (fgrad/lax/custom.py, remat.py, implicit.py)
    x, y = normal(*S), away(*S)
    # The values a rule closes over lead the operands: not differentiated (that is an error).
    example("", _sin_twice_cos, x, diff=(1,))                     # custom_jvp_call
    example("", lambda a, b: _cube(a, b), x, y, diff=(1, 2))      # custom_vjp_call
    bwd = fgrad.make_ir(lambda r, ct: (fl.mul(fl.mul(r, ct), np.full(S, 2.0)),))(x, y)
    example("", lambda r, t: fcustom.custom_lin_p.bind(
        r, t, bwd=bwd, n_consts=0, n_res=1, name=fcustom._Named(_cube)), x, y)
    body = fgrad.make_ir(lambda a, b: (fl.mul(fl.sin(a), b), fl.exp(b)))(x, y)
    for differentiated in (False, True):
        example(f"differentiated={differentiated}", lambda a, b: fremat.checkpoint_p.bind(
            a, b, body=body, policy=fgrad.checkpoint_policies.nothing_saveable,
            prevent_cse=True, differentiated=differentiated), x, y)
    example("", lambda a: fgrad.checkpoint_name(a, "h"), x)

    # -- debugging (fgrad/lax/debugging.py, effects.py): identities and a callback
    example("", lambda a: fgrad.tag(a, "t"), x)
    example("", lambda a: fgrad.hook(a, _observe), x)
    example("", lambda a: fdebugging.hook_ct_p.bind1(a, fn=fdebugging.HookFn(_observe)), x)
    example("", lambda a: fdebugging.hook_apply_p.bind1(
        a, fn=fdebugging.HookFn(_observe), n_batch=0, shape=S), x)
    example("", lambda a: (fgrad.debug.callback(_observe, a), a)[1], x)
    spd = normal(3, 3)
    spd = spd @ spd.T + 3 * np.eye(3)
    example("symmetric", lambda m, b: fl.custom_linear_solve(
        lambda v: fl.dot_general(m, v, (((1,), (0,)), ((), ()))), b, _cholesky_solve(m),
        symmetric=True), spd, normal(3))

    # Each family below draws from its own generator, so its rows never move another's values.
    # -- factorizations (fgrad/lax/factorizations.py)
    from fgrad.lax import factorizations as ffact
    fr_rng = np.random.default_rng(1616)
    for label, shape in [("4x3", (4, 3)), ("batch of 2, 2x3", (2, 2, 3))]:
        example(label, ffact.lu, fr_rng.standard_normal(shape))
    example("", lambda p: ffact.lu_pivots_to_permutation(p, 4), np.array([2, 3, 2], np.int32))
    # (not wide and pivoted, where JAX's rule uses the unpermuted columns, nor a batch of
    # pivoted ones, where it fails: tests/test_lax_factorizations.py checks those)
    for label, shape, options in [
        ("4x3 full", (4, 3), {}),
        ("3x4", (3, 4), {}),
        ("3x2 reduced, pivoting", (3, 2), dict(pivoting=True, full_matrices=False)),
    ]:
        example(label, lambda x, o=options: ffact.qr(x, **o), fr_rng.standard_normal(shape))
    example("complex 3x2 full", ffact.qr,
            fr_rng.standard_normal((3, 2)) + 1j * fr_rng.standard_normal((3, 2)))

    # -- eigen (fgrad/lax/eigen.py)
    r = np.random.default_rng(16016)

    def hermitian(*shape, complex_=False):
        """Well-separated spectra: the eigenvector rules divide by eigenvalue gaps."""
        m = r.standard_normal(shape) + (1j * r.standard_normal(shape) if complex_ else 0)
        return m + np.conj(np.swapaxes(m, -1, -2)) + np.diag(np.arange(shape[-1]) * 3.0)

    def general(*shape, complex_=False):
        return r.standard_normal(shape) + (1j * r.standard_normal(shape) if complex_ else 0)

    for label, kwargs, a in [("3x3", {}, hermitian(3, 3)),
                             ("upper, batch of 2", dict(lower=False), hermitian(2, 3, 3)),
                             ("complex", {}, hermitian(3, 3, complex_=True))]:
        example(label, lambda a, kwargs=kwargs: fl.eigen.eigh(a, symmetrize_input=False,
                                                              **kwargs), a)
    for label, kwargs, a in [
        ("3x3, full", {}, general(3, 3)),
        ("4x2, reduced", dict(full_matrices=False), general(4, 2)),
        ("batch of 2, 2x4, reduced", dict(full_matrices=False), general(2, 2, 4)),
        ("4x3, values only", dict(compute_uv=False), general(4, 3)),
        ("complex 2x3, reduced", dict(full_matrices=False), general(2, 3, complex_=True)),
    ]:
        example(label, lambda a, kwargs=kwargs: fl.eigen.svd(a, **kwargs), a)
    for label, kwargs, a in [
        ("eigenvalues only", dict(compute_left_eigenvectors=False,
                                  compute_right_eigenvectors=False), general(3, 3)),
        ("eigenvectors", dict(enable_eigvec_derivs=True), general(2, 3, 3)),
        ("complex, left only", dict(compute_right_eigenvectors=False,
                                    enable_eigvec_derivs=True), general(3, 3, complex_=True)),
    ]:
        example(label, lambda a, kwargs=kwargs: fl.eigen.eig(a, **kwargs), a)
    # schur has no derivative on either side (JAX defines none for lax.linalg.schur).
    example("real, batch of 2", fl.eigen.schur, general(2, 3, 3))
    example("complex, no vectors", lambda a: fl.eigen.schur(a, compute_schur_vectors=False),
            general(3, 3, complex_=True))
    REFUSED["schur"] = ("the Schur vectors are not unique, and JAX defines no derivative of "
                        "lax.linalg.schur, so neither side differentiates it")

    # -- fft (fgrad/lax/fft.py)
    from fgrad.lax.fft import fft as lax_fft
    r = np.random.default_rng(1616)

    def spectrum(*shape):
        return r.standard_normal(shape) + 1j * r.standard_normal(shape)

    for label, fft_type, lengths, operand in [
        ("FFT 1-d", "FFT", (5,), spectrum(2, 5)),
        ("IFFT 2-d", "IFFT", (3, 4), spectrum(3, 4)),
        ("RFFT 1-d even", "RFFT", (6,), r.standard_normal((2, 6))),
        ("RFFT 2-d odd", "RFFT", (3, 5), r.standard_normal((3, 5))),
        ("IRFFT 1-d even", "IRFFT", (6,), spectrum(2, 4)),
        ("IRFFT 3-d odd", "IRFFT", (2, 3, 5), spectrum(2, 3, 3)),
    ]:
        example(label, lambda x, t=fft_type, n=lengths: lax_fft(x, t, n), operand)

    # -- special (fgrad/lax/special.py)
    rs = np.random.default_rng(1616)
    fl_special = fl.special  # the module, whatever fgrad.lax exports
    orders = np.array([[0.0, 1.0, 2.0], [3.0, 1.0, 0.0]])  # polygamma's m: fixed (diff=(1,))
    shape_a, shape_b = rs.uniform(0.5, 3, S), rs.uniform(0.5, 3, S)
    for label, fn, operands, diff in [
        ("positive", fl_special.lgamma, [rs.uniform(0.3, 4, S)], None),
        ("negative, between poles", fl_special.lgamma,
         [-rs.integers(0, 3, S) - rs.uniform(0.2, 0.8, S)], None),
        ("", fl_special.digamma, [rs.uniform(0.3, 4, S)], None),
        ("in x", fl_special.polygamma, [orders, rs.uniform(0.5, 3, S)], (1,)),
        ("in x", fl_special.igamma, [shape_a, rs.uniform(0.2, 4, S)], (1,)),
        ("in a and x", fl_special.igamma, [shape_a, rs.uniform(0.2, 4, S)], None),
        ("in x", fl_special.igammac, [shape_a, rs.uniform(0.2, 4, S)], (1,)),
        ("in a and x", fl_special.igammac, [shape_a, rs.uniform(0.2, 4, S)], None),
        ("", fl_special.igamma_grad_a, [shape_a, rs.uniform(0.2, 4, S)], None),
        ("in x", fl_special.betainc, [shape_a, shape_b, rs.uniform(0.1, 0.9, S)], (2,)),
        ("in q", fl_special.zeta, [rs.uniform(1.5, 4, S), rs.uniform(0.5, 3, S)], (1,)),
    ]:
        example(label, fn, *operands, diff=diff)
    # igamma_grad_a (dP/da) has no derivative on either side; JAX's lax.zeta has none at all,
    # while fgrad differentiates it in q (-x zeta(x + 1, q)); fgrad's side of both is checked
    # against finite differences in tests/test_scipy_special.py.
    REFUSED["igamma_grad_a"] = ("a series for dP(a, x)/da: JAX defines no derivative of "
                                "lax.igamma_grad_a, so neither side differentiates it")
    JAX_DIFFERS.update({(check, "zeta:in q"): (
        NotImplementedError, "JAX defines no derivative of lax.zeta; fgrad's in q is "
        "-x zeta(x + 1, q)") for check in ("jvp", "vjp", "hvp")})
    JAX_DIFFERS.update({("hvp", f"{name}:in a and x"): (
        NotImplementedError, "the second derivative in a needs igamma_grad_a's derivative, "
        "which neither side has") for name in ("igamma", "igammac")})

    # -- convolution (fgrad/lax/convolution.py)
    rc = np.random.default_rng(16160)
    conv = fl.convolution.conv_general_dilated
    for label, lhs_shape, rhs_shape, kwargs in [
        ("2-d, strides, negative padding, dilations", (2, 3, 6, 5), (4, 3, 3, 2),
         dict(window_strides=(2, 1), padding=((1, -1), (2, 0)), lhs_dilation=(1, 2),
              rhs_dilation=(2, 1))),
        ("NHWC/HWIO, SAME, feature groups", (2, 5, 4, 4), (2, 3, 2, 6),
         dict(window_strides=(1, 1), padding="SAME", feature_group_count=2,
              dimension_numbers=("NHWC", "HWIO", "NHWC"))),
        ("1-d, batch groups", (4, 2, 7), (6, 2, 3),
         dict(window_strides=(2,), padding="VALID", batch_group_count=2)),
    ]:
        example(label, lambda x, w, kwargs=kwargs: conv(x, w, **kwargs),
                rc.standard_normal(lhs_shape), rc.standard_normal(rhs_shape))

    return cases


def _observe(value):
    """A hook or callback that only looks (its examples' derivatives are the identity's)."""
    return None


# The custom functions of the examples above (module level: their rules trace on demand).
@fgrad.custom_jvp
def _sin_twice_cos(x):
    return fl.sin(x)


@_sin_twice_cos.defjvp
def _sin_twice_cos_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return _sin_twice_cos(x), fl.mul(fl.mul(fl.cos(x), t), np.full(np.shape(x), 2.0))


@fgrad.custom_vjp
def _cube(x, y):
    return fl.mul(fl.mul(fl.mul(x, x), x), y)


_cube.defvjp(lambda x, y: (_cube(x, y), (x, y)),
             lambda r, g: (fl.mul(fl.mul(fl.mul(r[0], r[0]), r[1]), fl.mul(g, np.full(
                 np.shape(g), 3.0))), fl.mul(fl.mul(fl.mul(r[0], r[0]), r[0]), g)))


def _cholesky_solve(m):
    def solve(matvec, b):
        chol = fl.cholesky(m)
        z = fl.triangular_solve(chol, b, left_side=True, lower=True)
        return fl.triangular_solve(chol, z, left_side=True, lower=True, transpose_a=True)
    return solve


def _build_table() -> list[Case]:
    # The operands' types depend on x64 (fgrad canonicalizes as JAX does), so the table is
    # read with it on, as the tests run.
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        return _table()
    finally:
        jax.config.update("jax_enable_x64", previous)


CASES = _build_table()
assert len({c.id for c in CASES}) == len(CASES), "duplicate example labels"
REGISTERED = sorted(p.name for p in all_primitives())


# -- the functions both sides differentiate ---------------------------------------------------


def _operands(case: Case, diff_values) -> list:
    ops = list(case.operands)
    for i, v in zip(case.diff, diff_values, strict=True):
        ops[i] = v
    return ops


def _lowered(case: Case) -> Callable:
    """The primitive as JAX sees it inside jax.grad: its lowering."""
    return lambda *d: case.prim.lower(*_operands(case, d), **case.params)


def _bound(case: Case) -> Callable:
    """The primitive as fgrad sees it: bound, so fgrad's rules differentiate it."""
    bind = case.prim.bind if case.prim.multiple_results else case.prim.bind1
    return lambda *d: bind(*_operands(case, d), **case.params)


def _seed(case: Case, salt: str) -> int:
    return zlib.crc32(f"{case.id}/{salt}".encode())


def _random_like(aval: Aval, rng):
    """A random tangent/cotangent for a value of type `aval`: float0 where it has none."""
    if not dt.is_inexact(aval.dtype):
        return np.zeros(aval.shape, float0)
    return np.asarray(rng.standard_normal(aval.shape), aval.dtype)


def _primals(case: Case) -> tuple:
    return tuple(case.operands[i] for i in case.diff)


def _tangents(case: Case) -> tuple:
    rng = np.random.default_rng(_seed(case, "tangents"))
    return tuple(_random_like(aval_of(p), rng) for p in _primals(case))


def _cotangent(case: Case):
    rng = np.random.default_rng(_seed(case, "cotangent"))
    cts = [_random_like(a, rng) for a in case.out_avals]
    return cts if case.prim.multiple_results else cts[0]


def _assert_close(got, want, what: str, case: Case):
    """Same tree, and leaf by leaf the same type (shape, dtype, weak type) and values.

    Values agree within rtol of JAX's plus atol (TOLERANCES): the examples' derivatives are
    of order 1, so the small atol only absorbs rounding noise (~1e-16) where the exact value
    is 0 and the two sides cancel terms in a different order. A case with any float32 value
    gets float32's tolerances throughout.
    """
    got_leaves, got_tree = jax.tree_util.tree_flatten(got)
    want_leaves, want_tree = jax.tree_util.tree_flatten(want)
    assert got_tree == want_tree, f"{what}: fgrad gives {got_tree}, JAX {want_tree}"
    for k, (g, w) in enumerate(zip(got_leaves, want_leaves)):
        dtype = aval_of(w).dtype
        if is_key(dtype):  # PRNG keys: the same type and the same key data
            assert aval_of(g) == aval_of(w), f"{what} {k}: {aval_of(g)} != {aval_of(w)}"
            g, w = jax.random.key_data(g), jax.random.key_data(w)
        rtol, atol = (0.0, 0.0)  # integers, bools, float0 and keys: exact
        if dt.is_inexact(dtype):
            rtol, atol = TOLERANCES[np.dtype(np.float32) if case.has_float32 else dtype]
        try:
            oracle.assert_same(g, w, rtol=rtol, atol=atol)
        except AssertionError as e:
            raise AssertionError(f"{what} {k}: fgrad's rules (ACTUAL) vs JAX's derivative of "
                                 f"the lowering (DESIRED):\n{e}") from None


DIFFERENTIABLE = [c for c in CASES if c.name not in REFUSED]
# (jax.grad needs a real objective: the cube of a complex output is not one)
SECOND_ORDER = [c for c in DIFFERENTIABLE if c.float_in and any(c.float_out)
                and not any(dt.is_complex(a.dtype) for a in c.out_avals)]


def _default_run(cases) -> set[str]:
    """The examples of the default run: each primitive's first and first second-order ones,
    every documented difference (JAX_DIFFERS), and each later example with an integer,
    boolean, weak-typed or 0-d operand of a kind its primitive's earlier examples lack."""
    differs = {case_id for _, case_id in JAX_DIFFERS}
    second_order = {c.id for c in SECOND_ORDER}
    kept, seen, with_hvp = set(), {}, set()
    for c in cases:
        tricky = {(a.dtype.kind, a.weak_type, a.shape == ()) for a in map(aval_of, c.operands)
                  if not is_key(a.dtype) and (a.dtype.kind in "biu" or a.weak_type or not a.shape)}
        if (c.name not in seen or c.id in differs or tricky - seen[c.name]
                or (c.id in second_order and c.name not in with_hvp)):
            kept.add(c.id)
            if c.id in second_order:
                with_hvp.add(c.name)
        seen.setdefault(c.name, set()).update(tricky)
    return kept


# Compiling JAX's derivatives of each example is most of this file's time, so the examples
# outside _default_run are marked slow, and so are two documented differences whose JAX
# derivatives take five to eight seconds each to compile (gamma's rejection loops; the first
# gamma example, a documented difference too, stays): run them all with `-m slow`.
SLOW = ({c.id for c in CASES} - _default_run(CASES)) | {"random_gamma:log space",
                                                        "random_gamma:2 keys"}


def _params(cases, check: str):
    out = []
    for c in cases:
        marks = [pytest.mark.slow] if c.id in SLOW else []
        if (check, c.id) in JAX_DIFFERS:
            raises, reason = JAX_DIFFERS[check, c.id]
            marks.append(pytest.mark.xfail(strict=True, raises=raises, reason=reason))
        out.append(pytest.param(c, id=c.id, marks=marks))
    return out


_BY_ID = {c.id: c for c in CASES}


# -- the second-order objective ---------------------------------------------------------------


def _hvp_inputs(case: Case):
    """Random weights (one per float output, None for the others) and a random vector."""
    rng = np.random.default_rng(_seed(case, "hvp"))
    weights = tuple(_random_like(a, rng) if f else None
                    for a, f in zip(case.out_avals, case.float_out))
    v = tuple(_random_like(aval_of(p), rng) for p in _primals(case))
    return weights, v


def _objective(case: Case, outs, weights, mul, add, reduce_sum):
    """sum(w * out**3) over the float outputs: a cube, not a square, so the Hessian depends
    on the primitive's second derivative even where out**2 is linear (sqrt)."""
    outs = outs if case.prim.multiple_results else [outs]
    total = None
    for y, w in zip(outs, weights):
        if w is None:
            continue
        term = reduce_sum(mul(mul(mul(y, y), y), w), tuple(range(np.ndim(w))))
        total = term if total is None else add(total, term)
    return total


# -- JAX's side: one compilation per example --------------------------------------------------


@functools.lru_cache(maxsize=None)
def _jax_derivatives(case_id: str) -> tuple[dict, dict]:
    """JAX's JVP, VJP and (where there is one) Hessian-vector product of the lowering, as
    one jitted program: compiling once per example is most of this file's time.

    Returns the results and, separately, the error of each derivative JAX refuses to take
    (a rule it lacks raises while it traces), so that only the tests of that derivative
    fail: JAX has forward-mode rules for some lowerings it cannot reverse (while loops).
    """
    case = _BY_ID[case_id]
    f = _lowered(case)
    second_order = case.float_in and any(case.float_out)
    weights, v = _hvp_inputs(case) if second_order else (None, None)
    argnums = tuple(range(len(case.diff)))
    refused: dict = {}

    def g(*d):
        return _objective(case, f(*d), weights, lax.mul, lax.add, lax.reduce_sum)

    def vjp(p, ct):
        out, pullback = jax.vjp(f, *p)
        return out, pullback(ct)

    def all_of_them(p, t, ct, v):
        parts = {"jvp": lambda: jax.jvp(f, p, t), "vjp": lambda: vjp(p, ct)}
        if second_order:
            parts["hvp"] = lambda: jax.jvp(jax.grad(g, argnums), p, v)[1]
        results = {}
        for check, part in parts.items():
            try:
                results[check] = part()
            except Exception as e:  # noqa: BLE001 (re-raised by that check's test)
                refused[check] = e
        return results

    results = jax.jit(all_of_them)(_primals(case), _tangents(case), _cotangent(case), v)
    return results, refused


def _jax(case: Case, check: str):
    """JAX's derivative `check` ("jvp", "vjp" or "hvp") of the case's lowering."""
    results, refused = _jax_derivatives(case.id)
    if check in refused:
        raise refused[check]
    return results[check]


# -- coverage ---------------------------------------------------------------------------------


def test_every_primitive_has_an_example():
    covered = {c.name for c in CASES}
    missing = sorted(set(REGISTERED) - covered)
    assert not missing, (f"registered primitives without an example in "
                         f"test_lowering_derivatives.py: {missing}")
    stale = sorted(covered - set(REGISTERED))
    assert not stale, f"examples of primitives that are not registered: {stale}"
    assert set(REFUSED) <= covered


@pytest.mark.parametrize("name", REGISTERED)
def test_primitive_has_an_example(name):
    """One test per registered primitive, so a missing example names its primitive."""
    assert any(c.name == name for c in CASES), (
        f"the primitive {name!r} has no example in test_lowering_derivatives.py: add one "
        f"to _table() so JAX's derivative of its lowering is checked against its rules")


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_primitives_have_no_rule(name):
    prim = next(p for p in all_primitives() if p.name == name)
    assert prim not in jvp_rules and prim not in transpose_rules
    assert jvp_rules.why_absent(prim)  # refused with a reason the error can give


# -- forward mode -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", _params(DIFFERENTIABLE, "jvp"))
def test_jvp_of_lowering_matches_fgrad_rule(case: Case):
    want_out, want_t = _jax(case, "jvp")
    got_out, got_t = fgrad.jvp(_bound(case), _primals(case), _tangents(case))
    _assert_close(got_out, want_out, "primal output", case)
    _assert_close(got_t, want_t, "tangent", case)
    for float_out, t in zip(case.float_out, jax.tree_util.tree_leaves(want_t)):
        if not float_out:  # integer and boolean results carry float0 tangents on both sides
            assert aval_of(t).dtype == float0


# -- reverse mode -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", _params(DIFFERENTIABLE, "vjp"))
def test_vjp_of_lowering_matches_fgrad_rules(case: Case):
    want_out, want_cts = _jax(case, "vjp")
    got_out, pullback = fgrad.vjp(_bound(case), *_primals(case))
    _assert_close(got_out, want_out, "primal output", case)
    _assert_close(pullback(_cotangent(case)), want_cts, "cotangent of operand", case)


# -- second order -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", _params(SECOND_ORDER, "hvp"))
def test_hvp_of_lowering_matches_fgrad_rules(case: Case):
    """The Hessian of sum(w * out**3) (over the float outputs) times a random vector."""
    want = _jax(case, "hvp")
    weights, v = _hvp_inputs(case)
    primals = _primals(case)

    def g(*d):
        return _objective(case, _bound(case)(*d), weights, fl.mul, fl.add, fl.reduce_sum)

    got = fgrad.jvp(fgrad.grad(g, tuple(range(len(primals)))), primals, v)[1]
    _assert_close(got, want, "Hessian-vector product, operand", case)


# -- primitives without a derivative ----------------------------------------------------------


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES
                                  if c.name in REFUSED])
def test_both_refuse_to_differentiate(case: Case):
    primals, tangents = _primals(case), _tangents(case)
    # The value itself agrees...
    oracle.assert_trees_same(_bound(case)(*primals), jax.jit(_lowered(case))(*primals))
    # ...but neither side has a derivative, forward or reverse.
    with pytest.raises(NotImplementedError, match=case.name):
        jax.jvp(_lowered(case), primals, tangents)
    with pytest.raises(NotImplementedError, match=case.name):
        jax.vjp(_lowered(case), *primals)
    with pytest.raises(MissingRuleError, match=f"'{case.name}' has no jvp rule"):
        fgrad.jvp(_bound(case), primals, tangents)
    with pytest.raises(MissingRuleError, match=f"'{case.name}' has no jvp rule"):
        fgrad.vjp(_bound(case), *primals)
