"""Random primitives: PRNG keys, and sampling from a key.

Key arrays are values of their own type, JAX's key dtype (`key<fry>` for the default
threefry2x32): they have no tangent (float0) and no arithmetic, and only the primitives here
create or consume them (plus the shape primitives, which move keys like any other element).

**The key batch.** Every keyed primitive takes its key operand with a leading *key batch*
shape K (K = () normally), and its array operands with shape K + their own shape; its
output is K + the sample's shape, and sample k of the batch is drawn with key k. K is never a
param: it is the key operand's shape. This is what vmap needs: the batch rule moves every
operand's batch axis to the front (broadcasting an unbatched key or parameter along it) and
binds the same primitive with K' = (batch,) + K, so `vmap(f)(xs)` draws exactly what a
Python loop over the examples would.

**Lowering.** With K = () each primitive calls the jax.random function of the same name, so
fgrad's samples are bit for bit jax.random's. With K != () the lowering flattens K and runs
that function once per key with `jax.lax.map`, a loop inside the compiled program (not
JAX's vectorizing transformation: fgrad uses none of JAX's transformations in its own code).
docs/random.md measures what the loop costs against JAX's vmap.

**Derivatives.** Keys, bits and integer or boolean draws carry no tangent. The samplers'
JVPs are zero: a sample's derivative with respect to its parameters comes from writing the
distribution as a differentiable function of a standard draw (fgrad/random.py does, like
jax.random), with one exception, gamma, whose implicit derivative is its JVP rule here.
"""

from __future__ import annotations

import functools
import math
from typing import Callable

import jax
import numpy as np
from jax import lax

from fgrad.core import Aval, Primitive, aval_of
from fgrad.core import dtypes as dt
from fgrad.core.ir import dtype_name, is_key
from fgrad.core.resources import register_cache
from fgrad.lax._ad import defjvp, defjvp_zero
from fgrad.lax._batching import to_front
from fgrad.lax._rules import as_int, as_ints, check_available, check_shape, elementwise, fail
from fgrad.lax.elementwise import div, eq, exp, mul, select_n
from fgrad.lax.shapes import full_like
from fgrad.transforms.rules import batch_rules, jvp_rules, transpose_rules

# -- key types -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def key_dtype(impl):
    """The key dtype of a PRNG implementation (a name such as 'threefry2x32', or a spec)."""
    return jax.random.key_dtype(impl)


# Both read a key made on the spot (concretely, even while JAX traces), once per
# implementation: JAX's public API has no other way to ask.


@functools.lru_cache(maxsize=None)
def key_data_shape(impl) -> tuple[int, ...]:
    """The trailing shape of one key's uint32 data: (2,) for threefry2x32, (4,) for rbg."""
    with jax.ensure_compile_time_eval():
        return tuple(jax.random.key_data(jax.random.key(0, impl=impl)).shape)


@functools.lru_cache(maxsize=None)
def impl_of(dtype):
    """The implementation behind a key dtype, as jax.random.key_impl names it."""
    with jax.ensure_compile_time_eval():
        return jax.random.key_impl(jax.random.key(0, dtype=dtype))


for _name, _fn in [("prng_key_dtype", key_dtype), ("prng_key_data_shape", key_data_shape),
                   ("prng_impl_of", impl_of)]:
    register_cache(_name, _fn, holds="a fact about one PRNG implementation",
                   key="a PRNG implementation or its key dtype",
                   why="unbounded: the PRNG implementations registered with JAX are a finite "
                       "set")


def default_impl() -> str:
    return jax.config.jax_default_prng_impl


def _checked_impl(name: str, avals, impl):
    try:
        return key_dtype(impl)
    except (TypeError, ValueError) as e:
        raise fail(name, avals, f"impl {impl!r} is not a PRNG implementation ({e})",
                   "Name one, such as 'threefry2x32' or 'rbg', or pass a key dtype.") from None


# -- what every keyed primitive shares -------------------------------------------------------


def _key_batch(name: str, avals) -> tuple[int, ...]:
    """K, the key operand's shape, after checking that the first operand is a key array and
    that every other operand's shape starts with K."""
    keys = avals[0]
    if not is_key(keys.dtype):
        raise fail(name, avals, f"the first operand must be a PRNG key array, not "
                   f"{dtype_name(keys.dtype)}",
                   "Make keys with fgrad.random.key or jax.random.key (fgrad.random's "
                   "functions also accept legacy uint32 keys from PRNGKey).")
    batch = keys.shape
    for a in avals[1:]:
        if a.shape[:len(batch)] != batch:
            raise fail(name, avals, f"every array operand must start with the keys' shape "
                       f"{batch} (one parameter per key), but one has shape {a.shape}",
                       "Broadcast the parameters to the keys' shape first, as vmap does.")
    return batch


def _own(aval: Aval, batch: tuple[int, ...]) -> tuple[int, ...]:
    """An operand's own shape: its shape without the leading key batch."""
    return aval.shape[len(batch):]


def _check_broadcasts(name: str, avals, own: tuple, shape: tuple, what: str) -> None:
    """A parameter of shape `own` broadcasts to the sample `shape` (jax.random's rule)."""
    ok = len(own) <= len(shape) and all(
        n in (1, m) for n, m in zip(own[::-1], shape[::-1]))
    if not ok:
        raise fail(name, avals, f"{what} has shape {own}, which does not broadcast to the "
                   f"sample shape {shape}",
                   "A parameter's shape must broadcast to the requested shape.")


# dtype families of samples and parameters: name -> (test, the words for messages)
_KINDS = {
    "float": (dt.is_float, "floating-point"),
    "inexact": (dt.is_inexact, "floating-point or complex"),
    "integer": (dt.is_integer, "integer"),
    "number": (lambda d: dt.is_integer(d) or dt.is_inexact(d), "numeric"),
    "ordered": (lambda d: dt.is_integer(d) or dt.is_float(d), "integer or floating-point"),
}


def _check_sample_dtype(name: str, avals, dtype, kind: str) -> None:
    check_available(name, avals, dtype, "dtype")
    test, words = _KINDS[kind]
    if not test(dtype):
        raise fail(name, avals, f"the sample dtype must be {words}, not {dtype.name}")


def _check_param_dtype(name: str, avals, aval: Aval, what: str, kind: str) -> None:
    test, words = _KINDS[kind]
    if not test(aval.dtype):
        raise fail(name, avals, f"{what} must be {words}, not {dtype_name(aval.dtype)}")


def per_key(sample: Callable) -> Callable:
    """The lowering of a keyed primitive from `sample(key, *arrays, **params)`, jax.random's
    function on one key: called directly when K = (), else once per key by jax.lax.map."""
    def lower(keys, *arrays, **params):
        batch = tuple(keys.shape)
        if not batch:
            return sample(keys, *arrays, **params)
        n = math.prod(batch)
        flat = tuple(lax.reshape(x, (n, *np.shape(x)[len(batch):]))
                     for x in (keys, *arrays))
        out = lax.map(lambda xs: sample(*xs, **params), flat)
        return lax.reshape(out, (*batch, *out.shape[1:]))

    return lower


def defbatch_keyed(prim: Primitive) -> None:
    """vmap of a keyed primitive: every operand's batch axis to the front (an unbatched key
    or parameter is broadcast along it), and the batch becomes the key batch's first axis.
    Each example is then drawn with its own key, as in a Python loop over the examples."""
    def batch(axis_size, values, dims, **params):
        args = [to_front(x, d, axis_size) for x, d in zip(values, dims)]
        return prim.bind1(*args, **params), 0

    batch_rules.define(prim, batch)


def keyed(name: str, sample: Callable, out_aval: Callable) -> Primitive:
    """A keyed primitive: `out_aval(avals, batch, **params)` is its shape rule after the
    common checks, `sample` jax.random's function on one key."""
    def abstract_eval(*avals, **params):
        return out_aval(avals, _key_batch(name, avals), **params)

    prim = Primitive(name, abstract_eval, per_key(sample))
    defbatch_keyed(prim)
    return prim


# -- random_seed: integer seeds -> keys ------------------------------------------------------


def _seed_abstract_eval(seeds, *, impl):
    name, avals = "random_seed", [seeds]
    if not dt.is_integer(seeds.dtype):
        raise fail(name, avals, f"seeds must be integers, not {dtype_name(seeds.dtype)}")
    return Aval(seeds.shape, _checked_impl(name, avals, impl), False)


def _seed_lower(seeds, *, impl):
    # jax.random.key takes one seed at a time: a scalar directly, an array key by key.
    return per_key(lambda s: jax.random.key(s, impl=impl))(seeds)


random_seed_p = Primitive("random_seed", _seed_abstract_eval, _seed_lower)
defbatch_keyed(random_seed_p)
jvp_rules.absent(random_seed_p, "its result (bool, integer or key) carries no tangent")
transpose_rules.absent(random_seed_p, "it is not linear in any operand")

# -- random_wrap / random_unwrap: keys <-> their uint32 data ---------------------------------
# Both are vectorized in JAX already (wrap_key_data and key_data take any leading shape).


def _wrap_abstract_eval(data, *, impl):
    name, avals = "random_wrap", [data]
    dtype = _checked_impl(name, avals, impl)
    trailing = key_data_shape(impl)
    if data.dtype != np.uint32:
        raise fail(name, avals, f"key data must be uint32, not {dtype_name(data.dtype)}",
                   "Key data comes from fgrad.random.key_data or PRNGKey.")
    if data.shape[data.ndim - len(trailing):] != trailing:
        raise fail(name, avals, f"key data of {impl} must end with shape {trailing}, but it "
                   f"has shape {data.shape}")
    return Aval(data.shape[:data.ndim - len(trailing)], dtype, False)


def _wrap_lower(data, *, impl):
    return jax.random.wrap_key_data(data, impl=impl)


random_wrap_p = Primitive("random_wrap", _wrap_abstract_eval, _wrap_lower)


def _wrap_batch(axis_size, values, dims, *, impl):
    (data,), (dim,) = values, dims
    # The batch axis may sit after the key's data axes; in front it is a key batch axis.
    return random_wrap_p.bind1(to_front(data, dim, axis_size), impl=impl), 0


batch_rules.define(random_wrap_p, _wrap_batch)
jvp_rules.absent(random_wrap_p, "its result (bool, integer or key) carries no tangent")
transpose_rules.absent(random_wrap_p, "it is not linear in any operand")


def _unwrap_abstract_eval(keys):
    _key_batch("random_unwrap", [keys])
    return Aval(keys.shape + key_data_shape(impl_of(keys.dtype)), np.dtype(np.uint32), False)


def _unwrap_lower(keys):
    return jax.random.key_data(keys)


random_unwrap_p = Primitive("random_unwrap", _unwrap_abstract_eval, _unwrap_lower)


def _unwrap_batch(axis_size, values, dims):
    (keys,), (dim,) = values, dims
    return random_unwrap_p.bind1(keys), dim  # the data axes are appended after the batch


batch_rules.define(random_unwrap_p, _unwrap_batch)
jvp_rules.absent(random_unwrap_p, "its result (bool, integer or key) carries no tangent")
transpose_rules.absent(random_unwrap_p, "it is not linear in any operand")

# -- random_split, random_fold_in, random_bits -----------------------------------------------


def _split_aval(avals, batch, *, shape):
    check_shape("random_split", avals, shape)
    return Aval(batch + shape, avals[0].dtype, False)


random_split_p = keyed("random_split", lambda k, *, shape: jax.random.split(k, shape),
                       _split_aval)


def _fold_in_aval(avals, batch):
    keys, data = avals
    if data.shape != batch or data.dtype != np.uint32:
        raise fail("random_fold_in", avals, f"the data must be uint32 of the keys' shape "
                   f"{batch}, one value per key",
                   "Convert it with fgrad.lax.convert_element_type.")
    return keys


random_fold_in_p = keyed("random_fold_in", jax.random.fold_in, _fold_in_aval)


def _bits_aval(avals, batch, *, shape, bit_width):
    name = "random_bits"
    check_shape(name, avals, shape)
    if bit_width not in (8, 16, 32, 64):
        raise fail(name, avals, f"bit_width must be 8, 16, 32 or 64, not {bit_width!r}")
    dtype = np.dtype(f"uint{bit_width}")
    check_available(name, avals, dtype, "the bits' dtype")
    return Aval(batch + shape, dtype, False)


def _bits_sample(key, *, shape, bit_width):
    return jax.random.bits(key, shape, np.dtype(f"uint{bit_width}"))


random_bits_p = keyed("random_bits", _bits_sample, _bits_aval)
# None of the key primitives has a JVP: their outputs are keys or unsigned integers, which
# carry no tangent, so the JVP transform never asks.
jvp_rules.absent(random_split_p, "its result (bool, integer or key) carries no tangent")
transpose_rules.absent(random_split_p, "it is not linear in any operand")
jvp_rules.absent(random_fold_in_p, "its result (bool, integer or key) carries no tangent")
transpose_rules.absent(random_fold_in_p, "it is not linear in any operand")
jvp_rules.absent(random_bits_p, "its result (bool, integer or key) carries no tangent")
transpose_rules.absent(random_bits_p, "it is not linear in any operand")

# -- samplers without array parameters -------------------------------------------------------
# One primitive per distribution, each `jax.random.<name>(key, shape, dtype, ...static)`.
# Their samples do not depend on anything differentiable: zero JVP.


def _standard_sampler(name: str, sample: Callable, kind: str,
                      trailing: Callable = lambda **static: (),
                      check: Callable = lambda avals, **static: None) -> Primitive:
    """A sampler with params `shape`, `dtype` and distribution-specific static ones;
    `trailing(**static)` is the shape it adds after `shape` (ball's d, orthogonal's n, m)."""
    def out_aval(avals, batch, *, shape, dtype, **static):
        check_shape(name, avals, shape)
        _check_sample_dtype(name, avals, dtype, kind)
        check(avals, **static)
        return Aval(batch + shape + trailing(**static), dtype, False)

    def sample_by_name(key, *, shape, dtype, **static):
        return sample(key, shape, dtype, **static)

    prim = keyed(name, sample_by_name, out_aval)
    defjvp_zero(prim)
    return prim


def _check_mode(name: str, modes: tuple):
    def check(avals, *, mode, **_):
        if mode not in modes:
            raise fail(name, avals, f"mode must be one of {modes}, not {mode!r}")
    return check


def _check_static_ints(name: str, *names: str):
    def check(avals, **static):
        for n in names:
            if type(static[n]) is not int or static[n] < 0:
                raise fail(name, avals, f"{n} must be a non-negative int, not {static[n]!r}")
    return check


random_uniform_p = _standard_sampler("random_uniform", jax.random.uniform, "float")
random_normal_p = _standard_sampler("random_normal", jax.random.normal, "inexact")
random_exponential_p = _standard_sampler("random_exponential", jax.random.exponential, "float")
random_laplace_p = _standard_sampler("random_laplace", jax.random.laplace, "float")
random_logistic_p = _standard_sampler("random_logistic", jax.random.logistic, "float")
random_cauchy_p = _standard_sampler("random_cauchy", jax.random.cauchy, "float")
random_maxwell_p = _standard_sampler("random_maxwell", jax.random.maxwell, "float")
random_rademacher_p = _standard_sampler("random_rademacher", jax.random.rademacher, "number")
random_gumbel_p = _standard_sampler(
    "random_gumbel", lambda k, shape, dtype, *, mode: jax.random.gumbel(k, shape, dtype, mode),
    "float", check=_check_mode("random_gumbel", ("low", "high", "highest")))
random_generalized_normal_p = _standard_sampler(
    "random_generalized_normal",
    lambda k, shape, dtype, *, p: jax.random.generalized_normal(k, p, shape, dtype), "float")
random_ball_p = _standard_sampler(
    "random_ball", lambda k, shape, dtype, *, d, p: jax.random.ball(k, d, p, shape, dtype),
    "float", trailing=lambda *, d, p: (d,), check=_check_static_ints("random_ball", "d"))
random_orthogonal_p = _standard_sampler(
    "random_orthogonal",
    lambda k, shape, dtype, *, n, m: jax.random.orthogonal(k, n, shape, dtype, m),
    "inexact", trailing=lambda *, n, m: (n, m),
    check=_check_static_ints("random_orthogonal", "n", "m"))


# -- samplers with array parameters whose draws have no derivative ---------------------------
# Booleans and integers carry no tangent; binomial and multinomial counts are whole numbers
# in a float dtype, piecewise constant in their parameters: zero JVP for all of them.


def _resolved_shape(name: str, avals, shape: tuple) -> tuple:
    check_shape(name, avals, shape)
    return shape


def _bernoulli_aval(avals, batch, *, shape, mode):
    name, (_, p) = "random_bernoulli", avals
    _resolved_shape(name, avals, shape)
    _check_param_dtype(name, avals, p, "p", "float")
    _check_broadcasts(name, avals, _own(p, batch), shape, "p")
    if mode not in ("low", "high"):
        raise fail(name, avals, f"mode must be 'low' or 'high', not {mode!r}")
    return Aval(batch + shape, np.dtype(np.bool_), False)


random_bernoulli_p = keyed(
    "random_bernoulli",
    lambda k, p, *, shape, mode: jax.random.bernoulli(k, p, shape, mode), _bernoulli_aval)
defjvp_zero(random_bernoulli_p)


def _randint_aval(avals, batch, *, shape, dtype):
    name, (_, minval, maxval) = "random_randint", avals
    _resolved_shape(name, avals, shape)
    _check_sample_dtype(name, avals, dtype, "integer")
    for what, bound in (("minval", minval), ("maxval", maxval)):
        _check_param_dtype(name, avals, bound, what, "ordered")
        _check_broadcasts(name, avals, _own(bound, batch), shape, what)
    return Aval(batch + shape, dtype, False)


random_randint_p = keyed(
    "random_randint",
    lambda k, lo, hi, *, shape, dtype: jax.random.randint(k, shape, lo, hi, dtype),
    _randint_aval)
defjvp_zero(random_randint_p)


def _one_param_aval(name: str, what: str, kind: str):
    """The shape rule of a sampler with one float parameter broadcast to `shape`."""
    def out_aval(avals, batch, *, shape, dtype):
        _resolved_shape(name, avals, shape)
        _check_sample_dtype(name, avals, dtype, kind)
        _check_param_dtype(name, avals, avals[1], what, "float")
        _check_broadcasts(name, avals, _own(avals[1], batch), shape, what)
        return Aval(batch + shape, dtype, False)
    return out_aval


random_poisson_p = keyed(
    "random_poisson",
    lambda k, lam, *, shape, dtype: jax.random.poisson(k, lam, shape, dtype),
    _one_param_aval("random_poisson", "lam", "integer"))
defjvp_zero(random_poisson_p)
random_geometric_p = keyed(
    "random_geometric",
    lambda k, p, *, shape, dtype: jax.random.geometric(k, p, shape, dtype),
    _one_param_aval("random_geometric", "p", "integer"))
defjvp_zero(random_geometric_p)


def _binomial_aval(avals, batch, *, shape, dtype):
    name, (_, n, p) = "random_binomial", avals
    _resolved_shape(name, avals, shape)
    _check_sample_dtype(name, avals, dtype, "float")
    for what, param in (("n", n), ("p", p)):
        _check_param_dtype(name, avals, param, what, "ordered")
        _check_broadcasts(name, avals, _own(param, batch), shape, what)
    return Aval(batch + shape, dtype, False)


random_binomial_p = keyed(
    "random_binomial",
    lambda k, n, p, *, shape, dtype: jax.random.binomial(k, n, p, shape, dtype),
    _binomial_aval)
defjvp_zero(random_binomial_p)


def _multinomial_aval(avals, batch, *, shape, dtype, unroll):
    name, (_, n, p) = "random_multinomial", avals
    _resolved_shape(name, avals, shape)
    _check_sample_dtype(name, avals, dtype, "float")
    p_own = _own(p, batch)
    if not p_own or not shape or shape[-1] != p_own[-1]:
        raise fail(name, avals, f"the outcomes' axis must be last in both p (shape {p_own}) "
                   f"and the sample shape {shape}, with the same length")
    _check_param_dtype(name, avals, p, "p", "ordered")
    _check_param_dtype(name, avals, n, "n", "ordered")
    _check_broadcasts(name, avals, p_own, shape, "p")
    _check_broadcasts(name, avals, _own(n, batch), shape[:-1], "n")
    return Aval(batch + shape, dtype, False)


random_multinomial_p = keyed(
    "random_multinomial",
    lambda k, n, p, *, shape, dtype, unroll: jax.random.multinomial(
        k, n, p, shape=shape, dtype=dtype, unroll=unroll),
    _multinomial_aval)
defjvp_zero(random_multinomial_p)


def _categorical_aval(avals, batch, *, axis, shape, replace, mode):
    name, (_, logits) = "random_categorical", avals
    _resolved_shape(name, avals, shape)
    _check_param_dtype(name, avals, logits, "logits", "float")
    own = _own(logits, batch)
    if type(axis) is not int or not 0 <= axis < len(own):
        raise fail(name, avals, f"axis {axis!r} is not an axis of the logits (shape {own})")
    categories = own[:axis] + own[axis + 1:]
    _check_broadcasts(name, avals, categories, shape,
                      "the logits without their category axis")
    if not replace and math.prod(shape[:len(shape) - len(categories)]) > own[axis]:
        raise fail(name, avals, f"cannot draw {math.prod(shape[:len(shape) - len(categories)])}"
                   f" samples without replacement from {own[axis]} categories")
    # JAX's own choice of index types: argmax's default int, top_k's int32.
    dtype = dt.default_int() if replace else np.dtype(np.int32)
    return Aval(batch + shape, dtype, False)


random_categorical_p = keyed(
    "random_categorical",
    lambda k, logits, *, axis, shape, replace, mode: jax.random.categorical(
        k, logits, axis, shape, replace, mode),
    _categorical_aval)
defjvp_zero(random_categorical_p)

# -- index draws for choice and permutation --------------------------------------------------
# jax.random.choice and permutation applied to an integer (or an integer iota), so fgrad can
# gather the chosen elements itself and differentiate the gather.


def _choice_aval(avals, batch, *, n, shape, replace, mode):
    name = "random_choice"
    _resolved_shape(name, avals, shape)
    if type(n) is not int or n < 0:
        raise fail(name, avals, f"n must be a non-negative int, not {n!r}")
    draws = math.prod(shape)
    if draws and n == 0:
        raise fail(name, avals, "there is nothing to choose from (n = 0)")
    if not replace and draws > n:
        raise fail(name, avals, f"cannot take {draws} samples from {n} without replacement")
    if len(avals) == 2:
        p = avals[1]
        _check_param_dtype(name, avals, p, "p", "float")
        if _own(p, batch) != (n,):
            raise fail(name, avals, f"p must have shape ({n},), one probability per choice, "
                       f"not {_own(p, batch)}")
    return Aval(batch + shape, dt.default_int(), False)


def _choice_sample(k, *p, n, shape, replace, mode):
    return jax.random.choice(k, n, shape, replace, p[0] if p else None, mode=mode)


random_choice_p = keyed("random_choice", _choice_sample, _choice_aval)
defjvp_zero(random_choice_p)


def _permutation_aval(avals, batch, *, shape, axis):
    name = "random_permutation"
    _resolved_shape(name, avals, shape)
    if type(axis) is not int or not 0 <= axis < max(len(shape), 1) or not shape:
        raise fail(name, avals, f"axis {axis!r} is not an axis of shape {shape}")
    return Aval(batch + shape, dt.default_int(), False)


def _permutation_sample(k, *, shape, axis):
    # The positions 0..n-1 shuffled: along one axis of `shape` independently for each of the
    # other axes' positions, or, for a vector, as jax.random.permutation(key, n).
    if len(shape) == 1:
        return jax.random.permutation(k, shape[0])
    positions = lax.broadcasted_iota(dt.default_int(), shape, axis)
    return jax.random.permutation(k, positions, axis, independent=True)


random_permutation_p = keyed("random_permutation", _permutation_sample, _permutation_aval)
defjvp_zero(random_permutation_p)

# -- gamma: the one sampler with a derivative of its own -------------------------------------
# A gamma sample x(a, u) is the quantile function of Gamma(a) at a uniform u, so with u held
# fixed dx/da = -(dF/da)/(dF/dx) (implicit differentiation of F(x, a) = u), which
# jax.lax.random_gamma_grad computes. That derivative is a series approximation, and fgrad
# gives it no derivative of its own: second derivatives of gamma samples are an error
# (MissingRuleError). JAX forward-differentiates the approximation's code instead and gets a
# number that disagrees with finite differences of the first derivative (0.055 against
# 0.063 at a = 1.7), and refuses in reverse mode.

random_gamma_grad_p = elementwise("random_gamma_grad", lax.random_gamma_grad, "float", 2)
jvp_rules.absent(random_gamma_grad_p, "it is a series approximation of the slope of gamma "
                 "samples, given no derivative of its own: gamma samples have no "
                 "second derivative")
transpose_rules.absent(random_gamma_grad_p, "it is not linear in any operand")


def _gamma_aval(avals, batch, *, log_space):
    name, (_, a) = "random_gamma", avals
    _check_param_dtype(name, avals, a, "a", "float")
    if type(log_space) is not bool:
        raise fail(name, avals, f"log_space must be a bool, not {log_space!r}")
    return Aval(a.shape, a.dtype, False)  # jax.random.gamma's samples are strongly typed


def _gamma_sample(k, a, *, log_space):
    sample = jax.random.loggamma if log_space else jax.random.gamma
    # A Python scalar (a literal operand) has no dtype: JAX's default float is its type.
    return sample(k, a, np.shape(a), getattr(a, "dtype", None))


random_gamma_p = keyed("random_gamma", _gamma_sample, _gamma_aval)


def _gamma_tangent(t, ans, keys, a, *, log_space):
    if not log_space:
        return mul(t, random_gamma_grad(a, ans))
    # d log x = dx / x. exp of a very negative log sample rounds to 0: JAX takes the
    # smallest normal number instead, and so do we, so that the slope stays finite.
    x = exp(ans)
    tiny = np.finfo(aval_of(ans).dtype).tiny.item()
    x = select_n(eq(x, full_like(x, 0.0)), x, full_like(x, tiny))
    return mul(t, div(random_gamma_grad(a, x), x))


defjvp(random_gamma_p, None, _gamma_tangent)

# -- the functions fgrad.random calls (and users may) -----------------------------------------


def random_seed(seeds, impl):
    """Keys from integer seeds (one key per seed), for the PRNG implementation `impl`."""
    return random_seed_p.bind1(seeds, impl=impl)


def random_wrap(data, impl):
    """Keys from their uint32 data, whose trailing axes hold one key each."""
    return random_wrap_p.bind1(data, impl=impl)


def random_unwrap(keys):
    """The uint32 data of keys (a trailing axis of length 2 for threefry2x32)."""
    return random_unwrap_p.bind1(keys)


def random_split(keys, shape):
    """Each key split into new keys of `shape`: keys.shape + shape keys."""
    return random_split_p.bind1(keys, shape=as_ints(shape))


def random_fold_in(keys, data):
    """Each key with one uint32 of `data` folded in."""
    return random_fold_in_p.bind1(keys, data)


def random_bits(keys, bit_width: int, shape):
    """Uniform unsigned integers of `bit_width` bits, `shape` per key."""
    return random_bits_p.bind1(keys, shape=as_ints(shape), bit_width=as_int(bit_width))


def random_gamma(keys, a, log_space: bool = False):
    """Gamma(a) samples (their logs with log_space), one per element of `a`; `a` has the
    keys' shape followed by the sample's shape."""
    return random_gamma_p.bind1(keys, a, log_space=bool(log_space))


def random_gamma_grad(a, x):
    """d(sample)/da of Gamma(a) samples x, elementwise (the implicit derivative)."""
    return random_gamma_grad_p.bind1(a, x)


def _standard(prim: Primitive, keys, shape, dtype, **static):
    return prim.bind1(keys, shape=as_ints(shape), dtype=np.dtype(dtype), **static)


def random_uniform(keys, shape, dtype):
    """Uniform samples in [0, 1)."""
    return _standard(random_uniform_p, keys, shape, dtype)


def random_normal(keys, shape, dtype):
    """Standard normal samples (complex ones for a complex dtype)."""
    return _standard(random_normal_p, keys, shape, dtype)


def random_exponential(keys, shape, dtype):
    return _standard(random_exponential_p, keys, shape, dtype)


def random_laplace(keys, shape, dtype):
    return _standard(random_laplace_p, keys, shape, dtype)


def random_logistic(keys, shape, dtype):
    return _standard(random_logistic_p, keys, shape, dtype)


def random_cauchy(keys, shape, dtype):
    return _standard(random_cauchy_p, keys, shape, dtype)


def random_maxwell(keys, shape, dtype):
    return _standard(random_maxwell_p, keys, shape, dtype)


def random_rademacher(keys, shape, dtype):
    return _standard(random_rademacher_p, keys, shape, dtype)


def random_gumbel(keys, shape, dtype, mode: str):
    return _standard(random_gumbel_p, keys, shape, dtype, mode=mode)


def random_generalized_normal(keys, p: float, shape, dtype):
    return _standard(random_generalized_normal_p, keys, shape, dtype, p=p)


def random_ball(keys, d: int, p: float, shape, dtype):
    return _standard(random_ball_p, keys, shape, dtype, d=as_int(d), p=p)


def random_orthogonal(keys, n: int, m: int, shape, dtype):
    return _standard(random_orthogonal_p, keys, shape, dtype, n=as_int(n), m=as_int(m))


def random_bernoulli(keys, p, shape, mode: str = "low"):
    return random_bernoulli_p.bind1(keys, p, shape=as_ints(shape), mode=mode)


def random_randint(keys, minval, maxval, shape, dtype):
    return random_randint_p.bind1(keys, minval, maxval, shape=as_ints(shape),
                                 dtype=np.dtype(dtype))


def random_poisson(keys, lam, shape, dtype):
    return random_poisson_p.bind1(keys, lam, shape=as_ints(shape), dtype=np.dtype(dtype))


def random_geometric(keys, p, shape, dtype):
    return random_geometric_p.bind1(keys, p, shape=as_ints(shape), dtype=np.dtype(dtype))


def random_binomial(keys, n, p, shape, dtype):
    return random_binomial_p.bind1(keys, n, p, shape=as_ints(shape), dtype=np.dtype(dtype))


def random_multinomial(keys, n, p, shape, dtype, unroll=1):
    return random_multinomial_p.bind1(keys, n, p, shape=as_ints(shape), dtype=np.dtype(dtype),
                                     unroll=unroll)


def random_categorical(keys, logits, axis: int, shape, replace: bool, mode: str):
    """Category indices along `axis` of the logits (axis counts the logits' own axes)."""
    return random_categorical_p.bind1(keys, logits, axis=as_int(axis), shape=as_ints(shape),
                                     replace=bool(replace), mode=mode)


def random_choice(keys, n: int, shape, replace: bool, p=None, mode: str = "low"):
    """Indices into range(n), as jax.random.choice(key, n, ...) draws them."""
    params = dict(n=as_int(n), shape=as_ints(shape), replace=bool(replace), mode=mode)
    if p is None:
        return random_choice_p.bind1(keys, **params)
    return random_choice_p.bind1(keys, p, **params)


def random_permutation(keys, shape, axis: int):
    """0..n-1 shuffled along `axis` of `shape` (independently for each other position)."""
    return random_permutation_p.bind1(keys, shape=as_ints(shape), axis=as_int(axis))
