"""An item may follow its own workflow per mode: `<item workflow>.<mode workflow>.json` next to
the shipped ones; modes it does not override keep the shipped workflow."""

import json
from pathlib import Path

import pytest

from tests.cases.conftest import form_for
from tongban.cases import selectors, services, workflow

pytestmark = pytest.mark.django_db


@pytest.fixture
def override_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped workflows plus a "certify" override of the online one."""
    for shipped in workflow.WORKFLOW_DIR.glob("*.json"):
        (tmp_path / shipped.name).write_text(shipped.read_text(encoding="utf-8"), encoding="utf-8")
    online = json.loads((workflow.WORKFLOW_DIR / "online.json").read_text(encoding="utf-8"))
    online["name"] = "certify.online"
    online["actions"]["approve"]["label"] = "出具证明"
    online["notices"] = {"approval": "证明出具通知书"}
    (tmp_path / "certify.online.json").write_text(json.dumps(online), encoding="utf-8")
    monkeypatch.setattr(workflow, "WORKFLOW_DIR", tmp_path)
    workflow.load.cache_clear()
    yield tmp_path
    workflow.load.cache_clear()


def test_name_for_prefers_the_items_override_of_the_mode(override_dir) -> None:
    assert workflow.name_for("certify", "ONLINE") == "certify.online"
    assert workflow.name_for("certify", "PROXY") == "proxy"  # not overridden for this mode
    assert workflow.name_for("standard", "ONLINE") == "online"
    assert workflow.name_for("", "JOINT") == "joint"


def test_a_case_of_an_overriding_item_follows_its_workflow(
    override_dir, item, citizen, cq_reviewer, cq_approver
) -> None:
    item.workflow = "certify"
    item.save(update_fields=["workflow"])
    case = services.case_submit(
        actor=citizen.user,
        item_code=item.code,
        scenario_key="general",
        authority_division="500000",
        form_data=form_for(citizen),
    )
    assert case.workflow == "certify.online"
    for actor, action in (
        (cq_reviewer, "accept"),
        (cq_reviewer, "begin_review"),
        (cq_approver, "approve"),
    ):
        case = services.case_act(actor=actor.user, number=case.number, action=action)
    notice = selectors.case_notice(case=case, kind="approval")
    assert notice["title"] == "证明出具通知书"
    assert ("approval", "证明出具通知书") in selectors.case_notices_available(case)
    assert workflow.load(case.workflow).actions["approve"].label == "出具证明"
