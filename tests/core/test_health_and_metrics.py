import re
from unittest import mock

import pytest
from django.db import OperationalError

pytestmark = pytest.mark.django_db


def test_healthz_reports_the_node_and_database(api) -> None:
    response = api.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["node"] == "500000"
    assert body["database"] in {"sqlite", "postgresql"}
    assert response.headers["Cache-Control"].startswith("max-age=0")


def test_healthz_is_503_when_the_database_does_not_answer(api) -> None:
    with mock.patch("tongban.core.views.connection.cursor", side_effect=OperationalError("down")):
        response = api.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert "down" not in response.content.decode()  # no internals leak


def test_metrics_count_requests_by_route_pattern(api) -> None:
    api.get("/api/v1/regions/divisions/500103")
    api.get("/api/v1/regions/divisions/500104")
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    # Both requests are counted under one pattern: no per-object label explosion.
    line = next(
        line
        for line in text.splitlines()
        if line.startswith("tongban_http_requests_total")
        and 'route="/api/v1/regions/divisions/<code>"' in line
        and 'status="200"' in line
    )
    assert float(line.rsplit(" ", 1)[1]) >= 2
    # No label carries the object's code (digits inside sample values do not count).
    assert not re.search(r'="[^"]*500103[^"]*"', text)
    assert "tongban_database_up 1.0" in text
    assert 'tongban_build_info{node="500000"' in text


def test_metrics_report_a_database_outage_instead_of_failing(api) -> None:
    with mock.patch(
        "django_tasks_db.models.DBTaskResult.objects.values_list",
        side_effect=OperationalError("down"),
    ):
        response = api.get("/metrics")
    assert response.status_code == 200
    assert "tongban_database_up 0.0" in response.content.decode()
