"""fgrad.lax: fgrad's primitives as functions with jax.lax's signatures.

One module per family, each primitive's rules in one block: `elementwise`, `shapes`,
`reductions`, `indexing`, `linalg`. Unlike jax.lax, binary operations never broadcast, not
even scalars: fgrad.numpy broadcasts explicitly with `broadcast_in_dim`.
"""

from fgrad.lax.elementwise import (
    abs, acos, add, asin, atan, atan2, bitwise_and, bitwise_not, bitwise_or, bitwise_xor, ceil,
    clamp, convert_element_type, cos, cosh, div, eq, erf, exp, expm1, floor, ge, gt,
    integer_pow, is_finite, le, log, log1p, logistic, lt, max, min, mul, ne, neg, pow, rem,
    round, rsqrt, select_n, sign, sin, sinh, sqrt, sub, tan, tanh,
)
