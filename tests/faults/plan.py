"""What a chaos run does and when: the faults and the events, fixed by a seed.

    plan = fault_plan(duration=60, seed=1)   # [Action(at=4.6, kind="kill_pool_process"), ...]
    events = event_plan(count=300, duration=60, connections=4, seed=1)

Times are seconds from the first event sent. For a 60 s run:

    0 ........ 15 17 18 ............ 30 33 .. 39 ......... 48 ........ 55 .... 60
    pool processes SIGKILLed every ~5 s (not while the worker is down) ...........
               worker killed, started again 2 s later
                     CRM killed ............................ started again (30 s down)
                                     Redis killed, started on its AOF 3 s later
                                               a burst of 429s
    GHL 500s: one every quarter second, each used by the next GHL request (~10 %) .
                                                                      the faults end

Nothing here touches a process: `tests.faults.chaos` carries the plan out.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sandbox.ghl.seed import seed_location
from schemas.events import POST_PUBLISHED, STATISTICS_REQUESTED, TAG_DETAILS_REQUESTED

KILL_POOL_PROCESS = "kill_pool_process"
KILL_WORKER = "kill_worker"
START_WORKER = "start_worker"
KILL_CRM = "kill_crm"
START_CRM = "start_crm"
KILL_REDIS = "kill_redis"
START_REDIS = "start_redis"
GHL_500 = "ghl_500"
GHL_429_BURST = "ghl_429_burst"
END_FAULTS = "end_faults"
"""Clear the GHL faults not used yet: after this, nothing misbehaves on purpose."""

WORKER_DOWN_SECONDS = 2.0
REDIS_DOWN_SECONDS = 3.0
CRM_DOWN_SECONDS = 30.0
POOL_KILL_EVERY_SECONDS = 5.0
GHL_500_EVERY_SECONDS = 0.25
# A restarted worker takes a few seconds to be ready; killing its pool meanwhile would only
# kill a process that has no task yet.
WORKER_START_SECONDS = 8.0
GHL_429_BURST_SIZE = 25
GHL_429_RETRY_AFTER_SECONDS = 2


@dataclass(frozen=True, order=True)
class Action:
    """One thing the run does to the system, `at` seconds after it began sending."""

    at: float
    kind: str


def fault_plan(duration: float, *, seed: int) -> list[Action]:
    """The faults of a run that sends for ``duration`` seconds, in the order they happen."""
    if duration < 20:
        raise ValueError("duration: a chaos run needs at least 20 s to fit its faults")
    rng = random.Random(seed)
    worker_killed = round(0.25 * duration, 1)
    worker_back = worker_killed + WORKER_DOWN_SECONDS
    crm_down = min(CRM_DOWN_SECONDS, 0.5 * duration)
    crm_killed = round(0.3 * duration, 1)
    redis_killed = round(0.5 * duration, 1)
    actions = [
        Action(worker_killed, KILL_WORKER),
        Action(worker_back, START_WORKER),
        Action(crm_killed, KILL_CRM),
        Action(crm_killed + crm_down, START_CRM),
        Action(redis_killed, KILL_REDIS),
        Action(redis_killed + REDIS_DOWN_SECONDS, START_REDIS),
        Action(round(0.65 * duration, 1), GHL_429_BURST),
    ]
    at = POOL_KILL_EVERY_SECONDS
    while at < duration - 2:
        jittered = round(at + rng.uniform(-1.0, 1.0), 1)
        if not worker_killed - 1 <= jittered <= worker_back + WORKER_START_SECONDS:
            actions.append(Action(jittered, KILL_POOL_PROCESS))
        at += POOL_KILL_EVERY_SECONDS
    at = 0.05 * duration
    while at < 0.85 * duration:
        actions.append(Action(round(at, 1), GHL_500))
        at += GHL_500_EVERY_SECONDS
    last = max(action.at for action in actions)
    actions.append(Action(round(last + 0.5, 1), END_FAULTS))
    return sorted(actions)


@dataclass(frozen=True)
class PlannedEvent:
    """One CRM event to send: when, of which type, on which connection, with what data."""

    at: float
    type: str
    connection: int
    data: dict[str, object]


EVENT_TYPES = (POST_PUBLISHED, TAG_DETAILS_REQUESTED, STATISTICS_REQUESTED)
TAG_IDS_PER_REQUEST = 3


def location_id(connection: int) -> str:
    """The sandbox GHL location of the run's ``connection``-th connection."""
    return f"loc_chaos_{connection}"


def event_plan(count: int, duration: float, *, connections: int, seed: int) -> list[PlannedEvent]:
    """``count`` events spread evenly over ``duration`` seconds: the three types in turn,
    round-robin over the connections; post ids unique within the run."""
    if count < 1 or connections < 1:
        raise ValueError("count and connections: at least 1 each")
    rng = random.Random(seed)
    locations = [seed_location(location_id(number)) for number in range(connections)]
    events = []
    for index in range(count):
        connection = index % connections
        kind = EVENT_TYPES[index % len(EVENT_TYPES)]
        location = locations[connection]
        data: dict[str, object]
        if kind == POST_PUBLISHED:
            data = {"post_id": f"chaos-post-{seed}-{index}"}
            if rng.random() < 0.5:  # half name a GHL post: one more GHL call for its tags
                data["ghl_post_id"] = rng.choice(location.posts).id
        elif kind == TAG_DETAILS_REQUESTED:
            tags = rng.sample(location.tags, TAG_IDS_PER_REQUEST)
            data = {"post_id": f"chaos-post-{seed}-{index}", "tag_ids": [t.id for t in tags]}
        else:
            data = {}
        events.append(PlannedEvent(round(index * duration / count, 3), kind, connection, data))
    return events
