"""Markers the differentiation transforms pass to primitive rules.

`Zero(aval)` is a tangent or cotangent known to be zero. It is symbolic: rules skip it, no
equation computes it, and it becomes an array only where an API hands values back to the
user. `UndefinedPrimal(aval)` stands for a linear input in a transpose rule: the input
whose value is not known and whose cotangent is wanted.
"""

from __future__ import annotations

import numpy as np

from fgrad.core.dtypes import float0, is_inexact
from fgrad.core.ir import Aval


class Zero:
    __slots__ = ("aval",)

    def __init__(self, aval: Aval):
        self.aval = aval

    def __repr__(self) -> str:
        return f"Zero({self.aval})"


class UndefinedPrimal:
    __slots__ = ("aval",)

    def __init__(self, aval: Aval):
        self.aval = aval

    def __repr__(self) -> str:
        return f"UndefinedPrimal({self.aval})"


def tangent_aval(aval: Aval) -> Aval:
    """The type of a tangent of a value of type `aval`: float0 for integers and booleans."""
    if is_inexact(aval.dtype):
        return aval
    return Aval(aval.shape, np.dtype(float0), False)


def is_differentiable(aval: Aval) -> bool:
    return is_inexact(aval.dtype)
