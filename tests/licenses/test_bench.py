from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command


def test_the_bench_reports_verifications_per_second_and_the_qr_size() -> None:
    out = io.StringIO()
    call_command("bench", "licenses", "--seconds", "0.2", stdout=out)
    report = json.loads(out.getvalue())
    assert report["verifications"] >= 200
    assert report["per_second"] > 0
    assert report["goal_per_second"] == 5000
    assert report["met"] is (report["per_second"] >= 5000)
    assert 300 < report["qr_text_chars"] < 1000
    assert report["qr_text_chars"] < report["jws_bytes"]  # the packing pays
    assert 1 <= report["qr_version"] <= 20


@pytest.mark.parametrize("seconds", ["0", "-1", "601"])
def test_a_silly_duration_is_refused(seconds: str) -> None:
    with pytest.raises(CommandError):
        call_command("bench", "licenses", "--seconds", seconds)
