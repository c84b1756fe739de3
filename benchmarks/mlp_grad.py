"""The seed MLP's gradient with fgrad and with JAX, eager and under jax.jit, side by side.

Run:  python benchmarks/mlp_grad.py [--rounds 15]

The network is seed 000's two-layer tanh net (10 → 20 → 5, mean squared error). Each
round times fgrad and JAX back to back (interleaved) and the table reports the median time
per call of each and the median ratio fgrad / JAX. XLA runs on one thread so the ratio is
stable on a shared machine. A measurement, not a test: nothing here asserts a speed.
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                      "intra_op_parallelism_threads=1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import fgrad  # noqa: E402
import fgrad.numpy as fnp  # noqa: E402
from timing import per_call  # noqa: E402


def make_loss(np_mod):
    def loss(params, x, y):
        W1, b1, W2, b2 = params
        h = np_mod.tanh(W1 @ x + b1)
        return np_mod.mean((y - np_mod.tanh(W2 @ h + b2)) ** 2)
    return loss


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    params = tuple(jnp.asarray(rng.normal(size=s).astype(np.float32))
                   for s in [(20, 10), (20,), (5, 20), (5,)])
    x = jnp.asarray(rng.normal(size=10).astype(np.float32))
    y = jnp.asarray(rng.normal(size=5).astype(np.float32))
    inputs = (params, x, y)
    ours, theirs = fgrad.grad(make_loss(fnp)), jax.grad(make_loss(jnp))
    for a, b in zip(ours(*inputs), theirs(*inputs)):  # same numbers before timing them
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    cases = {"eager": (ours, theirs, 5), "jax.jit": (jax.jit(ours), jax.jit(theirs), 200)}
    print(f"jax {jax.__version__}; seed MLP 10-20-5 gradient; {args.rounds} interleaved "
          f"rounds, one XLA thread\n")
    print(f"{'mode':10s} {'fgrad µs':>11s} {'jax µs':>11s} {'fgrad/jax':>10s}")
    for name, (f_ours, f_theirs, calls) in cases.items():
        per_call(f_ours, inputs, 2), per_call(f_theirs, inputs, 2)  # compile and warm up
        ts_ours, ts_theirs, ratios = [], [], []
        for _ in range(args.rounds):
            a = per_call(f_ours, inputs, calls)
            b = per_call(f_theirs, inputs, calls)
            ts_ours.append(a), ts_theirs.append(b), ratios.append(a / b)
        print(f"{name:10s} {statistics.median(ts_ours) * 1e6:11.1f} "
              f"{statistics.median(ts_theirs) * 1e6:11.1f} {statistics.median(ratios):10.2f}")


if __name__ == "__main__":
    main()
