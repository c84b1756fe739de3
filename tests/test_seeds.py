"""The numbers of design/seed-examples.md that forward and reverse mode cover, each against
its hand-derived value (and JAX's where the seed says so)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp


def close(a, b, rtol=1e-4, atol=1e-6):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


def relu(x):
    return fnp.maximum(x, 0.0)


# -- seed 000: Computer Vision lecture ------------------------------------------------------------

def test_000_1_relu_neuron():
    a = lambda w, b, x: relu(w * x + b)  # noqa: E731
    assert float(a(2.0, 1.0, 3.0)) == 7.0
    dw, db = fgrad.grad(a, argnums=(0, 1))(2.0, 1.0, 3.0)
    assert (float(dw), float(db)) == (3.0, 1.0)


def test_000_2_polynomial():
    a = lambda w, x: (w * x) ** 2 + (w * x) ** 3  # noqa: E731
    assert float(a(1.0, 2.0)) == 12.0 and float(fgrad.grad(a)(1.0, 2.0)) == 32.0


def test_000_3_sum_of_squares():
    x = fnp.array([1.0, -2.0, 3.0, -4.0])
    s, g = fgrad.value_and_grad(lambda x: fnp.sum(x ** 2))(x)
    assert float(s) == 30.0
    close(g, 2 * np.asarray(x))


def test_000_4_norm():
    q, g = fgrad.value_and_grad(fnp.linalg.norm)(fnp.array([1.0, 2.0, 2.0]))
    assert float(q) == pytest.approx(3.0)
    close(g, [1 / 3, 2 / 3, 2 / 3])


def test_000_5_two_layer_net_matches_jax():
    rng = np.random.default_rng(0)
    params = [rng.normal(size=s).astype(np.float32) for s in [(20, 10), (20,), (5, 20), (5,)]]
    x = rng.normal(size=10).astype(np.float32)
    y = rng.normal(size=5).astype(np.float32)

    def loss(W1, b1, W2, b2, np_=fnp):
        h = np_.tanh(W1 @ x + b1)
        y_hat = np_.tanh(W2 @ h + b2)
        return np_.mean((y - y_hat) ** 2)

    ours = fgrad.grad(loss, argnums=(0, 1, 2, 3))(*params)
    theirs = jax.grad(lambda *p: loss(*p, np_=jnp), argnums=(0, 1, 2, 3))(*params)
    for a, b in zip(ours, theirs):
        close(a, b, rtol=1e-5)


def _descend(loss, a, b, steps=100, lr=0.1):
    grads = []
    for _ in range(steps):
        ga, gb = fgrad.grad(loss, argnums=(0, 1))(a, b)
        grads.append((float(ga), float(gb)))
        a, b = a - lr * ga, b - lr * gb
    return float(a), float(b), grads


def test_000_6_gradient_descent():
    loss = lambda a, b: (a - 1) ** 2 + (b + 1) ** 2 + (a - b) ** 2  # noqa: E731
    a, b, grads = _descend(loss, 0.7, -0.7)
    for got, want in zip(grads[:3], [(2.2, -2.2), (0.88, -0.88), (0.352, -0.352)]):
        close(got, want, rtol=1e-5)
    close((a, b), (1 / 3, -1 / 3))


def test_000_7_stop_gradient_in_a_sum():
    x = fnp.ones(10)
    r, g = fgrad.value_and_grad(lambda x: fnp.sum(x ** 2 + x ** 3))(x)
    assert float(r) == 20.0
    close(g, np.full(10, 5.0))
    close(fgrad.grad(lambda x: fnp.sum(x ** 2 + fgrad.stop_gradient(x ** 3)))(x), np.full(10, 2.0))


def test_000_8_descent_with_a_stopped_term():
    loss = lambda a, b: (a - 1) ** 2 + (b + 1) ** 2 + (fgrad.stop_gradient(a) - b) ** 2  # noqa
    a, b, _ = _descend(loss, 0.5, -0.5)
    close((a, b), (1.0, 0.0))


# -- seed 001: Appendix E ------------------------------------------------------------------------

def test_001_1_and_2():
    assert float(fgrad.grad(lambda x: 5 * x ** 2 + 3)(4.0)) == 40.0
    g = fgrad.grad(lambda x, y: 5 * x ** 2 + 3 * fnp.sin(y), argnums=(0, 1))(4.0, 0.0)
    assert (float(g[0]), float(g[1])) == (40.0, 3.0)


def test_001_3_second_derivatives_and_unused_input():
    f = lambda x, y: 5 * x ** 2 * y  # noqa: E731
    assert float(fgrad.grad(f, 0)(4.0, 1.0)) == 40.0
    assert float(fgrad.grad(fgrad.grad(f, 0), 0)(4.0, 1.0)) == 10.0
    assert float(fgrad.grad(f, 1)(4.0, 1.0)) == 80.0
    assert float(fgrad.grad(fgrad.grad(f, 1), 1)(4.0, 1.0)) == 0.0  # the seed's None


def test_001_4_sin_of_dot():
    X, Y = fnp.array([1.0, 2.0, 3.0]), fnp.array([5.0, 6.0, 7.0])
    f = lambda X, Y: fnp.sin(fnp.dot(X, Y))  # noqa: E731
    close(f(X, Y), 0.2963686)
    gX, gY = fgrad.grad(f, argnums=(0, 1))(X, Y)
    close(gX, [4.775368, 5.730442, 6.685516])
    close(gY, [0.955074, 1.910147, 2.865221])


def test_001_5_retain_grad_of_an_intermediate():
    """The seed's B.retain_grad(): B = 5(A + 3), C = mean(B); B's gradient is 1/4."""
    def f(A):
        return fnp.mean(fgrad.tag(5 * (A + 3), "B"))

    A = fnp.array([[1.0, 2.0], [3.0, 4.0]])
    for g in (fgrad.grad_with_tags(f), fgrad.jit(fgrad.grad_with_tags(f))):
        grads, tags = g(A)
        close(grads, np.full((2, 2), 1.25))
        close(tags["B"], np.full((2, 2), 0.25))


def test_001_6_accumulating_a_gradient_twice():
    A = fnp.array([[1.0, 2.0], [3.0, 4.0]])
    g = fgrad.grad(lambda A: fnp.mean(5 * (A + 3)))(A)
    close(g, np.full((2, 2), 1.25))
    total = jax.tree.map(lambda a, b: a + b, g, fgrad.grad(lambda A: fnp.mean(5 * (A + 3)))(A))
    close(total, np.full((2, 2), 2.5))


def test_001_7_the_chain_in_the_program():
    program = fgrad.make_ir(lambda A: fnp.mean(5 * (A + A)))(fnp.ones((2, 2)))
    names = [e.primitive.name for e in program.eqns]
    add, mul, reduce = names.index("add"), names.index("mul"), names.index("reduce_sum")
    assert add < mul < reduce


# -- seed 002: Esslingen demo --------------------------------------------------------------------

def test_002_1_elementwise_derivative():
    f = lambda x: x ** 2 + 3 * x + 2  # noqa: E731
    x = fnp.arange(-5.0, 5.0)
    close(fgrad.grad(lambda x: f(x).sum())(x), 2 * np.arange(-5.0, 5.0) + 3)
    close(fgrad.vmap(fgrad.grad(f))(x), 2 * np.arange(-5.0, 5.0) + 3)


def test_002_2_and_3_products_and_sensitivity():
    t1 = fnp.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    t2 = fnp.array([[7.0, 8.0, 9.0], [10.0, 11.0, 12.0]])
    f = lambda a, b: fnp.sum(a * b)  # noqa: E731
    g1, g2 = fgrad.grad(f, argnums=(0, 1))(t1, t2)
    close(g1, t2)
    close(g2, t1)
    tangent = fnp.zeros((2, 3)).at[0, 1].set(3.0)
    _, change = fgrad.jvp(f, (t1, t2), (fnp.zeros((2, 3)), tangent))
    assert float(change) == 6.0


# -- seed 003: Autodiff for the gifted amateur ----------------------------------------------------

def test_003_1_pullback_twice_and_summed():
    y, pullback = fgrad.vjp(lambda x1, x2: x1 * (x1 + x2), 2.0, 3.0)
    first, second = pullback(1.0), pullback(1.0)
    assert [float(v) for v in first] == [7.0, 2.0] == [float(v) for v in second]
    assert [float(a + b) for a, b in zip(first, second)] == [14.0, 4.0]


def test_003_2_mean_and_sum():
    x = fnp.array([1.0, -2.0, 0.5, 3.0])
    n = 4
    c = lambda x: 2 * x ** 2  # noqa: E731
    close(fgrad.grad(lambda x: fnp.sum(c(x)))(x), 4 * np.asarray(x))
    close(fgrad.grad(lambda x: fnp.mean(c(x)))(x), 4 * np.asarray(x) / n)
    _, pullback = fgrad.vjp(c, x)
    close(pullback(fnp.ones(4))[0], 4 * np.asarray(x))


def test_003_3_detach():
    def a_and_b(p, q):
        c = 2 * p
        return c ** 2, fgrad.stop_gradient(c) * q

    assert float(fgrad.grad(lambda p, q: a_and_b(p, q)[0])(2.0, 3.0)) == 16.0
    assert float(fgrad.grad(lambda p, q: a_and_b(p, q)[1], 1)(2.0, 3.0)) == 4.0
    assert float(fgrad.grad(lambda p, q: a_and_b(p, q)[1], 0)(2.0, 3.0)) == 0.0


def test_003_4_index_assignment():
    def f(x):
        y = fnp.zeros(3).at[:2].set(x)
        y = y.at[2].set(x[0] * y[0])
        return y[0]

    close(fgrad.grad(f)(fnp.array([1.5, -2.0])), [1.0, 0.0])


def test_003_5_hooks_on_y_b_a():
    """x of length 4, a = x**2, b = 2a, y = sum(b): the hooks see 1, ones and 2s, in the
    order the backward pass reaches them."""
    seen = []

    def f(x):
        a = fgrad.hook(x ** 2, lambda ct: seen.append(("a", ct)))
        b = fgrad.hook(2 * a, lambda ct: seen.append(("b", ct)))
        return fgrad.hook(fnp.sum(b), lambda ct: seen.append(("y", ct)))

    x = np.array([1.0, 2.0, 3.0, 4.0])
    close(fgrad.grad(f)(x), 4 * x)
    assert [name for name, _ in seen] == ["y", "b", "a"]
    close(seen[0][1], 1.0)
    close(seen[1][1], np.ones(4))
    close(seen[2][1], np.full(4, 2.0))


def test_003_6_module_hooks():
    """A module y = x**2 with hooks on its output and its input, loss sum(2y) at [1, 2, 3]."""
    seen = {}

    def module(x):
        x = fgrad.hook(x, lambda ct: seen.__setitem__("input", ct))
        return fgrad.hook(x ** 2, lambda ct: seen.__setitem__("output", ct))

    fgrad.jit(fgrad.grad(lambda x: fnp.sum(2 * module(x))))(np.array([1.0, 2.0, 3.0]))
    close(seen["output"], [2.0, 2.0, 2.0])
    close(seen["input"], [4.0, 8.0, 12.0])


def test_003_8_micrograd_scalar():
    class Scalar:
        def __init__(self, value):
            self.value = value

        def __add__(self, other):
            return Scalar(self.value + other.value)

        def __mul__(self, other):
            return Scalar(self.value * other.value)

    def y(x1, x2):
        a, b = Scalar(x1), Scalar(x2)
        return (a * (a + b)).value

    g = fgrad.grad(y, argnums=(0, 1))(2.0, 3.0)
    assert [float(v) for v in g] == [7.0, 2.0]


# -- seed 004: DTU course ------------------------------------------------------------------------

def test_004_1_and_2():
    out, g = fgrad.value_and_grad(lambda x: fnp.mean(3 * (x + 2) ** 2))(fnp.ones((2, 2)))
    assert float(out) == 27.0
    close(g, np.full((2, 2), 4.5))
    close(fgrad.grad(fnp.sum)(fnp.ones((5, 5))), np.ones((5, 5)))


def test_004_3_doubling_loop():
    def f(x):
        y = x * 2
        while fnp.linalg.norm(y) < 1000:
            y = y * 2
        return y

    x = fnp.array([0.2, -0.1, 0.3])
    y, pullback = fgrad.vjp(f, x)
    k = int(round(np.log2(float(y[0]) / float(x[0]))))
    assert 2.0 ** k * np.linalg.norm(np.asarray(x)) >= 1000
    v = fnp.array([0.1, 1.0, 0.0001])
    close(pullback(v)[0], 2.0 ** k * np.asarray(v))
    _, identity_pullback = fgrad.vjp(lambda y: y, y)
    close(identity_pullback(v)[0], v)


def test_003_7_custom_function_both_ways():
    # f(a, b) = a·sin(b) with a hand-written derivative, a = 2x, b = 3x, y = f², at x = 0.5.
    def saving_inputs_fwd(a, b):
        return a * fnp.sin(b), (a, b)

    def saving_inputs_bwd(res, g):
        a, b = res
        return fnp.sin(b) * g, a * fnp.cos(b) * g

    def saving_output_fwd(a, b):  # the seed's second class: sin(b) recovered from the output
        out = a * fnp.sin(b)
        return out, (a, b, out)

    def saving_output_bwd(res, g):
        a, b, out = res
        sin_b = out / a
        sign = fnp.where(fnp.abs(b) < np.pi / 2.0, 1.0, -1.0)
        return sin_b * g, sign * a * fnp.sqrt(1.0 - sin_b ** 2) * g

    def custom_vjp(fwd, bwd):
        fun = fgrad.custom_vjp(lambda a, b: a * fnp.sin(b))
        fun.defvjp(fwd, bwd)
        return fun

    fancy_jvp = fgrad.custom_jvp(lambda a, b: a * fnp.sin(b))

    @fancy_jvp.defjvp
    def fancy_jvp_rule(primals, tangents):
        (a, b), (ta, tb) = primals, tangents
        return a * fnp.sin(b), fnp.sin(b) * ta + a * fnp.cos(b) * tb

    x = 0.5
    s, c = np.sin(3 * x), np.cos(3 * x)
    expected = 4 * x * s * (2 * s + 6 * x * c)
    close(expected, 4.403345, rtol=1e-6)
    for fun in (custom_vjp(saving_inputs_fwd, saving_inputs_bwd),
                custom_vjp(saving_output_fwd, saving_output_bwd), fancy_jvp):
        y = lambda x: fun(2.0 * x, 3.0 * x) ** 2  # noqa: E731
        close(y(x), (2 * x * s) ** 2)
        close(fgrad.grad(y)(x), expected)
        close(fgrad.grad(lambda x: fnp.sum(y(x)))(fnp.array([x])), [expected])  # the seed's [0.5]
        close(fgrad.jvp(y, (x,), (1.0,))[1], expected)  # forward mode: bwd transposed
