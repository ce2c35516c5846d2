"""精准推送: recommended items for a person (and the enterprise they act for), by rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from tongban.accounts.models import Enterprise, Person
from tongban.accounts.selectors import person_facts
from tongban.catalog.models import CatalogVersion, PushRule, ServiceItem


@dataclass(frozen=True)
class Recommendation:
    item: ServiceItem
    reason: str
    trigger: str


def recommendations_for(
    *, person: Person, version: CatalogVersion, enterprise: Enterprise | None = None, limit: int = 8
) -> list[Recommendation]:
    """Items for the person's facts and life events, most specific rule first (rule order),
    each item once, only items present in ``version``."""
    if enterprise is not None:
        # For the enterprise: its own needs, not the person's life events.
        facts = {"enterprise"}
    else:
        facts = person_facts(person=person, node_code=settings.TONGBAN_NODE_CODE)
    rules = [
        rule
        for rule in PushRule.objects.filter(active=True)
        if rule.trigger in facts and isinstance(rule.item_codes, list)
    ]
    codes = [code for rule in rules for code in rule.item_codes if isinstance(code, str)]
    items: dict[str, Any] = {
        item.code: item for item in ServiceItem.objects.filter(version=version, code__in=codes)
    }
    found: dict[str, Recommendation] = {}
    for rule in rules:
        for code in rule.item_codes:
            if isinstance(code, str) and code in items and code not in found:
                found[code] = Recommendation(
                    item=items[code], reason=rule.reason, trigger=rule.trigger
                )
    return list(found.values())[:limit]


TRIGGERS = frozenset(
    {
        "moved_province",
        "graduated",
        "married",
        "child_born",
        "retired",
        "lost_job",
        "opened_business",
        "bought_home_elsewhere",
        "disabled",
        "retirement_age",
        "legal_representative",
        "enterprise_member",
        "enterprise",
    }
)
