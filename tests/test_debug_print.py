"""fgrad.debug.print and fgrad.debug.callback: eager, under fgrad.jit and jax.jit, under grad
(once per evaluation, primal values only), vmap (once per element, as JAX), and the
simplifier (never dropped, never merged)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.debug.printing import callback, print as dprint
from fgrad.lax.effects import debug_callback_p
from fgrad.transforms.rules import batch_rules, jvp_rules, transpose_rules
from fgrad.transforms.simplify import cse, dce, simplify


def printed(capsys) -> list[str]:
    jax.effects_barrier()  # compiled callbacks print from XLA's host-callback thread
    return capsys.readouterr().out.splitlines()


def jax_printed(capsys, fn, *args) -> list[str]:
    """What the same prints written with jax.debug.print show."""
    fn(*args)
    return printed(capsys)


def f(x):
    dprint("x = {}", x)
    y = fnp.sin(x) * 2.0
    dprint("y = {y}", y=y)
    return fnp.sum(y)


def f_jax(x):
    jax.debug.print("x = {}", x, ordered=True)
    y = jnp.sin(x) * 2.0
    jax.debug.print("y = {y}", y=y, ordered=True)
    return jnp.sum(y)


X = np.arange(3, dtype=np.float32)


def test_eager_prints_at_once_and_like_jax(capsys):
    f(jnp.asarray(X))
    # Eagerly the function is called directly: the output is there without a barrier.
    out = capsys.readouterr().out.splitlines()
    assert out == jax_printed(capsys, f_jax, jnp.asarray(X))
    assert out[0] == "x = [0. 1. 2.]"


@pytest.mark.parametrize("wrap", [fgrad.jit, jax.jit])
def test_jit_prints_at_run_time_each_call(capsys, wrap):
    g = wrap(f)
    g(jnp.asarray(X))
    first = printed(capsys)
    assert first == jax_printed(capsys, jax.jit(f_jax), jnp.asarray(X))
    g(jnp.asarray(X + 1))  # cached executable: still prints, with the new values
    again = printed(capsys)
    assert again == jax_printed(capsys, f_jax, jnp.asarray(X + 1))
    assert again != first


def test_prints_are_ordered_under_jit(capsys):
    @fgrad.jit
    def h(x):
        for i in range(5):
            dprint("step {} {}", i, x * i)
        return x

    h(jnp.float32(1.0))
    assert printed(capsys) == [f"step {i} {float(i)}" for i in range(5)]


@pytest.mark.parametrize("wrap", ["eager", "fgrad.jit", "jax.jit"])
def test_grad_prints_once_per_evaluation_with_primal_values(capsys, wrap):
    g = {"eager": fgrad.grad(f), "fgrad.jit": fgrad.jit(fgrad.grad(f)),
         "jax.jit": jax.jit(fgrad.grad(f))}[wrap]
    grads = g(jnp.asarray(X))
    np.testing.assert_allclose(grads, 2 * np.cos(X), rtol=1e-6)
    assert printed(capsys) == jax_printed(capsys, f_jax, jnp.asarray(X))


def test_higher_order_derivatives_print_once(capsys):
    def cube(x):
        dprint("at {}", x)
        return fnp.sum(x ** 3)

    h = fgrad.hessian(cube)(jnp.asarray([1.0, 2.0]))
    np.testing.assert_allclose(h, np.diag([6.0, 12.0]))
    assert printed(capsys) == ["at [1. 2.]"]
    assert fgrad.grad(fgrad.grad(lambda x: cube(x[None])))(3.0) == 18.0
    assert printed(capsys) == ["at [3.]"]


def test_jvp_linearize_vjp_print_primal_once(capsys):
    x = jnp.asarray(X)
    fgrad.jvp(f, (x,), (jnp.ones(3),))
    assert printed(capsys) == jax_printed(capsys, f_jax, x)
    _, f_lin = fgrad.linearize(f, x)
    assert printed(capsys) == jax_printed(capsys, f_jax, x)
    f_lin(jnp.ones(3))  # the linear map prints nothing: tangents are not printed
    f_lin(jnp.ones(3))
    assert printed(capsys) == []
    _, pullback = fgrad.vjp(f, x)
    printed(capsys)
    pullback(1.0)
    assert printed(capsys) == []


@pytest.mark.parametrize("wrap", ["eager", "fgrad.jit"])
def test_vmap_prints_once_per_element_like_jax(capsys, wrap):
    xs = jnp.arange(6.0).reshape(2, 3)
    g = fgrad.vmap(f) if wrap == "eager" else fgrad.jit(fgrad.vmap(f))
    out = g(xs)
    ours = printed(capsys)
    np.testing.assert_allclose(out, np.sin(np.asarray(xs)).sum(1) * 2, rtol=1e-6)
    # jax.vmap of jax.debug.print: one line per element (unordered under vmap in JAX).
    def f_jax_unordered(x):
        jax.debug.print("x = {}", x)
        y = jnp.sin(x) * 2.0
        jax.debug.print("y = {y}", y=y)
        return jnp.sum(y)
    theirs = jax_printed(capsys, jax.vmap(f_jax_unordered), xs)
    assert sorted(ours) == sorted(theirs)
    assert ours == ["x = [0. 1. 2.]", "x = [3. 4. 5.]",
                    theirs[2], theirs[3]]


def test_vmap_along_another_axis_and_unbatched_operands(capsys):
    def g(x, y):
        dprint("{} {}", x, y)
        return x * y

    fgrad.vmap(g, in_axes=(1, None))(jnp.arange(4.0).reshape(2, 2), 10.0)
    assert printed(capsys) == ["[0. 2.] 10.0", "[1. 3.] 10.0"]


def test_program_shows_the_callback_and_simplify_keeps_it():
    def g(x):
        dprint("unused {}", x * 3.0)   # feeds nothing the output needs
        dprint("unused {}", x * 3.0)   # the same again: not merged with the first
        return x + 1.0

    program = fgrad.make_ir(g)(1.0)
    text = str(program)
    assert text.count("debug_callback[callback=print('unused {}')]") == 2
    for p in (dce(program), cse(program), simplify(program)):
        assert sum(e.primitive is debug_callback_p for e in p.eqns) == 2
    # cse still merges the two pure multiplications feeding them.
    assert sum(e.primitive.name == "mul" for e in simplify(program).eqns) == 1


def test_print_inside_a_loop_body_survives_dce(capsys):
    def body(i, c):
        dprint("i = {}", i)
        return c

    @fgrad.jit
    def g(x):
        fgrad.lax.fori_loop(0, 3, body, x)  # result unused: the loop stays for its prints
        return x

    g(jnp.float32(1.0))
    assert printed(capsys) == ["i = 0", "i = 1", "i = 2"]


def test_callback_receives_concrete_pytrees(capsys):
    seen = []

    def record(a, tree, *, scale):
        seen.append((np.asarray(a), {k: np.asarray(v) for k, v in tree.items()},
                     np.asarray(scale)))

    def g(x):
        callback(record, x, {"two": 2 * x}, scale=x.sum())
        return x

    x = jnp.asarray([1.0, 2.0])
    g(x)
    fgrad.jit(g)(x)
    fgrad.grad(lambda x: g(x).sum())(x)
    jax.effects_barrier()
    assert len(seen) == 3
    for a, tree, scale in seen:
        np.testing.assert_array_equal(a, [1.0, 2.0])
        np.testing.assert_array_equal(tree["two"], [2.0, 4.0])
        assert scale == 3.0


def test_rules_are_registered():
    assert debug_callback_p.effectful
    assert debug_callback_p in jvp_rules and debug_callback_p in batch_rules
    assert debug_callback_p in transpose_rules
    assert not fgrad.lax.sin_p.effectful if hasattr(fgrad.lax, "sin_p") else True


def test_bad_arguments_name_the_user_line():
    import inspect
    line = inspect.currentframe().f_lineno
    with pytest.raises(TypeError, match="callback needs a function") as e:
        callback(3, 1.0)
    assert f"test_debug_print.py:{line + 2}" in str(e.value)
    with pytest.raises(TypeError, match="format string"):
        dprint(3.0)
    with pytest.raises(ValueError, match="does not fit the arguments"):
        dprint("{missing}", 1.0)
    with pytest.raises(ValueError, match="does not fit the arguments"):
        dprint("{} {}", 1.0)
    with pytest.raises(TypeError, match="takes arrays and scalars"):
        dprint("{}", "a string")
    # fgrad still works after the errors.
    assert fgrad.grad(lambda x: x * x)(3.0) == 6.0


@pytest.mark.parametrize("wrap", ["eager", "fgrad.jit"])
def test_grad_through_scan_cond_and_checkpoint_prints_each_forward_step_once(capsys, wrap):
    def step(c, x):
        dprint("x = {}", x)
        return c + fnp.sin(x), None

    def f(xs):
        total = fgrad.lax.scan(step, 0.0, xs)[0]
        total = fgrad.lax.cond(total > 0, lambda t: (dprint("positive"), t)[1],
                               lambda t: t, total)
        return fgrad.checkpoint(lambda t: (dprint("checkpoint {}", t), t * t)[1])(total)

    g = fgrad.grad(f) if wrap == "eager" else fgrad.jit(fgrad.grad(f))
    xs = np.array([0.5, 1.0], np.float32)
    total = np.sin(0.5) + np.sin(1.0)
    np.testing.assert_allclose(g(xs), 2 * total * np.cos(xs), rtol=1e-6)
    lines = printed(capsys)
    assert lines[:3] == ["x = 0.5", "x = 1.0", "positive"]
    # The print stays in the forward pass: checkpoint's recomputation does not print again.
    assert len(lines) == 4 and lines[3].startswith("checkpoint ")
    np.testing.assert_allclose(float(lines[3].split()[1]), total, rtol=1e-6)
