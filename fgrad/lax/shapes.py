"""Shape primitives: broadcasting, reshaping, permuting, reversing, joining and padding
arrays, and `iota`, which makes an array from nothing but its type.

They move elements without computing on them, so every result keeps its operand's dtype and
weak type (joining several operands is weak only when all of them are). The wrappers at the
bottom normalise what users pass (lists, NumPy integers, negative axes where jax.lax accepts
them) into the tuples of Python ints the primitives' params hold; the rules then reject
anything JAX would, with our own message.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from jax import lax

from fgrad.core import Aval, Eqn, Primitive, Zero, aval_of, staging
from fgrad.core import dtypes as dt
from fgrad.lax._ad import deflinear, defjvp_zero, instantiate, is_undefined
from fgrad.lax._batching import defbatch_elementwise, to_front
from fgrad.lax._rules import (
    as_int, as_ints, check_available, check_dims, check_ints, check_same_dtypes, check_shape,
    fail, operand_when_type_kept, user_dtype,
)
from fgrad.transforms.rules import (
    batch_rules, fill_rules, identity_rules, jvp_rules, partial_eval_rules, transpose_rules,
)
# The sibling families' functions, reached through the package when called: the
# families need each other's (a rule of one emits primitives of another).
from fgrad import lax as fl

# -- broadcast_in_dim ------------------------------------------------------------------------


def _broadcast_in_dim_abstract_eval(operand, *, shape, broadcast_dimensions):
    name, avals, dims = "broadcast_in_dim", [operand], broadcast_dimensions
    check_shape(name, avals, shape)
    if len(dims) != operand.ndim:
        raise fail(name, avals, f"broadcast_dimensions {dims} has {len(dims)} entries but the "
                   f"operand has rank {operand.ndim}",
                   "Give one target dimension for each operand dimension.")
    check_dims(name, avals, dims, len(shape), "broadcast dimension")
    if any(a >= b for a, b in zip(dims, dims[1:])):
        raise fail(name, avals, f"broadcast_dimensions {dims} must be strictly increasing",
                   "Transpose the operand first to change the order of its dimensions.")
    for i, d in enumerate(dims):
        if operand.shape[i] not in (1, shape[d]):
            raise fail(name, avals, f"operand dimension {i} has size {operand.shape[i]}, which "
                       f"cannot broadcast to size {shape[d]} (target dimension {d} of shape "
                       f"{shape})", "Each operand dimension must have the target's size or 1.")
    return Aval(shape, operand.dtype, operand.weak_type)


def _broadcast_in_dim_lower(operand, *, shape, broadcast_dimensions):
    return lax.broadcast_in_dim(operand, shape, broadcast_dimensions)


broadcast_in_dim_p = Primitive(
    "broadcast_in_dim", _broadcast_in_dim_abstract_eval, _broadcast_in_dim_lower)


def _broadcast_in_dim_transpose(ct, operand, *, shape, broadcast_dimensions):
    in_shape = operand.aval.shape
    # Each operand element was copied along the dimensions it did not have and along those
    # its size-1 dimensions were stretched over: its cotangent is the sum over all copies.
    stretched = {d for i, d in enumerate(broadcast_dimensions)
                 if in_shape[i] == 1 and shape[d] != 1}
    summed = tuple(d for d in range(len(shape))
                   if d not in broadcast_dimensions or d in stretched)
    total = fl.reduce_sum(ct, summed) if summed else ct
    # Summing dropped the stretched dimensions; put them back with size 1.
    return [reshape(total, in_shape) if stretched else total]


deflinear(broadcast_in_dim_p, [0], _broadcast_in_dim_transpose)


def _broadcast_in_dim_batch(axis_size, values, dims, *, shape, broadcast_dimensions):
    (operand,), (dim,) = values, dims
    # The batch axis leads both operand and result; every other operand axis lands one
    # further along.
    return broadcast_in_dim(to_front(operand, dim, axis_size), (axis_size, *shape),
                            (0, *(d + 1 for d in broadcast_dimensions))), 0


batch_rules.define(broadcast_in_dim_p, _broadcast_in_dim_batch)
identity_rules.define(broadcast_in_dim_p, operand_when_type_kept)
fill_rules.define(broadcast_in_dim_p, lambda fills, **params: fills[0])

# -- reshape ---------------------------------------------------------------------------------


def _reshape_abstract_eval(operand, *, new_sizes):
    check_shape("reshape", [operand], new_sizes, "new_sizes")
    size = int(np.prod(new_sizes, dtype=np.int64))
    if size != operand.size:
        raise fail("reshape", [operand], f"new_sizes {new_sizes} hold {size} elements but the "
                   f"operand holds {operand.size}", "A reshape must keep the number of elements.")
    return Aval(new_sizes, operand.dtype, operand.weak_type)


def _reshape_lower(operand, *, new_sizes):
    return lax.reshape(operand, new_sizes)


reshape_p = Primitive("reshape", _reshape_abstract_eval, _reshape_lower)


def _reshape_transpose(ct, operand, *, new_sizes):
    return [reshape(ct, operand.aval.shape)]


deflinear(reshape_p, [0], _reshape_transpose)


def _reshape_batch(axis_size, values, dims, *, new_sizes):
    (operand,), (dim,) = values, dims
    # A reshape reads elements in row-major order, so each example's elements stay together
    # only when the batch axis is the outermost one.
    return reshape_p.bind1(to_front(operand, dim, axis_size),
                          new_sizes=(axis_size, *new_sizes)), 0


batch_rules.define(reshape_p, _reshape_batch)
identity_rules.define(reshape_p, operand_when_type_kept)

# -- transpose -------------------------------------------------------------------------------


def _transpose_abstract_eval(operand, *, permutation):
    check_ints("transpose", [operand], permutation, f"permutation {permutation}")
    if sorted(permutation) != list(range(operand.ndim)):
        raise fail("transpose", [operand], f"permutation {permutation} is not a permutation "
                   f"of the operand's {operand.ndim} dimensions",
                   f"Give each of 0..{operand.ndim - 1} exactly once.")
    shape = tuple(operand.shape[p] for p in permutation)
    return Aval(shape, operand.dtype, operand.weak_type)


def _transpose_lower(operand, *, permutation):
    return lax.transpose(operand, permutation)


transpose_p = Primitive("transpose", _transpose_abstract_eval, _transpose_lower)


def _transpose_transpose(ct, operand, *, permutation):
    inverse = tuple(int(i) for i in np.argsort(permutation))
    return [transpose(ct, inverse)]


deflinear(transpose_p, [0], _transpose_transpose)


def _past(dim: int, axes) -> tuple:
    """Axes of one example renumbered for the batched array, whose batch axis is `dim`."""
    return tuple(a + 1 if a >= dim else a for a in axes)


def _transpose_batch(axis_size, values, dims, *, permutation):
    (operand,), (dim,) = values, dims
    # The one transpose both applies the permutation and brings the batch axis to the front.
    return transpose(operand, (dim, *_past(dim, permutation))), 0


batch_rules.define(transpose_p, _transpose_batch)
identity_rules.define(
    transpose_p, lambda permutation: 0 if permutation == tuple(range(len(permutation))) else None)

# -- squeeze ---------------------------------------------------------------------------------


def _squeeze_abstract_eval(operand, *, dimensions):
    check_dims("squeeze", [operand], dimensions, operand.ndim)
    for d in dimensions:
        if operand.shape[d] != 1:
            raise fail("squeeze", [operand], f"dimension {d} has size {operand.shape[d]}",
                       "Only dimensions of size 1 can be squeezed.")
    shape = tuple(n for i, n in enumerate(operand.shape) if i not in dimensions)
    return Aval(shape, operand.dtype, operand.weak_type)


def _squeeze_lower(operand, *, dimensions):
    return lax.squeeze(operand, dimensions)


squeeze_p = Primitive("squeeze", _squeeze_abstract_eval, _squeeze_lower)


def _squeeze_transpose(ct, operand, *, dimensions):
    # `dimensions` are sorted, so they are also the positions of the restored dimensions.
    return [expand_dims_p.bind1(ct, dimensions=dimensions)]


deflinear(squeeze_p, [0], _squeeze_transpose)


def _squeeze_batch(axis_size, values, dims, *, dimensions):
    (operand,), (dim,) = values, dims
    out_dim = dim - sum(d < dim for d in dimensions)
    return squeeze_p.bind1(operand, dimensions=_past(dim, dimensions)), out_dim


batch_rules.define(squeeze_p, _squeeze_batch)
identity_rules.define(squeeze_p, operand_when_type_kept)

# -- expand_dims -----------------------------------------------------------------------------
# Its own primitive (JAX emits broadcast_in_dim) so that programs say what the user meant and
# its transpose is a plain squeeze.


def _expand_dims_abstract_eval(operand, *, dimensions):
    out_ndim = operand.ndim + len(dimensions)
    check_dims("expand_dims", [operand], dimensions, out_ndim)
    rest = iter(operand.shape)
    shape = tuple(1 if i in dimensions else next(rest) for i in range(out_ndim))
    return Aval(shape, operand.dtype, operand.weak_type)


def _expand_dims_lower(operand, *, dimensions):
    return lax.expand_dims(operand, dimensions)


expand_dims_p = Primitive("expand_dims", _expand_dims_abstract_eval, _expand_dims_lower)


def _expand_dims_transpose(ct, operand, *, dimensions):
    return [squeeze_p.bind1(ct, dimensions=dimensions)]


deflinear(expand_dims_p, [0], _expand_dims_transpose)


def _expand_dims_batch(axis_size, values, dims, *, dimensions):
    (operand,), (dim,) = values, dims
    # Leave the batch axis where it is, right after the result position of the operand axis
    # before it; the new size-1 axes at or beyond that point move one further along.
    kept = [i for i in range(aval_of(operand).ndim - 1 + len(dimensions))
            if i not in dimensions]
    out_dim = kept[dim - 1] + 1 if dim else 0
    return expand_dims_p.bind1(operand, dimensions=_past(out_dim, dimensions)), out_dim


batch_rules.define(expand_dims_p, _expand_dims_batch)
identity_rules.define(expand_dims_p, operand_when_type_kept)

# -- rev -------------------------------------------------------------------------------------


def _rev_abstract_eval(operand, *, dimensions):
    check_dims("rev", [operand], dimensions, operand.ndim)
    return operand


def _rev_lower(operand, *, dimensions):
    return lax.rev(operand, dimensions)


rev_p = Primitive("rev", _rev_abstract_eval, _rev_lower)


def _rev_transpose(ct, operand, *, dimensions):
    return [rev(ct, dimensions)]


deflinear(rev_p, [0], _rev_transpose)


def _rev_batch(axis_size, values, dims, *, dimensions):
    (operand,), (dim,) = values, dims
    return rev_p.bind1(operand, dimensions=_past(dim, dimensions)), dim


batch_rules.define(rev_p, _rev_batch)
identity_rules.define(rev_p, lambda dimensions: None if dimensions else 0)

# -- concatenate -----------------------------------------------------------------------------


def _concatenate_abstract_eval(*operands, dimension):
    name, avals = "concatenate", operands
    if not operands:
        raise fail(name, avals, "there is nothing to concatenate",
                   "Pass at least one array.")
    first = operands[0]
    if first.ndim == 0:
        raise fail(name, avals, "rank-0 arrays have no dimension to concatenate along",
                   "Reshape them to rank 1 first.")
    if any(a.ndim != first.ndim for a in operands):
        raise fail(name, avals, "the operands' ranks differ")
    check_dims(name, avals, (dimension,), first.ndim)
    dtype = check_same_dtypes(name, avals)

    def others(shape):
        return shape[:dimension] + shape[dimension + 1:]

    if any(others(a.shape) != others(first.shape) for a in operands):
        raise fail(name, avals, f"the shapes differ outside dimension {dimension}",
                   "Only the concatenated dimension may differ in size.")
    shape = list(first.shape)
    shape[dimension] = sum(a.shape[dimension] for a in operands)
    return Aval(tuple(shape), dtype, all(a.weak_type for a in operands))


def _concatenate_lower(*operands, dimension):
    return lax.concatenate(operands, dimension)


concatenate_p = Primitive("concatenate", _concatenate_abstract_eval, _concatenate_lower)


def _concatenate_transpose(ct, *operands, dimension):
    ct_shape = aval_of(ct).shape
    cts, start = [], 0
    for operand in operands:
        size = (operand.aval if is_undefined(operand) else aval_of(operand)).shape[dimension]
        if is_undefined(operand):
            starts = [0] * len(ct_shape)
            limits = list(ct_shape)
            starts[dimension], limits[dimension] = start, start + size
            cts.append(fl.slice(ct, starts, limits))
        else:
            cts.append(None)
        start += size
    return cts


def _concatenate_jvp(primals, tangents, *, dimension):
    ans = concatenate_p.bind1(*primals, dimension=dimension)
    if all(isinstance(t, Zero) for t in tangents):
        return ans, Zero(aval_of(ans))
    return ans, concatenate_p.bind1(*map(instantiate, tangents), dimension=dimension)


# Linear in all of its operands, however many there are (deflinear wants them listed).
jvp_rules.define(concatenate_p, _concatenate_jvp)
transpose_rules.define(concatenate_p, _concatenate_transpose)


def _concatenate_batch(axis_size, values, dims, *, dimension):
    # Every operand needs the batch axis, so the unbatched ones are broadcast along it.
    operands = [to_front(x, d, axis_size) for x, d in zip(values, dims)]
    return concatenate_p.bind1(*operands, dimension=dimension + 1), 0


batch_rules.define(concatenate_p, _concatenate_batch)

# -- pad -------------------------------------------------------------------------------------


def _pad_abstract_eval(operand, padding_value, *, padding_config):
    name, avals = "pad", [operand, padding_value]
    if padding_value.ndim != 0:
        raise fail(name, avals, "the padding value must be a scalar (rank 0)")
    if padding_value.dtype != operand.dtype:
        raise fail(name, avals, "the padding value's dtype differs from the operand's",
                   "Convert it with fgrad.lax.convert_element_type.")
    if len(padding_config) != operand.ndim:
        raise fail(name, avals, f"padding_config has {len(padding_config)} entries but the "
                   f"operand has rank {operand.ndim}",
                   "Give one (low, high, interior) triple per dimension.")
    shape = []
    for d, (size, triple) in enumerate(zip(operand.shape, padding_config)):
        if not (isinstance(triple, tuple) and len(triple) == 3):
            raise fail(name, avals, f"padding_config entry {d} is {triple!r}, not a "
                       f"(low, high, interior) triple")
        check_ints(name, avals, triple, f"padding_config entry {d}")
        lo, hi, interior = triple
        if interior < 0:
            raise fail(name, avals, f"interior padding {interior} of dimension {d} is "
                       f"negative", "Only low and high padding may be negative (to crop).")
        padded = lo + hi + size + max(size - 1, 0) * interior
        if padded < 0:
            raise fail(name, avals, f"dimension {d} would have size {padded} after padding "
                       f"{triple}", "Negative padding cannot remove more than the dimension "
                       "holds.")
        shape.append(padded)
    return Aval(tuple(shape), operand.dtype, operand.weak_type and padding_value.weak_type)


def _pad_lower(operand, padding_value, *, padding_config):
    return lax.pad(operand, padding_value, padding_config)


pad_p = Primitive("pad", _pad_abstract_eval, _pad_lower)


def _pad_transpose(ct, operand, padding_value, *, padding_config):
    ct_aval = aval_of(ct)
    # The operand's elements sit at every (interior + 1)-th place between the edge padding:
    # padding by the opposite of the edges strips them (and, where the forward pad cropped,
    # puts the cropped elements back with a zero cotangent); a strided slice then skips the
    # interior padding.
    unpad = tuple((-lo, -hi, 0) for lo, hi, _ in padding_config)
    inner = ct
    if any(lo or hi for lo, hi, _ in unpad):
        inner = pad_p.bind1(ct, np.zeros((), ct_aval.dtype), padding_config=unpad)
    strides = tuple(interior + 1 for _, _, interior in padding_config)
    operand_ct = inner
    if any(s != 1 for s in strides):
        inner_shape = aval_of(inner).shape
        operand_ct = fl.slice(inner, (0,) * len(inner_shape), inner_shape, strides)
    padding_value_ct = None
    if is_undefined(padding_value):
        # Every output element not copied from the operand is the padding value.
        def total(x):
            return fl.reduce_sum(x, tuple(range(ct_aval.ndim))) if ct_aval.ndim else x
        padding_value_ct = fl.sub(total(ct), total(operand_ct))
    return [operand_ct if is_undefined(operand) else None, padding_value_ct]


deflinear(pad_p, [0, 1], _pad_transpose)


def _pad_batch(axis_size, values, dims, *, padding_config):
    (operand, padding_value), (operand_dim, value_dim) = values, dims
    if value_dim is None:
        config = list(padding_config)
        config.insert(operand_dim, (0, 0, 0))
        return pad_p.bind1(operand, padding_value, padding_config=tuple(config)), operand_dim
    # Each example pads with its own value, which one pad cannot do: pad with zero, then
    # choose between that and the example's value by where the operand's elements landed.
    # Choosing (not adding a masked value) keeps -0.0, inf and NaN elements as they are.
    aval = aval_of(operand)
    example_shape = (aval.shape if operand_dim is None
                     else aval.shape[:operand_dim] + aval.shape[operand_dim + 1:])
    zero = np.zeros((), aval.dtype)
    if aval.weak_type:  # a strongly typed zero would make the padded operand strong
        zero = fl.convert_element_type(zero, aval.dtype, weak_type=True)
    if operand_dim is None:
        padded = pad_p.bind1(operand, zero, padding_config=padding_config)
    else:
        padded = pad_p.bind1(to_front(operand, operand_dim, axis_size), zero,
                            padding_config=((0, 0, 0), *padding_config))
    is_operand = pad_p.bind1(broadcast_in_dim(True, example_shape, ()), False,
                            padding_config=padding_config)
    out_shape = (axis_size, *aval_of(is_operand).shape)
    example_axes = tuple(range(1, len(out_shape)))
    if operand_dim is None:
        padded = broadcast_in_dim(padded, out_shape, example_axes)
    which = broadcast_in_dim(is_operand, out_shape, example_axes)
    fill = broadcast_in_dim(padding_value, out_shape, (0,))
    return fl.select_n(which, fill, padded), 0


batch_rules.define(pad_p, _pad_batch)

# -- iota ------------------------------------------------------------------------------------


def _iota_abstract_eval(*, dtype, shape, dimension):
    check_available("iota", [], dtype, "dtype")
    if dt.is_bool(dtype):
        raise fail("iota", [], "iota counts in numbers, not bool")
    check_shape("iota", [], shape)
    check_dims("iota", [], (dimension,), len(shape))
    return Aval(shape, dtype, False)


def _iota_lower(*, dtype, shape, dimension):
    return lax.broadcasted_iota(dtype, shape, dimension)


iota_p = Primitive("iota", _iota_abstract_eval, _iota_lower)
# No rules: without operands there is nothing to differentiate or batch, and the transforms
# re-emit an equation none of whose inputs carries a tangent or a batch axis as it is.
jvp_rules.absent(iota_p, "it has no operands: the transforms re-emit it unchanged")
transpose_rules.absent(iota_p, "it has no operands: the transforms re-emit it unchanged")
batch_rules.absent(iota_p, "it has no operands: the transforms re-emit it unchanged")

# -- full_like -------------------------------------------------------------------------------
# An array of one value shaped like its operand. Not a broadcast of the value: the result
# also takes the operand's sharding (lax.full_like keeps it, and under a mesh with Explicit
# axes a sharding is part of the type), which fgrad's avals do not know about.


def _full_like_abstract_eval(x, *, fill_value, dtype):
    if not isinstance(fill_value, (bool, int, float, complex, np.generic)):
        raise fail("full_like", [x], f"fill_value must be a scalar, not {fill_value!r}")
    if dtype is None:
        return x
    check_available("full_like", [x], dtype, "dtype")
    return Aval(x.shape, dtype, False)


def _full_like_lower(x, *, fill_value, dtype):
    # dtype None: x's dtype and weak type, as lax.full_like gives them.
    return lax.full_like(x, fill_value, dtype)


full_like_p = Primitive("full_like", _full_like_abstract_eval, _full_like_lower)
# The result does not depend on x's values: no tangent flows, in JAX either.
defjvp_zero(full_like_p)
defbatch_elementwise(full_like_p)
fill_rules.define(full_like_p, lambda fills, fill_value, dtype: fill_value)


def _full_like_partial_eval(eqn: Eqn, unknowns):
    # Its value is known even when its operand is not (`ones_like(t)` of a tangent t in a
    # custom rule): computed as a broadcast of the fill, it stays out of the linear program.
    out = eqn.outputs[0]
    with staging("full_like") as trace:
        program = trace.to_program([full(out.aval.shape, eqn.params["fill_value"],
                                         out.aval.dtype, weak_type=out.aval.weak_type)])
    if not program.eqns or program.outputs[0] is not program.eqns[-1].outputs[0]:
        return [], [eqn]  # a literal: left as it is
    *eqns, last = program.eqns
    return [*eqns, Eqn(last.primitive, last.inputs, (out,), last.params, eqn.source)], []


partial_eval_rules.define(full_like_p, _full_like_partial_eval)

# -- the functions users call (jax.lax signatures) -------------------------------------------


def full(shape, fill_value, dtype=None, *, weak_type: bool = False):
    """An array of `shape` holding the scalar `fill_value` (in `dtype`, by default its own)
    everywhere. `weak_type` makes it weakly typed, as a Python scalar is; rules use it for
    zeros, ones and coefficients of a value's type, fgrad.numpy for zeros, ones and full.

    A Python or NumPy scalar fill becomes a literal of the dtype, broadcast: one equation in
    a program. Only a weak result, a 0-d one (an array, not a bare NumPy scalar) or a traced
    fill needs a conversion equation."""
    dtype = aval_of(fill_value).dtype if dtype is None else user_dtype(dtype)
    shape = as_ints(shape)
    if isinstance(fill_value, (bool, int, float, complex, np.generic)):
        fill_value = dtype.type(fill_value)
        if shape and not weak_type:
            return broadcast_in_dim(fill_value, shape, ())
    scalar = fl.convert_element_type(fill_value, dtype, weak_type=weak_type)
    return broadcast_in_dim(scalar, shape, ()) if shape else scalar


def full_like(x, fill_value, dtype=None):
    """An array of `fill_value` with x's shape, sharding and dtype (or `dtype`, strongly
    typed); with x's weak type when dtype is None."""
    return full_like_p.bind1(x, fill_value=fill_value,
                            dtype=None if dtype is None else user_dtype(dtype))


def broadcast_in_dim(operand, shape, broadcast_dimensions):
    """Broadcasts `operand` to `shape`; operand dimension i becomes broadcast_dimensions[i]."""
    return broadcast_in_dim_p.bind1(operand, shape=as_ints(shape),
                                   broadcast_dimensions=as_ints(broadcast_dimensions))


def reshape(operand, new_sizes, dimensions=None):
    """Reshapes `operand`, after transposing it by `dimensions` when they are given."""
    if dimensions is not None:
        dimensions = as_ints(dimensions)
        if dimensions != tuple(range(aval_of(operand).ndim)):
            operand = transpose(operand, dimensions)
    return reshape_p.bind1(operand, new_sizes=as_ints(new_sizes))


def transpose(operand, permutation):
    return transpose_p.bind1(operand, permutation=as_ints(permutation))


def squeeze(array, dimensions):
    """Removes the size-1 `dimensions`; negative ones count from the end."""
    ndim = aval_of(array).ndim
    dims = as_ints(dimensions)
    dims = tuple(sorted(d + ndim if type(d) is int and -ndim <= d < 0 else d for d in dims))
    return squeeze_p.bind1(array, dimensions=dims)


def expand_dims(array, dimensions):
    """Inserts size-1 dimensions at `dimensions`, positions in the result (negative ones
    count from the result's end)."""
    dims = as_ints(dimensions)
    out_ndim = aval_of(array).ndim + len(dims)
    dims = tuple(sorted(d + out_ndim if type(d) is int and -out_ndim <= d < 0 else d
                        for d in dims))
    return expand_dims_p.bind1(array, dimensions=dims)


def rev(operand, dimensions):
    """Reverses the order of the elements along each of `dimensions`."""
    return rev_p.bind1(operand, dimensions=as_ints(dimensions))


def concatenate(operands, dimension):
    return concatenate_p.bind1(*operands, dimension=as_int(dimension))


def pad(operand, padding_value, padding_config):
    """Pads with `padding_value`: (low, high, interior) per dimension; negative low or high
    padding crops."""
    config = tuple(as_ints(triple) if isinstance(triple, (Sequence, np.ndarray)) else triple
                   for triple in padding_config)
    return pad_p.bind1(operand, padding_value, padding_config=config)


def iota(dtype, size):
    """0, 1, ..., size - 1."""
    return iota_p.bind1(dtype=user_dtype(dtype), shape=(as_int(size),), dimension=0)


def broadcasted_iota(dtype, shape, dimension):
    """An array of `shape` whose elements count along `dimension`."""
    return iota_p.bind1(dtype=user_dtype(dtype), shape=as_ints(shape),
                       dimension=as_int(dimension))
