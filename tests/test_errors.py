"""A catalogue of misuse: the mistakes users make with fgrad, and what fgrad says.

For each mistake: the exception is an instance of every built-in class JAX's exception for
the same mistake is (the JAX call is replayed next to fgrad's), the message says what was
wrong and what to do instead, it names the line of this file that made the mistake, and
fgrad works normally right afterwards, with no trace left active.

Most mistakes are one line each in CASES; the ones that need threads, state, subprocesses or
several steps have their own tests below it.
"""

import gc
import os
import re
import subprocess
import sys
import textwrap
import threading
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import io_callback

import fgrad
import fgrad.lax as fl
import fgrad.numpy as fnp
import fgrad.random as frandom
from fgrad.core import trace as fgrad_trace
from fgrad.core.errors import (
    ConcretizationError, EscapedTracerError, StructureError, TracerConversionError,
)

THIS_FILE = os.path.abspath(__file__)
HERE = os.path.basename(THIS_FILE)
X = np.array([0.5, -1.0, 2.0], np.float32)
KEYS = jax.random.split(jax.random.key(0), 2)
IGNORED_BASES = (BaseException, Exception, object)


def marked_line(marker: str) -> int:
    """The line of this file that ends with the comment `# <marker>`."""
    with open(THIS_FILE) as f:
        lines = [n for n, text in enumerate(f, 1) if text.rstrip().endswith(f"# {marker}")]
    assert len(lines) == 1, (marker, lines)
    return lines[0]


def names_line(message: str, line: int) -> bool:
    return re.search(rf"{re.escape(HERE)}:{line}\b", message) is not None


def raised(call: Callable) -> BaseException:
    try:
        call()
    except Exception as e:  # the point: whatever it raises
        return e
    pytest.fail("no exception was raised")


def builtin_bases(error: BaseException) -> list[type]:
    return [c for c in type(error).__mro__
            if c.__module__ == "builtins" and c not in IGNORED_BASES]


def assert_same_builtin_types(error: BaseException, jax_call: Callable) -> None:
    jax_error = raised(jax_call)
    missing = [c.__name__ for c in builtin_bases(jax_error) if not isinstance(error, c)]
    assert not missing, (f"fgrad raised {type(error).__name__}, JAX {type(jax_error).__name__}: "
                         f"fgrad's error must also be a {', '.join(missing)}")


def _sin_squared(x):
    return fnp.sum(fnp.sin(x) ** 2)


def _sum_of_squares(x):
    return fnp.sum(x * x)


def assert_works_normally() -> None:
    """No trace left active, no stand-ins left behind, NaN checks off; a gradient and a
    jitted function compute what they should (d/dx sin(x)² = 2 sin x cos x = sin 2x)."""
    context = fgrad_trace._context
    assert fgrad_trace.current_trace() is fgrad_trace.EVAL_TRACE
    assert context.source is None and context.stand_ins == {} and context.originals == {}
    assert not fgrad.debug.nans_enabled()
    np.testing.assert_allclose(fgrad.grad(_sin_squared)(X), np.sin(2 * X), rtol=1e-5)
    np.testing.assert_allclose(fgrad.jit(_sum_of_squares)(X), 5.25, rtol=1e-6)
    np.testing.assert_allclose(fgrad.vmap(fgrad.grad(_sum_of_squares))(X[:, None]),
                               2 * X[:, None], rtol=1e-6)
    assert fgrad_trace.current_trace() is fgrad_trace.EVAL_TRACE


# -- functions the cases below misuse --------------------------------------------------------


def f_xy(x, y):
    return x * y


def setitem_in_jit(x):
    x[0] = 1.0  # in-place assignment
    return x


def custom_jvp_returning(bad, module):
    """sin with a custom JVP rule whose tangent output is `bad(correct tangent)`, in fgrad
    (module=fnp) or in JAX (module=jnp)."""
    custom = fgrad.custom_jvp if module is fnp else jax.custom_jvp

    @custom
    def f(x):
        return module.sin(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return module.sin(x), bad(module.cos(x) * t)

    return f


def custom_vjp_returning(bad, module):
    """sin with a custom VJP whose bwd returns `bad(correct cotangent)`."""
    custom = fgrad.custom_vjp if module is fnp else jax.custom_vjp

    @custom
    def f(x):
        return module.sin(x)

    f.defvjp(lambda x: (module.sin(x), x), lambda x, ct: bad(ct * module.cos(x)))
    return f


def grad_sum(f, module):
    """The gradient at X of sum(f(x)), by fgrad or by JAX."""
    return (fgrad.grad if module is fnp else jax.grad)(lambda x: module.sum(f(x)))(X)  # grad_sum


# -- the catalogue ---------------------------------------------------------------------------


class Case(NamedTuple):
    name: str
    call: Callable  # makes the mistake with fgrad, on one line (the line the error names)
    jax: Callable | None  # the same mistake with JAX; None where JAX has no such call
    error: type | tuple  # what fgrad raises
    says: tuple  # fragments of the message: what was wrong, what to do instead
    marker: str | None = None  # the mistake is on the line marked so, not on the call's
    user_line: bool = True  # False where the mistake is made in JAX's code, not fgrad's


# Where JAX accepts a call fgrad refuses, `jax` is None and a comment says why.
CASES = [
    # differentiation
    Case("grad of a non-scalar output", lambda: fgrad.grad(lambda x: x * 2.0)(X),
         lambda: jax.grad(lambda x: x * 2.0)(X), TypeError, ("scalar-output", "(3,)", "vjp")),
    Case("grad of a tuple output", lambda: fgrad.grad(lambda x: (x, x))(1.0),
         lambda: jax.grad(lambda x: (x, x))(1.0), TypeError, ("scalar-output", "jacrev")),
    Case("grad of an int input", lambda: fgrad.grad(lambda x: x * 2.0)(3),
         lambda: jax.grad(lambda x: x * 2.0)(3), TypeError, ("int32", "allow_int=True")),
    Case("grad of a bool input", lambda: fgrad.grad(lambda x: 1.0)(np.array(True)),
         lambda: jax.grad(lambda x: 1.0)(np.array(True)), TypeError, ("bool", "allow_int")),
    Case("grad of an int output", lambda: fgrad.grad(lambda x: (x > 0).astype(int))(1.0),
         lambda: jax.grad(lambda x: (x > 0).astype(int))(1.0), TypeError,
         ("int32", "fgrad.vjp")),
    Case("grad of a complex output", lambda: fgrad.grad(lambda x: x * 1j)(1.0),
         lambda: jax.grad(lambda x: x * 1j)(1.0), TypeError, ("complex64", "holomorphic=True")),
    Case("holomorphic grad of a real input", lambda: fgrad.grad(fnp.sin, holomorphic=True)(1.0),
         lambda: jax.grad(jnp.sin, holomorphic=True)(1.0), TypeError, ("complex", "float32")),
    Case("holomorphic grad of a real output",
         lambda: fgrad.grad(fnp.real, holomorphic=True)(1j),
         lambda: jax.grad(jnp.real, holomorphic=True)(1j), TypeError,
         ("complex output", "without it")),
    Case("jacfwd of an int input", lambda: fgrad.jacfwd(lambda x: x)(1),
         lambda: jax.jacfwd(lambda x: x)(1), TypeError, ("int32", "float")),
    Case("argnums out of range", lambda: fgrad.grad(f_xy, argnums=2)(1.0, 2.0),
         lambda: jax.grad(f_xy, argnums=2)(1.0, 2.0), TypeError, ("argnums contains 2", "2 pos")),
    Case("argnums a float", lambda: fgrad.grad(f_xy, argnums=1.0)(1.0, 2.0),
         lambda: jax.grad(f_xy, argnums=1.0)(1.0, 2.0), TypeError, ("argnums must be an int",)),
    Case("argnums a name", lambda: fgrad.grad(f_xy, argnums="y")(1.0, 2.0),
         lambda: jax.grad(f_xy, argnums="y")(1.0, 2.0), TypeError, ("tuple of ints",)),
    Case("argnums naming a keyword argument", lambda: fgrad.grad(f_xy, argnums=1)(1.0, y=2.0),
         lambda: jax.grad(f_xy, argnums=1)(1.0, y=2.0), TypeError,
         ("argnums contains 1", "1 positional")),
    Case("grad of a value", lambda: fgrad.grad(fnp.sin(1.0)),
         lambda: jax.grad(jnp.sin(1.0)), TypeError, ("needs a function", "fgrad.grad(f)(x)")),
    Case("jit of a value", lambda: fgrad.jit(3.0), lambda: jax.jit(3.0), TypeError,
         ("jit needs a function", "decorator")),
    Case("vmap of a value", lambda: fgrad.vmap(3.0), lambda: jax.vmap(3.0), TypeError,
         ("vmap needs a function",)),
    Case("has_aux output not a pair", lambda: fgrad.grad(fnp.sin, has_aux=True)(1.0),
         lambda: jax.grad(jnp.sin, has_aux=True)(1.0), TypeError,
         ("has_aux=True", "two-element tuple")),
    Case("has_aux output a triple", lambda: fgrad.grad(lambda x: (x, 1, 2), has_aux=True)(1.0),
         lambda: jax.grad(lambda x: (x, 1, 2), has_aux=True)(1.0), TypeError, ("of length 3",)),
    Case("jvp tangents of another structure", lambda: fgrad.jvp(f_xy, (1.0, 2.0), (1.0,)),
         lambda: jax.jvp(f_xy, (1.0, 2.0), (1.0,)), TypeError, ("same tree structure",)),
    Case("jvp primals not a tuple", lambda: fgrad.jvp(fnp.sin, X, X),
         lambda: jax.jvp(jnp.sin, X, X), TypeError, ("tuples or lists", "jvp(f, (x,), (t,))")),
    Case("jvp tangent of another shape", lambda: fgrad.jvp(fnp.sin, (X,), (X[:2],)),
         lambda: jax.jvp(jnp.sin, (X,), (X[:2],)), ValueError, ("float32[2]", "float32[3]")),
    Case("jvp tangent of another dtype", lambda: fgrad.jvp(fnp.sin, (X,), (X.astype(int),)),
         lambda: jax.jvp(jnp.sin, (X,), (X.astype(int),)), TypeError, ("int", "float32[3]")),
    Case("vjp cotangent of another shape", lambda: fgrad.vjp(fnp.sin, X)[1](X[:2]),
         lambda: jax.vjp(jnp.sin, X)[1](X[:2]), ValueError, ("float32[3]", "got float32[2]")),
    Case("vjp cotangent of another dtype", lambda: fgrad.vjp(fnp.sin, X)[1](X.astype(np.int32)),
         lambda: jax.vjp(jnp.sin, X)[1](X.astype(np.int32)), ValueError, ("got int32[3]",)),
    Case("vjp cotangent of another structure", lambda: fgrad.vjp(fnp.sin, X)[1]((X,)),
         lambda: jax.vjp(jnp.sin, X)[1]((X,)), ValueError, ("structure", "PyTreeDef((*,))")),
    Case("linearized map given extra tangents", lambda: fgrad.linearize(fnp.sin, 1.0)[1](1., 2.),
         lambda: jax.linearize(jnp.sin, 1.0)[1](1.0, 2.0), TypeError, ("primals' structure",)),
    # Python control flow on abstract values
    Case("float() under jit", lambda: fgrad.jit(lambda x: float(x))(1.0),
         lambda: jax.jit(lambda x: float(x))(1.0), ConcretizationError,
         ("concrete value", "static_argnums", "fgrad.lax.cond")),
    Case("int() under jit", lambda: fgrad.jit(lambda x: int(x))(1.0),
         lambda: jax.jit(lambda x: int(x))(1.0), ConcretizationError, ("abstract",)),
    Case("bool() under jit", lambda: fgrad.jit(lambda x: bool(x))(1.0),
         lambda: jax.jit(lambda x: bool(x))(1.0), ConcretizationError, ("abstract",)),
    Case("if on a traced value under jit", lambda: fgrad.jit(lambda x: x if x > 0 else -x)(1.),
         lambda: jax.jit(lambda x: x if x > 0 else -x)(1.0), ConcretizationError,
         ("bool[]", "fgrad.numpy.where")),
    Case(".item() under jit", lambda: fgrad.jit(lambda x: x.item())(1.0),
         lambda: jax.jit(lambda x: x.item())(1.0), ConcretizationError, ("abstract",)),
    pytest.param(
        Case("np.asarray under jit", lambda: fgrad.jit(lambda x: np.asarray(x))(1.0),
             lambda: jax.jit(lambda x: np.asarray(x))(1.0), TracerConversionError,
             ("NumPy array", "fgrad.numpy")),
        marks=pytest.mark.xfail(strict=True, reason=(
            "TracerConversionError is deliberately a ValueError and not a TypeError (see "
            "fgrad/core/errors.py: JAX replaces TypeErrors raised while it interprets an "
            "argument with a generic message), while JAX's TracerArrayConversionError is a "
            "TypeError; making it both needs a check that JAX still shows fgrad's advice"))),
    # JAX's functions on fgrad's traced values
    Case("jax.numpy inside grad", lambda: fgrad.grad(lambda x: jnp.sin(x))(1.0), None,
         TracerConversionError, ("jax.numpy.sin", "fgrad.numpy")),
    Case("jax.lax inside vmap", lambda: fgrad.vmap(lambda x: jax.lax.sin(x))(X), None,
         TracerConversionError, ("jax.lax.sin", "fgrad.lax")),
    Case("jax.nn inside jit", lambda: fgrad.jit(lambda x: jax.nn.relu(x))(X), None,
         TracerConversionError, ("jax.nn.relu", "fnp.maximum(x, 0.0)")),
    Case("jax.random inside vmap", lambda: fgrad.vmap(lambda k: jax.random.normal(k))(KEYS),
         None, TracerConversionError, ("jax.random.normal", "fgrad.random")),
    Case("jax.jit function inside grad", lambda: fgrad.grad(jax.jit(lambda x: x * 2.0))(1.0),
         None, TracerConversionError, ("jax.jit", "fgrad.jit", "jax.jit(fgrad.grad(f))")),
    # indexing
    Case("item assignment on a traced value", lambda: fgrad.jit(setitem_in_jit)(X),
         lambda: jax.jit(setitem_in_jit)(X), TypeError, ("immutable", ".at[idx].set(y)"),
         marker="in-place assignment"),
    # fgrad.numpy returns JAX arrays eagerly, so this one is JAX's own method and message.
    Case("item assignment on an array", lambda: fnp.zeros(3).__setitem__(0, 1.0),
         lambda: jnp.zeros(3).__setitem__(0, 1.0), TypeError, ("immutable", ".at[idx].set"),
         user_line=False),
    Case("boolean mask under jit", lambda: fgrad.jit(lambda x: x[x > 0])(X),
         lambda: jax.jit(lambda x: x[x > 0])(X), IndexError,
         ("boolean mask must be concrete", "where(mask, x, 0)", "size=")),
    Case("nonzero without size under jit", lambda: fgrad.jit(lambda x: fnp.nonzero(x))(X),
         lambda: jax.jit(lambda x: jnp.nonzero(x))(X), ConcretizationError, ("size=",)),
    Case("too many indices", lambda: fgrad.grad(lambda x: x[0, 0])(X),
         lambda: jax.grad(lambda x: x[0, 0])(X), IndexError, ("too many indices", "(3,)")),
    Case("float index", lambda: fgrad.grad(lambda x: x[1.0])(X),
         lambda: jax.grad(lambda x: x[1.0])(X), TypeError, ("1.0 is not a valid index",)),
    Case(".at[].set of the wrong shape",
         lambda: fgrad.jit(lambda x: x.at[0:2].set(fnp.ones(3)))(X),
         lambda: jax.jit(lambda x: x.at[0:2].set(jnp.ones(3)))(X), ValueError,
         ("shape (3,)", "(2,)")),
    # control flow
    Case("cond branches of other shapes", lambda: fl.cond(True, fnp.sin, lambda x: x[:2], X),
         lambda: jax.lax.cond(True, jnp.sin, lambda x: x[:2], X), TypeError,
         ("f32[2]", "f32[3]", "same shapes")),
    Case("cond branches of other dtypes",
         lambda: fl.cond(True, fnp.sin, lambda x: x.astype(np.int32), X),
         lambda: jax.lax.cond(True, jnp.sin, lambda x: x.astype(np.int32), X), TypeError,
         ("i32[3]", ".astype")),
    Case("cond branches of other structures", lambda: fl.cond(True, lambda x: (x, x), fnp.sin, X),
         lambda: jax.lax.cond(True, lambda x: (x, x), jnp.sin, X), TypeError,
         ("structure", "same structure")),
    Case("cond on an array predicate", lambda: fl.cond(X > 0, fnp.sin, fnp.cos, 1.0),
         lambda: jax.lax.cond(X > 0, jnp.sin, jnp.cos, 1.0), TypeError,
         ("scalar boolean", "fgrad.numpy.any")),
    Case("switch branches of other shapes", lambda: fl.switch(0, [fnp.sin, lambda x: x[:1]], X),
         lambda: jax.lax.switch(0, [jnp.sin, lambda x: x[:1]], X), TypeError, ("branch 1",)),
    Case("scan carry changing dtype",
         lambda: fl.scan(lambda c, x: (c.astype(np.int32), x), np.float32(0), X),
         lambda: jax.lax.scan(lambda c, x: (c.astype(np.int32), x), np.float32(0), X),
         TypeError, ("scan", "carry", "i32[]", ".astype")),
    Case("scan carry changing shape", lambda: fl.scan(lambda c, x: (c * X, x), np.float32(0), X),
         lambda: jax.lax.scan(lambda c, x: (c * X, x), np.float32(0), X), TypeError,
         ("f32[3]", "same shapes")),
    Case("fori_loop carry changing dtype",
         lambda: fl.fori_loop(0, 3, lambda i, c: c.astype(np.int32), np.float32(1)),
         lambda: jax.lax.fori_loop(0, 3, lambda i, c: c.astype(np.int32), np.float32(1)),
         TypeError, ("fori_loop", "i32[]")),
    Case("fori_loop carry changing shape", lambda: fl.fori_loop(0, 3, lambda i, c: c * X, 1.0),
         lambda: jax.lax.fori_loop(0, 3, lambda i, c: c * X, 1.0), TypeError,
         ("fori_loop", "f32[3]")),
    Case("while_loop carry changing dtype",
         lambda: fl.while_loop(lambda c: c < 3, lambda c: (c + 1.0), np.int32(0)),
         lambda: jax.lax.while_loop(lambda c: c < 3, lambda c: (c + 1.0), np.int32(0)),
         TypeError, ("while_loop", "i32[]", "f32[]")),
    Case("while_loop carry changing shape",
         lambda: fl.while_loop(lambda c: fnp.sum(c) < 3, lambda c: c * X, np.float32(0)),
         lambda: jax.lax.while_loop(lambda c: jnp.sum(c) < 3, lambda c: c * X, np.float32(0)),
         TypeError, ("while_loop", "f32[3]")),
    Case("while_loop condition not a boolean", lambda: fl.while_loop(lambda c: c, fnp.sin, 1.0),
         lambda: jax.lax.while_loop(lambda c: c, jnp.sin, 1.0), TypeError,
         ("scalar boolean", "x > 0")),
    Case("scan over xs of different lengths",
         lambda: fl.scan(lambda c, x: (c, x), 0.0, (X, X[:2])),
         lambda: jax.lax.scan(lambda c, x: (c, x), 0.0, (X, X[:2])), ValueError,
         ("same leading length",)),
    Case("scan without xs or length", lambda: fl.scan(lambda c, x: (c, x), 0.0, None),
         lambda: jax.lax.scan(lambda c, x: (c, x), 0.0, None), ValueError, ("length=",)),
    # vmap
    Case("vmap over inconsistent sizes", lambda: fgrad.vmap(f_xy)(X, X[:2]),
         lambda: jax.vmap(f_xy)(X, X[:2]), ValueError, ("inconsistent sizes", "3", "2")),
    Case("vmap in_axes out of range", lambda: fgrad.vmap(fnp.sin, in_axes=1)(X),
         lambda: jax.vmap(jnp.sin, in_axes=1)(X), ValueError, ("in_axes 1", "rank 1")),
    Case("vmap in_axes not matching the arguments", lambda: fgrad.vmap(f_xy, (0, 0, 0))(X, X),
         lambda: jax.vmap(f_xy, (0, 0, 0))(X, X), ValueError, ("pytree prefix", "(0, 0, 0)")),
    Case("vmap in_axes not an int", lambda: fgrad.vmap(fnp.sin, in_axes=0.5)(X),
         lambda: jax.vmap(jnp.sin, in_axes=0.5)(X), TypeError, ("ints or None", "0.5")),
    Case("vmap out_axes out of range", lambda: fgrad.vmap(fnp.sin, out_axes=2)(X),
         lambda: jax.vmap(jnp.sin, out_axes=2)(X), ValueError, ("out_axes 2", "out of range")),
    Case("vmap out_axes None for a mapped output", lambda: fgrad.vmap(fnp.sin, out_axes=None)(X),
         lambda: jax.vmap(jnp.sin, out_axes=None)(X), ValueError,
         ("out_axes is None", "give it an axis")),
    Case("vmap out_axes not matching the outputs",
         lambda: fgrad.vmap(lambda x: (x, x), out_axes=(0, 0, 0))(X),
         lambda: jax.vmap(lambda x: (x, x), out_axes=(0, 0, 0))(X), ValueError,
         ("out_axes", "pytree prefix")),
    Case("vmap with nothing mapped and no axis_size", lambda: fgrad.vmap(fnp.sin, None)(X),
         lambda: jax.vmap(jnp.sin, None)(X), ValueError, ("axis_size",)),
    Case("vmap axis_size disagreeing", lambda: fgrad.vmap(fnp.sin, axis_size=2)(X),
         lambda: jax.vmap(jnp.sin, axis_size=2)(X), ValueError, ("axis_size=2", "size 3")),
    Case("vmap over a scalar", lambda: fgrad.vmap(fnp.sin)(1.0), lambda: jax.vmap(jnp.sin)(1.0),
         ValueError, ("rank 0",)),
    # jit's arguments
    Case("static argument a list", lambda: fgrad.jit(f_xy, static_argnums=1)(1.0, [1, 2]),
         lambda: jax.jit(f_xy, static_argnums=1)(1.0, [1, 2]), StructureError,
         ("not hashable", "list", "tuple")),
    Case("static argument a dict", lambda: fgrad.jit(f_xy, static_argnums=1)(1.0, {"a": 1}),
         lambda: jax.jit(f_xy, static_argnums=1)(1.0, {"a": 1}), StructureError,
         ("not hashable", "dict")),
    Case("static_argnums out of range", lambda: fgrad.jit(fnp.sin, static_argnums=3)(1.0),
         lambda: jax.jit(jnp.sin, static_argnums=3)(1.0), ValueError, ("static_argnums",)),
    Case("jitted function missing an argument", lambda: fgrad.jit(f_xy)(1.0),
         lambda: jax.jit(f_xy)(1.0), TypeError, ("jit(f_xy)", "missing", "'y'")),
    Case("jitted function given an extra argument", lambda: fgrad.jit(f_xy)(1.0, 2.0, 3.0),
         lambda: jax.jit(f_xy)(1.0, 2.0, 3.0), TypeError, ("too many positional",)),
    # arguments that are not arrays
    Case("grad of a string", lambda: fgrad.grad(lambda s: 1.0)("abc"),
         lambda: jax.grad(lambda s: 1.0)("abc"), TypeError, ("str", "array")),
    Case("grad of an object", lambda: fgrad.grad(lambda s: 1.0)(object()),
         lambda: jax.grad(lambda s: 1.0)(object()), TypeError, ("object", "array")),
    Case("jit of a string", lambda: fgrad.jit(lambda s: 1.0)("abc"),
         lambda: jax.jit(lambda s: 1.0)("abc"), TypeError, ("str", "array")),
    Case("vmap of an object", lambda: fgrad.vmap(lambda s: s)(object()),
         lambda: jax.vmap(lambda s: s)(object()), TypeError, ("object", "array")),
    # fgrad.numpy
    Case("broadcast failure", lambda: fnp.add(X, fnp.ones(4)), lambda: jnp.add(X, jnp.ones(4)),
         TypeError, ("(3,), (4,)", "broadcast")),
    Case("broadcast failure under grad", lambda: fgrad.grad(lambda x: fnp.sum(x + X[:2]))(X),
         lambda: jax.grad(lambda x: jnp.sum(x + X[:2]))(X), TypeError, ("(3,), (2,)",)),
    Case("reshape to another size", lambda: fnp.reshape(X, (4, 2)),
         lambda: jnp.reshape(X, (4, 2)), TypeError, ("(3,)", "(4, 2)")),
    Case("matmul of unaligned shapes", lambda: fnp.matmul(fnp.ones((2, 3)), fnp.ones((2, 3))),
         lambda: jnp.matmul(jnp.ones((2, 3)), jnp.ones((2, 3))), TypeError,
         ("(2, 3) and (2, 3)", "not aligned")),
    Case("concatenate of mismatched shapes",
         lambda: fnp.concatenate([fnp.ones((2, 3)), fnp.ones((3, 2))]),
         lambda: jnp.concatenate([jnp.ones((2, 3)), jnp.ones((3, 2))]), TypeError,
         ("(2, 3), (3, 2)", "axis 0")),
    Case("axis out of range", lambda: fnp.sum(X, axis=1), lambda: jnp.sum(X, axis=1),
         ValueError, ("axis 1", "dimension 1")),
    Case("transpose axes not a permutation", lambda: fnp.transpose(fnp.ones((2, 3)), (0, 0)),
         lambda: jnp.transpose(jnp.ones((2, 3)), (0, 0)), TypeError, ("not a permutation",)),
    Case("negative dimension", lambda: fnp.zeros((-1, 2)), lambda: jnp.zeros((-1, 2)),
         (TypeError, ValueError), ("negative dimensions", "(-1, 2)")),
    Case("bitwise and of floats", lambda: fnp.bitwise_and(X, X),
         lambda: jnp.bitwise_and(X, X), TypeError, ("integers or booleans", "float32")),
    Case("invert of floats under jit", lambda: fgrad.jit(lambda x: ~x)(X),
         lambda: jax.jit(lambda x: ~x)(X), TypeError, ("integers or booleans", "float32")),
    Case("a dtype that does not exist", lambda: fgrad.jit(lambda x: x.astype("flaot32"))(X),
         lambda: jax.jit(lambda x: x.astype("flaot32"))(X), TypeError,
         ("'flaot32' is not a dtype", "np.float32")),
    Case("einsum sizes disagreeing", lambda: fnp.einsum("ij,jk", fnp.ones((2, 4)), X[:, None]),
         lambda: jnp.einsum("ij,jk", jnp.ones((2, 4)), X[:, None]), ValueError,
         ("'j'",)),
    Case("stack of nothing", lambda: fnp.stack([]), lambda: jnp.stack([]), ValueError,
         ("at least one array",)),
    Case("dynamic_slice larger than the operand", lambda: fl.dynamic_slice(X, (0,), (5,)),
         lambda: jax.lax.dynamic_slice(X, (0,), (5,)), TypeError, ("slice size 5", "[0, 3]")),
    # fgrad.random
    Case("sampling with an int for a key", lambda: frandom.normal(3),
         lambda: jax.random.normal(3), TypeError, ("not a PRNG key", "fgrad.random.key(")),
    Case("splitting an array that is not a key", lambda: frandom.split(X),
         lambda: jax.random.split(X), TypeError, ("f32[3] is not a PRNG key",)),
    Case("a parameter not broadcasting to the shape",
         lambda: frandom.uniform(frandom.key(0), (2,), minval=X),
         lambda: jax.random.uniform(jax.random.key(0), (2,), minval=X), TypeError,
         ("minval has shape (3,)", "shape=None")),
    # custom rules, whose errors name the line taking the gradient and the rule's own (JAX
    # accepts a custom_vjp cotangent of another dtype: fgrad checks it)
    Case("custom_jvp rule of another structure",
         lambda: grad_sum(custom_jvp_returning(lambda t: (t, 1.0), fnp), fnp),
         lambda: grad_sum(custom_jvp_returning(lambda t: (t, 1.0), jnp), jnp), TypeError,
         ("custom_jvp rule", "f_jvp`", "structure"), marker="grad_sum"),
    Case("custom_jvp rule of another shape",
         lambda: grad_sum(custom_jvp_returning(lambda t: t[:2], fnp), fnp),
         lambda: grad_sum(custom_jvp_returning(lambda t: t[:2], jnp), jnp), TypeError,
         ("f32[2]", "f32[3]", "its primal's shape"), marker="grad_sum"),
    Case("custom_jvp rule of another dtype",
         lambda: grad_sum(custom_jvp_returning(lambda t: t.astype(np.int32), fnp), fnp),
         lambda: grad_sum(custom_jvp_returning(lambda t: t.astype(np.int32), jnp), jnp),
         TypeError, ("i32[3]", "dtype"), marker="grad_sum"),
    Case("custom_vjp bwd not returning a tuple",
         lambda: grad_sum(custom_vjp_returning(lambda c: c, fnp), fnp),
         lambda: grad_sum(custom_vjp_returning(lambda c: c, jnp), jnp), TypeError,
         ("must return a tuple", "(ct,)"), marker="grad_sum"),
    Case("custom_vjp bwd of another shape",
         lambda: grad_sum(custom_vjp_returning(lambda c: (c[:2],), fnp), fnp),
         lambda: grad_sum(custom_vjp_returning(lambda c: (c[:2],), jnp), jnp), ValueError,
         ("f32[2]", "argument 0 of type f32[3]"), marker="grad_sum"),
    Case("custom_vjp bwd of another dtype",
         lambda: grad_sum(custom_vjp_returning(lambda c: (c.astype(np.int32),), fnp), fnp),
         None, TypeError, ("i32[3]", "shape and dtype"), marker="grad_sum"),
    Case("custom_vjp bwd returning too many",
         lambda: grad_sum(custom_vjp_returning(lambda c: (c, c), fnp), fnp),
         lambda: grad_sum(custom_vjp_returning(lambda c: (c, c), jnp), jnp), TypeError,
         ("2 cotangent(s)", "1 differentiable"), marker="grad_sum"),
]


def _case_id(case) -> str:
    case = case.values[0] if hasattr(case, "values") else case
    return case.name.replace(" ", "_")


def test_the_catalogue_is_long_and_its_names_distinct():
    names = [_case_id(c) for c in CASES]
    assert len(names) == len(set(names)) and len(names) >= 60


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_mistake(case: Case):
    error = raised(case.call)
    assert isinstance(error, case.error), f"{type(error).__name__}: {error}"
    if case.jax is not None:
        assert_same_builtin_types(error, case.jax)
    message = str(error)
    for fragment in case.says:
        assert fragment in message, f"{fragment!r} not in: {message}"
    if case.user_line:
        line = marked_line(case.marker) if case.marker else case.call.__code__.co_firstlineno
        assert names_line(message, line), f"line {line} not named in: {message}"
    assert_works_normally()


# -- what JAX accepts, fgrad accepts too --------------------------------------------------------


def test_complex_inputs_ints_with_allow_int_and_none_work_as_in_jax():
    # A real function of a complex input needs no holomorphic=True (its gradient is the
    # conjugate one); allow_int=True gives float0 zeros for an int input; None is an empty
    # pytree, not a bad leaf.
    z = np.complex64(1j)
    assert fgrad.grad(fnp.abs)(z) == jax.grad(jnp.abs)(z)
    g = fgrad.grad(lambda x, n: x * n, argnums=(0, 1), allow_int=True)(2.0, 3)
    want = jax.grad(lambda x, n: x * n, argnums=(0, 1), allow_int=True)(2.0, 3)
    assert g[0] == want[0] == 3.0 and g[1].dtype == want[1].dtype == jax.dtypes.float0
    assert fgrad.grad(lambda x: 1.0)(None) is None is jax.grad(lambda x: 1.0)(None)
    assert fgrad.jit(lambda x: 1.0)(None) == jax.jit(lambda x: 1.0)(None)
    assert_works_normally()


def test_out_of_bounds_static_index_is_clamped_as_in_jax():
    # Not an error in JAX either: out-of-bounds gathers clamp (NumPy would raise).
    assert fnp.asarray(X)[5] == jnp.asarray(X)[5] == X[-1]
    np.testing.assert_array_equal(fgrad.grad(lambda x: x[5])(X), jax.grad(lambda x: x[5])(X))
    assert_works_normally()


# -- tracers used after their trace, or in another thread -------------------------------------


def _leak_through(transform, store: list):
    def f(x):
        store.append(x)
        return fnp.sum(x)

    return lambda: transform(f)(X[None] if transform is fgrad.vmap else X)


@pytest.mark.parametrize("transform", [fgrad.grad, fgrad.jit, fgrad.vmap],
                         ids=["grad", "jit", "vmap"])
def test_a_leaked_tracer_used_later(transform):
    store = []
    _leak_through(transform, store)()
    leaked = store[0]
    uses = {
        marked_line("leaked: eager op"): lambda: fnp.sin(leaked),  # leaked: eager op
        marked_line("leaked: operator"): lambda: leaked * 2.0,  # leaked: operator
        marked_line("leaked: float"): lambda: float(leaked[0]),  # leaked: float
        marked_line("leaked: in grad"): lambda: fgrad.grad(
            lambda y: fnp.sum(y * leaked))(X),  # leaked: in grad
        marked_line("leaked: in jit"): lambda: fgrad.jit(
            lambda y: y * leaked)(X),  # leaked: in jit
    }
    for line, use in uses.items():
        error = raised(use)
        assert isinstance(error, EscapedTracerError) and isinstance(error, RuntimeError)
        message = str(error)
        assert "after" in message and "Return the value" in message
        assert names_line(message, line), message
        assert_works_normally()


def test_a_tracer_used_in_another_thread():
    traced, ready, done = {}, threading.Event(), threading.Event()
    results = {}

    def worker():
        def f(x):
            traced["x"] = x
            ready.set()
            done.wait(30)
            return fnp.sum(x * x)

        results["grad"] = fgrad.grad(f)(X)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert ready.wait(30)
        error = raised(lambda: fnp.sin(traced["x"]))  # other thread: live
        message = str(error)
        assert isinstance(error, EscapedTracerError) and "another thread" in message
        assert "hand other threads the transformation's results" in message
        assert names_line(message, marked_line("other thread: live"))
        assert_works_normally()  # this thread's traces are not the worker's
    finally:
        done.set()
        thread.join(30)
    np.testing.assert_allclose(results["grad"], 2 * X)  # the worker finished normally
    error = raised(lambda: traced["x"] + 1.0)  # other thread: after
    assert isinstance(error, EscapedTracerError) and "had returned" in str(error)
    assert names_line(str(error), marked_line("other thread: after"))
    assert_works_normally()


# -- the user's own exceptions ---------------------------------------------------------------


class UserError(Exception):
    pass


def _raiser(error):
    def f(*args):
        raise error

    return f


RAISING = {
    "grad": lambda f: fgrad.grad(f)(1.0),
    "jit": lambda f: fgrad.jit(f)(1.0),
    "vmap": lambda f: fgrad.vmap(f)(X),
    "jvp": lambda f: fgrad.jvp(f, (1.0,), (1.0,)),
    "scan body": lambda f: fgrad.jit(lambda x: fl.scan(lambda c, _: (f(c), c), x, X))(1.0),
    "cond branch": lambda f: fgrad.jit(lambda x: fl.cond(x > 0, f, fnp.sin, x))(1.0),
    "fori_loop body under grad": lambda f: fgrad.grad(
        lambda x: fl.fori_loop(0, 2, lambda i, c: f(c), x))(1.0),
    "custom_jvp rule": lambda f: grad_sum(custom_jvp_returning(f, fnp), fnp),
    "custom_vjp bwd": lambda f: grad_sum(custom_vjp_returning(f, fnp), fnp),
}


@pytest.mark.parametrize("where", list(RAISING))
def test_the_users_exception_propagates_unchanged(where):
    error = UserError("raised by the user's function")
    with pytest.raises(UserError) as info:
        RAISING[where](_raiser(error))
    assert info.value is error
    assert_works_normally()


@pytest.mark.parametrize("where", ["grad", "jit", "vmap", "scan body", "custom_vjp bwd"])
def test_keyboard_interrupt_propagates(where):
    with pytest.raises(KeyboardInterrupt):
        RAISING[where](_raiser(KeyboardInterrupt()))
    assert_works_normally()


# -- hooks -------------------------------------------------------------------------------------


def test_a_hook_returning_the_wrong_shape():
    def clip(ct):  # the hook
        return ct[:2]

    # The hook runs in a host callback of a compiled computation, eagerly too, so its error
    # arrives as JAX's runtime error for an exception in a callback, with fgrad's message.
    def jax_io_callback_raising():
        def fail(x):
            raise ValueError("the callback failed")

        spec = jax.ShapeDtypeStruct(X.shape, X.dtype)
        jax.block_until_ready(jax.jit(lambda x: io_callback(fail, spec, x))(X))

    for f in (fgrad.grad, lambda g: fgrad.jit(fgrad.grad(g))):
        error = raised(lambda: jax.block_until_ready(
            f(lambda x: fnp.sum(fgrad.hook(x * 2.0, clip)))(X)))
        assert_same_builtin_types(error, jax_io_callback_raising)
        message = str(error)
        assert "HookError" in message and "float32[3]" in message and "float32[2]" in message
        assert "Return None" in message
        assert names_line(message, marked_line("the hook"))
        assert_works_normally()


# -- NaN hunting ---------------------------------------------------------------------------------


def _log_of_negative(x):
    return fnp.sum(fnp.log(x - 3.0))  # makes a NaN


def test_nan_checks_name_the_line_that_made_the_nan():
    def jax_nan():
        with jax.debug_nans(True):
            jax.block_until_ready(jnp.log(jnp.float32(-1.0)))

    for call in (lambda: _log_of_negative(X), lambda: fgrad.grad(_log_of_negative)(X),
                 lambda: fgrad.jit(_log_of_negative)(X)):
        with fgrad.debug.nans():
            error = raised(call)
        assert isinstance(error, fgrad.debug.NonFiniteError)
        assert_same_builtin_types(error, jax_nan)
        assert error.primitive == "log" and error.kind == "nan" and error.phase == "forward"
        assert names_line(str(error), marked_line("makes a NaN"))
        assert_works_normally()


# -- values captured at trace time ---------------------------------------------------------------


def test_a_closed_over_numpy_array_is_captured_when_traced_as_in_jax():
    # Mutating it between calls does not change the compiled function, in either library;
    # a new signature retraces and sees the new value.
    results = {}
    for name, jit, m in (("fgrad", fgrad.jit, fnp), ("jax", jax.jit, jnp)):
        table = np.ones(3, np.float32)
        f = jit(lambda x: m.sum(x * table))
        first = float(f(np.float32(1.0)))
        table[:] = 2.0
        results[name] = (first, float(f(np.float32(1.0))), float(f(np.ones(1, np.float32))))
    assert results["fgrad"] == results["jax"] == (3.0, 3.0, 6.0)
    assert_works_normally()


# -- resources -----------------------------------------------------------------------------------


def test_an_array_too_large_to_allocate_raises_cleanly():
    # In a subprocess with an address-space limit, so that a platform where the allocation
    # could succeed cannot swap this machine.
    script = textwrap.dedent("""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (16 << 30, 16 << 30))
        import jax, jax.numpy as jnp
        import fgrad, fgrad.numpy as fnp

        def bases(call):
            try:
                call()
            except Exception as e:
                return {c.__name__ for c in type(e).__mro__ if c.__module__ == "builtins"}, e
            raise AssertionError("allocated")

        shape = (10**6, 10**6)
        want, _ = bases(lambda: jax.block_until_ready(jnp.zeros(shape)))
        for call in (lambda: fnp.zeros(shape), lambda: fgrad.jit(lambda: fnp.zeros(shape))(),
                     lambda: fgrad.grad(lambda x: fnp.sum(fnp.zeros(shape) * x))(1.0)):
            got, e = bases(lambda: jax.block_until_ready(call()))
            assert want <= got and "RuntimeError" in got, (want, got)
            assert "Out of memory" in str(e) or "RESOURCE_EXHAUSTED" in str(e), e
        assert float(fgrad.grad(lambda x: fnp.sum(fnp.sin(x) ** 2))(0.5)) > 0
        print("alive")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, cwd=os.path.dirname(os.path.dirname(THIS_FILE)))
    assert done.returncode == 0 and "alive" in done.stdout, done.stderr[-3000:]


N_EQUATIONS = 20_000


def _long_program(x):
    for _ in range(N_EQUATIONS):
        x = fnp.sin(x)
    return fnp.sum(x)


def test_a_program_of_20000_equations():
    # Tracing, printing, lowering to StableHLO and differentiating it recurse nowhere.
    # Compiling it with XLA (about 20 s on one core) or running its gradient eagerly
    # (about 15 s) would test XLA's speed, not fgrad: the gradient's program is built instead.
    program = fgrad.make_ir(_long_program)(X)
    assert len(program.eqns) == N_EQUATIONS + 1
    assert str(program).count(" sin ") == N_EQUATIONS
    lowered = fgrad.jit(_long_program).lower(X)
    assert lowered.as_text().count("sine") >= N_EQUATIONS
    gradient = fgrad.make_ir(fgrad.grad(_long_program))(X)
    assert str(gradient).count(" cos ") == N_EQUATIONS
    del program, lowered, gradient
    gc.collect()
    assert_works_normally()


def test_a_cotangent_of_a_look_alike_structure():
    # jax.numpy's SlogdetResult prints like fgrad.numpy's but is another class: the message
    # says so instead of showing two identical structures.
    a = np.array([[2.0, 0.3], [0.3, 2.0]], np.float32)
    _, pullback = fgrad.vjp(fnp.linalg.slogdet, a)
    ct = jnp.linalg.slogdet(a)
    error = raised(lambda: pullback(ct))  # look-alike cotangent
    assert isinstance(error, StructureError)
    message = str(error)
    assert "print alike" in message and "tree_map" in message, message
    assert names_line(message, marked_line("look-alike cotangent"))
    assert_same_builtin_types(error, lambda: jax.vjp(jnp.linalg.slogdet, a)[1](
        fgrad.numpy.linalg.slogdet(a)))
    assert_works_normally()
