from netsentinel.traffic.machine import TRANSITIONS, Effect, Input, State, step


def test_first_packet_in_standby_runs_start() -> None:
    assert step(State.STANDBY, Input.PACKET) == (State.STARTING, Effect.RUN_START)


def test_packets_while_up_change_nothing() -> None:
    for state in (State.STARTING, State.ACTIVE, State.CANCELLING, State.STOPPING):
        assert step(state, Input.PACKET) == (state, Effect.NOTHING)


def test_forced_standby_during_start_stops_once_start_has_ended() -> None:
    assert step(State.STARTING, Input.STANDBY) == (State.CANCELLING, Effect.NOTHING)
    assert step(State.CANCELLING, Input.STARTED) == (State.STOPPING, Effect.RUN_STOP)


def test_every_state_can_get_back_to_standby() -> None:
    reachable = {State.STANDBY}
    changed = True
    while changed:
        before = set(reachable)
        for (state, _), (after, _) in TRANSITIONS.items():
            if after is State.STANDBY or after in reachable and state not in reachable:
                reachable.add(state)
        changed = reachable != before
    assert reachable == set(State)


def test_idle_only_stops_an_active_trigger() -> None:
    assert step(State.ACTIVE, Input.IDLE) == (State.STOPPING, Effect.RUN_STOP)
    assert step(State.STARTING, Input.IDLE) == (State.STARTING, Effect.NOTHING)
