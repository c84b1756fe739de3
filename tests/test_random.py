"""fgrad.random against jax.random.

- The same key gives the same bits: every standard sampler, index draw and key operation
  equals jax.random's exactly (typed and legacy raw keys, float32 and float64); the
  distributions written as compositions equal JAX's to a few ulps.
- Under fgrad.jit and jax.jit; fgrad.vmap over keys (each example's draw equals a Python
  loop over jax.random, and jax.vmap of it), over parameters with one key, nested.
- Gradients of reparameterized samples equal jax.grad of the same jax.random program,
  gamma's implicit gradient included, also per example (vmap of grad).
- Moments of large samples; the errors users see.

One table of `(module, key, dtype) -> sample` lambdas serves both sides: each is called
with fgrad.random and with jax.random. Cases that need many operations run under one
jit per side, since every eager fgrad operation compiles on its own.
"""

import importlib.util
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
import fgrad.random as frandom
import oracle
from fgrad.core import MissingRuleError, typecheck
from fgrad.lax import random as lr

HERE = os.path.basename(__file__)

A = np.array([0.3, 1.0, 4.0])  # gamma-like shape parameters: below, at and above 1
P3 = np.array([0.1, 0.5, 0.9])
P4 = np.array([0.1, 0.2, 0.3, 0.4])
X = np.arange(24.0).reshape(4, 6)
LOGITS = np.array([[0.5, -1.0, 2.0, 0.0], [1.0, 1.0, -3.0, 0.5], [0.0, 2.0, 1.0, -1.0]])


def keys_of(x):
    """Keys as their data (key arrays have no values NumPy can compare)."""
    return jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x


def same(got, want, **tolerance):
    oracle.assert_same(keys_of(got), keys_of(want), **tolerance)


def few_ulps(dtype) -> dict:
    """The tolerance of the compositions: 8 ulps of a number of order 1, relative and
    absolute. Their intermediates (unit draws, erf of the bounds, parameters) are of order
    1, and a last-bit difference in one of them, after a cancellation, is an absolute
    difference of that size even in a small result."""
    eps = float(np.finfo(dtype).eps)
    return dict(rtol=8 * eps, atol=8 * eps)


# -- the same bits from the same key ---------------------------------------------------------

EXACT = {
    "bits": lambda m, k, d: m.bits(k, (3,)),
    "bits uint8": lambda m, k, d: m.bits(k, (3,), np.uint8),
    "uniform": lambda m, k, d: m.uniform(k, (2, 3), d),
    "normal": lambda m, k, d: m.normal(k, (2, 3), d),
    "normal complex": lambda m, k, d: m.normal(k, (3,), np.result_type(d, np.complex64)),
    "exponential": lambda m, k, d: m.exponential(k, (3,), d),
    "laplace": lambda m, k, d: m.laplace(k, (3,), d),
    "logistic": lambda m, k, d: m.logistic(k, (3,), d),
    "cauchy": lambda m, k, d: m.cauchy(k, (3,), d),
    "maxwell": lambda m, k, d: m.maxwell(k, (3,), d),
    "gumbel": lambda m, k, d: m.gumbel(k, (3,), d),
    "gumbel high": lambda m, k, d: m.gumbel(k, (3,), d, mode="high"),
    "rademacher": lambda m, k, d: m.rademacher(k, (4,)),
    "rademacher float": lambda m, k, d: m.rademacher(k, (4,), d),
    "generalized_normal": lambda m, k, d: m.generalized_normal(k, 1.5, (3,), d),
    "ball": lambda m, k, d: m.ball(k, 3, 1.5, (2,), d),
    "orthogonal": lambda m, k, d: m.orthogonal(k, 3, (2,), d, m=2),
    "bernoulli": lambda m, k, d: m.bernoulli(k, P3.astype(d), (2, 3)),
    "bernoulli default": lambda m, k, d: m.bernoulli(k),
    "bernoulli high": lambda m, k, d: m.bernoulli(k, 0.3, (4,), mode="high"),
    "randint": lambda m, k, d: m.randint(k, (2, 3), -2, np.array([1, 5, 9])),
    "randint int8": lambda m, k, d: m.randint(k, (5,), -3, 200, np.int8),
    "categorical": lambda m, k, d: m.categorical(k, LOGITS.astype(d)),
    "categorical axis 0": lambda m, k, d: m.categorical(k, LOGITS.astype(d), 0, (2, 4)),
    "categorical without replacement": lambda m, k, d: m.categorical(
        k, LOGITS.astype(d), shape=(2, 3), replace=False),
    "poisson": lambda m, k, d: m.poisson(k, np.array([0.5, 5.0, 50.0]), (2, 3)),
    "geometric": lambda m, k, d: m.geometric(k, P3.astype(d)),
    "binomial": lambda m, k, d: m.binomial(k, 12.0, P3.astype(d), dtype=d),
    "multinomial": lambda m, k, d: m.multinomial(k, 10.0, P4.astype(d), dtype=d),
    "permutation of n": lambda m, k, d: m.permutation(k, 7),
    "permutation": lambda m, k, d: m.permutation(k, X.astype(d), axis=1),
    "permutation independent": lambda m, k, d: m.permutation(k, X.astype(d), 1, True),
    "choice of n": lambda m, k, d: m.choice(k, 5, (3,), replace=False),
    "choice": lambda m, k, d: m.choice(k, X.astype(d), (2, 2), axis=1),
    "choice without replacement": lambda m, k, d: m.choice(k, X.astype(d), (3,), False),
    "choice with p": lambda m, k, d: m.choice(k, X.astype(d), (3,), p=P4.astype(d)),
    "choice with p without replacement": lambda m, k, d: m.choice(
        k, X.astype(d), (2,), False, P4.astype(d)),
    "gamma": lambda m, k, d: m.gamma(k, A.astype(d), (3,), d),
    "loggamma": lambda m, k, d: m.loggamma(k, A.astype(d), (3,), d),
    "split": lambda m, k, d: m.split(k, (2, 3)),
    "fold_in": lambda m, k, d: m.fold_in(k, 7),
    "key_data": lambda m, k, d: m.key_data(k),
    "wrap_key_data": lambda m, k, d: m.wrap_key_data(m.key_data(k)),
    "key": lambda m, k, d: m.key(42),
    "PRNGKey of a 64-bit seed": lambda m, k, d: m.PRNGKey(2 ** 40 + 3),
}


# The same program: JAX traces fgrad's function into exactly the jaxpr it traces from
# jax.random's (same equations, same params), so XLA computes the same bits. Tracing costs
# no compilation, so every case runs, typed and raw keys, float32 and float64. choice and
# permutation of an array gather with fgrad's own operations: their values are compared
# below instead.
GATHERS = {"permutation", "permutation independent", "choice", "choice without replacement",
           "choice with p", "choice with p without replacement"}


@pytest.mark.parametrize("name", sorted(set(EXACT) - GATHERS))
def test_same_program_as_jax(name, float_dtype):
    dtype = np.dtype(float_dtype)
    sample = EXACT[name]
    key = jax.random.key(1)
    for k in (key, jax.random.key_data(key)):
        got = jax.make_jaxpr(lambda k: sample(frandom, k, dtype))(k)
        want = jax.make_jaxpr(lambda k: sample(jax.random, k, dtype))(k)
        assert str(got) == str(want)


# The same values, computed: the core samplers in both dtypes, and the gathers (whose index
# draws are JAX's programs, compared above; the gather is the same in the cases left out).
# Both sides call the same jitted jax.random function with the same arguments, so one
# compilation serves both; still, the samplers built on while loops take seconds each to
# compile, which is why the comparison of programs covers the rest.
VALUES = ["bits", "uniform", "normal", "split", "key", "PRNGKey of a 64-bit seed"]
VALUE_CASES = ([(n, "float32") for n in VALUES] + [(n, "float64") for n in VALUES[:3]]
               + [(n, "float32") for n in ("permutation", "permutation independent", "choice",
                                           "choice with p")])


@pytest.mark.parametrize("name,dtype", VALUE_CASES)
def test_same_values_as_jax(request, name, dtype):
    dtype = oracle.use_dtype(request, dtype)  # float64 switches x64 on
    sample = EXACT[name]
    key = jax.random.key(1)
    # Typed keys, and legacy raw keys (uint32[2], wrapped on the way in).
    for k in (key, jax.random.key_data(key)):
        same(sample(frandom, k, dtype), sample(jax.random, k, dtype))


# The distributions written with fgrad operations over the primitives. They compute what
# JAX computes, but XLA compiles JAX's jitted implementation into fused loops, which may
# round a product-plus-sum or an exp/log/pow differently from fgrad's program: a few ulps.
CLOSE = {
    "uniform in [minval, maxval)": lambda m, k, d: m.uniform(k, (3,), d, -2.0, A + 1),
    "truncated_normal": lambda m, k, d: m.truncated_normal(k, -1.0, A.astype(d), (2, 3), d),
    "lognormal": lambda m, k, d: m.lognormal(k, A.astype(d), dtype=d),
    "pareto": lambda m, k, d: m.pareto(k, A.astype(d), dtype=d),
    "rayleigh": lambda m, k, d: m.rayleigh(k, A.astype(d), dtype=d),
    "wald": lambda m, k, d: m.wald(k, A.astype(d), dtype=d),
    "weibull_min": lambda m, k, d: m.weibull_min(k, 2.0, 1.5, (3,), d),
    "double_sided_maxwell": lambda m, k, d: m.double_sided_maxwell(k, 1.0, 2.0, (3,), d),
    "triangular": lambda m, k, d: m.triangular(k, 0.0, A.astype(d), 5.0, dtype=d),
    "multivariate_normal": lambda m, k, d: m.multivariate_normal(
        k, np.zeros(2, d), np.array([[2.0, 0.5], [0.5, 1.0]], d), (4,)),
}
# The gamma-based ones (beta, dirichlet, t, chisquare) are compared in float64 with their
# gradients in test_gradients_match_jax (their while loops compile slowly), and so are
# these, in float64.


def test_compositions_match_jax(quick_compile):
    dtype = np.dtype(np.float32)
    key = jax.random.key(3)

    def all_of(m):
        return lambda k: {n: s(m, k, dtype) for n, s in CLOSE.items()}

    # Each side in one jit: one compilation each.
    got = fgrad.jit(all_of(frandom))(key)
    want = jax.jit(all_of(jax.random))(key)
    for name in CLOSE:
        same(got[name], want[name], **few_ulps(dtype))


def test_a_composition_eagerly():
    key = jax.random.key(3)
    sample = CLOSE["truncated_normal"]  # op by op, each operation compiled alone
    same(sample(frandom, key, np.float32), sample(jax.random, key, np.float32),
         **few_ulps(np.float32))


def test_default_parameters_are_exact():
    key = jax.random.key(0)
    # minval=0, maxval=1 add nothing to the standard draw, so it is returned as it is.
    same(frandom.uniform(key, (3,), minval=0, maxval=1), jax.random.uniform(key, (3,)))
    program = fgrad.make_ir(lambda k: frandom.uniform(k, (3,), minval=0.0, maxval=1.0))(key)
    assert [e.primitive.name for e in program.eqns] == ["random_uniform"]


# -- under jit and vmap ----------------------------------------------------------------------

UNDER_TRANSFORMS = ["normal", "permutation", "choice with p", "split"]


def test_under_jit():
    key = jax.random.key(2)
    samples = {n: EXACT[n] for n in UNDER_TRANSFORMS}

    def all_of(m, k):
        return {n: s(m, k, np.float32) for n, s in samples.items()}

    want = all_of(jax.random, key)
    for got in (fgrad.jit(lambda k: all_of(frandom, k))(key),
                jax.jit(lambda k: all_of(frandom, k))(key)):
        for n in samples:
            same(got[n], want[n])
    program = fgrad.make_ir(lambda k: all_of(frandom, k))(key)
    typecheck(program)
    assert "random_normal[shape=(2, 3) dtype=float32]" in str(program)


def test_a_key_made_inside_jit_from_a_python_seed():
    # The seed is an operand of the program (not a literal that simplification would fold
    # into a key, which no literal can hold).
    f = fgrad.jit(lambda x: frandom.normal(frandom.key(7), (2,)) + x)
    same(f(1.0), jax.random.normal(jax.random.key(7), (2,)) + 1.0)
    raw = fgrad.jit(lambda: frandom.uniform(frandom.PRNGKey(7)))()
    same(raw, jax.random.uniform(jax.random.PRNGKey(7)))


def test_a_key_made_inside_jit_from_a_folded_seed():
    # Constant folding leaves key-valued equations alone: no literal can hold a key.
    f = fgrad.jit(lambda x: frandom.normal(frandom.key(fnp.int32(3) + 1)) + x)
    same(f(1.0), jax.random.normal(jax.random.key(4)) + 1.0)


@pytest.mark.parametrize("name", ["normal", "gamma", "split", "permutation", "choice with p",
                                  "truncated_normal"])
def test_vmap_over_keys_is_a_loop(name):
    sample = EXACT.get(name) or CLOSE[name]
    keys = jax.random.split(jax.random.key(4), 3)
    got = fgrad.vmap(lambda k: sample(frandom, k, np.float32))(keys)
    want = jnp.stack([keys_of(sample(jax.random, k, np.float32)) for k in keys])
    same(got, want, **({} if name in EXACT else few_ulps(np.float32)))
    if name == "normal":  # and jax.vmap agrees
        same(jax.vmap(lambda k: sample(jax.random, k, np.float32))(keys), want)


def test_vmap_over_raw_keys_and_keys_on_another_axis():
    raw = jax.random.split(jax.random.PRNGKey(5), 3)  # uint32[3, 2]
    want = jnp.stack([jax.random.normal(k, (2,)) for k in raw])
    same(fgrad.vmap(lambda k: frandom.normal(k, (2,)), in_axes=1)(raw.T), want)
    keys = jax.random.split(jax.random.key(5), (2, 3))  # mapped over the second axis

    def two_draws(m):
        return lambda k: m.uniform(k[0]) + m.normal(k[1])

    same(fgrad.vmap(two_draws(frandom), in_axes=1)(keys),
         jax.vmap(two_draws(jax.random), in_axes=1)(keys))


def test_vmap_over_seeds_and_fold_in_data():
    seeds = np.arange(3)
    same(fgrad.vmap(frandom.key)(seeds), jnp.stack([jax.random.key(s) for s in seeds]))
    key = jax.random.key(0)
    same(fgrad.vmap(lambda i: frandom.normal(frandom.fold_in(key, i), (2,)))(seeds),
         jnp.stack([jax.random.normal(jax.random.fold_in(key, i), (2,)) for i in seeds]))


def test_vmap_over_parameters_with_one_key():
    key = jax.random.key(6)
    ps = np.array([0.1, 0.5, 0.9], np.float32)
    cases = [(lambda m, p: m.bernoulli(key, p, (4,)), ps),
             (lambda m, lo: m.uniform(key, (2,), minval=lo, maxval=2.0), ps)]
    for sample, params in cases:
        want = jnp.stack([sample(jax.random, p) for p in params])
        same(fgrad.vmap(lambda p: sample(frandom, p))(params), want)
    sample, params = cases[0]  # and jax.vmap agrees
    same(jax.vmap(lambda p: sample(jax.random, p))(params),
         jnp.stack([sample(jax.random, p) for p in params]))


def test_nested_vmap_and_a_batch_of_parameters_and_keys():
    keys = jax.random.split(jax.random.key(7), (2, 3))
    sample = fgrad.vmap(fgrad.vmap(lambda k: frandom.normal(k, (2,))))
    same(sample(keys), jax.vmap(jax.vmap(lambda k: jax.random.normal(k, (2,))))(keys))
    # Keys batched one way, parameters another: vmap over keys of vmap over probabilities.
    ps = np.array([0.2, 0.7], np.float32)
    got = fgrad.vmap(lambda k: fgrad.vmap(lambda p: frandom.bernoulli(k, p, (5,)))(ps))(keys[0])
    want = jnp.stack([jnp.stack([jax.random.bernoulli(k, p, (5,)) for p in ps])
                      for k in keys[0]])
    same(got, want)
    program = fgrad.make_ir(fgrad.vmap(fgrad.vmap(lambda k: frandom.normal(k, (2,)))))(keys)
    typecheck(program)
    assert [e.primitive.name for e in program.eqns] == ["random_normal"]


# -- gradients -------------------------------------------------------------------------------


def reparameterized(m, value_and_grad, np_):
    """Values and gradients through each differentiable sampler, written once for both
    libraries: gamma's implicit gradient, the compositions over gamma (in log space for
    beta, dirichlet and chisquare), and those over the standard samplers."""
    key = jax.random.key(8)
    k1, k2 = jax.random.split(key)

    def vg(sample, *params):
        loss = lambda *p: np_.sum(sample(*p) ** 2)  # noqa: E731
        return value_and_grad(loss, tuple(range(len(params))))(*params)

    return lambda loc, scale, a, b, lo, hi, mean, cov: {
        "normal": vg(lambda l, s: l + s * m.normal(key, (3,), loc.dtype), loc, scale),
        "gamma": vg(lambda a: m.gamma(key, a), a),
        "beta": vg(lambda a, b: m.beta(k1, a, b), a, b),
        # A tiny concentration: exp of its log-gamma draw underflows to 0, which the
        # gradient replaces with the smallest normal number, as JAX does.
        "dirichlet": vg(lambda a: m.dirichlet(k2, a * np.array([1e-3, 1, 1])), a),
        "t": vg(lambda a: m.t(k2, a), a),
        "chisquare": vg(lambda a: m.chisquare(key, a), a),
        "uniform": vg(lambda lo, hi: m.uniform(key, (3,), lo.dtype, lo, hi), lo, hi),
        "truncated_normal": vg(lambda lo, hi: m.truncated_normal(key, lo, hi), lo, hi),
        "multivariate_normal": vg(lambda mu, c: m.multivariate_normal(key, mu, c, (5,)),
                                  mean, cov),
        "lognormal": vg(lambda s: m.lognormal(key, s), scale),
        "pareto": vg(lambda b: m.pareto(key, b), b),
        "rayleigh": vg(lambda s: m.rayleigh(key, s), scale),
        "wald": vg(lambda w: m.wald(key, w), b),
        "weibull_min": vg(lambda s, c: m.weibull_min(key, s, c, (3,)), scale, b),
        "double_sided_maxwell": vg(lambda l, s: m.double_sided_maxwell(key, l, s), loc, b),
        "triangular": vg(lambda l, c, r: m.triangular(key, l, c, r), lo, hi, hi + 1),
    }


def test_gradients_match_jax(x64, quick_compile):
    params = (np.float64(0.5), np.full(3, 2.0), A, A[::-1] + 0.5, np.array([-1.0, 0.0, 0.5]),
              np.array([0.5, 1.0, 3.0]), np.array([1.0, -1.0]),
              np.array([[2.0, 0.5], [0.5, 1.0]]))
    # Each side in one jit: programs of their own (see quick_compile).
    got = fgrad.jit(reparameterized(frandom, fgrad.value_and_grad, fnp))(*params)
    want = jax.jit(reparameterized(jax.random, jax.value_and_grad, jnp))(*params)
    for name in want:
        try:  # float64 rounding, through a few operations and gamma's gradient
            oracle.assert_trees_same(got[name], want[name], rtol=1e-10, atol=1e-12)
        except AssertionError as e:
            raise AssertionError(f"{name}: {e}") from None


def test_gathers_are_differentiable():
    # choice and permutation gather from their array with fgrad's indexing.
    key = jax.random.key(9)
    x = X.astype(np.float32)
    same(fgrad.grad(lambda x: fnp.sum(frandom.permutation(key, x, 1)[:, :2] ** 2))(x),
         jax.grad(lambda x: jnp.sum(jax.random.permutation(key, x, 1)[:, :2] ** 2))(x))
    same(fgrad.grad(lambda x: fnp.sum(frandom.choice(key, x, (5,)) ** 2))(x),
         jax.grad(lambda x: jnp.sum(jax.random.choice(key, x, (5,)) ** 2))(x))


def test_per_example_gradients_with_per_example_noise(x64, quick_compile):
    keys = jax.random.split(jax.random.key(10), 4)
    scales = np.array([0.5, 1.0, 2.0, 5.0])

    def loss(m, np_):
        return lambda s, k: np_.sum(m.uniform(k, (3,), minval=-s, maxval=s)
                                    * m.normal(k, (3,)) * s)

    got = fgrad.jit(fgrad.vmap(fgrad.grad(loss(frandom, fnp))))(scales, keys)
    want = jax.jit(jax.vmap(jax.grad(loss(jax.random, jnp))))(scales, keys)
    oracle.assert_same(got, want, rtol=1e-12)


def test_second_derivatives_of_gamma_are_refused():
    key = jax.random.key(0)

    def gamma_sum(m, np_):
        return lambda a: np_.sum(m.gamma(key, a))

    # Traced abstractly: the error comes from the rules, before anything runs.
    with pytest.raises(MissingRuleError, match="'random_gamma_grad' has no jvp rule"):
        fgrad.make_ir(fgrad.grad(fgrad.grad(gamma_sum(frandom, fnp))))(2.0)
    # Nor can JAX, in reverse mode: its second reverse pass meets the sampler's while loop.
    with pytest.raises(ValueError, match="while_loop"):
        jax.make_jaxpr(jax.grad(jax.grad(gamma_sum(jax.random, jnp))))(2.0)


# -- distributions ---------------------------------------------------------------------------


def test_moments_of_large_samples(quick_compile):
    key = jax.random.key(11)
    n = 100_000
    # (sample, mean, variance) of each distribution, from its formulas; the compositions
    # (fgrad's own code) among them.
    cases = {
        "normal": (frandom.normal(key, (n,)), 0.0, 1.0),
        "uniform(2, 5)": (frandom.uniform(key, (n,), minval=2.0, maxval=5.0), 3.5, 0.75),
        "gumbel": (frandom.gumbel(key, (n,)), np.euler_gamma, np.pi ** 2 / 6),
        "bernoulli(0.3)": (frandom.bernoulli(key, 0.3, (n,)), 0.3, 0.21),
        "truncated_normal(0, inf)": (frandom.truncated_normal(key, 0.0, np.inf, (n,)),
                                     np.sqrt(2 / np.pi), 1 - 2 / np.pi),
        "lognormal(0.5)": (frandom.lognormal(key, 0.5, (n,)), np.exp(0.125),
                           (np.exp(0.25) - 1) * np.exp(0.25)),
        "rayleigh(2)": (frandom.rayleigh(key, 2.0, (n,)), 2 * np.sqrt(np.pi / 2),
                        (4 - np.pi) / 2 * 4),
    }
    for name, (x, mean, var) in cases.items():
        x = np.asarray(x, np.float64)
        # Within 5 standard errors (the variance's from the fourth moment).
        assert abs(x.mean() - mean) < 5 * np.sqrt(var / n), (name, x.mean(), mean)
        fourth = np.mean((x - x.mean()) ** 4)
        assert abs(x.var() - var) < 5 * np.sqrt((fourth - var ** 2) / n), (name, x.var(), var)


def test_categorical_frequencies(quick_compile):
    logits = np.log(np.array([0.2, 0.5, 0.3]))
    draws = np.asarray(frandom.categorical(jax.random.key(12), logits, shape=(100_000,)))
    np.testing.assert_allclose(np.bincount(draws) / draws.size, [0.2, 0.5, 0.3], atol=0.01)


# -- errors ----------------------------------------------------------------------------------


def raises(error, call, *fragments):
    """call() raises `error`, naming every fragment and the line of `call` in this file."""
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert f"{HERE}:{call.__code__.co_firstlineno}" in message, message
    return message


def test_errors_name_the_problem_and_the_users_line():
    key = jax.random.key(0)
    raises(TypeError, lambda: frandom.normal(np.float32(0), (2,)), "normal", "not a PRNG key",
           "f32[]", "fgrad.random.key(")
    raises(TypeError, lambda: frandom.normal([1, 2]), "not a PRNG key")
    raises(ValueError, lambda: frandom.normal(jax.random.split(key, 3)), "single key",
           "shape (3,)", "fgrad.vmap")
    raises(ValueError, lambda: frandom.normal(np.zeros(3, np.uint32)), "legacy uint32 key",
           "(..., 2)", "shape (3,)")
    raises(ValueError, lambda: frandom.bernoulli(key, np.full(3, 0.5), (2,)), "p has shape (3,)",
           "does not broadcast to shape=(2,)")
    raises(ValueError, lambda: frandom.gamma(key, np.ones(3), (3, 2)), "a has shape (3,)")
    raises(ValueError, lambda: frandom.uniform(key, (2,), minval=np.zeros(3)),
           "minval has shape (3,)")
    raises(TypeError, lambda: frandom.normal(key, 3), "shape must be a sequence of ints")
    raises(ValueError, lambda: frandom.uniform(key, (), np.int32), "floating-point dtype",
           "int32")
    raises(TypeError, lambda: frandom.bernoulli(key, 1), "floating dtype", "int32")
    raises(ValueError, lambda: frandom.choice(key, 3, (4,), replace=False),
           "larger sample (size 4)", "(size 3)")
    raises(ValueError, lambda: frandom.multivariate_normal(key, np.zeros(2), np.eye(2),
                                                           method="qr"),
           "method must be one of 'svd', 'eigh' and 'cholesky'", "not 'qr'")
    raises(TypeError, lambda: frandom.key(np.arange(2)), "scalar seed", "fgrad.vmap")
    raises(ValueError, lambda: frandom.split(jax.random.split(key)), "single key")


def test_the_primitives_check_their_operands():
    key = jax.random.key(0)
    oracle.check_error(lambda: lr.random_normal(np.float32(1), (2,), np.float32),
                       "random_normal", "must be a PRNG key array", "f32[]")
    oracle.check_error(lambda: lr.random_bernoulli(jax.random.split(key, 2), np.ones(3) / 2,
                                                   (3,)), "start with the keys' shape (2,)")
    oracle.check_error(lambda: lr.random_gamma(key, np.ones(2, np.int32)), "random_gamma",
                       "a must be floating-point")
    oracle.check_error(lambda: lr.random_bits(key, 12, (2,)), "bit_width must be 8, 16")


# -- the example ------------------------------------------------------------------------------


def test_vae_example_trains_like_jax(quick_compile):
    path = os.path.join(os.path.dirname(__file__), "..", "examples", "vae.py")
    spec = importlib.util.spec_from_file_location("vae_example", path)
    vae = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(vae)
    fgrad_elbo, jax_elbo = vae.main(steps=20, verbose=False)
    assert len(fgrad_elbo) == len(jax_elbo) == 20
    np.testing.assert_allclose(fgrad_elbo, jax_elbo, rtol=vae.RTOL)
    assert fgrad_elbo[-1] > fgrad_elbo[0]  # it learns


# -- multivariate_normal's three factorizations of cov ------------------------------------------

MVN_METHODS = ("cholesky", "eigh", "svd")


def mvn_params(dtype):
    """Means of batch shape (4, 1) and two positive-definite covariances (batch (2,)) with
    distinct eigenvalues: the samples have shape (4, 2, 3)."""
    rng = np.random.default_rng(0)
    b = rng.normal(size=(2, 3, 3))
    cov = b @ b.swapaxes(-1, -2) + 0.5 * np.eye(3)
    return rng.normal(size=(4, 1, 3)).astype(dtype), cov.astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_multivariate_normal_methods_match_jax(request, dtype, quick_compile):
    """Each method factors cov as JAX does (cholesky; v sqrt(w) from eigh; u sqrt(s) from
    svd), so the samples of the same key agree to rounding: under one jit per side, and
    eagerly for one method."""
    dtype = oracle.use_dtype(request, dtype)
    key = jax.random.key(5)
    mean, cov = mvn_params(dtype)

    def all_of(m):
        return lambda k, mu, c: {
            **{method: m.multivariate_normal(k, mu, c, method=method)
               for method in MVN_METHODS},
            "eigh with shape": m.multivariate_normal(k, mu[0, 0], c, (5, 2), method="eigh"),
        }

    got = fgrad.jit(all_of(frandom))(key, mean, cov)
    want = jax.jit(all_of(jax.random))(key, mean, cov)
    tolerance = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12,
                                                                            atol=1e-12)
    assert set(got) == set(want)
    for name in want:
        assert want[name].shape == ((5, 2, 3) if name == "eigh with shape" else (4, 2, 3))
        try:
            same(got[name], want[name], **tolerance)
        except AssertionError as e:
            raise AssertionError(f"{name}: {e}") from None
    # All three are samples of the same distribution, with different factors of cov.
    assert not np.allclose(want["eigh"], want["cholesky"])
    same(frandom.multivariate_normal(key, mean, cov, method="svd"),
         jax.random.multivariate_normal(key, mean, cov, method="svd"), **tolerance)


def test_multivariate_normal_gradients_match_jax(x64, quick_compile):
    """Gradients with respect to mean and cov through eigh's and svd's derivatives (cov's
    eigenvalues are distinct), against jax.grad of the same jax.random program."""
    key = jax.random.key(6)
    mean, cov = mvn_params(np.float64)
    weights = np.linspace(-1.0, 2.0, 24).reshape(4, 2, 3)

    def grads(m, grad, np_):
        def loss(mu, c, method):
            sample = m.multivariate_normal(key, mu, c, method=method)
            return np_.sum(weights * sample + sample ** 2)
        return lambda mu, c: {method: grad(loss, (0, 1))(mu, c, method)
                              for method in ("eigh", "svd")}

    got = fgrad.jit(grads(frandom, fgrad.grad, fnp))(mean, cov)
    want = jax.jit(grads(jax.random, jax.grad, jnp))(mean, cov)
    for method in want:
        assert np.all(np.isfinite(want[method][1])) and np.any(want[method][1] != 0)
        oracle.assert_trees_same(got[method], want[method], rtol=1e-10, atol=1e-12)
