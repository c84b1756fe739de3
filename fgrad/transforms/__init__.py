"""Program-to-program transformations: jvp, partial_eval (linearize), transpose."""

from fgrad.transforms.jvp import jvp_eval, jvp_program
from fgrad.transforms.partial_eval import partial_eval
from fgrad.transforms.transpose import backward_pass, transpose_program
