"""pytest plugin with the pcscd fixtures; load it with ``pytest_plugins = ["tests.pcsc_fixtures"]``.

* ``pcscd`` (session): a running pcscd with the vpcd reader — reused if one answers on
  /run/pcscd/pcscd.comm, else started (``pcscd --foreground``, log in the session's tmp dir) and
  stopped by PID at the end of the session. Skips (fails under ``$CI``) when not installed.
  Holds the machine-wide vpcd lock (`reader.pcscd_service.vpcd_lock`) for the session, so two
  test sessions on one machine take turns instead of pulling each other's cards.
* ``served_card``: `tests.pcscd.served_card`, usable once pcscd is up::

      def test_x(served_card):
          with served_card(MyCard(), slot=0) as bridge:
              ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from reader.pcscd_service import PcscdService
from tests import pcscd as helpers


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PcscdService]:
    log_path = tmp_path_factory.mktemp("pcscd") / "pcscd.log"
    with helpers.exclusive_vpcd():
        service = helpers.require_pcscd(log_path=log_path)
        try:
            yield service
        finally:
            service.stop()


@pytest.fixture
def served_card(pcscd: PcscdService) -> Callable[..., Any]:
    return helpers.served_card
