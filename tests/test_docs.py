"""The documentation's code runs as written: every ```python block of the README and the
guides (each file's blocks in order, sharing one namespace), and the API's docstring
examples (doctest)."""

import doctest
import pathlib
import re

import jax
import pytest

import fgrad.api
import fgrad.filtered
import fgrad.jax_import

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_python_blocks_run(path):
    blocks = re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)
    namespace: dict = {}
    # A page that turns float64 on restores it at its end; if it fails before, the
    # setting must not leak into the tests that run after it in this process.
    previous_x64 = jax.config.jax_enable_x64
    try:
        for block in blocks:
            exec(compile(block, str(path), "exec"), namespace)
    finally:
        jax.config.update("jax_enable_x64", previous_x64)


@pytest.mark.parametrize("module", [fgrad.api, fgrad.filtered, fgrad.jax_import],
                         ids=lambda m: m.__name__)
def test_api_docstring_examples(module):
    failures, tried = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried > 0 and failures == 0
