"""gridhook's tests: `unit/` (no broker, no process), `integration/` (the real broker and
real processes) and `support/` (what both, and the benchmarks, share)."""
