"""fgrad.numpy's indexing functions (take, take_along_axis, put, put_along_axis, place,
choose, select, piecewise, fill_diagonal, ravel_multi_index, unravel_index) and the
vmap-based ones (apply_along_axis, apply_over_axes, vectorize) against jax.numpy: signatures,
values, shapes, dtypes and weak types eagerly and traced; second derivatives in float64;
vmap against jax.vmap; fgrad.jit and jax.jit round trips; errors; the tracer's new methods.

Each case is a function of the numpy module (`m` is fgrad.numpy or jax.numpy), so one line
states what both sides compute.
"""

import inspect
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.core import ConcretizationError, Tracer, aval_of, eval_program, trace_to_program
from fgrad.core import typecheck
from fgrad.testing import check_grads
from test_numpy import assert_same, check, operand, traced

HERE = os.path.basename(__file__)
A = np.array

NAMES = ["take", "take_along_axis", "put", "put_along_axis", "place", "choose", "select",
         "piecewise", "compress", "extract", "fill_diagonal", "ravel_multi_index",
         "unravel_index", "apply_along_axis", "apply_over_axes", "vectorize", "nonzero",
         "argwhere", "flatnonzero"]


def _parameters(function):
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize("name", NAMES)
def test_signature_is_jax_numpys(name):
    assert _parameters(getattr(fnp, name)) == _parameters(getattr(jnp, name))
    assert getattr(fnp, name).__doc__


# -- values against jax.numpy --------------------------------------------------------------------

X = operand("f32[3,4]")
X3 = operand("f32[2,3,4]")
I34 = operand("i32[3,4]")
WEAK = jnp.full((3,), 2.0)  # a weakly typed array
assert WEAK.weak_type
INDEX = A([[0, 7], [1, -1]])
ALONG = A([[0, 3, -1, 5]] * 3)
CODES = A([[0, 1, 2, 3], [3, 2, 1, 0], [1, 1, 0, 2]])  # choices of `choose`, in range


def sin_piece(v):
    return (fnp if isinstance(v, Tracer) else jnp).sin(v)


# name -> (function of the module and the arguments, the arguments)
CASES = {
    "take_flat": (lambda m, x: m.take(x, INDEX), [X]),
    "take_fill": (lambda m, x: m.take(x, INDEX, axis=1, mode="fill", fill_value=-3.0), [X]),
    "take_clip": (lambda m, x: m.take(x, INDEX, axis=-1, mode="clip"), [X]),
    "take_wrap": (lambda m, x: m.take(x, INDEX, axis=1, mode="wrap"), [X]),
    "take_scalar_index": (lambda m, x: m.take(x, 1, axis=1), [X]),
    "take_traced_index": (lambda m, x, i: m.take(x, i, axis=0), [X, A([2, -1], np.int32)]),
    "take_no_indices": (lambda m, x: m.take(x, A([], np.int32), axis=1), [X]),
    "take_empty_axis": (lambda m, x: m.take(x, A([], np.int32), axis=1), [operand("f32[3,0]")]),
    "take_weak": (lambda m, x: m.take(x, A([0, 2])), [WEAK]),
    "take_0d_array": (lambda m, x: m.take(x, A([0, 0])), [A(2.5, np.float32)]),
    "along_axis0_broadcast": (lambda m, x: m.take_along_axis(x, A([[2, 0, 1, -1]]), 0), [X]),
    "along_none": (lambda m, x: m.take_along_axis(x, A([11, 0, -2]), None), [X]),
    "along_squeezed": (lambda m, x: m.take_along_axis(x, A([[1], [-2]]), 1), [X[:1]]),
    "along_clip": (lambda m, x: m.take_along_axis(x, ALONG, 1, mode="clip"), [X]),
    "along_uint8_indices": (lambda m, x: m.take_along_axis(x, A([[1, 9]] * 3, np.uint8), 1), [X]),
    "along_empty_axis": (lambda m, x: m.take_along_axis(x, A([[0], [1], [0]]), 1),
                         [operand("f32[3,0]")]),
    "along_traced": (lambda m, x, i: m.take_along_axis(x, i, 0), [X, A([[2, 0, 1, 1]])]),
    "put": (lambda m, x: m.put(x, A([0, 5, 30]), A([9.0, 8.0]), inplace=False), [X]),
    "put_wrap": (lambda m, x: m.put(x, A([[0, 30], [-1, 3]]), A([1.0, 2.0, 3.0, 4.0, 5.0]),
                                    mode="wrap", inplace=False), [X]),
    "put_traced": (lambda m, x, v: m.put(x, A([1, 2]), v, inplace=False), [I34, A([5, 6])]),
    "put_nothing": (lambda m, x: m.put(x, A([], np.int32), 1.0, inplace=False), [X]),
    "put_along": (lambda m, x: m.put_along_axis(x, A([[1], [2], [-1]]), 5.0, 1, inplace=False),
                  [X]),
    "put_along_values": (lambda m, x, v: m.put_along_axis(x, A([[0, 2, 1, 1]]), v, 0,
                                                         inplace=False), [X, A([1.0] * 4)]),
    "place": (lambda m, x: m.place(x, x > 0, A([-1.0, -2.0]), inplace=False), [X]),
    "place_traced_mask": (lambda m, x, mask: m.place(x, mask, 0, inplace=False),
                          [I34, I34 > 0]),
    "place_empty": (lambda m, x: m.place(x, A([], bool), 3.0, inplace=False),
                    [operand("f32[0]")]),
    "choose": (lambda m, a: m.choose(CODES, [a, a * 10, np.float32(-1), a[0]]), [X]),
    "choose_wrap": (lambda m, a: m.choose(a, [X, -X], mode="wrap"), [CODES]),
    "choose_stacked": (lambda m, c: m.choose(CODES % 2, c, mode="clip"), [operand("f32[2,3,4]")]),
    "choose_weak": (lambda m, a: m.choose(a, [1.0, 2.0], mode="wrap"), [CODES]),
    "select": (lambda m, x: m.select([x > 0.5, x > -0.5], [x, -x], 7.0), [X]),
    "select_weak": (lambda m, x: m.select([x > 0], [1.0]), [X]),
    "select_int_conditions": (lambda m, x: m.select([x > 2, x], [1, 2]), [I34]),
    "select_0d": (lambda m, x: m.select([x > 0], [x], -x), [A(0.5, np.float32)]),
    "piecewise": (lambda m, x: m.piecewise(x, [x < -1, x > 1], [lambda v: v * 2, sin_piece,
                                                                 5.0]), [X]),
    "piecewise_ints": (lambda m, x: m.piecewise(x, [x < 0, x > 2], [lambda v: v * 3, 1, -1]),
                       [I34]),
    "piecewise_0d": (lambda m, x: m.piecewise(x, [x < 3], [lambda v: v * 2.5]),
                     [A(2.0, np.float32)]),
    "piecewise_args": (lambda m, x: m.piecewise(x, [x > 0], [lambda v, k, s: v * k + s, 0.0],
                                                2.0, s=1.0), [X]),
    "fill_diagonal": (lambda m, x: m.fill_diagonal(x, 5.0, inplace=False), [X]),
    "fill_diagonal_cycled": (lambda m, x: m.fill_diagonal(x.T, A([1.0, 2.0]), inplace=False),
                             [X]),
    "fill_diagonal_3d": (lambda m, x: m.fill_diagonal(x, A([1, 2, 3, 4]), inplace=False),
                         [operand("i32[3,3,3]")]),
    "ravel_multi_index": (lambda m, i: m.ravel_multi_index((i, A([3, 1])), (3, 4),
                                                           mode="clip"), [A([0, 5])]),
    "ravel_multi_index_F": (lambda m: m.ravel_multi_index((A([0, 2]), A([3, 1])), (3, 4),
                                                          mode="wrap", order="F"), []),
    "ravel_multi_index_scalars": (lambda m: m.ravel_multi_index((1, 2), (3, 4)), []),
    "unravel_index": (lambda m, i: m.unravel_index(i, (3, 4)), [A([0, 5, 11, 12, -1, -13])]),
    "unravel_index_scalar": (lambda m: m.unravel_index(7, (3, 4)), []),
    "unravel_index_uint8": (lambda m, i: m.unravel_index(i, (3, 4)), [A([7, 200], np.uint8)]),
    "apply_along_axis": (lambda m, x: m.apply_along_axis(lambda v: v * v.sum(), 1, x), [X]),
    "apply_along_axis_3d": (lambda m, x: m.apply_along_axis(
        lambda v, k: m.stack([v.sum(), v.min() * k]), 1, x, 2.0), [X3]),
    "apply_over_axes": (lambda m, x: m.apply_over_axes(m.sum, x, [0, 2]), [X3]),
    "vectorize_size_one_axes": (lambda m, x, y: m.vectorize(lambda a, b: a - b)(x, y),
                                [X[:, :1], X[:1, None, :]]),
    "vectorize_signature": (lambda m, x, y: m.vectorize(lambda a, b: (a * b).sum(),
                                                        signature="(n),(n)->()")(x, y),
                            [X3, X[0]]),
    "vectorize_two_outputs": (lambda m, x: m.vectorize(lambda a: (a.sum(), a * 2),
                                                       signature="(n)->(),(n)")(x), [X3]),
    "vectorize_excluded": (lambda m, x: m.vectorize(lambda a, p, *, q: a ** p + q,
                                                    excluded={1, "q"})(x, 2, q=1.0), [X]),
    "vectorize_none": (lambda m, x: m.vectorize(lambda a, b: a if b is None else b)(x, None),
                       [X]),
    "vectorize_python_scalars": (lambda m: m.vectorize(lambda a, b: a - b)(1.0, 2), []),
    "vectorize_empty": (lambda m, x: m.vectorize(lambda a: a * 2)(x), [operand("f32[0,3]")]),
}


def check_compiled(f, jax_f, *args):
    """f(*args) equals jax_f(*args) as a traced program: its declared types (shape, dtype,
    weak type) and its values, the program compiled as one by jax.jit.

    Eagerly fgrad runs the same code, binding each primitive at once; `check` covers that
    on a representative case of each function. Eager evaluation compiles every operation on
    its own, which is most of the time these tests take, so the other cases run compiled.
    """
    want = jax_f(*args)
    program, tree = trace_to_program(f, list(args), "make_ir")
    typecheck(program)
    want_leaves, want_tree = jax.tree_util.tree_flatten(want)
    assert tree == want_tree
    assert program.out_avals == [aval_of(w) for w in want_leaves]
    got = jax.jit(lambda *a: eval_program(program, *a))(*args)
    for g, w in zip(got, want_leaves, strict=True):
        assert_same(g, w, where="traced")


def check_compiled_together(cases):
    """check_compiled of several cases at once (name -> (function of the module and the
    arguments, the arguments), as CASES): each case's program traced and its types checked
    on its own, then all the programs evaluated by one jax.jit program and jax.numpy's side
    by another (two compilations in all, rather than two per case)."""
    names = list(cases)
    args = {name: cases[name][1] for name in names}
    want = jax.jit(lambda a: {name: cases[name][0](jnp, *a[name]) for name in names})(args)
    programs = {}
    for name in names:
        programs[name], tree = trace_to_program(lambda *a: cases[name][0](fnp, *a),
                                                list(args[name]), "make_ir")
        typecheck(programs[name])
        want_leaves, want_tree = jax.tree_util.tree_flatten(want[name])
        assert tree == want_tree, name
        assert programs[name].out_avals == [aval_of(w) for w in want_leaves], name
    got = jax.jit(lambda a: {name: eval_program(programs[name], *a[name])
                             for name in names})(args)
    for name in names:
        for g, w in zip(got[name], jax.tree_util.tree_leaves(want[name]), strict=True):
            try:
                assert_same(g, w, where="traced")
            except AssertionError as error:
                raise AssertionError(f"{name}: {error}") from None


# Checked eagerly too: a case of each family of functions (some 0-d or size-0).
EAGER = {"take_fill", "take_empty_axis", "along_none", "put", "place", "choose", "select",
         "piecewise_0d", "fill_diagonal", "unravel_index", "apply_along_axis",
         "vectorize_signature"}
# Cases whose jax.numpy side reads index values (mode='raise'), which jax.jit cannot.
EAGER_REFERENCE = {"choose", "ravel_multi_index_scalars"}
# The families of CASES (the first word of a name: take, along, put, ..., vectorize)
FAMILIES = {name.split("_")[0]: None for name in CASES}


@pytest.mark.parametrize("family", FAMILIES)
def test_values_and_types(family):
    names = [name for name in CASES if name.split("_")[0] == family]
    for name in names:
        f, args = CASES[name]
        if name in EAGER or name in EAGER_REFERENCE:
            reference = lambda *a: f(jnp, *a)  # noqa: E731
            if name not in EAGER_REFERENCE:
                reference = jax.jit(reference)  # one compilation, not one per operation
            (check if name in EAGER else check_compiled)(lambda *a: f(fnp, *a), reference,
                                                          *args)
    # The other cases of the family compiled together: two compilations, not two per case
    check_compiled_together({n: CASES[n] for n in names if n not in EAGER | EAGER_REFERENCE})


# -- second derivatives in float64 ------------------------------------------------------------

GRAD_CASES = {
    "take": lambda x: (fnp.take(x, A([[0, 7], [1, -1]]), axis=1, fill_value=0.5),
                       fnp.take(x, A([0, 9, -9, 2, 2]), mode="clip")),
    "take_along_axis": lambda x: fnp.take_along_axis(x, A([[0, 3, -1, 2]] * 3), 1),
    "choose": lambda x: fnp.choose(CODES, [x, x ** 2, fnp.sin(x), x[0]]),
    "select": lambda x: fnp.select([x > 0.5, x < -0.5], [x ** 2, fnp.sin(x)], x[0]),
    "piecewise": lambda x: fnp.piecewise(x, [x < -0.5, x > 0.5],
                                         [lambda v: v ** 3, fnp.sin, lambda v: v * 2]),
    "put_along_axis": lambda x: fnp.put_along_axis(x, A([[1], [2], [0]]), x[:, :1] ** 2, 1,
                                                   inplace=False),
}


# take_along_axis gathers as take does and choose selects as select does: their derivatives
# run with `-m slow`, the default run checks the others (gather, select, piecewise, scatter).
SLOW_GRADS = {"take_along_axis", "choose"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow if n in SLOW_GRADS
                                                 else ()) for n in GRAD_CASES])
def test_second_derivatives(name, x64):
    # Away from the kinks of select and piecewise, so finite differences see one piece.
    x = np.random.default_rng(3).uniform(0.6, 2.0, (3, 4)) * A([1, -1, 1, -1])
    check_grads(GRAD_CASES[name], (x,), order=2)


# -- vmap against jax.vmap -----------------------------------------------------------------------

def _batched(m, x, i, j):
    """x: f32[3,4] and i: int[2] (mapped), j: int[3,4] (not mapped)."""
    return (m.take(x, i, axis=1), m.take(x, A([0, 9]), axis=0, mode="clip"),
            m.take_along_axis(x, j % 5 - 1, 1), m.take_along_axis(j, i[None], 1),
            m.put_along_axis(x, j[:, :1] % 4, 9.0, 1, inplace=False),
            m.put(x, i, 7.0, mode="wrap", inplace=False),
            m.choose(j % 3, [x, -x, x * 2], mode="clip"), m.choose(i, [x[0, :2], 1.0],
                                                                   mode="wrap"),
            m.select([x > 0, j > 0], [x, j], 1.0),
            m.piecewise(x, [x < 0], [lambda v: v * v, lambda v: -v]),
            m.fill_diagonal(x[:, :3], x[0], inplace=False), m.unravel_index(i, (3, 4)),
            m.ravel_multi_index((i, i), (3, 4), mode="wrap"),
            m.vectorize(lambda a: a.sum() * a, signature="(n)->(n)")(x),
            m.apply_along_axis(lambda v: v * v[0], 0, x))


def test_vmap_matches_jax():
    # x mapped along its last axis, i along its first, j not mapped
    x, i, j = operand("f32[3,4,2]"), A([[0, -1], [7, 1]]), operand("i32[3,4]")
    in_axes = (2, 0, None)
    want = jax.jit(jax.vmap(lambda *a: _batched(jnp, *a), in_axes))(x, i, j)
    # fgrad's batched program, compiled as one (run op by op it computes the same, but
    # compiles each operation on its own: 6 times slower here)
    got = jax.jit(fgrad.vmap(lambda *a: _batched(fnp, *a), in_axes))(x, i, j)
    for n, (g, w) in enumerate(zip(jax.tree_util.tree_leaves(got),
                                   jax.tree_util.tree_leaves(want), strict=True)):
        assert_same(g, w, where=f"output {n}")


# -- jit round trips -----------------------------------------------------------------------------


def test_jit_round_trip():
    # One function through everything: fgrad.jit compiles fgrad's program, jax.jit stages
    # fgrad's lowering rules on JAX's tracers.
    x, i, j = operand("f32[3,4]"), A([0, -1]), operand("i32[3,4]")
    want = jax.tree_util.tree_leaves(jax.jit(lambda *a: _batched(jnp, *a))(x, i, j))
    for jit in (fgrad.jit, jax.jit):
        got = jax.tree_util.tree_leaves(jit(lambda *a: _batched(fnp, *a))(x, i, j))
        for n, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same(g, w, where=f"output {n} under {jit.__module__}")


# -- errors ----------------------------------------------------------------------------------------


def _raises(call, error, *fragments):
    """call() raises `error` whose message has every fragment and names the caller's line."""
    line = sys._getframe(1).f_lineno
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert f"{HERE}:{line}" in message, message


def test_errors_say_what_to_do():
    x, i = X, A([0, 1])
    _raises(lambda: fnp.put(x, i, 1.0), ValueError, "inplace=False")
    _raises(lambda: fnp.put_along_axis(x, i[None], 1.0, 1), ValueError, "inplace=False")
    _raises(lambda: fnp.place(x, x > 0, 1.0), ValueError, "inplace=False")
    _raises(lambda: fnp.fill_diagonal(x, 1.0), NotImplementedError, "inplace=False")
    _raises(lambda: fnp.fill_diagonal(x, 1.0, wrap=True, inplace=False), NotImplementedError,
            "wrap=True")
    _raises(lambda: fnp.fill_diagonal(x[0], 1.0, inplace=False), ValueError, "at least 2-d")
    _raises(lambda: fnp.take(x, i, mode="raise"), NotImplementedError, "'clip'")
    _raises(lambda: fnp.take(x, i, mode="nearest"), ValueError, "invalid mode")
    _raises(lambda: fnp.take(x, A([0.5])), TypeError, "integers")
    _raises(lambda: fnp.take(operand("f32[0]"), i), IndexError, "empty axis")
    _raises(lambda: fnp.take_along_axis(x, i, 1), ValueError, "same number of dimensions")
    _raises(lambda: fnp.take_along_axis(x, A([[0.5]]), 1), TypeError, "integers")
    _raises(lambda: fnp.take_along_axis(x, A([[0]]), 1, mode="one_hot"), NotImplementedError,
            "one_hot")
    _raises(lambda: fnp.put(x, i, 1.0, mode="raise", inplace=False), NotImplementedError,
            "'clip'")
    _raises(lambda: fnp.place(x, A([True]), 1.0, inplace=False), ValueError, "same size")
    _raises(lambda: fnp.place(x, x > 0, A([]), inplace=False), ValueError, "empty")
    _raises(lambda: fnp.choose(A([0.5]), [x]), ValueError, "integers")
    _raises(lambda: fnp.choose(A([0, 2]), [x[0, :2], x[1, :2]]), ValueError, "outside [0, 2)")
    _raises(lambda: fnp.choose(A([0]), [x], mode="nearest"), ValueError, "'wrap'")
    _raises(lambda: fnp.select([x > 0], []), ValueError, "as many")
    _raises(lambda: fnp.select([], []), ValueError, "non-empty")
    _raises(lambda: fnp.piecewise(x, [x > 0], [1, 2, 3]), ValueError, "either 1 or 2")
    _raises(lambda: fnp.ravel_multi_index((A([0, 3]), i), (3, 4)), ValueError, "out of range")
    _raises(lambda: fnp.ravel_multi_index((i,), (3, 4)), ValueError, "one per dimension")
    _raises(lambda: fnp.ravel_multi_index((i, i), (3, 4), order="A"), ValueError, "'C' or 'F'")
    _raises(lambda: fnp.ravel_multi_index((i, i), (300, 4), dtype=np.int8), ValueError,
            "wider dtype")
    _raises(lambda: fnp.vectorize(lambda a: a, signature="(n)->(")(x), ValueError,
            "signature")
    _raises(lambda: fnp.vectorize(lambda a, b: a, signature="(n),(n)->()")(x, X3[..., :3]),
            ValueError, "inconsistent size")
    _raises(lambda: fnp.vectorize(lambda a: a, signature="(n)->()")(x), ValueError,
            "does not match")
    _raises(lambda: fnp.apply_over_axes(lambda a, axis: a.sum(), X3, [0]), ValueError,
            "keep them")


def test_range_checks_need_concrete_values():
    # mode='raise' reads the indices; under jit they are abstract, so fgrad says what to use.
    for jit in (fgrad.jit, jax.jit):
        with pytest.raises(ConcretizationError, match="mode='wrap' or mode='clip'"):
            jit(lambda a: fnp.choose(a, [X, -X]))(CODES % 2)
        with pytest.raises(ConcretizationError, match="mode='wrap' or mode='clip'"):
            jit(lambda i: fnp.ravel_multi_index((i, i), (3, 4)))(A([0, 1]))


# -- the tracer's methods -------------------------------------------------------------------------

METHODS = {
    "nonzero": (lambda x: (x > 0).nonzero(size=5, fill_value=-1), X),
    "take": (lambda x: x.take(A([2, -1]), axis=1), X),
    "compress": (lambda x: x.compress(A([True, False, True]), axis=0, size=1), X),
    "choose": (lambda x: x.choose([X, -X], mode="wrap"), CODES),
    "copy": (lambda x: x.copy(), X),
}
# Methods whose functions other modules provide: each must match jax.numpy, or say (until the
# function exists) that fgrad.numpy lacks it.
PACKAGE_METHODS = {
    "sort": lambda x: x.sort(), "argsort": lambda x: x.argsort(axis=0),
    "argpartition": lambda x: x.argpartition(1), "conj": lambda x: x.conj(),
    "conjugate": lambda x: x.conjugate(), "cumprod": lambda x: x.cumprod(axis=1),
    "diagonal": lambda x: x.diagonal(1), "ptp": lambda x: x.ptp(axis=0),
    "searchsorted": lambda x: (x[0] * 0 + A([-1, 0, 2, 3], np.float32)).searchsorted(
        A([0.5, -1.0, 9.0], np.float32)),
    "trace": lambda x: x.trace(), "real": lambda x: x.real, "imag": lambda x: x.imag,
}


def test_methods():
    # all compiled together: two compilations, not two per method
    check_compiled_together({name: (lambda m, x, f=f: f(x), [x])
                             for name, (f, x) in METHODS.items()})


def test_methods_found_on_the_package():
    found = {name: f for name, f in PACKAGE_METHODS.items() if hasattr(fnp, name)}
    check_compiled_together({name: (lambda m, x, f=f: f(x), [X]) for name, f in found.items()})
    for name in PACKAGE_METHODS.keys() - found.keys():
        with pytest.raises(AttributeError, match=f"'fgrad.numpy' has no attribute '{name}'"):
            traced(PACKAGE_METHODS[name], [X])
