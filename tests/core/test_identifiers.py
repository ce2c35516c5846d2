import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import ric

from tests.factories import make_id_number, make_uscc
from tongban.core.identifiers import (
    InvalidIdentifier,
    Reason,
    normalize_id_number,
    normalize_mobile,
    normalize_uscc,
    uscc_division_code,
)


def test_valid_id_number_is_normalised() -> None:
    number = make_id_number(7)
    assert normalize_id_number(f" {number[:6]} {number[6:]} ".lower()) == number


@given(
    st.integers(min_value=0, max_value=999),
    st.dates(
        min_value=__import__("datetime").date(1998, 1, 1),
        max_value=__import__("datetime").date(2020, 12, 31),
    ),
)
def test_every_generated_id_number_passes_and_any_wrong_check_digit_fails(
    seq: int, born: object
) -> None:
    number = make_id_number(seq, birth_date=born.strftime("%Y%m%d"))  # type: ignore[attr-defined]
    assert normalize_id_number(number) == number
    for wrong in "0123456789X":
        if wrong != number[-1]:
            with pytest.raises(InvalidIdentifier) as problem:
                normalize_id_number(number[:-1] + wrong)
            assert problem.value.reason is Reason.CHECKSUM


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("50010319990307123", Reason.LENGTH),
        ("500103199903071", Reason.LENGTH),  # the retired 15-digit form
        ("50010319990A071234", Reason.FORMAT),
        ("500103199913071230", Reason.COMPONENT),  # month 13
        ("999999199903071230", Reason.COMPONENT),  # no such place
    ],
)
def test_bad_id_numbers(value: str, reason: Reason) -> None:
    if reason is Reason.COMPONENT:
        value = value[:-1] + ric.calc_check_digit(value)
    with pytest.raises(InvalidIdentifier) as problem:
        normalize_id_number(value)
    assert problem.value.reason is reason


def test_uscc() -> None:
    code = make_uscc(42)
    assert normalize_uscc(code.lower()) == code
    assert uscc_division_code(code) == "500103"
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    with pytest.raises(InvalidIdentifier) as problem:
        normalize_uscc(wrong)
    assert problem.value.reason is Reason.CHECKSUM
    with pytest.raises(InvalidIdentifier) as problem:
        normalize_uscc("123")
    assert problem.value.reason is Reason.LENGTH


@pytest.mark.parametrize(
    "value", ["13812345678", "+86 138 1234 5678", "0086-13812345678", "8613812345678"]
)
def test_mobile_forms(value: str) -> None:
    assert normalize_mobile(value) == "13812345678"


@pytest.mark.parametrize(
    ("value", "reason"),
    [("1381234567", Reason.LENGTH), ("12812345678", Reason.FORMAT), ("1381234567a", Reason.FORMAT)],
)
def test_bad_mobiles(value: str, reason: Reason) -> None:
    with pytest.raises(InvalidIdentifier) as problem:
        normalize_mobile(value)
    assert problem.value.reason is reason
