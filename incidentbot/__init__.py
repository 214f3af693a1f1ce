"""Incident bot for Slack and GitLab: chat commands, notes and summaries."""
