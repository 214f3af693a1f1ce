"""Unit tests of the incident channel's name, topic and status card text."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import pytest

from incidentbot import slack_text
from incidentbot.channel_text import (
    CARD_UPDATE_MAX,
    CHANNEL_NAME_MAX,
    TOPIC_MAX,
    card_text,
    channel_name,
    fit,
    name_variants,
    topic_text,
)
from incidentbot.model import Incident, StatusUpdate
from incidentbot.store import IncidentStore

DECLARED = datetime(2025, 10, 17, 16, 6, tzinfo=UTC)


def incident(**changes: object) -> Incident:
    record = Incident(
        project="infra/production",
        iid=12,
        global_id=1012,
        web_url="https://gitlab.example.com/infra/production/-/issues/12",
        title="Checkout errors",
        channel="C0000000001",
        severity="S2",
        declared_at=DECLARED,
        declared_by="alice",
        roles={"lead": "alice"},
    )
    for name, value in changes.items():
        setattr(record, name, value)
    return record


def plain(text: str) -> str:
    return text


# Channel names


@pytest.mark.parametrize(
    ("prefix", "iid", "expected"),
    [
        ("inc-", 12, "inc-12"),
        ("Inc_", 7, "inc_7"),
        ("inc.", 7, "inc-7"),
        ("incident ", 3, "incident-3"),
    ],
)
def test_channel_name_allowed_characters(prefix: str, iid: int, expected: str) -> None:
    assert channel_name(prefix, iid) == expected


def test_channel_name_at_most_80() -> None:
    name = channel_name("x" * 79, 123456)

    assert len(name) == CHANNEL_NAME_MAX
    assert name == "x" * 79 + "1"


def test_name_variants_order() -> None:
    assert list(name_variants("inc-12", 4)) == [
        "inc-12",
        "inc-12-2",
        "inc-12-3",
        "inc-12-4",
    ]


def test_name_variants_stay_within_80() -> None:
    base = "i" * CHANNEL_NAME_MAX

    variants = list(name_variants(base, 12))

    assert variants[0] == base
    assert variants[1] == "i" * 78 + "-2"
    assert variants[11] == "i" * 77 + "-12"
    assert all(len(name) <= CHANNEL_NAME_MAX for name in variants)
    assert len(set(variants)) == 12


# Topic


def test_topic_severity_state_title() -> None:
    assert topic_text(incident()) == "S2 | Active | Checkout errors"
    assert topic_text(incident(state="mitigated")) == "S2 | Mitigated | Checkout errors"


def test_topic_confidential_has_no_title() -> None:
    assert topic_text(incident(confidential=True)) == "S2 | Active | Confidential"


def test_fit_keeps_short_text() -> None:
    assert fit("S2 | Active | a & b", TOPIC_MAX, slack_text.escape) == (
        "S2 | Active | a &amp; b"
    )


def test_fit_counts_escaped_length() -> None:
    text = "&" * 60

    value = fit(text, 250, slack_text.escape)

    assert len(value) <= 250
    assert value == "&amp;" * 49 + "…"


def test_fit_defuses_mentions() -> None:
    value = fit("@here " + "x" * 300, TOPIC_MAX, slack_text.escape)

    assert value.startswith("@\u2060here ")
    assert len(value) <= TOPIC_MAX
    assert value.endswith("…")


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        # e + combining acute accent is one visible character.
        ("x" * 8 + "e\u0301z", "x" * 8),
        # A family emoji: three people joined by zero width joiners.
        ("x" * 6 + "\U0001f468\u200d\U0001f469\u200d\U0001f467z", "x" * 6),
        # A flag: two regional indicators.
        ("x" * 8 + "\U0001f1e9\U0001f1eaz", "x" * 8),
        # A thumbs-up with a skin tone.
        ("x" * 8 + "\U0001f44d\U0001f3fdz", "x" * 8),
    ],
)
def test_fit_cuts_between_characters(text: str, kept: str) -> None:
    assert fit(text, 10, plain) == kept + "…"


def test_fit_rejects_zero_limit() -> None:
    with pytest.raises(ValueError, match="limit must be positive, got 0"):
        fit("text", 0, plain)


# Status card


def test_card_lines() -> None:
    record = incident(roles={"imoc": "bob", "lead": "alice"})
    record.updates.append(StatusUpdate(DECLARED, "bob", "Rolled back", 7))

    assert card_text(record).splitlines() == [
        "Incident infra/production#12: Checkout errors",
        "Severity: S2 | State: Active",
        "Roles: lead alice, imoc bob",
        "Last update (2025-10-17 16:06 UTC, bob): Rolled back",
        "Issue: https://gitlab.example.com/infra/production/-/issues/12",
    ]


def test_card_confidential_has_no_title() -> None:
    text = card_text(incident(confidential=True, state="resolved"))

    assert "Checkout errors" not in text
    assert text.startswith("Incident infra/production#12: confidential")
    assert "State: Resolved" in text


def test_card_cuts_long_update() -> None:
    record = incident()
    record.updates.append(StatusUpdate(DECLARED, "bob", "y" * 5000, None))

    line = card_text(record).splitlines()[3]

    assert line.count("y") == CARD_UPDATE_MAX
    assert line.endswith("y… (full text on the issue)")


# Stored records


def test_old_record_loads_with_defaults() -> None:
    record = incident()
    # A record stored before created_channel and card_ts existed lacks both.
    del record.__dict__["created_channel"]
    del record.__dict__["card_ts"]
    store = IncidentStore(
        {"incident/infra/production#12": pickle.loads(pickle.dumps(record))}
    )

    loaded = store.require("infra/production#12")

    assert loaded.created_channel == ""
    assert loaded.card_ts == ""
    assert loaded.title == "Checkout errors"
