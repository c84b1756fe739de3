"""A new interpreter on the shared machinery: a FLOP counter, in a few dozen lines.

`flops(fun)(*args)` traces `fun` with `fgrad.make_ir` and walks the program with
`fgrad.core.interpret`, abstractly: each variable holds its type (an `Aval`), never a value,
and each equation adds the cost its primitive's rule computes from the operand types and the
params. The rules live in the counter's own `RuleTable`, which, like the transforms' tables,
raises `MissingRuleError` naming a primitive it has no rule for. Because fgrad's transforms
produce ordinary programs, the counter works on them unchanged: the FLOPs of a gradient or
of a batched function are counted by tracing `fgrad.grad(f)` or `fgrad.vmap(f)`.

Convention: one FLOP per element of an elementwise result (a sine counts as one), n - 1 per
sum of n elements, 2·K per element of a dot product over K elements; moving data is free.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import lax
from fgrad.core import MissingRuleError, RuleTable, interpret
from fgrad.lax import elementwise, linalg, reductions, shapes

# -- the interpreter -------------------------------------------------------------------------

flop_rules = RuleTable("flops", required=False)  # rule(out_avals, *in_avals, **params) -> int


def per_element(outs, *ins, **params):
    return outs[0].size


for _prim in (elementwise.add_p, elementwise.sub_p, elementwise.mul_p, elementwise.div_p,
              elementwise.neg_p, elementwise.max_p, elementwise.sin_p, elementwise.cos_p,
              elementwise.exp_p, elementwise.log_p, elementwise.tanh_p):
    flop_rules.define(_prim, per_element)
for _prim in (shapes.broadcast_in_dim_p, shapes.reshape_p, shapes.transpose_p,
              shapes.squeeze_p, shapes.expand_dims_p, elementwise.convert_element_type_p,
              elementwise.select_n_p):
    flop_rules.define(_prim, lambda outs, *ins, **params: 0)
flop_rules.define(reductions.reduce_sum_p, lambda outs, x, **params: x.size - outs[0].size)
flop_rules.define(linalg.dot_general_p, lambda outs, lhs, rhs, *, dimension_numbers, **_:
                  2 * outs[0].size * math.prod(lhs.shape[d] for d in dimension_numbers[0][0]))
flop_rules.absent(elementwise.nextafter_p, "a step of one ulp is bit manipulation, not a FLOP")


def flops(fun):
    def count(*args) -> int:
        program = fgrad.make_ir(fun)(*args)
        total = 0

        def apply(eqn, in_avals):
            nonlocal total
            out_avals = eqn.primitive.result_avals(*in_avals, **eqn.params)
            total += flop_rules[eqn.primitive](out_avals, *in_avals, **eqn.params)
            return out_avals

        interpret(program, [v.aval for v in program.inputs], apply,
                  literal=lambda lit: lit.aval, consts=[v.aval for v in program.constvars])
        return total
    return count

# -- what it counts --------------------------------------------------------------------------


def test_matmul():
    m, k, n = 3, 5, 7
    a, b = jnp.ones((m, k)), jnp.ones((k, n))
    assert flops(lambda a, b: a @ b)(a, b) == 2 * m * k * n
    # A batched matmul: one (k, n) product per batch element.
    batched = lambda a, b: lax.dot_general(a, b, (((2,), (1,)), ((0,), (0,))))
    assert flops(batched)(jnp.ones((4, m, k)), jnp.ones((4, k, n))) == 4 * 2 * m * k * n


def test_elementwise_chain():
    x = jnp.ones((4, 6))
    assert flops(lambda x, y: fnp.tanh(x * y + x))(x, x) == 3 * x.size


def test_reductions():
    x = jnp.ones((4, 6))
    assert flops(lambda x: lax.reduce_sum(x, (1,)))(x) == 4 * (6 - 1)
    assert flops(lambda x: lax.reduce_sum(x, (0, 1)))(x) == 4 * 6 - 1
    assert flops(lambda x: fnp.reshape(x, (24,)))(x) == 0  # moving data is free


def test_a_primitive_without_a_flop_rule_is_named():
    x = jnp.ones(4)
    with pytest.raises(MissingRuleError, match="'cumsum' has no flops rule"):
        flops(lambda x: lax.cumsum(x))(x)
    with pytest.raises(MissingRuleError, match="'nextafter'.*bit manipulation"):
        flops(lambda x: lax.nextafter(x, x))(x)


# -- it composes with the transforms: they produce programs like any other ------------------

N, B = 5, 3


def f(x):
    return fnp.sum(fnp.sin(x) * x)  # sin, mul: N each; the sum: N - 1


def test_vmap_multiplies_the_count_by_the_batch():
    xs = jnp.ones((B, N))
    assert flops(f)(xs[0]) == 3 * N - 1
    assert flops(fgrad.vmap(f))(xs) == B * (3 * N - 1)
    w = jnp.ones((N, 4))
    assert flops(fgrad.vmap(lambda x: x @ w))(xs) == B * 2 * N * 4


def test_reverse_mode():
    x = jnp.ones(N)

    def value_and_pullback(x, ct):  # h = sin(x)·x and its vjp at a cotangent ct
        out, pullback = fgrad.vjp(lambda x: fnp.sin(x) * x, x)
        return out, pullback(ct)

    # sin and cos of x, the product; the cotangent: sin(x)·ct + (ct·x)·cos(x).
    assert flops(value_and_pullback)(x, x) == 7 * N
    # The gradient of f costs a small multiple of f itself (the cheap gradient principle):
    # more than f, at most four times as much.
    assert flops(f)(x) < flops(fgrad.grad(f))(x) <= 4 * flops(f)(x)
    np.testing.assert_allclose(fgrad.grad(f)(x), np.cos(1.0) + np.sin(1.0), rtol=1e-6)
