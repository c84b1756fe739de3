"""Program-to-program transformations: jvp, partial_eval (linearize), transpose, batch."""

from fgrad.transforms.jvp import jvp_eval, jvp_program
from fgrad.transforms.partial_eval import partial_eval
from fgrad.transforms.transpose import backward_pass, transpose_program
from fgrad.transforms.batch import batch_eval, batch_program
