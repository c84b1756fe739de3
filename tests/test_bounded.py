"""Bounded resources: every cache stays within its bound through a long mixed workload,
nothing a transformation creates outlives it, fgrad.clear_caches() gives compiled programs
back, the documented table of caches is the code's, and threads trace concurrently without
seeing each other's traces."""

import functools
import gc
import os
import pathlib
import threading
import weakref

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.core import resources
from fgrad.core.ir import Program
from fgrad.core.resources import LRUCache, PerObjectCaches
from fgrad.core.trace import EVAL_TRACE, StagingTrace, Tracer, current_trace

ROOT = pathlib.Path(__file__).resolve().parent.parent


def census() -> tuple[int, int]:
    """Live fgrad tracers and programs, after a full collection. Both classes use slots
    without weak references, so the collector's list of objects is how to count them."""
    gc.collect()
    objects = gc.get_objects()
    return (sum(type(o) is Tracer for o in objects), sum(type(o) is Program for o in objects))


@pytest.fixture
def live_before():
    """The tracers and programs alive before the test: other test modules run by the same
    process may keep some in their globals (tests/test_errors.py keeps leaked tracers on
    purpose), so a test asserts on what it leaves behind itself."""
    return census()


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# -- the registry ----------------------------------------------------------------------------------

def test_every_cache_is_named_bounded_and_clearable():
    info = fgrad.cache_info()
    assert "compiled_ops" in info and "eager_executables" in info and "jit_programs" in info
    for name, (size, maxsize) in info.items():
        registered = resources._REGISTRY[name]
        if maxsize is None:  # only a finite domain may go unbounded, and says which
            assert "finite" in registered.why, name
        else:
            assert maxsize > 0 and 0 <= size <= maxsize, name
    fgrad.grad(lambda x: fnp.sum(fnp.sin(x) ** 2))(jnp.arange(3.0))
    assert fgrad.cache_info()["compiled_ops"].size > 0
    fgrad.clear_caches()
    assert all(size == 0 for size, _ in fgrad.cache_info().values())


def test_every_module_level_cache_in_fgrad_is_registered():
    """Each LRUCache, CompilePolicy or lru_cache function found in fgrad's modules is one
    the registry knows, so clear_caches and cache_info cannot miss it."""
    import sys

    registered = {id(r.cache) for r in resources._REGISTRY.values()}
    found = []
    for name, module in list(sys.modules.items()):
        if not name.startswith("fgrad") or name == "fgrad.core.resources":
            continue
        for attr, value in vars(module).items():
            if (isinstance(value, (LRUCache, resources.CompilePolicy, PerObjectCaches))
                    or hasattr(value, "cache_clear")) and id(value) not in registered:
                found.append(f"{name}.{attr}")
    assert found == []


def test_the_documented_table_of_caches_is_the_registry():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_caches", ROOT / "docs" / "gen_caches.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    on_disk = gen.OUTPUT.read_text()
    assert gen.render(on_disk) == on_disk, "run `python docs/gen_caches.py`"
    for name in fgrad.cache_info():
        assert f"| `{name}` |" in on_disk


def test_per_object_caches_die_with_their_owner_and_report_the_fullest():
    family = PerObjectCaches(3, on_clear=lambda owner: owner.cleared.append(True))

    class Owner:
        def __init__(self):
            self.cleared = []

    a, b = Owner(), Owner()
    ca, cb = family.new(a), family.new(b)
    for k in range(5):
        ca.put(k, k)
    cb.put("x", 1)
    assert (len(ca), len(cb), len(family), family.maxsize) == (3, 1, 3, 3)
    del a, ca
    gc.collect()
    assert len(family) == 1
    family.clear()
    assert len(cb) == 0 and b.cleared == [True]


# -- a long mixed workload -------------------------------------------------------------------------

SIZES = (1, 2, 3, 4, 5, 6, 7, 8)  # more shapes than the shrunk caches below hold
# compiled_ops is keyed by primitive and params, not shapes: this workload has 15 keys, so
# it stays at its bound (eviction there recompiles a primitive; tests/test_resources.py
# covers the LRU itself).
# The policy's records are kept above the 16 gradient structures (8 shapes, 2 functions),
# else no structure is seen twice before it is forgotten and nothing compiles.
SHRUNK = {"shape_rules": 48, "simplified_sub_programs": 8, "eager_executables": 3,
          "compile_policy": 24, "jit_programs": 3}


def loss(x):
    return fnp.sum(fnp.tanh(x) * x) + 0.5 * fnp.sum(x ** 2)


def loss_jax(x):
    return jnp.sum(jnp.tanh(x) * x) + 0.5 * jnp.sum(x ** 2)


@pytest.fixture
def shrunk_caches(monkeypatch):
    """Every LRU cache made small, so that the workload's shapes overflow each one and
    eviction runs throughout (restored afterwards; the caches are cleared on both sides)."""
    for name, size in SHRUNK.items():
        cache = resources._REGISTRY[name].cache
        target = cache._records if isinstance(cache, resources.CompilePolicy) else cache
        monkeypatch.setattr(target, "maxsize", size)
    fgrad.clear_caches()
    yield
    fgrad.clear_caches()


# The 20,000 calls take ~50 s of CPU, so the default run makes 4,000 (the same
# evictions, a fifth of the repetitions) and the full count runs with `-m slow`.
@pytest.mark.parametrize("calls", [4_000, pytest.param(20_000, marks=pytest.mark.slow)])
def test_mixed_calls_stay_within_every_bound(shrunk_caches, calls, live_before):
    """Eager fgrad.numpy, eager grad, a jitted gradient and a gradient through a jitted
    function (which re-reads the jit's programs every call), cycling through eight shapes
    with values changing every call. Half the calls warm up (every shape compiled, every
    cache full); the other half must not grow memory: a leak of one small trace or array
    per call would show as several MB."""
    jit_grad = fgrad.jit(fgrad.grad(loss))
    jitted_loss = fgrad.jit(loss)
    grad_through_jit = fgrad.grad(lambda x: jitted_loss(x) * 2.0)
    grad = fgrad.grad(loss)
    jax_grad = jax.jit(jax.grad(loss_jax))
    bases = {n: np.linspace(-1.5, 1.5, n, dtype=np.float32) for n in SIZES}
    peak = {}
    rss = []
    checked = 0
    for i in range(calls):
        # Eighty changes of shape, each evicting from the shrunk caches, without
        # recompiling the evicted structures on every other call.
        n = SIZES[(i // (calls // 80)) % len(SIZES)]
        x = bases[n] * np.float32(1.0 + (i % 101) * 1e-3)
        kind = i % 4
        if kind == 0:
            out = fnp.tanh(x) * 2.0 + fnp.sum(x)
            expected = np.tanh(x) * 2.0 + x.sum()
        else:
            out = (grad, jit_grad, grad_through_jit)[kind - 1](x)
            expected = None
        if i % (calls // 50 - 3) == 0:  # the answers stay right while caches evict underneath
            if expected is None:
                expected = jax_grad(x) * (2.0 if kind == 3 else 1.0)
            np.testing.assert_allclose(out, expected, rtol=2e-5, atol=1e-6)
            checked += 1
        if i % (calls // 40) == 0:
            for name, (size, _) in fgrad.cache_info().items():
                peak[name] = max(peak.get(name, 0), size)
        if i in (calls // 2 - 1, calls - 1):
            gc.collect()
            rss.append(rss_bytes())
    assert checked >= 50
    for name, (size, maxsize) in fgrad.cache_info().items():
        peak[name] = max(peak[name], size)
        if maxsize is not None:
            assert peak[name] <= maxsize, name
    # The shrunk caches were filled to their bound, so eviction was exercised.
    for name in ("shape_rules", "eager_executables", "jit_programs"):
        assert peak[name] == fgrad.cache_info()[name].maxsize, name
    # Finite domains stay small: a handful of dtypes.
    assert all(size < 64 for name, (size, maxsize) in fgrad.cache_info().items()
               if maxsize is None)
    assert census()[0] <= live_before[0]
    # The second half of the calls, after warm-up: 16 MB is 8 KB a call at 4,000 calls
    # (1.6 KB at 20,000), less than one leaked trace of these programs (its equations,
    # variables and values) or a few leaked arrays.
    assert rss[1] - rss[0] < 16 * 2**20, f"RSS grew {(rss[1] - rss[0]) / 2**20:.1f} MB"


# -- nothing outlives a call -------------------------------------------------------------------


@fgrad.custom_vjp
def scaled_sin(x):
    return fnp.sin(x)


def _scaled_sin_fwd(x):
    SEEN.append(type(x))
    return fnp.sin(x), fnp.cos(x)


def _scaled_sin_bwd(cos_x, g):
    return (cos_x * g,)


scaled_sin.defvjp(_scaled_sin_fwd, _scaled_sin_bwd)
SEEN: list = []


def _record_cotangent(ct):
    SEEN.append(ct.shape)


def hooked(x):
    """A function whose traced values reach user code: a hook gets the cotangent and the
    custom rule gets a tracer. (A hook closing over a traced value would be kept, with that
    tracer, by the cache keys holding the hook: bounded in number, see docs/design.md.)"""
    y = x * 2.0
    z = fgrad.hook(y, _record_cotangent)  # one function: the same structure every call
    return fnp.sum(scaled_sin(z) * z)


def hooked_jax(x):
    y = x * 2.0
    return jnp.sum(jnp.sin(y) * y)


TRANSFORMS = {
    "grad": lambda x: fgrad.grad(hooked)(x),
    "jit_grad": lambda x: fgrad.jit(fgrad.grad(hooked))(x),
    "vjp": lambda x: fgrad.vjp(hooked, x)[1](1.0)[0],
    "vmap": lambda x: fgrad.vmap(fgrad.grad(hooked))(x[None])[0],
    "linearize": lambda x: fgrad.linearize(fgrad.grad(hooked), x)[1](x),
    "jvp": lambda x: fgrad.jvp(fgrad.grad(hooked), (x,), (x,))[1],
}


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_no_tracer_program_or_array_outlives_a_transformation(name):
    call = TRANSFORMS[name]
    x0 = jnp.linspace(-1.0, 1.0, 5)
    call(x0)  # warm: caches now hold this structure's programs (the eager gradient is
    call(x0)  # compiled at its second sight)
    SEEN.clear()
    tracers_before, programs_before = census()
    simplified_before = fgrad.cache_info()["simplified_sub_programs"].size
    refs = []
    for i in range(6):
        x = x0 + float(i)
        refs.append(weakref.ref(x))
        out = call(x)
        refs.append(weakref.ref(out))
        if name in ("grad", "jit_grad", "vjp"):
            np.testing.assert_allclose(out, jax.grad(hooked_jax)(x), rtol=1e-5, atol=1e-6)
        del x, out
    assert any(t is Tracer for t in SEEN if isinstance(t, type)), "the rule saw no tracer"
    SEEN.clear()  # drops the traced values' types, not tracers: those were never kept
    tracers, programs = census()
    assert tracers <= tracers_before
    # The same structure: no program per call, except the custom function's sub-programs,
    # new objects every call, which the bounded cache of simplified sub-programs keeps by
    # identity (two programs an entry).
    simplified = fgrad.cache_info()["simplified_sub_programs"].size - simplified_before
    assert programs - programs_before <= 2 * simplified
    assert [r() for r in refs] == [None] * len(refs)


def test_a_dropped_pullback_frees_its_residuals(live_before):
    def f(x):
        y = fnp.tile(x, 259)  # the residual cos(y) is the only array of 777 elements
        return fnp.sum(fnp.sin(y)) + fnp.sum(scaled_sin(y))

    def residuals():
        gc.collect()
        return [a for a in jax.live_arrays() if a.shape == (777,)]

    x = jnp.array([0.1, 0.2, 0.3])
    assert residuals() == []
    value, pullback = fgrad.vjp(f, x)
    assert len(residuals()) >= 1
    (ct,) = pullback(1.0)
    expected = jax.grad(lambda x: 2 * jnp.sum(jnp.sin(jnp.tile(x, 259))))(x)
    np.testing.assert_allclose(ct, expected, rtol=1e-5)
    del pullback
    assert residuals() == []
    assert census()[0] <= live_before[0]


def test_custom_vjp_defined_per_call_keeps_no_trace_alive(live_before):
    """Regression: the custom function's equation kept the tracers it was called with (for
    its rules' retrace), so every cache key holding the equation's params kept the whole
    trace alive, its concrete values included: one trace per call up to 65,536 entries."""
    def loss(x):
        @fgrad.custom_vjp
        def f(y):
            return fnp.sin(y)
        f.defvjp(lambda y: (fnp.sin(y), fnp.cos(y)), lambda c, g: (c * g,))
        z = fnp.exp(x) + 1.0
        return fnp.sum(f(z) * z)

    refs = []
    for i in range(5):
        x = jnp.full(1000, 0.01 * i)
        refs.append(weakref.ref(x))
        g = fgrad.grad(loss)(x)
        z = np.exp(np.float32(0.01 * i)) + 1.0
        np.testing.assert_allclose(g[0], (np.cos(z) * z + np.sin(z)) * (z - 1.0), rtol=1e-4)
        del x, g
    assert census()[0] <= live_before[0]
    assert [r() for r in refs] == [None] * 5


def test_a_rule_closing_over_a_traced_value_keeps_no_values_alive():
    """Regression: a custom function defined per call whose rule closes over a traced value
    stays in a cache key, and with it that value's tracer and its closed trace; the trace
    kept the inputs and captured values it had read, so every call's input stayed alive."""
    def loss(x):
        s = fgrad.stop_gradient(fnp.exp(x))

        @functools.partial(fgrad.custom_vjp, nondiff_argnums=(1,))
        def f(y, w):
            return fnp.sin(y) * s * w
        f.defvjp(lambda y, w: (fnp.sin(y) * s * w, fnp.cos(y)),
                 lambda w, c, g: (c * g * s * w,))
        return fnp.sum(f(x * 2.0, s))

    refs = []
    for i in range(5):
        x = jnp.full(1000, 0.1 * i)
        refs.append(weakref.ref(x))
        g = fgrad.grad(loss)(x)
        e = np.exp(np.float32(0.1 * i))
        np.testing.assert_allclose(g[0], 2.0 * np.cos(0.2 * i) * e * e, rtol=1e-5)
        del x, g
    assert [r() for r in refs] == [None] * 5


def test_clear_caches_releases_compiled_programs():
    fgrad.clear_caches()
    programs_before = census()[1]  # those other test modules keep in their globals
    f = fgrad.jit(lambda x: fnp.sum(fnp.cos(x) * x))
    step = fgrad.grad(lambda w: fnp.sum(fnp.tanh(w) ** 2))
    w = jnp.linspace(0.0, 1.0, 6)
    for _ in range(3):  # the second sight compiles the eager gradient
        f(w)
        step(w)
        fgrad.grad(f)(w)  # inlines f's program: cached on f
    from fgrad import xla
    from fgrad.core import trace

    compiled = [weakref.ref(fn) for _, fn in trace._COMPILED_OPS.items()]
    compiled += [weakref.ref(fn) for _, fn in xla._EAGER_EXECUTABLES.items()]
    assert len(xla._EAGER_EXECUTABLES) >= 1 and len(compiled) >= 3
    assert f._jitted._cache_size() >= 1 and len(f._programs) == 1
    assert census()[1] > programs_before
    fgrad.clear_caches()
    gc.collect()
    assert [r() for r in compiled] == [None] * len(compiled)
    assert f._jitted._cache_size() == 0 and len(f._programs) == 0
    assert census()[1] == programs_before  # every cache let its programs go
    np.testing.assert_allclose(f(w), jnp.sum(jnp.cos(w) * w), rtol=1e-6)  # works again
    np.testing.assert_allclose(step(w), 2 * jnp.tanh(w) / jnp.cosh(w) ** 2, rtol=1e-5)


# -- threads ---------------------------------------------------------------------------------------


def test_four_threads_trace_and_differentiate_concurrently(live_before):
    """grad, jit(grad), vmap and jvp of four different functions and shapes, one per
    thread, started together; every result equals JAX's on the same inputs."""
    def f_grad(x):
        return fnp.sum(fnp.sin(x) * x ** 2)

    def f_jit(x):
        return fnp.sum(fnp.tanh(x @ x.T))

    def f_vmap(x):
        return fnp.exp(-x) * fnp.cumsum(x)

    def f_jvp(x):
        return fnp.log1p(x ** 2) / (1.0 + x)

    jit_grad = fgrad.jit(fgrad.grad(f_jit))
    work = {
        "grad": (lambda x: fgrad.grad(f_grad)(x),
                 jax.grad(lambda x: jnp.sum(jnp.sin(x) * x ** 2)), (7,)),
        "jit_grad": (jit_grad, jax.grad(lambda x: jnp.sum(jnp.tanh(x @ x.T))), (3, 4)),
        "vmap": (fgrad.vmap(f_vmap), jax.vmap(lambda x: jnp.exp(-x) * jnp.cumsum(x)), (5, 6)),
        "jvp": (lambda x: fgrad.jvp(f_jvp, (x,), (fnp.ones_like(x),))[1],
                lambda x: jax.jvp(lambda x: jnp.log1p(x ** 2) / (1.0 + x), (x,),
                                  (jnp.ones_like(x),))[1], (9,)),
    }
    iterations = 40
    inputs = {name: [np.random.default_rng(k * 100 + i).uniform(0.1, 1.0, shape)
                     .astype(np.float32) for i in range(iterations)]
              for k, (name, (_, _, shape)) in enumerate(work.items())}
    expected = {name: [np.asarray(work[name][1](x)) for x in xs] for name, xs in inputs.items()}
    results = {name: [] for name in work}
    errors = []
    start = threading.Barrier(len(work))

    def run(name):
        try:
            start.wait()
            for x in inputs[name]:
                results[name].append(np.asarray(work[name][0](x)))
        except Exception as e:  # any exception in a thread fails the test
            errors.append(f"{name}: {e!r}")

    threads = [threading.Thread(target=run, args=(name,)) for name in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for name in work:
        assert len(results[name]) == iterations
        for got, want in zip(results[name], expected[name]):
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6, err_msg=name)
    assert census()[0] <= live_before[0]


def test_a_trace_open_in_one_thread_is_not_seen_in_another():
    inside, release = threading.Event(), threading.Event()
    seen_inside = []

    def f(x):
        seen_inside.append(current_trace())
        inside.set()
        release.wait(timeout=10)
        return fnp.sum(x ** 3)

    out = []
    t = threading.Thread(target=lambda: out.append(fgrad.grad(f)(2.0)))
    t.start()
    try:
        assert inside.wait(timeout=10)
        # The other thread is inside its trace; this one is still at top level, eager.
        assert isinstance(seen_inside[0], StagingTrace)
        assert current_trace() is EVAL_TRACE
        y = fnp.sin(jnp.float32(0.5))
        assert isinstance(y, jax.Array) and not isinstance(y, Tracer)
        np.testing.assert_allclose(fgrad.grad(lambda x: x ** 2)(3.0), 6.0)
    finally:
        release.set()
        t.join(timeout=10)
    assert not t.is_alive()
    np.testing.assert_allclose(out[0], 12.0)
