"""fgrad against JAX on the figures of the speed issue, in one table.

Run:  python benchmarks/run.py [--rounds 15] [--quick] [--only SECTION]

Prints the machine, the command and ONE markdown table (fgrad, JAX, the ratio fgrad / JAX,
the issue's target and whether it is met), writes the same to benchmarks/results.md and
plots the ratios against their targets in benchmarks/results.svg. Sections, by number or
name for --only: 1 train_step, 2 lowering, 3 hlo_ops, 4 eager, 5 memory, 6 hessian, the
extras 7 vmap, 8 eager_ops and 9 random, 10 control_flow, 11 custom_rules and
12 linalg.

How it measures: fgrad and JAX run in one process, interleaved round by round (the order
flips every round); a round times a batch of calls of each (one call for first-call and
lowering figures), and the table shows the medians of the per-round times and of the
per-round ratios. Every comparison first asserts that both compute the same numbers. XLA
and BLAS are pinned to one thread, so ratios hold on a shared machine. A measurement, not a
test: nothing here asserts a speed.
"""

import os

# One thread for XLA and BLAS, set before jax is imported (XLA reads it once).
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen="
                           "false intra_op_parallelism_threads=1").strip()
os.environ["OMP_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from statistics import median  # noqa: E402
from typing import Callable, NamedTuple  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing fgrad

import fgrad  # noqa: E402
import fgrad.api  # noqa: E402
import fgrad.numpy as fnp  # noqa: E402
import fgrad.random as frandom  # noqa: E402
from fgrad.core import trace_to_program  # noqa: E402
from fgrad.transforms.simplify import simplify  # noqa: E402
from fgrad.xla import compile_program  # noqa: E402

LR = 0.01
tree_map, tree_leaves = jax.tree_util.tree_map, jax.tree_util.tree_leaves


class Row(NamedTuple):
    section: str
    figure: str
    fgrad: str
    jax: str
    ratio: float | None = None
    target: float | None = None


class Config(NamedTuple):
    rounds: int
    quick: bool
    budget: float  # seconds one batch of calls should take

    def sizes(self, quick, full):
        return quick if self.quick else full


# -- timing ----------------------------------------------------------------------------------


def per_call(fn: Callable, calls: int) -> float:
    """Mean seconds per call of `fn()` over `calls` calls, waiting for the last result."""
    start = time.perf_counter()
    for _ in range(calls):
        out = fn()
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / calls


def calls_for(fn: Callable, budget: float) -> int:
    """How many calls of `fn` take about `budget` seconds."""
    calls = 1
    while True:
        elapsed = per_call(fn, calls) * calls
        if elapsed >= budget / 4 or calls >= 100_000:
            return max(1, round(calls * budget / max(elapsed, 1e-9)))
        calls *= 4


class Stat(NamedTuple):
    time: float   # median seconds per call
    ratio: float  # median over rounds of this case's time / the "jax" case's time


def compare(cases: dict[str, Callable], cfg: Config, calls: int | None = None,
            rounds: int | None = None) -> dict[str, Stat]:
    """Times each thunk of `cases` round by round; ratios are against `cases["jax"]`.
    Without `calls`, each thunk is warmed up and a batch of the slowest fits the budget."""
    if calls is None:
        for fn in cases.values():
            per_call(fn, 2)
        calls = min(calls_for(fn, cfg.budget) for fn in cases.values())
    times: dict[str, list[float]] = {name: [] for name in cases}
    for r in range(rounds or cfg.rounds):
        for name in (list(cases) if r % 2 == 0 else list(cases)[::-1]):
            times[name].append(per_call(cases[name], calls))
    return {name: Stat(median(ts), median(t / j for t, j in zip(ts, times["jax"])))
            for name, ts in times.items()}


def assert_same(ours, theirs, rtol=1e-5, atol=1e-6):
    a, b = tree_leaves(ours), tree_leaves(theirs)
    assert len(a) == len(b), (len(a), len(b))
    for x, y in zip(a, b):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale or unit == "µs":
            value = seconds / scale
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"


def fmt_mib(peak: int, temp: int) -> str:
    return f"{peak / 2**20:.2f} MiB ({temp / 2**20:.2f})"


def timing_row(section, figure, stats, ours="fgrad", target=None) -> Row:
    return Row(section, figure, fmt_time(stats[ours].time), fmt_time(stats["jax"].time),
               stats[ours].ratio, target)


def rng_array(rng, shape, scale=1.0):
    return jnp.asarray((rng.normal(size=shape) * scale).astype(np.float32))


# -- the models -------------------------------------------------------------------------------


def mlp_loss(np_, stop_gradient):
    """ReLU MLP with softmax cross-entropy; log-softmax by a max-shifted logsumexp."""
    def loss(params, x, y):
        *hidden, (w_out, b_out) = params
        for w, b in hidden:
            x = np_.maximum(x @ w + b, 0.0)
        logits = x @ w_out + b_out
        shift = stop_gradient(np_.max(logits, axis=-1, keepdims=True))
        log_z = shift + np_.log(np_.sum(np_.exp(logits - shift), axis=-1, keepdims=True))
        return -np_.mean(np_.sum(y * (logits - log_z), axis=-1))
    return loss


def seed_loss(np_):
    """Seed 000's two-layer tanh network with mean squared error, in module functions: on
    concrete jax.Arrays, `w1 @ x` would be JAX's whichever module runs (section 4's eager
    forward pass)."""
    def loss(params, x, y):
        w1, b1, w2, b2 = params
        h = np_.tanh(np_.add(np_.matmul(w1, x), b1))
        return np_.mean(np_.power(np_.subtract(y, np_.tanh(np_.add(np_.matmul(w2, h), b2))), 2))
    return loss


def mlp_problem(rng, widths, batch):
    params = [(rng_array(rng, (a, b), 1 / math.sqrt(a)), jnp.zeros(b, jnp.float32))
              for a, b in zip(widths, widths[1:])]
    x = rng_array(rng, (batch, widths[0]))
    y = jax.nn.one_hot(rng.integers(0, widths[-1], batch), widths[-1])
    return (params, x, y), mlp_loss(fnp, fgrad.stop_gradient), mlp_loss(jnp, jax.lax.stop_gradient)


def seed_problem(rng):
    params = tuple(rng_array(rng, s) for s in [(20, 10), (20,), (5, 20), (5,)])
    return (params, rng_array(rng, (10,)), rng_array(rng, (5,))), seed_loss(fnp), seed_loss(jnp)


def sgd_step(grad, loss):
    def step(params, x, y):
        return tree_map(lambda p, g: p - LR * g, params, grad(loss)(params, x, y))
    return step


def train_steps(loss_f, loss_j):
    """The three compiled steps: fgrad.grad inside jax.jit, under fgrad.jit, and JAX's."""
    return {"fgrad": jax.jit(sgd_step(fgrad.grad, loss_f)),
            "fgrad.jit": fgrad.jit(sgd_step(fgrad.grad, loss_f)),
            "jax": jax.jit(sgd_step(jax.grad, loss_j))}


def hlo_instructions(compiled_text: str) -> tuple[int, int]:
    """Instructions of an optimized HLO module: in the entry computation, and in all."""
    total = entry = 0
    in_entry = False
    for line in compiled_text.splitlines():
        if line.startswith("ENTRY"):
            in_entry = True
        elif line.startswith("}"):
            in_entry = False
        elif re.match(r"\s*(ROOT )?%\S+ = ", line):
            total += 1
            entry += in_entry
    return entry, total


_MLIR_OP = re.compile(r'\s*(?:%[^=]+=\s*)?"?([A-Za-z_]\w*(?:\.\w+)*)')


def stablehlo_ops(text: str) -> int:
    """Operations in StableHLO text: every stablehlo/chlo/mhlo op line and every call."""
    count = 0
    for line in text.splitlines():
        m = _MLIR_OP.match(line)
        if m and (m.group(1).split(".")[0] in ("stablehlo", "chlo", "mhlo")
                  or m.group(1) in ("call", "func.call")):
            count += 1
    return count


# -- 1. steady-state jitted training step ----------------------------------------------------


def section_train_step(cfg: Config) -> list[Row]:
    rng = np.random.default_rng(0)
    hidden, batch = cfg.sizes((128, 32), (512, 128))
    widths = (784, hidden, hidden, 10)
    problems = {
        "1a": (f"MLP {'-'.join(map(str, widths))} relu, softmax CE, batch {batch}, SGD",
               *mlp_problem(rng, widths, batch)),
        "1b": ("seed 000 net 10-20-5 tanh, MSE, SGD", *seed_problem(rng)),
    }
    rows = []
    for section, (name, args, loss_f, loss_j) in problems.items():
        steps = train_steps(loss_f, loss_j)
        for ours in ("fgrad", "fgrad.jit"):
            assert_same(steps[ours](*args), steps["jax"](*args))
        stats = compare({k: (lambda s=s: s(*args)) for k, s in steps.items()}, cfg)
        for ours, how in (("fgrad", "fgrad.grad in jax.jit"), ("fgrad.jit", "fgrad.jit")):
            rows.append(timing_row(section, f"{name}: step time, {how}", stats, ours, 1.05))
        counts = {k: hlo_instructions(s.lower(*args).compile().as_text())
                  for k, s in steps.items()}
        for ours, how in (("fgrad", "fgrad.grad in jax.jit"), ("fgrad.jit", "fgrad.jit")):
            rows.append(Row(section, f"optimized HLO instructions, all (entry), {how}",
                            "{1} ({0})".format(*counts[ours]), "{1} ({0})".format(*counts["jax"]),
                            counts[ours][1] / counts["jax"][1]))
    return rows


# -- 2. and 3. trace, differentiate and lower the gradient of a deep chain -------------------


def chain_loss(np_):
    """A fresh function object on every call: JAX and fgrad cache by function identity."""
    def loss(params, x):
        for w, b in params:
            x = np_.tanh(x @ w + b)
        return np_.sum(x)
    return loss


def chain_problem(depth, width=64):
    rng = np.random.default_rng(depth)
    params = [(rng_array(rng, (width, width), 1 / math.sqrt(width)),
               rng_array(rng, (width,), 0.1)) for _ in range(depth)]
    return params, rng_array(rng, (width,))


def fgrad_phases(params, x) -> tuple[float, float, float]:
    """Seconds fgrad spends tracing the loss, building and simplifying the gradient program,
    and lowering it through jax.lax to StableHLO."""
    leaves, tree = jax.tree_util.tree_flatten((params, x))
    loss = chain_loss(fnp)
    t0 = time.perf_counter()
    trace_to_program(lambda *ls: loss(*jax.tree_util.tree_unflatten(tree, ls)), leaves, "trace")
    t1 = time.perf_counter()
    program = fgrad.make_ir(fgrad.grad(chain_loss(fnp)))(params, x)  # traces again, then grad
    t2 = time.perf_counter()
    program = simplify(program)
    t3 = time.perf_counter()
    compile_program(program, "grad").lower(*program.constvals, *leaves)
    t4 = time.perf_counter()
    tracing = t1 - t0
    return tracing, (t2 - t1) - tracing + (t3 - t2), t4 - t3


def lower(jitted, *args) -> None:
    jitted.lower(*args)  # nothing to wait for: no array comes out


def section_lowering(cfg: Config) -> list[Row]:
    rows, splits = [], []
    for depth in cfg.sizes((10, 50), (10, 50, 200)):
        params, x = chain_problem(depth)
        assert_same(fgrad.jit(fgrad.grad(chain_loss(fnp)))(params, x),
                    jax.jit(jax.grad(chain_loss(jnp)))(params, x))
        stats = compare({
            "fgrad": lambda: lower(fgrad.jit(fgrad.grad(chain_loss(fnp))), params, x),
            "jax": lambda: lower(jax.jit(jax.grad(chain_loss(jnp))), params, x),
        }, cfg, calls=1)
        rows.append(timing_row("2", f"trace + grad + lower, D = {depth} tanh-dense layers "
                                f"(width 64)", stats, target=0.5))
        ir = compare({
            "fgrad": lambda: fgrad.make_ir(fgrad.grad(chain_loss(fnp)))(params, x),
            "jax": lambda: jax.make_jaxpr(jax.grad(chain_loss(jnp)))(params, x),
        }, cfg, calls=1)
        rows.append(timing_row("2", f"trace + grad to IR, D = {depth}: fgrad.make_ir(grad) vs "
                                f"jax.make_jaxpr(grad)", ir, target=0.2))
        fgrad_phases(params, x)
        phases = [fgrad_phases(params, x) for _ in range(cfg.rounds)]
        split = " / ".join(f"{median(p) * 1e3:.1f}" for p in zip(*phases))
        splits.append(Row("2", f"fgrad split, D = {depth}: trace / transforms / lower (ms)",
                          split, "—"))
    return rows + first_call_rows(cfg) + splits


def first_call_rows(cfg: Config) -> list[Row]:
    """The whole first call of a fresh `jit(grad(f))`: trace, differentiate, lower, compile
    and run, as a user's first training step pays it."""
    rng = np.random.default_rng(0)
    hidden, batch = cfg.sizes((128, 32), (512, 128))
    widths = (784, hidden, hidden, 10)
    args, loss_f, loss_j = mlp_problem(rng, widths, batch)
    params, x = chain_problem(50)
    cases = {
        "tanh chain D = 50": ((params, x), lambda: {
            "fgrad": fgrad.jit(fgrad.grad(chain_loss(fnp))),
            "jax": jax.jit(jax.grad(chain_loss(jnp)))}),
        f"MLP {'-'.join(map(str, widths))}, batch {batch}": (args, lambda: {
            "fgrad": fgrad.jit(fgrad.grad(mlp_loss(fnp, fgrad.stop_gradient))),
            "jax": jax.jit(jax.grad(mlp_loss(jnp, jax.lax.stop_gradient)))}),
    }
    rows = []
    for name, (case_args, make) in cases.items():
        fns = make()
        assert_same(fns["fgrad"](*case_args), fns["jax"](*case_args))
        stats = first_call_times(make, case_args, cfg)
        rows.append(timing_row("2", f"first call of jit(grad(f)), {name} (trace, grad, lower, "
                                    f"compile, run)", stats, target=0.9))
    return rows


def section_hlo_ops(cfg: Config) -> list[Row]:
    rows = []
    for depth in cfg.sizes((10, 50), (10, 50, 200)):
        params, x = chain_problem(depth)
        ours = stablehlo_ops(fgrad.jit(fgrad.grad(chain_loss(fnp))).lower(params, x).as_text())
        theirs = stablehlo_ops(jax.jit(jax.grad(chain_loss(jnp))).lower(params, x).as_text())
        rows.append(Row("3", f"StableHLO ops of grad, D = {depth}", str(ours), str(theirs),
                        ours / theirs, 1.0))
    return rows


# -- 4. eager gradients ----------------------------------------------------------------------


def descend(grad, steps=100, lr=0.1):
    """The seeds' descent loop, written as users write it: a fresh lambda every step."""
    a, b = 0.7, -0.7
    for _ in range(steps):
        ga, gb = grad(lambda a, b: (a - 1) ** 2 + (b + 1) ** 2 + (a - b) ** 2,
                      argnums=(0, 1))(a, b)
        a, b = a - lr * ga, b - lr * gb
    return a, b


def descend_cold():
    fgrad.xla.clear_eager_executables()
    return descend(fgrad.grad)


def section_eager(cfg: Config) -> list[Row]:
    args, loss_f, loss_j = seed_problem(np.random.default_rng(0))
    grad_f, grad_j = fgrad.grad(loss_f), jax.grad(loss_j)
    assert_same(grad_f(*args), grad_j(*args))
    assert_same(descend(fgrad.grad), descend(jax.grad))
    mlp = compare({"fgrad": lambda: grad_f(*args), "jax": lambda: grad_j(*args)}, cfg)
    loop = compare({"fgrad": lambda: descend(fgrad.grad), "fgrad cold": descend_cold,
                    "jax": lambda: descend(jax.grad)}, cfg, calls=1)
    rows = [timing_row("4", "seed 000 net gradient, eager, steady state", mlp, target=0.05),
            timing_row("4", "100-step descent loop, eager, fgrad warm (cache filled)", loop,
                        target=0.05),
            timing_row("4", "100-step descent loop, eager, fgrad cold (cache cleared)", loop,
                        "fgrad cold", 0.05)]
    return rows + torch_rows(cfg, args, grad_f)


def torch_rows(cfg, args, grad_f) -> list[Row]:
    try:
        import torch
    except ImportError:
        print("PyTorch: skipped (torch is not importable)", file=sys.stderr)
        return [Row("4", "PyTorch eager `.backward()`", "skipped: torch is not importable", "—")]
    torch.set_num_threads(1)
    params = [torch.tensor(np.asarray(p), requires_grad=True) for p in args[0]]
    x, y = (torch.tensor(np.asarray(v)) for v in args[1:])

    def torch_grad():
        w1, b1, w2, b2 = params
        for p in params:
            p.grad = None
        torch.mean((y - torch.tanh(w2 @ torch.tanh(w1 @ x + b1) + b2)) ** 2).backward()
        return [p.grad.numpy() for p in params]

    def torch_descend(steps=100, lr=0.1):
        a = torch.tensor(0.7, requires_grad=True)
        b = torch.tensor(-0.7, requires_grad=True)
        for _ in range(steps):
            ((a - 1) ** 2 + (b + 1) ** 2 + (a - b) ** 2).backward()
            with torch.no_grad():
                a -= lr * a.grad
                b -= lr * b.grad
            a.grad = b.grad = None
        return a.detach().numpy(), b.detach().numpy()

    def torch_forward():
        w1, b1, w2, b2 = params
        return torch.mean((y - torch.tanh(w2 @ torch.tanh(w1 @ x + b1) + b2)) ** 2)

    def fgrad_forward():
        return seed_loss(fnp)(*args)

    assert_same(fgrad_forward(), torch_forward().detach().numpy())
    assert_same(grad_f(*args), torch_grad())
    assert_same(descend(fgrad.grad), torch_descend())
    forward = compare({"fgrad": fgrad_forward, "jax": torch_forward}, cfg)
    mlp = compare({"fgrad": lambda: grad_f(*args), "jax": torch_grad}, cfg)
    loop = compare({"fgrad": lambda: descend(fgrad.grad), "fgrad cold": descend_cold,
                    "jax": torch_descend}, cfg, calls=1)
    # The target proper: within 2x of PyTorch's eager time.
    return [timing_row("4", "seed 000 net forward pass, eager, vs PyTorch's (JAX column: "
                            "PyTorch)", forward, target=3.0),
            timing_row("4", "seed 000 net gradient, eager, vs PyTorch `.backward()` "
                            "(JAX column: PyTorch)", mlp, target=2.0),
            timing_row("4", "100-step descent loop, fgrad warm vs PyTorch (JAX column: "
                            "PyTorch)", loop, target=2.0),
            timing_row("4", "100-step descent loop, fgrad cold vs PyTorch (JAX column: "
                            "PyTorch)", loop, "fgrad cold", target=3.0)]


# -- 5. peak memory of the compiled training step --------------------------------------------


def peak_and_temp_bytes(compiled) -> tuple[int, int]:
    """XLA's peak memory of a compiled function, and the part of it that is temporaries.
    On CPU, jaxlib's `peak_memory_in_bytes` counts arguments and outputs only, not the
    temporaries (one buffer, sized by XLA's heap simulation, allocated for the call), so the
    peak is taken as arguments + outputs + temporaries - aliased, if that is larger."""
    stats = compiled.memory_analysis()
    total = (stats.temp_size_in_bytes + stats.argument_size_in_bytes
             + stats.output_size_in_bytes - stats.alias_size_in_bytes)
    return max(getattr(stats, "peak_memory_in_bytes", 0) or 0, total), stats.temp_size_in_bytes


def section_memory(cfg: Config) -> list[Row]:
    hidden, batch = cfg.sizes((128, 32), (512, 128))
    widths = (784, hidden, hidden, 10)
    args, loss_f, loss_j = mlp_problem(np.random.default_rng(0), widths, batch)
    peaks = {k: peak_and_temp_bytes(s.lower(*args).compile())
             for k, s in train_steps(loss_f, loss_j).items()}
    return [Row("5", f"peak memory (temp) of step 1a, {how}", fmt_mib(*peaks[k]),
                fmt_mib(*peaks["jax"]), peaks[k][0] / peaks["jax"][0], 1.0)
            for k, how in (("fgrad", "fgrad.grad in jax.jit"), ("fgrad.jit", "fgrad.jit"))]


# -- 6. jitted Hessian and Hessian-vector product --------------------------------------------


def tanh_objective(np_):
    """f(x) = sum(tanh(A x)^2) + |x|^2 / 2, a fresh function object on every call."""
    def f(x, a):
        return np_.sum(np_.tanh(a @ x) ** 2) + 0.5 * np_.sum(x ** 2)
    return f


def hessian_fns():
    return {"fgrad": jax.jit(fgrad.hessian(tanh_objective(fnp))),
            "jax": jax.jit(jax.hessian(tanh_objective(jnp)))}


def hvp_fns():
    f, g = tanh_objective(fnp), tanh_objective(jnp)
    return {"fgrad": jax.jit(lambda x, v, a: fgrad.hvp(lambda x: f(x, a), (x,), (v,))),
            "jax": jax.jit(lambda x, v, a: jax.jvp(jax.grad(lambda x: g(x, a)), (x,), (v,))[1])}


def first_call_times(make: Callable[[], dict], args, cfg) -> dict[str, Stat]:
    """Time of a fresh jitted function's first call (trace, transform, compile, run)."""
    def first_call(name):
        return lambda: make()[name](*args)
    return compare({name: first_call(name) for name in make()}, cfg, calls=1,
                   rounds=max(3, cfg.rounds // 3))


def section_hessian(cfg: Config, max_seconds=2.0) -> list[Row]:
    rng = np.random.default_rng(0)
    rows, last = [], None
    for n in cfg.sizes((64, 256), (64, 256, 1024, 4096)):
        a = rng_array(rng, (n, n), 1 / math.sqrt(n))
        x, v = rng_array(rng, (n,)), rng_array(rng, (n,))
        for kind, make, args in (("Hessian", hessian_fns, (x, a)), ("HVP", hvp_fns, (x, v, a))):
            if kind == "Hessian" and last and last[1] * (n / last[0]) ** 3 > max_seconds:
                predicted = last[1] * (n / last[0]) ** 3
                rows.append(Row("6", f"Hessian, n = {n}", f"skipped: ~{fmt_time(predicted)} per "
                                f"call predicted (n³ from n = {last[0]})", "—", None, 1.05))
                continue
            fns = make()
            assert_same(fns["fgrad"](*args), fns["jax"](*args), rtol=2e-4, atol=2e-5)
            steady = compare({k: (lambda f=f: f(*args)) for k, f in fns.items()}, cfg)
            compile_ = first_call_times(make, args, cfg)
            rows.append(timing_row("6", f"{kind}, n = {n}: steady state", steady, target=1.05))
            rows.append(timing_row("6", f"{kind}, n = {n}: first call (compile)", compile_,
                                    target=1.2))
            if kind == "Hessian":
                last = (n, max(steady["fgrad"].time, steady["jax"].time))
    return rows


# -- 7. vmap (extra) -------------------------------------------------------------------------


def section_vmap(cfg: Config) -> list[Row]:
    rng = np.random.default_rng(0)
    hidden, batch = cfg.sizes((128, 16), (512, 128))
    (params, xs, ys), loss_f, loss_j = mlp_problem(rng, (784, hidden, 10), batch)
    per_example = {
        "fgrad": lambda: jax.jit(fgrad.vmap(fgrad.grad(loss_f), in_axes=(None, 0, 0))),
        "jax": lambda: jax.jit(jax.vmap(jax.grad(loss_j), in_axes=(None, 0, 0)))}
    count, size = cfg.sizes((50, 64), (500, 256))
    a, b = rng_array(rng, (count, size, size)), rng_array(rng, (count, size, size))
    matmul = {"fgrad": lambda: jax.jit(fgrad.vmap(fnp.matmul)),
              "jax": lambda: jax.jit(jax.vmap(jnp.matmul))}
    cases = ((f"vmap(grad) MLP 784-{hidden}-10, batch {batch}", per_example, (params, xs, ys)),
             (f"vmap(matmul) {count}x{size}x{size}", matmul, (a, b)))
    rows = []
    for name, make, args in cases:
        fns = {k: m() for k, m in make.items()}
        assert_same(fns["fgrad"](*args), fns["jax"](*args), rtol=2e-4, atol=1e-4)
        steady = compare({k: (lambda f=f: f(*args)) for k, f in fns.items()}, cfg)
        compile_ = first_call_times(lambda: {k: m() for k, m in make.items()}, args, cfg)
        rows.append(timing_row("7", f"{name}, jitted: steady state", steady))
        rows.append(timing_row("7", f"{name}, jitted: first call (compile)", compile_))
    # Seed 000's point, eagerly as in its text: one batched call against a loop of matmuls.
    batched = fgrad.vmap(fnp.matmul)
    looped = lambda: fnp.stack([fnp.matmul(a[i], b[i]) for i in range(count)])  # noqa: E731
    assert_same(batched(a, b), looped(), rtol=2e-4, atol=1e-4)
    stats = compare({"fgrad": lambda: batched(a, b), "jax": looped}, cfg, calls=1, rounds=3)
    rows.append(timing_row("7", f"seed 000, eager: fgrad.vmap(matmul) {count}x{size}x{size} "
                            f"(JAX column: a Python loop of fgrad matmuls)", stats))
    return rows


# -- 8. eager fgrad.numpy dispatch (extra) ---------------------------------------------------


def section_eager_ops(cfg: Config) -> list[Row]:
    rng = np.random.default_rng(0)
    x, w1, w2 = rng_array(rng, (10,)), rng_array(rng, (10, 20)), rng_array(rng, (20, 5))
    picked, order = jnp.asarray([1, 3, 5]), jnp.argsort(w1, axis=1)
    # Module functions only: on a jax.Array, `x * 2.0` would call JAX whichever module runs.
    # One-op calls, short chains and the seed net's forward pass: each at most jax.numpy's
    # time (fgrad/numpy/_eager.py).
    cases = {
        "multiply(x, 2.0)": (lambda m: m.multiply(x, 2.0)),
        "matmul(x, w1), 10 @ 10x20": (lambda m: m.matmul(x, w1)),
        "sum(w1, axis=0)": (lambda m: m.sum(w1, axis=0)),
        "add(multiply(x, 2.0), 1.0), x: (10,)": (lambda m: m.add(m.multiply(x, 2.0), 1.0)),
        "sum(sin(x) ** 2)": (lambda m: m.sum(m.power(m.sin(x), 2))),
        "seed 000 net forward 10-20-5": (
            lambda m: m.mean(m.square(m.matmul(m.tanh(m.add(m.matmul(x, w1), 1.0)), w2)))),
        "where(x > 0, x, 0)": (lambda m: m.where(m.greater(x, 0.0), x, 0.0)),
        "take(w1, i, axis=0), 3 rows of 10x20": (lambda m: m.take(w1, picked, axis=0)),
        "clip(w1, -0.5, 0.5)": (lambda m: m.clip(w1, -0.5, 0.5)),
        "argsort(w1, axis=1)": (lambda m: m.argsort(w1, axis=1)),
        "take_along_axis(w1, order, axis=1)": (
            lambda m: m.take_along_axis(w1, order, axis=1)),
        "cumsum(w1, axis=1)": (lambda m: m.cumsum(w1, axis=1)),
    }
    rows = []
    for name, f in cases.items():
        assert_same(f(fnp), f(jnp))
        stats = compare({"fgrad": lambda f=f: f(fnp), "jax": lambda f=f: f(jnp)}, cfg)
        rows.append(timing_row("8", f"eager {name}", stats, target=1.0))
    rows += nan_check_rows(cfg, x, w1, w2)
    return rows


def nan_check_rows(cfg: Config, x, w1, w2) -> list[Row]:
    """The price of NaN hunting: with the checks off fgrad runs the code of the rows above
    (the checking methods are swapped in only while they are on); on, next to JAX's
    jax_debug_nans."""
    def net(m):
        return lambda x: m.mean(m.square(m.matmul(m.tanh(m.add(m.matmul(x, w1), 1.0)), w2)))

    def checked(fn, context):
        def call():
            with context():
                return fn(x)
        return call

    rows = []
    for what, ours, theirs in (("forward", net(fnp), net(jnp)),
                               ("gradient", fgrad.grad(net(fnp)), jax.grad(net(jnp)))):
        assert_same(ours(x), theirs(x))
        on = compare({"fgrad": checked(ours, fgrad.debug.nans),
                      "jax": checked(theirs, lambda: jax.debug_nans(True))}, cfg)
        off = compare({"fgrad": lambda f=ours: f(x), "jax": lambda f=theirs: f(x)}, cfg)
        rows.append(timing_row("8", f"eager seed 000 net {what}, NaN checks on (JAX: "
                               f"jax_debug_nans)", on))
        rows.append(timing_row("8", f"eager seed 000 net {what}, NaN checks off", off))
    return rows


# -- 9. random numbers (extra) --------------------------------------------------------------


def section_random(cfg: Config) -> list[Row]:
    """fgrad.random against jax.random, jitted: one key (the same jax.random code), a batch
    of keys under vmap (fgrad loops with lax.map; JAX vectorizes), and a reparameterized
    gradient."""
    key = jax.random.key(0)
    n_keys = cfg.sizes((256,), (1024,))[0]
    keys = jax.random.split(key, n_keys)
    rows = []
    for draws in cfg.sizes((1, 100), (1, 100, 10_000)):
        cases = {
            f"vmap over {n_keys} keys, normal({draws},)": (
                lambda d=draws: fgrad.jit(fgrad.vmap(lambda k: frandom.normal(k, (d,)))),
                lambda d=draws: jax.jit(jax.vmap(lambda k: jax.random.normal(k, (d,)))),
                keys),
        }
        if draws > 1:
            cases[f"one key, normal({n_keys}, {draws})"] = (
                lambda d=draws: fgrad.jit(lambda k: frandom.normal(k, (n_keys, d))),
                lambda d=draws: jax.jit(lambda k: jax.random.normal(k, (n_keys, d))), key)
        for name, (make_f, make_j, arg) in cases.items():
            f, j = make_f(), make_j()
            assert_same(f(arg), j(arg), rtol=0, atol=0)
            rows.append(timing_row("9", f"{name}, jitted",
                                   compare({"fgrad": lambda: f(arg), "jax": lambda: j(arg)},
                                           cfg)))
    mu = jnp.zeros(64)

    def elbo_f(mu, key):
        z = mu + fnp.exp(0.5 * mu) * frandom.normal(key, (256, 64))
        return fnp.mean(fnp.sum(z ** 2, axis=1))

    def elbo_j(mu, key):
        z = mu + jnp.exp(0.5 * mu) * jax.random.normal(key, (256, 64))
        return jnp.mean(jnp.sum(z ** 2, axis=1))

    f, j = jax.jit(fgrad.grad(elbo_f)), jax.jit(jax.grad(elbo_j))
    assert_same(f(mu, key), j(mu, key))
    rows.append(timing_row("9", "reparameterized gradient, 256x64 normal draws, jitted",
                           compare({"fgrad": lambda: f(mu, key), "jax": lambda: j(mu, key)},
                                   cfg)))
    return rows


# -- 10. control flow: scan and a bounded while_loop, reverse mode -----------------------------


def rnn_loss(np_, lax):
    """An Elman RNN run by `lax.scan` (fgrad.lax or jax.lax) over the time axis of xs, with
    the mean squared error of a linear readout at every step; a fresh function object on
    every call."""
    def loss(params, xs, ys):
        def cell(h, x):
            h = np_.tanh(x @ params["W_xh"] + h @ params["W_hh"] + params["b_h"])
            return h, h @ params["W_hy"] + params["b_y"]

        h0 = np_.zeros((xs.shape[1], params["W_hh"].shape[0]), xs.dtype)
        _, predictions = lax.scan(cell, h0, xs)
        return np_.mean((predictions - ys) ** 2)
    return loss


def rnn_problem(rng, length, hidden, batch, inputs):
    params = {"W_xh": rng_array(rng, (inputs, hidden), 1 / math.sqrt(inputs)),
              "W_hh": rng_array(rng, (hidden, hidden), 1 / math.sqrt(hidden)),
              "b_h": rng_array(rng, (hidden,), 0.1),
              "W_hy": rng_array(rng, (hidden, 1), 1 / math.sqrt(hidden)),
              "b_y": jnp.zeros(1, jnp.float32)}
    return params, rng_array(rng, (length, batch, inputs)), rng_array(rng, (length, batch, 1))


def rnn_grads():
    """Fresh compiled gradients of the RNN loss: fgrad.grad in jax.jit, fgrad.jit, JAX's."""
    return {"fgrad": jax.jit(fgrad.grad(rnn_loss(fnp, fgrad.lax))),
            "fgrad.jit": fgrad.jit(fgrad.grad(rnn_loss(fnp, fgrad.lax))),
            "jax": jax.jit(jax.grad(rnn_loss(jnp, jax.lax)))}


FIXED_POINT_TOL = 1e-5


def fixed_point_loss(np_, while_loop):
    """z = tanh(z W + x) iterated from 0 by `while_loop(cond, body, init)` until no entry
    moves by more than FIXED_POINT_TOL; the loss is mean(z ** 2)."""
    def loss(w, x):
        def moving(carry):
            return np_.max(np_.abs(carry[1])) > FIXED_POINT_TOL

        def step(carry):
            z = np_.tanh(carry[0] @ w + x)
            return z, z - carry[0]

        z, _ = while_loop(moving, step, (np_.zeros_like(x), np_.ones_like(x)))
        return np_.mean(z ** 2)
    return loss


def bounded_scan(steps, stop):
    """For JAX, which does not reverse-differentiate while_loop: `steps` steps of a scan,
    each applying the body only while the predicate holds, by `jax.lax.cond` (as fgrad
    lowers while_loop(..., max_steps) under reverse mode) or by `jnp.where` (the body runs
    every step)."""
    def while_loop(cond, body, init):
        def step(carry, _):
            if stop == "cond":
                return jax.lax.cond(cond(carry), body, lambda c: c, carry), None
            go = cond(carry)
            return tree_map(lambda new, old: jnp.where(go, new, old), body(carry), carry), None
        return jax.lax.scan(step, init, None, length=steps)[0]
    return while_loop


def section_control_flow(cfg: Config) -> list[Row]:
    rng = np.random.default_rng(0)
    length, hidden, batch, inputs = cfg.sizes((50, 128, 32, 16), (1000, 128, 32, 16))
    args = rnn_problem(rng, length, hidden, batch, inputs)
    name = f"Elman RNN, scan over T = {length}, hidden {hidden}, batch {batch}, MSE readout"
    grads = rnn_grads()
    for ours in ("fgrad", "fgrad.jit"):
        assert_same(grads[ours](*args), grads["jax"](*args), rtol=1e-4, atol=1e-6)
    steady = compare({k: (lambda g=g: g(*args)) for k, g in grads.items()}, cfg)
    first = first_call_times(rnn_grads, args, cfg)
    peaks = {k: peak_and_temp_bytes(g.lower(*args).compile()) for k, g in grads.items()}
    ad = compare({"fgrad": lambda: simplify(fgrad.make_ir(fgrad.grad(rnn_loss(fnp, fgrad.lax)))(
                      *args)),
                  "jax": lambda: jax.make_jaxpr(jax.grad(rnn_loss(jnp, jax.lax)))(*args)},
                 cfg, calls=1)
    rows = []
    hows = (("fgrad", "fgrad.grad in jax.jit"), ("fgrad.jit", "fgrad.jit"))
    for ours, how in hows:
        rows.append(timing_row("10a", f"{name}: jitted grad, {how}", steady, ours, 1.05))
    for ours, how in hows:
        rows.append(timing_row("10a", f"first call (compile), {how}", first, ours, 1.1))
    for ours, how in hows:
        rows.append(Row("10a", f"peak memory (temp) of the compiled grad, {how}",
                        fmt_mib(*peaks[ours]), fmt_mib(*peaks["jax"]),
                        peaks[ours][0] / peaks["jax"][0], 1.0))
    rows.append(timing_row("10a", "trace + grad: fgrad make_ir + simplify vs JAX make_jaxpr",
                           ad, target=0.5))

    width, batch = cfg.sizes((32, 16), (128, 64))
    steps = 50
    w = rng_array(rng, (width, width), 0.5 / math.sqrt(width))
    x = rng_array(rng, (batch, width))
    bounded = lambda c, b, init: fgrad.lax.while_loop(c, b, init, max_steps=steps)  # noqa: E731
    loss_f = fixed_point_loss(fnp, bounded)
    fns = {"fgrad": jax.jit(fgrad.grad(loss_f, argnums=(0, 1))),
           "fgrad.jit": fgrad.jit(fgrad.grad(loss_f, argnums=(0, 1))),
           "jax": jax.jit(jax.grad(fixed_point_loss(jnp, bounded_scan(steps, "cond")),
                                   argnums=(0, 1))),
           "jax where": jax.jit(jax.grad(fixed_point_loss(jnp, bounded_scan(steps, "where")),
                                         argnums=(0, 1)))}
    for k in ("fgrad", "fgrad.jit", "jax where"):
        assert_same(fns[k](w, x), fns["jax"](w, x), rtol=1e-4, atol=1e-6)
    stats = compare({k: (lambda f=f: f(w, x)) for k, f in fns.items()}, cfg)
    name = (f"fixed point z = tanh(z W + x), {batch}x{width}, while_loop max_steps = {steps} "
            f"(JAX: scan of {steps} with cond)")
    for ours, how in hows:
        rows.append(timing_row("10b", f"{name}: jitted grad, {how}", stats, ours))
    rows.append(timing_row("10b", "JAX's scan with where instead of cond (fgrad column: JAX "
                                  "where)", stats, "jax where"))
    return rows


# -- 11. custom rules: checkpointing and implicit differentiation -----------------------------


def deep_mlp_loss(np_, checkpoint, checkpoint_name, residual, how, policy, block=4):
    """The mean of the squared output of layers h = tanh(h W) (with `residual`,
    h = h + tanh(h W)), one W per layer, the pre-activation h W named "pre". `how`: "none",
    "layer" (each layer under `checkpoint(policy=policy)`) or "block" (each run of `block`
    layers under one checkpoint)."""
    def layer(w, h):
        t = np_.tanh(checkpoint_name(h @ w, "pre"))
        return h + t if residual else t

    def layers(ws, h):
        for w in ws:
            h = layer(w, h)
        return h

    def loss(ws, x):
        if how == "none":
            h = layers(ws, x)
        elif how == "layer":
            run, h = checkpoint(layer, policy=policy), x
            for w in ws:
                h = run(w, h)
        else:
            run, h = checkpoint(layers, policy=policy), x
            for i in range(0, len(ws), block):
                h = run(ws[i:i + block], h)
        return np_.mean(h ** 2)
    return loss


def policy_pair(policy: str | None):
    """fgrad's and JAX's checkpoint policy of that name ("pre": save_only_these_names)."""
    if policy is None:
        return None, None
    if policy == "pre":
        return (fgrad.checkpoint_policies.save_only_these_names("pre"),
                jax.checkpoint_policies.save_only_these_names("pre"))
    return getattr(fgrad.checkpoint_policies, policy), getattr(jax.checkpoint_policies, policy)


MLP_CHECKPOINTS = (("no checkpoint", "none", None),
                   ("checkpoint per layer, nothing_saveable", "layer", "nothing_saveable"),
                   ("checkpoint per layer, dots_saveable", "layer", "dots_saveable"),
                   ("checkpoint per layer, save_only_these_names('pre')", "layer", "pre"),
                   ("checkpoint per block of 4 layers, nothing_saveable", "block",
                    "nothing_saveable"))


def checkpoint_mlp_rows(cfg: Config) -> list[Row]:
    from jax.ad_checkpoint import checkpoint_name as jax_checkpoint_name
    depth, width, batch = cfg.sizes((8, 256, 64), (16, 1024, 256))
    rng = np.random.default_rng(0)
    ws = [rng_array(rng, (width, width), 1 / math.sqrt(width)) for _ in range(depth)]
    x = rng_array(rng, (batch, width))
    rows, compile_seconds = [], {"fgrad": [], "jax": []}
    for residual in (False, True):
        kind = "h + tanh(h W)" if residual else "tanh(h W)"
        name = (f"MLP of {depth} layers {kind}, width {width}, batch {batch}, grad of "
                f"mean(h²) w.r.t. all W")
        baseline = None
        for how_text, how, policy in MLP_CHECKPOINTS:
            ours, theirs = policy_pair(policy)
            grads = {"fgrad": fgrad.jit(fgrad.grad(deep_mlp_loss(
                         fnp, fgrad.checkpoint, fgrad.checkpoint_name, residual, how, ours))),
                     "jax": jax.jit(jax.grad(deep_mlp_loss(
                         jnp, jax.checkpoint, jax_checkpoint_name, residual, how, theirs)))}
            compiled = {}
            for k, g in grads.items():
                start = time.perf_counter()
                compiled[k] = g.lower(ws, x).compile()
                compile_seconds[k].append(time.perf_counter() - start)
            outs = {k: c(ws, x) for k, c in compiled.items()}
            assert_same(outs["fgrad"], outs["jax"], rtol=1e-4, atol=1e-7)
            baseline = outs["jax"] if baseline is None else baseline
            assert_same(outs["fgrad"], baseline, rtol=1e-4, atol=1e-7)
            peaks = {k: peak_and_temp_bytes(c) for k, c in compiled.items()}
            rows.append(Row("11a", f"{name}: peak memory (temp), {how_text}",
                            fmt_mib(*peaks["fgrad"]), fmt_mib(*peaks["jax"]),
                            peaks["fgrad"][0] / peaks["jax"][0], 1.0))
            name = f"{depth} × {kind}"
    print(f"section 11a: slowest compile (lower + XLA) of a gradient: fgrad "
          f"{max(compile_seconds['fgrad']):.1f} s, JAX {max(compile_seconds['jax']):.1f} s",
          file=sys.stderr, flush=True)
    return rows


def checkpointed_rnn_loss(np_, lax, checkpoint, policy):
    """rnn_loss (section 10) with the step function under `checkpoint(policy=policy)`."""
    def loss(params, xs, ys):
        def cell(h, x):
            h = np_.tanh(x @ params["W_xh"] + h @ params["W_hh"] + params["b_h"])
            return h, h @ params["W_hy"] + params["b_y"]

        h0 = np_.zeros((xs.shape[1], params["W_hh"].shape[0]), xs.dtype)
        _, predictions = lax.scan(checkpoint(cell, policy=policy), h0, xs)
        return np_.mean((predictions - ys) ** 2)
    return loss


def checkpoint_rnn_rows(cfg: Config) -> list[Row]:
    length, hidden, batch, inputs = cfg.sizes((50, 128, 32, 16), (1000, 128, 32, 16))
    args = rnn_problem(np.random.default_rng(0), length, hidden, batch, inputs)
    rows, baseline = [], None
    for policy in (None, "nothing_saveable", "dots_saveable"):
        if policy is None:
            losses = rnn_loss(fnp, fgrad.lax), rnn_loss(jnp, jax.lax)
            how = "no checkpoint"
        else:
            ours, theirs = policy_pair(policy)
            losses = (checkpointed_rnn_loss(fnp, fgrad.lax, fgrad.checkpoint, ours),
                      checkpointed_rnn_loss(jnp, jax.lax, jax.checkpoint, theirs))
            how = f"step checkpointed, {policy}"
        grads = {"fgrad": fgrad.jit(fgrad.grad(losses[0])), "jax": jax.jit(jax.grad(losses[1]))}
        compiled = {k: g.lower(*args).compile() for k, g in grads.items()}
        outs = {k: c(*args) for k, c in compiled.items()}
        assert_same(outs["fgrad"], outs["jax"], rtol=1e-4, atol=1e-6)
        baseline = outs["jax"] if baseline is None else baseline
        assert_same(outs["fgrad"], baseline, rtol=1e-4, atol=1e-6)
        peaks = {k: peak_and_temp_bytes(c) for k, c in compiled.items()}
        stats = compare({k: (lambda c=c: c(*args)) for k, c in compiled.items()}, cfg)
        name = (f"Elman RNN of 10a (scan, T = {length}, hidden {hidden}, batch {batch}), {how}"
                if policy is None else f"RNN, {how} (JAX: jax.checkpoint in the scan body)")
        rows.append(timing_row("11b", f"{name}: jitted grad", stats))
        rows.append(Row("11b", f"RNN, {how}: peak memory (temp)", fmt_mib(*peaks["fgrad"]),
                        fmt_mib(*peaks["jax"]), peaks["fgrad"][0] / peaks["jax"][0], 1.0))
    return rows


NEWTON_TOL = 1e-6


def newton_loss(np_, while_loop, custom_root=None):
    """sum(x*²), x* the root of x³ + a x - b (elementwise; a > 0, so one real root) found by
    Newton's method from 0, `while_loop(cond, body, x0)` stepping until |f| ≤ NEWTON_TOL. With
    `custom_root`, that loop is its solve, and the derivative is implicit."""
    def loss(a, b):
        def f(x):
            return x ** 3 + a * x - b

        def newton(f, x0):
            return while_loop(lambda x: np_.max(np_.abs(f(x))) > NEWTON_TOL,
                              lambda x: x - f(x) / (3 * x ** 2 + a), x0)

        x0 = np_.zeros_like(b)
        if custom_root is None:
            x = newton(f, x0)
        else:  # f's Jacobian is diagonal: its linearization at 1 is the diagonal
            x = custom_root(f, x0, newton, lambda g, y: y / g(np_.ones_like(y)))
        return np_.sum(x ** 2)
    return loss


def bounded_fori(steps):
    """JAX's bounded loop: fori_loop over `steps` steps, each applying the body under
    `jax.lax.cond` while the predicate holds (the carry stops changing after)."""
    def while_loop(cond, body, init):
        return jax.lax.fori_loop(
            0, steps, lambda i, c: jax.lax.cond(cond(c), body, lambda c: c, c), init)
    return while_loop


def fmt_bytes(n: int) -> str:
    return f"{n:,} B"


def newton_rows(cfg: Config) -> list[Row]:
    n = 8
    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.uniform(1, 2, n).astype(np.float32))
    b = jnp.asarray(rng.uniform(-1, 1, n).astype(np.float32))
    f = lambda x: x ** 3 + a * x - b  # noqa: E731
    steps = int(jax.lax.while_loop(
        lambda c: jnp.max(jnp.abs(f(c[0]))) > NEWTON_TOL,
        lambda c: (c[0] - f(c[0]) / (3 * c[0] ** 2 + a), c[1] + 1), (jnp.zeros_like(b), 0))[1])
    assert steps <= 10, steps  # every bound below lets Newton converge

    def bounded(n_steps):
        return lambda c, s, init: fgrad.lax.while_loop(c, s, init, max_steps=n_steps)

    def grads(loss_f, loss_j):
        return {"fgrad": fgrad.jit(fgrad.grad(loss_f, argnums=(0, 1))),
                "jax": jax.jit(jax.grad(loss_j, argnums=(0, 1)))}

    variants = [("implicit: custom_root, solve = while_loop without a bound (JAX: lax."
                 "while_loop)", grads(newton_loss(fnp, fgrad.lax.while_loop,
                                                  fgrad.lax.custom_root),
                                      newton_loss(jnp, jax.lax.while_loop, jax.lax.custom_root)))]
    for n_steps in (10, 100, 1000):
        variants.append((f"unrolled: while_loop(max_steps = {n_steps}) (JAX: fori_loop of "
                         f"{n_steps} with cond)",
                         grads(newton_loss(fnp, bounded(n_steps)),
                               newton_loss(jnp, bounded_fori(n_steps)))))
        variants.append((f"implicit: custom_root, solve = the loop bounded by {n_steps}",
                         grads(newton_loss(fnp, bounded(n_steps), fgrad.lax.custom_root),
                               newton_loss(jnp, bounded_fori(n_steps), jax.lax.custom_root))))
    rows, reference = [], None
    for i, (how, fns) in enumerate(variants):
        compiled = {k: g.lower(a, b).compile() for k, g in fns.items()}
        outs = {k: c(a, b) for k, c in compiled.items()}
        reference = outs["jax"] if reference is None else reference
        for out in outs.values():
            assert_same(out, reference, rtol=1e-4, atol=1e-6)
        temps = {k: peak_and_temp_bytes(c)[1] for k, c in compiled.items()}
        name = (f"Newton's method for x³ + a x = b, {n} roots, {steps} steps to |f| ≤ "
                f"{NEWTON_TOL:g}; grad of sum(x*²) w.r.t. (a, b): temp bytes, {how}"
                if i == 0 else f"temp bytes, {how}")
        rows.append(Row("11c", name, fmt_bytes(temps["fgrad"]), fmt_bytes(temps["jax"]),
                        temps["fgrad"] / temps["jax"] if temps["jax"] else None, 1.0))
    return rows


def custom_softplus(np_, custom_jvp, sigmoid):
    """softplus with its derivative given as a custom JVP rule."""
    @custom_jvp
    def softplus(x):
        return np_.log1p(np_.exp(x))

    @softplus.defjvp
    def _(primals, tangents):
        (x,), (t,) = primals, tangents
        return softplus(x), t * sigmoid(x)
    return softplus


def custom_forward_rows(cfg: Config) -> list[Row]:
    """The cost of a custom rule in a compiled forward pass that nothing differentiates.
    fgrad lowers the rule's equation so that JAX's transforms find the rule (custom.py,
    _with_derivative), which also computes the rule's tangent once."""
    n = cfg.sizes((256,), (1000,))[0]
    x = rng_array(np.random.default_rng(0), (n, n))
    f = custom_softplus(fnp, fgrad.custom_jvp, lambda x: 1 / (1 + fnp.exp(-x)))
    j = custom_softplus(jnp, jax.custom_jvp, jax.nn.sigmoid)
    fns = {"fgrad": fgrad.jit(lambda x: fnp.sum(f(x))), "jax": jax.jit(lambda x: jnp.sum(j(x))),
           "fgrad, no custom rule": fgrad.jit(lambda x: fnp.sum(fnp.log1p(fnp.exp(x))))}
    outs = {k: g(x) for k, g in fns.items()}
    assert_same(outs["fgrad"], outs["jax"], rtol=1e-5)
    stats = compare({k: (lambda g=g: g(x)) for k, g in fns.items()}, cfg)
    name = f"sum(softplus(x)), x {n}×{n}, softplus a custom_jvp function: jitted forward"
    return [timing_row("11d", name, stats),
            timing_row("11d", "the same without the custom rule (fgrad) against JAX's custom",
                       stats, ours="fgrad, no custom rule")]


def section_custom_rules(cfg: Config) -> list[Row]:
    return (checkpoint_mlp_rows(cfg) + checkpoint_rnn_rows(cfg) + newton_rows(cfg)
            + custom_forward_rows(cfg))


# -- 12. linear algebra ------------------------------------------------------------------------


def gaussian_loglik(np_, solve_triangular):
    """log N(x; 0, S S^T + n I) by a Cholesky factor: -1/2 |L^-1 x|^2 - sum log diag L."""
    def loglik(s, x):
        n = x.shape[0]
        cov = s @ s.T + n * np_.eye(n)
        chol = np_.linalg.cholesky(cov)
        z = solve_triangular(chol, x, lower=True)
        return (-0.5 * np_.sum(z * z) - np_.sum(np_.log(np_.diagonal(chol)))
                - 0.5 * n * np_.log(2 * np_.pi))
    return loglik


def section_linalg(cfg: Config) -> list[Row]:
    """Jitted gradients through the decompositions: fgrad's matrix-calculus rules against
    JAX's, float32, one n x n matrix (n = 256; 64 with --quick)."""
    import fgrad.scipy.linalg as fsl
    import jax.scipy.linalg as jsl
    rng = np.random.default_rng(0)
    n = cfg.sizes(64, 256)
    a = rng_array(rng, (n, n)) + n ** 0.5 * jnp.eye(n)
    s, x = rng_array(rng, (n, n)), rng_array(rng, (n,))
    sym = (a + a.T) / 2
    problems = {
        f"grad of slogdet, {n}x{n}": (lambda np_: lambda a: np_.linalg.slogdet(a)[1], (a,)),
        f"grad of a Gaussian log-likelihood by cholesky, {n}x{n}": (
            lambda np_: gaussian_loglik(np_, {fnp: fsl, jnp: jsl}[np_].solve_triangular),
            (s, x)),
        f"grad of sum(eigh(A).eigenvalues ** 2 + eigenvectors[0] ** 2), {n}x{n}": (
            lambda np_: lambda a: (np_.sum(np_.linalg.eigh(a)[0] ** 2)
                                   + np_.sum(np_.linalg.eigh(a)[1][0] ** 2)), (sym,)),
    }
    rows = []
    for name, (make, args) in problems.items():
        fns = {"fgrad": jax.jit(fgrad.grad(make(fnp))), "jax": jax.jit(jax.grad(make(jnp)))}
        assert_same(fns["fgrad"](*args), fns["jax"](*args), rtol=2e-3, atol=2e-4)
        stats = compare({k: (lambda g=g: g(*args)) for k, g in fns.items()}, cfg)
        rows.append(timing_row("12", f"{name}, jitted (jax.jit)", stats, target=1.05))
    return rows


# -- the report ------------------------------------------------------------------------------


SECTIONS = {"1": ("train_step", section_train_step), "2": ("lowering", section_lowering),
            "3": ("hlo_ops", section_hlo_ops), "4": ("eager", section_eager),
            "5": ("memory", section_memory), "6": ("hessian", section_hessian),
            "7": ("vmap", section_vmap), "8": ("eager_ops", section_eager_ops),
            "9": ("random", section_random), "10": ("control_flow", section_control_flow),
            "11": ("custom_rules", section_custom_rules), "12": ("linalg", section_linalg)}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        models = re.findall(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu = models[0] if models else cpu
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        import torch
        torch_version = f", torch {torch.__version__}"
    except ImportError:
        torch_version = ", no torch"
    return (f"{cpu}, {os.cpu_count()} cores ({usable} usable); Python "
            f"{platform.python_version()}, jax {jax.__version__}, jaxlib "
            f"{jax.lib.__version__ if hasattr(jax.lib, '__version__') else '?'}"
            f"{torch_version}, {jax.default_backend()}; XLA and BLAS on one thread")


def fmt_ratio(r: float | None) -> str:
    return "—" if r is None else f"{r:.2f}" if r >= 0.1 else f"{r:.3f}"


def table(rows: list[Row]) -> str:
    lines = ["| # | figure | fgrad | JAX | fgrad / JAX | target | met |",
             "| --- | --- | ---: | ---: | ---: | ---: | :---: |"]
    for r in rows:
        target = "—" if r.target is None else f"≤ {r.target:g}"
        met = "—" if r.target is None or r.ratio is None else (
            "yes" if r.ratio <= r.target else "**no**")
        lines.append(f"| {r.section} | {r.figure} | {r.fgrad} | {r.jax} | {fmt_ratio(r.ratio)} "
                     f"| {target} | {met} |")
    return "\n".join(lines)


def svg_plot(rows: list[Row]) -> str:
    """Each targeted ratio as a bar on a log axis, with its target as a black tick."""
    rows = [r for r in rows if r.target is not None and r.ratio is not None]
    lo, hi = 0.01, 10.0
    for r in rows:
        lo, hi = min(lo, r.ratio / 2, r.target / 2), max(hi, r.ratio * 2, r.target * 2)
    lo, hi = 10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi))
    labels = [f"{r.section} {r.figure}" for r in rows]
    left = 20 + 6 * max(map(len, labels), default=0)  # about 6 px per character at 11 px
    width, bar, top = 460, 18, 30
    height = top + bar * len(rows) + 40

    def x_of(value):
        return left + width * math.log10(value / lo) / math.log10(hi / lo)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 20}" '
           f'height="{height}" font-family="sans-serif" font-size="11">',
           '<text x="10" y="16" font-size="13">fgrad / JAX (log scale); black tick: '
           'target; green: met, red: not met</text>']
    decade = lo
    while decade <= hi:
        x = x_of(decade)
        out.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 30}" '
                   f'stroke="#ccc"/><text x="{x:.1f}" y="{height - 16}" '
                   f'text-anchor="middle">{decade:g}</text>')
        decade *= 10
    for i, (r, label) in enumerate(zip(rows, labels)):
        y = top + i * bar
        color = "#2a9d4a" if r.ratio <= r.target else "#d43d3d"
        out.append(f'<text x="{left - 6}" y="{y + bar * 0.7:.1f}" text-anchor="end">'
                   f'{_xml(label)}</text>')
        out.append(f'<rect x="{left}" y="{y + 3}" width="{x_of(r.ratio) - left:.1f}" '
                   f'height="{bar - 6}" fill="{color}"/>')
        t = x_of(r.target)
        out.append(f'<line x1="{t:.1f}" y1="{y + 1}" x2="{t:.1f}" y2="{y + bar - 1}" '
                   f'stroke="black" stroke-width="2"/>')
        out.append(f'<text x="{x_of(r.ratio) + 4:.1f}" y="{y + bar * 0.7:.1f}">'
                   f'{fmt_ratio(r.ratio)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 15; 3 quick)")
    parser.add_argument("--quick", action="store_true", help="a fast smoke run: few rounds, "
                        "small sizes")
    names = {name: number for number, (name, _) in SECTIONS.items()}
    parser.add_argument("--only", choices=[*SECTIONS, *names], help="run one section")
    args = parser.parse_args()
    cfg = Config(args.rounds or (3 if args.quick else 15), args.quick,
                 0.005 if args.quick else 0.05)
    command = "python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])
    header = (f"Machine: {machine()}.  \nCommand: `{command}` ({cfg.rounds} rounds, "
              f"{datetime.date.today()}).")
    print(header + "\n", flush=True)
    selected = [names.get(args.only, args.only)] if args.only else list(SECTIONS)
    rows, start = [], time.perf_counter()
    for number in selected:
        name, run = SECTIONS[number]
        began = time.perf_counter()
        rows += run(cfg)
        print(f"section {number} ({name}) took {time.perf_counter() - began:.0f} s",
              file=sys.stderr, flush=True)
    wall = time.perf_counter() - start
    text = table(rows)
    print(text)
    print(f"\nWall time: {wall:.0f} s")
    (HERE / "results.md").write_text(f"{header}\n\n{text}\n\nWall time: {wall:.0f} s.\n")
    (HERE / "results.svg").write_text(svg_plot(rows))


if __name__ == "__main__":
    main()
