"""Sentences the bot replies with when something fails."""

from __future__ import annotations

from incidentbot.command_words import sentence
from incidentbot.gitlab_api import GitLabError


def gitlab_failure(error: GitLabError) -> str:
    """Return the chat sentence for a failed GitLab request, by kind of failure."""
    if error.status is None:
        return (
            f"{error} GitLab may still carry it out, so look at the issue before "
            "running the command again. The bot recorded nothing."
        )
    if error.status == 429 or error.status >= 500:
        return (
            f"{error} The bot recorded nothing. Run the command again once GitLab "
            "answers: GitLab may already show part of the change, and running "
            "the command again completes it."
        )
    return (
        f"{error} The bot recorded nothing. Check the values in the command, "
        "since running it again unchanged will fail the same way."
    )


def reaction_failed(person: str, error: Exception) -> str:
    """Return the chat sentence for a reaction that was not copied to GitLab."""
    text = f"{person}: your reaction was not copied to GitLab. {sentence(str(error))}"
    if isinstance(error, GitLabError):
        text += " Remove the reaction and add it again to retry."
    return text
