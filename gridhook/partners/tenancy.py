"""The partner clients of every tenant behind one object each: a call goes to the tenant's own
endpoint with the tenant's own credentials, the identifiers it names stripped of the tenant's
scope, and the identifiers it returns scoped again.

The tenant comes from `CURRENT_TENANT` (an installation's, a location's or a request's task
sets it) for Light and WattShift; for the head-end, from the meter a bind names. Each
tenant's client opens its session the first time it is used; `aclose` closes them all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, datetime
from typing import Generic, TypeVar

from gridhook.contract.errors import PartnerRefused
from gridhook.contract.tenants import CURRENT_TENANT, Registry, Tenant, bare, scoped
from gridhook.partners.http_session import PartnerSession
from gridhook.partners.light import (
    LightAccount,
    LightClient,
    LightInvoice,
    LightUsage,
    PricedPlan,
    StartFor,
)
from gridhook.partners.wattshift import Utility, WattShiftClient

C = TypeVar("C", bound=PartnerSession)


class _PerTenant(Generic[C]):
    """A client per tenant, opened on first use."""

    def __init__(self, registry: Registry, make: Callable[[Tenant], C | None]) -> None:
        self._registry = registry
        self._make = make
        self._open: dict[tuple[str, int], C] = {}

    async def client(self, tenant_id: str) -> C:
        key = (tenant_id, self._registry.version)
        found = self._open.get(key)
        if found is None:
            tenant = self._registry.current.get(tenant_id)
            made = None if tenant is None else self._make(tenant)
            if made is None:
                raise PartnerRefused(f"tenant {tenant_id} has no such partner", "no_partner")
            found = self._open[key] = await made.__aenter__()
        return found

    async def aclose(self) -> None:
        for client in self._open.values():
            await client.__aexit__(None, None, None)
        self._open.clear()


def _light_client(timeout: float) -> Callable[[Tenant], LightClient | None]:
    def make(tenant: Tenant) -> LightClient | None:
        light = tenant.light
        return None if light is None else LightClient(light.api_url, light.app_token, timeout)

    return make


class TenantLight(_PerTenant[LightClient]):
    """Light's API (client-agent calls, usage, invoices) for whichever tenant the task works
    for."""

    def __init__(self, registry: Registry, timeout: float) -> None:
        super().__init__(registry, _light_client(timeout))

    async def _tenant(self) -> tuple[str, LightClient]:
        tenant = CURRENT_TENANT.get()
        return tenant, await self.client(tenant)

    def _scope_account(self, tenant: str, account: LightAccount) -> LightAccount:
        location = account.location
        if location is not None and isinstance(location.get("uuid"), str):
            location = location | {"uuid": scoped(tenant, location["uuid"])}
        return dataclasses.replace(account, uuid=scoped(tenant, account.uuid), location=location)

    async def account(self, account_uuid: str) -> LightAccount:
        tenant, client = await self._tenant()
        return self._scope_account(tenant, await client.account(bare(account_uuid, tenant)))

    async def record_client_agent(self, account_uuid: str, accepted_at: str | None) -> None:
        tenant, client = await self._tenant()
        await client.record_client_agent(bare(account_uuid, tenant), accepted_at)

    async def request_plans(
        self, account_uuid: str, esi_id: str
    ) -> tuple[list[PricedPlan], datetime]:
        tenant, client = await self._tenant()
        return await client.request_plans(bare(account_uuid, tenant), esi_id)

    async def accept(
        self, account_uuid: str, plan_uuid: str, esi_id: str, start_for: StartFor
    ) -> LightAccount:
        tenant, client = await self._tenant()
        accepted = await client.accept(bare(account_uuid, tenant), plan_uuid, esi_id, start_for)
        return self._scope_account(tenant, accepted)

    async def usage(
        self, account_uuid: str, location_uuid: str, first: date, last: date
    ) -> LightUsage:
        tenant, client = await self._tenant()
        return await client.usage(
            bare(account_uuid, tenant), bare(location_uuid, tenant), first, last
        )

    async def invoices(self, account_uuid: str) -> list[LightInvoice]:
        tenant, client = await self._tenant()
        return await client.invoices(bare(account_uuid, tenant))

    async def invoice_pdf(self, account_uuid: str, invoice_uuid: str) -> bytes:
        tenant, client = await self._tenant()
        return await client.invoice_pdf(bare(account_uuid, tenant), invoice_uuid)


def _wattshift_client(timeout: float) -> Callable[[Tenant], WattShiftClient | None]:
    def make(tenant: Tenant) -> WattShiftClient | None:
        ws = tenant.wattshift
        return None if ws is None else WattShiftClient(ws.api_url, ws.client_key, timeout)

    return make


class TenantWattShift(_PerTenant[WattShiftClient]):
    """WattShift's onboarding API for whichever tenant the task works for."""

    def __init__(self, registry: Registry, timeout: float) -> None:
        super().__init__(registry, _wattshift_client(timeout))

    async def utilities(self, zipcode: str) -> list[Utility]:
        return await (await self.client(CURRENT_TENANT.get())).utilities(zipcode)

    async def create_home(
        self, idempotency_key: str, name: str, zipcode: str, utility_id: str, rate_plan_id: str
    ) -> str:
        tenant = CURRENT_TENANT.get()
        client = await self.client(tenant)
        home = await client.create_home(
            bare(idempotency_key, tenant), name, zipcode, utility_id, rate_plan_id
        )
        return scoped(tenant, home)

    async def add_solar(self, home_id: str, size_kw: float, non_net_metered: bool) -> None:
        tenant = CURRENT_TENANT.get()
        await (await self.client(tenant)).add_solar(bare(home_id, tenant), size_kw, non_net_metered)
