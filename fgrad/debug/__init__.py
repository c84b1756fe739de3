"""fgrad's debugging toolkit (docs/debugging.md).

- `print(fmt, *args)` and `callback(fn, *args)`: printing and host callbacks that run when
  the program runs, under jit, vmap and gradients too.
- `nans()` (a context manager) and `check_nans(True)`: the first equation that produces a
  NaN or an infinity raises `NonFiniteError`, naming the primitive, the pass and your line.
- `saved_residuals(fun)(*args)`: what the backward pass keeps from the forward pass.
- `grad_picture(fun)(*args)`: a Graphviz picture of a gradient, forward, residuals and
  backward coloured apart (`Program.to_dot()` draws any program).

Gradients of intermediate values and backward hooks are `fgrad.tag`, `fgrad.grad_with_tags`
and `fgrad.hook`.
"""

from fgrad.debug.nans import NonFiniteError as NonFiniteError
from fgrad.debug.nans import check_nans as check_nans
from fgrad.debug.nans import nans as nans
from fgrad.debug.nans import nans_enabled as nans_enabled
from fgrad.debug.printing import callback as callback
from fgrad.debug.printing import print as print  # noqa: A004 (jax.debug.print's name)
from fgrad.debug.residuals import grad_picture as grad_picture
from fgrad.debug.residuals import print_saved_residuals as print_saved_residuals
from fgrad.debug.residuals import saved_residuals as saved_residuals
from fgrad.debug.tags import TagError as TagError
from fgrad.debug.tags import grad_with_tags as grad_with_tags
from fgrad.lax.debugging import HookError as HookError
