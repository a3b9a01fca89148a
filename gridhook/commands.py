"""What each `gridhook` subcommand does: a few lines each that call into the package that does
the work. `gridhook.cli` parses the arguments and the settings and dispatches here."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import orjson

from gridhook.contract.errors import ConfigError
from gridhook.contract.settings import Settings
from gridhook.dev import embedded_kafka, kafka_jars


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gridhook.supervisor import run_stack

    return run_stack(settings)


def ingress(args: argparse.Namespace, settings: Settings) -> int:
    from service.ingress.server import serve

    return serve(settings, worker=args.worker)


def console(args: argparse.Namespace, settings: Settings) -> int:
    from service.console.server import serve

    return serve(settings)


def consume(args: argparse.Namespace, settings: Settings) -> int:
    from consumers.process import run

    return run(args.consumer, settings, args.group)


def emulator(args: argparse.Namespace, settings: Settings) -> int:
    if args.system == "light":
        from emulator.light.app import serve as serve_light

        return serve_light(settings.light_emulator, settings.light.scheme)
    if args.system == "wattshift":
        from emulator.wattshift.app import serve as serve_wattshift

        return serve_wattshift(settings.wattshift_emulator)
    from emulator.ami.app import serve

    return serve(settings.emulator)


def replay(args: argparse.Namespace, settings: Settings) -> int:
    from gridhook.contract.running import run_batch
    from gridhook.kafka.replay import Selection, parse_moment, parse_offsets
    from producers.replay import run

    selection = Selection(
        since=parse_moment(args.since) if args.since else None,
        until=parse_moment(args.until) if args.until else None,
        from_offsets=parse_offsets(args.from_offset) if args.from_offset else {},
        to_offsets=parse_offsets(args.to_offset) if args.to_offset else {},
        type_glob=args.type_glob,
        key=args.key.encode() if args.key is not None else None,
        limit=args.limit,
    )
    if args.rate is not None and args.rate <= 0:
        raise ConfigError("--rate must be more than 0")
    line = run_batch(
        run(
            settings,
            args.topic,
            selection,
            dlq=args.dlq,
            to_topic=args.to_topic,
            rate=args.rate,
            dry_run=args.dry_run,
        )
    )
    print(line, file=sys.stderr if args.dry_run else sys.stdout)
    return 0


def state_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    from consumers.rebuild import rebuild
    from gridhook.contract.running import run_batch
    from gridhook.kafka.replay import parse_moment

    since = parse_moment(args.since) if args.since else None
    if not args.yes:
        if not sys.stdin.isatty():
            raise ConfigError("state rebuild deletes the store: confirm with --yes")
        answer = input(
            "This deletes every entity in the state store and re-applies the topics. "
            "Type 'rebuild' to go on: "
        )
        if answer.strip() != "rebuild":
            print("not rebuilt")
            return 1
    summary = run_batch(rebuild(settings, args.group, since))
    print(
        f"state rebuilt: {summary.records} records read, {summary.applied} applied, "
        f"{summary.duplicates} duplicates, {summary.dead_lettered} dead-lettered"
    )
    return 0


def console_user(args: argparse.Namespace, settings: Settings) -> int:
    import getpass

    from service.console.operators import put

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            raise ConfigError("the two passwords differ")
    if len(password) < 10:
        raise ConfigError("a console password has at least 10 characters")
    put(settings.console.users, args.name, args.role, password)
    print(f"{args.name} is a console {args.role} ({settings.console.users})")
    return 0


def people_erase(args: argparse.Namespace, settings: Settings) -> int:
    from producers.erasure import erase

    if not args.yes:
        if not sys.stdin.isatty():
            raise ConfigError("erasing deletes the people's keys for good: confirm with --yes")
        answer = input("Their personal data will be unreadable for good. Type 'erase' to go on: ")
        if answer.strip() != "erase":
            print("not erased")
            return 1
    event_id = asyncio.run(erase(settings, args.account))
    print(f"erasure published ({event_id}); the state applier deletes the keys")
    return 0


def people_rewrap(args: argparse.Namespace, settings: Settings) -> int:
    from gridhook.state.keystore import KeyStore

    people = settings.people
    master = people.master_keys
    if master is None:
        raise ConfigError("GRIDHOOK_MASTER_KEYS is not set: there is nothing to re-wrap with")

    async def rewrap() -> int:
        keys = KeyStore(people.keys_database_url, master, writer=True)
        try:
            await keys.migrate()
            return await keys.rewrap()
        finally:
            await keys.close()

    done = asyncio.run(rewrap())
    print(f"{done} data keys re-wrapped with master key {master.current}")
    return 0


def sign_light(args: argparse.Namespace, settings: Settings) -> int:
    from gridhook.dev.signing import sign_file

    return sign_file(settings, args.file, args.secret, args.scheme, args.message_id, args.post)


def dev_token(args: argparse.Namespace, settings: Settings) -> int:
    from gridhook.dev.identity import ensure_dev_key, mint

    key = ensure_dev_key(settings.home)
    partners = settings.partners
    if partners.powerbox_jwks and Path(partners.powerbox_jwks).resolve() != key.jwks_path:
        print(
            f"note: GRIDHOOK_POWERBOX_JWKS is {partners.powerbox_jwks}, not the dev JWKS "
            f"{key.jwks_path}; the ingress will refuse this token",
            file=sys.stderr,
        )
    print(mint(key, partners.powerbox_issuer, partners.powerbox_audience, args.ttl, args.subject))
    return 0


def kafka_start(args: argparse.Namespace, settings: Settings) -> int:
    running = embedded_kafka.running_dev_cluster(settings.home)
    if running is not None and running.brokers != args.brokers:
        raise ConfigError(
            f"a dev cluster of {running.brokers} broker(s) runs: `gridhook kafka stop` it first"
        )
    print(embedded_kafka.dev_broker(settings.home, args.brokers).start(port=args.port))
    return 0


def kafka_fetch(args: argparse.Namespace, settings: Settings) -> int:
    print(kafka_jars.ensure_jars(settings.home))
    return 0


def kafka_stop(args: argparse.Namespace, settings: Settings) -> int:
    cluster = embedded_kafka.running_dev_cluster(settings.home)
    print("stopped" if cluster is not None and cluster.stop() else "not running")
    return 0


def kafka_status(args: argparse.Namespace, settings: Settings) -> int:
    cluster = embedded_kafka.running_dev_cluster(settings.home)
    state = None if cluster is None else cluster.state()
    if state is None:
        print("not running")
        return 1
    pids = ", ".join(f"node {node}: pid {pid}" for node, pid in sorted(state.pids.items()))
    print(f"running: {pids}; bootstrap {state.bootstrap}")
    return 0


def topics_ensure(args: argparse.Namespace, settings: Settings) -> int:
    from gridhook.kafka.provision import ensure_topics

    bootstrap = settings.kafka.bootstrap
    report = asyncio.run(ensure_topics(bootstrap, settings.kafka.replication_factor))
    durability = report.durability
    print(
        f"cluster  {report.brokers} broker(s): replication factor "
        f"{durability.replication_factor}, min.insync.replicas {durability.min_insync_replicas}"
    )
    for name in report.created:
        print(f"created  {name}")
    for name in report.existing:
        print(f"exists   {name}")
    for drift in report.drift:
        print(f"drift    {drift}")
    return 0


def topics_list(args: argparse.Namespace, settings: Settings) -> int:
    from gridhook.kafka.provision import list_topics

    bootstrap = settings.kafka.bootstrap
    topics, states = asyncio.run(list_topics(bootstrap))
    width = max(len(topic.name) for topic in topics)
    for topic in topics:
        state = states.get(topic.name)
        where = (
            f"{state.partitions} partitions, rf {state.replication_factor}" if state else "missing"
        )
        print(f"{topic.name:{width}}  {where:24}  key: {topic.key}")
    return 0


def docs_asyncapi(args: argparse.Namespace, settings: Settings) -> int:
    from gridhook.contract.asyncapi import build_document

    text = orjson.dumps(build_document(), option=orjson.OPT_INDENT_2) + b"\n"
    return _write_or_check(text, args.output, args.check, "make asyncapi")


def docs_bodies(args: argparse.Namespace, settings: Settings) -> int:
    from gridhook.dev.typed_bodies import generate

    return _write_or_check(generate().encode(), args.output, args.check, "make bodies")


def _write_or_check(text: bytes, output: Path | None, check: bool, remedy: str) -> int:
    """Write `text` to `output` (stdout without one); with `check`, only compare."""
    if check:
        if output is None or not output.exists() or output.read_bytes() != text:
            print(
                f"gridhook: {output} is not what the schemas generate; run `{remedy}`",
                file=sys.stderr,
            )
            return 1
        return 0
    if output:
        output.write_bytes(text)
    else:
        sys.stdout.buffer.write(text)
    return 0


def contract_check(args: argparse.Namespace, settings: Settings) -> int:
    from gridhook.contract.compatibility import breaking_changes, current_contract, load_snapshot

    broken = breaking_changes(load_snapshot(args.snapshot), current_contract())
    for change in broken:
        print(f"{change.file}: {change.rule}: {change.where}", file=sys.stderr)
    if broken:
        print(
            f"gridhook: {len(broken)} change(s) would break subscribers; ship the change as a new"
            " event type version (`...v2`) beside the old one, or refresh the snapshot on a major"
            " release (`gridhook contract snapshot`)",
            file=sys.stderr,
        )
        return 1
    print(f"contract: compatible with {args.snapshot}")
    return 0


def contract_snapshot(args: argparse.Namespace, settings: Settings) -> int:
    from gridhook.contract.compatibility import current_contract, write_snapshot

    write_snapshot(args.snapshot, current_contract())
    print(f"contract snapshot written to {args.snapshot}")
    return 0
