"""assert_allclose: pytrees of arrays compared with tolerances that follow their dtypes."""

from __future__ import annotations

import jax
import numpy as np

from fgrad.core import dtypes as dt
from fgrad.testing import _tolerances as tols


def _array(x):
    """x as a NumPy array, and whether it is a Python scalar (weakly typed: its dtype is
    whatever it meets, so it is not compared)."""
    return np.asarray(x), dt.is_python_scalar(x)


def assert_allclose(actual, desired, rtol: float | None = None, atol: float | None = None,
                    err_msg: str = "", check_dtypes: bool = True) -> None:
    """Asserts that two pytrees have the same structure and, leaf by leaf, the same shape, the
    same dtype (unless `check_dtypes=False`) and values within `atol + rtol·|desired|`.

    The default tolerances come from the less precise of the two leaves' floating-point
    dtypes (complex dtypes count as their real part): float64 1e-10, float32 1e-5, float16
    1e-2, bfloat16 3e-2, both for rtol and atol; integer and boolean leaves must be equal. NaNs
    must sit at the same places, infinities must be equal.

    Args:
      actual (Any): the pytree of arrays (or scalars) computed.
      desired (Any): the pytree of arrays (or scalars) expected, of the same structure.
      rtol: the relative tolerance; by default from the leaves' dtypes, as above.
      atol: the absolute tolerance; by default from the leaves' dtypes, as above.
      err_msg: a message put at the front of the error's, after `assert_allclose:`.
      check_dtypes: whether the leaves' dtypes must be equal (a Python scalar's dtype is
        never compared).

    Raises:
      AssertionError: naming the pytree path of the first leaf that differs, how many of its
        elements are out of tolerance, and the worst one (index, both values, both errors).
    """
    prefix = f"assert_allclose: {err_msg}: " if err_msg else "assert_allclose: "
    a_leaves, a_tree = jax.tree_util.tree_flatten_with_path(actual)
    d_leaves, d_tree = jax.tree_util.tree_flatten(desired)
    if a_tree != d_tree:
        raise AssertionError(f"{prefix}the pytrees differ in structure: actual is {a_tree}, "
                             f"desired is {d_tree}")
    for (path, a), d in zip(a_leaves, d_leaves):
        where = f"at {jax.tree_util.keystr(path) or 'the root'}"
        (a, a_weak), (d, d_weak) = _array(a), _array(d)
        if a.shape != d.shape:
            raise AssertionError(f"{prefix}{where}: shapes differ: actual {a.shape}, desired "
                                 f"{d.shape}")
        if check_dtypes and not (a_weak or d_weak) and a.dtype != d.dtype:
            raise AssertionError(
                f"{prefix}{where}: dtypes differ: actual {a.dtype}, desired {d.dtype} (pass "
                f"check_dtypes=False to compare the values alone)")
        precision = tols.least_precise([tols.inexact_name(a.dtype), tols.inexact_name(d.dtype)])
        default = 0.0 if precision is None else tols.CLOSE[precision]
        r = default if rtol is None else rtol
        t = default if atol is None else atol
        _compare(a, d, r, t, f"{prefix}{where}")


def _compare(a, d, rtol, atol, where):
    kind = np.complex128 if np.iscomplexobj(a) or np.iscomplexobj(d) else np.float64
    if a.dtype == bool or (d.dtype == bool):
        kind = np.float64
    a64, d64 = a.astype(kind), d.astype(kind)
    same_nan = np.isnan(a64) & np.isnan(d64)
    same_inf = np.isinf(a64) & (a64 == d64)
    with np.errstate(invalid="ignore"):
        err = np.abs(a64 - d64)
        ok = (err <= atol + rtol * np.abs(d64)) | same_nan | same_inf
    if np.all(ok):
        return
    bad = ~ok
    score = np.where(bad, np.nan_to_num(err, nan=np.inf, posinf=np.inf), -1.0)
    i = np.unravel_index(int(np.argmax(score)), a.shape) if a.shape else ()
    rel = err[i] / abs(d64[i]) if d64[i] != 0 else np.inf
    raise AssertionError(
        f"{where}: {int(bad.sum())} of {a.size} elements differ beyond atol={atol:g} + "
        f"rtol={rtol:g}·|desired|; the worst at index {tuple(int(j) for j in i)}: actual "
        f"{a[i].item()!r}, desired {d[i].item()!r}, abs error {err[i]:.3g}, rel error {rel:.3g}")
