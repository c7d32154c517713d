"""The baseline: a plain single-process loop with the standard library and Jinja2.

One SMTP connection for the whole list; every message is built with EmailMessage from the
same text and HTML templates as distributie's mailing, with a static copy of the .docx (this
loop does not personalise it). No ledger, no retries, no validation up front.

    python bench/plain_loop.py DATABASE.csv MAILING_DIR STATIC.docx PORT
"""

from __future__ import annotations

import csv
import smtplib
import sys
from email.message import EmailMessage
from pathlib import Path

from jinja2 import Environment, StrictUndefined

SENDER = "secretariaat@veiligheidscollege-mn.example"
SUBJECT = "Regionale Veiligheidsstrategie 2019-2022 voor gemeente {{ gemeente }}"


def main() -> None:
    database, mailing, docx_path, port = sys.argv[1:5]
    text_env = Environment(undefined=StrictUndefined, keep_trailing_newline=True)
    html_env = Environment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=True)
    text = text_env.from_string((Path(mailing) / "bericht.txt.j2").read_text("utf-8"))
    html = html_env.from_string((Path(mailing) / "bericht.html.j2").read_text("utf-8"))
    subject = text_env.from_string(SUBJECT)
    docx = Path(docx_path).read_bytes()
    sent = 0
    with (
        open(database, newline="", encoding="utf-8") as file,
        smtplib.SMTP("127.0.0.1", int(port)) as smtp,
    ):
        for row in csv.DictReader(file):
            context = dict(row, punten=[p for p in row["consultatiepunten"].split("|") if p])
            msg = EmailMessage()
            msg["From"] = f"Regionaal Veiligheidscollege Midden-Nederland <{SENDER}>"
            msg["To"] = row["email"]
            msg["Subject"] = subject.render(context)
            msg.set_content(text.render(context))
            msg.add_alternative(html.render(context), subtype="html")
            msg.add_attachment(
                docx,
                maintype="application",
                subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
                filename=f"Voorbeeld-aanbiedingsbrief gemeente {row['gemeente']}.docx",
            )
            smtp.send_message(msg)
            sent += 1
    print(sent)


if __name__ == "__main__":
    main()
