"""Chaos tests: a three-broker cluster, replicas of every process, PostgreSQL, kills under load.
Run by `make chaos` (and CI), not by `make test`."""
