"""Bounded, thread-safe resources shared by fgrad's tracing and eager evaluation.

- `LRUCache`: the mapping behind fgrad's memo tables (per-primitive compiled ops, shape-rule
  answers, compiled gradients). Evicting the least recently used entry, rather than
  clearing the table when it is full, keeps the working set; and eviction is safe from
  several threads at once (a plain dict evicted from two threads raises KeyError).
- `CompilePolicy`: when the eager gradient cache should compile a program structure with
  XLA instead of running it op by op once more.
- `collector_paused()`: the cyclic garbage collector made rarer, not stopped, while a trace
  runs.
- `register_cache`, `cache_info`, `clear_caches`: every memo table of fgrad, by name, with
  its bound and what it holds; `cache_table()` is the table of docs/design.md's "Caches".

The constants are measured by `python benchmarks/caches.py`; see that script's output.
This module uses the standard library only, so any part of fgrad may import it.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import math
import sys
import threading
import weakref
from typing import Any, Callable, Hashable, NamedTuple

__all__ = ["LRUCache", "CompilePolicy", "collector_paused", "CacheInfo", "PerObjectCaches",
           "register_cache", "cache_info", "clear_caches", "cache_table"]


class LRUCache:
    """A thread-safe mapping of at most `maxsize` entries that evicts the least recently
    used one. `get` and `put` mark an entry as recently used; `in` and `len` do not.

    Keys must be hashable: an unhashable key raises `TypeError`, as a dict would, so callers
    that build keys from user parameters catch it and skip the cache.

    `get` is on the path of every eager primitive call, so it takes no lock: it is one
    `dict.get` and a store of a use stamp into the entry. Writers (`put`, `clear`) take the
    lock, and recency is settled when something must be evicted: a heap orders entries by
    the stamp they had when pushed, and a popped entry whose stamp has moved on since (it
    was used) is pushed back with its new stamp instead of being evicted. That is exact LRU.

    Why that is correct without a lock: under the GIL, `dict.get`, a list item store and
    `next()` of an `itertools.count` are each one C call that runs no Python code, so a
    reader sees the dict before or after a writer's change, never during it (and CPython's
    free-threaded build locks dicts and lists per object, which gives the same). The only
    race is benign: a `get` may return a value that a concurrent `put` is evicting (it was
    present when looked up) and stamp an entry that is gone. Stamps need not be unique:
    heap items carry a sequence number taken under the lock, so keys are never compared.

    Why not `OrderedDict.move_to_end` without a lock: its C implementation syncs its node
    table with the dict *before* the lookup, and the lookup may run a key's Python `__eq__`
    (fgrad's keys can hold Programs), during which another thread can resize the dict, so
    the node index read afterwards belongs to the old table. With a lock it is correct but
    measured about 2x slower per `get` (0.31 µs against 0.17 µs and 0.10 µs for a plain
    `dict.get`, on a shape-rule key; +12 % on an eager `fnp.sin` against +3 %; see
    benchmarks/caches.py, section `lru`).

    The lock is re-entrant because the garbage collector or a key's `__eq__` may run
    arbitrary code (even fgrad) on the writing thread while it holds the lock. Evicted and
    replaced values are released after the lock: dropping the last reference to a compiled
    function runs JAX's cleanup callbacks.
    """

    __slots__ = ("maxsize", "_entries", "_heap", "_clock", "_pushes", "_lock")

    def __init__(self, maxsize: int):
        if not isinstance(maxsize, int) or maxsize < 0:
            raise ValueError(f"maxsize must be a non-negative int, got {maxsize!r}")
        self.maxsize = maxsize
        self._entries: dict = {}  # key -> [value, stamp of its last use]
        self._heap: list = []  # (stamp when pushed, push number, key): one item per key
        self._clock = itertools.count()
        self._pushes = 0
        self._lock = threading.RLock()

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The value stored for `key`, marked as the most recently used, or `default`."""
        entry = self._entries.get(key)
        if entry is None:
            return default
        entry[1] = next(self._clock)
        return entry[0]

    def put(self, key: Hashable, value: Any) -> None:
        """Stores `value` as the most recently used entry, evicting the least recently used
        entries beyond `maxsize`."""
        released = []
        with self._lock:
            entries, heap = self._entries, self._heap
            stamp = next(self._clock)
            entry = entries.get(key)
            if entry is not None:
                released.append(entry[0])
                entry[0], entry[1] = value, stamp
            elif self.maxsize > 0:
                # Room first, then the new entry: a reader never sees more than maxsize.
                while len(entries) >= self.maxsize and heap:
                    pushed, _, old_key = heapq.heappop(heap)
                    old = entries.get(old_key)
                    if old is None:
                        continue
                    if old[1] != pushed:  # used since it was pushed: not the least recent
                        self._pushes += 1
                        heapq.heappush(heap, (old[1], self._pushes, old_key))
                    else:
                        released.append(entries.pop(old_key))
                self._pushes += 1
                item, entry = (stamp, self._pushes, key), [value, stamp]
                entries[key] = entry
                heapq.heappush(heap, item)
        del released

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            old = self._entries
            self._entries, self._heap = {}, []
        old.clear()  # outside the lock, like eviction

    def items(self) -> list:
        """A snapshot of (key, value) pairs; marks nothing as used."""
        with self._lock:
            return [(k, entry[0]) for k, entry in list(self._entries.items())]

    def __repr__(self) -> str:
        return f"LRUCache({len(self)}/{self.maxsize})"


class _Sightings:
    """What the policy knows of one program structure."""

    __slots__ = ("calls", "fastest", "compiles")

    def __init__(self):
        self.calls = 0  # op-by-op calls since the last decision to compile
        self.fastest = math.inf  # the fastest op-by-op call seen: the cost of one more
        self.compiles = 0  # decisions to compile so far


class CompilePolicy:
    """Decides when the eager gradient cache compiles a program structure.

    Eagerly, `grad` runs a structure op by op; compiling its whole value-and-gradient
    program makes later calls one compiled call, but the compile costs many op-by-op calls
    (measured: 15 forward equations, 0.17 s of compile against 3 ms op by op; 2,800
    equations, 5.2 s against 0.46 s; the compile grows faster than linearly). So:

    - never on the first sight: one-off gradients never pay for compilation;
    - on the second sight when the estimated compile is cheap (`estimate(n) <=
      cheap_seconds`, up to about 270 forward equations): a repeated small structure is an eager
      training loop, which must become one compiled call at once, and the most a wrong
      guess can waste is `cheap_seconds`;
    - otherwise ski rental: compile once the op-by-op time spent on the structure
      (calls x the fastest call, so one-off warm-up and a noisy call do not count) reaches
      the estimated compile time. The total is then within about twice the best choice
      made in hindsight, however often the structure comes back.

    A structure the policy said to compile and that comes back is one whose executable was
    evicted: it is treated by ski rental only, counting calls since that compile, so a
    workload cycling through more structures than the executables cache holds spends at
    most about as long recompiling as running op by op, instead of compiling every call
    (and a structure that is not compiled again evicts nothing, so most stay compiled).

    Sighting records are tiny and kept for `maxsize` structures (LRU), far more than the
    executables, so a workload cycling through a few hundred structures still gets to its
    second sightings. Records are keyed by `hash(key)`, so big program keys are not kept
    alive; two structures sharing a hash only share statistics, never an executable.

    The estimate is `base + per_eqn * n + per_eqn2 * n**2` seconds for `n` equations of the
    forward program: fitted on this machine from `fgrad.jit(fgrad.grad(f))`'s first call on
    chains of dense, elementwise and scale operations (benchmarks/caches.py, section
    `compile`). On a machine k times faster both compile and op-by-op calls are, so the
    fixed estimate is reached up to k times later than ideal (k times sooner on a slower
    one); re-run the benchmark and pass its fitted constants to move them.
    """

    def __init__(self, maxsize: int = 4096, *, base: float = 0.15, per_eqn: float = 1.2e-3,
                 per_eqn2: float = 2.5e-7, cheap_seconds: float = 0.5):
        self.base, self.per_eqn, self.per_eqn2 = base, per_eqn, per_eqn2
        self.cheap_seconds = cheap_seconds
        self._records = LRUCache(maxsize)
        self._lock = threading.Lock()  # one record's read-modify-write at a time

    def estimate(self, n_eqns: int) -> float:
        """Estimated seconds to compile the gradient of a program of `n_eqns` equations."""
        return self.base + self.per_eqn * n_eqns + self.per_eqn2 * n_eqns * n_eqns

    def record(self, key: Hashable, n_eqns: int, seconds: float) -> bool:
        """Records an op-by-op call of the structure `key` (a forward program of `n_eqns`
        equations); True when the caller should compile it now.

        `seconds` is the time of the work a compiled call would replace (linearize,
        transpose, evaluate op by op), not of the tracing that every call does anyway.
        True is answered once per decision: concurrent callers of the same structure do not
        both compile. Raises TypeError for an unhashable key.
        """
        h = hash(key)
        with self._lock:
            rec = self._records.get(h)
            if rec is None:
                rec = _Sightings()
                self._records.put(h, rec)
            rec.calls += 1
            rec.fastest = min(rec.fastest, seconds)
            estimate = self.estimate(n_eqns)
            if rec.compiles == 0:
                if rec.calls < 2:
                    return False
                compile_now = (estimate <= self.cheap_seconds
                               or rec.calls * rec.fastest >= estimate)
            else:
                compile_now = rec.calls * rec.fastest >= estimate
            if compile_now:
                rec.compiles += 1
                rec.calls = 0
            return compile_now

    def __len__(self) -> int:
        return len(self._records)

    @property
    def maxsize(self) -> int:
        return self._records.maxsize

    def clear(self) -> None:
        self._records.clear()


# -- the collector during tracing ----------------------------------------------------------------
#
# Tracing allocates many small objects (tracers, variables, equations) that all stay alive
# until the program is built, so the collector's passes find nothing to free, and each
# older-generation pass walks every object JAX keeps too: about a fifth of tracing time.
# `gc.disable()` saved that but stopped collection for the whole process, so another
# thread's cyclic garbage piled up for as long as a long trace ran. Raising the
# youngest generation's threshold instead keeps the saving (benchmarks/caches.py, section
# `gc`: within noise of gc.disable) while the collector still runs, every PAUSED_THRESHOLD
# net allocations instead of every 700. Thresholds are process-wide, so the raise is
# reference-counted over all threads and nesting levels, and the last one out restores
# what it found.

PAUSED_THRESHOLD = 50_000

_pause_lock = threading.Lock()
_pause_depth = 0
_saved_thresholds: tuple | None = None
_set_thresholds: tuple | None = None


class _CollectorPause:
    __slots__ = ()

    def __enter__(self):
        global _pause_depth, _saved_thresholds, _set_thresholds
        with _pause_lock:
            if _pause_depth == 0:
                saved = gc.get_threshold()
                # threshold 0 means "never collect automatically": keep it so.
                raised = (saved if saved[0] == 0 or saved[0] >= PAUSED_THRESHOLD
                          else (PAUSED_THRESHOLD, *saved[1:]))
                gc.set_threshold(*raised)
                _saved_thresholds, _set_thresholds = saved, raised
            _pause_depth += 1
        return self

    def __exit__(self, *exc):
        global _pause_depth, _saved_thresholds, _set_thresholds
        with _pause_lock:
            _pause_depth -= 1
            if _pause_depth == 0:
                # If someone set thresholds of their own meanwhile, theirs stand.
                if gc.get_threshold() == _set_thresholds:
                    gc.set_threshold(*_saved_thresholds)
                _saved_thresholds = _set_thresholds = None
        return False


_PAUSE = _CollectorPause()


def collector_paused() -> _CollectorPause:
    """A context manager that makes cyclic garbage collection rare while it is active, in
    any thread: for tracing, whose allocations all stay alive until the trace ends.

    Nests and may be entered from several threads at once; the last one out restores the
    thresholds found by the first one in. Whether the collector is enabled is never
    touched: if the user disabled it, it stays disabled.
    """
    return _PAUSE


# -- the registry of caches ------------------------------------------------------------------------
#
# Every memo table registers here where it is defined, with what it holds, what keys it and
# why its bound is what it is: `clear_caches()` and `cache_info()` then reach all of them,
# and docs/design.md's table of caches is `cache_table()`, which tests/test_bounded.py
# compares with the file, so neither can miss a cache or drift from its size.


class CacheInfo(NamedTuple):
    """A cache's entries and its bound (None: keyed by a finite domain, see its `why`)."""

    size: int
    maxsize: int | None


class PerObjectCaches:
    """A family of LRU caches of `maxsize` entries, one per owner object (a jitted function),
    which lives and dies with its owner. Its `CacheInfo` is the fullest member's size and
    the per-owner bound. `on_clear(owner)` runs for each live owner when the family is
    cleared, for what the owner keeps beside the cache (its compiled executables)."""

    def __init__(self, maxsize: int, on_clear: Callable[[Any], None] | None = None):
        self.maxsize = maxsize
        self._on_clear = on_clear
        self._owners: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def new(self, owner) -> LRUCache:
        """A new member cache for `owner`, which must be weakly referenceable."""
        cache = LRUCache(self.maxsize)
        with self._lock:
            self._owners[owner] = cache
        return cache

    def _members(self) -> list:
        with self._lock:
            return list(self._owners.items())

    def __len__(self) -> int:
        return max((len(c) for _, c in self._members()), default=0)

    def clear(self) -> None:
        for owner, cache in self._members():
            cache.clear()
            if self._on_clear is not None:
                self._on_clear(owner)


class _Registered(NamedTuple):
    cache: Any
    module: str
    holds: str
    key: str
    why: str


_REGISTRY: dict[str, _Registered] = {}
_registry_lock = threading.Lock()


def register_cache(name: str, cache, *, holds: str, key: str, why: str):
    """Registers `cache` under `name` and returns it. `cache` is an `LRUCache`, a
    `CompilePolicy`, a `PerObjectCaches` or a `functools.lru_cache` function (an unbounded
    one only for a finite domain, which `why` must name). `holds`, `key` and `why` are the
    documentation: what an entry keeps alive, what it is looked up by, why that bound."""
    module = sys._getframe(1).f_globals.get("__name__", "?")
    with _registry_lock:
        if name in _REGISTRY and _REGISTRY[name].cache is not cache:
            raise ValueError(f"a cache named {name!r} is already registered")
        _REGISTRY[name] = _Registered(cache, module, holds, key, why)
    return cache


def _info(cache) -> CacheInfo:
    lru_info = getattr(cache, "cache_info", None)
    if lru_info is not None:  # functools.lru_cache
        info = lru_info()
        return CacheInfo(info.currsize, info.maxsize)
    return CacheInfo(len(cache), cache.maxsize)


def cache_info() -> dict[str, CacheInfo]:
    """Every fgrad cache by name: `(size, maxsize)`, its number of entries and its bound
    (None for a cache keyed by a finite domain, such as dtypes; for a cache per `fgrad.jit`
    function, the fullest one's size and the bound of each). docs/design.md ("Caches")
    says what each holds and why its bound is what it is.

    Returns:
      a dict, sorted by name, from each registered cache's name to its `CacheInfo`
        `(size, maxsize)`.

    Examples:
      >>> import fgrad
      >>> size, maxsize = fgrad.cache_info()["eager_executables"]
      >>> maxsize
      512
    """
    with _registry_lock:
        registered = list(_REGISTRY.items())
    return {name: _info(r.cache) for name, r in sorted(registered)}


def clear_caches() -> None:
    """Empties every cache of fgrad (the names `fgrad.cache_info()` lists), and with them
    the compiled executables fgrad owns: the `jax.jit` functions of single primitives and of
    eager gradients are dropped, so JAX lets their executables go, and every live
    `fgrad.jit` function forgets its programs and clears its `jax.jit` cache. Results never
    change; the next calls trace and compile again. Safe while other threads run fgrad.

    JAX's own caches (`jax.clear_caches()`) are left alone: they are process-wide, so
    clearing them would also make the user's and other libraries' `jax.jit` functions
    recompile, and JAX bounds them itself. Call `jax.clear_caches()` as well to empty them.
    """
    with _registry_lock:
        registered = list(_REGISTRY.values())
    for r in registered:
        clear = getattr(r.cache, "cache_clear", None) or r.cache.clear
        clear()


def cache_table() -> str:
    """The Markdown table of every registered cache, as docs/design.md shows it."""
    def cell(text: str) -> str:
        return " ".join(text.split()).replace("|", "\\|")

    rows = ["| Cache | Where | Bound | Holds | Key | Why that bound |",
            "| --- | --- | --- | --- | --- | --- |"]
    with _registry_lock:
        registered = sorted(_REGISTRY.items())
    for name, r in registered:
        bound = _info(r.cache).maxsize
        bound_text = "finite domain" if bound is None else f"{bound:,}"
        if isinstance(r.cache, PerObjectCaches):
            bound_text += " per owner"
        rows.append(f"| `{name}` | `{r.module}` | {bound_text} | {cell(r.holds)} | "
                    f"{cell(r.key)} | {cell(r.why)} |")
    return "\n".join(rows) + "\n"
