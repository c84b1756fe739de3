"""fgrad's public transformations, on Python functions of arrays and pytrees.

Each one flattens its arguments with `jax.tree_util`, traces the function into a program
(remembering the arguments' values, so Python control flow on them works outside jit),
transforms the program, and evaluates the result in the current trace: eagerly at top
level, or re-staged into an enclosing transform, which is how transforms nest.

    vjp     = transpose ∘ partial_eval ∘ jvp      (linearize once, transpose the linear part)
    grad    = vjp with a unit cotangent
    hessian = jacfwd ∘ jacrev
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, NamedTuple, Sequence

import jax
import numpy as np

from fgrad import lax
from fgrad.core import (
    Aval, Program, Tracer, Zero, aval_of, eval_program, has_tracers, is_differentiable,
    tangent_aval, trace_to_program,
)
from fgrad.core import dtypes as dt
from fgrad.core import evaluate as _evaluate
from fgrad.core.dtypes import float0
from fgrad.core.errors import ShapeDtypeError, StructureError, at_user_line
from fgrad.core.trace import EVAL_TRACE, StagingTrace, Trace, current_trace
from fgrad.xla import eager_executable, normalize_argnums, run_op_by_op
from fgrad.transforms.batch import batch_eval, to_axis
from fgrad.transforms.jvp import jvp_eval
from fgrad.transforms.linearize import linearize_eval, linearize_program
from fgrad.transforms.simplify import simplify
from fgrad.transforms.transpose import backward_pass, transpose_program


def make_ir(fun: Callable, static_argnums: int | Sequence[int] = ()) -> Callable[..., Program]:
    """Returns a function that traces `fun` on its arguments and returns the program.

    Arguments may be pytrees of arrays, Python scalars or `jax.ShapeDtypeStruct`s; only
    their shapes and dtypes matter, as with JAX's `make_jaxpr`: values are abstract, so
    Python control flow on them raises `ConcretizationError`. Arguments at
    `static_argnums` are passed to `fun` unchanged and are not inputs of the program.

    Args:
      fun: the function to trace, of pytrees of arrays (and keyword arguments, traced too).
      static_argnums: the position(s) of the arguments passed to `fun` as they are rather
        than traced (negative positions count from the end).

    Returns:
      a function with `fun`'s arguments that traces `fun` on them and returns the traced
        `Program`, whose inputs are the leaves of the non-static positional arguments, then
        of the keyword arguments, and whose outputs are the leaves of `fun`'s result.

    Examples:
      >>> import fgrad, fgrad.numpy as fnp
      >>> print(fgrad.make_ir(lambda x: fnp.sin(x) * 2.0)(1.0))
      { lambda ; a:f32[]. let
          b:f32[] = sin a
          c:f32[] = mul b 2.0:f32[]
        in (c,) }
    """
    _check_callable(fun, "make_ir")
    static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    @functools.wraps(fun)
    def make_ir_fun(*args, **kwargs) -> Program:
        static_positions = normalize_argnums(static, len(args), "static_argnums")
        dynamic = [a for i, a in enumerate(args) if i not in static_positions]
        flat, in_tree = jax.tree_util.tree_flatten((dynamic, kwargs))

        def flat_fun(*flat_tracers):
            dyn, kw = jax.tree_util.tree_unflatten(in_tree, flat_tracers)
            dyn = iter(dyn)
            full = [a if i in static_positions else next(dyn) for i, a in enumerate(args)]
            return fun(*full, **kw)

        program, _ = trace_to_program(flat_fun, flat, "make_ir")
        return program

    return make_ir_fun


# -- differentiation ---------------------------------------------------------------------------

tree_flatten = jax.tree_util.tree_flatten
tree_unflatten = jax.tree_util.tree_unflatten


class _Traced(NamedTuple):
    """A function traced on flat arguments: its program (outputs: the main output's leaves,
    then the traced leaves of aux), the main output's tree, the number of main output leaves,
    and aux's tree with its leaves (`_TRACED` for each leaf that is a program output)."""

    program: Program
    out_tree: Any
    aux_tree: Any
    n_out: int
    aux_leaves: tuple = ()


_TRACED = object()  # an aux leaf computed by the program (the others pass through as they are)


def _aux_value(aux_tree, aux_leaves, traced_values):
    """The aux pytree: traced leaves from `traced_values`, in order; the other leaves (a
    string, a Python number, an array from outside) as the function returned them, as in
    JAX."""
    values = iter(traced_values)
    return tree_unflatten(aux_tree, [next(values) if leaf is _TRACED else leaf
                                     for leaf in aux_leaves])


def _trace_flat(fun: Callable, flat_args: list, in_tree, name: str, has_aux: bool) -> _Traced:
    """Traces fun(*unflatten(flat_args)) with concrete values (define-by-run)."""
    trees = {}

    def flat_fun(*leaves):
        out = fun(*tree_unflatten(in_tree, leaves))
        if has_aux:
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise TypeError(at_user_line(
                    f"{name} with has_aux=True needs a function that returns a two-element "
                    f"tuple (output, auxiliary data), but it returned a "
                    f"{type(out).__name__}" + (f" of length {len(out)}"
                                               if isinstance(out, (tuple, list)) else "")
                    + "."))
            out, aux = out
        else:
            aux = None
        out_leaves, trees["out"] = tree_flatten(out)
        aux_leaves, trees["aux"] = tree_flatten(aux)
        trace = current_trace()
        traced = [isinstance(leaf, Tracer) and leaf._trace is trace for leaf in aux_leaves]
        trees["aux_leaves"] = tuple(_TRACED if t else leaf
                                    for leaf, t in zip(aux_leaves, traced, strict=True))
        trees["n_out"] = len(out_leaves)
        return out_leaves + [leaf for leaf, t in zip(aux_leaves, traced, strict=True) if t]

    program, _ = trace_to_program(flat_fun, flat_args, name, concrete=True)
    return _Traced(program, trees["out"], trees["aux"], trees["n_out"], trees["aux_leaves"])


def _zeros_for(aval: Aval):
    """A materialised zero tangent/cotangent for a value of type `aval` (float0 for ints)."""
    if not is_differentiable(aval):
        return np.zeros(aval.shape, float0)
    return lax.full(aval.shape, 0, aval.dtype, weak_type=aval.weak_type)


def _instantiate(t, aval: Aval):
    return _zeros_for(aval) if isinstance(t, Zero) else t


def _as_array(x):
    """A result handed back to the user as an array: a Python or NumPy scalar that passed
    through a program unchanged (a literal) becomes an array of its type, as in JAX."""
    if isinstance(x, (Tracer, jax.Array, jax.core.Tracer)) or (
            isinstance(x, np.ndarray) and x.dtype == float0):
        return x
    aval = aval_of(x)
    return lax.convert_element_type(x, aval.dtype, weak_type=aval.weak_type)


def _cast_like(x, aval: Aval):
    """x with `aval`'s dtype and weak type: JAX gives each Jacobian block the type of the
    output (jacfwd) or the input (jacrev) it belongs to, whatever types the basis and the
    linear map produced on the way."""
    got = aval_of(x)
    if got.dtype == aval.dtype and got.weak_type == aval.weak_type:
        return x
    return lax.convert_element_type(x, aval.dtype, weak_type=aval.weak_type)


def _as_arrays(values):
    return [_as_array(v) for v in values]


def _jvp_flat(fun, flat_primals, in_tree, flat_tangents, name: str, has_aux=False):
    """fun's program traced at the flat primals, its outputs and their tangents (Zero where
    an output does not depend on a moving input), after checking each tangent's type."""
    tangents_in = []
    for i, (p, t) in enumerate(zip(flat_primals, flat_tangents, strict=True)):
        p_aval, t_aval = aval_of(p), aval_of(t)
        expected = tangent_aval(p_aval)
        if t_aval.shape != p_aval.shape or t_aval.dtype != expected.dtype:
            raise ShapeDtypeError(at_user_line(
                f"{name}: tangent {i} has type {t_aval.dtype.name}{list(t_aval.shape)}, but "
                f"its primal of type {p_aval.dtype.name}{list(p_aval.shape)} needs a tangent "
                f"of type {np.dtype(expected.dtype).name}{list(expected.shape)}."))
        tangents_in.append(t if is_differentiable(p_aval) else Zero(expected))
    traced = _trace_flat(fun, flat_primals, in_tree, name, has_aux)
    outs, out_tangents = jvp_eval(traced.program, flat_primals, tangents_in)
    return traced, outs, out_tangents


def jvp(fun: Callable, primals, tangents, has_aux: bool = False):
    """Forward mode: `(fun(*primals), J·tangents)`, with `J` fun's Jacobian at `primals`.

    `primals` and `tangents` are tuples (or lists) of pytrees of the same structure; each
    tangent has its primal's shape and dtype (float0 for integer primals).

    Args:
      fun: the function to differentiate, of `len(primals)` positional arguments.
      primals (tuple | list): the arguments to evaluate `fun` at, one pytree per argument.
      tangents (tuple | list): the input tangents, with the structure of `primals`.
      has_aux: whether `fun` returns a pair `(output, aux)`, of which only `output` is
        differentiated.

    Returns:
      primals_out (Any): `fun(*primals)` (its `output` with `has_aux`).
      tangents_out (Any): the output tangent `J·tangents`, with the structure of
        `primals_out` (zeros where the output does not depend on the inputs).
      aux (Any): only with `has_aux=True`, the auxiliary data `fun` returned.

    Raises:
      TypeError: `primals` or `tangents` is not a tuple or list, or `fun` does not return a
        pair with `has_aux=True`.
      StructureError: `tangents` and `primals` have different tree structures.
      ShapeDtypeError: a tangent's shape or dtype does not match its primal's.

    Examples:
      >>> import fgrad, fgrad.numpy as fnp
      >>> fgrad.jvp(fnp.sin, (0.0,), (2.0,))
      (Array(0., dtype=float32, weak_type=True), Array(2., dtype=float32, weak_type=True))
    """
    _check_callable(fun, "jvp", "fgrad.jvp(f, primals, tangents)")
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(at_user_line(
            f"jvp takes its primal and tangent arguments as tuples or lists, got "
            f"{type(primals).__name__} and {type(tangents).__name__}. For one argument write "
            f"jvp(f, (x,), (t,))."))
    flat_primals, in_tree = tree_flatten(tuple(primals))
    flat_tangents, tangent_tree = tree_flatten(tuple(tangents))
    if in_tree != tangent_tree:
        raise StructureError(at_user_line(
            f"jvp needs tangents with the same tree structure as the primals: primals are "
            f"{in_tree}, tangents are {tangent_tree}."))
    traced, outs, out_tangents = _jvp_flat(fun, flat_primals, in_tree, flat_tangents, "jvp",
                                           has_aux)
    program, out_tree, n_out = traced.program, traced.out_tree, traced.n_out
    outs = _as_arrays(outs)
    out_tangents = _as_arrays(
        [_instantiate(t, a.aval) for t, a in zip(out_tangents, program.outputs, strict=True)])
    primal_out = tree_unflatten(out_tree, outs[:n_out])
    tangent_out = tree_unflatten(out_tree, out_tangents[:n_out])
    if has_aux:
        return primal_out, tangent_out, _aux_value(traced.aux_tree, traced.aux_leaves,
                                                   outs[n_out:])
    return primal_out, tangent_out


class _Linearized:
    """The linear part of a function at a point, as a program over tangents
    (`transforms.linearize`), with the primal outputs and the residuals computed."""

    def __init__(self, traced: _Traced, flat_primals):
        program, self.out_tree, aux_tree, n_out, aux_leaves = traced
        self.in_avals = [aval_of(p) for p in flat_primals]
        self.out_avals = [a.aval for a in program.outputs[:n_out]]
        self.diff_in = [is_differentiable(a) for a in self.in_avals]
        self.staged = isinstance(current_trace(), StagingTrace)
        n_all = len(program.outputs)
        if _evaluate.nan_checker is None:
            # One pass: the primal part runs (or is staged) now. The linear program's consts
            # are the residuals: they become its leading inputs. Aux is never differentiated.
            values, linear, self.out_linear = linearize_eval(program, flat_primals,
                                                             self.diff_in, n_out)
            self.residuals, self.n_res = list(linear.constvals), len(linear.constvals)
            linear = linear.consts_as_inputs()
        else:  # the NaN checks test the known program's equations one by one (eval_program)
            lin = linearize_program(program, self.diff_in, n_out)
            values = eval_program(lin.known, *flat_primals)
            linear, self.out_linear, self.n_res = lin.linear, lin.out_linear, lin.n_residuals
            self.residuals = _as_arrays(values[n_all:])
        values = _as_arrays(values[:n_all])
        # Simplified once because it runs once per tangent or cotangent; not when staging
        # into another fgrad trace, whose own end (fgrad.jit) simplifies the whole program.
        self.linear = linear if self.staged else simplify(linear)
        self.primal_out = values[:n_out]
        self.aux = _aux_value(aux_tree, aux_leaves, values[n_out:n_all])
        self._transposed: dict = {}  # weak types of the cotangents -> program, nonzero

    def tangents(self, flat_tangents, batch: int | None = None):
        """Output tangents for input tangents (all of them, including non-differentiable).
        With `batch`, every tangent has a leading axis of that size: the linear program is
        batched (vmap) rather than run once per tangent."""
        ts = [t for t, d in zip(flat_tangents, self.diff_in, strict=True) if d]
        outs = iter(_run(self.linear, self.residuals, ts, batch))
        return _as_arrays([next(outs) if lin else _zeros_for(_batched(tangent_aval(a), batch))
                           for lin, a in zip(self.out_linear, self.out_avals, strict=True)])

    def cotangents(self, flat_cts, batch: int | None = None):
        """Input cotangents (zeros where none flows) for output cotangents; with `batch`,
        for a leading axis of cotangents at once."""
        cts = [ct for ct, lin in zip(flat_cts, self.out_linear, strict=True) if lin]
        linear = [False] * self.n_res + [True] * sum(self.diff_in)
        if self.staged and batch is None:
            # Staging, the transpose is recorded straight into the enclosing program rather
            # than built as a program of its own and then copied there.
            args = [*self.residuals, *[None] * sum(self.diff_in)]
            by_diff = iter([None if type(c) is Zero else c for c, is_linear in zip(
                backward_pass(self.linear, linear, args, cts), linear, strict=True)
                if is_linear])
        else:
            # One transposed program per pattern of weak cotangents: the zeros and constants
            # the transpose rules build take the cotangent's type (as JAX's do), so a strong
            # cotangent for a weak output gives strong input cotangents.
            weak = tuple(aval_of(ct).weak_type for ct in cts)
            if weak not in self._transposed:
                ct_avals = [a.aval.update(weak_type=w) for a, w in
                            zip(self.linear.outputs, weak, strict=True)]
                transposed, nonzero = transpose_program(self.linear, linear, ct_avals)
                self._transposed[weak] = (transposed if self.staged else simplify(transposed),
                                          nonzero)
            program, nonzero = self._transposed[weak]
            outs = iter(_run(program, self.residuals, cts, batch))
            by_diff = iter([next(outs) if nz else None for nz in nonzero])
        return _as_arrays([_instantiate_ct(next(by_diff), _batched(a, batch)) if d
                           else _zeros_for(_batched(a, batch))
                           for d, a in zip(self.diff_in, self.in_avals, strict=True)])


def _batched(aval: Aval, batch: int | None) -> Aval:
    return aval if batch is None else aval.update(shape=(batch, *aval.shape))


def _run(program, fixed, varying, batch):
    """Evaluates `program` on fixed arguments then varying ones; with `batch`, the varying
    ones carry a leading batch axis and the outputs come back with one too."""
    if batch is None:
        return eval_program(program, *fixed, *varying)
    outs, dims = batch_eval(program, [*fixed, *varying],
                            [None] * len(fixed) + [0] * len(varying), batch)
    return [to_axis(x, d, 0, batch) for x, d in zip(outs, dims, strict=True)]


def _instantiate_ct(ct, aval: Aval):
    return _zeros_for(aval) if ct is None else ct


def linearize(fun: Callable, *primals):
    """`(fun(*primals), f_jvp)`, where `f_jvp(*tangents)` applies the linear map at `primals`.

    The primal computation runs once, now; each call of `f_jvp` runs only the linear part.

    Args:
      fun: the function to linearize.
      *primals (Any): the positional arguments to evaluate `fun` at, each a pytree.

    Returns:
      primals_out (Any): `fun(*primals)`.
      f_jvp (Callable): the linear map: `f_jvp(*tangents)`, with one tangent per primal (the
        structure of `primals`, else `StructureError`), returns the output tangent with the
        structure of `primals_out`.
    """
    _check_callable(fun, "linearize", "fgrad.linearize(f, *primals)")
    flat_primals, in_tree = tree_flatten(primals)
    lin = _Linearized(_trace_flat(fun, flat_primals, in_tree, "linearize", False), flat_primals)

    def f_jvp(*tangents):
        flat_tangents, tree = tree_flatten(tangents)
        if tree != in_tree:
            raise StructureError(at_user_line(
                f"The linearized function takes tangents with the primals' structure "
                f"{in_tree}, got {tree}."))
        return tree_unflatten(lin.out_tree, lin.tangents(flat_tangents))

    return tree_unflatten(lin.out_tree, lin.primal_out), f_jvp


def vjp(fun: Callable, *primals, has_aux: bool = False):
    """Reverse mode: `(fun(*primals), pullback)`; `pullback(ct)` returns `ctᵀ·J` per input.

    The pullback may be called any number of times (PyTorch's `retain_graph=True` is the
    default), and checks that its cotangent has the output's structure, shapes and dtypes.

    Args:
      fun: the function to differentiate.
      *primals (Any): the positional arguments to evaluate `fun` at, each a pytree.
      has_aux: whether `fun` returns a pair `(output, aux)`, of which only `output` is
        differentiated.

    Returns:
      primals_out (Any): `fun(*primals)` (its `output` with `has_aux`).
      pullback (Callable): `pullback(ct)` takes a cotangent with the structure, shapes and
        dtypes of `primals_out` (float0 for integer outputs) and returns a tuple with one
        cotangent per primal, each with its primal's structure. It raises `StructureError`
        or `ShapeDtypeError` for a cotangent that does not match.
      aux (Any): only with `has_aux=True`, the auxiliary data `fun` returned.
    """
    _check_callable(fun, "vjp", "fgrad.vjp(f, *primals)")
    flat_primals, in_tree = tree_flatten(primals)
    lin = _Linearized(_trace_flat(fun, flat_primals, in_tree, "vjp", has_aux), flat_primals)
    out_tree, out_avals = lin.out_tree, lin.out_avals

    def pullback(ct):
        flat_cts, ct_tree = tree_flatten(ct)
        if ct_tree != out_tree:
            alike = "" if str(ct_tree) != str(out_tree) else (
                " They print alike, so a node's class differs: a namedtuple or dataclass of "
                "the same name from another module (jax.numpy's SlogdetResult for "
                "fgrad.numpy's, say). Build the cotangent from the output itself, e.g. with "
                "jax.tree_util.tree_map over it.")
            raise StructureError(at_user_line(
                f"The vjp pullback takes a cotangent with the structure of the function's "
                f"output, {out_tree}, but got {ct_tree}.{alike}"))
        for i, (c, a) in enumerate(zip(flat_cts, out_avals, strict=True)):
            c_aval = aval_of(c)
            expected = tangent_aval(a)
            if c_aval.shape != a.shape or c_aval.dtype != expected.dtype:
                raise ShapeDtypeError(at_user_line(
                    f"The vjp pullback expected a cotangent of type "
                    f"{np.dtype(expected.dtype).name}{list(a.shape)} for output {i}, but got "
                    f"{c_aval.dtype.name}{list(c_aval.shape)}."))
        return tree_unflatten(in_tree, lin.cotangents(flat_cts))

    primal_out = tree_unflatten(out_tree, lin.primal_out)
    if has_aux:
        return primal_out, pullback, lin.aux
    return primal_out, pullback


def _check_callable(fun, name: str, usage: str = "") -> None:
    if not callable(fun):
        usage = usage or f"fgrad.{name}(f)(x), not fgrad.{name}(f(x))"
        raise TypeError(at_user_line(
            f"{name} needs a function to transform, got a {type(fun).__name__} ({fun!r:.60}). "
            f"Write {usage}."))


def _argnums_tuple(argnums) -> tuple[int, ...]:
    try:
        as_tuple = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    except TypeError:  # not iterable (argnums=1.0): refused below with the other mistakes
        as_tuple = ()
    if not as_tuple or not all(isinstance(i, int) for i in as_tuple):
        raise TypeError(at_user_line(
            f"argnums must be an int or a non-empty tuple of ints, got {argnums!r}."))
    return as_tuple


def _restrict(fun, args, kwargs, argnums, holomorphic, allow_int, name):
    """`fun` as a function of the arguments at `argnums` only (the others fixed), and those
    arguments, after checking that they exist and can be differentiated.

    Inside the traced function the other arguments' JAX arrays are values of the trace, as
    differentiated ones are: their methods, operators and indexing are fgrad's, so
    `y.at[0].set(x)` or `y[fnp.argmax(x)]` work when only x is differentiated (under JAX's grad
    they work because y is a JAX array and x a JAX tracer). NumPy arrays stay NumPy arrays,
    as they do in JAX.
    """
    nargs = len(args)
    for i in argnums:
        if not -nargs <= i < nargs:
            raise TypeError(at_user_line(
                f"argnums contains {i}, but the function was called with {nargs} "
                f"positional argument(s)."))
    positions = [i % nargs for i in argnums]
    if len(set(positions)) != len(positions):
        raise TypeError(at_user_line(
            f"argnums {tuple(argnums)} names an argument twice; name each argument once."))
    _check_grad_inputs(fun, args, positions, holomorphic, allow_int, name)

    def restricted(*diff_args):
        trace = current_trace()
        full = list(args)
        for i, a in enumerate(args):
            if i not in positions:
                full[i] = _captured(a, trace)
        for p, a in zip(positions, diff_args, strict=True):
            full[p] = a
        return fun(*full, **(_captured(kwargs, trace) if kwargs else kwargs))

    return restricted, tuple(args[p] for p in positions)


def _captured(tree, trace: Trace):
    """`tree` with its JAX arrays made values of `trace` (see `_restrict`)."""
    return jax.tree_util.tree_map(
        lambda leaf: trace.capture(leaf) if isinstance(leaf, jax.Array) else leaf, tree)


def _check_jacobian_dtypes(avals, holomorphic, name, what, real_allowed):
    """JAX's rule for jacfwd's inputs and outputs and jacrev's outputs: complex ones only
    with holomorphic=True, and then only complex ones (jacfwd's outputs may be complex
    without it, as they may in JAX)."""
    for aval in avals:
        if holomorphic and not dt.is_complex(aval.dtype):
            raise TypeError(at_user_line(
                f"{name} with holomorphic=True needs complex {what}s, but one has dtype "
                f"{aval.dtype.name}."))
        if not holomorphic and not real_allowed(aval.dtype):
            raise TypeError(at_user_line(
                f"{name} needs real {what}s (a floating-point dtype), but one has dtype "
                f"{aval.dtype.name}. For a holomorphic function pass holomorphic=True; "
                f"otherwise use fgrad.{'jvp' if name == 'jacfwd' else 'vjp'}."))


def _leaf_name(fun, args, i: int, k: int) -> str:
    """Where leaf k of fun's positional argument i is, for messages: `argument i` for the
    argument itself, `model.layers[1].activation` for a leaf inside it (the parameter's name
    when the signature tells it). Only errors need it, so paths are not built otherwise."""
    path = jax.tree_util.tree_flatten_with_path(args[i])[0][k][0]
    if not path:
        return f"argument {i}"
    try:
        params = list(inspect.signature(fun).parameters.values())
        param = params[i] if i < len(params) and params[i].kind in (
            params[i].POSITIONAL_ONLY, params[i].POSITIONAL_OR_KEYWORD) else None
    except (TypeError, ValueError):
        param = None
    return (param.name if param else f"argument {i}") + jax.tree_util.keystr(path)


def _check_grad_inputs(fun, args, argnums, holomorphic, allow_int, name):
    filtered = name in ("grad", "value_and_grad")
    for i in argnums:
        leaves, tree = jax.tree_util.tree_flatten(args[i])
        for k, leaf in enumerate(leaves):
            try:
                dtype = aval_of(leaf).dtype
            except TypeError:
                instead = (f"fgrad.filter_{name}, which differentiates the floating-point "
                           f"arrays and passes everything else through" if filtered else
                           "eqx.partition(x, fgrad.is_inexact_array) to split the arrays "
                           "off and differentiate those")
                raise TypeError(at_user_line(
                    f"{name} differentiates every leaf of its arguments, and "
                    f"{_leaf_name(fun, args, i, k)} is a {type(leaf).__name__}, not an "
                    f"array. Use {instead}, or mark the field static "
                    f"(eqx.field(static=True)).")) from None
            if holomorphic and not dt.is_complex(dtype):
                raise TypeError(at_user_line(
                    f"{name} with holomorphic=True needs complex inputs, but argument {i} "
                    f"has dtype {dtype.name}."))
            if not dt.is_inexact(dtype) and not allow_int:
                in_tree = not jax.tree_util.treedef_is_leaf(tree)
                leaf_in_tree = (f" fgrad.filter_{name} differentiates only the floating-point "
                                f"arrays of a pytree." if in_tree and filtered else "")
                raise TypeError(at_user_line(
                    f"{name} requires real- or complex-valued inputs (floating-point or "
                    f"complex dtypes), but {_leaf_name(fun, args, i, k)} has dtype "
                    f"{dtype.name}. Convert it to a float, leave it out of argnums, or pass "
                    f"allow_int=True for float0 zeros.{leaf_in_tree}"))


def _check_scalar_output(traced: _Traced, holomorphic, name) -> Aval:
    avals = [a.aval for a in traced.program.outputs[:traced.n_out]]
    if len(avals) != 1 or avals[0].shape != ():
        shape = avals[0].shape if len(avals) == 1 else f"{len(avals)} leaves"
        raise TypeError(at_user_line(
            f"Gradient only defined for scalar-output functions. Output had shape: {shape}. "
            f"Sum the output (f(x).sum()) for the gradient of the sum, or use fgrad.vjp or "
            f"fgrad.jacrev for the derivatives of every output."))
    dtype = avals[0].dtype
    if holomorphic and not dt.is_complex(dtype):
        raise TypeError(at_user_line(
            f"{name} with holomorphic=True needs a complex output, but the output has dtype "
            f"{dtype.name}. A real function of complex inputs is differentiated without it."))
    if dt.is_complex(dtype) and not holomorphic:
        raise TypeError(at_user_line(
            f"{name} requires real-valued outputs, but the output has dtype {dtype.name}. "
            f"For a holomorphic function pass holomorphic=True; otherwise use fgrad.vjp."))
    if not dt.is_inexact(dtype):
        raise TypeError(at_user_line(
            f"{name} requires a floating-point output, but the output has dtype {dtype.name}, "
            f"which has no gradient. Return a float (x.astype(float)) if the value is "
            f"differentiable; for an integer output use fgrad.vjp, whose cotangents are "
            f"float0."))
    return avals[0]


def value_and_grad(fun: Callable, argnums=0, has_aux: bool = False, holomorphic: bool = False,
                   allow_int: bool = False) -> Callable:
    """Like `grad`, but the returned function gives `(value, gradient)`.

    Args:
      fun: the function to differentiate, returning a real floating-point scalar (a complex
        one with `holomorphic=True`), or a pair `(scalar, aux)` with `has_aux`.
      argnums (int | Sequence[int]): the position of the positional argument to
        differentiate with respect to, or a tuple of positions (negative ones count from
        the end). Every leaf of those arguments must be an array or a scalar.
      has_aux: whether `fun` returns a pair `(output, aux)`, of which only `output` is
        differentiated.
      holomorphic: whether `fun` is holomorphic: its inputs and output are then complex.
      allow_int: whether integer (and boolean) arguments at `argnums` are allowed; their
        gradients are float0 zeros.

    Returns:
      a function with `fun`'s arguments that returns `(value, gradient)`: `value` is
        `fun`'s output (`(output, aux)` with `has_aux`), `gradient` as `grad` gives it.

    Raises:
      TypeError: `fun` is not callable or `argnums` is not an int or a non-empty tuple of
        ints; when the returned function is called, an argument at `argnums` is missing or
        not differentiable, or the output is not a scalar of a suitable dtype.
    """
    _check_callable(fun, "value_and_grad")
    argnums_t = _argnums_tuple(argnums)

    def value_and_grad_fun(*args, **kwargs):
        restricted, diff_args = _restrict(fun, args, kwargs, argnums_t, holomorphic,
                                          allow_int, "grad")
        flat, in_tree = tree_flatten(diff_args)
        traced = _trace_flat(restricted, flat, in_tree, "grad", has_aux)
        ct = _ones_like(_check_scalar_output(traced, holomorphic, "grad"))
        n_out, n_all = traced.n_out, len(traced.program.outputs)
        key = _structure_key(traced, flat)
        compiled = None if key is None else eager_executable(key)
        if compiled is not None:
            outs = compiled(*traced.program.constvals, *flat)
            aux = _aux_value(traced.aux_tree, traced.aux_leaves, outs[n_out:n_all])
        else:
            def op_by_op():
                lin = _Linearized(traced, flat)
                return lin.aux, lin.primal_out + [None] * (n_all - n_out) + lin.cotangents([ct])

            aux, outs = run_op_by_op(key, len(traced.program.eqns), op_by_op,
                                     lambda: _grad_program(traced, ct), "grad")
        value = tree_unflatten(traced.out_tree, outs[:n_out])
        grads = tree_unflatten(in_tree, outs[n_all:])
        grads = grads[0] if isinstance(argnums, int) else tuple(grads)
        if has_aux:
            return (value, aux), grads
        return value, grads

    return value_and_grad_fun


def _ones_like(aval: Aval):
    if aval.weak_type and aval.dtype == dt.default_float():
        return 1.0  # a weak literal, like the output
    return aval.dtype.type(1)  # a NumPy scalar, so a literal (a 0-d array would be a const)


# -- eager gradients of programs seen before: one compiled call (xla.run_op_by_op) ------------


def _structure_key(traced: _Traced, flat: list):
    """What identifies this call's value-and-gradient program, or None when it must run op
    by op (inside a transformation, or an input that is not differentiable)."""
    program = traced.program
    if (current_trace() is not EVAL_TRACE or has_tracers(flat)
            or has_tracers(program.constvals)
            or not all(is_differentiable(v.aval) for v in program.inputs)):
        return None
    return (program.key, traced.n_out)


def _grad_program(traced: _Traced, ct) -> Program:
    """The program `(*consts, *inputs) -> (*outputs, *aux, *gradients)`, simplified."""
    program = traced.program
    open_program = program.consts_as_inputs()
    n_consts = len(program.constvars)

    def value_and_grads(*leaves):
        consts, primals = leaves[:n_consts], list(leaves[n_consts:])
        inner = _trace_flat(lambda *p: eval_program(open_program, *consts, *p), primals,
                            tree_flatten(primals)[1], "grad", False)
        n_aux = len(program.outputs) - traced.n_out  # the traced leaves of aux
        lin = _Linearized(inner._replace(n_out=traced.n_out,
                                         aux_tree=tree_flatten([0] * n_aux)[1],
                                         aux_leaves=(_TRACED,) * n_aux), primals)
        return lin.primal_out + lin.aux + lin.cotangents([ct])

    avals = [v.aval for v in open_program.inputs]
    args = [jax.ShapeDtypeStruct(a.shape, a.dtype, weak_type=a.weak_type) for a in avals]
    fused, _ = trace_to_program(value_and_grads, args, "grad")
    return simplify(fused)


def grad(fun: Callable, argnums=0, has_aux: bool = False, holomorphic: bool = False,
         allow_int: bool = False) -> Callable:
    """The gradient of a scalar-valued `fun` with respect to the arguments at `argnums`.

    Args:
      fun: the function to differentiate, returning a real floating-point scalar (a complex
        one with `holomorphic=True`), or a pair `(scalar, aux)` with `has_aux`.
      argnums (int | Sequence[int]): the position of the positional argument to
        differentiate with respect to, or a tuple of positions (negative ones count from
        the end). Every leaf of those arguments must be an array or a scalar.
      has_aux: whether `fun` returns a pair `(output, aux)`, of which only `output` is
        differentiated.
      holomorphic: whether `fun` is holomorphic: its inputs and output are then complex.
      allow_int: whether integer (and boolean) arguments at `argnums` are allowed; their
        gradients are float0 zeros.

    Returns:
      a function with `fun`'s arguments that returns the gradient: with the structure of the
        argument at `argnums` for an int, a tuple of them for a tuple of positions; with
        `has_aux`, the pair `(gradient, aux)`.

    Raises:
      TypeError: `fun` is not callable or `argnums` is not an int or a non-empty tuple of
        ints; when the returned function is called, an argument at `argnums` is missing or
        not differentiable, or the output is not a scalar of a suitable dtype.

    Examples:
      >>> import fgrad, fgrad.numpy as fnp
      >>> fgrad.grad(lambda x: x ** 3)(2.0)
      Array(12., dtype=float32, weak_type=True)
    """
    _check_callable(fun, "grad")
    vg = value_and_grad(fun, argnums, has_aux, holomorphic, allow_int)

    def grad_fun(*args, **kwargs):
        out = vg(*args, **kwargs)
        return (out[1], out[0][1]) if has_aux else out[1]

    return grad_fun


# -- Jacobians: the linear map batched over a standard basis -------------------------------------


def _basis(avals):
    """The standard basis of the space of all `avals` together, one leading-axis-batched
    array per aval (column block k of the identity, shaped like the aval), and the offsets
    of each aval's block."""
    sizes = [a.size for a in avals]
    offsets = np.cumsum([0, *sizes])
    total = int(offsets[-1])
    # Built from iotas, not np.eye: under a jit an n×n constant would be written into the
    # XLA program, and compiling it costs more than the Hessian (n = 1024: 8 MB of text).
    return [_identity_columns(total, a, int(lo)) for a, lo in zip(avals, offsets)], offsets


def _identity_columns(n: int, aval: Aval, first: int):
    """Columns first .. first + aval.size of the n×n identity, each shaped like `aval`:
    entry (i, j) is 1 where i == first + j."""
    shape = (n, aval.size)
    rows = lax.broadcasted_iota(np.int32, shape, 0)
    cols = lax.add(lax.broadcasted_iota(np.int32, shape, 1), lax.full(shape, first, np.int32))
    ones = lax.convert_element_type(lax.eq(rows, cols), aval.dtype)
    return lax.reshape(ones, (n, *aval.shape))


def jacfwd(fun: Callable, argnums=0, has_aux: bool = False, holomorphic: bool = False
           ) -> Callable:
    """The Jacobian by forward mode: the JVP batched (vmap) over the input basis. Shaped
    like JAX's: for each output leaf and input leaf, `out.shape + in.shape`.

    Args:
      fun: the function to differentiate, of real floating-point arguments at `argnums`
        (complex ones with `holomorphic=True`).
      argnums (int | Sequence[int]): the position of the positional argument to
        differentiate with respect to, or a tuple of positions (negative ones count from
        the end). Every leaf of those arguments must be an array or a scalar.
      has_aux: whether `fun` returns a pair `(output, aux)`, of which only `output` is
        differentiated.
      holomorphic: whether `fun` is holomorphic: its inputs and outputs are then complex.

    Returns:
      a function with `fun`'s arguments that returns the Jacobian: a pytree with the
        structure of `fun`'s output whose leaves have the structure of the argument at
        `argnums` (a tuple of them for a tuple of positions), each block of shape
        `out.shape + in.shape` and the output's dtype; with `has_aux`, `(jacobian, aux)`.
    """
    _check_callable(fun, "jacfwd")
    argnums_t = _argnums_tuple(argnums)

    def jac_fun(*args, **kwargs):
        restricted, diff_args = _restrict(fun, args, kwargs, argnums_t, holomorphic, False,
                                          "jacfwd")
        flat_in, in_tree = tree_flatten(diff_args)
        lin = _Linearized(_trace_flat(restricted, flat_in, in_tree, "jacfwd", has_aux), flat_in)
        _check_jacobian_dtypes(lin.in_avals, holomorphic, "jacfwd", "input", dt.is_float)
        _check_jacobian_dtypes(lin.out_avals, holomorphic, "jacfwd", "output", lambda d: True)
        basis, offsets = _basis(lin.in_avals)
        columns = lin.tangents(basis, batch=int(offsets[-1]))  # each: (n_in, *out.shape)
        blocks = [[_cast_like(_batch_axis_last(col[lo:hi]).reshape(
                       tuple(out.shape) + tuple(a.shape)), out)
                   for a, lo, hi in zip(lin.in_avals, offsets, offsets[1:])]
                  for col, out in zip(columns, lin.out_avals, strict=True)]
        return _assemble(lin, blocks, in_tree, isinstance(argnums, int), has_aux)

    return jac_fun


def _batch_axis_last(x):
    return x.transpose((*range(1, x.ndim), 0))


def jacrev(fun: Callable, argnums=0, has_aux: bool = False, holomorphic: bool = False,
           allow_int: bool = False) -> Callable:
    """The Jacobian by reverse mode: the pullback batched (vmap) over the output basis;
    shaped like JAX's.

    Args:
      fun: the function to differentiate, with real floating-point outputs (complex ones
        with `holomorphic=True`).
      argnums (int | Sequence[int]): the position of the positional argument to
        differentiate with respect to, or a tuple of positions (negative ones count from
        the end). Every leaf of those arguments must be an array or a scalar.
      has_aux: whether `fun` returns a pair `(output, aux)`, of which only `output` is
        differentiated.
      holomorphic: whether `fun` is holomorphic: its inputs and outputs are then complex.
      allow_int: whether integer (and boolean) arguments at `argnums` are allowed; their
        Jacobian blocks are float0 zeros.

    Returns:
      a function with `fun`'s arguments that returns the Jacobian: a pytree with the
        structure of `fun`'s output whose leaves have the structure of the argument at
        `argnums` (a tuple of them for a tuple of positions), each block of shape
        `out.shape + in.shape` and the input's dtype; with `has_aux`, `(jacobian, aux)`.
    """
    _check_callable(fun, "jacrev")
    argnums_t = _argnums_tuple(argnums)

    def jac_fun(*args, **kwargs):
        restricted, diff_args = _restrict(fun, args, kwargs, argnums_t, holomorphic,
                                          allow_int, "jacrev")
        flat_in, in_tree = tree_flatten(diff_args)
        lin = _Linearized(_trace_flat(restricted, flat_in, in_tree, "jacrev", has_aux), flat_in)
        _check_jacobian_dtypes(lin.out_avals, holomorphic, "jacrev", "output", dt.is_float)
        basis, offsets = _basis(lin.out_avals)
        rows = lin.cotangents(basis, batch=int(offsets[-1]))  # each: (n_out, *in.shape)
        blocks = [[_cast_like(row[lo:hi].reshape(tuple(out.shape) + tuple(a.shape)), a)
                   for row, a in zip(rows, lin.in_avals, strict=True)]
                  for out, lo, hi in zip(lin.out_avals, offsets, offsets[1:])]
        return _assemble(lin, blocks, in_tree, isinstance(argnums, int), has_aux)

    return jac_fun


def _assemble(lin, blocks, in_tree, single_argnum, has_aux):
    """Jacobian blocks [out leaf][in leaf] → the output pytree of input pytrees."""
    per_output = []
    for row in blocks:
        tree = tree_unflatten(in_tree, row)
        per_output.append(tree[0] if single_argnum else tree)
    jac = tree_unflatten(lin.out_tree, per_output)
    return (jac, lin.aux) if has_aux else jac


def hessian(fun: Callable, argnums=0, has_aux: bool = False, holomorphic: bool = False
            ) -> Callable:
    """The Hessian, forward-over-reverse: `jacfwd(jacrev(fun))`.

    Args:
      fun: the function to differentiate twice, usually returning a scalar.
      argnums (int | Sequence[int]): the position of the positional argument to
        differentiate with respect to, or a tuple of positions (negative ones count from
        the end). Every leaf of those arguments must be an array or a scalar.
      has_aux: whether `fun` returns a pair `(output, aux)`, of which only `output` is
        differentiated.
      holomorphic: whether `fun` is holomorphic: its inputs and outputs are then complex.

    Returns:
      a function with `fun`'s arguments that returns `jacfwd(jacrev(fun, argnums),
        argnums)` at them: for a scalar `fun` of one array `x`, an array of shape
        `x.shape + x.shape`; with `has_aux`, `(hessian, aux)`.
    """
    return jacfwd(jacrev(fun, argnums, has_aux=has_aux, holomorphic=holomorphic), argnums,
                  has_aux=has_aux, holomorphic=holomorphic)


def hvp(fun: Callable, primals, tangents):
    """The Hessian-vector product H·v of a scalar `fun`, forward-over-reverse, without
    forming H: `jvp(grad(fun), primals, tangents)[1]`.

    Args:
      fun: a function of `len(primals)` arguments returning a real floating-point scalar.
      primals (tuple | list): the point, one pytree per argument of `fun`.
      tangents (tuple | list): the vector `v`, with the structure of `primals`.

    Returns:
      (Any): `H·v`, with the structure of the single primal, or a tuple with one entry per
        primal when there are several.
    """
    _check_callable(fun, "hvp", "fgrad.hvp(f, primals, tangents)")
    argnums = 0 if len(primals) == 1 else tuple(range(len(primals)))
    return jvp(grad(fun, argnums=argnums), tuple(primals), tuple(tangents))[1]




# -- vmap ---------------------------------------------------------------------------------------


def _flatten_axes(what: str, tree, axes) -> list:
    """One axis per leaf of `tree`, from `axes`, a pytree prefix of it (None is a leaf)."""
    proxy = tree_unflatten(tree, [0] * tree.num_leaves)
    flat: list = []
    try:
        jax.tree_util.tree_map(
            lambda ax, sub: flat.extend([ax] * len(jax.tree_util.tree_leaves(sub))),
            axes, proxy, is_leaf=lambda x: x is None)
    except (ValueError, TypeError) as e:
        raise ValueError(at_user_line(
            f"vmap {what} must be an int, None, or a pytree prefix of the structure it "
            f"applies to ({tree}); got {axes!r}.")) from e
    for ax in flat:
        if ax is not None and not isinstance(ax, int):
            raise TypeError(at_user_line(
                f"vmap {what} entries must be ints or None, got {ax!r}."))
    return flat


def vmap(fun: Callable, in_axes=0, out_axes=0, axis_size: int | None = None) -> Callable:
    """Vectorizes `fun` over an axis of its arguments, as one batched program (no loop).

    `in_axes` and `out_axes` follow JAX: an int (negative counts from the end), None (not
    mapped), or a pytree prefix of the arguments / outputs. `axis_size` is needed only when
    no argument is mapped.

    Args:
      fun: the function to vectorize, of positional arguments only.
      in_axes (int | None | tuple): the mapped axis of each argument: an int, None, or a
        pytree prefix of the tuple of positional arguments made of those (a list is taken
        as a tuple).
      out_axes (int | None | tuple): where the mapped axis goes in each output: an int,
        None (only for outputs that do not depend on the mapped axis), or a pytree prefix
        of the output made of those.
      axis_size: the size of the mapped axis; it must agree with the mapped arguments'.

    Returns:
      a function with `fun`'s positional arguments that returns `fun`'s output for every
        index along the mapped axes, stacked along `out_axes`.

    Raises:
      ValueError: when the returned function is called, an axis is out of range, `in_axes`
        or `out_axes` is not a prefix of what it applies to, the mapped axes' sizes differ
        (or differ from `axis_size`), or no argument is mapped and `axis_size` is None.

    Examples:
      >>> import fgrad, fgrad.numpy as fnp
      >>> fgrad.vmap(lambda x, y: x @ y, in_axes=(0, None))(fnp.ones((3, 2)), fnp.ones(2))
      Array([2., 2., 2.], dtype=float32)
    """
    _check_callable(fun, "vmap")
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)

    def batched(*args):
        flat, in_tree = tree_flatten(args)
        axes = _flatten_axes("in_axes", in_tree, in_axes)
        paths = [jax.tree_util.keystr(p)
                 for p, _ in jax.tree_util.tree_flatten_with_path(args)[0]]
        dims, sizes = [], {}
        for x, ax, path in zip(flat, axes, paths, strict=True):
            if ax is None:
                dims.append(None)
                continue
            ndim = aval_of(x).ndim
            if not -ndim <= ax < ndim:
                raise ValueError(at_user_line(
                    f"vmap in_axes {ax} is out of range for argument {path} of rank {ndim}."))
            dims.append(ax % ndim)
            sizes[path] = aval_of(x).shape[ax % ndim]
        if len(set(sizes.values())) > 1:
            listed = ", ".join(f"args{p} has size {n}" for p, n in sizes.items())
            raise ValueError(at_user_line(
                f"vmap got inconsistent sizes for array axes to be mapped: {listed}."))
        if sizes:
            size = next(iter(sizes.values()))
            if axis_size is not None and axis_size != size:
                raise ValueError(at_user_line(
                    f"vmap axis_size={axis_size} disagrees with the mapped axes' size {size}."))
        elif axis_size is None:
            raise ValueError(at_user_line(
                "vmap needs axis_size when no argument is mapped (all in_axes are None)."))
        else:
            size = axis_size
        examples = [jax.ShapeDtypeStruct(_drop(aval_of(x).shape, d), aval_of(x).dtype,
                                         weak_type=aval_of(x).weak_type)
                    for x, d in zip(flat, dims, strict=True)]
        program, out_tree = trace_to_program(
            lambda *leaves: fun(*tree_unflatten(in_tree, leaves)), examples, "vmap")
        outs, out_dims = batch_eval(program, flat, dims, size)
        flat_out_axes = _flatten_axes("out_axes", out_tree, out_axes)
        results = [_to_out_axis(_as_array(x), d, ax, size)
                   for x, d, ax in zip(outs, out_dims, flat_out_axes, strict=True)]
        return tree_unflatten(out_tree, results)

    return batched


def _drop(shape, dim):
    return shape if dim is None else shape[:dim] + shape[dim + 1:]


def _to_out_axis(x, dim, out_axis, size):
    if out_axis is None:
        if dim is not None:
            raise ValueError(at_user_line(
                "vmap out_axes is None for an output that depends on the mapped axis; "
                "give it an axis to map it over."))
        return x
    ndim = aval_of(x).ndim + (1 if dim is None else 0)
    if not -ndim <= out_axis < ndim:
        raise ValueError(at_user_line(
            f"vmap out_axes {out_axis} is out of range for an output of rank {ndim} "
            f"(with its mapped axis)."))
    return to_axis(x, dim, out_axis % ndim, size)
