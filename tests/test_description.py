"""The bot's sections of the incident description."""

from incidentbot.description import (
    end_marker,
    replace_sections,
    section_body,
    start_marker,
)


def test_new_sections_follow_people_text() -> None:
    result = replace_sections("Written by alice.", {"status": "Active", "summary": "x"})

    assert result.startswith("Written by alice.\n\n")
    assert result.index(start_marker("status")) < result.index(start_marker("summary"))
    assert section_body(result, "status") == "Active"


def test_rewrite_keeps_text_outside_markers() -> None:
    first = replace_sections("Intro", {"status": "Active", "timeline": "- a"})
    edited = first.replace("Intro", "Intro edited on GitLab") + "\n\nNotes by bob."

    result = replace_sections(edited, {"status": "Mitigated"})

    assert "Intro edited on GitLab" in result
    assert result.endswith("Notes by bob.")
    assert section_body(result, "status") == "Mitigated"
    assert section_body(result, "timeline") == "- a"


def test_missing_section_lands_in_order() -> None:
    first = replace_sections("", {"status": "A", "timeline": "- t"})

    result = replace_sections(first, {"summary": "S"})

    assert result.index(start_marker("status")) < result.index(start_marker("summary"))
    assert result.index(start_marker("summary")) < result.index(
        start_marker("timeline")
    )


def test_orphaned_start_marker_loses_no_text() -> None:
    broken = f"{start_marker('status')}\nold status\nText bob wrote after it."

    result = replace_sections(broken, {"status": "Active"})

    assert "Text bob wrote after it." in result
    assert result.count(start_marker("status")) == 1
    assert result.count(end_marker("status")) == 1
    assert section_body(result, "status") == "Active"


def test_section_body_of_missing_section() -> None:
    assert section_body("plain text", "summary") is None


def test_empty_body_renders_placeholder() -> None:
    assert section_body(replace_sections("", {"summary": ""}), "summary") == (
        "_Nothing yet._"
    )
