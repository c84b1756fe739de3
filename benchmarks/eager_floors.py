"""Where eager speed stops: the figures of docs/performance.md's section of that name.

    python benchmarks/eager_floors.py [--rounds N]

1. The seeds' 100-step descent loop with fgrad's eager cache cleared, timed step by step
   (the first steps run op by op, one compiles the value-and-gradient program), beside
   XLA's compile of a trivial program, PyTorch's whole loop (when torch is importable) and
   the loop never compiled (op by op at every step).
2. Calling a compiled executable (`.lower().compile()`) against calling the `jax.jit`
   it came from, a 64 x 64 matmul: whether a more direct call could beat JAX's dispatch.
3. Lowering and compiling `jit(grad(f))` for the D = 50 tanh chain and the
   784-512-512-10 MLP, fgrad and JAX alternated: how much of a first call is XLA's.

Medians (and ranges) over N rounds; XLA and BLAS on one thread (set by run.py's import).
"""

import argparse
import time
from statistics import median

# First: importing run pins XLA and BLAS to one thread before jax is imported.
from run import chain_loss, chain_problem, descend, mlp_loss, mlp_problem

import jax
import jax.numpy as jnp
import numpy as np

import fgrad
import fgrad.numpy as fnp
import fgrad.xla


def ms(seconds) -> str:
    return f"{seconds * 1e3:.1f}"


def spread(values, unit=ms) -> str:
    return f"{unit(median(values))} ({unit(min(values))} to {unit(max(values))})"


def cold_steps() -> list[float]:
    """Seconds of each step of `descend` started with fgrad's eager cache cleared."""
    fgrad.xla.clear_eager_executables()
    a, b, times = 0.7, -0.7, []
    for _ in range(100):
        start = time.perf_counter()
        ga, gb = fgrad.grad(lambda a, b: (a - 1) ** 2 + (b + 1) ** 2 + (a - b) ** 2,
                            argnums=(0, 1))(a, b)
        a, b = a - 0.1 * ga, b - 0.1 * gb
        times.append(time.perf_counter() - start)
    assert np.allclose([a, b], descend(jax.grad), rtol=1e-5)
    return times


def torch_loop():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)

    def loop():
        a = torch.tensor(0.7, requires_grad=True)
        b = torch.tensor(-0.7, requires_grad=True)
        for _ in range(100):
            ((a - 1) ** 2 + (b + 1) ** 2 + (a - b) ** 2).backward()
            with torch.no_grad():
                a -= 0.1 * a.grad
                b -= 0.1 * b.grad
            a.grad = b.grad = None
    return loop


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def section_cold_loop(rounds: int):
    descend(fgrad.grad)  # every primitive's executable compiled: only the loop's program is cold
    torch = torch_loop()
    steps, totals, trivial, torch_times = [], [], [], []
    for i in range(rounds):
        times = cold_steps()
        steps.append(times)
        totals.append(sum(times))
        lowered = jax.jit(lambda x, i=i: x + 1.0).lower(0.7)  # a new function: compiled anew
        trivial.append(timed(lowered.compile))
        if torch is not None:
            torch_times.append(timed(torch))
    print("1. the cold descent loop, ms: median (range)")
    print(f"   whole loop                  {spread(totals)}")
    for k in range(3):
        print(f"   step {k + 1}                      {spread([s[k] for s in steps])}")
    print(f"   later steps (median each)   "
          f"{spread([median(s[3:]) for s in steps], lambda v: f'{v * 1e3:.2f}')}")
    print(f"   XLA compile of x + 1.0      {spread(trivial)}")
    print(f"   PyTorch's whole loop        "
          f"{spread(torch_times) if torch_times else 'skipped: torch is not importable'}")
    policy = fgrad.xla._COMPILE_POLICY
    saved = policy.cheap_seconds, policy.base
    policy.cheap_seconds, policy.base = -1.0, float("inf")  # never compile
    try:
        never = [timed(lambda: (fgrad.xla.clear_eager_executables(), descend(fgrad.grad)))
                 for _ in range(rounds)]
    finally:
        policy.cheap_seconds, policy.base = saved
        fgrad.xla.clear_eager_executables()
    print(f"   never compiled (op by op)   {spread(never)}")


def repeat(fn, a, b, calls: int):
    """`calls` calls of fn(a, b), each result dropped as the next one is made."""
    out = fn(a, b)
    for _ in range(calls - 1):
        out = fn(a, b)
    out.block_until_ready()


def section_dispatch(rounds: int, calls: int = 2000):
    rng = np.random.default_rng(0)
    a, b = (jnp.asarray(rng.standard_normal((64, 64)), jnp.float32) for _ in range(2))
    jitted = jax.jit(lambda a, b: a @ b)
    compiled = jitted.lower(a, b).compile()
    per_call = {"jax.jit": [], "Compiled": [], "jnp.matmul": []}
    for fn in (jitted, compiled, jnp.matmul):
        fn(a, b).block_until_ready()
    for _ in range(rounds):
        for name, fn in (("jax.jit", jitted), ("Compiled", compiled), ("jnp.matmul", jnp.matmul)):
            per_call[name].append(timed(lambda fn=fn: repeat(fn, a, b, calls)) / calls)
    print("2. one 64 x 64 matmul call, µs: median (range)")
    for name, times in per_call.items():
        print(f"   {name:12s} {spread(times, lambda v: f'{v * 1e6:.1f}')}")


def section_first_call(rounds: int):
    params, x = chain_problem(50)
    mlp_args, _, _ = mlp_problem(np.random.default_rng(0), (784, 512, 512, 10), 128)
    cases = {
        "tanh chain D = 50": ((params, x), {
            "fgrad": lambda: fgrad.jit(fgrad.grad(chain_loss(fnp))),
            "jax": lambda: jax.jit(jax.grad(chain_loss(jnp)))}),
        "MLP 784-512-512-10": (mlp_args, {
            "fgrad": lambda: fgrad.jit(fgrad.grad(mlp_loss(fnp, fgrad.stop_gradient))),
            "jax": lambda: jax.jit(jax.grad(mlp_loss(jnp, jax.lax.stop_gradient)))}),
    }
    print("3. jit(grad(f)) of a fresh function, ms: median (range)")
    for case, (args, makers) in cases.items():
        lower = {name: [] for name in makers}
        compile_ = {name: [] for name in makers}
        for i in range(rounds):
            for name in sorted(makers, reverse=bool(i % 2)):  # alternate who goes first
                start = time.perf_counter()
                lowered = makers[name]().lower(*args)
                lower[name].append(time.perf_counter() - start)
                compile_[name].append(timed(lowered.compile))
        for name in makers:
            print(f"   {case}, {name:5s}: trace, differentiate, lower {spread(lower[name])}; "
                  f"compile {spread(compile_[name])}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds
    jnp.zeros(1).block_until_ready()  # the backend starts outside the timings
    section_cold_loop(rounds)
    section_dispatch(rounds)
    section_first_call(max(3, rounds // 2 * 2))


if __name__ == "__main__":
    main()
