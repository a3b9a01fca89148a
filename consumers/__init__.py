"""Consumer processes: the runtime every consumer shares (batches, commits after durable
effects, retries, dead letters), the state applier, `state rebuild`, and the bind forwarder."""
