"""fgrad.vmap against jax.vmap, side by side in one process: jitted Hessians, per-example
gradients, and seed 000's batched matmul against a Python loop.

Run:  python benchmarks/vmap_bench.py [--rounds 9] [--sizes 64 256 1024]

Each steady-state figure is the median over interleaved rounds of the time per call of
the jitted function (fgrad's transforms inside jax.jit vs JAX's), and the ratio fgrad / JAX.
Compile time is the first call's time (trace + transform + XLA compile), measured once per
function in a fresh jax.jit. XLA runs on one thread. A measurement, not a test.
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                      "intra_op_parallelism_threads=1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import fgrad  # noqa: E402
import fgrad.numpy as fnp  # noqa: E402
from timing import per_call  # noqa: E402


def first_call(fn, args):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - start


def compare(name, ours, theirs, args, rounds, calls):
    ours, theirs = jax.jit(ours), jax.jit(theirs)
    c_ours, c_theirs = first_call(ours, args), first_call(theirs, args)
    np.testing.assert_allclose(np.asarray(ours(*args)), np.asarray(theirs(*args)),
                               rtol=2e-4, atol=1e-4)
    t_ours, t_theirs, ratios = [], [], []
    for _ in range(rounds):
        a, b = per_call(ours, args, calls), per_call(theirs, args, calls)
        t_ours.append(a), t_theirs.append(b), ratios.append(a / b)
    print(f"{name:34s} {statistics.median(t_ours) * 1e3:9.3f} "
          f"{statistics.median(t_theirs) * 1e3:9.3f} {statistics.median(ratios):7.2f} "
          f"{c_ours:8.2f} {c_theirs:8.2f} {c_ours / c_theirs:7.2f}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--sizes", type=int, nargs="*", default=[64, 256, 1024])
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"jax {jax.__version__}, one XLA thread, {args.rounds} interleaved rounds\n")
    print(f"{'case':34s} {'fgrad ms':>9s} {'jax ms':>9s} {'ratio':>7s} "
          f"{'fgrad c.s':>8s} {'jax c.s':>8s} {'c.ratio':>7s}")
    for n in args.sizes:
        A = (rng.normal(size=(n, n)) / np.sqrt(n)).astype(np.float32)
        x = rng.normal(size=n).astype(np.float32)

        def f(x, np_=fnp):
            return np_.sum(np_.tanh(A @ x) ** 2) + 0.5 * np_.sum(x ** 2)

        calls = max(1, 2000 // n)
        compare(f"hessian, n={n}", fgrad.hessian(f), jax.hessian(lambda x: f(x, jnp)), (x,),
                args.rounds, calls)

    sizes = [(784, 512), (512,), (512, 10), (10,)]
    params = [rng.normal(size=s).astype(np.float32) * 0.05 for s in sizes]
    xs = rng.normal(size=(128, 784)).astype(np.float32)
    ys = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 128)]

    def loss(params, x, y, np_=fnp):
        w1, b1, w2, b2 = params
        h = np_.maximum(x @ w1 + b1, 0.0)
        logits = h @ w2 + b2
        return -np_.sum(y * (logits - np_.log(np_.sum(np_.exp(logits)))))

    per_example = fgrad.vmap(fgrad.grad(loss), in_axes=(None, 0, 0))
    per_example_jax = jax.vmap(jax.grad(lambda p, x, y: loss(p, x, y, jnp)), in_axes=(None, 0, 0))
    compare("vmap(grad) MLP 784-512-10, B=128", lambda p, x, y: per_example(p, x, y)[0],
            lambda p, x, y: per_example_jax(p, x, y)[0], (params, xs, ys), args.rounds, 5)

    a = rng.normal(size=(500, 256, 256)).astype(np.float32)
    b = rng.normal(size=(500, 256, 256)).astype(np.float32)
    compare("seed 000: vmap(matmul) 500x256x256", fgrad.vmap(fnp.matmul), jax.vmap(jnp.matmul),
            (a, b), 3, 2)
    # The seed's comparison, eagerly as in its PyTorch text: one batched call vs a loop.
    batched = fgrad.vmap(fnp.matmul)
    looped = lambda a, b: fnp.stack([fnp.matmul(a[i], b[i]) for i in range(len(a))])  # noqa
    t_b = statistics.median(per_call(batched, (a, b), 1) for _ in range(3))
    t_l = statistics.median(per_call(looped, (a, b), 1) for _ in range(3))
    print(f"\nseed 000, eager: fgrad.vmap(matmul) {t_b * 1e3:.1f} ms vs a Python loop of 500 "
          f"matmuls {t_l * 1e3:.1f} ms ({t_l / t_b:.1f}x)")


if __name__ == "__main__":
    main()
