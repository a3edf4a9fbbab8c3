"""One monotonic time base and one seeded randomness source per run.

Every duration in the harness is measured with ``time.monotonic_ns``; wall-clock time is only
recorded as an anchor so a report can show when things happened.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RunClock:
    """Monotonic nanoseconds since the run started, plus the wall-clock anchor of that start."""

    start_ns: int = field(default_factory=time.monotonic_ns)
    start_wall: float = field(default_factory=time.time)
    #: Set to end every open-loop schedule on this clock early (an incident rehearsal ends when
    #: the operator says so, not at a duration fixed in advance); never set by a scenario run.
    halt: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)

    def now_ns(self) -> int:
        return time.monotonic_ns() - self.start_ns

    def now_s(self) -> float:
        return (time.monotonic_ns() - self.start_ns) / 1e9

    def wall_ms_at(self, run_ns: int) -> int:
        """Epoch milliseconds corresponding to a run-relative monotonic instant."""
        return int(self.start_wall * 1000 + run_ns / 1e6)


def seeded_random(seed: int, stream: str) -> random.Random:
    """An independent, reproducible random stream derived from the run seed and a stream name.

    Separate streams keep, say, the tenant choice independent of the fault schedule, so changing
    one part of a scenario does not reshuffle every other random choice.
    """
    return random.Random(f"{seed}:{stream}")
