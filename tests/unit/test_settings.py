"""Settings are read from the environment once and validated up front."""

from __future__ import annotations

import pytest

from gridhook.contract.errors import ConfigError
from gridhook.contract.settings import Settings


def test_defaults_give_a_working_configuration() -> None:
    """An empty environment yields the documented defaults."""
    settings = Settings.from_env({})
    assert settings.http.port == 8080
    assert settings.http.host == "127.0.0.1"
    assert settings.http.max_body_bytes == 1024 * 1024
    assert settings.http.publish_timeout == 5.0
    assert settings.kafka.bootstrap_servers is None
    assert settings.light.scheme == "standard-webhooks"
    assert settings.light.tolerance == 300


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GRIDHOOK_HTTP_PORT", "eighty"),
        ("GRIDHOOK_HTTP_PORT", "70000"),
        ("GRIDHOOK_PUBLISH_TIMEOUT", "0"),
        ("GRIDHOOK_LIGHT_SIGNATURE_SCHEME", "md5"),
        ("GRIDHOOK_KAFKA_COMPRESSION", "brotli"),
        ("GRIDHOOK_LOG_LEVEL", "chatty"),
    ],
)
def test_bad_value_is_reported_with_the_variable_name(name: str, value: str) -> None:
    """A malformed variable raises ConfigError whose message names it."""
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_secret_errors_never_contain_the_secret() -> None:
    """A rejected secret is identified by position, not echoed."""
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"GRIDHOOK_LIGHT_SECRETS": "whsec_longenough,x9Qz"})
    assert "x9Qz" not in str(raised.value)
    assert "#2" in str(raised.value)


def test_secrets_are_split_and_trimmed() -> None:
    """Comma-separated secrets allow rotation: every one is kept."""
    settings = Settings.from_env({"GRIDHOOK_LIGHT_SECRETS": " whsec_aaaaaaaa , whsec_bbbbbbbb "})
    assert settings.light.secrets == ("whsec_aaaaaaaa", "whsec_bbbbbbbb")
