"""Bounces and automatic replies: reading what came back (report), and the mailbox it comes
back to (mailbox)."""

from distributie.bounces.mailbox import BounceMailbox, FetchedMessage, Folders, MailboxError
from distributie.bounces.message_id import SentMessageId, parse_message_id
from distributie.bounces.model import Outcome, RecipientStatus, Report, ReportKind, ReturnedOriginal
from distributie.bounces.report import parse_report

__all__ = [
    "BounceMailbox",
    "FetchedMessage",
    "Folders",
    "MailboxError",
    "Outcome",
    "RecipientStatus",
    "Report",
    "ReportKind",
    "ReturnedOriginal",
    "SentMessageId",
    "parse_message_id",
    "parse_report",
]
