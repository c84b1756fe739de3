"""Timing helpers shared by the benchmark scripts."""

import time

import jax


def per_call(fn, args, calls):
    """Mean seconds per call of `fn(*args)` over `calls` calls, waiting for the results."""
    start = time.perf_counter()
    for _ in range(calls):
        out = fn(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / calls
