"""What reverse mode keeps from the forward pass, and pictures of gradients.

`fgrad.grad` linearizes a function (`transforms/linearize.py`: jvp, then partial evaluation
with the tangents unknown) into a *forward* (known) program, which computes the outputs and
the *residuals*, and a *linear* program, whose transpose is the *backward* pass. The
residuals are exactly what the backward pass keeps alive from the forward pass, together with
the constants the backward program reads. `saved_residuals` runs that same split (never JAX's
autodiff) and lists them; `grad_picture` draws the split.

    >>> import fgrad, fgrad.numpy as fnp
    >>> from fgrad.debug.residuals import saved_residuals
    >>> len(saved_residuals(lambda x: fnp.sum(fnp.sin(x)))(fnp.ones(3)))
    1
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import jax
import numpy as np

from fgrad.core import Program, Var, aval_of, is_differentiable
from fgrad.core.errors import Source, at_user_line
from fgrad.core.ir import Aval, is_key
from fgrad.core.pictures import gradient_to_dot
from fgrad.transforms.linearize import linearize_program
from fgrad.transforms.simplify import simplify
from fgrad.transforms.transpose import transpose_program


class Residual(NamedTuple):
    """One value the backward pass keeps from the forward pass.

    - `aval`: its type (`shape`, `dtype` and `nbytes` follow from it).
    - `kind`: 'input' (an argument being differentiated, kept as it is), 'const' (a value
      the function closed over, or a non-differentiated argument), or 'computed' (an
      equation's output).
    - `primitive`: the name of the primitive that computed it, or 'input' / 'const'. A value
      computed inside a `scan` or `checkpoint` body names the primitive in the body, with the
      enclosing primitives in `within` (a scan's residuals are stacked along its steps).
    - `source`: the user's line (`fgrad.core.errors.Source`, `str` gives file:line) that
      computed it; for a const, the line that reads it; None for an input.
    - `argument`: for an input, or a const that is an argument, where it sits in the
      arguments (`"x"`-style: `argument 0`, `argument 1['w']`); otherwise None.
    """

    aval: Aval
    kind: str
    primitive: str
    source: Source | None
    within: tuple[str, ...] = ()
    argument: str | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.aval.shape

    @property
    def dtype(self):
        return self.aval.dtype

    @property
    def nbytes(self) -> int:
        return _nbytes(self.aval)

    @property
    def where(self) -> str:
        """file:line with the file's base name, the argument, or ''."""
        if self.kind == "input" or (self.kind == "const" and self.argument is not None):
            return self.argument or ""
        return self.source.short if self.source is not None else ""

    @property
    def produced_by(self) -> str:
        return " in ".join([self.primitive, *reversed(self.within)])


def _nbytes(aval: Aval) -> int:
    dtype = aval.dtype
    if is_key(dtype):
        itemsize = int(getattr(dtype, "itemsize", 0))
    else:
        itemsize = np.dtype(dtype).itemsize
    return aval.size * itemsize


class SavedResiduals:
    """The list of values a reverse-mode derivative keeps from the forward pass: iterate it,
    index it, `len()` it; `total_bytes` sums their sizes; `str()` is a table."""

    def __init__(self, residuals: Sequence[Residual]):
        self.residuals = tuple(residuals)

    def __iter__(self):
        return iter(self.residuals)

    def __len__(self) -> int:
        return len(self.residuals)

    def __getitem__(self, i):
        return self.residuals[i]

    @property
    def total_bytes(self) -> int:
        return sum(r.nbytes for r in self.residuals)

    def __str__(self) -> str:
        head = ("#", "type", "bytes", "produced by", "where")
        rows = [(str(i), str(r.aval), str(r.nbytes), r.produced_by, r.where)
                for i, r in enumerate(self.residuals)]
        widths = [max(len(row[k]) for row in [head, *rows]) for k in range(len(head))]
        right = {0, 2}

        def line(row):
            return "  ".join(c.rjust(w) if k in right else c.ljust(w)
                             for k, (c, w) in enumerate(zip(row, widths))).rstrip()

        n = len(self.residuals)
        total = (f"total: {self.total_bytes} bytes in {n} value{'s' if n != 1 else ''}")
        return "\n".join([line(head), *map(line, rows), total])

    def __repr__(self) -> str:
        return (f"SavedResiduals({len(self)} values, {self.total_bytes} bytes: "
                f"{', '.join(f'{r.aval} {r.produced_by}' for r in self.residuals)})")


# -- the split grad uses ---------------------------------------------------------------------------


class _Split(NamedTuple):
    program: Program          # the traced function: differentiated leaves -> output leaves
    linearization: Any        # transforms.linearize.Linearization
    arg_labels: list          # per program input, where it sits in the arguments
    const_labels: dict        # const Var -> argument label, for consts that are arguments
    n_out: int


def _labels(tree_of_args, positions) -> list[str]:
    """A label per leaf of `tree_of_args` (a tuple of the arguments at `positions`)."""
    labels = []
    for p, arg in zip(positions, tree_of_args, strict=True):
        paths, _ = jax.tree_util.tree_flatten_with_path(arg)
        labels += [f"argument {p}{jax.tree_util.keystr(path)}" for path, _ in paths]
    return labels


def _split(fun: Callable, argnums, has_aux: bool, name: str, args, kwargs) -> _Split:
    from fgrad import api  # fgrad.api imports the transforms; the debug tools sit above it

    argnums_t = api._argnums_tuple(argnums)
    restricted, diff_args = api._restrict(fun, args, kwargs, argnums_t, False, True, name)
    flat, in_tree = api.tree_flatten(diff_args)
    traced = api._trace_flat(restricted, flat, in_tree, name, has_aux)
    program = traced.program
    differentiable = [is_differentiable(aval_of(x)) for x in flat]
    lin = linearize_program(program, differentiable, traced.n_out)
    positions = [i % len(args) for i in argnums_t]
    arg_labels = _labels(diff_args, positions)
    # Non-differentiated arguments the function read are consts of the program, held by
    # identity (fgrad captures JAX arrays; NumPy arrays are closed over as they are).
    others = [(i, a) for i, a in enumerate(args) if i not in positions]
    by_id = {}
    for i, a in others:
        paths, _ = jax.tree_util.tree_flatten_with_path(a)
        for path, leaf in paths:
            by_id.setdefault(id(leaf), f"argument {i}{jax.tree_util.keystr(path)}")
    const_labels = {v: by_id[id(c)] for v, c in zip(program.constvars, program.constvals)
                    if id(c) in by_id}
    return _Split(program, lin, arg_labels, const_labels, traced.n_out)


def _producers(program: Program) -> dict:
    return {v: eqn for eqn in program.eqns for v in eqn.outputs}


def _origin(var: Var, program: Program, within=()) -> tuple[str, Source | None, tuple]:
    """The primitive that computed `var` in `program`, its source and the primitives around
    it: a value computed by a call-like equation (one sub-program with one output per
    output of the equation: a scan's body, a checkpoint) is followed into the body."""
    eqn = _producers(program).get(var)
    if eqn is None:
        return "input", None, within
    from fgrad.core.ir import sub_programs
    subs = sub_programs(eqn.params)
    if len(subs) == 1 and len(subs[0].outputs) == len(eqn.outputs):
        inner = subs[0].outputs[eqn.outputs.index(var)]
        if isinstance(inner, Var) and inner in _producers(subs[0]):
            return _origin(inner, subs[0], (*within, eqn.primitive.name))
    return eqn.primitive.name, eqn.source, within


def _first_reader(var: Var, *programs: Program) -> Source | None:
    for program in programs:
        for eqn in program.eqns:
            if var in eqn.inputs and eqn.source is not None:
                return eqn.source
    return None


def _residuals(split: _Split) -> list[Residual]:
    known, linear, n_res = (split.linearization.known, split.linearization.linear,
                            split.linearization.n_residuals)
    n_all = len(known.outputs) - n_res
    inputs = dict(zip(known.inputs, split.arg_labels, strict=True))
    consts = {v: c for v, c in zip(known.constvars, known.constvals)}
    found = []
    for r in known.outputs[n_all:]:
        if r in inputs:
            found.append(Residual(r.aval, "input", "input", None, argument=inputs[r]))
        elif r in consts:  # partial evaluation does not pass consts as residuals; in case
            found.append(Residual(r.aval, "const", "const", None))
        else:
            prim, source, within = _origin(r, known)
            found.append(Residual(r.aval, "computed", prim, source, within))
    # The consts the backward program reads are kept alive by it too.
    program_consts = dict(zip(split.program.constvars, split.program.constvals))
    labels_by_value = {id(c): split.const_labels[v] for v, c in program_consts.items()
                       if v in split.const_labels}
    for v, value in zip(linear.constvars, linear.constvals):
        found.append(Residual(v.aval, "const", "const", _first_reader(v, linear),
                              argument=labels_by_value.get(id(value))))
    return found


def saved_residuals(fun: Callable, argnums: int | Sequence[int] = 0,
                    has_aux: bool = False) -> Callable[..., SavedResiduals]:
    """Returns a function of `fun`'s arguments that lists what the reverse pass of
    `fgrad.grad(fun, argnums)` (or `vjp`) keeps from the forward pass: each value's type,
    size, the primitive that produced it (or 'input' / 'const') and the user's line.

    It linearizes `fun` the way `grad` does (jvp, then partial evaluation), so checkpoint
    policies (`fgrad.checkpoint(..., policy=...)`) show: a checkpointed function keeps only
    its inputs and what its policy saves. `fun` need not return a scalar.
    """
    if not callable(fun):
        raise TypeError(at_user_line(
            f"saved_residuals needs a function, got a {type(fun).__name__}. Write "
            f"saved_residuals(f)(x), not saved_residuals(f(x))."))

    def residuals_of(*args, **kwargs) -> SavedResiduals:
        return SavedResiduals(_residuals(_split(fun, argnums, has_aux, "saved_residuals",
                                                args, kwargs)))

    return residuals_of


def print_saved_residuals(fun: Callable, *args, argnums=0, **kwargs) -> None:
    """Prints the table of `saved_residuals(fun, argnums)(*args, **kwargs)`."""
    print(saved_residuals(fun, argnums)(*args, **kwargs))


def gradient_parts(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False):
    """Returns a function of `fun`'s arguments giving `(forward, backward, n_residuals)`, the
    programs reverse mode runs: `forward` maps the differentiated inputs to the outputs and
    then the residuals, `backward` maps the residuals and the output cotangents to the input
    cotangents (the transposed linear program, simplified as `grad` simplifies it)."""

    def parts(*args, **kwargs):
        split = _split(fun, argnums, has_aux, "grad_picture", args, kwargs)
        lin = split.linearization
        forward = Program(lin.known.constvars, lin.known.constvals, lin.known.inputs,
                          lin.known.eqns, [*lin.known.outputs[:split.n_out],
                                           *lin.known.outputs[len(lin.known.outputs)
                                                              - lin.n_residuals:]])
        differentiable = [is_differentiable(v.aval) for v in split.program.inputs]
        backward, nonzero = transpose_program(
            simplify(lin.linear), [False] * lin.n_residuals + [True] * sum(differentiable),
            [v.aval for v in lin.linear.outputs])
        return forward, simplify(backward), lin.n_residuals, nonzero, split

    return parts


def grad_picture(fun: Callable, argnums: int | Sequence[int] = 0,
                 has_aux: bool = False) -> Callable[..., str]:
    """Returns a function of `fun`'s arguments giving a DOT picture of its gradient: the
    forward equations, the residuals and the backward equations in colours of their own
    (`fgrad.core.pictures.COLOURS`). Render it with `fgrad.core.pictures.render(dot, path)`
    (Graphviz) or any DOT viewer."""
    if not callable(fun):
        raise TypeError(at_user_line(
            f"grad_picture needs a function, got a {type(fun).__name__}. Write "
            f"grad_picture(f)(x), not grad_picture(f(x))."))

    def picture(*args, **kwargs) -> str:
        forward, backward, n_res, nonzero, split = gradient_parts(fun, argnums, has_aux)(
            *args, **kwargs)
        differentiable = [is_differentiable(v.aval) for v in split.program.inputs]
        diff_labels = [label for label, d in zip(split.arg_labels, differentiable) if d]
        labels = [f"gradient of {label}" for label, nz in zip(diff_labels, nonzero) if nz]
        name = getattr(fun, "__name__", type(fun).__name__)
        return gradient_to_dot(forward, backward, n_res, title=f"gradient of {name}",
                               output_labels=labels)

    return picture
