"""fgrad.scipy.signal: convolutions and correlations of n-d arrays, as jax.scipy.signal has
them (`convolve`, `correlate`, `convolve2d`, `correlate2d`, `fftconvolve`).

The direct method is one `conv_general_dilated` (fgrad/lax/convolution.py), so every
function here is differentiable in both inputs, batchable and jittable through that
primitive's rules. Each mode is a window on the full result (the `in1.shape + in2.shape - 1`
sums of every overlap): 'full' all of it, 'same' the part of `in1`'s shape at its centre,
'valid' the overlaps that need no padding. The window is cut by the convolution's own
padding (negative where it crops), so no output outside it is computed. The smaller input
is the kernel whenever it is smaller in every dimension, as in jax.scipy.signal (fewer
products per output); unlike it, inputs neither of which is smaller in every dimension work
in the 'full' and 'same' modes too, as in SciPy.

method='fft' multiplies the spectra (fgrad.numpy.fft): rounding differs from the direct
sums, in float32 visibly so. Inputs are promoted to a common inexact dtype (integers and
bools to floats), as in JAX.

convolve2d and correlate2d take boundary='fill' with fillvalue=0 only, as in JAX; SciPy's
other boundaries ('wrap', 'symm') and fill values raise an error naming them.
"""

from __future__ import annotations

import numpy as np

from fgrad.core import aval_of
from fgrad.core import dtypes as dt
from fgrad.core.errors import ShapeDtypeError, at_user_line
from fgrad.lax import elementwise as lx
from fgrad.lax import shapes as ls
from fgrad.lax.convolution import conv_general_dilated
from fgrad.lax.indexing import slice as lax_slice
from fgrad.numpy import fft as fnp_fft
from fgrad.numpy._core import as_array, canonical_axes, check_arraylike, promote_dtypes
from fgrad.numpy._math import multiply

__all__ = ["convolve", "convolve2d", "correlate", "correlate2d", "fftconvolve"]

_MODES = ("full", "same", "valid")


def _fail(name: str, message: str, error=ShapeDtypeError):
    return error(at_user_line(f"fgrad.scipy.signal.{name}: {message}"))


def _check_mode(name: str, mode) -> None:
    if mode not in _MODES:
        raise _fail(name, f"mode must be one of 'full', 'same' or 'valid', not {mode!r}.",
                    ValueError)


def _operands(name: str, in1, in2) -> tuple:
    """in1 and in2 checked (arrays of one rank, not empty) and promoted to one inexact
    dtype."""
    check_arraylike(name, in1, in2, namespace="fgrad.scipy.signal")
    shape1, shape2 = aval_of(in1).shape, aval_of(in2).shape
    if len(shape1) != len(shape2):
        raise _fail(name, f"in1 and in2 must have the same number of dimensions, not shapes "
                    f"{shape1} and {shape2}.")
    if 0 in shape1 or 0 in shape2:
        raise _fail(name, f"zero-size arrays are not supported, got shapes {shape1} and "
                    f"{shape2}.")
    in1, in2 = promote_dtypes(in1, in2, kind="inexact")
    return as_array(in1, name), as_array(in2, name)


def _smaller(shape1: tuple, shape2: tuple) -> bool:
    """Whether the first shape is at most the second in every dimension, and not equal."""
    return shape1 != shape2 and all(a <= b for a, b in zip(shape1, shape2))


def _window(name: str, mode: str, shape1: tuple, shape2: tuple, centre=None) -> tuple:
    """(starts, sizes) of `mode`'s output within the full result; `centre(n2)` is the start
    of the 'same' window along an axis where in2 has n2 elements."""
    if mode == "full":
        return (0,) * len(shape1), tuple(a + b - 1 for a, b in zip(shape1, shape2))
    if mode == "same":
        centre = centre or (lambda n2: (n2 - 1) // 2)  # SciPy's centring
        return tuple(centre(b) for b in shape2), shape1
    if all(a >= b for a, b in zip(shape1, shape2)):
        return tuple(b - 1 for b in shape2), tuple(a - b + 1 for a, b in zip(shape1, shape2))
    if all(a <= b for a, b in zip(shape1, shape2)):
        return tuple(a - 1 for a in shape1), tuple(b - a + 1 for a, b in zip(shape1, shape2))
    raise _fail(name, f"in 'valid' mode one input must be at least as large as the other in "
                f"every dimension, not shapes {shape1} and {shape2}.", ValueError)


def _direct(in1, in2, window: tuple, precision, correlate: bool):
    """The `window` (starts, sizes) of the full convolution of in1 and in2 (correlation:
    of in1 and flip(conj(in2))), as one conv_general_dilated.

    conv_general_dilated correlates: out[i] = sum_m x_padded[i + m] * k[m]. With the
    kernel k flipped and x padded by len(k) - 1 on both sides that is the full convolution;
    the window then moves the padding: low len(k) - 1 - start, high so that `size` outputs
    come out (negative values crop).
    """
    shape1, shape2 = aval_of(in1).shape, aval_of(in2).shape
    everywhere = tuple(range(len(shape1)))
    if correlate:
        in2 = lx.conj(in2) if dt.is_complex(aval_of(in2).dtype) else in2
    # Convolution commutes, so the smaller input may be the kernel. A correlation is the
    # convolution with the flipped second input: flipped twice it is itself again.
    if _smaller(shape1, shape2):
        x, k = (ls.rev(in2, everywhere) if correlate else in2), ls.rev(in1, everywhere)
    else:
        x, k = in1, (in2 if correlate else ls.rev(in2, everywhere))
    shape_x, shape_k = aval_of(x).shape, aval_of(k).shape
    starts, sizes = window
    padding = [(nk - 1 - start, size - nx + start)
               for nx, nk, start, size in zip(shape_x, shape_k, starts, sizes)]
    out = conv_general_dilated(ls.expand_dims(x, (0, 1)), ls.expand_dims(k, (0, 1)),
                               (1,) * len(shape1), padding, precision=precision)
    return ls.squeeze(out, (0, 1))


def _check_method(name: str, method) -> None:
    if method not in ("auto", "direct", "fft"):
        raise _fail(name, f"method must be 'auto', 'direct' or 'fft', not {method!r}.",
                    ValueError)


def convolve(in1, in2, mode: str = "full", method: str = "auto", precision=None):
    """The n-d convolution of in1 and in2: out[k] = sum_j in1[j] * in2[k - j].

    Arguments:
      in1, in2: arrays of the same rank.
      mode: 'full' (every overlap), 'same' (in1's shape, centred) or 'valid' (only full
        overlaps; one input must be at least as large as the other in every dimension).
      method: 'auto' or 'direct' (one conv_general_dilated), or 'fft' (as `fftconvolve`).
      precision: the convolution's precision, as in jax.lax (the direct method's).

    Returns:
      The convolution, in the inputs' promoted inexact dtype.
    """
    _check_method("convolve", method)
    _check_mode("convolve", mode)
    in1, in2 = _operands("convolve", in1, in2)
    if method == "fft":
        return _fft_convolve("convolve", in1, in2, mode, None)
    window = _window("convolve", mode, aval_of(in1).shape, aval_of(in2).shape)
    return _direct(in1, in2, window, precision, correlate=False)


def correlate(in1, in2, mode: str = "full", method: str = "auto", precision=None):
    """The n-d cross-correlation of in1 and in2: the convolution of in1 with in2 flipped
    in every dimension and conjugated, so out[k] = sum_j in1[j + k'] * conj(in2[j]) with k'
    counted from the first partial overlap.

    Arguments and result as in `convolve`.
    """
    _check_method("correlate", method)
    _check_mode("correlate", mode)
    in1, in2 = _operands("correlate", in1, in2)
    if method == "fft":
        if dt.is_complex(aval_of(in2).dtype):
            in2 = lx.conj(in2)
        in2 = ls.rev(in2, tuple(range(aval_of(in2).ndim)))
        return _fft_convolve("correlate", in1, in2, mode, None)
    window = _window("correlate", mode, aval_of(in1).shape, aval_of(in2).shape)
    return _direct(in1, in2, window, precision, correlate=True)


def _is_zero(value) -> bool:
    try:
        return np.ndim(value) == 0 and bool(value == 0)
    except Exception:  # a traced or otherwise unreadable value: not a known zero
        return False


def _check_2d(name: str, in1, in2, boundary, fillvalue) -> None:
    if boundary != "fill" or not _is_zero(fillvalue):
        raise NotImplementedError(at_user_line(
            f"fgrad.scipy.signal.{name} supports boundary='fill' with fillvalue=0 only (as "
            f"jax.scipy.signal does), not boundary={boundary!r}, fillvalue={fillvalue!r}. "
            f"Pad in1 yourself (fgrad.numpy.pad with mode 'wrap', 'symmetric' or 'constant') "
            f"and take the 'valid' mode."))
    check_arraylike(name, in1, in2, namespace="fgrad.scipy.signal")
    if aval_of(in1).ndim != 2 or aval_of(in2).ndim != 2:
        raise _fail(name, f"only 2-dimensional inputs are supported, not shapes "
                    f"{aval_of(in1).shape} and {aval_of(in2).shape}.")


def convolve2d(in1, in2, mode: str = "full", boundary: str = "fill", fillvalue=0,
               precision=None):
    """The 2-d convolution of in1 and in2 (both 2-d); modes as in `convolve`.

    boundary='fill' with fillvalue=0 (zeros outside the inputs) is the only boundary, as in
    jax.scipy.signal.
    """
    _check_2d("convolve2d", in1, in2, boundary, fillvalue)
    return convolve(in1, in2, mode, precision=precision)


def correlate2d(in1, in2, mode: str = "full", boundary: str = "fill", fillvalue=0,
                precision=None):
    """The 2-d cross-correlation of in1 and in2 (both 2-d), with SciPy's (and JAX's)
    conventions, which differ from `correlate`'s in two places: 'same' centres the window
    at in2's size // 2 (correlate: (size - 1) // 2, so the two differ for even sizes), and
    'valid' with in1 smaller than in2 returns the conjugate of correlate's result.

    boundary='fill' with fillvalue=0 is the only boundary, as in jax.scipy.signal.
    """
    _check_2d("correlate2d", in1, in2, boundary, fillvalue)
    _check_mode("correlate2d", mode)
    in1, in2 = _operands("correlate2d", in1, in2)
    shape1, shape2 = aval_of(in1).shape, aval_of(in2).shape
    window = _window("correlate2d", mode, shape1, shape2, centre=lambda n2: n2 // 2)
    out = _direct(in1, in2, window, precision, correlate=True)
    if mode == "valid" and _smaller(shape1, shape2) and dt.is_complex(aval_of(out).dtype):
        out = lx.conj(out)
    return out


def fftconvolve(in1, in2, mode: str = "full", axes=None):
    """The n-d convolution of in1 and in2 by fast Fourier transforms (modes as in
    `convolve`): their spectra, zero-padded to the full result's shape, are multiplied and
    transformed back.

    Arguments:
      in1, in2: arrays of the same rank.
      mode: 'full', 'same' or 'valid'.
      axes: the axes to convolve along (all by default); along the others the inputs must
        have equal sizes, and each index is convolved on its own.

    Returns:
      The convolution, in the inputs' promoted inexact dtype.
    """
    _check_mode("fftconvolve", mode)
    in1, in2 = _operands("fftconvolve", in1, in2)
    return _fft_convolve("fftconvolve", in1, in2, mode, axes)


def _fft_convolve(name: str, in1, in2, mode: str, axes):
    shape1, shape2 = aval_of(in1).shape, aval_of(in2).shape
    ndim = len(shape1)
    axes = canonical_axes(axes, ndim, name)
    mapped = [d for d in range(ndim) if d not in axes]
    if any(shape1[d] != shape2[d] for d in mapped):
        raise _fail(name, f"the axes not convolved ({tuple(mapped)}) must have equal sizes, "
                    f"not shapes {shape1} and {shape2}.")
    sizes1, sizes2 = tuple(shape1[d] for d in axes), tuple(shape2[d] for d in axes)
    starts, sizes = _window(name, mode, sizes1, sizes2)
    full = tuple(a + b - 1 for a, b in zip(sizes1, sizes2))
    if all(a == 1 or b == 1 for a, b in zip(sizes1, sizes2)):
        product = multiply(in1, in2)  # every sum has a single term
    elif dt.is_complex(aval_of(in1).dtype):
        product = fnp_fft.ifftn(multiply(fnp_fft.fftn(in1, full, axes),
                                         fnp_fft.fftn(in2, full, axes)), full, axes)
    else:
        product = fnp_fft.irfftn(multiply(fnp_fft.rfftn(in1, full, axes),
                                          fnp_fft.rfftn(in2, full, axes)), full, axes)
    shape = aval_of(product).shape
    begin, end = [0] * ndim, list(shape)
    for axis, start, size in zip(axes, starts, sizes):
        begin[axis], end[axis] = start, start + size
    if tuple(begin) == (0,) * ndim and tuple(end) == shape:
        return product
    return lax_slice(product, tuple(begin), tuple(end))
