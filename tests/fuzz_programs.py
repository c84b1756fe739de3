"""Random well-typed programs written once and run in two namespaces (fgrad's and JAX's): the
catalogue of operations and the hypothesis strategies that draw programs from it, for
tests/test_types_against_jax.py (which compares the two libraries on every transform).

A program is a list of `Step`s on a list of live values (its inputs, then each step's
result); every step names an operation of the catalogue (`apply_op`) and carries its drawn
parameters as plain data, so a failing program prints as a readable listing and re-runs in
either namespace.
"""

from __future__ import annotations

import math
import operator
import types
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st

import fgrad
import fgrad.numpy as fnp
from fgrad.numpy import _indexing as fnp_indexing

# -- the custom rules, hooks and tags a program may apply -------------------------------------
#
# Each is the same function with the same rule in both libraries. The rules are deliberately
# not the functions' true derivatives (half the cosine plus a quarter), so a transform that
# ignored a rule and differentiated the function itself would be seen.


def _custom_rules(np_, custom_jvp, custom_vjp):
    @custom_jvp
    def sin_jvp(x):
        return np_.sin(x)

    @sin_jvp.defjvp
    def _sin_jvp_rule(primals, tangents):
        (x,), (t,) = primals, tangents
        return sin_jvp(x), np_.multiply(t, np_.add(np_.multiply(np_.cos(x), 0.5), 0.25))

    @custom_vjp
    def sin_vjp(x):
        return np_.sin(x)

    def fwd(x):
        return np_.sin(x), np_.cos(x)

    def bwd(cos_x, g):
        return (np_.multiply(g, np_.add(np_.multiply(cos_x, 0.5), 0.25)),)

    sin_vjp.defvjp(fwd, bwd)
    return sin_jvp, sin_vjp


def double_cotangent(ct):
    """A backward hook that scales the cotangent (module level: hooks are keyed by
    identity, so one function keeps fgrad's compiled programs reusable)."""
    return ct * 2


def observe_cotangent(ct):
    """A backward hook that only looks (returns None: the cotangent is left as it is)."""
    return None


HOOKS = {"observe": observe_cotangent, "double": double_cotangent}


def _jax_hook(scale):
    """JAX's counterpart of fgrad.hook with a hook scaling by `scale`, for reverse mode: the
    identity whose cotangent is scaled. fgrad differentiates the hook's replacement as the
    identity ("straight through", fgrad/lax/debugging.py), so the second-order counterpart
    is ct + stop_gradient(scale * ct - ct), the same value with the identity's derivative."""
    @jax.custom_vjp
    def hooked(x):
        return x

    def bwd(_, g):
        return (g + jax.lax.stop_gradient(g * scale - g),)

    hooked.defvjp(lambda x: (x, None), bwd)
    return hooked


_FG_JVP, _FG_VJP = _custom_rules(fnp, fgrad.custom_jvp, fgrad.custom_vjp)
_JX_JVP, _JX_VJP = _custom_rules(jnp, jax.custom_jvp, jax.custom_vjp)


def _fg_hook(x, name):
    return fgrad.hook(x, HOOKS[name])


def _jx_hook(x, name):
    return x if name == "observe" else _JX_DOUBLE(x)


_JX_DOUBLE = _jax_hook(2.0)

# -- the namespaces the catalogue is written against ------------------------------------------
#
# Operators on a concrete jax.Array run JAX's code, not fgrad's: fgrad's side calls
# fgrad.numpy's functions (and its indexing and `.at` directly), so even the eager `value`
# check runs fgrad on concrete inputs. JAX's indexing needs an array (a Python float has no
# `[]` and no `.at`): jnp.asarray keeps the operand's type (weak for Python floats).
#
# JAX has two namespaces. JAX cannot differentiate a custom_vjp function in forward mode
# (jvp, jacfwd: "can't apply forward-mode autodiff (jvp) to a custom_vjp function"), where
# fgrad transposes the bwd rule; and a backward hook acts on cotangents only, which JAX
# expresses with a custom_vjp. So JX_FORWARD, used by the forward-mode checks, writes them
# as what fgrad's forward mode computes: the custom_vjp as the custom_jvp whose rule is the
# transposed bwd (sin_vjp's bwd is sin_jvp's rule, an elementwise factor: its own
# transpose), the hook as the identity.

FG = types.SimpleNamespace(
    name="fgrad", np=fnp, lax=fgrad.lax, getitem=fnp_indexing.getitem,
    at=fnp_indexing.IndexUpdateHelper, custom_jvp_fn=_FG_JVP, custom_vjp_fn=_FG_VJP,
    tag=fgrad.tag, hook=_fg_hook,
    while_loop=lambda c, b, init, n: fgrad.lax.while_loop(c, b, init, max_steps=n))


def _jax_while(cond, body, init, max_steps):
    """fgrad.lax.while_loop(..., max_steps=N) in JAX: JAX's while_loop is not
    reverse-differentiable, and fgrad's bounded one is by construction the scan of N steps
    that stops updating once cond is false (fgrad/lax/control_flow.py, _while_as_scan), so
    JAX's side is that scan, written out; unbounded (max_steps None), JAX's while_loop."""
    if max_steps is None:
        return jax.lax.while_loop(cond, body, init)

    def step(carry, _):
        going = cond(carry)
        new = body(carry)
        return jax.tree_util.tree_map(lambda a, b: jnp.where(going, a, b), new, carry), None

    return jax.lax.scan(step, init, None, length=max_steps)[0]


JX = types.SimpleNamespace(
    name="jax", np=jnp, lax=jax.lax, getitem=lambda x, i: jnp.asarray(x)[i],
    at=lambda x: jnp.asarray(x).at,
    # jnp.asarray first, as jnp.sin would convert: JAX's custom_jvp trips an internal
    # assertion ("non-canonical constant") on an empty float64 NumPy array without x64.
    custom_jvp_fn=lambda x: _JX_JVP(jnp.asarray(x)),
    custom_vjp_fn=lambda x: _JX_VJP(jnp.asarray(x)),
    tag=lambda x, name: x, hook=_jx_hook, while_loop=_jax_while)
JX_FORWARD = types.SimpleNamespace(**{
    **vars(JX), "name": "jax (forward)", "custom_vjp_fn": JX.custom_jvp_fn,
    "hook": lambda x, name: x})
# Shapes of index expressions only, while drawing programs (numpy indexes like jax.numpy).
NP = types.SimpleNamespace(name="numpy", np=np, getitem=operator.getitem, at=None)


# -- values ----------------------------------------------------------------------------------


def default_float() -> np.dtype:
    return np.dtype(np.float64 if jax.config.jax_enable_x64 else np.float32)


def numbers(shape, seed_, dtype="float32"):
    """Values with magnitudes in [0.5, 2] (so 2.0 / x, x ** -1 and log-like rules stay
    well conditioned) and random signs; complex ones get a random phase too."""
    rng = np.random.default_rng(seed_)
    real = rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    if np.dtype(dtype).kind == "c":
        return real * np.exp(1j * rng.uniform(-3.0, 3.0, shape))
    return real


def weak_array(values) -> jax.Array:
    """A weakly typed JAX array of the default float (or complex) dtype, by public means: a
    Python scalar through jnp.asarray is weak, and stacking or broadcasting weak scalars
    keeps them weak."""
    values = np.asarray(values)
    scalar = complex if values.dtype.kind == "c" else float
    if values.ndim == 0:
        return jnp.asarray(scalar(values))
    if values.size == 0:
        out = jnp.broadcast_to(jnp.asarray(scalar(0)), values.shape)
    else:
        out = jnp.stack([jnp.asarray(scalar(v)) for v in values.ravel()]).reshape(values.shape)
    assert out.weak_type
    return out


def make_value(kind: str, shape, dtype: str, seed_: int, values=None):
    """An operand of a given kind: "py" (a Python float or complex), "py_int", "np_scalar",
    "np" (an ndarray), "jax" (strongly typed), "jax_weak", or "int" (an int32 JAX array of
    small non-negative values, for index and multiplier positions)."""
    if kind in ("int", "py_int"):
        values = np.random.default_rng(seed_).integers(0, 2, shape)
        return int(values) if kind == "py_int" else jnp.asarray(values, np.int32)
    values = numbers(shape, seed_, dtype) if values is None else values
    if kind == "py":
        return complex(values) if np.dtype(dtype).kind == "c" else float(values)
    if kind == "np_scalar":
        return np.dtype(dtype).type(values)
    if kind == "np":
        return np.asarray(values, dtype)
    if kind == "jax":
        return jnp.asarray(values, dtype)
    if kind == "jax_weak":
        return weak_array(values)
    raise ValueError(kind)


def like(x, values):
    """`values` as an operand of x's kind and type (for batches of an input, tangents)."""
    # NumPy first: np.float64 and np.complex128 are subclasses of Python's float and
    # complex, but strongly typed (a weak batch of a float64 scalar, with a strong batch of
    # its float32 tangents, made the batched JVP's types undefined in JAX).
    if isinstance(x, (np.ndarray, np.generic)):
        return np.asarray(values, x.dtype)
    if isinstance(x, (float, complex)):
        return weak_array(values)
    if x.weak_type:
        return weak_array(values)
    return jnp.asarray(values, x.dtype)


class Const(NamedTuple):
    """A constant operand of a program, built afresh in the current x64 mode."""
    kind: str
    shape: tuple
    dtype: str
    seed: int

    def make(self, m):
        if m is NP:
            return np.zeros(self.shape)
        return make_value(self.kind, self.shape, self.dtype, self.seed)


class Mask(NamedTuple):
    """A constant boolean mask (NumPy or JAX)."""
    kind: str
    values: tuple  # nested tuples of bools
    shape: tuple | None = None  # needed where an axis has size 0 (the nesting loses it)

    def make(self, m):
        values = np.asarray(self.values, bool)
        if self.shape is not None:
            values = values.reshape(self.shape)
        return jnp.asarray(values) if self.kind == "jax" else values


class Index(NamedTuple):
    """An index expression; integer arrays are built per call as NumPy or JAX arrays."""
    items: tuple  # of ints, slices, None, Ellipsis, or ("array", kind, values)

    def make(self, m):
        def item(i):
            if isinstance(i, tuple) and i and i[0] == "array":
                _, kind, values = i
                return jnp.asarray(values, np.int32) if kind == "jax" else np.asarray(values)
            return i
        return tuple(item(i) for i in self.items)


# -- the catalogue ---------------------------------------------------------------------------
#
# Each operation is a function (m, args, params) of the namespace, its operand values and
# its drawn parameters. Constants in params are `Const`s, `Mask`s and `Index`es, made per
# call.


def _c(m, c):
    return c.make(m) if isinstance(c, (Const, Index, Mask)) else c


UNARY = {
    "sin": lambda m, x: m.np.sin(x),
    "tanh": lambda m, x: m.np.tanh(x),
    "exp": lambda m, x: m.np.exp(m.np.tanh(x)),  # tanh first: no overflow in long chains
    "negative": lambda m, x: m.np.negative(x),
    "square": lambda m, x: m.np.square(x),
    "abs": lambda m, x: m.np.abs(x),
    "sqrt1": lambda m, x: m.np.sqrt(m.np.add(m.np.multiply(x, x), 1.0)),
    "log1p_sq": lambda m, x: m.np.log1p(m.np.multiply(x, x)),
    "custom_jvp": lambda m, x: m.custom_jvp_fn(x),
    "custom_vjp": lambda m, x: m.custom_vjp_fn(x),
}
# Complex programs: holomorphic functions (and abs, whose result is real), no orderings.
COMPLEX_UNARY = ["sin", "tanh", "exp", "negative", "square", "abs", "custom_jvp",
                 "custom_vjp"]

SCALAR_BINARY = ["add", "subtract", "multiply", "true_divide", "maximum", "minimum"]
VALUE_BINARY = {
    "add": lambda m, a, b: m.np.add(a, b),
    "subtract": lambda m, a, b: m.np.subtract(a, b),
    "multiply": lambda m, a, b: m.np.multiply(a, b),
    "maximum": lambda m, a, b: m.np.maximum(a, b),
    "where": lambda m, a, b: m.np.where(m.np.greater(a, b), a, b),
    "divide_sq1": lambda m, a, b: m.np.true_divide(a, m.np.add(m.np.multiply(b, b), 1)),
}
ORDERED = {"maximum", "minimum", "where", "max", "min"}
REDUCTIONS = ["sum", "mean", "max", "min", "var", "std"]
COMPARISONS = ["greater", "less", "greater_equal", "less_equal"]


def spread(m, x):
    """x plus a weak, shuffled ramp of distinct multiples of 0.37: sorting, top_k and argmax
    then see no ties (values equal up to rounding, as after broadcast_to or maximum, would
    make a derivative depend on which of two equal entries each library picks), and std
    stays away from 0, where sqrt's derivative is infinite. Weak, so x's type is kept."""
    shape = np.shape(x)
    size = math.prod(shape)
    ramp = 0.37 * np.random.default_rng(size).permutation(size).reshape(shape)
    return m.np.add(x, weak_array(ramp.astype(np.complex128) if np.iscomplexobj(x) else ramp))


def weak_eye(n: int, c: float):
    return weak_array(c * np.eye(n))


def square_of(m, x):
    """A well-conditioned matrix (or batch) from x: 3 I + 0.2 tanh(B), with B x itself when
    its last two axes are square and the outer product of its last axis otherwise, so its
    eigenvalues stay within 3 ± 0.6 for n <= 3."""
    shape = np.shape(x)
    if len(shape) >= 2 and shape[-1] == shape[-2]:
        b = x
    else:
        b = m.np.multiply(m.np.expand_dims(x, -1), m.np.expand_dims(x, -2))
    n = np.shape(b)[-1]
    return m.np.add(m.np.multiply(m.np.tanh(b), 0.2), weak_eye(n, 3.0))


def apply_linalg(m, fn, x, p, other):
    a = square_of(m, x)
    if fn == "solve":
        b = x if p["rhs"] == "self" else _c(m, p["rhs"])
        return m.np.linalg.solve(a, b)
    if fn == "inv":
        return m.np.linalg.inv(a)
    if fn == "det":
        return m.np.linalg.det(a)
    if fn == "slogdet":
        return m.np.linalg.slogdet(a)[1]
    if fn == "cholesky":
        # A A^H + I: Hermitian positive definite, its eigenvalues at least 1 + (3 - 0.6)^2.
        ah = m.np.conj(m.np.swapaxes(a, -1, -2))
        return m.np.linalg.cholesky(m.np.add(m.np.matmul(a, ah), weak_eye(np.shape(a)[-1], 1)))
    if fn == "matvec":
        v = other if other is not None else _c(m, p["rhs"])
        return m.np.matmul(a, v)
    raise ValueError(fn)


def _carry_init(m, x, y):
    """A loop's initial carry typed like the body's result: the body combines the carry with
    y, so starting from x * y (not x) keeps the carry's type fixed across iterations."""
    return x if y is None else m.np.multiply(x, y)


def apply_control(m, op, args, p):
    x, y = args[0], (args[1] if len(args) > 1 else None)
    if op == "cond":
        pred = getattr(m.np, p["cmp"])(m.np.sum(m.np.real(x)), p["threshold"])
        if y is None:
            branches = [lambda a, u=u: UNARY[u](m, a) for u in p["fns"]]
            return m.lax.cond(pred, branches[0], branches[1], x)
        branches = [lambda a, b, f=f: VALUE_BINARY[f](m, a, b) for f in p["fns"]]
        return m.lax.cond(pred, branches[0], branches[1], x, y)
    if op == "scan":
        def body(carry, xt):
            yt = xt if y is None else m.np.multiply(xt, y)
            new = m.np.tanh(m.np.add(m.np.multiply(carry, 0.8), yt))
            return new, m.np.multiply(m.np.sin(carry), xt)
        init = (_carry_init(m, m.getitem(x, 0), y) if p["init"] == "first"
                else _c(m, p["init"]))
        carry, ys = m.lax.scan(body, init, x, reverse=p["reverse"])
        return carry if p["out"] == "carry" else ys
    if op == "fori":
        def body(i, v):
            w = m.np.sin(v) if y is None else m.np.multiply(m.np.sin(v), y)
            return m.np.add(m.np.multiply(v, 0.5), w)
        return m.lax.fori_loop(0, p["n"], body, _carry_init(m, x, y))

    if op == "while":
        # A data-dependent number of steps: the carry grows until its size passes a bound.
        def test(c):
            k, v = c
            return m.np.logical_and(m.np.less(k, p["limit"]),
                                    m.np.less(m.np.sum(m.np.abs(v)), p["bound"]))

        def body(c):
            k, v = c
            w = 0.2 if y is None else m.np.multiply(y, 0.2)
            return k + 1, m.np.add(m.np.multiply(v, 1.3), w)
        return m.while_loop(test, body, (0, _carry_init(m, x, y)), p["max_steps"])[1]
    raise ValueError(op)


def apply_op(m, op: str, args: list, p: dict):
    x = args[0]
    if op in UNARY:
        return UNARY[op](m, x)
    if op == "scalar":
        c = _c(m, p["c"])
        fn = getattr(m.np, p["fn"])
        return fn(c, x) if p["left"] else fn(x, c)
    if op == "power":
        return m.np.power(x, _c(m, p["c"]))
    if op == "rpower":
        return m.np.power(_c(m, p["c"]), x)
    if op == "binary":
        return VALUE_BINARY[p["fn"]](m, x, args[1])
    if op == "reduce":
        if p["fn"] == "std":
            x = spread(m, x)
        return getattr(m.np, p["fn"])(x, axis=p["axis"], keepdims=p["keepdims"])
    if op == "matmul":
        w = _c(m, p["w"])
        return m.np.matmul(w, x) if p["left"] else m.np.matmul(x, w)
    if op == "dot":
        return m.np.dot(x, _c(m, p["w"]))
    if op == "einsum":
        second = args[1] if len(args) > 1 else _c(m, p["w"])
        return m.np.einsum(p["spec"], x, second) if second is not None else m.np.einsum(
            p["spec"], x)
    if op == "reshape":
        return m.np.reshape(x, p["shape"])
    if op == "transpose":
        return m.np.transpose(x, p["perm"])
    if op == "broadcast_to":
        return m.np.broadcast_to(x, p["shape"])
    if op == "expand_dims":
        return m.np.expand_dims(x, p["axis"])
    if op == "squeeze":
        return m.np.squeeze(x, p["axis"])
    if op == "getitem":
        return m.getitem(x, _c(m, p["index"]))
    if op == "int_index":  # an int input as an index: a traced, data-dependent gather
        return m.getitem(x, args[1])
    if op == "int_multiply":  # an int input as a multiplier (it has no derivative)
        return m.np.multiply(x, args[1])
    if op == "at":
        ref = m.at(x)[_c(m, p["index"])]
        if p["values"] == "self":  # an update computed from x itself
            values = m.np.multiply(m.np.sin(m.getitem(x, _c(m, p["index"]))), 0.5)
        elif p["values"] == "arg":
            values = args[1]
        else:
            values = _c(m, p["values"])
        return getattr(ref, p["how"])(values, **p["kwargs"])
    if op == "concatenate":
        return m.np.concatenate([x, args[1]], axis=p["axis"])
    if op == "stack":
        return m.np.stack([x, args[1]], axis=p["axis"])
    if op == "where_mask":
        other = args[1] if len(args) > 1 else _c(m, p["other"])
        return m.np.where(_c(m, p["mask"]), x, other)
    if op == "where_cmp":
        b = args[1]
        mask = getattr(m.np, p["cmp"])(x, b)
        return m.np.where(mask, UNARY[p["fns"][0]](m, x), UNARY[p["fns"][1]](m, b))
    if op == "sort":
        return m.np.sort(spread(m, x), axis=p["axis"])
    if op == "argsort_take":
        order = m.np.argsort(spread(m, x), axis=p["axis"])
        return m.np.take_along_axis(args[-1], order, axis=p["axis"])
    if op == "argmax_take":  # the maximum along an axis, picked by index (no ties)
        where = m.np.expand_dims(m.np.argmax(spread(m, x), axis=p["axis"]), p["axis"])
        return m.np.take_along_axis(x, where, axis=p["axis"])
    if op == "top_k":
        return m.lax.top_k(spread(m, x), p["k"])[0]
    if op == "cumulative":
        return getattr(m.np, p["fn"])(x, axis=p["axis"])
    if op == "linalg":
        return apply_linalg(m, p["fn"], x, p, args[1] if len(args) > 1 else None)
    if op in ("cond", "scan", "fori", "while"):
        return apply_control(m, op, args, p)
    if op == "tag":
        return m.tag(x, "fuzz")
    if op == "hook":
        return m.hook(x, p["fn"])
    raise ValueError(op)


class Step(NamedTuple):
    op: str
    operands: tuple  # positions in the list of live values
    params: dict

    def __repr__(self):
        return f"{self.op}{self.operands}{self.params}"


# Transforms that need reverse mode: JAX has none for an unbounded while_loop, nor fgrad.
REVERSE_CHECKS = {"vjp", "grad", "value_and_grad", "jacrev", "hessian", "vmap(grad)",
                  "grad(vmap)", "jax.jit(grad)", "jax.jit(vjp)", "fgrad.jit(jvp(grad))",
                  "jacfwd(jacrev)", "vmap(hessian)"}
# Transforms using forward mode only: on JAX's side they run the JX_FORWARD namespace.
FORWARD_CHECKS = {"jvp", "linearize", "jacfwd", "jit(vmap(jvp))"}
# JAX differentiates complex functions with jvp and vjp, and a real function of complex
# inputs with grad; its Jacobians and Hessians need holomorphic=True (and a holomorphic
# program), so complex programs are compared on the rest.
COMPLEX_CHECKS = ("value", "jvp", "linearize", "vjp", "grad", "value_and_grad",
                  "vmap(grad)", "grad(vmap)", "fgrad.jit", "jax.jit(grad)", "jax.jit(vjp)",
                  "fgrad.jit(jvp(grad))", "jit(vmap(jvp))")


class Case(NamedTuple):
    """A drawn program and everything the transforms need besides it."""
    x64: bool
    inputs: tuple   # of (kind, shape, dtype, seed)
    steps: tuple    # of Step
    outputs: tuple  # positions of the live values returned (a tuple if more than one)
    tangent_kinds: tuple
    cotangent_kind: str
    argnums: Any
    checks: tuple = ()  # which transforms to compare (CHECKS: all of them)

    def make_inputs(self):
        return [make_value(k, s, d, sd) for k, s, d, sd in self.inputs]

    def fn(self, m):
        """The program as a Python function of its inputs, in namespace m."""
        def f(*xs):
            live = list(xs)
            for step in self.steps:
                live.append(apply_op(m, step.op, [live[i] for i in step.operands],
                                     step.params))
            outs = [live[i] for i in self.outputs]
            return outs[0] if len(outs) == 1 else tuple(outs)
        return f

    @property
    def is_complex(self) -> bool:
        return any(np.dtype(d).kind == "c" for _, _, d, _ in self.inputs)

    @property
    def float_inputs(self) -> list:
        return [i for i, (k, *_) in enumerate(self.inputs) if k not in ("int", "py_int")]

    def live_steps(self) -> set:
        """Indices of the steps whose results the outputs depend on."""
        n = len(self.inputs)
        needed, live = set(self.outputs), set()
        for k in reversed(range(len(self.steps))):
            if n + k in needed:
                live.add(k)
                needed.update(self.steps[k].operands)
        return live

    def unbounded_whiles(self) -> tuple[bool, bool]:
        """(a live while_loop without max_steps, a dead one): neither library reverses a
        live one; a dead one fgrad removes before differentiating, while JAX linearizes it
        and refuses, so reverse mode is compared only when there is neither."""
        live = self.live_steps()
        unbounded = [k for k, s in enumerate(self.steps)
                     if s.op == "while" and s.params["max_steps"] is None]
        return any(k in live for k in unbounded), any(k not in live for k in unbounded)

    def reverse_differentiable(self) -> bool:
        return not self.unbounded_whiles()[0]

    def rtol(self) -> float:
        """1e-9 when every value is 64-bit (x64 on, no 32-bit input or constant), else 1e-4:
        a float64 result computed through float32 steps has float32's precision."""
        narrow = (np.dtype("float32"), "float32", np.dtype("complex64"), "complex64")
        if not self.x64 or any(d in narrow for _, _, d, _ in self.inputs):
            return 1e-4
        for step in self.steps:
            for v in step.params.values():
                if (isinstance(v, Const) and v.dtype in narrow
                        and v.kind not in ("py", "py_int", "jax_weak")) or (
                        isinstance(v, np.generic) and v.dtype in narrow):
                    return 1e-4
        return 1e-9

    def has_weak_array_input(self) -> bool:
        """Whether an input is a weakly typed array of rank 1 or more."""
        return any(kind == "jax_weak" and shape for kind, shape, _, _ in self.inputs)

    def uses_lax_pow(self) -> bool:
        """Whether the program raises to a floating-point power (lax.pow; an int exponent is
        lax.integer_pow)."""
        return any(s.op == "rpower" or (s.op == "power" and type(s.params["c"]) is not int)
                   for s in self.steps)

    def __repr__(self):
        lines = [f"Case(x64={self.x64}, argnums={self.argnums}, tangents={self.tangent_kinds}, "
                 f"cotangent={self.cotangent_kind}, checks={self.checks}"]
        lines += [f"  in{i}: {inp}" for i, inp in enumerate(self.inputs)]
        n = len(self.inputs)
        lines += [f"  v{n + i} = {s!r}" for i, s in enumerate(self.steps)]
        lines.append(f"  return {self.outputs})")
        return "\n".join(lines)


# -- drawing programs ------------------------------------------------------------------------

# Rank 0 to 3, sizes 0 to 3 (0 rarely: most operations on an empty value only pass emptiness
# on). Each family below refuses what its operation does not allow on empty values (a max or
# an argmax over an empty axis, an int index into one, a linear solve of size 0).
dims = st.sampled_from([0, 1, 1, 1, 2, 2, 2, 3, 3, 3])
shapes = st.lists(dims, min_size=0, max_size=3).map(tuple)


def shape_of(x) -> tuple:
    return tuple(np.shape(x))


@st.composite
def consts(draw, shape=(), x64=False, scalar_kinds=True, complex_=False):
    dtypes = ["float32", "float64"] if x64 else ["float32"]
    if complex_ and draw(st.booleans()):
        dtypes = ["complex64", "complex128"] if x64 else ["complex64"]
    if shape == () and scalar_kinds:
        kind = draw(st.sampled_from(["py", "py", "py_int", "np_scalar", "jax", "jax_weak"]))
    else:
        kind = draw(st.sampled_from(["np", "jax", "jax_weak"]))
    dtype = draw(st.sampled_from(dtypes))
    if kind == "np":  # NumPy's float64 is canonicalized to float32 without x64, as in JAX
        dtype = draw(st.sampled_from(["float32", "float64"] if dtype[0] == "f"
                                     else ["complex64", "complex128"]))
    if kind in ("py", "jax_weak"):
        dtype = dtype.replace("32", "64").replace("complex64", "complex128") if x64 else (
            dtype.replace("64", "32").replace("complex128", "complex64"))
    return Const(kind, tuple(shape), dtype, draw(st.integers(0, 2**16)))


@st.composite
def indices(draw, shape, for_update=False):
    """An index into an array of `shape`: ints, slices, integer arrays (unique entries when
    for_update, so scatters do not depend on the order of duplicates), None, Ellipsis."""
    items: list = []
    ndim = len(shape)
    n_used = draw(st.integers(1 if ndim else 0, ndim))
    n_arrays = 0
    for d in range(n_used):
        size = shape[d]
        kind = draw(st.sampled_from(["int", "slice", "array", "full"])) if size else "full"
        if kind == "int":
            items.append(draw(st.integers(-size, size - 1)))
        elif kind == "slice":
            start = draw(st.integers(0, size - 1))
            step = draw(st.sampled_from([1, 1, 2, -1]))
            items.append(slice(start, None, step) if step > 0 else slice(None, None, -1))
        elif kind == "array" and n_arrays < 2:
            n_arrays += 1
            length = draw(st.integers(1, size if for_update else 3))
            if for_update:
                values = draw(st.permutations(range(-size, 0) if draw(st.booleans())
                                              else range(size)))[:length]
            else:
                values = draw(st.lists(st.integers(-size, size - 1), min_size=length,
                                       max_size=length))
            # Every index array in one index broadcasts: give them all the first's length.
            items.append(("array", draw(st.sampled_from(["np", "jax"])), tuple(values)))
        else:
            items.append(slice(None))
    arrays = [i for i in items if isinstance(i, tuple)]
    if len(arrays) == 2 and len(arrays[0][2]) != len(arrays[1][2]):
        k = min(len(arrays[0][2]), len(arrays[1][2]))
        items = [(i[0], i[1], i[2][:k]) if isinstance(i, tuple) else i for i in items]
    if not for_update and draw(st.booleans()):
        if draw(st.booleans()) and n_used < ndim:
            items.append(Ellipsis)
        items.insert(draw(st.integers(0, len(items))), None)
    return Index(tuple(items))


def _broadcastable(a, b) -> bool:
    try:
        np.broadcast_shapes(a, b)
        return True
    except ValueError:
        return False


def _fits_into(small, big) -> bool:
    """Whether `small` broadcasts to `big` without changing it."""
    return _broadcastable(small, big) and np.broadcast_shapes(small, big) == tuple(big)


LETTERS = "abcdefgh"


@st.composite
def einsum_step(draw, i, live, x64, complex_):
    """einsum of live value i with a constant or another live value: random subscripts
    (shared letters are contracted or kept, a repeated letter takes a diagonal), a random
    subset of the letters, in a random order, as the output."""
    shape = live[i].shape
    letters = list(LETTERS[:len(shape)])
    sizes = dict(zip(letters, shape))
    for a in range(1, len(shape)):  # a diagonal: a letter repeated over equal sizes
        if shape[a] == shape[a - 1] and draw(st.integers(0, 3)) == 0:
            letters[a] = letters[a - 1]
    fresh = iter(LETTERS[len(shape):])
    kind = draw(st.sampled_from(["const", "value", "none"]))
    others = [j for j, v in enumerate(live) if v.kind == "f" and len(v.shape) <= 3]
    operands, w, second = (i,), None, None
    if kind == "value":
        j = draw(st.sampled_from(others))
        second = []
        for n in live[j].shape:
            same = [c for c, s in sizes.items() if s == n and c not in second]
            second.append(draw(st.sampled_from(same)) if same and draw(st.booleans())
                          else next(fresh))
            sizes.setdefault(second[-1], n)
        operands = (i, j)
    elif kind == "const":
        second = [draw(st.sampled_from(sorted(sizes))) if sizes and draw(st.booleans())
                  else next(fresh) for _ in range(draw(st.integers(0, 2)))]
        second = list(dict.fromkeys(second))
        for c in second:
            sizes.setdefault(c, draw(st.integers(1, 3)))
        w = draw(consts(tuple(sizes[c] for c in second), x64, scalar_kinds=False,
                        complex_=complex_))
    used = list(dict.fromkeys(letters + (second or [])))
    out = draw(st.permutations(used))[:draw(st.integers(0, len(used)))]
    spec = "".join(letters) + ("," + "".join(second) if second is not None else "")
    return Step("einsum", operands, {"spec": spec + "->" + "".join(out), "w": w})


class Live(NamedTuple):
    shape: tuple
    kind: str  # "f" (floating or complex) or "i" (an int input)


FAMILIES = [
    "unary", "unary", "scalar", "scalar", "power", "binary", "binary", "reduce", "reduce",
    "matmul", "einsum", "reshape", "transpose", "broadcast_to", "expand_dims", "squeeze",
    "getitem", "getitem", "at", "at", "concatenate", "where_mask", "where_cmp", "sort",
    "cumulative", "linalg", "linalg", "cond", "scan", "fori", "while", "tag_hook", "int"]
COMPLEX_FAMILIES = [f for f in FAMILIES if f not in ("sort", "where_cmp")]


@st.composite
def steps(draw, live: list, x64: bool, complex_: bool = False):
    """One step on the live values, or None when the drawn operation does not apply."""
    floats = [j for j, v in enumerate(live) if v.kind == "f"]
    i = draw(st.sampled_from(floats))
    if draw(st.booleans()) and live[-1].kind == "f":
        i = len(live) - 1  # prefer chains on the newest value
    shape = live[i].shape
    ndim = len(shape)
    size = math.prod(shape)
    ordered = not complex_
    family = draw(st.sampled_from(COMPLEX_FAMILIES if complex_ else FAMILIES))

    def value_like(fits):
        """Another live floating value whose shape passes `fits`, or None."""
        js = [j for j in floats if fits(live[j].shape)]
        return draw(st.sampled_from(js)) if js else None

    if family == "unary":
        return Step(draw(st.sampled_from(COMPLEX_UNARY if complex_ else sorted(UNARY))),
                    (i,), {})
    if family == "scalar":
        fns = SCALAR_BINARY if ordered else SCALAR_BINARY[:4]
        return Step("scalar", (i,), {"fn": draw(st.sampled_from(fns)),
                                     "c": draw(consts((), x64, complex_=complex_)),
                                     "left": draw(st.booleans())})
    if family == "power":
        if complex_ or draw(st.booleans()):
            # Integral exponents only: the bases may be negative, and a NaN would make the
            # values compare XLA's simplifications rather than the libraries. A Python int
            # is lax.integer_pow; a float (weak, or a strong NumPy scalar) is lax.pow.
            c = draw(st.sampled_from([2, 3, -1] if complex_ else
                                     [2, 3, -1, 2.0, np.float32(2.0), np.float64(3.0)]))
            return Step("power", (i,), {"c": c})
        return Step("rpower", (i,), {"c": draw(st.sampled_from([2.0, 1.5]))})
    if family == "binary":
        j = value_like(lambda s: _broadcastable(shape, s))
        fns = [f for f in sorted(VALUE_BINARY) if ordered or f not in ORDERED]
        return Step("binary", (i, j), {"fn": draw(st.sampled_from(fns))})
    if family == "reduce":
        fn = draw(st.sampled_from([f for f in REDUCTIONS if ordered or f not in ORDERED]))
        if ndim == 0 or draw(st.booleans()):
            axis = None
        elif draw(st.booleans()):
            axis = draw(st.integers(-ndim, ndim - 1))
        else:
            axis = tuple(draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim,
                                       unique=True)))
        reduced = range(ndim) if axis is None else (
            [axis % ndim] if isinstance(axis, int) else axis)
        count = math.prod(shape[a] for a in reduced)
        if fn in ("max", "min") and (count == 0 or size == 0):
            fn = "sum"  # no maximum of nothing (max has no identity)
        if fn == "std" and count < 2:
            fn = "var"  # std of one element is 0, where sqrt's derivative is infinite
        return Step("reduce", (i,), {"fn": fn, "axis": axis, "keepdims": draw(st.booleans())})
    if family == "matmul":
        if ndim == 0:
            w = draw(consts((), x64, complex_=complex_))
            if x64 and w.dtype.startswith("complex") and w.kind in ("py", "jax_weak"):
                # JAX's jnp.dot of a 32-bit operand and a weak complex fails with x64 (it asks
                # dot_general for a preferred_element_type narrower than the weak complex128);
                # fgrad gives the product, as jnp.multiply does.
                w = w._replace(kind="jax")
            return Step("dot", (i,), {"w": w})
        k = draw(st.integers(1, 3))
        left = draw(st.booleans())
        if left:
            n = shape[-2] if ndim >= 2 else shape[0]
            wshape = draw(st.sampled_from([(k, n), (n,)])) if ndim == 1 else (k, n)
        else:
            wshape = draw(st.sampled_from([(shape[-1], k), (shape[-1],)]))
        w = draw(consts(wshape, x64, scalar_kinds=False, complex_=complex_))
        if not left and ndim <= 2 and draw(st.booleans()):
            return Step("dot", (i,), {"w": w})
        return Step("matmul", (i,), {"w": w, "left": left})
    if family == "einsum":
        return draw(einsum_step(i, live, x64, complex_))
    if family == "reshape":
        options = [(size,), (-1,), (1, size), (size, 1), ()]
        options += [(*shape, 1), (1, *shape)] if ndim < 3 else []
        new = draw(st.sampled_from(options))
        if new == () and size != 1:
            new = (-1,)
        return Step("reshape", (i,), {"shape": new})
    if family == "transpose":
        return Step("transpose", (i,), {"perm": tuple(draw(st.permutations(range(ndim))))})
    if family == "broadcast_to":
        lead = tuple(draw(st.lists(dims, max_size=1 if ndim >= 3 else 2)))
        new = lead + tuple(draw(st.sampled_from([2, 3])) if n == 1 else n for n in shape)
        return Step("broadcast_to", (i,), {"shape": new})
    if family == "expand_dims":
        if draw(st.booleans()):
            return Step("getitem", (i,), {"index": Index(draw(st.sampled_from(
                [(None,), (Ellipsis, None), (None, Ellipsis)])))})
        return Step("expand_dims", (i,), {"axis": draw(st.integers(-ndim - 1, ndim))})
    if family == "squeeze":
        ones = [a for a, n in enumerate(shape) if n == 1]
        if not ones:
            return None
        return Step("squeeze", (i,), {"axis": draw(st.sampled_from([None, ones[0]]))})
    if family == "getitem":
        return Step("getitem", (i,), {"index": draw(indices(shape))})
    if family == "at":
        if ndim == 0:
            return None
        index = draw(indices(shape, for_update=True))
        hows = ["set", "add", "multiply"] + (["max", "min"] if ordered else [])
        how = draw(st.sampled_from(hows))
        selected = np.zeros(shape)[index.make(NP)].shape
        source = draw(st.sampled_from(["self", "const", "arg"]))
        operands = (i,)
        if source == "arg":
            j = value_like(lambda s: len(s) <= len(selected) and _fits_into(s, selected))
            if j is None or j == i:
                source = "self"
            else:
                operands = (i, j)
        values = "self" if source == "self" else "arg" if source == "arg" else draw(
            consts((), x64, complex_=complex_))
        kwargs = {}
        if how == "multiply" or draw(st.booleans()):
            # JAX differentiates scatter_mul only with unique_indices=True (true here).
            kwargs["unique_indices"] = True
        return Step("at", operands, {"index": index, "how": how, "values": values,
                                     "kwargs": kwargs})
    if family == "concatenate":
        j = value_like(lambda s: s == shape)
        if ndim == 0 or draw(st.booleans()):
            return Step("stack", (i, j), {"axis": draw(st.integers(-ndim - 1, ndim))})
        return Step("concatenate", (i, j), {"axis": draw(st.integers(-ndim, ndim - 1))})
    if family == "where_mask":
        # A constant mask (of x's shape or one broadcasting to it) between x and another
        # value or a constant.
        mshape = tuple(n if draw(st.booleans()) else 1 for n in shape)
        mask = np.random.default_rng(draw(st.integers(0, 99))).random(mshape) < 0.5
        mask = Mask(draw(st.sampled_from(["np", "jax"])), mask.tolist(), mshape)
        j = value_like(lambda s: _fits_into(s, shape)) if draw(st.booleans()) else None
        if j is None:
            return Step("where_mask", (i,), {"mask": mask, "other": draw(consts(
                (), x64, complex_=complex_))})
        return Step("where_mask", (i, j), {"mask": mask})
    if family == "where_cmp":
        # The mask compares two operands; each branch is a function of one of them.
        j = value_like(lambda s: _broadcastable(shape, s))
        return Step("where_cmp", (i, j), {"cmp": draw(st.sampled_from(COMPARISONS)),
                                          "fns": (draw(st.sampled_from(sorted(UNARY))),
                                                  draw(st.sampled_from(sorted(UNARY))))})
    if family == "sort":
        if ndim == 0:
            return None
        axis = draw(st.integers(-ndim, ndim - 1))
        how = draw(st.sampled_from(["sort", "argsort_take", "argmax_take", "top_k"]))
        if how == "sort":
            return Step("sort", (i,), {"axis": axis})
        if how == "argsort_take":  # x's order applied to x or to another value of its shape
            j = value_like(lambda s: s == shape)
            return Step("argsort_take", (i, j), {"axis": axis})
        if how == "argmax_take" and shape[axis] > 0:
            return Step("argmax_take", (i,), {"axis": axis})
        if shape[-1] == 0:
            return None
        return Step("top_k", (i,), {"k": draw(st.integers(1, shape[-1]))})
    if family == "cumulative":
        axis = None if ndim == 0 or draw(st.integers(0, 3)) == 0 else draw(
            st.integers(-ndim, ndim - 1))
        return Step("cumulative", (i,), {"fn": draw(st.sampled_from(["cumsum", "cumprod"])),
                                         "axis": axis})
    if family == "linalg":
        # Only on the last axes (leading ones are a batch), never of size 0.
        if ndim == 0 or shape[-1] == 0:
            return None
        square = ndim >= 2 and shape[-1] == shape[-2]
        batch = shape[:-2] if square else shape[:-1]
        n = shape[-1]
        fn = draw(st.sampled_from(["solve", "inv", "det", "slogdet", "cholesky", "matvec"]))
        p: dict = {"fn": fn}
        operands = (i,)
        if fn == "solve":
            p["rhs"] = "self" if square and draw(st.booleans()) else draw(consts(
                (*batch, n, draw(st.integers(1, 2))), x64, scalar_kinds=False,
                complex_=complex_))
        if fn == "matvec":
            j = value_like(lambda s: s == (n,))
            if j is None or j == i:
                p["rhs"] = draw(consts((n,), x64, scalar_kinds=False, complex_=complex_))
            else:
                operands = (i, j)
        if fn == "slogdet" and complex_:
            return None  # a complex determinant's log of |det| is not holomorphic
        return Step("linalg", operands, p)
    if family == "cond":
        j = value_like(lambda s: _broadcastable(shape, s)) if draw(st.booleans()) else None
        if j is None:
            # Both branches' types must agree: abs turns a complex value real.
            fns = sorted(UNARY) if ordered else [f for f in COMPLEX_UNARY if f != "abs"]
            params = {"fns": (draw(st.sampled_from(fns)), draw(st.sampled_from(fns)))}
            operands = (i,)
        else:
            fns = [f for f in sorted(VALUE_BINARY) if ordered or f not in ORDERED]
            params = {"fns": (draw(st.sampled_from(fns)), draw(st.sampled_from(fns)))}
            operands = (i, j)
        params.update(cmp=draw(st.sampled_from(COMPARISONS)),
                      threshold=draw(st.sampled_from([0.0, -1.0, 1.0])))
        return Step("cond", operands, params)
    if family in ("scan", "fori", "while"):
        if family == "scan":
            if ndim == 0:
                return None
            carry_shape = shape[1:]
        else:
            carry_shape = shape
        j = value_like(lambda s: _fits_into(s, carry_shape)) if draw(st.booleans()) else None
        operands = (i,) if j is None else (i, j)
        if family == "scan":
            init = "first"
            if shape[0] > 0 and j is None and draw(st.integers(0, 2)) == 0:
                # A weak initial carry: JAX's scan re-types it like the body's result.
                init = Const("jax_weak" if carry_shape else "py", carry_shape,
                             "float64" if x64 else "float32", draw(st.integers(0, 99)))
            elif shape[0] == 0:
                return None  # no first element to start from
            return Step("scan", operands, {"init": init, "reverse": draw(st.booleans()),
                                           "out": draw(st.sampled_from(["carry", "ys"]))})
        if family == "fori":
            return Step("fori", operands, {"n": draw(st.integers(0, 3))})
        limit = draw(st.integers(0, 3))
        max_steps = draw(st.sampled_from([None, limit, max(limit - 1, 0), limit + 1]))
        return Step("while", operands, {
            "limit": limit, "bound": draw(st.sampled_from([1.0, 4.0, 30.0])),
            "max_steps": max_steps})
    if family == "tag_hook":
        if draw(st.booleans()):
            return Step("tag", (i,), {})
        return Step("hook", (i,), {"fn": draw(st.sampled_from(sorted(HOOKS)))})
    if family == "int":
        ints = [j for j, v in enumerate(live) if v.kind == "i"]
        if not ints:
            return None
        j = draw(st.sampled_from(ints))
        # Index values are 0 or 1 (make_value): in bounds along an axis of size 2 or more.
        if ndim and shape[0] >= 2 and draw(st.booleans()):
            return Step("int_index", (i, j), {})
        if _broadcastable(shape, live[j].shape):
            return Step("int_multiply", (i, j), {})
        return None
    raise AssertionError(family)


def _eval_shape(step: Step, live: list, complex_: bool) -> tuple:
    """The step's result shape, by JAX's abstract evaluation."""
    float_dtype = np.complex64 if complex_ else np.float32
    args = [jax.ShapeDtypeStruct(live[i].shape, np.int32 if live[i].kind == "i"
                                 else float_dtype) for i in step.operands]
    return tuple(jax.eval_shape(lambda *a: apply_op(JX, step.op, list(a), step.params),
                                *args).shape)


INPUT_KINDS = ["py", "np_scalar", "np", "jax", "jax", "jax_weak", "jax_weak"]
COMPLEX_INPUT_KINDS = ["py", "np", "jax", "jax"]


@st.composite
def cases(draw, all_checks: tuple, checks_per_case: int):
    x64 = draw(st.booleans())
    complex_ = draw(st.integers(0, 5)) == 0
    n_inputs = draw(st.sampled_from([1, 1, 2, 2]))
    int_input = n_inputs == 2 and draw(st.integers(0, 3)) == 0
    inputs = []
    first_shape = draw(shapes)
    for k in range(n_inputs):
        shape = first_shape if k == 0 else draw(st.sampled_from([
            first_shape, first_shape[1:], (), tuple(1 if draw(st.booleans()) else n
                                                    for n in first_shape)]))
        if k == 1 and int_input:
            kind = draw(st.sampled_from(["int", "py_int"])) if shape == () else "int"
            inputs.append((kind, shape, "int32", draw(st.integers(0, 2**16))))
            continue
        if complex_:
            kind = draw(st.sampled_from(COMPLEX_INPUT_KINDS))
            dtype = draw(st.sampled_from(["complex64", "complex128"] if x64 or kind == "np"
                                         else ["complex64"]))
            if kind == "py":
                dtype = "complex128" if x64 else "complex64"
        else:
            kind = draw(st.sampled_from(INPUT_KINDS))
            dtype = draw(st.sampled_from(["float32", "float64"])) if (
                x64 or kind in ("np", "np_scalar")) else "float32"
            if kind in ("py", "jax_weak"):
                dtype = "float64" if x64 else "float32"
        if shape != () and kind in ("py", "np_scalar"):
            kind = "np"
        inputs.append((kind, shape, dtype, draw(st.integers(0, 2**16))))
    live = [Live(inp[1], "i" if inp[0] in ("int", "py_int") else "f") for inp in inputs]
    program: list[Step] = []
    for _ in range(draw(st.integers(1, 4))):
        step = draw(steps(live, x64, complex_))
        if step is None:
            continue
        program.append(step)
        live.append(Live(_eval_shape(step, live, complex_), "f"))
    if not program:
        program.append(Step("sin", (0,), {}))
        live.append(live[0])
    outputs = (len(live) - 1,)
    if draw(st.integers(0, 3)) == 0:
        extra = [j for j in range(n_inputs, len(live)) if live[j].kind == "f"]
        outputs = (len(live) - 1, draw(st.sampled_from(extra)))
    available = COMPLEX_CHECKS if complex_ else all_checks
    float_inputs = [k for k, v in enumerate(live[:n_inputs]) if v.kind == "f"]
    return Case(
        x64=x64, inputs=tuple(inputs), steps=tuple(program), outputs=outputs,
        tangent_kinds=tuple(draw(st.sampled_from(["same", "strong", "weak"]))
                            for _ in inputs),
        cotangent_kind=draw(st.sampled_from(["strong", "np", "weak"])),
        argnums=draw(st.sampled_from([0, (0, 1)])) if len(float_inputs) == 2 else 0,
        checks=available if checks_per_case >= len(available) else tuple(sorted(draw(
            st.sets(st.sampled_from(available), min_size=checks_per_case,
                    max_size=checks_per_case)))))
