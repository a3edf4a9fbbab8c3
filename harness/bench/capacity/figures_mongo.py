"""What a MongoDB-plane or whole-platform capacity run reports from its measured steps: the
per-event figures at the knee (each with where it came from, or ``not measured``), the load's own
ceiling, the knee against the flat-out ceiling and the sizing. Arithmetic on the run's saved
figures only; nothing here measures. Every table carries the server's label (its own
``buildInfo`` answer): FerretDB's figures say ``FerretDB ... on SQLite, not MongoDB``."""

from __future__ import annotations

from typing import Any

from harness.bench.capacity.figures import knee_step, load_ceiling
from harness.metrics.sizing_mongo import MongoMeasured, size_mongo

NOT_MEASURED = "not measured"
#: a step achieving more than the flat-out median by this share shows it was not a ceiling
CEILING_SLACK = 0.02

#: MongoDB-plane step figures: key -> (figure, unit, source)
MONGO_FIGURES: dict[str, tuple[str, str, str]] = {
    "insert_commands": ("insert commands", "per event", "serverStatus metrics.commands.insert.total"),
    "docs_inserted": ("documents inserted", "per event", "serverStatus opcounters.insert"),
    "net_in_bytes": ("bytes in", "bytes/event", "serverStatus network.bytesIn"),
    "net_out_bytes": ("bytes out", "bytes/event", "serverStatus network.bytesOut"),
    "server_cpu_us": (
        "server CPU",
        "us/event",
        "/proc/<pid>/stat utime + stime of the server process (the kernel's count)",
    ),
    "write_bytes": (
        "bytes written to storage",
        "bytes/event",
        "/proc/<pid>/io write_bytes (the kernel's count)",
    ),
    "write_syscalls": ("write system calls", "per event", "/proc/<pid>/io syscw (the kernel's count)"),
}
REDIS_FIGURES: dict[str, tuple[str, str, str]] = {
    "ops": ("commands", "per event", "INFO commandstats (data commands, the script's calls included)"),
    "net_in_bytes": ("bytes in", "bytes/event", "INFO stats total_net_input_bytes"),
    "net_out_bytes": ("bytes out", "bytes/event", "INFO stats total_net_output_bytes"),
    "server_cpu_us": ("server CPU", "us/event", "INFO cpu used_cpu_user + used_cpu_sys"),
    "memory_bytes": ("memory grown", "bytes/event", "INFO memory used_memory"),
    "new_keys": ("new keys", "per event", "DBSIZE"),
}
WHY_NOT = {
    "docs_inserted": "the server gives no serverStatus opcounters",
    "net_in_bytes": "the server does not count its network bytes (no serverStatus network section)",
    "net_out_bytes": "the server does not count its network bytes (no serverStatus network section)",
    "insert_commands": "the server gives no metrics.commands.insert",
    "write_bytes": "/proc/<pid>/io not readable here",
    "write_syscalls": "/proc/<pid>/io not readable here",
}


def _row(server: str, key: str, value: Any, spec: tuple[str, str, str]) -> dict[str, Any]:
    figure, unit, source = spec
    return {
        "server": server,
        "figure": figure,
        "value": value,
        "unit": unit,
        "source": source if value is not None else f"{NOT_MEASURED}: {WHY_NOT.get(key, 'not given')}",
    }


def mongo_label(res: dict[str, Any]) -> str:
    return str((res.get("identity") or {}).get("label") or res.get("server") or "unknown server")


def stored_per_doc(res: dict[str, Any]) -> dict[str, float | None]:
    """Storage per document of the ``events`` collection after the search."""
    st = res.get("storage") or {}
    coll = st.get("collection") or {}
    n = coll.get("count") or 0

    def per(v: Any) -> float | None:
        return round(v / n, 1) if n and isinstance(v, int | float) else None

    data, index = coll.get("data_bytes"), coll.get("index_bytes")
    return {
        "data_bytes": per(data),
        "index_bytes": per(index),
        "data_and_index_bytes": per(data + index) if data is not None and index is not None else None,
        "storage_bytes": per(coll.get("storage_bytes")),
        "data_dir_bytes": per(st.get("data_dir_bytes")),
        "sqlite_bytes": per(st.get("sqlite_bytes")),
    }


def per_event(res: dict[str, Any]) -> dict[str, Any]:
    """The knee step's figures per event, each with its source, and storage per document."""
    at = knee_step(res)
    label = mongo_label(res)
    rows: list[dict[str, Any]] = []
    if at is not None:
        pe = at["per_event"]
        mongo_pe = pe.get("mongo", pe)
        if "redis" in pe:
            rows += [_row("redis", k, pe["redis"].get(k), spec) for k, spec in REDIS_FIGURES.items()]
        rows += [_row(label, k, mongo_pe.get(k), spec) for k, spec in MONGO_FIGURES.items()]
    st = stored_per_doc(res)
    ferret = (res.get("identity") or {}).get("server") == "ferretdb"
    storage_rows = [
        ("data_bytes", "data", "collStats size / count"),
        ("index_bytes", "indexes", "collStats totalIndexSize / count"),
        ("data_and_index_bytes", "data + indexes", "collStats (size + totalIndexSize) / count"),
        ("storage_bytes", "storage", "collStats storageSize / count"),
        ("data_dir_bytes", "files in the data directory", "sizes of the server's data files / count"),
        ("sqlite_bytes", "SQLite files", "the database's .sqlite, -wal and -shm files on disk / count"),
    ]
    for key, figure, source in storage_rows:
        if key == "sqlite_bytes" and not ferret:
            continue
        value = st[key]
        rows.append(
            {
                "server": label,
                "figure": f"stored: {figure}",
                "value": value,
                "unit": "bytes/event",
                "source": source if value is not None else f"{NOT_MEASURED}: the server did not give it",
            }
        )
    rows.append(
        {
            "server": label,
            "figure": "memory",
            "value": None,
            "unit": "bytes/event",
            "source": f"{NOT_MEASURED}: "
            + (
                "FerretDB gives no memory statistics"
                if ferret
                else "a mongod's cache is sized by its settings, not grown per event"
            ),
        }
    )
    return {
        "at": "the knee step"
        if at
        else "no knee: per-step figures not computed (storage is over every step)",
        "label": label,
        "rows": rows,
        "stored": st,
    }


def comparison(res: dict[str, Any]) -> dict[str, Any]:
    """The knee (achieved at the knee step) against the flat-out ceiling's median."""
    ceil = res.get("ceiling") or {}
    at = knee_step(res)
    if at is None or not ceil.get("events_per_s"):
        why = "no knee was found" if at is None else "the ceiling did not run"
        return {"status": "not_run", "reason": why}
    flat = float(ceil["events_per_s"])
    ratio = float(at["achieved"]) / flat
    top = max(float(s["achieved"]) for s in res["steps"])
    # a step that achieved more than the flat-out runs shows they were not the server's ceiling
    beaten = top > flat * (1 + CEILING_SLACK)
    if not ceil.get("server_bound"):
        note = "the ceiling is the load's, not the server's: the server stayed below 85% of its cap"
    elif beaten:
        note = (
            f"not a ceiling: an open-loop step achieved {top:,.0f} events/s, more than the flat-out "
            f"median {flat:,.0f}"
        )
    else:
        note = "the ceiling is the server's: it ran at its CPU cap flat out, and no step achieved more"
    return {
        "status": "ran",
        "knee_events_per_s": res["knee"]["knee_rate"],
        "knee_achieved": at["achieved"],
        "ceiling_events_per_s": ceil["events_per_s"],
        "ratio": round(ratio, 3),
        "ceiling_server_bound": bool(ceil.get("server_bound")),
        "highest_step_achieved": top,
        "ceiling_beaten_by_a_step": beaten,
        "note": note,
    }


def sizing(res: dict[str, Any], fig: dict[str, Any]) -> dict[str, Any]:
    """The MongoDB-plane sizing from the knee and the per-event figures of a ``mongo`` run."""
    if res.get("plane") != "mongo":
        return {
            "status": "not_run",
            "reason": (
                "the platform run gives the knee of the whole and its bottleneck; each plane is sized from "
                "its own run (--plane redis, --plane mongo)"
            ),
        }
    at = knee_step(res)
    stored = fig["stored"]["data_and_index_bytes"]
    if at is None or not stored:
        return {"status": "not_run", "reason": "no knee was found" if at is None else "no storage measured"}
    ident = res["identity"]
    pe = at["per_event"]
    m = MongoMeasured(
        label=str(ident["label"]),
        is_mongodb=ident["server"] == "mongod",
        knee_events_s=float(at["achieved"]),
        cpu_cap_cores=float(res["plan"]["cpu_cap_cores"]),
        server_cpu_us_per_event=float(pe["server_cpu_us"]),
        stored_bytes_per_event=float(stored),
        write_bytes_per_event=pe.get("write_bytes"),
        write_syscalls_per_event=pe.get("write_syscalls"),
        net_in_bytes_per_event=pe.get("net_in_bytes"),
        net_out_bytes_per_event=pe.get("net_out_bytes"),
    )
    return {"status": "ran", **size_mongo(m)}


def figures(res: dict[str, Any], cpus: int) -> dict[str, Any]:
    fig = per_event(res)
    return {
        "per_event": fig,
        "load": load_ceiling(res, cpus),
        "comparison": comparison(res),
        "sizing": sizing(res, fig),
    }
