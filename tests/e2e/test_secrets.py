"""The SMTP password, the password in the Redis URL, the OAuth2 client secret, the OAuth2 access
tokens and the DKIM private key never show up anywhere.

One scenario runs every command as a real process with both secrets in its environment: against a
private Redis that requires a password, an SMTP server that requires STARTTLS and AUTH, and real
workers logging at INFO with Celery's banner on; with the right SMTP password, with a wrong one
against a server that quotes the wrong password back, with broken settings, a worker with a wrong
Redis password; and once with the embedded defaults and the outbox; and with Microsoft 365's
sign-in (XOAUTH2 against a server that quotes refused tokens back: check, ping and sending with
the right client secret, a wrong one, a mailbox the token does not open, and a token revoked
between messages), with DKIM signing. Then
everything it produced is searched: stdout and stderr of every command, the worker logs, every
key and value in Redis (the ledger and Celery's own keys), and every file left behind (the .eml
files, the append-only files of both Redis servers). Searched for: each secret as it is, base64
encoded (as AUTH LOGIN sends it) and inside AUTH PLAIN's "\\0user\\0password", URL-quoted, split
over lines by a table, inside any base64 text (e.g. the bodies of Celery's task messages), and
any ten characters of it. The access tokens and the DKIM key, made during the run, are searched
for by every 40 characters of them, as they are and inside base64.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from distributie import states
from distributie.delivery.transport import SMTPTransport
from distributie.errors import ConfigError
from distributie.ledger import Ledger
from distributie.oauth import TokenSource
from distributie.runtime.redis_server import RedisServer
from distributie.settings import Settings, load_settings
from tests.support.oauth import TokenEndpoint
from tests.support.smtp import RecordingSMTPServer
from tests.support.workers import fast_settings_env, wait_until_settled, write_recipients
from tests.support.xoauth2_smtp import XOAuth2SMTPServer

SMTP_USER = "distributie"
SMTP_SECRET = "Smtp-S3cret-p4ssw0rd-7c1e"
WRONG_SMTP_SECRET = "Wrong-Smtp-S3cret-9d2f"
REDIS_SECRET = "KNOWN-REDIS-SECRET-5a8c"
WRONG_REDIS_SECRET = "WRONG-REDIS-SECRET-3e6b"
CLIENT_SECRET = "Oauth~Cl1ent-S3cret.value-8f4a"
WRONG_CLIENT_SECRET = "Wrong~Cl1ent-S3cret.value-2c7e"
SECRETS = (
    SMTP_SECRET,
    WRONG_SMTP_SECRET,
    REDIS_SECRET,
    WRONG_REDIS_SECRET,
    CLIENT_SECRET,
    WRONG_CLIENT_SECRET,
)
COUNT = 3
# Whitespace and the box-drawing characters of rich's tables: a secret wrapped over two table
# lines must still be found.
_LAYOUT = re.compile(r"[\s|\u2500-\u257f]+")
_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/]{12,}={0,2}")


def _b64(data: str) -> str:
    return base64.b64encode(data.encode()).decode().rstrip("=")


def needles(secret: str) -> set[str]:
    """The forms a secret could leak in."""
    return {
        secret,
        quote(secret, safe=""),
        _b64(secret),  # AUTH LOGIN
        _b64(f"\0{SMTP_USER}\0{secret}"),  # AUTH PLAIN
        _b64(f"{SMTP_USER}\0{SMTP_USER}\0{secret}"),  # AUTH PLAIN with an authorisation id
    }


NEEDLES = {needle: secret for secret in SECRETS for needle in needles(secret)}
# A part of a secret is a leak too (e.g. pydantic shortening a long value in the middle).
PART = 10
PARTS = [
    (secret[i : i + PART], f"part of {secret}")
    for secret in SECRETS
    for i in range(len(secret) - PART + 1)
]


def _base64_decoded(data: bytes) -> Iterator[bytes]:
    for match in _BASE64_RUN.finditer(data):
        run = match.group().rstrip(b"=")
        run = run[: len(run) - len(run) % 4]
        with contextlib.suppress(binascii.Error, ValueError):
            yield base64.b64decode(run)


def leaks(data: bytes) -> list[str]:
    """Which secrets `data` gives away, in any of the forms above."""
    text = data.decode("utf-8", "replace")
    views = [text, _LAYOUT.sub("", text)]
    views += [d.decode("utf-8", "replace") for d in _base64_decoded(data)]
    found = {NEEDLES[n] for n in NEEDLES for view in views if n in view}
    found |= {label for part, label in PARTS for view in views[:2] if part in view}
    return sorted(found)


# Secrets made during the run (access tokens, the DKIM key) are searched for by every piece of
# this many characters: a leak of any 2 * _PIECE characters in a row contains a whole piece.
_PIECE = 40


def pieces(secret: str) -> list[str]:
    body = "".join(line for line in secret.splitlines() if not line.startswith("-----"))
    return [body[i : i + _PIECE] for i in range(0, len(body) - _PIECE + 1, _PIECE)]


def made_secrets_in(data: bytes, secrets: dict[str, str]) -> list[str]:
    """Which of these secrets (label -> secret) `data` gives away, as it is or in base64."""
    text = data.decode("utf-8", "replace")
    views = [text, _LAYOUT.sub("", text)]
    views += [d.decode("utf-8", "replace") for d in _base64_decoded(data)]
    return sorted(
        label
        for label, secret in secrets.items()
        if any(piece in view for piece in pieces(secret) for view in views)
    )


@dataclass
class Evidence:
    """Everything the scenario produced, labelled by where it came from."""

    outputs: dict[str, bytes] = field(default_factory=dict)  # command -> stdout + stderr
    results: dict[str, subprocess.CompletedProcess[bytes]] = field(default_factory=dict)
    worker_logs: dict[str, bytes] = field(default_factory=dict)
    redis_values: dict[str, bytes] = field(default_factory=dict)  # key -> its contents
    files: dict[str, bytes] = field(default_factory=dict)  # path -> bytes
    smtp_replies: list[str] = field(default_factory=list)
    runs: dict[str, str] = field(default_factory=dict)  # phase -> run id
    ledger_states: dict[str, dict[str, int]] = field(default_factory=dict)
    root: Path = Path()
    tokens: list[str] = field(default_factory=list)  # every access token the endpoint issued
    oauth_replies: list[str] = field(default_factory=list)  # what the XOAUTH2 server said
    dkim_key: str = ""  # the DKIM private key's PEM

    def text(self, label: str) -> str:
        return self.outputs[label].decode("utf-8", "replace")


class Scenario:
    def __init__(self, root: Path, evidence: Evidence) -> None:
        self.root = root
        self.evidence = evidence
        self.workers: list[subprocess.Popen[bytes]] = []

    def run(
        self, label: str, env: dict[str, str], *args: str, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("DISTRIBUTIE_")}
        # Wide enough that no table wraps (a wrapped secret is still searched for, see leaks).
        clean.update(COLUMNS="400", NO_COLOR="1")
        clean.update(env)
        result = subprocess.run(
            [sys.executable, "-m", "distributie", *args],
            env=clean,
            cwd=cwd or self.root / "work",
            capture_output=True,
            timeout=90,
            stdin=subprocess.DEVNULL,
        )
        self.evidence.results[label] = result
        self.evidence.outputs[label] = result.stdout + b"\n--- stderr ---\n" + result.stderr
        return result

    def parallel(
        self, commands: dict[str, tuple[dict[str, str], tuple[str, ...]]]
    ) -> dict[str, subprocess.CompletedProcess[bytes]]:
        with ThreadPoolExecutor(len(commands)) as pool:
            futures = {
                label: pool.submit(self.run, label, env, *args)
                for label, (env, args) in commands.items()
            }
            return {label: future.result() for label, future in futures.items()}

    def start_worker(self, label: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        """A real `distributie worker` with Celery's banner and INFO logging."""
        clean = {k: v for k, v in os.environ.items() if not k.startswith("DISTRIBUTIE_")}
        clean.update(env)
        log_path = self.root / "worker-logs" / f"{label}.log"
        log_path.parent.mkdir(exist_ok=True)
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "distributie", "worker", "--loglevel", "INFO", "-c", "2"],
                env=clean,
                cwd=self.root / "work",
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.workers.append(process)
        return process

    def wait_for_log(
        self, process: subprocess.Popen[bytes], label: str, marker: bytes, timeout: float = 30
    ) -> None:
        log_path = self.root / "worker-logs" / f"{label}.log"
        deadline = time.monotonic() + timeout
        while marker not in log_path.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker {label}: no {marker!r} in\n{log_path.read_text()}")
            time.sleep(0.05)

    def stop_worker(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def stop_all(self) -> None:
        for process in self.workers:
            self.stop_worker(process)


def dump_redis(client: redis.Redis) -> dict[str, bytes]:
    """Every key of every database with its whole contents, whatever its type."""
    found: dict[str, bytes] = {}
    databases = [int(name[2:]) for name in client.info("keyspace")] or [0]
    for db in databases:
        client.execute_command("SELECT", db)
        for key in client.scan_iter(count=1000):
            kind = client.type(key).decode()
            value: object
            if kind == "string":
                value = client.get(key)
            elif kind == "hash":
                value = client.hgetall(key)
            elif kind == "list":
                value = client.lrange(key, 0, -1)
            elif kind == "set":
                value = client.smembers(key)
            elif kind == "zset":
                value = client.zrange(key, 0, -1, withscores=True)
            elif kind == "stream":
                value = client.xrange(key)
            else:
                value = f"<{kind}>"
            found[f"db{db}:{key.decode(errors='replace')}"] = key + b" = " + repr(value).encode()
    client.execute_command("SELECT", 0)
    return found


def _embedded_outbox_phase(scenario: Scenario, base: dict[str, str]) -> None:
    """The embedded defaults (private Redis, embedded worker) and the outbox, SMTP password set."""
    work = scenario.root / "embedded"
    work.mkdir()
    env = {
        **{k: v for k, v in base.items() if k != "DISTRIBUTIE_REDIS_URL"},
        "DISTRIBUTIE_DATA_DIR": str(work / ".distributie"),
        "DISTRIBUTIE_OUTBOX_DIR": str(work / "outbox"),
        "DISTRIBUTIE_WORKER_CONCURRENCY": "2",
    }
    env.pop("DISTRIBUTIE_SMTP_HOST")
    recipients = str(scenario.root / "list.csv")
    sent = scenario.run(
        "embedded send", env, "send", "--yes", "--json", "--recipients", recipients, cwd=work
    )
    if sent.returncode == 0:
        scenario.evidence.runs["embedded"] = json.loads(sent.stdout)["run"]
    scenario.run("embedded status --json", env, "status", "--json", cwd=work)


def _xoauth2_phase(
    scenario: Scenario,
    base: dict[str, str],
    ca: trustme.CA,
    ca_file: Path,
    recipients: str,
    ledger: Ledger,
    key_dir: Path,
) -> None:
    """Microsoft 365's sign-in and DKIM: the right client secret, a wrong one, a mailbox the
    token does not open, and a token revoked between two messages; the server quotes every
    token it refuses back."""
    evidence = scenario.evidence
    key_file = key_dir / "dkim.pem"  # outside the folder searched: the key itself is no leak
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_file.write_bytes(pem)
    evidence.dkim_key = pem.decode()
    with (
        TokenEndpoint(ca=ca, ca_file=ca_file, client_secret=CLIENT_SECRET) as endpoint,
        XOAuth2SMTPServer(
            ca=ca, ca_file=ca_file, endpoint=endpoint, echo_token_on_refusal=True
        ) as server,
    ):
        good = {
            **base,
            **server.environ(timeout=3),
            "DISTRIBUTIE_DKIM_SELECTOR": "distributie2026",
            "DISTRIBUTIE_DKIM_KEY_FILE": str(key_file),
        }
        assert good["DISTRIBUTIE_OAUTH_CLIENT_SECRET"] == CLIENT_SECRET
        wrong = {**good, "DISTRIBUTIE_OAUTH_CLIENT_SECRET": WRONG_CLIENT_SECRET}
        elsewhere = {**good, "DISTRIBUTIE_SMTP_USERNAME": "ander@elders.example"}
        scenario.run("check with xoauth2", good, "check", "--recipients", recipients)
        scenario.run("check with a wrong client secret", wrong, "check")
        scenario.run("ping with a wrong client secret", wrong, "ping")
        scenario.run("check with a mailbox the token does not open", elsewhere, "check")

        worker = scenario.start_worker("xoauth2", good)
        scenario.wait_for_log(worker, "xoauth2", b" ready.")
        sent = scenario.run(
            "send with xoauth2", good, "send", "--yes", "--json", "--recipients", recipients
        )
        run_id = evidence.runs["xoauth2"] = json.loads(sent.stdout)["run"]
        endpoint.expire_all()  # revoked: the next message meets 535 at MAIL, quoting the token
        scenario.run("resend with xoauth2", good, "resend", run_id, "Gemeente 0001", "--yes")
        wait_until_settled(ledger, run_id, timeout=30)
        scenario.stop_worker(worker)

        worker = scenario.start_worker("xoauth2-elsewhere", elsewhere)
        scenario.wait_for_log(worker, "xoauth2-elsewhere", b" ready.")
        scenario.run(
            "send to a mailbox the token does not open",
            elsewhere,
            "send",
            "--yes",
            "--recipients",
            recipients,
        )
        run_id = evidence.runs["xoauth2 elsewhere"] = ledger.latest_run() or ""
        wait_until_settled(ledger, run_id, timeout=30)
        scenario.stop_worker(worker)
        evidence.tokens = endpoint.issued
        evidence.oauth_replies = server.replies()


@pytest.fixture(scope="module")
def evidence(
    tmp_path_factory: pytest.TempPathFactory, smtp_ca: trustme.CA, smtp_ca_file: Path
) -> Iterator[Evidence]:
    root = tmp_path_factory.mktemp("secrets")
    (root / "work").mkdir()
    evidence = Evidence(root=root)
    scenario = Scenario(root, evidence)
    recipients = str(write_recipients(root / "list.csv", COUNT))

    smtp = RecordingSMTPServer(
        security="starttls",
        ca=smtp_ca,
        ca_file=smtp_ca_file,
        username=SMTP_USER,
        password=SMTP_SECRET,
        echo_password_on_auth_failure=True,
    )
    server = RedisServer(root / "redis", unix_socket=False, password=REDIS_SECRET)
    with smtp, server, ThreadPoolExecutor(1) as background:
        url = server.url
        assert url == f"redis://:{REDIS_SECRET}@127.0.0.1:{server.port}/0"
        good = {
            **fast_settings_env(url, root / "outbox"),
            **smtp.environ(timeout=3),
            "DISTRIBUTIE_SEND_LEASE": "30",
        }
        wrong = {**good, "DISTRIBUTIE_SMTP_PASSWORD": WRONG_SMTP_SECRET}
        assert good["DISTRIBUTIE_SMTP_PASSWORD"] == SMTP_SECRET
        ledger = Ledger.from_url(url)
        embedded = background.submit(_embedded_outbox_phase, scenario, good)
        try:
            # Offline commands and broken settings, while the first worker starts and a second
            # one fails to log in to Redis.
            worker = scenario.start_worker("good", good)
            wrong_redis_url = url.replace(REDIS_SECRET, WRONG_REDIS_SECRET)
            lost = scenario.start_worker(
                "wrong-redis-password", {**good, "DISTRIBUTIE_REDIS_URL": wrong_redis_url}
            )
            plaintext = {
                **good,
                "DISTRIBUTIE_SMTP_HOST": "smtp.example.org",
                "DISTRIBUTIE_SMTP_SECURITY": "none",
            }
            invalid = {**good, "DISTRIBUTIE_RATE_LIMIT": "often", "DISTRIBUTIE_SMTP_PORT": "smtp"}
            scenario.parallel(
                {
                    "check": (good, ("check", "--recipients", recipients)),
                    "preview": (
                        good,
                        (
                            "preview",
                            "--gemeente",
                            "Gemeente 0001",
                            "--recipients",
                            recipients,
                            "--out",
                            str(root / "preview.eml"),
                        ),
                    ),
                    "render": (
                        good,
                        ("render", "--out", str(root / "render"), "--recipients", recipients),
                    ),
                    "check with invalid settings": (invalid, ("check",)),
                    "check with plaintext to a remote host": (plaintext, ("check",)),
                    "worker with invalid settings": (invalid, ("worker",)),
                }
            )
            scenario.wait_for_log(lost, "wrong-redis-password", b"Cannot connect")
            scenario.stop_worker(lost)
            scenario.wait_for_log(worker, "good", b" ready.")

            # The right password: everything is sent; one recipient again; the worker answers.
            sent = scenario.run(
                "send --json", good, "send", "--yes", "--json", "--recipients", recipients
            )
            run1 = evidence.runs["good"] = json.loads(sent.stdout)["run"]
            scenario.run("resend", good, "resend", run1, "Gemeente 0002", "--yes")
            wait_until_settled(ledger, run1, timeout=30)
            scenario.run("ping", good, "ping", "--timeout", "0.5")
            scenario.stop_worker(worker)

            # A wrong password, which the server quotes back: every recipient fails, twice.
            worker = scenario.start_worker("wrong-smtp-password", wrong)
            scenario.wait_for_log(worker, "wrong-smtp-password", b" ready.")
            scenario.run(
                "send with a wrong SMTP password",
                wrong,
                "send",
                "--yes",
                "--recipients",
                recipients,
            )
            run2 = evidence.runs["wrong"] = ledger.latest_run() or ""
            scenario.run("retry", wrong, "retry", run2)
            wait_until_settled(ledger, run2, timeout=30)
            scenario.stop_worker(worker)

            # No worker: queued, then cancelled.
            queued = scenario.run(
                "send --no-wait",
                good,
                "send",
                "--yes",
                "--no-wait",
                "--json",
                "--recipients",
                recipients,
            )
            run3 = evidence.runs["cancelled"] = json.loads(queued.stdout)["run"]
            scenario.run("cancel", good, "cancel", run3)
            key_dir = tmp_path_factory.mktemp("secret-dkim-key")
            _xoauth2_phase(scenario, good, smtp_ca, smtp_ca_file, recipients, ledger, key_dir)

            scenario.parallel(
                {
                    "status --json": (good, ("status", "--json")),
                    "status of the failed run": (good, ("status", run2)),
                    "status of the failed run --csv": (good, ("status", run2, "--csv")),
                    "status of the failed run --json": (good, ("status", run2, "--json")),
                    "runs": (good, ("runs",)),
                    "runs --json": (good, ("runs", "--json")),
                }
            )
            embedded.result()
            for phase, run_id in evidence.runs.items():
                if phase != "embedded":
                    evidence.ledger_states[phase] = ledger.counts(run_id)
            evidence.redis_values = dump_redis(ledger.client)
            evidence.smtp_replies = smtp.replies()
        finally:
            scenario.stop_all()
            with contextlib.suppress(Exception):
                embedded.result()  # its failure, if any, is reported by the tests below
            ledger.client.close()
    # Redis has stopped: its append-only file is complete.
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            evidence.files[str(path.relative_to(root))] = path.read_bytes()
    evidence.worker_logs = {
        name: data for name, data in evidence.files.items() if name.startswith("worker-logs/")
    }
    yield evidence


def _found(items: dict[str, bytes]) -> dict[str, list[str]]:
    return {label: found for label, data in items.items() if (found := leaks(data))}


# -- the scenario did what it should: otherwise the search would prove nothing ---------------


def test_the_commands_did_their_work(evidence: Evidence) -> None:
    results = evidence.results
    assert results["check"].returncode == 0, evidence.text("check")
    assert results["preview"].returncode == 0, evidence.text("preview")
    assert results["render"].returncode == 0, evidence.text("render")
    assert results["send --json"].returncode == 0, evidence.text("send --json")
    assert results["resend"].returncode == 0, evidence.text("resend")
    assert results["ping"].returncode == 0, evidence.text("ping")
    assert results["send with a wrong SMTP password"].returncode == 1
    assert results["retry"].returncode == 0, evidence.text("retry")
    assert results["send --no-wait"].returncode == 0, evidence.text("send --no-wait")
    assert results["cancel"].returncode == 0, evidence.text("cancel")
    assert results["embedded send"].returncode == 0, evidence.text("embedded send")
    for label in (
        "status --json",
        "status of the failed run",
        "status of the failed run --csv",
        "status of the failed run --json",
        "runs",
        "runs --json",
    ):
        assert results[label].returncode == 0, evidence.text(label)

    for label in ("check with xoauth2", "send with xoauth2", "resend with xoauth2"):
        assert results[label].returncode == 0, evidence.text(label)
    assert results["send to a mailbox the token does not open"].returncode == 1

    assert evidence.ledger_states["good"][states.SENT] == COUNT
    assert evidence.ledger_states["wrong"][states.FAILED] == COUNT
    assert evidence.ledger_states["cancelled"][states.CANCELLED] == COUNT
    assert evidence.ledger_states["xoauth2"][states.SENT] == COUNT
    assert evidence.ledger_states["xoauth2 elsewhere"][states.FAILED] == COUNT
    outbox = [name for name in evidence.files if name.startswith("embedded/outbox/")]
    assert len([name for name in outbox if name.endswith(".eml")]) == COUNT
    assert len([name for name in evidence.files if name.startswith("render/")]) == COUNT
    assert "preview.eml" in evidence.files


def test_the_error_paths_were_taken(evidence: Evidence) -> None:
    invalid = evidence.text("check with invalid settings")
    assert evidence.results["check with invalid settings"].returncode == 2
    assert "DISTRIBUTIE_RATE_LIMIT" in invalid and "DISTRIBUTIE_SMTP_PORT" in invalid
    assert evidence.results["worker with invalid settings"].returncode == 2
    assert evidence.results["check with plaintext to a remote host"].returncode == 2
    assert "DISTRIBUTIE_SMTP_ALLOW_PLAINTEXT" in evidence.text(
        "check with plaintext to a remote host"
    )
    assert (
        b"Cannot connect to redis://:**@"
        in evidence.worker_logs["worker-logs/wrong-redis-password.log"]
    )
    for label in ("check with a wrong client secret", "ping with a wrong client secret"):
        assert evidence.results[label].returncode == 2
        assert "refused the client (invalid_client" in evidence.text(label)
    refused = "check with a mailbox the token does not open"
    assert evidence.results[refused].returncode == 2
    assert "535 5.7.3 Authentication unsuccessful (token '***' not accepted)" in evidence.text(
        refused
    )


def test_the_oauth_server_really_quoted_tokens_and_the_ledger_got_that_reply_redacted(
    evidence: Evidence,
) -> None:
    assert len(evidence.tokens) >= 4
    quoted = [t for t in evidence.tokens if any(t in reply for reply in evidence.oauth_replies)]
    assert len(quoted) >= 2  # at MAIL after the revocation, and at AUTH for the other mailbox
    shown = json.loads(evidence.results["status --json"].stdout)
    assert shown["run"] == evidence.runs["xoauth2 elsewhere"]
    for recipient in shown["recipients"]:
        assert recipient["state"] == states.FAILED
        assert recipient["last_reply"].startswith(
            "535 5.7.3 Authentication unsuccessful (token '***' not accepted); "
        )


def test_the_server_really_quoted_the_wrong_password_and_the_ledger_got_that_reply(
    evidence: Evidence,
) -> None:
    # Proof the careless server did its part: what it said contains the wrong password...
    assert any(WRONG_SMTP_SECRET in reply for reply in evidence.smtp_replies)
    # ... and what distributie recorded and shows is that reply, redacted.
    shown = json.loads(evidence.results["status of the failed run --json"].stdout)
    assert shown["run"] == evidence.runs["wrong"]
    for recipient in shown["recipients"]:
        assert recipient["state"] == states.FAILED
        assert recipient["last_reply"].startswith("535 ")
        assert "***" in recipient["last_reply"]
        assert recipient["attempts"] == 2  # the send and the retry


def test_the_worker_banner_and_connection_log_mask_the_redis_password(evidence: Evidence) -> None:
    log = evidence.worker_logs["worker-logs/good.log"]
    assert b".> transport:   redis://:**@127.0.0.1:" in log
    assert b"Connected to redis://:**@127.0.0.1:" in log


# -- the search -------------------------------------------------------------------------------


def test_the_search_finds_every_form_of_a_secret() -> None:
    plain = base64.b64encode(f"\0{SMTP_USER}\0{SMTP_SECRET}".encode())
    assert leaks(f"AUTH PLAIN {plain.decode()}\r\n".encode()) == [SMTP_SECRET]
    assert leaks(base64.b64encode(SMTP_SECRET.encode())) == [SMTP_SECRET]
    assert REDIS_SECRET in leaks(f"| {REDIS_SECRET[:9]} |\n| {REDIS_SECRET[9:]} |".encode())
    assert f"part of {SMTP_SECRET}" in leaks(f"{{'pw': '{SMTP_SECRET[:12]}...".encode())
    body = base64.b64encode(json.dumps({"url": f"redis://:{REDIS_SECRET}@h/0"}).encode())
    assert REDIS_SECRET in leaks(b'{"body": "' + body + b'"}')
    assert leaks(b"redis://:**@127.0.0.1:6379/0 535 5.7.8 (password '***' is wrong)") == []


def test_the_search_finds_a_piece_of_a_made_secret_in_base64() -> None:
    token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9" * 20
    sasl = base64.b64encode(f"user=a@b.example\x01auth=Bearer {token}\x01\x01".encode())
    assert made_secrets_in(b"AUTH XOAUTH2 " + sasl, {"token": token}) == ["token"]
    assert made_secrets_in(f"x {token[100:190]} y".encode(), {"token": token}) == ["token"]
    assert made_secrets_in(b"535 5.7.3 (token '***' not accepted)", {"token": token}) == []


def test_no_access_token_or_dkim_key_anywhere(evidence: Evidence) -> None:
    made = {f"access token {n}": token for n, token in enumerate(evidence.tokens, 1)}
    made["the DKIM private key"] = evidence.dkim_key
    assert len(made) >= 5 and "PRIVATE KEY" in evidence.dkim_key
    everything = {
        **evidence.outputs,
        **evidence.worker_logs,
        **evidence.redis_values,
        **evidence.files,
    }
    found = {
        label: hit for label, data in everything.items() if (hit := made_secrets_in(data, made))
    }
    assert found == {}


def test_no_secret_in_the_output_of_any_command(evidence: Evidence) -> None:
    assert len(evidence.outputs) == 28
    assert _found(evidence.outputs) == {}


def test_no_secret_in_any_worker_log(evidence: Evidence) -> None:
    assert len(evidence.worker_logs) == 5
    assert _found(evidence.worker_logs) == {}


def test_no_secret_in_any_redis_key_or_value(evidence: Evidence) -> None:
    keys = set(evidence.redis_values)
    assert any(key.startswith("db0:distributie:run:") for key in keys)
    assert any("_kombu" in key or key == "db0:distributie" for key in keys)  # Celery's keys
    assert _found(evidence.redis_values) == {}


def test_no_secret_in_any_file_left_behind(evidence: Evidence) -> None:
    names = set(evidence.files)
    assert any(name.startswith("redis/appendonlydir/") for name in names)  # the whole history
    assert any(name.startswith("embedded/.distributie/redis/") for name in names)
    assert _found(evidence.files) == {}


# -- the settings object ----------------------------------------------------------------------


@pytest.fixture
def secret_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env file
    for name in list(os.environ):
        if name.startswith("DISTRIBUTIE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DISTRIBUTIE_REDIS_URL", f"redis://:{REDIS_SECRET}@redis.internal:6379/0")
    monkeypatch.setenv("DISTRIBUTIE_SMTP_HOST", "smtp.example.org")
    monkeypatch.setenv("DISTRIBUTIE_SMTP_USERNAME", SMTP_USER)
    monkeypatch.setenv("DISTRIBUTIE_SMTP_PASSWORD", SMTP_SECRET)
    monkeypatch.setenv("DISTRIBUTIE_OAUTH_TENANT", "veiligheidscollege.onmicrosoft.com")
    monkeypatch.setenv("DISTRIBUTIE_OAUTH_CLIENT_ID", "6731de76-14a6-49ae-97bc-6eba6914391e")
    monkeypatch.setenv("DISTRIBUTIE_OAUTH_CLIENT_SECRET", CLIENT_SECRET)


@pytest.mark.usefixtures("secret_environment")
def test_settings_never_show_the_secrets() -> None:
    settings = load_settings()
    assert settings.redis_url is not None and settings.smtp_password is not None
    assert REDIS_SECRET in settings.redis_url.get_secret_value()
    assert settings.smtp_password.get_secret_value() == SMTP_SECRET
    assert settings.oauth_client_secret is not None
    assert settings.oauth_client_secret.get_secret_value() == CLIENT_SECRET

    shown = [
        repr(settings),
        str(settings),
        f"{settings}",
        settings.model_dump_json(),
        repr(settings.model_dump()),
        repr(SMTPTransport(settings)),
        repr(SMTPTransport(settings.model_copy(update={"smtp_auth": "xoauth2"}))),
        repr(TokenSource.from_settings(settings)),
    ]
    assert [leaks(text.encode()) for text in shown] == [[]] * len(shown)


@pytest.mark.usefixtures("secret_environment")
@pytest.mark.parametrize(
    "bad",
    [
        {"DISTRIBUTIE_SMTP_SECURITY": "none"},  # the check across fields sees every input
        {"DISTRIBUTIE_RATE_LIMIT": "often"},
        {"DISTRIBUTIE_SMTP_PORT": "smtp"},
        {"DISTRIBUTIE_OAUTH_TOKEN_URL": "http://x.example/t", "DISTRIBUTIE_SMTP_AUTH": "xoauth2"},
        {"DISTRIBUTIE_SMTP_AUTH": "xoauth2", "DISTRIBUTIE_OAUTH_TENANT": ""},
    ],
)
def test_settings_errors_never_show_the_secrets(
    bad: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in bad.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError) as raw:
        Settings()
    with pytest.raises(ConfigError) as config:
        load_settings()

    assert next(iter(bad)) in str(config.value)
    assert leaks(str(raw.value).encode()) == []
    assert leaks(repr(raw.value).encode()) == []
    assert leaks(str(config.value).encode()) == []
