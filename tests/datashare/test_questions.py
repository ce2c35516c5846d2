"""datashare/questions.py: definitions, parameters and answers, as data (no database)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.factories import make_id_number, make_uscc
from tongban.datashare import questions as q

PERSON = make_id_number(11, birth_date="20000612")
FIRM = make_uscc(12)

FIELDS = [
    {"key": "name", "name": "姓名", "personal": True},
    {"key": "status", "name": "状态"},
    {"key": "paid", "name": "缴费月份"},
]
MATCH = {
    "key": "name_matches",
    "name": "姓名一致",
    "params": ["id_number", "name"],
    "rule": {"op": "match"},
}
EQUALS = {
    "key": "active",
    "name": "在册",
    "params": ["id_number"],
    "rule": {"op": "equals", "field": "status", "value": "正常"},
}
COVERS = {
    "key": "paid_through",
    "name": "期间内连续缴费",
    "params": ["id_number", "from", "to"],
    "rule": {"op": "covers", "field": "paid"},
}


def check(*, subject_kind: str = "person", fields: Any = None, questions: Any = None) -> Any:
    return q.check_definition(
        subject_kind=subject_kind,
        fields=copy.deepcopy(FIELDS) if fields is None else fields,
        questions=[MATCH, EQUALS, COVERS] if questions is None else questions,
    )


def error_of(call: Any) -> q.QueryError:
    with pytest.raises(q.QueryError) as caught:
        call()
    return caught.value


# Definitions -----


def test_a_sound_definition_comes_back_clean() -> None:
    fields, questions = check(
        fields=[{"key": "name", "name": " 姓名 ", "personal": 1, "extra": "dropped"}],
        questions=[{**MATCH, "name": " 姓名一致 ", "rule": {"op": "match", "junk": 1}}],
    )
    assert fields == [{"key": "name", "name": "姓名", "personal": True}]
    assert questions == [
        {
            "key": "name_matches",
            "name": "姓名一致",
            "params": ["id_number", "name"],
            "rule": {"op": "match"},
        }
    ]
    _fields, three = check()
    assert [x["rule"] for x in three] == [
        {"op": "match"},
        {"op": "equals", "field": "status", "value": "正常"},
        {"op": "covers", "field": "paid"},
    ]


def test_an_enterprise_question_starts_with_the_credit_code() -> None:
    question = {**EQUALS, "params": ["uscc"]}
    assert check(subject_kind="enterprise", questions=[question])[1][0]["params"] == ["uscc"]
    assert error_of(lambda: check(subject_kind="enterprise", questions=[EQUALS])).code == (
        "invalid_question_params"
    )


@pytest.mark.parametrize(
    ("kwargs", "code", "field"),
    [
        ({"subject_kind": "vehicle"}, "invalid_subject_kind", "subject_kind"),
        ({"fields": []}, "invalid_fields", "fields"),
        ({"fields": "name"}, "invalid_fields", "fields"),
        (
            {"fields": [{"key": f"f{i}", "name": "x"} for i in range(101)]},
            "invalid_fields",
            "fields",
        ),
        ({"fields": [{"key": "Name", "name": "姓名"}]}, "invalid_field", "fields.0"),
        ({"fields": [{"key": "name", "name": " "}]}, "invalid_field", "fields.0"),
        ({"fields": [{"key": "name", "name": "x" * 65}]}, "invalid_field", "fields.0"),
        ({"fields": [{"key": "name", "name": "a"}, "b"]}, "invalid_field", "fields.1"),
        (
            {"fields": [{"key": "name", "name": "a"}, {"key": "name", "name": "b"}]},
            "duplicate_field",
            "fields",
        ),
        ({"questions": "all"}, "invalid_questions", "questions"),
        ({"questions": [MATCH] * 51}, "invalid_questions", "questions"),
        ({"questions": [{**MATCH, "key": "1st"}]}, "invalid_question", "questions.0"),
        ({"questions": [{**MATCH, "name": ""}]}, "invalid_question", "questions.0"),
        ({"questions": [{**MATCH, "params": []}]}, "invalid_question_params", "questions.0"),
        ({"questions": [{**MATCH, "params": ["name"]}]}, "invalid_question_params", "questions.0"),
        (
            {"questions": [{**MATCH, "params": ["id_number", "name", "name"]}]},
            "invalid_question_params",
            "questions.0",
        ),
        (
            {"questions": [{**MATCH, "params": ["id_number", "Name"]}]},
            "invalid_question_params",
            "questions.0",
        ),
        # A parameter that is no field (nor the period) would be compared with nothing: a
        # misspelt "nmae" must not make every "does the name match" a yes.
        (
            {"questions": [{**MATCH, "params": ["id_number", "nmae"]}]},
            "invalid_question_params",
            "questions.0",
        ),
        ({"questions": [{**MATCH, "rule": {"op": "like"}}]}, "invalid_rule", "questions.0"),
        ({"questions": [{**MATCH, "rule": "match"}]}, "invalid_rule", "questions.0"),
        (
            {"questions": [{**EQUALS, "rule": {"op": "equals", "field": "nope", "value": "x"}}]},
            "invalid_rule",
            "questions.0",
        ),
        (
            {"questions": [{**EQUALS, "rule": {"op": "equals", "field": "status", "value": 1}}]},
            "invalid_rule",
            "questions.0",
        ),
        (
            {"questions": [{**COVERS, "params": ["id_number", "from"]}]},
            "invalid_rule",
            "questions.0",
        ),
        ({"questions": [MATCH, EQUALS, MATCH]}, "duplicate_question", "questions"),
    ],
)
def test_a_faulty_definition_names_its_fault(kwargs: Any, code: str, field: str) -> None:
    error = error_of(lambda: check(**kwargs))
    assert (error.code, error.field) == (code, field)


def test_a_resource_may_answer_no_question_only_look_ups() -> None:
    assert check(questions=[])[1] == []


# Parameters -----


def test_parameters_come_back_in_canonical_form() -> None:
    lower = PERSON.lower() if PERSON.endswith("X") else PERSON
    clean = q.check_params(
        MATCH, {"id_number": f" {lower[:6]} {lower[6:]} ", "name": " 张三 "}, subject_kind="person"
    )
    assert clean == {"id_number": PERSON, "name": "张三"}
    assert q.check_params(
        COVERS, {"id_number": PERSON, "from": "2023-01", "to": "2023-01"}, subject_kind="person"
    ) == {"id_number": PERSON, "from": "2023-01", "to": "2023-01"}
    firm = {"key": "k", "params": ["uscc"], "rule": {"op": "match"}}
    assert q.check_params(firm, {"uscc": FIRM.lower()}, subject_kind="enterprise") == {"uscc": FIRM}


@pytest.mark.parametrize(
    ("question", "params", "code", "field"),
    [
        (MATCH, ["id_number"], "malformed_params", "params"),
        (MATCH, None, "malformed_params", "params"),
        (MATCH, {"id_number": PERSON, "name": "张三", "age": "3"}, "unknown_param", "age"),
        (MATCH, {"id_number": PERSON}, "missing_param", "name"),
        (MATCH, {"id_number": PERSON, "name": ""}, "missing_param", "name"),
        (MATCH, {"id_number": "", "name": "张三"}, "missing_param", "id_number"),
        (
            MATCH,
            {
                "id_number": PERSON[:-1] + "0" if PERSON[-1] != "0" else PERSON[:-1] + "1",
                "name": "张三",
            },
            "invalid_subject",
            "id_number",
        ),
        (MATCH, {"id_number": 500103198506120011, "name": "张三"}, "invalid_subject", "id_number"),
        (MATCH, {"id_number": "5" * 33, "name": "张三"}, "invalid_subject", "id_number"),
        (MATCH, {"id_number": PERSON, "name": 3}, "invalid_param", "name"),
        (MATCH, {"id_number": PERSON, "name": "x" * 201}, "invalid_param", "name"),
        (COVERS, {"id_number": PERSON, "from": "2023-1", "to": "2023-02"}, "invalid_month", "from"),
        (COVERS, {"id_number": PERSON, "from": "2023-01", "to": "2023-13"}, "invalid_month", "to"),
        (
            COVERS,
            {"id_number": PERSON, "from": "1899-01", "to": "2023-01"},
            "invalid_month",
            "from",
        ),
        (COVERS, {"id_number": PERSON, "from": "2023-03", "to": "2023-02"}, "invalid_period", "to"),
        (
            COVERS,
            {"id_number": PERSON, "from": "1950-01", "to": "2000-01"},
            "invalid_period",
            "from",
        ),
    ],
)
def test_faulty_parameters_name_their_fault(
    question: Any, params: Any, code: str, field: str
) -> None:
    error = error_of(lambda: q.check_params(question, params, subject_kind="person"))
    assert (error.code, error.field) == (code, field)
    assert str(error) == f"{code}: {field}"


def test_an_enterprise_is_named_by_a_valid_credit_code() -> None:
    firm = {"key": "k", "params": ["uscc"], "rule": {"op": "match"}}
    error = error_of(lambda: q.check_params(firm, {"uscc": PERSON}, subject_kind="enterprise"))
    assert (error.code, error.field) == ("invalid_subject", "uscc")


def test_fifty_years_is_the_longest_period() -> None:
    fifty = {"id_number": PERSON, "from": "1950-01", "to": "1999-12"}
    assert q.check_params(COVERS, fifty, subject_kind="person")["to"] == "1999-12"
    assert len(q.months("1950-01", "1999-12")) == q.MAX_MONTHS


def test_months_run_across_years() -> None:
    assert q.months("2022-11", "2023-02") == ["2022-11", "2022-12", "2023-01", "2023-02"]
    assert q.months("2023-05", "2023-05") == ["2023-05"]
    assert q.months("2023-05", "2023-04") == []


# Answers -----

ZHANG = {"name": "张三", "status": "正常", "paid": ["2023-01", "2023-02", "2023-03"]}
OLD = {"name": "张三", "status": "注销", "paid": []}


def ask(question: Any, records: list[Any], **params: str) -> bool:
    clean = q.check_params(question, {"id_number": PERSON, **params}, subject_kind="person")
    return q.answer(question, records, clean)


def test_match_compares_every_parameter_the_record_holds() -> None:
    assert ask(MATCH, [ZHANG], name="张三")
    assert ask(MATCH, [ZHANG], name=" 张三 ")
    assert not ask(MATCH, [ZHANG], name="张四")
    assert not ask(MATCH, [], name="张三")  # nobody: no
    assert ask(MATCH, [{"name": "李四"}, ZHANG], name="张三")  # one record passing is enough


def test_matching_ignores_case_but_not_content() -> None:
    latin = {"key": "k", "params": ["id_number", "name"], "rule": {"op": "match"}}
    assert ask(latin, [{"name": "Zhang San"}], name="zhang san")
    assert not ask(latin, [{"name": "Zhang San"}], name="zhangsan")
    assert not ask(latin, [{"name": ["Zhang San"]}], name="Zhang San")  # a list is no name


def test_equals_tests_the_field_against_the_value() -> None:
    assert ask(EQUALS, [ZHANG])
    assert not ask(EQUALS, [OLD])
    assert ask(EQUALS, [OLD, ZHANG])
    assert not ask(EQUALS, [{"name": "张三"}])  # the field missing: no


def test_covers_needs_every_month_of_the_period() -> None:
    assert ask(COVERS, [ZHANG], **{"from": "2023-01", "to": "2023-03"})
    assert ask(COVERS, [ZHANG], **{"from": "2023-02", "to": "2023-02"})  # one month
    assert not ask(COVERS, [ZHANG], **{"from": "2022-12", "to": "2023-01"})  # starts before
    assert not ask(COVERS, [ZHANG], **{"from": "2023-03", "to": "2023-04"})  # ends after
    gap = {"paid": ["2023-01", "2023-03"]}
    assert not ask(COVERS, [gap], **{"from": "2023-01", "to": "2023-03"})
    assert not ask(COVERS, [{"paid": "2023-01"}], **{"from": "2023-01", "to": "2023-01"})
    # Across the turn of a year, months held as whatever the source gave (strings here).
    turn = {"paid": ["2022-12", "2023-01"]}
    assert ask(COVERS, [turn], **{"from": "2022-12", "to": "2023-01"})


def test_an_unknown_rule_answers_no() -> None:
    assert not q.answer({"params": ["id_number"], "rule": {"op": "like"}}, [ZHANG], {})
    assert not q.answer({"params": ["id_number"]}, [ZHANG], {})


# Look-ups -------------------------------------------------------------------------------------


def test_a_look_up_returns_only_the_fields_asked() -> None:
    records = [ZHANG, {"name": "张三", "status": "迁出"}]
    assert q.look_up(records, ["name", "status"]) == [
        {"name": "张三", "status": "正常"},
        {"name": "张三", "status": "迁出"},
    ]
    assert q.look_up(records, ["paid"]) == [{"paid": ZHANG["paid"]}, {}]
    assert q.look_up([], ["name"]) == []
    assert q.look_up(records, iter(["name"])) == [{"name": "张三"}, {"name": "张三"}]
