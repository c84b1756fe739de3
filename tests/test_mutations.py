"""Mutation evidence for fgrad.testing.check_grads: for each kind of mistake a derivative rule
can have, a deliberately wrong rule is rejected, with a message naming the order and mode
that caught it, and the same rule written correctly (the control) passes.

The mistakes: a sign flip, a missing factor 2, a wrong second derivative under a right first
one, a batching rule wrong only under vmap, a rule wrong only in float32, and a transpose
that disagrees with its JVP. They use fgrad's public extension points: custom_jvp and
custom_vjp, and new primitives declared the way tests/test_new_primitive.py shows (shape
rule, lowering, JVP, transpose, batching). Primitives stay registered for the whole session,
so each is defined once, at import, under a name no other primitive has.
"""

from __future__ import annotations

import re

import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import lax
from fgrad.core import Primitive, Zero, aval_of
from fgrad.lax._ad import add_tangents, deflinear
from fgrad.lax._batching import defbatch_elementwise, to_front
from fgrad.testing import check_grads
from fgrad.transforms.rules import batch_rules, jvp_rules, transpose_rules

X = np.array([0.4, -1.1, 2.3])


# -- 1. a sign flip of a first derivative ----------------------------------------------------


def sin_with_derivative_sign(sign):
    @fgrad.custom_jvp
    def f(x):
        return fnp.sin(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return f(x), sign * fnp.cos(x) * t
    return f


def test_sign_flip(x64):
    check_grads(sin_with_derivative_sign(1.0), (X,), order=2)
    with pytest.raises(AssertionError, match=r"order 1, forward mode \(JVP\) disagrees"):
        check_grads(sin_with_derivative_sign(-1.0), (X,))
    with pytest.raises(AssertionError, match=r"order 1, reverse mode \(VJP\) disagrees"):
        check_grads(sin_with_derivative_sign(-1.0), (X,), modes=("rev",))


# -- 2. a missing factor 2 -------------------------------------------------------------------


def square_with_bwd_factor(factor):
    """x², with the backward pass factor·x·g (right: 2)."""
    @fgrad.custom_vjp
    def f(x):
        return x * x

    f.defvjp(lambda x: (x * x, x), lambda x, g: (factor * x * g,))
    return f


def test_missing_factor_two(x64):
    check_grads(square_with_bwd_factor(2.0), (X,), order=2)
    with pytest.raises(AssertionError, match=r"order 1, reverse mode \(VJP\) disagrees") as info:
        check_grads(square_with_bwd_factor(1.0), (X,), modes=("rev",))
    # pinned to an element, whose VJP entry x·u is half what finite differences give
    entry = re.search(r"element \((\d),\): the VJP gives (\S+), finite differences (\S+)\n",
                      str(info.value))
    assert entry, str(info.value)
    np.testing.assert_allclose(2 * float(entry[2]), float(entry[3]), rtol=1e-5)  # 6 digits
    # fgrad's forward mode through a custom_vjp transposes bwd, so it inherits the mistake
    with pytest.raises(AssertionError, match=r"order 1, forward mode \(JVP\) disagrees"):
        check_grads(square_with_bwd_factor(1.0), (X,), modes=("fwd",))


# -- 3. a right first derivative with a wrong second derivative ------------------------------


def sin_with_cos_derivative_sign(sign):
    """sin, whose derivative is a cos whose own derivative is sign·sin (right: -1)."""
    @fgrad.custom_jvp
    def cos(x):
        return fnp.cos(x)

    @cos.defjvp
    def cos_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return cos(x), sign * fnp.sin(x) * t

    @fgrad.custom_jvp
    def sin(x):
        return fnp.sin(x)

    @sin.defjvp
    def sin_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return sin(x), cos(x) * t
    return sin


def test_wrong_second_derivative_only(x64):
    check_grads(sin_with_cos_derivative_sign(-1.0), (X,), order=2)
    wrong = sin_with_cos_derivative_sign(+1.0)
    check_grads(wrong, (X,), order=1)  # the first derivative is right
    with pytest.raises(AssertionError, match=r"order 2, forward-over-reverse Hessian-vector "
                                             r"product \(the JVP of the VJP\) disagrees"):
        check_grads(wrong, (X,), order=2)
    with pytest.raises(AssertionError, match=r"order 2, reverse-over-reverse Hessian-vector "
                                             r"product \(the VJP of the VJP\) disagrees"):
        check_grads(wrong, (X,), order=2, modes=("rev",))


# -- 4. a batching rule wrong only under vmap ------------------------------------------------
# square(x) = x², whose tangent 2·x·t is a primitive of its own, linear in t. Its batching
# rule comes in three versions: right, one that drops the factor 2, and one that hands the
# examples back in reverse order (right for a batch of one).


def _twice_times_batch(mistake):
    def rule(axis_size, values, dims):
        t, x = (to_front(v, d, axis_size) for v, d in zip(values, dims))
        out = lax.mul(t, x) if mistake == "formula" else _twice_times(t, x)
        if mistake == "order":
            out = lax.rev(out, (0,))
        return out, 0
    return rule


def _define_square(mistake):
    square_p = Primitive(f"test_mutations_square_{mistake}", lambda a: a,
                         lambda x: jnp.square(x))
    times_p = Primitive(f"test_mutations_twice_times_{mistake}", lambda t, x: t,
                        lambda t, x: 2 * x * t)
    def times_jvp(primals, tangents):
        # 2·x·t is symmetric in t and x, so each term keeps its tangent as operand 0, the one
        # the transpose rule is for.
        (t, x), (dt, dx) = primals, tangents
        out = Zero(aval_of(t))
        if not isinstance(dt, Zero):
            out = add_tangents(out, times_p.bind1(dt, x))
        if not isinstance(dx, Zero):
            out = add_tangents(out, times_p.bind1(dx, t))
        return times_p.bind1(t, x), out
    jvp_rules.define(times_p, times_jvp)
    transpose_rules.define(times_p, lambda ct, t, x: [times_p.bind1(ct, x), None])
    batch_rules.define(times_p, _twice_times_batch(mistake))

    def square_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return square_p.bind1(x), times_p.bind1(t, x)
    jvp_rules.define(square_p, square_jvp)
    transpose_rules.absent(square_p, "it is not linear")
    defbatch_elementwise(square_p)
    return lambda x: square_p.bind1(x), times_p


_SQUARES = {m: _define_square(m) for m in ("none", "formula", "order")}
_twice_times_p = _SQUARES["none"][1]


def _twice_times(t, x):
    return _twice_times_p.bind1(t, x)


@pytest.mark.parametrize("mistake", ["formula", "order"])
def test_wrong_batching_rule(x64, mistake):
    square = _SQUARES[mistake][0]
    f = lambda x: fnp.sin(square(x))
    check_grads(_SQUARES["none"][0], (X,), order=2, batched=True)
    check_grads(f, (X,), order=2)  # unbatched, every derivative is right
    with pytest.raises(AssertionError, match=r"order 1, forward mode \(JVP\) under fgrad.vmap "
                                             r"\(arguments and tangents batched\) disagrees"):
        check_grads(f, (X,), batched=True)
    with pytest.raises(AssertionError, match=r"order 1, reverse mode \(VJP\) under fgrad.vmap "
                                             r"\(arguments and cotangents batched\) disagrees"):
        check_grads(f, (X,), modes=("rev",), batched=True)


# -- 5. a rule wrong only in float32 ---------------------------------------------------------
# softplus(x) = log(1 + eˣ), whose derivative is the logistic function. The mutant's float32
# path takes a "fast" piecewise-linear logistic, clip(1/2 + x/4, 0, 1): off by 0.5% at
# x = 0.5 (inside float32's tolerance of 2%) but by 8% at x = 2.5.


def _define_softplus(float32_shortcut):
    softplus_p = Primitive(f"test_mutations_softplus_{float32_shortcut}", lambda a: a,
                           lambda x: jnp.logaddexp(x, jnp.zeros_like(x)))

    def softplus_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        if float32_shortcut and aval_of(x).dtype == np.float32:
            slope = lax.clamp(lax.full_like(x, 0.0),
                              lax.add(lax.full_like(x, 0.5), lax.mul(x, lax.full_like(x, 0.25))),
                              lax.full_like(x, 1.0))
        else:
            slope = lax.logistic(x)
        return softplus_p.bind1(x), lax.mul(t, slope)
    jvp_rules.define(softplus_p, softplus_jvp)
    transpose_rules.absent(softplus_p, "it is not linear")
    defbatch_elementwise(softplus_p)
    return lambda x: softplus_p.bind1(x)


SOFTPLUS, SOFTPLUS_FLOAT32_SHORTCUT = _define_softplus(False), _define_softplus(True)
POINTS = np.array([-1.0, 0.5, 2.5])


def test_wrong_only_in_float32():
    check_grads(SOFTPLUS, (POINTS.astype(np.float32),), order=2)
    check_grads(SOFTPLUS_FLOAT32_SHORTCUT, (POINTS[:2].astype(np.float32),))  # within 2%
    with pytest.raises(AssertionError, match=r"order 1, forward mode \(JVP\) disagrees(.|\n)*"
                                             r"atol=0.02, rtol=0.02"):
        check_grads(SOFTPLUS_FLOAT32_SHORTCUT, (POINTS.astype(np.float32),))


def test_wrong_only_in_float32_passes_in_float64(x64):
    check_grads(SOFTPLUS_FLOAT32_SHORTCUT, (POINTS,), order=2, batched=True)


# -- 6. a transpose that disagrees with its JVP ----------------------------------------------
# cumsum is linear; its transpose is the reversed cumulative sum (a cotangent flows back to
# every earlier element). The mutant's transpose is cumsum again: forward mode, which never
# transposes, stays right.


def _define_cumsum(transpose_is_cumsum):
    cumsum_p = Primitive(f"test_mutations_cumsum_{transpose_is_cumsum}", lambda a: a,
                         lambda x: jnp.cumsum(x, axis=0))
    cumsum = lambda x: cumsum_p.bind1(x)
    if transpose_is_cumsum:
        deflinear(cumsum_p, [0], lambda ct, x: [cumsum(ct)])
    else:
        deflinear(cumsum_p, [0], lambda ct, x: [lax.rev(cumsum(lax.rev(ct, (0,))), (0,))])
    batch_rules.absent(cumsum_p, "these tests never batch it")
    return cumsum


CUMSUM, CUMSUM_WRONG_TRANSPOSE = _define_cumsum(False), _define_cumsum(True)


def test_wrong_transpose(x64):
    f = lambda c: lambda x: fnp.sin(c(x)) * x
    check_grads(f(CUMSUM), (X,), order=2)
    check_grads(f(CUMSUM_WRONG_TRANSPOSE), (X,), order=2, modes=("fwd",))
    with pytest.raises(AssertionError, match=r"order 1, reverse mode \(VJP\) disagrees"):
        check_grads(f(CUMSUM_WRONG_TRANSPOSE), (X,))
    with pytest.raises(AssertionError, match=r"order 1, reverse mode \(VJP\) disagrees"):
        check_grads(f(CUMSUM_WRONG_TRANSPOSE), (X,), jacobian=True)
