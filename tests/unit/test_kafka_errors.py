"""aiokafka's exceptions become gridhook errors that say whether to retry."""

from __future__ import annotations

import pytest
from aiokafka import errors as kafka

from gridhook.contract.errors import (
    BrokerUnavailable,
    PublishTimeout,
    RecordRejected,
    RetriableError,
)
from gridhook.kafka.errors import translate


@pytest.mark.parametrize(
    ("raised", "expected", "retriable"),
    [
        (kafka.KafkaConnectionError(), BrokerUnavailable, True),
        (kafka.KafkaTimeoutError(), PublishTimeout, True),
        (TimeoutError(), PublishTimeout, True),
        (kafka.MessageSizeTooLargeError(), RecordRejected, False),
        (kafka.TopicAuthorizationFailedError(), RecordRejected, False),
        (kafka.NotLeaderForPartitionError(), RetriableError, True),
        (kafka.UnknownTopicOrPartitionError(), RetriableError, True),
    ],
)
def test_translation_keeps_the_retry_decision(
    raised: Exception, expected: type[Exception], retriable: bool
) -> None:
    """Each foreign exception maps to one class of the error tree with the right retriability."""
    translated = translate(raised)
    assert isinstance(translated, expected)
    assert translated.retriable is retriable
