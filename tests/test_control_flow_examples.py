"""The control-flow examples compute what JAX and the closed forms compute: small versions of
examples/fori_descent.py, newton.py, rnn_scan.py and ode_rk4.py."""

import importlib.util
import os

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp


def load_example(name: str):
    path = os.path.join(os.path.dirname(__file__), "..", "examples", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"{name}_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fori_descent():
    return load_example("fori_descent")


@pytest.fixture(scope="module")
def newton():
    return load_example("newton")


def test_fori_descent_matches_jax_and_the_seed(quick_compile, fori_descent):
    ours, theirs, expected = fori_descent.main(steps=100, verbose=False)
    for name in ours:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=fori_descent.RTOL,
                                   atol=1e-7, err_msg=name)
        np.testing.assert_allclose(ours[name], expected[name], rtol=fori_descent.SEED_TOL,
                                   atol=fori_descent.SEED_TOL, err_msg=name)
    assert fori_descent.agree(ours, theirs, expected)


def test_fori_loop_program_does_not_grow_with_the_steps(fori_descent):
    assert fori_descent.program_size(10) == fori_descent.program_size(10_000)


def test_newton_derivatives_match_jax_and_the_implicit_function_theorem(quick_compile,
                                                                         newton):
    ours, theirs, theory = newton.main(verbose=False)
    assert ours["iterations"] == theirs["iterations"]
    for name in ours:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=newton.RTOL, atol=1e-7,
                                   err_msg=name)
    for name in theory:
        np.testing.assert_allclose(ours[name], theory[name], rtol=newton.RTOL, atol=1e-7,
                                   err_msg=name)


def test_newton_reverse_mode_without_max_steps_says_how(newton):
    solve, _ = newton.fgrad_solvers()
    b = fnp.array([1.0, 2.0])
    with pytest.raises(Exception, match="max_steps"):
        fgrad.grad(lambda a: fnp.sum(solve(a, b)[0]))(2.0)


def test_rnn_trains_like_jax(quick_compile):
    rnn = load_example("rnn_scan")
    fgrad_loss, jax_loss = rnn.main(steps=30, batch=8, length=20, verbose=False)
    assert len(fgrad_loss) == len(jax_loss) == 30
    np.testing.assert_allclose(fgrad_loss, jax_loss, rtol=rnn.RTOL)
    assert fgrad_loss[-1] < 0.5 * fgrad_loss[0]  # it learns


def test_rk4_derivatives_match_jax_and_the_exact_solution(quick_compile):
    ode = load_example("ode_rk4")
    ours, theirs, exact = ode.main(steps=50, verbose=False)
    for name in ours:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=ode.RTOL, atol=ode.ATOL,
                                   err_msg=name)
        np.testing.assert_allclose(ours[name], exact[name], rtol=ode.RTOL, atol=ode.ATOL,
                                   err_msg=name)
    assert ode.expm_matches_closed_form()
