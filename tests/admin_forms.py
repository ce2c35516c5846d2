"""Posting back an admin change page as a browser would (shared by the admin tests)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Model


def _as_post(value: Any) -> Any:
    if value is None or value is False:
        return None
    if value is True:
        return "on"
    if isinstance(value, Model):
        return str(value.pk)
    if isinstance(value, list | tuple):
        return [_as_post(entry) for entry in value]
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S")
    return str(value)


def form_data(response: Any) -> dict[str, Any]:
    """What a browser posts back from a rendered admin change page, unchanged: the main form,
    then each inline's management form and rows, under their prefixes."""
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms += [inline.formset.management_form, *inline.formset.forms]
    data: dict[str, Any] = {}
    for form in forms:
        for name in form.fields:
            value = _as_post(form[name].value())
            if value is not None:
                data[form.add_prefix(name)] = value
    return data
