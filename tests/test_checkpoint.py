"""Checkpointing (fgrad.checkpoint, alias fgrad.remat; fgrad.checkpoint_name; the policies
of fgrad.checkpoint_policies) against jax.checkpoint with the matching JAX policies, against
the same function without checkpointing, and against finite differences.

Programs are written once over a namespace `m` (fgrad's numpy, lax and checkpoint, JAX's, or
fgrad's without checkpointing), so the three versions cannot drift apart. Besides values
and derivatives under every transformation, the tests look at what checkpointing is for:
which residuals cross from the primal computation to the derivative (the IR), and the peak
memory of a compiled gradient. float64 throughout, so derivatives compare tightly; the
tests that compile many small programs, and compare with a tolerance, compile them with
XLA's optimizations off (`quick_compile`), the memory test with them on.
"""

import os
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.ad_checkpoint import checkpoint_name as jax_checkpoint_name

import fgrad
import fgrad.lax as fl
import fgrad.numpy as fnp
from fgrad.core import ConcretizationError, aval_of, eval_program
from fgrad.core.ir import Aval
from fgrad.lax.linalg import dot_general_p
from fgrad.lax.remat import checkpoint_p, name_p
from fgrad.testing import check_grads
from fgrad.transforms.linearize import linearize_program
from fgrad.transforms.simplify import simplify
from fgrad.transforms.transpose import transpose_program

pytestmark = pytest.mark.usefixtures("x64")

HERE = os.path.basename(__file__)
TOL = dict(rtol=1e-10, atol=1e-12)
leaves = jax.tree_util.tree_leaves


def close(got, want, **tolerances):
    """The same pytree structure, and leaf by leaf the same shape, dtype and values."""
    got_leaves, got_tree = jax.tree_util.tree_flatten(got)
    want_leaves, want_tree = jax.tree_util.tree_flatten(want)
    assert got_tree == want_tree, (got_tree, want_tree)
    for g, w in zip(got_leaves, want_leaves):
        assert np.shape(g) == np.shape(w) and aval_of(g).dtype == aval_of(w).dtype, (
            aval_of(g), aval_of(w))
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), **(TOL | tolerances))


# -- the namespaces every program is written over --------------------------------------------


def _no_checkpoint(fun, **_):
    return fun


FG = SimpleNamespace(np=fnp, lax=fl, checkpoint=fgrad.checkpoint, name=fgrad.checkpoint_name,
                     policies=fgrad.checkpoint_policies)
JX = SimpleNamespace(np=jnp, lax=jax.lax, checkpoint=jax.checkpoint, name=jax_checkpoint_name,
                     policies=jax.checkpoint_policies)
PLAIN = SimpleNamespace(np=fnp, lax=fl, checkpoint=_no_checkpoint, name=lambda x, name: x,
                        policies=fgrad.checkpoint_policies)

# Policies by how to build them from a namespace's `policies`.
POLICIES = {
    "default": lambda P: None,
    "nothing_saveable": lambda P: P.nothing_saveable,
    "everything_saveable": lambda P: P.everything_saveable,
    "dots_saveable": lambda P: P.dots_saveable,
    "checkpoint_dots": lambda P: P.checkpoint_dots,
    "dots_with_no_batch_dims_saveable": lambda P: P.dots_with_no_batch_dims_saveable,
    "save_only_these_names(h1)": lambda P: P.save_only_these_names("h1"),
    "save_any_names_but_these(h1)": lambda P: P.save_any_names_but_these("h1"),
    "save_from_both_policies": lambda P: P.save_from_both_policies(
        P.dots_with_no_batch_dims_saveable, P.save_only_these_names("h2")),
    # A user's policy, written for both: str of a primitive is its name in fgrad and JAX.
    "user_saves_tanh": lambda P: lambda prim, *avals, **params: str(prim) == "tanh",
}


# -- the programs -----------------------------------------------------------------------------

rng = np.random.default_rng(0)
PARAMS = [(rng.standard_normal((4, 6)) / 2, rng.standard_normal(6) / 4),
          (rng.standard_normal((6, 6)) / 2, rng.standard_normal(6) / 4),
          (rng.standard_normal((6, 3)) / 2, rng.standard_normal(3) / 4)]
X = rng.standard_normal((5, 4))
XB = rng.standard_normal((3, 5, 4))  # a batch of X
T_PARAMS = jax.tree_util.tree_map(lambda a: rng.standard_normal(np.shape(a)), PARAMS)
T_X = rng.standard_normal(X.shape)
CT = rng.standard_normal((5, 3))


def mlp(m, policy="default", per_layer=False):
    """A 3-layer tanh MLP `(params, x) -> (5, 3)`, the whole of it checkpointed with
    `policy` (or each layer on its own); the hidden layers' outputs are named h1 and h2."""
    def layer(h, W, b, name):
        h = m.np.tanh(h @ W + b)
        return h if name is None else m.name(h, name)

    def layers(params, x):
        h = x
        for (W, b), name in zip(params, ("h1", "h2", None)):
            h = (m.checkpoint(layer, static_argnums=(3,), policy=POLICIES[policy](m.policies))
                 if per_layer else layer)(h, W, b, name)
        return h

    if per_layer:
        return layers
    return m.checkpoint(layers, policy=POLICIES[policy](m.policies))


def mlp_loss(m, policy="default", per_layer=False):
    net = mlp(m, policy, per_layer)
    return lambda params, x: m.np.sum(net(params, x) ** 2)


# Each transformation, over an API namespace `A` (fgrad's or JAX's), of the MLP (`out`) or
# its loss (`loss`).
FG_API = SimpleNamespace(grad=fgrad.grad, vjp=fgrad.vjp, jvp=fgrad.jvp, linearize=fgrad.linearize,
                         jacfwd=fgrad.jacfwd, jacrev=fgrad.jacrev, hessian=fgrad.hessian,
                         vmap=fgrad.vmap, jit=fgrad.jit)
JX_API = SimpleNamespace(grad=jax.grad, vjp=jax.vjp, jvp=jax.jvp, linearize=jax.linearize,
                         jacfwd=jax.jacfwd, jacrev=jax.jacrev, hessian=jax.hessian,
                         vmap=jax.vmap, jit=jax.jit)


def _vjp(A, out, loss):
    y, pullback = A.vjp(out, PARAMS, X)
    return y, pullback(CT)


def _linearize(A, out, loss):
    y, f_jvp = A.linearize(out, PARAMS, X)
    return y, f_jvp(T_PARAMS, T_X)


TRANSFORMS = {
    "grad": lambda A, out, loss: A.grad(loss, argnums=(0, 1))(PARAMS, X),
    "vjp": _vjp,
    "jvp": lambda A, out, loss: A.jvp(out, (PARAMS, X), (T_PARAMS, T_X)),
    "linearize": _linearize,
    "jacfwd": lambda A, out, loss: A.jacfwd(out, argnums=1)(PARAMS, X),
    "jacrev": lambda A, out, loss: A.jacrev(out)(PARAMS, X),
    "hessian": lambda A, out, loss: A.hessian(loss, argnums=1)(PARAMS, X),
    "grad_of_grad": lambda A, out, loss: A.grad(
        lambda p, x: (A.grad(loss, argnums=1)(p, x) ** 2).sum())(PARAMS, X),
    "vmap_of_grad": lambda A, out, loss: A.vmap(A.grad(loss), in_axes=(None, 0))(PARAMS, XB),
    "grad_of_vmap_summed": lambda A, out, loss: A.grad(
        lambda p, xb: A.vmap(loss, in_axes=(None, 0))(p, xb).sum())(PARAMS, XB),
    "jit_of_grad": lambda A, out, loss: A.jit(A.grad(loss))(PARAMS, X),
    "jax_jit_around_grad": lambda A, out, loss: jax.jit(A.grad(loss))(PARAMS, X),
    "jax_vmap_around_grad": lambda A, out, loss: jax.vmap(A.grad(loss), in_axes=(None, 0))(
        PARAMS, XB),
}


@pytest.mark.usefixtures("quick_compile")
@pytest.mark.parametrize("transform", TRANSFORMS)
def test_an_mlp_under_every_transformation(transform):
    run = TRANSFORMS[transform]
    got = run(FG_API, mlp(FG, "dots_saveable"), mlp_loss(FG, "default", per_layer=True))
    # JAX's side under jax.jit: one compilation costs less than JAX's eager dispatch.
    want = jax.jit(lambda: run(JX_API, mlp(JX, "dots_saveable"),
                               mlp_loss(JX, "default", per_layer=True)))()
    plain = run(FG_API, mlp(PLAIN), mlp_loss(PLAIN, per_layer=True))
    close(got, want)
    close(got, plain)


@pytest.mark.usefixtures("quick_compile")
@pytest.mark.parametrize("policy", POLICIES)
def test_each_policy_gives_the_gradient_of_jax_and_of_the_plain_function(policy):
    got = fgrad.value_and_grad(mlp_loss(FG, policy), argnums=(0, 1))(PARAMS, X)
    want = jax.jit(jax.value_and_grad(mlp_loss(JX, policy), argnums=(0, 1)))(PARAMS, X)
    close(got, want)
    close(got, fgrad.value_and_grad(mlp_loss(PLAIN), argnums=(0, 1))(PARAMS, X))
    close(fgrad.jit(fgrad.grad(mlp_loss(FG, policy, per_layer=True)))(PARAMS, X), want[1][0])


@pytest.mark.usefixtures("quick_compile")
def test_finite_differences_to_second_order():
    loss = mlp_loss(FG, "dots_saveable")
    check_grads(lambda x: loss(PARAMS, x), (X,), order=2, modes=("rev",))  # grad of grad
    check_grads(mlp(FG, "save_only_these_names(h1)", per_layer=True), (PARAMS, X), order=1)


def test_outside_transformations_the_function_simply_runs():
    f = lambda x, y: (fnp.sin(x) * y, {"k": x})  # noqa: E731
    got = fgrad.checkpoint(f)(X, 2.0)
    close(got, f(X, 2.0))
    assert fgrad.remat is fgrad.checkpoint
    assert fgrad.checkpoint(f).__name__ == "<lambda>"
    # Under jax.jit the arguments are JAX tracers: the checkpoint is bound (and lowered).
    close(jax.jit(fgrad.checkpoint(f))(X, 2.0), f(X, 2.0))


# -- the residuals: what crosses from the primal computation to the derivative ----------------


def _linearized(policy, per_layer=False, m=FG):
    """The linearization of the MLP in all its inputs, and the values of its residuals."""
    flat, tree = jax.tree_util.tree_flatten((PARAMS, X))
    net = mlp(m, policy, per_layer)
    program = fgrad.make_ir(lambda *a: net(*jax.tree_util.tree_unflatten(tree, a)))(*flat)
    lin = linearize_program(program, [True] * len(flat))
    values = eval_program(lin.known, *flat)[len(program.outputs):]
    n_out = len(lin.known.outputs) - lin.n_residuals
    is_input = [r in lin.known.inputs for r in lin.known.outputs[n_out:]]
    computed = [np.asarray(v) for v, inp in zip(values, is_input) if not inp]
    return lin, is_input, computed


def _forward():
    """The MLP's intermediate values, by NumPy."""
    (W1, b1), (W2, b2), (W3, b3) = PARAMS
    z1 = X @ W1 + b1
    h1 = np.tanh(z1)
    z2 = h1 @ W2 + b2
    h2 = np.tanh(z2)
    z3 = h2 @ W3 + b3
    return dict(d1=X @ W1, h1=h1, d2=h1 @ W2, h2=h2, d3=h2 @ W3, h3=np.tanh(z3))


def _which(computed):
    """The names of the intermediate values the computed residuals are (by value)."""
    names = []
    for value in computed:
        found = [k for k, v in _forward().items() if v.shape == value.shape
                 and np.allclose(v, value, rtol=1e-12, atol=1e-14)]
        names.append(found[0] if found else f"other{value.shape}")
    return sorted(names)


def test_nothing_saveable_passes_only_the_inputs():
    for policy in ("default", "nothing_saveable"):
        lin, is_input, computed = _linearized(policy)
        assert all(is_input) and not computed
        # Every input: x and the weights for the derivatives of the products, and all of
        # them, biases included, to recompute the tanh layers' derivatives.
        assert sorted(str(a) for a in lin.linear.in_avals[:lin.n_residuals]) == [
            "f64[3]", "f64[4,6]", "f64[5,4]", "f64[6,3]", "f64[6,6]", "f64[6]", "f64[6]"]


def test_dots_saveable_passes_the_dot_products_and_not_the_tanh_results():
    lin, is_input, computed = _linearized("dots_saveable")
    assert _which(computed) == ["d1", "d2", "d3"]
    assert sorted(v.shape for v in computed) == [(5, 3), (5, 6), (5, 6)]


def test_save_only_these_names_passes_exactly_the_tagged_value():
    lin, is_input, computed = _linearized("save_only_these_names(h1)")
    assert _which(computed) == ["h1"] and computed[0].shape == (5, 6)
    lin, is_input, computed = _linearized("save_any_names_but_these(h1)")
    assert _which(computed) == ["h2"]
    lin, is_input, computed = _linearized("save_from_both_policies")
    assert _which(computed) == ["d1", "d2", "d3", "h2"]
    lin, is_input, computed = _linearized("user_saves_tanh")  # the tags are recomputed
    assert _which(computed) == ["h1", "h2", "h3"]


def test_everything_saveable_passes_what_the_plain_function_does():
    _, _, saved = _linearized("everything_saveable")
    _, _, plain = _linearized("default", m=PLAIN)
    assert len(saved) == len(plain) > 0
    assert sorted(v.shape for v in saved) == sorted(v.shape for v in plain)


def test_batch_dims_decide_dots_with_no_batch_dims_saveable():
    a, b = rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 4, 6))

    def residual_shapes(policy):
        f = fgrad.checkpoint(lambda a, b: fnp.sin(a @ b), policy=policy)
        lin = linearize_program(fgrad.make_ir(f)(a, b), [True, True])
        n_out = len(lin.known.outputs) - lin.n_residuals
        return [str(r.aval) for r in lin.known.outputs[n_out:] if r not in lin.known.inputs]

    P = fgrad.checkpoint_policies
    assert residual_shapes(P.dots_saveable) == ["f64[2,5,6]"]
    assert residual_shapes(P.dots_with_no_batch_dims_saveable) == []
    assert residual_shapes(P.nothing_saveable) == []


def test_a_users_policy_is_asked_about_each_equation_with_its_avals():
    asked = []

    def save_tanh(prim, *avals, **params):
        asked.append((prim.name, avals))
        return prim.name == "tanh"

    def jax_save_tanh(prim, *_, **__):
        return str(prim) == "tanh"

    got = fgrad.grad(mlp_loss(SimpleNamespace(**{**vars(FG), "checkpoint": lambda f, policy: (
        fgrad.checkpoint(f, policy=save_tanh))})))(PARAMS, X)
    want = jax.jit(jax.grad(mlp_loss(SimpleNamespace(**{**vars(JX), "checkpoint": (
        lambda f, policy: jax.checkpoint(f, policy=jax_save_tanh))}))))(PARAMS, X)
    close(got, want)
    assert ("tanh", (Aval((5, 6), np.dtype("float64")),)) in asked
    assert all(isinstance(a, Aval) for _, avals in asked for a in avals)


def test_the_gradient_program_recomputes_inside_a_checkpoint():
    program = fgrad.make_ir(fgrad.grad(mlp_loss(FG)))(PARAMS, X)
    ckpts = [e for e in program.eqns if e.primitive is checkpoint_p]
    assert [(e.params["prevent_cse"], e.params["differentiated"]) for e in ckpts] == [
        (False, False), (True, True)]
    forward, backward = ckpts
    # Forward: the primal computation, saving nothing. Backward: it reads the checkpoint's
    # inputs (and the cotangent) and recomputes the tanh layers.
    assert len(forward.outputs) == 1
    assert all(a in program.inputs for a in backward.inputs[:-1])
    body = backward.params["body"]
    assert sum(e.primitive.name == "tanh" for e in body.eqns) == 3
    assert str(program).count("policy=nothing_saveable") == 2


# -- memory -----------------------------------------------------------------------------------


def _peak_bytes(compiled) -> int:
    """XLA's peak memory of a compiled function, as benchmarks/run.py measures it: on CPU
    jaxlib's peak counts arguments and outputs only, so the peak is taken as arguments +
    outputs + temporaries - aliased, if that is larger."""
    stats = compiled.memory_analysis()
    total = (stats.temp_size_in_bytes + stats.argument_size_in_bytes
             + stats.output_size_in_bytes - stats.alias_size_in_bytes)
    return max(getattr(stats, "peak_memory_in_bytes", 0) or 0, total)


def test_checkpointing_each_layer_lowers_the_peak_memory_of_the_compiled_gradient():
    # 8 residual tanh layers h + tanh(h @ W), width 256, batch 128 (256 KiB per activation).
    # Without checkpointing the gradient keeps two arrays per layer (its input, for the
    # weight's gradient, and tanh's result, for tanh's derivative); checkpointing each layer
    # keeps its input only and recomputes tanh in the backward pass. (In a plain tanh MLP,
    # h = tanh(h @ W), a layer's only residuals are its input and its output, the next
    # layer's input, so checkpointing single layers there has nothing to save.)
    r = np.random.default_rng(1)
    ws = [r.standard_normal((256, 256)) / 16 for _ in range(8)]
    x = r.standard_normal((128, 256))

    def loss(wrap):
        def f(ws, x):
            h = x
            for w in ws:
                h = wrap(lambda h, w: h + fnp.tanh(h @ w))(h, w)
            return fnp.sum(h ** 2)
        return fgrad.grad(f, argnums=(0, 1))

    plain, ckpt = fgrad.jit(loss(lambda f: f)), fgrad.jit(loss(fgrad.checkpoint))
    saved = _peak_bytes(plain.lower(ws, x).compile()) - _peak_bytes(ckpt.lower(ws, x).compile())
    assert saved >= 1 << 20, saved  # measured: 1.75 MiB of 10.75
    close(ckpt(ws, x), plain(ws, x))
    # The same program under jax.jit.
    jitted = jax.jit(loss(fgrad.checkpoint))
    assert _peak_bytes(jax.jit(loss(lambda f: f)).lower(ws, x).compile()) - _peak_bytes(
        jitted.lower(ws, x).compile()) >= 1 << 20


def test_only_the_recomputation_is_kept_apart_from_the_forward_pass():
    # On CPU the derivative's recomputation runs in a conditional XLA cannot decide (XLA:CPU
    # removes optimization barriers before merging common subexpressions); the function
    # itself, its JVP and the forward pass of its gradient compile as if not checkpointed.
    def conditionals(fun):
        return fgrad.jit(fun).lower(X).compile().as_text().count("conditional(")

    f = fgrad.checkpoint(lambda x: fnp.sin(fnp.sin(x)))
    assert conditionals(f) == 0
    assert conditionals(lambda x: fgrad.jvp(f, (x,), (x,))) == 0
    assert conditionals(fgrad.grad(lambda x: f(x).sum())) == 1
    close(fgrad.jit(fgrad.grad(lambda x: f(x).sum()))(X), np.cos(np.sin(X)) * np.cos(X))
    loose = fgrad.checkpoint(lambda x: fnp.sin(fnp.sin(x)), prevent_cse=False)
    assert conditionals(fgrad.grad(lambda x: loose(x).sum())) == 0


# -- checkpoints in loops, with static arguments, closures and nesting ------------------------


def rnn_loss(m, wrap):
    """A tanh RNN over the rows of xs, its step checkpointed (the step closes over the
    weights, which are differentiated)."""
    def loss(params, xs, h0):
        W, U, b = params
        step = wrap(m)(lambda h, x: m.np.tanh(h @ W + x @ U + b))

        def body(h, x):
            h = step(h, x)
            return h, m.np.sum(h ** 2)

        h, ys = m.lax.scan(body, h0, xs)
        return m.np.sum(ys) + m.np.sum(h)
    return loss


RNN_ARGS = ((rng.standard_normal((8, 8)) / 3, rng.standard_normal((3, 8)) / 2,
             rng.standard_normal(8) / 4), rng.standard_normal((50, 3)), rng.standard_normal(8))


@pytest.mark.usefixtures("quick_compile")
def test_checkpoint_inside_a_scan_body():
    wrap = lambda m: m.checkpoint  # noqa: E731
    got = fgrad.value_and_grad(rnn_loss(FG, wrap), argnums=(0, 2))(*RNN_ARGS)
    close(got, jax.jit(jax.value_and_grad(rnn_loss(JX, wrap), argnums=(0, 2)))(*RNN_ARGS))
    close(got, fgrad.value_and_grad(rnn_loss(PLAIN, wrap), argnums=(0, 2))(*RNN_ARGS))
    close(fgrad.jit(fgrad.grad(rnn_loss(FG, wrap)))(*RNN_ARGS), got[1][0])
    # In a loop XLA merges nothing across iterations: prevent_cse=False is JAX's advice.
    loose = lambda m: lambda f: m.checkpoint(f, prevent_cse=False)  # noqa: E731
    close(fgrad.grad(rnn_loss(FG, loose))(*RNN_ARGS), got[1][0])

    def stacked_residuals(m):
        """The residuals the loop computes (one per step, stacked), not its inputs."""
        program = fgrad.make_ir(rnn_loss(m, wrap))(*RNN_ARGS)
        lin = linearize_program(program, [True] * 5)
        n_out = len(lin.known.outputs) - lin.n_residuals
        return [str(r.aval) for r in lin.known.outputs[n_out:] if r not in lin.known.inputs]
    # Per step, the checkpointed loop keeps the carry h (the step's input) and the
    # derivative of the square outside the checkpoint (xs are read from the loop's operand);
    # without checkpointing it also keeps tanh's derivative.
    assert stacked_residuals(FG) == ["f64[50,8]"] * 2
    assert stacked_residuals(PLAIN) == ["f64[50,8]"] * 3


def test_static_argnums():
    def f(m):
        def g(x, n, scale, how):
            for _ in range(n):  # n is a Python int
                x = getattr(m.np, how)(x) * scale
            return x
        return g

    x = X[0]
    for static in ((1, 3), (-3, -1)):
        got = fgrad.grad(lambda x, s: fgrad.checkpoint(f(FG), static_argnums=static)(
            x, 3, s, "sin").sum(), argnums=(0, 1))(x, 1.5)
        want = jax.grad(lambda x, s: jax.checkpoint(f(JX), static_argnums=(1, 3))(
            x, 3, s, "sin").sum(), argnums=(0, 1))(x, 1.5)
        close(got, want)
    single = fgrad.checkpoint(lambda x, n: x * n, static_argnums=1)
    close(fgrad.grad(lambda x: single(x, 3).sum())(x), 3.0 * np.ones(4))
    program = fgrad.make_ir(lambda x: single(x, 3))(x)
    [eqn] = program.eqns
    assert eqn.primitive is checkpoint_p and len(eqn.inputs) == 1  # 3 is not an operand


@pytest.mark.usefixtures("quick_compile")
def test_closures_over_differentiated_values_are_differentiated():
    def loss(m):
        def f(W, x, c):
            g = m.checkpoint(lambda x: m.np.tanh(x @ W) * c)  # closes over W and c
            inner = m.checkpoint(lambda y: g(g(y)) + m.np.sin(W[0]),  # nested, closing over g
                                 policy=m.policies.dots_saveable)
            return m.np.sum(inner(x) ** 2)
        return f

    W = rng.standard_normal((4, 4)) / 2
    got = fgrad.grad(loss(FG), argnums=(0, 1, 2))(W, X, 0.7)
    close(got, jax.jit(jax.grad(loss(JX), argnums=(0, 1, 2)))(W, X, 0.7))
    close(fgrad.jvp(lambda W: loss(FG)(W, X, 0.7), (W,), (W[::-1],)),
          jax.jit(lambda W: jax.jvp(lambda W: loss(JX)(W, X, 0.7), (W,), (W[::-1],)))(W))
    close(fgrad.hessian(loss(FG), argnums=2)(W, X, 0.7),
          jax.jit(jax.hessian(loss(JX), argnums=2))(W, X, 0.7))


def test_integer_arguments_and_results_and_unused_outputs():
    def f(m):
        def g(x, i):
            y, j = m.checkpoint(lambda x, i: (m.np.sin(x) * i, i + 1))(x, i)
            unused, _ = m.checkpoint(lambda x: (m.np.cos(x), m.np.exp(x)))(x)
            return m.np.sum(y) * j + m.np.sum(unused)
        return g

    i = np.int32(3)
    want = jax.jit(jax.grad(f(JX)))(X, i)
    close(fgrad.grad(f(FG))(X, i), want)
    close(fgrad.jit(fgrad.grad(f(FG)))(X, i), want)
    # The unused result goes (checkpoint's DCE rule), and the equation with it.
    program = simplify(fgrad.make_ir(lambda x: fgrad.checkpoint(
        lambda x: (fnp.cos(x), fnp.exp(x)))(x)[1])(X))
    [eqn] = program.eqns
    assert len(eqn.outputs) == 1 and [e.primitive.name for e in eqn.params["body"].eqns] == [
        "exp"]


def test_python_control_flow_on_values_inside_works_without_jit():
    def f(x):
        if fnp.sum(x) > 0:  # reads a value: fine where the enclosing trace knows it
            return fnp.sin(x)
        return fnp.cos(x)

    loss = lambda x: fnp.sum(fgrad.checkpoint(f)(x))  # noqa: E731
    close(fgrad.grad(loss)(np.abs(X)), np.cos(np.abs(X)))
    close(fgrad.grad(loss)(-np.abs(X)), -np.sin(-np.abs(X)))
    with pytest.raises(ConcretizationError):
        fgrad.jit(fgrad.grad(loss))(X)


# -- checkpoint_name and the policies themselves ------------------------------------------------


def test_checkpoint_name_is_the_identity_under_every_transformation():
    tree = {"a": X, "b": (X[0], 2.0)}
    close(fgrad.checkpoint_name(tree, "t"), {"a": X, "b": (X[0], np.float64(2.0))})
    f = lambda x: fnp.sin(fgrad.checkpoint_name(x, "s")) * 2.0  # noqa: E731
    close(fgrad.jvp(f, (X,), (T_X,)), (2 * np.sin(X), 2 * np.cos(X) * T_X))
    close(fgrad.grad(lambda x: f(x).sum())(X), 2 * np.cos(X))
    close(fgrad.vmap(f, in_axes=1)(X), 2 * np.sin(X.T))
    close(fgrad.jit(f)(X), 2 * np.sin(X))
    # The tag is kept by the simplifier, and only primal values carry it.
    program = simplify(fgrad.make_ir(fgrad.grad(lambda x: f(x).sum()))(X))
    assert [e.params for e in program.eqns if e.primitive is name_p] == [{"name": "s"}]
    # Its transpose is the identity (a linear program through a tag).
    linear = fgrad.make_ir(lambda x: fgrad.checkpoint_name(x, "s") * 3.0)(X)
    transposed, _ = transpose_program(linear, [True])
    close(eval_program(transposed, T_X)[0], 3.0 * T_X)


def test_policies_built_alike_are_equal_so_programs_built_alike_are_too():
    P = fgrad.checkpoint_policies
    assert P.save_only_these_names("a", "b") == P.save_only_these_names("b", "a")
    assert hash(P.save_only_these_names("a", "b")) == hash(P.save_only_these_names("b", "a"))
    assert P.save_only_these_names("a") != P.save_only_these_names("b")
    assert P.save_any_names_but_these("a") == P.save_any_names_but_these("a")
    assert P.save_only_these_names("a") != P.save_any_names_but_these("a")
    assert P.checkpoint_dots is P.dots_saveable
    assert repr(P.save_only_these_names("h1")) == "save_only_these_names('h1')"
    assert P.dots_saveable(dot_general_p, dimension_numbers=(((1,), (0,)), ((), ())))
    assert not P.dots_with_no_batch_dims_saveable(
        dot_general_p, dimension_numbers=(((2,), (1,)), ((0,), (0,))))
    # A gradient traced twice, building its policy anew each time, is the same program:
    # the key of fgrad's caches of compiled eager gradients.
    keys = {fgrad.make_ir(fgrad.grad(mlp_loss(FG, "save_only_these_names(h1)")))(
        PARAMS, X).key for _ in range(2)}
    assert len(keys) == 1


# -- errors -----------------------------------------------------------------------------------


def _raises(error, call, *fragments):
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert HERE in message, message  # names the user's line


def test_errors():
    _raises(TypeError, lambda: fgrad.checkpoint(np.sin(X)),
            "checkpoint needs a function, got a ndarray")
    _raises(TypeError, lambda: fgrad.checkpoint(fnp.sin, policy="dots_saveable"),
            "policy must be a callable", "checkpoint_policies.dots_saveable")
    _raises(ValueError, lambda: fgrad.checkpoint(lambda x, n: x, static_argnums=2)(X, 1),
            "static_argnums contains 2", "2 positional argument(s)")
    _raises(ValueError, lambda: fgrad.grad(lambda x: fgrad.checkpoint(
        lambda x, n: x.sum(), static_argnums=(-3,))(x, 1))(X), "static_argnums contains -3")
    _raises(TypeError, lambda: fgrad.checkpoint(fnp.sin, static_argnums="1"),
            "static_argnums must be an int or a sequence of ints")
    _raises(TypeError, lambda: fgrad.checkpoint(fnp.sin, prevent_cse="yes"),
            "prevent_cse must be a bool")
    _raises(TypeError, lambda: fgrad.checkpoint_name(object(), "a"),
            "checkpoint_name('a') names arrays", "object")
    _raises(TypeError, lambda: fgrad.checkpoint_name({"x": X, "s": "text"}, "a"),
            "checkpoint_name('a') names arrays", "str")
    _raises(TypeError, lambda: fgrad.grad(lambda x: fgrad.checkpoint(
        lambda x, how: x.sum())(x, "text"))(X), "is not an array", "static_argnums")
