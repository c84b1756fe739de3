"""fgrad's pytest plugin, registered when fgrad is installed (entry point `fgrad` in the
`pytest11` group; `pytest -p no:fgrad` turns it off). It provides:

- the fixture `x64`: float64 on for one test (`jax_enable_x64`), the previous setting
  restored afterwards;
- the fixture `fgrad_checks`: fgrad's typechecking of every program it builds on for one
  test (`fgrad.core.typecheck.CHECKS`, as `FGRAD_CHECKS=1` does for a whole run), restored
  afterwards;
- the marker `@pytest.mark.gradcheck(**options)`: the test runs as if it asked for both
  fixtures, and the fixture `gradcheck` is `fgrad.testing.check_grads` with `options` (any
  of its keyword arguments: order, modes, atol, rtol, eps, directions, jacobian, batched,
  seed) as defaults.

Every fixture restores what it changed even when the test fails, so tests stay independent.
See docs/testing.md.

A top-level module rather than part of the fgrad package: pytest imports plugins before any
conftest.py, and importing a submodule of fgrad would import fgrad and JAX that early, so a
conftest setting JAX_ENABLE_X64 (which JAX reads when imported) would come too late in every
project where fgrad is installed. This module imports fgrad only when a fixture needs it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import os
import sys

import pytest

_MARKER = ("gradcheck(**options): run the test with float64 (jax_enable_x64) and fgrad's "
           "program typechecks on; the `gradcheck` fixture is fgrad.testing.check_grads with "
           "`options` (order=, modes=, directions=, ...) as its defaults")


def pytest_configure(config):
    config.addinivalue_line("markers", _MARKER)
    # If another plugin imported fgrad before the conftests ran, a conftest setting
    # FGRAD_CHECKS (as fgrad's own does) came too late for fgrad's import-time reading of it.
    # The initial conftests have run by now, so honor the variable here.
    if "FGRAD_CHECKS" in os.environ and "fgrad.core.typecheck" in sys.modules:
        _typecheck().CHECKS = os.environ["FGRAD_CHECKS"] not in ("", "0")


def _typecheck():
    # The module, by its full name: `from fgrad.core import typecheck` is the function of that
    # name, which fgrad.core re-exports over the module's attribute.
    return importlib.import_module("fgrad.core.typecheck")


@contextlib.contextmanager
def _x64():
    import jax
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)


@contextlib.contextmanager
def _checks():
    typecheck = _typecheck()
    previous = typecheck.CHECKS
    typecheck.CHECKS = True
    try:
        yield
    finally:
        typecheck.CHECKS = previous


@pytest.fixture
def x64():
    """Runs a test with float64 enabled, restoring the previous setting afterwards."""
    with _x64():
        yield


@pytest.fixture
def fgrad_checks():
    """Runs a test with fgrad's program typechecks on (fgrad.core.typecheck.CHECKS), restoring
    the previous setting afterwards. Programs are checked where they are built: a program
    cached before the test (a compiled gradient, a jit) is not checked again."""
    with _checks():
        yield


def _gradcheck_options(node) -> dict | None:
    """The keyword arguments of the test's gradcheck marker (None without one), checked."""
    marker = node.get_closest_marker("gradcheck")
    if marker is None:
        return None
    from fgrad.testing import check_grads
    allowed = [p for p in inspect.signature(check_grads).parameters if p not in ("fun", "args")]
    unknown = sorted(set(marker.kwargs) - set(allowed))
    if marker.args or unknown:
        given = ", ".join([*map(repr, marker.args), *unknown])
        raise pytest.UsageError(
            f"{node.nodeid}: @pytest.mark.gradcheck takes only check_grads' keyword arguments "
            f"({', '.join(allowed)}), got {given}.")
    return dict(marker.kwargs)


@pytest.fixture(autouse=True)
def _fgrad_gradcheck_marker(request):
    """Applies @pytest.mark.gradcheck: float64 and typechecks for the marked test. Autouse, so
    it runs before the test's own function-scoped fixtures build their arrays."""
    if _gradcheck_options(request.node) is None:
        yield
        return
    with _x64(), _checks():
        yield


@pytest.fixture
def gradcheck(request):
    """fgrad.testing.check_grads with the test's @pytest.mark.gradcheck(...) options as
    defaults (plain check_grads without the marker)."""
    from fgrad.testing import check_grads
    return functools.partial(check_grads, **(_gradcheck_options(request.node) or {}))
