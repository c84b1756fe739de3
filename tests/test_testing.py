"""fgrad.testing.check_grads: it passes correct rules and catches wrong ones, at order 1
and at order 2, naming where."""

import jax.numpy as jnp
import numpy as np
import pytest

import fgrad.numpy as fnp
from fgrad import lax as fl
from fgrad.core import Primitive, aval_of
from fgrad.lax._ad import defjvp
from fgrad.testing import check_grads


def _sin_with_rules(cos_rule_sign: float, first_order_scale: float) -> Primitive:
    """sin whose derivative is `first_order_scale * cos`, with a cos whose own derivative is
    `cos_rule_sign * sin` (correct: scale 1, sign -1)."""
    my_cos = Primitive("my_cos", lambda a: a, jnp.cos)
    defjvp(my_cos, lambda t, ans, x: fl.mul(t, fl.mul(fl.sin(x), _full(cos_rule_sign, x))))
    my_sin = Primitive("my_sin", lambda a: a, jnp.sin)
    defjvp(my_sin, lambda t, ans, x: fl.mul(t, fl.mul(my_cos.bind1(x),
                                                      _full(first_order_scale, x))))
    return my_sin


def _full(value, like):
    aval = aval_of(like)
    return fnp.full(aval.shape, value, aval.dtype)


def test_passes_correct_rules_to_second_order(x64):
    my_sin = _sin_with_rules(-1.0, 1.0)
    x = np.array([0.3, -1.2, 2.0])
    check_grads(lambda v: my_sin.bind1(v), (x,), order=2)
    check_grads(lambda a, b: {"s": fnp.sum(my_sin.bind1(a) * b), "p": a * b},
                (x, np.array([1.0, 2.0, 3.0])), order=2)


@pytest.mark.parametrize("mode", ["fwd", "rev"])
def test_catches_a_wrong_first_derivative(x64, mode):
    my_sin = _sin_with_rules(-1.0, 2.0)
    with pytest.raises(AssertionError) as info:
        check_grads(lambda a, b: (my_sin.bind1(a), b), (np.array([0.3, -1.2]), 1.0),
                    order=1, modes=(mode,))
    message = str(info.value)
    assert "analytic" in message and "numeric" in message and "relative error" in message
    assert ("args[0]" in message) if mode == "rev" else ("output[0]" in message)
    assert "element (" in message


@pytest.mark.parametrize("mode", ["fwd", "rev"])
def test_catches_a_wrong_second_derivative_only_at_order_two(x64, mode):
    my_sin = _sin_with_rules(+1.0, 1.0)  # cos' = +sin: wrong
    x = (np.array([0.3, -1.2, 2.0]),)
    check_grads(lambda v: my_sin.bind1(v), x, order=1, modes=(mode,))
    with pytest.raises(AssertionError, match="the (JVP|VJP) of"):
        check_grads(lambda v: my_sin.bind1(v), x, order=2, modes=(mode,))


def test_float32_defaults_and_argument_checks():
    check_grads(lambda v: fnp.tanh(v) * 2.0, (np.array([0.1, 0.5], np.float32),), order=2)
    with pytest.raises(ValueError, match="modes"):
        check_grads(fnp.sin, (1.0,), modes=("sideways",))
    with pytest.raises(ValueError, match="order"):
        check_grads(fnp.sin, (1.0,), order=0)


def test_integer_arguments_are_skipped(x64):
    check_grads(lambda v, i: v[i] * 3.0, (np.array([1.0, 2.0]), 1), order=2)
