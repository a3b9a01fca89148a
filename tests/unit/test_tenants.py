"""Tenants as plain functions: the file parsed and refused, identifiers scoped, the token
buckets, the registry's reload, and Standard Webhooks `v1a` signatures."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gridhook.contract.errors import (
    ConfigError,
    ForeignIdentifier,
    TooManyRequests,
    Unauthenticated,
)
from gridhook.contract.settings import Settings
from gridhook.contract.signatures import public_key, verify_standard
from gridhook.contract.tenants import (
    DEFAULT,
    Registry,
    Tenants,
    bare,
    default_of,
    parse,
    scoped,
    unscoped,
)
from service.ingress.tenancy import POWERBOX_CUSTOMER, READINGS, Limits, TenantAuthenticator
from tests.support.light_payloads import public_text, sign_v1a

GRIDCO = """
[tenants.gridco]
admin_tokens = ["gridco-admin-token"]
rate = 5
burst = 10
[tenants.gridco.powerbox]
issuer = "https://idp.gridco.example"
jwks = "/etc/gridhook/gridco-jwks.json"
gateway_url = "http://127.0.0.1:9001/"
[tenants.gridco.light]
secrets = ["whsec_c2VjcmV0LWZvci1ncmlkY28tMDEyMzQ1Njc4OQ=="]
app_token = "gridco-light-token"
[tenants.gridco.wattshift]
api_keys = ["gridco-ws-key-0123"]
[tenants.gridco.bright]
api_keys = ["gridco-bright-key"]
"""

OFFICIAL_SEED = "VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk="
"""The Standard Webhooks `v1a` test vector's ed25519 seed (its specification's)."""
OFFICIAL_PUBLIC = "whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g="
OFFICIAL_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
OFFICIAL_TIMESTAMP = 1614265330
OFFICIAL_BODY = b'{"test": 2432232314}'
OFFICIAL_SIGNATURE = (
    "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag=="
)


def default() -> Settings:
    return Settings.from_env({"GRIDHOOK_POWERBOX_ISSUER": "https://idp.default.example"})


def tenants(text: str = GRIDCO) -> Tenants:
    return parse(text, default_of(default()))


def test_the_file_declares_tenants_beside_the_default_one() -> None:
    """A tenant's credentials, endpoints and limits are read; the default is the environment's."""
    found = tenants()
    assert found.ids() == [DEFAULT, "gridco"]
    gridco = found.by_id["gridco"]
    assert (gridco.rate, gridco.burst) == (5.0, 10.0)
    assert gridco.powerbox is not None
    assert gridco.powerbox.gateway_url == "http://127.0.0.1:9001"
    assert gridco.powerbox.audience == "gridhook"
    assert found.of_issuer("https://idp.gridco.example") is gridco
    assert found.of_issuer("https://idp.default.example") is found.by_id[DEFAULT]
    assert found.of_admin_token("gridco-admin-token") is gridco
    assert found.of_wattshift_key("gridco-ws-key-0123") is gridco
    assert found.of_bright_key("gridco-bright-key") is gridco
    assert found.of_bright_key("") is None
    assert found.of_admin_token("gridco-admin-token-but-longer") is None


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[tenants.gridco\n", "not TOML"),
        ("[tenants.Grid_Co]\n", "tenants.Grid_Co: a tenant id"),
        ("[tenants.default]\n", "tenants.default: a tenant id"),
        ("[tenants.gridco]\nratee = 5\n", "unknown keys ['ratee']"),
        ("[tenants.gridco]\nrate = -1\n", "tenants.gridco.rate: a positive number"),
        ("[tenants.gridco.light]\napp_token = 'x'\n", "give secrets or public_keys"),
        (
            "[tenants.gridco.light]\npublic_keys = ['whpk_c2hvcnQ=']\n",
            "tenants.gridco.light.public_keys #1",
        ),
        ("[tenants.gridco.powerbox]\nissuer = 'https://i.example'\n", "powerbox.jwks"),
        (
            "[tenants.a]\nadmin_tokens = ['same-token']\n"
            "[tenants.b]\nadmin_tokens = ['same-token']",
            "tenants a and b share a credential",
        ),
        (
            "[tenants.a.powerbox]\nissuer = 'https://idp.default.example'\njwks = 'j'\n"
            "gateway_url = 'http://g'",
            "tenants default and a share a credential or an issuer",
        ),
    ],
)
def test_a_bad_file_is_refused_naming_what_is_wrong_and_no_secret(text: str, named: str) -> None:
    """Each mistake is a ConfigError naming the place; credentials are never quoted."""
    with pytest.raises(ConfigError) as refused:
        tenants(text)
    assert named in str(refused.value)
    assert "same-token" not in str(refused.value)


def test_the_default_tenant_keeps_its_identifiers_and_others_are_prefixed() -> None:
    """Scoping leaves the default tenant's ids as they were (stores and keys of before keep
    working), prefixes another's once, and `unscoped`/`bare` take the prefix off again."""
    assert scoped(DEFAULT, "M-1") == "M-1"
    assert scoped("gridco", "M-1") == "gridco:M-1"
    assert scoped("gridco", "gridco:M-1") == "gridco:M-1"
    assert scoped("gridco", "other:M-1") == "gridco:other:M-1"
    assert unscoped("gridco:M-1", ["default", "gridco"]) == ("gridco", "M-1")
    assert unscoped("M-1", ["default", "gridco"]) == (DEFAULT, "M-1")
    assert unscoped("unknown:M-1", ["default", "gridco"]) == (DEFAULT, "unknown:M-1")
    assert bare("gridco:M-1", "gridco") == "M-1"
    assert bare("M-1", DEFAULT) == "M-1"


def test_the_default_tenant_cannot_name_another_tenant_s_identifier() -> None:
    """An unprefixed tenant naming `gridco:...` is refused; `gridco` naming it is its own."""
    found = tenants()
    assert found.scope(DEFAULT, "unknown:M-1") == "unknown:M-1"
    assert found.scope("gridco", "gridco:M-1") == "gridco:M-1"
    with pytest.raises(ForeignIdentifier):
        found.scope(DEFAULT, "gridco:M-1")


def test_a_documents_identifiers_are_scoped_where_the_source_declares_them() -> None:
    """A customer sync's clientId, site ids and meter ids, and each read's meter, are scoped."""
    sync = {
        "clientId": "C-1",
        "customerSites": [
            {"externalSiteId": "S-1", "meters": [{"meterId": "M-1"}, {"meterId": "M-2"}]}
        ],
    }
    POWERBOX_CUSTOMER(sync, "gridco", tenants())
    assert sync == {
        "clientId": "gridco:C-1",
        "customerSites": [
            {
                "externalSiteId": "gridco:S-1",
                "meters": [{"meterId": "gridco:M-1"}, {"meterId": "gridco:M-2"}],
            }
        ],
    }
    reads = {"reads": [{"meterId": "M-1"}, {"meterId": "M-1"}]}
    READINGS(reads, DEFAULT, tenants())
    assert reads == {"reads": [{"meterId": "M-1"}, {"meterId": "M-1"}]}
    with pytest.raises(ForeignIdentifier):
        READINGS({"reads": [{"meterId": "gridco:M-1"}]}, DEFAULT, tenants())


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def registry_of(path: Path, text: str) -> Registry:
    path.write_text(text)
    return Registry(Settings.from_env({"GRIDHOOK_TENANTS_FILE": str(path)}))


def test_a_tenant_past_its_burst_is_refused_with_retry_after_and_others_pass(
    tmp_path: Path,
) -> None:
    """Ten requests at once pass (the burst), the eleventh is 429 with Retry-After; another
    tenant is not counted against it; the bucket refills at the rate."""
    clock = Clock()
    limits = Limits(registry_of(tmp_path / "tenants.toml", GRIDCO), clock)
    for _ in range(10):
        limits.admit("gridco")
    with pytest.raises(TooManyRequests) as refused:
        limits.admit("gridco")
    assert refused.value.status == 429
    assert refused.value.headers == {"Retry-After": "1"}
    for _ in range(100):
        limits.admit(DEFAULT)  # unlimited unless GRIDHOOK_DEFAULT_TENANT_RATE
    clock.now += 0.2  # one token at 5 per second
    limits.admit("gridco")
    with pytest.raises(TooManyRequests):
        limits.admit("gridco")


def test_a_bad_file_on_reload_is_refused_and_the_tenants_before_it_stay(tmp_path: Path) -> None:
    """reload() answers the error and keeps the tenants; a good file replaces them."""
    path = tmp_path / "tenants.toml"
    registry = registry_of(path, GRIDCO)
    path.write_text("[tenants.gridco]\nrate = 'fast'\n")
    assert registry.reload() == "tenants.gridco.rate: a positive number"
    assert registry.current.ids() == [DEFAULT, "gridco"]
    assert registry.version == 1
    path.write_text(GRIDCO.replace("gridco", "powerco"))
    assert registry.reload() is None
    assert registry.current.ids() == [DEFAULT, "powerco"]
    assert registry.version == 2


def test_a_missing_file_stops_the_start_naming_it(tmp_path: Path) -> None:
    """A tenants file that cannot be read is a ConfigError at start."""
    settings = Settings.from_env({"GRIDHOOK_TENANTS_FILE": str(tmp_path / "absent.toml")})
    with pytest.raises(ConfigError, match=r"absent\.toml: cannot be read"):
        Registry(settings)


def test_the_official_v1a_vector_verifies() -> None:
    """Standard Webhooks' own ed25519 vector passes under its public key."""
    assert public_text(Ed25519PrivateKey.from_private_bytes(base64.b64decode(OFFICIAL_SEED))) == (
        OFFICIAL_PUBLIC
    )
    headers = {
        "webhook-id": OFFICIAL_ID,
        "webhook-timestamp": str(OFFICIAL_TIMESTAMP),
        "webhook-signature": OFFICIAL_SIGNATURE,
    }
    verified = verify_standard(
        headers, OFFICIAL_BODY, [], OFFICIAL_TIMESTAMP, 300, [public_key(OFFICIAL_PUBLIC)]
    )
    assert verified.message_id == OFFICIAL_ID


def test_v1a_under_a_generated_key_passes_and_under_another_key_is_refused() -> None:
    """A key the test makes verifies its own signature; another key's signature is 401, and
    a `v1a` signature with no public key configured is 401 too."""
    mine, theirs = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    body = b'{"type": "account.created"}'
    headers = sign_v1a(mine, body, "msg_1", 1_790_000_000)
    keys = [public_key(public_text(mine))]
    assert verify_standard(headers, body, [], 1_790_000_000, 300, keys).message_id == "msg_1"
    forged = sign_v1a(theirs, body, "msg_1", 1_790_000_000)
    with pytest.raises(Unauthenticated):
        verify_standard(forged, body, [], 1_790_000_000, 300, keys)
    with pytest.raises(Unauthenticated):
        verify_standard(headers, body, [], 1_790_000_000, 300, [])
    with pytest.raises(Unauthenticated):
        verify_standard(headers, body + b" ", [], 1_790_000_000, 300, keys)


async def test_every_admin_token_of_a_tenant_opens_its_installations(tmp_path: Path) -> None:
    """A tenant listing two admin tokens (rotating them) is authenticated with either, and
    with nothing else, on the installations route's authenticator."""
    registry = registry_of(
        tmp_path / "tenants.toml",
        GRIDCO.replace('["gridco-admin-token"]', '["gridco-admin-token", "gridco-next-token"]'),
    )
    admin = TenantAuthenticator("admin", registry, default())
    for token in ("gridco-admin-token", "gridco-next-token"):
        await admin.authenticate({"Authorization": f"Bearer {token}"}, b"", 0.0, "gridco")
    with pytest.raises(Unauthenticated):
        await admin.authenticate({"Authorization": "Bearer nobody"}, b"", 0.0, "gridco")
