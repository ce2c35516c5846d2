"""Personal data inside case form data.

A scenario's form schema marks fields that hold personal identifiers with the extension keyword
``"x-personal": "<purpose>"`` (``id_number``, ``phone``). Such values are stored encrypted with
the node's personal-data keys, exactly like the Person record; they are shown masked, and only a
service that needs the value decrypts it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tongban.core.masking import mask_id_number, mask_name, mask_phone
from tongban.core.pii import pii_decrypt, pii_encrypt

_ENCRYPTED = "x-encrypted"
_MASKS = {"id_number": mask_id_number, "phone": mask_phone, "name": mask_name}


def personal_fields(schema: Mapping[str, Any]) -> dict[str, str]:
    """{field: purpose} for the top-level properties marked personal."""
    properties = schema.get("properties", {}) if isinstance(schema, Mapping) else {}
    return {
        name: str(spec["x-personal"])
        for name, spec in properties.items()
        if isinstance(spec, Mapping) and isinstance(spec.get("x-personal"), str)
    }


def protect(schema: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """The form data to store: personal fields replaced by their ciphertext."""
    stored = dict(data)
    for name, purpose in personal_fields(schema).items():
        value = stored.get(name)
        if isinstance(value, str) and value:
            stored[name] = {_ENCRYPTED: pii_encrypt(value, purpose=f"form.{purpose}")}
    return stored


def reveal(
    schema: Mapping[str, Any], stored: Mapping[str, Any], *, masked: bool = True
) -> dict[str, Any]:
    """The form data to show: personal fields decrypted, and masked unless asked otherwise."""
    shown = dict(stored)
    for name, purpose in personal_fields(schema).items():
        value = shown.get(name)
        if isinstance(value, Mapping) and _ENCRYPTED in value:
            clear = pii_decrypt(str(value[_ENCRYPTED]), purpose=f"form.{purpose}")
            shown[name] = (
                _MASKS.get(purpose, lambda text: "*" * len(text))(clear) if masked else clear
            )
    return shown
