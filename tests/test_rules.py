"""Every primitive accounts for every rule a transform requires, and docs/rules.md says so.

For each table in `fgrad.transforms.rules.REQUIRED` a primitive either defines its rule or
declares it absent with a reason (`table.absent(prim, reason)`); the reason is what a user
reads in the `MissingRuleError`, and what docs/rules.md shows. docs/rules.md is generated
from the tables by docs/gen_rules.py and must be current.
"""

from __future__ import annotations

import importlib.util
import pathlib

import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import lax
from fgrad.core import MissingRuleError, Primitive, RuleTable
from fgrad.lax.elementwise import nextafter_p, sin_p
from fgrad.lax.shapes import iota_p
from fgrad.transforms import rules

ROOT = pathlib.Path(__file__).resolve().parent.parent
GENERATOR = ROOT / "docs" / "gen_rules.py"


def unaccounted(prims, tables) -> list[str]:
    """`table[prim]` for each required rule that is neither defined nor declared absent with
    a reason, or both at once."""
    found = []
    for prim in prims:
        for table in tables:
            reason = table.why_absent(prim)
            if prim in table and reason is not None:
                found.append(f"{table.name}_rules[{prim.name}_p] (defined and declared absent)")
            elif prim not in table and not (isinstance(reason, str) and reason.strip()):
                found.append(f"{table.name}_rules[{prim.name}_p]")
    return found


def test_every_primitive_defines_or_declares_absent_every_required_rule():
    offenders = unaccounted(lax.primitives(), rules.REQUIRED)
    assert not offenders, (
        f"{len(offenders)} required rule(s) neither defined nor declared absent: "
        f"{', '.join(offenders)}. Next to the primitive's other rules in fgrad/lax/<family>.py, "
        f"define each with table.define(prim, rule), or say why there is none with "
        f"table.absent(prim, 'reason').")


def test_the_required_tables():
    assert [t.name for t in rules.REQUIRED] == ["jvp", "transpose", "batch"]
    assert all(t.required for t in rules.REQUIRED)
    optional = (rules.identity_rules, rules.units, rules.involutions, rules.fill_rules)
    assert not any(t.required or t in rules.REQUIRED for t in optional)


def test_primitives_are_distinct_and_named_uniquely():
    prims = lax.primitives()
    names = [p.name for p in prims]
    assert len(prims) > 100 and len(set(names)) == len(names)


def test_the_check_names_every_offender_at_once():
    toy = RuleTable("toy")
    a, b, c, d = (Primitive(f"rules_test_{n}", lambda x: x, lambda x: x) for n in "abcd")
    toy.define(a, lambda *args: None)
    toy.absent(b, "it is only a test")
    toy.absent(c, "")  # a declaration without a reason does not count
    toy.define(d, lambda *args: None)
    toy.absent(d, "contradicts its rule")
    assert unaccounted([a, b, c, d], [toy]) == [
        "toy_rules[rules_test_c_p]",
        "toy_rules[rules_test_d_p] (defined and declared absent)"]


def test_the_reason_is_in_the_missing_rule_error():
    reason = rules.transpose_rules.why_absent(sin_p)
    assert reason == "it is not linear in any operand"
    with pytest.raises(MissingRuleError) as info:
        rules.transpose_rules[sin_p]
    message = str(info.value)
    assert "'sin'" in message and "transpose" in message and reason in message
    assert "Define one" not in message  # declared absent: nothing to define


def test_an_undeclared_rule_says_how_to_define_it():
    toy = RuleTable("toy")
    prim = Primitive("rules_test_undeclared", lambda x: x, lambda x: x)
    with pytest.raises(MissingRuleError, match=r"Define one with \.define\("
                       r"rules_test_undeclared_p, rule\) on the transform's toy rule table"):
        toy[prim]


def test_a_user_meets_the_reason():
    # nextafter has no derivative on purpose; asking for one reports why.
    f = lambda x: lax.nextafter(x, jnp.float32(2.0))
    with pytest.raises(MissingRuleError, match="nextafter.*one ulp"):
        fgrad.grad(f)(jnp.float32(1.0))
    with pytest.raises(MissingRuleError) as info:
        fgrad.jvp(f, (jnp.float32(1.0),), (jnp.float32(1.0),))
    assert rules.jvp_rules.why_absent(nextafter_p) in str(info.value)


def test_absent_rules_are_never_asked_for_where_their_reasons_say():
    # iota has no operands, comparisons and argmax have results without tangents: the
    # transforms re-emit them, so grad, jvp and vmap of code using them work.
    def f(x):
        ramp = lax.convert_element_type(lax.iota(np.int32, 3), x.dtype)
        big = fnp.where(x > 1.0, x, 0.0)
        return fnp.sum(big * ramp) + lax.convert_element_type(lax.argmax(x, 0, np.int32),
                                                              x.dtype)
    x = jnp.array([0.5, 2.0, 3.0])
    np.testing.assert_allclose(fgrad.grad(f)(x), [0.0, 1.0, 2.0])
    np.testing.assert_allclose(fgrad.vmap(fgrad.grad(f))(jnp.stack([x, x + 1])),
                               [[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]])
    assert rules.batch_rules.why_absent(iota_p).startswith("it has no operands")


def _generator():
    spec = importlib.util.spec_from_file_location("gen_rules", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_rules_md_is_current():
    gen = _generator()
    expected = gen.render()
    if not gen.OUTPUT.exists() or gen.OUTPUT.read_text(encoding="utf-8") != expected:
        pytest.fail(f"docs/rules.md is out of date with the registered rules: run "
                    f"`{gen.COMMAND}` and commit the result.")


def test_docs_rules_md_has_a_row_per_primitive():
    text = _generator().render()
    for prim in lax.primitives():
        assert f"| `{prim.name}` | ✓ | ✓ |" in text
    assert "**missing**" not in text
    assert rules.jvp_rules.why_absent(nextafter_p)[1:] in text  # capitalised there
