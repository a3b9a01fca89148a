"""The Kafka boundary: every aiokafka client gridhook opens, and the translation of Kafka's
failures into the error tree, in one place.

The publisher interface (with its in-memory twin), consumer and admin clients, the snapshot
reader replay and `state rebuild` share, topic provisioning, and the embedded broker.
"""
