"""Offered-rate profiles as data: constant, steps (with optional ramps), ramp, spike.

Every profile compiles to piecewise-linear rate segments. The cumulative count ``N(t)`` is the
integral of the rate; event ``i`` (0-based) is due at ``inf{t : N(t) > i}``, so the schedule is
a pure function of the profile (deterministic, no randomness) and a spike offers exactly its peak.
A run of ``duration_s`` offers ``floor(N(duration_s))`` events.

Assumes rates are events per second and times are seconds from the start of the schedule.
Records no ops: the driver that follows the schedule records them.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Float slack when flooring N(t): N(0.05 s at 1000/s) must be 50, not 49.99999.
_EPS = 1e-9


class ProfileError(ValueError):
    """An invalid profile; the message names the offending field."""


def _check_rate(name: str, value: float) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ProfileError(f"{name}: must be a finite number, got {value!r}")
    if value < 0:
        raise ProfileError(f"{name}: must be >= 0 events/s, got {value}")


def _check_time(name: str, value: float, *, positive: bool = False) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ProfileError(f"{name}: must be a finite number of seconds, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise ProfileError(f"{name}: must be {'> 0' if positive else '>= 0'} seconds, got {value}")


@dataclass(frozen=True, slots=True)
class Segment:
    """Rate goes linearly from ``r0`` at ``t0`` to ``r1`` at ``t1`` (``t1`` may be ``inf``: then
    ``r0 == r1``). ``n0`` is ``N(t0)``."""

    t0: float
    t1: float
    r0: float
    r1: float
    n0: float

    @property
    def slope(self) -> float:
        return 0.0 if math.isinf(self.t1) or self.t1 == self.t0 else (self.r1 - self.r0) / (self.t1 - self.t0)

    def count(self, t: float) -> float:
        """``N(t)`` for ``t0 <= t <= t1``."""
        tau = t - self.t0
        return self.n0 + self.r0 * tau + 0.5 * self.slope * tau * tau

    @property
    def n1(self) -> float:
        return math.inf if math.isinf(self.t1) and self.r0 > 0 else self.count(min(self.t1, 1e300))

    def time_of(self, n: float) -> float:
        """The ``t`` in this segment where ``N(t) == n`` (``n0 <= n < n1``)."""
        d = n - self.n0
        if d <= 0:
            return self.t0
        k = self.slope
        if k == 0:
            return self.t0 + d / self.r0
        # Stable root of k/2 τ² + r0 τ - d = 0 (no cancellation when k is small).
        disc = max(0.0, self.r0 * self.r0 + 2.0 * k * d)
        return self.t0 + 2.0 * d / (self.r0 + math.sqrt(disc))


class RateProfile:
    """Base: subclasses provide ``_pieces()`` as ``(t0, t1, r0, r1)`` covering ``[0, inf)``."""

    def _pieces(self) -> list[tuple[float, float, float, float]]:
        raise NotImplementedError

    def segments(self) -> list[Segment]:
        cached: list[Segment] | None = getattr(self, "_segs_cache", None)
        if cached is not None:
            return cached
        segs: list[Segment] = []
        n = 0.0
        for t0, t1, r0, r1 in self._pieces():
            if t1 <= t0:
                continue
            seg = Segment(t0, t1, r0, r1, n)
            segs.append(seg)
            if not math.isinf(t1):
                n = seg.count(t1)
        object.__setattr__(self, "_segs_cache", segs)
        return segs

    def _seg_at(self, t: float) -> Segment:
        segs = self.segments()
        i = bisect.bisect_right([s.t0 for s in segs], t) - 1
        return segs[max(0, i)]

    def rate_at(self, t: float) -> float:
        seg = self._seg_at(t)
        return seg.r0 + seg.slope * (t - seg.t0)

    def count_at(self, t: float) -> float:
        """``N(t)``: events offered by ``t`` seconds (real-valued)."""
        return self._seg_at(max(0.0, t)).count(max(0.0, t))

    def total(self, duration_s: float) -> int:
        """Events a run of ``duration_s`` offers: ``floor(N(duration_s))``."""
        return math.floor(self.count_at(duration_s) + _EPS)

    def time_of(self, i: int) -> float:
        """Seconds after the start at which event ``i`` is due."""
        for seg in self.segments():
            if seg.n0 <= i < seg.n1 and (seg.r0 > 0 or seg.r1 > 0):
                return seg.time_of(i)
        raise ProfileError(f"event {i} is never due: the profile's rate ends at 0")

    def schedule_ns(self, start: int, stop: int, origin_ns: int = 0) -> list[int]:
        """Due times (ns, from ``origin_ns``) of events ``start .. stop-1``; one segment scan."""
        out: list[int] = []
        segs = [s for s in self.segments() if s.r0 > 0 or s.r1 > 0]
        j = 0
        for i in range(start, stop):
            while j < len(segs) - 1 and i >= segs[j].n1:
                j += 1
            out.append(origin_ns + int(segs[j].time_of(i) * 1e9))
        return out

    def lanes_at(self, t: float, lane_rate: float) -> int:
        """Lanes of ``lane_rate`` events/s each needed to offer the rate at ``t`` (Locust users)."""
        return math.ceil(self.rate_at(t) / lane_rate - _EPS)

    def peak(self) -> float:
        return max(max(s.r0, s.r1) for s in self.segments())

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True)
class Constant(RateProfile):
    rate: float

    def __post_init__(self) -> None:
        _check_rate("rate", self.rate)
        if self.rate == 0:
            raise ProfileError("rate: must be > 0 events/s for a constant profile")

    def _pieces(self) -> list[tuple[float, float, float, float]]:
        return [(0.0, math.inf, float(self.rate), float(self.rate))]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "constant", "rate": self.rate}


@dataclass(frozen=True)
class Step:
    """From ``at_s`` the rate is ``rate``; with ``ramp_s`` > 0 it gets there linearly from the
    previous step's rate over ``ramp_s`` seconds (a ramp inside steps)."""

    at_s: float
    rate: float
    ramp_s: float = 0.0


@dataclass(frozen=True)
class Steps(RateProfile):
    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        if not self.steps:
            raise ProfileError("steps: needs at least one step")
        prev_end = -1.0
        for n, st in enumerate(self.steps):
            _check_time(f"steps[{n}].at_s", st.at_s)
            _check_rate(f"steps[{n}].rate", st.rate)
            _check_time(f"steps[{n}].ramp_s", st.ramp_s)
            if n == 0 and st.at_s != 0:
                raise ProfileError(f"steps[0].at_s: the first step must start at 0, got {st.at_s}")
            if n == 0 and st.ramp_s:
                raise ProfileError("steps[0].ramp_s: the first step has nothing to ramp from")
            if st.at_s < prev_end or (n and st.at_s == self.steps[n - 1].at_s):
                raise ProfileError(
                    f"steps[{n}].at_s: {st.at_s} must come after the previous step"
                    f"{' and its ramp' if prev_end > 0 else ''} (ends at {prev_end})"
                )
            prev_end = st.at_s + st.ramp_s
        if all(st.rate == 0 for st in self.steps):
            raise ProfileError("steps: every rate is 0, nothing would be offered")

    def _pieces(self) -> list[tuple[float, float, float, float]]:
        out: list[tuple[float, float, float, float]] = []
        prev_rate = 0.0
        for n, st in enumerate(self.steps):
            end = self.steps[n + 1].at_s if n + 1 < len(self.steps) else math.inf
            hold_from = st.at_s
            if st.ramp_s > 0:
                out.append((st.at_s, st.at_s + st.ramp_s, prev_rate, float(st.rate)))
                hold_from = st.at_s + st.ramp_s
            out.append((hold_from, end, float(st.rate), float(st.rate)))
            prev_rate = float(st.rate)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "steps", "steps": [[s.at_s, s.rate, s.ramp_s] for s in self.steps]}


@dataclass(frozen=True)
class Ramp(RateProfile):
    """Linear from ``start`` to ``end`` events/s over ``over_s`` seconds, then ``end``."""

    start: float
    end: float
    over_s: float

    def __post_init__(self) -> None:
        _check_rate("from", self.start)
        _check_rate("to", self.end)
        _check_time("over_s", self.over_s, positive=True)
        if self.end == 0:
            raise ProfileError("to: a ramp must end above 0 events/s")

    def _pieces(self) -> list[tuple[float, float, float, float]]:
        return [
            (0.0, float(self.over_s), float(self.start), float(self.end)),
            (float(self.over_s), math.inf, float(self.end), float(self.end)),
        ]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "ramp", "from": self.start, "to": self.end, "over_s": self.over_s}


@dataclass(frozen=True)
class Spike(RateProfile):
    """``base`` events/s, ``peak`` from ``at_s`` for ``for_s`` seconds, then ``base`` again."""

    base: float
    peak_rate: float
    at_s: float
    for_s: float

    def __post_init__(self) -> None:
        _check_rate("base", self.base)
        _check_rate("peak", self.peak_rate)
        _check_time("at_s", self.at_s)
        _check_time("for_s", self.for_s, positive=True)
        if self.base == 0 and self.at_s == 0:
            raise ProfileError("base: 0 with at_s 0 leaves nothing after the spike; give base > 0")

    def _pieces(self) -> list[tuple[float, float, float, float]]:
        b, p = float(self.base), float(self.peak_rate)
        end = float(self.at_s + self.for_s)
        return [(0.0, float(self.at_s), b, b), (float(self.at_s), end, p, p), (end, math.inf, b, b)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "spike",
            "base": self.base,
            "peak": self.peak_rate,
            "at_s": self.at_s,
            "for_s": self.for_s,
        }


# Constructors named as the issue names them.
def constant(rate: float) -> Constant:
    return Constant(rate)


def steps(points: Sequence[tuple[float, float] | tuple[float, float, float] | Step]) -> Steps:
    """``steps([(0, 100), (10, 500), (20, 1000, 5)])``: a third element ramps into that step."""
    return Steps(tuple(p if isinstance(p, Step) else Step(*p) for p in points))


def ramp(start: float, end: float, over_s: float) -> Ramp:
    return Ramp(start, end, over_s)


def spike(base: float, peak: float, at_s: float, for_s: float) -> Spike:
    return Spike(base, peak, at_s, for_s)


def parse_profile(spec: Mapping[str, Any]) -> RateProfile:
    """From plain data (a scenario's YAML): ``{"kind": "steps", "steps": [[0, 100], [10, 500]]}``."""
    kind = spec.get("kind")
    try:
        if kind == "constant":
            return constant(spec["rate"])
        if kind == "steps":
            return steps([tuple(p) for p in spec["steps"]])
        if kind == "ramp":
            return ramp(spec["from"], spec["to"], spec["over_s"])
        if kind == "spike":
            return spike(spec["base"], spec["peak"], spec["at_s"], spec["for_s"])
    except KeyError as exc:
        raise ProfileError(f"{exc.args[0]}: missing for a {kind} profile") from None
    except TypeError as exc:
        raise ProfileError(f"{kind}: {exc}") from None
    raise ProfileError(f"kind: must be constant, steps, ramp or spike, got {kind!r}")
