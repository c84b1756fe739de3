"""dtype utilities: promotion, casting rules and dtype tests, as jax.numpy has them."""

# The public names, gathered by fgrad/numpy/__init__.py.
__all__ = []
