"""fgrad's intermediate representation: programs of equations over typed variables.

A `Program` is in A-normal form and single assignment, like a jaxpr: every equation applies
one primitive to atoms (variables or scalar literals) and binds fresh variables. Values
captured from outside the traced function are the program's *consts*: leading variables
whose values travel with the program. Programs are immutable and hash by structure
(variables renumbered canonically, literal values, const avals, primitive params), so they
can key caches; equality also compares the const values.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple, Union

import numpy as np
from jax import dtypes as jdt

from fgrad.core.resources import register_cache


@functools.lru_cache(maxsize=None)
def is_key(dtype) -> bool:
    """Is `dtype` the type of JAX's PRNG key arrays (`key<fry>`, ...)? They are JAX
    "extended" dtypes, which NumPy cannot interpret: fgrad keeps them as they are."""
    return not isinstance(dtype, (np.dtype, type, str)) and jdt.issubdtype(dtype, jdt.prng_key)


register_cache(
    "dtype_is_key", is_key, holds="a bool", key="a dtype (or what names one)",
    why="unbounded: the dtypes and the spellings of them a program uses are a finite set")


def as_dtype(dtype):
    """`dtype` as fgrad stores it in avals: a NumPy dtype, or a key dtype unchanged."""
    return dtype if is_key(dtype) else np.dtype(dtype)


class Aval(NamedTuple):
    """The abstract value of an array: its shape, dtype and whether its type is weak.

    A weak type comes from a Python scalar: it adapts to the other operand's dtype, so
    float32 array * 2.0 stays float32 (JAX's rule). A named tuple because tracing creates,
    hashes and compares avals at every operation, and tuples do that in C.
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    weak_type: bool = False

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def update(self, shape=None, dtype=None, weak_type=None) -> Aval:
        return Aval(
            self.shape if shape is None else tuple(shape),
            self.dtype if dtype is None else as_dtype(dtype),
            self.weak_type if weak_type is None else weak_type,
        )

    def __str__(self) -> str:
        return f"{dtype_name(self.dtype)}[{','.join(map(str, self.shape))}]"


_SHORT_DTYPE_NAMES = {
    "float16": "f16", "float32": "f32", "float64": "f64", "bfloat16": "bf16",
    "int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64",
    "uint8": "u8", "uint16": "u16", "uint32": "u32", "uint64": "u64",
    "complex64": "c64", "complex128": "c128", "bool": "bool",
}


def dtype_name(dtype) -> str:
    if not isinstance(dtype, np.dtype):
        dtype = as_dtype(dtype)
        if not isinstance(dtype, np.dtype):  # a PRNG key type: key<fry>
            return str(dtype)
    name = dtype.name
    return _SHORT_DTYPE_NAMES.get(name, "float0" if name.startswith("void") else name)


class Var:
    """A variable of a program. Compared and hashed by identity."""

    __slots__ = ("aval",)

    def __init__(self, aval: Aval):
        self.aval = aval

    def __repr__(self) -> str:
        return f"Var<{self.aval}>"


class Literal:
    """A scalar constant written into an equation (a Python or NumPy scalar)."""

    __slots__ = ("value", "aval")

    def __init__(self, value: Any, aval: Aval):
        self.value = value
        self.aval = aval

    @property
    def key(self) -> tuple:
        # Exact bits, so 0.0 and -0.0 differ and nan equals itself; the aval fixes the dtype.
        v = self.value
        if isinstance(v, np.generic):
            return ("literal", self.aval, v.tobytes())
        if type(v) is float:
            return ("literal", self.aval, v.hex())
        if type(v) is complex:
            return ("literal", self.aval, v.real.hex(), v.imag.hex())
        return ("literal", self.aval, v)

    def __eq__(self, other) -> bool:
        return isinstance(other, Literal) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        v = self.value
        if isinstance(v, (np.floating, np.complexfloating)):
            text = str(v)  # the shortest text for its dtype: 0.1, not float32's 0.100000001
        else:
            text = repr(v.item() if isinstance(v, np.generic) else v)
        return f"{text}:{self.aval}"


Atom = Union[Var, Literal]


class Eqn:
    """`outputs = primitive(*inputs, **params)`, created at `source` in the user's code."""

    __slots__ = ("primitive", "inputs", "outputs", "params", "source")

    def __init__(self, primitive, inputs: tuple[Atom, ...], outputs: tuple[Var, ...],
                 params: dict[str, Any], source=None):
        self.primitive = primitive
        self.inputs = inputs
        self.outputs = outputs
        self.params = params
        self.source = source

    def __repr__(self) -> str:
        from fgrad.core.printer import format_eqn
        return format_eqn(self)


class Program:
    """A closed, immutable program: `outputs = f(*inputs)` given the values of `constvars`.

    Args:
      constvars (Sequence[Var]): the variables of the constants the equations read.
      constvals (Sequence[Any]): their values, one per variable of `constvars`.
      inputs (Sequence[Var]): the variables of the program's arguments.
      eqns (Sequence[Eqn]): the equations, in order of evaluation.
      outputs (Sequence[Atom]): the program's results: variables or literals.

    Raises:
      ValueError: `constvals` does not have one value per variable of `constvars`.
    """

    __slots__ = ("constvars", "constvals", "inputs", "eqns", "outputs", "_key")

    def __init__(self, constvars, constvals, inputs, eqns, outputs):
        self.constvars: tuple[Var, ...] = tuple(constvars)
        self.constvals: tuple[Any, ...] = tuple(constvals)
        self.inputs: tuple[Var, ...] = tuple(inputs)
        self.eqns: tuple[Eqn, ...] = tuple(eqns)
        self.outputs: tuple[Atom, ...] = tuple(outputs)
        self._key = None
        if len(self.constvars) != len(self.constvals):
            raise ValueError("a program needs exactly one value per const variable")

    @property
    def in_avals(self) -> list[Aval]:
        return [v.aval for v in self.inputs]

    @property
    def out_avals(self) -> list[Aval]:
        return [v.aval for v in self.outputs]

    def consts_as_inputs(self) -> Program:
        """The same program with its consts turned into leading inputs."""
        return Program((), (), self.constvars + self.inputs, self.eqns, self.outputs)

    @property
    def key(self) -> tuple:
        """The program's structure with canonical variable numbers; const values excluded."""
        if self._key is None:
            self._key = _structural_key(self)
        return self._key

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other) -> bool:
        if not isinstance(other, Program):
            return NotImplemented
        return self is other or (
            self.key == other.key
            and all(map(_same_value, self.constvals, other.constvals))
        )

    def __str__(self) -> str:
        from fgrad.core.printer import format_program
        return format_program(self)

    __repr__ = __str__

    def pretty(self, source: bool = False) -> str:
        """The program as text; with `source=True` each equation names the user's line."""
        from fgrad.core.printer import format_program
        return format_program(self, show_source=source)

    def to_dot(self, title: str | None = None) -> str:
        """The program as a Graphviz DOT graph (`fgrad.core.pictures`)."""
        from fgrad.core.pictures import to_dot
        return to_dot(self, title)

    def to_svg(self, title: str | None = None) -> str:
        """The program as SVG text; needs Graphviz's `dot` executable."""
        from fgrad.core.pictures import to_svg
        return to_svg(self, title)

    def render(self, path, title: str | None = None) -> str:
        """Writes a picture of the program to `path` (format from its suffix: .svg, .png,
        .pdf, .dot); needs Graphviz's `dot` executable except for .dot. Returns the path."""
        from fgrad.core.pictures import render
        return render(self, path, title)


def sub_programs(params: dict) -> list[Program]:
    """The programs an equation's params hold (control flow), directly or in a tuple."""
    found = []
    for value in params.values():
        if isinstance(value, Program):
            found.append(value)
        elif isinstance(value, tuple) and value and isinstance(value[0], Program):
            found.extend(value)
    return found


def map_sub_programs(params: dict, fn) -> dict:
    """`params` with `fn` applied to each program they hold; the same dict if none changes."""
    new = {}
    for key, value in params.items():
        if isinstance(value, Program):
            new[key] = fn(value)
        elif isinstance(value, tuple) and value and isinstance(value[0], Program):
            new[key] = tuple(fn(v) for v in value)
    if all(new[k] is params[k] if isinstance(new[k], Program)
           else all(a is b for a, b in zip(new[k], params[k], strict=True)) for k in new):
        return params
    return {**params, **new}


def _same_value(a, b) -> bool:
    if a is b:
        return True
    if isinstance(a, (np.ndarray, np.generic)) or hasattr(a, "__array_priority__"):
        try:
            return (np.shape(a) == np.shape(b) and np.asarray(a).dtype == np.asarray(b).dtype
                    and bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)))
        except Exception:  # abstract values (tracers) have no value to compare
            return False
    return False


def _structural_key(program: Program) -> tuple:
    # Eager gradients compute this on every call, so it is written for speed.
    numbers: dict[Var, int] = {}
    for v in program.constvars:
        numbers[v] = len(numbers)
    for v in program.inputs:
        numbers[v] = len(numbers)
    head = (tuple(v.aval for v in program.constvars), tuple(v.aval for v in program.inputs))
    eqns = []
    for e in program.eqns:
        inputs = tuple(numbers[a] if type(a) is Var else a.key for a in e.inputs)
        for v in e.outputs:
            numbers[v] = len(numbers)
        params = e.params
        eqns.append((e.primitive, inputs, tuple(v.aval for v in e.outputs),
                     tuple(sorted(params.items())) if len(params) > 1 else
                     tuple(params.items())))
    outputs = tuple(numbers[a] if type(a) is Var else a.key for a in program.outputs)
    return head, tuple(eqns), outputs
