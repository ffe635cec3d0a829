"""A real `parley serve` per module, on loopback, for the load and fault tests."""

import pytest

from testbed.live_client import serving
from tests.conftest import DETERMINISTIC


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("serve"), DETERMINISTIC, max_sessions=6, connect_timeout_s=3) as served:
        yield served
