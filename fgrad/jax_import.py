"""`from_jax(fun)`: a function written with JAX, imported as an fgrad function.

fgrad cannot trace into JAX code (its tracer is not a JAX type), but JAX can describe its own
code: `jax.make_jaxpr` turns `fun` into a jaxpr, a program of JAX primitives. This module is
a program-to-program translator. For each argument signature it traces `fun` once with
`jax.make_jaxpr` and replays the jaxpr in an fgrad staging trace, binding for each JAX
equation the fgrad primitive of the same meaning; the resulting fgrad `Program` is cached and
evaluated on the caller's (possibly traced) values. From then on the code is fgrad's: its
derivatives, batching and compilation are fgrad's own rules, and no JAX transformation runs.

Most JAX primitives have an fgrad twin with the same name and parameters (`_bind_same`).
The others are translated one by one (`_RULES`): calls (`pjit`, `closed_call`, remat) are
inlined; `cond`, `scan` and `while` become fgrad's control flow with translated bodies; a
`custom_jvp_call` becomes an `fgrad.custom_jvp` whose rule is the jaxpr of JAX's JVP of it
(so the rule the JAX author wrote, jax.nn.relu's for example, is the one fgrad uses); a
`custom_vjp_call` becomes an `fgrad.custom_vjp` whose fwd and bwd are the jaxprs of JAX's
forward pass and pullback. Those jaxprs are taken once, when the signature is translated.

This is the only module of fgrad that calls `jax.make_jaxpr`; it uses JAX's public API only
(`jax.make_jaxpr`, `jax.extend.core` and the attributes of the jaxprs it returns).
"""

from __future__ import annotations

import functools
import inspect
from typing import Callable

import jax
import jax.extend.core
import numpy as np
from jax.extend.core import ClosedJaxpr, Jaxpr, Literal

from fgrad.core import MissingRuleError, Primitive, aval_of, eval_program, staging
from fgrad.core.dtypes import convert_weak, is_inexact
from fgrad.core.errors import Source, _is_user_file, at_user_line
from fgrad.core.resources import LRUCache, register_cache
from fgrad.core.trace import current_trace
from fgrad.filtered import is_array
from fgrad.lax import primitives

tree_flatten, tree_unflatten = jax.tree_util.tree_flatten, jax.tree_util.tree_unflatten


def from_jax(fun: Callable) -> Callable:
    """`fun`, written with jax.numpy / jax.nn / jax.lax, as a function fgrad's transformations
    differentiate, batch and compile with their own rules.

    Array leaves of the arguments (and Python numbers, weakly typed as under jax.jit) are the
    inputs; other leaves (an activation function inside an Equinox module) are static.

    Args:
      fun: a function of pytrees written with JAX (jax.numpy, jax.nn, jax.lax, jax.scipy,
        custom_jvp/custom_vjp functions, equinox modules' calls).

    Returns:
      A function with `fun`'s arguments and results. On each new argument signature it traces
      `fun` once with `jax.make_jaxpr` and translates the jaxpr into an fgrad program (cached),
      then evaluates that program on its arguments, which may be fgrad's traced values.

    Raises:
      MissingRuleError: the jaxpr uses JAX primitives fgrad has no counterpart for; the message
        lists all of them with their source lines.

    Examples:
      >>> import jax, fgrad
      >>> softplus = fgrad.from_jax(jax.nn.softplus)
      >>> float(fgrad.grad(softplus)(0.0))
      0.5
    """
    @functools.wraps(fun)
    def imported(*args, **kwargs):
        leaves, tree = tree_flatten((args, kwargs))
        dynamic = [_is_input(x) for x in leaves]
        inputs = [x for x, d in zip(leaves, dynamic) if d]
        avals = tuple(aval_of(x) for x in inputs)
        statics = tuple(x for x, d in zip(leaves, dynamic) if not d)
        key = (fun, tree, tuple(dynamic), avals, statics)
        try:
            translated = _PROGRAMS.get(key)
        except TypeError:  # an unhashable static leaf: translate every call
            key, translated = None, None
        if translated is None:
            translated = _translate(fun, tree, dynamic, statics, avals)
            if key is not None:
                _PROGRAMS.put(key, translated)
        program, out_tree = translated
        return tree_unflatten(out_tree, eval_program(program, *inputs))

    return imported


_PROGRAMS = register_cache(
    "from_jax_programs", LRUCache(256),
    holds="the fgrad program translated from the jaxpr of one fgrad.from_jax function, with "
          "its output tree",
    key="(the JAX function, argument tree, which leaves are arrays, their avals, the static "
        "leaves)",
    why="one per imported function and argument signature; a miss costs a jax.make_jaxpr and "
        "a translation")


def _is_input(x) -> bool:
    return is_array(x) or type(x) in (bool, int, float, complex)


def _translate(fun, tree, dynamic, statics, avals):
    """Traces `fun` with JAX on abstract arguments and replays its jaxpr in fgrad."""
    def flat_fun(*inputs):
        inputs, static = iter(inputs), iter(statics)
        leaves = [next(inputs) if d else next(static) for d in dynamic]
        args, kwargs = tree_unflatten(tree, leaves)
        return fun(*args, **kwargs)

    specs = [jax.ShapeDtypeStruct(a.shape, a.dtype, weak_type=a.weak_type) for a in avals]
    closed, out_shapes = jax.make_jaxpr(flat_fun, return_shape=True)(*specs)
    _check_supported(closed.jaxpr)
    with staging("from_jax") as trace:
        ins = [trace.new_input(a) for a in avals]
        outs = _eval_closed(closed, ins)
        program = trace.to_program(outs)
    return program, jax.tree_util.tree_structure(out_shapes)


# -- evaluating a jaxpr by binding fgrad's primitives ----------------------------------------


def _eval_closed(closed: ClosedJaxpr, args) -> list:
    return _eval_jaxpr(closed.jaxpr, closed.consts, args)


def _eval_jaxpr(jaxpr: Jaxpr, consts, args) -> list:
    env = {}

    def read(atom):
        return _literal(atom) if isinstance(atom, Literal) else env[atom]

    env.update(zip(jaxpr.constvars, consts, strict=True))
    env.update(zip(jaxpr.invars, args, strict=True))
    for eqn in jaxpr.eqns:
        rule = _RULES[eqn.primitive.name][0] if eqn.primitive.name in _RULES else _bind_same
        outs = rule(eqn, *[read(a) for a in eqn.invars])
        env.update(zip(eqn.outvars, outs, strict=True))
    return [read(v) for v in jaxpr.outvars]


def _literal(lit: Literal):
    """A literal as an fgrad operand of exactly its type, weak flag included: fgrad's binary
    primitives need their operands' dtypes equal, as JAX's do at the jaxpr level.

    A Python number when that is its type (a weak float64 under x64), else a NumPy scalar
    when strong: both stay literals of fgrad's programs. Only a weak literal of another
    dtype (2.0 in float32 code) needs a JAX array, converted as JAX itself does.
    """
    aval, value = lit.aval, np.asarray(lit.val)
    if not aval.weak_type:
        return value.astype(aval.dtype)
    python = value.item()
    if aval_of(python).dtype == aval.dtype:
        return python
    return convert_weak(value, aval.dtype, True)


@functools.cache
def _fgrad_primitives() -> dict:
    return {p.name: p for p in primitives()}


register_cache(
    "from_jax_primitive_table", _fgrad_primitives,
    holds="fgrad's primitives by name (one dict)", key="nothing",
    why="unbounded: one entry, the finite set of primitives fixed when fgrad is imported")


# JAX parameters with no counterpart in fgrad, dropped: the placement of results on devices
# (fgrad's jit leaves it to JAX) and the combiner of scatters (implied by the primitive).
_DROPPED = {"sharding", "out_sharding", "update_jaxpr", "update_consts"}


@functools.cache
def _accepted(prim) -> frozenset | None:
    """The keyword parameters of an fgrad primitive (None: any)."""
    params = inspect.signature(prim.abstract_eval).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return frozenset(p.name for p in params if p.kind is p.KEYWORD_ONLY)


register_cache(
    "from_jax_primitive_params", _accepted,
    holds="the keyword parameters an fgrad primitive takes", key="an fgrad primitive",
    why="unbounded: one entry per primitive, a finite set fixed when fgrad is imported")


def _bind_same(eqn, *args, name=None, **renamed):
    """Binds the fgrad primitive named as JAX's (or `name`) with JAX's parameters."""
    prim = _fgrad_primitives()[name or eqn.primitive.name]
    if prim in _ELEMENTWISE and len(args) > 1:
        args = _broadcast(args, eqn.outvars[0].aval.shape)
    params = {k: _plain(v) for k, v in {**eqn.params, **renamed}.items() if k not in _DROPPED}
    accepted = _accepted(prim)
    if accepted is not None:
        # A parameter fgrad's primitive lacks is dropped when it is None (JAX's default: its
        # feature unused, as `mul`'s out_dtype); one set to a value is refused, not dropped.
        unknown = {k for k, v in params.items() if k not in accepted and v is not None}
        if unknown:
            raise MissingRuleError(at_user_line(
                f"fgrad.from_jax: JAX's {eqn.primitive.name} has parameters "
                f"{sorted(unknown)} that fgrad's {prim.name} does not take.", _source(eqn)))
        params = {k: v for k, v in params.items() if k in accepted}
    outs = current_trace().process(prim, args, params, _source(eqn))
    return outs


def _plain(value):
    """NumPy integers inside a parameter (jnp.linalg.inv's broadcast_dimensions and gather
    dimension numbers hold np.int64) as Python ints, which fgrad's shape rules require."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, tuple):
        items = [_plain(v) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    return value


def _elementwise() -> set:
    from fgrad.lax import elementwise
    return {p for p in vars(elementwise).values() if isinstance(p, Primitive)}


def _broadcast(args, shape):
    """JAX's elementwise primitives take a scalar or size-1 axes among full operands (its
    jaxprs show `mul a:f32[3] 2.0:f32[]`, `select_n p:bool[] a:f32[3] b:f32[3]`); fgrad's do
    not broadcast, so it is made explicit."""
    from fgrad.lax import broadcast_in_dim
    out = []
    for x in args:
        aval = aval_of(x)
        if aval.shape != tuple(shape):
            x = broadcast_in_dim(x, shape, tuple(range(len(shape) - aval.ndim, len(shape))))
        out.append(x)
    return out


def _source(eqn) -> Source | None:
    """The user's line that made `eqn`, read from the traceback JAX recorded for it."""
    traceback = eqn.source_info.traceback
    for frame in traceback.frames if traceback is not None else ():
        if _is_user_file(frame.file_name):
            return Source(frame.file_name, frame.line_num, frame.function_name)
    return None


_ELEMENTWISE = _elementwise()

# -- the primitives that do not map one to one -------------------------------------------------


def _inline(param: str):
    """A call of a sub-jaxpr (pjit, closed_call, checkpoint): its equations, in place."""
    def rule(eqn, *args):
        sub = eqn.params[param]
        return _eval_closed(sub, args) if isinstance(sub, ClosedJaxpr) else \
            _eval_jaxpr(sub, (), args)
    return rule


def _as_function(closed: ClosedJaxpr) -> Callable:
    return lambda *args: _eval_closed(closed, args)


def _cond(eqn, index, *operands):
    from fgrad.lax import switch
    return switch(index, [_as_function(b) for b in eqn.params["branches"]], *operands)


def _scan(eqn, *args):
    from fgrad.lax import scan
    p = eqn.params
    consts, carry, xs = (list(args[:p["num_consts"]]),
                         list(args[p["num_consts"]:p["num_consts"] + p["num_carry"]]),
                         list(args[p["num_consts"] + p["num_carry"]:]))

    def body(carry, x):
        outs = _eval_closed(p["jaxpr"], [*consts, *carry, *x])
        return outs[:p["num_carry"]], outs[p["num_carry"]:]

    carry, ys = scan(body, carry, xs, length=p["length"], reverse=p["reverse"])
    return [*carry, *ys]


def _while(eqn, *args):
    from fgrad.lax import while_loop
    p = eqn.params
    n_cond, n_body = p["cond_nconsts"], p["body_nconsts"]
    cond_consts, body_consts, init = args[:n_cond], args[n_cond:n_cond + n_body], \
        args[n_cond + n_body:]
    return while_loop(lambda c: _eval_closed(p["cond_jaxpr"], [*cond_consts, *c])[0],
                      lambda c: _eval_closed(p["body_jaxpr"], [*body_consts, *c]),
                      list(init))


def _rebound(eqn) -> Callable:
    """JAX's own function of `eqn`'s operands computing `eqn` (a jaxpr of that equation
    alone), to ask JAX for its derivative rules. Literal operands stay in the equation."""
    variables = list(dict.fromkeys(a for a in eqn.invars if not isinstance(a, Literal)))
    first = [eqn.invars.index(v) for v in variables]
    debug = jax.extend.core.DebugInfo("fgrad.from_jax", eqn.primitive.name, None, None)
    one_eqn = jax.extend.core.jaxpr_as_fun(
        ClosedJaxpr(Jaxpr([], variables, eqn.outvars, [eqn], eqn.effects, debug), []))
    return lambda *args: one_eqn(*[args[i] for i in first])


def _specs(values) -> list:
    return [jax.ShapeDtypeStruct(a.shape, a.dtype, weak_type=a.weak_type)
            for a in map(aval_of, values)]


def _custom_jvp(eqn, *args):
    """An fgrad.custom_jvp whose rule is the jaxpr of JAX's JVP of the call: JAX evaluates
    the author's rule while tracing it, so the derivative fgrad uses is the author's."""
    import fgrad
    diff = [is_inexact(aval_of(a).dtype) for a in args]

    def jax_jvp(primals, tangents):
        def of_diff(*xs):  # the call as a function of its differentiable operands only
            xs = iter(xs)
            return _rebound(eqn)(*[next(xs) if d else p for p, d in zip(primals, diff)])
        return jax.jvp(of_diff, [p for p, d in zip(primals, diff) if d], tangents)

    diff_specs = [s for s, d in zip(_specs(args), diff) if d]
    jvp_jaxpr = jax.make_jaxpr(jax_jvp)(_specs(args), diff_specs)
    n_out = len(eqn.outvars)

    @fgrad.custom_jvp
    def call(*xs):
        return _eval_closed(eqn.params["call_jaxpr"], xs)

    @call.defjvp
    def rule(primals, tangents):
        ts = [t for t, d in zip(tangents, diff) if d]
        outs = _eval_closed(jvp_jaxpr, [*primals, *ts])
        return outs[:n_out], outs[n_out:]

    return call(*args)


def _custom_vjp(eqn, *args):
    """An fgrad.custom_vjp whose fwd and bwd are the jaxprs of JAX's forward pass (with its
    pullback's residuals as outputs) and of its pullback, which runs the author's bwd."""
    import fgrad
    diff = [is_inexact(aval_of(a).dtype) for a in args]
    holder = {}

    def jax_fwd(*primals):
        def of_diff(*xs):
            xs = iter(xs)
            return _rebound(eqn)(*[next(xs) if d else p for p, d in zip(primals, diff)])
        out, pullback = jax.vjp(of_diff, *[p for p, d in zip(primals, diff) if d])
        residuals, holder["tree"] = tree_flatten(pullback)
        return out, residuals

    fwd_jaxpr, (out_shapes, res_shapes) = jax.make_jaxpr(jax_fwd, return_shape=True)(
        *_specs(args))
    n_out = len(out_shapes)

    def jax_bwd(residuals, cts):
        return tree_unflatten(holder["tree"], residuals)(cts)

    bwd_jaxpr = jax.make_jaxpr(jax_bwd)(list(res_shapes), list(out_shapes))

    @fgrad.custom_vjp
    def call(*xs):
        return _eval_closed(eqn.params["call_jaxpr"], xs)

    def fwd(*xs):
        outs = _eval_closed(fwd_jaxpr, xs)
        return outs[:n_out], outs[n_out:]

    def bwd(residuals, cts):
        cts = iter(_eval_closed(bwd_jaxpr, [*residuals, *cts]))
        return tuple(next(cts) if d else None for d in diff)

    call.defvjp(fwd, bwd)
    return call(*args)


def _split(eqn, x):
    from fgrad.lax import slice
    axis, starts = eqn.params["axis"], np.cumsum([0, *eqn.params["sizes"]])
    shape = aval_of(x).shape
    return [slice(x, [0] * axis + [int(lo)] + [0] * (len(shape) - axis - 1),
                  [*shape[:axis], int(hi), *shape[axis + 1:]])
            for lo, hi in zip(starts[:-1], starts[1:])]


def _custom_linear_solve(eqn, *args):
    """JAX's custom_linear_solve (jnp.linalg.solve's): fgrad's, with the matvec, solve and
    transpose_solve functions translated from JAX's jaxprs (each closed over its consts, the
    leading operands) and b the remaining operands, as a list of leaves."""
    from fgrad.lax import custom_linear_solve
    jaxprs, lengths = eqn.params["jaxprs"], eqn.params["const_lengths"]
    consts, start = {}, 0
    for part in ("matvec", "vecmat", "solve", "transpose_solve"):
        consts[part] = args[start:start + getattr(lengths, part)]
        start += getattr(lengths, part)

    def function(part):
        closed = getattr(jaxprs, part)
        return None if closed is None else (
            lambda x: _eval_closed(closed, [*consts[part], *x]))

    solve, transpose_solve = function("solve"), function("transpose_solve")
    return custom_linear_solve(
        function("matvec"), list(args[start:]), lambda _, b: solve(b),
        None if transpose_solve is None else (lambda _, b: transpose_solve(b)))


def _identity(eqn, *args):
    return list(args)


# JAX primitive -> (its translation, what it is, for docs/from_jax.md's table).
_RULES: dict[str, tuple[Callable, str]] = {
    "jit": (_inline("jaxpr"), "inlined: its jaxpr translated in place"),
    "pjit": (_inline("jaxpr"), "inlined: its jaxpr translated in place"),
    "closed_call": (_inline("call_jaxpr"), "inlined: its jaxpr translated in place"),
    "checkpoint": (_inline("jaxpr"), "inlined (fgrad does not rematerialize it)"),
    "remat": (_inline("jaxpr"), "inlined (fgrad does not rematerialize it)"),
    "custom_jvp_call": (_custom_jvp, "`fgrad.custom_jvp`, its rule JAX's JVP of the call"),
    "custom_vjp_call": (_custom_vjp, "`fgrad.custom_vjp`, fwd and bwd JAX's forward pass "
                                     "and pullback"),
    "cond": (_cond, "`fgrad.lax.switch` on translated branches"),
    "scan": (_scan, "`fgrad.lax.scan` of the translated body"),
    "while": (_while, "`fgrad.lax.while_loop` (forward mode only, as in JAX)"),
    "scatter-add": (functools.partial(_bind_same, name="scatter_add"), "`scatter_add`"),
    "scatter-mul": (functools.partial(_bind_same, name="scatter_mul"), "`scatter_mul`"),
    "scatter-min": (functools.partial(_bind_same, name="scatter_min"), "`scatter_min`"),
    "scatter-max": (functools.partial(_bind_same, name="scatter_max"), "`scatter_max`"),
    "argmax": (lambda eqn, x: _bind_same(eqn, x, axis=eqn.params["axes"][0]),
               "`argmax` (its one axis)"),
    "argmin": (lambda eqn, x: _bind_same(eqn, x, axis=eqn.params["axes"][0]),
               "`argmin` (its one axis)"),
    "square": (lambda eqn, x: _bind_same(eqn, x, name="integer_pow", y=2),
               "`integer_pow` with y=2"),
    "split": (_split, "one `slice` per part"),
    "custom_linear_solve": (_custom_linear_solve, "`fgrad.lax.custom_linear_solve` of the "
                                                  "translated matvec, solve and "
                                                  "transpose_solve"),
    "slice": (lambda eqn, x: _bind_same(eqn, x, strides=eqn.params["strides"] or (1,) * len(
        eqn.params["start_indices"])), "`slice` (strides None as ones)"),
    "fft": (lambda eqn, x: _bind_same(eqn, x, fft_type=eqn.params["fft_type"].name),
            "`fft` (the type by name)"),
    "eigh": (lambda eqn, x: _bind_same(eqn, x, implementation=eqn.params["algorithm"],
                                       algorithm=None),
             "`eigh` (its algorithm as fgrad's implementation)"),
    "copy": (_identity, "its operand"), "copy_p": (_identity, "its operand"),
    "optimization_barrier": (_identity, "its operands"),
    "sharding_constraint": (_identity, "its operand"),
}

# fgrad's primitives that JAX does not have under that name (or not with these params):
# never taken for JAX's.
_NOT_JAX = {"custom_lin", "hook", "hook_apply", "hook_ct", "tag", "name", "linear_solve",
            "full_like", "expand_dims", "debug_callback"}


def translates(name: str) -> bool:
    """Whether a JAX primitive of this name translates."""
    return name in _RULES or (name in _fgrad_primitives() and name not in _NOT_JAX
                               and not name.startswith("random_"))


# -- the error for what does not translate ---------------------------------------------------


def _untranslatable(jaxpr: Jaxpr, found: dict, outer: Source | None = None) -> dict:
    """Each untranslatable primitive -> its user lines; an equation inside a library's
    sub-jaxpr (jnp.linalg.solve's) has none of its own, so it takes the line of the call
    that contains it."""
    for eqn in jaxpr.eqns:
        source = _source(eqn) or outer
        if not translates(eqn.primitive.name):
            found.setdefault(eqn.primitive.name, []).append(source)
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            _untranslatable(sub, found, source)
    return found


def _check_supported(jaxpr: Jaxpr) -> None:
    """Raises one error naming every JAX primitive of `jaxpr` fgrad cannot translate and the
    user's lines that use it."""
    found = _untranslatable(jaxpr, {})
    if not found:
        return
    lines = []
    for name, sources in found.items():
        where = sorted({str(s) for s in sources if s is not None}) or ["(no user line known)"]
        lines.append(f"  {name}: at {', '.join(where)}")
    raise MissingRuleError(at_user_line(
        "fgrad.from_jax cannot translate these JAX primitives into fgrad's:\n"
        + "\n".join(lines)
        + "\nWrite that part with fgrad.numpy / fgrad.lax, or call the JAX function on "
          "concrete arrays outside fgrad's transformations."))
