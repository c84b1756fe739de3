"""Seed 000 (Computer Vision lecture) in fgrad: computation graphs as functions, gradients
as transforms, detach as stop_gradient, a two-layer net, gradient descent.

Run:  python examples/seeds/seed_000_cv_lecture.py
"""

import numpy as np

import fgrad
import fgrad.numpy as fnp


def relu(x):
    return fnp.maximum(x, 0.0)


# 1. a = relu(w*x + b): PyTorch's requires_grad on w and b becomes argnums=(0, 1).
neuron = lambda w, b, x: relu(w * x + b)  # noqa: E731
print("1. a =", neuron(2.0, 1.0, 3.0), " (da/dw, da/db) =",
      fgrad.grad(neuron, argnums=(0, 1))(2.0, 1.0, 3.0))

# 2. a = (w x)^2 + (w x)^3 at x=2, w=1
poly = lambda w, x: (w * x) ** 2 + (w * x) ** 3  # noqa: E731
print("2. a =", poly(1.0, 2.0), " da/dw =", fgrad.grad(poly)(1.0, 2.0))

# 3. s = sum(x^2); 4. q = ||x||
x = fnp.array([1.0, -2.0, 3.0, -4.0])
print("3. s, ds/dx =", fgrad.value_and_grad(lambda x: fnp.sum(x ** 2))(x))
print("4. q, dq/dx =", fgrad.value_and_grad(fnp.linalg.norm)(fnp.array([1.0, 2.0, 2.0])))

# 5. A two-layer network: gradients for all four parameters at once.
rng = np.random.default_rng(0)
W1, b1 = rng.normal(size=(20, 10)).astype(np.float32), np.zeros(20, np.float32)
W2, b2 = rng.normal(size=(5, 20)).astype(np.float32), np.zeros(5, np.float32)
xs, ys = rng.normal(size=10).astype(np.float32), rng.normal(size=5).astype(np.float32)


def loss(W1, b1, W2, b2):
    h = fnp.tanh(W1 @ xs + b1)
    return fnp.mean((ys - fnp.tanh(W2 @ h + b2)) ** 2)


grads = fgrad.grad(loss, argnums=(0, 1, 2, 3))(W1, b1, W2, b2)
print("5. gradient shapes:", [g.shape for g in grads])


# 6. and 8. Gradient descent; `.grad` and zero_grad() are gone: each step returns gradients.
def descend(loss, a, b, steps=100, lr=0.1):
    for step in range(steps):
        ga, gb = fgrad.grad(loss, argnums=(0, 1))(a, b)
        if step < 3:
            print(f"   step {step}: gradient ({float(ga):.4f}, {float(gb):.4f})")
        a, b = a - lr * ga, b - lr * gb
    return float(a), float(b)


print("6. descent ends at", descend(lambda a, b: (a - 1) ** 2 + (b + 1) ** 2 + (a - b) ** 2,
                                    0.7, -0.7))

# 7. r = sum(x^2 + x^3) and the same with x^3 detached.
x = fnp.ones(10)
print("7. dr/dx =", fgrad.grad(lambda x: fnp.sum(x ** 2 + x ** 3))(x))
print("   detached:", fgrad.grad(lambda x: fnp.sum(x ** 2 + fgrad.stop_gradient(x ** 3)))(x))
print("8. descent with a stopped term ends at",
      descend(lambda a, b: (a - 1) ** 2 + (b + 1) ** 2 + (fgrad.stop_gradient(a) - b) ** 2,
              0.5, -0.5))

# 9. A batched matmul instead of a Python loop of matmuls: vmap writes the batched program
#    (`python benchmarks/run.py --only vmap` times the two).
a = rng.normal(size=(50, 16, 16)).astype(np.float32)
b = rng.normal(size=(50, 16, 16)).astype(np.float32)
batched = fgrad.vmap(fnp.matmul)(a, b)
looped = fnp.stack([fnp.matmul(a[i], b[i]) for i in range(50)])
print("9. vmap(matmul) equals the loop:", bool(fnp.max(fnp.abs(batched - looped)) < 1e-4))
