"""Severity and time words at the start of incident commands."""

from datetime import UTC, datetime

import pytest

from incidentbot.command_words import declare_words, leading_time, sentence
from incidentbot.incidents import IncidentError

NOW = datetime(2025, 6, 6, 22, 10, tzinfo=UTC)
SEVERITIES = ("S1", "S2", "S3", "S4")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("S2 Checkout errors", ("S2", "Checkout errors", False)),
        ("sev1 DB down", ("S1", "DB down", False)),
        ("2 nodes down", ("S3", "2 nodes down", False)),
        ("S1 --confidential Keys leaked", ("S1", "Keys leaked", True)),
        ("--confidential Keys leaked", ("S3", "Keys leaked", True)),
    ],
)
def test_declare_words(text: str, expected: tuple[str, str, bool]) -> None:
    assert declare_words(text, SEVERITIES, "S3") == expected


def test_declare_unknown_severity() -> None:
    with pytest.raises(IncidentError, match="Invalid severity 'S7': use one of S1"):
        declare_words("S7 Checkout errors", SEVERITIES, "S3")


def test_leading_time_keeps_plain_words() -> None:
    assert leading_time("Now we know", NOW) == (NOW, "Now we know")


def test_leading_time_reads_clock() -> None:
    at, text = leading_time("21:40 deploy", NOW)

    assert at == datetime(2025, 6, 6, 21, 40, tzinfo=UTC)
    assert text == "deploy"


def test_sentence_keeps_reference_case() -> None:
    assert (
        sentence("infra/production#1 is resolved") == "infra/production#1 is resolved."
    )
    assert sentence("invalid time 'x'") == "Invalid time 'x'."


@pytest.mark.parametrize(
    "text",
    [
        "S1 —confidential Payroll leak",
        "S1 –confidential Payroll leak",
        "S1 --Confidential Payroll leak",
        "S1 --confidentail Payroll leak",
        "S1 -c Payroll leak",
    ],
)
def test_declare_rejects_unknown_option(text: str) -> None:
    with pytest.raises(IncidentError, match=r"Unknown option .*--confidential"):
        declare_words(text, ["S1", "S2"], "S2")


def test_declare_keeps_dash_numbers() -> None:
    assert declare_words("S2 Error rate -5% then +7%", ["S1", "S2"], "S2") == (
        "S2",
        "Error rate -5% then +7%",
        False,
    )
