"""The 跨省通办 zone: home, search results, themes and the guide (办事指南) of each item."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView, LogoutView
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from tongban.accounts import selectors as accounts
from tongban.accounts import services as account_services
from tongban.accounts import signin
from tongban.accounts.models import LifeEventKind
from tongban.accounts.selectors import otp_required_for
from tongban.accounts.sso import client as sso_client
from tongban.accounts.sso import provider as sso_provider
from tongban.catalog import push
from tongban.catalog import selectors as catalog
from tongban.catalog.models import Theme
from tongban.catalog.search import MAX_QUERY_LENGTH
from tongban.core.errors import DomainError
from tongban.regions import selectors as regions


def query_without_page(request: HttpRequest) -> str:
    """The query string minus ``page``, ready to take ``page=N`` after it."""
    params = request.GET.copy()
    params.pop("page", None)
    encoded = params.urlencode()
    return f"{encoded}&" if encoded else ""


# The busiest cross-province services (川渝通办 figures in REFERENCE.md) lead the home page.
POPULAR = (
    "异地就医结算备案",
    "夫妻投靠户口迁移",
    "正常退休提取住房公积金",
    "企业职工基本养老保险关系转移接续",
    "社会保障卡申领",
    "无犯罪记录证明开具",
    "个体工商户注销登记",
    "学历公证",
)
PAGE_SIZE = 20


def home(request: HttpRequest) -> HttpResponse:
    version = catalog.version_current()
    items = catalog.item_list(version=version, filters=catalog.ItemFilters())
    by_name = {item.name: item for item in items}
    themes = catalog.theme_counts(version=version)
    person = accounts.person_for_user(request.user) if request.user.is_authenticated else None
    recommended = push.recommendations_for(person=person, version=version) if person else []
    declared = {event.kind for event in person.life_events.all()} if person else set()
    return render(
        request,
        "portal/home.html",
        {
            "version": version,
            "popular": [by_name[name] for name in POPULAR if name in by_name],
            "themes": themes,
            "item_count": len(by_name),
            "person": person,
            "recommended": recommended,
            "life_events": [
                (kind, label, kind in declared) for kind, label in LifeEventKind.choices
            ],
        },
    )


@require_POST
@login_required
def life_events(request: HttpRequest) -> HttpResponse:
    """The home page's "what happened in your life" form: declare the ticked events, withdraw
    the unticked ones."""
    ticked = set(request.POST.getlist("kind"))
    person = accounts.person_for_user(request.user)
    declared = set(person.life_events.values_list("kind", flat=True)) if person else set()
    for kind in LifeEventKind.values:
        if kind in ticked and kind not in declared:
            # Only new ones: re-declaring would drop a date given through the API.
            account_services.life_event_declare(actor=request.user, kind=kind)
        elif kind not in ticked and kind in declared:
            account_services.life_event_withdraw(actor=request.user, kind=kind)
    return redirect("portal:home")


class PortalLoginView(LoginView):
    """Citizens sign in here with their password; on a node that signs people in through the
    hub, straight to the hub (``?local=1`` keeps the form, for accounts made here). A staff
    login (one person may be both) goes on to the code step of the staff sign-in, then back
    where it was going."""

    template_name = "portal/login.html"
    redirect_authenticated_user = True
    form_class = signin.SignInForm

    def form_valid(self, form: Any) -> HttpResponse:
        user = form.get_user()
        if not otp_required_for(user):
            return super().form_valid(form)
        return redirect(
            signin.begin(
                self.request,
                user,
                username=form.cleaned_data["username"],
                next_url=self.get_success_url(),
            )
        )

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if (
            sso_client.enabled()
            and not request.GET.get("local")
            and not request.user.is_authenticated
        ):
            query = urlencode(
                {"next": sso_client.safe_next(request.GET.get("next"), host=request.get_host())}
            )
            return redirect(f"{reverse('sso:login')}?{query}")
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        # On the hub, signing in for a province's portal: say which one the person returns to.
        context["signing_in_for"] = sso_provider.client_name_for_next(
            self.request.GET.get("next", "")
        )
        return context


SIGN_UP_FIELDS = ("name", "id_number", "phone", "password")


@never_cache
def sign_up(request: HttpRequest) -> HttpResponse:
    """Open an account (L1). On a node that signs people in through the hub, the account is
    opened at the hub (the national account serves every province) and the person comes back
    signed in."""
    host = request.get_host()
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={host}):
        next_url = reverse("portal:home")
    if sso_client.enabled():
        query = urlencode({"next": sso_client.safe_next(next_url, host=host), "prompt": "create"})
        return redirect(f"{reverse('sso:login')}?{query}")
    if request.user.is_authenticated:
        return redirect(next_url)
    values = {name: request.POST.get(name, "") for name in SIGN_UP_FIELDS}
    problem: DomainError | None = None
    if request.method == "POST":
        try:
            person = account_services.person_sign_up(**values)
        except DomainError as error:
            problem = error
        else:
            login(request, person.user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect(next_url)
    values["password"] = ""
    return render(
        request,
        "portal/signup.html",
        {"values": values, "problem": problem, "next": next_url},
        status=problem.status if problem is not None else 200,
    )


class PortalLogoutView(LogoutView):
    """Logs out here; a session that came from the hub ends there too (and so on every other
    node it reached)."""

    next_page = "portal:home"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        hub_logout = sso_client.logout_url(request.session)
        sso_client.sessions_forget(request.session.session_key)
        response = super().post(request, *args, **kwargs)
        return redirect(hub_logout) if hub_logout else response


def search(request: HttpRequest) -> HttpResponse:
    version = catalog.version_current()
    query = request.GET.get("q", "")[:MAX_QUERY_LENGTH]
    mode = request.GET.get("mode") or None
    filters = catalog.ItemFilters(mode=mode if mode in {"ONLINE", "PROXY", "JOINT"} else None)
    hits = catalog.search_index(version=version).search(query, limit=50) if query.strip() else []
    allowed = {
        item.code: item
        for item in catalog.item_list(
            version=version, filters=filters, codes=[hit.code for hit in hits]
        )
    }
    results = [(hit, allowed[hit.code]) for hit in hits if hit.code in allowed]
    page = Paginator(results, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "portal/search.html",
        {
            "query": query,
            "blank": not query.strip(),
            "mode": filters.mode,
            "page": page,
            "results": page.object_list,
            "total": len(results),
            "qs": query_without_page(request),
        },
    )


def theme(request: HttpRequest, key: str) -> HttpResponse:
    version = catalog.version_current()
    theme_obj = Theme.objects.filter(key=key).first()
    if theme_obj is None:
        return render(request, "portal/not_found.html", status=404)
    items = catalog.item_list(version=version, filters=catalog.ItemFilters(theme=key))
    return render(request, "portal/theme.html", {"theme": theme_obj, "items": items})


def guide(request: HttpRequest, code: str) -> HttpResponse:
    version = catalog.version_current()
    item = catalog.item_get(version=version, code=code)
    implementations = [
        {
            "implementation": implementation,
            "windows": regions.windows_serving(
                department=implementation.department, within=implementation.division_id
            )
            if implementation.department
            else [],
        }
        for implementation in item.implementations.all()
    ]
    return render(
        request,
        "portal/guide.html",
        {"item": item, "implementations": implementations, "version": version},
    )


@login_required
def case_notice(request: HttpRequest, number: str, kind: str) -> HttpResponse:
    """A printable notice of a case, for its applicant and the staff who may see it."""
    from tongban.cases import selectors as cases

    case = cases.case_get(actor=request.user, number=number)
    return render(request, "cases/notice.html", cases.case_notice(case=case, kind=kind))
