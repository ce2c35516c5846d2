from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.conftest import login


@pytest.fixture
def admin_ui(platform_admin: Any) -> Client:
    """A browser logged in to the Django admin as a platform admin (a superuser)."""
    assert platform_admin.user.is_superuser
    client = Client()
    login(client, platform_admin.user)
    return client
