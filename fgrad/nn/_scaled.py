"""Block-scaled matrix products: scaled_matmul, scaled_dot_general and its configurations.

JAX runs these through cuDNN kernels for NVIDIA's narrow formats (mxfp8, nvfp4), on CUDA
GPUs only. fgrad computes scaled_matmul by the formula jax.nn documents (each operand times
its scales, repeated over their blocks, then a batched matmul in float32), on any backend.
scaled_dot_general without `configs` is lax.dot_general, as in JAX. With `configs` it
quantizes its operands (bit-level float8 exponent arithmetic) and has a custom
straight-through backward pass with quantized cotangents; JAX computes it on CUDA GPUs only,
so there is no reference to check an fgrad version against on other machines, and fgrad
refuses it with an explanation.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

import fgrad.numpy as fnp
from fgrad import lax as fl
from fgrad.core import aval_of
from fgrad.core import dtypes as dt
from fgrad.core.errors import at_user_line
from fgrad.nn._util import array
from fgrad.numpy._core import user_dtype

__all__ = ["get_scaled_dot_general_config", "scaled_dot_general", "scaled_matmul"]


@dataclasses.dataclass
class BlockScaleConfig:
    """How one operand of scaled_dot_general is quantized (the fields of JAX's class)."""

    mode: str
    block_size: int
    data_type: object
    scale_type: object
    global_scale: object
    infer_only: bool


def get_scaled_dot_general_config(mode, global_scale=None) -> BlockScaleConfig:
    """The quantization configuration of `mode`: 'nvfp4' (float4 data in blocks of 16 with
    float8_e4m3fn scales, times a float32 global scale) or 'mxfp8' (float8_e4m3fn data in
    blocks of 32 with float8_e8m0fnu scales)."""
    if mode == "nvfp4":
        return BlockScaleConfig(
            mode="nvfp4", block_size=16, data_type=fnp.float4_e2m1fn.dtype.type,
            scale_type=fnp.float8_e4m3fn.dtype.type,
            global_scale=fnp.ones((1,), np.float32) if global_scale is None else global_scale,
            infer_only=False)
    if mode == "mxfp8":
        return BlockScaleConfig(
            mode="mxfp8", block_size=32, data_type=fnp.float8_e4m3fn.dtype.type,
            scale_type=fnp.float8_e8m0fnu.dtype.type, global_scale=None, infer_only=False)
    raise ValueError(at_user_line(
        f"fgrad.nn.get_scaled_dot_general_config: unsupported mode {mode!r}; use 'nvfp4' or "
        f"'mxfp8'."))


def scaled_matmul(lhs, rhs, lhs_scales, rhs_scales, preferred_element_type=np.float32):
    """The batched product of block-scaled operands, contracting their last axes:
    einsum('BMK,BNK->BMN', lhs * scales_l, rhs * scales_r), each scale repeated over its
    block of K // K_scales elements (computed in float32).

    Arguments:
        lhs: (B, M, K); rhs: (B, N, K).
        lhs_scales: (B, M, K_l), rhs_scales: (B, N, K_r), with K a multiple of K_l and K_r.
        preferred_element_type: the result's dtype (default float32).

    Returns:
        An array (B, M, N).
    """
    lhs, rhs, lhs_scales, rhs_scales = array("scaled_matmul", lhs, rhs, lhs_scales,
                                             rhs_scales)
    shapes = [aval_of(t).shape for t in (lhs, rhs, lhs_scales, rhs_scales)]
    if any(len(s) != 3 for s in shapes):
        raise ValueError(at_user_line(
            f"fgrad.nn.scaled_matmul requires all inputs to be 3-dimensional arrays, got "
            f"shapes {shapes}."))
    (B, M, K), (B_r, N, K_r), (B_ls, M_ls, K_ls), (B_rs, N_rs, K_rs) = shapes
    if K != K_r or B != B_r:
        raise ValueError(at_user_line(
            f"fgrad.nn.scaled_matmul requires lhs and rhs to have matching batch (B) and "
            f"contracting (K) dimensions, but got shapes {shapes[0]} and {shapes[1]}."))
    if K_ls != K_rs or B_ls != B_rs:
        raise ValueError(at_user_line(
            f"fgrad.nn.scaled_matmul requires the scales to have matching batch (B) and "
            f"contracting (K) dimensions, but got shapes {shapes[2]} and {shapes[3]}."))
    if M_ls != M or N_rs != N:
        raise ValueError(at_user_line(
            f"fgrad.nn.scaled_matmul requires the scales to match the non-contracting "
            f"dimensions of the operands, but got shapes {shapes}."))
    if K_ls == 0 or K % K_ls:
        raise ValueError(at_user_line(
            f"fgrad.nn.scaled_matmul: the contracting size {K} must be a multiple of the "
            f"scales' {K_ls} (each scale covers a block of K // K_scales elements)."))
    preferred = dt.canonicalize(user_dtype(preferred_element_type))
    scaled = [_dequantized(x, s, K // K_ls) for x, s in ((lhs, lhs_scales), (rhs, rhs_scales))]
    return fl.dot_general(*scaled, (((2,), (2,)), ((0,), (0,))),
                          preferred_element_type=preferred)


def _dequantized(x, scales, block: int):
    """x * scales (each repeated over its block along the last axis), in float32."""
    f32 = np.dtype(np.float32)
    return fnp.multiply(fnp.astype(x, f32), fnp.repeat(fnp.astype(scales, f32), block, axis=-1))


def scaled_dot_general(lhs, rhs, dimension_numbers, preferred_element_type=np.float32,
                       configs=None, implementation=None):
    """lax.dot_general with block-scaled quantization of its operands (`configs`, from
    get_scaled_dot_general_config); without configs it is lax.dot_general itself.

    Quantizing (configs given) is not available in fgrad: JAX runs it on CUDA GPUs only
    (see the module's docstring).
    """
    if implementation is not None:
        warnings.warn("Backend selector, now ignored. The system chooses the backend "
                      "automatically.", DeprecationWarning, stacklevel=2)
    if configs is not None:
        raise NotImplementedError(at_user_line(
            "fgrad.nn.scaled_dot_general with `configs` (block-scaled mxfp8/nvfp4 "
            "quantization, which JAX runs on CUDA GPUs only) is not available in fgrad. Call "
            "it without configs for a plain dot_general, or quantize yourself and use "
            "fgrad.nn.scaled_matmul."))
    lhs, rhs = array("scaled_dot_general", lhs, rhs)
    preferred = None if preferred_element_type is None else dt.canonicalize(
        user_dtype(preferred_element_type))
    return fl.dot_general(lhs, rhs, dimension_numbers, preferred_element_type=preferred)
