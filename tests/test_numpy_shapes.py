"""fgrad.numpy's array manipulation (pad, roll, rot90, diagonals, stacking, splitting,
insert/delete, ...) against jax.numpy: values, shapes, dtypes and weak types eagerly and
traced; second derivatives in float64; fgrad.vmap against jax.vmap; fgrad.jit and jax.jit;
and the errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.core import ConcretizationError, trace_to_program, typecheck
from fgrad.core.dtypes import convert_weak
from fgrad.testing import check_grads
from test_numpy import assert_same

rng = np.random.default_rng(7)


def make(spec):
    """'f32[2,3]' -> random NumPy values; also c64 and bool; 'weak' for a weak f32."""
    dtype, shape = spec.rstrip("]").split("[")
    shape = tuple(int(n) for n in shape.split(",") if n)
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if dtype == "i32":
        return rng.integers(-5, 6, shape).astype(np.int32)
    values = rng.uniform(-2, 2, shape)
    if dtype == "c64":
        return (values + 1j * rng.uniform(-2, 2, shape)).astype(np.complex64)
    if dtype == "weak":
        return convert_weak(jnp.asarray(values, np.float32))
    return values.astype({"f32": np.float32, "f64": np.float64}[dtype])


def idx(*values):
    return np.array(values, np.int32)


# name -> (function of the module m and the operands, operand specs). Each runs on fgrad.numpy
# and jax.numpy; Python scalars among the operands stay Python scalars.
CASES = {
    # pad: every mode, the pad_width forms, the keyword arguments
    "pad constant": (lambda m, x: m.pad(x, 2), ["f32[3,2]", "bool[2,2]", "c64[3]"]),
    "pad constant pairs": (lambda m, x: m.pad(x, ((1, 0), (0, 2)), constant_values=7),
                           ["i32[2,3]", "weak[2,3]"]),
    "pad constant per side": (lambda m, x: m.pad(x, (1, 2), constant_values=((1, 2), (3, 4))),
                              ["f32[2,3]"]),
    "pad constant traced value": (lambda m, x, v: m.pad(x, [[1, 1]], constant_values=v),
                                  [("f32[2]", "f32[]")]),
    "pad zero-d": (lambda m, x: m.pad(x, 3), [2.5]),
    "pad size-0 axis": (lambda m, x: m.pad(x, ((1, 1), (0, 0))), ["f32[0,3]"]),
    "pad edge": (lambda m, x: m.pad(x, ((2, 1), (0, 3)), mode="edge"), ["i32[2,3]"]),
    "pad wrap": (lambda m, x: m.pad(x, ((5, 1), (2, 4)), mode="wrap"), ["c64[2,3]"]),
    "pad reflect": (lambda m, x: m.pad(x, ((3, 1), (7, 2)), mode="reflect"),
                    ["f32[2,3]", "i32[4,1]"]),
    "pad reflect odd": (lambda m, x: m.pad(x, 4, mode="reflect", reflect_type="odd"),
                        ["f32[3]"]),
    "pad symmetric": (lambda m, x: m.pad(x, ((2, 5), (1, 0)), mode="symmetric"),
                      ["bool[3,2]"]),
    "pad symmetric odd": (lambda m, x: m.pad(x, 5, mode="symmetric", reflect_type="odd"),
                          ["f32[3]"]),
    "pad linear_ramp": (lambda m, x: m.pad(x, ((2, 3), (1, 0)), mode="linear_ramp",
                                           end_values=((1, -2), (5, 0))),
                        ["f32[2,3]", "i32[3,2]"]),
    "pad maximum": (lambda m, x: m.pad(x, 2, mode="maximum"), ["i32[3]"]),
    "pad minimum": (lambda m, x: m.pad(x, (1, 2), mode="minimum", stat_length=2),
                    ["f32[3,4]"]),
    "pad mean": (lambda m, x: m.pad(x, 2, mode="mean"), ["f32[2,3]", "i32[5]"]),
    "pad mean stat_length": (lambda m, x: m.pad(x, ((1, 2),), mode="mean",
                                                stat_length=((2, 3),)), ["f32[5]"]),
    "pad median": (lambda m, x: m.pad(x, 2, mode="median"), ["f32[2,3]"]),
    "pad empty": (lambda m, x: m.pad(x, 1, mode="empty"), ["f32[2,2]"]),
    "pad function": (lambda m, x: m.pad(x, 2, mode=lambda row, w, axis, kw: row * kw["s"],
                                        s=3), ["f32[2,3]"]),
    # rolls, rotations, flips, axes
    "roll": (lambda m, x: m.roll(x, 2), ["f32[2,3]", 1.5, "f32[0]"]),
    "roll axes": (lambda m, x: m.roll(x, (1, -5), (0, 1)), ["bool[2,3]"]),
    "roll one shift many axes": (lambda m, x: m.roll(x, 4, (0, 1)), ["c64[2,3]"]),
    "roll traced shift": (lambda m, x, s: m.roll(x, s, 1), [("f32[2,5]", idx(-7)),
                                                           ("f32[2,5]", idx(3, 1))]),
    "rot90": (lambda m, x: m.rot90(x), ["i32[2,3,2]"]),
    "rot90 k": (lambda m, x: m.rot90(x, k=-1, axes=(2, 0)), ["f32[2,3,4]"]),
    "rot90 twice": (lambda m, x: m.rot90(x, 2), ["f32[2,3]"]),
    "fliplr flipud": (lambda m, x: (m.fliplr(x), m.flipud(x)), ["f32[2,3]"]),
    "rollaxis": (lambda m, x: (m.rollaxis(x, 2), m.rollaxis(x, 0, 3)), ["f32[2,3,4]"]),
    "permute_dims": (lambda m, x: m.permute_dims(x, (2, 0, 1)), ["f32[2,3,4]"]),
    # diagonals
    "diagonal": (lambda m, x: m.diagonal(x), ["f32[3,4]", "bool[4,2]", "f32[0,3]"]),
    "diagonal offset": (lambda m, x: m.diagonal(x, 1, 0, 2), ["f32[2,3,4]"]),
    "diagonal negative offset": (lambda m, x: m.diagonal(x, -2, -1, -2), ["i32[2,3,4]"]),
    "diagonal past the edge": (lambda m, x: m.diagonal(x, 5), ["f32[3,4]"]),
    "diag of vector": (lambda m, x: m.diag(x), ["weak[2]", "bool[2]"]),
    "diag of vector k": (lambda m, x: m.diag(x, -2), ["f32[3]"]),
    "diag of matrix": (lambda m, x: m.diag(x, 1), ["f32[3,4]"]),
    "diagflat": (lambda m, x: m.diagflat(x, 1), ["f32[2,2]", "weak[2]"]),
    "trace": (lambda m, x: m.trace(x), ["f32[3,4]", "bool[2,2]", "weak[2,2]"]),
    "trace offset axes": (lambda m, x: m.trace(x, -1, 2, 0, dtype=m.float32), ["i32[2,3,4]"]),
    "trace traced offset": (lambda m, x, k: m.trace(x, k), [("f32[3,4]", idx(1)[0])]),
    # joining
    "hstack": (lambda m, x, y: m.hstack([x, y]), [("f32[2,3]", "i32[2,1]"), ("f32[3]", 2.0)]),
    "hstack of an array": (lambda m, x: m.hstack(x), ["f32[2,3]", "f32[3]"]),
    "vstack": (lambda m, x, y: m.vstack([x, y], dtype=m.float32), [("i32[3]", "i32[2,3]")]),
    "vstack of an array": (lambda m, x: m.vstack(x), ["f32[2,3]"]),
    "dstack": (lambda m, x, y: m.dstack((x, y)), [("f32[2]", "f32[1,2]"), (1.0, 2.0)]),
    "column_stack": (lambda m, x, y: m.column_stack([x, y]), [("f32[3]", "i32[3,2]")]),
    "column_stack of an array": (lambda m, x: m.column_stack(x), ["f32[2,3]", "f32[2,3,2]"]),
    "concat": (lambda m, x, y: (m.concat([x, y], axis=1), m.concat([x, y[0]], axis=None)),
               [("f32[2,1]", "bool[2,3]")]),
    "append": (lambda m, x, y: m.append(x, y), [("f32[2,2]", 3.0), ("i32[2]", "c64[1]")]),
    "append axis": (lambda m, x, y: m.append(x, y, axis=0), [("f32[2,2]", "f32[1,2]")]),
    "block": (lambda m, a, b, c: m.block([[a, b], [c]]), [("f32[2,2]", "f32[2,1]", "i32[1,3]")]),
    "block 1-d": (lambda m, a, b: m.block([a, b, 1.0]), [("f32[2]", "f32[3]")]),
    "block scalars": (lambda m, a: m.block([[a, 2.0], [3.0, 4.0]]), [1.0]),
    "block deep": (lambda m, a, b: m.block([[[a], [b]]]), [("f32[2,2]", "f32[2,2]")]),
    "atleast_1d": (lambda m, x: m.atleast_1d(x), [2.0, "i32[2,3]"]),
    "atleast_2d": (lambda m, x, y: m.atleast_2d(x, y), [(2, "f32[3]")]),
    "atleast_3d": (lambda m, a, b, c, d: m.atleast_3d(a, b, c, d),
                   [("f32[]", "f32[3]", "weak[2,3]", "f32[1,2,3,4]")]),
    "atleast none": (lambda m: m.atleast_1d(), [()]),
    # splitting
    "array_split": (lambda m, x: m.array_split(x, 3), ["f32[7,2]", "i32[2]"]),
    "array_split axis": (lambda m, x: m.array_split(x, 4, axis=1), ["f32[2,10]", "f32[2,0]"]),
    "array_split indices": (lambda m, x: m.array_split(x, [1, 3]), ["f32[5]"]),
    "hsplit": (lambda m, x: m.hsplit(x, 2), ["f32[3,4]", "f32[6]"]),
    "vsplit dsplit": (lambda m, x: (m.vsplit(x, [1]), m.dsplit(x, np.array([1, 2]))),
                      ["f32[2,2,3]"]),
    "unstack": (lambda m, x: m.unstack(x), ["f32[3,2]", "bool[2]"]),
    "unstack axis": (lambda m, x: m.unstack(x, axis=-1), ["f32[2,3]", "f32[2,0]"]),
    # insert and delete
    "delete int": (lambda m, x: m.delete(x, 1), ["f32[3,2]"]),
    "delete axis": (lambda m, x: m.delete(x, -1, axis=1), ["i32[3,2]"]),
    "delete slice": (lambda m, x: m.delete(x, slice(None, None, 2), axis=0), ["f32[5,2]"]),
    "delete indices": (lambda m, x: m.delete(x, idx(0, 2, 2)), ["c64[2,2]"]),
    "delete mask": (lambda m, x: m.delete(x, np.array([True, False, True])), ["i32[3]"]),
    "delete traced unique": (lambda m, x, i: m.delete(x, i, axis=1, assume_unique_indices=True),
                             [("f32[2,5]", idx(4, -5, 2)), ("f32[2,5]", idx(3))]),
    "insert int": (lambda m, x: m.insert(x, 1, 9.0), ["i32[2,2]"]),
    "insert row": (lambda m, x: m.insert(x, 1, 5, axis=1), ["f32[3,2]"]),
    "insert values": (lambda m, x, v: m.insert(x, 2, v, axis=0), [("f32[3,2]", "f32[2]")]),
    "insert many": (lambda m, x, v: m.insert(x, idx(3, 0, 3, -1, 9), v),
                    [("f32[4]", "f32[5]"), ("i32[4]", "f32[1]")]),
    "insert slice": (lambda m, x: m.insert(x, slice(0, 3), 7, axis=1), ["f32[2,3]"]),
    "insert traced": (lambda m, x, i, v: m.insert(x, i, v, axis=0),
                      [("f32[3,2]", idx(2, 0), "f32[2,2]"), ("f32[3,2]", idx(1)[0], "f32[2]")]),
    "insert into empty": (lambda m, x: m.insert(x, 0, 1.0), ["f32[0]"]),
    # sizes
    "resize": (lambda m, x: m.resize(x, (3, 4)), ["f32[5]", "f32[0]", 2.0]),
    "resize smaller": (lambda m, x: m.resize(x, 2), ["i32[2,3]"]),
}
# Also checked eagerly: the functions that read static arguments from concrete values, and one
# of each family.
EAGER = {"pad constant traced value", "pad reflect odd", "pad median", "pad function",
         "roll traced shift", "diagonal offset", "trace traced offset", "hstack of an array",
         "block", "array_split", "delete indices", "delete traced unique", "insert many",
         "resize", "atleast_3d"}

def operands(spec):
    specs = spec if isinstance(spec, tuple) else (spec,)
    return [make(s) if isinstance(s, str) else s for s in specs]


def check_against_jax(function, groups, eager: bool):
    """function(fnp, *args) equals function(jnp, *args) for each argument list in `groups`,
    in values, shapes, dtypes and weak types: under jax.jit, as fgrad programs of JAX's
    output types, and (if asked) eagerly for the first group.

    Both modules and all groups run under one jax.jit: eagerly, fgrad and JAX compile each
    operation on its own, and every compilation costs, many times slower on this machine."""
    got, want = jax.jit(lambda groups: ([function(fnp, *g) for g in groups],
                                        [function(jnp, *g) for g in groups]))(groups)
    for args, want_one, got_one in zip(groups, want, got):
        leaves, tree = jax.tree_util.tree_flatten(want_one)
        program, program_tree = trace_to_program(lambda *a: function(fnp, *a), list(args),
                                                 "make_ir")
        typecheck(program)
        assert program_tree == tree
        assert [(a.shape, a.dtype, a.weak_type) for a in program.out_avals] == [
            (w.shape, w.dtype, w.weak_type) for w in leaves]
        results = [got_one, function(fnp, *args)] if eager and args is groups[0] else [got_one]
        for result in results:
            got_leaves, got_tree = jax.tree_util.tree_flatten(result)
            assert got_tree == tree
            for g, w in zip(got_leaves, leaves):
                assert_same(g, w, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("name", CASES)
def test_values(name):
    function, specs = CASES[name]
    check_against_jax(function, [operands(spec) for spec in specs], eager=name in EAGER)


# -- derivatives -----------------------------------------------------------------------------

# Several functions per check (one output each), to share the passes check_grads makes. Each
# derivative compiles its own operations, most of the time these checks take: the default run
# checks every other function of each group (the first, third, ...), `-m slow` the others.
GRADS = {
    "pad": ([lambda x, v: fnp.pad(x, (1, 2), constant_values=v),
             lambda x, v: fnp.pad(x, (3, 4), mode="reflect"),
             lambda x, v: fnp.pad(x, (2, 1), mode="edge"),
             lambda x, v: fnp.pad(x, 3, mode="wrap"),
             lambda x, v: fnp.pad(x, 2, mode="linear_ramp", end_values=1.0),
             lambda x, v: fnp.pad(x, (1, 2), mode="mean", stat_length=2)], [(3,), ()]),
    "roll rot90 diagonal trace": ([lambda x: fnp.roll(x, (1, -2), (0, 1)),
                                   lambda x: fnp.roll(x, jnp.array([2, 1]), (1, 0)),
                                   lambda x: fnp.rot90(x, 3), lambda x: fnp.diagonal(x, -1),
                                   lambda x: fnp.trace(x, 1), lambda x: fnp.diag(x[0], 1)],
                                  [(2, 3)]),
    "stacks splits block": ([
        lambda x, y: fnp.hstack([fnp.vstack([x, y]), fnp.dstack([x, y])[0].T]),
        lambda x, y: fnp.column_stack([x, y]),
        lambda x, y: fnp.block([[x, y], [y, x]]),
        lambda x, y: fnp.array_split(fnp.outer(x, y), 2, axis=1),
        lambda x, y: fnp.unstack(fnp.stack([x, y]), axis=1)], [(2,), (2,)]),
    "insert delete resize": ([
        lambda x, v: fnp.insert(x, np.array([2, 0]), v, axis=1),
        lambda x, v: fnp.delete(x, jnp.array([1]), axis=1, assume_unique_indices=True),
        lambda x, v: fnp.resize(x, (3, 3))], [(2, 2), (2,)]),
}


@pytest.mark.parametrize("name, half", [
    pytest.param(name, half, id=f"{name}-{half}", marks=pytest.mark.slow if half else ())
    for name in GRADS for half in (0, 1)])
def test_second_derivatives(name, half, x64):
    functions, shapes = GRADS[name]
    args = tuple(rng.standard_normal(s) for s in shapes)
    check_grads(lambda *a: tuple(f(*a) for f in functions[half::2]), args, order=2)


# -- transformations -------------------------------------------------------------------------

VMAPS = {
    "pad reflect": (lambda m, x: m.pad(x, (2, 1), mode="reflect"), (0,), ["f32[4,3]"]),
    "pad batched constant": (lambda m, x, v: m.pad(x, 1, constant_values=v), (0, 0),
                             ["f32[3,2]", "f32[3]"]),
    "pad function": (lambda m, x: m.pad(x, 1, mode=lambda r, w, a, k: r + 1.0), (1,),
                     ["f32[2,3]"]),
    "roll batched shift": (lambda m, x, s: m.roll(x, s), (0, 0), ["f32[3,4]", "i32[3]"]),
    "diagonal": (lambda m, x: m.diagonal(x, 1), (2,), ["f32[3,4,2]"]),
    "trace batched offset": (lambda m, x, k: m.trace(x, k), (None, 0), ["f32[3,3]", "i32[4]"]),
    "insert batched index": (lambda m, x, i: m.insert(x, i, -1.0), (0, 0), ["f32[3,4]", "i32[3]"]),
    "delete batched index": (lambda m, x, i: m.delete(x, i, assume_unique_indices=True),
                             (0, 0), ["f32[3,4]", "i32[3]"]),
    "block": (lambda m, a, b: m.block([a, b]), (0, None), ["f32[2,3]", "f32[2]"]),
}


@pytest.mark.parametrize("name", VMAPS)
def test_vmap(name):
    function, in_axes, specs = VMAPS[name]
    args = [make(s) for s in specs]
    if "index" in name or "shift" in name or "offset" in name:
        args[1] = np.abs(args[1]) % 3
    # Each under jax.jit: one compilation rather than one per operation.
    want = jax.jit(jax.vmap(lambda *a: function(jnp, *a), in_axes))(*args)
    assert_same(jax.jit(fgrad.vmap(lambda *a: function(fnp, *a), in_axes))(*args), want)
    assert_same(jax.jit(jax.vmap(lambda *a: function(fnp, *a), in_axes))(*args), want)


def test_vmap_eagerly():
    x, i = make("f32[3,4]"), idx(0, 3, 1)
    assert_same(fgrad.vmap(lambda x, i: fnp.roll(x, i))(x, i),
                jax.jit(jax.vmap(lambda x, i: jnp.roll(x, i)))(x, i))


def test_jit_round_trips():
    def f(m, x, i, s):
        y = m.pad(x, ((1, 2), (2, 0)), mode="reflect")
        z = m.insert(m.roll(y, s, 0), i, 0.5, axis=1)
        w = m.delete(z, i, axis=1, assume_unique_indices=True)
        return m.trace(m.triu(w[:4, :4]) + m.rot90(w[:4, :4])), m.hstack([m.diagonal(w), w[0]])

    args = (make("f32[3,4]"), np.int32(2), np.int32(-1))
    want = jax.jit(lambda *a: f(jnp, *a))(*args)
    for got in (fgrad.jit(lambda *a: f(fnp, *a))(*args), jax.jit(lambda *a: f(fnp, *a))(*args)):
        for g, w in zip(got, want):
            assert_same(g, w, rtol=2e-6, atol=2e-6)


# -- shapes, sizes and errors ----------------------------------------------------------------


def test_shape_queries():
    x = make("f32[2,3]")
    for query in (lambda m: m.ndim(x), lambda m: m.shape(x), lambda m: m.size(x),
                  lambda m: m.size(x, 1), lambda m: m.size(x, (0, 1)), lambda m: m.ndim(2.0),
                  lambda m: m.shape(np.float32(1)), lambda m: m.broadcast_shapes((2, 1), 3),
                  lambda m: m.broadcast_shapes(), lambda m: m.broadcast_shapes((0, 1), (4,))):
        assert query(fnp) == query(jnp)
    with pytest.warns(DeprecationWarning):
        assert fnp.ndim([[1, 2]]) == 2
    traced = fgrad.make_ir(lambda t: fnp.zeros(fnp.shape(t)[::-1]) + fnp.size(t, 0))(x)
    assert traced.out_avals[0].shape == (3, 2)
    with pytest.raises(ValueError, match="cannot be broadcast"):
        fnp.broadcast_shapes((2,), (3,))


ERRORS = [
    (lambda m: m.pad(np.ones(3), -1), ValueError),
    (lambda m: m.pad(np.ones(3), 1.5), TypeError),
    (lambda m: m.pad(np.ones(3), ((1, 2), (3, 4))), ValueError),
    (lambda m: m.pad(np.ones(3), 1, mode="foo"), NotImplementedError),
    (lambda m: m.pad(np.ones(3), 1, mode="edge", constant_values=1), ValueError),
    (lambda m: m.pad(np.ones((0, 2)), 1, mode="wrap"), ValueError),
    (lambda m: m.pad(np.ones(3), 1, mode="mean", stat_length=0), ValueError),
    (lambda m: m.rot90(np.ones(3)), ValueError),
    (lambda m: m.rot90(np.ones((2, 2)), axes=(1, 1)), ValueError),
    (lambda m: m.fliplr(np.ones(3)), ValueError),
    (lambda m: m.diagonal(np.ones(3)), ValueError),
    (lambda m: m.diag(np.ones((2, 2, 2))), ValueError),
    (lambda m: m.trace(np.ones((2, 2)), axis1=1, axis2=-1), ValueError),
    (lambda m: m.block([(np.ones(2), np.ones(2))]), ValueError),
    (lambda m: m.block([[np.ones(2)], np.ones(2)]), ValueError),
    (lambda m: m.hstack([]), (ValueError, IndexError)),  # jax.numpy's is an IndexError
    (lambda m: m.delete(np.ones(3), 3), ValueError),
    (lambda m: m.delete(np.ones(3), np.array([1.0])), ValueError),
    (lambda m: m.delete(np.ones(3), [1]), TypeError),
    (lambda m: m.insert(np.ones(3), np.ones((2, 2), int), 1.0), ValueError),
    (lambda m: m.insert(np.ones(3), np.array([0.5]), 1.0), ValueError),
    (lambda m: m.resize(np.ones(3), (-1, 2)), ValueError),
    (lambda m: m.unstack(np.float32(1)), ValueError),
    (lambda m: m.rollaxis(np.ones((2, 2)), 0, 3), ValueError),
]


@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_errors_like_jax(i):
    call, error = ERRORS[i]
    with pytest.raises(error):
        call(jnp)
    with pytest.raises(error):
        call(fnp)


def test_traced_indices_that_decide_the_shape_must_be_concrete():
    x = make("f32[5]")
    with pytest.raises(ConcretizationError, match="obj"):
        fgrad.jit(lambda x, i: fnp.delete(x, i))(x, idx(1, 2))
    with pytest.raises(ConcretizationError, match="pad_width"):
        fgrad.jit(lambda x, w: fnp.pad(x, w))(x, np.int32(1))
    # Concrete values inside a transformation that knows them are static enough.
    assert_same(fgrad.grad(lambda x: fnp.sum(fnp.delete(x, fnp.asarray(idx(1, 2)))))(x),
                jax.grad(lambda x: jnp.sum(jnp.delete(x, idx(1, 2))))(x))
