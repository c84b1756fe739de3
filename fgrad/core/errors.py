"""fgrad's error types and how errors find the user's line.

Every error a user can trigger through fgrad names the line of *their* code that caused it.
`user_source()` finds it by walking the Python stack outwards and skipping frames that belong
to fgrad itself, to JAX, or to the standard library's plumbing (functools, contextlib).
"""

from __future__ import annotations

import os
import sys
from typing import NamedTuple

import jax

_FGRAD_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SKIPPED_DIRS = (
    _FGRAD_DIR + os.sep,
    os.path.dirname(os.path.abspath(jax.__file__)) + os.sep,
    os.path.dirname(os.path.abspath(os.__file__)) + os.sep,  # stdlib: functools, contextlib
)


class Source(NamedTuple):
    """Where a value or an error comes from in the user's code."""

    filename: str
    lineno: int
    function: str

    def __str__(self) -> str:
        return f"{self.filename}:{self.lineno}"

    @property
    def short(self) -> str:
        return f"{os.path.basename(self.filename)}:{self.lineno}"


def _is_user_file(filename: str) -> bool:
    path = os.path.abspath(filename)
    # Tests and examples live beside fgrad/ and are user code.
    return not path.startswith(_SKIPPED_DIRS) and not filename.startswith("<frozen")


_USER_CODE: dict = {}  # code object -> is it the user's? (every traced equation asks)


def user_source(skip: int = 0) -> Source | None:
    """The innermost stack frame that is not fgrad's, JAX's or the standard library's,
    looking above the caller's `skip` innermost frames (which the caller knows are fgrad's)."""
    frame = sys._getframe(1 + skip)
    while frame is not None:
        code = frame.f_code
        mine = _USER_CODE.get(code)
        if mine is None:
            mine = _USER_CODE[code] = _is_user_file(code.co_filename)
        if mine:
            return Source(code.co_filename, frame.f_lineno, code.co_name)
        frame = frame.f_back
    return None


def at_user_line(message: str, source: Source | None = None) -> str:
    """Appends the user's file:line to a message."""
    source = source or user_source()
    return message if source is None else f"{message}\n  (at {source})"


class FgradError(Exception):
    """Base class of the errors fgrad raises on purpose."""


class ShapeDtypeError(FgradError, TypeError, ValueError):
    """Operands of the wrong shape or dtype, or static arguments that do not fit them.

    Both a TypeError and a ValueError: JAX raises one or the other for the same kinds of
    mistake (a shape mismatch in jnp.dot is a TypeError, an axis out of range in
    lax.reduce_sum a ValueError), and code written against JAX catches whichever it raises.
    """


class StructureError(FgradError, TypeError, ValueError):
    """Arguments whose pytree structure, or static values, a transformation cannot take.

    Both a TypeError and a ValueError, like ShapeDtypeError: JAX raises either (a vjp
    pullback given the wrong structure raises ValueError, jvp's tangents TypeError).
    """


class ConcretizationError(FgradError, TypeError):
    """Python needed the concrete value of an abstract traced value."""


class EscapedTracerError(FgradError, RuntimeError):
    """A traced value was used after the transformation that created it had returned."""


class TracerConversionError(FgradError, ValueError):
    # Deliberately not a TypeError: JAX catches TypeErrors raised while it interprets an
    # argument and replaces them with a generic message, hiding our advice.
    """An fgrad traced value was handed to JAX or NumPy, which cannot trace it."""


class MissingRuleError(FgradError, NotImplementedError):
    """A primitive has no rule for the transformation being applied to it."""
