import pytest

from tongban.regions import codes


@pytest.mark.parametrize(
    ("outer", "inner", "expected"),
    [
        ("100000", "500103", True),  # the nation contains everything
        ("500000", "500103", True),  # a municipality's districts hang off the province code
        ("500000", "500000", True),
        ("510000", "510104", True),
        ("510100", "510104", True),
        ("510100", "510300", False),
        ("510104", "510100", False),
        ("500000", "510104", False),
        ("500103", "100000", False),
        ("500103", "500104", False),
    ],
)
def test_contains(outer: str, inner: str, expected: bool) -> None:
    assert codes.contains(outer, inner) is expected


@pytest.mark.parametrize(
    ("code", "ok"), [("500000", True), ("050000", False), ("50000", False), ("5000a0", False)]
)
def test_well_formed(code: str, ok: bool) -> None:
    assert codes.is_well_formed(code) is ok


def test_province_of() -> None:
    assert codes.province_of("510104") == "510000"
    assert codes.province_of("100000") == "100000"


@pytest.mark.parametrize(
    ("code", "prefix"),
    [("100000", ""), ("500000", "50"), ("510100", "5101"), ("500103", "500103")],
)
def test_shared_prefix(code: str, prefix: str) -> None:
    assert codes.shared_prefix(code) == prefix
