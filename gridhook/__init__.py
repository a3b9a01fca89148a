"""gridhook: webhook ingress and Kafka integration service for energy companies.

The package is the shared kernel and the composition root. Its layers, from the bottom up:
`gridhook.contract` (errors, settings, codec, topics, schemas), `gridhook.kafka` (the Kafka
boundary), `gridhook.state` (the state store and its rules). `gridhook.cli` and
`gridhook.supervisor` sit on top of everything and are imported by nothing.
"""
