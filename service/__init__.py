"""The aiohttp ingress: partner routes on one shared pipeline, the read API, health, metrics
and OpenAPI. Pure cores (signatures, validation) beside the I/O that calls them."""
