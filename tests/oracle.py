"""Shared oracle helpers: compare fgrad with JAX on the same inputs.

The test files used to carry their own copies of these; one copy means a fix or a stronger
check reaches every file. Tolerances are keyword arguments because they belong to the
caller: float32 forward tests, float64 derivative tests and exact shape tests need different
ones (each file binds its own with functools.partial).
"""

import itertools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
from fgrad import lax as fl
from fgrad.core import ShapeDtypeError, aval_of, eval_program, trace_to_program, typecheck
from fgrad.core.dtypes import convert_weak, float0

# -- inputs ----------------------------------------------------------------------------------


def make(shape, dtype, seed=0, weak=False, int_bound=9):
    """Random values of any dtype, optionally weakly typed (a weak operand cannot be built
    from NumPy, so this goes through JAX's private conversion).

    Integers lie in [-int_bound, int_bound]: callers that multiply many of them pick a
    small bound so the products stay exact.
    """
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        values = rng.random(shape) > 0.5
    elif np.issubdtype(dtype, np.integer):
        values = rng.integers(-int_bound, int_bound + 1, shape)
    else:
        values = rng.standard_normal(shape)
    x = jnp.asarray(values, dtype)
    return convert_weak(x) if weak else x


def rand(shape, seed, dtype=np.float64):
    """Standard normal NumPy values (complex ones get a random imaginary part too), seeded
    so every call site is reproducible on its own."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(shape)
    if np.issubdtype(dtype, np.complexfloating):
        values = values + 1j * rng.standard_normal(shape)
    return np.asarray(values, dtype)


def use_dtype(request, name):
    """np.dtype(name), switching on x64 (the conftest fixture) for the 64-bit ones, which
    JAX would otherwise silently narrow."""
    if name.endswith("64"):
        request.getfixturevalue("x64")
    return np.dtype(name)


# -- comparisons -----------------------------------------------------------------------------


def assert_same(got, want, *, rtol=0.0, atol=0.0):
    """`got` has `want`'s type (shape, dtype AND weak type) and values.

    Floating-point values may differ within rtol/atol (both zero by default: exact).
    Integers and booleans must be equal whatever the tolerances, since no rounding makes
    them differ. NaNs compare equal to NaNs. float0 (the tangent type of integers) has no
    values, so its type is everything there is to compare.
    """
    got_aval, want_aval = aval_of(got), aval_of(want)
    assert got_aval == want_aval, (got_aval, want_aval)
    if want_aval.dtype == float0:
        return
    if (rtol or atol) and np.issubdtype(want_aval.dtype, np.inexact):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=rtol, atol=atol)
    else:
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def assert_trees_same(got, want, **tolerances):
    """The same pytree structure, and assert_same leaf by leaf."""
    got_leaves, got_tree = jax.tree_util.tree_flatten(got)
    want_leaves, want_tree = jax.tree_util.tree_flatten(want)
    assert got_tree == want_tree, (got_tree, want_tree)
    for g, w in zip(got_leaves, want_leaves):
        assert_same(g, w, **tolerances)


# -- fgrad against jax.lax, eagerly and traced ----------------------------------------------


def traced(fun, args):
    """`fun(*args)` computed by a traced, typechecked program rather than eagerly, so the
    recorded equations (not just the eager path) are what gets compared."""
    program, tree = trace_to_program(fun, list(args), "make_ir")
    typecheck(program)
    return jax.tree_util.tree_unflatten(tree, eval_program(program, *args))


def check(fgrad_fn, jax_fn, *args, **tolerances):
    """`fgrad_fn` agrees with `jax_fn` on `args`: eagerly, and as a traced program that
    typechecks, declares JAX's output type, prints, and evaluates to the same values both
    directly and under jax.jit (where the lowering rules run on JAX tracers, so Python-side
    shortcuts on concrete values would break). Returns the program for callers that inspect
    its equations.
    """
    want = jax_fn(*args)
    got = fgrad_fn(*args)
    assert isinstance(got, jax.Array), type(got)
    assert_same(got, want, **tolerances)
    program, _ = trace_to_program(fgrad_fn, list(args), "make_ir")
    typecheck(program)
    assert program.out_avals == [aval_of(want)]
    assert str(program)  # the params print
    (from_program,) = eval_program(program, *args)
    assert_same(from_program, want, **tolerances)
    jitted = jax.jit(lambda *a: eval_program(program, *a)[0])(*args)
    assert_same(jitted, want, **tolerances)
    return program


def check_error(call, *fragments, match=None):
    """`call()` (a one-line lambda) raises our ShapeDtypeError whose message contains every
    fragment, matches the regex `match` if given, and names the file and line where `call`
    was written: users must see their own line, not fgrad's or JAX's internals.

    Returns the message for further checks.
    """
    with pytest.raises(ShapeDtypeError, match=match) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    code = call.__code__
    assert f"{os.path.basename(code.co_filename)}:{code.co_firstlineno}" in message, message
    return message


# -- derivatives against JAX's ---------------------------------------------------------------


def check_first_order(f, jf, args, tangents=None, cotangent=None, *, seed=1, **tolerances):
    """fgrad's JVP and VJP of `f` equal JAX's of `jf`, eagerly and inside a trace.

    Tangents and the cotangent are random (from `seed`) unless given. JAX's side runs under
    jax.jit: one compilation costs less than JAX's eager dispatch.
    """
    if tangents is None:
        tangents = tuple(rand(np.shape(a), seed + i) for i, a in enumerate(args))
    want_out, want_t = jax.jit(lambda a, t: jax.jvp(jf, a, t))(args, tangents)
    got_out, got_t = fgrad.jvp(f, args, tangents)
    assert_same(got_out, want_out, **tolerances)
    assert_same(got_t, want_t, **tolerances)
    assert_same(traced(lambda *a: fgrad.jvp(f, a, tangents)[1], args), want_t, **tolerances)

    if cotangent is None:
        cotangent = rand(np.shape(want_out), seed + 10)
    want_cts = jax.jit(lambda a, c: jax.vjp(jf, *a)[1](c))(args, cotangent)
    got_out, pullback = fgrad.vjp(f, *args)
    assert_same(got_out, want_out, **tolerances)
    assert_trees_same(pullback(cotangent), want_cts, **tolerances)
    assert_trees_same(traced(lambda *a: fgrad.vjp(f, *a)[1](cotangent), args), want_cts,
                      **tolerances)


def check_second_order(f, jf, args, *, seed=2, under_jit=True, **tolerances):
    """The Hessian of a weighted sum of squares of `f`'s output, against JAX's (squares,
    so the Hessian depends on the point and on every second-order rule on the way).

    under_jit (the default) runs fgrad's Hessian under jax.jit (all of fgrad's rules then
    run while JAX traces): the same transformed program as the eager Hessian, at half the
    CPU, because eagerly every equation compiles on its own (tests/test_ad_shapes.py's
    sweeps: 45 s instead of 80 s). The eager path is check_first_order's; pass
    under_jit=False to take the eager Hessian too.
    """
    w = rand(np.shape(jf(*args)), seed)

    def g(*a):
        y = f(*a)
        return fl.reduce_sum(fl.mul(fl.mul(y, y), w), tuple(range(np.ndim(w))))

    def jg(*a):
        return jnp.sum(jf(*a) ** 2 * w)

    argnums = tuple(range(len(args)))
    if all(np.size(a) for a in args):
        hessian = fgrad.hessian(g, argnums)
        got = (jax.jit(hessian) if under_jit else hessian)(*args)
        assert_trees_same(got, jax.jit(jax.hessian(jg, argnums))(*args), **tolerances)
    else:  # fgrad.hessian has no basis vectors to stack for an empty input: use an HVP
        v = tuple(rand(np.shape(a), seed + 1 + i) for i, a in enumerate(args))
        assert_trees_same(fgrad.jvp(fgrad.grad(g, argnums), args, v)[1],
                          jax.jit(lambda *a: jax.jvp(jax.grad(jg, argnums), a, v)[1])(*args),
                          **tolerances)


def line_of(test_file: str, marker: str) -> int:
    """The number of the line of `test_file` that contains `marker` (skipping the line that
    asks), so error tests can check that a message names the user's line."""
    with open(test_file) as f:
        for n, text in enumerate(f, 1):
            if marker in text and "line_of(" not in text:
                return n
    raise AssertionError(f"{marker!r} is not in {test_file}")


class several:
    """An axis of `rotating` whose entries are tuples, each spread over several parameters."""

    def __init__(self, entries):
        self.entries = entries


def rotating(*axes, every: int):
    """pytest params for every combination of one entry from each axis, thinning the default
    run: a combination runs by default when its entries' indices sum to a multiple of `every`
    (with each axis at least `every` long, every entry of every axis still runs), the others
    are marked slow (`-m slow` runs them). An axis is a list of values or a dict from ids to
    values; `several(axis)` spreads each entry, a tuple, over several parameters."""
    lists = []
    for axis in axes:
        spread = isinstance(axis, several)
        entries = axis.entries if spread else axis
        items = entries.items() if isinstance(entries, dict) else ((None, e) for e in entries)
        lists.append([(key, entry if spread else (entry,)) for key, entry in items])
    params = []
    for combo in itertools.product(*(list(enumerate(entries)) for entries in lists)):
        params.append(pytest.param(
            *(value for _, (_, entry) in combo for value in entry),
            id="-".join(_id_part(i, key, entry) for i, (key, entry) in combo),
            marks=() if sum(i for i, _ in combo) % every == 0 else pytest.mark.slow))
    return params


def _id_part(index: int, key, entry: tuple) -> str:
    """A dict axis's key, plain values themselves, else the entry's position on its axis."""
    if key is not None:
        return str(key)
    if all(isinstance(value, (str, int, float, type(None))) for value in entry):
        return "-".join(map(str, entry))
    return f"#{index}"
