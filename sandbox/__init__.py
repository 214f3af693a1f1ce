"""Local emulators of the services the incident bot talks to, for tests."""

from sandbox.gitlab import DEFAULT_PROJECTS, GitLabSandbox
from sandbox.pagerduty import PagerDutySandbox

__all__ = ["DEFAULT_PROJECTS", "GitLabSandbox", "PagerDutySandbox"]
