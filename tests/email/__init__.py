"""Tests of the email adapter: SMTP intake, sender authentication, reply mails."""
