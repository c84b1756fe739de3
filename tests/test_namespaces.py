"""The public namespaces (fgrad, fgrad.numpy, fgrad.numpy.linalg, fgrad.lax) show only their
public API: `__all__` lists exactly the public names, none of them an import the module
uses internally, and the docs use only names that are in it."""

import importlib.util
import pathlib
import re
import types

import jax
import jax.numpy as jnp
import pytest

import fgrad
import fgrad.lax
import fgrad.numpy
import fgrad.numpy.linalg

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Each namespace and the JAX namespace it mirrors.
NAMESPACES = {
    "fgrad": (fgrad, jax),
    "fgrad.numpy": (fgrad.numpy, jnp),
    "fgrad.numpy.linalg": (fgrad.numpy.linalg, jnp.linalg),
    "fgrad.lax": (fgrad.lax, jax.lax),
}


def is_submodule(module, name) -> bool:
    """`module.name` is a submodule of the package `module` (fgrad.numpy.linalg, or a family
    module of fgrad.lax): Python sets those attributes when it imports them, and they are
    imported by name (fgrad.numpy.linalg.norm), not by `from ... import *`."""
    value = vars(module).get(name)
    return isinstance(value, types.ModuleType) and value.__name__ == f"{module.__name__}.{name}"


def public_names(module) -> set[str]:
    # Not identifiers: pytest's assertion rewriting adds '@py_builtins' and '@pytest_ar' to
    # the modules of a distribution that registers a pytest plugin, as fgrad does.
    return {name for name in dir(module) if not name.startswith("_") and name.isidentifier()}


@pytest.mark.parametrize("name", list(NAMESPACES))
def test_all_lists_exactly_the_public_names(name):
    module, _ = NAMESPACES[name]
    listed = module.__all__
    assert isinstance(listed, list) and all(isinstance(n, str) for n in listed)
    assert len(set(listed)) == len(listed), "a name is listed twice"
    missing = [n for n in listed if n not in vars(module)]
    assert not missing, f"{name}.__all__ lists names it lacks: {missing}"
    unlisted = sorted(n for n in public_names(module) - set(listed)
                      if not is_submodule(module, n))
    assert not unlisted, f"{name} shows names that are not in its __all__: {unlisted}"


@pytest.mark.parametrize("name", list(NAMESPACES))
def test_every_listed_name_is_fgrads_or_deliberately_jaxs(name):
    """Each public name is a function, class or value defined by fgrad, or the very object
    JAX's namespace offers under that name (jnp.float32's NumPy dtype families, pi, the
    dimension-number classes of jax.lax): never a module, `annotations`, or a helper the
    module imported for itself."""
    module, jax_module = NAMESPACES[name]
    wrong = []
    for n in module.__all__:
        value = getattr(module, n)
        if isinstance(value, types.ModuleType):
            wrong.append(f"{n} (a module)")
            continue
        # Where a function or class was defined; for other objects (fnp.float32), their class.
        defined = value if isinstance(value, (type, types.FunctionType)) else type(value)
        ours = defined.__module__.split(".")[0] == "fgrad"
        jaxs = hasattr(jax_module, n) and getattr(jax_module, n) is value
        if not (ours or jaxs):
            wrong.append(f"{n} ({value!r:.60})")
    assert not wrong, f"{name}.__all__ has names that are neither fgrad's nor JAX's: {wrong}"


@pytest.mark.parametrize("name", list(NAMESPACES))
def test_import_star_gives_exactly_all(name):
    namespace = {}
    exec(f"from {name} import *", namespace)
    del namespace["__builtins__"]
    assert set(namespace) == set(NAMESPACES[name][0].__all__)


def test_internal_imports_are_hidden():
    for leaked in ("absolute", "annotations", "at_user_line", "np", "aval_of", "lax_linalg",
                   "missing_attribute", "check_arraylike", "sqrt"):
        assert leaked not in public_names(fgrad.numpy.linalg), leaked
    assert "missing_attribute" not in public_names(fgrad.lax)
    assert "jax" not in public_names(fgrad) and "np" not in public_names(fgrad.numpy)


@pytest.mark.parametrize("name, typo, suggestion", [
    ("fgrad", "gard", "grad"), ("fgrad.numpy", "sqrtt", "sqrt"),
    ("fgrad.numpy.linalg", "nrom", "norm"), ("fgrad.lax", "reduce_summ", "reduce_sum")])
def test_missing_names_still_explain_themselves(name, typo, suggestion):
    module, _ = NAMESPACES[name]
    with pytest.raises(AttributeError) as info:
        getattr(module, typo)
    message = str(info.value)
    assert f"module {name!r} has no attribute {typo!r}" in message
    assert f"Did you mean {suggestion}" in message


def doc_texts():
    return {path.name: path.read_text(encoding="utf-8")
            for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]}


def exists_in(module, dotted: str) -> bool:
    """`module.a.b...` names something the module offers: `a` is in its __all__ (or, for a
    module without one, such as fgrad.core, one of its names), or one of its submodules;
    and so on down the submodules."""
    head, _, rest = dotted.partition(".")
    listed = getattr(module, "__all__", None)
    if head in (listed if listed is not None else vars(module)):
        value = getattr(module, head)
    elif hasattr(module, "__path__") and importlib.util.find_spec(
            f"{module.__name__}.{head}") is not None:
        value = importlib.import_module(f"{module.__name__}.{head}")
    else:
        return False
    return not rest or not isinstance(value, types.ModuleType) or exists_in(value, rest)


@pytest.mark.parametrize("prefix, module", [
    (r"fnp|fgrad\.numpy", fgrad.numpy), (r"fgrad\.lax", fgrad.lax), (r"fgrad", fgrad)])
def test_names_the_docs_use_are_public(prefix, module):
    pattern = re.compile(rf"(?<![\w.])(?:{prefix})\.([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)")
    missing = set()
    for doc, text in doc_texts().items():
        for dotted in pattern.findall(text):
            if module is fgrad and dotted.split(".")[0] in ("numpy", "lax"):
                continue  # checked against their own __all__ by the cases above
            if not exists_in(module, dotted):
                missing.add(f"{doc}: {module.__name__}.{dotted}")
    assert not missing, f"the docs use names {module.__name__} does not offer: {sorted(missing)}"


def test_the_docs_use_fnp():
    # The check above must have something to check.
    assert any("fnp.sum" in text for text in doc_texts().values())
