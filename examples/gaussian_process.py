"""Gaussian-process regression with fgrad, next to the same program in JAX.

The data are n noisy samples of y = sin(3x) on [-3, 3]. The model is a Gaussian process
with the RBF kernel

    k(x, x') = amplitude² exp(-(x - x')² / (2 lengthscale²))

plus observation noise of variance noise², three hyperparameters kept positive by fitting
their logarithms. They are fitted by minimizing the negative log marginal likelihood

    NLML = ½ yᵀ (K + noise² I)⁻¹ y + ½ log det(K + noise² I) + (n/2) log 2π,

computed from the Cholesky factor L of K + noise² I (cho_factor, then cho_solve for the
quadratic term and Σ log Lᵢᵢ for half the log-determinant), with Adam written by hand: one
jitted step computes the NLML's value and gradient (through the Cholesky factorization and
the triangular solves) and Adam's update. The fitted process then predicts its posterior
mean and standard deviation at test points.

The program is written once over (numpy, scipy.linalg) modules plus a gradient and a jit:
fgrad.numpy, fgrad.scipy.linalg, fgrad.value_and_grad and fgrad.jit on one side, and
jax.numpy, jax.scipy.linalg, jax.value_and_grad and jax.jit on the other. Both run in
float64 from the same start; the script prints both final losses, the hyperparameters, how
far apart the predictions are, and the time per training step of each (after warm-up, the
median of several runs), and exits with status 1 if the two disagree beyond RTOL.

    python examples/gaussian_process.py [--n 200] [--steps 300]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

if __name__ == "__main__":
    # Run XLA on one thread, set before jax is imported, so that the times per step are
    # those of the computation, not of waiting for threads on a busy machine.
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen"
                               "=false intra_op_parallelism_threads=1").strip()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jax.scipy.linalg as jsl  # noqa: E402
import numpy as np  # noqa: E402

import fgrad  # noqa: E402
import fgrad.numpy as fnp  # noqa: E402
import fgrad.scipy.linalg as fsl  # noqa: E402

NAMES = ("log_lengthscale", "log_amplitude", "log_noise")
START = (0.0, 0.0, np.log(0.5))  # lengthscale 1, amplitude 1, noise 0.5
NOISE = 0.1  # the data's true noise level
LEARNING_RATE, BETA1, BETA2, EPS = 0.05, 0.9, 0.999, 1e-8
# Both do the same float64 arithmetic, fused differently by XLA, so they differ by rounding,
# carried forward by the optimization.
RTOL = 1e-8
TIMING_ROUNDS, TIMING_CALLS = 7, 20  # time per step: the median of 7 rounds of 20 steps


def make_data(n: int, seed: int = 0):
    """n noisy samples of sin(3x) at random x in [-3, 3], and 100 test points."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-3.0, 3.0, n))
    y = np.sin(3 * x) + NOISE * rng.standard_normal(n)
    return x, y, np.linspace(-3.0, 3.0, 100)


def make_program(np_, linalg, value_and_grad, jit, x, y):
    """The NLML, a jitted Adam step on it, and the posterior at test points, with the
    library given by its numpy and scipy.linalg modules, value_and_grad and jit."""
    n = x.shape[0]

    def kernel(params, a, b):
        lengthscale = np_.exp(params["log_lengthscale"])
        amplitude2 = np_.exp(2 * params["log_amplitude"])
        return amplitude2 * np_.exp(-0.5 * ((a[:, None] - b[None, :]) / lengthscale) ** 2)

    def factor(params):
        """The Cholesky factor of K + noise² I."""
        noise2 = np_.exp(2 * params["log_noise"])
        return linalg.cho_factor(kernel(params, x, x) + noise2 * np_.eye(n), lower=True)

    def nlml(params):
        c_and_lower = factor(params)
        alpha = linalg.cho_solve(c_and_lower, y)  # (K + noise² I)⁻¹ y
        half_logdet = np_.sum(np_.log(np_.diagonal(c_and_lower[0])))
        return 0.5 * np_.dot(y, alpha) + half_logdet + 0.5 * n * np.log(2 * np.pi)

    def step(params, m, v, t):
        """One Adam step (t counts from 1): the new params and moments, and the loss."""
        loss, grads = value_and_grad(nlml)(params)
        m = {k: BETA1 * m[k] + (1 - BETA1) * grads[k] for k in params}
        v = {k: BETA2 * v[k] + (1 - BETA2) * grads[k] ** 2 for k in params}
        m_hat_scale, v_hat_scale = 1 / (1 - BETA1 ** t), 1 / (1 - BETA2 ** t)
        params = {k: params[k] - LEARNING_RATE * (m[k] * m_hat_scale)
                  / (np_.sqrt(v[k] * v_hat_scale) + EPS) for k in params}
        return params, m, v, loss

    def predict(params, x_test):
        """The posterior mean and standard deviation of f at x_test (without the noise)."""
        c_and_lower = factor(params)
        k_star = kernel(params, x_test, x)  # (test, n)
        mean = k_star @ linalg.cho_solve(c_and_lower, y)
        w = linalg.solve_triangular(c_and_lower[0], k_star.T, lower=True)  # L⁻¹ K*ᵀ
        var = np_.exp(2 * params["log_amplitude"]) - np_.sum(w ** 2, axis=0)
        return mean, np_.sqrt(np_.maximum(var, 0.0))

    return jit(nlml), jit(step), jit(predict)


def fit(program, steps: int, x_test) -> dict:
    """Runs Adam for `steps` steps from START; returns the loss before each step and after
    the last, the fitted hyperparameters, the predictions and the time per step."""
    nlml, step, predict = program
    params = {k: np.float64(v) for k, v in zip(NAMES, START)}
    m = {k: np.float64(0.0) for k in NAMES}
    v = {k: np.float64(0.0) for k in NAMES}
    losses = []
    for t in range(1, steps + 1):
        params, m, v, loss = step(params, m, v, np.float64(t))
        losses.append(float(loss))
    losses.append(float(nlml(params)))
    mean, std = predict(params, x_test)
    return {"losses": np.array(losses), "params": {k: float(params[k]) for k in NAMES},
            "mean": np.asarray(mean), "std": np.asarray(std),
            "timed_step": (step, (params, m, v, np.float64(steps + 1)))}


def time_steps(*runs: dict) -> None:
    """Adds each run's time per step, after warm-up (the training loop compiled the step):
    rounds of TIMING_CALLS steps, taking the runs in turn so that a shared machine's load
    falls on all alike, and the median over the rounds."""
    rounds: list[list[float]] = [[] for _ in runs]
    for run in runs:
        step, args = run["timed_step"]
        jax.block_until_ready(step(*args))
    for _ in range(TIMING_ROUNDS):
        for run, times in zip(runs, rounds):
            step, args = run["timed_step"]
            start = time.perf_counter()
            for _ in range(TIMING_CALLS):
                out = step(*args)
            jax.block_until_ready(out)
            times.append((time.perf_counter() - start) / TIMING_CALLS)
    for run, times in zip(runs, rounds):
        del run["timed_step"]
        run["seconds_per_step"] = statistics.median(times)


def main(n: int = 200, steps: int = 300, verbose: bool = True) -> tuple[dict, dict]:
    """Fits with both libraries in float64; returns fgrad's and JAX's results."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        x, y, x_test = make_data(n)
        ours = fit(make_program(fnp, fsl, fgrad.value_and_grad, fgrad.jit, x, y), steps,
                   x_test)
        theirs = fit(make_program(jnp, jsl, jax.value_and_grad, jax.jit, x, y), steps,
                     x_test)
        time_steps(ours, theirs)
    finally:
        jax.config.update("jax_enable_x64", previous)
    if verbose:
        report(ours, theirs, n, steps)
    return ours, theirs


def report(ours: dict, theirs: dict, n: int, steps: int) -> None:
    print(f"GP regression on {n} points of sin(3x) + noise, {steps} Adam steps, float64")
    print(f"{'':>22} {'fgrad':>20} {'JAX':>20}")
    print(f"{'NLML at the start':>22} {ours['losses'][0]:>20.12f} {theirs['losses'][0]:>20.12f}")
    print(f"{'NLML at the end':>22} {ours['losses'][-1]:>20.12f} "
          f"{theirs['losses'][-1]:>20.12f}")
    for k in NAMES:
        print(f"{k:>22} {ours['params'][k]:>20.12f} {theirs['params'][k]:>20.12f}")
    for k in NAMES:
        name = k.removeprefix("log_")
        print(f"{name:>22} {np.exp(ours['params'][k]):>20.12f} "
              f"{np.exp(theirs['params'][k]):>20.12f}")
    print(f"{'time per step':>22} {ours['seconds_per_step'] * 1e3:>17.3f} ms "
          f"{theirs['seconds_per_step'] * 1e3:>17.3f} ms   (one XLA thread when run as a script)")
    print("max |difference| of the predicted means at the test points: "
          f"{np.abs(ours['mean'] - theirs['mean']).max():.3g}, of the standard deviations: "
          f"{np.abs(ours['std'] - theirs['std']).max():.3g}")
    x, _, x_test = make_data(n)
    error = np.abs(ours["mean"] - np.sin(3 * x_test)).max()
    print(f"max |posterior mean - sin(3x)| at the test points: {error:.3g} "
          f"(noise level {NOISE})")


def agree(ours: dict, theirs: dict) -> bool:
    same_losses = np.allclose(ours["losses"], theirs["losses"], rtol=RTOL, atol=0)
    same_params = all(np.isclose(ours["params"][k], theirs["params"][k], rtol=RTOL, atol=RTOL)
                      for k in NAMES)
    same_predictions = (np.allclose(ours["mean"], theirs["mean"], rtol=RTOL, atol=RTOL)
                        and np.allclose(ours["std"], theirs["std"], rtol=RTOL, atol=RTOL))
    return same_losses and same_params and same_predictions


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="training points (default 200)")
    parser.add_argument("--steps", type=int, default=300, help="Adam steps (default 300)")
    args = parser.parse_args()
    results = main(args.n, args.steps)
    ok = agree(*results)
    print("fgrad and JAX agree" if ok else "fgrad and JAX DISAGREE")
    sys.exit(0 if ok else 1)
