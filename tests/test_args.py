"""Splitting command arguments typed in chat."""

from __future__ import annotations

import pytest

from incidentbot.args import split_args, split_first, strip_quotes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("   ", []),
        ("lead alice", ["lead", "alice"]),
        ("  lead \t alice  \n", ["lead", "alice"]),
        ('title "db down"', ["title", "db down"]),
        ("title 'db down'", ["title", "db down"]),
        (
            "impact “EU & US, < 5% of checkouts”",
            ["impact", "EU & US, < 5% of checkouts"],
        ),
        ("note ‘partial outage’ now", ["note", "partial outage", "now"]),
        ("note don't panic", ["note", "don't", "panic"]),
        ("note don’t panic", ["note", "don’t", "panic"]),
        ("note 'don't panic'", ["note", "don't panic"]),
        ("note ‘don’t panic’", ["note", "don’t panic"]),
        ('title="db down" now', ["title=db down", "now"]),
        ('empty "" arg', ["empty", "", "arg"]),
        ('"a b""c d"', ["a bc d"]),
        ("path C:\\logs\\db", ["path", "C:\\logs\\db"]),
        ("quote “it's down”", ["quote", "it's down"]),
    ],
)
def test_split_args(text: str, expected: list[str]) -> None:
    assert split_args(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "impact “EU & US",
            "unclosed quote “ at character 8 of 'impact “EU & US': "
            "add the closing ” or remove the “",
        ),
        (
            'title "db down',
            "unclosed quote \" at character 7 of 'title \"db down': "
            'add the closing " or remove the "',
        ),
        (
            "note 'tis late",
            "unclosed quote ' at character 6 of \"note 'tis late\": "
            "add the closing ' or remove the '",
        ),
    ],
)
def test_split_args_unclosed_quote(text: str, message: str) -> None:
    with pytest.raises(ValueError) as error:
        split_args(text)

    assert str(error.value) == message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ("", "")),
        ("   ", ("", "")),
        ("resolve", ("resolve", "")),
        ("  set   impact  “EU  x”  ", ("set", "impact  “EU  x”")),
        ('summary\n  line one\n  "line two"\n', ("summary", 'line one\n  "line two"')),
    ],
)
def test_split_first(text: str, expected: tuple[str, str]) -> None:
    assert split_first(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"db down"', "db down"),
        ("'db down'", "db down"),
        ("“db down”", "db down"),
        ("‘db down’", "db down"),
        ('""', ""),
        ('""x""', '"x"'),
        ('"db down', '"db down'),
        ('“db down"', '“db down"'),
        ("”db down“", "”db down“"),
        (' "db down" ', ' "db down" '),
        ('"', '"'),
        ("db down", "db down"),
    ],
)
def test_strip_quotes(text: str, expected: str) -> None:
    assert strip_quotes(text) == expected
