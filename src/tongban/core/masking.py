"""Masking personal data for display in lists and logs. Pure: no Django."""

from __future__ import annotations


def mask_id_number(value: str) -> str:
    """``500101199001011234`` → ``5001**********1234`` (region prefix and last four kept)."""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(value: str) -> str:
    """``13812345678`` → ``138****5678``."""
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str) -> str:
    """``张三`` → ``张*``, ``欧阳娜娜`` → ``欧**娜``: the first character (and the last one of
    longer names) stays, so a clerk can still recognise the person in front of them."""
    if len(value) <= 1:
        return value
    if len(value) == 2:
        return value[0] + "*"
    return value[0] + "*" * (len(value) - 2) + value[-1]


def mask_login_name(value: str) -> str:
    """A name someone typed to sign in, for the audit log: an ID number or phone number masked
    as such, anything else with its first and last characters kept (``clerk`` → ``c***k``)."""
    value = value.strip()[:64]
    if len(value) == 18 and value[:17].isdigit():
        return mask_id_number(value)
    if len(value) == 11 and value.isdigit():
        return mask_phone(value)
    if len(value) <= 2:
        return "*" * len(value)
    return value[0] + "*" * (len(value) - 2) + value[-1]
