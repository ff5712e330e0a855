from __future__ import annotations

import pytest

from cocare_chat import clock
from tests.support.cast import T0, build_cast


@pytest.fixture
def cast(db):
    return build_cast()


@pytest.fixture
def frozen_clock():
    clock.freeze(T0)
    yield clock
    clock.unfreeze()


@pytest.fixture(autouse=True)
def _reset_clock():
    yield
    clock.unfreeze()
