"""utils/gc_freeze.py: the collector is paused for start-up and kept off the start-up objects during the
loop, always put back as it was; env workers forked meanwhile collect as usual."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from runners.env_group import SubprocEnvs
from toy_env import ToyEnv
from utils.gc_freeze import collector_paused, frozen_heap


@pytest.mark.parametrize("enabled", [True, False])
def test_collector_paused_restores_the_state_it_found(enabled: bool) -> None:
    before = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
        with pytest.raises(RuntimeError), collector_paused():
            raise RuntimeError("a failed start-up")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if before else gc.disable)()


def test_frozen_heap_holds_the_objects_alive_at_its_start_and_lets_new_ones_be_collected() -> None:
    assert gc.get_freeze_count() == 0
    old = [object()]  # a tracked container alive before the block
    with frozen_heap():
        assert gc.get_freeze_count() > 0
        assert not any(o is old for o in gc.get_objects())  # frozen objects are out of every generation
        cycle: list[Any] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1  # garbage made inside the block is still collected
    assert gc.get_freeze_count() == 0
    assert any(o is old for o in gc.get_objects())


class CollectorReportingToy(ToyEnv):
    def get_stats(self) -> dict[str, Any]:
        return {"collector_enabled": gc.isenabled()}


def reporting_toy_at(i: int, restarts: int) -> CollectorReportingToy:
    return CollectorReportingToy(seed=i)


def test_env_workers_forked_while_the_collector_is_paused_turn_it_on() -> None:
    with collector_paused():
        group = SubprocEnvs(reporting_toy_at, 2, envs_per_worker=1, seed=3)
    try:
        assert [s["collector_enabled"] for s in group.get_stats()] == [True, True]
    finally:
        group.close()
