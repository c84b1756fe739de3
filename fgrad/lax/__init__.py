"""fgrad.lax: fgrad's primitives as functions with jax.lax's signatures.

One module per family, each primitive's rules in one block: `elementwise`, `shapes`,
`reductions`, `indexing`, `linalg`. Unlike jax.lax, binary operations never broadcast, not
even scalars: fgrad.numpy broadcasts explicitly with `broadcast_in_dim`.

Imports: the helpers (`_rules`, `_ad`, `_batching`) import only the core and the transforms'
rule tables. The families need each other (a rule of one emits primitives of another:
broadcast's transpose sums, pad's slices), so each imports the functions of the families
already loaded by name, at module level, and reaches the others through this package
(`from fgrad import lax as fl`, then `fl.reduce_sum(...)` in the rule), which is resolved
when the rule runs, after every family is loaded. No function imports anything.
"""

from jax import lax as _jax_lax

from fgrad.core import Primitive as _Primitive
from fgrad.core.errors import missing_attribute as _missing_attribute
from fgrad.lax import control_flow as _control_flow
from fgrad.lax import convolution as _convolution
from fgrad.lax import custom as _custom
from fgrad.lax import debugging as _debugging
from fgrad.lax import effects as _effects
from fgrad.lax import eigen as _eigen
from fgrad.lax import elementwise as _elementwise
from fgrad.lax import factorizations as _factorizations
from fgrad.lax import fft as _fft
from fgrad.lax import implicit as _implicit
from fgrad.lax import indexing as _indexing
from fgrad.lax import linalg as _linalg
from fgrad.lax import random as _random
from fgrad.lax import reductions as _reductions
from fgrad.lax import remat as _remat
from fgrad.lax import shapes as _shapes
from fgrad.lax import sorting as _sorting
from fgrad.lax import special as _special
from fgrad.lax.control_flow import (
    associative_scan, cond, fori_loop, map, scan, switch, while_loop,
)
from fgrad.lax.elementwise import (
    abs, acos, acosh, add, asin, asinh, atan, atan2, atanh, bessel_i0e, bessel_i1e,
    bitcast_convert_type, bitwise_and, bitwise_not, bitwise_or, bitwise_xor, cbrt, ceil, clamp,
    clz, complex, conj, convert_element_type, cos, cosh, div, eq, erf, erf_inv, erfc, exp, exp2,
    expm1, floor, ge, gt, imag, integer_pow, is_finite, le, log, log1p, logistic, lt, max, min,
    mul, ne, neg, nextafter, population_count, pow, real, rem, round, rsqrt, select_n, shift_left,
    shift_right_arithmetic, shift_right_logical, sign, sin, sinh, sqrt, sub, tan, tanh,
)
from fgrad.lax.implicit import custom_linear_solve, custom_root
from fgrad.lax.indexing import (
    GatherDimensionNumbers, GatherScatterMode, ScatterDimensionNumbers, dynamic_slice,
    dynamic_update_slice, gather, scatter, scatter_add, scatter_max, scatter_min, scatter_mul,
    slice,
)
from fgrad.lax.convolution import (
    ConvDimensionNumbers, conv, conv_dimension_numbers, conv_general_dilated, conv_transpose,
    conv_with_general_padding,
)
from fgrad.lax.fft import FftType, fft
from fgrad.lax.linalg import cholesky, dot_general, triangular_solve
from fgrad.lax.reductions import (
    argmax, argmin, cumlogsumexp, cummax, cummin, cumprod, cumsum, reduce_max, reduce_min,
    reduce_prod, reduce_sum,
)
from fgrad.lax.shapes import (
    broadcast_in_dim, broadcasted_iota, concatenate, expand_dims, full, full_like, iota, pad,
    reshape, rev, squeeze, transpose,
)
from fgrad.lax.sorting import sort, sort_key_val, top_k

# The family modules (fgrad.lax.elementwise, ...) are imported by name, not by `import *`.
__all__ = [
    "ConvDimensionNumbers", "FftType", "conv", "conv_dimension_numbers", "conv_general_dilated",
    "conv_transpose", "conv_with_general_padding", "fft",
    "GatherDimensionNumbers", "GatherScatterMode", "ScatterDimensionNumbers", "abs", "acos", "add",
    # elementwise: inverse hyperbolics, roots and powers, Bessel, complex parts, bits
    "acosh", "asinh", "atanh", "bessel_i0e", "bessel_i1e", "bitcast_convert_type", "cbrt", "clz",
    "complex", "conj", "exp2", "imag", "population_count", "real", "shift_left",
    "shift_right_arithmetic", "shift_right_logical",
    "argmax", "argmin", "asin", "associative_scan", "atan", "atan2", "bitwise_and", "bitwise_not",
    "bitwise_or", "bitwise_xor", "broadcast_in_dim", "broadcasted_iota", "ceil", "cholesky",
    "clamp", "concatenate", "cond", "convert_element_type", "cos", "cosh", "cumlogsumexp",
    "cummax", "cummin", "cumprod", "cumsum",
    "custom_linear_solve", "custom_root", "div",
    "dot_general", "dynamic_slice", "dynamic_update_slice", "eq", "erf", "erf_inv", "erfc", "exp",
    "expand_dims", "expm1", "floor", "fori_loop", "full", "full_like", "gather", "ge", "gt",
    "integer_pow", "iota", "is_finite", "le", "log", "log1p", "logistic", "lt", "map", "max",
    "min", "mul", "ne", "neg", "nextafter", "pad", "pow", "primitives", "reduce_max", "reduce_min",
    "reduce_prod", "reduce_sum", "rem", "reshape", "rev", "round", "rsqrt", "scan", "scatter",
    "scatter_add", "scatter_max", "scatter_min", "scatter_mul", "select_n", "sign", "sin", "sinh",
    "slice", "sort", "sort_key_val", "sqrt", "squeeze", "sub", "switch", "tan", "tanh", "top_k",
    "transpose", "triangular_solve", "while_loop",
]


# fgrad.lax.linalg offers jax.lax.linalg's decompositions too; they are defined in their own
# family modules (eigen, factorizations), which import the linalg family, so they are attached
# here.
for _family, _names in ((_eigen, ("eig", "eigh", "schur", "svd")),
                        (_factorizations, ("lu", "lu_pivots_to_permutation", "qr"))):
    for _name in _names:
        setattr(_linalg, _name, getattr(_family, _name))


def primitives() -> list[_Primitive]:
    """Every primitive fgrad defines, found in its family modules (tests walk them all)."""
    families = (_elementwise, _shapes, _reductions, _indexing, _linalg, _random,
                _control_flow, _custom, _implicit, _remat, _debugging, _effects, _sorting,
                _factorizations, _eigen, _fft, _special, _convolution)
    found = {id(v): v for family in families for v in vars(family).values()
             if isinstance(v, _Primitive)}
    return list(found.values())


def __getattr__(name: str):
    raise _missing_attribute("fgrad.lax", _jax_lax, name, globals())
