"""Seed 004 (DTU course) in fgrad: requires_grad as argnums, backward with a gradient
vector as a pullback, and a Python loop that reads a value (define-by-run).

Run:  python examples/seeds/seed_004_dtu.py
"""

import numpy as np

import fgrad
import fgrad.numpy as fnp

out, g = fgrad.value_and_grad(lambda x: fnp.mean(3 * (x + 2) ** 2))(fnp.ones((2, 2)))
print("1. out =", out, " d out/dx =", g)
print("2. gradient of sum over a 5x5:", fgrad.grad(fnp.sum)(fnp.ones((5, 5))))


# 3. Outside jit, traced values know their values, so a data-dependent while loop just runs.
def doubling(x):
    y = x * 2
    while fnp.linalg.norm(y) < 1000:
        y = y * 2
    return y


x = fnp.array([0.2, -0.1, 0.3])
y, pullback = fgrad.vjp(doubling, x)
v = fnp.array([0.1, 1.0, 0.0001])
k = int(round(np.log2(float(y[0]) / float(x[0]))))
print(f"3. y = {y}  ({k} doublings)\n   pullback(v) = {pullback(v)[0]} = 2^{k} v")
