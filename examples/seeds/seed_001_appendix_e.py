"""Seed 001 (Appendix E) in fgrad: backward and autograd.grad, create_graph (second
derivatives), gradient accumulation, walking the graph.

Run:  python examples/seeds/seed_001_appendix_e.py
"""

import fgrad
import fgrad.numpy as fnp

print("1. d/dx (5x^2 + 3) at 4 =", fgrad.grad(lambda x: 5 * x ** 2 + 3)(4.0))
print("2. grad of 5x^2 + 3 sin(y) at (4, 0) =",
      fgrad.grad(lambda x, y: 5 * x ** 2 + 3 * fnp.sin(y), argnums=(0, 1))(4.0, 0.0))

# 3. create_graph=True is just nesting: grad of grad.
f = lambda x, y: 5 * x ** 2 * y  # noqa: E731
print("3. df/dx =", fgrad.grad(f, 0)(4.0, 1.0), " d2f/dx2 =",
      fgrad.grad(fgrad.grad(f, 0), 0)(4.0, 1.0))
print("   df/dy =", fgrad.grad(f, 1)(4.0, 1.0), " d2f/dy2 =",
      fgrad.grad(fgrad.grad(f, 1), 1)(4.0, 1.0), "(exact zeros where PyTorch says None)")

X, Y = fnp.array([1.0, 2.0, 3.0]), fnp.array([5.0, 6.0, 7.0])
g = lambda X, Y: fnp.sin(fnp.dot(X, Y))  # noqa: E731
print("4. f =", g(X, Y), " (df/dX, df/dY) =", fgrad.grad(g, argnums=(0, 1))(X, Y))

# 6. Accumulation is explicit: add gradients yourself.
A = fnp.array([[1.0, 2.0], [3.0, 4.0]])
dC = fgrad.grad(lambda A: fnp.mean(5 * (A + 3)))(A)
print("6. dC/dA =", dC, "\n   accumulated twice =", dC + dC)

# 7. grad_fn / next_functions: the program is data you can print.
print("7. the chain the seed walks with next_functions:")
print(fgrad.make_ir(lambda A: fnp.mean(5 * (A + A)))(A))
