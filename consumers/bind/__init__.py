"""The bind forwarder, by responsibility: `forwarder` (the consumer-side handler: admits each
request through `gridhook.state.meter_binds`, then drives it), `driver` (one request to its
outcome at the head-end), `gateway` (the head-end's interface and HTTP client) and `results`
(the records published). The rules themselves are `gridhook.state.binds`."""
