"""fgrad.core.pictures: programs as Graphviz DOT text (nodes, edges, clusters, escaping), the
gradient picture's colours, and rendering with Graphviz's `dot` when it is installed."""

import re
import shutil

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.core import pictures
from fgrad.core.pictures import COLOURS, GraphvizNotFoundError, quote, to_dot
from fgrad.debug.residuals import grad_picture, saved_residuals

NODE = re.compile(r'^\s*(n\d+) \[label="((?:[^"\\]|\\.)*)", (.*)\];$')
EDGE = re.compile(r'^\s*(n\d+) -> (n\d+) \[label="((?:[^"\\]|\\.)*)"(.*)\];$')


def unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


def parse(dot: str):
    """Nodes (id -> (label, attributes, enclosing clusters)) and edges (src, dst, label, attrs)
    of the DOT text fgrad writes, one statement a line."""
    nodes, edges, clusters = {}, [], []
    for text in dot.splitlines():
        if m := re.match(r"\s*subgraph (cluster_\w+) \{$", text):
            clusters.append(m.group(1))
        elif text.strip() == "}" and clusters:
            clusters.pop()
        elif m := NODE.match(text):
            nodes[m.group(1)] = (unescape(m.group(2)), m.group(3), tuple(clusters))
        elif m := EDGE.match(text):
            edges.append((m.group(1), m.group(2), unescape(m.group(3)), m.group(4)))
    return nodes, edges


def fill(attrs: str) -> str:
    return re.search(r'fillcolor="([^"]*)"', attrs).group(1)


def shape(attrs: str) -> str:
    return re.search(r"shape=(\w+)", attrs).group(1)


def sin_times_w(x, w):
    return fnp.sum(fnp.sin(x) * w)


X3 = np.array([0.5, 1.0, 2.0], np.float32)


def test_every_equation_is_a_node_and_every_value_an_edge():
    program = fgrad.make_ir(sin_times_w)(X3, X3)
    dot = program.to_dot()
    assert dot == to_dot(program)
    assert dot.startswith("digraph program {") and dot.rstrip().endswith("}")
    nodes, edges = parse(dot)
    by_label = {label.split("\n")[0]: node for node, (label, _, _) in nodes.items()}
    assert sorted(by_label) == ["input 0", "input 1", "mul", "output 0", "reduce_sum", "sin"]
    # Labels: primitive, params, output types, the user's line.
    line = sin_times_w.__code__.co_firstlineno + 1
    assert nodes[by_label["sin"]][0] == f"sin\nf32[3]\ntest_pictures.py:{line}"
    assert nodes[by_label["reduce_sum"]][0] == (
        f"reduce_sum\naxes=(0,)\nf32[]\ntest_pictures.py:{line}")
    assert nodes[by_label["input 1"]][0] == "input 1\nb: f32[3]"
    # Values are edges, named as the printer names them: a → sin, c → mul, b → mul, d → sum,
    # e → output.
    named = sorted((nodes[s][0].split("\n")[0], nodes[d][0].split("\n")[0], label)
                   for s, d, label, _ in edges)
    assert named == sorted([("input 0", "sin", "a: f32[3]"), ("sin", "mul", "c: f32[3]"),
                            ("input 1", "mul", "b: f32[3]"), ("mul", "reduce_sum", "d: f32[3]"),
                            ("reduce_sum", "output 0", "e: f32[]")])
    assert "c:f32[3] = sin a" in str(program)  # the same names as the printed program
    # Inputs, outputs and equations have shapes and colours of their own.
    roles = {"input 0": "input", "output 0": "output", "sin": "eqn"}
    assert len({shape(nodes[by_label[k]][1]) for k in roles}) == 3
    assert len({fill(nodes[by_label[k]][1]) for k in roles}) == 3


def test_consts_and_literals():
    table = np.array([1.0, 2.0, 3.0], np.float32)
    program = fgrad.make_ir(lambda x: x * table + 2.0)(X3)
    nodes, edges = parse(program.to_dot())
    kinds = {label.split("\n")[0].split(" ")[0]: attrs for label, attrs, _ in nodes.values()}
    assert shape(kinds["const"]) == "cylinder" and fill(kinds["const"]) == COLOURS["const"]
    assert len({fill(kinds[k]) for k in ["const", "input", "output", "mul"]}) == 4
    literal = [n for n, (label, _, _) in nodes.items() if label == "2.0:f32[]"]
    assert len(literal) == 1 and "shape=plaintext" in nodes[literal[0]][1]
    # fgrad.numpy broadcasts the Python scalar before adding: the literal feeds that node.
    (dst,) = [d for s, d, _, _ in edges if s == literal[0]]
    assert nodes[dst][0].startswith("broadcast_in_dim\n")


def test_scan_body_and_cond_branches_are_clusters():
    def f(c0, xs):
        c, ys = fgrad.lax.scan(lambda c, x: (c * fnp.sin(x), c), c0, xs)
        return fgrad.lax.cond(c > 0, lambda a: a * 2.0, fnp.cos, c) + ys.sum()

    program = fgrad.make_ir(f)(np.float32(1.0), X3)
    dot = program.to_dot()
    nodes, edges = parse(dot)
    labels = dict(re.findall(r"subgraph (cluster_\d+) \{\n\s*label=\"([^\"]*)\";", dot))
    assert sorted(labels.values()) == ["cond: branches[0]", "cond: branches[1]", "scan: body"]
    inside = {name: sorted(label.split("\n")[0] for label, _, cl in nodes.values()
                           if cl and cl[-1] == name) for name in labels}
    by_title = {labels[k]: v for k, v in inside.items()}
    assert by_title["scan: body"] == ["input 0", "input 1", "mul", "output 0", "output 1", "sin"]
    assert by_title["cond: branches[0]"] == ["cos", "input 0", "output 0"]  # false: cos
    assert by_title["cond: branches[1]"] == [  # true: a * 2.0
        "2.0:f32[]", "input 0", "mul", "output 0"]
    # Each cluster hangs from its equation by a dashed edge into the cluster (lhead).
    owner = {}
    for s, d, label, attrs in edges:
        if "lhead=" in attrs:
            owner[re.search(r"lhead=(cluster_\d+)", attrs).group(1)] = (
                nodes[s][0].split("\n")[0], label)
    assert sorted(owner.values()) == [("cond", "branches[0]"), ("cond", "branches[1]"),
                                      ("scan", "body")]
    # Outside the clusters: the top-level equations only.
    top = sorted(label.split("\n")[0] for label, _, cl in nodes.values()
                 if not cl and not label.startswith(("input", "output", "0.0:")))
    assert top == ["add", "cond", "convert_element_type", "gt", "reduce_sum", "scan"]


def test_labels_are_escaped():
    assert quote('say "hi"\\ there\nnext') == '"say \\"hi\\"\\\\ there\\nnext"'
    name = 'a "quoted" \\name'
    program = fgrad.make_ir(lambda x: fgrad.checkpoint_name(x, name) * 2.0)(X3)
    dot = program.to_dot()
    nodes, _ = parse(dot)
    labels = [label for label, _, _ in nodes.values() if label.startswith("name")]
    assert len(labels) == 1 and labels[0].split("\n")[1] == f"name={name}"
    # Every double quote of the text opens or closes a string, or is escaped inside one.
    stripped = re.sub(r'"(?:[^"\\\n]|\\.)*"', "S", dot)
    assert '"' not in stripped and "\\" not in stripped


def test_gradient_picture_colours_forward_residuals_and_backward_apart():
    dot = grad_picture(sin_times_w, argnums=(0, 1))(X3, X3)
    nodes, edges = parse(dot)

    def in_part(part):
        return {n: v for n, v in nodes.items() if f"cluster_{part}" in v[2]}

    forward, residual, backward = in_part("forward"), in_part("residuals"), in_part("backward")
    eqn_fills = lambda part: {fill(a) for label, a, _ in part.values()  # noqa: E731
                              if not label.startswith(("input", "output", "residual",
                                                       "cotangent", "gradient"))}
    assert eqn_fills(forward) == {COLOURS["forward"]}
    assert eqn_fills(backward) == {COLOURS["backward"]}
    assert {fill(a) for _, a, _ in residual.values()} == {COLOURS["residual"]}
    assert len({COLOURS["forward"], COLOURS["backward"], COLOURS["residual"]}) == 3
    # The forward part is the primal computation with cos(x) added for the derivative.
    assert sorted(label.split("\n")[0] for label, _, _ in forward.values()) == [
        "cos", "input 0", "input 1", "mul", "output 0", "reduce_sum", "sin"]
    # One residual node per saved value (cos(x), w, sin(x)), fed by the forward part and
    # read by the backward part.
    saved = saved_residuals(sin_times_w, argnums=(0, 1))(X3, X3)
    assert sorted(label for label, _, _ in residual.values()) == [
        "residual 0\nd: f32[3]", "residual 1\nb: f32[3]", "residual 2\nc: f32[3]"]
    assert len(residual) == len(saved) == 3
    for r in residual:
        assert [s for s, d, _, _ in edges if d == r][0] in forward
        assert any(d in backward for s, d, _, _ in edges if s == r)
    sources = {nodes[s][0].split("\n")[0] for r in residual for s, d, _, _ in edges if d == r}
    assert sources == {"cos", "input 1", "sin"}
    assert sorted(label.split("\n")[0] for label, _, _ in backward.values()
                  if label.startswith(("gradient", "cotangent"))) == [
        "cotangent of output 0", "gradient of argument 0", "gradient of argument 1"]


def test_gradient_picture_of_a_checkpoint_draws_its_body():
    def f(w, x):
        return fnp.sum(fnp.tanh(w @ x))

    remat = fgrad.checkpoint(f, policy=fgrad.checkpoint_policies.dots_saveable)
    w, x = np.ones((4, 3), np.float32), X3
    dot = grad_picture(remat)(w, x)
    nodes, _ = parse(dot)
    # One residual: the dot's output, which the policy saves (x is a const of both parts).
    assert [label for label, _, cl in nodes.values() if "cluster_residuals" in cl] == [
        "residual 0\nd: f32[4]"]
    # The checkpoint's body is drawn in both parts, in each part's colour: the backward one
    # recomputes tanh from the saved dot instead of reading a saved tanh.
    bodies = {}
    for label, attrs, cl in nodes.values():
        if len(cl) == 2 and not label.startswith(("input", "output", "1.0:")):
            bodies.setdefault(cl[0], set()).add((label.split("\n")[0], fill(attrs)))
    fwd, bwd = COLOURS["forward"], COLOURS["backward"]
    assert bodies["cluster_forward"] == {("dot_general", fwd), ("tanh", fwd),
                                         ("reduce_sum", fwd)}
    assert ("tanh", bwd) in bodies["cluster_backward"]
    assert ("dot_general", bwd) in bodies["cluster_backward"]  # the gradient's outer product
    assert dot.count('label="checkpoint: body"') == 2


def test_missing_graphviz_names_what_to_install(monkeypatch):
    monkeypatch.setattr(pictures.shutil, "which", lambda name: None)
    program = fgrad.make_ir(fnp.sin)(X3)
    with pytest.raises(GraphvizNotFoundError, match="install graphviz") as info:
        program.to_svg()
    assert isinstance(info.value, RuntimeError)
    assert "brew install graphviz" in str(info.value)
    assert "conda install graphviz" in str(info.value)
    with pytest.raises(GraphvizNotFoundError):
        program.render("/tmp/never.svg")


def test_render_dot_text_needs_no_graphviz(tmp_path, monkeypatch):
    monkeypatch.setattr(pictures.shutil, "which", lambda name: None)
    program = fgrad.make_ir(fnp.sin)(X3)
    path = program.render(tmp_path / "sin.dot")
    assert open(path).read() == program.to_dot()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_render_svg(tmp_path):
    program = fgrad.make_ir(sin_times_w)(X3, X3)
    svg = program.to_svg()
    assert "<svg" in svg and ">sin</text>" in svg and ">reduce_sum</text>" in svg
    path = program.render(tmp_path / "p.svg")
    assert open(path).read() == svg
    # Escaped labels are valid DOT: dot accepts them and draws the text.
    name_program = fgrad.make_ir(lambda x: fgrad.checkpoint_name(x, 'q"\\') * 2.0)(X3)
    assert "name=q&quot;\\" in name_program.to_svg()
