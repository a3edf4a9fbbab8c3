"""rate-limit-holds: a detection matrix over a simulated sliding-window limiter, a brute-force
cross-check of the windowing, and edge cases.

Histories are built as history.jsonl records and paired with the real loader (``pair_ops``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checkers.rate_limit import check_rate_limit
from harness.checkers.verdict import MAX_EXAMPLES
from harness.history.loader import Op, pair_ops

SETTINGS = settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
MS = 1_000_000
OUTCOMES = ["ok", "ok", "ok", "ok", "fail", "info", None]  # None: the run ended before the completion
SHARDS = 3


@dataclass
class Limiter:
    name: str  # the key
    group: str
    limit: int
    group_limit: int
    shards: int


@dataclass
class LimiterSim:
    """The real sliding-window algorithm per key, plus the history a workload would record."""

    window_ms: int = 100
    sets: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    next_id: int = 1
    now_ms: int = 0  # the limiter's clock (may be stepped backwards)
    t_ns: int = 0  # the run's monotonic clock

    def script(self, key: str, now: int, limit: int, req: str) -> bool:
        zset = [(s, r) for s, r in self.sets.get(key, []) if s > now - self.window_ms]
        self.sets[key] = zset
        if len(zset) >= limit:
            return False
        zset.append((now, req))
        return True

    def call(
        self,
        lim: Limiter,
        outcome: str | None,
        applied: bool = False,
        dt_ms: int = 0,
        latency_ms: int = 1,
        allowed_override: bool | None = None,
    ) -> int:
        """``applied`` decides whether an info/None call ran the script."""
        self.now_ms += dt_ms
        op_id, self.next_id = self.next_id, self.next_id + 1
        req = f"r{op_id}"
        self.t_ns += max(dt_ms, 0) * MS + 1
        t_ns = self.t_ns
        process = f"w{op_id % 4}"
        self.records.append(
            {
                "id": op_id,
                "type": "invoke",
                "process": process,
                "f": "rate_limit",
                "time_ns": t_ns,
                "key": lim.name,
                "tenant": lim.group,
                "variant": "sharded" if lim.shards > 1 else "single",
                "value": {
                    "now_ms": self.now_ms,
                    "limit": lim.limit,
                    "window_ms": self.window_ms,
                    "req": req,
                    "group": lim.group,
                    "group_limit": lim.group_limit,
                    "shards": lim.shards,
                },
            }
        )
        allowed = None
        if outcome == "ok" or (outcome in ("info", None) and applied):
            allowed = self.script(lim.name, self.now_ms, lim.limit, req)
        if outcome is not None:
            done: dict[str, Any] = {
                "id": op_id,
                "type": outcome,
                "process": process,
                "f": "rate_limit",
                "time_ns": t_ns + latency_ms * MS,
            }
            if outcome == "ok":
                assert allowed is not None
                if allowed_override is not None:
                    allowed = allowed_override
                remaining = max(0, lim.limit - len(self.sets[lim.name]))
                done["value"] = {"allowed": allowed, "remaining": remaining}
            self.records.append(done)
        return op_id

    def ops(self) -> list[Op]:
        return pair_ops(sorted(self.records, key=lambda r: r["time_ns"]))


def limiters(single_limit: int, shard_limit_total: int) -> list[Limiter]:
    per_shard = math.ceil(shard_limit_total / SHARDS)
    return [
        Limiter("rl:a", "a", single_limit, single_limit, 1),
        Limiter("rl:b", "b", single_limit + 1, single_limit + 1, 1),
        *(Limiter(f"rl:s:{i}", "s", per_shard, shard_limit_total, SHARDS) for i in range(SHARDS)),
    ]


Step = tuple[int, str | None, bool, int, int]
steps_st = st.lists(
    st.tuples(
        st.integers(0, 4),  # which limiter key
        st.sampled_from(OUTCOMES),
        st.booleans(),  # did an unknown call run the script?
        st.integers(0, 40),  # ms since the previous call
        st.integers(0, 5),  # latency ms
    ),
    max_size=80,
)
config_st = st.tuples(st.integers(1, 4), st.integers(2, 8))


def run_steps(sim: LimiterSim, lims: list[Limiter], steps: list[Step]) -> None:
    for idx, outcome, applied, dt, latency in steps:
        sim.call(lims[idx], outcome, applied=applied, dt_ms=dt, latency_ms=latency)


# --- detection matrix ---------------------------------------------------------------------------


@SETTINGS
@given(steps=steps_st, config=config_st)
def test_clean_histories_are_valid(steps: list[Step], config: tuple[int, int]) -> None:
    sim = LimiterSim()
    run_steps(sim, limiters(*config), steps)
    v = check_rate_limit(sim.ops())
    if any(s[1] == "ok" for s in steps):
        assert v.status == "valid", v
        assert v.violations == 0 and v.examples == []
        assert v.details["now_ms_regressions"] == 0
    else:
        assert v.status == "unknown"


@SETTINGS
@given(steps=steps_st, config=config_st, target=st.integers(0, 4), spacing=st.integers(0, 10))
def test_one_admission_over_the_limit_is_detected(
    steps: list[Step], config: tuple[int, int], target: int, spacing: int
) -> None:
    lims = limiters(*config)
    lim = lims[target]
    sim = LimiterSim()
    run_steps(sim, lims, steps)
    # after a quiet window the key's set is empty: `limit` calls are admitted, the next is not ...
    sim.now_ms += sim.window_ms + 1
    spacing = min(spacing, sim.window_ms // (lim.limit + 1))
    for _ in range(lim.limit):
        sim.call(lim, "ok", dt_ms=spacing)
    # ... but the (buggy) limiter admits it
    injected = sim.call(lim, "ok", dt_ms=spacing, allowed_override=True)
    v = check_rate_limit(sim.ops())
    assert v.status == "invalid", v
    assert v.details["group_violating_windows"] == 0
    hits = [ex for ex in v.examples if ex["kind"] == "over-limit" and injected in ex["op_ids"]]
    assert hits, v.examples
    assert all(ex["key"] == lim.name for ex in v.examples)
    assert hits[0]["count"] == lim.limit + 1 and hits[0]["limit"] == lim.limit
    assert hits[0]["window_end_ms"] == sim.now_ms


def _fill_group(sim: LimiterSim, keys: list[Limiter]) -> list[int]:
    """Every key in ``keys`` admits its full limit inside one window, after a quiet window."""
    sim.now_ms += sim.window_ms + 1
    ids = []
    for lim in keys:
        for _ in range(lim.limit):
            ids.append(sim.call(lim, "ok", dt_ms=1))
    return ids


@SETTINGS
@given(steps=steps_st, config=config_st)
def test_sharded_group_over_group_limit_within_bound_is_valid(
    steps: list[Step], config: tuple[int, int]
) -> None:
    lims = limiters(*config)
    shards = lims[2:]
    sim = LimiterSim()
    run_steps(sim, lims, steps)
    _fill_group(sim, shards)
    v = check_rate_limit(sim.ops())
    assert v.status == "valid", v
    worst = v.details["worst_group_overshoot"]
    per_shard = shards[0].limit
    assert worst["group"] == "s" and worst["max_admitted_in_window"] == SHARDS * per_shard
    assert worst["bound"] == SHARDS * per_shard and worst["group_limit"] == config[1]
    assert worst["ratio"] == round(SHARDS * per_shard / config[1], 4)
    assert v.details["groups_over_group_limit"] == (SHARDS * per_shard > config[1])


@SETTINGS
@given(steps=steps_st, config=config_st)
def test_sharded_group_exceeding_shards_times_limit_is_detected(
    steps: list[Step], config: tuple[int, int]
) -> None:
    lims = limiters(*config)
    shards = lims[2:]
    # a routing bug sends the tenant to a fourth key: each key stays within its limit, the group not
    stray = Limiter(f"rl:s:{SHARDS}", "s", shards[0].limit, config[1], SHARDS)
    sim = LimiterSim()
    run_steps(sim, lims, steps)
    ids = _fill_group(sim, [*shards, stray])
    v = check_rate_limit(sim.ops())
    assert v.status == "invalid", v
    assert v.details["violating_windows"] == 0  # no single key broke its own limit
    assert v.details["group_violating_windows"] >= 1
    assert v.details["groups_with_more_keys_than_shards"] == ["s"]
    [first, *_] = v.examples
    bound = SHARDS * shards[0].limit
    assert first["kind"] == "group-bound" and first["group"] == "s"
    assert first["count"] == bound + 1 and first["bound"] == bound
    assert first["op"] == ids[bound]  # the first admission past the bound
    assert set(first["keys_in_window"]) == {lim.name for lim in [*shards, stray]}


# --- brute-force cross-check of the windowing ---------------------------------------------------


def reference(ops: list[Op]) -> dict[str, int]:
    """O(n²) restatement of the checker's rules over arbitrary (even wrong) histories."""
    reqs = [o for o in ops if o.f == "rate_limit"]

    def par(o: Op, name: str) -> Any:
        return o.invoke["value"][name]

    def admitted(o: Op) -> bool:
        return o.outcome == "ok" and o.completion is not None and o.completion["value"]["allowed"]

    def possible(o: Op) -> bool:
        return o.outcome in ("info", None)

    def in_window(o: Op, end: Op) -> bool:
        return bool(par(end, "now_ms") - par(end, "window_ms") < par(o, "now_ms") <= par(end, "now_ms"))

    out = {"violating_windows": 0, "uncertain_windows": 0, "group_violating_windows": 0}
    for r in reqs:
        if not (admitted(r) or possible(r)):
            continue
        same = [o for o in reqs if o.get("key") == r.get("key") and in_window(o, r)]
        definite = sum(admitted(o) for o in same)
        maybe = sum(possible(o) for o in same)
        if admitted(r) and definite > par(r, "limit"):
            out["violating_windows"] += 1
        elif definite <= par(r, "limit") < definite + maybe:
            out["uncertain_windows"] += 1
        group = [o for o in reqs if par(o, "group") == par(r, "group")]
        shards = max(par(o, "shards") for o in group)
        if admitted(r) and shards > 1:
            bound = shards * max(par(o, "limit") for o in group)
            if sum(admitted(o) for o in group if in_window(o, r)) > bound:
                out["group_violating_windows"] += 1
    return out


@SETTINGS
@given(
    calls=st.lists(
        st.tuples(
            st.integers(0, 4),
            st.sampled_from(["ok", "ok", "ok", "fail", "info", None]),
            st.booleans(),  # allowed, whatever the algorithm says
            st.sampled_from([0, 0, 1, 2, 5, 10, 10, -3]),  # clock step: window edges, ties, backwards
        ),
        max_size=60,
    ),
    config=config_st,
)
def test_windowing_matches_brute_force(
    calls: list[tuple[int, str | None, bool, int]], config: tuple[int, int]
) -> None:
    lims = limiters(*config)
    sim = LimiterSim(window_ms=10)
    for idx, outcome, allowed, dt in calls:
        sim.call(lims[idx], outcome, applied=True, dt_ms=dt, allowed_override=allowed)
    ops = sim.ops()
    v = check_rate_limit(ops)
    expected = reference(ops)
    assert {k: v.details.get(k) for k in expected} == expected or v.status == "unknown"
    assert v.violations == expected["violating_windows"] + expected["group_violating_windows"]
    assert (v.status == "invalid") == (v.violations > 0)


# --- edge cases ---------------------------------------------------------------------------------

SOLO = Limiter("rl:x", "x", 1, 1, 1)


def test_empty_history_is_unknown() -> None:
    v = check_rate_limit([])
    assert v.status == "unknown" and v.summary == "no rate_limit ops in history"


def test_no_ok_outcome_is_unknown() -> None:
    sim = LimiterSim()
    sim.call(SOLO, "info", applied=True)
    sim.call(SOLO, None)
    sim.call(SOLO, "fail")
    assert check_rate_limit(sim.ops()).status == "unknown"


def test_unknown_outcomes_make_uncertain_windows_not_violations() -> None:
    sim = LimiterSim()
    sim.call(SOLO, "info", applied=False)  # may hold the only slot
    sim.call(SOLO, "ok", dt_ms=10)  # admitted: a violation only if the info call was admitted too
    v = check_rate_limit(sim.ops())
    assert v.status == "valid"
    assert v.details["uncertain_windows"] == 1  # the window ending at the ok call
    assert v.details["unknown_outcome"] == 1


def test_torn_history_counts_unfinished_call_as_possible() -> None:
    sim = LimiterSim()
    sim.call(SOLO, "ok")
    sim.call(SOLO, None, applied=True, dt_ms=5)  # invoke only: the run ended first
    v = check_rate_limit(sim.ops())
    assert v.status == "valid"
    assert v.details["unknown_outcome"] == 1 and v.details["admitted"] == 1


def test_window_is_open_at_its_start() -> None:
    sim = LimiterSim(window_ms=100)
    sim.call(SOLO, "ok")
    sim.call(SOLO, "ok", dt_ms=100)  # the first entry (score now-window) was just removed
    sim.call(SOLO, "ok", dt_ms=99, allowed_override=True)  # still inside (now-100, now]
    v = check_rate_limit(sim.ops())
    assert v.status == "invalid" and v.violations == 1
    assert v.examples[0]["window_start_ms"] == 99 and v.examples[0]["window_end_ms"] == 199


def test_clock_going_backwards_is_noted() -> None:
    sim = LimiterSim()
    sim.call(SOLO, "ok", dt_ms=200)
    regressed = sim.call(SOLO, "ok", dt_ms=-150)
    v = check_rate_limit(sim.ops())
    assert v.details["now_ms_regressions"] == 1 and v.details["keys_with_now_ms_regressions"] == 1
    [ex] = v.details["now_ms_regression_examples"]
    assert ex == {
        "key": "rl:x",
        "op": regressed,
        "at_ms": ex["at_ms"],
        "now_ms": 50,
        "previous_max_now_ms": 200,
    }
    assert "went backwards 1 times" in v.summary


def test_malformed_ops_are_counted_not_fatal_and_forbid_valid() -> None:
    """A malformed op is counted, the rest still judged, but nothing judged it: not ``valid``."""
    sim = LimiterSim()
    sim.call(SOLO, "ok")
    records = [
        *sim.records,
        {"id": 50, "type": "invoke", "process": "w", "f": "rate_limit", "time_ns": 10**12, "key": "k"},
        {"id": 50, "type": "ok", "process": "w", "f": "rate_limit", "time_ns": 10**12 + 1, "value": 1},
    ]
    v = check_rate_limit(pair_ops(records))
    assert v.status == "unknown" and v.details["malformed_ops"] == 1 and "1 malformed ops" in v.summary


def test_examples_are_capped_and_group_breaches_kept() -> None:
    lims = limiters(1, 3)  # shards of limit 1
    sim = LimiterSim()
    for _ in range(40):  # a single key far over its limit
        sim.call(lims[0], "ok", dt_ms=1, allowed_override=True)
    stray = Limiter("rl:s:9", "s", 1, 3, SHARDS)
    _fill_group(sim, [*lims[2:], stray])
    v = check_rate_limit(sim.ops())
    assert v.status == "invalid"
    assert v.violations == 39 + 1
    assert len(v.examples) == MAX_EXAMPLES
    assert sum(ex["kind"] == "group-bound" for ex in v.examples) == 1
    assert orjson.loads(orjson.dumps(v.to_dict()))["violations"] == 40


def test_large_history_is_judged() -> None:
    """~100k ops over 500 keys (20 sharded groups); its speed is measured by ``make bench``, not here."""
    ops: list[Op] = []
    window, limit = 1000, 5
    for i in range(100_000):
        key_idx = i % 500
        group = f"g{key_idx // 4}" if key_idx < 80 else f"k{key_idx}"
        shards = 4 if key_idx < 80 else 1
        now = i // 10  # every key is called every 50 ms: 20 calls per window, limit 5
        value = {
            "now_ms": now,
            "limit": limit,
            "window_ms": window,
            "req": str(i),
            "group": group,
            "group_limit": 18 if shards > 1 else limit,
            "shards": shards,
        }
        inv = {"key": f"rl:{key_idx}", "value": value}
        ok = {"value": {"allowed": (i // 500) % 4 == 0, "remaining": 0}}
        ops.append(Op(i, "w", "rate_limit", i * 1000, "ok", i * 1000 + 10, inv, ok))
    v = check_rate_limit(ops)
    assert v.status == "valid", v.summary
    assert v.details["sharded_groups"] == 20
    assert v.details["worst_group_overshoot"]["max_admitted_in_window"] == 20


def _linked(event: int, allowed: bool, write: str | None) -> list[dict[str, Any]]:
    """A rate_limit call carrying the driver's ``event`` link, then (maybe) its write op."""
    base = {"process": "ingest", "variant": "before", "tenant": "t"}
    value = {"now_ms": event * 1000, "limit": 5, "window_ms": 100, "req": f"r{event}"}
    recs: list[dict[str, Any]] = [
        {
            "id": 2 * event,
            "type": "invoke",
            "f": "rate_limit",
            "time_ns": 10 * event,
            "key": "rl:t",
            "event": event,
            "value": value,
            **base,
        },
        {
            "id": 2 * event,
            "type": "ok",
            "f": "rate_limit",
            "time_ns": 10 * event + 1,
            "value": {"allowed": allowed, "remaining": 1},
            "process": "ingest",
        },
    ]
    if write is not None:
        recs += [
            {
                "id": 2 * event + 1,
                "type": "invoke",
                "f": write,
                "time_ns": 10 * event + 2,
                "key": "c",
                "event": event,
                **base,
            },
            {"id": 2 * event + 1, "type": "info", "f": write, "time_ns": 10 * event + 3, "process": "ingest"},
        ]
    return recs


def test_an_admitted_request_without_its_write_is_lost() -> None:
    recs = (
        _linked(1, True, "incr")
        + _linked(2, True, None)
        + _linked(3, False, None)
        + _linked(4, True, "insert")
    )
    v = check_rate_limit(pair_ops(recs))
    assert v.status == "invalid" and v.violations == 1
    [ex] = v.examples
    assert ex["kind"] == "admitted-request-lost" and ex["op"] == 4 and ex["link"] == "2"
    assert v.details["admitted_with_link"] == 3 and v.details["admitted_request_lost"] == 1
    only_incr = check_rate_limit(pair_ops(recs), write_fs=["incr"])
    assert only_incr.violations == 2  # an insert no longer counts as the write
    off = check_rate_limit(pair_ops(recs), write_fs=[])
    assert off.status == "valid" and "not judged" in off.summary
