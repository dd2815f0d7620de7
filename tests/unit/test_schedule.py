"""Processing windows as people type them: parsing, errors, open or not, the next opening."""

from __future__ import annotations

from datetime import datetime

import pytest

import tests.fake_plugins  # noqa: F401 - registers test-tick
from stashdesk.daemons.schedule import format_duration, parse_processing_windows
from stashdesk.options import OptionError

WEEK = "Mon-Fri 01:00-07:00, Sat-Sun 00:00-24:00"


def at(day: int, hour: int, minute: int = 0) -> float:
    """Local time on the day ``day`` of January 2025 (the 6th was a Monday)."""
    return datetime(2025, 1, day, hour, minute).timestamp()


def test_empty_means_always() -> None:
    windows = parse_processing_windows("")
    assert windows.always and windows.is_open(at(6, 12))
    assert windows.next_open(at(6, 12)) is None


def test_weekday_nights_and_whole_weekends() -> None:
    windows = parse_processing_windows(WEEK)
    assert windows.is_open(at(6, 1)) and windows.is_open(at(6, 6, 59))
    assert not windows.is_open(at(6, 7)) and not windows.is_open(at(6, 12))
    assert windows.is_open(at(11, 12)) and windows.is_open(at(12, 23, 59))  # Sat, Sun
    assert windows.next_open(at(6, 12)) == at(7, 1)
    assert windows.describe_next(at(6, 12)) == (at(7, 1), "01:00")
    # Friday after its night: the weekend opens at Saturday midnight
    assert windows.next_open(at(10, 8)) == at(11, 0)


def test_a_range_past_midnight_ends_the_next_day() -> None:
    windows = parse_processing_windows("Fri 22:00-06:00")
    assert windows.is_open(at(10, 23)) and windows.is_open(at(11, 5, 59))
    assert not windows.is_open(at(11, 6)) and not windows.is_open(at(9, 23))
    # from Saturday morning the next opening is a week away: named with its day
    assert windows.describe_next(at(11, 7)) == (at(17, 22), "Fri 22:00")


@pytest.mark.parametrize(
    "text",
    [
        "weekdays 9-17",
        "Mon Tue Wed Thu Fri 09:00-17:00",
        "mon+tue+wed+thu+fri 9:00-17:00",
        "Monday-Friday 09:00-17:00",
    ],
)
def test_days_can_be_written_several_ways(text: str) -> None:
    windows = parse_processing_windows(text)
    assert windows.is_open(at(8, 10)) and not windows.is_open(at(11, 10))
    assert not windows.is_open(at(8, 17))


def test_windows_can_be_separated_by_semicolons_and_wrap_the_week() -> None:
    windows = parse_processing_windows("Sat-Mon 10:00-11:00; 23:00-23:30")
    assert windows.is_open(at(6, 10, 30)) and windows.is_open(at(12, 10, 30))
    assert not windows.is_open(at(7, 10, 30))
    assert windows.is_open(at(7, 23, 15))


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("Mon-Fry 01:00-07:00", "unknown day 'Fry'"),
        ("01:00", "needs a time range"),
        ("Mon 25:00-26:00", "'25:00' is not a time of day"),
        ("Mon 01:00-01:00", "for a whole day write 00:00-24:00"),
        ("Mon 1:75-2:00", "is not a time of day"),
        ("Mon 24:00-01:00", "cannot start at 24:00"),
        ("Mon 01:00-07:00x", "'07:00x' is not a time"),
    ],
)
def test_a_bad_window_says_what_to_write(text: str, says: str) -> None:
    with pytest.raises(OptionError) as error:
        parse_processing_windows(text)
    assert says in str(error.value)
    assert "Mon-Fri 01:00-07:00, Sat-Sun 00:00-24:00" in str(error.value)


async def test_a_bad_window_is_refused_before_it_is_saved(services) -> None:
    with pytest.raises(OptionError, match="unknown day 'Fry'"):
        await services.manager.set_config("test-tick", {"processing_windows": "Fry 1-2"})
    assert services.manager.handle("test-tick").config["processing_windows"] == ""


def test_durations_read_like_people_say_them() -> None:
    assert format_duration(7 * 3600 + 12 * 60 + 10) == "7 h 12 min"
    assert format_duration(3 * 60) == "3 min"
    assert format_duration(2 * 86400 + 4 * 3600 + 5 * 60) == "2 d 4 h"
    assert format_duration(20) == "20 s"
