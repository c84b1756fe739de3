"""The measurements behind fgrad/core/resources.py: cache lookups, compile cost, a workload
cycling through many gradient structures, and the garbage collector during tracing.

Run:  python benchmarks/caches.py [--quick] [--big] [--rounds N] [--only SECTION[,SECTION]]

Sections (all by default, in this order):
  lru      LRUCache.get against dict.get and a locked OrderedDict, alone and inside eager
           fgrad ops
  gc       tracing time (make_ir and an eager grad of a 2,000-op chain) with the collector
           running, disabled, made rare by collector_paused(), and frozen
  compile  (a) jax.jit(f).lower().compile() of chains of n dense/elementwise ops against
           running them op by op; (b) the same for fgrad gradients: op-by-op eager grad
           against the first call of fgrad.jit(fgrad.grad(f)); the fitted compile model
           and where CompilePolicy would compile
  cycle    300 distinct small functions whose eager fgrad.grad is called round-robin:
           seconds per round (fgrad's own gradient cache decides what gets compiled)

--quick: small sizes and few rounds (a smoke run); --big: adds n = 10,000 (JAX) and 4,000
forward ops (fgrad), minutes of compiling. A measurement run on demand, not a test: nothing
here asserts a speed. XLA and BLAS are pinned to one thread; each figure is a median of
rounds (interleaved between the variants compared), so a noisy neighbour hits all of them.
"""

import os

# One thread for XLA and BLAS, set before jax is imported (XLA reads it once).
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen="
                           "false intra_op_parallelism_threads=1").strip()
os.environ["OMP_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import gc  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import timeit  # noqa: E402
import types  # noqa: E402
from collections import OrderedDict  # noqa: E402
from contextlib import contextmanager, nullcontext  # noqa: E402
from pathlib import Path  # noqa: E402
from statistics import median  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout, uninstalled

import fgrad  # noqa: E402
import fgrad.numpy as fnp  # noqa: E402
from fgrad.core import resources  # noqa: E402
from fgrad.core import trace as fgrad_trace  # noqa: E402
from fgrad.core.resources import CompilePolicy, LRUCache, collector_paused  # noqa: E402

W = jnp.asarray(np.random.default_rng(0).normal(size=(8, 8)) / 3, jnp.float32)
B = jnp.ones((8,), jnp.float32)
X = jnp.ones((4, 8), jnp.float32)


def chain(np_mod, n: int, salt: float):
    """A loss of n operations cycling through dot, add, tanh, scale and sin on (4, 8)
    activations. `salt` is a literal of the program, so each salt is a new structure."""
    def f(w, b, x):
        h = x
        for i in range(n):
            k = i % 5
            if k == 0:
                h = h @ w
            elif k == 1:
                h = h + b
            elif k == 2:
                h = np_mod.tanh(h)
            elif k == 3:
                h = h * (0.5 + salt)
            else:
                h = np_mod.sin(h)
        return np_mod.sum(h)
    return f


_salts = iter(range(1, 10**9))


def fresh() -> float:
    """A salt never used before in this process: a structure no cache has seen."""
    return next(_salts) * 1e-6


def clock(f, *args) -> float:
    t = time.perf_counter()
    jax.block_until_ready(f(*args))
    return time.perf_counter() - t


def table(header, rows):
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).rjust(w) for c, w in zip(cells, widths)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    print()


# -- lru ------------------------------------------------------------------------------------------

class LockedOrderedDictLRU:
    """The textbook alternative, for comparison: an OrderedDict and a lock around each
    operation (a lock-free OrderedDict is not thread-safe; see LRUCache's docstring)."""

    def __init__(self, maxsize):
        self.maxsize, self._data, self._lock = maxsize, OrderedDict(), threading.RLock()

    def get(self, key, default=None):
        lock = self._lock
        lock.acquire()
        try:
            value = self._data.get(key, self)
            if value is self:
                return default
            self._data.move_to_end(key)
            return value
        finally:
            lock.release()

    def put(self, key, value):
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)


class DictCache(dict):
    """A plain dict that also answers LRUCache's `put`: today's unbounded lookups."""
    put = dict.__setitem__


def _filled(kind, items):
    cache = kind(1 << 16) if kind is not DictCache else DictCache()
    for k, v in items:
        cache.put(k, v)
    return cache


def _items(cache):
    if isinstance(cache, LRUCache):
        return [(k, entry[0]) for k, entry in cache._entries.items()]
    return list(cache.items())


def section_lru(args):
    kinds = {"dict": DictCache, "LRUCache": LRUCache,
             "OrderedDict + lock": LockedOrderedDictLRU}
    x, y = jnp.ones(8), jnp.full(8, 2.0)
    fnp.sin(x), fnp.multiply(x, y)
    names = ["_COMPILED_OPS", "_SHAPE_RULE_CACHE"]
    originals = {nm: getattr(fgrad_trace, nm, None) for nm in names}
    in_place = all(isinstance(c, (dict, LRUCache)) for c in originals.values())
    # A real key: the shape-rule question of fnp.sin(x), rebuilt (equal, not identical)
    # as abstract_eval builds it on every call.
    shape_keys = [k for k, _ in _items(originals["_SHAPE_RULE_CACHE"])] if in_place else []
    key = next((k for k in shape_keys if "sin" in str(k[0])), (object(), ("axes", (0,))))
    probe = tuple(key)
    others = [((object(), i), i) for i in range(1000)]
    caches = {kind: _filled(cls, others + [(key, 1)]) for kind, cls in kinds.items()}
    miss = ("absent",)
    n = 100_000 if args.quick else 300_000
    times = {}
    for r in range(args.rounds):
        for kind, cache in (caches.items() if r % 2 else reversed(caches.items())):
            get = cache.get
            for what, k in (("hit", probe), ("miss", miss)):
                times.setdefault((kind, what), []).append(
                    min(timeit.repeat(lambda: get(k), number=n, repeat=3)) / n * 1e9)
    print(f"## lru: one lookup (ns, median of {args.rounds} rounds), the key {probe!r}\n")
    table(["cache", "get hit ns", "get miss ns"],
          [[kind, f"{median(times[kind, 'hit']):.0f}", f"{median(times[kind, 'miss']):.0f}"]
           for kind in kinds])
    if not in_place:
        print("(trace.py's caches are neither dicts nor LRUCaches: eager ops skipped)\n")
        return
    # In place: the eager path looks up _COMPILED_OPS and _SHAPE_RULE_CACHE on every op.
    ops = {"fnp.sin(x)": lambda: fnp.sin(x), "fnp.multiply(x, y)": lambda: fnp.multiply(x, y)}
    calls = 3_000 if args.quick else 10_000
    times = {}
    try:
        for r in range(args.rounds):
            for kind, cls in (kinds.items() if r % 2 else reversed(kinds.items())):
                for nm in names:
                    setattr(fgrad_trace, nm, _filled(cls, _items(originals[nm])))
                for label, f in ops.items():
                    f()
                    times.setdefault((kind, label), []).append(
                        min(timeit.repeat(f, number=calls, repeat=3)) / calls * 1e6)
    finally:
        for nm, c in originals.items():
            setattr(fgrad_trace, nm, c)
    print("Eager fgrad ops on f32[8] (µs per call, median of rounds) with trace.py's two "
          "caches (_COMPILED_OPS, _SHAPE_RULE_CACHE) as each kind, holding the same "
          "entries:\n")
    rows = []
    for label in ops:
        base = median(times["dict", label])
        cells = []
        for k in kinds:
            t = median(times[k, label])
            cells.append(f"{t:.2f} ({t / base - 1:+.1%})")
        rows.append([label, *cells])
    table(["eager op", *kinds], rows)


# -- gc -------------------------------------------------------------------------------------------

@contextmanager
def _gc_disabled():
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@contextmanager
def _gc_frozen():
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def _staging_pause_off():
    """trace.py's own pause, whatever it is, neutralized: the mode under test wraps the
    whole call instead."""
    shim = types.SimpleNamespace(isenabled=lambda: False, disable=lambda: None,
                                 enable=lambda: None)
    saved = [(mod, name, getattr(mod, name)) for mod, name in
             ((fgrad_trace, "gc"), (fgrad_trace, "collector_paused"),
              (resources, "collector_paused")) if hasattr(mod, name)]
    fgrad_trace.gc = shim
    if hasattr(fgrad_trace, "collector_paused"):
        fgrad_trace.collector_paused = nullcontext
    resources.collector_paused = nullcontext
    try:
        yield
    finally:
        for mod, name, value in saved:
            setattr(mod, name, value)


def section_gc(args):
    n = 500 if args.quick else 2000
    print(f"## gc: tracing a chain of {n} fgrad.numpy ops (ms, median of {args.rounds} "
          f"rounds; {len(gc.get_objects()):,} objects tracked by the collector)\n")
    real_pause = collector_paused
    modes = {"collector running": nullcontext, "gc.disable()": _gc_disabled,
             f"collector_paused() (gen0 threshold {resources.PAUSED_THRESHOLD:,})":
             real_pause, "gc.freeze()": _gc_frozen}
    f = chain(fnp, n, 0.0)
    make_ir = fgrad.make_ir(f)
    make_ir(W, B, X)
    fgrad.grad(chain(fnp, n, fresh()))(W, B, X)  # warm: every op compiled for these shapes
    times = {m: ([], []) for m in modes}
    with _staging_pause_off():
        for _ in range(args.rounds):
            for mode, cm in modes.items():
                gc.collect()
                with cm():
                    t_ir = clock(make_ir, W, B, X)
                g = fgrad.grad(chain(fnp, n, fresh()))  # first sight: traced, run op by op
                gc.collect()
                with cm():
                    t_grad = clock(g, W, B, X)
                times[mode][0].append(t_ir)
                times[mode][1].append(t_grad)
    none_ir, none_grad = (median(t) for t in times["collector running"])
    rows = []
    for mode, (ir, gr) in times.items():
        rows.append([mode, f"{median(ir) * 1e3:.1f}", f"{(1 - median(ir) / none_ir) * 100:+.0f} %",
                     f"{median(gr) * 1e3:.1f}", f"{(1 - median(gr) / none_grad) * 100:+.0f} %"])
    table(["collector", "make_ir ms", "saved", "eager grad ms", "saved"], rows)


# -- compile --------------------------------------------------------------------------------------

def _jax_row(n, repeats):
    f = chain(jnp, n, fresh())
    f(W, B, X)
    eager = min(clock(f, W, B, X) for _ in range(2))  # warm: JAX's per-op dispatch caches
    lowers, compiles = [], []
    for _ in range(repeats):
        jitted = jax.jit(chain(jnp, n, fresh()))  # a new program, never in a JAX cache
        t0 = time.perf_counter()
        lowered = jitted.lower(W, B, X)
        t1 = time.perf_counter()
        lowered.compile()
        t2 = time.perf_counter()
        lowers.append(t1 - t0)
        compiles.append(t2 - t1)
    return eager, median(lowers), median(compiles)


def _fgrad_row(n, repeats):
    f = chain(fnp, n, fresh())
    make_ir = fgrad.make_ir(f)
    n_eqns = len(make_ir(W, B, X).eqns)
    trace = min(clock(make_ir, W, B, X) for _ in range(2))
    argnums = (0, 1)
    cold = clock(fgrad.grad(f, argnums), W, B, X)  # first sight: op by op
    warm = min(clock(fgrad.grad(chain(fnp, n, fresh()), argnums), W, B, X)
               for _ in range(2))  # first sights again, ops already compiled for the shapes
    firsts, steady = [], []
    for _ in range(repeats):
        jg = fgrad.jit(fgrad.grad(chain(fnp, n, fresh()), argnums))
        firsts.append(clock(jg, W, B, X))
        steady.append(min(clock(jg, W, B, X) for _ in range(3)))
    return n_eqns, trace, cold, warm, median(firsts) - median(steady), median(steady)


def fit_compile_model(points):
    """Least squares for seconds = base + per_eqn * n + per_eqn2 * n**2, in relative error
    (each row divided by its time), dropping any coefficient that comes out negative."""
    n = np.array([p[0] for p in points], float)
    t = np.array([p[1] for p in points], float)
    columns = {"base": np.ones_like(n), "per_eqn": n, "per_eqn2": n * n}
    while True:
        A = np.stack(list(columns.values()), axis=1) / t[:, None]
        coef, *_ = np.linalg.lstsq(A, np.ones_like(t), rcond=None)
        fitted = dict(zip(columns, coef))
        negative = [k for k, v in fitted.items() if v < 0]
        if not negative:
            break
        del columns[negative[0]]
    return {k: float(fitted.get(k, 0.0)) for k in ("base", "per_eqn", "per_eqn2")}


def section_compile(args):
    jax_ns = [100, 300] if args.quick else [100, 300, 1000, 3000] + ([10000] if args.big else [])
    repeats = 1 if args.quick else 2
    print("## compile (a): JAX, a chain of n ops (dot, add, tanh, scale, sin) on f32[4,8] "
          "(seconds; op by op warm, lower and compile medians of "
          f"{repeats})\n")
    rows = []
    for n in jax_ns:
        eager, lower, comp = _jax_row(n, repeats)
        rows.append([n, f"{eager:.4f}", f"{lower:.3f}", f"{comp:.3f}",
                     f"{(lower + comp) / eager:.1f}"])
        print(f"  n={n} done", file=sys.stderr, flush=True)
    table(["n ops", "op by op s", "lower s", "XLA compile s", "(lower+compile) / op by op"],
          rows)

    ops = [10, 30, 100, 300] if args.quick else [10, 30, 100, 300, 1000, 2000]
    ops += [4000] if args.big else []
    print("## compile (b): fgrad, value and gradient (w.r.t. w, b) of the same chains "
          "(seconds). trace: make_ir of the loss, which every eager call pays; op by op: an "
          "eager grad's first sight, cold (the first chain of that length, ops compiled on "
          "the way) and warm; rent: warm minus trace, what a compiled call saves and what "
          "CompilePolicy.record is told; compile: fgrad.jit(grad)'s first call minus its "
          "steady call (what the gradient cache pays: tracing, transforms, lowering and "
          "XLA)\n")
    points, rows, rents = [], [], []
    clock(fgrad.grad(chain(fnp, 5, fresh())), W, B, X)  # the process's first gradient
    for n in ops:
        n_eqns, trace, cold, warm, comp, steady = _fgrad_row(n, repeats)
        rent = max(warm - trace, 1e-6)
        points.append((n_eqns, comp))
        rents.append((cold - trace, rent))
        rows.append([n, n_eqns, f"{trace:.4f}", f"{cold:.3f}", f"{warm:.4f}", f"{rent:.4f}",
                     f"{comp:.3f}", f"{steady * 1e3:.2f}", f"{comp / rent:.1f}"])
        print(f"  fgrad n={n} done", file=sys.stderr, flush=True)
    table(["ops", "forward eqns", "trace s", "op by op cold s", "op by op warm s", "rent s",
           "compile s", "compiled call ms", "compile / rent"], rows)

    fit = fit_compile_model(points)
    print("Fitted compile model, seconds = base + per_eqn * n + per_eqn2 * n^2 (n forward "
          f"eqns): base={fit['base']:.3g}, per_eqn={fit['per_eqn']:.3g}, "
          f"per_eqn2={fit['per_eqn2']:.3g}\n")
    policy = CompilePolicy()
    print("CompilePolicy() as shipped (base={:.3g}, per_eqn={:.3g}, per_eqn2={:.3g}, "
          "cheap_seconds={:.3g}), told the rent of each chain (the first sight: cold minus "
          "trace): the sight at which it says compile, and the rent paid by then\n".format(
              policy.base, policy.per_eqn, policy.per_eqn2, policy.cheap_seconds))
    prows = []
    for (n_eqns, comp), (first, rent) in zip(points, rents):
        key = ("bench", n_eqns)
        sight = next(k for k in range(1, 10**6)
                     if policy.record(key, n_eqns, first if k == 1 else rent))
        spent = first + (sight - 1) * rent
        prows.append([n_eqns, f"{comp:.3f}", f"{policy.estimate(n_eqns):.3f}", sight,
                      f"{spent:.2f}", f"{comp / spent:.2f}"])
    table(["forward eqns", "measured compile s", "policy estimate s", "compiles at sight",
           "rent paid by then s", "compile / rent paid"], prows)


# -- cycle ----------------------------------------------------------------------------------------

def _structure(k: int):
    """Function k of the cycle: a polynomial of degree 2 + k % 12 through tanh, scaled by
    1 + k // 12; different degrees are different op sequences, different scales different
    literals, so all 300 are different program structures (8 to 30 equations)."""
    degree, scale = 2 + k % 12, 1.0 + k // 12

    def f(x):
        p = x
        for _ in range(degree - 1):
            p = p * x + 0.5
        return fnp.sum(fnp.tanh(p)) * scale
    return f


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def _compiled_gradients() -> str:
    """How many compiled eager gradients fgrad holds."""
    import fgrad.xla as xla
    return str(len(xla._EAGER_EXECUTABLES))


def section_cycle(args):
    count = 60 if args.quick else 300
    rounds = 3 if args.quick else max(args.rounds, 6)
    print(f"## cycle: {count} distinct functions, eager fgrad.grad called round-robin, "
          f"{rounds} rounds (seconds per round; fgrad's gradient cache as it is wired)\n")
    x = jnp.linspace(-1.0, 1.0, 16, dtype=jnp.float32)
    grads = [fgrad.grad(_structure(k)) for k in range(count)]
    jax.block_until_ready(fgrad.grad(_structure(count + 1))(x))  # warm the ops' own caches
    rows = []
    start = _rss_mb()
    for r in range(rounds):
        t = time.perf_counter()
        for g in grads:
            jax.block_until_ready(g(x))
        seconds = time.perf_counter() - t
        rows.append([r + 1, f"{seconds:.2f}", f"{seconds / count * 1e3:.2f}",
                     _compiled_gradients(), f"{_rss_mb() - start:+.0f}"])
        print(f"  round {r + 1} done", file=sys.stderr, flush=True)
    table(["round", "seconds", "ms per call", "compiled gradients held", "RSS growth MB"],
          rows)


SECTIONS = {"lru": section_lru, "gc": section_gc, "compile": section_compile,
            "cycle": section_cycle}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--big", action="store_true")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--only", default=",".join(SECTIONS))
    args = parser.parse_args()
    args.rounds = args.rounds or (3 if args.quick else 7)
    print("Command: " + " ".join(shlex.quote(a) for a in ["python", *sys.argv]))
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, jax {jax.__version__}; XLA_FLAGS="
          f"{os.environ['XLA_FLAGS']!r}\n")
    for name in args.only.split(","):
        if name not in SECTIONS:
            parser.error(f"unknown section {name!r}; sections: {', '.join(SECTIONS)}")
        SECTIONS[name](args)


if __name__ == "__main__":
    main()
