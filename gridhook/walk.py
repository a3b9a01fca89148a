"""The walk `make run` prints, and the README shows: one installation taken from its creation to
a bound device and an accepted plan, then a Light webhook signed by hand, each step with the
answer it gets (the first time, and when the walk is taken again on the same state).

It is written once, here: `gridhook run` prints it with the stack's own addresses, the README
carries it with the defaults (a test keeps the two equal), and an integration test runs the
printed lines as printed and checks every answer.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

from gridhook.contract.settings import PROJECT_ROOT

INSTALLATION = "inst-demo-1"
LIGHT_ACCOUNT = "3f1c9a52-8d7e-4b1a-9c2f-6a0d4e8b7c11"
WEBHOOK_ACCOUNT = "7b2e4d19-5c3a-4f8e-a1d6-0c9b8e7f6a54"
METER = "123456789"
ESI_ID = "55512345671234567"
CUSTOMER_EMAIL = "maria.gonzales@example.com"
WIDTH = 90
"""Where the walk's comments wrap."""
STATUS = " -w ' %{http_code}\\n'"
"""What every curl line adds: its answer's status after the body."""


@dataclass(frozen=True)
class Step:
    """One step: what it does, the shell lines to paste, and the answer shown (the body, then
    the status), the first time and when the walk is taken again (None: the same)."""

    title: str
    command: str
    answer: str
    again: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Addresses:
    """Where the walk's commands go, and where the dev credentials are."""

    ingress: str
    light: str
    console: str
    dev_env: Path


def steps(at: Addresses) -> list[Step]:
    """The walk's steps, in order."""
    admin = '-H "Authorization: Bearer $ADMIN"'
    json = "-H 'Content-Type: application/json'"
    powerbox = f'-H "Authorization: Bearer $TOKEN" {json}'
    return [
        Step(
            "The customer signs up with Light (here, Light's emulator)",
            f'curl -s{STATUS} -H "Authorization: Bearer $LIGHT_APP_TOKEN" {json} \\\n'
            f"    --data-binary @examples/light/account.json {at.light}/v1/app/accounts",
            f'{{"uuid":"{LIGHT_ACCOUNT}",…,"status":"enrollment_pending_client_agent",…}} 201',
            '{"error":{"code":"account_exists"}} 409',
        ),
        Step(
            "The installer creates the installation: gridhook will accept the customer's plan "
            "once the device is online",
            f"curl -s{STATUS} {admin} {json} \\\n"
            f"    --data-binary @examples/installations/installation.json "
            f"{at.ingress}/v1/installations",
            f'{{"installationId":"{INSTALLATION}","status":"accepted",…}} 202',
            f'{{"installationId":"{INSTALLATION}","status":"duplicate",…}} 202',
        ),
        Step(
            "The utility's CIS syncs the customer, then binds the device to the meter",
            f"curl -s{STATUS} {powerbox} \\\n"
            f"    --data-binary @examples/powerbox/customer.json {at.ingress}/v1/powerbox/customer",
            f'{{"clientId":"{METER}","hemProfileId":"559aabde-e1ce-5a45-b7c3-1e0502b4c4e6"}} 200',
        ),
        Step(
            "The bind: the head-end joins the device to the meter's HAN (seconds here)",
            f"curl -s{STATUS} {powerbox} \\\n"
            f"    --data-binary @examples/powerbox/bind.json {at.ingress}/v1/powerbox/bind",
            '{"status":"accepted","bindId":…} 200',
            " 409",
            note="a second walk gets 409 with no body (PowerBox's errors have none): the meter "
            "holds this device already",
        ),
        Step(
            "The meter, a moment later",
            f"curl -s{STATUS} {admin} {at.ingress}/v1/powerbox/meters/{METER}",
            f'{{"meterId":"{METER}",…,"bindState":"bound","deviceMac":"00:1B:C5:00:00:AA:BB:CC",…}}'
            " 200",
            note="`bind_pending` for a second or two first",
        ),
        Step(
            "The installation: its status and every step it took",
            f"curl -s{STATUS} {admin} {at.ingress}/v1/installations/{INSTALLATION}",
            f'{{"installationId":"{INSTALLATION}","status":…,"timeline":[…]}} 200',
            note="status goes `waiting` (on the meter), `plan_accepted` once the device is "
            "bound, `service_active` on the start date (70 s here: a Light day lasts 10 s), "
            "then `wattshift_onboarded`",
        ),
        Step(
            "What the home used and what it cost, hour by hour: the device reads the meter "
            "every 15 minutes of the emulators' day (a tenth of a second here)",
            f"curl -s{STATUS} {admin} '{at.ingress}/v1/meters/{METER}/cost?resolution=1h'",
            f'{{"meterId":"{METER}","currency":"USD",…,"intervals":[…],"total":…,…}} 200',
            note="the plan's price from its service start (before it, `cost` is null); "
            "`/measurements` has import, export, quality and source; see docs/measurements.md",
        ),
        Step(
            "Bright's app finds the customer's account by the email they logged in with (the "
            "Data Layer; gridhook keeps the customer's data sealed with a key of their own)",
            f'curl -s{STATUS} -H "x-api-key: $BRIGHT_KEY" {json} \\\n'
            f'    -d \'{{"email":"{CUSTOMER_EMAIL}"}}\' '
            f"{at.ingress}/data-layer/v1/accounts/search",
            f'{{"accountId":"{LIGHT_ACCOUNT}"}} 200',
            note="then /data-layer/v1/accounts/{accountId}, /roles, /locations, ...: "
            "docs/data-layer.md",
        ),
        Step(
            "A Light webhook, signed as Light signs them, for another account",
            '.venv/bin/gridhook sign light --secret "$LIGHT_SECRET" \\\n'
            "    --file examples/light/enrollment.plan_accepted.json "
            f"--post {at.ingress}/webhooks/light",
            '{"status":"accepted","id":"msg_…"} 200',
        ),
        Step(
            "That account, as the state applier keeps it",
            f"curl -s{STATUS} {admin} {at.ingress}/v1/accounts/{WEBHOOK_ACCOUNT}",
            f'{{"accountUuid":"{WEBHOOK_ACCOUNT}","status":"plan_accepted",…}} 200',
        ),
    ]


def text(at: Addresses) -> str:
    """The walk as printed: the lines that define its variables, then each step."""
    env = at.dev_env
    shown = env.relative_to(PROJECT_ROOT) if env.is_relative_to(PROJECT_ROOT) else env
    lines = [
        f". {shown}   # ADMIN, LIGHT_APP_TOKEN, BRIGHT_KEY, CONSOLE_PASSWORD, LIGHT_SECRET",
        "TOKEN=$(.venv/bin/gridhook dev-token)   # a PowerBox bearer token for an hour",
    ]
    for number, step in enumerate(steps(at), start=1):
        title = textwrap.wrap(f"{number}. {step.title}", WIDTH, subsequent_indent="   ")
        lines += ["", *(f"# {line}" for line in title), *step.command.splitlines()]
        lines.append(f"#  → {step.answer}")
        if step.again is not None:
            lines.append(f"#    again: {step.again}")
        if step.note is not None:
            lines += [f"#    {line}" for line in textwrap.wrap(f"({step.note})", WIDTH - 3)]
    return "\n".join(lines)
