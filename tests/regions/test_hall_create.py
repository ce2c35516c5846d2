import datetime as dt

import pytest
import time_machine

from tongban.core.audit import SYSTEM
from tongban.core.errors import ValidationFailed
from tongban.regions.models import OpeningPeriod, ServiceHall, Window
from tongban.regions.selectors import hall_list, window_is_serving, window_periods_on
from tongban.regions.services import hall_create

pytestmark = pytest.mark.django_db
SHANGHAI = dt.timezone(dt.timedelta(hours=8))

PERIODS = [
    {"weekdays": [1, 2, 3, 4, 5], "start": "09:00", "end": "12:00", "kind": "regular"},
    {"weekdays": [1, 2, 3, 4, 5], "start": "13:30", "end": "17:30", "kind": "regular"},
    {"weekdays": [1, 2, 3, 4, 5], "start": "12:00", "end": "13:30", "kind": "staggered"},
    {"weekdays": [6], "start": "09:00", "end": "12:00", "kind": "staggered"},
    {"weekdays": [1, 2, 3, 4, 5], "start": "17:30", "end": "19:30", "kind": "extended"},
]
WINDOWS = [
    {
        "number": "A01",
        "name": "跨省通办窗口",
        "kind": "cross_province",
        "departments": ["cq-hrss"],
        "off_hours": True,
    },
    {
        "number": "A02",
        "name": "综合受理窗口",
        "kind": "general",
        "departments": ["cq-justice", "cq-health"],
    },
]


def _hall(**overrides):
    data = {
        "actor": SYSTEM,
        "key": "test-hall",
        "name": "测试政务服务中心",
        "division_code": "500103",
        "opening_periods": PERIODS,
        "windows": WINDOWS,
    }
    data.update(overrides)
    return hall_create(**data)


def test_a_hall_with_windows_and_weekly_hours() -> None:
    hall = _hall()
    assert OpeningPeriod.objects.filter(hall=hall).count() == 5 + 5 + 5 + 1 + 5
    cross = Window.objects.get(hall=hall, number="A01")
    assert [d.key for d in cross.departments.all()] == ["cq-hrss"]
    assert list(hall_list(division="500103")) == [hall]


@pytest.mark.parametrize(
    ("moment", "cross_province_open", "general_open"),
    [
        (dt.datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI), True, True),  # Monday morning
        (dt.datetime(2026, 11, 23, 12, 30, tzinfo=SHANGHAI), True, False),  # lunch: staggered
        (dt.datetime(2026, 11, 23, 18, 0, tzinfo=SHANGHAI), True, False),  # evening: extended
        (dt.datetime(2026, 11, 23, 20, 0, tzinfo=SHANGHAI), False, False),
        (dt.datetime(2026, 11, 28, 10, 0, tzinfo=SHANGHAI), True, False),  # Saturday morning
        (dt.datetime(2026, 11, 29, 10, 0, tzinfo=SHANGHAI), False, False),  # Sunday
    ],
)
def test_off_hours_windows_serve_in_staggered_and_extended_periods(
    moment, cross_province_open, general_open
) -> None:
    hall = _hall()
    cross = Window.objects.get(hall=hall, number="A01")
    general = Window.objects.get(hall=hall, number="A02")
    with time_machine.travel(moment, tick=False):
        assert window_is_serving(window=cross) is cross_province_open
        assert window_is_serving(window=general) is general_open


def test_moments_are_judged_in_beijing_time() -> None:
    hall = _hall()
    general = Window.objects.get(hall=hall, number="A02")
    # 02:00 UTC is 10:00 in Chongqing.
    assert window_is_serving(window=general, at=dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC))
    assert [p.start for p in window_periods_on(window=general, weekday=1)] == [
        dt.time(9),
        dt.time(13, 30),
    ]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (
            {"opening_periods": [{"weekdays": [8], "start": "09:00", "end": "10:00"}]},
            "opening_periods.0",
        ),
        (
            {"opening_periods": [{"weekdays": [1], "start": "11:00", "end": "10:00"}]},
            "opening_periods.0",
        ),
        (
            {"opening_periods": [{"weekdays": [1], "start": "9am", "end": "10:00"}]},
            "opening_periods.0",
        ),
        (
            {
                "opening_periods": [
                    {"weekdays": [1], "start": "09:00", "end": "10:00", "kind": "night"}
                ]
            },
            "opening_periods.0.kind",
        ),
        ({"windows": [{**WINDOWS[0], "departments": ["nope"]}]}, "windows.0.departments"),
        ({"windows": [WINDOWS[0], WINDOWS[0]]}, "windows.1.number"),
        ({"windows": [{**WINDOWS[0], "kind": "vip"}]}, "windows.0.kind"),
        ({"division_code": "999999"}, "division_code"),
        (
            {
                "opening_periods": [
                    {"weekdays": [1, 2], "start": "09:00", "end": "12:00"},
                    {"weekdays": [2], "start": "11:00", "end": "14:00", "kind": "staggered"},
                ]
            },
            "opening_periods.1",
        ),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(overrides, field) -> None:
    with pytest.raises(ValidationFailed) as problem:
        _hall(**overrides)
    assert field in problem.value.fields
    assert not ServiceHall.objects.exists()
    assert not Window.objects.exists()
