"""dot_product_attention: softmax(Q Kᵀ * scale + bias, masked) V per head, as jax.nn's
XLA implementation computes it (logits in at least float32, the softmax in float32), for
multi-head, grouped-query and multi-query attention."""

from __future__ import annotations

import functools

import jax
import numpy as np
from jax import lax

import fgrad.numpy as fnp
from fgrad import lax as fl
from fgrad.core import aval_of
from fgrad.core import dtypes as dt
from fgrad.core.errors import at_user_line
from fgrad.core.resources import register_cache
from fgrad.nn._softmax import logsumexp, softmax
from fgrad.nn._util import array
from fgrad.transforms.stop_gradient import stop_gradient

__all__ = ["dot_product_attention"]

# Letters in the einsum subscripts: B batch, T query length, S key length, K key/value heads,
# G query heads per key/value head (N = K * G query heads), H head dimension.


def dot_product_attention(query, key, value, bias=None, mask=None, *, scale=None,
                          is_causal: bool = False, query_seq_lengths=None,
                          key_value_seq_lengths=None, local_window_size=None,
                          implementation=None, return_residual: bool = False):
    """Scaled dot-product attention, softmax(Q Kᵀ * scale + bias) V for each head.

    Arguments:
        query: (B, T, N, H) or (T, N, H).
        key, value: (B, S, K, H) or (S, K, H), of query's dtype; N must be a multiple of K
            (K < N is grouped-query attention, K = 1 multi-query attention).
        bias: optional, 4-D, broadcastable to (B, N, T, S); added to the logits.
        mask: optional boolean, 4-D, broadcastable to (B, N, T, S); False drops a logit.
        scale: the logits' scale (default 1 / sqrt(H)).
        is_causal: whether query position t attends only to key positions s <= t.
        query_seq_lengths, key_value_seq_lengths: optional int32 (B,) lengths; positions
            past them are padding (padded queries give zeros).
        local_window_size: (left, right), or one int for both: the key positions around each
            query position that it attends to.
        implementation: None or 'xla' (the same computation); 'cudnn' is not available.
        return_residual: also return the logsumexp of the logits, (B, T, N) or (T, N).

    Returns:
        An array of query's shape, or (output, residual) with `return_residual`.
    """
    output_shape = aval_of(array("dot_product_attention", query)).shape
    query, key, value = (_four_dims(t) for t in (query, key, value))
    bias = None if bias is None else _four_dims(bias)
    mask = None if mask is None else _four_dims(mask)
    if query_seq_lengths is not None:
        query_seq_lengths = array("dot_product_attention", query_seq_lengths)
    if key_value_seq_lengths is not None:
        key_value_seq_lengths = array("dot_product_attention", key_value_seq_lengths)
    if isinstance(local_window_size, int):
        local_window_size = (local_window_size, local_window_size)

    B, S, K, H = aval_of(key).shape
    key_dtype = aval_of(key).dtype
    _check("value", value, (B, S, K, H), key_dtype)
    _check("query", query, (B, -1, -1, H), key_dtype)
    _check("mask", mask, (-1,) * 4, np.dtype(np.bool_))
    _check("bias", bias, (-1,) * 4, None)
    _check("query_seq_lengths", query_seq_lengths, (B,), np.dtype(np.int32))
    _check("key_value_seq_lengths", key_value_seq_lengths, (B,), np.dtype(np.int32))
    N = aval_of(query).shape[2]
    if N % K:
        raise ValueError(at_user_line(
            f"fgrad.nn.dot_product_attention: the number of query heads must be a multiple of "
            f"key/value heads, but got {N} vs {K}."))
    scale = 1.0 / np.sqrt(H) if scale is None else scale

    if implementation == "cudnn":
        raise NotImplementedError(at_user_line(
            "fgrad.nn.dot_product_attention: implementation='cudnn' (cuDNN's fused flash "
            "attention) is not available in fgrad. Use implementation=None or 'xla', which "
            "compute the same attention with XLA operations."))
    if implementation not in (None, "xla"):
        raise ValueError(at_user_line(
            f"fgrad.nn.dot_product_attention: unsupported implementation option: "
            f"{implementation!r}. Use None or 'xla'."))

    out, residual = _attention(query, key, value, bias, mask, is_causal, scale,
                               query_seq_lengths, key_value_seq_lengths, local_window_size,
                               return_residual)
    out = fnp.reshape(out, output_shape)
    if return_residual:
        return out, fnp.reshape(residual, output_shape[:-1])
    return out


def _four_dims(t):
    """`t` as an array with leading size-1 axes added up to 4 dimensions."""
    t = array("dot_product_attention", t)
    missing = 4 - aval_of(t).ndim
    return fl.expand_dims(t, tuple(range(missing))) if missing > 0 else t


def _check(name: str, t, shape: tuple, dtype) -> None:
    """`t` (if given) has len(shape) axes of those sizes (-1: any) and `dtype` (if given)."""
    if t is None:
        return
    aval = aval_of(t)
    where = "fgrad.nn.dot_product_attention"
    if aval.ndim != len(shape):
        raise ValueError(at_user_line(f"{where}: {name} ndim should be {len(shape)}, but got "
                                      f"{aval.ndim}."))
    if dtype is not None and aval.dtype != dtype:
        raise ValueError(at_user_line(f"{where}: {name} dtype should be {np.dtype(dtype).name}, "
                                      f"but got {aval.dtype.name}."))
    if any(want != -1 and got != want for want, got in zip(shape, aval.shape)):
        raise ValueError(at_user_line(f"{where}: {name} shape should be {tuple(shape)} (-1: "
                                      f"any size), but got {aval.shape}."))


def _grouped(t, K: int, G: int):
    """A (B, N or 1, T, S) bias or mask as (B, K or 1, G or 1, T, S), head n = k * G + g."""
    if t is None:
        return None
    tB, tN, tT, tS = aval_of(t).shape
    if tN == 1:
        return fl.expand_dims(t, (2,))
    if tN != K * G:
        raise ValueError(at_user_line(
            f"fgrad.nn.dot_product_attention: a bias or mask must have 1 or {K * G} heads (its "
            f"second axis), but it has {tN}."))
    return fnp.reshape(t, (tB, K, G, tT, tS))


@functools.cache
def _precision_supported(preset, dtype: np.dtype, backend: str) -> bool:
    """Whether the default backend's dot_general takes the dot algorithm `preset` (XLA's
    CPU, for one, refuses F16_F16_F32): asked once per backend, by lowering a tiny dot."""
    operand = jax.ShapeDtypeStruct((1,), dtype)
    try:
        jax.jit(lambda a, b: lax.dot_general(a, b, (((0,), (0,)), ((), ())), precision=preset,
                                             preferred_element_type=np.float32)
                ).lower(operand, operand)
    except Exception:  # noqa: BLE001 (any refusal means: use the default precision)
        return False
    return True


register_cache(
    "attention_precision", _precision_supported, holds="a bool",
    key="(precision preset, half-precision dtype, backend)",
    why="unbounded: presets, half-precision dtypes and backends are finite sets")


def _logits_precision(dtype: np.dtype):
    """JAX's precision for half-precision logits: products accumulated in float32, where
    the backend supports it (else the default, as JAX falls back)."""
    presets = {np.dtype(dt.bfloat16): lax.DotAlgorithmPreset.BF16_BF16_F32,
               np.dtype(np.float16): lax.DotAlgorithmPreset.F16_F16_F32}
    preset = presets.get(dtype)
    if preset is None or not _precision_supported(preset, dtype, jax.default_backend()):
        return None
    return preset


def _attention(query, key, value, bias, mask, is_causal, scale, q_lengths, kv_lengths,
               window, return_residual: bool):
    """The attention on 4-D operands, and the logits' logsumexp if asked (else None)."""
    B, T, N, H = aval_of(query).shape
    S, K = aval_of(key).shape[1:3]
    G = N // K
    query = fnp.reshape(query, (B, T, K, G, H))
    key_dtype = aval_of(key).dtype
    # jnp.promote_types(query's dtype, float32), for the real floats attention takes
    logits_dtype = np.dtype(np.float64 if aval_of(query).dtype == np.float64 else np.float32)
    logits = fnp.einsum("BTKGH,BSKH->BKGTS", query, key,
                        precision=_logits_precision(aval_of(query).dtype),
                        preferred_element_type=logits_dtype)
    logits = fnp.multiply(logits, fnp.asarray(scale, logits_dtype))
    if bias is not None:
        logits = fnp.astype(fnp.add(logits, _grouped(bias, K, G)), logits_dtype)
    keep = _keep(T, S, _grouped(mask, K, G), is_causal, q_lengths, kv_lengths, window)
    if keep is not None:
        logits = fnp.where(keep, logits, _large_negative(logits_dtype))
    logits = fnp.astype(logits, np.float32)  # the softmax is always computed in float32
    probs = fnp.astype(softmax(logits, axis=-1), key_dtype)
    encoded = fnp.einsum("BKGTS,BSKH->BTKGH", probs, value)
    if q_lengths is not None:  # padded queries output zeros
        real_query = fnp.less(fl.broadcasted_iota(np.int32, (1, T), 1),
                              fl.expand_dims(q_lengths, (1,)))
        encoded = fnp.multiply(encoded, fnp.astype(fl.expand_dims(real_query, (2, 3, 4)),
                                                   aval_of(encoded).dtype))
    encoded = fnp.reshape(encoded, (B, T, N, H))
    if not return_residual:
        return encoded, None
    residual = fnp.astype(logsumexp(logits, axis=-1), key_dtype)  # (B, K, G, T)
    residual = stop_gradient(fnp.reshape(fnp.transpose(residual, (0, 3, 1, 2)), (B, T, N)))
    return encoded, residual


def _large_negative(dtype: np.dtype):
    """JAX's stand-in for -inf in masked logits: -0.7 times the largest float, capped at
    float32's range (the softmax runs in float32)."""
    largest = min(float(jax.dtypes.finfo(dtype).max), float(np.finfo(np.float32).max))
    return np.asarray(-0.7 * largest, dtype)


def _keep(T: int, S: int, mask, is_causal: bool, q_lengths, kv_lengths, window):
    """Which logits (B, K, G, T, S) take part: the user's mask, causality, the local window
    and the sequence lengths combined; None when all do."""
    query_pos = fl.broadcasted_iota(np.int32, (T, S), 0)
    key_pos = fl.broadcasted_iota(np.int32, (T, S), 1)
    parts = []
    if mask is not None:
        parts.append(mask)
    if is_causal:
        parts.append(fnp.greater_equal(query_pos, key_pos))
    if window is not None:
        left, right = window
        parts.append(fnp.logical_and(fnp.less_equal(query_pos, fnp.add(key_pos, left)),
                                     fnp.greater_equal(query_pos, fnp.subtract(key_pos, right))))
    for lengths, positions in ((q_lengths, query_pos), (kv_lengths, key_pos)):
        if lengths is not None:  # (B, 1, 1, T, S): positions past a length are padding
            parts.append(fnp.less(positions, fl.expand_dims(lengths, (1, 2, 3, 4))))
    if not parts:
        return None
    keep = parts[0]
    for part in parts[1:]:
        keep = fnp.logical_and(keep, part)
    return keep
