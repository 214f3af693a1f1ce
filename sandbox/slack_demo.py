"""The small Slack workspace that `python -m sandbox --slack` starts with.

Three people and an #incidents channel that everyone, the bot included, is
in. #incidents is also the announce_channel of settings.example.toml.
"""

from __future__ import annotations

from sandbox.slack import SlackSandbox

# (user ID, name, real name), in the ID form Slack uses.
PEOPLE = (
    ("U0ALICE001", "alice", "Alice Archer"),
    ("U0BOB00002", "bob", "Bob Baker"),
    ("U0CAROL003", "carol", "Carol Chen"),
)
INCIDENTS_CHANNEL_ID = "C0INC00042"
INCIDENTS_CHANNEL = "incidents"


def add_demo_workspace(sandbox: SlackSandbox) -> None:
    """Add the people and the #incidents channel to a new sandbox."""
    for user_id, name, real_name in PEOPLE:
        sandbox.add_user(
            user_id, name, real_name=real_name, email=f"{name}@example.com"
        )
    members = [sandbox.bot_user_id, *(user_id for user_id, _, _ in PEOPLE)]
    sandbox.add_channel(INCIDENTS_CHANNEL_ID, INCIDENTS_CHANNEL, members=members)
