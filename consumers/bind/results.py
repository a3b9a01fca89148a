"""The records the forwarder publishes to `powerbox.bind.results`: one per step of a request.

Each result's id is `<bindId>:<outcome>` (`<bindId>:r<round>:<outcome>` for a request re-driven
from the DLQ), so publishing a step again (after a crash) repeats the same event, which the
state applier applies once. The body names the bind id, the meter, the device, the outcome and,
for a failure or rejection, a reason from `gridhook.state.binds.REASONS`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from gridhook.contract import tracing
from gridhook.contract.codec import CloudEvent, EncodedRecord, encode, format_time
from gridhook.contract.event_types import powerbox_bind_result
from gridhook.state.binds import BindRequest, BindState, Outcome

RESULT_SOURCE = "gridhook-bind"


def result_record(
    request: BindRequest,
    *,
    outcome: Outcome,
    state: BindState | None,
    reason: str | None,
    round_: int = 1,
) -> EncodedRecord:
    """The result record of `request` reaching `outcome` (`pending`, `bound`, `unbound`,
    `failed` or `rejected`); `state` is the meter's bind state after it (None: unchanged)."""
    now = datetime.now(UTC)
    step = outcome if round_ == 1 else f"r{round_}:{outcome}"
    body = {
        "bindId": request.bind_id,
        "meterId": request.meter_id,
        "hemProfileId": request.hem_profile_id,
        "macAddress": request.mac,
        "action": str(request.action),
        "outcome": outcome,
        "state": state,
        "reason": reason,
        "round": round_,
        "occurredAt": format_time(now),
    }
    return encode(
        CloudEvent(
            id=f"{request.bind_id}:{step}",
            source=RESULT_SOURCE,
            type=powerbox_bind_result(outcome),
            time=now,
            key=request.meter_id.encode(),
            data=orjson.dumps(body),
            extensions=tuple(tracing.record_headers()),
        )
    )
