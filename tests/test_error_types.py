"""fgrad raises the exception types JAX raises, for every error the test suite provokes.

Code written against JAX catches what JAX raises (JAX's own tutorial wraps a shape mismatch
in `except TypeError`), so each fgrad error must be an instance of every built-in exception
class JAX's error is. fgrad's ShapeDtypeError is both a TypeError and a ValueError, because
JAX raises either for the same kind of mistake.

The cases below were collected by running the test files that provoke errors with every
public fgrad.numpy / fgrad.numpy.linalg / fgrad.lax function wrapped to record the calls that
raised (arguments' shapes, dtypes and small integer values), deduplicated. Each case is one
call written once, `lambda m: m.f(...)`, and made through fgrad's module and through JAX's.
Where JAX accepts what fgrad refuses, or fails with an internal error instead of a user
error, the case is listed apart with the reason.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import fgrad
import fgrad.lax as fl
import fgrad.numpy as fnp
import fgrad.numpy.linalg as fla

MODULES = {"numpy": (fnp, jnp), "linalg": (fla, jnp.linalg), "lax": (fl, lax)}
IGNORED_BASES = (BaseException, Exception, object)


def N(value, dtype):
    """A NumPy array: zeros of a shape given as a tuple, or the values given as a list."""
    return np.zeros(value, dtype) if isinstance(value, tuple) else np.asarray(value, dtype)


def J(value, dtype, weak=False):
    """A JAX array like N; weak=True gives a weakly typed one (as from a Python scalar)."""
    if weak:
        return (
            jnp.full(value, np.zeros((), dtype).item())
            if isinstance(value, tuple)
            else jnp.asarray(np.asarray(value, dtype).item())
        )
    return jnp.zeros(value, dtype) if isinstance(value, tuple) else jnp.asarray(value, dtype)


def raised(call, module):
    try:
        call(module)
    except Exception as e:  # the point: whatever it raises
        return e
    return None


def builtin_bases(error: BaseException) -> list[type]:
    return [c for c in type(error).__mro__ if c.__module__ == "builtins" and c not in IGNORED_BASES]


def check_same_type(namespace, call):
    ours, theirs = MODULES[namespace]
    error = raised(call, ours)
    assert error is not None, "fgrad accepted the call"
    jax_error = raised(call, theirs)
    assert jax_error is not None, "JAX accepted the call: list the case under JAX_ACCEPTS"
    missing = [c.__name__ for c in builtin_bases(jax_error) if not isinstance(error, c)]
    assert not missing, (
        f"fgrad raised {type(error).__name__} ({error}); JAX raised "
        f"{type(jax_error).__name__}, so fgrad's error must also be a {', '.join(missing)}"
    )


# -- errors both raise -----------------------------------------------------------------------

CASES = [
    ("numpy", lambda m: m.negative(N([False, True, False, True], "bool"))),
    ("numpy", lambda m: m.sign(N([False, True, True, False], "bool"))),
    (
        "numpy",
        lambda m: m.subtract(
            N([[True, False, True], [False, True, False]], "bool"), N([True, False, True], "bool")
        ),
    ),
    ("numpy", lambda m: m.power(7, -2)),
    ("numpy", lambda m: m.sum(N((2, 3), "float32"), axis=(0, 0))),
    ("numpy", lambda m: m.mean(N((2, 3), "float32"), axis=2)),
    ("numpy", lambda m: m.max(N((0, 3), "float32"), axis=0)),
    ("numpy", lambda m: m.argmax(N((0,), "float32"))),
    ("numpy", lambda m: m.reshape(N((2, 3), "float32"), (4, -1))),
    ("numpy", lambda m: m.split(N((2, 3), "float32"), 2, axis=1)),
    ("numpy", lambda m: m.squeeze(N((2, 3), "float32"), 0)),
    ("numpy", lambda m: m.concatenate([N((2, 3), "float32"), N((3, 2), "float32")])),
    ("numpy", lambda m: m.stack([N((2, 3), "float32"), N((3,), "float32")])),
    ("numpy", lambda m: m.broadcast_to(N((2, 3), "float32"), (3,))),
    ("numpy", lambda m: m.transpose(N((2, 3), "float32"), (0, 0))),
    ("numpy", lambda m: m.einsum("ijk->", N((3, 3), "float64"))),
    ("numpy", lambda m: m.einsum("ij,jk", N((2, 3), "float64"), N((4, 5), "float64"))),
    ("numpy", lambda m: m.einsum("ij,jk", N((2, 3), "float64"))),
    ("numpy", lambda m: m.dot(N((2, 3), "float64"), N((2, 3), "float64"))),
    ("numpy", lambda m: m.matmul(2.0, N((3,), "float64"))),
    ("numpy", lambda m: m.matmul(N((2, 2, 3), "float64"), N((3, 3, 4), "float64"))),
    ("linalg", lambda m: m.norm(N((2, 2, 2), "float64"), ord=1)),
    ("numpy", lambda m: m.add(N((2, 3), "float32"), N((4,), "float32"))),
    ("numpy", lambda m: m.add([1, 2], N((2,), "float64"))),
    ("numpy", lambda m: m.sum([1.0, 2.0])),
    ("numpy", lambda m: m.subtract(N([True, True], "bool"), N([True, True], "bool"))),
    ("lax", lambda m: m.slice(J((4, 6), "float32"), (0, -1), (4, 6))),
    ("lax", lambda m: m.slice(J((4, 6), "float32"), (0, 0), (5, 6))),
    ("lax", lambda m: m.slice(J((4, 6), "float32"), (3, 0), (2, 6))),
    ("lax", lambda m: m.slice(J((4, 6), "float32"), (0,), (4,))),
    ("lax", lambda m: m.slice(J((4, 6), "float32"), (0, 0), (4, 6), (1,))),
    ("lax", lambda m: m.slice(J((4, 6), "float32"), (0, 1.5), (4, 6))),
    ("lax", lambda m: m.dynamic_slice(J((3, 4), "float32"), (0, 0), (2, 5))),
    ("lax", lambda m: m.dynamic_slice(J((3, 4), "float32"), (0, 0), (-1, 2))),
    ("lax", lambda m: m.dynamic_slice(J((3, 4), "float32"), (0, 0), (2,))),
    ("lax", lambda m: m.dynamic_slice(J((3, 4), "float32"), (0,), (2, 2))),
    ("lax", lambda m: m.dynamic_slice(J((3, 4), "float32"), (0, 1.0), (2, 2))),
    ("lax", lambda m: m.dynamic_slice(J((3, 4), "float32"), (J(0, "int16"), J(0, "int8")), (2, 2))),
    ("lax", lambda m: m.dynamic_update_slice(J((3, 4), "float32"), J((2,), "float32"), (0, 0))),
    ("lax", lambda m: m.dynamic_update_slice(J((3, 4), "float32"), J((4, 1), "float32"), (0, 0))),
    ("lax", lambda m: m.dynamic_update_slice(J((3, 4), "float32"), J([[1]], "int32"), (0, 0))),
    ("lax", lambda m: m.dynamic_update_slice(J((3, 4), "float32"), J((1, 1), "float32"), (0,))),
    (
        "lax",
        lambda m: m.dynamic_update_slice(
            J((3, 4), "float32"), J((3, 4), "float32"), (J(0, "int8"), 0.0)
        ),
    ),
    (
        "lax",
        lambda m: m.dynamic_update_slice(
            J((3, 4), "float32"), J((3, 4), "float32"), (J(0, "int8"), J(0, "int32"))
        ),
    ),
    (
        "lax",
        lambda m: m.gather(
            J((3, 4), "float32"),
            J([[1]], "int32"),
            lax.GatherDimensionNumbers(
                offset_dims=(1,),
                collapsed_slice_dims=(0,),
                start_index_map=(0,),
                operand_batching_dims=(),
                start_indices_batching_dims=(),
            ),
            (1,),
        ),
    ),
    (
        "lax",
        lambda m: m.gather(
            J((3, 4), "float32"),
            J([[1]], "int32"),
            lax.GatherDimensionNumbers(
                offset_dims=(1,),
                collapsed_slice_dims=(0,),
                start_index_map=(0,),
                operand_batching_dims=(),
                start_indices_batching_dims=(),
            ),
            (1, 5),
        ),
    ),
    (
        "lax",
        lambda m: m.gather(
            J((3, 4), "float32"),
            J([[1]], "int32"),
            lax.GatherDimensionNumbers(
                offset_dims=(1,),
                collapsed_slice_dims=(0,),
                start_index_map=(0,),
                operand_batching_dims=(),
                start_indices_batching_dims=(),
            ),
            (1, -1),
        ),
    ),
    (
        "lax",
        lambda m: m.gather(
            J((3, 4), "float32"),
            J([], "int32"),
            lax.GatherDimensionNumbers(
                offset_dims=(1,),
                collapsed_slice_dims=(0,),
                start_index_map=(0,),
                operand_batching_dims=(),
                start_indices_batching_dims=(),
            ),
            (1, -1),
        ),
    ),
    (
        "lax",
        lambda m: m.gather(
            J((3, 4), "float32"),
            J([[1]], "int32"),
            lax.GatherDimensionNumbers(
                offset_dims=(1,),
                collapsed_slice_dims=(0,),
                start_index_map=(0,),
                operand_batching_dims=(),
                start_indices_batching_dims=(),
            ),
            (2, 4),
        ),
    ),
    (
        "lax",
        lambda m: m.gather(
            J((3, 4), "float32"),
            J([[1, 2]], "int32"),
            lax.GatherDimensionNumbers(
                offset_dims=(1,),
                collapsed_slice_dims=(0,),
                start_index_map=(0,),
                operand_batching_dims=(),
                start_indices_batching_dims=(),
            ),
            (1, 4),
        ),
    ),
    (
        "lax",
        lambda m: m.gather(
            J((3, 4), "float32"),
            J([[1]], "int32"),
            lax.GatherDimensionNumbers(
                offset_dims=(1,),
                collapsed_slice_dims=(0,),
                start_index_map=(5,),
                operand_batching_dims=(),
                start_indices_batching_dims=(),
            ),
            (1, 4),
        ),
    ),
    (
        "lax",
        lambda m: m.gather(
            J((3, 4), "float32"),
            J([[1, 2]], "int32"),
            lax.GatherDimensionNumbers(
                offset_dims=(),
                collapsed_slice_dims=(0, 1),
                start_index_map=(1, 1),
                operand_batching_dims=(),
                start_indices_batching_dims=(),
            ),
            (1, 1),
        ),
    ),
    (
        "lax",
        lambda m: m.gather(
            J((3, 4), "float32"),
            J([[1, 2]], "int32"),
            lax.GatherDimensionNumbers(
                offset_dims=(1, 0),
                collapsed_slice_dims=(),
                start_index_map=(0, 1),
                operand_batching_dims=(),
                start_indices_batching_dims=(),
            ),
            (1, 1),
        ),
    ),
    (
        "lax",
        lambda m: m.gather(
            J((3, 4), "float32"),
            J([[1]], "int32"),
            lax.GatherDimensionNumbers(
                offset_dims=(2,),
                collapsed_slice_dims=(0,),
                start_index_map=(0,),
                operand_batching_dims=(),
                start_indices_batching_dims=(),
            ),
            (1, 4),
        ),
    ),
    (
        "lax",
        lambda m: m.gather(
            J((3, 4), "float32"),
            J([[1]], "int32"),
            lax.GatherDimensionNumbers(
                offset_dims=(),
                collapsed_slice_dims=(0,),
                start_index_map=(0,),
                operand_batching_dims=(),
                start_indices_batching_dims=(),
            ),
            (1, 4),
        ),
    ),
    (
        "lax",
        lambda m: m.gather(
            J((3, 4), "float32"),
            J([[1]], "int32"),
            lax.GatherDimensionNumbers(
                offset_dims=(1, 2),
                collapsed_slice_dims=(0,),
                start_index_map=(0,),
                operand_batching_dims=(),
                start_indices_batching_dims=(),
            ),
            (1, 4),
        ),
    ),
    (
        "lax",
        lambda m: m.gather(
            J((3, 4), "float32"),
            J((1, 1), "float32"),
            lax.GatherDimensionNumbers(
                offset_dims=(1,),
                collapsed_slice_dims=(0,),
                start_index_map=(0,),
                operand_batching_dims=(),
                start_indices_batching_dims=(),
            ),
            (1, 4),
        ),
    ),
    (
        "lax",
        lambda m: m.gather(
            J((3, 4), "float32"),
            J(1, "int32"),
            lax.GatherDimensionNumbers(
                offset_dims=(1,),
                collapsed_slice_dims=(0,),
                start_index_map=(0,),
                operand_batching_dims=(),
                start_indices_batching_dims=(),
            ),
            (1, 4),
        ),
    ),
    (
        "lax",
        lambda m: m.gather(
            J((3, 4), "float32"),
            J([[1]], "int32"),
            lax.GatherDimensionNumbers(
                offset_dims=(1,),
                collapsed_slice_dims=(0,),
                start_index_map=(0,),
                operand_batching_dims=(),
                start_indices_batching_dims=(),
            ),
            (1, 4),
            mode="wrap",
        ),
    ),
    (
        "lax",
        lambda m: m.gather(
            J((3, 4), "float32"),
            J([[1]], "int32"),
            lax.GatherDimensionNumbers(
                offset_dims=1,
                collapsed_slice_dims=(0,),
                start_index_map=(0,),
                operand_batching_dims=(),
                start_indices_batching_dims=(),
            ),
            (1, 4),
        ),
    ),
    (
        "lax",
        lambda m: m.gather(
            J((3, 4), "float32"),
            J([[1]], "int32"),
            lax.GatherDimensionNumbers(
                offset_dims=(1,),
                collapsed_slice_dims=(0,),
                start_index_map=(0,),
                operand_batching_dims=(),
                start_indices_batching_dims=(),
            ),
            (1, 4),
            mode="fill",
            fill_value=[1, 2],
        ),
    ),
    (
        "lax",
        lambda m: m.gather(
            J((3, 5, 2), "float32"),
            J([[[0], [0]], [[0], [0]], [[0], [0]]], "int32"),
            lax.GatherDimensionNumbers(
                offset_dims=(2,),
                collapsed_slice_dims=(1,),
                start_index_map=(1,),
                operand_batching_dims=(0,),
                start_indices_batching_dims=(0,),
            ),
            (2, 1, 2),
        ),
    ),
    (
        "lax",
        lambda m: m.gather(
            J((2, 5, 2), "float32"),
            J([[[0], [0]], [[0], [0]], [[0], [0]]], "int32"),
            lax.GatherDimensionNumbers(
                offset_dims=(2,),
                collapsed_slice_dims=(1,),
                start_index_map=(1,),
                operand_batching_dims=(0,),
                start_indices_batching_dims=(0,),
            ),
            (1, 1, 2),
        ),
    ),
    (
        "lax",
        lambda m: m.gather(
            J((3, 5, 2), "float32"),
            J([[[0], [0]], [[0], [0]], [[0], [0]]], "int32"),
            lax.GatherDimensionNumbers(
                offset_dims=(2,),
                collapsed_slice_dims=(1,),
                start_index_map=(1,),
                operand_batching_dims=(0,),
                start_indices_batching_dims=(),
            ),
            (1, 1, 2),
        ),
    ),
    (
        "lax",
        lambda m: m.gather(
            J((3, 5, 2), "float32"),
            J([[[0], [0]], [[0], [0]], [[0], [0]]], "int32"),
            lax.GatherDimensionNumbers(
                offset_dims=(2,),
                collapsed_slice_dims=(1,),
                start_index_map=(1,),
                operand_batching_dims=(0,),
                start_indices_batching_dims=(2,),
            ),
            (1, 1, 2),
        ),
    ),
    (
        "lax",
        lambda m: m.gather(
            J((3, 5, 2), "float32"),
            J([[[0], [0]], [[0], [0]], [[0], [0]]], "int32"),
            lax.GatherDimensionNumbers(
                offset_dims=(2,),
                collapsed_slice_dims=(0, 1),
                start_index_map=(1,),
                operand_batching_dims=(0,),
                start_indices_batching_dims=(0,),
            ),
            (1, 1, 2),
        ),
    ),
    (
        "lax",
        lambda m: m.gather(
            J((3, 5, 2), "float32"),
            J([[[0], [0]], [[0], [0]], [[0], [0]]], "int32"),
            lax.GatherDimensionNumbers(
                offset_dims=(2,),
                collapsed_slice_dims=(1,),
                start_index_map=(0,),
                operand_batching_dims=(0,),
                start_indices_batching_dims=(0,),
            ),
            (1, 1, 2),
        ),
    ),
    (
        "lax",
        lambda m: m.scatter(
            J((3, 4), "float32"),
            J([[1]], "int32"),
            J((4,), "float32"),
            lax.ScatterDimensionNumbers(
                update_window_dims=(1,),
                inserted_window_dims=(0,),
                scatter_dims_to_operand_dims=(0,),
                operand_batching_dims=(),
                scatter_indices_batching_dims=(),
            ),
        ),
    ),
    (
        "lax",
        lambda m: m.scatter_add(
            J((3, 4), "float32"),
            J([[1]], "int32"),
            J((1, 5), "float32"),
            lax.ScatterDimensionNumbers(
                update_window_dims=(1,),
                inserted_window_dims=(0,),
                scatter_dims_to_operand_dims=(0,),
                operand_batching_dims=(),
                scatter_indices_batching_dims=(),
            ),
        ),
    ),
    (
        "lax",
        lambda m: m.scatter_mul(
            J((3, 4), "float32"),
            J([[1], [2]], "int32"),
            J((1, 4), "float32"),
            lax.ScatterDimensionNumbers(
                update_window_dims=(1,),
                inserted_window_dims=(0,),
                scatter_dims_to_operand_dims=(0,),
                operand_batching_dims=(),
                scatter_indices_batching_dims=(),
            ),
        ),
    ),
    (
        "lax",
        lambda m: m.scatter_min(
            J((3, 4), "float32"),
            J([[1]], "int32"),
            J([[1, 1, 1, 1]], "int32"),
            lax.ScatterDimensionNumbers(
                update_window_dims=(1,),
                inserted_window_dims=(0,),
                scatter_dims_to_operand_dims=(0,),
                operand_batching_dims=(),
                scatter_indices_batching_dims=(),
            ),
        ),
    ),
    (
        "lax",
        lambda m: m.scatter_max(
            J((3, 4), "float32"),
            J((1, 1), "float32"),
            J((1, 4), "float32"),
            lax.ScatterDimensionNumbers(
                update_window_dims=(1,),
                inserted_window_dims=(0,),
                scatter_dims_to_operand_dims=(0,),
                operand_batching_dims=(),
                scatter_indices_batching_dims=(),
            ),
        ),
    ),
    (
        "lax",
        lambda m: m.scatter(
            J((3, 4), "float32"),
            J(1, "int32"),
            J((4,), "float32"),
            lax.ScatterDimensionNumbers(
                update_window_dims=(1,),
                inserted_window_dims=(0,),
                scatter_dims_to_operand_dims=(0,),
                operand_batching_dims=(),
                scatter_indices_batching_dims=(),
            ),
        ),
    ),
    (
        "lax",
        lambda m: m.scatter(
            J((3, 4), "float32"),
            J([[1, 2]], "int32"),
            J((1, 4), "float32"),
            lax.ScatterDimensionNumbers(
                update_window_dims=(1,),
                inserted_window_dims=(0,),
                scatter_dims_to_operand_dims=(0,),
                operand_batching_dims=(),
                scatter_indices_batching_dims=(),
            ),
        ),
    ),
    (
        "lax",
        lambda m: m.scatter(
            J((3, 4), "float32"),
            J([[1]], "int32"),
            J((1, 4), "float32"),
            lax.ScatterDimensionNumbers(
                update_window_dims=(1,),
                inserted_window_dims=(),
                scatter_dims_to_operand_dims=(0,),
                operand_batching_dims=(),
                scatter_indices_batching_dims=(),
            ),
        ),
    ),
    (
        "lax",
        lambda m: m.scatter(
            J((3, 4), "float32"),
            J([[1]], "int32"),
            J((1, 1, 4), "float32"),
            lax.ScatterDimensionNumbers(
                update_window_dims=(2, 1),
                inserted_window_dims=(0,),
                scatter_dims_to_operand_dims=(0,),
                operand_batching_dims=(),
                scatter_indices_batching_dims=(),
            ),
        ),
    ),
    (
        "lax",
        lambda m: m.scatter(
            J((3, 4), "float32"),
            J([[1]], "int32"),
            J((1, 4), "float32"),
            lax.ScatterDimensionNumbers(
                update_window_dims=(1,),
                inserted_window_dims=(2,),
                scatter_dims_to_operand_dims=(0,),
                operand_batching_dims=(),
                scatter_indices_batching_dims=(),
            ),
        ),
    ),
    (
        "lax",
        lambda m: m.scatter(
            J((3, 4), "float32"),
            J([[1]], "int32"),
            J((1, 4), "float32"),
            lax.ScatterDimensionNumbers(
                update_window_dims=(1,),
                inserted_window_dims=(0,),
                scatter_dims_to_operand_dims=(4,),
                operand_batching_dims=(),
                scatter_indices_batching_dims=(),
            ),
        ),
    ),
    (
        "lax",
        lambda m: m.scatter_add(
            J((3, 4), "bool"),
            J([[1]], "int32"),
            J([[True, True, True, True]], "bool"),
            lax.ScatterDimensionNumbers(
                update_window_dims=(1,),
                inserted_window_dims=(0,),
                scatter_dims_to_operand_dims=(0,),
                operand_batching_dims=(),
                scatter_indices_batching_dims=(),
            ),
        ),
    ),
    (
        "lax",
        lambda m: m.scatter_mul(
            J((3, 4), "bool"),
            J([[1]], "int32"),
            J([[True, True, True, True]], "bool"),
            lax.ScatterDimensionNumbers(
                update_window_dims=(1,),
                inserted_window_dims=(0,),
                scatter_dims_to_operand_dims=(0,),
                operand_batching_dims=(),
                scatter_indices_batching_dims=(),
            ),
        ),
    ),
    (
        "lax",
        lambda m: m.scatter(
            J((3, 4), "float32"),
            J([[1]], "int32"),
            J((1, 4), "float32"),
            lax.ScatterDimensionNumbers(
                update_window_dims=(1,),
                inserted_window_dims=(0,),
                scatter_dims_to_operand_dims=(0,),
                operand_batching_dims=(),
                scatter_indices_batching_dims=(),
            ),
            mode="nearest",
        ),
    ),
    (
        "lax",
        lambda m: m.scatter(
            J((2, 5), "float32"),
            J([[[0], [0]], [[0], [0]], [[0], [0]]], "int32"),
            J((3, 2), "float32"),
            lax.ScatterDimensionNumbers(
                update_window_dims=(),
                inserted_window_dims=(1,),
                scatter_dims_to_operand_dims=(1,),
                operand_batching_dims=(0,),
                scatter_indices_batching_dims=(0,),
            ),
        ),
    ),
    (
        "lax",
        lambda m: m.scatter(
            J((3, 5), "float32"),
            J([[[0], [0]], [[0], [0]], [[0], [0]]], "int32"),
            J((3, 2), "float32"),
            lax.ScatterDimensionNumbers(
                update_window_dims=(),
                inserted_window_dims=(1,),
                scatter_dims_to_operand_dims=(1,),
                operand_batching_dims=(0,),
                scatter_indices_batching_dims=(),
            ),
        ),
    ),
    (
        "lax",
        lambda m: m.scatter(
            J((3, 5), "float32"),
            J([[[0], [0]], [[0], [0]], [[0], [0]]], "int32"),
            J((3, 2), "float32"),
            lax.ScatterDimensionNumbers(
                update_window_dims=(),
                inserted_window_dims=(1,),
                scatter_dims_to_operand_dims=(1,),
                operand_batching_dims=(0,),
                scatter_indices_batching_dims=(2,),
            ),
        ),
    ),
    (
        "lax",
        lambda m: m.scatter(
            J((3, 5), "float32"),
            J([[[0], [0]], [[0], [0]], [[0], [0]]], "int32"),
            J((3, 2), "float32"),
            lax.ScatterDimensionNumbers(
                update_window_dims=(),
                inserted_window_dims=(0, 1),
                scatter_dims_to_operand_dims=(1,),
                operand_batching_dims=(0,),
                scatter_indices_batching_dims=(0,),
            ),
        ),
    ),
    (
        "lax",
        lambda m: m.scatter(
            J((3, 5), "float32"),
            J([[[0], [0]], [[0], [0]], [[0], [0]]], "int32"),
            J((3, 2), "float32"),
            lax.ScatterDimensionNumbers(
                update_window_dims=(),
                inserted_window_dims=(1,),
                scatter_dims_to_operand_dims=(0,),
                operand_batching_dims=(0,),
                scatter_indices_batching_dims=(0,),
            ),
        ),
    ),
    (
        "lax",
        lambda m: m.scatter(
            J((3, 5), "float32"),
            J([[[0], [0]], [[0], [0]], [[0], [0]]], "int32"),
            J((2, 3), "float32"),
            lax.ScatterDimensionNumbers(
                update_window_dims=(),
                inserted_window_dims=(1,),
                scatter_dims_to_operand_dims=(1,),
                operand_batching_dims=(0,),
                scatter_indices_batching_dims=(0,),
            ),
        ),
    ),
    (
        "lax",
        lambda m: m.dot_general(
            J((2, 3), "float32"), J((2, 3), "float32"), (((1,), (0,)), ((), ()))
        ),
    ),
    (
        "lax",
        lambda m: m.dot_general(
            J((5, 2, 3), "float32"), J((4, 3, 2), "float32"), (((2,), (1,)), ((0,), (0,)))
        ),
    ),
    (
        "lax",
        lambda m: m.dot_general(
            J((2, 3), "float32"), J((3, 4), "float32"), (((2,), (0,)), ((), ()))
        ),
    ),
    (
        "lax",
        lambda m: m.dot_general(
            J((2, 3), "float32"), J((3, 4), "float32"), (((1,), (-1,)), ((), ()))
        ),
    ),
    (
        "lax",
        lambda m: m.dot_general(
            J((2, 3), "float32"), J((3, 4), "float32"), (((1,), (0,)), ((2,), (1,)))
        ),
    ),
    (
        "lax",
        lambda m: m.dot_general(J((), "float32"), J((3,), "float32"), (((0,), (0,)), ((), ()))),
    ),
    (
        "lax",
        lambda m: m.dot_general(
            J((2, 3), "float32"), J((2, 3), "float32"), (((1, 1), (1, 0)), ((), ()))
        ),
    ),
    (
        "lax",
        lambda m: m.dot_general(
            J((2, 3), "float32"), J((2, 3), "float32"), (((), ()), ((0, 0), (0, 1)))
        ),
    ),
    (
        "lax",
        lambda m: m.dot_general(
            J((2, 3), "float32"), J((2, 3), "float32"), (((1,), (1,)), ((0,), (1,)))
        ),
    ),
    (
        "lax",
        lambda m: m.dot_general(
            J((2, 3), "float32"), J((2, 3), "float32"), (((1,), (1, 0)), ((), ()))
        ),
    ),
    (
        "lax",
        lambda m: m.dot_general(
            J((2, 3), "float32"), J((2, 3), "float32"), (((1,), (1,)), ((0,), ()))
        ),
    ),
    ("lax", lambda m: m.dot_general(J((2, 3), "float32"), J((3, 4), "float32"), ((1,), (0,)))),
    (
        "lax",
        lambda m: m.dot_general(
            J([[0, 0, 0], [0, 0, 0]], "int32"),
            J([[0, 0], [0, 0], [0, 0]], "int32"),
            (((1,), (0,)), ((), ())),
            preferred_element_type=np.int8,
        ),
    ),
    (
        "lax",
        lambda m: m.dot_general(
            J((2, 3), "float8_e5m2"),
            J((3, 4), "float8_e5m2fnuz"),
            (((1,), (0,)), ((), ())),
            preferred_element_type=np.float32,
        ),
    ),
    (
        "lax",
        lambda m: m.dot_general(
            J((2, 3), "float32"), J((3, 4), "float32"), (((1,), (0,)), ((), ())), precision="fast"
        ),
    ),
    ("lax", lambda m: m.reduce_sum(J((2, 3), "float32"), (2,))),
    ("lax", lambda m: m.reduce_prod(J((2, 3), "float32"), (2,))),
    ("lax", lambda m: m.reduce_max(J((2, 3), "float32"), (2,))),
    ("lax", lambda m: m.reduce_min(J((2, 3), "float32"), (2,))),
    ("lax", lambda m: m.reduce_sum(J((2, 3), "float32"), (-1,))),
    ("lax", lambda m: m.reduce_max(J((2, 3), "float32"), (1, 1))),
    ("lax", lambda m: m.reduce_min(J((), "float32"), (0,))),
    ("lax", lambda m: m.reduce_sum(J((2, 3), "float32"), (0.5,))),
    ("lax", lambda m: m.reduce_sum(J([False, False], "bool"), (0,))),
    ("lax", lambda m: m.reduce_prod(J([False, False], "bool"), (0,))),
    ("lax", lambda m: m.argmax(J((2, 3), "float32"), 2, np.int32)),
    ("lax", lambda m: m.argmin(J((2, 3), "float32"), -1, np.int32)),
    ("lax", lambda m: m.argmax(J((0, 3), "float32"), 0, np.int32)),
    ("lax", lambda m: m.argmin(J((3, 0), "float32"), 1, np.int32)),
    ("lax", lambda m: m.argmax(J((2, 3), "float32"), 0, np.float32)),
    ("lax", lambda m: m.argmax(J((2, 3), "float32"), 0, np.bool)),
    ("lax", lambda m: m.argmin(J((3,), "complex64"), 0, np.int32)),
    ("lax", lambda m: m.cumsum(J((2, 3), "float32"), 2)),
    ("lax", lambda m: m.cumsum(J((2, 3), "float32"), -1)),
    ("lax", lambda m: m.cumsum(J((), "float32"))),
    ("lax", lambda m: m.cumsum(J([False, False, False], "bool"))),
    ("lax", lambda m: m.broadcast_in_dim(J((2, 3), "float32"), (2, 3), (0,))),
    ("lax", lambda m: m.broadcast_in_dim(J((2, 3), "float32"), (2, 3), (0, 2))),
    ("lax", lambda m: m.broadcast_in_dim(J((2, 3), "float32"), (2, 4), (0, 1))),
    ("lax", lambda m: m.broadcast_in_dim(J((2, 3), "float32"), (2, -3), (0, 1))),
    ("lax", lambda m: m.broadcast_in_dim(J((2, 3), "float32"), (2, 3, 4), (0, 1.5))),
    ("lax", lambda m: m.reshape(J((2, 3), "float32"), (4, 2))),
    ("lax", lambda m: m.reshape(J((2, 3), "float32"), (-2, -3))),
    ("lax", lambda m: m.reshape(J((2, 3), "float32"), (6,), (0, 0))),
    ("lax", lambda m: m.transpose(J((2, 3), "float32"), (0,))),
    ("lax", lambda m: m.transpose(J((2, 3), "float32"), (1, 2))),
    ("lax", lambda m: m.squeeze(J((2, 3), "float32"), (1,))),
    ("lax", lambda m: m.squeeze(J((2, 3), "float32"), (2,))),
    ("lax", lambda m: m.squeeze(J((2, 3), "float32"), (-3,))),
    ("lax", lambda m: m.squeeze(J((1, 3), "float32"), (0, -2))),
    ("lax", lambda m: m.expand_dims(J((2, 3), "float32"), (3, 4))),
    ("lax", lambda m: m.expand_dims(J((2, 3), "float32"), (-4,))),
    ("lax", lambda m: m.expand_dims(J((2, 3), "float32"), (3, -1))),
    ("lax", lambda m: m.rev(J((2, 3), "float32"), (2,))),
    ("lax", lambda m: m.rev(J((2, 3), "float32"), (-1,))),
    ("lax", lambda m: m.rev(J((2, 3), "float32"), (1, 1))),
    ("lax", lambda m: m.concatenate([J((2, 3), "float32"), J([[0, 0, 0], [0, 0, 0]], "int32")], 0)),
    ("lax", lambda m: m.concatenate([J((2, 3), "float32"), J((2, 4), "float32")], 0)),
    ("lax", lambda m: m.concatenate([J((2, 3), "float32"), J((2, 3, 1), "float32")], 0)),
    ("lax", lambda m: m.concatenate([J((2, 3), "float32"), J((2, 3), "float32")], 2)),
    ("lax", lambda m: m.concatenate([J((2, 3), "float32"), J((2, 3), "float32")], -1)),
    ("lax", lambda m: m.concatenate([J((), "float32"), J((), "float32")], 0)),
    ("lax", lambda m: m.concatenate([], 0)),
    ("lax", lambda m: m.pad(J((2, 3), "float32"), J((1,), "float32"), [(0, 0, 0), (0, 0, 0)])),
    ("lax", lambda m: m.pad(J((2, 3), "float32"), J(0, "int32"), [(0, 0, 0), (0, 0, 0)])),
    ("lax", lambda m: m.pad(J((2, 3), "float32"), J((), "float32"), [(0, 0, 0)])),
    ("lax", lambda m: m.pad(J((2, 3), "float32"), J((), "float32"), [(0, 0, 0), (0, 0, -1)])),
    ("lax", lambda m: m.pad(J((2, 3), "float32"), J((), "float32"), [(-2, -1, 0), (0, 0, 0)])),
    ("lax", lambda m: m.pad(J((2, 3), "float32"), J((), "float32"), [(0, 0, 0), (1, 2)])),
    ("lax", lambda m: m.iota(np.bool, 3)),
    ("lax", lambda m: m.broadcasted_iota(np.int32, (2, 3), 2)),
    ("lax", lambda m: m.broadcasted_iota(np.int32, (), 0)),
    ("lax", lambda m: m.iota(np.int32, -1)),
    ("lax", lambda m: m.add(N((3,), "float32"), N((3, 1), "float32"))),
    ("lax", lambda m: m.sub(N((3,), "float32"), N([1, 1, 1], "int32"))),
    ("lax", lambda m: m.exp(N([1, 1, 1], "int32"))),
    ("lax", lambda m: m.add(N([True, True], "bool"), N([True, True], "bool"))),
    ("lax", lambda m: m.lt(N((2,), "complex64"), N((2,), "complex64"))),
    ("lax", lambda m: m.bitwise_and(N((2,), "float64"), N((2,), "float64"))),
    ("lax", lambda m: m.integer_pow(N([1, 1], "int32"), -1)),
    ("lax", lambda m: m.pow(N([1, 1], "int32"), N([1, 1], "int32"))),
    ("lax", lambda m: m.select_n(N((2,), "float32"), N((2,), "float64"), N((2,), "float64"))),
    ("lax", lambda m: m.select_n(N([True, True], "bool"), N((2,), "float32"), N([1, 1], "int32"))),
    ("lax", lambda m: m.clamp(N([1, 1], "int32"), N((2,), "float32"), N((2,), "float32"))),
    ("lax", lambda m: m.round(N((2,), "float32"), 3)),
]

# Calls that fail only with 64-bit types on (a float32 and an int64 operand, say).
CASES_X64 = [
    (
        "lax",
        lambda m: m.dot_general(
            J([[0, 0, 0], [0, 0, 0]], "int32"),
            J((3, 4), "int64"),
            (((1,), (0,)), ((), ())),
            preferred_element_type=np.int32,
        ),
    ),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_fgrad_raises_what_jax_raises(case):
    check_same_type(*CASES[case])


@pytest.mark.parametrize("case", range(len(CASES_X64)))
def test_fgrad_raises_what_jax_raises_with_x64(case, x64):
    check_same_type(*CASES_X64[case])


# -- where JAX fails with an internal error, not a user error ---------------------------------
# (JAX divides by a zero stride, and asserts or reads an attribute of dimension numbers given
# in the wrong form.) fgrad says what is wrong; any type would beat JAX's, ours is both a
# TypeError and a ValueError. Left out: lax.scatter given GatherDimensionNumbers, which JAX
# rejects or accepts depending on what it cached before (the two named tuples compare equal).

JAX_INTERNAL = [
    ("lax", lambda m: m.slice(J((4, 6), "float32"), (0, 0), (4, 6), (1, 0))),
    (
        "lax",
        lambda m: m.gather(
            J((3, 4), "float32"),
            J([[1]], "int32"),
            lax.GatherDimensionNumbers(
                offset_dims=(1,),
                collapsed_slice_dims=(0,),
                start_index_map=(0,),
                operand_batching_dims=(),
                start_indices_batching_dims=(),
            ),
            (1, 4),
            mode="one_hot",
        ),
    ),
    ("lax", lambda m: m.gather(J((3, 4), "float32"), J([[1]], "int32"), (1,), (1, 4))),
]


@pytest.mark.parametrize("case", range(len(JAX_INTERNAL)))
def test_fgrad_explains_what_jax_fails_on(case):
    namespace, call = JAX_INTERNAL[case]
    ours, theirs = MODULES[namespace]
    error = raised(call, ours)
    assert isinstance(error, fgrad.ShapeDtypeError), error
    assert isinstance(error, TypeError) and isinstance(error, ValueError)
    jax_error = raised(call, theirs)
    assert isinstance(jax_error, (ZeroDivisionError, AssertionError, AttributeError)), jax_error


# -- where fgrad is stricter than JAX -----------------------------------------------------------
# JAX accepts these; fgrad refuses on purpose, with an error that says what to do instead.
# The test checks both sides, so a case moves up when fgrad (or JAX) changes its mind.

JAX_ACCEPTS = {
    "a mode JAX reads as one-hot indexing is not a scatter mode": (
        "lax",
        lambda m: m.scatter(
            J((3, 4), "float32"),
            J([[1]], "int32"),
            J((1, 4), "float32"),
            lax.ScatterDimensionNumbers(
                update_window_dims=(1,),
                inserted_window_dims=(0,),
                scatter_dims_to_operand_dims=(0,),
                operand_batching_dims=(),
                scatter_indices_batching_dims=(),
            ),
            mode="one_hot",
        ),
    ),
    "dot_general operands of different dtypes: fgrad.lax never promotes (fgrad.numpy does)": (
        "lax",
        lambda m: m.dot_general(
            J((2, 3), "float32"), J((3, 4), "float64"), (((1,), (0,)), ((), ()))
        ),
    ),
    "complex numbers have no order for max": (
        "lax",
        lambda m: m.reduce_max(J((2,), "complex64"), (0,)),
    ),
    "complex numbers have no order for min": (
        "lax",
        lambda m: m.reduce_min(J((2,), "complex64"), (0,)),
    ),
    "broadcast_dimensions must increase (transpose first)": (
        "lax",
        lambda m: m.broadcast_in_dim(J((2, 3), "float32"), (3, 2), (1, 0)),
    ),
}

# 64-bit types asked for with x64 off: JAX truncates them to 32 bits with a warning, so a
# program's types would disagree with what ran; fgrad refuses and says how to enable x64.
JAX_TRUNCATES = [
    (
        "lax",
        lambda m: m.dot_general(
            J((2, 3), "float32"),
            J((3, 4), "float32"),
            (((1,), (0,)), ((), ())),
            preferred_element_type=np.float64,
        ),
    ),
    ("lax", lambda m: m.argmax(J((2, 3), "float32"), 0, np.int64)),
    ("lax", lambda m: m.iota(np.int64, 3)),
    ("lax", lambda m: m.convert_element_type(N((2,), "float32"), np.float64)),
]


@pytest.mark.parametrize("reason", list(JAX_ACCEPTS))
def test_fgrad_is_stricter_than_jax(reason, x64):
    namespace, call = JAX_ACCEPTS[reason]
    ours, theirs = MODULES[namespace]
    error = raised(call, ours)
    assert isinstance(error, (TypeError, ValueError)), error
    assert raised(call, theirs) is None


@pytest.mark.parametrize("case", range(len(JAX_TRUNCATES)))
def test_fgrad_refuses_what_jax_truncates(case):
    namespace, call = JAX_TRUNCATES[case]
    ours, theirs = MODULES[namespace]
    assert isinstance(raised(call, ours), fgrad.ShapeDtypeError)
    with pytest.warns(UserWarning, match="not available"):
        assert raised(call, theirs) is None


# -- the transformations' own errors ---------------------------------------------------------
# Each call is written once over (transforms, numpy): (fgrad, fgrad.numpy) or (jax, jax.numpy).

TRANSFORM_CASES = {
    "grad of a non-scalar output": lambda t, m: t.grad(lambda x: x * 2.0)(m.ones(3)),
    "grad of an integer input": lambda t, m: t.grad(lambda x: x * 2)(3),
    "grad of a complex output": lambda t, m: t.grad(lambda x: x * 1j)(1.0),
    "grad of an integer output": lambda t, m: t.grad(lambda x: m.sum(x > 0))(m.ones(3)),
    "argnums out of range": lambda t, m: t.grad(lambda x: x, argnums=1)(1.0),
    "has_aux without a pair": lambda t, m: t.grad(lambda x: x, has_aux=True)(1.0),
    "grad of a non-callable": lambda t, m: t.grad(3)(1.0),
    "vmap of a non-callable": lambda t, m: t.vmap(3)(m.ones(3)),
    "vmap of inconsistent sizes": lambda t, m: t.vmap(lambda a, b: a + b)(m.ones(3), m.ones(4)),
    "vmap in_axes out of range": lambda t, m: t.vmap(lambda a: a, in_axes=2)(m.ones(3)),
    "vmap in_axes not matching the arguments": lambda t, m: t.vmap(
        lambda a, b: a, in_axes=(0, 0, 0)
    )(m.ones(3), m.ones(3)),
    "vmap with nothing mapped and no axis_size": lambda t, m: t.vmap(lambda a: a, in_axes=None)(
        m.ones(3)
    ),
    "vmap out_axes None for a mapped output": lambda t, m: t.vmap(lambda a: a, out_axes=None)(
        m.ones(3)
    ),
    "jvp with tangents of another structure": lambda t, m: t.jvp(
        lambda a, b: a, (1.0, 2.0), (1.0,)
    ),
    "jvp with a tangent of another dtype": lambda t, m: t.jvp(
        lambda a: a, (m.ones(3),), (m.ones(3, dtype=m.int32),)
    ),
    "jvp with a tangent of another shape": lambda t, m: t.jvp(
        lambda a: a, (m.ones(3),), (m.ones(2),)
    ),
    "jvp with primals not in a tuple": lambda t, m: t.jvp(lambda a: a, m.ones(3), m.ones(3)),
    "vjp pullback given another structure": lambda t, m: t.vjp(lambda a: (a, a), m.ones(3))[1](
        m.ones(3)
    ),
    "vjp pullback given another shape": lambda t, m: t.vjp(lambda a: a, m.ones(3))[1](m.ones(2)),
    "vjp pullback given another dtype": lambda t, m: t.vjp(lambda a: a, m.ones(3))[1](
        m.ones(3, dtype=m.int32)
    ),
    "jit static argument not hashable": lambda t, m: t.jit(lambda a, n: a, static_argnums=1)(
        m.ones(3), [1]
    ),
    "jit of a non-callable": lambda t, m: t.jit(3),
    "jit of a string argument": lambda t, m: t.jit(lambda a: a)("a"),
    "grad of a string argument": lambda t, m: t.grad(lambda a: 1.0)("a"),
    "jacrev of an integer input": lambda t, m: t.jacrev(lambda x: x)(3),
    "linearize's jvp function given another structure": lambda t, m: t.linearize(lambda a: a, 1.0)[
        1
    ](1.0, 2.0),
    "argnums repeated": lambda t, m: t.grad(lambda x, y: x * y, argnums=(0, 0))(1.0, 2.0),
}


@pytest.mark.parametrize("name", list(TRANSFORM_CASES))
def test_transforms_raise_what_jax_raises(name):
    call = TRANSFORM_CASES[name]
    error = raised(lambda m: call(fgrad, fnp), None)
    assert error is not None, "fgrad accepted the call"
    jax_error = raised(lambda m: call(jax, jnp), None)
    assert jax_error is not None, "JAX accepted the call"
    missing = [c.__name__ for c in builtin_bases(jax_error) if not isinstance(error, c)]
    assert not missing, (
        f"fgrad raised {type(error).__name__} ({error}); JAX raised {type(jax_error).__name__}"
    )
    assert "(at " in str(error) and __file__ in str(error), "the message names the user's line"
