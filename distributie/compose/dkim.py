"""DKIM signatures (RFC 6376; ed25519 as RFC 8463) over a message's final bytes, relaxed/relaxed,
and the DNS TXT record that publishes the key. Signing costs well under a millisecond."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from distributie.errors import ConfigError
from distributie.settings import Settings

__all__ = [
    "MIN_RSA_BITS",
    "OVERSIGNED_HEADERS",
    "SIGNED_HEADERS",
    "DKIMAlignmentError",
    "DKIMError",
    "DKIMKey",
    "DKIMKeyError",
    "DKIMSigner",
    "DNSRecord",
    "aligned",
    "dkim_signer",
    "load_key",
]

MIN_RSA_BITS = 2048
# Signed when present, in this order (h=); an absent one is left out of h=, except:
SIGNED_HEADERS = (
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "reply-to",
    "sender",
)
# ...these are listed once more than they occur, also when they do not ("oversigned", RFC 6376
# §5.4 and §8.15: a name in h= that matches no header signs its absence), so one added in transit
# (a second From, a Reply-To that diverts the answers) breaks the signature. Sender is not: a
# relay may legitimately add it (Exchange, for "send on behalf"), and that must not break it.
OVERSIGNED_HEADERS = ("from", "to", "subject", "reply-to")

Algorithm = Literal["rsa-sha256", "ed25519-sha256"]
_LINE = 76  # folded DKIM-Signature lines stay within the 78 characters RFC 5322 asks for
_WSP_EOL = re.compile(rb"[ \t]+\r\n")
_WSP_RUN = re.compile(rb"[ \t]{2,}|\t")
_BARE_EOL = re.compile(rb"\r?\n")


class DKIMError(ConfigError):
    """DKIM is set up wrongly (exit code 2)."""


class DKIMKeyError(DKIMError):
    """A DKIM key file does not load, is not the right kind, or is too short."""


class DKIMAlignmentError(DKIMError):
    """The DKIM domain does not align with the From domain, so DMARC would not count it."""


# -- keys ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DKIMKey:
    """A private key that signs, and the public half that goes in DNS."""

    path: Path
    algorithm: Algorithm
    bits: int
    private: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey = field(repr=False)

    @property
    def public_base64(self) -> str:
        """p= of the DNS record: the SubjectPublicKeyInfo for RSA, the raw key for ed25519."""
        public = self.private.public_key()
        if isinstance(public, ed25519.Ed25519PublicKey):
            raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        else:
            raw = public.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        return base64.b64encode(raw).decode("ascii")

    def sign(self, data: bytes) -> bytes:
        if isinstance(self.private, ed25519.Ed25519PrivateKey):
            # RFC 8463: Ed25519 over the SHA-256 hash of the canonical header data.
            return self.private.sign(hashlib.sha256(data).digest())
        return self.private.sign(data, padding.PKCS1v15(), hashes.SHA256())


def load_key(path: Path, kind: Literal["rsa", "ed25519"], setting: str) -> DKIMKey:
    """The key in a PEM file (PKCS#1 or PKCS#8, unencrypted); for ed25519 also the base64
    32-byte form dknewkey writes. Raises DKIMKeyError naming the setting and the file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DKIMKeyError(f"{setting}: cannot read {path}: {exc.strerror or exc}") from None
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise DKIMKeyError(
            f"{setting}: {path} is protected with a passphrase; distributie needs the key "
            f"without one (keep the file readable only by the user that runs the workers)"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raw = _raw_ed25519(data) if kind == "ed25519" else None
        if raw is None:
            raise DKIMKeyError(f"{setting}: {path} is not a PEM private key") from None
        return DKIMKey(path, "ed25519-sha256", 256, raw)
    if kind == "rsa":
        if not isinstance(private, rsa.RSAPrivateKey):
            raise DKIMKeyError(
                f"{setting}: {path} is not an RSA key (an ed25519 key goes in "
                f"DISTRIBUTIE_DKIM_ED25519_KEY_FILE, next to an RSA key)"
            )
        if private.key_size < MIN_RSA_BITS:
            raise DKIMKeyError(
                f"{setting}: {path} is an RSA key of {private.key_size} bits; receivers want "
                f"at least {MIN_RSA_BITS} (make one with: openssl genrsa -out dkim.pem 2048)"
            )
        return DKIMKey(path, "rsa-sha256", private.key_size, private)
    if not isinstance(private, ed25519.Ed25519PrivateKey):
        raise DKIMKeyError(f"{setting}: {path} is not an ed25519 key")
    return DKIMKey(path, "ed25519-sha256", 256, private)


def _raw_ed25519(data: bytes) -> ed25519.Ed25519PrivateKey | None:
    try:
        seed = base64.b64decode(data.strip(), validate=True)
        return ed25519.Ed25519PrivateKey.from_private_bytes(seed) if len(seed) == 32 else None
    except ValueError:
        return None


# -- DNS -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DNSRecord:
    """The TXT record to publish: `name` IN TXT `value`."""

    name: str  # <selector>._domainkey.<domain>, without the final dot
    value: str  # v=DKIM1; k=rsa; p=...

    def strings(self) -> list[str]:
        """The value as DNS stores it: character-strings of at most 255 bytes each."""
        return [self.value[i : i + 255] for i in range(0, len(self.value), 255)]

    def zone_line(self) -> str:
        """The record as a line for a BIND-style zone file."""
        quoted = " ".join(f'"{part}"' for part in self.strings())
        return f"{self.name}. IN TXT ( {quoted} )"


# -- alignment -------------------------------------------------------------------------------


def aligned(dkim_domain: str, from_domain: str) -> bool:
    """DMARC relaxed alignment, kept simple: the same domain, or one a subdomain of the other
    (mail.example.nl signs for example.nl and the other way round). Two sibling subdomains
    (a.example.nl, b.example.nl) also align under DMARC, but finding their organisational
    domain needs the Public Suffix List, so they are refused here: sign with the From domain.
    """
    d = dkim_domain.lower().rstrip(".")
    f = from_domain.lower().rstrip(".")
    if d == f:
        return True
    shorter, longer = sorted((d, f), key=len)
    # "nl" or "co.uk" alone is no one's domain: the shorter one needs at least two labels.
    return "." in shorter and longer.endswith("." + shorter)


# -- signing ---------------------------------------------------------------------------------


def relaxed_body(body: bytes) -> bytes:
    """RFC 6376 §3.4.4 relaxed body canonicalisation, the same bytes as dkimpy's. Each rule runs
    only on the lines between the first and the last place that needs it: in a message of
    text parts and a base64 attachment that is a few lines of text, not 57 kB."""
    body = _between(body, (b" \r\n", b"\t\r\n"), _WSP_EOL, b"\r\n")
    body = _between(body, (b"  ", b"\t"), _WSP_RUN, b" ")
    end = len(body)
    while body.endswith(b"\r\n", 0, end):
        end -= 2
    if end == 0:
        return b""
    return body[:end] + b"\r\n"


def _between(
    body: bytes, triggers: tuple[bytes, ...], pattern: re.Pattern[bytes], replacement: bytes
) -> bytes:
    found = [(at, trigger) for trigger in triggers if (at := body.find(trigger)) >= 0]
    if not found:
        return body
    # From the start of the first line that needs it to the end of the last one: white space
    # runs never cross a line break, so nothing outside can match.
    start = body.rfind(b"\n", 0, min(at for at, _ in found)) + 1
    last = max(body.rfind(trigger) + len(trigger) for _, trigger in found)
    end = body.find(b"\n", last - 1)
    end = len(body) if end < 0 else end + 1
    return body[:start] + pattern.sub(replacement, body[start:end]) + body[end:]


def _split_message(message: bytes) -> tuple[bytes, list[tuple[bytes, bytes]], bytes]:
    """The message (bare line feeds made CRLF, as verifiers read them), its headers, its body."""
    if message.count(b"\n") != message.count(b"\r\n"):
        message = _BARE_EOL.sub(b"\r\n", message)
    head, separator, body = message.partition(b"\r\n\r\n")
    if not separator:
        head, body = message.removesuffix(b"\r\n"), b""
    import dkim as dkimpy  # with DNS and nacl, ~30 ms to import: only where a message is signed

    headers, _ = dkimpy.rfc822_parse(head + b"\r\n\r\n")
    return message, [(bytes(name), bytes(value)) for name, value in headers], body


def _fold(tags: Sequence[tuple[str, str]]) -> str:
    """The DKIM-Signature header (without b=) on lines of at most _LINE characters; a long h=
    is broken after a ':', where RFC 6376 allows folding white space."""
    lines = ["DKIM-Signature:"]
    for index, (tag, value) in enumerate(tags):
        text = f"{tag}={value}" + (";" if index < len(tags) - 1 else "")
        if len(lines[-1]) + 1 + len(text) <= _LINE:
            lines[-1] += " " + text
        elif tag == "h":
            lines.append("")
            pieces = text.split(":")
            for number, piece in enumerate(pieces, 1):
                piece += ":" if number < len(pieces) else ""
                if len(lines[-1]) + len(piece) >= _LINE:
                    lines.append("")
                lines[-1] += piece if lines[-1] else " " + piece
        else:
            lines.append(" " + text)
    return "\r\n".join(lines)


class DKIMSigner:
    """Signs messages for one domain with an RSA key under `selector`, and optionally also with
    an ed25519 key under `<selector>-ed25519` (a second DKIM-Signature: each key needs its own
    DNS record). Build it once per process; `sign` is thread-safe."""

    def __init__(
        self,
        *,
        selector: str,
        domain: str,
        key: DKIMKey,
        ed25519_key: DKIMKey | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.selector = selector
        self.domain = domain.lower().rstrip(".")
        self.keys = (key,) if ed25519_key is None else (key, ed25519_key)
        self.selectors = (selector, f"{selector}-ed25519")[: len(self.keys)]
        self._clock = clock

    def __repr__(self) -> str:
        algorithms = "+".join(k.algorithm for k in self.keys)
        return f"DKIMSigner({self.selector}._domainkey.{self.domain}, {algorithms})"

    def sign(self, message: bytes) -> bytes:
        """The message with its DKIM-Signature header(s) in front: the bytes to send. Sign the
        final bytes, after every header is set; bare line feeds come back as CRLF."""
        message, headers, body = _split_message(message)
        return self._signatures(headers, body) + message

    def signature_headers(self, message: bytes) -> bytes:
        """Just the DKIM-Signature header field(s) for `message` (CRLF line endings, as every
        message distributie builds has): the bytes to send are this prefix + the message,
        exactly what `sign` returns. Keeping the prefix lets an archive rebuild the signed
        bytes from the unsigned message without the key."""
        _, headers, body = _split_message(message)
        return self._signatures(headers, body)

    def _signatures(self, headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
        names = [name.lower() for name, _ in headers]
        if b"from" not in names:
            raise ValueError("a message without a From header cannot be DKIM-signed")
        signed: list[bytes] = []
        for name in SIGNED_HEADERS:
            count = names.count(name.encode())
            signed += [name.encode()] * (count + (name in OVERSIGNED_HEADERS))
        body_hash = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest()).decode()
        import dkim as dkimpy  # see _split_message
        from dkim.canonicalization import Relaxed

        canonical = Relaxed.canonicalize_headers(dkimpy.select_headers(headers, signed))
        header_data = b"".join(name + b":" + value for name, value in canonical)
        timestamp = str(int(self._clock()))
        return b"".join(
            self._signature(key, selector, signed, body_hash, header_data, timestamp)
            for key, selector in zip(self.keys, self.selectors, strict=True)
        )

    def _signature(
        self,
        key: DKIMKey,
        selector: str,
        signed: list[bytes],
        body_hash: str,
        header_data: bytes,
        t: str,
    ) -> bytes:
        tags = [
            ("v", "1"),
            ("a", key.algorithm),
            ("c", "relaxed/relaxed"),
            ("d", self.domain),
            ("s", selector),
            ("t", t),
            ("h", b":".join(signed).decode("ascii")),
            ("bh", body_hash),
        ]
        # b= starts its own line, so the text before it is the same with and without a value.
        unsigned = _fold(tags) + ";\r\n b="
        name, value = unsigned.encode("ascii").split(b":", 1)
        from dkim.canonicalization import Relaxed  # see _split_message

        (canonical,) = Relaxed.canonicalize_headers([(name, value)])
        data = header_data + canonical[0] + b":" + canonical[1].rstrip()
        signature = base64.b64encode(key.sign(data)).decode("ascii")
        width = _LINE - 3
        lines = [signature[i : i + width] for i in range(0, len(signature), width)]
        return (unsigned + "\r\n ".join(lines) + "\r\n").encode("ascii")

    def dns_records(self) -> list[DNSRecord]:
        """What to publish: one TXT record per key, each under its own selector."""
        kinds = {"rsa-sha256": "rsa", "ed25519-sha256": "ed25519"}
        return [
            DNSRecord(
                f"{selector}._domainkey.{self.domain}",
                f"v=DKIM1; k={kinds[key.algorithm]}; p={key.public_base64}",
            )
            for key, selector in zip(self.keys, self.selectors, strict=True)
        ]


def dkim_signer(settings: Settings, from_address: str) -> DKIMSigner | None:
    """The signer the settings ask for (None without DISTRIBUTIE_DKIM_KEY_FILE), for mail from
    `from_address`. Raises DKIMKeyError or DKIMAlignmentError (exit code 2)."""
    if settings.dkim_key_file is None or settings.dkim_selector is None:
        return None
    from_domain = from_address.rpartition("@")[2].lower()
    domain = settings.dkim_domain or from_domain
    if not aligned(domain, from_domain):
        raise DKIMAlignmentError(
            f"DISTRIBUTIE_DKIM_DOMAIN: {domain} does not align with the From domain "
            f"{from_domain}, so DMARC would not count the signature; use {from_domain} or a "
            f"parent or subdomain of it"
        )
    key = load_key(settings.dkim_key_file, "rsa", "DISTRIBUTIE_DKIM_KEY_FILE")
    extra = None
    if settings.dkim_ed25519_key_file is not None:
        extra = load_key(
            settings.dkim_ed25519_key_file, "ed25519", "DISTRIBUTIE_DKIM_ED25519_KEY_FILE"
        )
    return DKIMSigner(selector=settings.dkim_selector, domain=domain, key=key, ed25519_key=extra)
