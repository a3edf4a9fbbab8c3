"""A pipelining Redis client that routes by slot and reports each command's own completion time.

Why not redis-py's ClusterPipeline: it retries whole pipelines after connection errors (which can
apply an INCR twice without telling anyone) and only returns when every node has answered, hiding
which node was slow. This router sends each node's share of a batch, then reads the nodes'
answers smallest share first, stamping every reply when it is read. No retries: a failed or unknown
command is reported as such and the caller decides.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from redis._parsers.hiredis import NOT_ENOUGH_DATA, _HiredisParser
from redis.connection import Connection
from redis.crc import key_slot

from harness.clients.outcomes import REDIRECTS, REPLY_ERRORS, describe, outcome_of
from harness.ops import OpType

SLOTS = 16384
Address = tuple[str, int]


@dataclass(slots=True)
class Reply:
    outcome: OpType
    value: Any
    done_ns: int
    node: Address | None = None


def _reader(conn: Connection) -> Callable[[], Any]:
    """Reads one reply, returning an error reply as its exception (not raised).

    Skips ``Connection.read_response``'s per-call bookkeeping (a few µs a reply, which matters at
    several replies per event): with hiredis it loops on the reader's ``gets`` and refills from the
    socket; otherwise it uses the parser's own ``read_response``. Socket errors raise as there."""
    parser: Any = conn._parser
    reader = getattr(parser, "_reader", None)
    if not isinstance(parser, _HiredisParser) or reader is None:
        return parser.read_response  # type: ignore[no-any-return]
    gets: Callable[[], Any] = reader.gets
    refill: Callable[[], Any] = getattr(parser, "read_from_socket")  # noqa: B009 - untyped in redis-py

    def read() -> Any:
        value = gets()
        while value is NOT_ENOUGH_DATA:
            refill()
            value = gets()
        if isinstance(value, redis.ConnectionError):
            raise value
        return value

    return read


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
        return self._execute(keys, lambda conn, idxs: conn.pack_commands([commands[i] for i in idxs]))

    def execute_packed(
        self,
        packed: Sequence[bytes],
        keys: Sequence[bytes | str],
        per: int = 1,
        while_waiting: Callable[[], object] | None = None,
    ) -> list[Reply]:
        """As :meth:`execute`, for commands the caller already encoded as RESP (``packed[i]`` is one
        whole command): a hot path packing many similar commands does it faster than redis-py.

        With ``per`` > 1, ``packed[i]`` is ``per`` commands for one key's slot, sent back to back;
        its Reply is ``ok`` once all ``per`` replies are read, with ``value`` their list, in which an
        error reply is left as its exception object (classify it with ``outcome_of``), stamped when
        the last is read; a broken connection makes it ``info`` as for one command.

        ``while_waiting`` runs once every share is sent, before any reply is read: the caller's
        own work (e.g. serialising its history records) then overlaps the server's."""
        return self._execute(
            keys, lambda _conn, idxs: [b"".join([packed[i] for i in idxs])], per, while_waiting
        )

    def _execute(
        self,
        keys: Sequence[bytes | str],
        pack: Callable[[Connection, list[int]], list[bytes]],
        per: int = 1,
        while_waiting: Callable[[], object] | None = None,
    ) -> list[Reply]:
        groups: dict[Address, list[int]] = {}
        for i, key in enumerate(keys):
            groups.setdefault(self.node_for(key), []).append(i)
        replies: list[Reply | None] = [None] * len(keys)
        sent: list[tuple[Address, list[int]]] = []
        moved = False
        for addr, idxs in groups.items():
            conn = self._conn(addr)
            try:
                conn.connect()
            except (redis.RedisError, OSError) as exc:
                # Could not connect: nothing of this group reached the server.
                self._fill(replies, idxs, OpType.FAIL, exc, addr)
                self._drop(addr)
                moved = True
                continue
            try:
                conn.send_packed_command(pack(conn, idxs), check_health=False)
                sent.append((addr, idxs))
            except (redis.RedisError, OSError) as exc:
                # Part of the batch may have been written before the error: outcome unknown.
                self._fill(replies, idxs, OpType.INFO, exc, addr)
                self._drop(addr)
        if while_waiting is not None:
            while_waiting()
        for addr, idxs in sorted(sent, key=lambda g: len(g[1])):
            conn = self._conn(addr)
            read = _reader(conn)
            for pos, i in enumerate(idxs):
                try:
                    if per == 1:
                        value = read()
                        if isinstance(value, redis.ResponseError):
                            raise value
                    else:
                        value = [read() for _ in range(per)]
                        for v in value:
                            if isinstance(v, REDIRECTS):
                                moved = True
                    replies[i] = Reply(OpType.OK, value, self.now_ns(), addr)
                except REPLY_ERRORS as exc:  # an error reply: the connection is fine, read on
                    replies[i] = Reply(outcome_of(exc), describe(exc), self.now_ns(), addr)
                    moved = moved or isinstance(exc, REDIRECTS)
                except (redis.RedisError, OSError) as exc:
                    # The connection broke mid-batch: these and all later replies are unknown.
                    self._fill(replies, idxs[pos:], OpType.INFO, exc, addr)
                    self._drop(addr)
                    moved = True
                    break
        if moved:
            with contextlib.suppress(redis.RedisError):
                self.refresh()
        return [r if r is not None else Reply(OpType.INFO, "no reply", self.now_ns()) for r in replies]

    def _fill(
        self,
        replies: list[Reply | None],
        idxs: Sequence[int],
        outcome: OpType,
        exc: BaseException,
        addr: Address,
    ) -> None:
        now = self.now_ns()
        for i in idxs:
            replies[i] = Reply(outcome, f"{type(exc).__name__}: {exc}", now, addr)

    def close(self) -> None:
        for addr in list(self._conns):
            self._drop(addr)
