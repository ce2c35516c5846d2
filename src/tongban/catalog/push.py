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
    facts = person_facts(person=person, node_code=settings.TONGBAN_NODE_CODE)
    if enterprise is not None:
        facts.add("enterprise_member")
    rules = [rule for rule in PushRule.objects.filter(active=True) if rule.trigger in facts]
    codes = [code for rule in rules for code in rule.item_codes]
    items: dict[str, Any] = {
        item.code: item for item in ServiceItem.objects.filter(version=version, code__in=codes)
    }
    found: dict[str, Recommendation] = {}
    for rule in rules:
        for code in rule.item_codes:
            if code in items and code not in found:
                found[code] = Recommendation(
                    item=items[code], reason=rule.reason, trigger=rule.trigger
                )
    return list(found.values())[:limit]
