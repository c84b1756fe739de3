"""Special functions: the gamma family (lgamma, digamma, polygamma), the regularized
incomplete gamma functions and the derivative of the lower one in its shape, the regularized
incomplete beta function, and Hurwitz's zeta function.

Each is an elementwise primitive lowered to the jax.lax function of the same name (XLA's
own kernels, or JAX's series and continued fractions), with jax.lax's signature. Like every
fgrad.lax binary primitive, the two- and three-operand ones take operands of one shape and
one dtype (fgrad.scipy.special broadcasts and promotes before it binds them). The Bessel and
error functions are in `elementwise`.

Derivatives are those JAX defines, and only those: an operand JAX does not differentiate (the
order m of polygamma, the parameters a and b of betainc, the argument x of zeta) raises a
NotDifferentiableError when a nonzero tangent reaches it, and igamma_grad_a has no derivative
at all. One rule goes further than jax.lax: zeta is differentiated in q (where JAX's
lax.zeta has no rule), since d/dq zeta(x, q) = -x zeta(x + 1, q) is exact and cheap.
"""

from __future__ import annotations

from jax import lax

from fgrad.core import aval_of
from fgrad.core.errors import NotDifferentiableError, at_user_line
from fgrad.lax._ad import defjvp
from fgrad.lax._rules import elementwise
from fgrad.lax.elementwise import add, exp, log, log1p, mul, neg, sub
from fgrad.transforms.rules import jvp_rules, transpose_rules
# The sibling families' functions, reached through the package when called.
from fgrad import lax as fl


def _const(x, value):
    """`value` with x's shape and dtype, weakly typed only beside a weak scalar (JAX's
    `_const`, which its rules build their coefficients with)."""
    aval = aval_of(x)
    return fl.full(aval.shape, value, aval.dtype, weak_type=aval.weak_type and not aval.shape)


def _refuse(name: str, operand: str, reason: str):
    """A JVP term for an operand JAX does not differentiate: it raises when a nonzero tangent
    reaches that operand (a constant operand has a Zero tangent and never gets here)."""
    def term(t, ans, *primals):
        raise NotDifferentiableError(at_user_line(
            f"{name} cannot be differentiated with respect to its operand {operand}: {reason}. "
            f"JAX defines no such derivative either; pass {operand} as a constant (or wrap "
            f"it in fgrad.stop_gradient)."))
    return term


# -- the gamma family ------------------------------------------------------------------------

lgamma_p = elementwise("lgamma", lax.lgamma, "float")
# d/dx log|Gamma(x)| = digamma(x), on both sides of the poles.
defjvp(lgamma_p, lambda t, ans, x: mul(t, digamma(x)))
digamma_p = elementwise("digamma", lax.digamma, "float")
defjvp(digamma_p, lambda t, ans, x: mul(t, polygamma(_const(x, 1), x)))
# polygamma(m, x) is the m-th derivative of digamma; m is a whole number stored as a float.
polygamma_p = elementwise("polygamma", lax.polygamma, "float", 2)
defjvp(polygamma_p,
       _refuse("polygamma", "m", "m is the order of the derivative, a whole number"),
       lambda t, ans, m, x: mul(t, polygamma(add(m, _const(m, 1)), x)))

# -- incomplete gamma ------------------------------------------------------------------------
# P(a, x) = igamma and Q(a, x) = igammac = 1 - P. In x, dP/dx is the gamma density
# x^(a-1) e^-x / Gamma(a), computed in log space (exp((a-1) log x - x - lgamma(a))) so that
# it neither overflows nor underflows before it must. In a, dP/da has no closed form:
# igamma_grad_a computes it (a series in JAX), and has no derivative itself, as in JAX.


def _igamma_density(t, ans, a, x):
    log_density = sub(sub(mul(sub(a, _const(a, 1)), log(x)), x), lgamma(a))
    return mul(t, exp(log_density))


igamma_grad_a_p = elementwise("igamma_grad_a", lax.igamma_grad_a, "float", 2)
jvp_rules.absent(igamma_grad_a_p, "it is a series for dP(a, x)/da with no derivative of its "
                 "own (JAX defines none either), so igamma has no second derivative in a")
transpose_rules.absent(igamma_grad_a_p, "it is not linear in any operand")
igamma_p = elementwise("igamma", lax.igamma, "float", 2)
defjvp(igamma_p, lambda t, ans, a, x: mul(t, igamma_grad_a(a, x)), _igamma_density)
igammac_p = elementwise("igammac", lax.igammac, "float", 2)
defjvp(igammac_p, lambda t, ans, a, x: neg(mul(t, igamma_grad_a(a, x))),
       lambda t, ans, a, x: neg(_igamma_density(t, ans, a, x)))

# -- incomplete beta -------------------------------------------------------------------------


def _betainc_density(t, ans, a, b, x):
    # d/dx I_x(a, b) = x^(a-1) (1-x)^(b-1) / B(a, b), in log space; log1p(-x) keeps (1-x)^(b-1)
    # accurate for small x.
    log_beta = sub(add(lgamma(a), lgamma(b)), lgamma(add(a, b)))
    one = _const(x, 1)
    log_density = sub(add(mul(sub(b, one), log1p(neg(x))), mul(sub(a, one), log(x))), log_beta)
    return mul(t, exp(log_density))


_BETAINC_PARAMETER = "its derivative in a parameter has no closed form"
regularized_incomplete_beta_p = elementwise(
    "regularized_incomplete_beta", lax.betainc, "float", 3)
defjvp(regularized_incomplete_beta_p,
       _refuse("betainc", "a", _BETAINC_PARAMETER), _refuse("betainc", "b", _BETAINC_PARAMETER),
       _betainc_density)

# -- Hurwitz zeta ----------------------------------------------------------------------------
# zeta(x, q) = sum over k >= 0 of (k + q)^-x, so d/dq zeta(x, q) = -x zeta(x + 1, q).

zeta_p = elementwise("zeta", lax.zeta, "float", 2)
defjvp(zeta_p,
       _refuse("zeta", "x", "its derivative in the exponent has no closed form (use "
               "fgrad.scipy.special.zeta, which differentiates a series for it, as "
               "jax.scipy.special.zeta does)"),
       lambda t, ans, x, q: mul(t, neg(mul(x, zeta(add(x, _const(x, 1)), q)))))

# -- the functions users call (jax.lax signatures) -------------------------------------------


def lgamma(x):
    """log|Gamma(x)|, elementwise."""
    return lgamma_p.bind1(x)


def digamma(x):
    """The digamma function psi(x) = d/dx log Gamma(x), elementwise."""
    return digamma_p.bind1(x)


def polygamma(m, x):
    """The m-th derivative of digamma at x (m a whole number, of x's dtype)."""
    return polygamma_p.bind1(m, x)


def igamma(a, x):
    """The regularized lower incomplete gamma function P(a, x)."""
    return igamma_p.bind1(a, x)


def igammac(a, x):
    """The regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x)."""
    return igammac_p.bind1(a, x)


def igamma_grad_a(a, x):
    """dP(a, x)/da, the derivative of igamma in its first operand (not differentiable)."""
    return igamma_grad_a_p.bind1(a, x)


def betainc(a, b, x):
    """The regularized incomplete beta function I_x(a, b) (differentiable in x only)."""
    return regularized_incomplete_beta_p.bind1(a, b, x)


def zeta(x, q):
    """Hurwitz's zeta function, the sum over k >= 0 of (k + q)^-x (differentiable in q)."""
    return zeta_p.bind1(x, q)
