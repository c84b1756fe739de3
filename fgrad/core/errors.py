"""fgrad's error types and how errors find the user's line.

Every error a user can trigger through fgrad names the line of *their* code that caused it.
`user_source()` finds it by walking the Python stack outwards and skipping frames that belong
to fgrad itself, to the libraries it runs on (JAX, jaxlib, NumPy, Equinox), or to the standard
library's plumbing (functools, contextlib). Everything else is the user's: scripts, tests,
notebooks, and packages installed in site-packages, the user's own included.
"""

from __future__ import annotations

import ast
import difflib
import functools
import importlib.util
import itertools
import linecache
import os
import re
import sys
import sysconfig
import types
from typing import NamedTuple

import jax

from fgrad.core.resources import register_cache


def _package_dir(name: str) -> str | None:
    """The directory of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    locations = list(getattr(spec, "submodule_search_locations", None) or [])
    return os.path.join(os.path.abspath(locations[0]), "") if locations else None


_FGRAD_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "")
_JAX_DIR = os.path.join(os.path.dirname(os.path.abspath(jax.__file__)), "")
_LIBRARY_DIRS = tuple(d for d in [_FGRAD_DIR, _JAX_DIR] + [
    _package_dir(name) for name in ("jaxlib", "numpy", "equinox")] if d)
# The standard library proper. Python installs third-party packages in site-packages (or
# Debian's dist-packages) *inside* this directory in many layouts, and those are not skipped.
_STDLIB_DIRS = tuple({os.path.join(os.path.abspath(sysconfig.get_paths()[key]), "")
                      for key in ("stdlib", "platstdlib")})
_PACKAGE_FOLDERS = ("site-packages", "dist-packages")


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


class DerivedSource(Source):
    """The source of an equation a derivative rule (jvp, transpose) made for the user's
    operation at this line: equal to that line's Source, and telling apart, to fgrad.debug's
    NaN checks, the backward pass from the forward one."""

    __slots__ = ()


def derived(source: Source | None) -> DerivedSource | None:
    if source is None or type(source) is DerivedSource:  # transposing a JVP's equation
        return source
    return DerivedSource(*source)


def _in_stdlib(path: str) -> bool:
    for stdlib in _STDLIB_DIRS:
        if path.startswith(stdlib):
            return path[len(stdlib):].split(os.sep, 1)[0] not in _PACKAGE_FOLDERS
    return False


# Bounded, keyed by file name (not code object, which would keep dead code alive); asked for
# every frame that user_source walks. lru_cache is thread-safe.
@functools.lru_cache(maxsize=4096)
def _is_user_file(filename: str) -> bool:
    """Whether code in `filename` is the user's: not fgrad's, not in the libraries it runs on,
    not in the standard library (but a package installed in site-packages is the user's)."""
    if filename.startswith("<frozen"):  # the interpreter's frozen standard modules
        return False
    path = os.path.abspath(filename)
    return not path.startswith(_LIBRARY_DIRS) and not _in_stdlib(path)


register_cache(
    "user_files", _is_user_file,
    holds="whether a source file is the user's (a bool)",
    key="a file name (not a code object, which would keep dead code alive)",
    why="one per file on the stack of a traced call: 4096 files is far more than a program "
        "imports")


def user_source(skip: int = 0) -> Source | None:
    """The innermost stack frame that is not fgrad's, its libraries' or the standard
    library's, looking above the caller's `skip` innermost frames (which the caller knows
    are fgrad's)."""
    frame = sys._getframe(1 + skip)
    while frame is not None:
        code = frame.f_code
        if _is_user_file(code.co_filename):
            return Source(code.co_filename, frame.f_lineno, code.co_name)
        frame = frame.f_back
    return None


# What to do instead of Python control flow on an abstract value, in every such error.
CONTROL_FLOW_ADVICE = (
    "To choose between values elementwise use fgrad.numpy.where; to branch or loop on a "
    "traced value keep the control flow in the program with fgrad.lax.cond, "
    "fgrad.lax.while_loop or fgrad.lax.fori_loop, for example "
    "`fgrad.lax.cond(x > 0, fnp.sin, fnp.cos, x)` or "
    "`fgrad.lax.fori_loop(0, n, lambda i, y: y * 2, x)`; a value that is really a Python "
    "constant can be a static argument (fgrad.jit(f, static_argnums=...)); Python control "
    "flow on values works when the function runs without jit (fgrad evaluates what the "
    "condition needs as it traces).")


def missing_attribute(namespace: str, jax_module, name: str, ours) -> AttributeError:
    """The error for `namespace.name` when fgrad's namespace lacks it: whether JAX's
    `jax_module` has it, and what to use meanwhile (a module's `__getattr__` raises it)."""
    if name.startswith("__"):
        return AttributeError(f"module {namespace!r} has no attribute {name!r}")
    jax_name = jax_module.__name__ if jax_module is not None else None
    if jax_module is not None and hasattr(jax_module, name):
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


class NotDifferentiableError(FgradError, TypeError):
    """A derivative asked of an operand that has none: a primitive's index or selector, or
    a transpose asked of an operand the primitive is not linear in (a program multiplying
    two tangents)."""


class ProgramTypeError(FgradError):
    """A program that breaks the IR's invariants (a variable bound twice or used before it is
    bound, an equation whose output types are not what its primitive's shape rule says):
    a bug in fgrad or in one of its rules, or a bad hand-made program."""


# -- JAX failing on fgrad's values ---------------------------------------------------------------
#
# fgrad's tracer is not a JAX type and JAX offers no public way to register one (checked with
# jax 0.10.2), so a JAX function handed one fails, each in its own words: jitted functions
# (most of jax.numpy, and the user's jax.jit) say "Argument ... of type <class
# 'fgrad.core.trace.Tracer'> is not a valid JAX type", primitives' `bind` (raw jax.lax
# functions, functions with custom JAX derivatives such as jax.nn.relu) "Error interpreting
# argument to <primitive>", jax.numpy's argument checks "... got <class ...Tracer'>", and
# jnp.asarray reaches the tracer's __array__ (TracerConversionError). fgrad rewrites these
# errors where the user's function is traced (trace_to_program): it recognizes them by its
# tracer named in the message, and says which JAX function failed (read from the call in the
# traceback: JAX removes its own frames from tracebacks crossing its API) and where the user
# called it.

_JAX_BIND_FAILURE = "Error interpreting argument to"
_TRACER_NAMED = re.compile(r"fgrad\.core\.trace\.Tracer\b|(?<![\w.])Tracer<")
_JAX_PLUMBING = ("traceback_util.py", "api_util.py", "linear_util.py")
_JAX_FAMILIES = (("_src/numpy/linalg", "jax.numpy.linalg"), ("_src/numpy/fft", "jax.numpy.fft"),
                 ("_src/numpy/", "jax.numpy"), ("_src/lax/", "jax.lax"), ("_src/nn/", "jax.nn"),
                 ("_src/scipy/", "jax.scipy"), ("_src/random/", "jax.random"),
                 ("_src/random.py", "jax.random"), ("_src/api.py", "jax"))


def _traceback_frames(error: BaseException) -> list[tuple]:
    """(frame, line, instruction offset) of each frame `error` passed through, outermost
    first."""
    frames = []
    tb = error.__traceback__
    while tb is not None:
        frames.append((tb.tb_frame, tb.tb_lineno, tb.tb_lasti))
        tb = tb.tb_next
    return frames


def _jax_module(path: str) -> str | None:
    """A file's path inside JAX (`_src/numpy/ufuncs.py`), or None if it is not JAX's."""
    return path[len(_JAX_DIR):].replace(os.sep, "/") if path.startswith(_JAX_DIR) else None


def _call_site(frames: list[tuple]) -> tuple[tuple | None, list[tuple[str, str]]]:
    """The innermost frame that called into JAX (the user's, a library's or fgrad's own),
    and the JAX functions it was running when the error came, outermost first."""
    caller, called = None, []
    for frame, lineno, lasti in frames:
        path = os.path.abspath(frame.f_code.co_filename)
        module = _jax_module(path)
        if module is not None:
            if not module.endswith(_JAX_PLUMBING):
                called.append((module, frame.f_code.co_name))
        elif _is_user_file(frame.f_code.co_filename) or (not called and not _in_stdlib(path)):
            # Below JAX only code JAX calls back (the user's, under jax.jit) is a new caller;
            # fgrad's there is the tracer's own __array__, answering JAX.
            caller, called = (frame, lasti), []
    return caller, called


def _called_function(frame: types.FrameType, lasti: int) -> tuple[str | None, object]:
    """The function `frame` was calling at instruction `lasti`, read from the call's source
    (Python 3.11+ records each instruction's position): the name the code wrote and what it
    names, for a name or a chain of module attributes (`jnp.sin`, `jitted`); else None."""
    positions = getattr(frame.f_code, "co_positions", None)
    if positions is None or lasti < 0:
        return None, None
    position = next(itertools.islice(positions(), lasti // 2, None), None)
    if position is None or None in position:
        return None, None
    line, end_line, col, end_col = position  # columns count UTF-8 bytes
    lines = [linecache.getline(frame.f_code.co_filename, n).encode()
             for n in range(line, end_line + 1)]
    text = (lines[0][col:end_col] if len(lines) == 1
            else lines[0][col:] + b"".join(lines[1:-1]) + lines[-1][:end_col])
    try:
        call = ast.parse(b"(" + text + b")", mode="eval").body
    except (SyntaxError, ValueError):
        return None, None
    if isinstance(call, ast.Subscript):
        return "[]", None  # indexing (a jax.Array, with a traced index)
    if not isinstance(call, ast.Call):
        return None, None
    if isinstance(call.func, ast.Call):  # jax.jit(f)(x): what the inner call made
        inner_written, inner = _resolve(frame, call.func.func)
        return (f"{inner_written}(...)", _JITTED) if inner is jax.jit else (None, None)
    return _resolve(frame, call.func)


_JITTED = object()  # stands for what `jax.jit(f)` returns, when only the call was written


def _resolve(frame: types.FrameType, node: ast.expr) -> tuple[str | None, object]:
    """What a name or a chain of module attributes names in `frame`."""
    attributes = []
    while isinstance(node, ast.Attribute):
        attributes.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None, None
    missing = object()
    root = next((scope[node.id] for scope in (frame.f_locals, frame.f_globals, frame.f_builtins)
                 if node.id in scope), missing)
    value = root
    for attribute in reversed(attributes):  # read attributes of modules only: no user code
        if not isinstance(value, types.ModuleType):
            return None, None
        value = getattr(value, attribute, missing)
    if value is missing:
        return None, None
    if isinstance(root, types.ModuleType):  # jnp.sin: named from the module's real name
        return ".".join([root.__name__, *reversed(attributes)]), value
    return node.id, value


def _public_jax_name(written: str | None, function) -> str | None:
    """The name under which JAX offers `function` (jax.numpy.sin), if it is JAX's."""
    module = getattr(function, "__module__", None) or ""
    name = getattr(function, "__name__", None)
    if not (module == "jax" or module.startswith("jax.")) or not name:
        return None
    if written is not None and written.startswith("jax.") and "._" not in written:
        return written  # as written, through JAX's modules: jax.nn.relu
    path = module.replace(".", "/").removeprefix("jax/") + "/"
    family = next((family for part, family in _JAX_FAMILIES if path.startswith(part)), None)
    return f"{family or module}.{name}"


def _is_jitted(function) -> bool:
    # What jax.jit returns (jax.stages.Wrapped): it can also be lowered and traced.
    return function is _JITTED or (
        callable(function) and hasattr(function, "lower") and hasattr(function, "trace"))


def explain_jax_failure(error: BaseException, trace_name: str) -> Exception | None:
    """fgrad's TracerConversionError for `error` when it is JAX failing on an fgrad traced
    value (naming the JAX function, what to use instead and the user's line), else None."""
    if getattr(error, "explained_by_fgrad", False):
        return None
    frames = _traceback_frames(error)
    caller, called = _call_site(frames)
    if isinstance(error, TracerConversionError):
        if not called:
            return None  # NumPy's own conversion (np.sin(x)): its message says it
    elif (isinstance(error, FgradError)
          or not isinstance(error, (TypeError, ValueError, IndexError))
          or not _TRACER_NAMED.search(str(error))
          or str(error).startswith("fgrad.")):
        return None  # not JAX's, or fgrad's own message ("fgrad.<function>: ...") naming one
    user = None
    for frame, lineno, _ in frames:
        if _is_user_file(frame.f_code.co_filename):
            user = Source(frame.f_code.co_filename, lineno, frame.f_code.co_name)
    written, function = _called_function(*caller) if caller is not None else (None, None)
    jax_name = _public_jax_name(written, function)
    module, name = called[0] if called else ("", "")
    family = next((family for part, family in _JAX_FAMILIES if module.startswith(part)), None)
    if jax_name is None and _is_jitted(function):
        # A jitted function of the user's (JAX's own are named by the module they are in).
        advice = (f"fgrad cannot trace into a jax.jit-compiled function ({trace_name} met one): "
                  f"JAX traces it with its own tracer, which cannot hold fgrad's values. Use "
                  f"fgrad.jit instead (fgrad.grad(fgrad.jit(f)) works), or put jax.jit outside "
                  f"fgrad's transformation: jax.jit(fgrad.grad(f)).")
    elif (jax_name or "").startswith("jax.random.") or family == "jax.random":
        what = jax_name or f"jax.random.{name}"
        advice = (f"{what} was given an fgrad traced value (traced by {trace_name}), which "
                  f"JAX cannot sample with. Use fgrad.random (import fgrad.random as frandom): "
                  f"it has jax.random's API and works inside fgrad's transformations.")
    else:
        if _JAX_BIND_FAILURE in str(error):
            primitive = str(error).split(_JAX_BIND_FAILURE, 1)[1].split(" as ", 1)[0].strip()
            what = (f"jax.lax.{primitive}" if not primitive.startswith("custom_")
                    else f"{jax_name} (a function with a custom JAX derivative)" if jax_name
                    else "a function with a custom JAX derivative (such as jax.nn.relu)")
        elif jax_name is not None:
            what = jax_name
        elif written == "[]":
            what = ("the indexing of a JAX array (to index one with a traced index, make it "
                    "an fgrad value first: fnp.asarray(array)[i])")
        elif module.endswith("array_methods.py"):
            what = f"a JAX array's method ({name})"
        elif family is not None:
            what = f"{family}.{name.removesuffix('_f')}"
        else:
            what = "a JAX function"
        advice = (f"An fgrad traced value (traced by {trace_name}) was passed to {what}, "
                  f"which cannot trace fgrad's values. Inside functions that fgrad transforms, "
                  f"compute with fgrad.numpy (import fgrad.numpy as fnp), fgrad.lax or "
                  f"fgrad.random (jax.nn.relu(x) is fnp.maximum(x, 0.0)), and fgrad's own "
                  f"transformations (fgrad.grad, fgrad.jit, fgrad.vmap, ...); JAX's functions "
                  f"work on concrete arrays outside fgrad's transformations.")
    # No user frame below the trace: the user handed fgrad the failing function itself.
    explained = TracerConversionError(at_user_line(advice, user))
    explained.explained_by_fgrad = True
    return explained
