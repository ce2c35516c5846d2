import json

import pytest

from tongban.api.management.commands.openapi import SCHEMA_FILE, current_schema


def test_the_committed_schema_matches_the_code() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == current_schema(), (
        "the API changed: run `make openapi` and commit src/tongban/api/openapi.json"
    )


@pytest.mark.django_db
def test_the_schema_is_served(api) -> None:
    response = api.get("/api/v1/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/accounts/sign-up" in paths
    assert "/api/v1/regions/divisions/{code}" in paths
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))["paths"].keys() == paths.keys()
