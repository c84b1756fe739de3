"""Sorting, searching, order statistics and set operations."""

# The public names, gathered by fgrad/numpy/__init__.py.
__all__ = []
