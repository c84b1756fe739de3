import os

# Every program a trace or a transform builds is typechecked where it is built
# (fgrad/core/typecheck.py), so a rule that makes an ill-typed program fails at its source.
# Set before fgrad is imported; measured at no visible cost (tests/test_autodiff.py and
# tests/test_ad_shapes.py: 110 s without, 93 s with, within this machine's noise).
os.environ.setdefault("FGRAD_CHECKS", "1")

import jax
import pytest


# The x64 fixture (float64 within one test) is fgrad's pytest plugin's:
# fgrad_pytest_plugin.py.


@pytest.fixture(params=["float32", "float64"])
def float_dtype(request):
    """Each float dtype, with x64 switched on for float64."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", request.param == "float64")
    try:
        yield request.param
    finally:
        jax.config.update("jax_enable_x64", previous)


@pytest.fixture
def quick_compile():
    """XLA's backend optimizations off while the test runs (jax_disable_most_optimizations):
    for tests whose programs are tiny or run once, compiling them is most of their time,
    and the optimizations change how fast a program runs, not what it computes, except for
    rounding. So use it only where results are compared with a tolerance, or for programs
    of the test's own: JAX's compilation caches do not key on the flag, and a function
    compiled here would be reused, unoptimized, by a later exact comparison (normal's
    erf_inv rounds differently by an ulp)."""
    previous = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    try:
        yield
    finally:
        jax.config.update("jax_disable_most_optimizations", previous)
