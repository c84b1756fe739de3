"""fgrad.numpy.fft: discrete Fourier transforms, as jax.numpy.fft (and NumPy) define them.

Every transform is the one primitive `fgrad.lax.fft` (FFT, IFFT, RFFT or IRFFT over up to
three trailing axes) with the shape work around it: the transformed axes are moved last,
padded with zeros or cropped to the lengths asked for (`n`, `s`), transformed (more than
three axes in several steps), scaled for `norm`, and moved back. So every function here is
differentiable, batchable and jittable through the primitive's rules; docs/fft.md explains
the conventions, and what the derivative of a real transform (rfft, irfft) means.

norm: 'backward' (the default, as None) leaves the forward transforms unscaled and divides
the inverse ones by n; 'ortho' divides both by sqrt(n), making them unitary; 'forward'
divides the forward ones by n and leaves the inverse ones unscaled (n: the product of the
transformed lengths). Integers and bools are transformed as floats; float32 and narrower
give complex64 and float64 (with x64 on) complex128, as in JAX.
"""

import operator as _operator

import jax.numpy as _jnp
import numpy as _np

from fgrad.core import aval_of as _aval_of
from fgrad.core import dtypes as _dt
from fgrad.core.errors import at_user_line as _at_user_line
from fgrad.core.errors import missing_attribute as _missing_attribute
from fgrad.lax.fft import fft as _lax_fft
from fgrad.lax.fft import operand_dtype as _operand_dtype
from fgrad.lax.shapes import pad as _lax_pad
from fgrad.numpy._core import canonical_axis as _canonical_axis
from fgrad.numpy._core import check_arraylike as _check_arraylike
from fgrad.numpy._core import convert as _convert
from fgrad.numpy._core import to_inexact as _to_inexact
from fgrad.numpy._core import user_dtype as _user_dtype
from fgrad.numpy._creation import asarray as _asarray
from fgrad.numpy._creation import astype as _astype
from fgrad.numpy._math import conj as _conj
from fgrad.numpy._math import multiply as _multiply
from fgrad.numpy._math import true_divide as _true_divide
from fgrad.numpy._shapes import check_placement as _check_placement
from fgrad.numpy._shapes import moveaxis as _moveaxis
from fgrad.numpy._shapes import roll as _roll

__all__ = [
    "fft", "fft2", "fftfreq", "fftn", "fftshift", "hfft", "ifft", "ifft2", "ifftn",
    "ifftshift", "ihfft", "irfft", "irfft2", "irfftn", "rfft", "rfft2", "rfftfreq", "rfftn",
]

_FFT, _IFFT, _RFFT, _IRFFT = "FFT", "IFFT", "RFFT", "IRFFT"  # the primitive's fft_type
_NORMS = (None, "backward", "ortho", "forward")
_MAX_AXES = 3  # the most one XLA transform takes


# -- the transform every function shares -----------------------------------------------------


def _check_norm(name: str, norm) -> None:
    if not (norm is None or isinstance(norm, str)) or norm not in _NORMS:
        raise ValueError(_at_user_line(
            f"fgrad.numpy.fft.{name}: norm must be 'backward' (the default), 'ortho' or "
            f"'forward', not {norm!r}."))


def _lengths(name: str, s, what: str) -> tuple:
    """The lengths `s` (or `n`) as Python ints, each at least 1."""
    values = s if isinstance(s, (tuple, list, _np.ndarray)) else (s,)
    try:
        lengths = tuple(_operator.index(v) for v in values)
    except TypeError:
        kind = "an integer" if what == "n" else "a sequence of integers"
        raise TypeError(_at_user_line(
            f"fgrad.numpy.fft.{name}: {what} must be {kind}, not {s!r}.")) from None
    bad = [v for v in lengths if v < 1]
    if bad:
        raise ValueError(_at_user_line(
            f"fgrad.numpy.fft.{name}: {what} must be at least 1 (a transform of length "
            f"{bad[0]} has no values), got {s!r}."))
    return lengths


def _transform(name: str, fft_type, a, s, axes, norm, what: str = "s"):
    """The `fft_type` transform of `a` over `axes`, to lengths `s`, normalized by `norm`:
    the body of every function below."""
    _check_arraylike(f"fft.{name}", a)
    _check_norm(name, norm)
    ndim = _aval_of(a).ndim
    if s is not None:
        s = _lengths(name, s, what)
    if axes is None:
        count = ndim if s is None else len(s)
        if count > ndim:
            raise ValueError(_at_user_line(
                f"fgrad.numpy.fft.{name}: {what}={s} names {count} axes, but the array has "
                f"only {ndim}."))
        axes = tuple(range(ndim - count, ndim))
    else:
        axes = tuple(_canonical_axis(ax, ndim, f"fft.{name}") for ax in _axes_tuple(name, axes))
        if len(set(axes)) != len(axes):
            raise ValueError(_at_user_line(
                f"fgrad.numpy.fft.{name}: axes {axes} repeat an axis; name each one once."))
        if s is not None and len(s) != len(axes):
            raise ValueError(_at_user_line(
                f"fgrad.numpy.fft.{name}: s={s} and axes={axes} must have the same length "
                f"(one length per transformed axis)."))
    k = len(axes)
    aval = _aval_of(a)
    x = _convert(a, _operand_dtype(fft_type, aval.dtype), False)
    last = tuple(range(ndim - k, ndim))
    if axes != last:
        x = _moveaxis(x, axes, last)
    shape = _aval_of(x).shape
    if s is None:
        s = shape[ndim - k:]
        if fft_type == _IRFFT and k:
            s = (*s[:-1], max(0, 2 * (s[-1] - 1)))
    if k:
        # Zeros appended, or elements cropped, up to the lengths the transform reads.
        read = (*s[:-1], s[-1] // 2 + 1) if fft_type == _IRFFT else s
        if tuple(read) != shape[ndim - k:]:
            config = [(0, 0, 0)] * (ndim - k) + [(0, r - m, 0)
                                                 for r, m in zip(read, shape[ndim - k:])]
            x = _lax_pad(x, _aval_of(x).dtype.type(0), config)
    x = _nd_transform(x, fft_type, tuple(s))
    scale = _norm_scale(name, norm, s)
    if scale != 1:
        x = _multiply(x, scale)
    if axes != last:
        x = _moveaxis(x, last, axes)
    return x


def _axes_tuple(name: str, axes) -> tuple:
    if isinstance(axes, (tuple, list, _np.ndarray)):
        return tuple(axes)
    raise TypeError(_at_user_line(
        f"fgrad.numpy.fft.{name}: axes must be a sequence of integers, not {axes!r}."))


def _norm_scale(name: str, norm, s) -> float:
    if norm in (None, "backward"):
        return 1
    total = float(_np.prod(s, dtype=_np.float64))
    inverse = name.startswith("i")
    # Python floats: weakly typed, so they keep the result's dtype.
    if norm == "ortho":
        return float(_np.sqrt(total) if inverse else 1 / _np.sqrt(total))
    return total if inverse else 1 / total  # forward


def _nd_transform(x, fft_type, lengths: tuple):
    """The transform over the trailing len(lengths) axes of x, in steps of at most three
    axes: the DFT is separable, so any grouping gives the same result. Forward transforms
    do the last axes first (RFFT must see the real input), inverse ones last (IRFFT must
    produce the real output)."""
    k = len(lengths)
    if k <= _MAX_AXES:
        return _lax_fft(x, fft_type, lengths)
    ndim = _aval_of(x).ndim
    lead, tail = lengths[:-_MAX_AXES], lengths[-_MAX_AXES:]
    lead_axes = tuple(range(ndim - k, ndim - _MAX_AXES))  # where the leading ones are
    at_end = tuple(range(ndim - len(lead), ndim))
    inverse = fft_type in (_IFFT, _IRFFT)
    if not inverse:
        x = _lax_fft(x, fft_type, tail)
    x = _moveaxis(_nd_transform(_moveaxis(x, lead_axes, at_end), _IFFT if inverse else _FFT,
                                lead), at_end, lead_axes)
    if inverse:
        x = _lax_fft(x, fft_type, tail)
    return x


def _one_axis(name: str, axis) -> list:
    if isinstance(axis, (tuple, list)):
        has_n = name in ("fft", "ifft", "rfft", "irfft")  # hfft and ihfft have no n-d form
        several = f"use fgrad.numpy.fft.{name}n for several" if has_n else "apply it per axis"
        raise ValueError(_at_user_line(
            f"fgrad.numpy.fft.{name} transforms one axis, not {axis!r}: {several}."))
    return [axis]


def _two_axes(name: str, axes) -> tuple:
    axes = _axes_tuple(name, axes)
    if len(axes) != 2:
        raise ValueError(_at_user_line(
            f"fgrad.numpy.fft.{name} transforms two axes, not {axes!r}: use "
            f"fgrad.numpy.fft.{name[:-1]}n for another number of axes."))
    return axes


def _one_d(name: str, fft_type, a, n, axis, norm):
    s = None if n is None else _lengths(name, n, "n")
    return _transform(name, fft_type, a, s, _one_axis(name, axis), norm, "n")


# -- one axis --------------------------------------------------------------------------------


def fft(a, n=None, axis: int = -1, norm=None):
    """The discrete Fourier transform along one axis, as jax.numpy.fft.fft.

    Arguments:
        a: an array (real inputs are transformed as complex ones).
        n: the transform's length: `a` is cropped, or padded with zeros, to n elements along
            `axis` first. Default: its length there.
        axis: the axis to transform (the last by default).
        norm: 'backward' (default: unscaled), 'ortho' (divided by sqrt(n)) or 'forward'
            (divided by n).

    Returns:
        A complex array, `a`'s shape with n elements along `axis`:
        out[k] = sum_j a[j] exp(-2 pi i j k / n).
    """
    return _one_d("fft", _FFT, a, n, axis, norm)


def ifft(a, n=None, axis: int = -1, norm=None):
    """The inverse discrete Fourier transform along one axis, as jax.numpy.fft.ifft:
    out[j] = (1/n) sum_k a[k] exp(2 pi i j k / n) with the default norm ('backward'); 'ortho'
    divides by sqrt(n) instead, 'forward' not at all. `n` crops or zero-pads `a` along
    `axis` first. ifft(fft(a)) == a."""
    return _one_d("ifft", _IFFT, a, n, axis, norm)


def rfft(a, n=None, axis: int = -1, norm=None):
    """The discrete Fourier transform of real input along one axis, as jax.numpy.fft.rfft:
    the first n // 2 + 1 entries of fft(a, n, axis) (the others are their complex
    conjugates, in reverse order). `a` must be real (integers are converted to floats);
    `n` crops or zero-pads it along `axis` first; norm as in fft."""
    return _one_d("rfft", _RFFT, a, n, axis, norm)


def irfft(a, n=None, axis: int = -1, norm=None):
    """The inverse of rfft, as jax.numpy.fft.irfft: `a` holds the first entries of a
    Hermitian spectrum along `axis`, and the result is the real signal of length `n` (default
    2 * (m - 1) for m entries) whose rfft that is. `a` is cropped or zero-padded to
    n // 2 + 1 entries; the imaginary parts of entry 0 (and of entry n / 2 for an even n)
    are ignored. norm as in ifft. irfft(rfft(x), len(x)) == x."""
    return _one_d("irfft", _IRFFT, a, n, axis, norm)


def hfft(a, n=None, axis: int = -1, norm=None):
    """The discrete Fourier transform of a signal with Hermitian symmetry, given by its first
    half `a` (as jax.numpy.fft.hfft): a real array of length `n` (default 2 * (m - 1) for m
    entries), equal to irfft(conj(a), n) * n. norm as in fft."""
    _check_arraylike("fft.hfft", a)
    axis = _one_axis("hfft", axis)[0]
    ndim = _aval_of(a).ndim
    axis = _canonical_axis(axis, ndim, "fft.hfft")
    length = 2 * (_aval_of(a).shape[axis] - 1) if n is None else _lengths("hfft", n, "n")[0]
    out = _one_d("hfft", _IRFFT, _conj(a), n, axis, norm)
    return _multiply(out, length)


def ihfft(a, n=None, axis: int = -1, norm=None):
    """The inverse of hfft (as jax.numpy.fft.ihfft): conj(rfft(a, n)) / n for a real `a`,
    the first n // 2 + 1 entries of a Hermitian spectrum. norm as in ifft."""
    _check_arraylike("fft.ihfft", a)
    axis = _one_axis("ihfft", axis)[0]
    ndim = _aval_of(a).ndim
    axis = _canonical_axis(axis, ndim, "fft.ihfft")
    length = _aval_of(a).shape[axis] if n is None else _lengths("ihfft", n, "n")[0]
    out = _one_d("ihfft", _RFFT, a, n, axis, norm)
    return _multiply(_conj(out), 1 / length)


# -- two axes --------------------------------------------------------------------------------


def fft2(a, s=None, axes=(-2, -1), norm=None):
    """The two-dimensional discrete Fourier transform over `axes` (the last two by
    default), as jax.numpy.fft.fft2: fftn with two axes."""
    return _transform("fft2", _FFT, a, s, _two_axes("fft2", axes), norm)


def ifft2(a, s=None, axes=(-2, -1), norm=None):
    """The two-dimensional inverse discrete Fourier transform (ifftn over two axes)."""
    return _transform("ifft2", _IFFT, a, s, _two_axes("ifft2", axes), norm)


def rfft2(a, s=None, axes=(-2, -1), norm=None):
    """The two-dimensional discrete Fourier transform of real input (rfftn over two
    axes)."""
    return _transform("rfft2", _RFFT, a, s, _two_axes("rfft2", axes), norm)


def irfft2(a, s=None, axes=(-2, -1), norm=None):
    """The inverse of rfft2 (irfftn over two axes)."""
    return _transform("irfft2", _IRFFT, a, s, _two_axes("irfft2", axes), norm)


# -- any number of axes ----------------------------------------------------------------------


def fftn(a, s=None, axes=None, norm=None):
    """The n-dimensional discrete Fourier transform, as jax.numpy.fft.fftn.

    Arguments:
        a: an array (real inputs are transformed as complex ones).
        s: the transform's length along each axis: `a` is cropped or zero-padded to them
            first. Default: `a`'s shape along `axes`.
        axes: the axes to transform. Default: the last len(s) axes, or all of them.
        norm: 'backward' (default: unscaled), 'ortho' (divided by sqrt(prod(s))) or
            'forward' (divided by prod(s)).

    Returns:
        A complex array, `a`'s shape with s along `axes`.
    """
    return _transform("fftn", _FFT, a, s, axes, norm)


def ifftn(a, s=None, axes=None, norm=None):
    """The n-dimensional inverse discrete Fourier transform, as jax.numpy.fft.ifftn
    (arguments as in fftn; with the default norm the result is divided by prod(s))."""
    return _transform("ifftn", _IFFT, a, s, axes, norm)


def rfftn(a, s=None, axes=None, norm=None):
    """The n-dimensional discrete Fourier transform of real input, as
    jax.numpy.fft.rfftn: fftn, keeping s[-1] // 2 + 1 entries along the last of `axes`
    (the others are implied by symmetry). Arguments as in fftn; `a` must be real."""
    return _transform("rfftn", _RFFT, a, s, axes, norm)


def irfftn(a, s=None, axes=None, norm=None):
    """The inverse of rfftn, as jax.numpy.fft.irfftn: a real array of shape `s` over
    `axes` (by default `a`'s shape there, with 2 * (m - 1) along the last of them). `a` is
    cropped or zero-padded to s, with s[-1] // 2 + 1 entries along the last axis."""
    return _transform("irfftn", _IRFFT, a, s, axes, norm)


# -- frequencies and shifts ------------------------------------------------------------------


def _static_count(name: str, n) -> int:
    if isinstance(n, (list, tuple)):
        raise ValueError(_at_user_line(
            f"fgrad.numpy.fft.{name}: n is the number of samples, one integer, not {n!r}."))
    try:
        return _operator.index(n)
    except TypeError:
        raise TypeError(_at_user_line(
            f"fgrad.numpy.fft.{name}: n must be a concrete integer (the result's length "
            f"depends on it), not {n!r}.")) from None


def _check_spacing(name: str, d) -> None:
    if isinstance(d, (list, tuple)):
        raise ValueError(_at_user_line(
            f"fgrad.numpy.fft.{name}: d is the sample spacing, one value, not {d!r}."))
    _check_arraylike(f"fft.{name}", d)


def fftfreq(n, d=1.0, *, dtype=None, device=None):
    """The frequencies of the entries of an n-point fft with sample spacing `d`, as
    jax.numpy.fft.fftfreq: [0, 1, ..., (n - 1) // 2, -(n // 2), ..., -1] / (d * n).
    `d` may be traced (the result is differentiable in it); `dtype` defaults to the default
    float type."""
    _check_placement("fft.fftfreq", device, None)
    n = _static_count("fftfreq", n)
    _check_spacing("fftfreq", d)
    out_dtype = _user_dtype(dtype, "fft.fftfreq") or _dt.default_float()
    dtype = _dt.real_dtype(_to_inexact(out_dtype))
    i = _np.arange(max(n, 0))
    k = (i + n // 2) % n - n // 2 if n > 0 else i
    result = _true_divide(_asarray(k.astype(dtype)), _asarray(d * n, dtype=dtype))
    return _astype(result, out_dtype)


def rfftfreq(n, d=1.0, *, dtype=None, device=None):
    """The frequencies of the entries of an n-point rfft with sample spacing `d`, as
    jax.numpy.fft.rfftfreq: [0, 1, ..., n // 2] / (d * n). `d` may be traced."""
    _check_placement("fft.rfftfreq", device, None)
    n = _static_count("rfftfreq", n)
    _check_spacing("rfftfreq", d)
    dtype = _user_dtype(dtype, "fft.rfftfreq") or _dt.default_float()
    k = _asarray(_np.arange(max(n // 2 + 1, 0)).astype(dtype))
    return _true_divide(k, _asarray(d * n, dtype=dtype))


def _shifts(name: str, x, axes, sign: int):
    _check_arraylike(f"fft.{name}", x)
    shape = _aval_of(x).shape
    if axes is None:
        axes = tuple(range(len(shape)))
    elif not isinstance(axes, (tuple, list)):
        axes = (axes,)
    axes = tuple(_canonical_axis(ax, len(shape), f"fft.{name}") for ax in axes)
    return _roll(x, tuple(sign * (shape[ax] // 2) for ax in axes), axes)


def fftshift(x, axes=None):
    """`x` rolled so that the zero frequency is in the middle of each of `axes` (all by
    default), as jax.numpy.fft.fftshift: the order of fftfreq becomes increasing."""
    return _shifts("fftshift", x, axes, 1)


def ifftshift(x, axes=None):
    """The inverse of fftshift (they differ for odd lengths), as
    jax.numpy.fft.ifftshift."""
    return _shifts("ifftshift", x, axes, -1)


def __getattr__(name: str):
    raise _missing_attribute("fgrad.numpy.fft", _jnp.fft, name, globals())
