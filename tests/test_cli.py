"""The `gridhook` command line explains itself."""

from __future__ import annotations

import argparse

import pytest

from gridhook.cli import build_parser, main


def _all_command_paths(parser: argparse.ArgumentParser, prefix: list[str]) -> list[list[str]]:
    paths = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths.extend(_all_command_paths(sub, [*prefix, name]))
    return paths


@pytest.mark.parametrize("path", _all_command_paths(build_parser(), []), ids=" ".join)
def test_every_command_has_help(path: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """`gridhook ... --help` exits 0 and prints a usage line and a description."""
    with pytest.raises(SystemExit) as exited:
        main([*path, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: gridhook")
    assert len(out.splitlines()) > 3


def test_bad_setting_exits_with_a_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad environment variable gives exit 2 and a one-line error, no traceback."""
    monkeypatch.setenv("GRIDHOOK_HTTP_PORT", "nope")
    assert main(["kafka", "status"]) == 2
    err = capsys.readouterr().err
    assert "GRIDHOOK_HTTP_PORT" in err
    assert "Traceback" not in err
