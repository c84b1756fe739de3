"""Seed 003 (Autodiff for the gifted amateur) in fgrad: reverse accumulation as vector-
Jacobian products, reusing a pullback, detach, index assignment, a micrograd-style scalar.

Run:  python examples/seeds/seed_003_gifted_amateur.py
"""

import fgrad
import fgrad.numpy as fnp

# 1. retain_graph=True is the default: a pullback can be called again and again.
y, pullback = fgrad.vjp(lambda x1, x2: x1 * (x1 + x2), 2.0, 3.0)
first, second = pullback(1.0), pullback(1.0)
print("1. y =", y, " pullback twice:", [float(v) for v in first], [float(v) for v in second],
      " summed:", [float(a + b) for a, b in zip(first, second)])

x = fnp.array([1.0, -2.0, 0.5, 3.0])
c = lambda x: 2 * x ** 2  # noqa: E731
print("2. d sum(c)/dx =", fgrad.grad(lambda x: fnp.sum(c(x)))(x),
      "\n   d mean(c)/dx =", fgrad.grad(lambda x: fnp.mean(c(x)))(x),
      "\n   pullback of c on ones =", fgrad.vjp(c, x)[1](fnp.ones(4))[0])


def a_and_b(p, q):
    c = 2 * p
    return c ** 2, fgrad.stop_gradient(c) * q


print("3. da/dp =", fgrad.grad(lambda p, q: a_and_b(p, q)[0])(2.0, 3.0),
      " db/dq =", fgrad.grad(lambda p, q: a_and_b(p, q)[1], 1)(2.0, 3.0),
      " db/dp =", fgrad.grad(lambda p, q: a_and_b(p, q)[1], 0)(2.0, 3.0))


# 4. In-place assignment y[:2] = x becomes y.at[:2].set(x), and stays differentiable.
def assign(x):
    y = fnp.zeros(3).at[:2].set(x)
    y = y.at[2].set(x[0] * y[0])
    return y[0]


print("4. gradient through index assignment:", fgrad.grad(assign)(fnp.array([1.5, -2.0])))


# 8. A micrograd-style Scalar with only + and *: fgrad differentiates through it unchanged.
class Scalar:
    def __init__(self, value):
        self.value = value

    def __add__(self, other):
        return Scalar(self.value + other.value)

    def __mul__(self, other):
        return Scalar(self.value * other.value)


grads = fgrad.grad(lambda a, b: (Scalar(a) * (Scalar(a) + Scalar(b))).value,
                   argnums=(0, 1))(2.0, 3.0)
print("8. micrograd Scalar:", [float(g) for g in grads])
