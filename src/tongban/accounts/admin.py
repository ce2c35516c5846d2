from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
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
    VerificationRecord,
)
from tongban.core import identifiers
from tongban.core.admin_forms import ServiceAddAdmin, ServiceAddForm
from tongban.core.errors import DomainError
from tongban.core.pii import pii_hash


@admin.register(User)
class UserAdmin(DjangoUserAdmin):  # type: ignore[type-arg]
    """Powers come from staff roles (staff_set_roles, audited), never from ticking boxes here."""

    readonly_fields = (
        "is_staff",
        "is_superuser",
        "groups",
        "user_permissions",
        "last_login",
        "date_joined",
    )


class PersonAddForm(ServiceAddForm):
    name = forms.CharField(label=_("full name"), max_length=64)
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


class PersonLookupForm(forms.Form):
    identifier = forms.CharField(
        label=_("resident ID number or mobile phone"),
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True}),
    )


class VerificationRecordInline(admin.TabularInline):  # type: ignore[type-arg]
    """How the person reached their level; written only by the verification services."""

    model = VerificationRecord
    extra = 0
    fields = ("created_at", "method", "level_before", "level_after", "verified_by_label", "note")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


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
    search_help_text = _(
        "Search by name. To find someone by ID number or phone without the number landing in "
        "the address bar, use “Find by ID number or phone”."
    )
    fields = ("name", "masked_id_number", "masked_phone", "real_name_level", "user", "created_at")
    readonly_fields = fields
    inlines = (VerificationRecordInline,)

    @admin.display(description=_("full name"))
    def masked_name(self, obj: Person) -> str:
        return obj.name_masked

    @admin.display(description=_("resident ID number"))
    def masked_id_number(self, obj: Person) -> str:
        return obj.id_number_masked

    @admin.display(description=_("mobile phone"))
    def masked_phone(self, obj: Person) -> str:
        return obj.phone_masked

    def get_urls(self) -> list[URLPattern]:
        lookup = path(
            "lookup/",
            self.admin_site.admin_view(self.lookup_view),
            name="accounts_person_lookup",
        )
        return [lookup, *super().get_urls()]

    def lookup_view(self, request: HttpRequest) -> HttpResponse:
        """Find a person by full ID number or phone through a POST form, then open their page:
        the number never appears in a URL."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = PersonLookupForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            term = form.cleaned_data["identifier"].strip()
            found = search_by_identifier(self.get_queryset(request), term)
            if found is None:
                form.add_error(
                    "identifier", _("Enter a full resident ID number or mobile phone number.")
                )
            elif (person := found.first()) is None:
                form.add_error("identifier", _("No registered person has this ID number or phone."))
            else:
                return HttpResponseRedirect(
                    reverse("admin:accounts_person_change", args=[person.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Find a person"),
            "form": form,
        }
        return TemplateResponse(request, "admin/accounts/person/lookup.html", context)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Identity data changes only through services (real-name verification, issue 6).
        return False

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

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # members are added through enterprise_member_add (API)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class StaffAddForm(ServiceAddForm):
    username = forms.CharField(label=_("username"), max_length=150)
    password = forms.CharField(label=_("password"), widget=forms.PasswordInput)
    name = forms.CharField(label=_("full name"), max_length=64)
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Per form instance: base_fields are shared by every request of this admin.
        if self.instance.pk:
            self.fields["roles"].initial = sorted(self.instance.roles)

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
    # No department filter: a node has dozens; search finds staff by department name instead.
    list_filter = ("active", "role_grants__role")
    search_fields = ("name", "employee_number", "user__username", "department__name")
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
        return form

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # Both adding (staff_create) and changing roles (staff_set_roles) ran in form.clean().
        return

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    actions = ["reset_authenticator", "unlock_login"]

    @admin.action(description=_("Reset the authenticator (set up again at next sign-in)"))
    def reset_authenticator(self, request: HttpRequest, queryset: QuerySet[Staff]) -> None:
        self._each(
            request,
            queryset,
            lambda staff: services.staff_otp_reset(
                actor=request.user, user=staff.user, reason="admin"
            ),
            _("Authenticator reset for %(n)d staff member(s)."),
        )

    @admin.action(description=_("Unlock sign-in after failed attempts"))
    def unlock_login(self, request: HttpRequest, queryset: QuerySet[Staff]) -> None:
        self._each(
            request,
            queryset,
            lambda staff: services.login_unlock(actor=request.user, user=staff.user),
            _("Sign-in unlocked for %(n)d staff member(s)."),
        )

    def _each(
        self,
        request: HttpRequest,
        queryset: QuerySet[Staff],
        act: Callable[[Staff], object],
        done: Any,
    ) -> None:
        """Run a service per selected staff member; refusals are reported, not raised."""
        count = 0
        for staff in queryset.select_related("user"):
            try:
                act(staff)
            except DomainError as error:
                self.message_user(request, f"{staff}: {error.message}", messages.ERROR)
            else:
                count += 1
        if count:
            self.message_user(request, done % {"n": count}, messages.SUCCESS)
