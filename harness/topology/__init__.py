"""Topologies: spec files, the hosts and proxies nodes sit behind, and backends that run them."""
