"""The contract and kernel, the bottom layer: what every other layer agrees on.

The one error tree, settings read from the environment, logging, derived identifiers, the
CloudEvents record codec, the topic catalogue and event types, the JSON Schemas and the
AsyncAPI document generated from them. No I/O beyond reading the schema files.
"""
