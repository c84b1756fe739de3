"""The first eager calls in a fresh process: the seed 000 network's forward pass, three
times with fgrad.numpy, then once with jax.numpy, each call's wall time in ms.

    python benchmarks/cold_eager.py [--rounds N]

Each round is a new Python process (nothing compiled yet), with JAX's backend started
before the timings. The first call compiles (fgrad: one executable per distinct
fgrad.numpy call; JAX: one per jax.numpy call or primitive); later calls only dispatch.
"""

import argparse
import statistics
import subprocess
import sys

ROUND = r"""
import time
import jax.numpy as jnp
import numpy as np
import fgrad.numpy as fnp

rng = np.random.default_rng(0)
x, w1, w2 = (jnp.asarray(rng.standard_normal(s), jnp.float32)
             for s in [(10,), (10, 20), (20, 5)])
jnp.zeros(1).block_until_ready()  # the backend starts outside the timings


def net(m):
    return m.mean(m.square(m.matmul(m.tanh(m.add(m.matmul(x, w1), 1.0)), w2)))


times = []
for m in (fnp, fnp, fnp, jnp):
    start = time.perf_counter()
    net(m).block_until_ready()
    times.append((time.perf_counter() - start) * 1e3)
print(*times)
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    runs = [[float(t) for t in subprocess.run([sys.executable, "-c", ROUND], check=True,
                                              capture_output=True, text=True).stdout.split()]
            for _ in range(rounds)]
    medians = [statistics.median(column) for column in zip(*runs)]
    names = ["fgrad first call", "fgrad second call", "fgrad third call", "jax first call"]
    for name, ms in zip(names, medians):
        print(f"{name:18s} {ms:8.1f} ms")
    print(f"(medians of {rounds} fresh processes)")


if __name__ == "__main__":
    main()
