"""The partner-facing ingress: every partner route on one pipeline (authenticate, validate,
deduplicate, publish, answer after Kafka's acknowledgement), the read API, health, metrics and
OpenAPI. One aiohttp app, built by `service.ingress.app.create_app`."""
