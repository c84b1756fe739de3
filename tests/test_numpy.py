"""fgrad.numpy against jax.numpy on the same inputs: values, shapes, dtypes and weak types,
eagerly and inside a traced program (trace, typecheck, evaluate); the tracer's operators and
methods; float64 under x64; errors; and fgrad.numpy under jax.jit and jax.vmap."""

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad.numpy as fnp
from fgrad import lax as fl
from fgrad.core import Tracer, eval_program, trace_to_program, typecheck

HERE = os.path.basename(__file__)
rng = np.random.default_rng(0)
PYTHON_SCALARS = (bool, int, float, complex)


# -- helpers ---------------------------------------------------------------------------------


def operand(spec, domain="any"):
    """'f32[2,3]' -> a random NumPy array; Python scalars pass through."""
    if not isinstance(spec, str):
        return spec
    dtype, shape = spec.rstrip("]").split("[")
    shape = tuple(int(n) for n in shape.split(",") if n)
    dtype = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64,
             "i8": np.int8, "u8": np.uint8, "bool": np.bool_, "f16": np.float16}[dtype]
    if dtype == np.bool_:
        return rng.random(shape) > 0.5
    if np.issubdtype(dtype, np.integer):
        values = rng.choice([1, 2, 3, 4] if dtype == np.uint8 or domain != "any"
                            else [-4, -3, -2, -1, 1, 2, 3, 4], shape)
        return np.asarray(values).astype(dtype)
    low, high = {"any": (-2.0, 2.0), "positive": (0.1, 3.0), "unit": (-0.9, 0.9)}[domain]
    return rng.uniform(low, high, shape).astype(dtype)


def assert_same(got, expected, rtol=1e-6, atol=1e-6, where="eagerly"):
    if where == "traced":  # a program may return its input as it is; check() checks avals
        got = jnp.asarray(got, dtype=expected.dtype)
    assert isinstance(got, jax.Array), f"{where}: got a {type(got).__name__}, not a jax.Array"
    assert (got.shape, got.dtype, got.weak_type or where == "traced") == (
        expected.shape, expected.dtype, expected.weak_type or where == "traced"), (
        f"{where}: got {got.dtype}{list(got.shape)} weak={got.weak_type}, expected "
        f"{expected.dtype}{list(expected.shape)} weak={expected.weak_type}")
    if np.issubdtype(expected.dtype, np.inexact):
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=rtol, atol=atol,
                                   equal_nan=True, err_msg=where)
    else:
        np.testing.assert_array_equal(np.asarray(got), np.asarray(expected), err_msg=where)


def traced(f, args):
    """Traces f with its array arguments as inputs (Python scalars stay constants);
    returns the typechecked program, its output tree, and the evaluated outputs."""
    positions = [i for i, a in enumerate(args) if type(a) not in PYTHON_SCALARS]

    def with_inputs(*inputs):
        full = list(args)
        for i, x in zip(positions, inputs):
            full[i] = x
        return f(*full)

    inputs = [args[i] for i in positions]
    program, tree = trace_to_program(with_inputs, inputs, "make_ir")
    typecheck(program)
    outputs = eval_program(program, *inputs)
    return program, tree, outputs


def check(f, jax_f, *args, rtol=1e-6, atol=1e-6, eager=True):
    """f(*args) equals jax_f(*args): eagerly (unless eager=False: f then only makes sense on
    traced values), and traced (the program's types and its evaluation)."""
    expected = jax_f(*args)
    leaves, expected_tree = jax.tree_util.tree_flatten(expected)
    if eager:
        got = f(*args)
        got_leaves, got_tree = jax.tree_util.tree_flatten(got)
        assert got_tree == expected_tree
        for g, e in zip(got_leaves, leaves):
            assert_same(g, e, rtol, atol)
    program, tree, outputs = traced(f, args)
    assert tree == expected_tree
    for aval, e in zip(program.out_avals, leaves):
        assert (aval.shape, aval.dtype, aval.weak_type) == (e.shape, e.dtype, e.weak_type), (
            f"traced: {aval} weak={aval.weak_type}, expected {e.dtype}{list(e.shape)} "
            f"weak={e.weak_type}")
    for g, e in zip(outputs, leaves):
        assert_same(g, e, rtol, atol, "traced")


def expect_same_failure(f, jax_f, *args):
    """Where jax.numpy refuses an input with a TypeError, fgrad.numpy does too."""
    try:
        jax_f(*args)
    except TypeError:
        with pytest.raises(TypeError):
            f(*args)
        return True
    return False


# -- elementwise -----------------------------------------------------------------------------

UNARY = {
    "negative": "any", "positive": "any", "absolute": "any", "abs": "any", "sign": "any",
    "floor": "any", "ceil": "any", "round": "any", "exp": "any", "log": "positive",
    "log1p": "positive", "expm1": "any", "sqrt": "positive", "sin": "any", "cos": "any",
    "tan": "any", "tanh": "any", "arcsin": "unit", "arccos": "unit", "arctan": "any",
    "sinh": "any", "cosh": "any", "isfinite": "any", "isnan": "any", "isinf": "any",
    "logical_not": "any", "square": "any",
}
UNARY_SCALARS = {"any": 0.75, "positive": 2.5, "unit": 0.5}


# One shape for every dtype: the integer cases reuse the float cases' compiled operations.
# Every function sees float32; the promotions of integers, bools and weak Python scalars
# are shared code, so a representative set checks them.
UNARY_CASES = (
    [(name, "f32[4]") for name in UNARY]
    + [(name, "i32[4]") for name in ["negative", "positive", "absolute", "sign", "floor",
                                     "round", "exp", "sqrt", "arctan", "isfinite", "isnan",
                                     "isinf", "logical_not", "square", "cosh"]]
    + [(name, "python") for name in ["negative", "absolute", "floor", "exp", "log1p",
                                     "arcsin", "isfinite", "logical_not", "square", "sign"]]
    + [(name, "bool[4]") for name in ["logical_not", "absolute", "negative", "floor",
                                      "isfinite", "exp", "sign", "square", "round"]])


@pytest.mark.parametrize("name,spec", UNARY_CASES, ids=[f"{n}-{s}" for n, s in UNARY_CASES])
def test_unary(name, spec):
    domain = UNARY[name]
    x = UNARY_SCALARS[domain] if spec == "python" else operand(spec, domain)
    if spec == "bool[4]" and name == "round":
        x = x.astype(np.int32)  # jnp.round(bool) fails in np.finfo; NumPy keeps bools as-is
    if expect_same_failure(getattr(fnp, name), getattr(jnp, name), x):
        return
    check(getattr(fnp, name), getattr(jnp, name), x, rtol=2e-6)


def test_unary_special_values():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -1.5, 2.5, 0.5, -0.5], np.float32)
    for name in ["isfinite", "isnan", "isinf", "round", "floor", "ceil", "sign", "abs"]:
        check(getattr(fnp, name), getattr(jnp, name), x)
    check(lambda x: fnp.round(x, 1), lambda x: jnp.round(x, 1), x * 3.3)
    check(lambda x: fnp.round(x, 2), lambda x: jnp.round(x, 2), operand("f32[5]"))


BINARY = ["add", "subtract", "multiply", "true_divide", "floor_divide", "remainder", "power",
          "maximum", "minimum", "arctan2", "equal", "not_equal", "less", "less_equal",
          "greater", "greater_equal", "logical_and", "logical_or", "logical_xor"]
PAIRS = [("f32[2,3]", "f32[3]"), ("i32[2,3]", "i32[3]"), ("f32[2,3]", 2.0), (-7, "i32[2,3]"),
         ("bool[2,3]", "bool[3]"), (7, -2)]
PROMOTIONS = [("f32[2,1]", "f32[1,3]"), (0.5, "f32[3]"), ("i32[3]", 2.5), ("f32[3]", "i32[3]"),
              ("u8[3]", "i32[3]"), ("i8[2]", 3), (2.5, 1.5), ("bool[3]", 1)]


def _check_binary(name, pair):
    x, y = (operand(s) for s in pair)
    if name == "power" and isinstance(y, np.ndarray) and y.dtype.kind in "iu":
        y = np.abs(y)  # negative integer powers of integers are implementation-defined
    if name == "power" and isinstance(x, np.ndarray) and x.dtype.kind == "f":
        x = np.abs(x) + 0.5  # keep float powers real
    if name in ("true_divide", "floor_divide", "remainder") and isinstance(y, np.ndarray):
        y = np.where(y == 0, True, y).astype(y.dtype)  # XLA's fused 0/0 may be 0, not NaN
    if expect_same_failure(getattr(fnp, name), getattr(jnp, name), x, y):
        return
    check(getattr(fnp, name), getattr(jnp, name), x, y, rtol=3e-6)


@pytest.mark.parametrize("pair", PAIRS, ids=[f"{x}-{y}" for x, y in PAIRS])
@pytest.mark.parametrize("name", BINARY)
def test_binary(name, pair):
    _check_binary(name, pair)


@pytest.mark.parametrize("pair", PROMOTIONS, ids=[f"{x}-{y}" for x, y in PROMOTIONS])
@pytest.mark.parametrize("name", ["add", "true_divide", "power", "less", "logical_or"])
def test_binary_promotion_and_broadcasting(name, pair):
    _check_binary(name, pair)


def test_aliases():
    assert (fnp.divide, fnp.mod, fnp.pow, fnp.abs, fnp.neg, fnp.around, fnp.amax) == (
        fnp.true_divide, fnp.remainder, fnp.power, fnp.absolute, fnp.negative, fnp.round,
        fnp.max)


def test_integer_division_and_remainder_signs():
    x = np.array([-7, -6, -1, 0, 1, 6, 7], np.int32)[:, None]
    y = np.array([-3, -1, 2, 5], np.int32)
    for name in ["floor_divide", "remainder", "divmod"]:
        check(getattr(fnp, name), getattr(jnp, name), x, y)
    check(fnp.floor_divide, jnp.floor_divide, x.astype(np.float32), y.astype(np.float32))
    check(fnp.remainder, jnp.remainder, x.astype(np.float32) + 0.5, y.astype(np.float32))
    check(fnp.divmod, jnp.divmod, x.astype(np.float32) / 3, y.astype(np.float32))


@pytest.mark.parametrize("exponent", [2, 3, 0, -1, -2, np.int32(3), 2.0, 0.5])
def test_power_static_exponents(exponent):
    x = np.abs(operand("f32[2,3]")) + 0.1
    check(lambda x: fnp.power(x, exponent), lambda x: jnp.power(x, exponent), x)
    if isinstance(exponent, (int, np.integer)) and exponent >= 0:
        check(lambda x: fnp.power(x, exponent), lambda x: jnp.power(x, exponent),
              np.array([-3, 0, 2, 5], np.int32))


def test_power_integer_program_is_integer_pow():
    program, _, _ = traced(lambda x: x ** 3, [operand("f32[3]")])
    assert [e.primitive.name for e in program.eqns] == ["integer_pow"]


def test_where_and_clip():
    c, x, y = operand("bool[2,3]"), operand("f32[3]"), operand("i32[2,1]")
    check(fnp.where, jnp.where, c, x, y)
    check(fnp.where, jnp.where, c, 1.0, 2)
    check(fnp.where, jnp.where, operand("f32[3]"), x, 0.0)  # nonzero floats are True
    check(fnp.where, jnp.where, True, x, y)
    check(lambda x: fnp.clip(x, -0.5, 0.5), lambda x: jnp.clip(x, -0.5, 0.5), x)
    check(lambda x: fnp.clip(x, max=0.25), lambda x: jnp.clip(x, max=0.25), x)
    check(lambda x, lo: fnp.clip(x, lo), lambda x, lo: jnp.clip(x, lo), x, operand("f32[2,1]"))
    check(lambda x: fnp.clip(x, 0.5, 2), lambda x: jnp.clip(x, 0.5, 2), operand("i32[4]"))
    with pytest.raises(ValueError, match="got only one of x and y"):
        fnp.where(c, x)


# -- weak types and promotion ----------------------------------------------------------------


@pytest.mark.parametrize("f", [
    lambda x: x * 2.0, lambda x: 2.0 * x, lambda x: x + 1, lambda x: x / 2,
    lambda x: 1 - x, lambda x: x ** 2, lambda x: 2 ** x, lambda x: x // 2,
    lambda x: x % 3, lambda x: -x, lambda x: x > 0.5, lambda x: abs(x)],
    ids=["mul", "rmul", "add", "div", "rsub", "pow", "rpow", "floordiv", "mod", "neg", "gt",
         "abs"])
@pytest.mark.parametrize("spec", ["f32[3]", "i32[3]", "f16[3]"])
def test_python_scalars_are_weak(f, spec):
    x = operand(spec)
    try:
        f(jnp.asarray(x))
    except TypeError:
        return  # jnp refuses (e.g. -bool); fgrad.lax refuses the same, tested elsewhere
    check(f, lambda x: f(jnp.asarray(x)), x, rtol=1e-3, eager=False)


def test_weak_results_stay_weak():
    w = jnp.asarray(2.0)  # a weak jax array
    assert w.weak_type
    check(lambda w: fnp.add(w, 1.0), lambda w: jnp.add(w, 1.0), w)
    check(lambda w: fnp.multiply(w, np.float32(3)), lambda w: jnp.multiply(w, np.float32(3)), w)
    check(lambda w: fnp.sin(w), jnp.sin, w)
    check(lambda w: fnp.sum(w), jnp.sum, w)
    check(lambda w: fnp.zeros_like(w), jnp.zeros_like, w)
    check(lambda w: fnp.full_like(w, 3), lambda w: jnp.full_like(w, 3), w)
    check(lambda w: fnp.where(True, w, 1.0), lambda w: jnp.where(True, w, 1.0), w)


# -- the tracer's operators and methods ------------------------------------------------------

OPERATORS = {
    "add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
    "truediv": lambda x, y: x / y, "floordiv": lambda x, y: x // y,
    "mod": lambda x, y: x % y, "pow": lambda x, y: abs(x) ** y, "lt": lambda x, y: x < y,
    "le": lambda x, y: x <= y, "gt": lambda x, y: x > y, "ge": lambda x, y: x >= y,
    "eq": lambda x, y: x == y, "ne": lambda x, y: x != y,
    "divmod": lambda x, y: divmod(x, y),
}


@pytest.mark.parametrize("name", OPERATORS)
@pytest.mark.parametrize("other", ["tracer", "python", "numpy", "jax"])
@pytest.mark.parametrize("reflected", [False, True])
def test_operators(name, other, reflected):
    op = OPERATORS[name]
    x = operand("f32[2,3]") + 3.0
    y = {"tracer": operand("f32[3]") + 3.0, "python": 1.5,
         "numpy": operand("f32[3]") + 3.0, "jax": jnp.asarray(operand("f32[3]") + 3.0)}[other]

    def f(x, *rest):
        y_ = rest[0] if rest else y
        return op(y_, x) if reflected else op(x, y_)

    def jax_f(x, *rest):
        y_ = rest[0] if rest else y
        y_ = jnp.asarray(y_) if isinstance(y_, np.ndarray) else y_
        return op(y_, jnp.asarray(x)) if reflected else op(jnp.asarray(x), y_)

    args = (x, y) if other == "tracer" else (x,)
    check(f, jax_f, *args, eager=False, rtol=2e-6)


def test_operators_on_integers_and_bools():
    i, j = operand("i32[2,3]"), operand("i32[3]")
    b, c = operand("bool[2,3]"), operand("bool[3]")
    for op in [lambda x, y: x & y, lambda x, y: x | y, lambda x, y: x ^ y,
               lambda x, y: ~x, lambda x, y: x // y, lambda x, y: x % y, lambda x, y: -x,
               lambda x, y: +x, lambda x, y: 3 - x, lambda x, y: x ** 2]:
        check(op, lambda x, y: op(jnp.asarray(x), jnp.asarray(y)), i, j, eager=False)
    for op in [lambda x, y: x & y, lambda x, y: x | y, lambda x, y: x ^ y, lambda x, y: ~x,
               lambda x, y: x & True]:
        check(op, lambda x, y: op(jnp.asarray(x), jnp.asarray(y)), b, c, eager=False)


@pytest.mark.parametrize("a_shape,b_shape", [
    ((2, 3), (3, 4)), ((3,), (3, 4)), ((2, 3), (3,)), ((3,), (3,)), ((5, 2, 3), (3, 4)),
    ((2, 3), (5, 3, 4)), ((5, 2, 3), (5, 3, 4)), ((1, 2, 3), (5, 3, 4)),
    ((5, 1, 2, 3), (4, 3, 2)), ((3,), (5, 3, 2)), ((5, 2, 3), (3,))])
def test_matmul_operator(a_shape, b_shape):
    a, b = rng.normal(size=a_shape).astype(np.float32), rng.normal(size=b_shape).astype(
        np.float32)
    check(lambda a, b: a @ b, lambda a, b: jnp.asarray(a) @ jnp.asarray(b), a, b, eager=False,
          rtol=1e-5)
    check(fnp.matmul, jnp.matmul, a, b, rtol=1e-5)
    # jax and numpy arrays on the left of a tracer
    check(lambda b: jnp.asarray(a) @ b, lambda b: jnp.asarray(a) @ jnp.asarray(b), b,
          eager=False, rtol=1e-5)
    check(lambda b: a @ b, lambda b: jnp.asarray(a) @ jnp.asarray(b), b, eager=False,
          rtol=1e-5)


METHODS = {
    "sum": lambda x: x.sum(), "sum_axis": lambda x: x.sum(axis=1, keepdims=True),
    "mean": lambda x: x.mean(0), "max": lambda x: x.max(axis=(0, 2)),
    "min": lambda x: x.min(-1), "prod": lambda x: x.prod(axis=1),
    "std": lambda x: x.std(ddof=1), "argmax": lambda x: x.argmax(axis=1),
    "argmin": lambda x: x.argmin(), "cumsum": lambda x: x.cumsum(axis=2),
    "any": lambda x: (x > 0).any(axis=0), "all": lambda x: (x > -1).all(),
    "reshape_args": lambda x: x.reshape(4, 6), "reshape_tuple": lambda x: x.reshape((-1, 3)),
    "astype": lambda x: x.astype(jnp.int32), "astype_fnp": lambda x: x.astype(fnp.int32),
    "astype_python": lambda x: x.astype(float), "transpose": lambda x: x.transpose(),
    "transpose_args": lambda x: x.transpose(2, 0, 1),
    "transpose_tuple": lambda x: x.transpose((1, 0, 2)), "T": lambda x: x.T,
    "mT": lambda x: x.mT, "ravel": lambda x: x.ravel(), "flatten": lambda x: x.flatten(),
    "squeeze": lambda x: x[:, :1].squeeze(1), "swapaxes": lambda x: x.swapaxes(0, 2),
    "clip": lambda x: x.clip(-0.5, 0.5), "round": lambda x: x.round(1),
    "dot": lambda x: x[0].dot(x[1].T), "repeat": lambda x: x.repeat(2, axis=1),
    "len": lambda x: x * len(x), "iter": lambda x: [row.sum() for row in x],
    "python_round": lambda x: round(x), "shape": lambda x: x.reshape(x.shape[::-1]),
    "ndim_size": lambda x: x * (x.ndim + x.size),
}


@pytest.mark.parametrize("name", METHODS)
def test_methods(name):
    method = METHODS[name]
    x = operand("f32[2,3,4]")
    check(method, lambda x: method(jnp.asarray(x)), x, eager=False, rtol=1e-5)


def test_tracer_attributes_and_errors():
    def f(x):
        assert isinstance(x, Tracer)
        assert (x.shape, x.dtype, x.ndim, x.size) == ((2, 3), np.float32, 2, 6)
        assert x.dtype == fnp.float32 and fnp.float32 == x.dtype
        with pytest.raises(TypeError, match="immutable"):
            x[0] = 1.0
        assert x.__eq__("text") is NotImplemented
        with pytest.raises(TypeError):
            x + "text"
        with pytest.raises(TypeError, match="list"):
            x + [1.0, 2.0, 3.0]
        return x

    traced(f, [operand("f32[2,3]")])


def test_tracers_in_pytrees():
    def f(tree):
        doubled = jax.tree_util.tree_map(lambda t: t * 2.0, tree)
        leaves = jax.tree_util.tree_leaves(doubled)
        assert all(isinstance(t, Tracer) for t in leaves)
        return doubled

    tree = {"w": operand("f32[2,3]"), "b": (operand("f32[3]"), operand("i32[2]"))}
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    program, out_tree, outputs = traced(lambda *xs: f(jax.tree_util.tree_unflatten(treedef, xs)),
                                        leaves)
    result = jax.tree_util.tree_unflatten(out_tree, outputs)
    expected = jax.tree_util.tree_map(lambda t: jnp.asarray(t) * 2.0, tree)
    jax.tree_util.tree_map(assert_same, result, expected)


# -- reductions ------------------------------------------------------------------------------

REDUCTIONS = [
    ("sum", {}), ("sum", {"axis": 0}), ("sum", {"axis": (0, 2), "keepdims": True}),
    ("sum", {"axis": -1, "dtype": jnp.float32}), ("sum", {"axis": ()}),
    ("sum", {"initial": 2.0}), ("prod", {}), ("prod", {"axis": 1, "keepdims": True}),
    ("max", {}), ("max", {"axis": (1, -1)}), ("max", {"axis": 0, "initial": 0.5}),
    ("min", {"axis": -2, "keepdims": True}), ("mean", {}), ("mean", {"axis": (0, 1)}),
    ("mean", {"axis": 2, "keepdims": True}), ("var", {}), ("var", {"axis": 1, "ddof": 1}),
    ("var", {"axis": 0, "ddof": 2}), ("std", {"axis": (0, 2), "keepdims": True}),
    ("std", {"ddof": 1}), ("argmax", {}), ("argmax", {"axis": 1}),
    ("argmax", {"axis": -1, "keepdims": True}), ("argmin", {"keepdims": True}),
    ("argmin", {"axis": 0}), ("cumsum", {}), ("cumsum", {"axis": 1}),
    ("cumsum", {"axis": -1, "dtype": jnp.float32}), ("any", {"axis": 1}), ("all", {}),
    ("amax", {"axis": 1}), ("amin", {}),
]


@pytest.mark.parametrize("name,kwargs", REDUCTIONS,
                         ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}"
                              for n, kw in REDUCTIONS])
def test_reductions(name, kwargs):
    check(lambda x: getattr(fnp, name)(x, **kwargs), lambda x: getattr(jnp, name)(x, **kwargs),
          operand("f32[2,3,4]"), rtol=2e-6, atol=1e-5)


REDUCTION_DTYPES = [(name, spec) for name in ["sum", "mean", "max", "cumsum", "argmin"]
                    for spec in ["i32[2,3]", "bool[2,3]", "i8[2,3]", "f16[2,3]"]] + [
    ("var", "i32[2,3]"), ("var", "f16[2,3]"), ("prod", "bool[2,3]"), ("prod", "u8[2,3]"),
    ("sum", "u8[2,3]"), ("any", "f32[2,3]"), ("all", "i32[2,3]")]


@pytest.mark.parametrize("name,spec", REDUCTION_DTYPES,
                         ids=[f"{n}-{s}" for n, s in REDUCTION_DTYPES])
def test_reduction_dtypes(name, spec):
    check(lambda x: getattr(fnp, name)(x, axis=1), lambda x: getattr(jnp, name)(x, axis=1),
          operand(spec), rtol=2e-3, atol=1e-5)


@pytest.mark.parametrize("name", ["sum", "mean", "max", "var", "argmax", "cumsum", "prod"])
def test_reductions_of_scalars(name):
    check(getattr(fnp, name), getattr(jnp, name), 2.5)
    check(getattr(fnp, name), getattr(jnp, name), jnp.asarray(3))


def test_reduction_errors():
    x = operand("f32[2,3]")
    with pytest.raises(ValueError, match="repeated axis"):
        fnp.sum(x, axis=(0, 0))
    with pytest.raises(np.exceptions.AxisError, match="out of bounds"):
        fnp.mean(x, axis=2)
    with pytest.raises(ValueError, match="zero-size array"):
        fnp.max(np.zeros((0, 3), np.float32), axis=0)
    with pytest.raises(ValueError, match="empty sequence"):
        fnp.argmax(np.zeros((0,), np.float32))


# -- shapes ----------------------------------------------------------------------------------

SHAPE_FUNCTIONS = {
    "reshape": lambda m, x: m.reshape(x, (4, -1)),
    "reshape_newshape_int": lambda m, x: m.reshape(x, 24),
    "ravel": lambda m, x: m.ravel(x),
    "transpose": lambda m, x: m.transpose(x),
    "transpose_axes": lambda m, x: m.transpose(x, (1, -1, 0)),
    "swapaxes": lambda m, x: m.swapaxes(x, 0, -1),
    "moveaxis": lambda m, x: m.moveaxis(x, 0, -1),
    "moveaxis_many": lambda m, x: m.moveaxis(x, (0, 1), (2, 0)),
    "squeeze": lambda m, x: m.squeeze(m.reshape(x, (2, 1, 3, 1, 4))),
    "squeeze_axis": lambda m, x: m.squeeze(m.reshape(x, (2, 1, 3, 1, 4)), axis=-2),
    "expand_dims": lambda m, x: m.expand_dims(x, 1),
    "expand_dims_many": lambda m, x: m.expand_dims(x, (0, -1)),
    "concatenate": lambda m, x: m.concatenate([x, x * 2], axis=1),
    "concatenate_none": lambda m, x: m.concatenate([x, x[0]], axis=None),
    "concatenate_mixed": lambda m, x: m.concatenate([x, m.ones((2, 3, 1), m.int32)], -1),
    "stack": lambda m, x: m.stack([x, x + 1, x * 3]),
    "stack_axis": lambda m, x: m.stack([x, x], axis=-1),
    "split": lambda m, x: m.split(x, 2, axis=2),
    "split_indices": lambda m, x: m.split(x, [1, 3], axis=-1),
    "split_unsorted": lambda m, x: m.split(x, np.array([2, 2]), axis=1),
    "tile": lambda m, x: m.tile(x, 2),
    "tile_more": lambda m, x: m.tile(x, (2, 1, 1, 3)),
    "tile_fewer": lambda m, x: m.tile(x[0], (3, 1, 2)),
    "repeat": lambda m, x: m.repeat(x, 2),
    "repeat_axis": lambda m, x: m.repeat(x, 3, axis=1),
    "repeat_counts": lambda m, x: m.repeat(x, np.array([1, 0, 2]), axis=1),
    "broadcast_to": lambda m, x: m.broadcast_to(x[0, :, :1], (5, 3, 4)),
    "broadcast_arrays": lambda m, x: m.broadcast_arrays(x, x[0, :, :1], 1.0),
    "flip": lambda m, x: m.flip(x),
    "flip_axis": lambda m, x: m.flip(x, (0, 2)),
    "matrix_transpose": lambda m, x: m.matrix_transpose(x),
}


@pytest.mark.parametrize("name", SHAPE_FUNCTIONS)
def test_shape_functions(name):
    f = SHAPE_FUNCTIONS[name]
    spec = "i32[2,3,4]" if name.startswith(("concatenate", "stack", "repeat")) else "f32[2,3,4]"
    check(lambda x: f(fnp, x), lambda x: f(jnp, jnp.asarray(x)), operand(spec))


def test_shape_functions_on_scalars_and_weak_values():
    for f in [lambda m, x: m.reshape(x, (1, 1)), lambda m, x: m.ravel(x),
              lambda m, x: m.expand_dims(x, 0), lambda m, x: m.stack([x, x]),
              lambda m, x: m.broadcast_to(x, (2, 2)), lambda m, x: m.tile(x, 3),
              lambda m, x: m.repeat(x, 2), lambda m, x: m.transpose(x)]:
        check(lambda x: f(fnp, x), lambda x: f(jnp, x), 2.5)


def test_split_follows_numpy_out_of_range():
    x = operand("f32[3,4]")
    for indices in ([1, 3, 10], [-3, 2], [3, 1]):
        got = fnp.split(x, indices, axis=-1)
        expected = np.split(x, indices, axis=-1)
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            np.testing.assert_array_equal(np.asarray(g), e)


def test_shape_errors():
    x = operand("f32[2,3]")
    with pytest.raises(ValueError, match=r"cannot reshape an array of shape \(2, 3\)"):
        fnp.reshape(x, (4, -1))
    with pytest.raises(ValueError, match="equal sections"):
        fnp.split(x, 2, axis=1)
    with pytest.raises(ValueError, match="squeeze axis 0"):
        fnp.squeeze(x, 0)
    with pytest.raises(ValueError, match="must agree except along axis 0"):
        fnp.concatenate([x, x.T])
    with pytest.raises(ValueError, match="same shape"):
        fnp.stack([x, x[0]])
    with pytest.raises(ValueError, match=r"shape \(2, 3\) cannot be broadcast to shape \(3,\)"):
        fnp.broadcast_to(x, (3,))
    with pytest.raises(ValueError, match="not a permutation"):
        fnp.transpose(x, (0, 0))


# -- creation --------------------------------------------------------------------------------

CREATION = {
    "zeros": lambda m: m.zeros(3), "zeros_int": lambda m: m.zeros((2, 3), m.int32),
    "zeros_scalar": lambda m: m.zeros(()), "ones": lambda m: m.ones((2, 1), bool),
    "full": lambda m: m.full(3, 2.0), "full_int": lambda m: m.full((2, 2), 7),
    "full_dtype": lambda m: m.full((2,), 7, m.float32),
    "full_array": lambda m: m.full((2, 3), np.arange(3.0)),
    "arange": lambda m: m.arange(5), "arange_start": lambda m: m.arange(2, 8),
    "arange_float": lambda m: m.arange(0.0, 1.0, 0.1),
    "arange_step": lambda m: m.arange(1, 2, 0.25),
    "arange_negative": lambda m: m.arange(10, 0, -3), "arange_empty": lambda m: m.arange(3, 1),
    "arange_dtype": lambda m: m.arange(4, dtype=m.float32),
    "arange_float_stop": lambda m: m.arange(4.5),
    "linspace": lambda m: m.linspace(0, 1, 5),
    "linspace_open": lambda m: m.linspace(0, 10, 5, endpoint=False),
    "linspace_int": lambda m: m.linspace(0, 10, 7, dtype=int),
    "linspace_retstep": lambda m: m.linspace(-1.0, 2.0, 4, retstep=True),
    "linspace_one": lambda m: m.linspace(2.0, 3.0, 1),
    "linspace_arrays": lambda m: m.linspace(np.zeros(2), np.array([1.0, 4.0]), 3, axis=1),
    "eye": lambda m: m.eye(3), "eye_rect": lambda m: m.eye(2, 4, k=1, dtype=m.int32),
    "eye_below": lambda m: m.eye(4, 3, k=-1), "identity": lambda m: m.identity(2),
    "array_list": lambda m: m.array([1, 2, 3]),
    "array_nested": lambda m: m.array([[1.0, 2.0], [3.0, 4.0]]),
    "array_scalar": lambda m: m.array(2.0), "array_bool": lambda m: m.array(True),
    "array_numpy": lambda m: m.array(np.arange(4.0)),
    "array_dtype": lambda m: m.array([1.5, 2.5], dtype=m.int32),
    "array_ndmin": lambda m: m.array([1, 2], ndmin=3),
    "asarray": lambda m: m.asarray(np.ones((2, 2), np.int8)),
    "asarray_list_of_arrays": lambda m: m.asarray([np.ones(2), np.zeros(2)]),
    "scalar_type_call": lambda m: m.float32(3), "scalar_type_int": lambda m: m.int32(2.7),
}


@pytest.mark.parametrize("name", CREATION)
def test_creation(name):
    f = CREATION[name]
    check(lambda: f(fnp), lambda: f(jnp), rtol=1e-6)


@pytest.mark.parametrize("spec", ["f32[2,3]", "i32[3]", "bool[2]"])
def test_creation_like(spec):
    x = operand(spec)
    for f in [lambda m, x: m.zeros_like(x), lambda m, x: m.ones_like(x),
              lambda m, x: m.full_like(x, 3), lambda m, x: m.full_like(x, 2.5, dtype=m.float32),
              lambda m, x: m.zeros_like(x, shape=(4,)), lambda m, x: m.ones_like(x, int),
              lambda m, x: m.full_like(x, np.arange(x.shape[-1]))]:
        check(lambda x: f(fnp, x), lambda x: f(jnp, x), x)


def test_creation_from_traced_values():
    x = operand("f32[3]")
    check(lambda x: fnp.array([x[0], 1.0, x[2]]), lambda x: jnp.array([x[0], 1.0, x[2]]), x)
    check(lambda x: fnp.asarray([x, x * 2]), lambda x: jnp.asarray([x, x * 2]), x)
    check(lambda x: fnp.array(x, dtype=fnp.int32), lambda x: jnp.array(x, dtype=jnp.int32), x)
    check(lambda x: fnp.full((2, 3), x[1]), lambda x: jnp.full((2, 3), x[1]), x)
    check(lambda x: fnp.linspace(x[0], x[1], 4), lambda x: jnp.linspace(x[0], x[1], 4), x)
    check(lambda x: fnp.float32(x * 2), lambda x: jnp.float32(x * 2), x)


def test_creation_in_programs_is_cheap():
    program, _, _ = traced(lambda: fnp.zeros((2, 3)), [])
    assert [e.primitive.name for e in program.eqns] == ["broadcast_in_dim"]
    program, _, _ = traced(lambda: fnp.arange(4), [])
    assert [e.primitive.name for e in program.eqns] == ["iota"]


def test_dtype_names():
    assert np.dtype(fnp.float32) == np.float32 and fnp.int32 == np.dtype("int32")
    assert fnp.bool_.dtype == np.bool_ and fnp.bfloat16.dtype == jnp.bfloat16
    assert fnp.zeros(2, fnp.uint8).dtype == np.uint8
    assert (fnp.pi, fnp.e, fnp.newaxis) == (np.pi, np.e, None)
    assert np.isinf(fnp.inf) and np.isnan(fnp.nan)
    assert repr(fnp.float32) == "fgrad.numpy.float32"


# -- contractions ----------------------------------------------------------------------------


@pytest.mark.parametrize("a_shape,b_shape", [
    ((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((2, 3, 4), (5, 4, 6)),
    ((), (3,)), ((2, 3), ())])
def test_dot(a_shape, b_shape):
    a, b = rng.normal(size=a_shape).astype(np.float32), rng.normal(size=b_shape).astype(
        np.float32)
    check(fnp.dot, jnp.dot, a, b, rtol=1e-5)
    check(fnp.dot, jnp.dot, a.astype(np.int32), (b * 3).astype(np.int32))


def test_vdot_outer():
    a, b = operand("f32[2,3]"), operand("f32[6]")
    check(fnp.vdot, jnp.vdot, a, b, rtol=1e-5)
    check(fnp.outer, jnp.outer, a, b)
    check(fnp.outer, jnp.outer, operand("i32[3]"), 2.0)
    check(fnp.dot, jnp.dot, a, 2.0)


EINSUMS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("ij,jk", [(2, 3), (3, 4)]), ("i,i->", [(3,), (3,)]),
    ("i,i", [(3,), (3,)]), ("i,j->ij", [(2,), (3,)]), ("ij->ji", [(2, 3)]), ("ij->", [(2, 3)]),
    ("ij->j", [(2, 3)]), ("ij", [(2, 3)]), ("ji", [(2, 3)]),
    ("bij,bjk->bik", [(5, 2, 3), (5, 3, 4)]), ("bij,bjk->kbi", [(5, 2, 3), (5, 3, 4)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]), ("...i,i", [(2, 3, 4), (4,)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]), ("i,i,i->i", [(3,), (3,), (3,)]),
    ("abc,cd,db->a", [(2, 3, 4), (4, 5), (5, 3)]), ("ij,kl->", [(2, 3), (4, 5)]),
    ("ij,ij->ij", [(2, 3), (1, 3)]), ("Ab,bA->", [(2, 3), (3, 2)]),
    (" ij , jk -> ki ", [(2, 3), (3, 4)]),
]


@pytest.mark.parametrize("subscripts,shapes", EINSUMS, ids=[s for s, _ in EINSUMS])
def test_einsum(subscripts, shapes):
    operands = [rng.normal(size=s).astype(np.float32) for s in shapes]
    check(lambda *xs: fnp.einsum(subscripts, *xs), lambda *xs: jnp.einsum(subscripts, *xs),
          *operands, rtol=1e-5, atol=1e-5)


def test_einsum_promotes_and_errors():
    check(lambda a, b: fnp.einsum("ij,j->i", a, b), lambda a, b: jnp.einsum("ij,j->i", a, b),
          operand("i32[2,3]"), operand("f32[3]"), rtol=1e-6)
    check(lambda a: fnp.einsum("ii->", a), lambda a: jnp.einsum("ii->", a), operand("i32[3,3]"))
    with pytest.raises(ValueError, match="has 2 axes but its subscripts 'ijk'"):
        fnp.einsum("ijk->", np.eye(3))
    with pytest.raises(ValueError, match="index 'j' has different sizes"):
        fnp.einsum("ij,jk", np.ones((2, 3)), np.ones((4, 5)))
    with pytest.raises(ValueError, match="name 2 operands but 1"):
        fnp.einsum("ij,jk", np.ones((2, 3)))


def test_contraction_errors():
    with pytest.raises(ValueError, match=r"shapes \(2, 3\) and \(2, 3\) are not aligned"):
        fnp.dot(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="operand 0 must have at least one dimension"):
        fnp.matmul(2.0, np.ones(3))
    with pytest.raises(ValueError, match="matmul"):
        fnp.matmul(np.ones((2, 2, 3)), np.ones((3, 3, 4)))


# -- linalg.norm -----------------------------------------------------------------------------

NORMS = [
    ((5,), {}), ((5,), {"ord": 1}), ((5,), {"ord": 2}), ((5,), {"ord": np.inf}),
    ((5,), {"ord": -np.inf}), ((5,), {"ord": 0}), ((5,), {"ord": 3}), ((5,), {"ord": 0.5}),
    ((2, 3, 4), {"keepdims": True}), ((2, 3, 4), {"axis": -1, "ord": 1, "keepdims": True}),
    ((3, 4), {"ord": "fro"}), ((3, 4), {"ord": 1}), ((3, 4), {"ord": -np.inf}),
    ((2, 3, 4), {"axis": (2, 0), "ord": np.inf}),
    ((2, 3, 4), {"axis": (-1, -2), "ord": -1, "keepdims": True}),
]


@pytest.mark.parametrize("shape,kwargs", NORMS, ids=[f"{s}-{kw}" for s, kw in NORMS])
def test_norm(shape, kwargs):
    x = rng.normal(size=shape).astype(np.float32)
    check(lambda x: fnp.linalg.norm(x, **kwargs), lambda x: jnp.linalg.norm(x, **kwargs), x,
          rtol=1e-5)


def test_norm_of_integers_and_errors():
    check(fnp.linalg.norm, jnp.linalg.norm, operand("i32[2,3]"), rtol=1e-6)
    x = np.array([[3.0, 1.0], [1.0, 2.0]], np.float32)
    for order in (2, -2, "nuc"):  # through the SVD
        np.testing.assert_allclose(fnp.linalg.norm(x, ord=order),
                                   jnp.linalg.norm(x, ord=order), rtol=1e-6)
    with pytest.raises(ValueError, match="one axis for a vector norm or two for a matrix norm"):
        fnp.linalg.norm(np.ones((2, 2, 2)), ord=1)


# -- float64 ---------------------------------------------------------------------------------

X64_CASES = {
    "mul_weak": lambda m, x, i: x * 2.0, "add_int": lambda m, x, i: x + i,
    "divide_int": lambda m, x, i: m.divide(i, 2), "exp_int": lambda m, x, i: m.exp(i),
    "mean_int": lambda m, x, i: m.mean(i), "sum_int": lambda m, x, i: m.sum(i, axis=0),
    "var": lambda m, x, i: m.var(x, axis=1), "arange": lambda m, x, i: m.arange(5),
    "arange_float": lambda m, x, i: m.arange(0.0, 1.0, 0.25),
    "zeros": lambda m, x, i: m.zeros(3), "linspace": lambda m, x, i: m.linspace(0, 1, 4),
    "matmul": lambda m, x, i: x @ x.T, "argmax": lambda m, x, i: m.argmax(x),
    "einsum": lambda m, x, i: m.einsum("ij,kj->ik", x, x),
    "norm": lambda m, x, i: m.linalg.norm(x, axis=1),
    "floor_divide": lambda m, x, i: x // 0.3, "power": lambda m, x, i: x ** i,
    "cumsum_bool": lambda m, x, i: m.cumsum(x > 0), "array": lambda m, x, i: m.array([1.5, 2]),
    "f32_times_python": lambda m, x, i: m.ones(2, m.float32) * 2.0,
    "i32_times_python": lambda m, x, i: m.ones(2, m.int32) * 3,
}


@pytest.mark.parametrize("name", X64_CASES)
def test_float64(name, x64):
    f = X64_CASES[name]
    x = rng.normal(size=(2, 3))
    i = rng.integers(1, 4, size=(2, 3))
    assert jnp.asarray(x).dtype == np.float64
    check(lambda x, i: f(fnp, x, i), lambda x, i: f(jnp, x, i), jnp.asarray(x), jnp.asarray(i),
          rtol=1e-12)


def test_float64_is_float32_without_x64():
    assert fnp.array(np.ones(2)).dtype == np.float32
    assert fnp.asarray(2.0).dtype == np.float32
    with pytest.warns(UserWarning, match="float64"):
        assert fnp.zeros(2, fnp.float64).dtype == np.float32


# -- errors ----------------------------------------------------------------------------------


def test_broadcast_error_names_shapes_and_line():
    x, y = np.ones((2, 3), np.float32), np.ones((4,), np.float32)
    line = sys._getframe().f_lineno + 2
    with pytest.raises(ValueError) as excinfo:
        fnp.add(x, y)
    message = str(excinfo.value)
    assert "add" in message and "(2, 3)" in message and "(4,)" in message
    assert f"{HERE}:{line}" in message


def test_broadcast_error_in_a_trace_names_the_users_line():
    lines = []

    def f(x, y):
        lines.append(sys._getframe().f_lineno + 1)
        return x * y

    with pytest.raises(ValueError) as excinfo:
        traced(f, [np.ones((2, 3), np.float32), np.ones((2,), np.float32)])
    message = str(excinfo.value)
    assert "multiply" in message and "(2, 3)" in message and "(2,)" in message
    assert f"{HERE}:{lines[0]}" in message


def test_lists_are_not_arrays():
    with pytest.raises(TypeError, match=r"fgrad.numpy.add requires arrays .* argument 0 is a list"):
        fnp.add([1, 2], np.ones(2))
    with pytest.raises(TypeError, match="fgrad.numpy.sum"):
        fnp.sum([1.0, 2.0])


def test_lax_dtype_errors_surface_with_the_line():
    line = sys._getframe().f_lineno + 2
    with pytest.raises(TypeError) as excinfo:
        fnp.subtract(np.ones(2, bool), np.ones(2, bool))
    assert "sub" in str(excinfo.value) and f"{HERE}:{line}" in str(excinfo.value)


# -- under jax.jit and jax.vmap --------------------------------------------------------------


def model(m, w, x):
    h = m.tanh(m.matmul(x, w) + 0.5)
    return m.mean((h - 1.0) ** 2, axis=-1) + m.linalg.norm(w) * m.max(h)


def test_jax_jit_and_vmap():
    w, x = operand("f32[3,4]"), operand("f32[5,2,3]")
    expected = model(jnp, w, x)
    np.testing.assert_allclose(jax.jit(lambda w, x: model(fnp, w, x))(w, x), expected,
                               rtol=1e-5)
    batched = jax.vmap(lambda x: model(jnp, w, x))(x)
    np.testing.assert_allclose(jax.vmap(lambda x: model(fnp, w, x))(x), batched, rtol=1e-5)
    jitted = jax.jit(jax.vmap(lambda w, x: model(fnp, w, x), in_axes=(None, 0)))(w, x)
    np.testing.assert_allclose(jitted, batched, rtol=1e-5)


def test_jax_jit_of_a_traced_program():
    def f(x):
        y = x.at[0, 1:].set(x[1, :2] * 2.0)
        return fnp.sum(y[::-1, None] ** 2, axis=(0, 1)), y.T @ x

    x = operand("f32[2,3]")
    program, _, expected = traced(f, [x])
    got = jax.jit(lambda x: eval_program(program, x))(x)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-6)


def test_var_method_and_python_bool_types():
    x = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    program, _ = trace_to_program(lambda a: a.var(axis=1, ddof=1), [x], "make_ir")
    np.testing.assert_allclose(eval_program(program, x)[0], jnp.var(x, axis=1, ddof=1))
    # Python bools are strongly typed in JAX (ints and floats are weak).
    assert fnp.logical_and(True, False).weak_type == jnp.logical_and(True, False).weak_type
    assert fl.bitwise_and(True, False).weak_type is False
