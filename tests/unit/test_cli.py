"""The `gridhook` command line explains itself."""

from __future__ import annotations

import argparse

import pytest

from gridhook.cli import build_parser, main


def _all_commands(
    parser: argparse.ArgumentParser, prefix: list[str]
) -> list[tuple[list[str], argparse.ArgumentParser]]:
    commands = [(prefix, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                commands.extend(_all_commands(sub, [*prefix, name]))
    return commands


def _words(text: str) -> str:
    return "".join(text.split())  # argparse wraps lines, at spaces and at hyphens


@pytest.mark.parametrize(
    ("path", "parser"),
    _all_commands(build_parser(), []),
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_every_command_has_help(
    path: list[str], parser: argparse.ArgumentParser, capsys: pytest.CaptureFixture[str]
) -> None:
    """`gridhook ... --help` exits 0 and prints a usage line and the command's description."""
    with pytest.raises(SystemExit) as exited:
        main([*path, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: gridhook " + " ".join(path))
    assert parser.description, f"gridhook {' '.join(path)} has no description"
    assert _words(parser.description) in _words(out)


def test_bad_setting_exits_with_a_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad environment variable gives exit 2 and a one-line error, no traceback."""
    monkeypatch.setenv("GRIDHOOK_HTTP_PORT", "nope")
    assert main(["kafka", "status"]) == 2
    err = capsys.readouterr().err
    assert "GRIDHOOK_HTTP_PORT" in err
    assert "Traceback" not in err
