"""A pipelining Redis client that routes by slot and reports each command's own completion time.

Why not redis-py's ClusterPipeline: it retries whole pipelines after connection errors (which can
apply an INCR twice without telling anyone) and only returns when every node has answered, hiding
which node was slow. This router sends each node's share of a batch, then reads the nodes'
answers smallest share first, stamping every reply when it is read. No retries: a failed or unknown
command is reported as such and the caller decides.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from redis._parsers.hiredis import NOT_ENOUGH_DATA, _HiredisParser
from redis.connection import Connection
from redis.crc import key_slot

from harness.clients.outcomes import REDIRECTS, REPLY_ERRORS, describe, outcome_of
from harness.ops import OpType

SLOTS = 16384
#: encodes commands to RESP (never connects)
_PACKER = Connection()
Address = tuple[str, int]


@dataclass(slots=True)
class Reply:
    outcome: OpType
    value: Any
    done_ns: int
    node: Address | None = None


def failed(replies: Sequence[Reply]) -> tuple[OpType, str] | None:
    """For a read made of several commands: None when every reply is ok, else the outcome of the
    whole (``info`` when any is unknown, a definite ``fail`` only when every bad one failed) and the
    first bad reply's description."""
    bad = [r for r in replies if r.outcome is not OpType.OK]
    if not bad:
        return None
    worst = OpType.INFO if any(r.outcome is OpType.INFO for r in bad) else OpType.FAIL
    return worst, str(bad[0].value)


@dataclass(slots=True)
class Replies:
    """A batch's replies as columns, one entry per command (group): ``outcomes[i]``, ``values[i]``
    (the reply; for a ``fail``/``info`` outcome its description) and ``done_ns[i]``. ``clean``: every
    outcome ok and no error reply inside any group (the common case a hot path checks once)."""

    outcomes: list[OpType]
    values: list[Any]
    done_ns: list[int]
    clean: bool
    #: the node that answered (or was to answer) each
    nodes: list[Address | None]

    @classmethod
    def of(cls, replies: Sequence[Reply]) -> Replies:
        """The columns of per-command :class:`Reply` objects (e.g. from a test double)."""
        clean = all(
            r.outcome is OpType.OK
            and not (isinstance(r.value, list) and any(isinstance(v, BaseException) for v in r.value))
            for r in replies
        )
        return cls(
            [r.outcome for r in replies],
            [r.value for r in replies],
            [r.done_ns for r in replies],
            clean,
            [r.node for r in replies],
        )


@dataclass(slots=True)
class Sent:
    """A batch :meth:`SlotRouter.send_packed` sent: its groups (node, indices, the connection they
    went out on) and the replies known already (groups that could not be sent)."""

    n: int
    per: int
    out: Replies
    groups: list[tuple[Address, list[int] | None, Connection]] = field(default_factory=list)
    clean: bool = True
    moved: bool = False


def _read_flat(
    conn: Connection, count: int, values: list[Any], times: list[int], now_ns: Callable[[], int]
) -> None:
    """Reads ``count`` replies into ``values`` (an error reply as its exception object, not raised),
    each stamped in ``times`` with the end of the socket read that completed it. A socket error
    raises, leaving what was read before it in the lists."""
    parser: Any = conn._parser
    reader = getattr(parser, "_reader", None)
    if not isinstance(parser, _HiredisParser) or reader is None:
        for _ in range(count):
            try:
                values.append(parser.read_response(disable_decoding=False))
            except REPLY_ERRORS as exc:
                values.append(exc)
            times.append(now_ns())
        return
    gets: Callable[[], Any] = reader.gets
    refill: Callable[[], Any] = getattr(parser, "read_from_socket")  # noqa: B009 - untyped in redis-py
    stamp = now_ns()
    start = len(values)
    while True:
        had = len(values)
        # the replies already buffered, in C, up to this batch's last (the next batch's replies may
        # be buffered behind it): gets() returns NOT_ENOUGH_DATA when it needs more bytes
        values.extend(itertools.islice(iter(gets, NOT_ENOUGH_DATA), count - (had - start)))
        times.extend([stamp] * (len(values) - had))
        if len(values) - start >= count:
            break
        refill()
        stamp = now_ns()


class SlotRouter:
    """Routes commands to the node serving their key's slot (cluster) or to one node (standalone)."""

    def __init__(
        self,
        seeds: Sequence[Address],
        *,
        cluster: bool,
        now_ns: Callable[[], int],
        socket_timeout: float = 2.0,
    ) -> None:
        self.seeds = list(seeds)
        self.cluster = cluster
        self.now_ns = now_ns
        self.socket_timeout = socket_timeout
        self._conns: dict[Address, Connection] = {}
        self._slots: list[Address] = []
        self.refreshes = 0
        self._in_flight = 0  # batches sent, replies not yet read
        self._stale = False  # the slot map needs a refresh once nothing is in flight
        self.refresh()

    #: The connection class (a subclass may, e.g., send ``READONLY`` after every connect).
    connection_class: type[Connection] = Connection

    def _conn(self, addr: Address) -> Connection:
        conn = self._conns.get(addr)
        if conn is None:
            conn = self.connection_class(
                host=addr[0],
                port=addr[1],
                socket_timeout=self.socket_timeout,
                socket_connect_timeout=self.socket_timeout,
            )
            self._conns[addr] = conn
        return conn

    def refresh(self) -> None:
        """Reloads the slot map from the first seed or known node that answers CLUSTER SLOTS."""
        if not self.cluster:
            self._slots = [self.seeds[0]]
            return
        last: Exception | None = None
        for addr in [*self.seeds, *self._conns]:
            try:
                conn = self._conn(addr)
                conn.send_command("CLUSTER", "SLOTS")
                table = conn.read_response()
            except (redis.RedisError, OSError) as exc:
                last = exc
                self._drop(addr)
                continue
            refused = self._refuse(table)
            if refused is not None:
                last = redis.RedisError(refused)
                continue
            slots: list[Address | None] = [None] * SLOTS
            for entry in table:
                lo, hi, node = int(entry[0]), int(entry[1]), self._serving(entry)
                host = node[0].decode() if isinstance(node[0], bytes) else str(node[0])
                for s in range(lo, hi + 1):
                    slots[s] = (host, int(node[1]))
            if any(s is None for s in slots):
                last = redis.RedisError(f"slot map from {addr[0]}:{addr[1]} does not cover every slot")
                continue
            self._slots = [s for s in slots if s is not None]
            self.refreshes += 1
            return
        raise redis.ConnectionError(f"no node answered CLUSTER SLOTS: {last}")

    def _serving(self, entry: Sequence[Any]) -> Sequence[Any]:
        """The node of a ``CLUSTER SLOTS`` entry this router sends the range to: its master."""
        return entry[2]  # type: ignore[no-any-return]

    def _refuse(self, table: Sequence[Any]) -> str | None:
        """Why a slot map cannot be used (None: it can)."""
        return None

    def node_for(self, key: bytes | str) -> Address:
        if not self.cluster:
            return self._slots[0]
        return self._slots[key_slot(key.encode() if isinstance(key, str) else key)]

    def masters(self) -> list[Address]:
        return sorted(set(self._slots))

    def _drop(self, addr: Address) -> None:
        conn = self._conns.pop(addr, None)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.disconnect()

    def execute(self, commands: Sequence[tuple[Any, ...]], keys: Sequence[bytes | str]) -> list[Reply]:
        """Runs ``commands[i]`` (args tuple) routed by ``keys[i]``; returns one Reply per command."""
        pack: Callable[..., list[bytes]] = _PACKER.pack_command
        out = self.execute_packed([b"".join(pack(*c)) for c in commands], keys)
        return [Reply(*r) for r in zip(out.outcomes, out.values, out.done_ns, out.nodes, strict=True)]

    def execute_packed(
        self,
        packed: Sequence[bytes],
        keys: Sequence[bytes | str],
        per: int = 1,
        while_waiting: Callable[[], object] | None = None,
    ) -> Replies:
        """As :meth:`execute`, for commands the caller already encoded as RESP (``packed[i]`` is one
        whole command), with the replies as columns: a hot path packing and reading thousands of
        similar commands does both faster than redis-py.

        With ``per`` > 1, ``packed[i]`` is ``per`` commands for one key's slot, sent back to back;
        its outcome is ``ok`` once all ``per`` replies are read, with ``value`` their list, in which
        an error reply is left as its exception object (classify it with ``outcome_of``); a broken
        connection makes it ``info`` as for one command.

        Replies are read in bulk: each is stamped with the time the socket read that completed it
        returned (replies that arrived in one read share it), which is when the client had it.

        ``while_waiting`` runs once every share is sent, before any reply is read: the caller's
        own work (e.g. serialising its history records) then overlaps the server's."""
        sent = self.send_packed(packed, keys, per)
        if while_waiting is not None:
            while_waiting()
        return self.receive(sent)

    def send_packed(self, packed: Sequence[bytes], keys: Sequence[bytes | str], per: int = 1) -> Sent:
        """The sending half of :meth:`execute_packed`: :meth:`receive` reads the replies. Several
        batches may be in flight; receive them in the order they were sent (replies come back in
        order on each connection). A batch whose connection was dropped before its replies were
        read (an earlier batch's error) is unknown."""
        n = len(keys)
        out = Replies([OpType.INFO] * n, [None] * n, [0] * n, False, [None] * n)
        batch = Sent(n, per, out)
        groups = self._groups(keys)
        for addr, idxs in groups:
            conn = self._conn(addr)
            try:
                conn.connect()
            except (redis.RedisError, OSError) as exc:
                # Could not connect: nothing of this group reached the server.
                self._fill_columns(out, idxs, OpType.FAIL, exc, addr)
                self._drop(addr)
                batch.moved = True
                continue
            try:
                chunk = b"".join(packed if idxs is None else [packed[i] for i in idxs])
                conn.send_packed_command([chunk], check_health=False)
                batch.groups.append((addr, idxs, conn))
            except (redis.RedisError, OSError) as exc:
                # Part of the batch may have been written before the error: outcome unknown.
                self._fill_columns(out, idxs, OpType.INFO, exc, addr)
                self._drop(addr)
        batch.clean = len(batch.groups) == len(groups)
        self._in_flight += 1
        return batch

    def receive(self, batch: Sent) -> Replies:
        """The replies of a :meth:`send_packed` batch (see :meth:`execute_packed`)."""
        n, per, out = batch.n, batch.per, batch.out
        clean, moved = batch.clean, batch.moved
        for addr, idxs, conn in sorted(batch.groups, key=lambda g: n if g[1] is None else len(g[1])):
            count = n if idxs is None else len(idxs)
            flat: list[Any] = []
            times: list[int] = []
            broken: BaseException | None = None
            if self._conns.get(addr) is not conn:
                broken = redis.ConnectionError("connection lost before the replies were read")
            else:
                try:
                    _read_flat(conn, count * per, flat, times, self.now_ns)
                except (redis.RedisError, OSError) as exc:
                    broken = exc
            group_clean, redirected = self._place(out, idxs, flat, times, per, addr)
            clean = clean and group_clean and broken is None
            moved = moved or redirected
            if broken is not None:
                # The connection broke mid-batch: the groups not wholly read are unknown.
                done = len(flat) // per
                rest = list(range(done, count)) if idxs is None else idxs[done:]
                self._fill_columns(out, rest, OpType.INFO, broken, addr)
                if self._conns.get(addr) is conn:
                    self._drop(addr)
                moved = True
        out.clean = clean
        self._in_flight -= 1
        self._stale = self._stale or moved
        if self._stale and self._in_flight == 0:
            # Only with nothing in flight: CLUSTER SLOTS on a connection with replies still to be
            # read would take one of theirs.
            self._stale = False
            with contextlib.suppress(redis.RedisError):
                self.refresh()
        return out

    def abandon_in_flight(self) -> None:
        """Drops every connection when batches are in flight whose replies will not be read (their
        caller failed): a later batch would otherwise read their replies as its own. Their ops
        stay invoked without a completion: unknown, which is what they are."""
        if self._in_flight:
            for addr in list(self._conns):
                self._drop(addr)
            self._in_flight = 0

    def _groups(self, keys: Sequence[bytes | str]) -> list[tuple[Address, list[int] | None]]:
        """Each node's share of the commands, as indices (None: every command, in order)."""
        if not self.cluster:
            return [(self._slots[0], None)]
        groups: dict[Address, list[int]] = {}
        for i, key in enumerate(keys):
            groups.setdefault(self.node_for(key), []).append(i)
        if len(groups) == 1:
            return [(next(iter(groups)), None)]
        return list(groups.items())

    @staticmethod
    def _place(
        out: Replies,
        idxs: list[int] | None,
        flat: list[Any],
        times: list[int],
        per: int,
        addr: Address,
    ) -> tuple[bool, bool]:
        """Puts one node's read replies into ``out``; returns (all ok and error-free, redirected)."""
        whole = len(flat) // per
        if per == 1:
            values = flat
            done = times
        else:
            values = [flat[j : j + per] for j in range(0, whole * per, per)]
            done = times[per - 1 :: per]
        errors = any(issubclass(t, BaseException) for t in set(map(type, flat)))
        outcomes = [OpType.OK] * whole
        redirected = False
        if errors:
            for k, v in enumerate(values):
                if per == 1:
                    if isinstance(v, BaseException):
                        outcomes[k] = outcome_of(v)
                        values[k] = describe(v)
                        redirected = redirected or isinstance(v, REDIRECTS)
                elif any(isinstance(x, REDIRECTS) for x in v):
                    redirected = True
        if idxs is None:
            out.outcomes[:whole] = outcomes
            out.values[:whole] = values
            out.done_ns[:whole] = done
            out.nodes[:whole] = [addr] * whole
        else:
            for k in range(whole):
                i = idxs[k]
                out.outcomes[i] = outcomes[k]
                out.values[i] = values[k]
                out.done_ns[i] = done[k]
                out.nodes[i] = addr
        return not errors, redirected

    def _fill_columns(
        self,
        out: Replies,
        idxs: Sequence[int] | None,
        outcome: OpType,
        exc: BaseException,
        addr: Address,
    ) -> None:
        now = self.now_ns()
        why = f"{type(exc).__name__}: {exc}"
        for i in range(len(out.outcomes)) if idxs is None else idxs:
            out.outcomes[i] = outcome
            out.values[i] = why
            out.done_ns[i] = now
            out.nodes[i] = addr

    def close(self) -> None:
        for addr in list(self._conns):
            self._drop(addr)
