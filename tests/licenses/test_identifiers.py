from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tongban.licenses.identifiers import InvalidIdentifier, LicenseIdentifier, parse

TYPE = "11100000000013338W001"  # a ministry's USCC and three digits
ISSUER = "11500000MB1527373J"


def test_the_identifier_has_the_national_shape_and_its_check_character() -> None:
    identifier = LicenseIdentifier(TYPE, ISSUER, "5001032026000123", 1)
    text = str(identifier)
    assert text.startswith(f"1.2.156.3005.2.{TYPE}.{ISSUER}.5001032026000123.001.")
    assert len(text.rsplit(".", 1)[1]) == 1
    assert parse(text) == identifier
    assert parse(text.lower()) == identifier  # read back whatever the case


def test_a_new_version_has_a_new_check_character() -> None:
    first = LicenseIdentifier(TYPE, ISSUER, "A1", 1)
    second = first.next_version()
    assert second.version == 2
    assert str(second).split(".")[-2] == "002"
    assert parse(str(second)) == second


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "does not start"),
        ("1.2.156.3005.2.A.B.C.001", "needs type code"),
        (f"1.2.156.3005.2.{TYPE}.{ISSUER}.N.1.X", "three digits"),
        (f"1.2.156.3005.2.{TYPE}.{ISSUER}.N-1.001.X", "digits and capital letters"),
        (f"1.2.156.3005.2.{TYPE}.{ISSUER}.N.000.X", "version must be"),
    ],
)
def test_malformed_identifiers_say_why(text: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier) as problem:
        parse(text)
    assert reason in problem.value.reason


@given(
    number=st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=20),
    version=st.integers(min_value=1, max_value=999),
    position=st.integers(min_value=0, max_value=200),
    replacement=st.sampled_from("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
)
def test_one_changed_character_is_caught(
    number: str, version: int, position: int, replacement: str
) -> None:
    text = str(LicenseIdentifier(TYPE, ISSUER, number, version))
    head = len("1.2.156.3005.2.")
    index = head + position % (len(text) - head)
    if text[index] in ".":
        return
    changed = text[:index] + replacement + text[index + 1 :]
    if changed == text:
        return
    with pytest.raises(InvalidIdentifier):
        parse(changed)
