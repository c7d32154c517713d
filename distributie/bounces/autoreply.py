"""Automatic replies (out of office, vacation): recognising them by their headers or subject,
and the first line of what they say."""

from __future__ import annotations

import re
from email.message import Message

from distributie.bounces.mime import clean

# Outlook writes "Automatisch antwoord:" (Dutch) or "Automatic reply:"; older versions and
# other systems "Out of Office:", "Afwezig:", "Autoreply:".
_SUBJECT = re.compile(
    r"^\s*(automatisch(e)? (antwoord|beantwoording)|automatic reply|auto[- ]?reply|"
    r"auto[- ]?response|out of (the )?office|afwezig(heid)?(smelding|sbericht)?|"
    r"niet aanwezig|buiten kantoor|op vakantie|away from (the )?office|on vacation|"
    r"abwesenheitsnotiz|automatische antwort|réponse automatique)\b",
    re.I,
)
_GREETING = re.compile(
    r"^(beste|geachte|hallo|hoi|dag|goede(morgen|middag|navond)|dear|hello|hi|good "
    r"(morning|afternoon|day))\b",
    re.I,
)
_DECORATION = re.compile(r"^[\W_]+$")
MAX_LINES = 40


def auto_reply_signals(message: Message, subject: str | None) -> list[str]:
    """What marks the message as an automatic reply; empty when nothing does."""
    signals = []
    submitted = str(message.get("Auto-Submitted", "")).strip().lower()
    if submitted.startswith("auto-replied"):
        signals.append("Auto-Submitted: auto-replied")
    autoreply = message.get("X-Autoreply")
    if autoreply is not None and str(autoreply).strip().lower() not in ("no", "false", "0"):
        signals.append("X-Autoreply")
    if message.get("X-Autorespond") is not None:
        signals.append("X-Autorespond")
    if message.get("X-Auto-Response-Suppress") is not None:
        signals.append("X-Auto-Response-Suppress")
    if str(message.get("Precedence", "")).strip().lower() == "auto_reply":
        signals.append("Precedence: auto_reply")
    if subject and _SUBJECT.match(subject):
        signals.append("subject")
    return signals


def first_meaningful_line(text: str) -> str | None:
    """The first line that says something: not empty, not quoted, not a greeting such as
    "Beste afzender,", not a rule of dashes."""
    for count, raw in enumerate(text.splitlines()):
        if count >= MAX_LINES:
            break
        line = clean(raw, 1000)
        if not line or line.startswith(">") or _DECORATION.match(line):
            continue
        if _GREETING.match(line) and len(line) <= 60 and line.endswith((",", "!", ":")):
            continue
        return clean(line, 200)
    return None
