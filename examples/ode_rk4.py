"""An RK4 integrator written with fgrad.lax.scan, differentiated, against the exact solution.

The linear system dy/dt = A y with

    A(theta) = [[-theta, 1],
                [     0, -2]]

has the solution y(t) = expm(t A) y0, and because A is upper triangular with eigenvalues
-theta and -2, the exponential has a closed form (for theta != 2):

    expm(t A) = [[e1, (e1 - e2) / (2 - theta)],        e1 = exp(-theta t),
                 [ 0,                      e2]],        e2 = exp(-2 t),

so its derivative in theta is closed too. The integrator takes `steps` classical
Runge-Kutta steps of size dt = t_end / steps in fgrad.lax.scan: the carry is the state, and
the states after every step are stacked into the trajectory (the scan has no xs, only a
length). The script differentiates the result

- with respect to the initial state, fgrad.jacrev (reverse mode through the scan): exactly
  expm(t_end A), up to RK4's error of order dt**4;
- with respect to theta, fgrad.jacfwd (forward mode through the scan);
- and the gradient, in theta and y0, of J = dt * sum_k |y(t_k)|**2 over the whole trajectory
  with fgrad.grad, where the cotangents of all stacked states flow back through one
  reversed scan;

and compares each with the closed form (whose exponential it first checks against
jax.scipy.linalg.expm) and with the same program in JAX. It exits with status 1 if any two
differ beyond float32 rounding and RK4's error.

    python examples/ode_rk4.py [steps]
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np

import fgrad
import fgrad.numpy as fnp

THETA, T_END = 0.5, 2.0
Y0 = (1.0, 0.5)
RTOL, ATOL = 2e-5, 1e-6  # float32 rounding over a hundred steps, and RK4's error (dt**4)


def make_integrator(np_, lax, steps: int, t_end: float = T_END):
    """The RK4 trajectory y(dt), y(2 dt), ..., y(t_end) of dy/dt = A(theta) y, with `np_`
    (fgrad.numpy or jax.numpy) and `lax` (fgrad.lax or jax.lax)."""
    dt = t_end / steps
    a_theta = np.array([[-1.0, 0.0], [0.0, 0.0]], np.float32)  # the theta-dependent part
    a_rest = np.array([[0.0, 1.0], [0.0, -2.0]], np.float32)

    def trajectory(y0, theta):
        A = theta * a_theta + a_rest

        def f(y):
            return A @ y

        def rk4(y, _):
            k1 = f(y)
            k2 = f(y + dt / 2 * k1)
            k3 = f(y + dt / 2 * k2)
            k4 = f(y + dt * k3)
            y = y + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            return y, y

        _, ys = lax.scan(rk4, y0, None, length=steps)
        return ys

    return trajectory


def exact(t, theta):
    """expm(t A(theta)) and its derivative in theta, in closed form (float64, NumPy)."""
    t = np.asarray(t, np.float64)[..., None, None]
    e1, e2 = np.exp(-theta * t), np.exp(-2 * t)
    zero = np.zeros_like(e1)
    expm = np.block([[e1, (e1 - e2) / (2 - theta)], [zero, e2]])
    d_expm = np.block([[-t * e1, (-t * e1 * (2 - theta) + e1 - e2) / (2 - theta) ** 2],
                       [zero, zero]])
    return expm, d_expm


def derivatives(np_, lax, jacrev, jacfwd, grad, steps: int, y0, theta) -> dict:
    """The final state and its derivatives, and the trajectory functional's gradient, with
    one library."""
    trajectory = make_integrator(np_, lax, steps)
    dt = T_END / steps

    def final(y0, theta):
        return trajectory(y0, theta)[-1]

    def energy(y0, theta):  # J = dt * sum_k |y(t_k)|**2
        return dt * np_.sum(trajectory(y0, theta) ** 2)

    dJ_dy0, dJ_dtheta = grad(energy, argnums=(0, 1))(y0, theta)
    return {"y(t_end)": final(y0, theta),
            "dy(t_end)/dy0, jacrev": jacrev(final)(y0, theta),
            "dy(t_end)/dtheta, jacfwd": jacfwd(final, argnums=1)(y0, theta),
            "dJ/dy0, grad": dJ_dy0,
            "dJ/dtheta, grad": dJ_dtheta}


def analytic(steps: int, y0, theta) -> dict:
    """The same numbers from the closed-form solution."""
    times = T_END / steps * np.arange(1, steps + 1)
    expms, d_expms = exact(times, theta)  # (steps, 2, 2) each
    y0 = np.asarray(y0, np.float64)
    ys, dys = expms @ y0, d_expms @ y0  # (steps, 2): y(t_k) and dy(t_k)/dtheta
    dt = T_END / steps
    return {"y(t_end)": ys[-1],
            "dy(t_end)/dy0, jacrev": expms[-1],
            "dy(t_end)/dtheta, jacfwd": dys[-1],
            "dJ/dy0, grad": 2 * dt * np.einsum("kij,ki->j", expms, ys),
            "dJ/dtheta, grad": 2 * dt * np.sum(ys * dys)}


def main(steps: int = 100, verbose: bool = True) -> tuple[dict, dict, dict]:
    """Integrates and differentiates with both; returns fgrad's, JAX's and the exact
    numbers."""
    y0, theta = np.asarray(Y0, np.float32), np.float32(THETA)
    ours = derivatives(fnp, fgrad.lax, fgrad.jacrev, fgrad.jacfwd, fgrad.grad, steps, y0, theta)
    theirs = derivatives(jnp, jax.lax, jax.jacrev, jax.jacfwd, jax.grad, steps, y0, theta)
    exact_numbers = analytic(steps, y0, THETA)
    if verbose:
        A = np.array([[-THETA, 1.0], [0.0, -2.0]], np.float32)
        expm_error = np.abs(jax.scipy.linalg.expm(T_END * A) - exact(T_END, THETA)[0]).max()
        print(f"dy/dt = A y, theta = {THETA}, y0 = {Y0}, {steps} RK4 steps to t = {T_END}")
        print(f"closed form of expm(t A) against jax.scipy.linalg.expm: largest difference "
              f"{expm_error:.2g}")
        for name in ours:
            print(f"{name}:")
            for label, row in (("fgrad", ours), ("JAX", theirs), ("exact", exact_numbers)):
                text = np.array2string(np.asarray(row[name]), precision=7, suppress_small=True)
                print(f"  {label:>6} " + text.replace("\n", "\n         "))
    return ours, theirs, exact_numbers


def agree(ours: dict, theirs: dict, exact_numbers: dict) -> bool:
    return all(np.allclose(ours[k], theirs[k], rtol=RTOL, atol=ATOL)
               and np.allclose(ours[k], exact_numbers[k], rtol=RTOL, atol=ATOL) for k in ours)


def expm_matches_closed_form() -> bool:
    A = np.array([[-THETA, 1.0], [0.0, -2.0]], np.float32)
    return bool(np.allclose(jax.scipy.linalg.expm(T_END * A), exact(T_END, THETA)[0],
                            rtol=1e-5, atol=1e-6))


if __name__ == "__main__":
    results = main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
    ok = agree(*results) and expm_matches_closed_form()
    print("fgrad, JAX and the exact solution agree" if ok else "the results DISAGREE")
    sys.exit(0 if ok else 1)
