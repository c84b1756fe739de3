"""one_hot: indices to one-hot vectors."""

from __future__ import annotations

import operator
import warnings

import fgrad.numpy as fnp
from fgrad import lax as fl
from fgrad.core import aval_of
from fgrad.core import dtypes as dt
from fgrad.core.errors import at_user_line
from fgrad.nn._util import array
from fgrad.numpy._core import canonical_axis, user_dtype

__all__ = ["one_hot"]


def one_hot(x, num_classes: int, *, dtype=None, axis=-1):
    """Each index in `x` as a vector of `num_classes` zeros with a one at the index (all
    zeros for an index outside [0, num_classes)).

    Arguments:
        x: an array of integer indices.
        num_classes: the length of the one-hot axis (a concrete int).
        dtype: the result's dtype (default: the default float dtype).
        axis: where the new axis goes in the result.

    Returns:
        An array of shape x.shape with a num_classes axis inserted at `axis`.
    """
    try:
        num_classes = operator.index(num_classes)
    except TypeError:
        raise TypeError(at_user_line(
            f"fgrad.nn.one_hot: num_classes must be a concrete integer, not "
            f"{num_classes!r}.")) from None
    x = array("one_hot", x)
    aval = aval_of(x)
    if not dt.is_integer(aval.dtype):
        warnings.warn(f"jax.nn.one_hot input should be integer-typed; got dtype={aval.dtype}",
                      DeprecationWarning, stacklevel=2)
    dtype = dt.default_float() if dtype is None else user_dtype(dtype, "one_hot")
    if isinstance(axis, str):
        raise NotImplementedError(at_user_line(
            f"fgrad.nn.one_hot: axis {axis!r} names a mapped axis, which fgrad's vmap does not "
            f"have; give an integer axis."))
    position = canonical_axis(axis, aval.ndim + 1, "one_hot")
    indices = fl.expand_dims(x, (position,))
    classes_shape = [1] * aval.ndim
    classes_shape.insert(position, num_classes)
    classes = fl.broadcasted_iota(aval.dtype, classes_shape, position)
    return fnp.astype(fnp.equal(indices, classes), dtype)
