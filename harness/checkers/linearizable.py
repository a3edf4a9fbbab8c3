"""Checker: small registers used by failover scenarios are linearizable, key by key.

No maintained Python linearizability checker exists (PyPI has none; the maintained ones are
Knossos and Elle in Clojure, Porcupine in Go), so this is the standard search: Wing & Gong's
algorithm with Lowe's memoisation ("just-in-time linearization"), as described by Horn & Kroening
(2015) and used by Knossos' ``wgl`` and Porcupine. Linearizability is compositional (Herlihy &
Wing), so every key is checked on its own.

Op vocabulary (a register per ``key``: a Redis string ``SET``/``GET``, or a MongoDB document read
and written with majority read/write concern):

``reg_write`` — invoke: ``key``, ``value`` (the value written; JSON).
``reg_read`` — invoke: ``key``; completion ``ok``: ``value`` = the value read (null: never written,
    the register's ``initial`` value).
``reg_cas`` — compare-and-set (a Lua script, or ``findOneAndUpdate`` on the expected value).
    invoke: ``key``, ``value`` = ``[expected, new]``; ``ok`` = swapped; ``fail`` = not swapped.

Outcomes: ``fail`` ops had no effect and are left out; ``info`` (or never completed) writes and
CAS may take effect at any point after their invoke, or never (their return is at +infinity);
``info`` reads constrain nothing and are left out.

Bounds: a key with more than ``max_ops`` ops (after leaving out those above) is not searched, and a
search that takes more than ``max_steps`` steps stops, and once ``max_total_steps`` have been spent
over all keys the remaining keys are not searched (so many hard keys cannot add up to an unbounded
check); each makes the verdict ``unknown`` with the reason, never a guess. The search is
exponential in the worst case (concurrency and unknown
writes widen it); :func:`bench` measures it, see ``details["bounds"]``.

Search: events (calls and returns) in time order in a doubly linked list; take the first call whose
op can be applied to the model state, unless (linearized set, state) was seen before; lift it out
and start again from the head; on reaching a return whose op is not linearized, backtrack. A
history is linearizable when every completed op is linearized.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from harness.checkers._common import Examples
from harness.checkers.compose import fold
from harness.checkers.verdict import Status, Verdict, run_ms
from harness.history.loader import Op
from harness.ops import OpType

# the members once: each OpType.X is an enum-class lookup (~200 ns), several per op and checker
_OK, _FAIL = OpType.OK, OpType.FAIL

NAME = "linearizable-registers"
#: The anomaly kinds this checker's examples (and ``details["violations_by_kind"]``) can name.
KINDS: frozenset[str] = frozenset({"nonlinearizable"})

MAX_OPS = 200
MAX_STEPS = 1_000_000
#: Over all keys together: about 10 s of search on our machine, so the checker stays bounded.
MAX_TOTAL_STEPS = 20_000_000

READ, WRITE, _CAS = "reg_read", "reg_write", "reg_cas"


def _freeze(value: Any) -> str:
    """The canonical JSON text of a value (sorted keys, no whitespace): hashable, and equal exactly
    when the values are, so ``true`` is not ``1``, ``1.0`` is not ``1`` and a list is not the string
    of its JSON (Python's ``True == 1`` and a tagged string both conflated them)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _thaw(frozen: Any) -> Any:
    if isinstance(frozen, tuple):
        return [_thaw(v) for v in frozen]
    return json.loads(frozen) if isinstance(frozen, str) else frozen


@dataclass(slots=True)
class Entry:
    kind: str  # READ, WRITE or _CAS
    arg: Any  # read: value read; write: value written; cas: (expected, new)
    call_ns: int
    ret_ns: int | None  # None: may take effect any time after the call, or never
    op_id: int


@dataclass
class _Result:
    status: Status
    steps: int
    reason: str = ""
    stuck: int | None = None  # index of the op that could not be linearized at the deepest point
    prefix: list[int] | None = None  # indices linearized before it


def _apply(entry: Entry, state: Any) -> tuple[bool, Any]:
    if entry.kind == WRITE:
        return True, entry.arg
    if entry.kind == READ:
        return state == entry.arg, state
    expected, new = entry.arg
    return (True, new) if state == expected else (False, state)


def search(entries: list[Entry], initial: Any = None, max_steps: int = MAX_STEPS) -> _Result:
    """Wing–Gong–Lowe over one register's ops.

    Long because: one search loop over the event list, stack and cache it shares with every step.
    """
    events: list[tuple[int, int, int]] = []  # (time, 0 call / 1 return, op index)
    for i, e in enumerate(entries):
        events.append((e.call_ns, 0, i))
        if e.ret_ns is not None:
            events.append((e.ret_ns, 1, i))
    events.sort()  # at equal times calls come first: such ops count as concurrent
    m = len(events)
    head, tail = 0, m + 1  # sentinels; event k sits at node k + 1
    nxt = [*range(1, m + 2), tail]
    prv = [head, *range(0, m + 1)]
    call_node = [0] * len(entries)
    ret_node: list[int | None] = [None] * len(entries)
    for k, (_, is_ret, i) in enumerate(events):
        if is_ret:
            ret_node[i] = k + 1
        else:
            call_node[i] = k + 1

    def unlink(x: int) -> None:
        nxt[prv[x]] = nxt[x]
        prv[nxt[x]] = prv[x]

    def relink(x: int) -> None:
        nxt[prv[x]] = x
        prv[nxt[x]] = x

    returns_left = sum(1 for r in ret_node if r is not None)
    state = initial
    linearized = 0
    stack: list[tuple[int, Any]] = []
    cache: set[tuple[int, Any]] = set()
    deepest = -1
    stuck: int | None = None
    prefix: list[int] = []
    steps = 0
    node = nxt[head]
    while returns_left:
        steps += 1
        if steps > max_steps:
            return _Result("unknown", steps, f"search budget of {max_steps} steps exhausted")
        _, is_ret, i = events[node - 1]
        if not is_ret:
            ok, new_state = _apply(entries[i], state)
            if ok:
                key = (linearized | (1 << i), new_state)
                if key not in cache:
                    cache.add(key)
                    stack.append((i, state))
                    linearized, state = key
                    unlink(call_node[i])
                    r = ret_node[i]
                    if r is not None:
                        unlink(r)
                        returns_left -= 1
                    node = nxt[head]
                    continue
            node = nxt[node]
            continue
        # a return whose op is not linearized yet: undo the last choice
        if len(stack) > deepest:
            deepest, stuck, prefix = len(stack), i, [j for j, _ in stack]
        if not stack:
            return _Result("invalid", steps, "no linearization", stuck, prefix)
        j, state = stack.pop()
        linearized &= ~(1 << j)
        r = ret_node[j]
        if r is not None:
            relink(r)
            returns_left += 1
        relink(call_node[j])
        node = nxt[call_node[j]]
    return _Result("valid", steps)


class LinearizableRegisters:
    name = NAME

    def __init__(
        self,
        *,
        max_ops: int = MAX_OPS,
        max_steps: int = MAX_STEPS,
        max_total_steps: int = MAX_TOTAL_STEPS,
        initial: Any = None,
    ) -> None:
        if min(max_ops, max_steps, max_total_steps) <= 0:
            raise ValueError("max_ops, max_steps and max_total_steps must be positive")
        self.fs: frozenset[str] | None = frozenset({READ, WRITE, _CAS})
        self.max_ops = max_ops
        self.max_steps = max_steps
        self.max_total_steps = max_total_steps
        self.initial = _freeze(initial)
        self._keys: dict[str, list[Entry]] = {}
        self._over: dict[str, int] = {}  # keys past max_ops -> how many ops they had
        self._ops: dict[str, int] = {}
        self._malformed = 0
        self._examples = Examples()

    def observe(self, op: Op) -> None:
        self._ops[op.f] = self._ops.get(op.f, 0) + 1
        key = op.get("key")
        if not isinstance(key, str):
            self._malformed += 1
            return
        if op.outcome == _FAIL:
            return  # certainly no effect
        unknown = op.outcome != _OK
        if op.f == READ:
            if unknown or op.completion is None:
                return  # an unknown read constrains nothing
            arg: Any = _freeze(op.completion.get("value"))
        elif op.f == WRITE:
            arg = _freeze(op.invoke.get("value"))
        else:
            pair = op.invoke.get("value")
            if not isinstance(pair, list) or len(pair) != 2:
                self._malformed += 1
                return
            arg = (_freeze(pair[0]), _freeze(pair[1]))
        if key in self._over:
            self._over[key] += 1
            return
        entries = self._keys.setdefault(key, [])
        if len(entries) >= self.max_ops:
            self._over[key] = len(entries) + 1
            del self._keys[key]  # past the bound: memory is not kept for it
            return
        entries.append(Entry(op.f, arg, op.invoke_ns, None if unknown else op.complete_ns, op.id))

    def finish(self) -> Verdict:
        unknown: dict[str, str] = {k: f"{n} ops > max_ops {self.max_ops}" for k, n in self._over.items()}
        steps_total = 0
        checked = 0
        for key, entries in self._keys.items():
            left = self.max_total_steps - steps_total
            if left <= 0:
                unknown[key] = f"not searched: the total budget of {self.max_total_steps} steps was spent"
                continue
            started = time.perf_counter()
            result = search(entries, self.initial, min(self.max_steps, left))
            steps_total += result.steps
            checked += 1
            if result.status == "unknown":
                unknown[key] = result.reason
            elif result.status == "invalid":
                self._examples.add(
                    entries[result.stuck or 0].call_ns,
                    self._example(key, entries, result, time.perf_counter() - started),
                )
        n = self._examples.count
        details: dict[str, Any] = {
            "violations_by_kind": dict(self._examples.by_kind),
            "keys": checked + len(self._over),
            "keys_searched": checked,
            "keys_unknown": len(unknown),
            "unknown_reasons": dict(list(unknown.items())[:20]),
            "search_steps": steps_total,
            "bounds": {
                "max_ops_per_key": self.max_ops,
                "max_steps": self.max_steps,
                "max_total_steps": self.max_total_steps,
            },
            "ops": self._ops,
            "malformed_ops": self._malformed,
        }
        status: Status
        if n:
            status, summary = "invalid", f"{n} of {checked} registers are not linearizable"
        elif unknown:
            status, summary = "unknown", f"{len(unknown)} registers past the search bound"
        elif checked == 0:
            status, summary = "unknown", "no register ops"
        else:
            status, summary = "valid", f"{checked} registers linearizable"
        return Verdict(NAME, status, n, summary, self._examples.examples(), details)

    @staticmethod
    def _example(key: str, entries: list[Entry], result: _Result, seconds: float) -> dict[str, Any]:
        stuck = entries[result.stuck if result.stuck is not None else 0]
        end = stuck.ret_ns if stuck.ret_ns is not None else float("inf")
        concurrent = [
            e.op_id
            for e in entries
            if e is not stuck and e.call_ns < end and (e.ret_ns is None or e.ret_ns > stuck.call_ns)
        ]
        return {
            "kind": "nonlinearizable",
            "key": key,
            "op": stuck.op_id,
            "f": stuck.kind,
            "value": _thaw(stuck.arg),
            "invoke_ms": run_ms(stuck.call_ns),
            "complete_ms": run_ms(stuck.ret_ns),
            "linearized_before": [entries[i].op_id for i in (result.prefix or [])][-10:],
            "concurrent_ops": concurrent[:10],
            "ops_on_key": len(entries),
            "search_steps": result.steps,
            "search_s": round(seconds, 4),
        }


def check_linearizable(ops: Iterable[Op], **params: Any) -> Verdict:
    return fold(LinearizableRegisters(**params), ops)
