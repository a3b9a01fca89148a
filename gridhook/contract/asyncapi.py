"""The AsyncAPI 3.0 document of gridhook's topics, generated from the catalogue and the schemas.

Subscribers in other teams read this contract; `docs/asyncapi.json` is the committed copy and a
test fails when it no longer matches what this module generates.
"""

from __future__ import annotations

from typing import Any

from gridhook.contract import schemas
from gridhook.contract.topics import CONSUMERS, Topic, all_topics

Document = dict[str, Any]

_CE_HEADERS = {
    "type": "object",
    "description": "CloudEvents Kafka binding, binary mode: attributes travel as headers.",
    "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type"],
    "properties": {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {"type": "string", "description": "Event id; unique per source."},
        "ce_source": {"type": "string", "description": "Partner system: light, powerbox, ..."},
        "ce_type": {"type": "string", "description": "Event type."},
        "ce_time": {"type": "string", "description": "RFC 3339 time gridhook received it."},
        "content-type": {"type": "string", "const": "application/json"},
        "ce_tenant": {
            "type": "string",
            "description": (
                "CloudEvents extension: the tenant (utility or partner app) the record is for,"
                " `default` for the environment's own; the body's and key's identifiers of any"
                " other tenant are scoped `<tenant>:<id>`. Absent on records written before"
                " tenants: read as `default`."
            ),
        },
    },
}
_DLQ_NOTE = (
    " Each keeps the origin record's key, value and headers, and adds the headers dlq_topic,"
    " dlq_partition, dlq_offset, dlq_error_class and dlq_error_message."
)


def _channel_id(topic: Topic) -> str:
    return topic.name.replace(".", "_").replace("-", "_")


def _message_id(path: str) -> str:
    return path.removesuffix(".json").replace("/", "_").replace(".", "_").replace("-", "_")


def build_document() -> Document:
    """The whole AsyncAPI 3.0 document."""
    channels: Document = {}
    operations: Document = {}
    messages: Document = {}
    for topic in all_topics():
        channel_id = _channel_id(topic)
        is_dlq = topic.name.endswith(".dlq")
        refs: Document = {}
        for pattern in topic.messages:
            for path in schemas.matching(pattern):
                message_id = _message_id(path)
                schema = schemas.load(path)
                messages.setdefault(
                    message_id,
                    {
                        "name": schema.get("title", message_id),
                        "title": schema.get("title", message_id),
                        "summary": schema.get("description", ""),
                        "contentType": "application/json",
                        "headers": _CE_HEADERS,
                        "payload": schemas.dereferenced(path),
                        "examples": [
                            {"name": f"{message_id}_{number}", "payload": example}
                            for number, example in enumerate(schema.get("examples", []), 1)
                        ],
                        "bindings": {
                            "kafka": {
                                "key": {"type": "string", "description": topic.key},
                                "bindingVersion": "0.5.0",
                            }
                        },
                    },
                )
                key = f"{message_id}_dlq" if is_dlq else message_id
                refs[key] = {"$ref": f"#/components/messages/{message_id}"}
        channels[channel_id] = {
            "address": topic.name,
            "title": topic.name,
            "description": topic.description + (_DLQ_NOTE if is_dlq else ""),
            "messages": refs,
            "bindings": {
                "kafka": {
                    "topic": topic.name,
                    "partitions": topic.partitions,
                    "topicConfiguration": {
                        "cleanup.policy": [topic.config["cleanup.policy"]],
                        **(
                            {"retention.ms": int(topic.config["retention.ms"])}
                            if "retention.ms" in topic.config
                            else {}
                        ),
                    },
                    "bindingVersion": "0.5.0",
                }
            },
        }
        messages_of = [{"$ref": f"#/channels/{channel_id}/messages/{name}"} for name in refs]
        operations[f"send_{channel_id}"] = {
            "action": "send",
            "summary": f"gridhook publishes to {topic.name} (key: {topic.key}).",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": messages_of,
        }
        for consumer in CONSUMERS:
            if topic.name in consumer.topics:
                operations[f"receive_{channel_id}_{consumer.name}"] = {
                    "action": "receive",
                    "summary": f"{consumer.summary} (`gridhook consume {consumer.name}`)",
                    "channel": {"$ref": f"#/channels/{channel_id}"},
                    "messages": messages_of,
                    "bindings": {
                        "kafka": {"groupId": {"const": consumer.group}, "bindingVersion": "0.5.0"}
                    },
                }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "gridhook topics",
            "version": "1.0.0",
            "description": "Records gridhook publishes to Apache Kafka. Values are the partner's "
            "JSON body exactly as received; CloudEvents attributes travel as headers.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "localhost:9092",
                "protocol": "kafka",
                "description": "Set by KAFKA_BOOTSTRAP_SERVERS; `make run` starts one here.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }
