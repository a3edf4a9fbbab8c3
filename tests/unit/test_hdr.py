"""HdrHistogram latencies: the vectorised fold equals the library's own record_value, percentiles
agree with numpy within the histogram's precision, merging equals recording the union, and the
base64 form round-trips."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from harness.metrics.hdr import (
    PERCENTILES,
    LatencyHistograms,
    decode,
    encode,
    new_histogram,
    record_many,
    summarize,
)


def _latencies_us(seed: int, n: int) -> list[int]:
    rng = random.Random(seed)
    # A long-tailed mix: most ops ~1 ms, some ~50 ms, a few seconds.
    return [
        int(rng.lognormvariate(7, 0.5))
        if rng.random() < 0.95
        else int(rng.lognormvariate(11, 1.0))
        if rng.random() < 0.9
        else int(rng.uniform(1e6, 5e6))
        for _ in range(n)
    ]


def test_vectorised_fold_equals_record_value() -> None:
    vals = [*_latencies_us(1, 5000), 0, 1, 2047, 2048, 4095, 4096, 3_600_000_000]
    ours, theirs = new_histogram(), new_histogram()
    record_many(ours, np.asarray(vals))
    for v in vals:
        assert theirs.record_value(v)
    assert ours.equals(theirs) and ours.get_total_count() == len(vals)
    assert ours.max_value == theirs.max_value == 3_600_000_000


def test_percentiles_match_numpy_within_precision() -> None:
    vals = _latencies_us(2, 20_000)
    h = new_histogram()
    record_many(h, np.asarray(vals))
    got = summarize(h)
    data = np.sort(np.asarray(vals))
    n = len(data)
    assert got["count"] == n
    for name, p in PERCENTILES.items():
        # HdrHistogram reports the top of the bucket holding rank round(p n); numpy's
        # inverted_cdf gives the sample at rank ceil(p n). Allow one rank and ±0.1 %.
        rank = math.ceil(p / 100 * n)
        lo, hi = data[max(0, rank - 2)], data[min(n - 1, rank)]
        value_us = float(got[name]) * 1000  # type: ignore[arg-type]
        assert lo * (1 - 1e-3) - 1 <= value_us <= hi * (1 + 1e-3) + 1, name
        assert value_us == pytest.approx(np.percentile(data, p, method="inverted_cdf"), rel=2e-2)
    assert float(got["max"]) * 1000 == pytest.approx(data[-1], rel=1e-3)  # type: ignore[arg-type]


def test_merge_of_two_is_the_histogram_of_the_union() -> None:
    a_vals, b_vals = _latencies_us(3, 3000), _latencies_us(4, 4000)
    a, b, union = LatencyHistograms(), LatencyHistograms(), LatencyHistograms()
    for i, v in enumerate(a_vals):
        a.record("incr", i * 1000, i * 1000 + v * 1000)
        union.record("incr", i * 1000, i * 1000 + v * 1000)
    for i, v in enumerate(b_vals):
        f = "incr" if i % 2 else "rate_limit"
        b.record(f, i * 1000, i * 1000 + v * 1000)
        union.record(f, i * 1000, i * 1000 + v * 1000)
    a.merge(b)
    union.flush()
    assert set(a.totals) == set(union.totals) == {"incr", "rate_limit"}
    for f in union.totals:
        assert a.totals[f].equals(union.totals[f])
        assert set(a.windows[f]) == set(union.windows[f])
        for w, h in union.windows[f].items():
            assert a.windows[f][w].equals(h)
    assert a.summary() == union.summary()


def test_windows_split_by_completion_time_and_latency_from_sched() -> None:
    lh = LatencyHistograms(window_ns=1_000_000_000)
    lh.record("incr", 0, 5_000_000)  # 5 ms, completes in window 0
    lh.record("incr", 900_000_000, 1_100_000_000)  # 200 ms, completes in window 1
    lh.record("incr", 1_000_000_000, 1_002_000_000)  # 2 ms, window 1
    lh.record("rate_limit", 1_500_000_000, 1_400_000_000)  # clock skew: clamped to 0, not dropped
    lh.flush()
    assert sorted(lh.windows["incr"]) == [0, 1]
    assert lh.windows["incr"][0].get_total_count() == 1
    w1 = lh.window(1, ["incr"])
    assert w1.get_total_count() == 2
    assert summarize(w1)["max"] == pytest.approx(200, rel=1e-3)
    assert lh.window(1).get_total_count() == 3
    assert lh.summary()["rate_limit"]["max"] == 0


def test_encode_decode_round_trip() -> None:
    lh = LatencyHistograms(window_ns=500_000_000, origin_ns=7)
    for i, v in enumerate(_latencies_us(5, 2000)):
        lh.record(("incr", "rate_limit")[i % 2], i * 2_000_000, i * 2_000_000 + v * 1000)
    data = lh.to_dict()
    back = LatencyHistograms.from_dict(data)
    assert back.window_ns == 500_000_000 and back.origin_ns == 7
    for f, h in lh.totals.items():
        assert back.totals[f].equals(h)
        assert decode(encode(h)).equals(h)
        for w, hw in lh.windows[f].items():
            assert back.windows[f][w].equals(hw)
    assert back.summary() == data["summary"]


def test_merge_refuses_other_windows() -> None:
    with pytest.raises(ValueError, match="window_ns"):
        LatencyHistograms(window_ns=1).merge(LatencyHistograms(window_ns=2))


def test_record_many_equals_recording_each_sample() -> None:
    rng = random.Random(4)
    samples = [(f, rng.randrange(3_000_000_000), rng.randrange(2_000_000)) for f in ["a", "b", "a"] * 300]
    one, many = LatencyHistograms(), LatencyHistograms()
    for f, s, lat in samples:
        one.record(f, s, s + lat)
    for k in range(0, len(samples), 100):  # batches mixing op types, some recorded one by one
        chunk = samples[k : k + 100]
        for f in ("a", "b"):
            mine = [(s, s + lat) for g, s, lat in chunk if g == f]
            many.record_many(f, [s for s, _ in mine], [d for _, d in mine])
        if k % 300 == 0:
            many.record("b", 0, 1_000)
            one.record("b", 0, 1_000)
    assert one.to_dict() == many.to_dict()
    with pytest.raises(ValueError, match="2 scheduled times, 1 completions"):
        many.record_many("a", [1, 2], [3])
