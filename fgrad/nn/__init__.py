"""fgrad.nn: jax.nn's functions on fgrad's traced values: activations, softmax and its
relatives, one_hot, attention, and `fgrad.nn.initializers`.

    import fgrad, fgrad.nn as fnn
    fgrad.grad(lambda x: fnn.softmax(x)[0])(x)

Every function is written with fgrad.numpy and fgrad.lax, so it works eagerly, under
fgrad's transformations and under jax.jit, and agrees with jax.nn in values, dtypes and
weak types, and in the derivatives JAX chooses at kinks (relu'(0) = 0).
"""

import jax.nn as _jax_nn

from fgrad.core.errors import missing_attribute as _missing_attribute
from fgrad.nn import initializers as initializers
from fgrad.nn import _activations, _attention, _encoding, _scaled, _softmax
from fgrad.nn._activations import *  # noqa: F401,F403
from fgrad.nn._attention import *  # noqa: F401,F403
from fgrad.nn._encoding import *  # noqa: F401,F403
from fgrad.nn._scaled import *  # noqa: F401,F403
from fgrad.nn._softmax import *  # noqa: F401,F403
from fgrad.numpy import tanh as tanh

__all__ = sorted(["initializers", "tanh"] + [
    name for module in (_activations, _attention, _encoding, _scaled, _softmax)
    for name in module.__all__])


def __getattr__(name: str):
    raise _missing_attribute("fgrad.nn", _jax_nn, name, globals())
