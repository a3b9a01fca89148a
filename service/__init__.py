"""gridhook's HTTP processes, both aiohttp apps: the partner-facing ingress (`service.ingress`)
and the operator console (`service.console`). They share the state layer and the Kafka boundary
and never import each other."""
