"""Would lazy eager evaluation pay here? What recording a forward pass in an fgrad trace
costs against running it eagerly, one compiled call per fgrad.numpy function.

    python benchmarks/record_vs_dispatch.py

A lazy design records each operation into a pending program and runs a structure seen
before as one compiled call: it pays the recording (and a structural key and one dispatch)
on every call, so it wins only where recording an operation is cheaper than dispatching
it. Best of 9 batches of 2,000 calls, XLA on one thread.
"""

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen="
                           "false intra_op_parallelism_threads=1").strip()

import timeit  # noqa: E402

import jax.numpy as jnp  # noqa: E402

import fgrad.numpy as fnp  # noqa: E402
from fgrad.core import trace_to_program  # noqa: E402


def forward(x):  # five fgrad.numpy calls: six equations when recorded
    return fnp.sum(fnp.square(fnp.tanh(fnp.add(fnp.multiply(x, 2.0), x))))


def best_microseconds(call) -> float:
    return min(timeit.repeat(call, number=2000, repeat=9)) / 2000 * 1e6


def main():
    x = jnp.ones(10)
    program, _ = trace_to_program(forward, [x], "lazy")
    forward(x).block_until_ready()  # compiles each call once
    record = best_microseconds(lambda: trace_to_program(forward, [x], "lazy"))
    run = best_microseconds(lambda: forward(x))
    print(f"record the forward pass in a trace ({len(program.eqns)} equations): {record:.0f} µs")
    print(f"run it eagerly (5 compiled calls):                  {run:.0f} µs")


if __name__ == "__main__":
    main()
