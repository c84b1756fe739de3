"""examples/gaussian_process.py (hyperparameters of a Gaussian process fitted through the
Cholesky factor with fgrad.scipy.linalg) fits exactly as the same program in JAX does."""

import importlib.util
import os

import jax
import numpy as np


def test_gaussian_process_example_fits_like_jax(quick_compile):
    path = os.path.join(os.path.dirname(__file__), "..", "examples", "gaussian_process.py")
    spec = importlib.util.spec_from_file_location("gaussian_process", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    x64 = jax.config.jax_enable_x64
    ours, theirs = example.main(n=40, steps=30, verbose=False)
    assert jax.config.jax_enable_x64 == x64  # main restores the setting
    assert ours["losses"].dtype == np.float64 and ours["losses"].shape == (31,)
    np.testing.assert_allclose(ours["losses"], theirs["losses"], rtol=1e-8)
    for name in example.NAMES:
        np.testing.assert_allclose(ours["params"][name], theirs["params"][name], rtol=1e-8,
                                   atol=1e-10, err_msg=name)
    np.testing.assert_allclose(ours["mean"], theirs["mean"], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours["std"], theirs["std"], rtol=1e-8, atol=1e-10)
    assert example.agree(ours, theirs)
    assert ours["losses"][-1] < ours["losses"][0] - 10  # it fits: 34.7 to -3.8
    assert ours["seconds_per_step"] > 0 and theirs["seconds_per_step"] > 0
