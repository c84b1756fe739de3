"""The rule tables of fgrad's built-in transforms.

Each transform owns the tables of the rules it interprets; the primitives' family modules
(`fgrad/lax/<family>.py`) register into them, next to each primitive's shape rule and
lowering. The tables live here, apart from the interpreters, because the interpreters use
fgrad.lax operations (zeros, sums of cotangents) while fgrad.lax registers rules: this
module depends on core alone, so the import graph has no cycle.

Rules are written for the primitive's own arity (a one-result primitive's rule takes and
returns single values); each table adapts them once, at `define`, into the list form its
interpreter calls.

The autodiff and batching rules (every primitive must define them or declare them absent):

- `jvp_rules`: `rule(primals, tangents, **params) -> (out, tangent_out)`. Tangents may be
  `Zero`. See `fgrad/lax/_ad.py` for the contract and the family helpers.
- `transpose_rules`: `rule(ct, *operands, **params) -> [ct per operand]`, for primitives
  linear in some operands (those arrive as `UndefinedPrimal`).
- `batch_rules`: `rule(axis_size, values, dims, **params) -> (out, out_dim)`. See
  `fgrad/lax/_batching.py`.

The simplifier's knowledge of primitives (optional: a primitive it does not know is kept):

- `identity_rules`: `rule(**params) -> i or None`: the equation returns its operand i
  whenever its output has that operand's type (a reshape to the same shape, a transpose by
  the identity permutation).
- `units`: `prim -> (unit, commutative)`: x op unit == x (and unit op x, if commutative).
- `involutions`: `prim -> True` when prim(prim(x)) == x.
- `fill_rules`: `rule(fills, **params) -> value or None`: the constant every element of
  the output holds, given the same for each operand (None: not a constant).

Rules for primitives whose params hold programs (control flow), which the program-level
passes cannot see through on their own (optional: first-order primitives need none):

- `partial_eval_rules`: `rule(eqn, unknowns) -> (known_eqns, unknown_eqns)`: splits an
  equation some of whose inputs are unknown. The known equations bind the outputs that can
  be computed now, and new *residual* variables; the unknown equations read residuals,
  known and unknown inputs and bind the remaining outputs. Without a rule, an equation with
  an unknown input is unknown as a whole.
- `dce_rules`: `rule(eqn, used_outputs) -> eqn or None`: the equation keeping only the
  outputs marked used (and the inputs those need), or None when it can go entirely. Without
  a rule an equation with one used output is kept whole.
"""

from __future__ import annotations

from fgrad.core import RuleTable


def _jvp_lists(prim, rule):
    if prim.multiple_results:
        return rule

    def jvp(primals, tangents, **params):
        out, tangent = rule(primals, tangents, **params)
        return [out], [tangent]

    return jvp


def _transpose_lists(prim, rule):
    if prim.multiple_results:
        return rule

    def transpose(cts, *operands, **params):
        return rule(cts[0], *operands, **params)

    return transpose


def _batch_lists(prim, rule):
    if prim.multiple_results:
        return rule

    def batch(axis_size, values, dims, **params):
        out, dim = rule(axis_size, values, dims, **params)
        return [out], [dim]

    return batch


jvp_rules = RuleTable("jvp", _jvp_lists)
transpose_rules = RuleTable("transpose", _transpose_lists)
batch_rules = RuleTable("batch", _batch_lists)

identity_rules = RuleTable("identity", required=False)
units = RuleTable("unit", required=False)
involutions = RuleTable("involution", required=False)
fill_rules = RuleTable("fill", required=False)

partial_eval_rules = RuleTable("partial_eval", required=False)
dce_rules = RuleTable("dce", required=False)

#: Functions `hint(eqn) -> str | None` that explain why transposing `eqn` failed when the
#: equation comes from code that reverse mode transposes on the user's behalf (a custom_jvp
#: rule): the first hint returned is added to the error.
transpose_failure_hints: list = []

#: The tables every primitive must complete (docs/rules.md is their matrix).
REQUIRED = (jvp_rules, transpose_rules, batch_rules)
