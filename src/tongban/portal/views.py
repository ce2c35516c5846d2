"""The 跨省通办 zone: home, search results, themes and the guide (办事指南) of each item."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView, LogoutView
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from tongban.accounts import selectors as accounts
from tongban.accounts import services as account_services
from tongban.accounts import signin
from tongban.accounts.models import LifeEventKind
from tongban.accounts.selectors import otp_required_for
from tongban.catalog import push
from tongban.catalog import selectors as catalog
from tongban.catalog.models import Theme
from tongban.catalog.search import MAX_QUERY_LENGTH
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
    """Citizens sign in here with their password. A staff login (one person may be both) goes on
    to the code step of the staff sign-in, then back where it was going."""

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


class PortalLogoutView(LogoutView):
    next_page = "portal:home"


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
