"""Tests against the real Kafka broker, PostgreSQL and real gridhook processes."""
