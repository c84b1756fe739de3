"""Data-parallel training with fgrad on every device JAX sees.

fgrad computes the gradient; `jax.jit` with a device mesh places the work. The parameters
are replicated on every device, the batch is split along the mesh axis "data", and XLA
partitions the compiled step and inserts the cross-device sum of the gradients itself.
The same step then runs on one device, and both runs must agree.

Run:  python examples/data_parallel.py
(on a machine with one CPU it shows 4 virtual CPU devices; on GPUs it uses them all)
"""

import os

if __name__ == "__main__" and "XLA_FLAGS" not in os.environ:
    # JAX reads the device count once, when it starts, so this must precede `import jax`.
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"

import jax  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P  # noqa: E402

import fgrad  # noqa: E402
import fgrad.numpy as fnp  # noqa: E402

LAYER_SIZES = (16, 64, 64, 1)
LEARNING_RATE = 0.1
ROWS_PER_DEVICE = 32


def init_params(rng, sizes=LAYER_SIZES, dtype=np.float32):
    """A list of (weights, biases) per layer; weights scaled by 1/sqrt(fan-in) so every
    layer's pre-activations start at about unit scale."""
    return [((rng.normal(size=(n_in, n_out)) / np.sqrt(n_in)).astype(dtype),
             np.zeros(n_out, dtype))
            for n_in, n_out in zip(sizes[:-1], sizes[1:])]


def make_batch(rng, rows, dtype=np.float32):
    """Inputs and targets of a smooth regression problem the network can learn."""
    x = rng.normal(size=(rows, LAYER_SIZES[0])).astype(dtype)
    y = np.sin(x[:, :1] * x[:, 1:2]) + 0.5 * x[:, 2:3]
    return x, y.astype(dtype)


def loss(params, batch):
    x, y = batch
    for w, b in params[:-1]:
        x = fnp.tanh(x @ w + b)
    w, b = params[-1]
    return fnp.mean((x @ w + b - y) ** 2)


@jax.jit
def train_step(params, batch):
    value, grads = fgrad.value_and_grad(loss)(params, batch)
    new_params = jax.tree.map(lambda p, g: p - LEARNING_RATE * g, params, grads)
    return value, new_params


def data_parallel_mesh():
    """A one-axis mesh over all devices; batches are split along its axis "data"."""
    return Mesh(np.array(jax.devices()), ("data",))


def place(params, batch, mesh):
    """Replicates the parameters and splits the batch's rows over the mesh's devices."""
    params = jax.device_put(params, NamedSharding(mesh, P()))
    batch = jax.device_put(batch, NamedSharding(mesh, P("data")))
    return params, batch


def train(params, batches, mesh=None):
    """Runs `train_step` over `batches`; on `mesh` if given, else with unplaced arrays
    (which JAX puts on its default device). Returns the losses and the final params."""
    losses = []
    for batch in batches:
        if mesh is not None:  # params come back replicated, so re-placing them is free
            params, batch = place(params, batch, mesh)
        value, params = train_step(params, batch)
        losses.append(float(value))
    return np.array(losses), params


if __name__ == "__main__":
    mesh = data_parallel_mesh()
    print(f"{len(jax.devices())} devices: {jax.devices()}")
    rng = np.random.default_rng(0)
    params = init_params(rng)
    batches = [make_batch(rng, ROWS_PER_DEVICE * mesh.size) for _ in range(20)]

    sharded_losses, sharded_params = train(params, batches, mesh)
    single_losses, single_params = train(params, batches)

    print("step  loss on the mesh  loss on one device")
    for step, (a, b) in enumerate(zip(sharded_losses, single_losses)):
        print(f"{step:4d}  {a:16.6f}  {b:18.6f}")
    w_first = sharded_params[0][0]
    print(f"first layer's weights: {w_first.shape} with sharding {w_first.sharding.spec}, "
          f"on {len(w_first.sharding.device_set)} devices")

    np.testing.assert_allclose(sharded_losses, single_losses, rtol=1e-5)
    for a, b in zip(jax.tree.leaves(sharded_params), jax.tree.leaves(single_params)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    print("the sharded and the one-device runs agree")
