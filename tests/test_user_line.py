"""Which code is the user's, for the "(at file:line)" that fgrad's errors end with: not
fgrad's, not its libraries' (JAX, jaxlib, NumPy, Equinox), not the standard library's; but a
package installed in site-packages is the user's, wherever site-packages lives."""

import functools
import importlib.util
import os
import sysconfig

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.core import errors
from fgrad.core.errors import FgradError, ProgramTypeError, ShapeDtypeError, _is_user_file

STDLIB = sysconfig.get_paths()["stdlib"]
SITE_PACKAGES = sysconfig.get_paths()["purelib"]


@pytest.mark.parametrize("path", [
    os.path.join(SITE_PACKAGES, "my_models", "mlp.py"),
    # Where a venv or a Python built from source keeps it, and Debian's name for it.
    os.path.join(STDLIB, "site-packages", "my_models", "mlp.py"),
    os.path.join(STDLIB, "dist-packages", "my_models", "mlp.py"),
    "/usr/lib/python3/dist-packages/my_models/mlp.py",
    os.path.abspath(__file__),
    "<stdin>",
])
def test_installed_packages_scripts_and_tests_are_the_users(path):
    assert _is_user_file(path)


@pytest.mark.parametrize("path", [
    functools.__file__, os.__file__, os.path.join(STDLIB, "contextlib.py"),
    "<frozen importlib._bootstrap>",
    jax.__file__, jnp.__file__, np.__file__, fgrad.__file__, fnp.__file__, errors.__file__,
])
def test_fgrad_its_libraries_and_the_standard_library_are_not(path):
    assert not _is_user_file(path)


@pytest.mark.parametrize("package", ["jaxlib", "equinox"])
def test_jaxlib_and_equinox_are_not(package):
    spec = importlib.util.find_spec(package)
    if spec is None:
        pytest.skip(f"{package} is not installed")
    assert not _is_user_file(spec.origin)


def test_an_error_in_an_installed_package_names_its_line():
    filename = os.path.join(SITE_PACKAGES, "my_models", "broken.py")
    source = "def loss(x):\n    return fnp.sum(x + fnp.ones(4))\n"  # line 2: (3,) + (4,)
    namespace = {"fnp": fnp}
    exec(compile(source, filename, "exec"), namespace)
    with pytest.raises(ShapeDtypeError) as info:
        fgrad.grad(namespace["loss"])(np.ones(3, np.float32))
    assert f"{filename}:2" in str(info.value)


def test_the_cache_of_answers_is_bounded():
    assert _is_user_file.cache_info().maxsize is not None


def test_program_type_errors_are_fgrad_errors():
    assert issubclass(ProgramTypeError, FgradError)
    assert ProgramTypeError.__doc__
