"""Tests of the simplification passes: each pass on its own, then `simplify` on the programs
of gradients and Jacobians, always checking types, sources and values against the original
program."""

import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.lax as flax
import fgrad.numpy as fnp
from fgrad.core import Aval, Eqn, Literal, Program, Var, aval_of, eval_program, typecheck
from fgrad.lax.elementwise import mul_p
from fgrad.lax.shapes import broadcast_in_dim_p, transpose_p
from fgrad.transforms.simplify import (
    cse, dce, fold_constants, forward_trivial, simplify, simplify_algebra,
)

# -- helpers ---------------------------------------------------------------------------------


def names(program: Program) -> list[str]:
    return [e.primitive.name for e in program.eqns]


def random_args(program: Program, seed: int = 0) -> list:
    """Random values of the program's input types; weak scalars as Python floats, as users
    pass them."""
    rng = np.random.default_rng(seed)
    args = []
    for v in program.inputs:
        value = rng.normal(size=v.aval.shape).astype(v.aval.dtype)
        args.append(float(value) if v.aval.weak_type else value)
    return args


def check(original: Program, simplified: Program, args=None) -> None:
    """`simplified` typechecks, keeps the inputs, output types and sources, and computes
    exactly what `original` computes, with the same dtypes and weak types."""
    typecheck(simplified)
    assert all(a is b for a, b in zip(simplified.inputs, original.inputs, strict=True))
    assert simplified.out_avals == original.out_avals
    source_of = {e.outputs: e.source for e in original.eqns}
    assert all(e.source is source_of[e.outputs] for e in simplified.eqns)
    args = random_args(original) if args is None else args
    expected = eval_program(original, *args)
    got = eval_program(simplified, *args)
    for want, have, atom in zip(expected, got, simplified.outputs, strict=True):
        # A literal output evaluates to its raw value; its aval is its type.
        have_aval = atom.aval if isinstance(atom, Literal) else aval_of(have)
        assert have_aval == aval_of(want)
        np.testing.assert_array_equal(np.asarray(have), np.asarray(want))


def simplified_by(simplify_pass, fun, *example_args) -> tuple[Program, Program]:
    original = fgrad.make_ir(fun)(*example_args)
    simplified = simplify_pass(original)
    check(original, simplified)
    return original, simplified


F32 = np.ones(3, np.float32)
M32 = np.ones((3, 3), np.float32)
S32 = np.float32(1.0)

# -- dce -------------------------------------------------------------------------------------


def test_dce_drops_dead_equations_and_unread_consts():
    table = jnp.arange(3.0)
    original, simplified = simplified_by(
        dce, lambda x: (fnp.sin(x) * table, fnp.cos(x))[1], F32)
    assert names(original) == ["sin", "mul", "cos"] and len(original.constvars) == 1
    assert names(simplified) == ["cos"] and simplified.constvars == ()


def test_dce_keeps_consts_that_are_read_and_returns_the_same_program_when_all_is_live():
    table = jnp.arange(3.0)
    program = fgrad.make_ir(lambda x: fnp.sin(x) * table)(F32)
    assert dce(program) is program


# -- cse -------------------------------------------------------------------------------------


def test_cse_merges_repeated_chains_in_one_pass():
    original, simplified = simplified_by(
        lambda p: dce(cse(p)), lambda x: fnp.sin(x) * 2.0 + fnp.sin(x) * 2.0, F32)
    # the broadcast 2.0 is recorded once by the trace (core/trace.py); the chains repeat
    assert names(original) == ["sin", "broadcast_in_dim", "mul", "sin", "mul", "add"]
    assert names(simplified) == ["sin", "broadcast_in_dim", "mul", "add"]
    add = simplified.eqns[-1]
    assert add.inputs[0] is add.inputs[1]


def test_cse_keeps_equations_whose_params_differ():
    program = fgrad.make_ir(
        lambda x: fnp.sum(x, 0) + fnp.sum(x, 1) + fnp.sum(x ** 2, 0) + fnp.sum(x ** 3, 0))(M32)
    assert cse(program) is program


def test_cse_compares_literals_by_value_and_type():
    x = S32
    same = fgrad.make_ir(lambda x: flax.add(flax.mul(x, 2.0), flax.mul(x, 2.0)))(x)
    assert names(dce(cse(same))) == ["mul", "add"]
    for a, b in [(2.0, 3.0), (0.0, -0.0), (2.0, np.float32(2.0))]:
        program = fgrad.make_ir(lambda x: flax.add(flax.mul(x, a), flax.mul(x, b)))(x)
        assert cse(program) is program, (a, b)


def test_cse_skips_equations_with_unhashable_params():
    x = Var(Aval((2, 3), np.dtype(np.float32)))
    outs = [Var(Aval((3, 2), np.dtype(np.float32))) for _ in range(2)]
    eqns = [Eqn(transpose_p, (x,), (out,), {"permutation": [1, 0]}) for out in outs]
    program = Program([], [], [x], eqns, outs)
    typecheck(program)
    assert cse(program) is program


# -- fold_constants --------------------------------------------------------------------------


def test_fold_constants_folds_chains_into_strong_numpy_literals():
    original, simplified = simplified_by(
        fold_constants,
        lambda x: flax.mul(x, flax.add(flax.convert_element_type(2, np.float32), 1.0)), S32)
    assert names(original) == ["convert_element_type", "add", "mul"]
    assert names(simplified) == ["mul"]
    three = simplified.eqns[0].inputs[1]
    assert isinstance(three, Literal) and three.aval == Aval((), np.dtype(np.float32), False)
    assert type(three.value) is np.float32 and three.value == 3.0


@pytest.mark.parametrize("fun, kind, value", [
    (lambda x: flax.add(x, flax.add(2.0, 0.5)), float, 2.5),
    (lambda x: flax.add(x, flax.convert_element_type(flax.mul(2, 3), np.float32, True)),
     float, 6.0),
    (lambda x: flax.select_n(flax.lt(1.0, 2.0), x, flax.neg(x)), bool, True),
])
def test_fold_constants_makes_weak_results_python_scalars(fun, kind, value):
    original, simplified = simplified_by(fold_constants, fun, 1.0)
    literals = [a for e in simplified.eqns for a in e.inputs if isinstance(a, Literal)]
    assert [(type(a.value), a.value) for a in literals] == [(kind, value)]
    assert all(a.aval.weak_type for a in literals)


def test_fold_constants_of_integers_wraps_like_the_program_would():
    original, simplified = simplified_by(
        fold_constants, lambda x: x + flax.mul(np.int32(2**30), np.int32(4)), np.int32(1))
    (literal,) = simplified.eqns[0].inputs[1:]
    assert literal.value == np.int32(0) and type(literal.value) is np.int32


def test_fold_constants_leaves_arrays_and_variables_alone():
    program = fgrad.make_ir(lambda x: x * flax.broadcast_in_dim(2.0, (3,), ()) + fnp.sin(x))(F32)
    assert fold_constants(program) is program


def test_fold_constants_works_while_jax_jit_traces():
    program = fgrad.make_ir(lambda x: flax.mul(x, flax.add(2.0, 1.0)))(1.0)

    @jax.jit
    def run(x):
        return eval_program(fold_constants(program), x)[0]

    assert float(run(2.0)) == 6.0


# -- simplify_algebra ------------------------------------------------------------------------


@pytest.mark.parametrize("fun", [
    lambda x, c: flax.mul(x, c(1)), lambda x, c: flax.mul(c(1), x),
    lambda x, c: flax.add(x, c(0)), lambda x, c: flax.add(c(0), x),
    lambda x, c: flax.sub(x, c(0)), lambda x, c: flax.div(x, c(1)),
    lambda x, c: flax.neg(flax.neg(x)),
    lambda x, c: flax.mul(x, 1.0), lambda x, c: flax.add(-0.0, x),
], ids=["x*1", "1*x", "x+0", "0+x", "x-0", "x/1", "neg-neg", "x*weak1", "-0+x"])
def test_simplify_algebra_identities_return_x_itself(fun, float_dtype):
    def literal(value):  # a strongly typed literal of x's dtype
        return np.dtype(float_dtype).type(value)

    original, simplified = simplified_by(
        lambda p: dce(simplify_algebra(p)), lambda x: fun(fnp.sin(x), literal),
        np.ones((), float_dtype))
    assert len(original.eqns) > 1
    assert names(simplified) == ["sin"]
    assert simplified.outputs[0] is simplified.eqns[0].outputs[0]


def test_simplify_algebra_sees_broadcast_zeros_and_ones(float_dtype):
    # fgrad.numpy's zeros and ones are broadcasts of converted literals: folded, then seen.
    x = np.ones((2, 3), float_dtype)
    original, simplified = simplified_by(
        simplify,
        lambda x: (fnp.sin(x) * fnp.ones_like(x) + fnp.zeros_like(x)) / fnp.ones((2, 3), x.dtype),
        x)
    assert {"mul", "add", "div"} <= set(names(original))
    assert names(simplified) == ["sin"]


def test_simplify_algebra_sees_broadcasts_of_broadcasts():
    x = Var(Aval((2, 3), np.dtype(np.float32)))
    ones_row, ones, out = (Var(Aval(s, np.dtype(np.float32))) for s in [(3,), (2, 3), (2, 3)])
    eqns = [Eqn(broadcast_in_dim_p, (Literal(np.float32(1), Aval((), np.dtype(np.float32))),),
                (ones_row,), {"shape": (3,), "broadcast_dimensions": ()}),
            Eqn(broadcast_in_dim_p, (ones_row,), (ones,),
                {"shape": (2, 3), "broadcast_dimensions": (1,)}),
            Eqn(mul_p, (ones, x), (out,), {})]
    program = Program([], [], [x], eqns, [out])
    simplified = simplify_algebra(program)
    check(program, simplified, [np.arange(6.0, dtype=np.float32).reshape(2, 3)])
    assert simplified.outputs[0] is x


def test_simplify_algebra_keeps_times_zero_so_nan_and_inf_survive():
    original, simplified = simplified_by(simplify_algebra, lambda x: x * 0.0, F32)
    assert simplified is original
    special = np.array([np.nan, np.inf, -np.inf], np.float32)
    assert np.isnan(eval_program(simplified, special)[0]).all()


def test_nan_through_times_one_stays_nan():
    program = fgrad.make_ir(lambda x: x * 1.0 + 0.0)(F32)
    simplified = simplify(program)
    assert names(simplified) == []
    special = np.array([np.nan, np.inf, -2.0], np.float32)
    check(program, simplified, [special])
    np.testing.assert_array_equal(eval_program(simplified, special)[0], special)


@pytest.mark.parametrize("fun", [
    lambda x: flax.sub(np.float32(0), x), lambda x: flax.div(np.float32(1), x),
    lambda x: flax.mul(x, np.float32(2)), lambda x: flax.add(x, np.float32(np.nan)),
    lambda x: flax.integer_pow(x, 2), lambda x: flax.neg(x),
], ids=["0-x", "1/x", "x*2", "x+nan", "x**2", "neg"])
def test_simplify_algebra_leaves_other_operations_alone(fun):
    program = fgrad.make_ir(fun)(S32)
    assert simplify_algebra(program) is program


def test_simplify_algebra_keeps_an_identity_that_would_change_the_type():
    # A weak x times a strong 1 is strong: x itself has another type.
    program = fgrad.make_ir(lambda x: flax.mul(x, np.float32(1)))(1.0)
    assert program.inputs[0].aval.weak_type and not program.outputs[0].aval.weak_type
    assert simplify_algebra(program) is program


def test_simplify_algebra_keeps_the_one_whose_type_is_the_results():
    # weak ones * strong ones is strong: only the second operand can stand for it.
    original, simplified = simplified_by(
        simplify_algebra, lambda x: flax.mul(flax.broadcast_in_dim(1.0, (3,), ()),
                                             flax.broadcast_in_dim(np.float32(1), (3,), ())),
        S32)
    assert names(simplified) == ["broadcast_in_dim"] * 2
    assert simplified.outputs[0] is simplified.eqns[1].outputs[0]


def test_adding_zeros_of_a_larger_shape_keeps_the_broadcast():
    original, simplified = simplified_by(simplify, lambda x: x + fnp.zeros(3), S32)
    assert "add" in names(original)
    assert names(simplified) == ["broadcast_in_dim"]
    assert simplified.out_avals == [Aval((3,), np.dtype(np.float32))]


# -- forward_trivial -------------------------------------------------------------------------


@pytest.mark.parametrize("fun", [
    lambda x: flax.convert_element_type(x, x.dtype),
    lambda x: flax.reshape(x, (2, 3)),
    lambda x: flax.transpose(x, (0, 1)),
    lambda x: flax.broadcast_in_dim(x, (2, 3), (0, 1)),
    lambda x: flax.squeeze(x, ()),
    lambda x: flax.expand_dims(x, ()),
    lambda x: flax.rev(x, ()),
    lambda x: flax.reduce_sum(x, ()),
    lambda x: flax.reduce_max(x, ()),
    lambda x: flax.reduce_min(x, ()),
    lambda x: flax.reduce_prod(x, ()),
    lambda x: flax.integer_pow(x, 1),
], ids=["convert", "reshape", "transpose", "broadcast", "squeeze", "expand_dims", "rev",
        "reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "x**1"])
def test_forward_trivial_removes_equations_returning_their_operand(fun, float_dtype):
    x = np.ones((2, 3), float_dtype)
    original, simplified = simplified_by(forward_trivial, lambda x: fnp.sin(fun(x)), x)
    assert len(original.eqns) == 2
    assert names(simplified) == ["sin"]
    assert simplified.eqns[0].inputs[0] is simplified.inputs[0]


def test_forward_trivial_removes_a_scalar_broadcast_to_shape_unit():
    original, simplified = simplified_by(
        forward_trivial, lambda x: flax.broadcast_in_dim(x, (), ()), S32)
    assert names(original) == ["broadcast_in_dim"] and names(simplified) == []
    assert simplified.outputs[0] is simplified.inputs[0]


@pytest.mark.parametrize("fun, example", [
    (lambda x: fgrad.stop_gradient(x), F32),
    (lambda x: flax.convert_element_type(x, np.float32, weak_type=False), 1.0),
    (lambda x: flax.convert_element_type(x, np.int32), F32),
    (lambda x: flax.transpose(x, (1, 0)), M32),
    (lambda x: flax.rev(x, (0,)), F32),
    (lambda x: flax.reshape(x, (3, 1)), F32),
    (lambda x: flax.reduce_sum(x, (0,)), F32),
], ids=["stop_gradient", "weak-to-strong", "to-int", "square-transpose", "rev", "reshape",
        "reduce_sum"])
def test_forward_trivial_keeps_equations_that_change_something(fun, example):
    program = fgrad.make_ir(fun)(example)
    assert len(program.eqns) == 1
    assert forward_trivial(program) is program
    assert simplify(program) is program


# -- simplify --------------------------------------------------------------------------------


def test_simplify_substitutes_program_outputs_with_inputs_consts_and_literals():
    table = jnp.arange(3.0)
    to_input = fgrad.make_ir(lambda x: (x * 1.0, x))(F32)
    to_const = fgrad.make_ir(lambda x: table * 1.0 + x * 0.0)(F32)
    to_literal = fgrad.make_ir(lambda x: (x, flax.mul(2.0, 3.0)))(F32)
    for program in (to_input, to_const, to_literal):
        check(program, simplify(program))
    assert [a is to_input.inputs[0] for a in simplify(to_input).outputs] == [True, True]
    simplified = simplify(to_const)
    assert simplified.eqns[-1].inputs[0] is simplified.constvars[0]
    literal = simplify(to_literal).outputs[1]
    assert isinstance(literal, Literal) and literal.value == 6.0 and type(literal.value) is float


def test_simplify_repeats_the_passes_until_nothing_changes():
    # Only once the reshape is gone does the multiplication see its ones.
    original, simplified = simplified_by(
        simplify, lambda x: x * flax.reshape(fnp.ones(3), (3,)), F32)
    assert names(simplified) == []
    assert simplified.outputs[0] is simplified.inputs[0]


def test_second_derivative_folds_to_a_literal():
    original, simplified = simplified_by(
        simplify, fgrad.grad(fgrad.grad(lambda s: 5 * s ** 2 * 1.0)), 1.5)
    assert names(simplified) == []
    assert simplified.outputs[0].value == 10.0


def mlp_loss(params, x, y):
    (w1, b1), (w2, b2) = params
    hidden = fnp.maximum(x @ w1 + b1, 0.0)
    out = fnp.tanh(hidden) @ w2 + b2
    return 0.5 * fnp.mean((out - y) ** 2) + 1.0 * fnp.sum(w1 ** 2)


def mlp_args(dtype):
    rng = np.random.default_rng(1)
    params = tuple((rng.normal(size=(m, n)).astype(dtype), rng.normal(size=n).astype(dtype))
                   for m, n in [(3, 4), (4, 2)])
    return params, rng.normal(size=(5, 3)).astype(dtype), rng.normal(size=(5, 2)).astype(dtype)


def multiplies_by_one(program: Program) -> bool:
    ones = {e.outputs[0] for e in program.eqns if e.primitive is broadcast_in_dim_p
            and isinstance(e.inputs[0], Literal) and e.inputs[0].value == 1}
    return any(e.primitive is mul_p and any(
        (isinstance(a, Literal) and a.value == 1) or (isinstance(a, Var) and a in ones)
        for a in e.inputs) for e in program.eqns)


def test_simplified_mlp_gradient_is_smaller_and_never_multiplies_by_one(float_dtype):
    args = mlp_args(float_dtype)
    original = fgrad.make_ir(fgrad.grad(mlp_loss))(*args)
    simplified = simplify(original)
    check(original, simplified, jax.tree_util.tree_leaves(args))
    assert len(simplified.eqns) < len(original.eqns)
    assert multiplies_by_one(original) and not multiplies_by_one(simplified)
    assert simplify(simplified) is simplified


@pytest.mark.parametrize("transform", [fgrad.grad, fgrad.jacrev, fgrad.jacfwd, fgrad.hessian])
def test_simplify_on_derivative_programs(transform, float_dtype):
    def f(x):
        return fnp.sum(fnp.tanh(x) * 2.0 + fnp.sin(x) * fnp.sin(x) / 1.0 - 0.0)

    x = np.linspace(-1.0, 1.0, 4).astype(float_dtype)
    original, simplified = simplified_by(simplify, transform(f), x)
    assert len(simplified.eqns) < len(original.eqns)
    assert names(simplified).count("sin") <= 1 and "cos" in names(simplified)
    again = simplify(simplified)
    assert again is simplified or again.key == simplified.key


def test_simplify_is_idempotent_and_keeps_sources():
    program = fgrad.make_ir(fgrad.jacrev(lambda x: fnp.exp(x) * 1.0 + fnp.exp(x)))(F32)
    once = simplify(program)
    check(program, once)
    assert simplify(once) is once
    assert names(once).count("exp") == 1


def test_simplify_is_linear_in_the_program_length():
    def chain(x, n):
        for _ in range(n):
            x = fnp.sin(x) * 1.0 + fnp.sin(x)
        return x

    def seconds(n):
        program = fgrad.make_ir(lambda x: chain(x, n))(F32)
        assert names(simplify(program)) == ["sin", "add"] * n
        times = []
        for _ in range(3):
            start = time.perf_counter()
            simplify(program)
            times.append(time.perf_counter() - start)
        return min(times)

    # Four times the equations in much less than sixteen times the time.
    assert seconds(1000) < 8 * seconds(250) + 0.02


def test_partial_eval_keeps_only_the_residuals_the_linear_part_reads():
    from fgrad.transforms.partial_eval import partial_eval

    def f(x, t):
        s, c = fnp.sin(x), fnp.cos(x)
        unused = t * c  # an unknown equation nobody needs: cos(x) must not become a residual
        del unused
        return s, t * s

    program = fgrad.make_ir(f)(1.0, 1.0)
    known, linear, out_unknown, n_res = partial_eval(program, [False, True])
    assert out_unknown == [False, True]
    assert n_res == 1
    assert "cos" not in names(known) and names(linear) == ["mul"]
    x, t = 0.7, 2.0
    known_out = fgrad.eval_program(known, x)
    (tangent,) = fgrad.eval_program(linear, *known_out[1:], t)
    np.testing.assert_allclose(known_out[0], np.sin(x), rtol=1e-6)
    np.testing.assert_allclose(tangent, t * np.sin(x), rtol=1e-6)
