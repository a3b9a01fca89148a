"""The pinned Apache Kafka jars: fetched once with Maven from `compose/kafka/pom.xml` into
`<home>/kafka/lib`, and fetched again only when the pom changes."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from gridhook.contract.errors import ToolingError
from gridhook.contract.settings import PROJECT_ROOT

POM = PROJECT_ROOT / "compose" / "kafka" / "pom.xml"

_STAMP = ".pom-sha256"
_JAVA_MISSING = (
    "Java was not found on PATH. The embedded Kafka broker needs a Java 17+ runtime "
    "(Debian: apt-get install openjdk-17-jdk-headless), or set KAFKA_BOOTSTRAP_SERVERS "
    "to use an existing Kafka cluster."
)
_MAVEN_MISSING = (
    "Maven was not found on PATH. It fetches the pinned Kafka jars once "
    "(Debian: apt-get install maven), or set KAFKA_BOOTSTRAP_SERVERS "
    "to use an existing Kafka cluster."
)


def jars_dir(home: Path) -> Path:
    """Where the broker's jars are cached."""
    return home / "kafka" / "lib"


def fetched(home: Path) -> bool:
    """True when the jars of the pinned version are in the cache."""
    stamp = jars_dir(home) / _STAMP
    wanted = hashlib.sha256(POM.read_bytes()).hexdigest()
    return stamp.exists() and stamp.read_text().strip() == wanted


def ensure_jars(home: Path) -> Path:
    """Fetch the pinned Kafka jars with Maven unless the cache already matches the pom."""
    lib = jars_dir(home)
    if fetched(home):
        return lib
    wanted = hashlib.sha256(POM.read_bytes()).hexdigest()
    stamp = lib / _STAMP
    if shutil.which("java") is None:
        raise ToolingError(_JAVA_MISSING)
    if shutil.which("mvn") is None:
        raise ToolingError(_MAVEN_MISSING)
    if lib.exists():
        shutil.rmtree(lib)
    lib.mkdir(parents=True)
    command = [
        "mvn",
        "-q",
        "-B",
        "-f",
        str(POM),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={lib}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise ToolingError(f"Maven could not fetch the Kafka jars:\n{tail}")
    stamp.write_text(wanted)
    return lib
