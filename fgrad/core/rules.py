"""Rule tables: how a transform learns what to do with each primitive.

A transform owns one `RuleTable` per kind of rule it needs (`fgrad/transforms/rules.py`
holds the tables of the built-in transforms); a primitive's family module registers into
them with `table.define(prim, rule)`, the one way rules are registered. Core knows no
transform by name: adding a transform creates its own tables and adds no code here.

A rule is written for the primitive's own shape: a one-result primitive's rule takes and
returns single values. `define` wraps it, once, with the table's `adapt` into the form the
transform's interpreter calls, with lists for results, so no interpreter branches on how many
results a primitive has.

A primitive that deliberately has no rule of a kind says so with `table.absent(prim,
reason)`: the reason is part of the error a user gets and of docs/rules.md, and the test
over every primitive (tests/test_rules.py) fails on a rule that is neither defined nor
declared absent.
"""

from __future__ import annotations

from typing import Callable

from fgrad.core.errors import MissingRuleError


class RuleTable:
    """The rules of one kind (`name`, e.g. 'jvp') that one transform needs, by primitive."""

    def __init__(self, name: str, adapt: Callable | None = None, required: bool = True):
        self.name = name
        # adapt(prim, rule) -> the rule in the interpreter's list form
        self._adapt = adapt
        # Whether every primitive must define this rule or declare it absent (an optional
        # table, like simplification identities, only lists the primitives it knows).
        self.required = required
        self._rules: dict = {}
        self._absent: dict = {}  # primitive -> why it has no rule of this kind

    def define(self, prim, rule: Callable | None = None, *, lists: bool = False):
        """Registers `rule` for `prim`; without `rule`, a decorator. `lists=True` says the
        rule is already written in list form, for any number of results (family helpers
        write them so). Returns the rule as given, so a family can reuse it."""
        if rule is None:
            return lambda r: self.define(prim, r, lists=lists)
        if prim in self._rules:
            raise ValueError(f"the {self.name} rule of {prim.name} is defined twice")
        self._absent.pop(prim, None)
        adapt = self._adapt is not None and not lists
        self._rules[prim] = self._adapt(prim, rule) if adapt else rule
        return rule

    def absent(self, prim, reason: str) -> None:
        """Declares that `prim` has no rule of this kind, on purpose, and why."""
        self._absent[prim] = reason

    def __getitem__(self, prim) -> Callable:
        rule = self._rules.get(prim)
        if rule is None:
            why = self._absent.get(prim)
            raise MissingRuleError(
                f"The primitive '{prim.name}' has no {self.name} rule, so the {self.name} "
                f"transform cannot be applied to it" + (f": {why}" if why else ".")
                + ("" if why else f" Define one with .define({prim.name}_p, rule) on the "
                   f"transform's {self.name} rule table (fgrad.transforms.rules holds the "
                   f"built-in transforms' tables)."))
        return rule

    def get(self, prim) -> Callable | None:
        return self._rules.get(prim)

    def __contains__(self, prim) -> bool:
        return prim in self._rules

    def why_absent(self, prim) -> str | None:
        """The declared reason `prim` has no rule here, or None."""
        return self._absent.get(prim)

    def __repr__(self) -> str:
        return f"RuleTable({self.name!r}, {len(self._rules)} rules)"
