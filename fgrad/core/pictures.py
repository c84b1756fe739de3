"""Pictures of programs: Graphviz DOT text, and SVG when Graphviz is installed.

    to_dot(program)            DOT text; pure Python, always available
    to_svg(program)            SVG text, made by Graphviz's `dot` executable
    render(program, path)      a file (.svg, .png, .pdf, ... by its suffix), by `dot`
    gradient_to_dot(forward, backward, n_residuals)
                               a gradient's forward part, residuals and backward part,
                               coloured apart (fgrad.debug.grad_picture builds the parts)

Each equation is a node labelled with its primitive (and its short params), the types of
its outputs and the user's line that created it (`eqn.source`, as `program.pretty(source=
True)` shows it); each value is an edge, labelled with the variable's name as the printer
names it (so a picture and `print(program)` can be read side by side) and its type.
Inputs, consts, outputs and literals are nodes of their own shapes and colours. A program
held in an equation's params (a cond's branches, a scan's or while's body, a custom rule's
programs) is drawn as a cluster, joined to its equation by a dashed edge.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from fgrad.core.errors import FgradError
from fgrad.core.ir import Literal, Program, Var
from fgrad.core.printer import _format_param, _Names


class GraphvizNotFoundError(FgradError, RuntimeError):
    """Graphviz's `dot` executable, which draws SVG and other image formats, is not installed."""


INSTALL_ADVICE = (
    "fgrad draws pictures with Graphviz's `dot` program, which is not on the PATH. Install "
    "Graphviz: `apt-get install graphviz` (Debian, Ubuntu), `brew install graphviz` (macOS), "
    "`conda install graphviz` or https://graphviz.org/download/. Without it, "
    "`program.to_dot()` still gives the DOT text, which any Graphviz viewer (or "
    "https://dreampuf.github.io/GraphvizOnline) draws.")

# Node styles: (shape, fill colour) per role. Equations of a gradient's forward and backward
# parts and the residuals between them have colours of their own.
STYLES = {
    "input": ('shape=invhouse, style=filled, fillcolor="#b6d7a8"'),
    "const": ('shape=cylinder, style=filled, fillcolor="#d9d9d9"'),
    "output": ('shape=house, style=filled, fillcolor="#ffe599"'),
    "literal": ('shape=plaintext, fontsize=9'),
    "eqn": ('shape=box, style="rounded,filled", fillcolor="#ffffff"'),
    "forward": ('shape=box, style="rounded,filled", fillcolor="#9fc5e8"'),
    "backward": ('shape=box, style="rounded,filled", fillcolor="#ea9999"'),
    "residual": ('shape=octagon, style=filled, fillcolor="#f6b26b"'),
}
# The fill colour of each role, for tests and legends.
COLOURS = {role: style.split('fillcolor="')[1].split('"')[0]
           for role, style in STYLES.items() if "fillcolor" in style}

_PARAM_TEXT_LIMIT = 40


def quote(text: str) -> str:
    """`text` as a DOT double-quoted string: backslashes and quotes escaped, line breaks as
    DOT's centred line break."""
    text = str(text).replace("\\", "\\\\").replace('"', '\\"')
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return f'"{text}"'


def _eqn_label(eqn) -> str:
    params = []
    for key, value in eqn.params.items():
        if isinstance(value, Program) or (isinstance(value, tuple) and value
                                          and isinstance(value[0], Program)):
            continue
        text = _format_param(value)
        if len(text) > _PARAM_TEXT_LIMIT:
            text = text[:_PARAM_TEXT_LIMIT - 3] + "..."
        params.append(f"{key}={text}")
    lines = [eqn.primitive.name]
    if params:
        one_line = " ".join(params)
        lines += [one_line] if len(one_line) <= _PARAM_TEXT_LIMIT else params
    lines.append(" ".join(str(v.aval) for v in eqn.outputs) or "()")
    if eqn.source is not None:
        lines.append(eqn.source.short)
    return "\n".join(lines)


class _Dot:
    """Builds the text of one DOT graph: numbered nodes, edges, nested clusters."""

    def __init__(self, title: str | None = None):
        self.lines = ["digraph program {", "  compound=true;", "  rankdir=TB;",
                      '  node [fontname="Helvetica", fontsize=10];',
                      '  edge [fontname="Helvetica", fontsize=9];']
        if title:
            self.lines.append(f"  label={quote(title)}; labelloc=t;")
        self.names = _Names()
        self.count = 0
        self.clusters = 0

    def node(self, role: str, label: str, indent: str) -> str:
        node_id = f"n{self.count}"
        self.count += 1
        self.lines.append(f"{indent}{node_id} [label={quote(label)}, {STYLES[role]}];")
        return node_id

    def edge(self, src: str, dst: str, label: str, indent: str, extra: str = "") -> None:
        attrs = f"label={quote(label)}" + (f", {extra}" if extra else "")
        self.lines.append(f"{indent}{src} -> {dst} [{attrs}];")

    def value_label(self, v: Var) -> str:
        return f"{self.names(v)}: {v.aval}"

    def program(self, program: Program, indent: str, eqn_role: str = "eqn",
                given: dict | None = None, output_role: str | None = "output",
                input_labels=None, output_labels=None) -> tuple[dict, str]:
        """Draws `program`'s nodes and edges; returns the map from its variables to the node
        producing them, and the id of its first node (for edges into its cluster). Inputs in
        `given` (variable -> node id) are drawn by the caller; `output_role=None` draws no
        output nodes."""
        given = given or {}
        producer: dict[Var, str] = {}
        first = None
        for v in program.constvars:
            self.names(v)
            producer[v] = self.node("const", f"const {self.value_label(v)}", indent)
            first = first or producer[v]
        for i, v in enumerate(program.inputs):
            self.names(v)
            if v in given:
                producer[v] = given[v]
            else:
                label = input_labels[i] if input_labels else f"input {i}"
                producer[v] = self.node("input", f"{label}\n{self.value_label(v)}", indent)
                first = first or producer[v]
        for eqn in program.eqns:
            for a in eqn.inputs:
                self.names(a)
            for v in eqn.outputs:
                self.names(v)
            node = self.node(eqn_role, _eqn_label(eqn), indent)
            first = first or node
            for a in eqn.inputs:
                if isinstance(a, Literal):
                    lit = self.node("literal", repr(a), indent)
                    self.edge(lit, node, "", indent)
                else:
                    self.edge(producer[a], node, self.value_label(a), indent)
            for v in eqn.outputs:
                producer[v] = node
            for key, sub in _named_sub_programs(eqn.params):
                self.cluster(node, key, sub, eqn.primitive.name, indent, eqn_role)
        if output_role is not None:
            for i, a in enumerate(program.outputs):
                label = output_labels[i] if output_labels else f"output {i}"
                out = self.node(output_role, f"{label}\n{a.aval}", indent)
                if isinstance(a, Literal):
                    self.edge(self.node("literal", repr(a), indent), out, "", indent)
                else:
                    self.edge(producer[a], out, self.value_label(a), indent)
        return producer, first

    def cluster(self, eqn_node: str, key: str, sub: Program, prim_name: str,
                indent: str, eqn_role: str = "eqn") -> None:
        name = f"cluster_{self.clusters}"
        self.clusters += 1
        inner = indent + "  "
        self.lines.append(f"{indent}subgraph {name} {{")
        self.lines.append(f"{inner}label={quote(f'{prim_name}: {key}')};")
        self.lines.append(f'{inner}style="rounded,dashed"; color="#666666";')
        _, first = self.program(sub, inner, eqn_role)
        self.lines.append(f"{indent}}}")
        if first is not None:
            self.edge(eqn_node, first, key, indent,
                      f'style=dashed, color="#666666", lhead={name}')

    def text(self) -> str:
        return "\n".join(self.lines + ["}"]) + "\n"


def _named_sub_programs(params: dict) -> list[tuple[str, Program]]:
    found = []
    for key, value in params.items():
        if isinstance(value, Program):
            found.append((key, value))
        elif isinstance(value, tuple) and value and isinstance(value[0], Program):
            found += [(f"{key}[{i}]", p) for i, p in enumerate(value)]
    return found


def to_dot(program: Program, title: str | None = None) -> str:
    """The program as a Graphviz DOT graph (text)."""
    dot = _Dot(title)
    dot.program(program, "  ")
    return dot.text()


def gradient_to_dot(forward: Program, backward: Program, n_residuals: int,
                    title: str | None = None, output_labels=None) -> str:
    """A gradient as one picture, from the split linearization gives: `forward` maps the
    inputs to the outputs and then `n_residuals` residuals; `backward` takes those residuals
    and then the output cotangents, and returns input cotangents. Forward equations, residual
    values and backward equations are coloured apart (`COLOURS`), each part in a cluster."""
    n_out = len(forward.outputs) - n_residuals
    if n_out < 0 or len(backward.inputs) < n_residuals:
        raise ValueError(f"gradient_to_dot: {n_residuals} residuals, but the forward program "
                         f"has {len(forward.outputs)} outputs and the backward program "
                         f"{len(backward.inputs)} inputs")
    dot = _Dot(title)
    dot.lines.append("  subgraph cluster_forward {")
    dot.lines.append('    label="forward"; style=rounded; color="#3d85c6";')
    producer, _ = dot.program(
        Program(forward.constvars, forward.constvals, forward.inputs, forward.eqns,
                forward.outputs[:n_out]), "    ", eqn_role="forward")
    dot.lines.append("  }")
    residual_nodes = {}
    dot.lines.append("  subgraph cluster_residuals {")
    dot.lines.append('    label="residuals (saved for the backward pass)"; style=rounded; '
                     'color="#e69138";')
    for i, (r, b) in enumerate(zip(forward.outputs[n_out:], backward.inputs[:n_residuals])):
        text = dot.value_label(r) if isinstance(r, Var) else str(r.aval)
        node = dot.node("residual", f"residual {i}\n{text}", "    ")
        residual_nodes[b] = node
        if isinstance(r, Literal):
            dot.edge(dot.node("literal", repr(r), "    "), node, "", "    ")
        else:
            dot.edge(producer[r], node, dot.value_label(r), "    ")
    dot.lines.append("  }")
    dot.lines.append("  subgraph cluster_backward {")
    dot.lines.append('    label="backward"; style=rounded; color="#cc0000";')
    dot.program(backward, "    ", eqn_role="backward", given=residual_nodes,
                input_labels=[None] * n_residuals + [
                    f"cotangent of output {i}" for i in range(len(backward.inputs) - n_residuals)],
                output_labels=output_labels or [
                    f"input cotangent {i}" for i in range(len(backward.outputs))])
    dot.lines.append("  }")
    return dot.text()


def _dot_executable() -> str:
    path = shutil.which("dot")
    if path is None:
        raise GraphvizNotFoundError(INSTALL_ADVICE)
    return path


def dot_to(dot_text: str, fmt: str = "svg") -> bytes:
    """Runs Graphviz's `dot` on DOT text; returns the picture in format `fmt`."""
    result = subprocess.run([_dot_executable(), f"-T{fmt}"], input=dot_text.encode(),
                            capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"Graphviz's dot failed (exit code {result.returncode}): "
                           f"{result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def to_svg(program: Program, title: str | None = None) -> str:
    """The program as an SVG picture (text). Needs Graphviz's `dot` on the PATH."""
    return dot_to(to_dot(program, title), "svg").decode()


def render(program_or_dot, path, title: str | None = None) -> str:
    """Writes a picture of a program (or of DOT text) to `path`, in the format its suffix
    names (.svg, .png, .pdf; .dot writes the DOT text itself). Returns the path. Needs
    Graphviz's `dot` on the PATH, except for .dot."""
    path = os.fspath(path)
    text = (program_or_dot if isinstance(program_or_dot, str)
            else to_dot(program_or_dot, title))
    fmt = os.path.splitext(path)[1].lstrip(".").lower() or "svg"
    data = text.encode() if fmt in ("dot", "gv") else dot_to(text, fmt)
    with open(path, "wb") as f:
        f.write(data)
    return path
