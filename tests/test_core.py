"""The IR, the printer, tracing, define-by-run and the errors of the core."""

import os
import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
from fgrad.transforms.rules import batch_rules, jvp_rules, transpose_rules
import oracle
from fgrad import lax as fl
from fgrad.core.errors import ProgramTypeError
from fgrad.core import (
    Aval, ConcretizationError, EscapedTracerError, Literal, MissingRuleError, Primitive,
    Program, ShapeDtypeError, TracerConversionError, current_trace, eval_program,
    trace_to_program, typecheck,
)
from fgrad.core.trace import EVAL_TRACE

HERE = os.path.basename(__file__)
f32 = np.dtype("float32")


def line_of(marker: str) -> int:
    return oracle.line_of(__file__, marker)


# -- printer -----------------------------------------------------------------------------------

def test_printer_small_program():
    program = fgrad.make_ir(lambda x, y: fl.mul(fl.add(x, y), x))(np.ones(3, f32), np.ones(3, f32))
    assert str(program) == (
        "{ lambda ; a:f32[3] b:f32[3]. let\n"
        "    c:f32[3] = add a b\n"
        "    d:f32[3] = mul c a\n"
        "  in (d,) }"
    )


def test_printer_literals_params_and_multiple_outputs():
    def f(x, i):
        y = fl.integer_pow(fl.mul(x, 2.0), 3)
        return y, fl.convert_element_type(i, np.float32), fl.lt(x, np.float32(0.5))

    program = fgrad.make_ir(f)(1.0, 3)
    assert str(program) == (
        "{ lambda ; a:f32[] b:i32[]. let\n"
        "    c:f32[] = mul a 2.0:f32[]\n"
        "    d:f32[] = integer_pow[y=3] c\n"
        "    e:f32[] = convert_element_type[new_dtype=float32 weak_type=False] b\n"
        "    f:bool[] = lt a 0.5:f32[]\n"
        "  in (d, e, f) }"
    )


def test_printer_const_lifted_from_outer_trace():
    captured = np.arange(3, dtype=f32)

    def outer(x):
        inner = fgrad.make_ir(lambda y: fl.add(fl.mul(x, y), captured))(np.ones(3, f32))
        outer.inner = inner
        return x

    fgrad.make_ir(outer)(np.ones(3, f32))
    # The outer tracer x and the array become consts of the inner program, before the ';'.
    assert str(outer.inner) == (
        "{ lambda a:f32[3] b:f32[3]; c:f32[3]. let\n"
        "    d:f32[3] = mul a c\n"
        "    e:f32[3] = add d b\n"
        "  in (e,) }"
    )
    assert outer.inner.constvals[1] is captured


def test_printer_names_past_z_and_source_comments():
    def chain(x):
        for _ in range(30):
            x = fl.sin(x)  # the source line
        return x

    program = fgrad.make_ir(chain)(1.0)
    text = str(program)
    assert "ba:f32[] = sin z" in text and "be:f32[] = sin bd" in text
    with_source = program.pretty(source=True)
    assert f"# {HERE}:{line_of('# the source line')}" in with_source


def test_printer_shows_sub_programs_in_params():
    inner = fgrad.make_ir(lambda y: fl.neg(y))(1.0)
    call_p = Primitive("call", lambda *avals, body: body.out_avals,
                       lambda *args, body: eval_program(body, *args), multiple_results=True)
    program = fgrad.make_ir(lambda x: call_p.bind(fl.exp(x), body=inner))(1.0)
    assert str(program) == (
        "{ lambda ; a:f32[]. let\n"
        "    b:f32[] = exp a\n"
        "    c:f32[] = call b\n"
        "      body=\n"
        "      { lambda ; d:f32[]. let\n"
        "          e:f32[] = neg d\n"
        "        in (e,) }\n"
        "  in (c,) }"
    )
    assert eval_program(program, 0.5)[0] == pytest.approx(-np.exp(0.5))


# -- programs as values --------------------------------------------------------------------------

def _poly(x, y):
    return fl.add(fl.mul(x, x), y)


def test_programs_equal_and_hash_by_structure():
    a = fgrad.make_ir(_poly)(np.ones(2, f32), np.ones(2, f32))
    b = fgrad.make_ir(lambda u, v: fl.add(fl.mul(u, u), v))(np.zeros(2, f32), np.zeros(2, f32))
    assert a == b and hash(a) == hash(b) and a is not b
    assert len({a, b}) == 1
    other_shape = fgrad.make_ir(_poly)(np.ones(3, f32), np.ones(3, f32))
    other_op = fgrad.make_ir(lambda x, y: fl.add(fl.mul(x, y), y))(np.ones(2, f32), np.ones(2, f32))
    other_literal = fgrad.make_ir(lambda x: fl.mul(x, 2.0))(1.0)
    assert a != other_shape and a != other_op
    assert other_literal != fgrad.make_ir(lambda x: fl.mul(x, 3.0))(1.0)
    assert other_literal == fgrad.make_ir(lambda x: fl.mul(x, 2.0))(5.0)


def test_program_equality_compares_const_values_but_hash_ignores_them():
    def with_const(c):
        return fgrad.make_ir(lambda x: fl.add(x, c))(np.ones(2, f32))

    c1, c2 = np.array([1, 2], f32), np.array([1, 3], f32)
    p1, p1_again, p2 = with_const(c1), with_const(c1.copy()), with_const(c2)
    assert p1 == p1_again
    assert p1 != p2 and p1.key == p2.key and hash(p1) == hash(p2)


def test_literal_keys_distinguish_signed_zero_and_keep_nan():
    z = Aval((), f32, True)
    assert Literal(0.0, z) != Literal(-0.0, z)
    assert Literal(float("nan"), z) == Literal(float("nan"), z)


def test_typecheck_catches_a_broken_program():
    program = fgrad.make_ir(_poly)(np.ones(2, f32), np.ones(2, f32))
    typecheck(program)
    broken = Program(program.constvars, program.constvals, program.inputs,
                     program.eqns[::-1], program.outputs)
    with pytest.raises(ProgramTypeError, match="used before it is bound"):
        typecheck(broken)


def test_checks_are_on_in_the_suite_and_catch_a_program_lying_about_types():
    # tests/conftest.py sets FGRAD_CHECKS=1: every program a trace or a pass builds is
    # typechecked where it is built. Here the first equation claims a float16 result;
    # re-staging copies equations without re-running shape rules, and the check on the
    # trace's program catches the lie where that program is built.
    import importlib
    from fgrad.core.ir import Eqn, Var
    assert importlib.import_module("fgrad.core.typecheck").CHECKS
    program = fgrad.make_ir(_poly)(np.ones(2, f32), np.ones(2, f32))
    first, *rest = program.eqns
    lie = Var(Aval((2,), np.dtype("float16")))
    rest = [Eqn(e.primitive, tuple(lie if a is first.outputs[0] else a for a in e.inputs),
                e.outputs, e.params, e.source) for e in rest]
    broken = Program(program.constvars, program.constvals, program.inputs,
                     [Eqn(first.primitive, first.inputs, (lie,), first.params), *rest],
                     program.outputs)
    with pytest.raises(ProgramTypeError, match="mul"):
        fgrad.make_ir(lambda x, y: fgrad.eval_program(broken, x, y))(
            np.ones(2, f32), np.ones(2, f32))


# -- tracing: consts, literals, evaluation --------------------------------------------------------

def test_all_kinds_of_values_become_consts_or_literals():
    np_array = np.arange(3, dtype=f32)
    jax_array = jnp.arange(3, dtype=jnp.float32)
    program = fgrad.make_ir(
        lambda x: fl.add(fl.add(fl.mul(x, np_array), jax_array), fl.mul(x, x)))(np.ones(3, f32))
    assert [v.aval for v in program.constvars] == [Aval((3,), f32), Aval((3,), f32)]
    assert program.constvals[0] is np_array and program.constvals[1] is jax_array
    # A NumPy scalar is a strongly typed literal; a Python scalar a weakly typed one.
    lits = fgrad.make_ir(lambda x: (fl.mul(x, np.float32(2)), fl.mul(x, 2.0)))(1.0)
    strong, weak = (e.inputs[1] for e in lits.eqns)
    assert isinstance(strong, Literal) and not strong.aval.weak_type
    assert isinstance(weak, Literal) and weak.aval.weak_type
    assert lits.outputs[0].aval.weak_type is False and lits.outputs[1].aval.weak_type is True


def test_constant_outputs_and_inputs_passed_through():
    program = fgrad.make_ir(lambda x, y: (y, 3.0, x))(np.ones(2, f32), 1.0)
    assert program.eqns == ()
    out = eval_program(program, np.ones(2, f32), 5.0)
    assert out[0] == 5.0 and out[1] == 3.0 and out[2].shape == (2,)


def test_an_equation_of_literals_is_recorded_once_per_trace():
    # Rules and numpy code broadcast the same constants over and over; a trace records each
    # (primitive, literals, params) once. Different values, dtypes or shapes stay apart.
    def f(x, y):
        return x * 2.0 + x * 2.0 + y * 2.0 + x * 3.0 + fl.full((2,), np.float16(2), f32)

    program = fgrad.make_ir(f)(np.ones(2, f32), np.ones((3, 2), f32))
    broadcasts = [e for e in program.eqns if e.primitive.name == "broadcast_in_dim"
                  and isinstance(e.inputs[0], Literal)]
    assert [(str(e.inputs[0]), e.params["shape"]) for e in broadcasts] == [
        ("2.0:f32[]", (2,)), ("2.0:f32[]", (3, 2)), ("3.0:f32[]", (2,))]
    [out] = eval_program(program, np.ones(2, f32), np.ones((3, 2), f32))
    oracle.assert_same(out, np.full((3, 2), 11.0, f32))
    # under make_ir, grad records the primal part of its derivative and the transpose into
    # make_ir's trace: the 1.0 of tanh's derivative (both its uses) and the 1.0 cotangent
    # broadcast to x's shape are one equation
    program = fgrad.make_ir(lambda x: fgrad.grad(lambda x: fl.tanh(x).sum())(x * 2.0))(
        np.ones(2, f32))
    assert [str(e.inputs[0]) for e in program.eqns if e.primitive.name == "broadcast_in_dim"
            ] == ["2.0:f32[]", "1.0:f32[]"]
    [out] = eval_program(program, np.ones(2, f32))
    oracle.assert_same(out, 1 - np.tanh(np.full(2, 2.0, f32)) ** 2, rtol=1e-6)
    [tanh_derivative] = [e for e in program.eqns if e.primitive.name == "add"]
    [one_minus] = [e for e in program.eqns if e.primitive.name == "sub"]
    assert tanh_derivative.inputs[0] is one_minus.inputs[0]


def test_make_ir_pytrees_static_argnums_kwargs_and_shape_structs():
    def f(params, x, n, scale=1.0):
        y = x
        for _ in range(n):  # n is static: a Python int
            y = fl.tanh(fl.add(fl.mul(params["w"], y), params["b"]))
        return {"out": fl.mul(y, scale), "first": params["w"]}

    spec = jax.ShapeDtypeStruct((4,), jnp.float32)
    params = {"w": spec, "b": spec}
    program = fgrad.make_ir(f, static_argnums=2)(params, spec, 3, scale=spec)
    assert len(program.inputs) == 4 and sum(e.primitive.name == "tanh" for e in program.eqns) == 3
    args = [np.full(4, 0.5, f32), np.full(4, 0.1, f32), np.full(4, 2.0, f32),
            np.full(4, 3.0, f32)]  # leaves in tree order: b, w, x, scale
    b, w, x, scale = args
    expected = x
    for _ in range(3):
        expected = np.tanh(w * expected + b)
    out = eval_program(program, *args)
    # outputs flatten as {"first", "out"} sorted by key
    np.testing.assert_allclose(out[1], expected * scale, rtol=1e-6)
    np.testing.assert_array_equal(out[0], w)
    with pytest.raises(TypeError, match="static_argnums contains 5"):
        fgrad.make_ir(f, static_argnums=5)(params, spec, 3)


def test_eval_program_eager_under_jax_jit_and_vmap():
    def f(x, y):
        return fl.sin(fl.add(fl.mul(x, y), x))

    x = np.linspace(0, 1, 5, dtype=f32)
    y = np.linspace(1, 2, 5, dtype=f32)
    program = fgrad.make_ir(f)(x, y)
    expected = jnp.sin(x * y + x)
    np.testing.assert_allclose(eval_program(program, x, y)[0], expected, rtol=1e-6)
    jitted = jax.jit(lambda a, b: eval_program(program, a, b)[0])
    np.testing.assert_allclose(jitted(x, y), expected, rtol=1e-6)
    np.testing.assert_allclose(jax.jit(f)(x, y), expected, rtol=1e-6)
    scalar_f = jax.vmap(lambda a, b: f(a, b))
    np.testing.assert_allclose(scalar_f(x, y), expected, rtol=1e-6)


def test_eager_results_are_jax_arrays_with_jax_weak_types():
    out = fl.add(2.0, 3.0)
    assert isinstance(out, jax.Array) and out.weak_type and out.dtype == f32
    strong = fl.mul(np.ones(2, f32), np.ones(2, f32))
    assert isinstance(strong, jax.Array) and not strong.weak_type


@pytest.mark.parametrize("operand", [
    2.5, 3, np.float32(2.5), np.float64(2.5), np.int32(3), np.arange(4, dtype=f32),
    jnp.arange(4.0), jnp.asarray(2.5),
], ids=lambda v: f"{type(v).__name__}")
def test_eager_ops_on_every_kind_of_concrete_operand_match_jax(operand):
    # Concrete operands take a compiled path, JAX tracers (under jax.jit) the direct one:
    # both must give jax.lax's value, dtype and weak type, and repeats must agree.
    def ours(x):
        return fl.convert_element_type(fl.mul(fl.add(x, x), x), np.dtype("float32"))

    def theirs(x):
        return jax.lax.convert_element_type(jax.lax.mul(jax.lax.add(x, x), x), jnp.float32)

    expected = theirs(operand)
    for result in (ours(operand), ours(operand), jax.jit(ours)(operand)):
        assert isinstance(result, jax.Array)
        assert (result.dtype, result.weak_type) == (expected.dtype, expected.weak_type)
        np.testing.assert_array_equal(result, expected)


def test_eager_ops_with_equal_params_of_other_types_compile_apart():
    # 1+0j == 1.0 == 1 == True, with equal hashes: each eager op is still compiled for its
    # own params (a full_like of a complex fill once made a later float fill fail).
    complex_fill = fl.full_like(np.ones(2, np.complex64), 1 + 0j)
    float_fill = fl.full_like(np.ones(2, f32), 1.0)
    int_fill = fl.full_like(np.ones(2, np.int32), True)
    for got, want in ((complex_fill, jax.lax.full_like(np.ones(2, np.complex64), 1 + 0j)),
                      (float_fill, jax.lax.full_like(np.ones(2, f32), 1.0)),
                      (int_fill, jax.lax.full_like(np.ones(2, np.int32), True))):
        assert (got.dtype, got.weak_type) == (want.dtype, want.weak_type)
        np.testing.assert_array_equal(got, want)


# -- define-by-run ---------------------------------------------------------------------------------

def test_define_by_run_python_control_flow_on_concrete_trace():
    evaluated = []
    sin_p = Primitive("counting_sin", lambda a: a,
                      lambda x: (evaluated.append(1), jnp.sin(x))[1])

    def f(x, n):
        y = fl.mul(x, 2.0)
        while float(fl.abs(y)) < 1000.0:  # a Python loop whose condition reads a value
            y = fl.mul(y, 2.0)
        if bool(fl.gt(x, 0.0)):
            y = fl.neg(y)
        unused = sin_p.bind1(x)  # never read: must never be computed
        steps = int(n) + 1
        return y, unused, steps

    program, _ = trace_to_program(f, [jnp.float32(3.0), jnp.int32(4)], "test", concrete=True)
    out = eval_program(program, 3.0, 4)
    assert float(out[0]) == -1536.0  # 6 * 2**8
    assert out[2] == 5 and evaluated == [1]  # only the final evaluation ran the sin
    # The other branch for another input: the program is specialised to the values seen.
    program_neg, _ = trace_to_program(f, [jnp.float32(-3.0), jnp.int32(0)], "test", concrete=True)
    assert float(eval_program(program_neg, -3.0, 0)[0]) == -1536.0


def test_define_by_run_reads_through_outer_traces():
    def outer(x):
        def inner(y):
            z = fl.mul(x, y)  # x is a tracer of the outer trace: a const here
            return fl.neg(z) if float(z) > 1.0 else z

        inner_program, _ = trace_to_program(inner, [jnp.float32(2.0)], "inner", concrete=True)
        outer.text = str(inner_program)
        return x

    trace_to_program(outer, [jnp.float32(3.0)], "outer", concrete=True)
    assert "neg" in outer.text
    trace_to_program(outer, [jnp.float32(0.1)], "outer", concrete=True)
    assert "neg" not in outer.text


def test_item_tolist_index_and_len():
    def f(x, s, i):
        assert s.item() == 1.5 and x.tolist() == [1.5, 1.5] and len(x) == 2
        assert [10, 20, 30][i] == 30
        with pytest.raises(TypeError, match="needs a single element"):
            float(x)
        with pytest.raises(TypeError, match="Only integer traced values"):
            [1, 2][s]
        return x

    trace_to_program(f, [jnp.array([1.5, 1.5]), jnp.float32(1.5), jnp.int32(2)], "t",
                     concrete=True)


def test_concretizing_an_abstract_value_names_the_line_and_the_fix():
    def f(x):
        if fl.gt(x, 0.0):  # the abstract branch
            return x
        return fl.neg(x)

    with pytest.raises(ConcretizationError) as info:
        fgrad.make_ir(f)(1.0)
    message = str(info.value)
    assert f"{HERE}:{line_of('# the abstract branch')}" in message
    assert "fgrad.numpy.where" in message and "static_argnums" in message and "make_ir" in message
    assert "fgrad.lax.cond(x > 0, fnp.sin, fnp.cos, x)" in message  # a runnable example
    assert "fgrad.lax.fori_loop(0, n" in message
    for read in (float, int, lambda t: t.item()):
        with pytest.raises(ConcretizationError):
            fgrad.make_ir(lambda x: read(x))(1.0)
    assert current_trace() is EVAL_TRACE


def test_concrete_read_of_a_jax_tracer_value_is_a_concretization_error():
    def f(x):
        program_holder = []

        def g(y):
            return fl.neg(y) if bool(fl.gt(y, 0.0)) else y  # the jit-abstract read

        program_holder.append(trace_to_program(g, [x], "t", concrete=True))
        return x

    with pytest.raises(ConcretizationError, match="jax.jit") as info:
        jax.jit(f)(1.0)
    assert f"{HERE}:{line_of('# the jit-abstract read')}" in str(info.value)


# -- errors ----------------------------------------------------------------------------------------

def test_escaped_tracer_is_a_clear_error_and_state_survives():
    leaked = []

    def f(x):
        y = fl.sin(x)  # where the leaked value was made
        leaked.append(y)
        return y

    fgrad.make_ir(f)(1.0)
    with pytest.raises(EscapedTracerError) as info:
        fl.cos(leaked[0])  # the escaped use
    message = str(info.value)
    assert "make_ir" in message and "escaped" in message
    assert f"{HERE}:{line_of('# where the leaked value was made')}" in message
    assert f"{HERE}:{line_of('# the escaped use')}" in message
    with pytest.raises(EscapedTracerError):
        fgrad.make_ir(lambda x: fl.add(x, leaked[0]))(1.0)
    with pytest.raises(EscapedTracerError):
        bool(leaked[0])
    assert current_trace() is EVAL_TRACE
    assert float(fl.sin(0.0)) == 0.0
    assert str(fgrad.make_ir(lambda x: fl.sin(x))(1.0)).count("sin") == 1


def test_bad_shapes_and_dtypes_name_the_primitive_operands_and_line():
    with pytest.raises(ShapeDtypeError) as info:
        fl.add(np.ones(3, f32), np.ones(4, f32))  # eager add
    message = str(info.value)
    assert "add" in message and "f32[3], f32[4]" in message
    assert f"{HERE}:{line_of('# eager add')}" in message

    def f(x):
        return fl.mul(x, np.ones(2, np.int32))  # traced mul

    with pytest.raises(ShapeDtypeError) as info:
        fgrad.make_ir(f)(np.ones(2, f32))
    message = str(info.value)
    assert "mul" in message and "f32[2], i32[2]" in message and "dtypes differ" in message
    assert f"{HERE}:{line_of('# traced mul')}" in message
    with pytest.raises(ShapeDtypeError, match="sin accepts floating-point or complex"):
        fl.sin(np.ones(2, np.int32))
    assert current_trace() is EVAL_TRACE


def test_a_jax_function_on_a_tracer_says_to_use_fgrad_numpy():
    calls = [
        lambda t: jnp.sin(t),  # jax call 1
        lambda t: jnp.sum(t),  # jax call 2
        lambda t: jnp.add(t, 1.0),  # jax call 3
        lambda t: jnp.asarray(t),  # jax call 4
        lambda t: jnp.dot(t, t),  # jax call 5
    ]
    for n, jax_fun in enumerate(calls, 1):
        with pytest.raises(TracerConversionError) as info:
            fgrad.make_ir(jax_fun)(np.ones(3, f32))
        message = str(info.value)
        assert "fgrad.numpy" in message
        assert f"{HERE}:{line_of(f'# jax call {n}')}" in message
    with pytest.raises(TracerConversionError, match="NumPy"):
        fgrad.make_ir(lambda x: np.sin(x))(np.ones(3, f32))
    assert current_trace() is EVAL_TRACE


def test_missing_rule_names_primitive_and_transform():
    bare = Primitive("bare", lambda a: a, lambda x: x)
    for table in (jvp_rules, transpose_rules, batch_rules):
        with pytest.raises(MissingRuleError, match=f"'bare' has no {table.name} rule"):
            table[bare]
    with pytest.raises(MissingRuleError, match="'bare' has no jvp rule"):
        fgrad.grad(lambda x: bare.bind1(x))(1.0)
    with pytest.raises(MissingRuleError, match="'bare' has no batch rule"):
        fgrad.vmap(lambda x: bare.bind1(x))(np.ones(2))
    transpose_rules.absent(bare, "it is a test primitive")
    with pytest.raises(MissingRuleError, match="'bare' has no transpose rule.*test primitive"):
        transpose_rules[bare]


def test_unsupported_argument_type_is_a_clear_error():
    with pytest.raises(TypeError, match="cannot use a value of type str"):
        fl.sin("hello")
    with pytest.raises(TypeError, match="cannot use a value of type list"):
        fgrad.make_ir(lambda x: fl.add(x, [1.0]))(1.0)


def test_tracers_are_unhashable_and_print_their_type():
    def f(x):
        with pytest.raises(TypeError):
            hash(x)
        assert repr(x) == "Tracer<f32[3]>(make_ir)"
        return x

    fgrad.make_ir(f)(np.ones(3, f32))


def test_each_thread_has_its_own_current_trace():
    seen = []

    def f(x):
        t = threading.Thread(target=lambda: seen.append(current_trace() is EVAL_TRACE))
        t.start()
        t.join()
        return x

    fgrad.make_ir(f)(1.0)
    assert seen == [True]


def test_a_tracer_used_in_another_thread_while_its_trace_is_open_says_so():
    errors = []

    def use_elsewhere(x, work):
        def run():
            try:
                work(x)
            except EscapedTracerError as e:
                errors.append(str(e))
        t = threading.Thread(target=run)
        t.start()
        t.join()
        return x

    # Eagerly in the other thread, and captured by a trace of the other thread's own.
    fgrad.make_ir(lambda x: use_elsewhere(x, fl.sin))(1.0)
    fgrad.make_ir(lambda x: use_elsewhere(x, lambda x: fgrad.make_ir(
        lambda y: fl.add(x, y))(1.0)))(1.0)
    assert len(errors) == 2
    for message in errors:
        assert "used in another thread while make_ir was still tracing it" in message
        assert "escaped" not in message
    assert current_trace() is EVAL_TRACE
