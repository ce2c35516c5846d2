"""The carrier interface and the shipment state machine: pure, no database."""

from __future__ import annotations

import pytest

from tongban.delivery import carriers
from tongban.delivery.models import ShipmentState

FINAL = ("delivered", "returned", "lost")


def test_every_state_has_its_transitions() -> None:
    assert set(carriers.TRANSITIONS) == set(ShipmentState.values)
    for targets in carriers.TRANSITIONS.values():
        assert targets <= set(ShipmentState.values)
        assert "created" not in targets  # nothing goes back to the start


@pytest.mark.parametrize("final", FINAL)
def test_final_states_go_nowhere(final: str) -> None:
    assert carriers.TRANSITIONS[final] == frozenset()
    for target in ShipmentState.values:
        assert not carriers.may_move(final, target)


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        ("created", "picked_up", True),
        ("created", "lost", True),
        ("created", "in_transit", False),
        ("created", "delivered", False),
        ("created", "returned", False),
        ("created", "created", False),
        ("picked_up", "in_transit", True),
        ("picked_up", "delivered", True),
        ("picked_up", "picked_up", False),
        ("in_transit", "in_transit", True),  # one scan after another
        ("in_transit", "delivered", True),
        ("in_transit", "returned", True),
        ("in_transit", "picked_up", False),
        ("delivered", "in_transit", False),
        ("returned", "delivered", False),
        ("lost", "delivered", False),
        ("nonsense", "delivered", False),
        ("created", "nonsense", False),
    ],
)
def test_may_move(current: str, target: str, allowed: bool) -> None:
    assert carriers.may_move(current, target) is allowed


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("EA123456789CN", True),
        ("SF1234567890123", True),
        ("JD-0001-02", True),
        ("123456", True),  # six is the shortest
        ("A" * 40, True),  # forty the longest
        ("12345", False),
        ("A" * 41, False),
        ("", False),
        ("EA 123456789CN", False),
        ("EA123456789CN\n", False),
        (" EA123456789CN", False),
        ("EA12345\x006789", False),
        ("EA1234\t56789", False),
        ("ＥＡ123456789", False),  # full-width letters
        ("１２３４５６７８", False),  # full-width digits
        ("EA_123456", False),
        ("顺丰123456", False),
    ],
)
def test_tracking_numbers(value: str, ok: bool) -> None:
    assert carriers.tracking_number_ok(value) is ok


def test_the_carriers_are_manual_and_have_nothing_to_fetch() -> None:
    assert set(carriers.CARRIERS) == {"ems", "sf", "jd", "other"}
    for key, carrier in carriers.CARRIERS.items():
        assert carrier.key == key
        assert carrier.name
        assert carrier.manual is True
        assert carrier.track("EA123456789CN") == []
