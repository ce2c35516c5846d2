"""What a data resource answers, as data: the questions a department defines and how a
question is answered from the source records (pure: no Django).

A question is ``{"key", "name", "params": [...], "rule": {...}}``. Its first parameter names
the subject (``id_number`` for a person, ``uscc`` for an enterprise): the records about that
subject are the ones looked at. Every other parameter that is also a field of a record must
equal it there (so "do this name and ID number match" is ``params: [id_number, name]`` with
rule ``match``). The rule adds one test of its own:

- ``{"op": "match"}``: nothing more;
- ``{"op": "equals", "field": F, "value": V}``: the record's field F is V ("is this enterprise
  registered and active": ``status`` equals ``存续``);
- ``{"op": "covers", "field": F}`` with parameters ``from`` and ``to`` (``YYYY-MM``): the
  record's list F holds every month from ``from`` to ``to`` ("has this person paid
  contributions in this period").

The answer is yes when some record about the subject passes; a look-up returns the records'
granted fields. Errors carry a code and the parameter at fault; the caller words them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError as StdnumError

SUBJECT_PARAM = {"person": "id_number", "enterprise": "uscc"}
OPS = ("match", "equals", "covers")
MONTH = re.compile(r"^(19|20)\d\d-(0[1-9]|1[0-2])$")
KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_VALUE = 200
MAX_MONTHS = 600  # fifty years of contributions


class QueryError(ValueError):
    """A question, a look-up or a definition that cannot be used: ``code`` says what is wrong,
    ``field`` where (a parameter, or a part of the definition)."""

    def __init__(self, code: str, field: str = "") -> None:
        super().__init__(f"{code}: {field}" if field else code)
        self.code = code
        self.field = field


def subject_of(subject_kind: str, value: Any) -> str:
    """The subject identifier in its canonical form (upper case, no spaces), if valid."""
    if not isinstance(value, str) or len(value) > 32:
        raise QueryError("invalid_subject", SUBJECT_PARAM.get(subject_kind, "subject"))
    text = value.strip().upper().replace(" ", "")
    try:
        if subject_kind == "person":
            return str(ric.validate(text))
        if subject_kind == "enterprise":
            return str(uscc.validate(text))
    except StdnumError:
        pass
    raise QueryError("invalid_subject", SUBJECT_PARAM.get(subject_kind, "subject"))


def months(first: str, last: str) -> list[str]:
    """Every month from ``first`` to ``last`` (``YYYY-MM``), both included."""
    year, month = int(first[:4]), int(first[5:])
    end = (int(last[:4]), int(last[5:]))
    out: list[str] = []
    while (year, month) <= end and len(out) <= MAX_MONTHS:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def check_params(question: Mapping[str, Any], params: Any, *, subject_kind: str) -> dict[str, str]:
    """The question's parameters from ``params``, checked and in canonical form: exactly the
    parameters the question names, the subject a valid identifier, months well formed."""
    if not isinstance(params, dict):
        raise QueryError("malformed_params", "params")
    wanted = list(question.get("params", []))
    for name in params:
        if name not in wanted:
            raise QueryError("unknown_param", str(name)[:64])
    clean: dict[str, str] = {}
    for name in wanted:
        value = params.get(name)
        if value is None or value == "":
            raise QueryError("missing_param", name)
        if name == SUBJECT_PARAM.get(subject_kind):
            clean[name] = subject_of(subject_kind, value)
        elif not isinstance(value, str) or len(value) > MAX_VALUE:
            raise QueryError("invalid_param", name)
        elif name in ("from", "to"):
            if not MONTH.match(value):
                raise QueryError("invalid_month", name)
            clean[name] = value
        else:
            clean[name] = value.strip()
    if "from" in clean and "to" in clean:
        if clean["from"] > clean["to"]:
            raise QueryError("invalid_period", "to")
        if len(months(clean["from"], clean["to"])) > MAX_MONTHS:
            raise QueryError("invalid_period", "from")
    return clean


def subject_param(subject_kind: str) -> str:
    return SUBJECT_PARAM[subject_kind]


def _same(given: str, held: Any) -> bool:
    return isinstance(held, str | int) and given.strip().casefold() == str(held).strip().casefold()


def _passes(rule: Mapping[str, Any], record: Mapping[str, Any], params: Mapping[str, str]) -> bool:
    # Every compared parameter is a field (check_definition): a record without it does not
    # match, so a record that lacks, say, the certificate number answers no to any number.
    for name, value in params.items():
        if name in ("from", "to"):
            continue
        if name not in record or not _same(value, record[name]):
            return False
    op = rule.get("op")
    if op == "equals":
        return _same(str(rule.get("value", "")), record.get(str(rule.get("field"))))
    if op == "covers":
        held = record.get(str(rule.get("field")))
        if not isinstance(held, list):
            return False
        return set(months(params["from"], params["to"])) <= {str(m) for m in held}
    return op == "match"


def answer(
    question: Mapping[str, Any], records: Iterable[Mapping[str, Any]], params: Mapping[str, str]
) -> bool:
    """Yes when a record about the subject passes the question (``params`` checked by
    ``check_params``; ``records`` are the subject's)."""
    rule = question.get("rule") or {}
    subject = next(iter(question.get("params", [])), "")
    compared = {k: v for k, v in params.items() if k not in (subject, "from", "to")}
    return any(_passes(rule, record, {**compared, **_period(params)}) for record in records)


def _period(params: Mapping[str, str]) -> dict[str, str]:
    return {k: params[k] for k in ("from", "to") if k in params}


def look_up(records: Iterable[Mapping[str, Any]], fields: Iterable[str]) -> list[dict[str, Any]]:
    """The records with only ``fields`` (a field a record lacks is left out of it)."""
    wanted = list(fields)
    return [{name: record[name] for name in wanted if name in record} for record in records]


def check_definition(
    *, subject_kind: str, fields: Any, questions: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A resource's fields and questions, checked: keys well formed and unique, each question
    starting with the subject parameter, rules known and naming fields the resource has."""
    if subject_kind not in SUBJECT_PARAM:
        raise QueryError("invalid_subject_kind", "subject_kind")
    if not isinstance(fields, list) or not fields or len(fields) > 100:
        raise QueryError("invalid_fields", "fields")
    clean_fields: list[dict[str, Any]] = []
    for index, field in enumerate(fields):
        if not isinstance(field, dict) or not KEY.match(str(field.get("key", ""))):
            raise QueryError("invalid_field", f"fields.{index}")
        name = field.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 64:
            raise QueryError("invalid_field", f"fields.{index}")
        clean_fields.append(
            {"key": field["key"], "name": name.strip(), "personal": bool(field.get("personal"))}
        )
    keys = [f["key"] for f in clean_fields]
    if len(set(keys)) != len(keys):
        raise QueryError("duplicate_field", "fields")
    if not isinstance(questions, list) or len(questions) > 50:
        raise QueryError("invalid_questions", "questions")
    clean_questions: list[dict[str, Any]] = []
    subject = SUBJECT_PARAM[subject_kind]
    for index, question in enumerate(questions):
        where = f"questions.{index}"
        if not isinstance(question, dict) or not KEY.match(str(question.get("key", ""))):
            raise QueryError("invalid_question", where)
        name = question.get("name")
        params = question.get("params")
        rule = question.get("rule")
        if not isinstance(name, str) or not name.strip() or len(name) > 128:
            raise QueryError("invalid_question", where)
        if (
            not isinstance(params, list)
            or not params
            or params[0] != subject
            or len(set(params)) != len(params)
            or not all(isinstance(p, str) and KEY.match(p) for p in params)
            # A parameter that is neither a field nor the period is compared with nothing
            # (``_passes``): a misspelt key would turn every "does it match" into a yes.
            or not all(p in keys or p in ("from", "to") for p in params[1:])
        ):
            raise QueryError("invalid_question_params", where)
        if not isinstance(rule, dict) or rule.get("op") not in OPS:
            raise QueryError("invalid_rule", where)
        clean_rule: dict[str, Any] = {"op": rule["op"]}
        if rule["op"] in ("equals", "covers"):
            if rule.get("field") not in keys:
                raise QueryError("invalid_rule", where)
            clean_rule["field"] = rule["field"]
        if rule["op"] == "equals":
            if not isinstance(rule.get("value"), str):
                raise QueryError("invalid_rule", where)
            clean_rule["value"] = rule["value"]
        if rule["op"] == "covers" and not {"from", "to"} <= set(params):
            raise QueryError("invalid_rule", where)
        clean_questions.append(
            {"key": question["key"], "name": name.strip(), "params": params, "rule": clean_rule}
        )
    qkeys = [q["key"] for q in clean_questions]
    if len(set(qkeys)) != len(qkeys):
        raise QueryError("duplicate_question", "questions")
    return clean_fields, clean_questions
