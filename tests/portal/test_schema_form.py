"""HTML forms drawn from JSON Schemas, and the posted strings read back (pure: no database)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tongban.catalog.reference import GENERIC_FORM_SCHEMA
from tongban.portal import schema_form

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "born_on", "months"],
    "properties": {
        "name": {"type": "string", "title": "姓名", "minLength": 1, "maxLength": 64},
        "born_on": {
            "type": "string",
            "title": "出生日期",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
        },
        "since": {"type": "string", "format": "date"},
        "phone": {
            "type": "string",
            "title": "联系电话",
            "pattern": "^1[3-9][0-9]{9}$",
            "maxLength": 11,
            "x-personal": "phone",
        },
        "months": {"type": "integer", "title": "月数", "minimum": 0, "maximum": 1200},
        "amount": {"type": "number", "title": "金额", "minimum": 0},
        "kind": {"type": "string", "enum": ["first", "renewal"]},
        "statement": {"type": "string", "maxLength": 2000, "description": "写清楚用途"},
        "children": {"type": "array", "items": {"type": "string"}},
        "agreed": {"type": "boolean", "title": "同意"},
        "code": {"type": "string", "pattern": "^[A-Z]{2}$"},
    },
}


def by_key(drawn: list[schema_form.Field]) -> dict[str, schema_form.Field]:
    return {field.key: field for field in drawn}


# Drawing -------------------------------------------------------------------------------------


def test_one_field_per_property_in_the_schemas_order() -> None:
    drawn = schema_form.fields(SCHEMA, prefix="f.")
    assert [field.key for field in drawn] == list(SCHEMA["properties"])
    assert [field.name for field in drawn][:2] == ["f.name", "f.born_on"]
    fields = by_key(drawn)
    assert fields["name"].title == "姓名"
    assert fields["since"].title == "since"  # no title: the property name
    assert [key for key, field in fields.items() if field.required] == ["name", "born_on", "months"]
    assert fields["name"].min_length == 1
    assert fields["name"].max_length == 64
    assert fields["statement"].help == "写清楚用途"


@pytest.mark.parametrize(
    ("key", "widget"),
    [
        ("name", "text"),
        ("born_on", "date"),  # the yyyy-mm-dd pattern
        ("since", "date"),  # format: date
        ("phone", "tel"),  # x-personal: phone
        ("months", "number"),
        ("amount", "number"),
        ("kind", "select"),
        ("statement", "textarea"),  # long text
        ("children", "textarea"),  # one item per line
        ("agreed", "checkbox"),
        ("code", "text"),
    ],
)
def test_the_widget_follows_the_property(key: str, widget: str) -> None:
    assert by_key(schema_form.fields(SCHEMA))[key].widget == widget


def test_the_generic_scenario_form() -> None:
    fields = by_key(schema_form.fields(GENERIC_FORM_SCHEMA))
    assert {key: field.widget for key, field in fields.items()} == {
        "applicant_name": "text",
        "id_number": "text",
        "phone": "tel",
        "statement": "textarea",
    }
    assert all(field.required for field in fields.values())


def test_numbers_step_by_one_for_integers_and_freely_otherwise() -> None:
    fields = by_key(schema_form.fields(SCHEMA))
    assert (fields["months"].step, fields["months"].minimum, fields["months"].maximum) == (
        "1",
        0,
        1200,
    )
    assert (fields["amount"].step, fields["amount"].minimum, fields["amount"].maximum) == (
        "any",
        0,
        None,
    )


def test_a_select_offers_the_enum() -> None:
    assert by_key(schema_form.fields(SCHEMA))["kind"].options == (
        ("first", "first"),
        ("renewal", "renewal"),
    )


def test_the_html_pattern_drops_the_anchors_html_adds_itself() -> None:
    fields = by_key(schema_form.fields(GENERIC_FORM_SCHEMA))
    assert fields["id_number"].pattern == "[0-9]{17}[0-9X]"
    assert fields["phone"].pattern == "1[3-9][0-9]{9}"
    assert by_key(schema_form.fields(SCHEMA))["born_on"].pattern == ""  # a date input has none


@pytest.mark.parametrize(
    "pattern",
    [
        "[0-9]",  # JSON Schema searches: any value with a digit; HTML would want one digit only
        "^[0-9]+",
        "[0-9]+$",
        "^a|b$",  # starts with a, or ends with b: not the same as exactly a or b
        r"^[0-9]+\$",  # ends with a literal dollar sign, not an anchor
    ],
)
def test_a_pattern_html_would_read_differently_is_left_to_the_server(pattern: str) -> None:
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": pattern}}}
    assert schema_form.fields(schema)[0].pattern == ""


def test_values_and_errors_are_shown_as_text() -> None:
    fields = by_key(
        schema_form.fields(
            SCHEMA,
            {"name": "张三", "months": 12, "children": ["甲", "乙"], "agreed": True},
            {"months": "数值过大"},
        )
    )
    assert fields["name"].value == "张三"
    assert fields["months"].value == "12"
    assert fields["months"].error == "数值过大"
    assert fields["children"].value == "甲\n乙"
    assert fields["agreed"].value == "on"
    assert fields["amount"].value == ""
    assert fields["amount"].error == ""


def test_a_default_prefills_and_a_given_value_wins() -> None:
    schema = {"type": "object", "properties": {"kind": {"type": "string", "default": "first"}}}
    assert schema_form.fields(schema)[0].value == "first"
    assert schema_form.fields(schema, {"kind": "renewal"})[0].value == "renewal"
    assert schema_form.fields(schema, {"kind": None})[0].value == ""


def test_properties_that_are_not_schemas_are_skipped() -> None:
    schema = {"type": "object", "properties": {"odd": True, "name": {"type": "string"}}}
    assert [field.key for field in schema_form.fields(schema)] == ["name"]
    assert schema_form.read(schema, {"odd": "x", "name": "张三"}) == {"name": "张三"}
    assert schema_form.fields({}) == []
    assert schema_form.read({}, {"name": "张三"}) == {}


# Reading -------------------------------------------------------------------------------------


def test_reading_types_what_parses() -> None:
    posted = {
        "f.name": "  张三 ",
        "f.born_on": "2001-02-03",
        "f.months": "12",
        "f.amount": "1234.50",
        "f.kind": "first",
        "f.children": "甲\r\n\r\n  乙  \n",
        "f.agreed": "on",
    }
    assert schema_form.read(SCHEMA, posted, prefix="f.") == {
        "name": "张三",
        "born_on": "2001-02-03",
        "months": 12,
        "amount": 1234.5,
        "kind": "first",
        "children": ["甲", "乙"],
        "agreed": True,
    }


def test_empty_inputs_are_left_out_so_a_required_one_is_reported_missing() -> None:
    read = schema_form.read(SCHEMA, {"name": "   ", "months": "", "kind": ""})
    assert read == {"agreed": False}  # an unticked checkbox posts nothing: it is False
    errors = jsonschema.Draft202012Validator(SCHEMA).iter_errors(read)
    assert {error.validator for error in errors} == {"required"}


@pytest.mark.parametrize(
    ("raw", "value"),
    [("7", 7), ("-3", -3), ("+5", 5), ("007", 7), ("1.5", "1.5"), ("12个", "12个"), ("1e3", "1e3")],
)
def test_integers(raw: str, value: Any) -> None:
    assert schema_form.read(SCHEMA, {"months": raw}).get("months") == value


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("3", 3),
        ("3.0", 3.0),
        ("-0.25", -0.25),
        (".5", 0.5),
        ("2.", 2.0),
        ("一百", "一百"),
        ("1,000", "1,000"),
        ("nan", "nan"),
        ("inf", "inf"),
    ],
)
def test_numbers(raw: str, value: Any) -> None:
    read = schema_form.read(SCHEMA, {"amount": raw})["amount"]
    assert read == value
    assert type(read) is type(value)


def test_unparseable_values_stay_strings_so_the_schema_check_reports_them() -> None:
    read = schema_form.read(SCHEMA, {"name": "张三", "born_on": "2001-02-03", "months": "十二"})
    assert read["months"] == "十二"
    errors = list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(read))
    assert [(list(error.path), error.validator) for error in errors] == [(["months"], "type")]


def test_numbers_too_big_for_json_stay_strings() -> None:
    # 400 digits overflow a float to infinity, which JSON (and PostgreSQL) cannot store;
    # 5000 digits are more than int() converts.
    huge = "9" * 400
    assert schema_form.read(SCHEMA, {"amount": huge})["amount"] == huge
    assert schema_form.read(SCHEMA, {"months": "9" * 5000})["months"] == "9" * 5000


@pytest.mark.parametrize(
    ("raw", "ticked"),
    [("on", True), ("true", True), ("1", True), ("yes", True), ("off", False), ("", False)],
)
def test_booleans(raw: str, ticked: bool) -> None:
    assert schema_form.read(SCHEMA, {"agreed": raw})["agreed"] is ticked


def test_only_the_schemas_properties_are_read() -> None:
    read = schema_form.read(
        GENERIC_FORM_SCHEMA,
        {"f.applicant_name": "张三", "f.is_admin": "1", "applicant_name": "李四", "f.": "x"},
        prefix="f.",
    )
    assert read == {"applicant_name": "张三"}


def test_what_was_read_is_drawn_again_unchanged() -> None:
    posted = {"name": "张三", "months": "十二", "children": "甲\n乙", "agreed": "on"}
    fields = by_key(schema_form.fields(SCHEMA, schema_form.read(SCHEMA, posted)))
    assert {key: fields[key].value for key in posted} == posted


@given(
    st.dictionaries(
        st.sampled_from([*SCHEMA["properties"], "other"]).map(lambda key: f"f.{key}"),
        st.text(),
    )
)
def test_reading_never_fails_and_gives_json(posted: dict[str, str]) -> None:
    read = schema_form.read(SCHEMA, posted, prefix="f.")
    assert set(read) <= set(SCHEMA["properties"])
    json.dumps(read, allow_nan=False)  # storable as JSON, also on PostgreSQL
    # and drawn again without trouble
    schema_form.fields(SCHEMA, read, prefix="f.")
