"""Catalogue administration. Only the draft version is editable; published versions are a
record. Fields the source left empty show as 待补充 ("to be supplied")."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tongban.catalog import services
from tongban.catalog.documents import ITEM_FIELDS, MATERIAL_FIELDS
from tongban.catalog.models import (
    CatalogVersion,
    Implementation,
    MaterialSpec,
    PushRule,
    Scenario,
    SearchSynonym,
    ServiceItem,
    Theme,
    VersionStatus,
)
from tongban.catalog.push import TRIGGERS
from tongban.catalog.schema_safety import schema_problems
from tongban.catalog.validation import CODE, FILE_TYPES
from tongban.core.admin_forms import AuditedAdmin
from tongban.core.errors import DomainError

TO_BE_SUPPLIED = _("to be supplied")
_PLACEHOLDER: dict[type[models.Field[Any, Any]], dict[str, Any]] = {
    models.CharField: {"widget": forms.TextInput(attrs={"placeholder": TO_BE_SUPPLIED})},
    models.TextField: {"widget": forms.Textarea(attrs={"placeholder": TO_BE_SUPPLIED, "rows": 3})},
}


def _version_of(obj: Any) -> CatalogVersion | None:
    if isinstance(obj, ServiceItem):
        return obj.version
    if isinstance(obj, Scenario | Implementation):
        return obj.item.version
    if isinstance(obj, MaterialSpec):
        return obj.scenario.item.version
    return None


class DraftOnlyMixin:
    """Rows of a published version are read-only; new rows only go into the draft."""

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        version = _version_of(obj) if obj is not None else None
        if version is not None and not version.is_draft:
            return False
        return super().has_change_permission(request, obj)  # type: ignore[misc]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        version = _version_of(obj) if obj is not None else None
        if version is not None and not version.is_draft:
            return False
        return super().has_delete_permission(request, obj)  # type: ignore[misc]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        version = _version_of(obj) if obj is not None else None
        if version is not None and not version.is_draft:
            return False
        return super().has_add_permission(request, *([obj] if obj is not None else []))  # type: ignore[misc]


@admin.register(CatalogVersion)
class CatalogVersionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("number", "status", "valid_from", "published_at", "published_by", "note")
    readonly_fields = ("number", "status", "valid_from", "published_at", "published_by", "note")
    actions = ("open_draft", "publish_today")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Versions change only through the actions (open a draft, publish): no Save button.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description=_("Open a draft from the latest published version"))
    def open_draft(self, request: HttpRequest, queryset: QuerySet[CatalogVersion]) -> None:
        try:
            draft = services.catalog_draft(actor=request.user)
        except DomainError as error:
            self.message_user(request, str(error.message), messages.ERROR)
            return
        self.message_user(request, _("Draft v%(n)d is open for editing.") % {"n": draft.number})

    @admin.action(description=_("Publish the draft, valid from today"))
    def publish_today(self, request: HttpRequest, queryset: QuerySet[CatalogVersion]) -> None:
        try:
            version = services.catalog_publish(actor=request.user, valid_from=timezone.localdate())
        except DomainError as error:
            self.message_user(request, str(error.message), messages.ERROR)
            return
        self.message_user(request, _("Version %(n)d is published.") % {"n": version.number})


class ScenarioForm(forms.ModelForm):  # type: ignore[type-arg]
    """The same rules as import: a usable, safe form schema (see schema_safety.py)."""

    class Meta:
        model = Scenario
        fields = ("key", "name", "description", "generic", "form_schema", "order")

    def clean_form_schema(self) -> Any:
        schema = self.cleaned_data.get("form_schema")
        problems = schema_problems(schema)
        if problems:
            raise forms.ValidationError("; ".join(problems))
        return schema


class MaterialForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = MaterialSpec
        fields = MATERIAL_FIELDS

    def clean_accepted_types(self) -> Any:
        types = self.cleaned_data.get("accepted_types")
        if (
            not isinstance(types, list)
            or not all(isinstance(t, str) for t in types)
            or not set(types) <= FILE_TYPES
        ):
            raise forms.ValidationError(
                _("Choose from: %(choices)s.") % {"choices": ", ".join(sorted(FILE_TYPES))}
            )
        return types


class ServiceItemForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = ServiceItem
        fields = (
            *ITEM_FIELDS,
            "lead_unit",
            "cooperating_units",
            "online",
            "proxy",
            "joint",
            "themes",
        )

    def clean_code(self) -> str:
        code = str(self.cleaned_data.get("code", "")).strip().upper()
        if not CODE.fullmatch(code):
            raise forms.ValidationError(_("A basic code has 12 digits or capital letters."))
        return code


class ScenarioInline(DraftOnlyMixin, admin.StackedInline):  # type: ignore[type-arg]
    model = Scenario
    extra = 0
    fields = ("key", "name", "description", "generic", "order")
    show_change_link = True
    formfield_overrides = _PLACEHOLDER


class ImplementationInline(DraftOnlyMixin, admin.StackedInline):  # type: ignore[type-arg]
    model = Implementation
    extra = 0
    fields = (
        ("division", "department"),
        "code",
        ("legal_limit_days", "promised_limit_days"),
        "fee",
        ("online", "window", "post"),
        "place",
        "hours",
    )
    autocomplete_fields = ("division", "department")
    formfield_overrides = _PLACEHOLDER


@admin.register(ServiceItem)
class ServiceItemAdmin(DraftOnlyMixin, AuditedAdmin):
    form = ServiceItemForm
    list_display = ("code", "name", "version", "batch", "mode_list", "lead_unit", "missing")
    list_filter = (
        "version",
        "batch",
        "online",
        "proxy",
        "joint",
        "min_real_name_level",
        "themes",
        "code_provisional",
    )
    search_fields = ("code", "name", "scenario_text")
    list_select_related = ("version", "lead_unit")
    empty_value_display = TO_BE_SUPPLIED
    autocomplete_fields = ("lead_unit", "cooperating_units")
    filter_horizontal = ("themes",)
    readonly_fields = ("version",)
    formfield_overrides = _PLACEHOLDER
    fieldsets = (
        (None, {"fields": ("version", ("code", "code_provisional"), "name", "item_type")}),
        (
            _("Elements"),
            {
                "fields": (
                    "legal_basis",
                    "conditions",
                    "scenario_text",
                    "workflow",
                    "min_real_name_level",
                )
            },
        ),
        (
            _("Batch and units"),
            {"fields": (("batch", "batch_inferred", "seq"), "lead_unit", "cooperating_units")},
        ),
        (_("Modes and themes"), {"fields": (("online", "proxy", "joint"), "pattern", "themes")}),
        (_("Source"), {"fields": ("source", "confidence")}),
    )
    inlines = (ScenarioInline, ImplementationInline)

    @admin.display(description=_("modes"))
    def mode_list(self, obj: ServiceItem) -> str:
        return " / ".join(obj.modes) or str(TO_BE_SUPPLIED)

    @admin.display(description=_("to be supplied"))
    def missing(self, obj: ServiceItem) -> str:
        names = [
            str(getattr(ServiceItem._meta.get_field(name), "verbose_name", name))
            for name in ("item_type", "legal_basis", "conditions")
            if not getattr(obj, name)
        ]
        return "、".join(names) or "—"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # New items come through import into the draft (`tongban catalog import`).
        return False


class MaterialInline(DraftOnlyMixin, admin.StackedInline):  # type: ignore[type-arg]
    model = MaterialSpec
    form = MaterialForm
    extra = 0
    fields = (
        ("key", "name", "order"),
        ("required", "original_required"),
        ("license_type", "datashare_check"),
        "accepted_types",
        "template",
        "note",
    )
    formfield_overrides = _PLACEHOLDER


@admin.register(Scenario)
class ScenarioAdmin(DraftOnlyMixin, AuditedAdmin):
    form = ScenarioForm
    list_display = ("name", "item", "generic")
    list_filter = ("generic", "item__version")
    search_fields = ("name", "item__name", "item__code")
    list_select_related = ("item__version",)
    readonly_fields = ("item",)
    fields = ("item", "key", "name", "description", "generic", "form_schema", "order")
    formfield_overrides = _PLACEHOLDER
    inlines = (MaterialInline,)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Theme)
class ThemeAdmin(AuditedAdmin):
    """A theme's key is referenced by items of published versions: it is fixed once created,
    and a theme in use cannot be deleted (published versions must not change)."""

    list_display = ("name", "key", "order")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("key",) if obj is not None else ()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and ServiceItem.objects.filter(themes=obj).exists():
            return False
        return super().has_delete_permission(request, obj)


@admin.register(SearchSynonym)
class SearchSynonymAdmin(AuditedAdmin):
    list_display = ("term", "expansions")
    search_fields = ("term", "expansions")


class PushRuleForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = PushRule
        fields = ("key", "trigger", "item_codes", "reason", "active", "order")

    def clean_trigger(self) -> str:
        trigger = str(self.cleaned_data.get("trigger", ""))
        if trigger not in TRIGGERS:
            raise forms.ValidationError(
                _("Choose one of: %(choices)s.") % {"choices": ", ".join(sorted(TRIGGERS))}
            )
        return trigger

    def clean_item_codes(self) -> list[str]:
        codes = self.cleaned_data.get("item_codes")
        if not isinstance(codes, list) or not all(
            isinstance(code, str) and CODE.fullmatch(code) for code in codes
        ):
            raise forms.ValidationError(_("A JSON list of 12-character basic codes."))
        return codes


@admin.register(PushRule)
class PushRuleAdmin(AuditedAdmin):
    form = PushRuleForm
    list_display = ("key", "trigger", "item_codes", "reason", "active", "order")
    list_filter = ("trigger", "active")


__all__ = ["VersionStatus"]
