"""The keyspace tables' state derived from ``MEMORY STATS`` (Redis 7.0's formula), with the figures
a real redis-server 7.0.15 reported here."""

from __future__ import annotations

from harness.clients.redis_keyspace import Table, table_state

MAIN, EXPIRES = 40, 24  # bytes per entry: dictEntry + robj for the main table, dictEntry alone


def test_a_settled_table_has_a_power_of_two_buckets() -> None:
    # 1.1M keys, 15 s after the fill: 44,000,000 + 2,097,152 x 8
    assert table_state(60_777_216, 1_100_000, MAIN) == Table(2_097_152, False)
    assert table_state(112, 2, MAIN) == Table(4, False)  # two keys: the initial four buckets


def test_a_rehashing_table_has_the_old_and_the_new_table() -> None:
    # right after the fill crossed 2^20: 2^20 old + 2^21 new buckets
    assert table_state(69_165_824, 1_100_000, MAIN) == Table(3_145_728, True)
    assert table_state(51_565_824, 1_100_000, EXPIRES) == Table(3_145_728, True)


def test_figures_not_of_this_formula_are_unknown_never_settled() -> None:
    # what would fool a check that only looked for "not rehashing": each must say unknown
    assert table_state(60_777_216 + 8 * 7, 1_100_000, MAIN) == Table(None, None)  # 2^21 + 7: 4 bits
    assert table_state(60_777_220, 1_100_000, MAIN) == Table(None, None)  # not whole pointers
    assert table_state(1_000, 1_100_000, MAIN) == Table(None, None)  # less than the entries alone
    assert table_state(0, 0, MAIN) == Table(None, None)  # nothing reported
