"""Programs as text, in the style of a jaxpr.

    { lambda a:f32[3]; b:f32[3]. let
        c:f32[3] = mul a b
      in (c,) }

Consts come before the semicolon, inputs after it. Variables are named a, b, ..., z, ba, bb,
... in order of appearance, so the text of a program is deterministic. Sub-programs held in
params (control flow) are printed inline, indented, continuing the same names.
"""

from __future__ import annotations

import string

import numpy as np

from fgrad.core.ir import Eqn, Literal, Program, Var


class _Names:
    def __init__(self):
        self.names: dict[Var, str] = {}

    def __call__(self, v) -> str:
        if isinstance(v, Literal):
            return repr(v)
        name = self.names.get(v)
        if name is None:
            name = self.names[v] = _base26(len(self.names))
        return name

    def binder(self, v: Var) -> str:
        return f"{self(v)}:{v.aval}"


def _base26(n: int) -> str:
    # a..z, then ba..bz, ca.. (a plays the role of 0 after the first letter, as in jaxprs)
    letters = string.ascii_lowercase
    out = letters[n % 26]
    n //= 26
    while n:
        out = letters[n % 26] + out
        n //= 26
    return out


def format_program(program: Program, show_source: bool = False) -> str:
    return "\n".join(_program_lines(program, _Names(), show_source, indent=""))


def format_eqn(eqn: Eqn) -> str:
    return _eqn_lines(eqn, _Names(), False, "")[0]


def _program_lines(program: Program, names: _Names, show_source: bool, indent: str) -> list[str]:
    consts = " ".join(names.binder(v) for v in program.constvars)
    inputs = " ".join(names.binder(v) for v in program.inputs)
    lines = [f"{indent}{{ lambda {consts}; {inputs}. let"]
    for eqn in program.eqns:
        lines += _eqn_lines(eqn, names, show_source, indent + "    ")
    outs = ", ".join(names(v) for v in program.outputs)
    outs += "," if len(program.outputs) == 1 else ""
    lines.append(f"{indent}  in ({outs}) }}")
    return lines


def _eqn_lines(eqn: Eqn, names: _Names, show_source: bool, indent: str) -> list[str]:
    args = " ".join(names(a) for a in eqn.inputs)
    outs = " ".join(names.binder(v) for v in eqn.outputs) or "_"
    sub_programs = []
    for k, v in eqn.params.items():
        if isinstance(v, Program):
            sub_programs.append((k, v))
        elif isinstance(v, tuple) and v and isinstance(v[0], Program):
            sub_programs += [(f"{k}[{i}]", p) for i, p in enumerate(v)]
    named = {k.split("[")[0] for k, _ in sub_programs}
    simple = [f"{k}={_format_param(v)}" for k, v in eqn.params.items() if k not in named]
    params = f"[{' '.join(simple)}]" if simple else ""
    where = f"  # {eqn.source.short}" if show_source and eqn.source is not None else ""
    lines = [f"{indent}{outs} = {eqn.primitive.name}{params} {args}".rstrip() + where]
    for key, sub in sub_programs:
        lines.append(f"{indent}  {key}=")
        lines += _program_lines(sub, names, show_source, indent + "  ")
    return lines


def _format_param(value) -> str:
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return np.dtype(value).name
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # dimension-number namedtuples
        inner = ", ".join(f"{k}={_format_param(v)}" for k, v in zip(value._fields, value))
        return f"{type(value).__name__}({inner})"
    return str(value)
