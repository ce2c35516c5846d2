import pytest

from tongban.core.masking import mask_id_number, mask_name, mask_phone


def test_id_number_keeps_region_prefix_and_last_four() -> None:
    assert mask_id_number("500101199001011234") == "5001**********1234"


def test_phone_keeps_prefix_and_last_four() -> None:
    assert mask_phone("13812345678") == "138****5678"


@pytest.mark.parametrize(
    ("name", "masked"),
    [("张", "张"), ("张三", "张*"), ("欧阳娜娜", "欧**娜"), ("阿依古丽·买买提", "阿******提")],
)
def test_names(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_short_values_are_fully_masked() -> None:
    assert mask_id_number("1234") == "****"
    assert mask_phone("123") == "***"
