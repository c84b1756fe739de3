"""Seed 002 (Esslingen demo) in fgrad: elementwise derivatives, gradients of products,
gradients as sensitivities.

Run:  python examples/seeds/seed_002_esslingen.py
"""

import fgrad
import fgrad.numpy as fnp

f = lambda x: x ** 2 + 3 * x + 2  # noqa: E731
x = fnp.arange(-5.0, 5.0)
# backward() needs a scalar: differentiate the sum to get every element's derivative at once.
print("1. f'(x) = 2x + 3 on arange(-5, 5):", fgrad.grad(lambda x: f(x).sum())(x))
# ... or, without the sum, the scalar derivative vectorized over x:
print("   as vmap(grad(f)):", fgrad.vmap(fgrad.grad(f))(x))

t1 = fnp.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
t2 = fnp.array([[7.0, 8.0, 9.0], [10.0, 11.0, 12.0]])
s = lambda a, b: fnp.sum(a * b)  # noqa: E731
print("2. d/dt1 sum(t1*t2) =", fgrad.grad(s, 0)(t1, t2), "\n   d/dt2 =", fgrad.grad(s, 1)(t1, t2))

# 3. A gradient is a sensitivity: raising t2[0, 1] by 3 raises the sum by 3 * t1[0, 1].
bump = fnp.zeros((2, 3)).at[0, 1].set(3.0)
print("3. change of the sum =", fgrad.jvp(s, (t1, t2), (fnp.zeros((2, 3)), bump))[1])
