"""Simplification passes, `Program -> Program`, and `simplify`, which runs them to a fixpoint.

Every pass keeps the program's inputs and the exact types (shape, dtype, weak type) of its
outputs and of every surviving equation, keeps each equation's `source`, and returns the
very same program when it finds nothing to do, so callers (and `simplify`'s loop) can test
for change with `is`. Each pass is one walk over the equations: this runs on every traced
program, under `fgrad.jit` and the autodiff transforms.
"""

from __future__ import annotations

import functools

import jax
import numpy as np

from fgrad.core import Atom, Aval, Eqn, Literal, Program, Var
from fgrad.core.ir import is_key, map_sub_programs, sub_programs
from fgrad.core.resources import LRUCache, register_cache
from fgrad.core.typecheck import checked
from fgrad.transforms.rules import dce_rules, fill_rules, identity_rules, involutions, units


def _rewrite(program: Program, propose) -> Program:
    """Walks the equations once, substituting earlier replacements into each one's inputs.

    `propose(eqn)` sees the substituted equation and returns atoms to stand for its outputs
    (which drops it) or None to keep it. A replacement is taken only when every atom has
    exactly its output's aval, so no later equation or program output changes type.
    """
    replaced: dict[Var, Atom] = {}
    eqns = []
    for eqn in program.eqns:
        if replaced:
            inputs = tuple(replaced.get(a, a) if isinstance(a, Var) else a for a in eqn.inputs)
            if any(new is not old for new, old in zip(inputs, eqn.inputs, strict=True)):
                eqn = Eqn(eqn.primitive, inputs, eqn.outputs, eqn.params, eqn.source)
        atoms = propose(eqn)
        if atoms is not None and all(
                a.aval == v.aval for a, v in zip(atoms, eqn.outputs, strict=True)):
            replaced.update(zip(eqn.outputs, atoms, strict=True))
        else:
            eqns.append(eqn)
    if not replaced:
        return program
    outputs = [replaced.get(a, a) if isinstance(a, Var) else a for a in program.outputs]
    return Program(program.constvars, program.constvals, program.inputs, eqns, outputs)


def has_effects(eqn: Eqn) -> bool:
    """Whether the equation's primitive is effectful, or a program it holds has an effectful
    equation (a print inside a loop body): such equations are never dropped or merged."""
    if eqn.primitive.effectful:
        return True
    programs = sub_programs(eqn.params) if eqn.params else ()
    return any(has_effects(e) for p in programs for e in p.eqns)


def _params_key(params: dict):
    """The params as a hashable key, or None when some value is unhashable."""
    key = tuple(sorted(params.items()))
    try:
        hash(key)
    except TypeError:
        return None
    return key


# -- dead-code elimination -------------------------------------------------------------------


def dce(program: Program) -> Program:
    """Drops the equations no output depends on and the consts nobody reads.

    Every primitive but the effectful ones (a debug callback, or control flow holding one)
    is pure, so an equation whose outputs nobody reads can go. This is what makes an input
    that does not influence the output cost nothing under differentiation.
    """
    live: set[Var] = {a for a in program.outputs if type(a) is Var}
    kept = []
    changed = False
    for eqn in reversed(program.eqns):
        outputs = eqn.outputs
        # One output, read: the common case, kept without asking more (transforms run dce
        # several times per gradient).
        if len(outputs) != 1 or outputs[0] not in live:
            used = [v in live for v in outputs]
            if not (any(used) and all(used)) and not has_effects(eqn):
                if not any(used):
                    continue
                rule = dce_rules.get(eqn.primitive)
                if rule is not None:
                    pruned = rule(eqn, used)  # control flow: drop the unused results
                    changed = changed or pruned is not eqn
                    if pruned is None:
                        continue
                    eqn = pruned
        kept.append(eqn)
        live.update([a for a in eqn.inputs if type(a) is Var])
    if (len(kept) == len(program.eqns) and not changed
            and all(v in live for v in program.constvars)):
        return program
    consts = [(v, c) for v, c in zip(program.constvars, program.constvals, strict=True)
              if v in live]
    return Program([v for v, _ in consts], [c for _, c in consts], program.inputs,
                   kept[::-1], program.outputs)


# -- common subexpressions -------------------------------------------------------------------


def cse(program: Program) -> Program:
    """A later equation applying the same primitive with the same params to the same atoms
    reuses the earlier one's outputs."""
    first: dict[tuple, tuple[Var, ...]] = {}

    def propose(eqn: Eqn):
        params = _params_key(eqn.params)
        if params is None:
            return None
        operands = tuple(a.key if isinstance(a, Literal) else a for a in eqn.inputs)
        outputs = first.setdefault((eqn.primitive, operands, params), eqn.outputs)
        return None if outputs is eqn.outputs or has_effects(eqn) else outputs

    return _rewrite(program, propose)


# -- constant folding ------------------------------------------------------------------------


def fold_constants(program: Program) -> Program:
    """Computes now each scalar equation whose inputs are all literals, making it a literal."""
    def propose(eqn: Eqn):
        if (len(eqn.outputs) != 1 or not eqn.inputs
                or eqn.outputs[0].aval.shape != () or is_key(eqn.outputs[0].aval.dtype)
                or not all(isinstance(a, Literal) for a in eqn.inputs)):
            return None
        aval = eqn.outputs[0].aval
        params = _params_key(eqn.params)
        if params is None:
            return (_computed_literal(eqn.primitive, eqn.inputs, eqn.params, aval),)
        return (_folded(eqn.primitive, eqn.inputs, params, aval),)

    return _rewrite(program, propose)


@functools.lru_cache(maxsize=4096)  # the same few constants (0, 1, 0.5 ...) recur everywhere
def _folded(primitive, literals: tuple[Literal, ...], params: tuple, aval: Aval) -> Literal:
    return _computed_literal(primitive, literals, dict(params), aval)


register_cache(
    "folded_constants", _folded,
    holds="the literal an equation of literal scalar operands computes",
    key="(primitive, operand literals, params, output aval)",
    why="the same few constants recur in every program; entries are a few hundred bytes")


def _computed_literal(primitive, literals, params: dict, aval: Aval) -> Literal:
    # Operands are given their literal's exact dtype, as JAX gives a weak Python scalar the
    # dtype its aval names, so the value is the one the program would compute. Passes may
    # run while jax.jit traces, hence the forced concrete evaluation.
    operands = [np.asarray(a.value, a.aval.dtype) for a in literals]
    with jax.ensure_compile_time_eval():
        [value] = primitive.lower_results(*operands, **params)
        value = np.asarray(value).astype(aval.dtype)[()]
    if aval.weak_type:
        # The shortest Python number with this value in the literal's dtype: 0.1, not
        # 0.10000000149011612 (float32's 0.1 widened).
        kind = aval.dtype.kind
        value = float(str(value)) if kind == "f" else complex(str(value)) if kind == "c" \
            else value.item()
    return Literal(value, aval)


# -- algebraic identities --------------------------------------------------------------------

def simplify_algebra(program: Program) -> Program:
    """x*1, 1*x, x+0, 0+x, x-0, x/1 and neg(neg(x)) become x: the primitives' `units` and
    `involutions` (fgrad/transforms/rules.py).

    A unit is a literal or an array filled with one (`fill_rules`: a broadcast of one,
    however many times broadcast, which is how materialised zeros and ones look, and how
    vmap or jacfwd batch them). x*0 is
    left alone: it is NaN for x = NaN or inf. x+0 -> x turns -0.0 + 0.0 (which is +0.0) into
    -0.0, a difference XLA's algebraic simplifier also ignores.
    """
    filled: dict[Var, object] = {}   # a broadcast of a literal -> that literal's value
    inverted: dict[Var, Atom] = {}   # the output of an involution -> its operand

    def fill_value(atom: Atom):
        return atom.value if isinstance(atom, Literal) else filled.get(atom)

    def is_value(atom: Atom, value) -> bool:
        fill = fill_value(atom)
        return fill is not None and fill == value

    def propose(eqn: Eqn):
        if len(eqn.outputs) != 1:
            return None
        primitive, inputs, out = eqn.primitive, eqn.inputs, eqn.outputs[0]
        if (unit := units.get(primitive)) is not None:
            unit, commutative = unit
            x, y = inputs
            for kept, other in ((x, y), (y, x)) if commutative else ((x, y),):
                if kept.aval == out.aval and is_value(other, unit):
                    return (kept,)
        elif involutions.get(primitive):
            (x,) = inputs
            inverted[out] = x
            if isinstance(x, Var) and x in inverted:
                return (inverted[x],)
        elif (fill_rule := fill_rules.get(primitive)) is not None:
            fill = fill_rule([fill_value(a) for a in inputs], **eqn.params)
            if fill is not None:
                filled[out] = fill
        return None

    return _rewrite(program, propose)


# -- equations that return their operand -----------------------------------------------------


def forward_trivial(program: Program) -> Program:
    """Removes the equations that return their operand unchanged, using the operand instead:
    a reshape, broadcast or conversion to the operand's own type, a transpose by the
    identity permutation, x ** 1 (the primitives' `identity_rules`).

    stop_gradient also returns its operand but is never removed: it carries meaning for
    every later differentiation of the program.
    """
    def propose(eqn: Eqn):
        rule = identity_rules.get(eqn.primitive)
        if rule is None:
            return None
        i = rule(**eqn.params)
        return None if i is None else (eqn.inputs[i],)

    return _rewrite(program, propose)


# -- inside control flow ---------------------------------------------------------------------


# Sub-programs already simplified, by identity: `simplify` runs to a fixpoint, and each of
# its rounds would otherwise simplify every branch and loop body again.
_SIMPLIFIED = register_cache(
    "simplified_sub_programs", LRUCache(4096),
    holds="a sub-program (branch, loop body) and its simplified form, consts included",
    key="id of the sub-program, which the entry keeps alive so the id stays its own",
    why="simplify's fixpoint rounds revisit the same sub-programs; 4096 covers the control "
        "flow of many programs while a round's working set is far smaller")


def _simplified(program: Program) -> Program:
    hit = _SIMPLIFIED.get(id(program))
    if hit is not None and hit[0] is program:
        return hit[1]
    result = simplify(program)
    _SIMPLIFIED.put(id(program), (program, result))  # holding `program` keeps its id unique
    _SIMPLIFIED.put(id(result), (result, result))
    return result


def simplify_sub_programs(program: Program) -> Program:
    """Simplifies the programs held in equations' params (branches, loop bodies). Each keeps
    its inputs and its outputs' types, so the equation stays well typed; removing a loop's
    unused carries and outputs is the primitive's dce rule."""
    eqns = []
    for eqn in program.eqns:
        params = map_sub_programs(eqn.params, _simplified)
        if params is not eqn.params:
            eqn = Eqn(eqn.primitive, eqn.inputs, eqn.outputs, params, eqn.source)
        eqns.append(eqn)
    if all(a is b for a, b in zip(eqns, program.eqns, strict=True)):
        return program
    return Program(program.constvars, program.constvals, program.inputs, eqns, program.outputs)


# -- all of them -----------------------------------------------------------------------------

_PASSES = (fold_constants, simplify_algebra, forward_trivial, cse, dce, simplify_sub_programs)
_MAX_ROUNDS = 10


def simplify(program: Program) -> Program:
    """Runs every pass in turn until none changes anything (or `_MAX_ROUNDS` rounds)."""
    for _ in range(_MAX_ROUNDS):
        start = program
        for simplify_pass in _PASSES:
            program = simplify_pass(program)
        if program is start:
            break
    return checked(program)
