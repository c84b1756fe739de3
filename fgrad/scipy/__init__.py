"""fgrad.scipy: SciPy's functions as jax.scipy has them, written with fgrad's primitives, so
every transform of fgrad applies to them: `signal` (convolutions), `special`, `linalg`."""

from fgrad.scipy import linalg as linalg
from fgrad.scipy import signal as signal
from fgrad.scipy import special as special
from fgrad.scipy import stats as stats
