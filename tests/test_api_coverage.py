"""docs/api_coverage.md is current, and fgrad covers JAX's numpy-style namespaces: at least
95% of jax.numpy's functions, all of jax.nn's, and every name left out says why."""

import functools
import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("gen_api_coverage",
                                              ROOT / "docs" / "gen_api_coverage.py")
coverage = importlib.util.module_from_spec(spec)
spec.loader.exec_module(coverage)

TABLES = {jax_name: coverage.rows(jax_name, ours) for jax_name, ours in coverage.NAMESPACES}


def test_docs_api_coverage_md_is_current():
    assert coverage.OUTPUT.read_text() == coverage.render(), (
        f"docs/api_coverage.md is stale: regenerate it with `{coverage.COMMAND}`")


@pytest.mark.parametrize("jax_name", list(TABLES))
def test_every_missing_name_says_why(jax_name):
    unexplained = [name for name, _, has, reason in TABLES[jax_name] if not has and not reason]
    assert not unexplained, (
        f"{jax_name} names fgrad lacks without a reason in docs/gen_api_coverage.py's "
        f"LEFT_OUT: {', '.join(unexplained)}")


@pytest.mark.parametrize("jax_name", list(TABLES))
def test_no_reason_for_a_name_fgrad_has(jax_name):
    stale = [name for name, _, has, _ in TABLES[jax_name]
             if has and name in coverage.LEFT_OUT[jax_name]]
    assert not stale, f"LEFT_OUT gives reasons for names fgrad has: {', '.join(stale)}"


def test_fgrad_numpy_has_95_percent_of_jax_numpys_functions():
    have, total = coverage.summary(TABLES["jax.numpy"])
    assert have >= 0.95 * total, f"fgrad.numpy has {have} of jax.numpy's {total} functions"


@pytest.mark.parametrize("jax_name", list(TABLES))
def test_names_fgrad_has_are_of_jaxs_kind(jax_name):
    """A name fgrad has is callable exactly when JAX's is (a function is not a constant)."""
    ours = importlib.import_module(dict(coverage.NAMESPACES)[jax_name])

    def lookup(name):  # `norm.logpdf`: a function of a distribution's module
        return functools.reduce(getattr, name.split("."), ours)

    wrong = [name for name, kind, has, _ in TABLES[jax_name]
             if has and (kind in ("function", "type")) != callable(lookup(name))]
    assert not wrong, f"kinds differ from JAX's: {', '.join(wrong)}"
