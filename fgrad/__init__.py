"""fgrad: functional automatic differentiation with its own tracer and IR, run by JAX.

    import fgrad, fgrad.numpy as fnp
    print(fgrad.make_ir(lambda x: fnp.tanh(x) @ x)(fnp.ones(3)))
"""

from fgrad import lax as lax
from fgrad import numpy as numpy
from fgrad.api import make_ir as make_ir
from fgrad.core import Program as Program
from fgrad.core import eval_program as eval_program
from fgrad.core.errors import ConcretizationError as ConcretizationError
from fgrad.core.errors import EscapedTracerError as EscapedTracerError
from fgrad.core.errors import FgradError as FgradError
from fgrad.core.errors import MissingRuleError as MissingRuleError
from fgrad.core.errors import ShapeDtypeError as ShapeDtypeError
from fgrad.core.errors import TracerConversionError as TracerConversionError

__version__ = "0.1.0"
