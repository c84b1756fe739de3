"""Implicit differentiation: derivatives of a solver's answer from the equation it solves.

Differentiating a solver by unrolling it stores every iteration for reverse mode and
differentiates the iterations' arithmetic, whose derivative is not even the solution's
derivative until the iteration has converged. Both functions here give the derivative from
the equation instead (the implicit function theorem), so the solver's internals are never
differentiated: its loop can be a `while_loop` without `max_steps`, and reverse mode stores
only the solution.

- `custom_linear_solve(matvec, b, solve, transpose_solve)`: x = A⁻¹b for the linear map
  `matvec` (A). One primitive, `linear_solve`, whose params hold the four programs. Its JVP
  solves again: ẋ = A⁻¹(ḃ − Ȧx), with Ȧx the JVP of matvec in the values it closes over;
  it is linear in b, and its transpose solves with Aᵀ: b̄ = A⁻ᵀx̄ (`transpose_solve` on
  `vecmat`, the transpose of matvec, which fgrad derives by transposing its program).
- `custom_root(f, initial_guess, solve, tangent_solve)`: x* with f(x*) = 0. With θ the values
  f closes over, f(x*(θ), θ) = 0 gives ẋ* = −(∂ₓf)⁻¹ ∂_θf·θ̇, computed by `tangent_solve`
  on the linearization of f at x*. It is a custom_jvp function (fgrad.lax.custom) of θ,
  whose rule is linear in θ̇ when tangent_solve is linear in its right-hand side, so reverse
  mode transposes it.

Both take JAX's signatures and semantics (jax.lax.custom_linear_solve, jax.lax.custom_root).
"""

from __future__ import annotations

import builtins
from functools import partial
from typing import Callable

import jax

from fgrad.core import (
    Primitive, Program, Zero, aval_of, eval_program, is_differentiable, tangent_aval,
)
from fgrad.core.errors import ShapeDtypeError, StructureError, at_user_line
from fgrad.lax._ad import instantiate, is_undefined, zeros
from fgrad.lax.control_flow import _joined, _pruned, _runner, _trace, _types
from fgrad.transforms.stop_gradient import stop_gradient
from fgrad.lax.custom import _as_weak, _is_array_like, _where, custom_jvp
from fgrad.lax.elementwise import neg, sub
from fgrad.transforms.batch import batch_program
from fgrad.transforms.jvp import jvp_eval
from fgrad.transforms.rules import batch_rules, jvp_rules, transpose_rules
from fgrad.transforms.transpose import transpose_program

tree_flatten, tree_unflatten = jax.tree_util.tree_flatten, jax.tree_util.tree_unflatten


# -- linear_solve: x = A⁻¹ b ------------------------------------------------------------------

_SOLVE_PROGRAMS = ("matvec", "vecmat", "solve", "transpose_solve")


def _linear_solve_abstract_eval(*avals, matvec, vecmat, solve, transpose_solve, n_consts):
    b = avals[n_consts:]
    if [(a.shape, a.dtype) for a in solve.out_avals] != [(a.shape, a.dtype) for a in b]:
        raise ShapeDtypeError(f"linear_solve: solve returns {_types(solve.out_avals)} for a "
                              f"right-hand side of types {_types(b)}")
    return list(b)  # x has b's types, weak types included (as in JAX)


def _linear_solve_lower(*args, matvec, vecmat, solve, transpose_solve, n_consts):
    consts, b = args[:n_consts], list(args[n_consts:])
    out_avals = _linear_solve_abstract_eval(*map(aval_of, args), matvec=matvec, vecmat=vecmat,
                                            solve=solve, transpose_solve=transpose_solve,
                                            n_consts=n_consts)

    def as_function(program: Program) -> Callable:
        run = _runner(program, program.out_avals)
        return lambda x: run(*consts, *x)

    def solver(program: Program | None):
        if program is None:
            return None
        run = _runner(program, out_avals)
        return lambda _, rhs: run(*consts, *rhs)

    # symmetric=True made vecmat matvec and transpose_solve solve: JAX must know it too, as
    # its second derivatives perturb the matrix unsymmetrically.
    if vecmat == matvec and transpose_solve == solve:
        return jax.lax.custom_linear_solve(as_function(matvec), b, solver(solve),
                                           symmetric=True)
    return jax.lax.custom_linear_solve(as_function(matvec), b, solver(solve),
                                       solver(transpose_solve))


linear_solve_p = Primitive("linear_solve", _linear_solve_abstract_eval, _linear_solve_lower,
                           multiple_results=True)


def _linear_solve_jvp(primals, tangents, *, matvec, vecmat, solve, transpose_solve, n_consts):
    params = dict(matvec=matvec, vecmat=vecmat, solve=solve, transpose_solve=transpose_solve,
                  n_consts=n_consts)
    consts = primals[:n_consts]
    x = linear_solve_p.bind(*primals, **params)
    # A(θ) x = b  ⇒  A ẋ = ḃ − Ȧ x, where Ȧ x is matvec's JVP in the values it closes over.
    rhs = list(tangents[n_consts:])
    const_tangents = tangents[:n_consts]
    if any(type(t) is not Zero for t in const_tangents):
        x_tangents = [Zero(aval_of(v).update(weak_type=False)) for v in x]
        _, a_dot_x = jvp_eval(matvec, [*consts, *x], [*const_tangents, *x_tangents])
        rhs = [r if type(d) is Zero else (neg(d) if type(r) is Zero else sub(r, d))
               for r, d in zip(rhs, a_dot_x, strict=True)]
    if all(type(r) is Zero for r in rhs):
        return x, [Zero(aval_of(v)) for v in x]
    return x, linear_solve_p.bind(*consts, *map(instantiate, rhs), **params)


def _linear_solve_transpose(cts, *operands, matvec, vecmat, solve, transpose_solve, n_consts):
    consts = operands[:n_consts]
    if any(is_undefined(c) for c in consts):
        raise StructureError("linear_solve is linear in its right-hand side only")
    if transpose_solve is None:
        raise StructureError(at_user_line(
            "Reverse-mode differentiation (grad, vjp) of custom_linear_solve solves with the "
            "transposed matrix: pass transpose_solve=..., or symmetric=True when the matrix "
            "is symmetric."))
    cts_b = linear_solve_p.bind(*consts, *map(instantiate, cts), matvec=vecmat, vecmat=matvec,
                                solve=transpose_solve, transpose_solve=solve,
                                n_consts=n_consts)
    return [None] * n_consts + [c if is_undefined(b) else None
                                for c, b in zip(cts_b, operands[n_consts:], strict=True)]


def _linear_solve_batch(axis_size, values, dims, *, n_consts, **programs):
    # Every right-hand side and solution is batched: the matrix or b may vary per example.
    in_dims = [*dims[:n_consts], *[0] * (len(values) - n_consts)]
    values = [*values[:n_consts], *(_to_front(x, d, axis_size) for x, d in
                                    zip(values[n_consts:], dims[n_consts:]))]

    def batched(program):
        if program is None:
            return None
        return batch_program(program, in_dims, axis_size,
                             batch_first=[True] * len(program.outputs))[0]

    outs = linear_solve_p.bind(*values, n_consts=n_consts,
                               **{k: batched(p) for k, p in programs.items()})
    return outs, [0] * len(outs)


def _to_front(x, dim, axis_size):
    from fgrad.lax._batching import to_front
    return to_front(x, dim, axis_size)


jvp_rules.define(linear_solve_p, _linear_solve_jvp, lists=True)
transpose_rules.define(linear_solve_p, _linear_solve_transpose, lists=True)
batch_rules.define(linear_solve_p, _linear_solve_batch, lists=True)


def custom_linear_solve(matvec: Callable, b, solve: Callable,
                        transpose_solve: Callable | None = None, symmetric: bool = False,
                        has_aux: bool = False):
    """x with `matvec(x) == b`, computed by `solve(matvec, b)` and differentiated implicitly
    (JAX's `jax.lax.custom_linear_solve`): the derivative solves the same system again rather
    than differentiating `solve`. `matvec` must be linear; reverse mode needs
    `transpose_solve(vecmat, b)` (solving with the transposed map) or `symmetric=True`.
    With `has_aux`, solve returns (x, aux), and aux is returned undifferentiated."""
    for name, fn in (("matvec", matvec), ("solve", solve)):
        if not callable(fn):
            raise TypeError(at_user_line(
                f"custom_linear_solve's {name} must be a function, got {type(fn).__name__}."))
    if transpose_solve is not None and not callable(transpose_solve):
        raise TypeError(at_user_line(
            f"custom_linear_solve's transpose_solve must be a function or None, got "
            f"{type(transpose_solve).__name__}."))
    b_leaves, b_tree = tree_flatten(b)
    b_avals = [aval_of(x).update(weak_type=False) for x in b_leaves]
    for a in b_avals:
        if not is_differentiable(a):
            raise ShapeDtypeError(at_user_line(
                f"custom_linear_solve needs a floating-point right-hand side, got {a}."))
    flat = tree_flatten([0] * len(b_avals))[1]

    def as_tree(fn):
        return lambda *leaves: fn(tree_unflatten(b_tree, leaves))

    def checked(program: Program, what: str, fn) -> Program:
        if [(a.shape, a.dtype) for a in program.out_avals] != [
                (a.shape, a.dtype) for a in b_avals]:
            raise ShapeDtypeError(at_user_line(
                f"custom_linear_solve: {what} {_where(fn)} returns {_types(program.out_avals)} "
                f"for an argument of types {_types(b_avals)}; it must return b's shapes and "
                f"dtypes (the system must be square)."))
        return program

    matvec_prog, matvec_consts, tree = _trace(as_tree(matvec), flat, b_avals, "matvec")
    if tree != b_tree:
        raise StructureError(at_user_line(
            f"custom_linear_solve: matvec {_where(matvec)} returns the structure {tree}, but b "
            f"has {b_tree}."))
    checked(matvec_prog, "matvec", matvec)
    matvec_fn = _as_function(matvec_prog, matvec_consts, b_tree)
    aux_trees = []

    def solver(fn, linear_map):
        """fn's solution (then, with has_aux, the leaves of its aux) as flat outputs."""
        def run(*leaves):
            out = fn(linear_map, tree_unflatten(b_tree, leaves))
            extra = []
            if has_aux:
                if not (isinstance(out, (tuple, list)) and len(out) == 2):
                    raise StructureError(at_user_line(
                        f"custom_linear_solve with has_aux=True: {_where(fn)} must return a "
                        f"pair (solution, aux), got {type(out).__name__}."))
                out, aux = out
                leaves, aux_tree = tree_flatten(aux)
                # Arrays are outputs of the program; anything else (a string, a Python
                # number) passes through as it is.
                extra = [x for x in leaves if _is_array_like(x)]
                aux_trees[:] = [(aux_tree, [None if _is_array_like(x) else x for x in leaves])]
            out_leaves, tree = tree_flatten(out)
            if tree != b_tree:
                raise StructureError(at_user_line(
                    f"custom_linear_solve: {_where(fn)} returns the structure {tree}, but b "
                    f"has {b_tree}."))
            return out_leaves + extra
        return run

    n_b = len(b_avals)
    with_aux, solve_consts, _ = _trace(solver(solve, matvec_fn), flat, b_avals, "solve")
    solve_prog = _pruned(with_aux, [True] * n_b + [False] * (len(with_aux.outputs) - n_b))
    checked(solve_prog, "solve", solve)
    # vecmat: matvec transposed (it is linear in x), closing over the same values.
    vecmat_prog = transpose_program(matvec_prog, [False] * len(matvec_consts) + [True] * len(
        b_avals), instantiate=True)[0]
    traced = [(matvec_prog, matvec_consts), (solve_prog, solve_consts)]
    if symmetric:
        transpose_prog, t_consts = None, []
    elif transpose_solve is not None:
        vecmat_fn = _as_function(vecmat_prog, matvec_consts, b_tree)
        transpose_prog, t_consts, _ = _trace(solver(transpose_solve, vecmat_fn), flat, b_avals,
                                             "transpose_solve")
        transpose_prog = _pruned(transpose_prog, [True] * n_b + [False] * (
            len(transpose_prog.outputs) - n_b))  # its aux is not returned
        checked(transpose_prog, "transpose_solve", transpose_solve)
        traced.append((transpose_prog, t_consts))
    else:
        transpose_prog, t_consts = None, []
    consts, programs = _joined(traced)
    n_matvec = len(matvec_consts)
    # vecmat reads matvec's consts, which lead the joined consts.
    vecmat_prog = _with_consts(vecmat_prog, n_matvec, [aval_of(c) for c in consts])
    matvec_prog, solve_prog = programs[0], programs[1]
    if symmetric:
        transpose_prog = solve_prog
        vecmat_prog = matvec_prog
    elif transpose_solve is not None:
        transpose_prog = programs[2]
    outs = linear_solve_p.bind(*consts, *b_leaves, matvec=matvec_prog, vecmat=vecmat_prog,
                               solve=solve_prog, transpose_solve=transpose_prog,
                               n_consts=len(consts))
    x = tree_unflatten(b_tree, outs)
    if not has_aux:
        return x
    # aux is not differentiated: computed by solve again, from constants (under jit, XLA
    # computes the solve once if the two are the same computation).
    aux = eval_program(_pruned(with_aux, [False] * n_b + [True] * (len(with_aux.outputs) - n_b)),
                       *stop_gradient(list(solve_consts)), *stop_gradient(b_leaves))
    aux_tree, passed = aux_trees[0]
    aux = iter(aux)
    return x, tree_unflatten(aux_tree, [next(aux) if v is None else v for v in passed])


def _as_function(program: Program, consts, tree) -> Callable:
    """A program over (consts, leaves of `tree`) as a function of a pytree."""
    def fn(x):
        leaves, got = tree_flatten(x)
        if got != tree:
            raise StructureError(at_user_line(
                f"the linear map takes the structure {tree}, got {got}."))
        return tree_unflatten(tree, eval_program(program, *consts, *leaves))
    return fn


def _with_consts(program: Program, n_own: int, const_avals) -> Program:
    """`program`, whose first `n_own` inputs are the leading consts, taking all of them."""
    from fgrad.lax.control_flow import _with_inputs
    return _with_inputs(program, const_avals[n_own:], at=n_own)


# -- custom_root: x* with f(x*) = 0 -----------------------------------------------------------


def _call(f_prog: Program, tree, consts, x):
    leaves, got = tree_flatten(x)
    if got != tree:
        raise StructureError(at_user_line(
            f"custom_root: f takes the structure of initial_guess, {tree}, but was given {got}."))
    return tree_unflatten(tree, eval_program(f_prog, *consts, *leaves))


@partial(custom_jvp, nondiff_argnums=(0, 1, 2, 3, 4, 5, 6))
def _root(f_prog, solve_prog, tangent_solve, has_aux, tree, aux_tree, solve_consts, consts,
          initial_guess):
    outs = eval_program(solve_prog, *solve_consts, *consts, *tree_flatten(initial_guess)[0])
    n = tree.num_leaves
    solution = tree_unflatten(tree, outs[:n])
    return (solution, tree_unflatten(aux_tree, outs[n:])) if has_aux else solution


@_root.defjvp
def _root_jvp(f_prog, solve_prog, tangent_solve, has_aux, tree, aux_tree, solve_consts,
              primals, tangents):
    from fgrad.api import jvp
    consts, initial_guess = primals
    const_tangents, _ = tangents  # the solution does not depend on where the search starts
    out = _root(f_prog, solve_prog, tangent_solve, has_aux, tree, aux_tree, solve_consts,
                consts, initial_guess)
    solution = out[0] if has_aux else out
    # f(x*(θ), θ) = 0  ⇒  ∂ₓf·ẋ* = −∂_θf·θ̇: the right-hand side is f's JVP in θ at x*.
    _, rhs = jvp(lambda c: _call(f_prog, tree, c, solution), (consts,), (const_tangents,))

    def linearized(v):  # ∂ₓf at x*, a linear function
        return jvp(lambda x: _call(f_prog, tree, consts, x), (solution,), (v,))[1]

    dx = jax.tree_util.tree_map(neg, tangent_solve(linearized, rhs))
    if has_aux:  # aux is not differentiated
        aux_tangents = jax.tree_util.tree_map(
            lambda a: zeros(tangent_aval(aval_of(a)).update(weak_type=False)), out[1])
        return out, (dx, aux_tangents)
    return out, dx


def custom_root(f: Callable, initial_guess, solve: Callable, tangent_solve: Callable,
                has_aux: bool = False):
    """x* with `f(x*) = 0`, found by `solve(f, initial_guess)` and differentiated implicitly
    (JAX's `jax.lax.custom_root`): derivatives with respect to the values `f` closes over come
    from the implicit function theorem, `tangent_solve(g, y)` solving the linear system
    `g(x) = y` for g the linearization of f at x*. For a scalar, `lambda g, y: y / g(1.0)`.
    Reverse mode needs tangent_solve to be linear in y (division by `g(1.0)`, a triangular
    solve, a `custom_linear_solve`). `solve` is never differentiated: its loop may be a
    while_loop without max_steps, and the derivative is exact at convergence."""
    for name, fn in (("f", f), ("solve", solve), ("tangent_solve", tangent_solve)):
        if not callable(fn):
            raise TypeError(at_user_line(
                f"custom_root's {name} must be a function, got {type(fn).__name__}."))
    leaves, tree = tree_flatten(initial_guess)
    avals = [aval_of(x) for x in leaves]
    f_prog, consts, out_tree = _trace(lambda *xs: f(tree_unflatten(tree, xs)),
                                      tree_flatten([0] * len(avals))[1], avals, "custom_root")
    if out_tree != tree or not builtins.all(
            (a.shape, a.dtype) == (b.shape, b.dtype)
            for a, b in zip(f_prog.out_avals, avals)):
        raise ShapeDtypeError(at_user_line(
            f"custom_root: f {_where(f)} returns {_types(f_prog.out_avals)} (structure "
            f"{out_tree}) for an initial guess of types {_types(avals)} (structure {tree}): f "
            f"must map x to a residual of x's structure, shapes and dtypes."))
    n = len(consts)
    aux_trees = []

    def run_solve(*ins):
        f_at = lambda x: _call(f_prog, tree, ins[:n], x)  # noqa: E731
        out = solve(f_at, tree_unflatten(tree, ins[n:]))
        aux = None
        if has_aux:
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise StructureError(at_user_line(
                    f"custom_root with has_aux=True: solve {_where(solve)} must return a "
                    f"pair (solution, aux), got {type(out).__name__}."))
            out, aux = out
        sol, sol_tree = tree_flatten(out)
        if sol_tree != tree or [(aval_of(x).shape, aval_of(x).dtype) for x in sol] != [
                (a.shape, a.dtype) for a in avals]:
            raise ShapeDtypeError(at_user_line(
                f"custom_root: solve {_where(solve)} returns {sol_tree} of types "
                f"{_types([aval_of(x) for x in sol])}, but the initial guess is {tree} of "
                f"types {_types(avals)}: the solution must have the guess's structure and "
                f"types."))
        aux_leaves, aux_tree = tree_flatten(aux)
        aux_trees[:] = [aux_tree]
        return [_as_weak(x, a) for x, a in zip(sol, avals)] + aux_leaves

    # solve is never differentiated: the values it closes over are constants to the rule.
    solve_prog, solve_consts, _ = _trace(
        run_solve, tree_flatten([0] * (n + len(avals)))[1],
        [*(aval_of(c) for c in consts), *avals], "custom_root solve")
    return _root(f_prog, solve_prog, tangent_solve, bool(has_aux), tree, aux_trees[0],
                 list(solve_consts), list(consts), initial_guess)
