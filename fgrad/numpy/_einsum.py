"""Contractions: dot, matmul, vdot, outer, tensordot, inner, vecdot, matvec, vecmat, kron,
cross and einsum, every product on `dot_general`.

einsum gives each axis a one-character label (the ellipsis's axes get unused characters),
takes a diagonal for a label repeated within one operand, sums the labels that only one
operand has and the output lacks, then contracts the operands pairwise in the order that
`optimize` picks: opt_einsum's path (as jax.numpy.einsum), an explicit path, or, with
optimize=False, strictly left to right. Each pairwise step keeps as batch dimensions the
shared labels still needed later and contracts the rest.
"""

from __future__ import annotations

import functools
import operator
from collections import Counter
from typing import NamedTuple

import numpy as np
import opt_einsum

from fgrad.core import aval_of
from fgrad.core import dtypes as dt
from fgrad.core.errors import ShapeDtypeError, at_user_line
from fgrad.core.ir import Aval
from fgrad.core.resources import register_cache
from fgrad.lax import elementwise as lx
from fgrad.lax import indexing as li
from fgrad.lax import linalg as lla
from fgrad.lax import reductions as lr
from fgrad.lax import shapes as ls
from fgrad.numpy._eager import compiled_eagerly
from fgrad.numpy._core import (
    as_array, broadcast_shapes, broadcast_to_shape, canonical_axis, check_arraylike, convert,
    promote_dtypes, user_dtype,
)
from fgrad.numpy._creation import zeros_like
from fgrad.numpy._indexing import getitem
from fgrad.numpy._math import multiply, subtract
from fgrad.numpy._shapes import expand_dims, moveaxis, ravel, reshape, stack, transpose

# The public names, gathered by fgrad/numpy/__init__.py.
__all__ = [
    "cross", "dot", "einsum", "einsum_path", "inner", "kron", "matmul", "matvec", "outer",
    "tensordot", "vdot", "vecdot", "vecmat",
]


def _contract(a, b, dimension_numbers, precision, preferred_element_type):
    return lla.dot_general(a, b, dimension_numbers, precision=precision,
                           preferred_element_type=user_dtype(preferred_element_type, "dot"))


def _result_type(name: str, preferred_element_type, *avals) -> tuple[np.dtype, bool]:
    """The dtype and weak type of a product, as jax.numpy gives it: the operands' common type,
    or a strongly typed preferred_element_type."""
    if preferred_element_type is None:
        return dt.promote(*avals)
    return user_dtype(preferred_element_type, name), False


def conj_if_complex(x):
    """The complex conjugate of `x` when it is complex, else `x` itself (as an array)."""
    x = as_array(x, "conj")
    return lx.conj(x) if dt.is_complex(aval_of(x).dtype) else x


def _contraction_operands(a, b, preferred_element_type):
    """a and b in their common dtype, as jax.numpy's dot and matmul hand them to
    dot_general: an operand that already has that dtype is passed unconverted even when its
    weak type differs (so the cotangent of a weak operand times a strong one is strong, as
    in JAX); only a dtype change converts, weakly when both operands are weak and no
    preferred_element_type is given (so a weak int times a weak float is a weak float, as
    JAX's dot and matmul give it)."""
    avals = [aval_of(a), aval_of(b)]
    dtype, weak = dt.promote(*avals)
    weak = weak and preferred_element_type is None
    return [x if aval.dtype == dtype else convert(x, dtype, weak, aval)
            for x, aval in zip((a, b), avals)]


@compiled_eagerly(2)
def dot(a, b, *, precision=None, preferred_element_type=None):
    """NumPy's dot: a product with a scalar, else a contraction of a's last axis with b's
    second-to-last (or only) axis."""
    check_arraylike("dot", a, b)
    dtype, weak = _result_type("dot", preferred_element_type, aval_of(a), aval_of(b))
    a, b = _contraction_operands(a, b, preferred_element_type)
    a_ndim, b_ndim = aval_of(a).ndim, aval_of(b).ndim
    if a_ndim == 0 or b_ndim == 0:  # JAX: a dot_general contracting nothing
        if dt.is_bool(aval_of(a).dtype):
            return multiply(a, b)
        shape = broadcast_shapes("dot", aval_of(a).shape, aval_of(b).shape)
        return convert(lx.mul(*(as_array(broadcast_to_shape(x, shape, "dot")) for x in (a, b))),
                       dtype, weak)
    contracting = ((a_ndim - 1,), (max(b_ndim - 2, 0),))
    _check_sizes("dot", a, b, *contracting)
    out = _contract(a, b, (contracting, ((), ())), precision, preferred_element_type)
    return convert(out, dtype, weak)  # a preferred_element_type is strong, as in JAX


def _check_sizes(name: str, a, b, a_axes, b_axes) -> None:
    a_shape, b_shape = aval_of(a).shape, aval_of(b).shape
    for i, j in zip(a_axes, b_axes):
        if a_shape[i] != b_shape[j]:
            raise ShapeDtypeError(at_user_line(
                f"fgrad.numpy.{name}: shapes {a_shape} and {b_shape} are not aligned: axis {i} "
                f"of the first has size {a_shape[i]}, axis {j} of the second {b_shape[j]}."))


@compiled_eagerly(2)
def matmul(a, b, *, precision=None, preferred_element_type=None):
    """a @ b: matrix products over the last two axes, broadcasting the leading ones; a 1-D
    operand is a row (first) or a column (second) vector whose axis is then dropped."""
    check_arraylike("matmul", a, b)
    dtype, weak = _result_type("matmul", preferred_element_type, aval_of(a), aval_of(b))
    a, b = _contraction_operands(a, b, preferred_element_type)
    a_shape, b_shape = aval_of(a).shape, aval_of(b).shape
    for position, shape in enumerate((a_shape, b_shape)):
        if not shape:
            raise ShapeDtypeError(at_user_line(
                f"fgrad.numpy.matmul: operand {position} must have at least one dimension, "
                f"but it is a scalar. Use fgrad.numpy.multiply for scalars."))
    a_vector, b_vector = len(a_shape) == 1, len(b_shape) == 1
    a_contract = len(a_shape) - 1
    b_contract = 0 if b_vector else len(b_shape) - 2
    _check_sizes("matmul", a, b, (a_contract,), (b_contract,))
    if len(a_shape) <= 2 and len(b_shape) <= 2:  # no batch axes: one dot_general says it all
        out = _contract(a, b, (((a_contract,), (b_contract,)), ((), ())), precision,
                        preferred_element_type)
        return convert(out, dtype, weak)
    a_batch = a_shape[:-2]
    b_batch = b_shape[:-2]
    batch = broadcast_shapes("matmul", a_batch, b_batch)
    # A batch axis present with equal sizes on both sides is a dot_general batch axis; one
    # broadcast from size 1 (or missing) is squeezed from that side and stays a free axis of
    # the other, so no operand is ever materialised at the broadcast size.
    a_lead, b_lead = len(batch) - len(a_batch), len(batch) - len(b_batch)
    pairs, a_free, b_free, a_squeeze, b_squeeze = [], [], [], [], []
    sources = []
    for k in range(len(batch)):
        i, j = k - a_lead, k - b_lead
        a_size = a_batch[i] if i >= 0 else None
        b_size = b_batch[j] if j >= 0 else None
        if a_size is not None and b_size is not None and a_size == b_size:
            pairs.append((i, j))
            sources.append(("pair", len(pairs) - 1))
        elif b_size is None or (b_size == 1 and a_size is not None):
            a_free.append(i)
            sources.append(("a", len(a_free) - 1))
            if b_size is not None:
                b_squeeze.append(j)
        else:
            b_free.append(j)
            sources.append(("b", len(b_free) - 1))
            if a_size is not None:
                a_squeeze.append(i)
    if a_squeeze:
        a = ls.squeeze(a, a_squeeze)
    if b_squeeze:
        b = ls.squeeze(b, b_squeeze)

    def renumber(axis, squeezed):
        return axis - sum(s < axis for s in squeezed)

    a_pairs = tuple(renumber(i, a_squeeze) for i, _ in pairs)
    b_pairs = tuple(renumber(j, b_squeeze) for _, j in pairs)
    dimension_numbers = (((renumber(a_contract, a_squeeze),), (renumber(b_contract, b_squeeze),)),
                         (a_pairs, b_pairs))
    out = _contract(a, b, dimension_numbers, precision, preferred_element_type)
    # dot_general's layout: pairs, a's free axes (batch, then its row), b's (batch, column).
    n_pairs, n_a = len(pairs), len(a_free) + (0 if a_vector else 1)
    position = {"pair": 0, "a": n_pairs, "b": n_pairs + n_a}
    permutation = [position[kind] + index for kind, index in sources]
    if not a_vector:
        permutation.append(n_pairs + len(a_free))
    if not b_vector:
        permutation.append(n_pairs + n_a + len(b_free))
    return convert(transpose(out, permutation), dtype, weak)


def vdot(a, b, *, precision=None, preferred_element_type=None):
    """The dot product of the flattened arrays, conjugating `a` when it is complex."""
    check_arraylike("vdot", a, b)
    return dot(ravel(conj_if_complex(a)), ravel(b), precision=precision,
               preferred_element_type=preferred_element_type)


def outer(a, b, out=None):
    """outer(a, b)[i, j] = a.ravel()[i] * b.ravel()[j]."""
    _no_out("outer", out)
    check_arraylike("outer", a, b)
    return multiply(expand_dims(ravel(a), 1), expand_dims(ravel(b), 0))


def _no_out(name: str, out) -> None:
    if out is not None:
        raise NotImplementedError(at_user_line(
            f"fgrad.numpy.{name}: the 'out' argument is not supported (arrays are immutable); "
            f"use the returned array."))


def tensordot(a, b, axes=2, *, precision=None, preferred_element_type=None):
    """Sums the products over the last `axes` axes of a and the first `axes` of b (an int),
    or over the axes a pair names: (axis_a, axis_b) or ((axes of a), (axes of b))."""
    check_arraylike("tensordot", a, b)
    a_ndim, b_ndim = aval_of(a).ndim, aval_of(b).ndim
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
        if not 0 <= axes <= min(a_ndim, b_ndim):
            raise ShapeDtypeError(at_user_line(
                f"fgrad.numpy.tensordot: axes={axes} must lie between 0 and the smaller rank "
                f"of the operands, which have shapes {aval_of(a).shape} and "
                f"{aval_of(b).shape}."))
        a_axes, b_axes = tuple(range(a_ndim - axes, a_ndim)), tuple(range(axes))
    elif isinstance(axes, (tuple, list)) and len(axes) == 2:
        a_axes, b_axes = axes
        if isinstance(a_axes, (int, np.integer)) and isinstance(b_axes, (int, np.integer)):
            a_axes, b_axes = (a_axes,), (b_axes,)
        elif not (isinstance(a_axes, (tuple, list)) and isinstance(b_axes, (tuple, list))):
            raise TypeError(at_user_line(
                f"fgrad.numpy.tensordot: the axes pair {axes!r} must hold two ints or two "
                f"sequences of ints."))
        if len(a_axes) != len(b_axes):
            raise ShapeDtypeError(at_user_line(
                f"fgrad.numpy.tensordot: the axes {tuple(a_axes)} of a and {tuple(b_axes)} "
                f"of b must be equally many."))
        a_axes = tuple(canonical_axis(i, a_ndim, "tensordot") for i in a_axes)
        b_axes = tuple(canonical_axis(i, b_ndim, "tensordot") for i in b_axes)
    else:
        raise TypeError(at_user_line(
            "fgrad.numpy.tensordot: axes must be an int, a pair of ints, or a pair of "
            "sequences of ints."))
    dtype, weak = _result_type("tensordot", preferred_element_type, aval_of(a), aval_of(b))
    a, b = _contraction_operands(a, b, preferred_element_type)
    _check_sizes("tensordot", a, b, a_axes, b_axes)
    out = _contract(a, b, ((a_axes, b_axes), ((), ())), precision, preferred_element_type)
    return convert(out, dtype, weak)


def inner(a, b, *, precision=None, preferred_element_type=None):
    """Sums the products over the last axes of a and b (a product when one is a scalar)."""
    check_arraylike("inner", a, b)
    if aval_of(a).ndim == 0 or aval_of(b).ndim == 0:
        if preferred_element_type is not None:
            dtype = user_dtype(preferred_element_type, "inner")
            a, b = convert(a, dtype), convert(b, dtype)
        return as_array(multiply(a, b), "inner")
    return tensordot(a, b, (-1, -1), precision=precision,
                     preferred_element_type=preferred_element_type)


def vecdot(x1, x2, /, *, axis: int = -1, precision=None, preferred_element_type=None):
    """The dot products of vectors along `axis` (x1 conjugated when complex); the other axes
    broadcast."""
    check_arraylike("vecdot", x1, x2)
    shape1, shape2 = aval_of(x1).shape, aval_of(x2).shape
    axis1 = canonical_axis(axis, len(shape1), "vecdot")
    axis2 = canonical_axis(axis, len(shape2), "vecdot")
    if shape1[axis1] != shape2[axis2]:
        raise ShapeDtypeError(at_user_line(
            f"fgrad.numpy.vecdot: the vectors along axis {axis} differ in length: shapes "
            f"{shape1} and {shape2}."))
    dtype, weak = _result_type("vecdot", preferred_element_type, aval_of(x1), aval_of(x2))
    x1 = moveaxis(conj_if_complex(x1), axis1, -1)
    x2 = moveaxis(x2, axis2, -1)
    # Rows times columns: matmul broadcasts the leading axes without materialising them.
    out = matmul(expand_dims(x1, -2), expand_dims(x2, -1), precision=precision,
                 preferred_element_type=preferred_element_type)
    return convert(ls.squeeze(out, (-2, -1)), dtype, weak)


def _check_core_dims(name: str, x1, x2, ndims: tuple[int, int], sizes: tuple[int, int],
                     signature: str) -> None:
    shape1, shape2 = aval_of(x1).shape, aval_of(x2).shape
    if len(shape1) < ndims[0] or len(shape2) < ndims[1]:
        raise ShapeDtypeError(at_user_line(
            f"fgrad.numpy.{name}: operands of shapes {shape1} and {shape2} do not fit its "
            f"signature {signature}: they need at least {ndims[0]} and {ndims[1]} axes."))
    if shape1[sizes[0]] != shape2[sizes[1]]:
        raise ShapeDtypeError(at_user_line(
            f"fgrad.numpy.{name}: shapes {shape1} and {shape2} do not fit its signature "
            f"{signature}: the contracted sizes are {shape1[sizes[0]]} and "
            f"{shape2[sizes[1]]}."))


def matvec(x1, x2, /):
    """Matrix-vector products over the last axes ((..., n, m) and (..., m) give (..., n)),
    the leading axes broadcast."""
    check_arraylike("matvec", x1, x2)
    _check_core_dims("matvec", x1, x2, (2, 1), (-1, -1), "(n,m),(m)->(n)")
    return ls.squeeze(matmul(x1, expand_dims(x2, -1)), (-1,))


def vecmat(x1, x2, /):
    """Vector-matrix products over the last axes ((..., n) and (..., n, m) give (..., m)),
    x1 conjugated when complex, the leading axes broadcast."""
    check_arraylike("vecmat", x1, x2)
    _check_core_dims("vecmat", x1, x2, (1, 2), (-1, -2), "(n),(n,m)->(m)")
    return ls.squeeze(matmul(expand_dims(conj_if_complex(x1), -2), x2), (-2,))


def kron(a, b):
    """The Kronecker product: blocks a[i, j] * b, tiled as a's shape says."""
    check_arraylike("kron", a, b)
    a, b = (as_array(x, "kron") for x in promote_dtypes(a, b))
    if dt.is_bool(aval_of(a).dtype):
        raise TypeError(at_user_line(
            "fgrad.numpy.kron does not take booleans (nor does jax.numpy.kron): convert them "
            "to a number type first."))
    ndim = max(aval_of(a).ndim, aval_of(b).ndim)
    a = ls.expand_dims(a, tuple(range(ndim - aval_of(a).ndim)))
    b = ls.expand_dims(b, tuple(range(ndim - aval_of(b).ndim)))
    # a's axes interleaved with b's: (a0, 1, a1, 1, ...) times (1, b0, 1, b1, ...).
    spread_a = ls.expand_dims(a, tuple(range(1, 2 * ndim, 2)))
    spread_b = ls.expand_dims(b, tuple(range(0, 2 * ndim, 2)))
    shape = tuple(n * m for n, m in zip(aval_of(a).shape, aval_of(b).shape))
    return reshape(multiply(spread_a, spread_b), shape)


def cross(a, b, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis: int | None = None):
    """The cross product of 3-vectors (a 2-vector has a zero third component; two 2-vectors
    give the scalar z component) along the given axes, the other axes broadcast."""
    check_arraylike("cross", a, b)
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = moveaxis(a, axisa, -1), moveaxis(b, axisb, -1)
    lengths = (aval_of(a).shape[-1], aval_of(b).shape[-1])
    if not set(lengths) <= {2, 3}:
        raise ShapeDtypeError(at_user_line(
            f"fgrad.numpy.cross: the vectors must have 2 or 3 components, not {lengths[0]} "
            f"and {lengths[1]}."))

    def component(x, k: int):
        return getitem(x, (Ellipsis, k))

    a0, a1, b0, b1 = component(a, 0), component(a, 1), component(b, 0), component(b, 1)
    if lengths == (2, 2):
        return subtract(multiply(a0, b1), multiply(a1, b0))
    a2 = component(a, 2) if lengths[0] == 3 else zeros_like(a0)
    b2 = component(b, 2) if lengths[1] == 3 else zeros_like(b0)
    c = stack([subtract(multiply(a1, b2), multiply(a2, b1)),
               subtract(multiply(a2, b0), multiply(a0, b2)),
               subtract(multiply(a0, b1), multiply(a1, b0))])
    # jax.numpy builds c with jnp.array, whose result is strongly typed.
    return moveaxis(convert(c, aval_of(c).dtype), 0, axisc)


# -- einsum ----------------------------------------------------------------------------------


class _Term(NamedTuple):
    value: object
    labels: str  # one character per axis


def einsum(subscripts, /, *operands, out=None, optimize="auto", precision=None,
           preferred_element_type=None):
    """Einstein summation: `einsum('ij,jk->ik', a, b)`, or in the sublist form
    `einsum(a, [0, 1], b, [1, 2], [0, 2])`.

    Arguments:
      subscripts: each operand's axis labels, comma separated, then optionally '->' and the
        output's labels. '...' stands for axes that broadcast. A label repeated within one
        operand takes a diagonal ('ii->i') or a trace ('ii->'). Without '->' the output has
        the ellipsis's axes, then the labels used once, in sorted order.
      operands: the arrays.
      out: not supported (as in JAX).
      optimize: the order of the pairwise contractions: 'auto' (the default), True (the same
        as 'optimal'), 'greedy', 'optimal' or another opt_einsum strategy; an explicit path
        (a list of tuples of positions, as `einsum_path` returns); or False, strictly left to
        right. (JAX's False pairs the first two operands each time, which differs from left
        to right from four operands on.)
      precision, preferred_element_type: for every dot_general, as in jax.lax.

    Returns:
      The array the output labels describe, of the operands' common dtype (or
      preferred_element_type).
    """
    _no_out("einsum", out)
    spec, operands = _subscripts_string(subscripts, operands)
    if not operands:
        raise ValueError(at_user_line("fgrad.numpy.einsum needs at least one operand."))
    check_arraylike("einsum", *operands)
    avals = [aval_of(x) for x in operands]
    inputs, output, ellipsis = _parse(spec, [a.ndim for a in avals])
    sizes = _label_sizes(inputs, avals, ellipsis)
    preferred = user_dtype(preferred_element_type, "einsum")
    dtype, weak = _result_type("einsum", preferred, *avals)
    # As in dot and matmul, only an operand whose dtype differs from the others' converts.
    common, _ = dt.promote(*avals)
    terms = [_Term(as_array(x if a.dtype == common else convert(x, common, False, a), "einsum"),
                   labels) for x, a, labels in zip(operands, avals, inputs)]
    terms = [_unbroadcast(_take_diagonals(t), sizes) for t in terms]
    terms = [_sum_unneeded(t, _needed(output, terms[:k] + terms[k + 1:]), preferred)
             for k, t in enumerate(terms)]
    result = _follow(terms, _path(optimize, terms, output), output, precision, preferred)
    value = result.value
    if result.labels != output:
        value = ls.transpose(value, tuple(result.labels.index(c) for c in output))
    return as_array(convert(value, dtype, weak), "einsum")


class _FirstTwo(opt_einsum.paths.PathOptimizer):
    """JAX's path for optimize=False: always the first two operands (the result goes last)."""

    def __call__(self, inputs, output, size_dict, memory_limit=None):
        return [(0, 1)] * (len(inputs) - 1)


def einsum_path(subscripts, /, *operands, optimize="auto"):
    """The contraction path opt_einsum picks for an einsum, and its printable report (what
    jax.numpy.einsum_path returns). The path can be passed to einsum as `optimize=`."""
    if isinstance(optimize, bool):
        optimize = "optimal" if optimize else _FirstTwo()
    return opt_einsum.contract_path(subscripts, *operands, optimize=optimize)


# Parsing: the subscripts become one string of labels per operand and one for the output.


def _subscripts_string(subscripts, operands) -> tuple[str, list]:
    """The subscripts as a string without spaces, and the operands. The sublist form
    einsum(a, [0, 1], b, [1, 2], [0, 2]) becomes einsum('ab,bc->ac', a, b): each distinct
    label becomes a character, in the labels' sorted order (as opt_einsum converts it)."""
    if isinstance(subscripts, str):
        return subscripts.replace(" ", ""), list(operands)
    arguments = [subscripts, *operands]
    arrays, sublists = arguments[0:len(arguments) - 1:2], arguments[1::2]
    output = arguments[-1] if len(arguments) % 2 else None
    every = sublists + ([] if output is None else [output])
    if not all(isinstance(s, (list, tuple)) for s in every):
        raise TypeError(at_user_line(
            "fgrad.numpy.einsum takes its subscripts as a string, einsum('ij,jk->ik', a, b), "
            "or as lists after each operand, einsum(a, [0, 1], b, [1, 2], [0, 2])."))
    try:
        names = sorted({label for s in every for label in s if label is not Ellipsis})
    except TypeError:
        raise TypeError(at_user_line(
            "fgrad.numpy.einsum: the labels of the sublist form must be integers (or "
            "Ellipsis).")) from None
    symbol = {name: opt_einsum.get_symbol(k) for k, name in enumerate(names)}

    def text(sublist) -> str:
        return "".join("..." if label is Ellipsis else symbol[label] for label in sublist)

    spec = ",".join(text(s) for s in sublists)
    return (spec if output is None else f"{spec}->{text(output)}"), arrays


def _parse(spec: str, ndims: list[int]) -> tuple[list[str], str, str]:
    """Each operand's labels and the output's, with '...' replaced by characters the
    subscripts do not use: the same ones for every operand, aligned from the right, so that
    ellipsis axes broadcast like NumPy's. Also returns those characters."""
    if ("-" in spec or ">" in spec) and not (spec.count("-") == spec.count(">") == 1
                                            and "->" in spec):
        raise ValueError(at_user_line(
            f"fgrad.numpy.einsum: the subscripts {spec!r} may contain one '->', and '-' or "
            f"'>' only there."))
    inputs_text, arrow, output_text = spec.partition("->")
    terms = inputs_text.split(",")
    if len(terms) != len(ndims):
        raise ValueError(at_user_line(
            f"fgrad.numpy.einsum: the subscripts {spec!r} name {len(terms)} operands but "
            f"{len(ndims)} were given."))
    used = set(spec) - set(".,->")
    fresh = (opt_einsum.get_symbol(k) for k in range(len(used) + max(ndims)))
    ellipsis = "".join([s for s in fresh if s not in used][:max(ndims)])
    inputs, longest = [], 0
    for position, (term, ndim) in enumerate(zip(terms, ndims)):
        before, after = _split_ellipsis(term)
        if after is None:
            labels = before
        else:
            count = ndim - len(before) - len(after)
            if count < 0:
                raise ShapeDtypeError(at_user_line(
                    f"fgrad.numpy.einsum: operand {position} has {ndim} axes, fewer than its "
                    f"subscripts {term!r} name."))
            longest = max(longest, count)
            labels = before + ellipsis[len(ellipsis) - count:] + after
        if len(labels) != ndim:
            raise ShapeDtypeError(at_user_line(
                f"fgrad.numpy.einsum: operand {position} has {ndim} axes but its subscripts "
                f"{term!r} name {len(labels)}."))
        inputs.append(labels)
    out_ellipsis = ellipsis[len(ellipsis) - longest:]
    if arrow:
        before, after = _split_ellipsis(output_text)
        output = before if after is None else before + out_ellipsis + after
    else:
        counts = Counter("".join(inputs))
        output = out_ellipsis + "".join(sorted(c for c, n in counts.items()
                                               if n == 1 and c not in ellipsis))
    for c in output:
        if output.count(c) > 1:
            raise ValueError(at_user_line(
                f"fgrad.numpy.einsum: the output subscripts {output_text!r} repeat the index "
                f"{c!r}."))
        if c not in inputs_text and c not in ellipsis:
            raise ValueError(at_user_line(
                f"fgrad.numpy.einsum: output index {c!r} appears in no operand."))
    return inputs, output, ellipsis


def _split_ellipsis(term: str) -> tuple[str, str | None]:
    """The labels before and after '...' (after is None without one)."""
    if "." not in term:
        return term, None
    if term.count(".") != 3 or "..." not in term:
        raise ValueError(at_user_line(
            f"fgrad.numpy.einsum: invalid subscripts {term!r}: '.' may only appear as one "
            f"'...'."))
    before, _, after = term.partition("...")
    return before, after


def _describe(label: str, ellipsis: str) -> str:
    return "an ellipsis axis" if label in ellipsis else f"index {label!r}"


def _label_sizes(inputs: list[str], avals, ellipsis: str) -> dict[str, int]:
    """Each label's size. Across operands a size 1 broadcasts against any other size;
    within one operand a repeated label (a diagonal) needs equal sizes."""
    sizes: dict[str, int] = {}
    for position, (labels, aval) in enumerate(zip(inputs, avals)):
        for label in dict.fromkeys(labels):
            own = sorted({n for c, n in zip(labels, aval.shape) if c == label})
            if len(own) > 1:
                raise ShapeDtypeError(at_user_line(
                    f"fgrad.numpy.einsum: operand {position} repeats "
                    f"{_describe(label, ellipsis)} over axes of different sizes {own}; a "
                    f"diagonal needs equal sizes."))
            seen, n = sizes.get(label, 1), own[0]
            if n != 1 and seen != 1 and n != seen:
                raise ShapeDtypeError(at_user_line(
                    f"fgrad.numpy.einsum: {_describe(label, ellipsis)} has different sizes "
                    f"{sorted({seen, n})} in different operands."))
            sizes[label] = n if seen == 1 else seen
    return sizes


# The steps on single operands: diagonals, broadcasting, sums.


def _take_diagonals(term: _Term) -> _Term:
    for label, count in Counter(term.labels).items():
        if count > 1:
            term = _diagonal(term, label)
    return term


def _diagonal(term: _Term, label: str) -> _Term:
    """The diagonal over the axes labelled `label`, as one last axis: those k axes (of size
    n) are moved last and flattened, and every (1 + n + ... + n^(k-1))-th element sliced out.
    A selection, with no arithmetic: exact, and its derivative a pad."""
    x, labels = term
    others = [k for k, c in enumerate(labels) if c != label]
    axes = [k for k, c in enumerate(labels) if c == label]
    if others + axes != list(range(len(labels))):
        x = ls.transpose(x, tuple(others + axes))
    shape = aval_of(x).shape
    lead, n, count = shape[:len(others)], shape[-1], len(axes)
    x = ls.reshape(x, lead + (n ** count,))
    step = sum(n ** k for k in range(count))
    x = li.slice(x, (0,) * (len(lead) + 1), lead + (n ** count,), (1,) * len(lead) + (step,))
    return _Term(x, "".join(labels[k] for k in others) + label)


def _unbroadcast(term: _Term, sizes: dict[str, int]) -> _Term:
    """Squeezes the size-1 axes whose label is larger in another operand (which then
    supplies that label)."""
    shape = aval_of(term.value).shape
    squeeze = [k for k, (c, n) in enumerate(zip(term.labels, shape)) if n == 1 and sizes[c] != 1]
    if not squeeze:
        return term
    return _Term(ls.squeeze(term.value, tuple(squeeze)),
                 "".join(c for k, c in enumerate(term.labels) if k not in squeeze))


def _needed(output: str, others) -> set:
    return set(output).union(*(t.labels for t in others))


def _sum_unneeded(term: _Term, needed: set, preferred) -> _Term:
    """Sums the axes whose labels neither the output nor another operand has."""
    axes = tuple(k for k, c in enumerate(term.labels) if c not in needed)
    if not axes:
        return term
    x = term.value
    aval = aval_of(x)
    # As jax.numpy.einsum: a preferred type the sum would promote to is summed in.
    if preferred is not None and dt.promote(aval, Aval((), preferred, False))[0] != aval.dtype:
        x = lx.convert_element_type(x, preferred)
    reduce = lr.reduce_max if dt.is_bool(aval_of(x).dtype) else lr.reduce_sum  # or on bools
    summed = reduce(x, axes)
    if aval_of(summed).weak_type:
        # jax.numpy.einsum sums with lax.reduce from a strongly typed NumPy zero, so the sum
        # of a weak operand is strong (and so is the cotangent it passes back; found by the
        # long profile, seed 5).
        summed = lx.convert_element_type(summed, aval_of(summed).dtype, weak_type=False)
    return _Term(summed, "".join(c for c in term.labels if c in needed))


# The pairwise contractions, in the order of a path.


def _path(optimize, terms: list[_Term], output: str) -> list[tuple[int, ...]]:
    """The contraction path: tuples of positions in the list of operands, where each step
    removes the operands it names and appends their contraction (opt_einsum's convention)."""
    n = len(terms)
    if optimize is False:
        # The running result (always last) with the next operand (always first).
        return [(0, 1)] + [(0, m - 1) for m in range(n - 1, 1, -1)]
    if isinstance(optimize, (list, tuple)):
        return _checked_path(optimize, n)
    if n <= 2:
        return [tuple(range(n))] if n == 2 else []
    spec = ",".join(t.labels for t in terms) + "->" + output
    shapes = tuple(aval_of(t.value).shape for t in terms)
    if isinstance(optimize, (bool, str)):
        return _optimized_path(spec, shapes, "optimal" if optimize is True else optimize)
    return list(opt_einsum.contract_path(spec, *shapes, shapes=True, optimize=optimize)[0])


@functools.lru_cache(maxsize=1024)
def _optimized_path(spec: str, shapes: tuple, optimize: str) -> list[tuple[int, ...]]:
    # Cached: choosing a path costs more than a small einsum, and programs repeat them.
    return list(opt_einsum.contract_path(spec, *shapes, shapes=True, optimize=optimize)[0])


register_cache(
    "einsum_paths", _optimized_path,
    holds="a contraction order (a short list of index pairs)",
    key="(subscripts, operand shapes, optimize setting)",
    why="entries are tiny; 1024 covers the einsums of many programs at many shapes")


def _checked_path(path, n: int) -> list[tuple[int, ...]]:
    steps, count = [], n
    for step in path:
        try:
            step = tuple(operator.index(i) for i in step)
        except TypeError:
            raise TypeError(at_user_line(
                f"fgrad.numpy.einsum: each step of an optimize path is a tuple of operand "
                f"positions, not {step!r}.")) from None
        if len(step) > 2:
            raise NotImplementedError(at_user_line(
                f"fgrad.numpy.einsum contracts one or two operands at a time (as "
                f"jax.numpy.einsum), but the optimize path's step {step} names {len(step)}."))
        if not step or len(set(step)) != len(step) or not all(0 <= i < count for i in step):
            raise ValueError(at_user_line(
                f"fgrad.numpy.einsum: the optimize path's step {step} does not name one or two "
                f"distinct operands of the {count} left."))
        steps.append(step)
        count -= len(step) - 1
    if count != 1:
        raise ValueError(at_user_line(
            f"fgrad.numpy.einsum: the optimize path {list(path)} leaves {count} operands "
            f"instead of one."))
    return steps


def _follow(terms: list[_Term], path, output: str, precision, preferred) -> _Term:
    terms = list(terms)
    for step in path:
        picked = [terms[i] for i in step]
        terms = [t for i, t in enumerate(terms) if i not in step]
        needed = _needed(output, terms)
        if len(picked) == 1:
            terms.append(_sum_unneeded(picked[0], needed, preferred))
        else:
            terms.append(_contract_pair(*picked, needed, precision, preferred))
    (result,) = terms
    return result


def _contract_pair(lhs: _Term, rhs: _Term, needed: set, precision, preferred) -> _Term:
    """One dot_general: the shared labels still needed later are batch dimensions, the
    other shared ones are contracted. (Every other label is needed later: a label that only
    one operand has was summed before.)"""
    shared = [c for c in lhs.labels if c in rhs.labels]
    batch = [c for c in shared if c in needed]
    contracted = [c for c in shared if c not in needed]

    def positions(term: _Term, labels) -> tuple[int, ...]:
        return tuple(term.labels.index(c) for c in labels)

    numbers = ((positions(lhs, contracted), positions(rhs, contracted)),
               (positions(lhs, batch), positions(rhs, batch)))
    value = _contract(lhs.value, rhs.value, numbers, precision, preferred)
    labels = ("".join(batch) + "".join(c for c in lhs.labels if c not in shared)
              + "".join(c for c in rhs.labels if c not in shared))
    return _Term(value, labels)
