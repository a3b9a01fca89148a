"""The parameters of `make bench`'s runs, shared by the runs and the report."""

SUSTAIN_SECONDS = 20
LATENCY_SECONDS = 15
STATE_RECORDS = 200_000
CONNECTIONS = 128
OVERLOAD_CONNECTIONS = 512
