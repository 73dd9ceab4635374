"""Slack: the /fax modal, files shared with the bot, "Send as fax", and one status message per job."""

from adapters.slack.app import SlackIntake, slack_replier, start_slack
from adapters.slack.manifest import build_manifest, manifest_yaml
from adapters.slack.status import SlackReplier

__all__ = ["SlackIntake", "SlackReplier", "build_manifest", "manifest_yaml", "slack_replier", "start_slack"]
