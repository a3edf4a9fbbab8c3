"""The router's bulk reply reading against a real redis-server: error replies stay per command, a
group of commands keeps its error objects, replies spanning many socket reads come back in order
with non-decreasing stamps, and a read that times out mid-batch leaves the rest unknown.

Each test runs twice: on a node with the machine's full CPU and on one capped at a quarter core (a
machine four times slower, for the server). The busy server is busy for a stated time, so both read
the same."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from harness.bench.suite import standalone_topology
from harness.clients.redis_router import SlotRouter
from harness.clock import RunClock
from harness.ops import OpType
from harness.topology.cgroups import cpu_limits_supported
from harness.topology.deployment import Deployment
from harness.topology.local import run_id_now
from tests.conftest import needs_servers
from tests.live.backend import deploy
from tests.live.busy import busy_command, wait_until_answering

pytestmark = [pytest.mark.live, needs_servers]


BUSY_MS = 1000  # five times the router's 0.2 s socket timeout


@pytest.fixture(scope="module", params=[None, 0.25], ids=["full-cpu", "quarter-core"])
def node(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[tuple[str, int], redis.Redis]]:
    cores: float | None = request.param
    if cores is not None and not cpu_limits_supported()[0]:
        pytest.skip(f"needs cgroup CPU limits to slow the server down: {cpu_limits_supported()[1]}")
    run_id = run_id_now("test-")
    run_dir = tmp_path_factory.mktemp("run") / run_id
    dep: Deployment
    with deploy(standalone_topology(), run_dir, run_id, cpu_limit=cores) as dep:
        assert dep.capacity["applied"] is (cores is not None)
        n = dep.redis[0]
        yield (n.host.address, n.port), n.admin()


def _pack(*args: str) -> bytes:
    return b"".join(
        [b"*%d\r\n" % len(args)] + [b"$%d\r\n%b\r\n" % (len(a.encode()), a.encode()) for a in args]
    )


def test_error_replies_are_per_command(node: tuple[tuple[str, int], redis.Redis]) -> None:
    addr, admin = node
    admin.flushall()
    admin.set("s", "text")
    router = SlotRouter([addr], cluster=False, now_ns=RunClock().now_ns)
    r = router.execute_packed([_pack("INCR", "c"), _pack("INCR", "s"), _pack("INCR", "c")], ["c", "s", "c"])
    router.close()
    assert r.outcomes[0] is OpType.OK and r.outcomes[2] is OpType.OK
    assert r.values[0] == 1 and r.values[2] == 2
    # "not an integer" is an error reply after which nothing ran: redis-py leaves it a ResponseError
    assert r.outcomes[1] is not OpType.OK and "ResponseError" in r.values[1]
    assert r.clean is False and r.nodes == [addr] * 3


def test_a_group_keeps_its_error_objects(node: tuple[tuple[str, int], redis.Redis]) -> None:
    addr, admin = node
    admin.flushall()
    admin.set("s", "text")
    router = SlotRouter([addr], cluster=False, now_ns=RunClock().now_ns)
    groups = [_pack("INCR", "a") + _pack("INCR", "a"), _pack("INCR", "a") + _pack("ZADD", "s", "1", "m")]
    r = router.execute_packed(groups, ["a", "a"], per=2)
    router.close()
    assert r.outcomes == [OpType.OK, OpType.OK] and r.clean is False
    assert r.values[0] == [1, 2]
    assert r.values[1][0] == 3 and isinstance(r.values[1][1], redis.ResponseError)
    assert "WRONGTYPE" in str(r.values[1][1])


def test_many_socket_reads_keep_order_and_stamps(node: tuple[tuple[str, int], redis.Redis]) -> None:
    addr, admin = node
    admin.flushall()
    clock = RunClock()
    router = SlotRouter([addr], cluster=False, now_ns=clock.now_ns)
    n = 30_000  # ~200 kB of replies: many reads of the parser's 64 kB buffer
    sent = clock.now_ns()
    r = router.execute_packed(
        [_pack("INCR", "k")] * (n // 2) + [_pack("ECHO", "x" * 10)] * (n // 2), ["k"] * n
    )
    router.close()
    assert r.clean and r.outcomes == [OpType.OK] * n
    assert r.values[: n // 2] == list(range(1, n // 2 + 1)) and set(r.values[n // 2 :]) == {b"x" * 10}
    assert all(a <= b for a, b in zip(r.done_ns, r.done_ns[1:], strict=False))
    assert sent <= r.done_ns[0] and len(set(r.done_ns)) > 1


def test_a_timeout_mid_batch_leaves_the_rest_unknown(node: tuple[tuple[str, int], redis.Redis]) -> None:
    addr, admin = node
    admin.flushall()
    router = SlotRouter([addr], cluster=False, now_ns=RunClock().now_ns, socket_timeout=0.2)
    slow = _pack(*busy_command(BUSY_MS))
    # The server answers what it read before the script in earlier event-loop turns (it reads
    # 16 kB at a time); the replies of the script's own turn wait for the script.
    n = 3000
    r = router.execute_packed([_pack("INCR", "k")] * n + [slow, _pack("INCR", "k")], ["k"] * (n + 2))
    router.close()
    known = r.outcomes.index(OpType.INFO)
    assert 0 < known < n and r.values[:known] == list(range(1, known + 1))
    assert r.outcomes[known:] == [OpType.INFO] * (n + 2 - known) and r.clean is False
    assert all("TimeoutError" in v for v in r.values[known:])
    wait_until_answering(admin)
    assert int(admin.get("k") or 0) == n + 1  # the unknown ones did run: unknown was the right answer


def test_batches_in_flight_come_back_in_order(node: tuple[tuple[str, int], redis.Redis]) -> None:
    addr, admin = node
    admin.flushall()
    router = SlotRouter([addr], cluster=False, now_ns=RunClock().now_ns)
    first = router.send_packed([_pack("INCR", "a")] * 500, ["a"] * 500)
    second = router.send_packed([_pack("INCR", "a") + _pack("INCR", "b")] * 300, ["a"] * 300, per=2)
    # Once the server has run the second batch, both batches' replies are on our socket: reading
    # the first must take its own 500 and leave the second's behind.
    deadline = time.monotonic() + 10
    while int(admin.get("b") or 0) < 300:
        assert time.monotonic() < deadline, "the server never ran the second batch"
        time.sleep(0.01)
    r1, r2 = router.receive(first), router.receive(second)
    router.close()
    assert r1.clean and r1.values == list(range(1, 501))
    assert r2.clean and r2.values == [[500 + i, i] for i in range(1, 301)]
    assert max(r1.done_ns) <= min(r2.done_ns)


def test_a_batch_behind_a_broken_one_is_unknown(node: tuple[tuple[str, int], redis.Redis]) -> None:
    addr, admin = node
    admin.flushall()
    router = SlotRouter([addr], cluster=False, now_ns=RunClock().now_ns, socket_timeout=0.2)
    slow = router.send_packed([_pack(*busy_command(BUSY_MS))], ["k"])
    behind = router.send_packed([_pack("INCR", "k")], ["k"])
    r_slow, r_behind = router.receive(slow), router.receive(behind)
    # The first read timed out and dropped the connection: the second's replies can never be read
    # on a new one, and the INCR did reach the server, so unknown (not fail) is the only answer.
    assert r_slow.outcomes == [OpType.INFO] and "TimeoutError" in r_slow.values[0]
    assert r_behind.outcomes == [OpType.INFO] and "connection lost before the replies" in r_behind.values[0]
    wait_until_answering(admin)
    assert int(admin.get("k") or 0) == 1
    router.close()
