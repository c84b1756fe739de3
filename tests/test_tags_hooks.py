"""tag / grad_with_tags (gradients of intermediate values) and hook (backward hooks), against
hand-derived numbers and JAX references with explicit perturbation inputs."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.core.errors import FgradError
from fgrad.debug.tags import TagError, grad_with_tags
from fgrad.lax.debugging import HookError, hook, tag


def close(a, b, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


def line_of(fn) -> int:
    return inspect.getsourcelines(fn)[1]


# -- tags -----------------------------------------------------------------------------------------

def seed_001_5(A):
    B = tag(5 * (A + 3), "B")
    return fnp.mean(B)


A = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)


@pytest.mark.parametrize("wrap", ["eager", "fgrad.jit", "jax.jit"])
def test_seed_001_5_tagged_B_gets_a_quarter(wrap):
    g = grad_with_tags(seed_001_5)
    g = {"eager": g, "fgrad.jit": fgrad.jit(g), "jax.jit": jax.jit(g)}[wrap]
    grads, tag_grads = g(jnp.asarray(A))
    close(grads, np.full((2, 2), 1.25))
    assert set(tag_grads) == {"B"}
    close(tag_grads["B"], np.full((2, 2), 0.25))
    assert tag_grads["B"].shape == (2, 2) and tag_grads["B"].dtype == jnp.float32


def test_tags_are_the_identity_elsewhere():
    assert float(seed_001_5(A)) == float(np.mean(5 * (A + 3)))
    close(fgrad.grad(seed_001_5)(A), np.full((2, 2), 1.25))
    close(fgrad.jit(seed_001_5)(A), np.mean(5 * (A + 3)))
    out, t = fgrad.jvp(seed_001_5, (A,), (np.ones_like(A),))
    close(t, 5.0)
    close(fgrad.vmap(seed_001_5)(np.stack([A, A])), [np.mean(5 * (A + 3))] * 2)
    assert "tag[" in str(fgrad.make_ir(seed_001_5)(A))


def nonlinear(x, y):
    h = tag(fnp.sin(x) * y, "h")
    z = tag({"p": h ** 2, "q": fnp.exp(h)}, "z")
    return fnp.sum(z["p"] * y) + fnp.sum(z["q"])


def nonlinear_ref(x, y, eh, ep, eq):
    h = jnp.sin(x) * y + eh
    p, q = h ** 2 + ep, jnp.exp(h) + eq
    return jnp.sum(p * y) + jnp.sum(q)


X, Y = np.array([0.3, -1.2, 2.0], np.float32), np.array([1.5, 0.7, -0.4], np.float32)


def _reference(x, y):
    z = jnp.zeros(3)
    gx, gy, eh, ep, eq = jax.grad(nonlinear_ref, argnums=(0, 1, 2, 3, 4))(x, y, z, z, z)
    return (gx, gy), {"h": eh, "z": {"p": ep, "q": eq}}


def _check_against_reference(got, x=X, y=Y):
    (gx, gy), tags = got
    (rx, ry), rtags = _reference(x, y)
    close(gx, rx), close(gy, ry)
    close(tags["h"], rtags["h"])
    close(tags["z"]["p"], rtags["z"]["p"]), close(tags["z"]["q"], rtags["z"]["q"])


def test_pytree_tags_and_argnums_against_jax():
    _check_against_reference(grad_with_tags(nonlinear, argnums=(0, 1))(X, Y))
    _check_against_reference(fgrad.jit(grad_with_tags(nonlinear, argnums=(0, 1)))(X, Y))
    _check_against_reference(jax.jit(grad_with_tags(nonlinear, argnums=(0, 1)))(X, Y))


def test_only_some_arguments_and_has_aux():
    def f(x, y):
        return nonlinear(x, y), {"note": "aux", "value": x * 2}

    (gx, tags), aux = grad_with_tags(f, has_aux=True)(X, Y)
    (rx, _), rtags = _reference(X, Y)
    close(gx, rx), close(tags["h"], rtags["h"])
    assert aux["note"] == "aux"
    close(aux["value"], X * 2)


def test_under_vmap_per_example():
    xs, ys = np.stack([X, X * 2]), np.stack([Y, -Y])
    (gx, gy), tags = fgrad.vmap(grad_with_tags(nonlinear, argnums=(0, 1)))(xs, ys)
    for i in range(2):
        _check_against_reference(((gx[i], gy[i]), jax.tree_util.tree_map(lambda t: t[i], tags)),
                                 xs[i], ys[i])


def scanned(x):
    def body(c, xi):
        h = tag(c * xi, "h")
        return fnp.sin(h), h ** 2

    c, ys = fgrad.lax.scan(body, 1.0 * x[0], x)
    return c + fnp.sum(ys)


def scanned_ref(x, eps):
    def body(c, inp):
        xi, e = inp
        h = c * xi + e
        return jnp.sin(h), h ** 2

    c, ys = jax.lax.scan(body, x[0], (x, eps))
    return c + jnp.sum(ys)


def test_tag_inside_scan_gives_per_step_gradients():
    x = np.array([0.5, 1.5, -0.7, 2.0], np.float32)
    rx, reps = jax.grad(scanned_ref, argnums=(0, 1))(x, jnp.zeros(4))
    for g in (grad_with_tags(scanned), fgrad.jit(grad_with_tags(scanned)),
              jax.jit(grad_with_tags(scanned))):
        gx, tags = g(x)
        close(gx, rx, rtol=1e-4), close(tags["h"], reps, rtol=1e-4)
        assert tags["h"].shape == (4,)


def test_tag_inside_scan_inside_scan_and_reverse():
    def f(x):
        def outer(c, row):
            def inner(d, v):
                return d * tag(v * 2.0, "v"), None
            d, _ = fgrad.lax.scan(inner, c, row, reverse=True)
            return d, None
        c, _ = fgrad.lax.scan(outer, 1.0, x)
        return c

    def ref(x, eps):
        c = 1.0
        for i in range(x.shape[0]):
            for j in reversed(range(x.shape[1])):
                c = c * (x[i, j] * 2.0 + eps[i, j])
        return c

    x = np.array([[0.5, 1.5, 1.1], [0.9, -0.8, 1.2]], np.float32)
    rx, reps = jax.grad(ref, argnums=(0, 1))(x, jnp.zeros((2, 3)))
    gx, tags = grad_with_tags(f)(x)
    close(gx, rx), close(tags["v"], reps)


def test_tag_inside_cond():
    def f(x, which):
        def left(x):
            return tag(x * 3.0, "t") ** 2

        def right(x):
            return fnp.sin(tag(x + 1.0, "t"))  # the same name in the other branch

        def other(x):
            return tag(x * x, "u")

        y = fgrad.lax.switch(which, [left, right, other], x)
        return fnp.sum(y)

    x = np.array([0.2, -0.4], np.float32)
    for g in (grad_with_tags(f), jax.jit(grad_with_tags(f)), fgrad.jit(grad_with_tags(f))):
        gx, tags = g(x, 0)
        close(gx, 18 * x), close(tags["t"], 2 * 3 * x), close(tags["u"], 0 * x)
        gx, tags = g(x, 1)
        close(gx, np.cos(x + 1)), close(tags["t"], np.cos(x + 1)), close(tags["u"], 0 * x)
        gx, tags = g(x, 2)
        close(gx, 2 * x), close(tags["t"], 0 * x), close(tags["u"], np.ones(2))


def test_grad_of_grad_with_tags():
    def f(x):
        return fnp.sum(tag(x ** 2, "s") ** 2)  # d/ds = 2s = 2x**2

    x = np.array([1.0, -2.0, 0.5], np.float32)
    close(grad_with_tags(f)(x)[1]["s"], 2 * x ** 2)
    second = fgrad.grad(lambda x: fnp.sum(grad_with_tags(f)(x)[1]["s"]))(x)
    close(second, 4 * x)
    close(fgrad.grad(lambda x: fnp.sum(grad_with_tags(f)(x)[0]))(x), 12 * x ** 2)


def test_duplicate_name_is_an_error_naming_both_lines():
    def f(x):
        a = tag(x * 2, "a")
        b = tag(a * 3, "a")
        return fnp.sum(b)

    first = line_of(f) + 1
    with pytest.raises(TagError) as info:
        grad_with_tags(f)(X)
    msg = str(info.value)
    assert "'a'" in msg and "used twice" in msg
    assert f"test_tags_hooks.py:{first}" in msg and f"test_tags_hooks.py:{first + 1}" in msg
    assert isinstance(info.value, FgradError) and isinstance(info.value, ValueError)
    # fgrad still works afterwards
    close(grad_with_tags(seed_001_5)(A)[1]["B"], np.full((2, 2), 0.25))


def test_duplicate_name_in_a_loop_body_and_outside():
    def f(x):
        y = tag(x, "h")
        c, _ = fgrad.lax.scan(lambda c, v: (tag(c * v, "h"), None), 1.0, y)
        return c

    with pytest.raises(TagError, match="'h' is used twice"):
        grad_with_tags(f)(X)


def test_tag_inside_while_loop_is_an_error():
    def f(x):
        return fgrad.lax.while_loop(lambda c: c < 10.0, lambda c: tag(c * 2.0, "c"), x)

    with pytest.raises(TagError, match="'c'.*inside a while"):
        grad_with_tags(f)(1.0)
    # the tag is just the identity for the other transforms
    assert float(fgrad.jvp(f, (1.0,), (1.0,))[1]) == 16.0
    close(grad_with_tags(seed_001_5)(A)[0], np.full((2, 2), 1.25))


def test_tag_argument_errors():
    with pytest.raises(TypeError, match="dtype int32"):
        tag(jnp.arange(3), "i")
    with pytest.raises(TypeError, match="must be a string"):
        tag(X, 3)
    with pytest.raises(TypeError, match="scalar-output"):
        grad_with_tags(lambda x: tag(x, "x"))(X)
    close(grad_with_tags(lambda x: fnp.sum(tag(x, "x") * 2))(X)[1]["x"], [2.0] * 3)


# -- hooks ----------------------------------------------------------------------------------------

def seed_003_5(x, seen):
    a = hook(x ** 2, lambda ct: seen.append(("a", ct)))
    b = hook(2 * a, lambda ct: seen.append(("b", ct)))
    return hook(fnp.sum(b), lambda ct: seen.append(("y", ct)))


def _check_seed_003_5(seen):
    assert [name for name, _ in seen] == ["y", "b", "a"]
    close(seen[0][1], 1.0), close(seen[1][1], [1.0] * 4), close(seen[2][1], [2.0] * 4)


@pytest.mark.parametrize("wrap", ["eager", "fgrad.jit", "jax.jit"])
def test_seed_003_5_hooks_report_cotangents(wrap):
    seen = []
    x = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    g = fgrad.grad(lambda x: seed_003_5(x, seen))
    g = {"eager": g, "fgrad.jit": fgrad.jit(g), "jax.jit": jax.jit(g)}[wrap]
    close(g(x), 4 * x)
    _check_seed_003_5(seen)
    assert all(isinstance(ct, np.ndarray) for _, ct in seen)
    if wrap != "eager":  # compiled once: the hooks run at every call
        seen.clear()
        close(g(2 * x), 8 * x)
        _check_seed_003_5(seen)


def test_seed_003_6_module_style_hooks():
    """A module f(x) = x**2 with a hook on its input and one on its output."""
    seen = {}

    def module(x):
        x = hook(x, lambda ct: seen.__setitem__("input", ct))
        return hook(x ** 2, lambda ct: seen.__setitem__("output", ct))

    x = np.array([1.0, 2.0, 3.0], np.float32)
    close(fgrad.grad(lambda x: fnp.sum(2 * module(x)))(x), [4.0, 8.0, 12.0])
    close(seen["output"], [2.0, 2.0, 2.0]), close(seen["input"], [4.0, 8.0, 12.0])


def _clip(ct):
    return np.clip(ct, -1.0, 1.0)


def hooked(x):
    h = hook(fnp.sin(x) * 3.0, _clip)
    return fnp.sum(h * h)


def hooked_ref(x):
    # the cotangent at h is 2h, clipped to [-1, 1]
    h = jnp.sin(x) * 3.0
    return jnp.clip(2 * h, -1.0, 1.0) * 3.0 * jnp.cos(x)


def test_replacement_against_hand_derivation():
    x = np.array([0.05, -0.1, 1.0, -2.0], np.float32)
    for g in (fgrad.grad(hooked), fgrad.jit(fgrad.grad(hooked)), jax.jit(fgrad.grad(hooked))):
        close(g(x), hooked_ref(x))
    scale = fgrad.grad(lambda x: fnp.sum(hook(x * x, lambda ct: ct * 3)))
    close(scale(x), 6 * x)
    # forward mode leaves tangents untouched, and never calls the hook
    calls = []
    _, t = fgrad.jvp(lambda x: hook(x * 2.0, lambda ct: calls.append(ct)), (x,), (x,))
    close(t, 2 * x)
    assert calls == []


def test_vmap_calls_the_hook_once_per_example():
    seen = []

    def f(x):
        x = hook(x, lambda ct: seen.append(ct) or ct * 2)
        return fnp.sum(x ** 3)

    xs = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.0]], np.float32)
    for g in (fgrad.vmap(fgrad.grad(f)), jax.jit(fgrad.vmap(fgrad.grad(f)))):
        seen.clear()
        close(g(xs), 6 * xs ** 2)
        assert len(seen) == 3 and all(ct.shape == (2,) for ct in seen)
        close(np.stack(seen), 3 * xs ** 2)


def test_hook_inside_scan_and_cond():
    seen = []

    def f(x):
        def body(c, xi):
            return c * hook(xi, lambda ct: seen.append(ct.item())), None
        c, _ = fgrad.lax.scan(body, 1.0, x)
        return fgrad.lax.cond(c > 0, lambda c: hook(c * 2.0, lambda ct: ct * 10), lambda c: c, c)

    x = np.array([1.0, 2.0, 3.0], np.float32)
    for g in (fgrad.grad(f), jax.jit(fgrad.grad(f))):
        seen.clear()
        close(g(x), [120.0, 60.0, 40.0])  # 20 * d(x0 x1 x2)
        assert sorted(seen) == [40.0, 60.0, 120.0]  # once per step, in reverse order
        assert seen == [40.0, 60.0, 120.0]


def test_grad_of_grad_is_straight_through():
    seen = []

    def f(x):
        return fnp.sum(hook(x, lambda ct: seen.append(ct) or ct * 2) ** 3)

    x = np.array([1.0, -2.0], np.float32)
    close(fgrad.grad(f)(x), 6 * x ** 2)
    seen.clear()
    # The inner hook replaced 3x² by 6x²; the outer derivative differentiates that
    # replacement as the identity (d(3x²)/dx = 6x), and the outer pass's cotangent at x (6x)
    # goes through the hook too, which doubles it: 12x (exact would be d(6x²)/dx doubled).
    second = fgrad.grad(lambda x: fnp.sum(fgrad.grad(f)(x)))(x)
    close(second, 2 * 6 * x)
    assert len(seen) == 2
    close(seen[0], 3 * x ** 2)  # the inner pass
    close(seen[1], 6 * x)       # the outer pass


def test_bad_replacement_names_the_hook_line():
    def wrong_shape(ct):
        return ct[:1]

    f = lambda x: fnp.sum(hook(x * 2, wrong_shape))  # noqa: E731
    where = f"test_tags_hooks.py:{line_of(wrong_shape)}"
    # Eagerly the hook runs through the same host callback as under jit, so the HookError
    # arrives wrapped in JAX's runtime error, with fgrad's message.
    for g in (fgrad.grad(f), jax.jit(fgrad.grad(f))):
        with pytest.raises(Exception, match="float32\\[3\\].*float32\\[1\\]") as info:
            np.asarray(g(X))
        assert where in str(info.value) and "HookError" in str(info.value)
    with pytest.raises(Exception, match="float64"):
        np.asarray(fgrad.grad(lambda x: fnp.sum(hook(x, lambda ct: ct.astype(np.float64))))(X))
    # fgrad works afterwards
    close(fgrad.grad(hooked)(X), hooked_ref(X))


def test_hook_error_type_and_argument_errors():
    from fgrad.lax.debugging import HookFn, _host_hook
    with pytest.raises(HookError, match="returned a str"):
        _host_hook(HookFn(lambda ct: "no"), 0, (2,), np.ones(2, np.float32))
    assert issubclass(HookError, FgradError) and issubclass(HookError, ValueError)
    with pytest.raises(TypeError, match="hook needs a function"):
        hook(X, 3)
    # integer leaves pass through unhooked; a Python scalar replacement of a scalar is fine
    out = hook({"i": jnp.arange(2), "f": 1.0}, lambda ct: None)
    assert out["i"].dtype == jnp.int32
    close(fgrad.grad(lambda x: hook(x * x, lambda ct: 5.0))(3.0), 30.0)


def test_cond_branches_sharing_a_name_need_one_type():
    def f(x, i):
        y = fgrad.lax.switch(i, [lambda x: fnp.sum(tag(x, "t")), lambda x: tag(fnp.sum(x), "t")],
                             x)
        return y

    with pytest.raises(TagError, match="'t' is used twice"):
        grad_with_tags(f)(X, 0)
    close(grad_with_tags(lambda x: fnp.sum(tag(x, "t")))(X)[1]["t"], np.ones(3))


def test_hooks_run_at_every_eager_call_once_compiled():
    """The eager gradient cache compiles a structure seen again: the hook stays a call."""
    seen = []

    def observe(ct):
        seen.append(ct)

    def f(x):
        return fnp.sum(hook(x * x, observe))

    g = fgrad.grad(f)
    x = np.array([1.0, 2.0], np.float32)
    for i in range(4):
        close(g(x + i), 2 * (x + i))
        assert len(seen) == i + 1
        close(seen[-1], [1.0, 1.0])
