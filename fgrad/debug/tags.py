"""`grad_with_tags`: gradients with respect to the intermediate values a function tags
(`fgrad.tag(x, name)`), PyTorch's `retain_grad` as a function transformation.

The function is traced to a program (define-by-run, as `fgrad.grad` traces it); each `tag`
equation `y = tag x` becomes `y = add x eps`, with `eps` a new input of the program, given
zeros. The gradient with respect to `eps` is then the gradient with respect to the tagged
value, and fgrad's ordinary `grad` computes it with the arguments' gradients in one backward
pass. A tag inside a `scan` body gets an `eps` of the body threaded through the scan's xs
(stacked along the loop axis), so its gradient is the stacked per-step gradient; a tag
inside a `cond` branch gets an operand of the cond (zero gradient when another branch
runs; branches may share a name when the tagged values have one type).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax

from fgrad import api
from fgrad.core import Program, Var
from fgrad.core.errors import FgradError, at_user_line
from fgrad.core.evaluate import eval_program
from fgrad.core.ir import Eqn, sub_programs
from fgrad.lax import _ad
from fgrad.lax.control_flow import cond_p, scan_p
from fgrad.lax.debugging import tag_p
from fgrad.lax.elementwise import add_p

tree_flatten, tree_unflatten = jax.tree_util.tree_flatten, jax.tree_util.tree_unflatten


class TagError(FgradError, ValueError):
    """A tag that grad_with_tags cannot report: a name used twice, or a tag where fgrad
    cannot thread a perturbation (inside a while loop or a custom rule)."""


class _Tag(NamedTuple):
    name: str
    index: int
    tree: object
    aval: object  # of the eps input: stacked along the loop axes of enclosing scans
    source: object


def _where(source) -> str:
    return f" at {source}" if source is not None else ""


def _has_tags(program: Program) -> bool:
    return any(e.primitive is tag_p or any(_has_tags(p) for p in sub_programs(e.params))
               for e in program.eqns)


def _add_tags(tags: list, new: list, seen: dict, shared: bool = False) -> list:
    """Appends `new` tags to `tags`; returns for each new one its position in `tags`.
    With `shared` (the branches of one cond), a tag of the same name, leaf and type as
    one already in `tags` shares its position."""
    positions = []
    for t in new:
        key = (t.name, t.index)
        if key in seen:
            other = tags[seen[key]]
            if shared and other.aval == t.aval and other.tree == t.tree:
                positions.append(seen[key])
                continue
            raise TagError(at_user_line(
                f"grad_with_tags: the tag name {t.name!r} is used twice in one call: "
                f"first{_where(other.source)}, again{_where(t.source)}. Give each tagged "
                f"value its own name (a tag inside a scan body is one name for all steps)."))
        seen[key] = len(tags)
        positions.append(len(tags))
        tags.append(t)
    return positions


def _rewrite(program: Program) -> tuple[Program, list[_Tag]]:
    """`program` with each tag replaced by the addition of a new trailing input, and the
    tags in the order of those inputs."""
    tags: list[_Tag] = []
    seen: dict = {}
    eps_vars: list[Var] = []
    eqns = []
    for eqn in program.eqns:
        prim = eqn.primitive
        if prim is tag_p:
            (x,) = eqn.inputs
            p = eqn.params
            eps = Var(x.aval)
            _add_tags(tags, [_Tag(p["name"], p["index"], p["tree"], x.aval, eqn.source)], seen)
            eps_vars.append(eps)
            eqns.append(Eqn(add_p, (x, eps), eqn.outputs, {}, eqn.source))
        elif not any(_has_tags(p) for p in sub_programs(eqn.params)):
            eqns.append(eqn)
        elif prim is scan_p:
            body, inner = _rewrite(eqn.params["body"])
            length = eqn.params["length"]
            stacked = [t._replace(aval=t.aval.update(shape=(length, *t.aval.shape)))
                       for t in inner]
            _add_tags(tags, stacked, seen)
            new = [Var(t.aval) for t in stacked]
            eps_vars.extend(new)
            # The body's new inputs come last, after its xs: they are xs.
            eqns.append(Eqn(prim, (*eqn.inputs, *new), eqn.outputs,
                            {**eqn.params, "body": body}, eqn.source))
        elif prim is cond_p:
            rewritten = [_rewrite(b) for b in eqn.params["branches"]]
            start = len(tags)
            positions = [_add_tags(tags, inner, seen, shared=True) for _, inner in rewritten]
            mine = tags[start:]
            new = [Var(t.aval) for t in mine]
            eps_vars.extend(new)
            branches = []
            for (b, _), pos in zip(rewritten, positions, strict=True):
                # Every branch takes all the cond's eps operands and reads its own.
                ins = [Var(t.aval) for t in mine]
                own = b.inputs[len(b.inputs) - len(pos):]
                for v, p in zip(own, pos, strict=True):
                    ins[p - start] = v
                branches.append(Program(b.constvars, b.constvals,
                                        b.inputs[:len(b.inputs) - len(pos)] + tuple(ins),
                                        b.eqns, b.outputs))
            eqns.append(Eqn(prim, (*eqn.inputs, *new), eqn.outputs,
                            {**eqn.params, "branches": tuple(branches)}, eqn.source))
        else:
            inner = next(t for p in sub_programs(eqn.params) for t in _rewrite(p)[1])
            raise TagError(at_user_line(
                f"grad_with_tags: the tag {inner.name!r}{_where(inner.source)} is inside a "
                f"{prim.name}, where grad_with_tags cannot reach it (it can inside scan, "
                f"cond and jit). Tag the value outside the {prim.name}: pass it out as an "
                f"output, or tag what goes in.", eqn.source))
    return Program(program.constvars, program.constvals, (*program.inputs, *eps_vars),
                   eqns, program.outputs), tags


def grad_with_tags(fun: Callable, argnums=0, has_aux: bool = False) -> Callable:
    """Like `fgrad.grad`, but the returned function gives `(grads, tag_grads)`, where
    `tag_grads[name]` is the gradient of the scalar output with respect to the value
    `fgrad.tag(value, name)` marked (a pytree like it; stacked along the loop axis for a
    tag inside a `scan`). With `has_aux`, it gives `((grads, tag_grads), aux)`.

    Args:
      fun: the function to differentiate, returning a real floating-point scalar (or
        `(scalar, aux)` with `has_aux`), that marks values with `fgrad.tag`.
      argnums (int | Sequence[int]): the position(s) of the positional arguments to
        differentiate with respect to, as for `fgrad.grad`.
      has_aux: whether `fun` returns a pair `(output, aux)`, of which only `output` is
        differentiated.

    Returns:
      a function with `fun`'s arguments that returns `(grads, tag_grads)` as above: `grads`
        as `fgrad.grad` gives it, `tag_grads` a dict from each tag's name to its gradient.

    Raises:
      TagError: when the returned function is called, a tag cannot be reported: a name
        used twice, a tag inside a primitive other than `scan`, `cond` and `jit` (a while
        loop, a custom rule), or leaves of a tagged pytree the computation did not reach.

    Examples:
      >>> import fgrad, fgrad.numpy as fnp
      >>> def f(a):
      ...     b = fgrad.tag(5 * (a + 3), "b")
      ...     return fnp.mean(b)
      >>> grads, tag_grads = fgrad.grad_with_tags(f)(fnp.ones(2))
      >>> tag_grads["b"]
      Array([0.5, 0.5], dtype=float32)
    """
    api._check_callable(fun, "grad_with_tags")
    argnums_t = api._argnums_tuple(argnums)

    def grads_fun(*args, **kwargs):
        restricted, diff_args = api._restrict(fun, args, kwargs, argnums_t, False, False,
                                              "grad_with_tags")
        flat, in_tree = tree_flatten(diff_args)
        traced = api._trace_flat(restricted, flat, in_tree, "grad_with_tags", has_aux)
        api._check_scalar_output(traced, False, "grad_with_tags")
        program, tags = _rewrite(traced.program)
        n_out = traced.n_out

        def perturbed(flat_args, eps):
            outs = eval_program(program, *flat_args, *eps)
            return outs[0], outs[n_out:]

        eps0 = [_ad.zeros(t.aval) for t in tags]
        (g_args, g_eps), aux_values = api.grad(perturbed, argnums=(0, 1), has_aux=True)(
            list(flat), eps0)
        grads = tree_unflatten(in_tree, g_args)
        grads = grads[0] if isinstance(argnums, int) else tuple(grads)
        leaves: dict = {}
        for t, g in zip(tags, g_eps, strict=True):
            leaves.setdefault(t.name, (t.tree, {}))[1][t.index] = g
        tag_grads = {}
        for name, (tree, by_index) in leaves.items():
            if len(by_index) != tree.num_leaves:
                missing = sorted(set(range(tree.num_leaves)) - set(by_index))
                raise TagError(at_user_line(
                    f"grad_with_tags: the tag {name!r} was applied to a pytree, but leaves "
                    f"{missing} of it were not reached by the traced computation."))
            tag_grads[name] = tree_unflatten(tree, [by_index[i] for i in range(len(by_index))])
        if has_aux:
            aux = api._aux_value(traced.aux_tree, traced.aux_leaves, aux_values)
            return (grads, tag_grads), aux
        return grads, tag_grads

    return grads_fun
