"""x[idx] and x.at[idx] on fgrad's traced values against jax.numpy: basic, advanced (NumPy's
placement rules), traced indices, out-of-bounds behaviour, and the primitives each route
records."""

import os
import sys

import jax.numpy as jnp
import numpy as np
import pytest

import fgrad.numpy as fnp
from fgrad.core import eval_program, trace_to_program
from test_numpy import check, operand, traced

HERE = os.path.basename(__file__)
rng = np.random.default_rng(1)
A = np.array

# Indices into an array of shape (3, 4, 5).
INDICES = {
    "int": 1, "negative_int": -1, "numpy_int": np.int64(2), "slice": slice(1, 3),
    "step": slice(None, None, 2), "reverse": slice(None, None, -1),
    "negative_step": (slice(None), slice(-1, 0, -2)),
    "mixed": (1, slice(1, -1), slice(None, None, -2)),
    "ellipsis": (Ellipsis, 1), "ellipsis_middle": (0, Ellipsis, slice(1, 3)),
    "none": None, "none_middle": (slice(None), None, 2), "none_end": (Ellipsis, None),
    "all_ints": (1, 2, 3), "empty_slice": slice(3, 1), "long_slice": slice(1, 100),
    "out_of_bounds_int": 5, "very_negative_int": -7, "zero_d_numpy": A(2),
    "array": A([0, 2]), "array_2d": A([[0, 1], [2, 0]]), "array_negative": A([-1, 1, -3]),
    "array_second": (slice(None), A([1, -1])), "arrays_adjacent": (A([0, 1]), A([1, 2])),
    "arrays_separated": (A([0, 1]), slice(None), A([1, 2])),
    "arrays_broadcast": (A([0, 2])[:, None], A([1, 2, 3])),
    "int_then_array_separated": (1, slice(None), A([0, 2])),
    "slice_int_array_adjacent": (slice(None), 1, A([0, 4])),
    "arrays_around_none": (A([0, 1]), None, A([0, 1])),
    "strided_and_array": (slice(None, None, -1), A([0, 2])),
    "array_and_slice": (A([0, 1]), slice(1, 3)), "array_last": (Ellipsis, A([4, -1])),
    "array_out_of_bounds": A([7, -9]), "all_arrays": (A([0, 2]), A([1, 3]), A([4, 0])),
    "array_strided_none": (A([2, 0]), slice(1, None, 2), None, slice(None, None, -2)),
    "bool_mask": A([True, False, True]), "bool_mask_2d": (slice(None), A([True, False] * 2)),
    "bool_mask_full": np.arange(60).reshape(3, 4, 5) % 7 == 0, "empty_array": A([], np.int32),
}


@pytest.mark.parametrize("name", INDICES)
def test_getitem(name):
    index = INDICES[name]
    x = operand("f32[3,4,5]")
    check(lambda x: x[index], lambda x: jnp.asarray(x)[index], x, eager=False)


@pytest.mark.parametrize("name", ["int", "slice", "array", "arrays_separated", "none_middle",
                                  "array_strided_none"])
def test_getitem_of_integer_and_weak_arrays(name):
    index = INDICES[name]
    check(lambda x: x[index], lambda x: jnp.asarray(x)[index], operand("i32[3,4,5]"),
          eager=False)
    weak = jnp.full((3, 4, 5), 2.0)  # a weak jax array
    assert weak.weak_type
    check(lambda x: x[index], lambda x: x[index], weak, eager=False)


@pytest.mark.parametrize("i", [np.int32(2), np.int32(-1), np.int32(7), np.int32(-9),
                               np.int64(0)])
def test_traced_integer_scalars_use_dynamic_slice(i):
    x = operand("f32[3,4,5]")
    for f in [lambda x, i: x[i], lambda x, i: x[1:, i], lambda x, i: x[i, ::-1, None, i],
              lambda x, i: x[..., i]]:
        check(f, lambda x, i: f(jnp.asarray(x), jnp.asarray(i)), x, i, eager=False)
    program, _, _ = traced(lambda x, i: x[i, 1:3], [x, i])
    names = [e.primitive.name for e in program.eqns]
    assert "dynamic_slice" in names and "gather" not in names


def test_traced_integer_arrays_use_gather():
    x, i = operand("f32[3,4,5]"), np.array([[2, -1], [0, 1]], np.int32)
    for f in [lambda x, i: x[i], lambda x, i: x[:, i], lambda x, i: x[i, 1:, i],
              lambda x, i: x[0, :, i]]:
        check(f, lambda x, i: f(jnp.asarray(x), jnp.asarray(i)), x, i, eager=False)
    program, _, _ = traced(lambda x, i: x[i], [x, i])
    assert "gather" in [e.primitive.name for e in program.eqns]


def test_static_indexing_records_only_slices():
    program, _, _ = traced(lambda x: x[None, 1:, ::-2, 3], [operand("f32[3,4,5]")])
    assert [e.primitive.name for e in program.eqns] == ["slice", "rev", "reshape"]
    program, _, _ = traced(lambda x: x[...], [operand("f32[3,4,5]")])
    assert program.eqns == ()


UPDATES = {
    "int": (1, 2.5), "slice": (slice(1, 3), A(7.0, np.float32)),
    "reverse_step": ((slice(None), slice(None, None, -2)), "f32[3,2,5]"),
    "broadcast": ((slice(None), 1), "f32[5]"), "ellipsis": ((Ellipsis, 0), 1.0),
    "array": (A([0, 2]), "f32[2,4,5]"), "array_negative": (A([-1, 0]), 3.0),
    "repeated": (A([0, 0, 1]), "f32[3,1,1]"), "arrays_separated": ((A([0, 1]), slice(None),
                                                                    A([1, 2])), "f32[2,4]"),
    "arrays_broadcast": ((A([0, 2])[:, None], A([1, 2, 3])), "f32[2,3,5]"),
    "none": ((slice(None), None, 2), "f32[3,1,5]"), "out_of_bounds": (A([1, 5, -7]), 9.0),
    "static_out_of_bounds": (7, 1.0), "whole": (slice(None), "f32[4,5]"),
    "strided_and_array": ((slice(None, None, -1), A([0, 2])), "f32[3,2,5]"),
    "bool_mask": (A([True, False, True]), 4.0), "empty": (slice(2, 2), 1.0),
}
HOWS = ["set", "add", "multiply", "min", "max"]
# Every update on the indices whose routes differ; set and add on the rest.
UPDATE_CASES = [(name, how) for name in UPDATES for how in (
    HOWS if name in ("int", "array", "repeated", "arrays_separated", "out_of_bounds", "whole")
    else ["set", "add"])]


@pytest.mark.parametrize("name,how", UPDATE_CASES, ids=[f"{n}-{h}" for n, h in UPDATE_CASES])
def test_at_updates(name, how):
    index, values = UPDATES[name]
    x = operand("f32[3,4,5]")
    values = operand(values)

    def f(x, *v):
        return getattr(x.at[index], how)(v[0] if v else values)

    def jax_f(x, *v):
        return getattr(jnp.asarray(x).at[index], how)(v[0] if v else values)

    args = (x, values) if isinstance(values, np.ndarray) and values.ndim else (x,)
    check(f, jax_f, *args, eager=False)


@pytest.mark.parametrize("how", HOWS)
def test_at_updates_with_traced_indices_and_dtypes(how):
    x = operand("i32[4,3]")
    i = np.array([3, -1, 0], np.int32)
    for f in [lambda x, i: getattr(x.at[i], how)(2),
              lambda x, i: getattr(x.at[i[0], 1:], how)(np.array([5, 6], np.int32)),
              lambda x, i: getattr(x.at[:, i[1]], how)(x[0, 0])]:
        check(f, lambda x, i: f(jnp.asarray(x), jnp.asarray(i)), x, i, eager=False)
    weak = jnp.full((4,), 2.0)
    check(lambda w: getattr(w.at[1], how)(3.0), lambda w: getattr(w.at[1], how)(3.0), weak,
          eager=False)


def test_at_get_and_modes():
    x = operand("f32[3,4]")
    for f in [lambda x: x.at[1].get(), lambda x: x.at[A([0, 5])].get(mode="fill"),
              lambda x: x.at[A([0, 5])].get(mode="fill", fill_value=-1.0),
              lambda x: x.at[A([0, 5]), 1].get(mode="clip"),
              lambda x: x.at[A([0, 5])].set(1.0, mode="clip"),
              lambda x: x.at[A([0, 5])].add(1.0, mode="drop")]:
        check(f, lambda x: f(jnp.asarray(x)), x, eager=False)
    check(lambda x: x.at[1].mul(3.0), lambda x: jnp.asarray(x).at[1].multiply(3.0), x,
          eager=False)


@pytest.mark.filterwarnings("ignore:scatter inputs have incompatible types")
def test_at_updates_combine_in_the_promoted_type():
    # jax.numpy computes 3 * 0.5 = 1.5 in float32 and then truncates to 1, rather than
    # truncating 0.5 to 0 first; so do we.
    x = np.array([3, 5, 7], np.int32)
    for f in [lambda x: x.at[0].multiply(0.5), lambda x: x.at[1:].add(1.7),
              lambda x: x.at[2].set(2.9)]:
        check(f, lambda x: f(jnp.asarray(x)), x, eager=False)


def test_seed_example_at_set():
    # Seed 003 example 4: y = zeros(3).at[:2].set(x); y = y.at[2].set(x[0] * y[0]); y[0]
    def f(x):
        y = fnp.zeros(3).at[:2].set(x)
        y = y.at[2].set(x[0] * y[0])
        return y

    check(f, lambda x: jnp.zeros(3).at[:2].set(x).at[2].set(x[0] * x[0]),
          np.array([1.5, -2.0], np.float32), eager=False)


def test_index_errors():
    x = operand("f32[3,4]")

    def bad(index, error, match):
        line = sys._getframe(1).f_lineno
        with pytest.raises(error, match=match) as excinfo:
            traced(lambda x: x[index], [x])
        assert f"{HERE}:" in str(excinfo.value)
        return line

    bad((0, 1, 2), IndexError, "too many indices")
    bad((Ellipsis, 0, Ellipsis), IndexError, "single ellipsis")
    bad([0, 1], TypeError, "list is not a valid index")
    bad(1.5, TypeError, "not a valid index")
    bad(np.array([0.5]), TypeError, "must hold integers or booleans")
    bad(np.array([True, False]), IndexError, "does not match")
    bad(True, TypeError, "boolean scalar")
    with pytest.raises(TypeError, match="boolean mask must be concrete"):
        traced(lambda x: x[x > 0], [x])
    with pytest.raises(ValueError, match=r"at\[\]\.set: an array of shape \(3,\) cannot be "
                       r"broadcast to shape \(2, 4\)"):
        traced(lambda x: x.at[:2].set(np.ones(3, np.float32)), [x])


def test_define_by_run_masks():
    # With concrete inputs (outside jit), a traced boolean mask has a value, so it can index.
    x = operand("f32[3,4]")
    program, _ = trace_to_program(lambda x: x[x > 0].sum(), [x], "make_ir", concrete=True)
    (out,) = eval_program(program, x)
    np.testing.assert_allclose(out, x[x > 0].sum(), rtol=1e-6)
