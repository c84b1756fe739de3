"""The documentation site builds, and every public name is documented.

1. `mkdocs build --strict` (mkdocs.yml: MkDocs Material, mkdocstrings) succeeds: every
   page is in the nav, every link and anchor between pages resolves, every `::: name`
   directive of the API reference renders, and griffe accepts every docstring it parses.
2. Every name in `fgrad.__all__` (and `fgrad.testing.check_grads`, `assert_allclose`) has a
   `::: fgrad.name` directive in `docs/reference/*.md` and a non-empty docstring.
3. Arguments and returns, in Google style, the style the reference is rendered with. A
   public function, or a class with constructor parameters (exceptions aside), documents

   - its arguments: an `Args:` (or `Arguments:`) section with one entry `name:` (or
     `*name:` / `**name:`) for every parameter of its signature, `self` aside;
   - what it returns: a `Returns:` (or `Yields:`) section, unless it is a class or its
     return annotation is `None`.

   Every public name meets it, so a new public name must too.
"""

import inspect
import os
import pathlib
import re
import subprocess
import sys


import fgrad
import fgrad.testing

ROOT = pathlib.Path(__file__).resolve().parent.parent

PUBLIC = {name: getattr(fgrad, name) for name in fgrad.__all__}
PUBLIC.update({f"testing.{name}": getattr(fgrad.testing, name)
               for name in fgrad.testing.__all__})

def _section(doc: str, titles: tuple[str, ...]) -> list[str] | None:
    """The lines of the first section headed by one of `titles` (e.g. `Args:`), or None."""
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if line.strip() in {f"{title}:" for title in titles}:
            indent = len(line) - len(line.lstrip())
            body = []
            for following in lines[i + 1:]:
                if following.strip() and len(following) - len(following.lstrip()) <= indent:
                    break
                body.append(following)
            return body
    return None


def _arg_entries(body: list[str]) -> set[str]:
    """The parameter names of an `Args:` section's entries (its least indented lines)."""
    lines = [line for line in body if line.strip()]
    if not lines:
        return set()
    indent = min(len(line) - len(line.lstrip()) for line in lines)
    entries = set()
    for line in lines:
        match = re.match(r"\*{0,2}(\w+)\s*(\([^)]*\))?:", line[indent:])
        if len(line) - len(line.lstrip()) == indent and match:
            entries.add(match.group(1))
    return entries


def documentation_problems(obj) -> list[str]:
    """What `obj`'s docstring lacks under the criterion of this module's docstring."""
    doc = inspect.getdoc(obj) or ""
    if not doc.strip():
        return ["no docstring"]
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        return []
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return []
    problems = []
    params = [p for p in signature.parameters if p != "self"]
    if params:
        body = _section(doc, ("Args", "Arguments"))
        if body is None:
            problems.append("no Args: section")
        else:
            missing = [p for p in params if p not in _arg_entries(body)]
            if missing:
                problems.append(f"Args: lacks {', '.join(missing)}")
    returns_none = signature.return_annotation in (None, "None")
    if not inspect.isclass(obj) and not returns_none:
        if _section(doc, ("Returns", "Yields")) is None:
            problems.append("no Returns: section")
    return problems


def test_every_public_name_has_a_docstring():
    undocumented = [name for name, obj in PUBLIC.items() if not (inspect.getdoc(obj) or "")]
    assert not undocumented


def test_every_public_name_documents_its_arguments_and_returns():
    problems = {name: found for name, obj in sorted(PUBLIC.items())
                if (found := documentation_problems(obj))}
    assert not problems, f"docstrings without Args:/Returns: sections: {problems}"


def test_every_public_name_is_in_the_api_reference():
    text = "\n".join(p.read_text() for p in sorted((ROOT / "docs" / "reference").glob("*.md")))
    directives = set(re.findall(r"^::: fgrad\.([\w.]+)\s*$", text, flags=re.M))
    assert not set(PUBLIC) - directives


def test_mkdocs_build_strict(tmp_path):
    # The docs extra (in dev) installs mkdocs, mkdocs-material and mkdocstrings[python].
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "index.html").exists()
    assert (tmp_path / "reference" / "transforms" / "index.html").exists()


def test_the_criterion_itself():
    def documented(x, *rest, flag=False):
        """Adds.

        Args:
          x: a number.
          *rest (float): more numbers.
          flag: ignored.

        Returns:
          the sum.
        """

    def half_documented(x, y):
        """Adds.

        Args:
          x: a number; y is not listed.
        """

    def returns_nothing(x) -> None:
        """Prints.

        Arguments:
          x: what to print.
        """

    assert documentation_problems(documented) == []
    assert documentation_problems(half_documented) == ["Args: lacks y", "no Returns: section"]
    assert documentation_problems(returns_nothing) == []
    assert documentation_problems(lambda: None) == ["no docstring"]
