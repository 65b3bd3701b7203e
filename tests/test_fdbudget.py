"""The descriptor budget's arithmetic, and the control listeners' admission, with fakes."""

from __future__ import annotations

from netsentinel.control.clients import ClientCounters, Clients
from netsentinel.fdbudget import (
    RECOUNT_INTERVAL,
    REFRESH_INTERVAL,
    FdBudget,
    control_cap,
    default_conn_limit,
    http_cap,
    reserve,
)


class Fake:
    def __init__(self, limit: int, open_fds: int) -> None:
        self.limit, self.open, self.now, self.counts = limit, open_fds, 0.0, 0

    def count(self) -> int:
        self.counts += 1
        return self.open

    def budget(self) -> FdBudget:
        return FdBudget(limit=lambda: self.limit, count=self.count, clock=lambda: self.now)


def test_shares_of_the_common_limits() -> None:
    assert (reserve(1024), control_cap(1024), http_cap(1024)) == (64, 32, 16)
    assert default_conn_limit(1024) == 240
    assert (reserve(65536), default_conn_limit(65536)) == (4096, 15360)
    # forward listeners, control and HTTP together leave a quarter of the reserve
    for limit in (256, 1024, 20000, 65536):
        assert limit - reserve(limit) + control_cap(limit) + http_cap(limit) \
            <= limit - reserve(limit) // 4


def test_estimate_counts_opens_and_recounts_only_near_the_bound() -> None:
    fake = Fake(1000, 100)
    budget = fake.budget()
    assert budget.has_room(64) and fake.counts == 1
    for _ in range(400):
        budget.opened(2)
    assert budget.has_room(64) and fake.counts == 1     # 900 estimated, under 936
    budget.opened(40)
    assert not budget.has_room(64)          # 940: full, and too soon to count again
    assert fake.counts == 1
    fake.now += RECOUNT_INTERVAL
    assert budget.has_room(64) and fake.counts == 2     # counted: really 100 open
    budget.closed(50)
    assert budget.estimate() == 50


def test_over_half_the_bound_the_count_is_refreshed_every_second() -> None:
    """Descriptors the estimate never sees (a splice pipe, a script's pipes) still count."""
    fake = Fake(1000, 600)
    budget = fake.budget()
    assert budget.has_room(64) and fake.counts == 1
    fake.open = 990                                   # opened behind the estimate's back
    assert budget.has_room(64) and fake.counts == 1   # not yet a second
    fake.now += REFRESH_INTERVAL
    assert not budget.has_room(64) and fake.counts == 2


def test_a_descriptor_number_in_the_reserve_means_the_table_is_full() -> None:
    budget = Fake(1000, 10).budget()
    assert not budget.is_reserved(935, 64)
    assert budget.is_reserved(936, 64)


def test_control_listener_refuses_past_its_cap_and_counts_it() -> None:
    fake = Fake(1024, 50)
    counters = ClientCounters()
    clients = Clients("socket", counters, control_cap, budget=fake.budget())
    assert all(clients.admit() for _ in range(32))
    assert not clients.admit()
    assert counters.status().dropped["socket"]["connection_cap"] == 1
    clients.release()
    assert clients.admit()


def test_control_listener_keeps_the_daemons_last_descriptors() -> None:
    fake = Fake(1024, 1024 - 16)
    counters = ClientCounters()
    clients = Clients("http", counters, http_cap, budget=fake.budget())
    assert not clients.admit()
    assert counters.status().dropped["http"]["fd_reserve"] == 1
    fake.open = 900
    fake.now += RECOUNT_INTERVAL
    assert clients.admit()
