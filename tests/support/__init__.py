"""What tests and benchmarks share: payload builders, Kafka reading, running processes, a
PostgreSQL launcher, token minting and `eventually()`, the one way to wait."""
