"""gridhook's one error tree.

Foreign exceptions (aiokafka, aiohttp client, SQL drivers) are translated into these at the
boundary where they occur. Each class says whether the failed operation may succeed if tried
again (`retriable`), which is what the ingress (503 or not) and the consumer runtime (retry or
dead-letter) decide on. Messages never quote a secret, a token, a signature or request content.

    GridhookError
    ├── ConfigError                 bad settings; fix the environment
    ├── ToolingError                java/mvn missing, embedded broker failed to start
    ├── CommandError                a command cannot run in the present state
    │   ├── TopicMissing            the topic to replay from does not exist
    │   └── GroupActive             the consumer group still has members
    ├── RetriableError              retriable = True
    │   ├── BrokerUnavailable       Kafka not reachable
    │   ├── PublishTimeout          Kafka did not acknowledge in time
    │   ├── StoreUnavailable        the database is locked, unreachable or conflicting
    │   ├── GatewayUnavailable      the AMI head-end did not answer, timed out, or said 5xx
    │   └── PartnerUnavailable      Light's or WattShift's API did not answer, timed out, or 5xx
    ├── PermanentError              retriable = False
    │   ├── RecordRejected          Kafka refused the record (too large, bad topic, ...)
    │   ├── ProvisioningFailed      Kafka refused to create a topic
    │   ├── InvalidRecord           a record on a topic does not decode
    │   ├── UnapplicableEvent       a record's content cannot be turned into state
    │   ├── InvalidBindRequest      a bind request record lacks what the forwarder needs
    │   ├── BindExhausted           a bind request failed transiently on every attempt
    │   ├── GatewayRejected         the AMI head-end refused a request (4xx)
    │   ├── PartnerRefused          Light's or WattShift's API refused a call (4xx); `reason`
    │   ├── Unreadable              a sealed personal field its key does not open
    │   └── UnexpectedFailure       a handler raised an exception outside this tree (a bug)
    └── Refusal                     the ingress refuses a request; `status` is its HTTP status
        ├── BodyTooLarge            413
        ├── UnsupportedMediaType    415
        ├── Unauthenticated         401
        ├── TooManyRequests         429 with Retry-After: the tenant is past its rate and burst
        ├── MalformedJson           400
        ├── SchemaViolation         422 (PowerBox: 400); `violations` are JSON pointers
        ├── InvalidQuery            400: a query parameter is missing, malformed or out of range
        ├── Unbindable              400: the meter cannot host a HAN (not AMI)
        ├── Forbidden               403
        ├── UnknownIdentifier       404
        ├── ForeignIdentifier       422: the default tenant named another tenant's identifier
        ├── Conflict                409
        └── Unavailable             503 with Retry-After; retriable
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


class GridhookError(Exception):
    """Base of every error gridhook raises on purpose."""

    retriable: ClassVar[bool] = False


class ConfigError(GridhookError):
    """A setting is missing or malformed; the message names the variable, never its secret."""


class ToolingError(GridhookError):
    """A local tool gridhook needs (Java, Maven, the embedded broker) is missing or failed."""


class CommandError(GridhookError):
    """A command cannot do what it was asked in the present state; the message says why."""


class TopicMissing(CommandError):
    """The topic to replay from does not exist."""


class GroupActive(CommandError):
    """The consumer group still has members; its offsets cannot be moved."""


class RetriableError(GridhookError):
    """The operation failed for a passing reason; trying it again may succeed."""

    retriable = True


class BrokerUnavailable(RetriableError):
    """Kafka could not be reached."""


class PublishTimeout(RetriableError):
    """Kafka did not acknowledge a record within the publish timeout."""


class StoreUnavailable(RetriableError):
    """The database could not complete the operation (locked, unreachable, conflicting)."""


class GatewayUnavailable(RetriableError):
    """The AMI head-end did not answer, timed out, or answered 5xx."""


class PartnerUnavailable(RetriableError):
    """A partner's API (Light, WattShift) did not answer, timed out, or answered 5xx."""


class PermanentError(GridhookError):
    """The operation will fail the same way however often it is tried."""


class RecordRejected(PermanentError):
    """Kafka refused the record itself (too large, unknown topic, not authorised)."""


class ProvisioningFailed(PermanentError):
    """Kafka refused to create a catalogue topic (policy, replication factor, authorisation)."""


class InvalidRecord(PermanentError):
    """A record read from Kafka lacks what the codec needs (headers, key)."""


class UnapplicableEvent(PermanentError):
    """The record's content cannot be turned into state (malformed, or missing what it needs)."""


class InvalidBindRequest(PermanentError):
    """A bind request record without the fields the forwarder needs."""


class BindExhausted(PermanentError):
    """A bind request failed transiently on every attempt the forwarder may make."""


class GatewayRejected(PermanentError):
    """The head-end refused the request itself (4xx)."""


class PartnerRefused(PermanentError):
    """A partner's API refused the call itself (4xx); `reason` is its code, safe to show."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class Unreadable(PermanentError):
    """A sealed text that its key does not open (altered, another person's, or erased)."""


class UnexpectedFailure(PermanentError):
    """A handler failed with an exception outside gridhook's error tree (a bug)."""


# -- requests the ingress refuses ------------------------------------------------------------


class Refusal(GridhookError):
    """A request the ingress answers with an error status. `str(error)` is the problem's
    detail, written by gridhook (never copied from the request); `headers` go on the answer."""

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str = "", *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.headers = headers or {}

    @property
    def detail(self) -> str:
        return str(self)

    def extensions(self) -> dict[str, Any]:
        """Members added to the problem body besides type, title, status and detail."""
        return {}


class BodyTooLarge(Refusal):
    """The body is larger than GRIDHOOK_MAX_BODY_BYTES."""

    status = 413
    title = "Request body too large"


class UnsupportedMediaType(Refusal):
    """The body is not application/json."""

    status = 415
    title = "Unsupported media type"


class Unauthenticated(Refusal):
    """The credentials are missing or do not open this route."""

    status = 401
    title = "Unauthorized"


class TooManyRequests(Refusal):
    """The tenant sent more than its rate and burst allow (answered with Retry-After)."""

    status = 429
    title = "Too many requests"


class MalformedJson(Refusal):
    """The body is not JSON, or nests deeper than gridhook reads."""

    status = 400
    title = "Malformed JSON"


@dataclass(frozen=True)
class Violation:
    """One failed schema constraint: where (`pointer`, RFC 6901) and what (`problem`)."""

    pointer: str
    problem: str


class SchemaViolation(Refusal):
    """The body does not match its schema; `violations` say where."""

    status = 422
    title = "Schema violation"

    def __init__(self, violations: tuple[Violation, ...]) -> None:
        super().__init__("the body does not match the schema of its event type")
        self.violations = violations

    def extensions(self) -> dict[str, Any]:
        return {"errors": [{"pointer": v.pointer, "detail": v.problem} for v in self.violations]}


class InvalidQuery(Refusal):
    """A query parameter is missing, malformed or out of range."""

    status = 400
    title = "Invalid query"


class Unbindable(Refusal):
    """The meter a bind names cannot host a Home Area Network (it is not an AMI meter)."""

    status = 400
    title = "Meter cannot host a HAN"


class Forbidden(Refusal):
    """The account the request is about is not active."""

    status = 403
    title = "Forbidden"


class UnknownIdentifier(Refusal):
    """The request names an identifier gridhook has never accepted."""

    status = 404
    title = "Not found"


class ForeignIdentifier(Refusal):
    """The default tenant named an identifier in another tenant's scope (`<tenant>:<id>`)."""

    status = 422
    title = "Identifier in another tenant's scope"


class Conflict(Refusal):
    """The request conflicts with the current state of what it names."""

    status = 409
    title = "Conflict"


class Unavailable(Refusal):
    """gridhook cannot answer now (Kafka or the store unreachable); retry after Retry-After."""

    status = 503
    title = "Service unavailable"
    retriable = True
