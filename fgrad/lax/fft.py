"""The fast Fourier transform: one primitive, `fft`, for the four transforms XLA computes.

`fft(x, fft_type, fft_lengths)` transforms the trailing `len(fft_lengths)` axes of `x` (one
to three of them; leading axes are a batch). The primitive's params are the type's name
('FFT', 'IFFT', 'RFFT' or 'IRFFT', so programs print it) and the lengths, a tuple of ints;
the lowering is jax.lax.fft. With N = prod(fft_lengths):

- FFT: complex -> complex, X[k] = sum_j x[j] exp(-2 pi i <j, k / n>) over every transformed
  axis (unnormalized);
- IFFT: complex -> complex, the inverse: exp(+2 pi i ...) and a factor 1/N;
- RFFT: real -> complex, the FFT of a real array, keeping only the first n//2 + 1 entries
  of the last axis (the rest are their conjugates: the spectrum is Hermitian);
- IRFFT: complex -> real, the inverse of RFFT: the last axis holds n//2 + 1 entries of a
  Hermitian spectrum whose other half is implied; the imaginary parts of its entry 0 (and,
  for an even n, of its entry n/2) are ignored, as they would have to be 0.

All four are linear (over the reals for RFFT and IRFFT), so the JVP applies the same
transform to the tangent and reverse mode needs a transpose rule for each. fgrad follows
JAX's convention for complex cotangents: the transpose T of a linear map A satisfies
Re(sum(ct * A(t))) = Re(sum(T(ct) * t)), a plain transpose with no conjugation.

- FFT and IFFT: the DFT matrix is symmetric (entry (j, k) depends on j * k only), and so
  is a Kronecker product of such matrices, so each is its own transpose.
- RFFT keeps the first m = n//2 + 1 rows of the DFT matrix F: for a real input x and a
  complex cotangent c, Re(sum_k c_k (F x)_k) = sum_j x_j Re(sum_k F_kj c_k), so the
  cotangent of x is Re(F_mᵀ c). That sum over m entries is an IRFFT in disguise: IRFFT of z
  computes (1/n) Re(sum_k w_k z_k exp(+2 pi i jk/n)), with w_k = 1 for k = 0 and (n even)
  k = n/2 and 2 for the others (every entry between them stands for itself and its
  conjugate); so Re(sum_k c_k exp(-2 pi i jk/n)) = n * IRFFT(conj(c) / w). Over several
  axes the other axes' FFTs fold in the same way: the cotangent is
  N * IRFFT(conj(ct) / w).
- IRFFT is the map just quoted. For a real cotangent c, sum_j c_j (1/n) Re(sum_k w_k z_k
  e_jk) = Re(sum_k z_k (w_k / n) sum_j c_j e_jk), and sum_j c_j exp(+2 pi i jk/n) is the
  conjugate of RFFT(c)_k; so the cotangent of z is conj(RFFT(ct)) * w / N. Its entries 0
  and n/2 come out real, which is right: IRFFT ignores the imaginary parts there, so
  their cotangent is 0.

These two rules are each other's transposes, so reverse-over-reverse closes on the four
types. Batching keeps a batch axis in front of the transformed ones, or moves it there.
"""

from __future__ import annotations

import math

import numpy as np
from jax import lax

from fgrad.core import Aval, Primitive, Zero, aval_of
from fgrad.core import dtypes as dt
from fgrad.core.errors import at_user_line
from fgrad.lax._ad import deflinear
from fgrad.lax._batching import move_axis
from fgrad.lax._rules import as_ints, fail
from fgrad.lax.elementwise import conj, convert_element_type, mul
from fgrad.lax.shapes import broadcast_in_dim
from fgrad.transforms.rules import batch_rules

FftType = lax.FftType

_COMPLEX_OF = {np.dtype(np.float32): np.dtype(np.complex64),
               np.dtype(np.float64): np.dtype(np.complex128)}


_TYPES = ("FFT", "IFFT", "RFFT", "IRFFT")


def _type_name(fft_type) -> str:
    """`fft_type` (a jax.lax.FftType, or its name in either case) as its name, the form the
    primitive's param takes (so programs print it by name)."""
    if isinstance(fft_type, FftType):
        return fft_type.name
    if isinstance(fft_type, str) and fft_type.upper() in _TYPES:
        return fft_type.upper()
    kind = ValueError if isinstance(fft_type, str) else TypeError
    raise kind(at_user_line(
        f"fgrad.lax.fft: fft_type must be a jax.lax.FftType or one of the names 'FFT', "
        f"'IFFT', 'RFFT', 'IRFFT', not {fft_type!r}."))


def operand_dtype(fft_type: str, dtype: np.dtype) -> np.dtype:
    """The dtype `fft` converts its operand to, as jax.lax.fft does: RFFT reads real numbers
    (integers and bools become float32, or float64 from 64-bit integers when x64 is on; a
    float16 or bfloat16 stays, and the primitive refuses it as JAX does), the others complex
    ones (complex128 from 64-bit numbers when x64 is on, complex64 from anything narrower)."""
    dtype = np.dtype(dtype)
    if fft_type == "RFFT":
        if dt.is_complex(dtype):
            raise ValueError(at_user_line(
                "fgrad.lax.fft: RFFT transforms real numbers, not complex ones (use FFT, or "
                "take the real part first)."))
        if dt.is_inexact(dtype):
            return dtype
        return dt.canonicalize(np.float64) if dtype.itemsize == 8 else np.dtype(np.float32)
    if dt.is_complex(dtype):
        return dtype
    return dt.canonicalize(np.complex128) if dtype.itemsize == 8 else np.dtype(np.complex64)


# -- fft -------------------------------------------------------------------------------------


def _fft_abstract_eval(x, *, fft_type, fft_lengths):
    name, avals = "fft", [x]
    if fft_type not in _TYPES:
        raise fail(name, avals, f"fft_type must be one of the names {_TYPES}, not "
                   f"{fft_type!r}")
    if type(fft_lengths) is not tuple or not all(type(n) is int and n >= 0
                                                 for n in fft_lengths):
        raise fail(name, avals, f"fft_lengths must be a tuple of integers >= 0, not "
                   f"{fft_lengths!r}")
    k = len(fft_lengths)
    if not 1 <= k <= 3:
        raise fail(name, avals, f"it transforms 1 to 3 axes, not {k} (fft_lengths "
                   f"{fft_lengths})", "fgrad.numpy.fft.fftn splits more axes into several "
                   "transforms.")
    if x.ndim < k:
        raise fail(name, avals, f"fft_lengths {fft_lengths} name {k} trailing axes, but the "
                   f"operand has {x.ndim}")
    trailing, lead = x.shape[x.ndim - k:], x.shape[:x.ndim - k]
    kind = fft_type
    if fft_type == "RFFT":
        if x.dtype not in _COMPLEX_OF:
            raise fail(name, avals, f"RFFT transforms float32 or float64 numbers, not "
                       f"{x.dtype.name}", "Convert the operand first.")
        if fft_lengths[-1] == 0:
            raise fail(name, avals, "RFFT of an axis of length 0 has no output (its length "
                       "would be 0 // 2 + 1 = 1)")
        shape, dtype = (*lead, *fft_lengths[:-1], fft_lengths[-1] // 2 + 1), _COMPLEX_OF[x.dtype]
    else:
        if not dt.is_complex(x.dtype):
            raise fail(name, avals, f"{kind} transforms complex numbers, not {x.dtype.name}",
                       "Convert the operand to complex64 or complex128 first.")
        if fft_type == "IRFFT":
            half = (*fft_lengths[:-1], fft_lengths[-1] // 2 + 1)
            if trailing != half:
                raise fail(name, avals, f"IRFFT to lengths {fft_lengths} reads trailing axes "
                           f"of shape {half} (the last one n // 2 + 1 long), not {trailing}")
            shape, dtype = (*lead, *fft_lengths), dt.real_dtype(x.dtype)
        else:
            shape, dtype = x.shape, x.dtype
    if fft_type != "IRFFT" and trailing != fft_lengths:
        raise fail(name, avals, f"{kind} transforms trailing axes of shape fft_lengths "
                   f"{fft_lengths}, not {trailing}", "Pad or crop the operand first.")
    # Never weakly typed: jax.lax.fft converts its operand to a strong type first.
    return Aval(tuple(shape), np.dtype(dtype), False)


def _fft_lower(x, *, fft_type, fft_lengths):
    return lax.fft(x, FftType[fft_type], fft_lengths)


fft_p = Primitive("fft", _fft_abstract_eval, _fft_lower)


def _half_spectrum_weights(aval: Aval, n: int, scale: float, invert: bool):
    """`scale * w` (or `scale / w`) along the last axis of `aval`'s shape, in its dtype: w
    counts how many entries of the full spectrum of length `n` each entry of its first
    n // 2 + 1 stands for (1 for entry 0 and, for an even n, for entry n / 2; 2 for the
    others, which stand for their conjugates too)."""
    m = n // 2 + 1
    w = np.full(m, 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    row = np.asarray(scale / w if invert else scale * w, aval.dtype)
    return broadcast_in_dim(row, aval.shape, (aval.ndim - 1,))


def _fft_transpose(ct, x, *, fft_type, fft_lengths):
    if 0 in fft_lengths:  # the output has no elements: a zero map
        return [Zero(x.aval)]
    if fft_type in ("FFT", "IFFT"):  # symmetric matrices
        return [fft_p.bind1(ct, fft_type=fft_type, fft_lengths=fft_lengths)]
    n, total = fft_lengths[-1], math.prod(fft_lengths)
    if fft_type == "RFFT":
        scaled = mul(conj(ct), _half_spectrum_weights(aval_of(ct), n, total, invert=True))
        return [fft_p.bind1(scaled, fft_type="IRFFT", fft_lengths=fft_lengths)]
    spectrum = fft_p.bind1(ct, fft_type="RFFT", fft_lengths=fft_lengths)
    weights = _half_spectrum_weights(aval_of(spectrum), n, 1.0 / total, invert=False)
    return [mul(conj(spectrum), weights)]


deflinear(fft_p, [0], _fft_transpose)


def _fft_batch(axis_size, values, dims, *, fft_type, fft_lengths):
    (x,), (dim,) = values, dims
    if dim >= aval_of(x).ndim - len(fft_lengths):  # among the transformed axes: move it out
        x, dim = move_axis(x, dim, 0), 0
    return fft_p.bind1(x, fft_type=fft_type, fft_lengths=fft_lengths), dim


batch_rules.define(fft_p, _fft_batch)

# -- the function users call (jax.lax's signature) -------------------------------------------


def fft(x, fft_type, fft_lengths):
    """The fast Fourier transform of the trailing `len(fft_lengths)` axes of `x` (one to
    three), as jax.lax.fft: `fft_type` is a jax.lax.FftType or its name ('FFT', 'IFFT',
    'RFFT', 'IRFFT'). The operand is converted as JAX does (RFFT reads real numbers, the
    others complex ones); with no lengths it is returned converted. The trailing axes must
    have the shape `fft_lengths` (for IRFFT, all but the last, which holds n // 2 + 1
    entries); fgrad.numpy.fft pads and crops for you."""
    fft_type = _type_name(fft_type)
    lengths = as_ints(fft_lengths)
    aval = aval_of(x)
    target = operand_dtype(fft_type, aval.dtype)
    if aval.dtype != target or aval.weak_type:
        x = convert_element_type(x, target, weak_type=False)
    if not lengths:  # nothing to transform, as in JAX
        return x
    return fft_p.bind1(x, fft_type=fft_type, fft_lengths=lengths)
