"""The nightly: every scenario of a suite in sequence, each in its own ``harness scenario`` process,
then one summary built from the run directories' saved files.

Each scenario runs as ``python -m harness.cli scenario NAME`` in a session of its own (so a Ctrl-C
reaches it once, from here, and its teardown is not interrupted a second time), its output in
``reports/nightly/<date>/logs/<scenario>.log``. Its run directory is the one that appeared under
``reports/<scenario>/`` while it ran; its verdict and key figures are read from that directory's
``results.json``. A scenario that errors, crashes, or outlives ``timeout_s`` is recorded as
``error`` with the reason, and the nightly goes on. Ctrl-C (or SIGTERM) stops the running scenario
(it tears down and writes its partial report), records what finished, and stops the nightly.

After every scenario ``nightly.json`` is written and the summary rendered (so a nightly killed part
way still leaves one); at the end each figure's value is appended to the history file
(:mod:`harness.nightly.baselines`), unless the nightly was interrupted.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import harness
from harness.errors import HarnessError
from harness.nightly.baselines import BAND_RULE, MIN_RUNS, Baselines, append_history, judge
from harness.nightly.figures import figures_of
from harness.records import NightlyRecord, NightlyScenario, RunResults, salvage, write_record
from harness.report.nightly import render_nightly
from harness.scenario.spec import load_scenario

#: Scenario process exit code by verdict (harness scenario's own).
VERDICT_OF_EXIT = {0: "pass", 1: "fail", 2: "error", 3: "not_run"}
STOP_GRACE_S = 120.0  # how long a stopped scenario may take to tear down before it is killed
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass
class NightlyOptions:
    scenarios: list[str]
    suite: str = "all"
    reports_dir: Path = Path("reports")
    duration_s: float | None = None
    rate: float | None = None
    backend: str = "local"
    timeout_s: float = 1800.0
    history_file: Path | None = None  # default: <reports_dir>/baselines/history.csv
    log: Callable[[str], None] = print
    #: The command that runs one scenario (tests give a stand-in); default: harness scenario.
    command: Callable[[str, NightlyOptions], list[str]] | None = None
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    @property
    def history_path(self) -> Path:
        return self.history_file or self.reports_dir / "baselines" / "history.csv"

    def conditions(self) -> str:
        """What a figure is compared under: past values measured otherwise are not its baseline."""
        out = f"backend={self.backend}"
        if self.duration_s is not None:
            out += f" duration={self.duration_s:g}s"
        if self.rate is not None:
            out += f" rate={self.rate:g}/s"
        return out


def scenario_command(name: str, opts: NightlyOptions) -> list[str]:
    cmd = [sys.executable, "-m", "harness.cli", "scenario", name]
    cmd += ["--reports-dir", str(opts.reports_dir.absolute()), "--backend", opts.backend]
    if opts.duration_s is not None:
        cmd += ["--duration", f"{opts.duration_s:g}"]
    if opts.rate is not None:
        cmd += ["--rate", f"{opts.rate:g}"]
    return cmd


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_nightly_dir(root: Path, day: str) -> Path:
    """``root/<day>``, or ``<day>-2``, ``-3``… when that day already had a nightly."""
    root.mkdir(parents=True, exist_ok=True)
    for k in range(1, 1000):
        path = root / (day if k == 1 else f"{day}-{k}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise HarnessError(f"{root}: a thousand nightlies on {day} already")


def _link_latest(nightly_dir: Path) -> None:
    latest = nightly_dir.parent / "latest"
    with contextlib.suppress(OSError):
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(nightly_dir.name)


def _run_dirs(scenario_dir: Path) -> set[str]:
    if not scenario_dir.is_dir():
        return set()
    return {p.name for p in scenario_dir.iterdir() if p.is_dir() and not p.is_symlink()}


def _log_tail(path: Path, lines: int = 3) -> str:
    """The last few lines of a scenario's log worth quoting (no progress bars, no blank lines)."""
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - 8192))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    kept = [s.strip() for raw in text.splitlines() if (s := _ANSI.sub("", raw)).strip() and "━" not in s]
    return " | ".join(kept[-lines:])


def _first_line(text: str, limit: int = 160) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass
class _Ended:
    code: int | None  # None: it outlived the timeout and was stopped
    seconds: float
    interrupted: bool = False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT (the scenario tears down and writes its partial report), then SIGKILL after a grace."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _play(cmd: list[str], log_path: Path, timeout_s: float) -> _Ended:
    started = time.monotonic()
    with log_path.open("wb") as log:
        log.write(("$ " + " ".join(cmd) + "\n").encode())
        log.flush()
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        try:
            try:
                code: int | None = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _stop(proc)
                code = None
        except KeyboardInterrupt:
            _stop(proc)
            return _Ended(proc.returncode, time.monotonic() - started, interrupted=True)
    return _Ended(code, time.monotonic() - started)


def _outcome(
    sc: NightlyScenario, run_dir: Path | None, ended: _Ended, log_path: Path, opts: NightlyOptions
) -> None:
    """Fills ``sc`` from what the scenario left: its run directory's results.json, else its exit and log."""
    sc.seconds = round(ended.seconds, 1)
    sc.exit_code = ended.code
    results: RunResults | None = None
    if run_dir is not None and (run_dir / "results.json").is_file():
        with contextlib.suppress(OSError, ValueError):
            data = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
            results, _ = salvage(RunResults, data)
    if results is not None:
        sc.title = results.title
        sc.run_id = results.run_id or (run_dir.name if run_dir else None)
        verdict = results.verdict if results.verdict in ("pass", "fail", "error", "not_run") else "error"
        sc.verdict = verdict
        sc.reason = results.verdict_reason or results.error or ""
        sc.figures = figures_of(results)
    else:
        sc.verdict = "error"
        if ended.code is not None and ended.code < 0:
            why = f"killed by signal {-ended.code}"
        elif ended.code is None:
            why = "stopped"
        else:
            why = f"exited {ended.code}"
        tail = _log_tail(log_path)
        sc.reason = f"{why} without a run directory" + (f": {tail}" if tail else "")
    if ended.code is None:
        sc.verdict = "error"
        sc.reason = f"timed out after {opts.timeout_s:g} s and was stopped" + (
            f" ({sc.reason})" if sc.reason else ""
        )
    elif results is not None and ended.code not in VERDICT_OF_EXIT and not ended.interrupted:
        # It died after writing results.json (which says 'error' until a run is judged).
        sc.verdict = "error"
        why = f"killed by signal {-ended.code}" if ended.code < 0 else f"exited {ended.code}"
        sc.reason = f"the scenario process {why}" + (f": {sc.reason}" if sc.reason else "")


def _judge_figures(sc: NightlyScenario, baselines: Baselines, conditions: str) -> None:
    for fig in sc.figures:
        past = baselines.past(str(sc.name), str(fig.name), conditions)
        trend, note, band = judge(fig.value, fig.direction, fig.threshold, [p.value for p in past])
        if fig.direction is None and trend in ("ok", "learning"):
            trend, note = "untracked", f"{note}; no better direction (op {fig.op}), never flagged"
        fig.trend, fig.trend_note, fig.band, fig.history = trend, note, band, past


def _history_rows(record: NightlyRecord) -> list[dict[str, Any]]:
    rows = []
    for sc in record.scenarios:
        if sc.verdict == "pending":
            continue
        for fig in sc.figures:
            rows.append(
                {
                    "nightly": record.nightly,
                    "started_at": record.started_at,
                    "suite": record.suite,
                    "conditions": record.conditions,
                    "scenario": sc.name,
                    "run_id": sc.run_id,
                    "verdict": sc.verdict,
                    "figure": fig.name,
                    "source": fig.source,
                    "metric": fig.metric,
                    "unit": fig.unit,
                    "direction": fig.direction,
                    "op": fig.op,
                    "threshold": fig.threshold,
                    "status": fig.status,
                    "value": fig.value,
                }
            )
    return rows


def _verdict(record: NightlyRecord, interrupted: bool) -> tuple[str, str, int]:
    counts = record.counts()
    regressions = len(record.regressions())
    parts = [f"{counts['pass']} pass", f"{counts['fail']} fail", f"{counts['error']} error"]
    parts.append(f"{counts['not_run']} not run")
    if counts["pending"]:
        parts.append(f"{counts['pending']} not started")
    parts.append(f"{regressions} regression{'' if regressions == 1 else 's'}")
    reason = ", ".join(parts)
    if interrupted:
        return "interrupted", f"interrupted (Ctrl-C): {reason}", 130
    if counts["error"]:
        return "error", reason, 1
    if counts["fail"] or regressions:
        return "fail", reason, 1
    return "pass", reason, 0


def _save(nightly_dir: Path, record: NightlyRecord) -> None:
    write_record(nightly_dir / "nightly.json", record)
    render_nightly(nightly_dir)


def _new_record(opts: NightlyOptions, nightly_dir: Path, started: datetime) -> NightlyRecord:
    options = {"backend": opts.backend, "duration": opts.duration_s, "rate": opts.rate}
    return NightlyRecord(
        nightly=nightly_dir.name,
        suite=opts.suite,
        started_at=_iso(started),
        state="running",
        conditions=opts.conditions(),
        options={k: str(v) for k, v in options.items() if v is not None}
        | {"timeout": f"{opts.timeout_s:g} s"},
        history_file=os.path.relpath(opts.history_path, nightly_dir),
        band_rule=BAND_RULE,
        min_runs=MIN_RUNS,
        host=socket.gethostname(),
        harness_version=harness.__version__,
        scenarios=[NightlyScenario(name=n, verdict="pending") for n in opts.scenarios],
    )


def _load_baselines(opts: NightlyOptions, record: NightlyRecord) -> tuple[Baselines, bool]:
    """The past figures, and whether the history can be appended to (a damaged file is left alone)."""
    try:
        return Baselines.load(opts.history_path), True
    except (OSError, ValueError) as exc:  # run anyway, compared with nothing
        record.history_note = (
            f"{opts.history_path} unreadable ({type(exc).__name__}: {exc}): not compared, not appended"
        )
        opts.log(f"history {record.history_note}")
        return Baselines.empty(), False


@dataclass
class _Sequence:
    """What every scenario of one nightly shares."""

    opts: NightlyOptions
    record: NightlyRecord
    nightly_dir: Path
    baselines: Baselines

    def run_one(self, sc: NightlyScenario, tag: str) -> bool:
        """Runs ``sc`` and fills it in; True when the nightly was interrupted meanwhile."""
        opts, name = self.opts, str(sc.name)
        log_path = self.nightly_dir / "logs" / f"{Path(name).stem}.log"
        sc.log = os.path.relpath(log_path, self.nightly_dir)
        try:
            try:
                spec_name = load_scenario(name).name
            except HarnessError as exc:  # a broken file: recorded, the others still run
                sc.verdict, sc.reason, sc.seconds = "error", f"cannot load: {exc}", 0.0
                log_path.write_text(f"cannot load {name}: {exc}\n")
                return False
            sc.name = spec_name  # a path given on the command line: the history knows it by name
            opts.log(f"{tag} running…")
            scenario_dir = opts.reports_dir / spec_name
            before = _run_dirs(scenario_dir)
            ended = _play((opts.command or scenario_command)(name, opts), log_path, opts.timeout_s)
            new = sorted(_run_dirs(scenario_dir) - before)
            run_dir = scenario_dir / new[-1] if new else None
            if run_dir is not None:
                sc.run_dir = os.path.relpath(run_dir, self.nightly_dir)
            _outcome(sc, run_dir, ended, log_path, opts)
            _judge_figures(sc, self.baselines, self.record.conditions or "")
            return ended.interrupted
        except KeyboardInterrupt:
            if sc.verdict == "pending":
                sc.verdict, sc.reason = "error", "interrupted (Ctrl-C) before its run directory was read"
            return True


def _progress_line(tag: str, sc: NightlyScenario) -> str:
    flagged = len(sc.regressions())
    return (
        f"{tag} {sc.verdict:<9} {sc.seconds or 0:>6.1f} s"
        + (f"  {flagged} regression{'' if flagged == 1 else 's'}" if flagged else "")
        + (f"  ({_first_line(sc.reason)})" if sc.verdict in ("error", "fail") and sc.reason else "")
    )


def run_nightly(opts: NightlyOptions) -> tuple[Path, NightlyRecord]:
    """Runs ``opts.scenarios`` in turn and writes ``reports/nightly/<date>/``: nightly.json,
    index.html, summary.md, junit.xml, logs/. Raises nothing for a scenario's failure; a Ctrl-C ends
    the nightly with its summary written and ``record.exit_code`` 130."""
    started, wall = opts.now(), time.monotonic()
    nightly_dir = new_nightly_dir(opts.reports_dir / "nightly", started.strftime("%Y-%m-%d"))
    (nightly_dir / "logs").mkdir()
    record = _new_record(opts, nightly_dir, started)
    baselines, appendable = _load_baselines(opts, record)
    seq = _Sequence(opts, record, nightly_dir, baselines)
    total = len(record.scenarios)
    opts.log(
        f"nightly {record.nightly}: {total} scenario{'' if total == 1 else 's'} ({opts.suite}), "
        f"{record.conditions}, into {nightly_dir}"
    )
    _save(nightly_dir, record)
    interrupted = False
    for i, sc in enumerate(record.scenarios, 1):
        tag = f"[{i:>{len(str(total))}}/{total}] {sc.name!s:<26}"
        interrupted = seq.run_one(sc, tag)
        opts.log(_progress_line(tag, sc))
        if interrupted:
            break
        _save(nightly_dir, record)
    record.finished_at = _iso(opts.now())
    record.duration_s = round(time.monotonic() - wall, 1)
    record.state = "interrupted" if interrupted else "done"
    record.verdict, record.verdict_reason, record.exit_code = _verdict(record, interrupted)
    if interrupted:
        record.history_note = "not appended: the nightly was interrupted"
    elif appendable:
        n = append_history(opts.history_path, _history_rows(record))
        record.history_note = f"{n} figure values appended"
    _save(nightly_dir, record)
    _link_latest(nightly_dir)
    return nightly_dir, record
