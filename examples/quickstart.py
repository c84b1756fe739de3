"""fgrad quickstart: eager fgrad.numpy, the program fgrad traces a function to, and
gradients checked against finite differences.

Run:  python examples/quickstart.py
"""

import numpy as np

import fgrad
import fgrad.numpy as fnp

# 1. Eager: outside any transformation fgrad.numpy computes at once, like jax.numpy,
#    and returns jax arrays. Types follow JAX: float32 by default, and Python scalars are
#    weak, so `x * 2.0` stays float32.
x = fnp.linspace(-1.0, 1.0, 5)
print("x                    =", x)
print("tanh(x) @ x          =", fnp.tanh(x) @ x)
A = fnp.arange(6.0).reshape(2, 3)
print("A.sum(axis=0)        =", A.sum(axis=0))
print("A[:, [0, 2]]         =", A[:, [0, 2]])
print("A.at[0, 1].set(10.0) =", A.at[0, 1].set(10.0))
print("(x * 2.0).dtype      =", (x * 2.0).dtype)


# 2. Tracing: make_ir records the program fgrad builds for a function. Every line is one
#    primitive; broadcasting and dtype conversion are explicit equations.
def loss(params, x, y):
    w, b = params
    prediction = fnp.tanh(x @ w + b)
    return fnp.mean((prediction - y) ** 2)


rng = np.random.default_rng(0)
params = (rng.normal(size=(3, 2)).astype(np.float32), np.zeros(2, np.float32))
inputs = rng.normal(size=(4, 3)).astype(np.float32)
targets = np.ones((4, 2), np.float32)

program = fgrad.make_ir(loss)(params, inputs, targets)
print("\nThe program of loss(params, x, y):")
print(program)

# 3. A program is data: evaluating it gives the same number as calling the function.
(traced_value,) = fgrad.eval_program(program, *params, inputs, targets)
eager_value = loss(params, inputs, targets)
print("\nloss, eager           =", eager_value)
print("loss, from the program =", traced_value)
assert np.allclose(traced_value, eager_value)


# 4. Differentiation transforms functions: the gradient is a function's return value.
grad_loss = fgrad.grad(loss)
g_w, g_b = grad_loss(params, inputs, targets)
print("\nd loss / d w =\n", g_w, "\nd loss / d b =", g_b)

# Second derivatives nest, to any order; fgrad.testing checks them against finite
# differences (here in float32; enable jax_enable_x64 for tighter tolerances).
from fgrad.testing import check_grads  # noqa: E402

f = lambda x: fnp.sin(x) * x ** 2  # noqa: E731
print("f'(1.5) =", fgrad.grad(f)(1.5), "  f''(1.5) =", fgrad.grad(fgrad.grad(f))(1.5))
check_grads(loss, (params, inputs, targets), order=2)
print("check_grads(loss, ..., order=2): forward and reverse agree with finite differences")

# 5. The gradient is itself a program fgrad built: the forward pass, then its transpose.
print("\nThe program of grad(f):")
print(fgrad.make_ir(fgrad.grad(f))(1.5))

# 6. fgrad.jit compiles a whole function, here a training step, into one XLA executable;
#    it traces once per argument signature and runs the cached executable afterwards.
@fgrad.jit
def sgd_step(params, inputs, targets):
    grads = fgrad.grad(loss)(params, inputs, targets)
    return [p - 0.1 * g for p, g in zip(params, grads)]


before = loss(params, inputs, targets)
for _ in range(20):
    params = sgd_step(params, inputs, targets)
after = loss(params, inputs, targets)
print(f"\n20 jitted SGD steps: loss {float(before):.4f} -> {float(after):.4f}")
print("The simplified program fgrad.jit compiled:")
print(sgd_step.lower(params, inputs, targets).program)
