"""The `gridhook` command: parses arguments, reads settings, configures logging, dispatches.

Each subcommand is a few lines that call into the package that does the work.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from gridhook import commands
from gridhook.contract import logs, tracing
from gridhook.contract.compatibility import SNAPSHOT
from gridhook.contract.errors import GridhookError
from gridhook.contract.settings import Settings
from gridhook.contract.topics import CONSUMERS, STATE_GROUP
from gridhook.dev import embedded_kafka

Command = Callable[[argparse.Namespace, Settings], int]

_EPILOG = """\
examples:
  gridhook run                     broker, topics and every service, as `make run` does
  gridhook kafka start             start the embedded broker and print its address
  gridhook topics ensure           create missing topics, report drift
  gridhook docs asyncapi -o docs/asyncapi.json

Settings come from GRIDHOOK_* environment variables and KAFKA_BOOTSTRAP_SERVERS (see README).
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `gridhook` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        logs.configure(settings.log_format, settings.log_level)
        if getattr(args, "needs_kafka", False):
            settings = with_broker(settings)
        tracing.configure(_service_name(argv if argv is not None else sys.argv[1:]))
        command: Command = args.command
        return command(args, settings)
    except GridhookError as exc:
        print(f"gridhook: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def with_broker(settings: Settings) -> Settings:
    """`settings` with the broker address resolved, once, for the processes below: the
    configured `KAFKA_BOOTSTRAP_SERVERS`, else the running dev cluster's address."""
    address = embedded_kafka.bootstrap_servers(settings.kafka.bootstrap_servers, settings.home)
    return replace(settings, kafka=replace(settings.kafka, bootstrap_servers=address))


def _service_name(argv: Sequence[str]) -> str:
    """`gridhook-consume-state` for `gridhook consume state ...`: the OpenTelemetry service."""
    words = [word for word in argv if not word.startswith("-")][:2]
    return "-".join(["gridhook", *words])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gridhook",
        description="Receive partner webhooks, publish them to Kafka, and consume them.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subcommands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    run = subcommands.add_parser(
        "run",
        help="start the broker (unless KAFKA_BOOTSTRAP_SERVERS), topics and all services",
        description="What `make run` runs: the embedded Kafka broker unless "
        "KAFKA_BOOTSTRAP_SERVERS is set, `topics ensure`, then every gridhook service as a "
        "child process. Ctrl-C stops them all, and the broker if it started it.",
    )
    run.set_defaults(command=commands.run)

    kafka = subcommands.add_parser(
        "kafka",
        help="the embedded Apache Kafka broker for development",
        description="Manage the single-node KRaft broker kept under $GRIDHOOK_HOME/kafka/dev.",
    )
    kafka_commands = kafka.add_subparsers(title="actions", required=True, metavar="ACTION")
    start = kafka_commands.add_parser(
        "start",
        help="start the broker, wait until it answers, print its bootstrap address",
        description="Fetch the pinned Kafka jars on first use, format storage on first start, "
        "start the broker (or a cluster of --brokers nodes) in the background and print its "
        "bootstrap address once it answers. The first start takes port 9092 (and the ports "
        "after it) unless taken, then free ports; every later start uses the same ports again.",
    )
    start.add_argument("--port", type=int, default=embedded_kafka.DEFAULT_PORT, help="preferred")
    start.add_argument(
        "--brokers", type=int, default=1, help="nodes of the cluster (3 for a real one)"
    )
    start.set_defaults(command=commands.kafka_start)
    fetch = kafka_commands.add_parser(
        "fetch",
        help="fetch the pinned Kafka jars with Maven (done by start when needed)",
        description="Fetch the Kafka jars pinned in compose/kafka/pom.xml with Maven into "
        "$GRIDHOOK_HOME/kafka/lib, unless they are there already, and print where.",
    )
    fetch.set_defaults(command=commands.kafka_fetch)
    stop = kafka_commands.add_parser(
        "stop",
        help="shut the broker down cleanly",
        description="Stop the dev broker with SIGTERM (SIGKILL after 60 s); its data is kept.",
    )
    stop.set_defaults(command=commands.kafka_stop)
    status = kafka_commands.add_parser(
        "status",
        help="say whether the broker runs, and where",
        description="Print the dev broker's pid and bootstrap address; exit 1 when it is not "
        "running.",
    )
    status.set_defaults(command=commands.kafka_status)

    topics = subcommands.add_parser(
        "topics",
        help="provision and list the topic catalogue",
        description="The topics are defined in producers/topics.py (see README, Topics).",
    )
    topic_commands = topics.add_subparsers(title="actions", required=True, metavar="ACTION")
    ensure = topic_commands.add_parser(
        "ensure",
        help="create missing topics, report drift in existing ones (never deletes)",
        description="Create every catalogue topic that is missing, with its partitions and "
        "config, and list how existing topics differ. Exits 0 even with drift: drift is for a "
        "person to act on.",
    )
    ensure.set_defaults(command=commands.topics_ensure, needs_kafka=True)
    listing = topic_commands.add_parser(
        "list",
        help="show each topic, its key and its state",
        description="Print every catalogue topic, its partitions and replication factor on the "
        "cluster (or `missing`), and its partition key.",
    )
    listing.set_defaults(command=commands.topics_list, needs_kafka=True)

    ingress = subcommands.add_parser(
        "ingress",
        help="serve the webhook ingress (HTTP) until SIGTERM",
        description="Serve every webhook route, /healthz, /readyz, /metrics and /openapi.json "
        "on GRIDHOOK_HTTP_HOST:GRIDHOOK_HTTP_PORT, publishing to Kafka. SIGTERM or Ctrl-C stops "
        "accepting, lets requests in flight finish, and logs one summary line per process. "
        "GRIDHOOK_INGRESS_WORKERS runs several processes on the port.",
    )
    ingress.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ingress.set_defaults(command=commands.ingress, needs_kafka=True)

    console = subcommands.add_parser(
        "console",
        help="serve the operator console (browser) until SIGTERM",
        description="Serve the operator console on GRIDHOOK_CONSOLE_HOST:GRIDHOOK_CONSOLE_PORT: "
        "events, following one delivery, dead letters and their re-drive, replay, entities and "
        "health. Operators log in with GRIDHOOK_ADMIN_TOKEN.",
    )
    console.set_defaults(command=commands.console, needs_kafka=True)

    consume = subcommands.add_parser(
        "consume",
        help="run a consumer process",
        description="Consumer processes read Kafka as members of a consumer group, commit "
        "offsets only after their effects are durable, and dead-letter records they cannot "
        "apply to <topic>.dlq. SIGTERM finishes the batch in hand and logs one summary line.",
    )
    consumers = consume.add_subparsers(title="consumers", required=True, metavar="CONSUMER")
    for declared in CONSUMERS:
        one = consumers.add_parser(
            declared.name,
            help=declared.summary.split(":")[0],
            description=f"{declared.summary} Reads {', '.join(declared.topics)}.",
        )
        one.add_argument("--group", default=declared.group, help="consumer group id")
        one.set_defaults(command=commands.consume, consumer=declared, needs_kafka=True)

    emulator = subcommands.add_parser(
        "emulator",
        help="serve an emulated partner system: the AMI head-end, Light's or WattShift's API",
        description="ami (the default): a utility head-end that joins devices to smart meters' "
        "Zigbee HANs, with realistic latency and faults (GRIDHOOK_EMULATOR_*). light: Light's "
        "client-agent API, sending signed webhooks to the ingress, its days time-scaled "
        "(GRIDHOOK_LIGHT_EMULATOR_*). wattshift: WattShift's onboarding API, sending price "
        "signals for new homes (GRIDHOOK_WATTSHIFT_EMULATOR_*). Each keeps its state across "
        "restarts and injects 5xx, hangs and slowness on demand.",
    )
    emulator.add_argument("system", nargs="?", choices=("ami", "light", "wattshift"), default="ami")
    emulator.set_defaults(command=commands.emulator)

    sign = subcommands.add_parser(
        "sign",
        help="sign a payload as a partner would, to try the ingress with curl",
        description="Developer helper: print the signature headers for a payload file, or POST "
        "it signed.",
        epilog="examples:\n"
        "  gridhook sign light --secret whsec_... --file event.json\n"
        "  gridhook sign light --file event.json --post http://127.0.0.1:8080/webhooks/light",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sign_sources = sign.add_subparsers(title="sources", required=True, metavar="SOURCE")
    sign_light = sign_sources.add_parser(
        "light",
        help="sign a Light webhook",
        description="Sign FILE as Light would. The secret defaults to the first of "
        "GRIDHOOK_LIGHT_SECRETS, the scheme to GRIDHOOK_LIGHT_SIGNATURE_SCHEME.",
    )
    sign_light.add_argument("--file", type=Path, required=True, help="the JSON payload")
    sign_light.add_argument("--secret", help="signing secret (whsec_...)")
    sign_light.add_argument(
        "--scheme", choices=["standard-webhooks", "stripe", "github"], help="signature scheme"
    )
    sign_light.add_argument("--id", dest="message_id", help="webhook id (default: random)")
    sign_light.add_argument("--post", metavar="URL", help="send it and print the answer")
    sign_light.set_defaults(command=commands.sign_light)

    replay = subcommands.add_parser(
        "replay",
        help="re-drive records from a topic or its dead-letter topic",
        description="Republish selected records of TOPIC (same key, value and headers, plus "
        "gridhook_replayed_from) to --to-topic or back to TOPIC. It reads a snapshot fixed at "
        "start (records published meanwhile, its own included, are never read) and uses no "
        "consumer group, so no service's offsets move. Offset bounds are inclusive; every "
        "selector given must match.",
        epilog="""examples:
  # what would a replay of the last two hours send?
  gridhook replay light.events --since 2h --dry-run
  # a time window a downstream missed, into its own topic
  gridhook replay light.events --since 2026-11-20T08:00:00Z --until 2026-11-20T09:00:00Z \\
      --to-topic light.events.backfill
  # one account's history, for a new subscriber
  gridhook replay light.events --key 3f1c9a52-8d7e-4b1a-9c2f-6a0d4e8b7c11 --to-topic partner.feed
  # enrollment events only, at most 1000, no faster than 200/s
  gridhook replay light.events --type 'enrollment.*' --limit 1000 --rate 200
  # offsets 100 to 250 of partition 0 and 40 onwards of partition 3
  gridhook replay light.events --from-offset 0:100,3:40 --to-offset 0:250
  # records dead-lettered by a bug now fixed: back to their origin topic
  gridhook replay light.events --dlq""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    replay.add_argument("topic", help="the topic to read (with --dlq: its <topic>.dlq)")
    replay.add_argument("--since", help="RFC 3339 time, or a duration ago: 90s, 30m, 2h, 7d")
    replay.add_argument("--until", help="RFC 3339 time, or a duration ago")
    replay.add_argument("--from-offset", help="first offset: 1200, or per partition 0:1200,3:50")
    replay.add_argument("--to-offset", help="last offset (inclusive), same forms")
    replay.add_argument("--type", dest="type_glob", help="CloudEvents type glob: 'enrollment.*'")
    replay.add_argument("--key", help="only records with this key")
    replay.add_argument("--limit", type=int, help="at most this many records")
    replay.add_argument("--to-topic", help="publish here instead of the records' topic")
    replay.add_argument(
        "--dlq", action="store_true", help="read <topic>.dlq and send records to their origin"
    )
    replay.add_argument(
        "--dry-run", action="store_true", help="print partition, offset, time, type, key only"
    )
    replay.add_argument("--rate", type=float, help="at most this many records per second")
    replay.set_defaults(command=commands.replay, needs_kafka=True)

    state_cmd = subcommands.add_parser(
        "state",
        help="manage the state store",
        description="Manage the state store the state applier writes and the read API serves.",
    )
    state_commands = state_cmd.add_subparsers(title="actions", required=True, metavar="ACTION")
    rebuild = state_commands.add_parser(
        "rebuild",
        help="rebuild the state store from the topics",
        description="Clear the state store (GRIDHOOK_DATABASE_URL), move the state applier's "
        "group back to the beginning of its topics (or to --since), and re-apply every record "
        "up to the end offsets fixed at start. Stop the state applier first.",
    )
    rebuild.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    rebuild.add_argument("--since", help="re-apply only records since: RFC 3339 or 2h, 7d")
    rebuild.add_argument("--group", default=STATE_GROUP, help="the applier's group id")
    rebuild.set_defaults(command=commands.state_rebuild, needs_kafka=True)

    console_user = subcommands.add_parser(
        "console-user",
        help="add a console operator, or change one's role and password",
        description="Write NAME, ROLE and an argon2 hash of a password (read from the terminal, "
        "or from stdin with --password-stdin) into GRIDHOOK_CONSOLE_USERS. A viewer sees; an "
        "operator also re-drives, replays, reveals, resumes and cancels.",
    )
    console_user.add_argument("name")
    console_user.add_argument("--role", choices=("viewer", "operator"), default="viewer")
    console_user.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    console_user.set_defaults(command=commands.console_user)

    people = subcommands.add_parser(
        "people",
        help="erase an account's people; re-wrap the data keys",
        description="Personal data is sealed per person (docs/data-layer.md).",
    )
    people_commands = people.add_subparsers(title="actions", required=True, metavar="ACTION")
    erase = people_commands.add_parser(
        "erase",
        help="erase an account's people (as Bright's accountDeleted does)",
        description="Publish an erasure of ACCOUNT to gridhook.people: the state applier deletes "
        "the keys of the account's people, so every sealed copy of their data is unreadable, "
        "and drops their indexes. The account's other data stays.",
    )
    erase.add_argument("account", help="the Data Layer account id (the Light account uuid)")
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    erase.set_defaults(command=commands.people_erase, needs_kafka=True)
    rewrap = people_commands.add_parser(
        "rewrap-keys",
        help="wrap every data key with the first master key",
        description="After putting a new master key first in GRIDHOOK_MASTER_KEYS, re-wrap "
        "every data key with it; then the old master key can be removed.",
    )
    rewrap.set_defaults(command=commands.people_rewrap)

    dev_token = subcommands.add_parser(
        "dev-token",
        help="mint a PowerBox bearer token signed by the local dev key",
        description="Print a JWT signed by the dev key in $GRIDHOOK_HOME (created on first use), "
        "with GRIDHOOK_POWERBOX_ISSUER and GRIDHOOK_POWERBOX_AUDIENCE. `make run` configures "
        "the matching JWKS, so the token opens the PowerBox routes there.",
        epilog="example:\n"
        "  TOKEN=$(.venv/bin/gridhook dev-token)\n"
        '  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/v1/powerbox/healthz',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dev_token.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    dev_token.add_argument("--subject", default="dev-utility-cis", help="the `sub` claim")
    dev_token.set_defaults(command=commands.dev_token)

    docs = subcommands.add_parser(
        "docs",
        help="generate contract documents",
        description="Generate the contracts other teams read, from the topic catalogue and the "
        "JSON Schemas.",
    )
    doc_commands = docs.add_subparsers(title="documents", required=True, metavar="DOCUMENT")
    asyncapi = doc_commands.add_parser(
        "asyncapi",
        help="the AsyncAPI 3.0 document of every topic and message",
        description="Generate the AsyncAPI 3.0 contract from the topic catalogue and the JSON "
        "Schemas under schemas/.",
    )
    asyncapi.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    asyncapi.add_argument("--check", action="store_true", help="only check --output is current")
    asyncapi.set_defaults(command=commands.docs_asyncapi)
    bodies = doc_commands.add_parser(
        "bodies",
        help="the subscriber kit's TypedDicts, one per event schema",
        description="Generate gridhook/subscriber/bodies.py from the JSON Schemas.",
    )
    bodies.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    bodies.add_argument("--check", action="store_true", help="only check --output is current")
    bodies.set_defaults(command=commands.docs_bodies)

    contract = subcommands.add_parser(
        "contract",
        help="check the schemas against the released contract",
        description="Compare schemas/ and the topic catalogue with the snapshot of the last "
        "release: a change that would break a subscriber fails, naming the file and the rule.",
    )
    contract_actions = contract.add_subparsers(title="actions", required=True, metavar="ACTION")
    for name, helptext, command in (
        ("check", "fail on a change that would break a subscriber", commands.contract_check),
        ("snapshot", "record the current contract as released", commands.contract_snapshot),
    ):
        action = contract_actions.add_parser(name, help=helptext, description=helptext)
        action.add_argument(
            "--snapshot",
            type=Path,
            default=SNAPSHOT,
            help="the released contract (default: docs/contract/released.json)",
        )
        action.set_defaults(command=command)
    return parser


if __name__ == "__main__":
    sys.exit(main())
