"""fgrad.nn.initializers: jax.nn.initializers' functions, drawing with fgrad.random.

An initializer is a function `init(key, shape, dtype=None, out_sharding=None) -> array`;
the builders here (`normal(stddev)`, `glorot_uniform()`, ...) return one. The samples come
from fgrad.random, which draws what jax.random draws, with the same arithmetic on top, so
with the same key an initializer returns jax.nn.initializers' values.

    import fgrad.nn as fnn, fgrad.random as frandom
    w = fnn.initializers.glorot_normal()(frandom.key(0), (784, 128))
"""

from __future__ import annotations

import math
import operator
import typing
from typing import Protocol

import jax.nn.initializers as _jax_initializers  # for the message naming what fgrad lacks
import numpy as np

import fgrad.numpy as fnp
from fgrad import lax as fl
from fgrad import random as frandom
from fgrad.core import dtypes as dt
from fgrad.core.errors import at_user_line
from fgrad.core.errors import missing_attribute as _missing_attribute
from fgrad.numpy._core import canonical_axis

__all__ = [
    "Initializer", "constant", "delta_orthogonal", "glorot_normal", "glorot_uniform",
    "he_normal", "he_uniform", "kaiming_normal", "kaiming_uniform", "lecun_normal",
    "lecun_uniform", "normal", "ones", "orthogonal", "truncated_normal", "uniform",
    "variance_scaling", "xavier_normal", "xavier_uniform", "zeros",
]


@typing.runtime_checkable
class Initializer(Protocol):
    """What the builders return: `init(key, shape, dtype=None, out_sharding=None)`."""

    def __call__(self, key, shape, dtype=None, out_sharding=None): ...


def _dtype(dtype):
    return dt.default_float() if dtype is None else dtype


def _no_sharding(name: str, out_sharding) -> None:
    if out_sharding is not None:
        raise NotImplementedError(at_user_line(
            f"fgrad.nn.initializers.{name}: out_sharding is not supported (fgrad's arrays "
            f"carry no sharding). Place the result afterwards, e.g. with jax.device_put."))


def _times(samples, factor, dtype):
    """samples * jnp.array(factor, dtype), as JAX's initializers scale their draws."""
    return fnp.multiply(samples, fnp.asarray(factor, dtype))


# -- constants -------------------------------------------------------------------------------


def zeros(key, shape, dtype=None, out_sharding=None):
    """An array of zeros (the key is ignored)."""
    _no_sharding("zeros", out_sharding)
    return fnp.zeros(shape, _dtype(dtype))


def ones(key, shape, dtype=None, out_sharding=None):
    """An array of ones (the key is ignored)."""
    _no_sharding("ones", out_sharding)
    return fnp.ones(shape, _dtype(dtype))


def constant(value, dtype=None) -> Initializer:
    """An initializer returning arrays full of `value` (dtype: the default dtype)."""
    def init(key, shape, dtype=dtype, out_sharding=None):
        _no_sharding("constant", out_sharding)
        return fnp.full(shape, value, dtype=_dtype(dtype))
    return init


# -- simple distributions --------------------------------------------------------------------


def uniform(scale=1e-2, dtype=None) -> Initializer:
    """An initializer drawing uniformly from [0, scale)."""
    def init(key, shape, dtype=dtype, out_sharding=None):
        _no_sharding("uniform", out_sharding)
        dtype = _dtype(dtype)
        return _times(frandom.uniform(key, shape, dtype), scale, dtype)
    return init


def normal(stddev=1e-2, dtype=None) -> Initializer:
    """An initializer drawing from a normal distribution of mean 0 and `stddev`."""
    def init(key, shape, dtype=dtype, out_sharding=None):
        _no_sharding("normal", out_sharding)
        dtype = _dtype(dtype)
        return _times(frandom.normal(key, shape, dtype), stddev, dtype)
    return init


def truncated_normal(stddev=1e-2, dtype=None, lower=-2.0, upper=2.0) -> Initializer:
    """An initializer drawing from a standard normal truncated to (lower, upper), times
    `stddev` (which is not corrected for the truncation)."""
    def init(key, shape, dtype=dtype, out_sharding=None):
        _no_sharding("truncated_normal", out_sharding)
        dtype = _dtype(dtype)
        return _times(frandom.truncated_normal(key, lower, upper, shape, dtype), stddev, dtype)
    return init


# -- variance scaling ------------------------------------------------------------------------


def _size(shape: tuple, axes) -> int:
    if isinstance(axes, int):
        return shape[axes]
    return math.prod(shape[a] for a in axes)


def _compute_fans(shape: tuple, in_axis=-2, out_axis=-1, batch_axis=()) -> tuple:
    """The input and output sizes of a weight of `shape`: the in and out axes' sizes, each
    times the receptive field (the axes that are neither in, out nor batch)."""
    if isinstance(in_axis, int) and in_axis == -2 and len(shape) <= 1:
        raise ValueError(at_user_line(
            f"fgrad.nn.initializers: can't compute input and output sizes of a "
            f"{len(shape)}-dimensional weights tensor with the default in_axis. It must be at "
            f"least 2-D, or give in_axis explicitly."))
    in_size, out_size = _size(shape, in_axis), _size(shape, out_axis)
    receptive_field = math.prod(shape) / in_size / out_size / _size(shape, batch_axis)
    return in_size * receptive_field, out_size * receptive_field


def _complex_uniform(key, shape, dtype):
    """Uniform samples in the complex unit disk (scaled to variance 1)."""
    key_r, key_theta = frandom.split(key)
    real = dt.real_dtype(dtype)
    r = fnp.astype(fnp.sqrt(fnp.multiply(2, frandom.uniform(key_r, shape, real))), dtype)
    theta = fnp.multiply(2 * np.pi, fnp.astype(frandom.uniform(key_theta, shape, real), dtype))
    return fnp.multiply(r, fnp.exp(fnp.multiply(1j, theta)))


def _complex_truncated_normal(key, upper, shape, dtype):
    """Complex normal samples of variance 1 whose modulus is truncated to `upper`."""
    key_r, key_theta = frandom.split(key)
    real = dt.real_dtype(dtype)
    t = fnp.multiply(fnp.subtract(1, fnp.exp(fnp.asarray(-(upper ** 2), dtype))),
                     fnp.astype(frandom.uniform(key_r, shape, real), dtype))
    r = fnp.sqrt(fnp.negative(fnp.log(fnp.subtract(1, t))))
    theta = fnp.multiply(2 * np.pi, fnp.astype(frandom.uniform(key_theta, shape, real), dtype))
    return fnp.multiply(r, fnp.exp(fnp.multiply(1j, theta)))


def _shape(shape) -> tuple:
    try:
        return tuple(operator.index(d) for d in shape)
    except TypeError:
        raise TypeError(at_user_line(
            f"fgrad.nn.initializers: shape must be a sequence of integers, not {shape!r}."))


def variance_scaling(scale, mode, distribution, in_axis=-2, out_axis=-1, batch_axis=(),
                     dtype=None) -> Initializer:
    """An initializer whose samples have variance scale / n, where n is the weight's fan-in,
    fan-out, their average, or their geometric average.

    Arguments:
        scale: the scaling factor (positive).
        mode: "fan_in", "fan_out", "fan_avg" or "fan_geo_avg".
        distribution: "truncated_normal" (at 2 standard deviations), "normal" or "uniform"
            (a uniform interval, or disk for a complex dtype).
        in_axis, out_axis: the axis or axes of the input and output dimensions.
        batch_axis: axes to ignore.
        dtype: the default dtype of the weights.
    """
    def init(key, shape, dtype=dtype, out_sharding=None):
        _no_sharding("variance_scaling", out_sharding)
        shape = _shape(shape)
        dtype = _dtype(dtype)
        fan_in, fan_out = _compute_fans(shape, in_axis, out_axis, batch_axis)
        denominators = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2,
                        "fan_geo_avg": (fan_in * fan_out) ** 0.5}
        if mode not in denominators:
            raise ValueError(at_user_line(
                f"fgrad.nn.initializers.variance_scaling: invalid mode {mode!r}; use one of "
                f"{', '.join(denominators)}."))
        variance = fnp.asarray(scale / denominators[mode], dtype)
        complex_ = dt.is_complex(np.dtype(dtype))
        if distribution == "truncated_normal":
            if not complex_:
                # the standard deviation of a standard normal truncated at ±2
                stddev = fnp.divide(fnp.sqrt(variance), fnp.asarray(.87962566103423978, dtype))
                return fnp.multiply(frandom.truncated_normal(key, -2, 2, shape, dtype), stddev)
            stddev = fnp.divide(fnp.sqrt(variance), fnp.asarray(.95311164380491208, dtype))
            return fnp.multiply(_complex_truncated_normal(key, 2, shape, dtype), stddev)
        if distribution == "normal":
            return fnp.multiply(frandom.normal(key, shape, dtype), fnp.sqrt(variance))
        if distribution == "uniform":
            if not complex_:
                return fnp.multiply(frandom.uniform(key, shape, dtype, -1),
                                    fnp.sqrt(fnp.multiply(3, variance)))
            return fnp.multiply(_complex_uniform(key, shape, dtype), fnp.sqrt(variance))
        raise ValueError(at_user_line(
            f"fgrad.nn.initializers.variance_scaling: invalid distribution {distribution!r}; "
            f"use 'truncated_normal', 'normal' or 'uniform'."))
    return init


def glorot_uniform(in_axis=-2, out_axis=-1, batch_axis=(), dtype=None) -> Initializer:
    """Glorot (Xavier) uniform: variance_scaling(1.0, "fan_avg", "uniform")."""
    return variance_scaling(1.0, "fan_avg", "uniform", in_axis, out_axis, batch_axis, dtype)


def glorot_normal(in_axis=-2, out_axis=-1, batch_axis=(), dtype=None) -> Initializer:
    """Glorot (Xavier) normal: variance_scaling(1.0, "fan_avg", "truncated_normal")."""
    return variance_scaling(1.0, "fan_avg", "truncated_normal", in_axis, out_axis, batch_axis,
                            dtype)


def lecun_uniform(in_axis=-2, out_axis=-1, batch_axis=(), dtype=None) -> Initializer:
    """LeCun uniform: variance_scaling(1.0, "fan_in", "uniform")."""
    return variance_scaling(1.0, "fan_in", "uniform", in_axis, out_axis, batch_axis, dtype)


def lecun_normal(in_axis=-2, out_axis=-1, batch_axis=(), dtype=None) -> Initializer:
    """LeCun normal: variance_scaling(1.0, "fan_in", "truncated_normal")."""
    return variance_scaling(1.0, "fan_in", "truncated_normal", in_axis, out_axis, batch_axis,
                            dtype)


def he_uniform(in_axis=-2, out_axis=-1, batch_axis=(), dtype=None) -> Initializer:
    """He (Kaiming) uniform: variance_scaling(2.0, "fan_in", "uniform")."""
    return variance_scaling(2.0, "fan_in", "uniform", in_axis, out_axis, batch_axis, dtype)


def he_normal(in_axis=-2, out_axis=-1, batch_axis=(), dtype=None) -> Initializer:
    """He (Kaiming) normal: variance_scaling(2.0, "fan_in", "truncated_normal")."""
    return variance_scaling(2.0, "fan_in", "truncated_normal", in_axis, out_axis, batch_axis,
                            dtype)


xavier_uniform, xavier_normal = glorot_uniform, glorot_normal
kaiming_uniform, kaiming_normal = he_uniform, he_normal


# -- orthogonal ------------------------------------------------------------------------------


def orthogonal(scale=1.0, column_axis=-1, dtype=None) -> Initializer:
    """An initializer of uniformly distributed (semi-)orthogonal matrices: the columns along
    `column_axis` are orthonormal (or the rows, if there are fewer of them), times `scale`."""
    def init(key, shape, dtype=dtype, out_sharding=None):
        _no_sharding("orthogonal", out_sharding)
        dtype = _dtype(dtype)
        shape = _shape(shape)
        if len(shape) < 2:
            raise ValueError(at_user_line(
                f"fgrad.nn.initializers.orthogonal requires at least a 2D shape, not {shape}."))
        if any(d == 0 for d in shape):
            return fnp.zeros(shape, dtype)
        axis = canonical_axis(column_axis, len(shape), "orthogonal")
        n_cols = shape[axis]
        n_rows = math.prod(shape) // n_cols
        q = frandom.orthogonal(key, n_rows, (), dtype, n_cols)
        q = fnp.reshape(q, shape[:axis] + shape[axis + 1:] + (n_cols,))
        return fnp.multiply(fnp.asarray(scale, dtype), fnp.moveaxis(q, -1, axis))
    return init


def delta_orthogonal(scale=1.0, column_axis=-1, dtype=None) -> Initializer:
    """An initializer of delta-orthogonal convolution kernels (3-D to 5-D shapes): zeros
    except an orthogonal matrix at the spatial centre."""
    def init(key, shape, dtype=dtype, out_sharding=None):
        _no_sharding("delta_orthogonal", out_sharding)
        dtype = _dtype(dtype)
        shape = _shape(shape)
        if len(shape) not in (3, 4, 5):
            raise ValueError(at_user_line(
                f"fgrad.nn.initializers.delta_orthogonal requires a 3D, 4D or 5D shape, not "
                f"{shape}."))
        if shape[-1] < shape[-2]:
            raise ValueError(at_user_line(
                f"fgrad.nn.initializers.delta_orthogonal: `fan_in` must be less or equal than "
                f"`fan_out`, but shape {shape} has {shape[-2]} > {shape[-1]}."))
        matrix = orthogonal(scale=scale, column_axis=column_axis, dtype=dtype)(key, shape[-2:])
        spatial = shape[:-2]
        centre = [(k - 1) // 2 for k in spatial]
        # The matrix at the centre, zeros around it (JAX writes it into zeros with .at[].set).
        block = fl.expand_dims(matrix, tuple(range(len(spatial))))
        padding = [(c, k - 1 - c, 0) for c, k in zip(centre, spatial)] + [(0, 0, 0)] * 2
        return fl.pad(block, np.zeros((), np.dtype(dtype)), padding)
    return init


def __getattr__(name: str):
    raise _missing_attribute("fgrad.nn.initializers", _jax_initializers, name, globals())
