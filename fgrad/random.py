"""fgrad.random: jax.random's API on fgrad's primitives, usable inside every transformation.

    import fgrad, fgrad.random as frandom
    key = frandom.key(0)
    k1, k2 = frandom.split(key)
    x = frandom.normal(k1, (3,))           # bit for bit jax.random.normal(k1, (3,))

Keys are arrays of JAX's key dtype (`jax.random.key`), or legacy uint32 arrays of shape
(..., 2) (`jax.random.PRNGKey`), which are wrapped on the way in with the default
implementation; `split` and `fold_in` hand raw keys back raw. Every sampler takes one key;
to draw with many, split it, or map over keys with `fgrad.vmap`.

Each function has jax.random's signature and defaults and draws the same values: the
standard samplers are primitives lowered to the jax.random function itself
(fgrad/lax/random.py), and the distributions with parameters are written here with fgrad
operations over them, computing what jax.random computes, so they are differentiable in
their parameters (reparameterization: `loc + scale * normal(key)` needs nothing special).
"""

from __future__ import annotations

import math
import operator
from typing import Sequence

import jax
import numpy as np

import fgrad.numpy as fnp
from fgrad.core.errors import missing_attribute as _missing_attribute
from fgrad.core import Tracer, aval_of
from fgrad.core import dtypes as dt
from fgrad.core.errors import ShapeDtypeError, at_user_line
from fgrad.core.ir import Aval, is_key
from fgrad.lax import random as lr
from fgrad.lax._rules import user_dtype
from fgrad.lax.elementwise import (
    convert_element_type, erf, erf_inv, nextafter, stop_gradient_p,
)
from fgrad.lax.shapes import broadcasted_iota
from fgrad.numpy._core import as_array, promote_dtypes
from fgrad.numpy._indexing import getitem

__all__ = [
    "PRNGKey", "ball", "bernoulli", "beta", "binomial", "bits", "categorical", "cauchy",
    "chisquare", "choice", "clone", "dirichlet", "double_sided_maxwell", "exponential", "f",
    "fold_in", "gamma", "generalized_normal", "geometric", "gumbel", "key", "key_data",
    "key_impl", "laplace", "loggamma", "logistic", "lognormal", "maxwell", "multinomial",
    "multivariate_normal", "normal", "orthogonal", "pareto", "permutation", "poisson",
    "rademacher", "randint", "rayleigh", "split", "t", "triangular", "truncated_normal",
    "uniform", "wald", "weibull_min", "wrap_key_data",
]

# -- arguments -------------------------------------------------------------------------------

_NOT_A_KEY = (
    "fgrad.random.{name}: {what} is not a PRNG key. A key is an array of key dtype, from "
    "fgrad.random.key(seed) (or jax.random.key), or a legacy uint32 array of shape (..., 2) "
    "from fgrad.random.PRNGKey(seed); pass one as the first argument, for example "
    "fgrad.random.{name}(fgrad.random.key(0), ...).")


def _name(dtype) -> str:
    """A dtype's full name, for messages (float32, not f32; key<fry> for keys)."""
    return str(dtype) if is_key(dtype) else np.dtype(dtype).name


def _key_arg(name: str, key, single: bool = True):
    """The key as a typed key array, and whether it came as legacy uint32 data."""
    try:
        aval = aval_of(key)
    except TypeError:
        raise TypeError(at_user_line(_NOT_A_KEY.format(
            name=name, what=f"a {type(key).__name__}"))) from None
    if is_key(aval.dtype):
        typed, raw = key, False
    elif aval.dtype == np.uint32:
        impl = lr.default_impl()
        trailing = lr.key_data_shape(impl)
        if aval.shape[max(aval.ndim - len(trailing), 0):] != trailing:
            raise ValueError(at_user_line(
                f"fgrad.random.{name}: a legacy uint32 key of the default implementation "
                f"({impl}) has shape (..., {', '.join(map(str, trailing))}), but this one has "
                f"shape {aval.shape}. Make keys with fgrad.random.key or PRNGKey, and split "
                f"them with fgrad.random.split."))
        typed, raw = lr.random_wrap(key, impl), True
    else:
        raise TypeError(at_user_line(_NOT_A_KEY.format(
            name=name, what=f"an array of type {aval}")))
    if single and aval_of(typed).ndim:
        shape = aval_of(typed).shape
        raise ValueError(at_user_line(
            f"fgrad.random.{name} takes a single key, but was given an array of keys of "
            f"shape {shape}. To draw with each key, map over them: "
            f"fgrad.vmap(lambda k: fgrad.random.{name}(k, ...))(keys)."))
    return typed, raw


def _returned_keys(keys, raw: bool):
    """New keys, as legacy uint32 data when the key they came from was (as in JAX)."""
    if raw and not jax.config.jax_enable_custom_prng:
        return lr.random_unwrap(keys)
    return keys


def _shape(name: str, shape) -> tuple[int, ...]:
    try:
        dims = tuple(operator.index(d) for d in shape)
    except TypeError:
        raise TypeError(at_user_line(
            f"fgrad.random.{name}: shape must be a sequence of ints, such as (3,) or (), not "
            f"{shape!r}.")) from None
    if any(d < 0 for d in dims):
        raise ValueError(at_user_line(
            f"fgrad.random.{name}: shape {dims} has a negative dimension."))
    return dims


# dtype families a sampler returns: name -> (test, the words for messages)
_KINDS = {
    "float": (dt.is_float, "a floating-point"),
    "inexact": (dt.is_inexact, "a floating-point or complex"),
    "integer": (dt.is_integer, "an integer"),
    "unsigned": (lambda d: np.issubdtype(d, np.unsignedinteger), "an unsigned integer"),
    "any": (lambda d: True, "any"),
}


def _dtype(name: str, dtype, default, kind: str = "float") -> np.dtype:
    """The dtype asked for (canonicalized as JAX does: float64 is float32 without x64)."""
    d = np.dtype(default) if dtype is None else dt.canonicalize(user_dtype(dtype))
    test, words = _KINDS[kind]
    if not test(d):
        raise ValueError(at_user_line(
            f"fgrad.random.{name}: dtype must be {words} dtype, got {d.name}."))
    return d


def _array(name: str, x, what: str):
    """A parameter as an fgrad/JAX array (lists become arrays; scalars stay scalars)."""
    if isinstance(x, (list, tuple)):
        return fnp.asarray(x)
    try:
        aval_of(x)
    except TypeError:
        raise TypeError(at_user_line(
            f"fgrad.random.{name}: {what} must be an array or a number, not "
            f"{type(x).__name__}.")) from None
    return x


def _as(x, dtype: np.dtype):
    """x converted to `dtype`, strongly typed (jax.lax.convert_element_type's result)."""
    aval = aval_of(x)
    if aval.dtype == dtype and not aval.weak_type and not isinstance(x, (int, float)):
        return x
    return convert_element_type(x, dtype)


def _inexact(x):
    """x, or x converted to the default float if it holds integers (JAX's promotion)."""
    aval = aval_of(x)
    if dt.is_inexact(aval.dtype):
        return x
    return convert_element_type(x, dt.default_float(), weak_type=aval.weak_type)


def _check_castable(name: str, dtype: np.dtype, **params) -> None:
    """Each parameter converts to `dtype` without losing precision (jax.random's check)."""
    for what, x in params.items():
        aval = aval_of(x)
        if aval.dtype != dtype and dt.promote(aval, Aval((), dtype, False))[0] != dtype:
            raise TypeError(at_user_line(
                f"fgrad.random.{name}: cannot safely cast {what} of type "
                f"{_name(aval.dtype)} to the sample dtype {dtype.name}. Convert it "
                f"first, or ask for dtype={_name(aval.dtype)}."))


def _broadcasts_to(own: tuple, shape: tuple) -> bool:
    return len(own) <= len(shape) and all(n in (1, m) for n, m in zip(own[::-1], shape[::-1]))


def _sample_shape(name: str, shape, **params) -> tuple[int, ...]:
    """`shape`, checked against the parameters' shapes (each must broadcast to it), or
    their broadcast shape when `shape` is None."""
    return _checked_shape(name, shape, {what: aval_of(x).shape for what, x in params.items()})


def _checked_shape(name: str, shape, shapes: dict) -> tuple[int, ...]:
    if shape is None:
        try:
            return tuple(np.broadcast_shapes(*shapes.values()))
        except ValueError:
            listed = ", ".join(f"{w} {s}" for w, s in shapes.items())
            # JAX's samplers fail on such parameters with a TypeError or a ValueError.
            raise ShapeDtypeError(at_user_line(
                f"fgrad.random.{name}: the parameters' shapes ({listed}) do not broadcast "
                f"together.")) from None
    shape = _shape(name, shape)
    for what, own in shapes.items():
        if not _broadcasts_to(own, shape):
            raise ShapeDtypeError(at_user_line(
                f"fgrad.random.{name}: {what} has shape {own}, which does not broadcast to "
                f"shape={shape}. Every parameter must broadcast to the requested shape (the "
                f"result's); pass shape=None for the parameters' own broadcast shape."))
    return shape


def _static_number(name: str, x, what: str):
    """A parameter fgrad treats as static (part of the program, like a shape)."""
    if isinstance(x, Tracer) or isinstance(x, jax.core.Tracer):
        raise TypeError(at_user_line(
            f"fgrad.random.{name}: {what} must be a Python number here (it is a static "
            f"parameter of the sampler), not a traced value."))
    return x.item() if isinstance(x, (np.ndarray, np.generic, jax.Array)) else x


def _concrete_int(name: str, x, what: str) -> int:
    try:
        return operator.index(x)
    except TypeError:
        pass
    aval = aval_of(x)
    if aval.ndim or not dt.is_integer(aval.dtype):
        raise TypeError(at_user_line(f"fgrad.random.{name}: {what} must be an integer."))
    return int(x)  # a traced integer: its concrete value, or a ConcretizationError


def _gumbel_mode(mode):
    if mode is None:
        return "high" if jax.config.jax_high_dynamic_range_gumbel else "low"
    return mode


def _stop_gradient(x):
    return stop_gradient_p.bind1(x)


def _split2(key):
    """Two keys from one, as jax.random's samplers split internally."""
    keys = lr.random_split(key, (2,))
    return getitem(keys, 0), getitem(keys, 1)


def _take(arr, indices, axis: int):
    """jnp.take(arr, indices, axis) for in-bounds indices: a differentiable gather."""
    return getitem(as_array(arr), (slice(None),) * axis + (indices,))


def _take_along_axis(arr, indices, axis: int):
    """arr's elements at `indices` along `axis` (indices has arr's shape)."""
    shape = aval_of(arr).shape
    index_dtype = aval_of(indices).dtype
    index = tuple(indices if d == axis else broadcasted_iota(index_dtype, shape, d)
                  for d in range(len(shape)))
    return getitem(as_array(arr), index)


# -- keys ------------------------------------------------------------------------------------


def _impl(impl):
    """The implementation a user names, as the impl param of fgrad's key primitives."""
    if impl is None:
        return lr.default_impl()
    try:
        dtype = lr.key_dtype(impl)
    except (TypeError, ValueError) as e:
        raise ValueError(at_user_line(f"fgrad.random: {e}")) from None
    return impl if isinstance(impl, str) else lr.impl_of(dtype)


def _impl_or_dtype(name: str, impl, dtype):
    if dtype is not None and impl is not None:
        raise ValueError(at_user_line(
            f"fgrad.random.{name}: give impl or dtype, not both."))
    return _impl(dtype if dtype is not None else impl)


def key(seed, *, impl=None, dtype=None):
    """A PRNG key (a scalar array of key dtype) from an integer seed.

    Arguments:
        seed: a 64- or 32-bit integer.
        impl: optional, the PRNG implementation's name ('threefry2x32', 'rbg', ...).
        dtype: optional, the key dtype instead of impl.

    Returns:
        A key array of shape (), equal to jax.random.key(seed).
    """
    impl = _impl_or_dtype("key", impl, dtype)
    return lr.random_seed(_seed("key", seed), impl)


def PRNGKey(seed, *, impl=None):  # noqa: N802 (jax.random's name)
    """A legacy PRNG key: the uint32 data of key(seed), shape (2,) for threefry2x32."""
    keys = lr.random_seed(_seed("PRNGKey", seed), _impl(impl))
    return _returned_keys(keys, raw=True)


def _seed(name: str, seed):
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError(at_user_line(f"fgrad.random.{name}: the seed must be an integer."))
    if isinstance(seed, (int, np.integer)):
        # As jax.random.key does: the seed is an int64 (narrowed to int32 without x64). A
        # 0-d array rather than a Python scalar, so it stays an operand of the program.
        return np.asarray(np.int64(seed))
    aval = aval_of(_array(name, seed, "the seed"))
    if is_key(aval.dtype):
        raise TypeError(at_user_line(
            f"fgrad.random.{name} takes an integer seed, but was given a PRNG key. Split or "
            f"fold_in the key instead."))
    if aval.ndim:
        raise TypeError(at_user_line(
            f"fgrad.random.{name} takes a scalar seed, but was given an array of shape "
            f"{aval.shape}. Map over seeds with fgrad.vmap for an array of keys."))
    if not dt.is_integer(aval.dtype):
        raise TypeError(at_user_line(
            f"fgrad.random.{name}: the seed must be an integer, not {_name(aval.dtype)}."))
    return seed


def split(key, num=2):
    """Splits a key into `num` new keys (an int, or a tuple of ints: the keys' shape).

    Returns:
        Keys of shape (num,) (or `num`), raw uint32 data when `key` was raw.
    """
    typed, raw = _key_arg("split", key)
    shape = tuple(num) if isinstance(num, Sequence) else (num,)
    return _returned_keys(lr.random_split(typed, _shape("split", shape)), raw)


def fold_in(key, data):
    """A new key from `key` and a 32-bit integer `data` (a step number, an example index).

    Returns:
        A key, raw uint32 data when `key` was raw.
    """
    typed, raw = _key_arg("fold_in", key)
    if isinstance(data, (int, np.integer)) and not isinstance(data, bool):
        if not 0 <= int(data) < 2 ** 32:
            raise OverflowError(at_user_line(
                f"fgrad.random.fold_in: data {int(data)} is out of bounds for uint32."))
        data = np.asarray(data, np.uint32)
    aval = aval_of(_array("fold_in", data, "data"))
    if aval.ndim:
        raise TypeError(at_user_line(
            f"fgrad.random.fold_in takes a scalar, but was given an array of shape "
            f"{aval.shape}. Map over it with fgrad.vmap."))
    return _returned_keys(lr.random_fold_in(typed, _as(data, np.dtype(np.uint32))), raw)


def key_data(keys):
    """The uint32 data underlying an array of keys (any shape): keys.shape + (2,) for
    threefry2x32."""
    typed, _ = _key_arg("key_data", keys, single=False)
    return lr.random_unwrap(typed)


def wrap_key_data(key_bits_array, *, impl=None, dtype=None):
    """Keys from their uint32 data, whose trailing axes hold one key (the inverse of
    key_data).

    Arguments:
        key_bits_array: uint32 data of shape (..., 2) for threefry2x32.
        impl, dtype: optional, the implementation (by name, or its key dtype).
    """
    impl = _impl_or_dtype("wrap_key_data", impl, dtype)
    data = _array("wrap_key_data", key_bits_array, "key_bits_array")
    aval, trailing = aval_of(data), lr.key_data_shape(impl)
    if aval.dtype != np.uint32 or aval.shape[max(aval.ndim - len(trailing), 0):] != trailing:
        raise TypeError(at_user_line(
            f"fgrad.random.wrap_key_data: key data of {impl} is uint32 of shape (..., "
            f"{', '.join(map(str, trailing))}), but this is {aval}."))
    return lr.random_wrap(data, impl)


def key_impl(keys):
    """The name of the keys' PRNG implementation ('threefry2x32', ...)."""
    typed, _ = _key_arg("key_impl", keys, single=False)
    return lr.impl_of(aval_of(typed).dtype)


def clone(key):
    """The key itself: jax.random.clone only matters to JAX's key-reuse checker."""
    _key_arg("clone", key, single=False)
    return key


# -- bits and the standard samplers ----------------------------------------------------------


def bits(key, shape=(), dtype=None):
    """Uniform random bits as unsigned integers (uint32, or uint64 with x64 enabled)."""
    key, _ = _key_arg("bits", key)
    dtype = _dtype("bits", dtype, dt.canonicalize(np.uint64), "unsigned")
    return lr.random_bits(key, dtype.itemsize * 8, _shape("bits", shape))


def _is_number(x, value) -> bool:
    return type(x) in (int, float) and x == value


def uniform(key, shape=(), dtype=None, minval=0., maxval=1.):
    """Uniform samples in [minval, maxval) (differentiable in minval and maxval).

    Arguments:
        key: a PRNG key.
        shape: the result's shape; minval and maxval must broadcast to it.
        dtype: a float dtype (default float32, float64 with x64).
        minval, maxval: the interval's ends.
    """
    key, _ = _key_arg("uniform", key)
    dtype = _dtype("uniform", dtype, dt.default_float())
    shape = _shape("uniform", shape)
    u = lr.random_uniform(key, shape, dtype)
    if _is_number(minval, 0) and _is_number(maxval, 1):
        return u  # u * (1 - 0) + 0 is u itself
    return _scaled(u, minval, maxval, dtype, shape, "uniform")


def _scaled(u, minval, maxval, dtype, shape, name: str):
    """max(minval, u * (maxval - minval) + minval), jax.random.uniform's formula."""
    lo = _as(_array(name, minval, "minval"), dtype)
    hi = _as(_array(name, maxval, "maxval"), dtype)
    _sample_shape(name, shape, minval=lo, maxval=hi)
    return fnp.maximum(lo, u * (hi - lo) + lo)


def normal(key, shape=(), dtype=None):
    """Standard normal samples (complex ones, with independent real and imaginary parts of
    variance 1/2, for a complex dtype). For N(loc, scale**2) write loc + scale * normal(key):
    the result is differentiable in loc and scale."""
    key, _ = _key_arg("normal", key)
    dtype = _dtype("normal", dtype, dt.default_float(), "inexact")
    return lr.random_normal(key, _shape("normal", shape), dtype)


def _standard(name: str, sample, key, shape, dtype, *static):
    key, _ = _key_arg(name, key)
    dtype = _dtype(name, dtype, dt.default_float())
    return sample(key, *static, _shape(name, shape), dtype)


def exponential(key, shape=(), dtype=None):
    """Exponential samples of rate 1."""
    return _standard("exponential", lr.random_exponential, key, shape, dtype)


def laplace(key, shape=(), dtype=None):
    """Laplace samples of location 0 and scale 1."""
    return _standard("laplace", lr.random_laplace, key, shape, dtype)


def logistic(key, shape=(), dtype=None):
    """Standard logistic samples."""
    return _standard("logistic", lr.random_logistic, key, shape, dtype)


def cauchy(key, shape=(), dtype=None):
    """Standard Cauchy samples."""
    return _standard("cauchy", lr.random_cauchy, key, shape, dtype)


def maxwell(key, shape=(), dtype=None):
    """One-sided Maxwell samples (the norm of a 3-D standard normal vector)."""
    return _standard("maxwell", lr.random_maxwell, key, shape, dtype)


def gumbel(key, shape=(), dtype=None, mode=None):
    """Standard Gumbel samples; mode 'low' or 'high' ('high' reaches further into the tail
    at twice the cost; the default follows jax_high_dynamic_range_gumbel)."""
    mode = _gumbel_mode(mode)
    if mode not in ("low", "high", "highest"):
        raise ValueError(at_user_line(
            f"fgrad.random.gumbel: mode must be 'low', 'high' or 'highest', not {mode!r}."))
    key, _ = _key_arg("gumbel", key)
    dtype = _dtype("gumbel", dtype, dt.default_float())
    return lr.random_gumbel(key, _shape("gumbel", shape), dtype, mode)


def rademacher(key, shape=(), dtype=None):
    """Samples of -1 and 1 with probability 1/2 each (default int dtype)."""
    key, _ = _key_arg("rademacher", key)
    dtype = _dtype("rademacher", dtype, dt.default_int(), "any")
    return lr.random_rademacher(key, _shape("rademacher", shape), dtype)


def generalized_normal(key, p, shape=(), dtype=None):
    """Samples with density proportional to exp(-|x|**p); `p` is a Python number."""
    p = _static_number("generalized_normal", p, "p")
    return _standard("generalized_normal", lr.random_generalized_normal, key, shape, dtype, p)


def ball(key, d, p=2, shape=(), dtype=None):
    """Uniform samples from the unit Lp ball in d dimensions: shape + (d,).

    `d` is an int and `p` a Python number (static parameters).
    """
    d = _concrete_int("ball", d, "d")
    p = _static_number("ball", p, "p")
    return _standard("ball", lr.random_ball, key, shape, dtype, d, p)


def orthogonal(key, n, shape=(), dtype=None, m=None):
    """Uniform samples from the orthogonal group O(n) (semi-orthogonal n x m matrices when
    m is given; unitary ones for a complex dtype): shape + (n, m)."""
    n = _concrete_int("orthogonal", n, "n")
    m = n if m is None else _concrete_int("orthogonal", m, "m")
    key, _ = _key_arg("orthogonal", key)
    dtype = _dtype("orthogonal", dtype, dt.default_float(), "inexact")
    return lr.random_orthogonal(key, n, m, _shape("orthogonal", shape), dtype)


# -- discrete samplers -----------------------------------------------------------------------


def bernoulli(key, p=0.5, shape=None, mode="low"):
    """Boolean samples that are True with probability p.

    Arguments:
        p: a float or float array of probabilities.
        shape: the result's shape (p must broadcast to it); default p's shape.
        mode: 'low', or 'high' for correct draws at p below about 1e-7 (float32).
    """
    if mode not in ("high", "low"):
        raise ValueError(at_user_line(
            f"fgrad.random.bernoulli: mode must be 'high' or 'low', not {mode!r}."))
    key, _ = _key_arg("bernoulli", key)
    p = _array("bernoulli", p, "p")
    p_dtype = aval_of(p).dtype
    if not dt.is_float(p_dtype):
        raise TypeError(at_user_line(
            f"fgrad.random.bernoulli: the probability p must have a floating dtype, got "
            f"{_name(p_dtype)}. Pass p as a float, e.g. 0.5."))
    p = _as(p, dt.canonicalize(p_dtype))
    shape = _sample_shape("bernoulli", shape, p=p)
    return lr.random_bernoulli(key, p, shape, mode)


def randint(key, shape, minval, maxval, dtype=None):
    """Uniform integers in [minval, maxval) (default int dtype); minval and maxval must
    broadcast to shape."""
    key, _ = _key_arg("randint", key)
    dtype = _dtype("randint", dtype, dt.default_int(), "integer")
    minval = _array("randint", minval, "minval")
    maxval = _array("randint", maxval, "maxval")
    shape = _sample_shape("randint", _shape("randint", shape), minval=minval, maxval=maxval)
    return lr.random_randint(key, minval, maxval, shape, dtype)


def categorical(key, logits, axis=-1, shape=None, replace=True, mode=None):
    """Category indices drawn with probabilities softmax(logits) along `axis` (the Gumbel
    max trick; top-k of Gumbel-perturbed logits without replacement).

    Returns:
        Integer indices of shape `shape`, default the logits' shape without `axis`.
    """
    key, _ = _key_arg("categorical", key)
    logits = _array("categorical", logits, "logits")
    own = aval_of(logits).shape
    if not own:
        raise ValueError(at_user_line(
            "fgrad.random.categorical: logits need at least one axis (the categories)."))
    axis = _axis("categorical", axis, len(own))
    categories = own[:axis] + own[axis + 1:]
    if shape is None:
        shape = categories
    else:
        shape = _shape("categorical", shape)
        if not _broadcasts_to(categories, shape):
            raise ValueError(at_user_line(
                f"fgrad.random.categorical: the logits' shape without the category axis, "
                f"{categories}, does not broadcast to shape={shape}."))
    draws = math.prod(shape[:len(shape) - len(categories)])
    if not replace and draws > own[axis]:
        raise ValueError(at_user_line(
            f"fgrad.random.categorical: number of samples without replacement ({draws}) "
            f"cannot exceed the number of categories ({own[axis]})."))
    return lr.random_categorical(key, logits, axis, shape, replace, _gumbel_mode(mode))


def _axis(name: str, axis, ndim: int) -> int:
    axis = operator.index(axis)
    if not -ndim <= axis < ndim:
        raise ValueError(at_user_line(
            f"fgrad.random.{name}: axis {axis} is out of range for an array of "
            f"{ndim} dimension(s)."))
    return axis % ndim


def poisson(key, lam, shape=None, dtype=None):
    """Poisson samples of rate lam (default int dtype); threefry2x32 keys only, as in JAX."""
    key, _ = _key_arg("poisson", key)
    dtype = _dtype("poisson", dtype, dt.default_int(), "integer")
    if lr.impl_of(aval_of(key).dtype) != "threefry2x32":
        raise NotImplementedError(at_user_line(
            f"fgrad.random.poisson is only implemented for threefry2x32 keys (as in JAX), "
            f"not {lr.impl_of(aval_of(key).dtype)}."))
    lam = _array("poisson", lam, "lam")
    shape = _sample_shape("poisson", shape, lam=lam)
    lam = _as(fnp.broadcast_to(lam, shape), np.dtype(np.float32))
    return lr.random_poisson(key, lam, shape, dtype)


def geometric(key, p, shape=None, dtype=None):
    """Geometric samples: the number of Bernoulli(p) trials up to the first success."""
    key, _ = _key_arg("geometric", key)
    dtype = _dtype("geometric", dtype, dt.default_int(), "integer")
    p = _inexact(_array("geometric", p, "p"))
    shape = _sample_shape("geometric", shape, p=p)
    return lr.random_geometric(key, p, shape, dtype)


def binomial(key, n, p, shape=None, dtype=None):
    """Binomial samples: successes in n trials of probability p (a float dtype)."""
    key, _ = _key_arg("binomial", key)
    dtype = _dtype("binomial", dtype, dt.default_float())
    n, p = _array("binomial", n, "n"), _array("binomial", p, "p")
    shape = _sample_shape("binomial", shape, n=n, p=p)
    return lr.random_binomial(key, n, p, shape, dtype)


def multinomial(key, n, p, *, shape=None, dtype=None, unroll=1):
    """Multinomial counts of n trials over the outcomes on p's last axis.

    Returns:
        Counts of shape `shape` (default p's shape; its last axis is the outcomes').
    """
    key, _ = _key_arg("multinomial", key)
    dtype = _dtype("multinomial", dtype, dt.default_float())
    n, p = (_inexact(_array("multinomial", x, w)) for x, w in ((n, "n"), (p, "p")))
    p_shape = aval_of(p).shape
    if not p_shape:
        raise ValueError(at_user_line(
            "fgrad.random.multinomial: p needs an axis of outcomes (its last)."))
    shape = p_shape if shape is None else _shape("multinomial", shape)
    if not shape or shape[-1] != p_shape[-1] or not _broadcasts_to(p_shape, shape) \
            or not _broadcasts_to(aval_of(n).shape, shape[:-1]):
        raise ValueError(at_user_line(
            f"fgrad.random.multinomial: shape={shape} must end with p's number of outcomes "
            f"({p_shape[-1]}), p (shape {p_shape}) must broadcast to it, and n (shape "
            f"{aval_of(n).shape}) to its leading part."))
    return lr.random_multinomial(key, n, p, shape, dtype, unroll)


def choice(key, a, shape=(), replace=True, p=None, axis=0, mode=None):
    """A random sample of the elements of `a` (of range(a) for an int), differentiable in
    `a`: the indices are drawn as jax.random.choice draws them, then gathered.

    Arguments:
        a: an array, or an int n for range(n).
        shape: the number of draws, as a shape.
        replace: draw with replacement.
        p: optional probabilities of a's elements along `axis`.
        axis: the axis of `a` to choose along.
        mode: the Gumbel sampler's mode for p without replacement.

    Returns:
        a.shape[:axis] + shape + a.shape[axis + 1:] elements (shape indices for an int a).
    """
    key, _ = _key_arg("choice", key)
    if not isinstance(shape, Sequence):
        raise TypeError(at_user_line(
            f"fgrad.random.choice: shape must be a sequence, such as (3,), not {shape!r}."))
    shape = _shape("choice", shape)
    a = _array("choice", a, "a")
    aval = aval_of(a)
    if aval.ndim == 0:
        n = _concrete_int("choice", a, "a (an int, or an array to choose from)")
    else:
        axis = _axis("choice", axis, aval.ndim)
        n = aval.shape[axis]
    draws = math.prod(shape)
    if draws == 0:
        return fnp.zeros(shape, dtype=dt.default_int() if aval.ndim == 0 else aval.dtype)
    if n <= 0:
        raise ValueError(at_user_line(
            "fgrad.random.choice: a must be greater than 0 unless no samples are taken."))
    if not replace and draws > n:
        raise ValueError(at_user_line(
            f"fgrad.random.choice: cannot take a larger sample (size {draws}) than the "
            f"population (size {n}) when replace=False."))
    if p is not None:
        p = _inexact(_array("choice", p, "p"))
        if aval_of(p).shape != (n,):
            raise ValueError(at_user_line(
                f"fgrad.random.choice: p must be None or a vector of a.shape[axis] = {n} "
                f"probabilities, but it has shape {aval_of(p).shape}."))
    indices = lr.random_choice(key, n, shape, replace, p, _gumbel_mode(mode))
    return indices if aval.ndim == 0 else _take(a, indices, axis)


def permutation(key, x, axis=0, independent=False):
    """A random permutation of range(x) for an int, or of x's elements along `axis`
    (differentiable in x). With independent=True each position of the other axes gets its
    own permutation."""
    key, _ = _key_arg("permutation", key)
    x = _array("permutation", x, "x")
    aval = aval_of(x)
    if aval.ndim == 0:
        if not dt.is_integer(aval.dtype):
            raise TypeError(at_user_line(
                "fgrad.random.permutation: x must be an integer or at least 1-dimensional."))
        _axis("permutation", axis, 1)
        n = _concrete_int("permutation", x, "x")
        return lr.random_permutation(key, (n,), 0)
    axis = _axis("permutation", axis, aval.ndim)
    if independent and aval.ndim > 1:
        return _take_along_axis(x, lr.random_permutation(key, aval.shape, axis), axis)
    return _take(x, lr.random_permutation(key, (aval.shape[axis],), 0), axis)


# -- gamma and the distributions built on it -------------------------------------------------


def _gamma(name: str, key, a, shape, dtype, log_space: bool):
    key, _ = _key_arg(name, key)
    dtype = _dtype(name, dtype, dt.default_float())
    a = _array(name, a, "a")
    shape = _sample_shape(name, shape, a=a)
    a = _as(a, dtype)
    if aval_of(a).shape != shape:
        a = fnp.broadcast_to(a, shape)
    return lr.random_gamma(key, a, log_space)


def gamma(key, a, shape=None, dtype=None):
    """Gamma(a) samples of unit scale, differentiable in `a` (implicitly: the derivative
    of the sample at the same uniform draw; second derivatives are not available).

    Arguments:
        a: the shape parameter (a float or array broadcastable to shape).
        shape: the result's shape; default a's shape.
    """
    return _gamma("gamma", key, a, shape, dtype, log_space=False)


def loggamma(key, a, shape=None, dtype=None):
    """log of Gamma(a) samples, computed in log space (accurate for small a), differentiable
    in `a`."""
    return _gamma("loggamma", key, a, shape, dtype, log_space=True)


def beta(key, a, b, shape=None, dtype=None):
    """Beta(a, b) samples, from two log-gamma draws, differentiable in a and b."""
    key, _ = _key_arg("beta", key)
    dtype = _dtype("beta", dtype, dt.default_float())
    a, b = _array("beta", a, "a"), _array("beta", b, "b")
    _check_castable("beta", dtype, a=a, b=b)
    shape = _sample_shape("beta", shape, a=a, b=b)
    key_a, key_b = _split2(key)
    a = fnp.broadcast_to(_as(a, dtype), shape)
    b = fnp.broadcast_to(_as(b, dtype), shape)
    log_gamma_a = lr.random_gamma(key_a, a, True)
    log_gamma_b = lr.random_gamma(key_b, b, True)
    # gamma_a / (gamma_a + gamma_b) without overflow or underflow: scale both by the larger.
    log_max = fnp.maximum(log_gamma_a, log_gamma_b)
    gamma_a = fnp.exp(log_gamma_a - log_max)
    gamma_b = fnp.exp(log_gamma_b - log_max)
    return gamma_a / (gamma_a + gamma_b)


def dirichlet(key, alpha, shape=None, dtype=None):
    """Dirichlet(alpha) samples over alpha's last axis, differentiable in alpha.

    Returns:
        shape + (alpha.shape[-1],) (default alpha's shape).
    """
    key, _ = _key_arg("dirichlet", key)
    dtype = _dtype("dirichlet", dtype, dt.default_float())
    alpha = _array("dirichlet", alpha, "alpha")
    alpha_shape = aval_of(alpha).shape
    if not alpha_shape:
        raise ValueError(at_user_line(
            "fgrad.random.dirichlet requires alpha.ndim >= 1, got alpha.ndim == 0."))
    if shape is None:
        shape = alpha_shape[:-1]
    else:
        shape = _shape("dirichlet", shape)
        if not _broadcasts_to(alpha_shape[:-1], shape):
            raise ValueError(at_user_line(
                f"fgrad.random.dirichlet: alpha's batch shape {alpha_shape[:-1]} does not "
                f"broadcast to shape={shape}."))
    full = shape + alpha_shape[-1:]
    # In log space: small alphas make gamma samples that underflow.
    log_gamma = lr.random_gamma(key, fnp.broadcast_to(_as(alpha, dtype), full), True)
    return _softmax(log_gamma)


def _softmax(x):
    """softmax over the last axis; its derivative is softmax's own (the max is a constant)."""
    unnormalized = fnp.exp(x - _stop_gradient(fnp.max(x, -1, keepdims=True)))
    return unnormalized / fnp.sum(unnormalized, -1, keepdims=True)


def t(key, df, shape=None, dtype=None):
    """Student's t samples with df degrees of freedom, differentiable in df."""
    key, _ = _key_arg("t", key)
    dtype = _dtype("t", dtype, dt.default_float())
    df = _array("t", df, "df")
    shape = _sample_shape("t", shape, df=df)
    _check_castable("t", dtype, df=df)
    df = _as(df, dtype)
    key_n, key_g = _split2(key)
    n = lr.random_normal(key_n, shape, dtype)
    half_df = df / 2
    g = lr.random_gamma(key_g, fnp.broadcast_to(half_df, shape), False)
    return n * fnp.sqrt(half_df / g)


def _chisquare(key, df, shape, dtype):
    half_df = df / 2
    log_g = lr.random_gamma(key, fnp.broadcast_to(half_df, shape), True)
    return fnp.exp(log_g) * 2


def chisquare(key, df, shape=None, dtype=None):
    """Chi-square samples with df degrees of freedom, differentiable in df."""
    key, _ = _key_arg("chisquare", key)
    dtype = _dtype("chisquare", dtype, dt.default_float())
    df = _array("chisquare", df, "df")
    shape = _sample_shape("chisquare", shape, df=df)
    _check_castable("chisquare", dtype, df=df)
    return _chisquare(key, _as(df, dtype), shape, dtype)


def f(key, dfnum, dfden, shape=None, dtype=None):
    """F-distribution samples, differentiable in dfnum and dfden."""
    key, _ = _key_arg("f", key)
    dtype = _dtype("f", dtype, dt.default_float())
    dfnum, dfden = _array("f", dfnum, "dfnum"), _array("f", dfden, "dfden")
    shape = _sample_shape("f", shape, dfnum=dfnum, dfden=dfden)
    _check_castable("f", dtype, dfnum=dfnum, dfden=dfden)
    dfnum, dfden = _as(dfnum, dtype), _as(dfden, dtype)
    key_dfd, key_dfn = _split2(key)
    chi2_dfn = _chisquare(key_dfn, dfnum, shape, dtype)
    chi2_dfd = _chisquare(key_dfd, dfden, shape, dtype)
    return (chi2_dfn / dfnum) / (chi2_dfd / dfden)


# -- continuous distributions written over the standard samplers -----------------------------


def truncated_normal(key, lower, upper, shape=None, dtype=None):
    """Standard normal samples truncated to the open interval (lower, upper), by inverting
    the normal CDF at a uniform draw between the bounds' CDFs; differentiable in the
    bounds."""
    key, _ = _key_arg("truncated_normal", key)
    dtype = _dtype("truncated_normal", dtype, dt.default_float())
    lower = _array("truncated_normal", lower, "lower")
    upper = _array("truncated_normal", upper, "upper")
    shape = _sample_shape("truncated_normal", shape, lower=lower, upper=upper)
    sqrt2 = np.array(np.sqrt(2), dtype)
    lower, upper = _as(lower, dtype), _as(upper, dtype)
    a = erf(fnp.divide(lower, sqrt2))
    b = erf(fnp.divide(upper, sqrt2))
    u = _scaled(lr.random_uniform(key, shape, dtype), a, b, dtype, shape, "truncated_normal")
    out = sqrt2 * erf_inv(u)
    # Rounding (or drawing exactly a) could land on a bound: clip into the open interval.
    return fnp.clip(out, _toward(lower, np.inf), _toward(upper, -np.inf))


def _toward(bound, direction: float):
    """The float next to a (gradient-stopped) bound, in `direction`."""
    bound = _stop_gradient(bound)
    aval = aval_of(bound)
    return nextafter(bound, fnp.full(aval.shape, direction, aval.dtype))


def lognormal(key, sigma=np.float32(1), shape=None, dtype=None):
    """exp(sigma * z) for standard normal z, differentiable in sigma."""
    key, _ = _key_arg("lognormal", key)
    dtype = _dtype("lognormal", dtype, dt.default_float(), "inexact")
    sigma = _array("lognormal", sigma, "sigma")
    shape = _sample_shape("lognormal", shape, sigma=sigma)
    _check_castable("lognormal", dtype, sigma=sigma)
    return fnp.exp(lr.random_normal(key, shape, dtype) * _as(sigma, dtype))


def pareto(key, b, shape=None, dtype=None):
    """Pareto samples of shape b on [1, inf): exp(e / b) for standard exponential e."""
    key, _ = _key_arg("pareto", key)
    dtype = _dtype("pareto", dtype, dt.default_float())
    b = _array("pareto", b, "b")
    shape = _sample_shape("pareto", shape, b=b)
    _check_castable("pareto", dtype, b=b)
    return fnp.exp(lr.random_exponential(key, shape, dtype) / _as(b, dtype))


def rayleigh(key, scale, shape=None, dtype=None):
    """Rayleigh samples: scale * sqrt(-2 log u) for uniform u."""
    key, _ = _key_arg("rayleigh", key)
    dtype = _dtype("rayleigh", dtype, dt.default_float())
    scale = _array("rayleigh", scale, "scale")
    shape = _sample_shape("rayleigh", shape, scale=scale)
    _check_castable("rayleigh", dtype, scale=scale)
    u = lr.random_uniform(key, shape, dtype)
    scale = fnp.broadcast_to(_as(scale, dtype), shape)
    return scale * fnp.sqrt(fnp.log(u) * -2)


def wald(key, mean, shape=None, dtype=None):
    """Wald (inverse Gaussian) samples of the given mean and unit shape, differentiable in
    mean."""
    key, _ = _key_arg("wald", key)
    dtype = _dtype("wald", dtype, dt.default_float())
    mean = _array("wald", mean, "mean")
    shape = _sample_shape("wald", shape, mean=mean)
    _check_castable("wald", dtype, mean=mean)
    k1, k2 = _split2(key)
    mean = fnp.broadcast_to(_as(mean, dtype), shape)
    v = lr.random_normal(k1, shape, dtype)
    z = lr.random_uniform(k2, shape, dtype)
    y = v ** 2
    y_sq = y ** 2
    mean_sq = mean ** 2
    sqrt_term = fnp.sqrt(4 * mean * y + mean_sq * y_sq)
    x = mean + mean_sq * y / 2 - mean / 2 * sqrt_term
    return fnp.where(z <= mean / (mean + x), x, mean_sq / x)


def weibull_min(key, scale, concentration, shape=(), dtype=None):
    """Weibull samples by inverting the CDF at a uniform draw, differentiable in scale and
    concentration."""
    key, _ = _key_arg("weibull_min", key)
    dtype = _dtype("weibull_min", dtype, dt.default_float())
    u = lr.random_uniform(key, _shape("weibull_min", shape), dtype)
    return fnp.power(-fnp.log1p(-u), 1.0 / concentration) * scale


def double_sided_maxwell(key, loc, scale, shape=(), dtype=None):
    """Double-sided Maxwell samples: a Maxwell draw with a random sign, times scale, plus
    loc. As in JAX, the result's shape is shape + broadcast(loc, scale) (shape defaults to
    that broadcast shape, so it appears twice)."""
    key, _ = _key_arg("double_sided_maxwell", key)
    dtype = _dtype("double_sided_maxwell", dtype, dt.default_float())
    shape = _shape("double_sided_maxwell", shape)
    params_shape = _sample_shape("double_sided_maxwell", None, loc=loc, scale=scale)
    shape = (shape or params_shape) + params_shape
    maxwell_key, rademacher_key = _split2(key)
    maxwell_rvs = lr.random_maxwell(maxwell_key, shape, dtype)
    random_sign = lr.random_rademacher(rademacher_key, shape, dtype)
    return random_sign * maxwell_rvs * scale + loc


def triangular(key, left, mode, right, shape=None, dtype=None):
    """Triangular samples on [left, right] peaking at mode, differentiable in all three."""
    key, _ = _key_arg("triangular", key)
    dtype = _dtype("triangular", dtype, dt.default_float())
    left, mode, right = (_array("triangular", x, w)
                         for x, w in ((left, "left"), (mode, "mode"), (right, "right")))
    shape = _sample_shape("triangular", shape, left=left, mode=mode, right=right)
    _check_castable("triangular", dtype, left=left, mode=mode, right=right)
    left, mode, right = (fnp.broadcast_to(_as(x, dtype), shape) for x in (left, mode, right))
    fc = (mode - left) / (right - left)
    u = lr.random_uniform(key, shape, dtype)
    out1 = left + fnp.sqrt(u * (right - left) * (mode - left))
    out2 = right - fnp.sqrt((1 - u) * (right - left) * (right - mode))
    return fnp.where(u < fc, out1, out2)


def multivariate_normal(key, mean, cov, shape=None, dtype=None, method="cholesky"):
    """Multivariate normal samples mean + A @ z, with A A^T = cov and z standard normal;
    differentiable in mean and cov.

    Arguments:
        mean: (..., n) means.
        cov: (..., n, n) positive-definite covariances.
        shape: the batch shape of the result (without the last axis); default the
            broadcast of mean's and cov's batch shapes.
        dtype: a float dtype (default mean's).
        method: how cov is factored, as in JAX: 'cholesky' (A = L, the Cholesky factor;
            cov must be positive-definite), 'eigh' (A = V sqrt(w), from cov = V diag(w)
            V^T) or 'svd' (A = U sqrt(s), from cov = U diag(s) V^T); the last two accept
            a positive-semidefinite cov. The eigenvector derivatives of 'eigh' and 'svd'
            are infinite or NaN where eigenvalues repeat (as in JAX).

    Returns:
        shape + (n,) samples.
    """
    key, _ = _key_arg("multivariate_normal", key)
    if method not in {"svd", "eigh", "cholesky"}:
        raise ValueError(at_user_line(
            f"fgrad.random.multivariate_normal: method must be one of 'svd', 'eigh' and "
            f"'cholesky', not {method!r}."))
    mean, cov = promote_dtypes(_array("multivariate_normal", mean, "mean"),
                               _array("multivariate_normal", cov, "cov"), kind="inexact")
    dtype = aval_of(mean).dtype if dtype is None else _dtype("multivariate_normal", dtype,
                                                             None)
    mean_shape, cov_shape = aval_of(mean).shape, aval_of(cov).shape
    if len(mean_shape) < 1 or len(cov_shape) < 2:
        raise ValueError(at_user_line(
            f"fgrad.random.multivariate_normal requires mean.ndim >= 1 and cov.ndim >= 2, "
            f"got shapes {mean_shape} and {cov_shape}."))
    n = mean_shape[-1]
    if cov_shape[-2:] != (n, n):
        raise ValueError(at_user_line(
            f"fgrad.random.multivariate_normal requires cov.shape == (..., n, n) for n={n}, "
            f"but got cov.shape == {cov_shape}."))
    shape = _checked_shape("multivariate_normal", shape, {
        "mean's batch shape": mean_shape[:-1], "cov's batch shape": cov_shape[:-2]})
    if method == "svd":
        u, s, _ = fnp.linalg.svd(cov)
        factor = u * fnp.sqrt(s[..., None, :])
    elif method == "eigh":
        w, v = fnp.linalg.eigh(cov)
        factor = v * fnp.sqrt(w[..., None, :])
    else:
        factor = fnp.linalg.cholesky(cov)
    z = lr.random_normal(key, shape + (n,), dtype)
    return mean + fnp.einsum("...ij,...j->...i", factor, z)



def __getattr__(name: str):
    raise _missing_attribute("fgrad.random", jax.random, name, globals())
