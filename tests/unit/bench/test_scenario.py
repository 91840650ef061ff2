"""The pure parts of the throughput scenarios: 10 s windows, percentiles, the table and JSON."""

from __future__ import annotations

import json
import math

import pytest

from bench.scenario import (
    Figure,
    Measurement,
    Sent,
    WrittenBack,
    all_goals_met,
    at_least,
    at_most,
    figures_table,
    finish,
    latency_summary,
    outcome_figures,
    parser_for,
    rate_windows,
    result_json,
    seeded_post_id,
)
from bench.stack import percentile
from sandbox.ghl.seed import seed_location


def test_windows_start_at_the_first_call_and_leave_out_the_first_and_the_partial_last() -> None:
    # First window [0, 10): 3 calls; second [10, 20): 20 calls; third [20, 30): 10 calls;
    # then a partial window [30, 35] the calls end within.
    times = [0.0, 1.0, 2.0] + [10 + i * 0.5 for i in range(20)] + [20 + i for i in range(10)]
    times += [30.0, 35.0]

    assert rate_windows(times) == [2.0, 1.0]


def test_windows_count_a_call_on_a_boundary_in_the_window_it_opens() -> None:
    times = [5.0, 14.999, 15.0, 25.0, 35.0]  # windows from 5: [5,15) [15,25) [25,35)

    assert rate_windows(times) == [0.1, 0.1]


def test_windows_need_more_than_one_whole_window_and_take_any_order() -> None:
    assert rate_windows([]) == []
    assert rate_windows([3.0]) == []
    assert rate_windows([0.0, 9.0, 19.0]) == []  # one whole window: the first, left out
    # windows of 5 s from 0: [0,5) 1 call, [5,10) 0, [10,15) 1, [15,20) 0, [20,25) 1; 25: end
    assert rate_windows([25.0, 0.0, 12.0, 20.0], window=5.0) == [0.0, 0.2, 0.0, 0.2]


def test_a_steady_ten_calls_a_second_gives_ten_in_every_window() -> None:
    times = [i / 10 for i in range(600)]  # 0.0 .. 59.9 s

    windows = rate_windows(times)

    assert len(windows) == 4  # [10,20) .. [40,50); [50, 59.9] is partial
    assert windows == pytest.approx([10.0] * 4)


def test_percentiles_interpolate_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]  # 1 .. 100

    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([4.0, 1.0], 0) == 1.0
    assert math.isnan(percentile([], 50))
    assert latency_summary([0.2, 0.1, 0.3]) == {
        "p50_s": pytest.approx(0.2),
        "p99_s": pytest.approx(0.298),
        "max_s": 0.3,
    }
    assert math.isnan(latency_summary([])["max_s"])


def test_goals_say_whether_they_were_met_and_nothing_measured_misses_them() -> None:
    assert at_most("calls", 10, 10, "").met is True
    assert at_most("calls", 11, 10, "").met is False
    assert at_least("rate", 9.5, 9.5, "/s").met is True
    assert at_least("rate", 9.4, 9.5, "/s").met is False
    assert at_least("rate", None, 9.5, "/s").met is False
    assert at_most("p99", math.nan, 2, "s").met is False
    assert at_most("wall", 1.0, 10, "s").goal == "<= 10 s"


def test_the_table_shows_each_figure_beside_its_goal() -> None:
    figures = [
        at_most("GHL calls", 3, 10, ""),
        at_least("events/s", 5.926, 100, "/s"),
        Figure("dead", 0, ""),
        Figure("wall", None, "s"),
    ]

    lines = figures_table(figures).splitlines()

    assert lines[0].split("|")[1:-1] == [" figure    ", " measured ", " goal      ", " met "]
    assert [cell.strip() for cell in lines[2].split("|")[1:-1]] == [
        "GHL calls",
        "3",
        "<= 10",
        "yes",
    ]
    assert [cell.strip() for cell in lines[3].split("|")[1:-1]] == [
        "events/s", "5.93 /s", ">= 100 /s", "NO"
    ]  # fmt: skip
    assert [cell.strip() for cell in lines[4].split("|")[1:-1]] == ["dead", "0", "-", "-"]
    assert [cell.strip() for cell in lines[5].split("|")[1:-1]] == ["wall", "-", "-", "-"]
    assert not all_goals_met(figures)
    assert all_goals_met(figures[:1] + figures[2:])


def test_the_json_holds_the_machine_settings_figures_and_details(
    capsys: pytest.CaptureFixture[str],
) -> None:
    figures = [at_most("GHL 429s", 0, 0, ""), Figure("written back", 5, "of 5")]

    finish("demo", {"cpus": 2}, {"events": 5}, figures, {"wall_s": 1.5}, "-")

    out = capsys.readouterr().out
    document = json.loads(out[out.index("\n{") :])
    assert document == result_json("demo", {"cpus": 2}, {"events": 5}, figures, {"wall_s": 1.5})
    assert document["benchmark"] == "demo"
    assert document["all_goals_met"] is True
    assert document["figures"][0] == {
        "name": "GHL 429s", "value": 0, "unit": "", "goal": "<= 0", "met": True
    }  # fmt: skip
    assert document["wall_s"] == 1.5
    assert "all goals met" in out


def test_the_seeded_post_ids_the_scenarios_name_are_the_sandboxes() -> None:
    location = seed_location("loc_posts", post_count=7)

    assert location.post(seeded_post_id("loc_posts", 7)) is not None
    assert location.post(seeded_post_id("loc_posts", 8)) is None


def _measurement(written_at: dict[str, float], *, dead: int = 0) -> Measurement:
    sent = [Sent("evt_a", 100.5), Sent("evt_b", 100.75)]
    written = WrittenBack(written_at=written_at, dead=dead, unfinished=0)
    cpu = {"web (gunicorn)": 1.0, "machine": 10.0}
    return Measurement(100.0, 0.75, sent, written, cpu, {"web (gunicorn)": 1.5, "machine": 12.0})


def test_a_measurement_times_the_burst_to_its_last_write_back() -> None:
    m = _measurement({"evt_a": 101.0, "evt_b": 102.25})

    assert m.wall_s == pytest.approx(2.25)
    assert m.to_writeback() == pytest.approx([0.5, 1.5])
    details = m.details()
    assert details["written_back"] == 2
    assert details["accept_to_writeback"]["max_s"] == pytest.approx(1.5)
    assert details["cpu_seconds"] == {"web (gunicorn)": 0.5, "rest of the machine": 1.5}
    assert [f.value for f in outcome_figures(m)] == [2, 0]


def test_a_burst_with_a_missing_write_back_has_no_wall_time() -> None:
    assert _measurement({"evt_a": 101.0}, dead=1).wall_s is None
    # Both events final, but the CRM holds one write-back only.
    assert _measurement({"evt_a": 101.0}).wall_s is None


def test_a_scenario_needs_at_least_one_event(capsys: pytest.CaptureFixture[str]) -> None:
    parser = parser_for("demo", "a demo", events=600)

    assert parser.parse_args([]).events == 600
    assert parser.parse_args(["--events", "25", "--json", "-"]).json == "-"
    with pytest.raises(SystemExit):
        parser.parse_args(["--events", "0"])
    assert "expected 1 or more" in capsys.readouterr().err
