"""Light's invoices, as the emulator makes them: one per whole calendar month (UTC, on the
emulators' calendar) of service, for what the household profile imported at the plan's price,
due 21 days after the month; paid once that day has passed. A PDF for each. Pure functions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from fpdf import FPDF

from emulator.household import Household, energy_kwh
from emulator.scaled_time import start_of

DUE_DAYS = 21
_INVOICES = uuid.UUID("0c8e4d2a-51f7-4b39-9e06-7a1d3c5b8f24")


@dataclass(frozen=True)
class Invoice:
    uuid: str
    period_start: date
    period_end: date
    """The last day billed."""
    kwh: float
    amount_due_cents: int
    due_date: date
    status: str

    def to_json(self) -> dict[str, object]:
        return {
            "uuid": self.uuid,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "amount_due_cents": self.amount_due_cents,
            "currency": "USD",
            "due_date": self.due_date.isoformat(),
            "status": self.status,
        }


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def invoices(
    location_uuid: str, service_start: date, cents_per_kwh: float, home: Household, today: date
) -> list[Invoice]:
    """The invoices of every whole month since service started, up to `today`."""
    found = []
    month = _next_month(service_start.replace(day=1)) if service_start.day > 1 else service_start
    while _next_month(month) <= today:
        end = _next_month(month) - timedelta(days=1)
        kwh, _ = energy_kwh(
            home, start_of(month).timestamp(), start_of(_next_month(month)).timestamp()
        )
        due = end + timedelta(days=DUE_DAYS)
        found.append(
            Invoice(
                uuid=str(uuid.uuid5(_INVOICES, f"{location_uuid}:{month.isoformat()}")),
                period_start=month,
                period_end=end,
                kwh=round(kwh, 3),
                amount_due_cents=round(kwh * cents_per_kwh),
                due_date=due,
                status="paid" if today > due else "open",
            )
        )
        month = _next_month(month)
    return found


def pdf(invoice: Invoice, account_number: str) -> bytes:
    """A one-page PDF of the invoice (no personal datum: the account number and figures)."""
    document = FPDF()
    document.add_page()
    document.set_font("Helvetica", size=12)
    for line in (
        "Light - Invoice",
        f"Invoice {invoice.uuid}",
        f"Account {account_number}",
        f"Period {invoice.period_start.isoformat()} to {invoice.period_end.isoformat()}",
        f"Energy {invoice.kwh:.3f} kWh",
        f"Amount due USD {invoice.amount_due_cents / 100:.2f}, by {invoice.due_date.isoformat()}",
    ):
        document.cell(text=line, new_x="LMARGIN", new_y="NEXT")
    return bytes(document.output())
