"""fgrad.debug.nans / check_nans: the first equation producing a NaN or an infinity raises,
naming the primitive, the pass and the user's line; eager and under fgrad.jit; off, nothing
changes."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.core import evaluate
from fgrad.core.errors import FgradError
from fgrad.core.primitive import Primitive, _PLAIN_BINDS
from fgrad.debug.nans import NonFiniteError, check_nans, nans, nans_enabled
from fgrad.xla import Jitted, _unchecked_call

HERE = "test_nans.py"


def line_containing(fn, text: str) -> int:
    """The line of `fn`'s source that contains `text`."""
    lines, first = inspect.getsourcelines(fn)
    [offset] = [i for i, line in enumerate(lines) if text in line]
    return first + offset


def classic(x):
    return fnp.where(x > 0, fnp.sqrt(x), 0.0)


def safe(x):
    return fnp.where(x > 0, fnp.sqrt(fnp.where(x > 0, x, 1.0)), 0.0)


SQRT_LINE = line_containing(classic, "fnp.sqrt")


@pytest.fixture(autouse=True)
def checks_off_after():
    yield
    check_nans(False)
    assert Primitive.bind is _PLAIN_BINDS[0] and Primitive.bind1 is _PLAIN_BINDS[1]
    assert Jitted.__call__ is _unchecked_call and evaluate.nan_checker is None


def assert_at(error: NonFiniteError, line: int):
    assert f"{HERE}:{line}" in str(error)
    assert error.source is not None and error.source.lineno == line
    assert error.source.filename.endswith(HERE)


@pytest.mark.parametrize("wrap", ["eager", "fgrad.jit"])
def test_classic_where_sqrt_points_at_sqrts_derivative_in_the_backward_pass(wrap):
    g = fgrad.grad(classic) if wrap == "eager" else fgrad.jit(fgrad.grad(classic))
    with nans(), pytest.raises(NonFiniteError) as e:
        g(0.0)
    err = e.value
    # 0.5 / sqrt(0) = inf: sqrt's derivative factor, the first non-finite value.
    assert (err.primitive, err.kind, err.phase, err.derivative_of) == (
        "div", "inf", "backward", ("sqrt",))
    message = str(err)
    assert "div produced an infinity in the backward pass" in message
    assert "in the derivative of sqrt" in message
    assert "fnp.sqrt(x)" in message  # the user's line, quoted
    assert "fnp.where(x > 0, fnp.sqrt(fnp.where(x > 0, x, 1.0)), 0.0)" in message  # the fix
    assert_at(err, SQRT_LINE)
    assert isinstance(err, FloatingPointError) and isinstance(err, FgradError)


@pytest.mark.parametrize("wrap", ["eager", "fgrad.jit"])
def test_classic_nans_only_blames_the_backward_multiplication(wrap):
    g = fgrad.grad(classic) if wrap == "eager" else fgrad.jit(fgrad.grad(classic))
    with nans(infs=False), pytest.raises(NonFiniteError) as e:
        g(0.0)
    err = e.value
    # the cotangent 0 (where's discarded branch) times the infinite factor
    assert (err.primitive, err.kind, err.phase, err.derivative_of) == (
        "mul", "nan", "backward", ("sqrt",))
    assert "mul produced a NaN in the backward pass, in the derivative of sqrt" in str(err)
    assert_at(err, SQRT_LINE)


def test_off_means_no_error_and_jaxs_value():
    assert not nans_enabled()
    ours = fgrad.grad(classic)(0.0)
    theirs = jax.grad(lambda x: jnp.where(x > 0, jnp.sqrt(x), 0.0))(0.0)
    assert np.isnan(ours) and np.isnan(theirs)
    assert np.isnan(fgrad.jit(fgrad.grad(classic))(0.0))
    assert np.isnan(fnp.log(-1.0)) and np.isinf(fnp.exp(1000.0))


@pytest.mark.parametrize("wrap", ["eager", "fgrad.jit"])
def test_safe_where_has_a_finite_gradient(wrap):
    g = fgrad.grad(safe) if wrap == "eager" else fgrad.jit(fgrad.grad(safe))
    with nans():
        assert g(0.0) == 0.0
        assert g(4.0) == 0.25
    assert jax.grad(lambda x: jnp.where(x > 0, jnp.sqrt(jnp.where(x > 0, x, 1.0)), 0.0))(0.0) == 0


def forward_nan(x):
    y = x - 2.0
    return fnp.log(y) * 3.0


@pytest.mark.parametrize("wrap", ["eager", "fgrad.jit", "grad", "jit(value_and_grad)"])
def test_forward_nan_names_the_primitive_and_line(wrap):
    # (jit(grad) alone returns a finite gradient here, 3 / (x - 2): a jitted function is
    # checked through its outputs, so the forward NaN must reach one.)
    g = {"eager": forward_nan, "fgrad.jit": fgrad.jit(forward_nan),
         "grad": fgrad.grad(forward_nan),
         "jit(value_and_grad)": fgrad.jit(fgrad.value_and_grad(forward_nan))}[wrap]
    with nans(), pytest.raises(NonFiniteError) as e:
        g(1.0)
    err = e.value
    assert (err.primitive, err.kind, err.phase) == ("log", "nan", "forward")
    assert "log produced a NaN in the forward pass" in str(err)
    assert_at(err, line_containing(forward_nan, "fnp.log"))


def test_infinities_are_detected_forward():
    def overflow(x):
        return fnp.exp(x) + 1.0

    line = line_containing(overflow, "fnp.exp")
    for g in (overflow, fgrad.jit(overflow)):
        with nans(), pytest.raises(NonFiniteError) as e:
            g(1000.0)
        assert (e.value.primitive, e.value.kind, e.value.phase) == ("exp", "inf", "forward")
        assert "exp produced an infinity in the forward pass" in str(e.value)
        assert_at(e.value, line)
    with nans(infs=False):  # infinities allowed
        assert np.isinf(overflow(1000.0))
        assert np.isinf(fgrad.jit(overflow)(1000.0))


def test_division_by_zero_is_an_infinity():
    with nans(), pytest.raises(NonFiniteError, match="div produced an infinity"):
        fnp.divide(fnp.ones(3), fnp.zeros(3))


def test_values_passed_on_are_not_blamed():
    def masked_logits(x):
        return fnp.where(x > 0, x, -fnp.inf)  # the user's own infinity: not produced here

    with nans():
        assert np.isneginf(masked_logits(fnp.asarray([-1.0, 1.0]))[0])
        # A NaN in the inputs, passed through eagerly: no operation produced it.
        assert np.isnan(fnp.asarray([np.nan]) * 2.0)[0]
        assert np.isnan(fgrad.grad(lambda x: x * 2.0)(np.float32(np.nan))) == np.False_


def test_nan_in_jit_arguments_is_reported_as_coming_from_them():
    g = fgrad.jit(lambda x: x * 2.0)
    with nans(), pytest.raises(NonFiniteError, match="no operation produced one") as e:
        g(jnp.float32(np.nan))
    assert f"{HERE}:{inspect.currentframe().f_lineno - 1}" in str(e.value)


def test_jvp_derivative_is_reported_as_derivative():
    with nans(), pytest.raises(NonFiniteError) as e:
        fgrad.jvp(classic, (0.0,), (1.0,))
    assert (e.value.primitive, e.value.phase, e.value.derivative_of) == (
        "div", "backward", ("sqrt",))
    assert_at(e.value, SQRT_LINE)


def test_vmap_eager():
    with nans(), pytest.raises(NonFiniteError) as e:
        fgrad.vmap(forward_nan)(fnp.asarray([3.0, 1.0]))
    assert (e.value.primitive, e.value.phase) == ("log", "forward")
    assert_at(e.value, line_containing(forward_nan, "fnp.log"))


def test_global_switch_and_nesting():
    check_nans(True)
    assert nans_enabled()
    with pytest.raises(NonFiniteError):
        fnp.sqrt(-1.0)
    with nans(False):
        assert not nans_enabled()
        assert np.isnan(fnp.sqrt(-1.0))
    assert nans_enabled()
    with nans(infs=False):
        assert np.isinf(fnp.exp(1000.0))
    with pytest.raises(NonFiniteError):  # infs are errors again
        fnp.exp(1000.0)
    check_nans(False)
    assert not nans_enabled() and np.isnan(fnp.sqrt(-1.0))


def test_context_restores_after_an_error_and_fgrad_keeps_working():
    with pytest.raises(NonFiniteError):
        with nans():
            fgrad.grad(classic)(0.0)
    assert not nans_enabled()
    assert Primitive.bind is _PLAIN_BINDS[0]
    assert fgrad.grad(lambda x: x * x)(3.0) == 6.0
    assert fgrad.jit(fgrad.grad(classic))(4.0) == 0.25
    with nans():  # and checking works again
        assert fgrad.grad(classic)(4.0) == 0.25
        with pytest.raises(NonFiniteError):
            fgrad.grad(classic)(0.0)


def test_compiled_eager_gradient_is_checked_op_by_op():
    g = fgrad.grad(lambda x: classic(x) * 1.0)
    for _ in range(4):  # seen often enough to be compiled by the eager cache
        assert np.isnan(g(0.0))
    with nans(), pytest.raises(NonFiniteError, match="derivative of sqrt"):
        g(0.0)


def test_masked_nan_inside_jit_is_not_reported_but_is_eagerly():
    # The documented price of checking jitted outputs only (JAX's approach).
    def masked(x):
        return fnp.where(x > 0, fnp.log(x), 0.0)

    with nans():
        assert fgrad.jit(masked)(-1.0) == 0.0
        with pytest.raises(NonFiniteError, match="log produced a NaN in the forward pass"):
            masked(-1.0)


def test_fgrad_under_jax_jit_is_not_checked():
    with nans():  # JAX tracers have no values to check: use jax_debug_nans there
        assert np.isnan(jax.jit(lambda x: fnp.sqrt(x))(-1.0))


# -- inside control flow: the equation in the body, not the loop -------------------------------


def log_in_scan(x):
    def step(c, xi):
        y = fnp.log(xi)
        return c + y, y
    return fgrad.lax.scan(step, 0.0, x)[0]


def sqrt_in_cond(x):
    return fgrad.lax.cond(x > 0, lambda x: fnp.sqrt(x - 5.0), lambda x: x, x)


def log_in_while(x):
    return fgrad.lax.while_loop(lambda c: c[1] < 3,
                                lambda c: (fnp.log(c[0] - 1.5), c[1] + 1), (x, 0))[0]


@pytest.mark.parametrize("wrap", ["eager", "fgrad.jit"])
@pytest.mark.parametrize("fn, arg, prim, text", [
    (log_in_scan, np.array([1.0, 2.0, -1.0]), "log", "fnp.log(xi)"),
    (sqrt_in_cond, 1.0, "sqrt", "fnp.sqrt"),
    (log_in_while, 3.0, "log", "fnp.log"),  # 3 → log 1.5 → log(-1.09): NaN at step 2
], ids=["scan", "cond", "while"])
def test_forward_nan_inside_control_flow_names_the_body_line(wrap, fn, arg, prim, text):
    g = fn if wrap == "eager" else fgrad.jit(fn)
    with nans(), pytest.raises(NonFiniteError) as e:
        g(arg)
    assert (e.value.primitive, e.value.kind, e.value.phase) == (prim, "nan", "forward")
    assert_at(e.value, line_containing(fn, text))


def where_sqrt_in_scan(x):
    def step(c, xi):
        return c + fnp.where(xi > 0, fnp.sqrt(xi), 0.0), None
    return fgrad.lax.scan(step, 0.0, x)[0]


@pytest.mark.parametrize("wrap", ["eager", "fgrad.jit"])
def test_backward_inf_inside_a_scan_body_points_at_sqrt(wrap):
    g = fgrad.grad(where_sqrt_in_scan)
    g = g if wrap == "eager" else fgrad.jit(g)
    with nans(), pytest.raises(NonFiniteError) as e:
        g(np.array([1.0, 0.0, 4.0]))
    assert (e.value.primitive, e.value.phase, e.value.derivative_of) == (
        "div", "backward", ("sqrt",))
    assert_at(e.value, line_containing(where_sqrt_in_scan, "fnp.sqrt"))
    np.testing.assert_allclose(fgrad.grad(where_sqrt_in_scan)(np.array([1.0, 4.0])),
                               [0.5, 0.25])  # fgrad works after, checks off
