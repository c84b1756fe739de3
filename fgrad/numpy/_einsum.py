"""Contractions: dot, matmul, vdot, outer and einsum, all on `dot_general`.

einsum contracts its operands pairwise, left to right: indices only one operand has (and
the output lacks) are summed first, and each pairwise step keeps as batch dimensions the
indices that are shared and still needed, contracting the rest.
"""

from __future__ import annotations

from typing import NamedTuple

from fgrad.core import aval_of
from fgrad.core import dtypes as dt
from fgrad.core.errors import ShapeDtypeError, at_user_line
from fgrad.lax import elementwise as lx
from fgrad.lax import linalg as lla
from fgrad.lax import reductions as lr
from fgrad.lax import shapes as ls
from fgrad.numpy._core import (
    as_array, broadcast_shapes, broadcast_to_shape, check_arraylike, convert, promote_dtypes,
    user_dtype,
)
from fgrad.numpy._math import multiply
from fgrad.numpy._shapes import expand_dims, ravel, transpose

# The public names, gathered by fgrad/numpy/__init__.py.
__all__ = [
    "dot", "einsum", "matmul", "outer", "vdot",
]


def _contract(a, b, dimension_numbers, precision, preferred_element_type):
    return lla.dot_general(a, b, dimension_numbers, precision=precision,
                           preferred_element_type=user_dtype(preferred_element_type, "dot"))


def _contraction_operands(a, b):
    """a and b in their common dtype, as jax.numpy's dot and matmul hand them to
    dot_general: an operand that already has that dtype is passed unconverted even when its
    weak type differs (so the cotangent of a weak operand times a strong one is strong, as
    in JAX); only a dtype change converts."""
    avals = [aval_of(a), aval_of(b)]
    dtype, _ = dt.promote(*avals)
    return [x if aval.dtype == dtype else convert(x, dtype, False, aval)
            for x, aval in zip((a, b), avals)]


def dot(a, b, *, precision=None, preferred_element_type=None):
    """NumPy's dot: a product with a scalar, else a contraction of a's last axis with b's
    second-to-last (or only) axis."""
    check_arraylike("dot", a, b)
    a, b = _contraction_operands(a, b)
    a_ndim, b_ndim = aval_of(a).ndim, aval_of(b).ndim
    if a_ndim == 0 or b_ndim == 0:  # JAX: a dot_general contracting nothing
        if dt.is_bool(aval_of(a).dtype):
            return multiply(a, b)
        shape = broadcast_shapes("dot", aval_of(a).shape, aval_of(b).shape)
        return lx.mul(*(as_array(broadcast_to_shape(x, shape, "dot")) for x in (a, b)))
    contracting = ((a_ndim - 1,), (max(b_ndim - 2, 0),))
    _check_sizes("dot", a, b, *contracting)
    return _contract(a, b, (contracting, ((), ())), precision, preferred_element_type)


def _check_sizes(name: str, a, b, a_axes, b_axes) -> None:
    a_shape, b_shape = aval_of(a).shape, aval_of(b).shape
    for i, j in zip(a_axes, b_axes):
        if a_shape[i] != b_shape[j]:
            raise ShapeDtypeError(at_user_line(
                f"fgrad.numpy.{name}: shapes {a_shape} and {b_shape} are not aligned: axis {i} "
                f"of the first has size {a_shape[i]}, axis {j} of the second {b_shape[j]}."))


def matmul(a, b, *, precision=None, preferred_element_type=None):
    """a @ b: matrix products over the last two axes, broadcasting the leading ones; a 1-D
    operand is a row (first) or a column (second) vector whose axis is then dropped."""
    check_arraylike("matmul", a, b)
    a, b = _contraction_operands(a, b)
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
        return _contract(a, b, (((a_contract,), (b_contract,)), ((), ())), precision,
                         preferred_element_type)
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
    return transpose(out, permutation)


def vdot(a, b, *, precision=None, preferred_element_type=None):
    """The dot product of the flattened arrays."""
    check_arraylike("vdot", a, b)
    return dot(ravel(a), ravel(b), precision=precision,
               preferred_element_type=preferred_element_type)


def outer(a, b):
    """outer(a, b)[i, j] = a.ravel()[i] * b.ravel()[j]."""
    check_arraylike("outer", a, b)
    return multiply(expand_dims(ravel(a), 1), expand_dims(ravel(b), 0))


# -- einsum ----------------------------------------------------------------------------------


class _Operand(NamedTuple):
    value: object
    labels: tuple  # one label per axis: a letter, or ("...", k) for the k-th ellipsis axis


def _parse_term(term: str, ndim: int, position) -> tuple:
    if term.count("...") > 1 or "." in term.replace("...", ""):
        raise ValueError(at_user_line(f"fgrad.numpy.einsum: invalid subscripts {term!r}."))
    if any(not (c.isalpha() or c == ".") for c in term):
        raise ValueError(at_user_line(
            f"fgrad.numpy.einsum: subscripts must be letters, not {term!r}."))
    if "..." not in term:
        if len(term) != ndim:
            raise ShapeDtypeError(at_user_line(
                f"fgrad.numpy.einsum: operand {position} has {ndim} axes but its subscripts "
                f"{term!r} name {len(term)}."))
        return tuple(term)
    before, after = term.split("...")
    n_ellipsis = ndim - len(before) - len(after)
    if n_ellipsis < 0:
        raise ShapeDtypeError(at_user_line(
            f"fgrad.numpy.einsum: operand {position} has {ndim} axes, fewer than its "
            f"subscripts {term!r} name."))
    return tuple(before) + tuple(("...", -n_ellipsis + k) for k in range(n_ellipsis)) + tuple(
        after)


def einsum(subscripts: str, *operands, optimize=None, precision=None,
           preferred_element_type=None):
    """Einstein summation, e.g. einsum('ij,jk->ik', a, b). Ellipses broadcast; an index
    repeated within one operand (a diagonal or trace) is not supported."""
    if not isinstance(subscripts, str):
        raise TypeError(at_user_line(
            "fgrad.numpy.einsum takes its subscripts as a string, e.g. 'ij,jk->ik'."))
    check_arraylike("einsum", *operands)
    spec = subscripts.replace(" ", "")
    inputs, arrow, output = spec.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(operands):
        raise ValueError(at_user_line(
            f"fgrad.numpy.einsum: the subscripts {subscripts!r} name {len(terms)} operands "
            f"but {len(operands)} were given."))
    if not operands:
        raise ValueError(at_user_line("fgrad.numpy.einsum needs at least one operand."))
    operands = [as_array(x, "einsum") for x in promote_dtypes(*operands)]
    parsed = []
    for position, (term, x) in enumerate(zip(terms, operands)):
        labels = _parse_term(term, aval_of(x).ndim, position)
        repeated = sorted({c for c in labels if labels.count(c) > 1})
        if repeated:
            raise ValueError(at_user_line(
                f"fgrad.numpy.einsum: operand {position}'s subscripts {term!r} repeat the index "
                f"{repeated[0]!r}, which would take a diagonal; fgrad.numpy.einsum does not "
                f"support that. Multiply by fgrad.numpy.eye(n) and sum instead (a trace is "
                f"einsum('ij,ij->', x, eye(n)))."))
        parsed.append(_Operand(x, labels))
    ellipsis_ndim = max((sum(isinstance(c, tuple) for c in op.labels) for op in parsed),
                        default=0)
    ellipsis_labels = tuple(("...", -ellipsis_ndim + k) for k in range(ellipsis_ndim))
    if arrow:
        if output.count("...") > 1 or "." in output.replace("...", ""):
            raise ValueError(at_user_line(f"fgrad.numpy.einsum: invalid output {output!r}."))
        before, _, after = output.partition("...")
        out_labels = tuple(before) + (ellipsis_labels if "..." in output else ()) + tuple(after)
    else:
        letters = [c for op in parsed for c in op.labels if not isinstance(c, tuple)]
        out_labels = ellipsis_labels + tuple(sorted(c for c in set(letters)
                                                    if letters.count(c) == 1))
    _check_output(out_labels, parsed, output)
    parsed = _unbroadcast(parsed)
    result = _contract_all(parsed, out_labels, precision, preferred_element_type)
    permutation = [result.labels.index(c) for c in out_labels]
    return transpose(as_array(result.value, "einsum"), permutation)


def _check_output(out_labels, parsed, output) -> None:
    seen = {c for op in parsed for c in op.labels}
    for c in out_labels:
        if c not in seen and not isinstance(c, tuple):
            raise ValueError(at_user_line(
                f"fgrad.numpy.einsum: output index {c!r} appears in no operand."))
    if len(set(out_labels)) != len(out_labels):
        raise ValueError(at_user_line(
            f"fgrad.numpy.einsum: the output subscripts {output!r} repeat an index."))


def _unbroadcast(parsed: list[_Operand]) -> list[_Operand]:
    """Checks that each index has one size; axes of size 1 facing a larger size broadcast,
    so they are squeezed away (the other operand supplies the index)."""
    sizes: dict = {}
    for op in parsed:
        for c, n in zip(op.labels, aval_of(op.value).shape):
            sizes.setdefault(c, set()).add(n)
    for c, found in sizes.items():
        if len(found - {1}) > 1:
            name = "an ellipsis axis" if isinstance(c, tuple) else f"index {c!r}"
            raise ShapeDtypeError(at_user_line(
                f"fgrad.numpy.einsum: {name} has different sizes {sorted(found)} in different "
                f"operands."))
    result = []
    for op in parsed:
        shape = aval_of(op.value).shape
        squeeze = [k for k, (c, n) in enumerate(zip(op.labels, shape))
                   if n == 1 and max(sizes[c]) > 1]
        if squeeze:
            op = _Operand(ls.squeeze(op.value, squeeze),
                          tuple(c for k, c in enumerate(op.labels) if k not in squeeze))
        result.append(op)
    return result


def _sum_unique(op: _Operand, keep: set) -> _Operand:
    axes = [k for k, c in enumerate(op.labels) if c not in keep]
    if not axes:
        return op
    return _Operand(lr.reduce_sum(op.value, axes),
                    tuple(c for k, c in enumerate(op.labels) if k not in axes))


def _contract_all(parsed: list[_Operand], out_labels, precision, preferred_element_type):
    def needed(others) -> set:
        return set(out_labels).union(*(op.labels for op in others))

    parsed = [_sum_unique(op, needed(parsed[:k] + parsed[k + 1:]))
              for k, op in enumerate(parsed)]
    left = parsed[0]
    for k in range(1, len(parsed)):
        right, rest = parsed[k], parsed[k + 1:]
        keep = needed(rest)
        shared = [c for c in left.labels if c in right.labels]
        batch = [c for c in shared if c in keep]
        contract = [c for c in shared if c not in keep]
        dimension_numbers = (
            (tuple(left.labels.index(c) for c in contract),
             tuple(right.labels.index(c) for c in contract)),
            (tuple(left.labels.index(c) for c in batch),
             tuple(right.labels.index(c) for c in batch)))
        value = _contract(left.value, right.value, dimension_numbers, precision,
                          preferred_element_type)
        labels = (tuple(batch) + tuple(c for c in left.labels if c not in shared)
                  + tuple(c for c in right.labels if c not in shared))
        left = _sum_unique(_Operand(value, labels), keep)
    return left
