"""A run's own ACCEPT rule in the root namespace's FORWARD chain, for traffic across its bridge.

A running Docker engine sets the FORWARD policy to DROP and turns on ``bridge-nf-call-iptables``,
so frames bridged between two ports of *any* bridge pass through iptables FORWARD and are dropped:
measured here, a TCP connect from one host's namespace to another's address on a run bridge timed
out while dockerd ran. Paths through the proxies (host → bridge address, in the root namespace) are
INPUT/OUTPUT and were not affected; the rule keeps host-to-host traffic behaving the same with or
without an engine, so a direct path between nodes is seen (and flagged by the proxied-path checks)
instead of vanishing, and a partition is only ever our own DROP rules.

Why the top of FORWARD, not ``DOCKER-USER``: DOCKER-USER exists only while an engine has run, and an
engine started after our bridge would set the policy to DROP with our rule nowhere; a rule at the top
of FORWARD works before, during and after an engine, and dockerd never flushes FORWARD (it inserts
its own jumps above ours, and none of them drops traffic of a bridge it does not own). Neither the
policy nor any sysctl is changed. Each rule carries the run id in a comment, so ``harness clean``
finds the rules of a crashed run even without its ``resources.json``.
"""

from __future__ import annotations

import shlex
import subprocess

from harness.errors import HarnessError

CHAIN = "FORWARD"
COMMENT_PREFIX = "harness-run="
WAIT_S = "5"  # -w: iptables-legacy's xtables lock is machine-wide (dockerd holds it at times)


def bridge_rule(bridge: str, run_id: str) -> list[str]:
    """The rule (without chain) accepting what crosses ``bridge`` from one of its ports to another."""
    comment = f"{COMMENT_PREFIX}{run_id}"
    return ["-i", bridge, "-o", bridge, "-m", "comment", "--comment", comment, "-j", "ACCEPT"]


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["iptables", "-w", WAIT_S, *args], capture_output=True, text=True, timeout=30)


def insert(rule: list[str]) -> None:
    proc = _iptables("-I", CHAIN, "1", *rule)
    if proc.returncode != 0:
        raise HarnessError(f"iptables -I {CHAIN} 1 {shlex.join(rule)}: {proc.stderr.strip()}")


def delete(rule: list[str]) -> bool:
    """Deletes one copy of ``rule``; False when there was none (already gone is not an error)."""
    return _iptables("-D", CHAIN, *rule).returncode == 0


def parse_rules(listing: str) -> list[tuple[str, list[str]]]:
    """(run id, rule) for each of our rules in ``iptables -S FORWARD`` output; other rules are left."""
    out: list[tuple[str, list[str]]] = []
    for line in listing.splitlines():
        words = shlex.split(line)
        if words[:2] != ["-A", CHAIN] or "--comment" not in words:
            continue
        comment = words[words.index("--comment") + 1] if words[-1] != "--comment" else ""
        if comment.startswith(COMMENT_PREFIX):
            out.append((comment.removeprefix(COMMENT_PREFIX), words[2:]))
    return out


def our_rules() -> list[tuple[str, list[str]]]:
    """Every rule of ours in FORWARD now, with its run id; [] when iptables cannot be asked."""
    try:
        proc = _iptables("-S", CHAIN)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return parse_rules(proc.stdout) if proc.returncode == 0 else []
