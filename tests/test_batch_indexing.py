"""Batching (vmap) rules of the indexing primitives against jax.vmap of the same jax.lax
calls: every mix of batched and unbatched operands, batch axes first, inner, last and
negative, the out-of-bounds modes (clamping and filling must act per example), one batched
primitive per rule, and the fgrad.numpy indexing patterns built on them."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import fgrad
import fgrad.numpy as fnp
import oracle
from oracle import rotating, several
from fgrad import lax as fl

B = 3  # the batch size
GDN = lax.GatherDimensionNumbers
SDN = lax.ScatterDimensionNumbers
CLIP, FILL, PROMISE = (lax.GatherScatterMode.CLIP, lax.GatherScatterMode.FILL_OR_DROP,
                       lax.GatherScatterMode.PROMISE_IN_BOUNDS)


def batched(example_shape, axis, seed, *, low=None, high=None):
    """A batch of B examples stacked at `axis` (None: one unbatched example). Floats are
    small integers, so sums and products are exact whatever the order."""
    shape = example_shape if axis is None else (B, *example_shape)
    rng = np.random.default_rng(seed)
    if low is None:
        x = rng.integers(-4, 5, shape).astype(np.float32)
    else:
        x = rng.integers(low, high, shape).astype(np.int32)
    return x if axis is None else np.moveaxis(x, 0, axis)


def check_vmap(f, jf, in_axes, *args):
    """fgrad.vmap(f) agrees with jax.vmap(jf) (eagerly and as a traced, typechecked
    program); returns the batched program's primitive names."""
    program = oracle.check(fgrad.vmap(f, in_axes=in_axes), jax.vmap(jf, in_axes=in_axes), *args)
    return [e.primitive.name for e in program.eqns]


# -- slice ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_slice(axis):
    x = batched((5, 6), axis, 0)
    names = check_vmap(lambda v: fl.slice(v, (1, 0), (4, 6), (2, 3)),
                       lambda v: lax.slice(v, (1, 0), (4, 6), (2, 3)), axis, x)
    assert names[0] == "slice" and names.count("slice") == 1  # then only the out_axes move


# -- dynamic_slice -------------------------------------------------------------------------------

# Starts out of range both ways (clamped), and negative (counted from the end, then clamped).
STARTS = [(1, 2), (4, -1), (-7, 9)]


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("starts", STARTS)
def test_dynamic_slice_with_shared_starts(axis, starts):
    x = batched((5, 6), axis, 1)
    i, j = (np.int32(s) for s in starts)
    names = check_vmap(lambda v, a, b: fl.dynamic_slice(v, (a, b), (2, 3)),
                       lambda v, a, b: lax.dynamic_slice(v, (a, b), (2, 3)),
                       (axis, None, None), x, i, j)
    assert names.count("dynamic_slice") == 1 and "gather" not in names


@pytest.mark.parametrize("in_axes", [(None, 0, None), (0, 0, 0), (1, None, 0), (-1, 0, 0),
                                     (None, 0, 0)])
def test_dynamic_slice_with_batched_starts_is_one_gather(in_axes):
    x = batched((5, 6), in_axes[0], 2)
    i = batched((), in_axes[1], 3, low=-8, high=8)
    j = batched((), in_axes[2], 4, low=-8, high=8)
    names = check_vmap(lambda v, a, b: fl.dynamic_slice(v, (a, b), (2, 3)),
                       lambda v, a, b: lax.dynamic_slice(v, (a, b), (2, 3)), in_axes, x, i, j)
    assert names.count("gather") == 1 and "dynamic_slice" not in names


def test_dynamic_slice_of_a_scalar_and_of_a_vector():
    check_vmap(lambda v: fl.dynamic_slice(v, (), ()), lambda v: lax.dynamic_slice(v, (), ()),
               0, np.arange(3.0, dtype=np.float32))
    x, i = batched((7,), 1, 5), batched((), 0, 6, low=-9, high=9)
    check_vmap(lambda v, a: fl.dynamic_slice(v, (a,), (4,)),
               lambda v, a: lax.dynamic_slice(v, (a,), (4,)), (1, 0), x, i)


# -- dynamic_update_slice ------------------------------------------------------------------------

@pytest.mark.parametrize("in_axes", [
    (0, None, None, None), (-1, None, None, None), (None, 0, None, None),
    (1, -1, None, None), (0, 1, None, None),
])
@pytest.mark.parametrize("starts", STARTS)
def test_dynamic_update_slice_with_shared_starts(in_axes, starts):
    x = batched((5, 6), in_axes[0], 7)
    update = batched((2, 3), in_axes[1], 8) + 10
    i, j = (np.int32(s) for s in starts)
    names = check_vmap(lambda v, u, a, b: fl.dynamic_update_slice(v, u, (a, b)),
                       lambda v, u, a, b: lax.dynamic_update_slice(v, u, (a, b)),
                       in_axes, x, update, i, j)
    assert names.count("dynamic_update_slice") == 1 and "scatter" not in names


@pytest.mark.parametrize("in_axes", [
    (None, None, 0, None), (0, 0, 0, 0), (-1, None, None, 0), (None, 1, 0, 0),
    (1, -1, 0, None), (0, None, 0, 0),
])
def test_dynamic_update_slice_with_batched_starts_is_one_scatter(in_axes):
    x = batched((5, 6), in_axes[0], 9)
    update = batched((2, 3), in_axes[1], 10) + 10
    i = batched((), in_axes[2], 11, low=-8, high=8)
    j = batched((), in_axes[3], 12, low=-8, high=8)
    names = check_vmap(lambda v, u, a, b: fl.dynamic_update_slice(v, u, (a, b)),
                       lambda v, u, a, b: lax.dynamic_update_slice(v, u, (a, b)),
                       in_axes, x, update, i, j)
    assert names.count("scatter") == 1 and "dynamic_update_slice" not in names


# -- gather ---------------------------------------------------------------------------------------

# (operand shape, indices shape, dimension numbers, slice sizes), one example each: rows of a
# matrix; windows interleaved with index batch axes; a gather that already has batching dims.
GATHERS = {
    "rows": ((5, 6), (4, 1), GDN(offset_dims=(1,), collapsed_slice_dims=(0,),
                                 start_index_map=(0,)), (1, 6)),
    "interleaved": ((5, 6, 4), (2, 3, 2), GDN(offset_dims=(1, 3), collapsed_slice_dims=(0,),
                                              start_index_map=(0, 2)), (1, 3, 2)),
    "own_batching": ((3, 5, 4), (3, 2, 1), GDN(offset_dims=(2,), collapsed_slice_dims=(1,),
                                               start_index_map=(1,), operand_batching_dims=(0,),
                                               start_indices_batching_dims=(0,)), (1, 1, 4)),
}
GATHER_AXES = [(0, None), (-1, None), (None, 0), (None, -1), (0, 0),
               (-1, -1), (2, 1)]
GATHER_BATCHINGS = ([(a, m) for a in GATHER_AXES for m in (CLIP, FILL)]
                    + [(a, PROMISE) for a in [(-1, None), (None, -1), (2, 1)]])


# The default run checks each (batching, mode) on one of the GATHERS, rotating, so every
# example, batching and mode stays covered; `-m slow` runs the other pairs.
@pytest.mark.parametrize("in_axes, mode, case", rotating(
    several(GATHER_BATCHINGS), list(GATHERS), every=3))
def test_gather(case, in_axes, mode):
    x_shape, i_shape, dn, sizes = GATHERS[case]
    x = batched(x_shape, in_axes[0], 13)
    # Out-of-bounds starts to clamp or fill; a promised gather gets in-bounds ones.
    low, high = (0, 3) if mode == PROMISE else (-3, 8)
    indices = batched(i_shape, in_axes[1], 14, low=low, high=high)
    kwargs = dict(mode=mode, fill_value=-100.0 if mode == FILL else None)
    names = check_vmap(lambda v, k: fl.gather(v, k, dn, sizes, **kwargs),
                       lambda v, k: lax.gather(v, k, dn, sizes, **kwargs), in_axes, x, indices)
    assert names.count("gather") == 1 and "dynamic_slice" not in names
    if in_axes[1] is None:  # shared indices stay unbatched
        assert "broadcast_in_dim" not in names and "concatenate" not in names


def test_nested_vmap_of_gather():
    x_shape, i_shape, dn, sizes = GATHERS["interleaved"]
    x = np.random.default_rng(15).normal(size=(2, 3, *x_shape)).astype(np.float32)
    indices = np.random.default_rng(16).integers(-2, 7, (3, 2, *i_shape)).astype(np.int32)

    def inner(v, k, vmap):
        return vmap(lambda a, b: fl.gather(a, b, dn, sizes, mode=CLIP), in_axes=(0, None))(v, k)

    got = fgrad.vmap(lambda v, k: inner(v, k, fgrad.vmap), in_axes=(1, 0))(x, indices)
    want = jax.vmap(lambda v, k: jax.vmap(
        lambda a, b: lax.gather(a, b, dn, sizes, mode=CLIP), in_axes=(0, None))(v, k),
        in_axes=(1, 0))(x, indices)
    oracle.assert_same(got, want)


def test_grad_through_a_vmapped_gather():
    x_shape, i_shape, dn, sizes = GATHERS["rows"]
    x = np.random.default_rng(17).normal(size=(B, *x_shape)).astype(np.float32)
    indices = batched(i_shape, 0, 18, low=-2, high=7)

    def loss(gather, vmap, grad, numpy):
        def f(v, k):
            return numpy.sum(numpy.sin(gather(v, k, dn, sizes, mode=CLIP)) ** 2)
        return grad(lambda v: numpy.sum(vmap(f)(v, indices)))

    oracle.assert_same(loss(fl.gather, fgrad.vmap, fgrad.grad, fnp)(x),
                       loss(lax.gather, jax.vmap, jax.grad, jnp)(x), rtol=1e-5, atol=1e-6)
    per_example = fgrad.vmap(fgrad.grad(lambda v, k: fnp.sum(
        fl.gather(v, k, dn, sizes, mode=FILL, fill_value=2.0) ** 3)))(x, indices)
    want = jax.vmap(jax.grad(lambda v, k: jnp.sum(
        lax.gather(v, k, dn, sizes, mode=FILL, fill_value=2.0) ** 3)))(x, indices)
    oracle.assert_same(per_example, want, rtol=1e-5, atol=1e-6)


# -- scatter, scatter_add, scatter_mul, scatter_min, scatter_max --------------------------------

# (operand, indices, updates shapes, dimension numbers), one example each, mirroring GATHERS.
SCATTERS = {
    "rows": ((5, 6), (4, 1), (4, 6), SDN(update_window_dims=(1,), inserted_window_dims=(0,),
                                         scatter_dims_to_operand_dims=(0,))),
    "interleaved": ((5, 6, 4), (2, 2, 2), (2, 3, 2, 2),
                    SDN(update_window_dims=(1, 3), inserted_window_dims=(0,),
                        scatter_dims_to_operand_dims=(0, 2))),
    "own_batching": ((3, 5, 4), (3, 2, 1), (3, 2, 4),
                     SDN(update_window_dims=(2,), inserted_window_dims=(1,),
                         scatter_dims_to_operand_dims=(1,), operand_batching_dims=(0,),
                         scatter_indices_batching_dims=(0,))),
}
SCATTER_AXES = [(0, None, None), (-1, None, None), (None, None, 0), (None, None, -1),
                (None, 0, None), (None, -1, None), (0, 0, 0), (1, None, -1), (None, 1, 0),
                (2, -1, 1), (-1, 0, None)]
SCATTERS_BY_NAME = {"scatter": (fl.scatter, lax.scatter),
                    "scatter_add": (fl.scatter_add, lax.scatter_add),
                    "scatter_mul": (fl.scatter_mul, lax.scatter_mul),
                    "scatter_min": (fl.scatter_min, lax.scatter_min),
                    "scatter_max": (fl.scatter_max, lax.scatter_max)}


def scatter_indices(shape, axis, seed, distinct_in=None):
    """Indices for a scatter, some out of bounds. With `distinct_in` (the size of the first
    operand axis they index, which the scatter collapses), the first entries of an example's
    index vectors are distinct and in bounds, so no two windows collide: the overwriting
    scatter leaves the winner among colliding updates unspecified. With operand batching
    dims only vectors of one batch row (the leading indices axis) can collide."""
    rng = np.random.default_rng(seed)

    def one():
        k = rng.integers(-2, 7, shape).astype(np.int32)
        if distinct_in is not None:
            groups = k[..., 0].reshape(shape[0] if len(shape) > 2 else 1, -1)
            for row in groups:
                row[:] = rng.choice(distinct_in, row.size, replace=False)
            k[..., 0] = groups.reshape(shape[:-1])
        return k

    if axis is None:
        return one()
    return np.moveaxis(np.stack([one() for _ in range(B)]), 0, axis)


# One rule serves the whole family, so the combiners other than overwriting and adding get
# a few representative batchings (operand only, indices only, all, mixed axes), clamped.
SCATTER_CASES = (
    [(name, in_axes, CLIP) for name in ("scatter", "scatter_add") for in_axes in SCATTER_AXES]
    + [(name, in_axes, FILL) for name in ("scatter", "scatter_add")
       for in_axes in [(0, None, None), (None, None, -1), (None, -1, None), (0, 0, 0),
                       (2, -1, 1)]]
    + [(name, in_axes, CLIP) for name in ("scatter_mul", "scatter_min", "scatter_max")
       for in_axes in [(0, None, None), (None, 0, None), (0, 0, 0), (2, -1, 1)]])


# The default run checks each (combiner, batching, mode) on one of the SCATTERS, rotating,
# so every example, combiner, batching and mode stays covered; `-m slow` runs the rest.
@pytest.mark.parametrize("name, in_axes, mode, case", rotating(
    several(SCATTER_CASES), list(SCATTERS), every=3))
def test_scatter_family(name, case, in_axes, mode):
    x_shape, i_shape, u_shape, dn = SCATTERS[case]
    fgrad_fn, jax_fn = SCATTERS_BY_NAME[name]
    x = batched(x_shape, in_axes[0], 19)
    indices = scatter_indices(i_shape, in_axes[1], 20, 5 if name == "scatter" else None)
    updates = batched(u_shape, in_axes[2], 21) + 5
    names = check_vmap(lambda v, k, u: fgrad_fn(v, k, u, dn, mode=mode),
                       lambda v, k, u: jax_fn(v, k, u, dn, mode=mode), in_axes, x, indices,
                       updates)
    assert names.count(name) == 1
    if in_axes[1] is None:
        assert "concatenate" not in names


def test_nested_vmap_of_scatter_add():
    x_shape, i_shape, u_shape, dn = SCATTERS["interleaved"]
    x = batched((2, *x_shape), None, 22)
    indices = batched((2, *i_shape), None, 23, low=-2, high=7)
    updates = batched((2, 2, *u_shape), None, 24)  # inner batch axis first, outer second

    def nested(vmap, scatter_add):
        inner = vmap(lambda v, k, u: scatter_add(v, k, u, dn, mode=CLIP), in_axes=(None, 0, 0))
        return vmap(inner, in_axes=(0, None, 1))

    got = nested(fgrad.vmap, fl.scatter_add)(x, indices, updates)
    want = nested(jax.vmap, lax.scatter_add)(x, indices, updates)
    oracle.assert_same(got, want)


def test_grad_of_vmapped_scatters():
    x_shape, i_shape, u_shape, dn = SCATTERS["rows"]
    x, updates = batched(x_shape, 0, 25) / 3, batched(u_shape, 0, 26) / 5 + 0.1
    # JAX differentiates scatter_mul only with indices promised unique.
    indices = scatter_indices(i_shape, 0, 27, distinct_in=5)

    def loss(vmap, grad, numpy, scatter_add, scatter_mul):
        def f(v, u, k):
            return numpy.sum(numpy.sin(scatter_mul(scatter_add(v, k, u, dn), k, u, dn,
                                                       unique_indices=True)))
        return grad(lambda v, u: numpy.sum(vmap(f)(v, u, indices)), argnums=(0, 1))

    got = loss(fgrad.vmap, fgrad.grad, fnp, fl.scatter_add, fl.scatter_mul)(x, updates)
    want = loss(jax.vmap, jax.grad, jnp, lax.scatter_add, lax.scatter_mul)(x, updates)
    oracle.assert_trees_same(got, want, rtol=1e-5, atol=1e-6)


# -- fgrad.numpy indexing under vmap against jax.numpy under jax.vmap ---------------------------

X = batched((B, 5, 6), None, 28)
I = np.array([[0, 4, -1], [2, 2, -5], [3, 1, 0]], np.int32)
V = batched((B, 3, 6), None, 29) + 10


@pytest.mark.parametrize("index, in_axes", [
    (lambda x, i: x[i], (None, 0)),
    (lambda x, i: x[i], (0, 0)),
    (lambda x, i: x[i], (0, None)),
    (lambda x, i: x[:, i], (None, 0)),
    (lambda x, i: x[i, 1:4], (0, 0)),
    (lambda x, i: x[i[0]], (0, 0)),  # a traced scalar: dynamic_slice
    (lambda x, i: x[i[1], i[:2]], (None, 0)),
    (lambda x, i: x.at[i].get(mode="fill", fill_value=-1.0), (0, 0)),
])
def test_numpy_gathers(index, in_axes):
    x = X if in_axes[0] is not None else X[0]
    i = I if in_axes[1] is not None else I[0]
    check_vmap(lambda x, i: index(fnp.asarray(x), i), lambda x, i: index(jnp.asarray(x), i),
               in_axes, x, i)


HOWS = ["set", "add", "multiply", "min", "max"]
NUMPY_SCATTER_AXES = [(0, None, None), (None, None, 0), (0, None, 0), (None, 0, None),
                      (0, 0, 0), (None, 0, 0)]


# The default run keeps every other (method, batching) pair, rotating, so each method has
# three batchings and each batching two or three methods; `-m slow` runs the other pairs.
@pytest.mark.parametrize("how, in_axes", rotating(HOWS, NUMPY_SCATTER_AXES, every=2))
def test_numpy_scatters(how, in_axes):
    x = X if in_axes[0] is not None else X[0]
    v = V if in_axes[2] is not None else V[0]
    # Distinct rows per example, since `set` with repeats picks an unspecified winner.
    unique = np.array([[0, 4, -2], [2, -1, 1], [3, 1, 0]], np.int32)
    i = unique if in_axes[1] is not None else unique[0]

    def update(numpy):
        return lambda x, i, v: getattr(numpy.asarray(x).at[i], how)(v)

    check_vmap(update(fnp), update(jnp), in_axes, x, i, v)


def test_numpy_update_of_a_traced_scalar_index_and_a_scalar_value():
    def update(numpy):
        return lambda x, i, v: numpy.asarray(x).at[i[0], 2].add(v)

    check_vmap(update(fnp), update(jnp), (0, 0, 0), X, I, np.arange(B, dtype=np.float32))
    check_vmap(update(fnp), update(jnp), (None, 0, None), X[0], I, np.float32(3.0))
