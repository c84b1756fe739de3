"""Polynomials, convolutions, differences, interpolation and statistics of samples."""

# The public names, gathered by fgrad/numpy/__init__.py.
__all__ = []
