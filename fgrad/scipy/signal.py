"""fgrad.scipy.signal: convolutions and correlations of n-d arrays, as jax.scipy.signal has
them (`convolve`, `correlate`, `convolve2d`, `correlate2d`, `fftconvolve`), and its spectral
analysis (`detrend`, `stft`, `istft`, `csd`, `welch`; see the section of that name below).

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

import warnings

import numpy as np

import fgrad.numpy as fnp
from fgrad.core import aval_of
from fgrad.core import dtypes as dt
from fgrad.core.errors import ShapeDtypeError, at_user_line
from fgrad.lax import elementwise as lx
from fgrad.lax import shapes as ls
from fgrad.lax.convolution import conv_general_dilated
from fgrad.lax.indexing import slice as lax_slice
from fgrad.numpy import fft as fnp_fft
from fgrad.numpy._core import (as_array, canonical_axes, canonical_axis, check_arraylike,
                               promote_dtypes, to_inexact)
from fgrad.numpy._math import multiply

__all__ = ["convolve", "convolve2d", "correlate", "correlate2d", "csd", "detrend", "fftconvolve",
           "istft", "stft", "welch"]

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


# -- spectral analysis -----------------------------------------------------------------------
#
# detrend, stft, istft, csd and welch, with jax.scipy.signal's semantics (which are SciPy's,
# except where noted): every result, shape and dtype is JAX's, and the options JAX refuses
# raise its errors. Everything is fgrad.numpy, fgrad.numpy.fft and fgrad.lax, so each
# function is differentiable (in the signal, an array window and a traced fs), batchable
# and jittable. Segment lengths, overlaps, FFT lengths, axes and breakpoints shape the
# result and must be concrete Python values.
#
# A signal is cut into segments without a gather: with step = nperseg - noverlap and
# r = ceil(nperseg / step), the signal cut into blocks of `step` samples makes each segment
# the concatenation of r consecutive blocks (cropped to nperseg), so the segments are r
# shifted slices of the block array side by side. istft's overlap-add is the transpose:
# r shifted, zero-padded copies of the block array summed. Both are slices, pads and
# reshapes, whose derivatives are the same kinds of operation.
#
# Where jax.scipy.signal departs from SciPy, fgrad follows JAX: welch's and csd's nperseg
# defaults to the signal's length (SciPy: 256); a callable `detrend` receives the segments
# (..., nseg, nperseg) with their axis number `axis` (x's time axis, counted from 0) moved
# last, as JAX passes them (SciPy passes (..., nseg, nperseg) for axis=-1); istft reads
# noverlap=0 and nperseg=0 as "not given" (`noverlap or nperseg // 2`). Two exceptions,
# where JAX has no sensible result: istft of a one-sided STFT with an odd nperseg and no
# nfft fails in JAX (it inverts with an even FFT length, then cannot apply the window), and
# fgrad inverts with nfft = nperseg, as SciPy does; csd of an empty signal is shaped as in
# SciPy (the other axes' broadcast shape with the shorter length at `axis`), where JAX
# inserts the axis' number as a length.

_BOUNDARIES = ("even", "odd", "constant", "zeros", None)


def _static_int(name: str, what: str, value) -> int:
    """A static integer argument (nperseg, noverlap, nfft) as a Python int; like JAX, any
    concrete number int() accepts."""
    try:
        return int(value)
    except TypeError:
        raise TypeError(at_user_line(
            f"fgrad.scipy.signal.{name}: {what} must be a concrete integer (the result's shape "
            f"depends on it), not {value!r}.")) from None


def _axis(name: str, axis, ndim: int, what: str = "axis") -> int:
    return canonical_axis(axis, ndim, name, namespace="fgrad.scipy.signal", what=what)


def _complex_dtype(dtype) -> np.dtype:
    """The complex dtype of an inexact dtype's precision (float64 -> complex128, narrower
    floats -> complex64)."""
    if dt.is_complex(dtype):
        return np.dtype(dtype)
    return np.dtype(np.complex128 if np.dtype(dtype) == np.float64 else np.complex64)


def _crop_or_pad(x, low: int, high: int, axis: int):
    """x with `low` and `high` zeros added before and after along `axis` (negative: that many
    elements cropped)."""
    if low == 0 and high == 0:
        return x
    aval = aval_of(x)
    config = [(0, 0, 0)] * aval.ndim
    config[axis % aval.ndim] = (low, high, 0)
    return ls.pad(x, np.zeros((), aval.dtype), config)


def _slice_axis(x, start: int, stop: int, axis: int):
    shape = aval_of(x).shape
    axis = axis % len(shape)
    if (start, stop) == (0, shape[axis]):
        return x
    begin, end = [0] * len(shape), list(shape)
    begin[axis], end[axis] = start, stop
    return lax_slice(x, tuple(begin), tuple(end))


def detrend(data, axis: int = -1, type: str = "linear", bp=0,  # noqa: A002 (SciPy's name)
            overwrite_data=None):
    """`data` less its least-squares linear trend along `axis` (type 'linear'), piecewise
    between the breakpoints `bp` if given, or less its mean (type 'constant'), as
    jax.scipy.signal.detrend. Integers and bools become floats.

    The linear fit is in closed form: each piece less its mean and its slope times the
    centred sample index, slope = sum(u * d) / sum(u * u) with u the centred index (a piece
    of one sample becomes zero, as the least-squares solution of least norm makes it).
    """
    if overwrite_data is not None:
        raise NotImplementedError(at_user_line(
            "fgrad.scipy.signal.detrend: overwrite_data is not supported (arrays are "
            "immutable); leave it None."))
    if type not in ("constant", "linear"):
        raise _fail("detrend", f"Trend type must be 'linear' or 'constant', not {type!r}.",
                    ValueError)
    check_arraylike("detrend", data, namespace="fgrad.scipy.signal")
    (data,) = promote_dtypes(as_array(data, "detrend"), kind="inexact")
    ndim = aval_of(data).ndim
    axis = _axis("detrend", axis, ndim)
    if type == "constant":
        return fnp.subtract(data, fnp.mean(data, axis, keepdims=True))
    n = aval_of(data).shape[axis]
    breaks = np.sort(np.unique(np.r_[0, bp, n]))
    if breaks[0] < 0 or breaks[-1] > n:
        raise _fail("detrend", f"Breakpoints must be non-negative and less than length of "
                    f"data along given axis ({n}), got bp={bp!r}.", ValueError)
    real = dt.real_dtype(aval_of(data).dtype)
    along = (-1,) + (1,) * (ndim - 1 - axis)  # a vector along `axis`, broadcasting
    pieces = []
    for start, stop in zip(breaks[:-1].tolist(), breaks[1:].tolist()):
        piece = _slice_axis(data, start, stop, axis)
        piece = fnp.subtract(piece, fnp.mean(piece, axis, keepdims=True))
        if stop - start > 1:
            u = np.arange(stop - start) - (stop - start - 1) / 2
            weights = (u / np.sum(u * u)).astype(real).reshape(along)
            slope = fnp.sum(fnp.multiply(piece, weights), axis, keepdims=True)
            piece = fnp.subtract(piece, fnp.multiply(slope, u.astype(real).reshape(along)))
        pieces.append(piece)
    return pieces[0] if len(pieces) == 1 else fnp.concatenate(pieces, axis)


def _named_window(name: str, window, n: int) -> np.ndarray:
    """The window a string or tuple names, n samples long, as float64: 'hann' computed here
    (the periodic Hann window, as JAX computes it), the others by scipy.signal.get_window,
    as JAX does (SciPy is then needed)."""
    if isinstance(window, str) and window == "hann":
        return np.ones(1) if n == 1 else np.sin(np.linspace(0, np.pi, n, endpoint=False)) ** 2
    try:
        from scipy.signal import get_window
    except ImportError as error:
        raise ImportError(at_user_line(
            f"fgrad.scipy.signal.{name}: scipy must be installed to use window={window!r} "
            f"(only 'hann' and array windows work without it).")) from error
    return np.asarray(get_window(window, n), np.float64)


def _window_and_length(name: str, window, nperseg, input_length: int, dtype) -> tuple:
    """(window array, nperseg): JAX's triage of `window` and `nperseg` (SciPy's
    _triage_segments). A named window is nperseg samples long, nperseg defaulting to (and
    cut down to) the input's length; an array window sets nperseg, which must then agree."""
    if isinstance(window, (str, tuple)):
        n = input_length if nperseg is None else nperseg
        if n > input_length:
            warnings.warn(at_user_line(
                f"fgrad.scipy.signal.{name}: nperseg={n} is greater than "
                f"input_length={input_length}, using nperseg={input_length}"), stacklevel=2)
            n = input_length
        return fnp.asarray(_named_window(name, window, n).astype(dtype)), n
    check_arraylike(name, window, namespace="fgrad.scipy.signal")
    win = fnp.asarray(window, dtype=dtype)
    shape = aval_of(win).shape
    if len(shape) != 1:
        raise _fail(name, f"window must be 1-D, not of shape {shape}.", ValueError)
    n = shape[0] if nperseg is None else nperseg
    if input_length < shape[0]:
        raise _fail(name, f"window is longer than input signal ({shape[0]} > {input_length} "
                    f"samples).", ValueError)
    if n != shape[0]:
        raise _fail(name, f"value specified for nperseg ({n}) is different from length of "
                    f"window ({shape[0]}).", ValueError)
    return win, n


def _segments(x, nperseg: int, nstep: int):
    """The segments x[..., i * nstep : i * nstep + nperseg] of x (..., L) for every i with
    i * nstep + nperseg <= L, stacked: (..., nseg, nperseg)."""
    shape = aval_of(x).shape
    nseg = (shape[-1] - nperseg) // nstep + 1
    per = -(-nperseg // nstep)  # blocks a segment touches
    x = _crop_or_pad(x, 0, nstep * (nseg + per - 1) - shape[-1], -1)
    blocks = ls.reshape(x, shape[:-1] + (nseg + per - 1, nstep))
    if per > 1:
        blocks = ls.concatenate([_slice_axis(blocks, j, j + nseg, -2) for j in range(per)],
                                len(shape))
    return _slice_axis(blocks, 0, nperseg, -1)


def _overlap_add(frames, nstep: int):
    """frames (..., N, n) placed nstep apart and summed: (..., nstep * (N - 1) + n)."""
    shape = aval_of(frames).shape
    count, n = shape[-2:]
    per = -(-n // nstep)
    blocks = ls.reshape(_crop_or_pad(frames, 0, per * nstep - n, -1),
                        shape[:-2] + (count, per, nstep))
    total = None
    for j in range(per):
        block = ls.squeeze(_slice_axis(blocks, j, j + 1, -2), (len(shape) - 1,))
        block = _crop_or_pad(block, j, per - 1 - j, -2)  # block j of frame i lands at i + j
        total = block if total is None else fnp.add(total, block)
    flat = ls.reshape(total, shape[:-2] + ((count + per - 1) * nstep,))
    return _slice_axis(flat, 0, nstep * (count - 1) + n, -1)


def _extend(name: str, x, boundary, n: int):
    """x (..., L) extended by n samples at both ends as `boundary` says."""
    if boundary is None:
        return x
    if boundary == "odd":
        if n < 1:
            return x
        if n > aval_of(x).shape[-1] - 1:
            raise _fail(name, f"The extension length n ({n}) is too big. It must not exceed "
                        f"x.shape[axis]-1, which is {aval_of(x).shape[-1] - 1}.", ValueError)
        mode, options = "reflect", {"reflect_type": "odd"}
    else:
        mode, options = {"even": ("reflect", {}), "constant": ("edge", {}),
                         "zeros": ("constant", {})}[boundary]
    widths = [(0, 0)] * (aval_of(x).ndim - 1) + [(n, n)]
    return fnp.pad(x, widths, mode, **options)


def _detrend_function(name: str, detrend_type, axis: int):
    """The function that detrends the segments (..., nseg, nperseg), as JAX chooses it."""
    if isinstance(detrend_type, str):
        if detrend_type not in ("constant", "linear"):
            raise _fail(name, f"Trend type must be 'linear' or 'constant', not "
                        f"{detrend_type!r}.", ValueError)
        return lambda d: detrend(d, axis=-1, type=detrend_type)
    if callable(detrend_type):
        # As jax.scipy.signal wraps it (the axis is non-negative here, so always).
        return lambda d: fnp.moveaxis(detrend_type(fnp.moveaxis(d, axis, -1)), -1, axis)
    if not detrend_type:
        return lambda d: d
    raise _fail(name, f"Unsupported detrend type: {detrend_type!r}.", ValueError)


def _spectral(name: str, x, y, fs, window, nperseg, noverlap, nfft, detrend_type,
              return_onesided: bool, scaling: str, axis, mode: str, boundary=None,
              padded: bool = False) -> tuple:
    """(freqs, times or None, result): JAX's _spectral_helper (SciPy's), for mode 'psd'
    (auto- or cross-spectral periodograms of each segment) or 'stft'. The result has the
    frequencies where `axis` was and the segments last."""
    if boundary not in _BOUNDARIES:
        raise _fail(name, f"Unknown boundary option {boundary!r}, must be one of: "
                    f"{list(_BOUNDARIES)}", ValueError)
    if y is None:
        check_arraylike(name, x, namespace="fgrad.scipy.signal")
        (x,) = promote_dtypes(as_array(x, name), kind="inexact")
        axis = _axis(name, axis, aval_of(x).ndim)
        outer = aval_of(x).shape[:axis] + aval_of(x).shape[axis + 1:]
    else:
        check_arraylike(name, x, y, namespace="fgrad.scipy.signal")
        x, y = promote_dtypes(as_array(x, name), as_array(y, name), kind="inexact")
        shape_x, shape_y = aval_of(x).shape, aval_of(y).shape
        axis = _axis(name, axis, len(shape_x))
        if len(shape_x) != len(shape_y):
            raise _fail(name, f"x and y must have the same rank, not shapes {shape_x} and "
                        f"{shape_y}.", ValueError)
        try:
            outer = np.broadcast_shapes(shape_x[:axis] + shape_x[axis + 1:],
                                        shape_y[:axis] + shape_y[axis + 1:])
        except ValueError:
            raise _fail(name, f"x and y cannot be broadcast together (shapes {shape_x} and "
                        f"{shape_y} along the axes other than {axis}).", ValueError) from None
    dtype = aval_of(x).dtype
    result_dtype = _complex_dtype(dtype)
    freq_dtype = dt.real_dtype(result_dtype)

    if nperseg is not None:
        nperseg = _static_int(name, "nperseg", nperseg)
        if nperseg < 1:
            raise _fail(name, f"nperseg must be a positive integer, not {nperseg}.",
                        ValueError)
    length = aval_of(x).shape[axis]
    win, nperseg = _window_and_length(name, window, nperseg, length, dtype)
    noverlap = nperseg // 2 if noverlap is None else _static_int(name, "noverlap", noverlap)
    nfft = nperseg if nfft is None else _static_int(name, "nfft", nfft)

    if y is None and 0 in aval_of(x).shape:
        empty = aval_of(x).shape
    elif y is not None and (0 in aval_of(x).shape or 0 in aval_of(y).shape):
        n = min(aval_of(x).shape[axis], aval_of(y).shape[axis])
        empty = outer[:axis] + (n,) + outer[axis:]
    else:
        empty = None
    if empty is not None:  # as JAX: zeros of the input's shape
        return (fnp.zeros(empty, freq_dtype), fnp.zeros(empty, freq_dtype),
                fnp.zeros(empty, result_dtype))

    if nfft < nperseg:
        raise _fail(name, f"nfft must be greater than or equal to nperseg, not nfft={nfft} "
                    f"with nperseg={nperseg}.", ValueError)
    if noverlap >= nperseg:
        raise _fail(name, f"noverlap must be less than nperseg, not noverlap={noverlap} with "
                    f"nperseg={nperseg}.", ValueError)
    x = fnp.moveaxis(x, axis, -1)
    if y is not None:
        y = fnp.moveaxis(y, axis, -1)
        extra = aval_of(y).shape[-1] - aval_of(x).shape[-1]
        x, y = _crop_or_pad(x, 0, max(extra, 0), -1), _crop_or_pad(y, 0, max(-extra, 0), -1)
    nstep = nperseg - noverlap

    signals = [x] if y is None else [x, y]
    signals = [_extend(name, s, boundary, nperseg // 2) for s in signals]
    if padded:  # zeros up to a whole number of segments
        nadd = (-(aval_of(signals[0]).shape[-1] - nperseg) % nstep) % nperseg
        signals = [_crop_or_pad(s, 0, nadd, -1) for s in signals]
    detrend_func = _detrend_function(name, detrend_type, axis)

    if scaling == "density":
        scale = fnp.true_divide(1.0, fnp.multiply(fs, fnp.sum(fnp.multiply(win, win))))
    elif scaling == "spectrum":
        scale = fnp.true_divide(1.0, fnp.square(fnp.sum(win)))
    else:
        raise _fail(name, f"Unknown scaling: {scaling!r} (it must be 'density' or "
                    f"'spectrum').", ValueError)
    if mode == "stft":
        scale = fnp.sqrt(scale)

    sides = "onesided" if return_onesided else "twosided"
    if return_onesided and dt.is_complex(dtype):
        warnings.warn(at_user_line(f"fgrad.scipy.signal.{name}: Input data is complex, "
                                   f"switching to return_onesided=False"), stacklevel=2)
        sides = "twosided"
    spacing = 1 / fs if dt.is_python_scalar(fs) else fnp.true_divide(1.0, fs)
    freqs = (fnp_fft.fftfreq(nfft, spacing, dtype=freq_dtype) if sides == "twosided" else
             fnp_fft.rfftfreq(nfft, spacing, dtype=freq_dtype))

    def transform(signal):
        segments = detrend_func(_segments(signal, nperseg, nstep))
        segments = fnp.multiply(win, segments)  # win has x's dtype
        if sides == "twosided":
            return fnp_fft.fft(segments, nfft)
        return fnp_fft.rfft(fnp.real(segments), nfft)

    result = transform(signals[0])
    if y is not None:
        result = fnp.multiply(fnp.conj(result), transform(signals[1]))
    elif mode == "psd":
        result = fnp.multiply(fnp.conj(result), result)
    result = fnp.multiply(result, fnp.astype(scale, _complex_dtype(aval_of(scale).dtype)))
    if sides == "onesided" and mode == "psd":  # the negative frequencies' power, folded in
        double = np.full(aval_of(result).shape[-1], 2.0)
        double[0] = 1.0
        if nfft % 2 == 0:
            double[-1] = 1.0
        result = fnp.multiply(result, double.astype(dt.real_dtype(aval_of(result).dtype)))

    times = None
    if mode == "stft":
        end = aval_of(signals[0]).shape[-1]
        times = fnp.true_divide(fnp.asarray(np.arange(nperseg / 2, end - nperseg / 2 + 1, nstep)
                                            .astype(freq_dtype)), fs)
        if boundary is not None:
            times = fnp.subtract(times, fnp.true_divide(nperseg / 2, fs))
    result = fnp.astype(result, result_dtype)
    if y is None and mode != "stft":
        result = fnp.real(result)
    return freqs, times, fnp.moveaxis(result, -1, axis)


def stft(x, fs=1.0, window="hann", nperseg: int = 256, noverlap=None, nfft=None,
         detrend=False, return_onesided: bool = True, boundary="zeros", padded: bool = True,
         axis: int = -1):
    """The short-time Fourier transform of x along `axis`, as jax.scipy.signal.stft (and
    SciPy): the signal, extended at both ends by nperseg // 2 samples as `boundary` says
    ('zeros', 'even', 'odd', 'constant' or None) and zero-padded to a whole number of
    segments if `padded`, is cut into segments of nperseg samples, noverlap (default
    nperseg // 2) apart from the next one's start; each is detrended (False, 'constant',
    'linear' or a function), multiplied by the window and transformed (nfft points), and
    scaled by 1 / sum(window).

    Arguments:
      x: the signal (real or complex).
      fs: the sampling frequency.
      window: 'hann' (the default), another name or tuple scipy.signal.get_window knows
        (SciPy is then needed), or an array of nperseg samples.
      nperseg, noverlap, nfft: segment length (cut down to the signal's length for named
        windows), overlap and FFT length, concrete integers.
      return_onesided: the non-negative frequencies only (rfft) for real input; complex
        input is always two-sided (with a warning).
      axis: the time axis.

    Returns:
      (f, t, Zxx): the frequencies, the segments' times and the transform, the frequencies
      where `axis` was and the segments last, in x's complex dtype.
    """
    return _spectral("stft", x, None, fs, window, nperseg, noverlap, nfft, detrend,
                     return_onesided, "spectrum", axis, "stft", boundary, padded)


def _average(name: str, pxy, average: str):
    """The periodograms pxy (..., nseg) averaged over the segments."""
    shape = aval_of(pxy).shape
    if len(shape) < 2 or 0 in shape:
        return pxy
    if shape[-1] == 1:
        return ls.reshape(pxy, shape[:-1])
    if average == "mean":
        return fnp.mean(pxy, axis=-1)
    if average != "median":
        raise _fail(name, f'average must be "median" or "mean", got {average!r}.',
                    ValueError)
    ii = np.arange(2.0, shape[-1], 2)  # the median's bias relative to the mean
    bias = (1 + np.sum(1.0 / (ii + 1) - 1.0 / ii)).astype(dt.real_dtype(aval_of(pxy).dtype))
    if dt.is_complex(aval_of(pxy).dtype):
        pxy = fnp.add(fnp.median(fnp.real(pxy), axis=-1),
                      fnp.multiply(1j, fnp.median(fnp.imag(pxy), axis=-1)))
    else:
        pxy = fnp.median(pxy, axis=-1)
    return fnp.true_divide(pxy, bias)


def csd(x, y, fs=1.0, window="hann", nperseg=None, noverlap=None, nfft=None,
        detrend="constant", return_onesided: bool = True, scaling: str = "density",
        axis: int = -1, average: str = "mean"):
    """The cross power spectral density of x and y by Welch's method, as
    jax.scipy.signal.csd: the periodograms conj(X) * Y of the segments (cut, detrended and
    windowed as in `stft`, without boundary extension or padding; the shorter signal is
    zero-padded to the longer's length), scaled for `scaling` ('density': by
    1 / (fs * sum(window**2)), 'spectrum': by 1 / sum(window)**2), doubled at the folded
    frequencies when one-sided, and averaged over the segments ('mean', or 'median' with
    its bias corrected). nperseg defaults to the signal's length, as in JAX. y=None is the
    power spectral density of x, real (as `welch`).

    Returns:
      (f, Pxy): the frequencies and the cross spectral density, the frequencies where `axis`
      was, in the inputs' complex dtype.
    """
    freqs, _, pxy = _spectral("csd", x, y, fs, window, nperseg, noverlap, nfft, detrend,
                              return_onesided, scaling, axis, "psd")
    return freqs, _average("csd", pxy, average)


def welch(x, fs=1.0, window="hann", nperseg=None, noverlap=None, nfft=None,
          detrend="constant", return_onesided: bool = True, scaling: str = "density",
          axis: int = -1, average: str = "mean"):
    """The power spectral density of x by Welch's method, as jax.scipy.signal.welch: `csd`
    of x with itself, real.

    Returns:
      (f, Pxx): the frequencies and the power spectral density, in x's real dtype.
    """
    freqs, pxx = _spectral("welch", x, None, fs, window, nperseg, noverlap, nfft, detrend,
                           return_onesided, scaling, axis, "psd")[::2]
    return freqs, fnp.real(_average("welch", pxx, average))


def istft(Zxx, fs=1.0, window="hann", nperseg=None, noverlap=None, nfft=None,
          input_onesided: bool = True, boundary: bool = True, time_axis: int = -1,
          freq_axis: int = -2):
    """The inverse short-time Fourier transform, as jax.scipy.signal.istft: each segment's
    spectrum transformed back (irfft if `input_onesided`, else ifft), cut to nperseg
    samples, windowed, overlap-added and divided by the overlap-added squared window (where
    that exceeds 1e-10); with `boundary` the nperseg // 2 samples stft added at each end are
    removed. So istft(stft(x)) is x wherever the window's overlaps cover it.

    Arguments:
      Zxx: the STFT, at least 2-d, frequencies along freq_axis and segments along time_axis.
      window, nperseg, noverlap, nfft: as given to stft. nperseg defaults to the frequency
        axis' length (2 * (length - 1) for one-sided input), nfft to that with an odd
        nperseg's extra sample; as in JAX, noverlap=0 and nperseg=0 count as not given.

    Returns:
      (t, x): the times of x's first axis' samples (as SciPy and JAX compute them) and the
      signal, its time axis where the segments' was (the frequency axis removed).
    """
    check_arraylike("istft", Zxx, namespace="fgrad.scipy.signal")
    Zxx = as_array(Zxx, "istft")
    ndim = aval_of(Zxx).ndim
    if ndim < 2:
        raise _fail("istft", f"Input stft must be at least 2d, not of shape "
                    f"{aval_of(Zxx).shape}.", ValueError)
    freq_axis = _axis("istft", freq_axis, ndim, "freq_axis")
    time_axis = _axis("istft", time_axis, ndim, "time_axis")
    if freq_axis == time_axis:
        raise _fail("istft", "Must specify differing time and frequency axes, not both "
                    f"{time_axis}.", ValueError)
    Zxx = fnp.astype(Zxx, dt.canonicalize(_complex_dtype(to_inexact(aval_of(Zxx).dtype))))
    n_default = 2 * (aval_of(Zxx).shape[freq_axis] - 1) if input_onesided else \
        aval_of(Zxx).shape[freq_axis]
    nperseg = _static_int("istft", "nperseg", nperseg or n_default)
    if nperseg < 1:
        raise _fail("istft", f"nperseg must be a positive integer, not {nperseg}.", ValueError)
    if nfft is None:
        nfft = n_default + 1 if input_onesided and nperseg == n_default + 1 else n_default
    else:
        nfft = _static_int("istft", "nfft", nfft)
    if nfft < nperseg:
        raise _fail("istft", f"FFT length ({nfft}) must be longer than nperseg ({nperseg}).",
                    ValueError)
    noverlap = _static_int("istft", "noverlap", noverlap or nperseg // 2)
    if noverlap >= nperseg:
        raise _fail("istft", f"noverlap must be less than nperseg, not noverlap={noverlap} "
                    f"with nperseg={nperseg}.", ValueError)
    nstep = nperseg - noverlap

    if time_axis != ndim - 1 or freq_axis != ndim - 2:
        outer = tuple(i for i in range(ndim) if i not in (time_axis, freq_axis))
        Zxx = ls.transpose(Zxx, outer + (freq_axis, time_axis))
    inverse = fnp_fft.irfft if input_onesided else fnp_fft.ifft
    # xsubs: (..., nperseg, N), the segments along the second last axis
    xsubs = _slice_axis(inverse(Zxx, nfft, axis=-2), 0, nperseg, -2)

    sub_dtype = aval_of(xsubs).dtype
    if isinstance(window, (str, tuple)):
        win = fnp.asarray(_named_window("istft", window, nperseg).astype(sub_dtype))
    else:
        check_arraylike("istft", window, namespace="fgrad.scipy.signal")
        win = as_array(window, "istft")
        if aval_of(win).ndim != 1:
            raise _fail("istft", f"window must be 1-D, not of shape {aval_of(win).shape}.",
                        ValueError)
        if aval_of(win).shape[0] != nperseg:
            raise _fail("istft", f"window must have length of {nperseg}, not "
                        f"{aval_of(win).shape[0]}.", ValueError)
    xsubs = fnp.multiply(xsubs, fnp.sum(win))  # the 'spectrum' scaling undone
    count = aval_of(xsubs).shape[-1]
    column = ls.reshape(win, (nperseg, 1))
    x = _overlap_add(fnp.swapaxes(fnp.multiply(xsubs, column), -2, -1), nstep)
    squares = fnp.broadcast_to(fnp.multiply(column, column), (nperseg, count))
    norm = _overlap_add(fnp.swapaxes(squares, -2, -1), nstep)

    if boundary:  # Python's x[..., h:-h], as JAX slices it (empty for nperseg 1)
        start, stop, _ = slice(nperseg // 2, -(nperseg // 2)).indices(aval_of(x).shape[-1])
        stop = max(start, stop)
        x, norm = _slice_axis(x, start, stop, -1), _slice_axis(norm, start, stop, -1)
    x = fnp.true_divide(x, fnp.where(fnp.greater(norm, 1e-10), norm, 1.0))

    if aval_of(x).ndim > 1 and time_axis != ndim - 1:
        x = fnp.moveaxis(x, -1, time_axis - 1 if freq_axis < time_axis else time_axis)
    real = dt.real_dtype(aval_of(x).dtype)
    times = fnp.true_divide(fnp.asarray(np.arange(aval_of(x).shape[0]).astype(real)), fs)
    return times, x
