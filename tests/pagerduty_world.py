"""A PagerDuty sandbox account for tests: people, schedules, policies, services.

alice is on call on the "Database primary" schedule, which is the first
level of the "Databases" escalation policy, and bob is its second level,
named directly. carol is on call on "Search primary" for the "Search" policy.
The "Unused rota" schedule belongs to no escalation policy.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sandbox.pagerduty import PagerDutySandbox
from sandbox.pagerduty_store import Service

API_KEY = "u+sandboxKEY3a44"
FROM = "alice@example.com"


@dataclass
class World:
    sandbox: PagerDutySandbox
    alice: str
    bob: str
    carol: str
    database_schedule: str
    search_schedule: str
    unused_schedule: str
    databases_policy: str
    search_policy: str
    payments_db: Service
    search_api: Service


def build_world(sandbox: PagerDutySandbox) -> World:
    alice = sandbox.add_user("Alice Archer", "alice@example.com")
    bob = sandbox.add_user("Bob Baker", "bob@example.com")
    carol = sandbox.add_user("Carol Chen", "carol@example.com")
    database_schedule = sandbox.add_schedule("Database primary", alice)
    search_schedule = sandbox.add_schedule("Search primary", carol)
    unused_schedule = sandbox.add_schedule("Unused rota", bob)
    databases = sandbox.add_escalation_policy("Databases", [[database_schedule], [bob]])
    search = sandbox.add_escalation_policy("Search", [[search_schedule]])
    return World(
        sandbox=sandbox,
        alice=alice,
        bob=bob,
        carol=carol,
        database_schedule=database_schedule,
        search_schedule=search_schedule,
        unused_schedule=unused_schedule,
        databases_policy=databases,
        search_policy=search,
        payments_db=sandbox.add_service("payments-db", databases),
        search_api=sandbox.add_service("search-api", search),
    )


@contextmanager
def running_world() -> Iterator[World]:
    """Run an HTTPS sandbox that requires API_KEY, with the account above."""
    sandbox = PagerDutySandbox(tls=True, api_key=API_KEY)
    sandbox.start()
    try:
        yield build_world(sandbox)
    finally:
        sandbox.stop()
