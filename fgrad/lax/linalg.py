"""Linear algebra: `dot_general`, the one primitive behind matmul, einsum, inner and outer
products; `cholesky`; and `triangular_solve`.

For dot_general, dimension_numbers = ((lhs_contract, rhs_contract), (lhs_batch, rhs_batch)).
The result's dimensions are the batch dimensions (in the order lhs_batch lists them), then
lhs's free dimensions, then rhs's free dimensions, each in their operand's order, as in XLA.
cholesky and triangular_solve act on the last two axes; leading axes are a batch.
"""

from __future__ import annotations

import functools

import jax
import numpy as np
from jax import dtypes as jdt
from jax import lax
from jax.sharding import NamedSharding, PartitionSpec

from fgrad.core import Aval, Primitive, Zero, aval_of
from fgrad.core import dtypes as dt
from fgrad.core.resources import register_cache
from fgrad.lax._ad import defjvp, is_undefined
from fgrad.lax._batching import move_axis, to_front
from fgrad.lax._rules import as_ints, check_available, check_dims, fail, user_dtype
from fgrad.lax.elementwise import (
    add, conj, convert_element_type, div, eq, ge, gt, le, lt, mul, neg, select_n,
)
from fgrad.lax.shapes import (
    broadcasted_iota, expand_dims, full, reshape, squeeze, transpose,
)
from fgrad.transforms.rules import batch_rules, jvp_rules, transpose_rules

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
    return dot_general_p.bind1(t, rhs, **params)


def _dot_general_rhs_term(t, ans, lhs, rhs, **params):
    return dot_general_p.bind1(lhs, t, **params)


defjvp(dot_general_p, _dot_general_lhs_term, _dot_general_rhs_term)


def _operand_cotangent(ct, other, aval: Aval, own_dims, other_dims, other_free_first: bool,
                       precision, preferred_element_type):
    """The cotangent of one dot_general operand (of type `aval`), given the other operand.

    `own_dims` / `other_dims` are (contracting, batch) of this operand and of the other;
    `other_free_first` says whether the other operand's free dimensions come before this
    one's in the result (true when this operand is the rhs).
    """
    swap, numbers, order = _cotangent_layout(aval.ndim, own_dims, aval_of(other).ndim,
                                             other_dims, other_free_first)
    operands = (other, ct) if swap else (ct, other)
    if swap and isinstance(precision, tuple):  # one per operand
        precision = precision[::-1]
    product = dot_general_p.bind1(*operands, dimension_numbers=numbers, precision=precision,
                                 preferred_element_type=preferred_element_type)
    if order is not None:
        product = transpose(product, order)
    if aval_of(product).dtype != aval.dtype:  # a preferred_element_type widened the result
        product = convert_element_type(product, aval.dtype, weak_type=aval.weak_type)
    return product


@functools.lru_cache(maxsize=1024)
def _cotangent_layout(ndim: int, own_dims, other_ndim: int, other_dims, other_free_first: bool):
    """How `_operand_cotangent` contracts: (whether the other operand goes first, the
    dimension numbers, the permutation that puts the product in the operand's layout or
    None). It depends on ranks and dimension numbers only, so it is computed once per
    kind of contraction rather than once per transposed equation."""
    (own_contract, own_batch), (other_contract, other_batch) = own_dims, other_dims
    own_free = [i for i in range(ndim) if i not in own_contract + own_batch]
    other_free = [i for i in range(other_ndim) if i not in other_contract + other_batch]
    n_batch = len(own_batch)
    first_free = n_batch + (0 if other_free_first else len(own_free))
    ct_other_free = tuple(range(first_free, first_free + len(other_free)))
    # Contract the cotangent with the other operand over everything this operand did not
    # contribute (the other's free dimensions), pairing the batch dimensions again. The
    # product's dimensions are this operand's batch dimensions, then the cotangent's
    # remaining ones (this operand's free dimensions) and the other's (partners of its
    # contracting dimensions, in the other's order), or those two groups swapped when the
    # other operand goes first, which is chosen when it needs no transpose after (the
    # gradient of `w` in `x @ w`).
    contracted = [own_contract[k] for k in sorted(range(len(other_contract)),
                                                  key=other_contract.__getitem__)]
    ct_first = [*own_batch, *own_free, *contracted]
    other_first = [*own_batch, *contracted, *own_free]
    batch = tuple(range(n_batch))
    swap = other_first == sorted(other_first) != ct_first
    if swap:
        source = other_first
        numbers = ((tuple(other_free), ct_other_free), (other_batch, batch))
    else:
        source = ct_first
        numbers = ((ct_other_free, tuple(other_free)), (batch, other_batch))
    order = tuple(sorted(range(len(source)), key=source.__getitem__))
    return swap, numbers, None if order == tuple(range(ndim)) else order


register_cache(
    "dot_general_cotangent_layouts", _cotangent_layout,
    holds="how a dot_general operand's cotangent is contracted: an operand order, dimension "
          "numbers and a permutation (small tuples)",
    key="(operand rank, its dimension numbers, the other operand's rank and dimension "
        "numbers, which operand it is)",
    why="one entry per kind of contraction a program transposes; a few hundred bytes each")


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


transpose_rules.define(dot_general_p, _dot_general_transpose)


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
    out = dot_general_p.bind1(lhs, rhs, dimension_numbers=numbers, precision=precision,
                             preferred_element_type=preferred_element_type)
    return out, out_dim


batch_rules.define(dot_general_p, _dot_general_batch)

# -- helpers for the matrix primitives -------------------------------------------------------


def _rows_cols(shape: tuple):
    """Each element's row and column index, for the masks of triangles and diagonals."""
    n = len(shape)
    return (broadcasted_iota(np.int32, shape, n - 2), broadcasted_iota(np.int32, shape, n - 1))


def _triangle(x, lower: bool, strict: bool):
    """x with the elements outside its lower (or upper) triangle zeroed; a strict triangle
    leaves out the diagonal too."""
    aval = aval_of(x)
    rows, cols = _rows_cols(aval.shape)
    if lower:
        keep = gt(rows, cols) if strict else ge(rows, cols)
    else:
        keep = lt(rows, cols) if strict else le(rows, cols)
    return select_n(keep, _filled(aval, 0), x)


def _matrix_transpose(x):
    n = aval_of(x).ndim
    return transpose(x, (*range(n - 2), n - 1, n - 2))


def _batch_matmul(x, y):
    """x @ y over the last two axes, the leading ones paired as batch dimensions."""
    n = aval_of(x).ndim
    batch = tuple(range(n - 2))
    return dot_general_p.bind1(x, y, dimension_numbers=(((n - 1,), (n - 2,)), (batch, batch)),
                              precision=None, preferred_element_type=None)


def _check_matrix_dtype(name: str, avals) -> None:
    for a in avals:
        if not (dt.is_float(a.dtype) or dt.is_complex(a.dtype)):
            raise fail(name, avals, f"{name} accepts floating-point or complex matrices, not "
                       f"{a.dtype.name}", "Convert with fgrad.lax.convert_element_type.")


# -- cholesky --------------------------------------------------------------------------------
# The lower triangular L with A = L Lᴴ, for Hermitian (real: symmetric) positive-definite A.
# Only A's lower triangle is read (the user function symmetrizes first, as
# jax.lax.linalg.cholesky does); a matrix that is not positive definite gives NaNs.


def _cholesky_abstract_eval(x):
    name, avals = "cholesky", [x]
    if x.ndim < 2 or x.shape[-2] != x.shape[-1]:
        raise fail(name, avals, f"the operand must be a square matrix or a batch of them, of "
                   f"shape (..., n, n), not {x.shape}")
    _check_matrix_dtype(name, avals)
    return x


def _cholesky_lower(x):
    return lax.linalg.cholesky(x, symmetrize_input=False)


cholesky_p = Primitive("cholesky", _cholesky_abstract_eval, _cholesky_lower)


def _cholesky_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    L = cholesky_p.bind1(x)
    if isinstance(t, Zero):
        return L, Zero(aval_of(L))
    # dA = dL Lᴴ + L dLᴴ, so L⁻¹ dA L⁻ᴴ = L⁻¹dL + (L⁻¹dL)ᴴ. L⁻¹dL is lower triangular with
    # a real diagonal (L's is positive): it is the lower triangle of L⁻¹ dA L⁻ᴴ with the
    # diagonal halved (Φ), and dL = L Φ(...). Linear in dA: two solves with L, a mask, and a
    # product with L.
    right = triangular_solve_p.bind1(L, t, left_side=False, lower=True, transpose_a=True,
                                    conjugate_a=dt.is_complex(aval_of(L).dtype),
                                    unit_diagonal=False)
    inner = triangular_solve_p.bind1(L, right, left_side=True, lower=True, transpose_a=False,
                                    conjugate_a=False, unit_diagonal=False)
    return L, _lower_triangle(_batch_matmul(L, mul(inner, _phi_mask(aval_of(inner)))))


def _phi_mask(aval: Aval):
    """1 below the diagonal, 1/2 on it, 0 above."""
    rows, cols = _rows_cols(aval.shape)
    on_or_below = select_n(eq(rows, cols), _filled(aval, 0), _filled(aval, 0.5))
    return select_n(gt(rows, cols), on_or_below, _filled(aval, 1))


def _lower_triangle(x):
    """x with zeros selected above the diagonal. For dL (lower already) it matters to the
    transpose: L's upper triangle is structurally zero and its cotangent may be infinite (of
    1/L, say), which the product with L would spread as 0 * inf = NaN; as JAX's tril does,
    the selection sends nothing back from there."""
    rows, cols = _rows_cols(aval_of(x).shape)
    return select_n(ge(rows, cols), _filled(aval_of(x), 0), x)


def _filled(aval: Aval, value):
    return full(aval.shape, value, aval.dtype, weak_type=aval.weak_type)


jvp_rules.define(cholesky_p, _cholesky_jvp)
transpose_rules.absent(cholesky_p, "it is not linear in any operand")


def _cholesky_batch(axis_size, values, dims):
    (x,), (dim,) = values, dims
    # Leading axes are already a batch: the new one goes first.
    return cholesky_p.bind1(move_axis(x, dim, 0)), 0


batch_rules.define(cholesky_p, _cholesky_batch)

# -- triangular_solve ------------------------------------------------------------------------
# X with op(A) X = B (left_side) or X op(A) = B, for triangular A (only its lower or upper
# triangle is read, and not its diagonal when unit_diagonal), op(A) = Aᵀ when transpose_a.


def _triangular_solve_abstract_eval(a, b, *, left_side, lower, transpose_a, conjugate_a,
                                    unit_diagonal):
    name, avals = "triangular_solve", [a, b]
    flags = dict(left_side=left_side, lower=lower, transpose_a=transpose_a,
                 conjugate_a=conjugate_a, unit_diagonal=unit_diagonal)
    for flag, value in flags.items():
        if type(value) is not bool:
            raise fail(name, avals, f"{flag} must be a bool, not {value!r}")
    if a.ndim < 2 or a.shape[-2] != a.shape[-1]:
        raise fail(name, avals, f"a must be a square matrix or a batch of them, of shape "
                   f"(..., m, m), not {a.shape}")
    if b.ndim != a.ndim or b.shape[:-2] != a.shape[:-2]:
        raise fail(name, avals, "b must have a's batch shape and be a matrix too (shape "
                   "(..., m, n) for left_side, (..., n, m) otherwise)",
                   "Broadcast the batch first; fgrad.lax.linalg.triangular_solve adds the "
                   "axis of a vector b.")
    side = -2 if left_side else -1
    if b.shape[side] != a.shape[-1]:
        raise fail(name, avals, f"b's {'rows' if left_side else 'columns'} ({b.shape[side]}) "
                   f"must match a's size ({a.shape[-1]})")
    if a.dtype != b.dtype:
        raise fail(name, avals, "the dtypes differ",
                   "Convert with fgrad.lax.convert_element_type.")
    _check_matrix_dtype(name, avals)
    return b


def _triangular_solve_lower(a, b, **params):
    return lax.linalg.triangular_solve(a, b, **params)


triangular_solve_p = Primitive("triangular_solve", _triangular_solve_abstract_eval,
                               _triangular_solve_lower)


def _triangular_solve_jvp_a(t, ans, a, b, *, left_side, lower, transpose_a, conjugate_a,
                            unit_diagonal):
    params = dict(left_side=left_side, lower=lower, transpose_a=transpose_a,
                  conjugate_a=conjugate_a, unit_diagonal=unit_diagonal)
    # op(A) X = B gives op(dA) X + op(A) dX = 0, so dX = -op(A)⁻¹ op(dA) X; on the right,
    # dX = -X op(dA) op(A)⁻¹. Only the elements of dA the solve reads count.
    d_op = neg(_triangle(t, lower, strict=unit_diagonal))
    if conjugate_a:
        d_op = conj(d_op)
    if transpose_a:
        d_op = _matrix_transpose(d_op)
    product = _batch_matmul(d_op, ans) if left_side else _batch_matmul(ans, d_op)
    return triangular_solve_p.bind1(a, product, **params)


def _triangular_solve_jvp_b(t, ans, a, b, **params):
    return triangular_solve_p.bind1(a, t, **params)


defjvp(triangular_solve_p, _triangular_solve_jvp_a, _triangular_solve_jvp_b)


def _triangular_solve_transpose(ct, a, b, *, left_side, lower, transpose_a, conjugate_a,
                                unit_diagonal):
    # X = op(A)⁻¹ B (or B op(A)⁻¹) is linear in B; its transpose multiplies by op(A)⁻ᵀ on
    # the same side: the same solve with transpose_a flipped.
    if is_undefined(a):
        raise TypeError("triangular_solve is linear in b only; the program being transposed "
                        "has a tangent in the triangular matrix a")
    return [None, triangular_solve_p.bind1(
        a, ct, left_side=left_side, lower=lower, transpose_a=not transpose_a,
        conjugate_a=conjugate_a, unit_diagonal=unit_diagonal)]


transpose_rules.define(triangular_solve_p, _triangular_solve_transpose)


def _triangular_solve_batch(axis_size, values, dims, **params):
    (a, b), (a_dim, b_dim) = values, dims
    if a_dim is None:
        # One matrix for every example: the examples' right-hand sides become more columns
        # (left_side) or rows of a single solve, and a is not copied.
        ndim = aval_of(b).ndim
        at = ndim - 1 if params["left_side"] else ndim - 2
        b = move_axis(b, b_dim, at)
        shape = aval_of(b).shape
        merged = shape[:at - 1] + (shape[at - 1] * shape[at],) + shape[at + 1:]
        out = triangular_solve_p.bind1(a, reshape(b, merged), **params)
        return reshape(out, shape), at
    a, b = to_front(a, a_dim, axis_size), to_front(b, b_dim, axis_size)
    return triangular_solve_p.bind1(a, b, **params), 0


batch_rules.define(triangular_solve_p, _triangular_solve_batch)

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
    return dot_general_p.bind1(lhs, rhs, dimension_numbers=_dimension_numbers(dimension_numbers),
                              precision=_precision(precision),
                              preferred_element_type=preferred)


def cholesky(x, *, symmetrize_input: bool = True):
    """The lower-triangular Cholesky factor L of Hermitian (real: symmetric) positive-definite
    matrices (..., n, n), with x = L Lᴴ; NaNs where x is not positive definite. With
    symmetrize_input, x is first replaced by (x + xᴴ) / 2 (as jax.lax.linalg.cholesky does),
    which also makes the derivative Hermitian."""
    aval = aval_of(x)
    if symmetrize_input and aval.ndim >= 2 and aval.shape[-1] == aval.shape[-2]:  # else: the
        x_h = _matrix_transpose(x)                                              # rule says
        x_h = conj(x_h) if dt.is_complex(aval.dtype) else x_h
        x = div(add(x, x_h), _filled(aval, 2))
    return cholesky_p.bind1(x)


def triangular_solve(a, b, *, left_side: bool = False, lower: bool = False,
                     transpose_a: bool = False, conjugate_a: bool = False,
                     unit_diagonal: bool = False):
    """X with op(a) X = b (left_side) or X op(a) = b, for triangular a (..., m, m); op(a) is
    aᵀ with transpose_a. A b with one dimension fewer than a is a vector (a column for
    left_side, a row otherwise), as in jax.lax.linalg.triangular_solve."""
    # conjugate_a means nothing for real matrices: normalized away so their programs agree.
    conjugate_a = bool(conjugate_a) and dt.is_complex(aval_of(a).dtype)
    vector = aval_of(b).ndim == aval_of(a).ndim - 1
    if vector:
        b = expand_dims(b, (aval_of(b).ndim if left_side else aval_of(b).ndim - 1,))
    out = triangular_solve_p.bind1(a, b, left_side=bool(left_side), lower=bool(lower),
                                  transpose_a=bool(transpose_a), conjugate_a=conjugate_a,
                                  unit_diagonal=bool(unit_diagonal))
    if vector:
        out = squeeze(out, (aval_of(out).ndim - 1 if left_side else aval_of(out).ndim - 2,))
    return out
