"""Translation of aiokafka's exceptions into gridhook's error tree, at the Kafka boundary."""

from __future__ import annotations

from aiokafka import errors as kafka

from gridhook.contract.errors import (
    BrokerUnavailable,
    GridhookError,
    PublishTimeout,
    RecordRejected,
    RetriableError,
)

_REJECTED: tuple[type[BaseException], ...] = (
    kafka.MessageSizeTooLargeError,
    kafka.RecordTooLargeError,
    kafka.RecordListTooLargeError,
    kafka.InvalidTopicError,
    kafka.TopicAuthorizationFailedError,
    kafka.ClusterAuthorizationFailedError,
    kafka.UnsupportedVersionError,
    kafka.KafkaConfigurationError,
)
_UNREACHABLE: tuple[type[BaseException], ...] = (
    kafka.KafkaConnectionError,
    kafka.NoBrokersAvailable,
    kafka.NodeNotReadyError,
    kafka.ProducerClosed,
)


def translate(exc: BaseException) -> GridhookError:
    """The gridhook error for an aiokafka exception (or any other exception at that boundary)."""
    if isinstance(exc, GridhookError):
        return exc
    if isinstance(exc, _REJECTED):
        return RecordRejected(f"Kafka rejected the record: {type(exc).__name__}")
    if isinstance(exc, kafka.KafkaTimeoutError | TimeoutError):
        return PublishTimeout("Kafka did not acknowledge in time")
    if isinstance(exc, _UNREACHABLE):
        return BrokerUnavailable(f"Kafka is not reachable: {type(exc).__name__}")
    if isinstance(exc, kafka.KafkaError) and getattr(exc, "retriable", False):
        return RetriableError(f"Kafka answered {type(exc).__name__}")
    if isinstance(exc, kafka.UnknownTopicOrPartitionError):
        return RecordRejected("Kafka does not know the topic; run `gridhook topics ensure`")
    if isinstance(exc, kafka.KafkaError):
        return RetriableError(f"Kafka answered {type(exc).__name__}")
    return BrokerUnavailable(f"Kafka client failed: {type(exc).__name__}")
