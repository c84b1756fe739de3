"""fgrad.testing: check_grads passes correct rules and catches wrong ones (at order 1 and 2,
naming the order, mode, argument, element and direction), with random directions or whole
Jacobians, over pytrees with static leaves, complex values and every float dtype;
assert_allclose; and the pytest plugin (fixtures x64 and fgrad_checks, marker gradcheck),
run in-process by pytester on generated test files.

The mutation evidence (a deliberately wrong rule of each kind, caught) is
tests/test_mutations.py's."""

import importlib
import os
import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import lax as fl
from fgrad.core import Primitive, aval_of
from fgrad.lax._ad import defjvp
from fgrad.lax._batching import defbatch_elementwise
from fgrad.testing import assert_allclose, check_grads

pytest_plugins = ["pytester"]

# The module: `from fgrad.core import typecheck` is the function fgrad.core re-exports.
typecheck = importlib.import_module("fgrad.core.typecheck")


def _sin_with_rules(cos_rule_sign: float, first_order_scale: float) -> Primitive:
    """sin whose derivative is `first_order_scale * cos`, with a cos whose own derivative is
    `cos_rule_sign * sin` (correct: scale 1, sign -1)."""
    my_cos = Primitive("test_testing_cos", lambda a: a, jnp.cos)
    defjvp(my_cos, lambda t, ans, x: fl.mul(t, fl.mul(fl.sin(x), _full(cos_rule_sign, x))))
    my_sin = Primitive("test_testing_sin", lambda a: a, jnp.sin)
    defjvp(my_sin, lambda t, ans, x: fl.mul(t, fl.mul(my_cos.bind1(x),
                                                      _full(first_order_scale, x))))
    defbatch_elementwise(my_cos)
    defbatch_elementwise(my_sin)
    return my_sin


def _full(value, like):
    aval = aval_of(like)
    return fnp.full(aval.shape, value, aval.dtype)


def _square_with_derivative(factor):
    """x², with the derivative factor·x (correct: 2)."""
    @fgrad.custom_jvp
    def f(x):
        return x * x

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return f(x), factor * x * t
    return f


def _linear_with_rule(a, rule_a):
    """x ↦ a @ x, whose JVP rule applies rule_a instead (correct: rule_a == a)."""
    @fgrad.custom_jvp
    def f(x):
        return fnp.asarray(a) @ x

    @f.defjvp
    def f_jvp(primals, tangents):
        return f(primals[0]), fnp.asarray(rule_a) @ tangents[0]
    return f


# -- passing correct derivatives -------------------------------------------------------------


def test_passes_correct_rules_to_second_order(x64):
    my_sin = _sin_with_rules(-1.0, 1.0)
    x = np.array([0.3, -1.2, 2.0])
    check_grads(lambda v: my_sin.bind1(v), (x,), order=2)
    check_grads(lambda a, b: {"s": fnp.sum(my_sin.bind1(a) * b), "p": a * b},
                (x, np.array([1.0, 2.0, 3.0])), order=2, modes=("rev",))
    check_grads(lambda a, b: {"s": fnp.sum(my_sin.bind1(a) * b), "p": a * b},
                (x, np.array([1.0, 2.0, 3.0])), order=2, jacobian=True, batched=True)


def test_third_order(x64):
    check_grads(lambda v: fnp.sum(fnp.sin(v) * v ** 2), (np.array([0.4, -0.9]),), order=3)


def test_static_and_integer_leaves_are_passed_through(x64):
    """Strings, None, Python objects, integer and boolean arrays ride along unchanged (the
    function sees the very same objects) and are not differentiated."""
    marker = object()
    seen = []

    def f(tree):
        seen.append(tree["tag"] is marker and tree["name"] == "springs" and tree["none"] is None)
        scale = 3.0 if tree["flag"] else 1.0
        return {"y": tree["x"][tree["index"]] * scale * fnp.sin(tree["x"]),
                "count": fnp.sum(tree["index"]), "label": tree["name"]}

    tree = {"x": np.array([0.5, -0.7, 1.1]), "index": np.array([2, 0, 1]), "flag": True,
            "name": "springs", "tag": marker, "none": None}
    check_grads(f, (tree,), order=2)
    assert seen and all(seen)


def test_complex_inputs_use_complex_directions(x64):
    """Holomorphic and non-holomorphic functions of complex values pass; a rule that is right
    for real tangents only (it treats d/dz of |z|² as 2z, ignoring conj) is caught, which
    needs complex directions."""
    z = np.array([0.3 + 0.2j, -1.0 + 0.5j])
    check_grads(lambda z: fnp.sin(z) * fnp.conj(z), (z,), order=2)
    check_grads(lambda z: fnp.abs(z) ** 2, (z,), order=2, jacobian=True)
    check_grads(lambda x: fnp.exp(1j * x), (np.array([0.3, 0.7]),), order=2)

    @fgrad.custom_jvp
    def abs2(z):
        return fnp.real(z * fnp.conj(z))

    @abs2.defjvp
    def abs2_jvp(primals, tangents):
        (z,), (t,) = primals, tangents
        return abs2(z), fnp.real(2.0 * z * t)  # right: 2 Re(conj(z)·t)
    with pytest.raises(AssertionError, match="order 1, forward mode"):
        check_grads(abs2, (z,), modes=("fwd",))


def test_complex_vjp_is_the_plain_transpose(x64):
    """JAX's convention: the VJP of z ↦ c·z is g ↦ c·g, not conj(c)·g (PyTorch's)."""
    c = 0.5 - 2.0j

    def scale(bwd_factor):
        @fgrad.custom_vjp
        def f(z):
            return c * z
        f.defvjp(lambda z: (c * z, None), lambda _, g: (bwd_factor * g,))
        return f
    z = np.array([0.3 + 0.2j, -1.0 + 0.5j])
    check_grads(scale(c), (z,), modes=("rev",))
    with pytest.raises(AssertionError, match="order 1, reverse mode"):
        check_grads(scale(np.conj(c)), (z,), modes=("rev",))


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_low_precision_defaults_pass_correct_derivatives(dtype):
    x = np.asarray(np.array([0.1, 0.5, -0.8]), jnp.dtype(dtype))
    check_grads(lambda v: fnp.tanh(v) * 2.0 + v * v, (x,), order=2)


def test_float32_tolerances():
    """A derivative 1% off passes float32's tolerances (2e-2); 10% off does not, and the
    message reports the tolerances used."""
    check_grads(_square_with_derivative(2.02), (np.array([0.7, -1.3], np.float32),))
    with pytest.raises(AssertionError, match=r"atol=0.02, rtol=0.02, eps=0.003"):
        check_grads(_square_with_derivative(2.2), (np.array([0.7, -1.3], np.float32),))


def test_float64_tolerances(x64):
    """1% off fails float64's tolerances (1e-5); explicit ones win; the least precise dtype
    of the inputs and outputs sets the defaults."""
    f = _square_with_derivative(2.02)
    with pytest.raises(AssertionError, match=r"atol=1e-05, rtol=1e-05, eps=1e-05"):
        check_grads(f, (np.array([0.7, -1.3]),))
    check_grads(f, (np.array([0.7, -1.3]),), atol=0.05, rtol=0.05, eps=1e-4)
    with pytest.raises(AssertionError, match=r"atol=0.02"):
        check_grads(lambda v: _square_with_derivative(2.2)(v.astype(np.float32)),
                    (np.array([0.7, -1.3]),))


# -- failure messages ------------------------------------------------------------------------


def test_forward_failure_names_argument_output_and_direction(x64):
    wrong = _square_with_derivative(1.0)  # d/dx x² = x: missing factor 2
    args = ({"w": np.array([0.5, 1.5]), "b": np.array([0.2])}, np.array([1.0, -2.0, 0.5]))
    with pytest.raises(AssertionError) as info:
        check_grads(lambda p, x: (fnp.sum(p["b"]) * x, wrong(p["w"])), args, modes=("fwd",),
                    seed=7)
    message = str(info.value)
    assert message.startswith("check_grads: order 1, forward mode (JVP) disagrees with finite "
                              "differences")
    assert "argument: args[0]['w']" in message
    assert "output: output[1], element (" in message
    assert "direction: random direction 0 of 2 (seed=7)" in message
    assert re.search(r"analytic \S+, numeric \S+: abs error \S+, rel error \S+; allowed", message)


def test_reverse_failure_names_the_element(x64):
    wrong = _square_with_derivative(1.0)
    args = (np.array([0.3]), np.array([0.5, 1.5, -1.0]))
    with pytest.raises(AssertionError) as info:
        check_grads(lambda a, w: a * fnp.sum(wrong(w)), args, modes=("rev",))
    message = str(info.value)
    assert "order 1, reverse mode (VJP) disagrees with finite differences" in message
    # the worst element of w: the VJP gives a·w_i·u (half of a·2w_i·u); at w = 1.5 the gap
    # is largest
    assert "argument: args[1], element (1,): the VJP gives" in message
    assert "compared <Jᵀu, v> with <u, J·v>" in message


def test_failure_values_are_the_hand_derived_ones(x64):
    """With jacobian=True each entry is compared on its own: at x = 3 the rule's derivative
    of x² is x = 3 where the truth is 2x = 6."""
    with pytest.raises(AssertionError) as info:
        check_grads(_square_with_derivative(1.0), (np.array([3.0]),), modes=("fwd",),
                    jacobian=True)
    message = str(info.value)
    assert "argument: args[0] element (0,)" in message
    m = re.search(r"analytic (\S+), numeric (\S+): abs error (\S+), rel error (\S+);", message)
    analytic, numeric, abs_err, rel_err = map(float, m.groups())
    np.testing.assert_allclose([analytic, numeric, abs_err, rel_err], [3.0, 6.0, 3.0, 0.5],
                               rtol=1e-6)


def test_second_order_failures_name_the_nesting(x64):
    my_sin = _sin_with_rules(+1.0, 1.0)  # cos' = +sin: wrong, sin' = cos right
    x = (np.array([0.3, -1.2, 2.0]),)
    f = lambda v: my_sin.bind1(v)
    check_grads(f, x, order=1)
    with pytest.raises(AssertionError, match=r"order 2, forward-over-reverse Hessian-vector "
                                             r"product \(the JVP of the VJP\) disagrees with "
                                             r"finite differences of the order-1 derivative"):
        check_grads(f, x, order=2)
    with pytest.raises(AssertionError, match=r"order 2, reverse-over-reverse Hessian-vector "
                                             r"product \(the VJP of the VJP\)"):
        check_grads(f, x, order=2, modes=("rev",))
    with pytest.raises(AssertionError, match=r"order 2, forward-over-forward"):
        check_grads(f, x, order=2, modes=("fwd",))


def test_jacobian_mode_locates_a_single_wrong_entry(x64):
    a = np.arange(1.0, 7.0).reshape(2, 3)
    rule_a = a.copy()
    rule_a[1, 2] += 0.5
    x = np.array([0.2, -0.4, 0.9])
    check_grads(_linear_with_rule(a, a), (x,), jacobian=True)
    for modes, mode in ((("fwd",), "forward mode"), (("rev",), "reverse mode")):
        with pytest.raises(AssertionError) as info:
            check_grads(_linear_with_rule(a, rule_a), (x,), modes=modes, jacobian=True)
        message = str(info.value)
        assert f"order 1, {mode}" in message
        assert "argument: args[0] element (2,)" in message
        assert "output: output, element (1,)" in message
        assert "analytic 6.5, numeric 6:" in message


def test_same_seed_same_directions():
    wrong = _square_with_derivative(1.5)
    x = (np.array([0.5, 1.5, -1.0], np.float32),)
    messages = []
    for seed in (3, 3, 4):
        with pytest.raises(AssertionError) as info:
            check_grads(wrong, x, modes=("fwd",), seed=seed)
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    assert messages[0] != messages[2] and "seed=4" in messages[2]


def test_random_directions_cost_does_not_grow_with_the_input():
    """Two evaluations per direction, whatever the size; jacobian=True two per element."""
    calls = []

    def f(x):
        calls.append(1)
        return fnp.sin(x) * 2.0
    check_grads(f, (np.linspace(-1.0, 1.0, 500, dtype=np.float32),), directions=3)
    # one to see the outputs, 2 per direction, one trace per JVP, one for the VJP
    assert len(calls) == 1 + 3 * 2 + 3 + 1
    calls.clear()
    check_grads(f, (np.linspace(-1.0, 1.0, 4, dtype=np.float32),), jacobian=True)
    assert len(calls) == 1 + 4 * 2 + 4 + 1


def test_argument_checks():
    with pytest.raises(ValueError, match="modes"):
        check_grads(fnp.sin, (1.0,), modes=("sideways",))
    with pytest.raises(ValueError, match="modes"):
        check_grads(fnp.sin, (1.0,), modes=())
    with pytest.raises(ValueError, match="order"):
        check_grads(fnp.sin, (1.0,), order=0)
    with pytest.raises(ValueError, match="directions"):
        check_grads(fnp.sin, (1.0,), directions=0)
    with pytest.raises(TypeError, match=r"check_grads\(f, \(x,\)\)"):
        check_grads(fnp.sin, np.ones(2))
    with pytest.raises(ValueError, match="nothing to differentiate"):
        check_grads(lambda i: i * 2, (np.arange(3), "text"))
    with pytest.raises(ValueError, match="no floating-point or complex value"):
        check_grads(lambda x: fnp.argmax(x), (np.ones(3, np.float32),))


# -- assert_allclose -------------------------------------------------------------------------


def test_assert_allclose_passes_within_dtype_tolerance():
    a = {"w": np.float32([1.0, 2.0]), "n": np.int32(3), "z": np.complex64(1 + 1j)}
    b = {"w": np.float32([1.0, 2.0 + 1e-6]), "n": np.int32(3), "z": np.complex64(1 + 1j)}
    assert_allclose(a, b)
    assert_allclose(np.float32(1.0), 1.0 + 3e-6)  # a Python scalar takes any dtype
    assert_allclose(np.array([np.nan, np.inf, 1.0]), np.array([np.nan, np.inf, 1.0]))
    assert_allclose(jnp.float32(1.0), np.float64(1.0 + 5e-6), check_dtypes=False)


def test_assert_allclose_failures():
    with pytest.raises(AssertionError, match=r"at \['b'\]\[1\]: 1 of 3 elements differ beyond "
                                             r"atol=1e-05 \+ rtol=1e-05·\|desired\|; the worst "
                                             r"at index \(2,\)"):
        assert_allclose({"a": np.float32(0), "b": [1.0, np.float32([1, 2, 3])]},
                        {"a": np.float32(0), "b": [1.0, np.float32([1, 2, 3.001])]})
    # float32 against float64: float32's tolerance, and the dtypes differ
    with pytest.raises(AssertionError, match="dtypes differ: actual float32, desired float64"):
        assert_allclose(np.float32([1, 2]), np.float64([1, 2 + 1e-6]))
    assert_allclose(np.float32([1, 2]), np.float64([1, 2 + 1e-6]), check_dtypes=False)
    with pytest.raises(AssertionError, match="rtol=1e-10"):
        assert_allclose(np.float64([1, 2]), np.float64([1, 2 + 1e-6]))
    with pytest.raises(AssertionError, match=r"my check: at the root: shapes differ: actual "
                                             r"\(2,\), desired \(1, 2\)"):
        assert_allclose(np.ones(2), np.ones((1, 2)), err_msg="my check")
    with pytest.raises(AssertionError, match="differ in structure"):
        assert_allclose({"a": 1.0}, {"b": 1.0})
    with pytest.raises(AssertionError, match="1 of 2 elements"):
        assert_allclose(np.array([1, 2]), np.array([1, 3]))  # integers: exact
    with pytest.raises(AssertionError, match="index \\(0,\\)"):
        assert_allclose(np.array([np.nan, 1.0]), np.array([1.0, 1.0]))
    with pytest.raises(AssertionError, match="actual 1.5, desired 1.0"):
        assert_allclose(np.float64(1.5), np.float64(1.0), rtol=0.1, atol=0.0)


# -- the pytest plugin -----------------------------------------------------------------------


def test_the_suite_honors_fgrad_checks_from_its_conftest():
    """tests/conftest.py sets FGRAD_CHECKS before fgrad is imported (the plugin does not
    import it; and if another plugin did, the plugin reads the variable again)."""
    assert typecheck.CHECKS == (os.environ.get("FGRAD_CHECKS", "") not in ("", "0"))


def test_x64_fixture_comes_from_the_plugin(x64, request):
    """The suite's x64 is the plugin's (tests/conftest.py has none): the entry point works."""
    import fgrad_pytest_plugin as plugin
    assert request.config.pluginmanager.get_plugin("fgrad") is plugin
    assert jax.config.jax_enable_x64
    conftest = request.config.pluginmanager.get_plugin(
        str(pathlib.Path(__file__).with_name("conftest.py")))
    assert conftest is not None and not hasattr(conftest, "x64")


PLUGIN_TESTS = '''
import jax
import numpy as np
import importlib

import pytest

import fgrad

typecheck = importlib.import_module("fgrad.core.typecheck")
STATE = []


def record():
    STATE.append((jax.config.jax_enable_x64, typecheck.CHECKS))


def test_plain():
    record()


def test_x64(x64):
    record()


def test_checks(fgrad_checks):
    record()


def test_after():
    record()


@pytest.mark.gradcheck(order=2, directions=3)
def test_marked(gradcheck):
    record()
    assert gradcheck.keywords == {"order": 2, "directions": 3}
    gradcheck(lambda x: fgrad.numpy.sin(x) ** 2, (np.array([0.3, 1.0]),))


@pytest.mark.gradcheck
def test_marked_fails_and_restores():
    record()
    raise RuntimeError("a failing marked test")


def test_last(gradcheck):
    record()
    assert gradcheck.keywords == {}


def test_states():
    expected = [(False, False), (True, False), (False, True), (False, False), (True, True),
                (True, True), (False, False)]
    assert STATE == expected
'''


def test_plugin_imports_neither_fgrad_nor_jax_before_the_conftests(pytester):
    """So a conftest can still set JAX_ENABLE_X64 or FGRAD_CHECKS for the whole run."""
    pytester.makeconftest("import sys\nEARLY = sorted({'fgrad', 'jax'} & set(sys.modules))")
    pytester.makepyfile("import conftest\n\n\ndef test_early():\n"
                        "    assert conftest.EARLY == []\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=1)


def test_plugin_fixtures_and_marker(pytester, monkeypatch):
    """Each fixture turns its setting on for its test only, and restores it, even when the
    test fails; the marker does both and configures the gradcheck fixture."""
    monkeypatch.setattr(typecheck, "CHECKS", False)
    monkeypatch.delenv("FGRAD_CHECKS", raising=False)
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", False)
    try:
        pytester.makepyfile(PLUGIN_TESTS)
        result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--strict-markers",
                                              "-q")
    finally:
        jax.config.update("jax_enable_x64", previous)
    result.assert_outcomes(passed=7, failed=1)
    result.stdout.fnmatch_lines(["*RuntimeError: a failing marked test*"])


def test_plugin_marker_catches_a_wrong_second_derivative_and_rejects_unknown_options(
        pytester):
    pytester.makepyfile('''
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp


@fgrad.custom_jvp
def cos_wrong(x):
    return fnp.cos(x)


@cos_wrong.defjvp
def _(primals, tangents):
    return cos_wrong(primals[0]), fnp.sin(primals[0]) * tangents[0]  # sign flipped


@fgrad.custom_jvp
def sin(x):
    return fnp.sin(x)


@sin.defjvp
def _(primals, tangents):
    return sin(primals[0]), cos_wrong(primals[0]) * tangents[0]


@pytest.mark.gradcheck(order=2, modes=("rev",))
def test_second_order(gradcheck):
    gradcheck(sin, (np.array([0.3, 1.0]),))


@pytest.mark.gradcheck(orders=2)
def test_misspelled(gradcheck):
    pass
''')
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines(["*order 2, reverse-over-reverse Hessian-vector product*"])
    result.stdout.fnmatch_lines(["*gradcheck takes only check_grads' keyword arguments*"])
    result.stdout.fnmatch_lines(["*got orders*"])
