"""What every portal page needs to say where the person is: which province's platform."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext as _

_names: dict[str, str] = {}  # a division's name never changes; read once per process


def _division_name(code: str) -> str:
    from tongban.regions.models import Division

    if code not in _names:
        division = Division.objects.filter(code=code).only("name").first()
        if division is None:
            return ""
        _names[code] = division.name
    return _names[code]


def node(request: HttpRequest) -> dict[str, str]:
    code = settings.TONGBAN_NODE_CODE
    if code == settings.TONGBAN_HUB_CODE:
        return {"node_name": _("National platform")}
    return {"node_name": _division_name(code)}
