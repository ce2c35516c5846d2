from io import StringIO

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_bench_search_prints_hit_rates_and_latency_against_targets() -> None:
    out = StringIO()
    call_command("bench", "search", "--repeat", "1", stdout=out)
    text = out.getvalue()
    assert "cases" in text
    assert "top-3 hit" in text
    assert "target ≥ 95%: met" in text
    assert "p99 latency" in text
