"""Error replies → outcomes, built the way redis-py's parser builds them (prefixes stripped)."""

from __future__ import annotations

import pytest
import redis
from redis._parsers.base import BaseParser

from harness.clients.outcomes import REDIRECTS, REPLY_ERRORS, outcome_of
from harness.ops import OpType


def parsed(reply: str) -> BaseException:
    return BaseParser.parse_error(reply)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "reply",
    [
        "MOVED 3156 10.213.0.1:45431",
        "ASK 3156 10.213.0.1:45431",
        "CLUSTERDOWN The cluster is down",
        "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
        "TRYAGAIN Multiple keys request during rehashing of slot",
        "READONLY You can't write against a read only replica.",
        "NOSCRIPT No matching script. Please use EVAL.",
        "LOADING Redis is loading the dataset in memory",
        "OOM command not allowed when used memory > 'maxmemory'.",
        "NOREPLICAS Not enough good replicas to write.",
        "WRONGTYPE Operation against a key holding the wrong kind of value",
        "CROSSSLOT Keys in request don't hash to the same slot",
    ],
)
def test_refusals_are_fail_even_with_their_prefix_stripped(reply: str) -> None:
    exc = parsed(reply)
    assert isinstance(exc, REPLY_ERRORS), type(exc)  # a reply: the router reads on
    assert outcome_of(exc) == OpType.FAIL, (type(exc).__name__, str(exc))


def test_redirects_mark_the_slot_map_stale() -> None:
    for reply in ("MOVED 1 h:1", "ASK 1 h:1", "CLUSTERDOWN The cluster is down", "TRYAGAIN x"):
        assert isinstance(parsed(reply), REDIRECTS)
    assert not isinstance(parsed("WRONGTYPE x"), REDIRECTS)


def test_timeouts_broken_connections_and_other_errors_are_unknown() -> None:
    assert outcome_of(redis.TimeoutError("Timeout reading from socket")) == OpType.INFO
    assert outcome_of(redis.ConnectionError("Connection closed by server.")) == OpType.INFO
    assert (
        outcome_of(parsed("ERR user_script:1: Script attempted to access nonexistent global")) == OpType.INFO
    )
