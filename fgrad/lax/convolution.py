"""Convolution: `conv_general_dilated`, the one primitive behind every n-d convolution
(`conv`, `conv_with_general_padding`, `conv_transpose`, fgrad.scipy.signal, convolutional
layers).

What it computes (XLA's Conv, spelled out in the canonical layout lhs (N, C, *spatial), rhs
(O, I, *spatial), out (N', O, *spatial'); `dimension_numbers` say where each of those axes
really is): along each spatial axis the lhs is dilated (`lhs_dilation - 1` zeros between
elements), then padded by (lo, hi) (negative padding crops), and the dilated kernel
(`rhs_dilation`) slides over it with `window_strides`, taking sums of products, a
correlation (the kernel is not flipped):

    out[n, o, i] = sum_{c, m} lhs_padded[n, c, i * stride + m * rhs_dilation] * rhs[o, c, m]

With `feature_group_count` G the features C = G * I split into G groups, each seen by O / G
of the kernel's outputs; with `batch_group_count` B the batch N = B * N' splits into B
groups, each summed into O / B of the outputs (the batch shrinks to N'). Groups are the
major part of an axis. The params are canonical: explicit (lo, hi) padding, tuples of ints
and a `ConvDimensionNumbers` of int tuples (the public functions turn 'SAME' and
('NHWC', 'HWIO', 'NHWC') into those).

The convolution is bilinear, so its JVP is conv(dlhs, rhs) + conv(lhs, drhs), and each
transpose is another convolution (derived at `_lhs_cotangent` and `_rhs_cotangent`):
strides and dilations trade places, the padding is recomputed so the shapes come back, and
the groups move from one axis to another. Batching folds the vmapped axis into the batch
or feature axis (a grouped convolution when both operands carry it), so a vmapped
convolution is one convolution.
"""

from __future__ import annotations

import operator

import numpy as np
from jax import dtypes as jdt
from jax import lax

from fgrad.core import Aval, Primitive, Zero, aval_of
from fgrad.core.errors import ShapeDtypeError, at_user_line
from fgrad.lax._ad import defjvp, is_undefined
from fgrad.lax._rules import as_int, as_ints, check_available, fail, user_dtype
from fgrad.lax.elementwise import convert_element_type
from fgrad.lax.linalg import _precision, _precision_is_canonical
from fgrad.lax.shapes import full, reshape, rev, transpose
from fgrad.transforms.rules import batch_rules, transpose_rules

# jax.lax's own NamedTuple: (lhs_spec, rhs_spec, out_spec), each (batch or out-feature axis,
# feature or in-feature axis, spatial axes...).
ConvDimensionNumbers = lax.ConvDimensionNumbers

_NAME = "conv_general_dilated"

# -- shape arithmetic ------------------------------------------------------------------------


def _dilated(size: int, dilation: int) -> int:
    """The size of an axis of `size` elements with `dilation - 1` zeros between them."""
    return 0 if size == 0 else (size - 1) * dilation + 1


def _windows(size: int, window: int, stride: int) -> int:
    """How many windows of `window` elements fit in `size` at `stride` (XLA's formula,
    which a window of size 0 also follows)."""
    return max((size - window) // stride + 1, 0)


def _spatial(shape: tuple, spec: tuple) -> tuple:
    return tuple(shape[d] for d in spec[2:])


# -- the shape rule --------------------------------------------------------------------------


def _check_numbers(avals, dimension_numbers, ndim: int) -> None:
    if not (isinstance(dimension_numbers, tuple) and len(dimension_numbers) == 3):
        raise fail(_NAME, avals, f"dimension_numbers must be a ConvDimensionNumbers (lhs_spec, "
                   f"rhs_spec, out_spec), not {dimension_numbers!r}",
                   "Build it with fgrad.lax.conv_dimension_numbers.")
    for which, spec in zip(("lhs_spec", "rhs_spec", "out_spec"), dimension_numbers):
        if (not isinstance(spec, tuple) or any(type(d) is not int for d in spec)
                or sorted(spec) != list(range(ndim))):
            raise fail(_NAME, avals, f"dimension_numbers.{which} {spec!r} must order the "
                       f"{ndim} axes of a rank-{ndim} array (a permutation of 0..{ndim - 1})",
                       "Build it with fgrad.lax.conv_dimension_numbers.")


def _check_window_ints(avals, values, what: str, n: int) -> None:
    if not isinstance(values, tuple) or len(values) != n:
        raise fail(_NAME, avals, f"{what} {values!r} must hold one integer per spatial "
                   f"dimension ({n})")
    for v in values:
        if type(v) is not int or v < 1:
            raise fail(_NAME, avals, f"{what} {values} must hold positive integers, but it "
                       f"holds {v!r}")


def _check_padding(avals, padding, n: int) -> None:
    if (not isinstance(padding, tuple) or len(padding) != n
            or any(not isinstance(p, tuple) or len(p) != 2
                   or any(type(v) is not int for v in p) for p in padding)):
        raise fail(_NAME, avals, f"padding {padding!r} must hold one (low, high) pair of "
                   f"integers per spatial dimension ({n})",
                   "fgrad.lax.conv_general_dilated also takes 'SAME', 'SAME_LOWER' or 'VALID'.")


def _check_groups(avals, lhs_shape, rhs_shape, numbers, feature_groups, batch_groups) -> None:
    lhs_spec, rhs_spec, _ = numbers
    for what, count in (("feature_group_count", feature_groups),
                        ("batch_group_count", batch_groups)):
        if type(count) is not int or count < 1:
            raise fail(_NAME, avals, f"{what} must be a positive integer, not {count!r}")
    if feature_groups > 1 and batch_groups > 1:
        raise fail(_NAME, avals, f"feature_group_count ({feature_groups}) and "
                   f"batch_group_count ({batch_groups}) are both above 1",
                   "At most one of them may be.")
    features, batch = lhs_shape[lhs_spec[1]], lhs_shape[lhs_spec[0]]
    kernel_in, kernel_out = rhs_shape[rhs_spec[1]], rhs_shape[rhs_spec[0]]
    if features % feature_groups or features // feature_groups != kernel_in:
        raise fail(_NAME, avals, f"the lhs has {features} features (axis {lhs_spec[1]}), which "
                   f"must be feature_group_count ({feature_groups}) times the kernel's input "
                   f"features ({kernel_in}, axis {rhs_spec[1]})")
    if batch % batch_groups:
        raise fail(_NAME, avals, f"batch_group_count ({batch_groups}) must divide the lhs batch "
                   f"size ({batch}, axis {lhs_spec[0]})")
    for what, count in (("feature_group_count", feature_groups),
                        ("batch_group_count", batch_groups)):
        if kernel_out % count:
            raise fail(_NAME, avals, f"the kernel's output features ({kernel_out}, axis "
                       f"{rhs_spec[0]}) must be a multiple of {what} ({count})")


def _out_dtype(lhs, rhs, preferred) -> np.dtype:
    """JAX's rule: equal operand dtypes; a preferred_element_type of the same kind (or a
    float for integers), as signed as the input and no narrower."""
    avals = [lhs, rhs]
    if lhs.dtype != rhs.dtype:
        raise fail(_NAME, avals, "the dtypes differ",
                   "Convert with fgrad.lax.convert_element_type, or use fgrad.scipy.signal, "
                   "which promotes.")
    if preferred is None:
        return lhs.dtype
    check_available(_NAME, avals, preferred, "preferred_element_type")
    given = lhs.dtype
    integer_to_float = (jdt.issubdtype(given, np.integer)
                        and jdt.issubdtype(preferred, np.floating))
    if not integer_to_float:
        for kind in (np.integer, np.floating, np.complexfloating):
            if jdt.issubdtype(given, kind) and not jdt.issubdtype(preferred, kind):
                raise fail(_NAME, avals, f"preferred_element_type {preferred.name} does not fit "
                           f"{given.name} operands", "Integers accumulate in integers or "
                           "floats, floats in floats, complex numbers in complex numbers.")
        if (jdt.issubdtype(given, np.signedinteger)
                and not jdt.issubdtype(preferred, np.signedinteger)):
            raise fail(_NAME, avals, f"preferred_element_type {preferred.name} is unsigned but "
                       f"the operands ({given.name}) are signed")
    if preferred.itemsize < given.itemsize:
        raise fail(_NAME, avals, f"preferred_element_type {preferred.name} is narrower than "
                   f"the operands' {given.name}", "Ask for a type at least as wide.")
    return preferred


def _conv_abstract_eval(lhs, rhs, *, window_strides, padding, lhs_dilation, rhs_dilation,
                        dimension_numbers, feature_group_count, batch_group_count, precision,
                        preferred_element_type):
    avals = [lhs, rhs]
    if lhs.ndim != rhs.ndim or lhs.ndim < 2:
        raise fail(_NAME, avals, "lhs and rhs must have the same rank, at least 2 (a batch and "
                   "a feature axis, then the spatial axes)")
    n = lhs.ndim - 2
    _check_numbers(avals, dimension_numbers, lhs.ndim)
    _check_window_ints(avals, window_strides, "window_strides", n)
    _check_window_ints(avals, lhs_dilation, "lhs_dilation", n)
    _check_window_ints(avals, rhs_dilation, "rhs_dilation", n)
    _check_padding(avals, padding, n)
    _check_groups(avals, lhs.shape, rhs.shape, dimension_numbers, feature_group_count,
                  batch_group_count)
    if not _precision_is_canonical(precision):
        raise fail(_NAME, avals, f"precision {precision!r} is not a precision",
                   "Use None, a jax.lax.Precision or its name, or a pair of them.")
    dtype = _out_dtype(lhs, rhs, preferred_element_type)
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    spatial = []
    for i, (size, k, (lo, hi), s, ld, rd) in enumerate(zip(
            _spatial(lhs.shape, lhs_spec), _spatial(rhs.shape, rhs_spec), padding,
            window_strides, lhs_dilation, rhs_dilation)):
        padded = _dilated(size, ld) + lo + hi
        if padded < 0:
            raise fail(_NAME, avals, f"padding {(lo, hi)} of spatial dimension {i} crops more "
                       f"than its {_dilated(size, ld)} elements (lhs axis {lhs_spec[2 + i]}, "
                       f"after lhs_dilation)")
        spatial.append(_windows(padded, _dilated(k, rd), s))
    canonical = (lhs.shape[lhs_spec[0]] // batch_group_count, rhs.shape[rhs_spec[0]], *spatial)
    shape = [0] * lhs.ndim
    for axis, size in zip(out_spec, canonical):
        shape[axis] = size
    return Aval(tuple(shape), dtype, lhs.weak_type and rhs.weak_type)


def _conv_lower(lhs, rhs, *, window_strides, padding, lhs_dilation, rhs_dilation,
                dimension_numbers, feature_group_count, batch_group_count, precision,
                preferred_element_type):
    return lax.conv_general_dilated(
        lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
        ConvDimensionNumbers(*dimension_numbers), feature_group_count, batch_group_count,
        precision=precision, preferred_element_type=preferred_element_type)


conv_general_dilated_p = Primitive(_NAME, _conv_abstract_eval, _conv_lower)

# -- JVP: bilinear ---------------------------------------------------------------------------


def _lhs_term(t, ans, lhs, rhs, **params):
    return conv_general_dilated_p.bind1(t, rhs, **params)


def _rhs_term(t, ans, lhs, rhs, **params):
    return conv_general_dilated_p.bind1(lhs, t, **params)


defjvp(conv_general_dilated_p, _lhs_term, _rhs_term)

# -- transposes ------------------------------------------------------------------------------
# Reading the two transposes: along one spatial axis, without features, the convolution
# pairs lhs element j with kernel element m in output i exactly when
#
#     ld * j + lo == s * i + rd * m        (ld, rd: lhs and rhs dilation; s: stride)
#
# and every transpose sums over the same pairs, so it is a convolution too once the
# equation is read with the unknown operand as the output.


def _split_axis(x, axis: int, groups: int):
    """x with `axis` (of size groups * r) split into two axes (groups, r), groups first."""
    shape = aval_of(x).shape
    return reshape(x, (*shape[:axis], groups, shape[axis] // groups, *shape[axis + 1:]))


def _fold(x, src: int, dst: int, groups: int = 1):
    """x with axis `src` folded into axis `dst` (numbered as if `src` were gone). The merged
    axis is indexed (src, dst) when groups is 1; with groups, dst's elements are `groups`
    groups and src goes inside each group: (group, src, rest of dst)."""
    ndim = aval_of(x).ndim
    order = [i for i in range(ndim) if i != src]
    order.insert(dst, src)
    if order != list(range(ndim)):
        x = transpose(x, order)
    shape = aval_of(x).shape
    a, m = shape[dst], shape[dst + 1]
    if groups > 1:
        x = reshape(x, (*shape[:dst], a, groups, m // groups, *shape[dst + 2:]))
        swap = list(range(ndim + 1))
        swap[dst], swap[dst + 1] = dst + 1, dst
        x = transpose(x, swap)
    return reshape(x, (*shape[:dst], a * m, *shape[dst + 2:]))


def _unfold(x, axis: int, size: int, groups: int = 1):
    """`_fold`'s inverse: x's `axis`, indexed (group, example, rest), as a new axis of
    `size` examples at `axis`, followed by the remaining (group, rest) axis."""
    shape = aval_of(x).shape
    rest = shape[axis] // (groups * size)
    if groups == 1:
        return reshape(x, (*shape[:axis], size, rest, *shape[axis + 1:]))
    x = reshape(x, (*shape[:axis], groups, size, rest, *shape[axis + 1:]))
    order = list(range(len(shape) + 2))
    order[axis], order[axis + 1] = axis + 1, axis
    x = transpose(x, order)
    return reshape(x, (*shape[:axis], size, groups * rest, *shape[axis + 1:]))


def _swap_first_two(spec: tuple) -> tuple:
    return (spec[1], spec[0], *spec[2:])


def _lhs_cotangent(ct, rhs, lhs_aval: Aval, *, window_strides, padding, lhs_dilation,
                   rhs_dilation, dimension_numbers, feature_group_count, batch_group_count,
                   precision, preferred_element_type):
    # Solving ld*j + lo == s*i + rd*m for the lhs index j: the cotangent, dilated by the
    # stride s, is convolved with the reversed kernel (m -> K-1-m) at stride ld and kernel
    # dilation rd, padded low by the dilated kernel's size - 1 - lo; the high padding is
    # whatever brings the result back to the lhs's length. Features: the kernel's input
    # and output roles swap, and groups move with them (below).
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    groups = max(feature_group_count, batch_group_count)  # at most one is above 1
    if groups > 1:
        # The kernel (O = groups * o, I) must become (groups * I outputs, o inputs): the
        # group index moves from its output axis to its input axis.
        rhs = _fold(_split_axis(rhs, rhs_spec[0], groups), rhs_spec[0], rhs_spec[1])
    rhs = rev(rhs, rhs_spec[2:])
    if aval_of(rhs).dtype != aval_of(ct).dtype:  # a preferred_element_type widened ct
        rhs = convert_element_type(rhs, aval_of(ct).dtype)
    pads = []
    for x, k, y, s, (lo, _), ld, rd in zip(
            _spatial(lhs_aval.shape, lhs_spec), _spatial(aval_of(rhs).shape, rhs_spec),
            _spatial(aval_of(ct).shape, out_spec), window_strides, padding, lhs_dilation,
            rhs_dilation):
        k_dilated = _dilated(k, rd)
        low = k_dilated - 1 - lo
        pads.append((low, _dilated(x, ld) + k_dilated - 1 - _dilated(y, s) - low))
    out = conv_general_dilated_p.bind1(
        ct, rhs, window_strides=lhs_dilation, padding=tuple(pads), lhs_dilation=window_strides,
        rhs_dilation=rhs_dilation,
        dimension_numbers=ConvDimensionNumbers(out_spec, _swap_first_two(rhs_spec), lhs_spec),
        feature_group_count=groups, batch_group_count=1, precision=precision,
        preferred_element_type=None)
    if batch_group_count > 1:
        # The result's features are (batch group, feature): the groups go back to the batch.
        out = _fold(_split_axis(out, lhs_spec[1], batch_group_count), lhs_spec[1], lhs_spec[0])
    if aval_of(out).dtype != lhs_aval.dtype:
        out = convert_element_type(out, lhs_aval.dtype, weak_type=lhs_aval.weak_type)
    return out


def _rhs_cotangent(ct, lhs, rhs_aval: Aval, *, window_strides, padding, lhs_dilation,
                   rhs_dilation, dimension_numbers, feature_group_count, batch_group_count,
                   precision, preferred_element_type):
    # Solving ld*j + lo == s*i + rd*m for the kernel index m: the lhs (dilated by ld, padded
    # low by lo) is convolved with the cotangent dilated by the stride s, at stride rd; the
    # high padding again brings the result to the kernel's length. Features: the lhs's
    # batch axis is contracted (it plays the feature axis), its feature axis becomes the
    # result's batch axis (the kernel's inputs), the cotangent's features its outputs. A
    # feature grouping becomes a batch grouping and the other way round.
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    if aval_of(lhs).dtype != aval_of(ct).dtype:
        lhs = convert_element_type(lhs, aval_of(ct).dtype)
    pads = []
    for x, k, y, s, (lo, _), ld, rd in zip(
            _spatial(aval_of(lhs).shape, lhs_spec), _spatial(rhs_aval.shape, rhs_spec),
            _spatial(aval_of(ct).shape, out_spec), window_strides, padding, lhs_dilation,
            rhs_dilation):
        pads.append((lo, _dilated(y, s) - _dilated(x, ld) + _dilated(k, rd) - 1 - lo))
    numbers = ConvDimensionNumbers(_swap_first_two(lhs_spec), _swap_first_two(out_spec),
                                   _swap_first_two(rhs_spec))
    out = conv_general_dilated_p.bind1(
        lhs, ct, window_strides=rhs_dilation, padding=tuple(pads), lhs_dilation=lhs_dilation,
        rhs_dilation=window_strides, dimension_numbers=numbers,
        feature_group_count=batch_group_count, batch_group_count=feature_group_count,
        precision=precision, preferred_element_type=None)
    if aval_of(out).dtype != rhs_aval.dtype:
        out = convert_element_type(out, rhs_aval.dtype, weak_type=rhs_aval.weak_type)
    return out


def _conv_transpose_rule(ct, lhs, rhs, **params):
    if is_undefined(lhs) and is_undefined(rhs):
        raise TypeError("conv_general_dilated is linear in one operand at a time; the program "
                        "being transposed convolves two linear values")
    if is_undefined(lhs):
        if 0 in aval_of(ct).shape or 0 in lhs.aval.shape:
            return [Zero(lhs.aval), None]  # nothing flows back: no degenerate convolution
        return [_lhs_cotangent(ct, rhs, lhs.aval, **params), None]
    if 0 in aval_of(ct).shape or 0 in rhs.aval.shape:
        return [None, Zero(rhs.aval)]
    return [None, _rhs_cotangent(ct, lhs, rhs.aval, **params)]


transpose_rules.define(conv_general_dilated_p, _conv_transpose_rule)

# -- batching --------------------------------------------------------------------------------


def _conv_batch(axis_size, values, dims, **params):
    (lhs, rhs), (lhs_dim, rhs_dim) = values, dims
    lhs_spec, rhs_spec, out_spec = params["dimension_numbers"]
    feature_groups, batch_groups = params["feature_group_count"], params["batch_group_count"]
    if axis_size == 0:  # nothing to fold an empty axis into: the empty result directly
        one = [Aval(tuple(n for i, n in enumerate(aval_of(x).shape) if i != d),
                    aval_of(x).dtype, aval_of(x).weak_type) if d is not None else aval_of(x)
               for x, d in zip(values, dims)]
        aval = _conv_abstract_eval(*one, **params)
        return full((0, *aval.shape), 0, aval.dtype, weak_type=aval.weak_type), 0
    if lhs_dim is not None and rhs_dim is not None:
        # Each example its own group: the examples become more groups of the same kind.
        if batch_groups > 1:
            lhs = _fold(lhs, lhs_dim, lhs_spec[0])
            batch_groups *= axis_size
        else:
            lhs = _fold(lhs, lhs_dim, lhs_spec[1])
            feature_groups *= axis_size
        rhs = _fold(rhs, rhs_dim, rhs_spec[0])
        axis, groups = out_spec[1], 1
    elif lhs_dim is not None:
        # More images: more batch (inside each batch group, so the groups stay whole).
        lhs = _fold(lhs, lhs_dim, lhs_spec[0], batch_groups)
        axis, groups = out_spec[0], 1
    else:
        # More kernels: more output features (inside each group).
        groups = max(feature_groups, batch_groups)
        rhs = _fold(rhs, rhs_dim, rhs_spec[0], groups)
        axis = out_spec[1]
    params = dict(params, feature_group_count=feature_groups, batch_group_count=batch_groups)
    out = conv_general_dilated_p.bind1(lhs, rhs, **params)
    return _unfold(out, axis, axis_size, groups), axis


batch_rules.define(conv_general_dilated_p, _conv_batch)

# -- the functions users call (jax.lax signatures) -------------------------------------------


def _user_error(message: str) -> ShapeDtypeError:
    return ShapeDtypeError(at_user_line(f"fgrad.lax.{message}"))


def conv_dimension_numbers(lhs_shape, rhs_shape, dimension_numbers) -> ConvDimensionNumbers:
    """`dimension_numbers` (None, a ConvDimensionNumbers, or three strings such as
    ('NHWC', 'HWIO', 'NHWC')) as a ConvDimensionNumbers of axis numbers, for operands of
    shapes `lhs_shape` and `rhs_shape`.

    In the strings, 'N' is the batch axis and 'C' the feature axis of the input and the
    output, 'O' and 'I' the kernel's output and input features, and any other letter a
    spatial axis, matched across the three strings by letter; the spatial axes are ordered
    as the kernel's string lists them (window strides, padding and dilations follow that
    order). None means ('NC...', 'OI...', 'NC...'): the axes in order.
    """
    if isinstance(dimension_numbers, ConvDimensionNumbers):
        return ConvDimensionNumbers(*(as_ints(spec) for spec in dimension_numbers))
    ndim = len(lhs_shape)
    if ndim != len(rhs_shape):
        raise _user_error(f"conv_dimension_numbers: lhs and rhs must have the same rank, not "
                          f"{len(lhs_shape)} and {len(rhs_shape)} (shapes {tuple(lhs_shape)} "
                          f"and {tuple(rhs_shape)})")
    if dimension_numbers is None:
        axes = tuple(range(ndim))
        return ConvDimensionNumbers(axes, axes, axes)
    if (not isinstance(dimension_numbers, (tuple, list)) or len(dimension_numbers) != 3
            or not all(isinstance(s, str) for s in dimension_numbers)):
        raise _user_error(f"conv_dimension_numbers: dimension_numbers must be None, a "
                          f"ConvDimensionNumbers or three strings such as ('NCHW', 'OIHW', "
                          f"'NCHW'), not {dimension_numbers!r}")
    lhs, rhs, out = dimension_numbers
    for which, spec, pair in (("lhs", lhs, "NC"), ("rhs", rhs, "OI"), ("out", out, "NC")):
        if len(spec) != ndim:
            raise _user_error(f"conv_dimension_numbers: the {which} string {spec!r} must name "
                              f"the {ndim} axes of the operands (shapes {tuple(lhs_shape)} and "
                              f"{tuple(rhs_shape)}), one letter each")
        if len(set(spec)) != len(spec) or any(spec.count(c) != 1 for c in pair):
            raise _user_error(f"conv_dimension_numbers: the {which} string {spec!r} must hold "
                              f"'{pair[0]}' and '{pair[1]}' once each and no letter twice")
    spatial = [c for c in rhs if c not in "OI"]
    if not set(lhs) - set("NC") == set(out) - set("NC") == set(spatial):
        raise _user_error(f"conv_dimension_numbers: the strings {tuple(dimension_numbers)} must "
                          f"name the same spatial axes (every letter but N, C, O and I)")

    def spec(string: str, first: str, second: str) -> tuple:
        return (string.index(first), string.index(second), *(string.index(c) for c in spatial))

    return ConvDimensionNumbers(spec(lhs, "N", "C"), spec(rhs, "O", "I"), spec(out, "N", "C"))


def _string_padding(padding: str, lhs_spatial, window, strides) -> tuple:
    """'VALID': none. 'SAME' / 'SAME_LOWER': enough that a stride-s convolution has
    ceil(size / s) outputs, split evenly, an odd one out at the end (SAME) or at the start
    (SAME_LOWER)."""
    kind = padding.upper()
    if kind == "VALID":
        return ((0, 0),) * len(window)
    if kind not in ("SAME", "SAME_LOWER"):
        raise _user_error(f"{_NAME}: padding must be 'SAME', 'SAME_LOWER', 'VALID' or (low, "
                          f"high) pairs, not {padding!r}")
    pads = []
    for size, k, s in zip(lhs_spatial, window, strides):
        total = max((-(-size // s) - 1) * s + k - size, 0)
        small, large = total // 2, total - total // 2
        pads.append((small, large) if kind == "SAME" else (large, small))
    return tuple(pads)


def _window_ints(values, n: int):
    return (1,) * n if values is None else as_ints(values)


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                         batch_group_count=1, precision=None, preferred_element_type=None,
                         out_sharding=None):
    """The general n-d convolution (XLA's Conv); see the module's docstring for what it
    computes.

    Arguments:
      lhs, rhs: the input and the kernel, of equal rank n + 2.
      window_strides: n positive integers.
      padding: 'SAME', 'SAME_LOWER' or 'VALID', or n (low, high) pairs of integers
        (negative ones crop).
      lhs_dilation, rhs_dilation: n positive integers each, or None for ones. A dilated lhs
        is a transposed convolution, and needs explicit padding.
      dimension_numbers: None, a ConvDimensionNumbers, or three strings such as
        ('NHWC', 'HWIO', 'NHWC'); see `conv_dimension_numbers`.
      feature_group_count, batch_group_count: how many groups the input's features (or its
        batch) split into; at most one of them above 1.
      precision, preferred_element_type: as in jax.lax.
      out_sharding: not supported; must be None (fgrad's types carry no sharding).

    Returns:
      The convolution, with JAX's shape, dtype and weak type.
    """
    if out_sharding is not None:
        raise NotImplementedError(at_user_line(
            f"fgrad.lax.{_NAME}: out_sharding is not supported (fgrad's avals carry no "
            f"sharding). Leave it None, and reshard the result with jax.sharding.reshard."))
    lhs_shape, rhs_shape = aval_of(lhs).shape, aval_of(rhs).shape
    numbers = conv_dimension_numbers(lhs_shape, rhs_shape, dimension_numbers)
    n = len(lhs_shape) - 2
    strides = as_ints(window_strides)
    lhs_dilation = _window_ints(lhs_dilation, n)
    rhs_dilation = _window_ints(rhs_dilation, n)
    if isinstance(padding, str):
        if any(d != 1 for d in lhs_dilation):
            raise _user_error(f"{_NAME}: padding {padding!r} cannot be worked out for a dilated "
                              f"lhs (lhs_dilation {lhs_dilation}, a transposed convolution). "
                              f"Give explicit (low, high) pairs, or use "
                              f"fgrad.lax.conv_transpose.")
        valid = (len(strides) == n == len(rhs_dilation) == len(numbers.rhs_spec) - 2
                 and all(type(v) is int and v >= 1 for v in strides + rhs_dilation))
        if valid:  # otherwise the shape rule names what is wrong
            window = [_dilated(k, d) for k, d in
                      zip(_spatial(rhs_shape, numbers.rhs_spec), rhs_dilation)]
            padding = _string_padding(padding, _spatial(lhs_shape, numbers.lhs_spec), window,
                                      strides)
    else:
        try:
            padding = tuple((operator.index(lo), operator.index(hi)) for lo, hi in padding)
        except (TypeError, ValueError):
            raise _user_error(f"{_NAME}: padding must be a string or a sequence of (low, high) "
                              f"integer pairs, not {padding!r}") from None
    preferred = None if preferred_element_type is None else user_dtype(preferred_element_type)
    return conv_general_dilated_p.bind1(
        lhs, rhs, window_strides=strides, padding=padding, lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation, dimension_numbers=numbers,
        feature_group_count=as_int(feature_group_count),
        batch_group_count=as_int(batch_group_count), precision=_precision(precision),
        preferred_element_type=preferred)


def conv(lhs, rhs, window_strides, padding, precision=None, preferred_element_type=None):
    """`conv_general_dilated` in the layouts (N, C, *spatial) and (O, I, *spatial), without
    dilation or groups; padding 'SAME', 'SAME_LOWER', 'VALID' or (low, high) pairs."""
    return conv_general_dilated(lhs, rhs, window_strides, padding, precision=precision,
                                preferred_element_type=preferred_element_type)


def conv_with_general_padding(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                              precision=None, preferred_element_type=None):
    """`conv_general_dilated` in the layouts (N, C, *spatial) and (O, I, *spatial), with
    dilations and without groups."""
    return conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation,
                                rhs_dilation=rhs_dilation, precision=precision,
                                preferred_element_type=preferred_element_type)


def _transpose_padding(k: int, s: int, padding) -> tuple[int, int]:
    """The explicit padding of a transposed convolution whose forward convolution (kernel
    size k after dilation, stride s) had `padding` ('SAME', 'VALID' or a (low, high) pair):
    the output is then as long as that forward convolution's input (Keras' convention)."""
    if padding == "SAME":
        total = k + s - 2
        low = k - 1 if s > k - 1 else -(-total // 2)
    elif padding == "VALID":
        total = k + s - 2 + max(k - s, 0)
        low = k - 1
    elif isinstance(padding, tuple) and len(padding) == 2 and all(type(p) is int
                                                                   for p in padding):
        low, high = (k - 1 - p for p in padding)
        total = low + high
    else:
        raise _user_error(f"conv_transpose: padding {padding!r} must be 'SAME', 'VALID' or "
                          f"(low, high) pairs of integers")
    return low, total - low


def conv_transpose(lhs, rhs, strides, padding, rhs_dilation=None, dimension_numbers=None,
                   transpose_kernel: bool = False, precision=None, preferred_element_type=None,
                   use_consistent_padding: bool = False):
    """A transposed ("fractionally strided") convolution: the lhs is dilated by `strides`
    and convolved at stride 1, as jax.lax.conv_transpose.

    Arguments:
      lhs, rhs: the input and the kernel; the layouts default to ('NC', 'IO', 'NC'),
        ('NHC', 'HIO', 'NHC'), ('NHWC', 'HWIO', 'NHWC') or ('NHWDC', 'HWDIO', 'NHWDC').
      strides: n integers, the forward convolution's strides.
      padding: 'SAME' or 'VALID' (the forward convolution's padding), or (low, high) pairs:
        the transposed convolution's own, unless `use_consistent_padding`, which reads them
        as the forward convolution's too (PyTorch's convention).
      rhs_dilation: n integers or None.
      transpose_kernel: flip the kernel's spatial axes and swap its input and output
        features, so the result is the gradient of the forward convolution.

    Returns:
      The transposed convolution.
    """
    lhs_shape, rhs_shape = aval_of(lhs).shape, aval_of(rhs).shape
    ndim = len(lhs_shape)
    if ndim != len(rhs_shape) or ndim < 2:
        raise _user_error(f"conv_transpose: lhs and rhs must have the same rank, at least 2, "
                          f"not shapes {lhs_shape} and {rhs_shape}")
    if dimension_numbers is None:
        defaults = {2: ("NC", "IO", "NC"), 3: ("NHC", "HIO", "NHC"),
                    4: ("NHWC", "HWIO", "NHWC"), 5: ("NHWDC", "HWDIO", "NHWDC")}
        if ndim not in defaults:
            raise _user_error(f"conv_transpose: there is no default layout for rank {ndim}: "
                              f"give dimension_numbers")
        dimension_numbers = defaults[ndim]
    numbers = conv_dimension_numbers(lhs_shape, rhs_shape, dimension_numbers)
    strides = as_ints(strides)
    n = ndim - 2
    rhs_dilation = _window_ints(rhs_dilation, n)
    if use_consistent_padding or (isinstance(padding, str) and padding in ("SAME", "VALID")):
        kernel = [_dilated(k, d) for k, d in
                  zip(_spatial(rhs_shape, numbers.rhs_spec), rhs_dilation)]
        each = [padding] * len(strides) if isinstance(padding, str) else list(padding)
        if len(each) != len(strides) or len(kernel) != len(strides):
            raise _user_error(f"conv_transpose: strides {strides} and padding {padding!r} must "
                              f"have one entry per spatial dimension ({n})")
        pads = tuple(_transpose_padding(k, s, p if isinstance(p, str) else as_ints(p))
                     for k, s, p in zip(kernel, strides, each))
    else:
        pads = padding
    if transpose_kernel:
        spec = numbers.rhs_spec
        rhs = rev(rhs, spec[2:])
        order = list(range(ndim))
        order[spec[0]], order[spec[1]] = spec[1], spec[0]
        rhs = transpose(rhs, order)
    return conv_general_dilated(lhs, rhs, (1,) * n, pads, strides, rhs_dilation, numbers,
                                precision=precision,
                                preferred_element_type=preferred_element_type)
