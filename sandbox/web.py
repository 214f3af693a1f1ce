"""A plain HTML page per issue, at the issue's web_url, for people trying the bot.

The real GitLab renders Markdown; this page shows the stored text as it is, so
what the bot wrote can be read exactly.
"""

from __future__ import annotations

import html
import re
from typing import Any

ISSUE_PAGE = re.compile(r"/(?P<project>.+?)/-/issues/(?:incident/)?(?P<iid>\d+)")


def issue_page(issue: dict[str, Any]) -> str:
    """Return an HTML page with the issue's fields, description and notes."""
    escape = html.escape
    labels = ", ".join(issue.get("labels", [])) or "none"
    parts = [
        "<!doctype html><meta charset='utf-8'>",
        f"<title>{escape(issue['title'])}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "pre{white-space:pre-wrap;background:#f6f6f6;padding:1em}</style>",
        f"<h1>{escape(issue['title'])}</h1>",
        f"<p>{escape(issue['references']['full'])} · {escape(issue['state'])} · "
        f"type {escape(issue['issue_type'])} · confidential "
        f"{'yes' if issue['confidential'] else 'no'}</p>",
        f"<p>Labels: {escape(labels)}</p>",
        "<h2>Description</h2>",
        f"<pre>{escape(issue.get('description') or '')}</pre>",
        "<h2>Timeline events</h2>",
    ]
    events = issue.get("timeline_events", [])
    if not events:
        parts.append("<p>None.</p>")
    for event in events:
        tags = ", ".join(event.get("tags", []))
        parts.append(
            f"<p>{escape(str(event.get('occurredAt', '')))} {escape(tags)}: "
            f"{escape(str(event.get('note', '')))}</p>"
        )
    parts.append("<h2>Notes</h2>")
    for note in issue.get("notes", []):
        kind = "internal note" if note.get("internal") else "note"
        parts.append(
            f"<h3>{kind} {note['id']}, {escape(str(note.get('created_at', '')))}</h3>"
            f"<pre>{escape(note['body'])}</pre>"
        )
    return "\n".join(parts)
