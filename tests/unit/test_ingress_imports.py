"""What the ingress imports: the heavy libraries only a part of it uses wait for that part."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gridhook.contract.settings import PROJECT_ROOT

DEFERRED = (
    "cryptography",  # personal data sealing, v1a keys, PowerBox tokens (9 MB with PyJWT)
    "jwt",
    "opentelemetry.sdk",  # only a process recording spans
    "sqlalchemy.dialects.postgresql",  # only with a PostgreSQL store (2 MB)
)


@pytest.mark.parametrize("module", DEFERRED)
def test_importing_the_ingress_leaves_a_deferred_library_unloaded(module: str) -> None:
    """Importing the ingress and its command line loads none of the deferred libraries."""
    probe = (
        "import sys, gridhook.cli, service.ingress.server\n"
        f"print(sorted(m for m in sys.modules if (m + '.').startswith({module!r} + '.')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
