"""fgrad/core/resources.py: the LRU cache's semantics and thread safety, the eager gradient
cache's compile policy, and the collector pause used while tracing."""

import gc
import random
import sys
import threading
import time
import weakref
from collections import OrderedDict

import pytest

from fgrad.core import resources
from fgrad.core.resources import CompilePolicy, LRUCache, collector_paused


# -- LRUCache -------------------------------------------------------------------------------------

def test_evicts_the_least_recently_used_and_get_marks_recent():
    c = LRUCache(3)
    for k in "abc":
        c.put(k, k.upper())
    assert c.get("a") == "A"          # a is now the most recent: b is the oldest
    c.put("d", "D")
    assert "b" not in c and len(c) == 3
    assert [k in c for k in "acd"] == [True, True, True]
    c.put("c", "C2")                  # replacing marks recent too: a is the oldest now
    c.put("e", "E")
    assert "a" not in c
    assert c.get("c") == "C2" and c.get("e") == "E" and c.get("d") == "D"


def test_matches_a_reference_lru_on_random_operations():
    rng = random.Random(0)
    c, reference = LRUCache(8), OrderedDict()
    for step in range(5000):
        k = rng.randrange(20)
        if rng.random() < 0.5:
            c.put(k, (k, step))
            reference[k] = (k, step)
            reference.move_to_end(k)
            while len(reference) > 8:
                reference.popitem(last=False)
        else:
            expected = reference.get(k)
            if k in reference:
                reference.move_to_end(k)
            assert c.get(k) == expected
        assert len(c) == len(reference)
    assert all(k in c for k in reference)


def test_membership_and_len_do_not_mark_recent():
    c = LRUCache(2)
    c.put(1, "one")
    c.put(2, "two")
    assert 1 in c and len(c) == 2
    c.put(3, "three")
    assert 1 not in c and 2 in c and 3 in c


def test_get_default_clear_and_maxsize():
    c = LRUCache(2)
    assert c.get("x") is None and c.get("x", 7) == 7
    c.put("x", None)                  # a stored None is not a miss for `in`
    assert "x" in c
    c.clear()
    assert len(c) == 0 and "x" not in c
    zero = LRUCache(0)
    zero.put("k", 1)
    assert len(zero) == 0 and zero.get("k") is None
    for bad in (-1, 1.5, None):
        with pytest.raises(ValueError):
            LRUCache(bad)


def test_unhashable_keys_raise_type_error_and_leave_the_lock_free():
    c = LRUCache(4)
    for call in (lambda: c.get([1]), lambda: c.put([1], 1), lambda: [1] in c,
                 lambda: c.get(({"a": 1},))):
        with pytest.raises(TypeError):
            call()
    # The lock is re-entrant, so only another thread can tell whether it was released.
    t = threading.Thread(target=lambda: c.put("after", 1))
    t.start()
    t.join(timeout=2)
    assert not t.is_alive() and c.get("after") == 1


class YieldingKey:
    """A key whose hashing lets other threads run, as a Python `__eq__` or `__hash__` in a
    real key may: it opens the races inside a cache's dict operations."""

    __slots__ = ("n",)

    def __init__(self, n):
        self.n = n

    def __hash__(self):
        time.sleep(0)
        return hash(self.n)

    def __eq__(self, other):
        return isinstance(other, YieldingKey) and other.n == self.n


@pytest.mark.parametrize("make_key, iterations", [(int, 4000), (YieldingKey, 150)])
def test_threads_hammering_a_small_cache(make_key, iterations):
    c = LRUCache(8)
    errors, sizes = [], []
    start = threading.Barrier(8)

    def work(seed):
        try:
            start.wait()
            for i in range(iterations):
                n = (seed * 7919 + i * 31) % 32
                if i % 2:
                    v = c.get(make_key(n))
                    if v is not None and v != n * 2:
                        errors.append(f"key {n} gave {v}")
                else:
                    c.put(make_key(n), n * 2)
                sizes.append(len(c))
        except Exception as e:  # any exception in a thread fails the test
            errors.append(repr(e))

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, to meet the races
    try:
        threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(previous)
    assert errors == []
    assert max(sizes) <= 8 and len(c) == 8


# -- CompilePolicy --------------------------------------------------------------------------------

def decisions(policy, key, n_eqns, seconds):
    return [policy.record(key, n_eqns, s) for s in seconds]


def test_small_program_compiles_on_its_second_sight():
    policy = CompilePolicy()
    assert policy.estimate(20) <= policy.cheap_seconds
    # An MLP gradient: a few ms op by op. Sight 1 runs op by op; sight 2 says compile.
    assert decisions(policy, "mlp", 20, [0.005, 0.005]) == [False, True]
    # Compiled once: the answer is not repeated to the next caller.
    assert policy.record("mlp", 20, 0.005) is False


def test_a_one_off_never_compiles_however_slow():
    policy = CompilePolicy()
    assert policy.record("once", 10, 1e6) is False


def test_big_program_waits_until_op_by_op_time_reaches_the_compile_estimate():
    policy = CompilePolicy(base=0.1, per_eqn=1e-3, per_eqn2=0.0, cheap_seconds=0.5)
    assert policy.estimate(3000) == pytest.approx(3.1)
    # 1 s op by op against 3.1 s of compile: the fourth call has spent 4 s.
    assert decisions(policy, "big", 3000, [1.0] * 4) == [False, False, False, True]


def test_a_slow_first_call_does_not_count_as_rent():
    policy = CompilePolicy(base=0.1, per_eqn=1e-3, per_eqn2=0.0, cheap_seconds=0.5)
    # A cold first call (10 s of warm-up), then 0.5 s calls but one slow 3 s call: rent is
    # calls x the fastest call, so compile at the seventh call (3.5 s >= 3.1 s), not at
    # the second (10.5 s spent) or third (3 x 3 s, the latest).
    got = decisions(policy, "cold", 3000, [10.0, 0.5, 3.0, 0.5, 0.5, 0.5, 0.5])
    assert got == [False] * 6 + [True]


def test_a_structure_back_after_its_compile_is_rented_again():
    # Told to compile, then seen again: its executable was evicted. No second-sight
    # shortcut any more: it compiles again only once op by op has cost an estimate again.
    policy = CompilePolicy(base=0.1, per_eqn=0.0, per_eqn2=0.0, cheap_seconds=0.5)
    assert decisions(policy, "k", 10, [0.01, 0.01]) == [False, True]
    again = decisions(policy, "k", 10, [0.01] * 10)
    assert again == [False] * 9 + [True]


def run_cycle(policy, executables, structures, rounds, n_eqns=20, seconds=0.005):
    """The eager gradient cache, simulated: per call, a compiled executable or an op-by-op
    call recorded with the policy. Returns compiles and op-by-op calls."""
    compiles = op_by_op = 0
    for _ in range(rounds):
        for k in range(structures):
            if executables.get(k) is not None:
                continue
            op_by_op += 1
            if policy.record(("structure", k), n_eqns, seconds):
                compiles += 1
                executables.put(k, f"executable {k}")
    return compiles, op_by_op


def test_a_300_structure_cycle_ends_up_compiled():
    policy, executables = CompilePolicy(), LRUCache(512)
    compiles, op_by_op = run_cycle(policy, executables, 300, rounds=5)
    assert compiles == 300 and op_by_op == 600  # each: sight 1 op by op, sight 2 compiles
    assert len(executables) == 300 and len(policy) == 300


def test_a_cycle_larger_than_the_executables_cache_neither_thrashes_nor_recompiles_often():
    policy, executables = CompilePolicy(), LRUCache(256)
    rounds, seconds = 40, 0.005
    compiles, op_by_op = run_cycle(policy, executables, 300, rounds, seconds=seconds)
    # A miss is not compiled again at once (ski rental from the last compile), so it evicts
    # nothing: most structures stay compiled, where compiling every evicted structure on
    # its next sight would make LRU miss on every call (300 * 40 op-by-op calls).
    assert op_by_op <= 600 + (rounds - 2) * 2 * (300 - 256)
    # Recompiles are paid for by op-by-op time, as ski rental promises.
    assert compiles <= 300 + op_by_op * seconds / policy.estimate(20) + 1


def test_sighting_records_are_bounded_and_lru():
    policy = CompilePolicy(maxsize=10)
    for k in range(100):
        policy.record(k, 20, 0.005)
    assert len(policy) == 10
    # Key 99 was seen once and kept: its second sight compiles. Key 0 was forgotten, so
    # this is its first sight again.
    assert policy.record(99, 20, 0.005) is True
    assert policy.record(0, 20, 0.005) is False


class YieldingPolicy(CompilePolicy):
    def estimate(self, n_eqns):
        time.sleep(0)  # let other threads run in the middle of a decision
        return super().estimate(n_eqns)


def test_concurrent_callers_get_one_compile_decision():
    policy = YieldingPolicy()
    policy.record("shared", 20, 0.005)
    start = threading.Barrier(8)
    answers = []

    def call():
        start.wait()
        answers.append(policy.record("shared", 20, 0.005))
    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [False] * 7 + [True]


def test_policy_rejects_unhashable_keys():
    with pytest.raises(TypeError):
        CompilePolicy().record([1, 2], 20, 0.005)


# -- collector_paused -----------------------------------------------------------------------------

@pytest.fixture
def gc_state():
    """The collector's state before the test, restored after it whatever happens."""
    thresholds, enabled = gc.get_threshold(), gc.isenabled()
    gc.set_threshold(700, 10, 10)
    gc.enable()
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        (gc.enable if enabled else gc.disable)()


def test_pause_raises_gen0_threshold_and_restores_it_exactly(gc_state):
    gc.set_threshold(701, 11, 12)
    with collector_paused():
        assert gc.get_threshold() == (resources.PAUSED_THRESHOLD, 11, 12)
        assert gc.isenabled()          # rarer, not off
        with collector_paused():       # a trace inside a trace
            assert gc.get_threshold()[0] == resources.PAUSED_THRESHOLD
        assert gc.get_threshold()[0] == resources.PAUSED_THRESHOLD
    assert gc.get_threshold() == (701, 11, 12) and gc.isenabled()
    with pytest.raises(RuntimeError):
        with collector_paused():
            raise RuntimeError("a failing trace")
    assert gc.get_threshold() == (701, 11, 12)


def test_pause_leaves_a_disabled_collector_disabled(gc_state):
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled() and gc.get_threshold() == (700, 10, 10)


def test_pause_keeps_thresholds_it_must_not_lower_or_enable(gc_state):
    gc.set_threshold(0, 10, 10)        # 0: no automatic collection at all
    with collector_paused():
        assert gc.get_threshold() == (0, 10, 10)
    gc.set_threshold(10 * resources.PAUSED_THRESHOLD, 10, 10)
    with collector_paused():
        assert gc.get_threshold()[0] == 10 * resources.PAUSED_THRESHOLD
    assert gc.get_threshold() == (10 * resources.PAUSED_THRESHOLD, 10, 10)


def test_thresholds_set_by_the_user_during_a_pause_stand(gc_state):
    with collector_paused():
        gc.set_threshold(1234, 5, 6)
    assert gc.get_threshold() == (1234, 5, 6)


def test_pauses_in_several_threads_restore_when_the_last_one_leaves(gc_state):
    inside, leave_a = threading.Event(), threading.Event()

    def thread_a():
        with collector_paused():
            inside.set()
            leave_a.wait(timeout=5)
    a = threading.Thread(target=thread_a)
    a.start()
    inside.wait(timeout=5)
    with collector_paused():           # thread B (this one) enters second, leaves last
        leave_a.set()
        a.join(timeout=5)
        assert not a.is_alive()
        assert gc.get_threshold()[0] == resources.PAUSED_THRESHOLD
    assert gc.get_threshold() == (700, 10, 10)


class _Node:
    __slots__ = ("me", "__weakref__")


def make_cyclic_garbage(iterations):
    """Creates `iterations` self-referencing objects and drops them; returns how many of
    them the collector freed meanwhile (reference counting alone cannot free a cycle)."""
    freed = [0]
    pending = set()

    def on_free(ref):
        freed[0] += 1
        pending.discard(ref)
    for _ in range(iterations):
        node = _Node()
        node.me = node
        pending.add(weakref.ref(node, on_free))
        del node
    return freed[0], pending


def test_another_threads_cyclic_garbage_is_collected_during_a_pause(gc_state):
    inside, done = threading.Event(), threading.Event()

    def long_trace():
        with collector_paused():
            inside.set()
            done.wait(timeout=10)
    tracer = threading.Thread(target=long_trace)
    tracer.start()
    try:
        assert inside.wait(timeout=5)
        assert gc.get_threshold()[0] == resources.PAUSED_THRESHOLD  # still paused
        freed, _ = make_cyclic_garbage(4 * resources.PAUSED_THRESHOLD)
        assert tracer.is_alive()
        assert freed >= resources.PAUSED_THRESHOLD  # most of it, while the trace runs
    finally:
        done.set()
        tracer.join(timeout=5)
    # The control: with the collector disabled, as staging() used to do, nothing is freed,
    # so the measure above can tell the two apart.
    gc.disable()
    try:
        freed, pending = make_cyclic_garbage(resources.PAUSED_THRESHOLD)
        assert freed == 0
    finally:
        gc.enable()
    gc.collect()
    assert not pending
