"""The bind forwarder, by responsibility: `requests` (what a record carries), `arbiter` (the
bind rules and their SQL), `driver` (one request to its outcome at the head-end), `gateway`
(the head-end's interface, HTTP client and in-memory twin), `results` (the records published)
and `forwarder` (the consumer-side handler tying them together)."""
