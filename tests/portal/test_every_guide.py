"""After `tongban init`, every item of the catalogue has a guide that renders."""

import pytest

from tongban.catalog.models import ServiceItem
from tongban.catalog.selectors import version_current

pytestmark = pytest.mark.django_db


def test_every_item_has_a_guide_page_and_an_api_guide(api) -> None:
    codes = list(
        ServiceItem.objects.filter(version=version_current()).values_list("code", flat=True)
    )
    assert len(codes) == 115
    for code in codes:
        page = api.get(f"/items/{code}/")
        assert page.status_code == 200, code
        assert "办理地点与时限" in page.content.decode()
        assert api.get(f"/api/v1/catalog/items/{code}").status_code == 200, code
