"""Tools that write records to Kafka outside the request path: `gridhook replay`."""
