import pytest

from tests.factories import make_uscc
from tongban.core.audit import SYSTEM
from tongban.core.errors import ValidationFailed
from tongban.regions.models import Department
from tongban.regions.services import department_create

pytestmark = pytest.mark.django_db


def _create(**overrides):
    data = {
        "actor": SYSTEM,
        "key": "cq-yuzhong-hrss",
        "name": "重庆市渝中区人力资源和社会保障局",
        "short_name": "渝中区人力社保局",
        "division_code": "500103",
        "kind": "government",
        "uscc": "",
    }
    data.update(overrides)
    return department_create(**data)


def test_create_with_a_code() -> None:
    code = make_uscc(77)
    department = _create(uscc=code.lower())
    assert department.division_id == "500103"
    assert department.uscc == code


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"division_code": "5001"}, "division_code", "行政区划代码为6位数字，例如 500000。"),
        ({"division_code": "500199"}, "division_code", "没有使用该代码的行政区划。"),
        ({"uscc": "91500103MA0000001X"}, "uscc", "统一社会信用代码校验码不正确。"),
        ({"uscc": "123"}, "uscc", "统一社会信用代码应为18位。"),
        ({"key": "Not A Slug"}, "key", "标识只能包含小写字母、数字和连字符。"),
        ({"key": "cq-hrss"}, "key", "该标识已被使用。"),
        ({"short_name": "市人力社保局"}, "short_name", "该简称已被使用。"),
        ({"kind": "ministry"}, "kind", None),
        ({"name": "x" * 129}, "name", "最多 128 个字符。"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(overrides, field, message) -> None:
    count = Department.objects.count()
    with pytest.raises(ValidationFailed) as problem:
        _create(**overrides)
    assert field in problem.value.fields
    if message:
        assert str(problem.value.fields[field]) == message
    assert Department.objects.count() == count
