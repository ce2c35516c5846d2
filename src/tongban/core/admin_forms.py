"""Admin support: "add" forms that create through a domain service, and audited edits.

The Django admin is a view like any other: it must not write models behind the services'
back. Adding a person, an enterprise or a staff member runs the same service as the API (same
validation, permissions and audit entry); plain edits of reference rows are audited here.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.contrib import admin
from django.db import models
from django.forms import model_to_dict
from django.http import HttpRequest

from tongban.core.audit import audit_record, diff
from tongban.core.errors import DomainError


class ServiceAddForm(forms.ModelForm):  # type: ignore[type-arg]
    """Subclasses declare their fields and implement ``create(actor)`` with a service call."""

    actor: ClassVar[Any] = None

    def create(self, actor: Any) -> models.Model:
        raise NotImplementedError

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if self.errors:
            return cleaned
        try:
            # The admin wraps the whole request in a transaction, so a later failure rolls
            # this creation back too.
            self.instance = self.create(self.actor)
        except DomainError as error:
            for name, message in error.fields.items():
                self.add_error(name if name in self.fields else None, str(message))
            if not error.fields:
                self.add_error(None, str(error.message))
        return cleaned

    def _post_clean(self) -> None:
        # The service validated everything; Django's model validation of the blank instance
        # would only add spurious "this field cannot be blank" errors when the service refused.
        return


class ServiceAddAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    add_form: ClassVar[type[ServiceAddForm]]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            return type(self.add_form.__name__, (self.add_form,), {"actor": request.user})
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return [(None, {"fields": list(self.add_form.base_fields)})]
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else super().get_readonly_fields(request, obj)

    def get_inlines(self, request: HttpRequest, obj: Any) -> Any:
        # The service creates the object while the form is cleaned; an inline formset that
        # failed afterwards would re-render the page over an object already written.
        return () if obj is None else super().get_inlines(request, obj)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
        # On add the service in form.clean() already created and audited the object.


class AuditedAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Records an audit entry (old → new) for every admin edit and deletion."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        before = model_to_dict(type(obj).objects.get(pk=obj.pk)) if change and obj.pk else {}
        super().save_model(request, obj, form, change)
        after = model_to_dict(obj)
        changes = _jsonable(diff(before, after) if change else after)
        if change and not changes:
            return  # saved without a change: nothing to record
        name = obj._meta.model_name
        audit_record(
            actor=request.user,
            action=f"{name}.{'updated' if change else 'created'}",
            target=obj,
            changes=changes,
        )

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        parent = form.instance
        for obj in formset.new_objects:
            self._audit_inline(request, parent, obj, "created", _jsonable(model_to_dict(obj)))
        for obj, fields in formset.changed_objects:
            changed = {name: model_to_dict(obj).get(name) for name in fields}
            self._audit_inline(request, parent, obj, "updated", _jsonable(changed))
        for obj in formset.deleted_objects:
            self._audit_inline(request, parent, obj, "deleted", {"id": obj.pk})

    @staticmethod
    def _audit_inline(request: HttpRequest, parent: Any, obj: Any, verb: str, changes: Any) -> None:
        audit_record(
            actor=request.user,
            action=f"{obj._meta.model_name}.{verb}",
            target=parent,
            changes={"inline": obj._meta.label_lower, **changes},
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        audit_record(actor=request.user, action=f"{obj._meta.model_name}.deleted", target=obj)
        super().delete_model(request, obj)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, models.Model):
        return value.pk
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """A record that changes only through its domain's services (where the rules and the
    audit trail apply): listed and shown, never added, edited or deleted here."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
