"""The cold-start budget of a GPU pool: exact timeouts per pool kind, every figure sourced."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from components.config import load
from components.gke import cold_start
from tests.conftest import raw_platform


def pool(**changes: Any) -> Any:
    raw = raw_platform("dev")
    raw["gpu_pools"][0].update(changes)
    return load(raw).gpu_pools[0]


@pytest.mark.parametrize(
    ("changes", "schedule", "retries"),
    [
        ({"spot": True, "min_nodes": 0}, 900, 3),  # spot from zero: the autoscaler's 15 min limit
        ({"spot": False, "min_nodes": 0}, 600, 1),  # on-demand from zero: the 10 min slow end
        ({"spot": False, "min_nodes": 1}, 600, 1),  # warm but can still grow: the same wait
        ({"spot": True, "min_nodes": 2, "max_nodes": 2}, 120, 3),  # cannot grow: KPO's default
    ],
)
def test_budget_per_pool_kind(changes: dict[str, Any], schedule: int, retries: int) -> None:
    b = cold_start.budget(pool(**changes))
    assert b.hints() == {
        "schedule_timeout_seconds": schedule,
        "startup_timeout_seconds": 900,
        "retries": retries,
        "retry_delay_seconds": 60,
    }


def test_spot_waits_longer_than_on_demand_and_both_beat_kpo_defaults() -> None:
    spot = cold_start.budget(pool(spot=True)).schedule_timeout_seconds
    on_demand = cold_start.budget(pool(spot=False)).schedule_timeout_seconds
    assert spot > on_demand > 120  # 120 s: KPO's default, which fails every cold start


def test_the_budget_covers_the_slow_end_of_every_sourced_figure() -> None:
    f = cold_start.SOURCED
    b = cold_start.budget(pool(spot=False))
    assert b.schedule_timeout_seconds >= f.node_boot.seconds + f.driver_install.seconds
    assert b.schedule_timeout_seconds >= f.scale_up_slow_end.seconds
    assert b.startup_timeout_seconds >= f.image_pull_slow_end.seconds


def test_every_figure_and_part_has_a_source() -> None:
    for figure in dataclasses.astuple(cold_start.SOURCED, tuple_factory=list):
        seconds, source = figure
        assert seconds > 0 and len(source) > 20, figure
    for part, seconds, source in cold_start.budget(pool(spot=True)).parts:
        assert part and seconds > 0 and source, part


def test_test_sized_figures_scale_the_same_function() -> None:
    """The contract suite runs the real budget with seconds-sized figures."""
    small = cold_start.Figures(*(cold_start.Figure(s, "test") for s in (1, 1, 3, 4, 2, 1, 1, 1)))
    b = cold_start.budget(pool(spot=True), small)
    assert (b.schedule_timeout_seconds, b.startup_timeout_seconds) == (4, 2)
    assert cold_start.budget(pool(spot=False), small).schedule_timeout_seconds == 3


def test_flex_start_waits_like_spot_but_retries_like_on_demand() -> None:
    b = cold_start.budget(pool(spot=False, flex_start=True))
    assert (b.schedule_timeout_seconds, b.retries) == (900, 1)
    assert [p[0] for p in b.parts][-2] == "schedule: flex-start"


def test_preloaded_images_start_within_kpos_default() -> None:
    b = cold_start.budget(pool(preload_disk_image="projects/acme-ml-dev/global/images/tasks-v1"))
    assert (b.schedule_timeout_seconds, b.startup_timeout_seconds) == (900, 120)
    assert b.parts[-1][:2] == ("startup: preloaded image", 120)


def test_scaled_figures_give_the_scaled_budget() -> None:
    """`Figures.scaled` (what `offline.export --time-scale` uses): every figure times the factor,
    sources kept, and the budget of the scaled figures is the budget scaled."""
    small = cold_start.SOURCED.scaled(0.01)
    assert small.scale_up_slow_end == cold_start.Figure(
        6.0, cold_start.SOURCED.scale_up_slow_end.source
    )
    assert small.retry_delay.seconds == pytest.approx(0.6)
    b = cold_start.budget(pool(spot=True), small)
    assert b.hints() == {
        "schedule_timeout_seconds": 9,
        "startup_timeout_seconds": 9,
        "retries": 3,
        "retry_delay_seconds": pytest.approx(0.6),
    }
    with pytest.raises(ValueError, match="scale factor must be > 0, got 0"):
        cold_start.SOURCED.scaled(0)
