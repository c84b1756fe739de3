"""fgrad on a mesh of 4 devices through jax.jit and NamedSharding (examples/data_parallel.py).

JAX fixes its device count when it starts and the test process has one CPU device, so the
checks below (`check_*`) run in a fresh Python process that runs this file as a script with
XLA_FLAGS asking for 4 CPU devices. The child runs every check, catches each failure's
traceback and prints a JSON report; each check is then one test here, whose message shows
the child's traceback, stdout and stderr.
"""

import json
import os
import pathlib
import subprocess
import sys
import traceback

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

import fgrad
import fgrad.numpy as fnp

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEVICES = 4
REPORT_MARK = "CHECK REPORT: "


def run_python(args, xla_flags):
    """Runs `python *args` from the repository's root on CPU devices only; `xla_flags` None
    leaves XLA_FLAGS unset."""
    env = {key: value for key, value in os.environ.items() if key != "XLA_FLAGS"}
    env["JAX_PLATFORMS"] = "cpu"  # a GPU machine would otherwise ignore the CPU device count
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), str(ROOT / "examples"), os.environ.get("PYTHONPATH", "")])
    if xla_flags is not None:
        env["XLA_FLAGS"] = xla_flags
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def describe(process):
    return (f"exit code {process.returncode}\n--- stdout ---\n{process.stdout}"
            f"\n--- stderr ---\n{process.stderr}")


# -- the checks, run in the child process ----------------------------------------------------

def close(actual, expected, rtol, atol=0.0):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol)


def jax_loss(params, batch):
    """The example's loss written in jax.numpy, the reference for fgrad's gradients."""
    x, y = batch
    for w, b in params[:-1]:
        x = jnp.tanh(x @ w + b)
    w, b = params[-1]
    return jnp.mean((x @ w + b - y) ** 2)


def setup():
    import data_parallel as dp  # examples/ is on the child's path only
    rng = np.random.default_rng(1)
    params = dp.init_params(rng)
    batches = [dp.make_batch(rng, dp.ROWS_PER_DEVICE * DEVICES) for _ in range(20)]
    return dp, dp.data_parallel_mesh(), params, batches


def check_four_devices_are_visible(dp, mesh, params, batches):
    assert len(jax.devices()) == DEVICES, jax.devices()
    assert mesh.shape == {"data": DEVICES}, mesh


def check_sharded_training_equals_one_device(dp, mesh, params, batches):
    sharded_losses, sharded_params = dp.train(params, batches, mesh)
    single_losses, single_params = dp.train(params, batches)
    assert sharded_losses[-1] < 0.6 * sharded_losses[0], sharded_losses  # it does learn
    close(sharded_losses, single_losses, rtol=1e-5)
    for (w, b), (w1, b1) in zip(sharded_params, single_params):
        close(w, w1, rtol=1e-5, atol=1e-6)
        close(b, b1, rtol=1e-5, atol=1e-6)


def check_batch_is_split_and_params_come_back_replicated(dp, mesh, params, batches):
    placed_params, placed_batch = dp.place(params, batches[0], mesh)
    rows = dp.ROWS_PER_DEVICE
    for placed, original in zip(placed_batch, batches[0]):
        shards = sorted(placed.addressable_shards, key=lambda s: s.index[0].start)
        assert len(shards) == DEVICES and placed.sharding.spec == P("data"), placed.sharding
        assert {s.device for s in shards} == set(jax.devices())
        for i, shard in enumerate(shards):
            close(shard.data, original[i * rows:(i + 1) * rows], rtol=0)
    _, new_params = dp.train_step(placed_params, placed_batch)
    for leaf in jax.tree.leaves(new_params):
        assert leaf.sharding.is_fully_replicated, leaf.sharding
        assert len(leaf.addressable_shards) == DEVICES
        for shard in leaf.addressable_shards:
            close(shard.data, leaf, rtol=0)


def check_compiled_step_sums_gradients_across_devices(dp, mesh, params, batches):
    sharded_hlo = dp.train_step.lower(*dp.place(params, batches[0], mesh)).compile().as_text()
    single_hlo = dp.train_step.lower(params, batches[0]).compile().as_text()
    assert "all-reduce" in sharded_hlo, sharded_hlo
    assert "all-reduce" not in single_hlo, single_hlo


def placed_float64_problem(dp, mesh, seed):
    """Parameters and a batch in float64 (so "equal" can be tight), placed on `mesh`; call
    under `jax.enable_x64(True)`."""
    rng = np.random.default_rng(seed)
    params = dp.init_params(rng, dtype=np.float64)
    batch = dp.make_batch(rng, dp.ROWS_PER_DEVICE * DEVICES, dtype=np.float64)
    return dp.place(params, batch, mesh)


def check_fgrad_gradients_equal_jax_grad_on_the_mesh(dp, mesh, params, batches):
    with jax.enable_x64(True):
        placed = placed_float64_problem(dp, mesh, seed=2)
        ours = jax.jit(fgrad.grad(dp.loss))(*placed)
        theirs = jax.jit(jax.grad(jax_loss))(*placed)
        assert jax.tree.structure(ours) == jax.tree.structure(theirs)
        for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
            assert a.dtype == np.float64 and a.sharding.is_fully_replicated, a.sharding
            close(a, b, rtol=1e-12, atol=1e-14)


def check_fgrad_jit_step_runs_on_the_mesh_too(dp, mesh, params, batches):
    # fgrad.jit compiles through jax.jit, so the inputs' shardings drive it the same way.
    @fgrad.jit
    def step(params, batch):
        value, grads = fgrad.value_and_grad(dp.loss)(params, batch)
        return value, jax.tree.map(lambda p, g: p - dp.LEARNING_RATE * g, params, grads)

    placed = dp.place(params, batches[0], mesh)
    value, new_params = step(*placed)
    ref_value, ref_params = dp.train_step(*placed)
    close(value, ref_value, rtol=1e-6)
    for a, b in zip(jax.tree.leaves(new_params), jax.tree.leaves(ref_params)):
        assert a.sharding.is_fully_replicated, a.sharding
        close(a, b, rtol=1e-5, atol=1e-7)
    assert "all-reduce" in step.lower(*placed).compile().as_text()


def check_gradients_on_a_mesh_with_explicit_axes(dp, mesh, params, batches):
    # jax.make_mesh's default axes are Explicit: a sharding is part of each value's type,
    # and the weight gradient's dot_general (contracting the sharded batch) must name its
    # output sharding. Eager, under jax.jit and under fgrad.jit, fgrad must agree with
    # JAX on the values and on the gradients' shardings (replicated, like the weights).
    explicit = jax.make_mesh((DEVICES,), ("data",), axis_types=(jax.sharding.AxisType.Explicit,))
    with jax.enable_x64(True):
        placed = placed_float64_problem(dp, explicit, seed=3)
        assert jax.typeof(placed[1][0]).sharding.spec == P("data", None)
        theirs = jax.jit(jax.grad(jax_loss))(*placed)
        for how, grad_fn in [("eager", fgrad.grad(dp.loss)),
                             ("jax.jit", jax.jit(fgrad.grad(dp.loss))),
                             ("fgrad.jit", fgrad.jit(fgrad.grad(dp.loss)))]:
            ours = grad_fn(*placed)
            for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
                assert a.dtype == np.float64, how
                assert jax.typeof(a).sharding.spec == jax.typeof(b).sharding.spec, how
                close(a, b, rtol=1e-12, atol=1e-14)


def check_where_and_like_keep_shardings_on_explicit_axes(dp, mesh, params, batches):
    # Under Explicit axes JAX's select_n wants its operands' shardings equal, and fgrad's
    # broadcast of a scalar (fnp.where(x > 0, x, 0.0)) used to come out replicated; the
    # *_like constructors dropped their operand's sharding. A logsumexp with a where, on a
    # 2-device mesh: eagerly, under jax.jit, under fgrad.jit and in a gradient.
    two = jax.make_mesh((2,), ("data",), axis_types=(jax.sharding.AxisType.Explicit,),
                        devices=jax.devices()[:2])

    def logsumexp(np_):
        def f(x):
            m = np_.max(x, axis=1, keepdims=True)
            z = np_.where(x > m - 3.0, np_.exp(x - m), 0.0)
            return np_.sum(np_.log(np_.sum(z, axis=1)) + m[:, 0])
        return f

    with jax.set_mesh(two):
        x = jax.device_put(jnp.arange(12.0).reshape(4, 3) / 4 - 1, P("data", None))
        for name in ("zeros_like", "ones_like", "empty_like"):
            ours, theirs = getattr(fnp, name)(x), getattr(jnp, name)(x)
            assert jax.typeof(ours).sharding.spec == jax.typeof(theirs).sharding.spec, name
        assert jax.typeof(fnp.full_like(x, 2.0)).sharding.spec == P("data", None)
        where = fnp.where(x > 0, x, 0.0)
        assert jax.typeof(where).sharding.spec == P("data", None)
        close(where, jnp.where(x > 0, x, 0.0), rtol=0)
        want, want_grad = logsumexp(jnp)(x), jax.grad(logsumexp(jnp))(x)
        f = logsumexp(fnp)
        for how, value in [("eager", f(x)), ("jax.jit", jax.jit(f)(x)),
                           ("fgrad.jit", fgrad.jit(f)(x))]:
            close(value, want, rtol=1e-6)
        for how, g in [("eager", fgrad.grad(f)), ("jax.jit", jax.jit(fgrad.grad(f))),
                       ("fgrad.jit", fgrad.jit(fgrad.grad(f)))]:
            got = g(x)
            assert jax.typeof(got).sharding.spec == jax.typeof(want_grad).sharding.spec, how
            close(got, want_grad, rtol=1e-6)


CHECKS = [name for name in list(globals()) if name.startswith("check_")]


def run_checks():
    """The child's entry point: every check on one shared setup, then the JSON report."""
    shared = setup()
    report = {}
    for name in CHECKS:
        try:
            globals()[name](*shared)
            report[name] = None
        except Exception:
            report[name] = traceback.format_exc()
    print(REPORT_MARK + json.dumps(report))


# -- the tests, in the pytest process ---------------------------------------------------------

@pytest.fixture(scope="module")
def child_report():
    process = run_python([__file__],
                         xla_flags=f"--xla_force_host_platform_device_count={DEVICES}")
    lines = [line for line in process.stdout.splitlines() if line.startswith(REPORT_MARK)]
    assert process.returncode == 0 and lines, describe(process)
    return json.loads(lines[-1][len(REPORT_MARK):]), process


@pytest.mark.parametrize("check", CHECKS)
def test_on_four_devices(child_report, check):
    report, process = child_report
    assert check in report, describe(process)
    assert report[check] is None, f"{report[check]}\n{describe(process)}"


@pytest.mark.parametrize("xla_flags, devices", [
    (None, 4),  # the script asks for 4 CPU devices itself
    ("--xla_force_host_platform_device_count=1", 1),
    ("--xla_force_host_platform_device_count=3", 3),  # a batch size that is not a power of 2
])
def test_example_script_runs(xla_flags, devices):
    process = run_python([str(ROOT / "examples" / "data_parallel.py")], xla_flags)
    assert process.returncode == 0, describe(process)
    assert process.stdout.startswith(f"{devices} devices:"), describe(process)
    assert "the sharded and the one-device runs agree" in process.stdout, describe(process)


if __name__ == "__main__":
    run_checks()
