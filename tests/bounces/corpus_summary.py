"""The fields of a Report that the corpus's expected.toml states, in the form TOML can hold."""

from __future__ import annotations

from typing import Any

from distributie.bounces import Report


def summary(report: Report) -> dict[str, Any]:
    """Every field the corpus checks; absent (None or empty) ones are left out, so a field the
    TOML does not name must be absent from the report too."""
    original = report.original
    values: dict[str, Any] = {
        "kind": report.kind.value,
        "outcome": report.outcome.value if report.outcome else None,
        "report_id": "sha256" if report.report_id.startswith("sha256:") else report.report_id,
        "reason": report.reason,
        "status": report.status,
        "diagnostic": report.diagnostic,
        "addresses": list(report.addresses),
        "message_ids": list(report.message_ids),
        "sent": [f"{s.run} {s.recipient_key} {s.resend}" for s in report.sent_message_ids],
        "run": original.run if original else None,
        "recipient": original.recipient if original else None,
        "first_line": report.first_line,
    }
    return {key: value for key, value in values.items() if value not in (None, [])}
