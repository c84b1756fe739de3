"""Contractions: `dot_general`, the one primitive behind matmul, einsum, inner and outer
products.

dimension_numbers = ((lhs_contract, rhs_contract), (lhs_batch, rhs_batch)). The result's
dimensions are the batch dimensions (in the order lhs_batch lists them), then lhs's free
dimensions, then rhs's free dimensions, each in their operand's order, as in XLA.
"""

from __future__ import annotations

import jax
import numpy as np
from jax import dtypes as jdt
from jax import lax
from jax.sharding import NamedSharding, PartitionSpec

from fgrad.core import Aval, Primitive, aval_of
from fgrad.core import dtypes as dt
from fgrad.lax._ad import defjvp, is_undefined
from fgrad.lax._rules import as_ints, check_available, check_dims, fail, user_dtype
from fgrad.lax.elementwise import convert_element_type
from fgrad.lax.shapes import transpose

# -- dot_general -----------------------------------------------------------------------------


def _precision_is_canonical(precision) -> bool:
    if precision is None or isinstance(precision, (lax.DotAlgorithm, lax.DotAlgorithmPreset)):
        return True
    return (isinstance(precision, tuple) and len(precision) == 2
            and all(isinstance(p, lax.Precision) for p in precision))


def _precision_rank(dtype: np.dtype) -> tuple:
    """Orders dtypes by how much they represent, as XLA does to pick a dot's result type:
    complex above real, then range, then precision, then width, signed above unsigned."""
    real = dt.real_dtype(dtype)
    # jax.dtypes knows the ml_dtypes floats (bfloat16, float8_*), which NumPy does not
    floating = jdt.issubdtype(real, np.floating)
    info = jdt.finfo(real) if floating else None
    width = 1 if dt.is_bool(real) else real.itemsize * 8
    return (dt.is_complex(dtype), info.maxexp if floating else -1,
            info.nmant if floating else -1, width, not np.issubdtype(real, np.unsignedinteger))


def _dot_general_out_dtype(lhs, rhs, preferred_element_type, precision) -> np.dtype:
    avals = [lhs, rhs]
    if preferred_element_type is None:
        if lhs.dtype != rhs.dtype:
            raise fail("dot_general", avals, "the dtypes differ",
                       "Convert with fgrad.lax.convert_element_type, use fgrad.numpy (which "
                       "promotes), or give preferred_element_type.")
        return lhs.dtype
    check_available("dot_general", avals, preferred_element_type, "preferred_element_type")
    lhs_rank, rhs_rank = _precision_rank(lhs.dtype), _precision_rank(rhs.dtype)
    if lhs.dtype != rhs.dtype and lhs_rank == rhs_rank:
        raise fail("dot_general", avals, "the dtypes differ and neither is wider",
                   "Convert one operand with fgrad.lax.convert_element_type.")
    accumulated = lhs.dtype if lhs_rank >= rhs_rank else rhs.dtype
    # XLA accumulates integers in the preferred type; a narrower one would overflow.
    algorithm = isinstance(precision, (lax.DotAlgorithm, lax.DotAlgorithmPreset))
    if not (algorithm or jdt.issubdtype(accumulated, np.floating)
            or accumulated == preferred_element_type):
        if _precision_rank(preferred_element_type)[3] < _precision_rank(accumulated)[3]:
            raise fail("dot_general", avals, f"preferred_element_type "
                       f"{preferred_element_type.name} is narrower than {accumulated.name}",
                       "Ask for a type at least as wide as the operands'.")
    return preferred_element_type


def _dot_general_abstract_eval(lhs, rhs, *, dimension_numbers, precision,
                               preferred_element_type):
    name, avals = "dot_general", [lhs, rhs]
    if not _precision_is_canonical(precision):
        raise fail(name, avals, f"precision {precision!r} is not a precision",
                   "Use None, a jax.lax.Precision or its name, a pair of them, or a "
                   "jax.lax.DotAlgorithmPreset.")
    try:
        (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = dimension_numbers
    except (TypeError, ValueError):
        raise fail(name, avals, f"dimension_numbers {dimension_numbers!r} is not "
                   f"((lhs_contract, rhs_contract), (lhs_batch, rhs_batch))") from None
    for side, aval, contract, batch in (("lhs", lhs, lhs_contract, lhs_batch),
                                        ("rhs", rhs, rhs_contract, rhs_batch)):
        check_dims(name, avals, contract, aval.ndim, f"{side} contracting dimension")
        check_dims(name, avals, batch, aval.ndim, f"{side} batch dimension")
        both = sorted(set(contract) & set(batch))
        if both:
            raise fail(name, avals, f"{side} dimension {both[0]} is both a contracting and a "
                       f"batch dimension", "Each dimension has one role.")
    if len(lhs_contract) != len(rhs_contract):
        raise fail(name, avals, f"lhs_contract {lhs_contract} and rhs_contract {rhs_contract} "
                   f"differ in length", "Contracting dimensions come in pairs.")
    if len(lhs_batch) != len(rhs_batch):
        raise fail(name, avals, f"lhs_batch {lhs_batch} and rhs_batch {rhs_batch} differ in "
                   f"length", "Batch dimensions come in pairs.")
    for kind, lhs_dims, rhs_dims in (("contracting", lhs_contract, rhs_contract),
                                     ("batch", lhs_batch, rhs_batch)):
        for l, r in zip(lhs_dims, rhs_dims):
            if lhs.shape[l] != rhs.shape[r]:
                raise fail(name, avals, f"{kind} dimensions differ in size: lhs dimension {l} "
                           f"has {lhs.shape[l]} elements, rhs dimension {r} has "
                           f"{rhs.shape[r]}")
    dtype = _dot_general_out_dtype(lhs, rhs, preferred_element_type, precision)
    lhs_free = [n for i, n in enumerate(lhs.shape) if i not in lhs_contract + lhs_batch]
    rhs_free = [n for i, n in enumerate(rhs.shape) if i not in rhs_contract + rhs_batch]
    shape = (*(lhs.shape[i] for i in lhs_batch), *lhs_free, *rhs_free)
    return Aval(shape, dtype, lhs.weak_type and rhs.weak_type)


def _dot_general_lower(lhs, rhs, *, dimension_numbers, precision, preferred_element_type):
    return lax.dot_general(lhs, rhs, dimension_numbers, precision=precision,
                           preferred_element_type=preferred_element_type,
                           out_sharding=_summed_out_sharding(lhs, rhs, dimension_numbers))


def _summed_out_sharding(lhs, rhs, dimension_numbers):
    """The output sharding to name when both operands shard a contracted dimension, else
    None (JAX decides).

    On a mesh with Explicit axes (`jax.make_mesh`'s default) a sharding is part of each
    value's type, and a product that contracts a dimension sharded in both operands (the
    weight gradient of a layer whose batch is sharded, which the transpose of a matmul
    makes) is a cross-device sum whose output sharding JAX asks for. As JAX's own transpose
    rules do, the output keeps the sharding of its batch and free dimensions: a replicated
    weight gets a replicated gradient, and XLA inserts the all-reduce.
    """
    lhs_sharding, rhs_sharding = jax.typeof(lhs).sharding, jax.typeof(rhs).sharding
    if lhs_sharding.mesh.empty or rhs_sharding.mesh.empty:
        return None
    (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = dimension_numbers
    lhs_spec, rhs_spec = lhs_sharding.spec, rhs_sharding.spec
    if not any(lhs_spec[i] is not None and rhs_spec[j] is not None
               for i, j in zip(lhs_contract, rhs_contract)):
        return None
    lhs_free = [i for i in range(np.ndim(lhs)) if i not in lhs_contract + lhs_batch]
    rhs_free = [i for i in range(np.ndim(rhs)) if i not in rhs_contract + rhs_batch]
    spec = [lhs_spec[i] for i in (*lhs_batch, *lhs_free)] + [rhs_spec[i] for i in rhs_free]
    return NamedSharding(lhs_sharding.mesh, PartitionSpec(*spec))


dot_general_p = Primitive("dot_general", _dot_general_abstract_eval, _dot_general_lower)


def _dot_general_lhs_term(t, ans, lhs, rhs, **params):
    return dot_general_p.bind(t, rhs, **params)


def _dot_general_rhs_term(t, ans, lhs, rhs, **params):
    return dot_general_p.bind(lhs, t, **params)


defjvp(dot_general_p, _dot_general_lhs_term, _dot_general_rhs_term)


def _operand_cotangent(ct, other, aval: Aval, own_dims, other_dims, other_free_first: bool,
                       precision, preferred_element_type):
    """The cotangent of one dot_general operand (of type `aval`), given the other operand.

    `own_dims` / `other_dims` are (contracting, batch) of this operand and of the other;
    `other_free_first` says whether the other operand's free dimensions come before this
    one's in the result (true when this operand is the rhs).
    """
    (own_contract, own_batch), (other_contract, other_batch) = own_dims, other_dims
    own_free = [i for i in range(aval.ndim) if i not in own_contract + own_batch]
    other_free = [i for i in range(aval_of(other).ndim)
                  if i not in other_contract + other_batch]
    n_batch = len(own_batch)
    first_free = n_batch + (0 if other_free_first else len(own_free))
    ct_other_free = tuple(range(first_free, first_free + len(other_free)))
    # Contract the cotangent with the other operand over everything this operand did not
    # contribute (the other's free dimensions), pairing the batch dimensions again.
    numbers = ((ct_other_free, tuple(other_free)), (tuple(range(n_batch)), other_batch))
    product = dot_general_p.bind(ct, other, dimension_numbers=numbers, precision=precision,
                                 preferred_element_type=preferred_element_type)
    # The product's dimensions are this operand's batch, free, then contracting dimensions,
    # the last in the order the other operand holds their partners: permute them back.
    source = [*own_batch, *own_free, *(own_contract[k] for k in np.argsort(other_contract))]
    order = tuple(int(i) for i in np.argsort(source))
    if order != tuple(range(aval.ndim)):
        product = transpose(product, order)
    if aval_of(product).dtype != aval.dtype:  # a preferred_element_type widened the result
        product = convert_element_type(product, aval.dtype, weak_type=aval.weak_type)
    return product


def _dot_general_transpose(ct, lhs, rhs, *, dimension_numbers, precision,
                           preferred_element_type):
    if is_undefined(lhs) and is_undefined(rhs):
        raise TypeError("dot_general is linear in one operand at a time; the program being "
                        "transposed multiplies two linear values")
    (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = dimension_numbers
    lhs_dims, rhs_dims = (lhs_contract, lhs_batch), (rhs_contract, rhs_batch)
    if is_undefined(lhs):
        return [_operand_cotangent(ct, rhs, lhs.aval, lhs_dims, rhs_dims, False, precision,
                                   preferred_element_type), None]
    return [None, _operand_cotangent(ct, lhs, rhs.aval, rhs_dims, lhs_dims, True, precision,
                                     preferred_element_type)]


dot_general_p.transpose = _dot_general_transpose


def _dot_general_batch(axis_size, values, dims, *, dimension_numbers, precision,
                       preferred_element_type):
    (lhs, rhs), (lhs_dim, rhs_dim) = values, dims
    (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = dimension_numbers

    def past(dim, axes):  # one example's axes renumbered around the batch axis `dim`
        return axes if dim is None else tuple(a + 1 if a >= dim else a for a in axes)

    lhs_contract, lhs_batch = past(lhs_dim, lhs_contract), past(lhs_dim, lhs_batch)
    rhs_contract, rhs_batch = past(rhs_dim, rhs_contract), past(rhs_dim, rhs_batch)
    if lhs_dim is not None and rhs_dim is not None:
        # Both carry the batch: pair the two batch axes as one more batch dimension, listed
        # first, so it leads the result. No operand needs moving.
        numbers = ((lhs_contract, rhs_contract), ((lhs_dim, *lhs_batch), (rhs_dim, *rhs_batch)))
        out_dim = 0
    else:
        # One side carries it: there it is just one more free dimension, so the unbatched
        # side stays as it is. The result lists the batch dimensions, then lhs's free
        # dimensions, then rhs's, each in its operand's order.
        numbers = ((lhs_contract, rhs_contract), (lhs_batch, rhs_batch))
        if lhs_dim is not None:
            taken = set(lhs_contract + lhs_batch)
            out_dim = len(lhs_batch) + sum(i not in taken for i in range(lhs_dim))
        else:
            taken = set(rhs_contract + rhs_batch)
            lhs_free = aval_of(lhs).ndim - len(lhs_contract) - len(lhs_batch)
            out_dim = (len(rhs_batch) + lhs_free
                       + sum(i not in taken for i in range(rhs_dim)))
    out = dot_general_p.bind(lhs, rhs, dimension_numbers=numbers, precision=precision,
                             preferred_element_type=preferred_element_type)
    return out, out_dim


dot_general_p.batch = _dot_general_batch

# -- the functions users call (jax.lax signatures) -------------------------------------------


def _dimension_numbers(dimension_numbers):
    try:
        (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = dimension_numbers
    except (TypeError, ValueError):
        return dimension_numbers  # malformed: the shape rule says how
    return ((as_ints(lhs_contract), as_ints(rhs_contract)),
            (as_ints(lhs_batch), as_ints(rhs_batch)))


def _precision(precision):
    """The canonical, hashable form: None, a pair of Precisions, or a dot algorithm."""
    if isinstance(precision, list):
        precision = tuple(precision)
    if isinstance(precision, tuple) and len(precision) == 2:
        return tuple(_one_precision(p) for p in precision)
    precision = _one_precision(precision)
    return (precision, precision) if isinstance(precision, lax.Precision) else precision


def _one_precision(precision):
    if isinstance(precision, str):
        try:
            return lax.Precision(precision)
        except ValueError:
            if precision in lax.DotAlgorithmPreset.__members__:
                return lax.DotAlgorithmPreset[precision]
    return precision  # the shape rule rejects what is not a precision


def dot_general(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None):
    """The general tensor contraction; see the module's docstring for the result's layout."""
    preferred = None if preferred_element_type is None else user_dtype(preferred_element_type)
    return dot_general_p.bind(lhs, rhs, dimension_numbers=_dimension_numbers(dimension_numbers),
                              precision=_precision(precision),
                              preferred_element_type=preferred)
