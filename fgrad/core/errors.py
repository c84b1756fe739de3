"""fgrad's error types and how errors find the user's line.

Every error a user can trigger through fgrad names the line of *their* code that caused it.
`user_source()` finds it by walking the Python stack outwards and skipping frames that belong
to fgrad itself, to JAX, or to the standard library's plumbing (functools, contextlib).
"""

from __future__ import annotations

import difflib
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


# What to do instead of Python control flow on an abstract value, in every such error.
CONTROL_FLOW_ADVICE = (
    "To choose between values elementwise use fgrad.numpy.where; a value that is really a "
    "Python constant can be a static argument (fgrad.jit(f, static_argnums=...)); Python "
    "control flow on values works when the function runs without jit (fgrad evaluates what "
    "the condition needs as it traces).")
_CONTROL_FLOW = {"cond", "switch", "while_loop", "fori_loop", "scan", "map", "associative_scan"}


def missing_attribute(namespace: str, jax_module, name: str, ours) -> AttributeError:
    """The error for `namespace.name` when fgrad's namespace lacks it: whether JAX's
    `jax_module` has it, and what to use meanwhile (a module's `__getattr__` raises it)."""
    if name.startswith("__"):
        return AttributeError(f"module {namespace!r} has no attribute {name!r}")
    jax_name = jax_module.__name__ if jax_module is not None else None
    if name in _CONTROL_FLOW:
        advice = (f"{jax_name}.{name} exists, but fgrad's control flow primitives do not yet. "
                  f"Meanwhile: {CONTROL_FLOW_ADVICE}")
    elif jax_module is not None and hasattr(jax_module, name):
        advice = (f"{jax_name}.{name} exists, but fgrad does not have it yet. Meanwhile, "
                  f"write it with {namespace}'s functions inside functions fgrad transforms, "
                  f"or call {jax_name}.{name} on concrete arrays outside fgrad's "
                  f"transformations.")
    else:
        close = difflib.get_close_matches(name, [n for n in ours if not n.startswith("_")], 3)
        advice = ((f"{jax_name} has no {name!r} either. " if jax_name else "")
                  + (f"Did you mean {', '.join(close)}?" if close else "Check the spelling."))
    return AttributeError(at_user_line(
        f"module {namespace!r} has no attribute {name!r}. {advice}"))


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


# -- JAX failing on fgrad's values ---------------------------------------------------------------
#
# Most JAX functions probe `__jax_array__` first, and fgrad's tracer answers with
# TracerConversionError at once. Others never ask: JAX's primitives' `bind` (raw jax.lax
# functions such as dynamic_slice or conv_general_dilated, and functions with custom JAX
# derivatives such as jax.nn.relu) fail with a generic "Error interpreting argument"
# TypeError, and JAX offers no public way to register fgrad's tracer with it (checked with
# jax 0.10.2). So fgrad rewrites those errors where the user's function is traced, reading
# the traceback to say which JAX function failed and where the user called it.

_JAX_DIR = os.path.dirname(os.path.abspath(jax.__file__)) + os.sep
_JAX_BIND_FAILURE = "Error interpreting argument to"
_JAX_PLUMBING = ("traceback_util.py", "api_util.py", "linear_util.py")
_JAX_FAMILIES = (("_src/numpy/linalg", "jax.numpy.linalg"), ("_src/numpy/fft", "jax.numpy.fft"),
                 ("_src/numpy/", "jax.numpy"), ("_src/lax/", "jax.lax"), ("_src/nn/", "jax.nn"),
                 ("_src/scipy/", "jax.scipy"), ("_src/api.py", "jax"))


def stack_of_error() -> list[tuple]:
    """The live stack, outermost first, for an error about to be raised: JAX filters its
    own frames out of tracebacks that cross its API, and explain_jax_failure needs them."""
    frames = []
    frame = sys._getframe(1)
    while frame is not None:
        frames.append((frame, frame.f_lineno))
        frame = frame.f_back
    return frames[::-1]


def _traceback_frames(error: BaseException) -> list[tuple]:
    stack = getattr(error, "stack", None)
    if stack is not None:
        return stack
    frames = []
    tb = error.__traceback__
    while tb is not None:
        frames.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    return frames


def explain_jax_failure(error: BaseException, trace_name: str) -> Exception | None:
    """fgrad's TracerConversionError for `error` when it is JAX failing on an fgrad traced
    value (naming the JAX function, what to use instead and the user's line), else None."""
    if getattr(error, "explained_by_fgrad", False):
        return None
    if isinstance(error, TracerConversionError):
        if not hasattr(error, "stack"):
            return None  # not from our __jax_array__ probe (NumPy's __array__, say)
    elif not (isinstance(error, TypeError) and _JAX_BIND_FAILURE in str(error)
              and "fgrad.core.trace.Tracer" in str(error)):
        return None
    user, called = None, []  # the innermost user frame, and the JAX frames under it
    for frame, lineno in _traceback_frames(error):
        code = frame.f_code
        path = os.path.abspath(code.co_filename)
        if _is_user_file(code.co_filename):
            user, called = Source(code.co_filename, lineno, code.co_name), []
        elif path.startswith(_JAX_DIR) and not path.endswith(_JAX_PLUMBING):
            called.append((path[len(_JAX_DIR):].replace(os.sep, "/"), code.co_name, frame))
    module, function = called[0][:2] if called else ("", "")
    if module.endswith("pjit.py"):
        # A jitted function: the user's own, or one of JAX's (jax.numpy.sin is jitted).
        # JAX keeps it in a local of its argument parsing (read here only to word the error).
        jitted = next((f.f_locals.get("fun") for m, n, f in called if n == "_infer_params"),
                      None)
        home = getattr(jitted, "__module__", "") or ""
        if home.startswith("jax"):
            module = home.replace(".", "/").removeprefix("jax/") + "/"
            function = getattr(jitted, "__name__", function)
    if module.endswith("pjit.py"):
        advice = (f"fgrad cannot trace into a jax.jit-compiled function ({trace_name} met one): "
                  f"JAX traces it with its own tracer, which cannot hold fgrad's values. Use "
                  f"fgrad.jit instead (fgrad.grad(fgrad.jit(f)) works), or put jax.jit outside "
                  f"fgrad's transformation: jax.jit(fgrad.grad(f)).")
    elif module.startswith("_src/random"):
        advice = (f"jax.random.{function} was given an fgrad traced value (traced by "
                  f"{trace_name}), which JAX cannot sample with. Use fgrad.random (import "
                  f"fgrad.random as frandom): it has jax.random's API and works inside "
                  f"fgrad's transformations.")
    else:
        family = next((name for part, name in _JAX_FAMILIES if module.startswith(part)), None)
        what = f"{family}.{function.removesuffix('_f')}" if family else "a JAX function"
        if _JAX_BIND_FAILURE in str(error):
            what = str(error).split(_JAX_BIND_FAILURE, 1)[1].split(" as ", 1)[0].strip()
            what = ("a function with a custom JAX derivative (such as jax.nn.relu)"
                    if what.startswith("custom_") else f"jax.lax.{what}")
        advice = (f"An fgrad traced value (traced by {trace_name}) was passed to {what}, "
                  f"which cannot trace fgrad's values. Inside functions that fgrad transforms, "
                  f"compute with fgrad.numpy (import fgrad.numpy as fnp), fgrad.lax or "
                  f"fgrad.random (jax.nn.relu(x) is fnp.maximum(x, 0.0)), and fgrad's own "
                  f"transformations (fgrad.grad, fgrad.vmap, ...); JAX's functions work on "
                  f"concrete arrays outside fgrad's transformations.")
    explained = TracerConversionError(at_user_line(advice, user) if user else advice)
    explained.explained_by_fgrad = True
    return explained
