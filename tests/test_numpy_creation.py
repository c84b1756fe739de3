"""fgrad.numpy's array creation (triangles, grids, index tricks, index functions, spacing,
window functions, buffers, and the keyword arguments of array/asarray/zeros/...) against
jax.numpy: values, shapes, dtypes and weak types, eagerly, traced and under jax.jit; second
derivatives in float64; fgrad.vmap against jax.vmap; fgrad.jit; and the errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.core import ConcretizationError, trace_to_program, typecheck
from fgrad.testing import check_grads
from test_numpy import assert_same
from test_numpy_shapes import idx, make


def compare(function, *args, staged: bool = True, eager: bool = True):
    """function(fnp, *args) equals function(jnp, *args) (values, shapes, dtypes and weak
    types): eagerly, and unless `staged` is False (for functions that need concrete values,
    as jax.numpy's do), under jax.jit (one compilation for both sides) and as a typechecked
    fgrad program of JAX's output types. eager=False skips the eager run (each operation
    compiled on its own: slow on this machine)."""
    if staged:
        got_jit, want = jax.jit(lambda *a: (function(fnp, *a), function(jnp, *a)))(*args)
    else:
        want = function(jnp, *args)
    leaves, tree = jax.tree_util.tree_flatten(want)
    results = [got_jit] if staged else []
    if eager or not staged:
        results.append(function(fnp, *args))
    for result in results:
        got, got_tree = jax.tree_util.tree_flatten(result)
        assert got_tree == tree
        for g, w in zip(got, leaves):
            assert_same(g, w, rtol=3e-6, atol=3e-6)
    if staged:
        program, got_tree = trace_to_program(lambda *a: function(fnp, *a), list(args),
                                             "make_ir")
        typecheck(program)
        assert got_tree == tree
        assert [(a.shape, a.dtype, a.weak_type) for a in program.out_avals] == [
            (w.shape, w.dtype, w.weak_type) for w in leaves]


# name -> (function of the module m and the operands, operand specs)
CASES = {
    # triangles
    "tri": (lambda m: (m.tri(3), m.tri(2, 4, -1, int), m.tri(3, k=2, dtype=bool)), [()]),
    "tril": (lambda m, x: m.tril(x), ["f32[3,4]", "i32[2,3,3]", "bool[2,2]", "weak[2,2]"]),
    "tril k": (lambda m, x: m.tril(x, -1), ["f32[4,3]"]),
    "triu": (lambda m, x: m.triu(x, 1), ["f32[3,4]", "c64[2,2]", "f32[0,3]"]),
    "tril_indices": (lambda m: (m.tril_indices(3), m.tril_indices(3, 1, 4),
                                m.tril_indices(0)), [()]),
    "triu_indices": (lambda m: (m.triu_indices(4, -1), m.triu_indices(2, 0, 5)), [()]),
    "indices_from": (lambda m, x: (m.tril_indices_from(x, 1), m.triu_indices_from(x)),
                     ["f32[3,5]"]),
    "diag_indices": (lambda m: (m.diag_indices(3), m.diag_indices(2, 3), m.diag_indices(0)),
                     [()]),
    "diag_indices_from": (lambda m, x: m.diag_indices_from(x), ["f32[3,3,3]"]),
    "mask_indices": (lambda m: m.mask_indices(3, m.triu, 1), [()]),
    "mask_indices size": (lambda m: m.mask_indices(4, m.tril, size=12), [()]),
    # grids
    "meshgrid": (lambda m, x, y: m.meshgrid(x, y), [("f32[3]", "i32[2]")]),
    "meshgrid ij sparse": (lambda m, x, y, z: m.meshgrid(x, y, z, indexing="ij", sparse=True),
                           [("f32[3]", "f32[2]", "f32[0]")]),
    "meshgrid xy sparse": (lambda m, x, y, z: m.meshgrid(x, y, z, sparse=True),
                           [("f32[3]", "bool[2]", "f32[4]")]),
    "meshgrid one": (lambda m, x: m.meshgrid(x), ["weak[3]"]),
    "indices": (lambda m: (m.indices((2, 3)), m.indices((2, 1, 3), dtype=m.float32),
                           m.indices(())), [()]),
    "indices sparse": (lambda m: m.indices((2, 3), sparse=True), [()]),
    "ix_": (lambda m, x, y: m.ix_(x, y), [("i32[3]", "i32[2]")]),
    "ix_ empty": (lambda m, x: m.ix_(x, np.zeros(0, np.float32)), ["i32[2]"]),
    "mgrid": (lambda m: (m.mgrid[0:3, 1:5:2], m.mgrid[0:1:4j, 2:3], m.mgrid[-1:2],
                         m.mgrid[()]), [()]),
    "ogrid": (lambda m: (m.ogrid[0:3, 0:2.0], m.ogrid[0:1:3j], m.ogrid[0:2, 0:2:3j]), [()]),
    "r_": (lambda m, x: (m.r_[1:4, 0, 5.0], m.r_[x, 0:2, [7, 8]], m.r_[0:1:5j],
                         m.r_["0,2", [1, 2], [3, 4]], m.r_["r", 1:3], m.r_["c", x],
                         m.r_["1,2,0", x, x], m.r_["-1", x[:, None], x[:, None]]),
           ["f32[3]"]),
    "c_": (lambda m, x, y: (m.c_[x, y], m.c_[x[:, None], 2 * x], m.c_[1:4, x]),
           [("f32[3]", "i32[3]")]),
    # from functions, spacing, windows
    "fromfunction": (lambda m: (m.fromfunction(lambda i, j: i * 10 + j, (2, 3)),
                                m.fromfunction(lambda i: i, (4,), dtype=int),
                                m.fromfunction(lambda i, j: i - 2 * j + 0 * i.sum(), (3, 2))),
                     [()]),
    "logspace": (lambda m, a, b: (m.logspace(a, b, 5), m.logspace(a, b, 4, base=2.0,
                                                                   endpoint=False),
                                  m.logspace(0, 2, 3, dtype=int)), [(0.5, 2.0)]),
    "logspace arrays": (lambda m, a, b: m.logspace(a, b, 3, axis=-1), [("f32[2]", "f32[2]")]),
    "geomspace": (lambda m, a, b: (m.geomspace(a, b, 4), m.geomspace(-a, -b, 3, endpoint=False),
                                   m.geomspace(1, 1000, 4, dtype=int)), [(1.0, 100.0)]),
    "geomspace arrays": (lambda m, a, b: m.geomspace(a, b, 3, axis=1),
                         [("f32[2]", "f32[2]")]),
    "windows": (lambda m: tuple(w(n) for w in (m.bartlett, m.blackman, m.hamming, m.hanning)
                                for n in (0, 1, 2, 7)), [()]),
    "kaiser": (lambda m, beta: (m.kaiser(7, beta), m.kaiser(1, beta), m.kaiser(12, 14.0),
                                m.kaiser(0, 3.0), m.kaiser(5, 0.0)), [2.5, "f32[]"]),
    # array and its keyword arguments
    "array ndmin": (lambda m, x: (m.array(x, ndmin=3), m.asarray(x, copy=True),
                                  m.array(x, m.int32, copy=False, order="K"), m.copy(x)),
                    ["f32[2]", "weak[]", 2.0]),
    "placement": (lambda m: (m.zeros(2, device=jax.devices()[0]), m.ones((1, 2), int),
                             m.empty(3, m.bool_), m.full(2, 3, device=None),
                             m.empty_like(prototype=np.ones(2, np.int32)),
                             m.zeros_like(np.ones(2), device=jax.devices()[0]),
                             m.eye(2, 3, 1, device=jax.devices()[0]),
                             m.arange(3, device=jax.devices()[0]),
                             m.linspace(0, 1, 3, device=jax.devices()[0])), [()]),
    "eye traced k": (lambda m, k: (m.eye(3, 4, k), m.eye(3, k=k, dtype=bool)), [idx(1)[0]]),
}

PARAMS = [(name, i) for name, (_, specs) in CASES.items() for i in range(len(specs))]
# Also checked eagerly in the default run (each operation compiled on its own, most of the
# time these tests take): a case of each family, among them complex, weak, boolean, size-0
# and Python scalar operands, and mask_indices, which JAX cannot stage. `-m slow` checks the
# other cases eagerly too (test_values_eagerly).
EAGER = {"triu", "tril_indices", "diag_indices", "mask_indices", "meshgrid", "indices sparse",
         "ix_ empty", "c_", "geomspace", "windows", "array ndmin", "eye traced k"}


def arguments(name, i):
    spec = CASES[name][1][i]
    return [make(s) if isinstance(s, str) else s
            for s in (spec if isinstance(spec, tuple) else (spec,))]


@pytest.mark.parametrize("name,i", PARAMS, ids=[f"{n}-{i}" for n, i in PARAMS])
def test_values(name, i):
    compare(CASES[name][0], *arguments(name, i), staged=name != "mask_indices",
            eager=name in EAGER)


@pytest.mark.slow
@pytest.mark.parametrize("name,i", [p for p in PARAMS if p[0] not in EAGER],
                         ids=[f"{n}-{i}" for n, i in PARAMS if n not in EAGER])
def test_values_eagerly(name, i):
    compare(CASES[name][0], *arguments(name, i), staged=False)


@pytest.mark.usefixtures("x64")
def test_values_in_float64():
    compare(lambda m: (m.tri(2), m.tri(2, dtype=float), m.indices((2,)), m.diag_indices(2),
                       m.tril_indices(3), m.kaiser(6, 8.0), m.geomspace(1, 10, 3)),
            eager=False)
    compare(lambda m: m.mask_indices(2, m.triu), staged=False)


def test_buffers_and_strings():
    data = np.arange(6, dtype=np.int16).tobytes()
    for f in (lambda m: m.frombuffer(data, dtype=np.int16),
              lambda m: m.frombuffer(data, dtype=np.uint8, count=3, offset=2),
              lambda m: m.frombuffer(np.arange(3.0).tobytes()),
              lambda m: m.fromstring("1 2 3.5", sep=" "),
              lambda m: m.fromstring("1,2", dtype=int, sep=",")):
        assert_same(f(fnp), f(jnp))
    for m in (fnp, jnp):
        with pytest.raises(NotImplementedError, match="fromiter"):
            m.fromiter(iter([1, 2]), float)
    s = fnp.s_[1:2, ..., None]
    assert s == jnp.s_[1:2, ..., None] and fnp.index_exp[3] == jnp.index_exp[3]


def test_fromfunction_keyword_arguments_are_passed_as_they_are():
    # jax.numpy maps them along their first axis, which a scalar lacks; NumPy (and fgrad)
    # pass them to every call.
    got = fnp.fromfunction(lambda i, j, s: i - s * j, (3, 2), s=2.0)
    np.testing.assert_array_equal(got, np.fromfunction(lambda i, j, s: i - s * j, (3, 2),
                                                       s=2.0))


def test_array_positional_arguments_are_deprecated():
    with pytest.warns(DeprecationWarning):
        got = fnp.array([1, 2], None, True, "K", 2)
    assert_same(got, jnp.array([1, 2], ndmin=2))


# -- derivatives -----------------------------------------------------------------------------

GRADS = {
    "triangles and grids": (lambda x, y: (
        fnp.tril(x), fnp.triu(x, -1), *fnp.meshgrid(x[0], y), *fnp.meshgrid(y, x[1],
                                                                            sparse=True),
        fnp.r_[y, x[0]], fnp.c_[y, y]), [(2, 3), (3,)]),
    "spacing": (lambda a, b: (fnp.logspace(a, b, 4), fnp.geomspace(fnp.exp(a), fnp.exp(b), 3)),
                [(), ()]),
}


@pytest.mark.parametrize("name", GRADS)
def test_second_derivatives(name, x64):
    function, shapes = GRADS[name]
    rng = np.random.default_rng(3)
    check_grads(function, tuple(rng.standard_normal(s) for s in shapes), order=2)


def test_kaiser_gradient_in_beta():
    # I0's series loop has a bound (max_steps), so reverse mode runs it as a scan.
    def window_sum(m, grad):
        return jax.jit(grad(lambda beta: m.sum(m.kaiser(5, beta) * m.arange(5.0))))

    assert_same(window_sum(fnp, fgrad.grad)(3.0), window_sum(jnp, jax.grad)(3.0), rtol=2e-5)


# -- transformations -------------------------------------------------------------------------

VMAPS = {
    "tril": (lambda m, x: m.triu(x, 1), (1,), ["f32[3,4,2]"]),
    "meshgrid": (lambda m, x, y: m.meshgrid(x, y, indexing="ij"), (0, None),
                 ["f32[2,3]", "f32[4]"]),
    "eye batched k": (lambda m, k: m.eye(3, k=k), (0,), [idx(-1, 0, 2)]),
    "kaiser batched beta": (lambda m, b: m.kaiser(6, b), (0,), ["f32[3]"]),
    "r_": (lambda m, x, y: m.r_[x, 0.0, y], (0, 0), ["f32[2,3]", "f32[2]"]),
    "geomspace": (lambda m, a: m.geomspace(1.0, m.exp(a), 3), (0,), ["f32[3]"]),
}


@pytest.mark.parametrize("name", VMAPS)
def test_vmap(name):
    function, in_axes, specs = VMAPS[name]
    args = [make(s) if isinstance(s, str) else s for s in specs]
    # Each under jax.jit: one compilation rather than one per operation.
    want = jax.jit(jax.vmap(lambda *a: function(jnp, *a), in_axes))(*args)
    got = jax.jit(fgrad.vmap(lambda *a: function(fnp, *a), in_axes))(*args)
    jax.tree_util.tree_map(lambda g, w: assert_same(g, w, rtol=3e-6, atol=3e-6), got, want)


def test_jit_round_trips():
    def f(m, x, beta):
        rows, cols = m.mask_indices(3, m.triu, size=6)
        grid = m.meshgrid(x, m.r_[0:1:3j])[0]
        return (m.tril(grid) * m.tri(3, 3) + m.kaiser(3, beta))[rows, cols], m.c_[x, x]

    args = (make("f32[3]"), np.float32(4.0))
    want = jax.jit(lambda *a: f(jnp, *a))(*args)
    for got in (fgrad.jit(lambda *a: f(fnp, *a))(*args), jax.jit(lambda *a: f(fnp, *a))(*args)):
        jax.tree_util.tree_map(lambda g, w: assert_same(g, w, rtol=3e-6, atol=3e-6), got, want)


# -- errors ----------------------------------------------------------------------------------

ERRORS = [
    (lambda m: m.tril(np.ones(3)), ValueError),
    (lambda m: m.triu_indices_from(np.ones(3)), ValueError),
    (lambda m: m.diag_indices(-1), ValueError),
    (lambda m: m.diag_indices_from(np.ones((2, 3))), ValueError),
    (lambda m: m.meshgrid(np.ones((2, 2))), ValueError),
    (lambda m: m.meshgrid(np.ones(2), indexing="yx"), ValueError),
    (lambda m: m.meshgrid(np.ones(2), copy=False), ValueError),
    (lambda m: m.ix_(np.ones((2, 2), int)), ValueError),
    (lambda m: m.ix_(np.ones(2, bool)), NotImplementedError),
    (lambda m: m.r_["a,b", 1], ValueError),
    (lambda m: m.r_[1, "0"], ValueError),
    (lambda m: m.array([1.0], order="F"), NotImplementedError),
]


@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_errors_like_jax(i):
    call, error = ERRORS[i]
    with pytest.raises(error):
        call(jnp)
    with pytest.raises(error):
        call(fnp)


def test_placement_other_than_the_default_device_is_refused():
    with pytest.raises(NotImplementedError, match="default device"):
        fnp.zeros(2, out_sharding=jax.sharding.PartitionSpec())


def test_mask_indices_of_a_traced_mask_needs_a_size():
    with pytest.raises(ConcretizationError):
        fgrad.jit(lambda x: fnp.mask_indices(3, lambda a, k: fnp.triu(a * x, k)))(2.0)
    got = fgrad.jit(lambda x: fnp.mask_indices(3, lambda a, k: fnp.triu(a * x, k), size=7))(2.0)
    want = jnp.mask_indices(3, jnp.triu, size=7)
    for g, w in zip(got, want):
        assert_same(g, w)
