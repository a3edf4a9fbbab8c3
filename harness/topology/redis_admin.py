"""Admin work on a Redis plane's nodes between variants, over the observer path (each node's
direct address, around its proxy): resets, settings, scripts and sampler connections."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import redis
from redis import Redis

from harness.errors import HarnessError
from harness.topology.deployment import Setting
from harness.topology.redis import RedisNode, no_retry


def observers(nodes: Sequence[RedisNode]) -> dict[str, Redis]:
    """One fresh admin connection per node, for a sampler thread of its own."""
    return {
        n.name: Redis(host=n.host.address, port=n.port, socket_timeout=2, retry=no_retry()) for n in nodes
    }


def reset_data(masters: Sequence[RedisNode], nodes: Sequence[RedisNode]) -> None:
    """FLUSHALL on the masters, then MEMORY PURGE and CONFIG RESETSTAT everywhere: freeing the
    previous keys costs CPU after FLUSHALL returns (the allocator purges in the background), and
    that work must not land in the next variant's first seconds."""
    for node in masters:
        node.admin().flushall()
    for node in nodes:
        node.admin().execute_command("MEMORY", "PURGE")
        node.admin().config_resetstat()


def apply_settings(nodes: Sequence[RedisNode], settings: Mapping[str, Setting]) -> dict[str, Setting]:
    """``CONFIG SET`` on every node, then ``CONFIG REWRITE``; returns the values replaced (read
    with ``CONFIG GET``), so they can be put back."""
    previous: dict[str, Setting] = {}
    for name, value in settings.items():
        text = ("yes" if value else "no") if isinstance(value, bool) else str(value)
        for node in nodes:
            try:
                old = node.admin().config_get(name).get(name)
                if old is not None:
                    previous.setdefault(name, str(old))
                node.admin().config_set(name, text)
            except redis.RedisError as exc:
                raise HarnessError(f"setting {name}={text} refused by {node.name}: {exc}") from exc
    for node in nodes if settings else []:
        # As the persistence case's fix does: a node restarted by a fault must come back with
        # these settings (appendonly yes is what makes it load its AOF).
        try:
            node.admin().execute_command("CONFIG", "REWRITE")
        except redis.RedisError as exc:
            raise HarnessError(f"CONFIG REWRITE refused by {node.name}: {exc}") from exc
    return previous


def load_script(addresses: Sequence[tuple[str, int]], script: str) -> str:
    """``SCRIPT LOAD`` through each address (the masters' proxies); returns the script's SHA."""
    sha = ""
    for host, port in addresses:
        with Redis(host=host, port=port) as c:
            sha = str(c.script_load(script))
    return sha
