"""examples/attention_ranks.py (a transformer layer built from fgrad.nn, einsum and argsort)
trains exactly as the same program in JAX does."""

import importlib.util
import os

import numpy as np


def test_attention_example_trains_like_jax(quick_compile):
    path = os.path.join(os.path.dirname(__file__), "..", "examples", "attention_ranks.py")
    spec = importlib.util.spec_from_file_location("attention_ranks", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    (losses, accuracies), (jax_losses, jax_accuracies) = example.main(steps=12, verbose=False)
    np.testing.assert_allclose(losses, jax_losses, rtol=example.RTOL)
    np.testing.assert_allclose(accuracies, jax_accuracies, atol=1 / (example.BATCH * example.T))
    assert losses[-1] < losses[0]  # it learns
