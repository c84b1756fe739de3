"""Default tolerances by dtype, shared by check_grads and assert_allclose.

A comparison takes its tolerances from the least precise floating-point dtype it involves
(complex dtypes count as their real part): a float32 result compared with a float64 one can
only be as close as float32 allows.
"""

from __future__ import annotations

import numpy as np

from fgrad.core import dtypes as dt

# Least precise first. Other floating-point dtypes (the float8 family) rank below all of them
# and take bfloat16's tolerances, the loosest there are.
_RANK = {"bfloat16": 0, "float16": 1, "float32": 2, "float64": 3}

# check_grads: (eps, atol, rtol). A central difference with step eps has truncation error
# ~eps²·f'''/6 and rounding error ~ulp·|f|/eps; each eps is near the best balance of the two
# for its dtype, and the tolerances leave room for both.
GRAD = {
    "float64": (1e-5, 1e-5, 1e-5),
    "float32": (3e-3, 2e-2, 2e-2),
    "float16": (1e-1, 1e-1, 1e-1),
    "bfloat16": (1e-1, 2e-1, 2e-1),
}

# assert_allclose, and check_grads' comparisons that involve no finite difference (a vmapped
# derivative against the same derivative per example): a few tens of ulps, since two correct
# programs for one value may round differently (another summation order, a fused operation).
CLOSE = {
    "float64": 1e-10,
    "float32": 1e-5,
    "float16": 1e-2,
    "bfloat16": 3e-2,
}


def inexact_name(dtype) -> str | None:
    """The real floating-point dtype's name of an inexact dtype; None for any other dtype."""
    if not dt.is_inexact(dtype):
        return None
    return np.dtype(dt.real_dtype(dtype)).name


def least_precise(names) -> str | None:
    """The least precise of some dtype names (from `inexact_name`); None if there are none."""
    names = [n for n in names if n is not None]
    if not names:
        return None
    name = min(names, key=lambda n: _RANK.get(n, -1))
    return name if name in _RANK else "bfloat16"
