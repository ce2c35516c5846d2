from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from tongban.accounts import services
from tongban.accounts.models import (
    ID_NUMBER,
    PHONE,
    Enterprise,
    EnterpriseMember,
    Person,
    Staff,
    StaffRole,
    User,
)
from tongban.core import identifiers
from tongban.core.admin_forms import ServiceAddAdmin, ServiceAddForm
from tongban.core.pii import pii_hash

admin.site.register(User, DjangoUserAdmin)


class PersonAddForm(ServiceAddForm):
    name = forms.CharField(label=_("name"), max_length=64)
    id_number = forms.CharField(label=_("resident ID number"), max_length=18)
    phone = forms.CharField(label=_("mobile phone"), max_length=20, required=False)

    class Meta:
        model = Person
        fields: list[str] = []

    def create(self, actor: Any) -> Person:
        data = self.cleaned_data
        return services.person_register_at_window(
            actor=actor, name=data["name"], id_number=data["id_number"], phone=data["phone"]
        )


def search_by_identifier(
    queryset: QuerySet[Any], term: str, prefix: str = ""
) -> QuerySet[Any] | None:
    """Exact look-up by ID number or phone through the keyed hash; None if the term is neither."""
    try:
        value = identifiers.normalize_id_number(term)
        return queryset.filter(**{f"{prefix}id_number_hash": pii_hash(value, purpose=ID_NUMBER)})
    except identifiers.InvalidIdentifier:
        pass
    try:
        value = identifiers.normalize_mobile(term)
        return queryset.filter(**{f"{prefix}phone_hash": pii_hash(value, purpose=PHONE)})
    except identifiers.InvalidIdentifier:
        return None


@admin.register(Person)
class PersonAdmin(ServiceAddAdmin):
    add_form = PersonAddForm
    list_display = (
        "masked_name",
        "masked_id_number",
        "masked_phone",
        "real_name_level",
        "created_at",
    )
    list_filter = ("real_name_level",)
    search_fields = ("name",)
    search_help_text = _("Search by full ID number, mobile phone number or name.")
    fields = ("name", "masked_id_number", "masked_phone", "real_name_level", "user", "created_at")
    readonly_fields = fields

    @admin.display(description=_("name"))
    def masked_name(self, obj: Person) -> str:
        return obj.name_masked

    @admin.display(description=_("resident ID number"))
    def masked_id_number(self, obj: Person) -> str:
        return obj.id_number_masked

    @admin.display(description=_("mobile phone"))
    def masked_phone(self, obj: Person) -> str:
        return obj.phone_masked

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        found = search_by_identifier(queryset, search_term.strip())
        if found is not None:
            return found, False
        return super().get_search_results(request, queryset, search_term)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class EnterpriseAddForm(ServiceAddForm):
    uscc = forms.CharField(label=_("unified social credit code"), max_length=18)
    name = forms.CharField(label=_("name"), max_length=128)
    legal_representative_id_number = forms.CharField(
        label=_("legal representative's ID number"), max_length=18
    )
    legal_representative_name = forms.CharField(
        label=_("legal representative's name"), max_length=64
    )

    class Meta:
        model = Enterprise
        fields: list[str] = []

    def create(self, actor: Any) -> Enterprise:
        data = self.cleaned_data
        return services.enterprise_register(actor=actor, **data)


class EnterpriseMemberInline(admin.TabularInline):  # type: ignore[type-arg]
    model = EnterpriseMember
    extra = 0
    fields = ("person", "role", "granted_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Enterprise)
class EnterpriseAdmin(ServiceAddAdmin):
    add_form = EnterpriseAddForm
    list_display = ("name", "uscc", "legal_representative", "registered_division", "created_at")
    search_fields = ("name", "uscc")
    fields = ("uscc", "name", "legal_representative", "registered_division", "created_at")
    readonly_fields = fields
    inlines = (EnterpriseMemberInline,)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class StaffAddForm(ServiceAddForm):
    username = forms.CharField(label=_("username"), max_length=150)
    password = forms.CharField(label=_("password"), widget=forms.PasswordInput)
    name = forms.CharField(label=_("name"), max_length=64)
    employee_number = forms.CharField(label=_("employee number"), max_length=32)
    department_key = forms.CharField(label=_("department key"), max_length=64)
    jurisdiction_code = forms.CharField(label=_("jurisdiction code"), max_length=6)
    roles = forms.MultipleChoiceField(
        label=_("roles"), choices=StaffRole.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Staff
        fields: list[str] = []

    def create(self, actor: Any) -> Staff:
        return services.staff_create(actor=actor, **self.cleaned_data)


class StaffChangeForm(ServiceAddForm):
    """Changing roles runs ``staff_set_roles`` (permissions, audit) when the form is cleaned."""

    roles = forms.MultipleChoiceField(
        label=_("roles"), choices=StaffRole.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Staff
        fields: list[str] = []

    def create(self, actor: Any) -> Staff:
        return services.staff_set_roles(
            actor=actor, staff=self.instance, roles=self.cleaned_data["roles"]
        )


@admin.register(Staff)
class StaffAdmin(ServiceAddAdmin):
    add_form = StaffAddForm
    form = StaffChangeForm
    list_display = (
        "name",
        "employee_number",
        "user",
        "department",
        "jurisdiction",
        "role_list",
        "active",
    )
    list_filter = ("active", "role_grants__role", "department")
    search_fields = ("name", "employee_number", "user__username")
    fields = ("user", "name", "employee_number", "department", "jurisdiction", "active", "roles")
    readonly_fields = ("user", "name", "employee_number", "department", "jurisdiction", "active")

    @admin.display(description=_("roles"))
    def role_list(self, obj: Staff) -> str:
        return "、".join(str(StaffRole(role).label) for role in sorted(obj.roles))

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        if obj is not None:
            form = type(form.__name__, (form,), {"actor": request.user})
            form.base_fields["roles"].initial = sorted(obj.roles)  # type: ignore[attr-defined]
        return form

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # Both adding (staff_create) and changing roles (staff_set_roles) ran in form.clean().
        return

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
