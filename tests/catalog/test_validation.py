import copy

import pytest

from tongban.catalog.reference import reference_documents
from tongban.catalog.validation import Known, check_item_document

KNOWN = Known(
    departments={"cq-justice", "cq-education", "cd-justice"},
    divisions={"500000", "510100"},
    themes={"notary"},
)


@pytest.fixture
def document() -> dict:
    doc = copy.deepcopy(
        reference_documents({"市司法局": "cq-justice", "市教委": "cq-education"})[0]
    )
    doc["themes"] = ["notary"]
    return doc


def _fields(doc: dict) -> set[str]:
    return {field for field, _message in check_item_document(doc, KNOWN)}


def test_a_reference_document_is_valid(document: dict) -> None:
    assert check_item_document(document, KNOWN) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.update(code="123"), "code"),
        (lambda d: d.update(code="99200000000a"), "code"),
        (lambda d: d.update(name=""), "name"),
        (lambda d: d.update(name=7), "name"),
        (lambda d: d.update(item_type="tax"), "item_type"),
        (lambda d: d.update(modes=["ONLINE", "FAX"]), "modes"),
        (lambda d: d.update(lead_unit="nope"), "lead_unit"),
        (lambda d: d.update(themes=["nope"]), "themes"),
        (lambda d: d.update(seq="one"), "seq"),
        (lambda d: d.update(code_provisional="yes"), "code_provisional"),
        (lambda d: d.update(scenarios=[]), "scenarios"),
        (lambda d: d["scenarios"][0].update(key="Bad Key"), "scenarios.0.key"),
        (lambda d: d["scenarios"].append(copy.deepcopy(d["scenarios"][0])), "scenarios.1.key"),
        (
            lambda d: d["scenarios"][0].update(form_schema={"type": "nonsense"}),
            "scenarios.0.form_schema",
        ),
        (
            lambda d: d["scenarios"][0]["materials"][0].update(accepted_types=["exe"]),
            "scenarios.0.materials.0.accepted_types",
        ),
        (lambda d: d["implementations"][0].update(division="599999"), "implementations.0.division"),
        (
            lambda d: d["implementations"][0].update(department="nope"),
            "implementations.0.department",
        ),
        (
            lambda d: d["implementations"][0].update(legal_limit_days=-1),
            "implementations.0.legal_limit_days",
        ),
        (
            lambda d: d["implementations"][0].update(legal_limit_days=10, promised_limit_days=20),
            "implementations.0.promised_limit_days",
        ),
        (lambda d: d["implementations"][0].update(code="SHORT"), "implementations.0.code"),
        (
            lambda d: d["implementations"].append(copy.deepcopy(d["implementations"][0])),
            "implementations.2.division",
        ),
    ],
)
def test_each_problem_is_reported_on_its_field(document: dict, change, field: str) -> None:
    change(document)
    assert field in _fields(document)


def test_not_an_object() -> None:
    assert _fields(["not", "an", "item"]) == {""}  # type: ignore[arg-type]
