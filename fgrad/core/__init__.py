"""fgrad's core: the IR, primitives, tracing, the evaluator and the printer."""

from fgrad.core.dtypes import aval_of
from fgrad.core.errors import (
    ConcretizationError, EscapedTracerError, FgradError, MissingRuleError, ShapeDtypeError,
    Source, StructureError, TracerConversionError,
)
from fgrad.core.evaluate import eval_program
from fgrad.core.interpret import interpret, walk
from fgrad.core.ir import Atom, Aval, Eqn, Literal, Program, Var
from fgrad.core.primitive import Primitive
from fgrad.core.rules import RuleTable
from fgrad.core.trace import (
    EVAL_TRACE, StagingTrace, Tracer, current_trace, has_tracers, source_of, staging,
    trace_to_program, use_trace,
)
from fgrad.core.typecheck import typecheck
from fgrad.core.zeros import UndefinedPrimal, Zero, is_differentiable, tangent_aval
