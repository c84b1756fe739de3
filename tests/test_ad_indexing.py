"""Derivatives of the indexing primitives (slices, gather, the scatter family) against JAX's:
forward and reverse mode, second order, finite differences, the traced forms, JAX's values at
collisions and ties, and the NumPy indexing built on them.

Every case compiles its own XLA computations, so the full matrix is slow; an unmarked subset
covers each primitive and each tricky point (`-m 'not slow'`)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import fgrad
import fgrad.numpy as fnp
import oracle
from fgrad import lax as fl
from fgrad.core import aval_of, trace_to_program
from fgrad.testing import check_grads
from fgrad.transforms.transpose import backward_pass
from oracle import rand, traced

pytestmark = pytest.mark.usefixtures("x64")

GDN = lax.GatherDimensionNumbers
SDN = lax.ScatterDimensionNumbers
TOLERANCE = dict(rtol=1e-10, atol=1e-12)  # float64 rounding
assert_same = functools.partial(oracle.assert_same, **TOLERANCE)
assert_trees_same = functools.partial(oracle.assert_trees_same, **TOLERANCE)
check_first_order = functools.partial(oracle.check_first_order, **TOLERANCE)
# Under jax.jit, fgrad's Hessians cost several times less than eagerly.
check_second_order = functools.partial(oracle.check_second_order, **TOLERANCE)


class Case:
    """fgrad's function, JAX's, the arguments, and whether finite differences apply (not
    where JAX's own rule disagrees with them, or the values are NaN)."""

    def __init__(self, f, jf, args, finite_differences=True):
        self.f, self.jf = f, jf
        self.args = tuple(np.asarray(a, np.float64) for a in args)
        self.finite_differences = finite_differences

    def check(self):
        check_first_order(self.f, self.jf, self.args)
        if self.finite_differences:
            check_grads(self.f, self.args, order=2)


def lax_pair(name, *params, **kwargs):
    """Case(fgrad.lax.<name>, jax.lax.<name>, ...), each applied to the arguments then
    `params`."""
    def case(args, **case_kwargs):
        return Case(lambda *a: getattr(fl, name)(*a, *params, **kwargs),
                    lambda *a: getattr(lax, name)(*a, *params, **kwargs), args, **case_kwargs)
    return case


def scatter_pair(name, indices, dimension_numbers, **kwargs):
    """Case(fgrad.lax.<name>, jax.lax.<name>, ...) as functions of the operand and updates."""
    def case(args, **case_kwargs):
        return Case(
            lambda x, u: getattr(fl, name)(x, indices, u, dimension_numbers, **kwargs),
            lambda x, u: getattr(lax, name)(x, indices, u, dimension_numbers, **kwargs),
            args, **case_kwargs)
    return case


ALL_CASES = {}


def cases(prefix, table, quick):
    """Registers `table` for the Hessian test; params with all but `quick` marked slow."""
    assert set(quick) <= set(table), set(quick) - set(table)
    ALL_CASES.update({f"{prefix} {k}": v for k, v in table.items()})
    return [pytest.param(k, marks=() if k in quick else pytest.mark.slow) for k in table]


# -- slice, dynamic_slice, dynamic_update_slice --------------------------------------------

SLICES = {
    "slice vector": lax_pair("slice", (1,), (4,))([rand(5, 0)]),
    "slice strided, stride divides": lax_pair("slice", (0,), (6,), (2,))([rand(6, 0)]),
    "slice strided, stops short of the limit": lax_pair("slice", (1, 0), (5, 7), (2, 3))(
        [rand((6, 7), 0)]),
    "slice rank 3": lax_pair("slice", (0, 1, 1), (2, 3, 4), (1, 1, 2))([rand((2, 3, 4), 0)]),
    "slice empty": lax_pair("slice", (2, 0), (2, 3))([rand((4, 3), 0)]),
    "slice scalar": lax_pair("slice", (), ())([rand((), 0)]),
    "dynamic_slice inside": lax_pair("dynamic_slice", (1, 2), (2, 2))([rand((4, 5), 0)]),
    "dynamic_slice clamped": lax_pair("dynamic_slice", (3, 9), (3, 2))([rand((4, 5), 0)]),
    "dynamic_slice negative start": lax_pair("dynamic_slice", (-1,), (2,))([rand(5, 0)]),
    "dynamic_slice array of starts": lax_pair(
        "dynamic_slice", np.array([2, 1], np.int32), (2, 3))([rand((4, 5), 0)]),
    "dynamic_slice scalar": lax_pair("dynamic_slice", (), ())([rand((), 0)]),
    "dynamic_update_slice inside": lax_pair("dynamic_update_slice", (1, 2))(
        [rand((4, 5), 0), rand((2, 2), 1)]),
    "dynamic_update_slice clamped": lax_pair("dynamic_update_slice", (3, 4))(
        [rand((4, 5), 0), rand((3, 2), 1)]),
    "dynamic_update_slice negative start": lax_pair("dynamic_update_slice", (-1,))(
        [rand(5, 0), rand(2, 1)]),
    "dynamic_update_slice whole": lax_pair("dynamic_update_slice", (0, 0))(
        [rand((2, 3), 0), rand((2, 3), 1)]),
    "dynamic_update_slice scalar": lax_pair("dynamic_update_slice", ())(
        [rand((), 0), rand((), 1)]),
}


@pytest.mark.parametrize("case", cases("slicing", SLICES, quick=[
    "slice strided, stops short of the limit", "slice scalar", "dynamic_slice clamped",
    "dynamic_update_slice clamped", "dynamic_update_slice scalar"]))
def test_slicing_primitive(case):
    SLICES[case].check()


def test_dynamic_slice_clamps_and_its_gradient_follows():
    x = np.arange(5.0)
    assert_same(fl.dynamic_slice(x, (4,), (2,)), lax.dynamic_slice(x, (4,), (2,)))
    np.testing.assert_array_equal(fl.dynamic_slice(x, (4,), (2,)), [3.0, 4.0])
    grad = fgrad.grad(lambda x: fl.reduce_sum(fl.dynamic_slice(x, (4,), (2,)), (0,)))(x)
    np.testing.assert_array_equal(grad, [0.0, 0.0, 0.0, 1.0, 1.0])


def test_dynamic_slice_at_a_traced_start():
    weights = np.array([1.0, 10.0])

    def f(x, i):
        return fl.reduce_sum(fl.mul(fl.dynamic_slice(x, (i,), (2,)), weights), (0,))

    def jf(x, i):
        return jnp.sum(lax.dynamic_slice(x, (i,), (2,)) * weights)

    x = rand(5, 3)
    for i in [np.int32(1), np.int32(4), np.int32(-1)]:
        want = jax.grad(jf)(x, i)
        assert_same(fgrad.grad(f)(x, i), want)
        assert_same(traced(fgrad.grad(f), [x, i]), want)
        assert fgrad.grad(f, (0, 1), allow_int=True)(x, i)[1].dtype == jax.dtypes.float0


def test_dynamic_update_slice_gradients_of_operand_and_update():
    def f(x, u):
        return fl.reduce_sum(fl.dynamic_update_slice(x, u, (1,)), (0,))

    got = fgrad.grad(f, (0, 1))(np.ones(4), 2 * np.ones(2))
    np.testing.assert_array_equal(got[0], [1.0, 0.0, 0.0, 1.0])
    np.testing.assert_array_equal(got[1], [1.0, 1.0])


def test_dynamic_update_slice_with_a_constant_update():
    Case(lambda x: fl.dynamic_update_slice(x, np.full(2, 7.0), (3,)),
         lambda x: lax.dynamic_update_slice(x, jnp.full(2, 7.0), (3,)), [rand(4, 0)]).check()


# -- gather ----------------------------------------------------------------------------------

TAKE = GDN(offset_dims=(), collapsed_slice_dims=(0,), start_index_map=(0,))
ROWS = GDN(offset_dims=(1,), collapsed_slice_dims=(0,), start_index_map=(0,))
POINTS = GDN(offset_dims=(), collapsed_slice_dims=(0, 1), start_index_map=(0, 1))
WINDOWS = GDN(offset_dims=(1, 2), collapsed_slice_dims=(), start_index_map=(1, 0))
BATCHED = GDN(offset_dims=(), collapsed_slice_dims=(1,), start_index_map=(1,),
              operand_batching_dims=(0,), start_indices_batching_dims=(0,))

DUPLICATES = np.array([[0], [0], [2], [4], [0]])
OUT_OF_BOUNDS = np.array([[1], [7], [-2], [4]])
OVERHANGING = np.array([[0, 1], [3, 0], [2, 4]])

GATHERS = {
    "take with duplicates": lax_pair("gather", DUPLICATES, TAKE, (1,))([rand(5, 0)]),
    "take one, a scalar": lax_pair("gather", np.array([3]), TAKE, (1,))([rand(5, 0)]),
    "rows": lax_pair("gather", np.array([[2], [0], [2]]), ROWS, (1, 3))([rand((4, 3), 0)]),
    "partial rows": lax_pair("gather", np.array([[1], [3]]), ROWS, (1, 2))([rand((4, 3), 0)]),
    "points": lax_pair("gather", np.array([[[0, 1], [2, 2]], [[1, 0], [0, 1]]]), POINTS,
                       (1, 1))([rand((3, 4), 0)]),
    "overlapping windows": lax_pair("gather", np.array([[0, 0], [1, 1], [1, 2]]), WINDOWS,
                                    (2, 3))([rand((4, 4), 0)]),
    "batching dims": lax_pair("gather", np.array([[[1], [1]], [[0], [3]]]), BATCHED, (1, 1))(
        [rand((2, 4), 0)]),
    "empty indices": lax_pair("gather", np.zeros((0, 1), np.int32), ROWS, (1, 3))(
        [rand((4, 3), 0)]),
    "out of bounds, clip": lax_pair("gather", OUT_OF_BOUNDS, ROWS, (1, 2), mode="clip")(
        [rand((5, 3), 0)]),
    "overhanging windows, clip": lax_pair("gather", OVERHANGING, WINDOWS, (2, 2),
                                          mode="clip")([rand((4, 5), 0)]),
    # the default fill value is NaN, which finite differences cannot handle
    "out of bounds, fill": lax_pair("gather", OUT_OF_BOUNDS, ROWS, (1, 2), mode="fill")(
        [rand((5, 3), 0)], finite_differences=False),
    "overhanging windows, fill": lax_pair("gather", OVERHANGING, WINDOWS, (2, 2),
                                          mode="fill")([rand((4, 5), 0)],
                                                       finite_differences=False),
    "fill value": lax_pair("gather", OUT_OF_BOUNDS, ROWS, (1, 2), mode="fill",
                           fill_value=-3.5)([rand((5, 3), 0)]),
    # JAX's convention: the gather clamps, its transpose drops what is out of bounds
    "out of bounds, promise_in_bounds": lax_pair(
        "gather", OUT_OF_BOUNDS, ROWS, (1, 2), mode="promise_in_bounds")(
        [rand((5, 3), 0)], finite_differences=False),
    "overhanging windows, promise_in_bounds": lax_pair(
        "gather", OVERHANGING, WINDOWS, (2, 2), mode="promise_in_bounds")(
        [rand((4, 5), 0)], finite_differences=False),
}


@pytest.mark.parametrize("case", cases("gather", GATHERS, quick=[
    "take with duplicates", "take one, a scalar", "overlapping windows", "batching dims",
    "empty indices", "overhanging windows, clip", "out of bounds, fill",
    "out of bounds, promise_in_bounds"]))
def test_gather(case):
    GATHERS[case].check()


def test_filled_gather_windows_have_zero_tangent():
    def f(x):
        return fl.gather(x, OUT_OF_BOUNDS, TAKE, (1,), mode="fill", fill_value=9.0)

    x = rand(5, 0)
    out, tangent = fgrad.jvp(f, (x,), (np.ones(5),))
    np.testing.assert_array_equal(out, [x[1], 9.0, 9.0, x[4]])
    np.testing.assert_array_equal(tangent, [1.0, 0.0, 0.0, 1.0])


def test_gather_out_of_bounds_gradients_by_mode():
    # Index 7 of 3 elements: CLIP reads (and credits) the last element; a promised-in-bounds
    # gather also reads it, but JAX's transpose drops that cotangent; FILL reads nothing.
    indices = np.array([[7], [1]])
    x = np.arange(3.0)
    for mode, expected in [("clip", [0.0, 1.0, 1.0]), ("promise_in_bounds", [0.0, 1.0, 0.0]),
                           ("fill", [0.0, 1.0, 0.0])]:
        def f(x):
            return fl.reduce_sum(fl.gather(x, indices, TAKE, (1,), mode=mode, fill_value=0.0),
                                 (0,))
        np.testing.assert_array_equal(fgrad.grad(f)(x), expected)
        np.testing.assert_array_equal(
            jax.grad(lambda x: jnp.sum(lax.gather(x, indices, TAKE, (1,), mode=mode,
                                                  fill_value=0.0)))(x), expected)


# -- scatter_add, scatter ----------------------------------------------------------------------

ELEMENTS = SDN(update_window_dims=(), inserted_window_dims=(0,),
               scatter_dims_to_operand_dims=(0,))
ROW_UPDATES = SDN(update_window_dims=(1,), inserted_window_dims=(0,),
                  scatter_dims_to_operand_dims=(0,))
POINT_UPDATES = SDN(update_window_dims=(), inserted_window_dims=(0, 1),
                    scatter_dims_to_operand_dims=(0, 1))
WINDOW_UPDATES = SDN(update_window_dims=(1,), inserted_window_dims=(),
                     scatter_dims_to_operand_dims=(0,))
BATCHED_UPDATES = SDN(update_window_dims=(), inserted_window_dims=(1,),
                      scatter_dims_to_operand_dims=(1,), operand_batching_dims=(0,),
                      scatter_indices_batching_dims=(0,))

UNIQUE = np.array([[3], [0], [4]])


def scatter_cases(name, unique_flag=False, modes=("clip", "fill", "promise_in_bounds")):
    """The layouts every scatter is tested with."""
    def pair(indices, dn, **kwargs):
        return scatter_pair(name, indices, dn, **kwargs)

    table = {
        "elements, duplicates": pair(DUPLICATES, ELEMENTS)([rand(5, 0), rand(5, 1)]),
        "elements, unique": pair(UNIQUE, ELEMENTS, unique_indices=unique_flag)(
            [rand(5, 0), rand(3, 1)]),
        "a scalar update": pair(np.array([2]), ELEMENTS)([rand(4, 0), rand((), 1)]),
        "rows, duplicates": pair(np.array([[1], [3], [1]]), ROW_UPDATES)(
            [rand((4, 3), 0), rand((3, 3), 1)]),
        "partial rows": pair(np.array([[2], [0]]), ROW_UPDATES)(
            [rand((4, 3), 0), rand((2, 2), 1)]),
        "points": pair(np.array([[0, 1], [2, 3], [0, 1], [1, 1]]), POINT_UPDATES)(
            [rand((3, 4), 0), rand(4, 1)]),
        "overlapping windows": pair(np.array([[0], [1], [3]]), WINDOW_UPDATES)(
            [rand(6, 0), rand((3, 3), 1)]),
        "batching dims": pair(np.array([[[1], [1]], [[0], [3]]]), BATCHED_UPDATES)(
            [rand((2, 4), 0), rand((2, 2), 1)]),
    }
    for mode in modes:
        # A promised-in-bounds scatter drops what is out of bounds, but JAX's transpose
        # reads the updates' cotangent back with a clamping gather.
        table[f"out of bounds, {mode}"] = pair(OUT_OF_BOUNDS, ELEMENTS, mode=mode)(
            [rand(5, 0), rand(4, 1)], finite_differences=mode != "promise_in_bounds")
    return table


SCATTER_ADDS = scatter_cases("scatter_add")
SCATTERS = scatter_cases("scatter", unique_flag=True)


@pytest.mark.parametrize("case", cases("scatter_add", SCATTER_ADDS, quick=[
    "elements, duplicates", "a scalar update", "overlapping windows", "batching dims",
    "out of bounds, fill"]))
def test_scatter_add(case):
    SCATTER_ADDS[case].check()


@pytest.mark.parametrize("case", cases("scatter", SCATTERS, quick=[
    "elements, duplicates", "elements, unique", "a scalar update", "overlapping windows",
    "out of bounds, clip"]))
def test_scatter(case):
    # Finite differences agree too, collisions included: the indices fix the winner.
    SCATTERS[case].check()


def test_scatter_collision_only_the_written_update_gets_a_gradient():
    indices = np.array([[1], [1], [2]])
    weights = np.arange(1.0, 5.0)

    def f(x, u):
        return fl.reduce_sum(fl.mul(fl.scatter(x, indices, u, ELEMENTS), weights), (0,))

    def jf(x, u):
        return jnp.sum(lax.scatter(x, indices, u, ELEMENTS) * weights)

    x, u = np.arange(4.0), np.array([10.0, 20.0, 30.0])
    got = fgrad.grad(f, (0, 1))(x, u)
    assert_trees_same(got, jax.grad(jf, (0, 1))(x, u))
    np.testing.assert_array_equal(got[0], [1.0, 0.0, 0.0, 4.0])
    np.testing.assert_array_equal(got[1], [0.0, 2.0, 3.0])  # XLA on CPU: the last one wins


def test_scatter_with_unique_indices_is_transposed_as_a_scatter():
    def f(x, u):
        return fl.scatter(x, UNIQUE, u, ELEMENTS, unique_indices=True)

    program, _ = trace_to_program(lambda x, u: fgrad.vjp(f, x, u)[1](np.ones(5)),
                                  [rand(5, 0), rand(3, 1)], "make_ir")
    assert "scatter_add" not in str(program)  # the masked form is only for collisions
    got = fgrad.vjp(f, np.zeros(5), np.zeros(3))[1](np.arange(5.0))
    np.testing.assert_array_equal(got[0], [0.0, 1.0, 2.0, 0.0, 0.0])
    np.testing.assert_array_equal(got[1], [3.0, 0.0, 4.0])


def test_transposing_a_colliding_scatter_directly():
    # No JVP rule involved (as in a linear transpose): only the update that was written
    # receives the cotangent. JAX refuses to transpose a scatter without unique indices.
    indices = np.array([[1], [1], [2]])
    program, _ = trace_to_program(lambda x, u: fl.scatter(x, indices, u, ELEMENTS),
                                  [np.zeros(4), np.zeros(3)], "make_ir")
    got = backward_pass(program, [True, True], [None, None], [np.arange(1.0, 5.0)])
    np.testing.assert_array_equal(got[0], [1.0, 0.0, 0.0, 4.0])
    np.testing.assert_array_equal(got[1], [0.0, 2.0, 3.0])


# -- scatter_mul -------------------------------------------------------------------------------


def sequential_scatter_mul(x, indices, updates, dn, mode=None):
    """A reference JAX differentiates even with repeated indices: one update at a time."""
    for k in range(indices.shape[0]):
        x = lax.scatter_mul(x, indices[k:k + 1], updates[k:k + 1], dn, unique_indices=True,
                            mode=mode)
    return x


def mul_against_sequential(indices, dn, args, **kwargs):
    return Case(lambda x, u: fl.scatter_mul(x, indices, u, dn, **kwargs),
                lambda x, u: sequential_scatter_mul(x, indices, u, dn, **kwargs), args)


SCATTER_MULS = {
    "unique, as JAX": scatter_pair("scatter_mul", UNIQUE, ELEMENTS, unique_indices=True)(
        [rand(5, 0), rand(3, 1)]),
    "unique with a zero, as JAX": scatter_pair("scatter_mul", UNIQUE, ELEMENTS,
                                               unique_indices=True)(
        [rand(5, 0), [0.5, 0.0, -2.0]]),
    "unique rows, as JAX": scatter_pair("scatter_mul", np.array([[2], [0]]), ROW_UPDATES,
                                        unique_indices=True)(
        [rand((4, 3), 0), rand((2, 3), 1)]),
    "unique, not promised": Case(
        lambda x, u: fl.scatter_mul(x, UNIQUE, u, ELEMENTS),
        lambda x, u: lax.scatter_mul(x, UNIQUE, u, ELEMENTS, unique_indices=True),
        [rand(5, 0), rand(3, 1)]),
    "overlapping windows": mul_against_sequential(np.array([[0], [1], [3]]), WINDOW_UPDATES,
                                                  [rand(6, 0), rand((3, 3), 1)]),
    "out of bounds dropped": mul_against_sequential(np.array([[1], [7], [1]]), ELEMENTS,
                                                    [rand(5, 0), rand(3, 1)]),
    "out of bounds clipped": mul_against_sequential(np.array([[4], [7], [1]]), ELEMENTS,
                                                    [rand(5, 0), rand(3, 1)], mode="clip"),
}
# DUPLICATES sends updates 0, 1 and 4 to element 0.
for _label, _updates in [("no zeros", rand(5, 1)), ("one zero", [0.0, 2.0, 3.0, 1.5, -2.0]),
                         ("two zeros together", [0.0, 0.0, 3.0, 1.5, -2.0]),
                         ("three zeros together", [0.0, 0.0, 3.0, 1.5, 0.0])]:
    SCATTER_MULS[f"duplicates, {_label}"] = mul_against_sequential(
        DUPLICATES, ELEMENTS, [rand(5, 0), _updates])


@pytest.mark.parametrize("case", cases("scatter_mul", SCATTER_MULS, quick=[
    "unique with a zero, as JAX", "unique, not promised", "duplicates, one zero",
    "duplicates, two zeros together", "out of bounds clipped"]))
def test_scatter_mul(case):
    SCATTER_MULS[case].check()


def test_scatter_mul_third_derivative_with_two_zeros_together():
    # out[0] = x0 * u0 * u1 * u4: its mixed third derivative in (u1, u0, x0) is u4, even at
    # u0 = u1 = 0, which a rule dividing by the updates or dropping the zeros would miss.
    def f(x, u):
        return fl.reduce_sum(fl.scatter_mul(x, DUPLICATES, u, ELEMENTS), (0,))

    x, u = rand(5, 0), np.array([0.0, 0.0, 3.0, 1.5, -2.0])
    e = np.eye(5)

    def d_u1(x, u):
        return fgrad.jvp(f, (x, u), (np.zeros(5), e[1]))[1]

    def d_u0_u1(x, u):
        return fgrad.jvp(d_u1, (x, u), (np.zeros(5), e[0]))[1]

    assert float(fgrad.grad(d_u0_u1)(x, u)[0]) == -2.0


# -- scatter_min, scatter_max ------------------------------------------------------------------

# Clipped out-of-bounds updates are left to test_scatter_extremum_clipped_out_of_bounds.
EXTREMA = {f"{name} {label}": case for name in ["scatter_min", "scatter_max"]
           for label, case in scatter_cases(name, modes=("fill", "promise_in_bounds")).items()}


@pytest.mark.parametrize("case", cases("extremum", EXTREMA, quick=[
    "scatter_max elements, duplicates", "scatter_min a scalar update",
    "scatter_max rows, duplicates", "scatter_min out of bounds, fill"]))
def test_scatter_extremum(case):
    EXTREMA[case].check()


TIE_X = np.array([1.0, 2.0, 5.0, 7.0])
TIE_INDICES = np.array([[0], [0], [1], [2]])


@pytest.mark.parametrize("name, updates, x_grad, updates_grad", [
    # element 0: the operand and two updates tie, so each gets a third
    ("scatter_max", [1.0, 1.0, 3.0, 4.0], [1 / 3, 0.0, 1.0, 1.0], [1 / 3, 1 / 3, 1.0, 0.0]),
    ("scatter_min", [1.0, 1.0, 3.0, 4.0], [1 / 3, 1.0, 0.0, 1.0], [1 / 3, 1 / 3, 0.0, 1.0]),
    # two updates tie above the operand: half each; an update ties with the operand: half
    ("scatter_max", [4.0, 4.0, 1.0, 5.0], [0.0, 1.0, 0.5, 1.0], [0.5, 0.5, 0.0, 0.5]),
    ("scatter_min", [-4.0, 0.0, 2.0, 6.0], [0.0, 0.5, 1.0, 1.0], [1.0, 0.0, 0.5, 0.0]),
])
def test_scatter_extremum_ties_share_the_gradient(name, updates, x_grad, updates_grad):
    def f(x, u):
        return getattr(fl, name)(x, TIE_INDICES, u, ELEMENTS)

    def jf(x, u):
        return getattr(lax, name)(x, TIE_INDICES, u, ELEMENTS)

    updates = np.array(updates)
    got = fgrad.grad(lambda x, u: fl.reduce_sum(f(x, u), (0,)), (0, 1))(TIE_X, updates)
    assert_trees_same(got, jax.grad(lambda x, u: jnp.sum(jf(x, u)), (0, 1))(TIE_X, updates))
    np.testing.assert_allclose(got[0], x_grad, rtol=1e-15)
    np.testing.assert_allclose(got[1], updates_grad, rtol=1e-15)
    check_first_order(f, jf, (TIE_X, updates))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["scatter_min", "scatter_max"])
def test_scatter_extremum_ties_second_order(name):
    check_second_order(lambda x, u: getattr(fl, name)(x, TIE_INDICES, u, ELEMENTS),
                       lambda x, u: getattr(lax, name)(x, TIE_INDICES, u, ELEMENTS),
                       (TIE_X, np.array([1.0, 1.0, 3.0, 4.0])))


@pytest.mark.parametrize("name", ["scatter_min", "scatter_max"])
def test_scatter_extremum_with_nans_as_jax(name):
    # A NaN result that an update reached has tangent 0; an element no update reached keeps
    # its own tangent, NaN or not.
    indices = np.array([[0], [0], [2]])

    def f(x, u):
        return getattr(fl, name)(x, indices, u, ELEMENTS)

    def jf(x, u):
        return getattr(lax, name)(x, indices, u, ELEMENTS)

    x = np.array([np.nan, 2.0, 5.0, np.nan])
    tangents = (np.array([1.0, 10.0, 100.0, 1000.0]), np.array([0.1, 0.01, 0.001]))
    for u in [np.array([1.0, 3.0, 4.0]), np.array([np.nan, 3.0, np.nan])]:
        got, want = fgrad.jvp(f, (x, u), tangents), jax.jvp(jf, (x, u), tangents)
        np.testing.assert_array_equal(got[0], want[0])
        # JAX adds and subtracts the operand's tangent: equal up to rounding
        np.testing.assert_allclose(got[1], want[1], rtol=1e-10)


@pytest.mark.parametrize("name", ["scatter_min", "scatter_max"])
def test_scatter_extremum_clipped_out_of_bounds(name):
    # JAX returns NaN here (its tie counts drop the clipped updates its scatter applies);
    # fgrad counts with the scatter's own mode, and finite differences agree.
    indices = np.array([[0], [7], [1], [2]])

    def f(x, u):
        return getattr(fl, name)(x, indices, u, ELEMENTS, mode="clip")

    winner = 9.0 if name == "scatter_max" else -9.0
    x, u = np.array([1.0, 2.0, 5.0, 7.0]), np.array([0.5, winner, -3.0, 3.0])
    jac_x, jac_u = fgrad.jacfwd(f, (0, 1))(x, u)
    assert np.all(np.isfinite(jac_x)) and np.all(np.isfinite(jac_u))
    assert jac_u[3, 1] == 1.0  # the clipped update wins element 3
    check_grads(f, (x, u), order=2)


# -- JAX's tricky cases, through fgrad.numpy ---------------------------------------------------


def test_gather_with_duplicate_indices_accumulates():
    got = fgrad.grad(lambda x: fnp.sum(x[np.array([0, 0, 2])]))(fnp.ones(3))
    np.testing.assert_array_equal(got, [2.0, 0.0, 1.0])


def test_add_at_duplicate_indices():
    got = fgrad.grad(lambda x: fnp.sum(fnp.zeros(3).at[np.array([0, 0, 1])].add(x)))(
        fnp.ones(3))
    np.testing.assert_array_equal(got, [1.0, 1.0, 1.0])


def test_set_gradients():
    got = fgrad.grad(lambda x: fnp.sum(x.at[1].set(5.0)))(fnp.ones(3))
    np.testing.assert_array_equal(got, [1.0, 0.0, 1.0])
    got = fgrad.grad(lambda v: fnp.sum(fnp.ones(3).at[1].set(v)))(2.0)
    assert float(got) == 1.0
    assert aval_of(got) == aval_of(jax.grad(lambda v: jnp.sum(jnp.ones(3).at[1].set(v)))(2.0))


def numpy_case(index, *args):
    """`index(xnp, *arrays)` with fgrad.numpy against jax.numpy."""
    def using(xnp):
        return lambda *a: index(xnp, *(xnp.asarray(x) for x in a))
    return Case(using(fnp), using(jnp), args)


X = rand((4, 5), 7)
V = rand((3, 5), 8)
REPEATED = np.array([3, 0, 3])

NUMPY_INDEXING = {
    "x[i]": numpy_case(lambda xnp, x: x[2], X),
    "x[-1]": numpy_case(lambda xnp, x: x[-1], X),
    "x[i, j]": numpy_case(lambda xnp, x: x[1, -2], X),
    "x[1:3]": numpy_case(lambda xnp, x: x[1:3], X),
    "x[::2, 1::2]": numpy_case(lambda xnp, x: x[::2, 1::2], X),
    "x[::-1]": numpy_case(lambda xnp, x: x[::-1], X),
    "x[index array]": numpy_case(lambda xnp, x: x[REPEATED], X),
    "x[:, index array]": numpy_case(lambda xnp, x: x[:, REPEATED], X),
    "x[index array, 1:]": numpy_case(lambda xnp, x: x[REPEATED, 1:], X),
    "x[2-d index array]": numpy_case(lambda xnp, x: x[np.array([[0, 1], [1, 3]])], X),
    "x[array, array]": numpy_case(lambda xnp, x: x[REPEATED, np.array([4, 0, 4])], X),
    "x[None, 1]": numpy_case(lambda xnp, x: x[None, 1], X),
    "at[i].set": numpy_case(lambda xnp, x, v: x.at[1].set(v[0]), X, V),
    "at[index array].set, repeated": numpy_case(lambda xnp, x, v: x.at[REPEATED].set(v), X, V),
    "at[index array].add, repeated": numpy_case(lambda xnp, x, v: x.at[REPEATED].add(v), X, V),
    "at[:, j].add": numpy_case(lambda xnp, x, v: x.at[:, 2].add(v[0, :4]), X, V),
    "at[1:3].set a scalar": numpy_case(lambda xnp, x, v: x.at[1:3].set(v[0, 0]), X, V),
    "at[index array].min, repeated": numpy_case(lambda xnp, x, v: x.at[REPEATED].min(v), X, V),
    "at[index array].max, repeated": numpy_case(lambda xnp, x, v: x.at[REPEATED].max(v), X, V),
    "at[i, j].max": numpy_case(lambda xnp, x, v: x.at[2, 3].max(v[1, 1]), X, V),
    # jax.numpy promises nothing about uniqueness, so JAX differentiates the updates only
    # when told the indices are unique; fgrad needs no promise.
    "at[index array].multiply, unique": Case(
        lambda x, v: fnp.asarray(x).at[np.array([3, 0, 1])].multiply(v),
        lambda x, v: jnp.asarray(x).at[np.array([3, 0, 1])].multiply(v, unique_indices=True),
        [X, V]),
}


@pytest.mark.parametrize("case", cases("numpy", NUMPY_INDEXING, quick=[
    "x[::2, 1::2]", "x[array, array]", "at[index array].set, repeated",
    "at[index array].add, repeated", "at[index array].max, repeated"]))
def test_numpy_indexing(case):
    NUMPY_INDEXING[case].check()


def test_numpy_multiply_at_repeated_indices():
    def reference(x, v):
        for k, i in enumerate(REPEATED):
            x = x.at[i].multiply(v[k])
        return x

    Case(lambda x, v: fnp.asarray(x).at[REPEATED].multiply(v), reference, [X, V]).check()


def test_float32_types_follow_jax():
    x = np.arange(5.0, dtype=np.float32)
    u = np.float32(2.0)  # a strongly typed scalar update

    def f(x, u):
        return fl.scatter(fl.gather(x, DUPLICATES, TAKE, (1,)), np.array([1]), u, ELEMENTS)

    def jf(x, u):
        return lax.scatter(lax.gather(x, DUPLICATES, TAKE, (1,)), np.array([1]), u, ELEMENTS)

    tangents = (np.ones(5, np.float32), np.float32(3.0))
    for g, w in zip(fgrad.jvp(f, (x, u), tangents), jax.jvp(jf, (x, u), tangents)):
        assert aval_of(g) == aval_of(w)
        np.testing.assert_array_equal(g, w)
    ct = np.arange(5.0, dtype=np.float32)
    for g, w in zip(fgrad.vjp(f, x, u)[1](ct), jax.vjp(jf, x, u)[1](ct)):
        assert aval_of(g) == aval_of(w)
        np.testing.assert_array_equal(g, w)


# -- second order against JAX --------------------------------------------------------------

QUICK_HESSIANS = ["slicing slice strided, stops short of the limit",
                  "slicing dynamic_update_slice clamped", "gather overlapping windows",
                  "scatter_add elements, duplicates", "scatter elements, duplicates",
                  "scatter_mul duplicates, one zero", "extremum scatter_max elements, duplicates"]


@pytest.mark.parametrize("case", [
    pytest.param(k, marks=() if k in QUICK_HESSIANS else pytest.mark.slow) for k in ALL_CASES])
def test_hessian_against_jax(case):
    c = ALL_CASES[case]
    check_second_order(c.f, c.jf, c.args)
