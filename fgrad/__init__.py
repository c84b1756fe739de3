"""fgrad: functional automatic differentiation with its own tracer and IR, run by JAX.

    import fgrad, fgrad.numpy as fnp
    print(fgrad.make_ir(lambda x: fnp.tanh(x) @ x)(fnp.ones(3)))
"""

import jax as _jax

from fgrad import lax as lax
from fgrad import nn as nn
from fgrad import numpy as numpy
from fgrad import random as random
from fgrad.api import grad as grad
from fgrad.api import hessian as hessian
from fgrad.api import hvp as hvp
from fgrad.api import jacfwd as jacfwd
from fgrad.api import jacrev as jacrev
from fgrad.api import jvp as jvp
from fgrad.api import linearize as linearize
from fgrad.api import make_ir as make_ir
from fgrad.api import value_and_grad as value_and_grad
from fgrad.api import vjp as vjp
from fgrad.api import vmap as vmap
from fgrad.filtered import filter_grad as filter_grad
from fgrad.jax_import import from_jax as from_jax
from fgrad.filtered import filter_jit as filter_jit
from fgrad.filtered import filter_jvp as filter_jvp
from fgrad.filtered import filter_value_and_grad as filter_value_and_grad
from fgrad.filtered import filter_vjp as filter_vjp
from fgrad.filtered import filter_vmap as filter_vmap
from fgrad.filtered import is_array as is_array
from fgrad.filtered import is_inexact_array as is_inexact_array
from fgrad.lax.custom import SymbolicZero as SymbolicZero
from fgrad.lax.custom import custom_jvp as custom_jvp
from fgrad.lax.custom import custom_vjp as custom_vjp
from fgrad.transforms.stop_gradient import no_grad as no_grad
from fgrad.transforms.stop_gradient import stop_gradient as stop_gradient
from fgrad.xla import jit as jit
from fgrad.lax.remat import checkpoint as checkpoint
from fgrad.lax.remat import checkpoint_name as checkpoint_name
from fgrad.lax.remat import checkpoint_policies as checkpoint_policies
from fgrad.lax.remat import remat as remat
from fgrad.lax.debugging import hook as hook
from fgrad.lax.debugging import tag as tag
from fgrad.debug.tags import grad_with_tags as grad_with_tags
from fgrad import debug as debug
from fgrad.core import Program as Program
from fgrad.core import eval_program as eval_program
from fgrad.core.resources import cache_info as cache_info
from fgrad.core.resources import clear_caches as clear_caches
from fgrad.core.errors import ConcretizationError as ConcretizationError
from fgrad.core.errors import EscapedTracerError as EscapedTracerError
from fgrad.core.errors import FgradError as FgradError
from fgrad.core.errors import MissingRuleError as MissingRuleError
from fgrad.core.errors import ShapeDtypeError as ShapeDtypeError
from fgrad.core.errors import StructureError as StructureError
from fgrad.core.errors import TracerConversionError as TracerConversionError

from fgrad.core.errors import missing_attribute as _missing_attribute

# The public API. The subpackages (fgrad.numpy, fgrad.lax, fgrad.random, fgrad.testing) are
# imported by name, not by `from fgrad import *`, which would shadow NumPy's `numpy`.
__all__ = [
    "grad", "value_and_grad", "jacfwd", "jacrev", "hessian", "hvp", "jvp", "vjp", "linearize",
    "vmap", "jit", "stop_gradient", "no_grad", "make_ir", "eval_program", "Program", "FgradError",
    "custom_jvp", "custom_vjp", "SymbolicZero",
    "ConcretizationError", "EscapedTracerError", "MissingRuleError", "ShapeDtypeError",
    "StructureError", "TracerConversionError",
    "checkpoint", "remat", "checkpoint_name", "checkpoint_policies",
    "tag", "grad_with_tags", "hook", "clear_caches", "cache_info",
    "filter_grad", "filter_value_and_grad", "filter_vjp", "filter_jvp", "filter_vmap",
    "filter_jit", "is_array", "is_inexact_array", "from_jax",
]

__version__ = "0.1.0"


def __getattr__(name: str):
    raise _missing_attribute("fgrad", _jax, name, globals())
