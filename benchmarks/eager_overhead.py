"""Eager dispatch and tracing cost of fgrad against JAX, side by side in one process.

Run:  python benchmarks/eager_overhead.py [--rounds 15]

Each case runs the same computation eagerly with `fgrad.numpy` and with `jax.numpy`,
interleaved round by round, and reports the median time per call of each and their ratio
(fgrad / JAX). A second table reports the time `fgrad.make_ir` takes to trace a chain of
tanh-dense layers. XLA and BLAS are pinned to one thread so the ratio is stable on a
shared machine. This is a measurement, not a test: nothing here asserts a speed.
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


def timed(fn, *args, repeat):
    best = []
    for _ in range(repeat):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best.append(time.perf_counter() - start)
    return min(best)


def mlp_forward(np_mod):
    def f(w1, w2, x):
        h = np_mod.tanh(np_mod.add(np_mod.matmul(x, w1), 1.0))
        return np_mod.mean(np_mod.square(np_mod.matmul(h, w2)))
    return f


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(10,)).astype(np.float32))
    w1 = jnp.asarray(rng.normal(size=(10, 20)).astype(np.float32))
    w2 = jnp.asarray(rng.normal(size=(20, 5)).astype(np.float32))
    cases = {
        # Module functions only: on a jax.Array, `a * 2.0` or `a[::2]` would call jax.numpy
        # whichever module is being measured.
        "add(multiply(x, 2.0), 1.0) (10,)": (
            lambda m: (lambda a: m.add(m.multiply(a, 2.0), 1.0)), (x,)),
        "sum(sin(x)**2) (10,)": (lambda m: (lambda a: m.sum(m.sin(a) ** 2)), (x,)),
        "seed MLP forward 10-20-5": (mlp_forward, (w1, w2, x)),
        "where(x > 0, x, 0) (10,)": (lambda m: (lambda a: m.where(m.greater(a, 0.0), a, 0.0)),
                                     (x,)),
    }
    print(f"jax {jax.__version__}, {args.rounds} interleaved rounds, one XLA thread\n")
    print(f"{'eager case':34s} {'fgrad µs':>10s} {'jax µs':>10s} {'ratio':>7s}")
    for name, (make, inputs) in cases.items():
        f_fgrad, f_jax = make(fnp), make(jnp)
        f_fgrad(*inputs), f_jax(*inputs)  # warm JAX's per-op caches
        ratios, tf, tj = [], [], []
        for _ in range(args.rounds):
            a = timed(f_fgrad, *inputs, repeat=20)
            b = timed(f_jax, *inputs, repeat=20)
            tf.append(a), tj.append(b), ratios.append(a / b)
        print(f"{name:34s} {statistics.median(tf) * 1e6:10.1f} "
              f"{statistics.median(tj) * 1e6:10.1f} {statistics.median(ratios):7.2f}")

    print(f"\n{'make_ir of D tanh-dense layers':32s} {'ms':>10s} {'ms/layer':>10s}")
    for depth in (10, 50, 200):
        ws = [jax.ShapeDtypeStruct((64, 64), jnp.float32)] * depth

        def chain(ws, v):
            for w in ws:
                v = fnp.tanh(w @ v)
            return fnp.sum(v)

        spec = jax.ShapeDtypeStruct((64,), jnp.float32)
        times = [timed(lambda: fgrad.make_ir(chain)(ws, spec), repeat=1)
                 for _ in range(args.rounds)]
        t = statistics.median(times)
        print(f"{'D = ' + str(depth):32s} {t * 1e3:10.2f} {t * 1e3 / depth:10.3f}")


if __name__ == "__main__":
    main()
