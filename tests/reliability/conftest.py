import pytest

from support.instance import Workspace, make_workspace


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    """A private instance and data root per test module."""
    return make_workspace(tmp_path_factory.mktemp("reliability"))
