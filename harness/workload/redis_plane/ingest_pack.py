"""Packing the one ingest path's commands (:mod:`harness.workload.redis_plane.ingest_path`) as
RESP: bytes %-templates built once, so packing an event is one format per round. Keys follow
:class:`KeyScheme`; each event's limit is its tenant's (``tenant_limits`` or ``limit``) split over
its write shards (:meth:`KeyScheme.shard_limit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

from harness.workload.model.generator import Event
from harness.workload.model.keys import KeyScheme, hour_bucket, minute_bucket
from harness.workload.redis_plane.ingest_record import Packed

Design = Literal["pipeline", "script"]
DEFAULT_DESIGN: Design = "pipeline"
_ARG = b"$%d\r\n%b\r\n"


def ingest_script(design: Design = DEFAULT_DESIGN) -> str:
    """The script ``design`` runs per event: the limiter alone (pipeline) or the whole work."""
    name = "ratelimit.lua" if design == "pipeline" else "ingest.lua"
    return resources.files("harness.workload").joinpath(name).read_text()


def limiter_script() -> str:
    return ingest_script("pipeline")


@dataclass(frozen=True)
class RedisIngestConfig:
    limit: int  # default per-tenant limit per window
    window_ms: int
    tenant_limits: dict[str, int] = field(default_factory=dict)
    counter_ttl_s: int = 600
    timeline_keep: int = 100
    timeline_ttl_s: int = 86_400


def _lit(v: object) -> bytes:
    """A constant argument as RESP, its % escaped for a template."""
    b = str(v).encode()
    return (b"$%d\r\n%b\r\n" % (len(b), b)).replace(b"%", b"%%")


class Packer:
    """Packs batches for one design: ``script`` is the loaded script's sha (``verb`` EVAL: its
    body)."""

    def __init__(
        self,
        keys: KeyScheme,
        cfg: RedisIngestConfig,
        script: str,
        design: Design = DEFAULT_DESIGN,
        verb: Literal["EVALSHA", "EVAL"] = "EVALSHA",
    ) -> None:
        self.keys = keys
        self.cfg = cfg
        self._script = design == "script"
        self._tmpl, self._fx = self._templates(verb, script)
        ttl = _lit(cfg.counter_ttl_s)
        self._incr, self._expire = b"*2\r\n$4\r\nINCR\r\n" + _ARG, b"*3\r\n$6\r\nEXPIRE\r\n" + _ARG + ttl
        self._buckets: dict[int, tuple[str, str]] = {}  # epoch minute -> (minute, hour bucket)
        self._tenants: dict[str, tuple[int, int, int, bytes]] = {}  # shards, group, limit, limit bytes

    def _templates(self, verb: str, script: str) -> tuple[bytes, bytes]:
        """Round 1's (or the script's) command and round 2's six (effects full) as bytes
        %-templates, so packing an event is one format each."""
        cfg, arg = self.cfg, _ARG
        call = b"$%d\r\n%b\r\n" % (len(verb), verb.encode()) + _lit(script)
        win = _lit(cfg.window_ms)
        if self._script:
            tail = _lit(cfg.counter_ttl_s) + _lit(cfg.timeline_keep) + _lit(cfg.timeline_ttl_s)
            return b"*16\r\n" + call + b"$1\r\n4\r\n" + arg * 5 + win + arg * 4 + tail, b""
        limiter = b"*8\r\n" + call + b"$1\r\n1\r\n" + arg * 2 + win + arg * 2
        effects = (
            (b"*2\r\n$4\r\nINCR\r\n" + arg)
            + (b"*3\r\n$6\r\nEXPIRE\r\n" + arg + _lit(cfg.counter_ttl_s))
            + (b"*3\r\n$5\r\nPFADD\r\n" + arg * 2)
            + (b"*4\r\n$4\r\nZADD\r\n" + arg * 3)
            + (b"*4\r\n$15\r\nZREMRANGEBYRANK\r\n" + arg + b"$1\r\n0\r\n" + _lit(-(cfg.timeline_keep + 1)))
            + (b"*3\r\n$6\r\nEXPIRE\r\n" + arg + _lit(cfg.timeline_ttl_s))
        )
        return limiter, effects

    def _bucket(self, time_ms: int) -> tuple[str, str]:
        minute = time_ms // 60_000
        b = self._buckets.get(minute)
        if b is None:
            if len(self._buckets) > 1024:
                self._buckets.clear()
            b = self._buckets[minute] = (minute_bucket(time_ms), hour_bucket(time_ms))
        return b

    def _tenant(self, tenant: str) -> tuple[int, int, int, bytes]:
        """The tenant's shards, group limit and per-shard limit (:meth:`KeyScheme.shard_limit`)."""
        t = self._tenants.get(tenant)
        if t is None:
            shards = self.keys.shards(tenant)
            group_limit = self.cfg.tenant_limits.get(tenant, self.cfg.limit)
            limit = self.keys.shard_limit(tenant, group_limit)
            if len(self._tenants) > 100_000:
                self._tenants.clear()
            t = self._tenants[tenant] = (shards, group_limit, limit, str(limit).encode())
        return t

    def pack(self, events: Sequence[Event]) -> Packed:
        """The platform's batch (effects full) as columns with each event's commands as RESP bytes
        (round 2's too, in design pipeline: packed with round 1 while the strings are at hand, sent
        for the admitted). A write-sharded tenant's shard is the user's."""
        keys, tenant_info, bucket, prefix = self.keys, self._tenant, self._bucket, self.keys.prefix
        tmpl, fx, script = self._tmpl, self._fx, self._script
        rows = []
        for ev in events:
            tenant, user, t_ms = ev.tenant, ev.user_id, ev.time_ms
            shards, group_limit, limit, limit_b = tenant_info(tenant)
            tag = keys.tag(tenant, keys.user_shard(tenant, user) if shards > 1 else 0)
            minute, hour = bucket(t_ms)
            k_lim = f"{prefix}ratelimit:{tag}:events"
            k_cnt = f"{prefix}counter:{tag}:events:{minute}"
            k_hll = f"{prefix}unique:{tag}:users:{hour}"
            k_tl = f"{prefix}timeline:{tag}:{user}"
            b_lim, b_cnt, b_hll, b_tl, b_user = (
                k_lim.encode(), k_cnt.encode(), k_hll.encode(), k_tl.encode(), user.encode()
            )  # fmt: skip
            now_b = b"%d" % t_ms
            id_b = ev.event_id.encode()
            entry = ev.timeline_entry().encode()
            lc, lt = len(b_cnt), len(b_tl)
            if script:
                cmd = tmpl % (
                    len(b_lim), b_lim, lc, b_cnt, len(b_hll), b_hll, lt, b_tl,
                    len(limit_b), limit_b, len(now_b), now_b, len(id_b), id_b,
                    len(b_user), b_user, len(entry), entry,
                )  # fmt: skip
                side = b""
            else:
                cmd = tmpl % (len(b_lim), b_lim, len(limit_b), limit_b, len(now_b), now_b, len(id_b), id_b)
                side = fx % (
                    lc, b_cnt, lc, b_cnt, len(b_hll), b_hll, len(b_user), b_user, lt, b_tl,
                    len(now_b), now_b, len(entry), entry, lt, b_tl, lt, b_tl,
                )  # fmt: skip
            rows.append(
                (ev.seq, tenant, ev.event_id, user, minute, t_ms, limit, group_limit, shards,
                 k_lim, k_cnt, k_hll, k_tl, cmd, side)
            )  # fmt: skip
        if not rows:
            return Packed(*([] for _ in Packed._fields))
        return Packed(*map(list, zip(*rows, strict=True)))

    def pack_counts(
        self, first_seq: int, tenants: Sequence[str], shards: Sequence[int], now_ms: Sequence[int], req: str
    ) -> Packed:
        """A batch for effects counter: event ``first_seq + i`` of ``tenants[i]`` on write shard
        ``shards[i]`` at ``now_ms[i]``, its limiter request id ``f"{req}{seq}"``."""
        keys, tenant_info, tmpl = self.keys, self._tenant, self._tmpl
        cols: tuple[list[Any], ...] = tuple([] for _ in Packed._fields)
        for i, (tenant, shard, t_ms) in enumerate(zip(tenants, shards, now_ms, strict=True)):
            n_shards, group_limit, limit, limit_b = tenant_info(tenant)
            k_lim, k_cnt = keys.limiter_key(tenant, shard), keys.counter_key(tenant, shard, t_ms)
            b_lim, now_b, id_b = k_lim.encode(), b"%d" % t_ms, f"{req}{first_seq + i}".encode()
            cmd = tmpl % (len(b_lim), b_lim, len(limit_b), limit_b, len(now_b), now_b, len(id_b), id_b)
            row = (first_seq + i, tenant, id_b.decode(), "", "", t_ms, limit, group_limit, n_shards,
                   k_lim, k_cnt, "", "", cmd, b"")  # fmt: skip
            for col, v in zip(cols, row, strict=True):
                col.append(v)
        return Packed(*cols)

    def counter_commands(self, k_cnt: Sequence[str]) -> list[bytes]:
        """Effects counter's round 2 for counter keys ``k_cnt``: ``INCR`` and ``EXPIRE`` of each,
        each its own command."""
        out = []
        for k in k_cnt:
            b = k.encode()
            out += [self._incr % (len(b), b), self._expire % (len(b), b)]
        return out
