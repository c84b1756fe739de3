"""What einsum's `optimize=` buys: chains of matrix products contracted left to right
(optimize=False) or in opt_einsum's order (optimize=True), against jax.numpy.einsum.

Run:  python benchmarks/einsum_order.py [--rounds 15] [--n 512] [--r 8]

Two chains, float32, all three variants jitted (fgrad.jit for fgrad, jax.jit for JAX):
- matrix-matrix-vector, 'ij,jk,k->i' with A, B (n, n) and x (n,): left to right forms the
  product AB (n^3 multiplications) before applying it to x; the good order is A(Bx) (2 n^2).
- a thin middle, 'ij,jk,kl,lm->im' with shapes (n, n), (n, r), (r, n), (n, n): left to right
  builds the n x n product ABC and multiplies it by D (n^3); the good order keeps the rank-r
  factors apart, (AB)(CD) (about 3 n^2 r).

Method: the variants run in one process, interleaved round by round (the order rotates
every round); a round times a batch of calls of each, sized so one batch takes about 50 ms,
and the table shows the medians of the per-round times and of the per-round ratios. XLA is
pinned to one thread before jax is imported. The script first checks that the three agree
and prints the pairwise steps each fgrad variant compiled (the dot_general output shapes),
so the left-to-right baseline is seen to be one. A measurement, run on demand; it asserts no
speed.
"""

import os

# One thread for XLA and BLAS, set before jax is imported (XLA reads it once).
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen="
                           "false intra_op_parallelism_threads=1").strip()
os.environ["OMP_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from statistics import median  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import fgrad  # noqa: E402
import fgrad.numpy as fnp  # noqa: E402

BUDGET = 0.05  # seconds one batch of calls should take


def chains(n: int, r: int) -> list[tuple[str, str, list[tuple[int, ...]]]]:
    return [
        ("matrix-matrix-vector", "ij,jk,k->i", [(n, n), (n, n), (n,)]),
        ("thin middle", "ij,jk,kl,lm->im", [(n, n), (n, r), (r, n), (n, n)]),
    ]


def variants(spec: str) -> dict:
    return {
        "fgrad optimize=False": fgrad.jit(lambda *ops: fnp.einsum(spec, *ops, optimize=False)),
        "fgrad optimize=True": fgrad.jit(lambda *ops: fnp.einsum(spec, *ops, optimize=True)),
        "jax.numpy.einsum": jax.jit(lambda *ops: jnp.einsum(spec, *ops)),
    }


def per_call(fn, operands, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        out = fn(*operands)
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / calls


def steps(spec: str, operands, optimize) -> list[tuple[int, ...]]:
    """The output shapes of the dot_generals fgrad's einsum records, in order."""
    program = fgrad.make_ir(lambda *ops: fnp.einsum(spec, *ops, optimize=optimize))(*operands)
    return [eqn.outputs[0].aval.shape for eqn in program.eqns
            if eqn.primitive.name == "dot_general"]


def measure(name: str, spec: str, shapes, rounds: int) -> list[str]:
    rng = np.random.default_rng(0)
    # Scaled so that the products stay near 1 whatever n is.
    operands = [jnp.asarray(rng.standard_normal(s) / np.sqrt(s[0]), np.float32) for s in shapes]
    fns = variants(spec)
    results = {label: fn(*operands) for label, fn in fns.items()}  # compiles, and checks:
    want = results["jax.numpy.einsum"]
    for label, got in results.items():
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=2e-3, atol=2e-4,
                                   err_msg=label)
    print(f"\n{name}: {spec}, shapes {', '.join(str(s) for s in shapes)}")
    for optimize in (False, True):
        print(f"  fgrad optimize={optimize}: dot_general outputs "
              f"{' -> '.join(str(s) for s in steps(spec, operands, optimize))}")
    print(f"  jax.numpy.einsum_path: {jnp.einsum_path(spec, *operands)[0]}")
    calls = {label: max(1, round(BUDGET / per_call(fn, operands, 3)))
             for label, fn in fns.items()}
    labels = list(fns)
    times = {label: [] for label in labels}
    for k in range(rounds):
        order = labels[k % len(labels):] + labels[:k % len(labels)]
        for label in order:
            times[label].append(per_call(fns[label], operands, calls[label]))

    def ratio(a: str, b: str) -> float:
        return median(x / y for x, y in zip(times[a], times[b]))

    slow, fast, ref = labels
    return [
        f"| {name} | {median(times[slow]) * 1e3:.3f} | {median(times[fast]) * 1e3:.3f} | "
        f"{median(times[ref]) * 1e3:.3f} | {ratio(slow, fast):.1f} | {ratio(fast, ref):.2f} |"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--r", type=int, default=8)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"jax {jax.__version__}; XLA_FLAGS={os.environ['XLA_FLAGS']}")
    print(f"command: python benchmarks/einsum_order.py --rounds {args.rounds} --n {args.n} "
          f"--r {args.r}")
    table = ["| chain | fgrad False (ms) | fgrad True (ms) | jax.numpy (ms) | "
             "False / True | True / jax |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, spec, shapes in chains(args.n, args.r):
        table += measure(name, spec, shapes, args.rounds)
    print("\nMedians over rounds; ratios are medians of per-round ratios.\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
