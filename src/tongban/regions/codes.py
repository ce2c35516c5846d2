"""GB/T 2260 administrative division codes. Pure: no Django.

A code is six digits: province (2), prefecture (2), county (2). The hub's code 100000 stands
for the whole country and contains every division.
"""

from __future__ import annotations

import re

NATIONAL_CODE = "100000"
_CODE = re.compile(r"[1-9]\d{5}")


def is_well_formed(code: str) -> bool:
    return bool(_CODE.fullmatch(code))


def province_of(code: str) -> str:
    return NATIONAL_CODE if code == NATIONAL_CODE else code[:2] + "0000"


def contains(outer: str, inner: str) -> bool:
    """Whether the division ``outer`` contains (or is) ``inner``, judged by the code alone.

    Works for municipalities directly under the central government, whose districts hang off
    the province code (500103 is within 500000) as well as for ordinary prefectures.
    """
    if outer in (NATIONAL_CODE, inner):
        return True
    if inner == NATIONAL_CODE:
        return False
    prefix = shared_prefix(outer)
    return prefix != outer and inner.startswith(prefix)


def shared_prefix(code: str) -> str:
    """The code prefix every division inside ``code`` starts with: "" for the nation, two
    digits for a province, four for a prefecture, the whole code for a county."""
    if code == NATIONAL_CODE:
        return ""
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


def ancestors(code: str) -> list[str]:
    """The code itself and the codes of the divisions above it, nearest first (a county's
    prefecture, then its province). Some of them may not exist (municipalities have no
    prefecture level), so callers look them up rather than assume them."""
    if code == NATIONAL_CODE:
        return [code]
    chain = [code]
    if not code.endswith("00"):
        chain.append(code[:4] + "00")
    if not code.endswith("0000"):
        chain.append(code[:2] + "0000")
    return chain
