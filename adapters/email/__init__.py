"""Email to fax: the SMTP intake, MIME to the common request, and threaded status mails."""

from adapters.email.intake import SmtpIntake
from adapters.email.mime import Limits, ParsedMail, parse_mail
from adapters.email.replies import EmailReplier
from adapters.email.server import SmtpServer, start_smtp

__all__ = ["EmailReplier", "Limits", "ParsedMail", "SmtpIntake", "SmtpServer", "parse_mail", "start_smtp"]
