"""Testing helpers for code that uses fgrad, for fgrad's own tests and for users' suites.

    from fgrad.testing import assert_allclose, check_grads
    check_grads(my_loss, (params, batch), order=2)     # derivatives against finite differences
    assert_allclose(fgrad_result, jax_result)           # pytrees, tolerances by dtype

`check_grads` compares fgrad's forward mode (JVPs) and reverse mode (VJPs) with central
finite differences in random directions (or, with `jacobian=True`, element by element), and
with `order=2` the Hessian-vector products (forward-over-reverse, reverse-over-reverse) with
finite differences of the gradient. `batched=True` also checks them under `fgrad.vmap`.
Tolerances follow the dtype; run in float64 for tight ones.

Installing fgrad also installs a pytest plugin (`fgrad_pytest_plugin`) with the
fixtures `x64` and `fgrad_checks` and the marker `@pytest.mark.gradcheck`: docs/testing.md.
"""

from fgrad.testing._allclose import assert_allclose
from fgrad.testing._grads import check_grads

__all__ = ["assert_allclose", "check_grads"]
