"""gridhook's one error tree.

Foreign exceptions (aiokafka, aiohttp client, SQL drivers) are translated into these at the
boundary where they occur. Each class says whether the failed operation may succeed if tried
again (`retriable`), which is what the ingress (503 or not) and the consumer runtime (retry or
dead-letter) decide on.

    GridhookError
    ├── ConfigError                 bad settings; fix the environment
    ├── ToolingError                java/mvn missing, embedded broker failed to start
    ├── RetriableError              retriable = True
    │   ├── BrokerUnavailable       Kafka not reachable
    │   └── PublishTimeout          Kafka did not acknowledge in time
    └── PermanentError              retriable = False
        ├── RecordRejected          Kafka refused the record (too large, bad topic, ...)
        ├── ProvisioningFailed      Kafka refused to create a topic
        └── InvalidRecord           a record on a topic does not decode
"""

from __future__ import annotations

from typing import ClassVar


class GridhookError(Exception):
    """Base of every error gridhook raises on purpose."""

    retriable: ClassVar[bool] = False


class ConfigError(GridhookError):
    """A setting is missing or malformed; the message names the variable, never its secret."""


class ToolingError(GridhookError):
    """A local tool gridhook needs (Java, Maven, the embedded broker) is missing or failed."""


class RetriableError(GridhookError):
    """The operation failed for a passing reason; trying it again may succeed."""

    retriable = True


class BrokerUnavailable(RetriableError):
    """Kafka could not be reached."""


class PublishTimeout(RetriableError):
    """Kafka did not acknowledge a record within the publish timeout."""


class PermanentError(GridhookError):
    """The operation will fail the same way however often it is tried."""


class RecordRejected(PermanentError):
    """Kafka refused the record itself (too large, unknown topic, not authorised)."""


class ProvisioningFailed(PermanentError):
    """Kafka refused to create a catalogue topic (policy, replication factor, authorisation)."""


class InvalidRecord(PermanentError):
    """A record read from Kafka lacks what the codec needs (headers, key)."""
