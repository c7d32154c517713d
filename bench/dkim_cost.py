"""What DKIM signing costs per message of the bench's size (the bundled mailing, ~57 kB).

    .venv/bin/python bench/dkim_cost.py [--samples 2000]

Medians of many signings of the 39 bundled recipients' messages, in one process: dkimpy's own
dkim.sign() for reference, then compose/dkim.py (RSA 2048, and RSA + ed25519), and the parts
of distributie's signing. Every kind of signature is first verified with dkimpy's verifier.
Prints a Markdown table and one JSON line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import dkim as dkimpy  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa  # noqa: E402

from distributie.compose.addressing import Addressing  # noqa: E402
from distributie.compose.dkim import SIGNED_HEADERS, DKIMSigner, load_key, relaxed_body  # noqa: E402
from distributie.compose.mailing import BUNDLED_MAILING, load_mailing  # noqa: E402
from distributie.compose.message import build_message  # noqa: E402
from distributie.compose.recipients import read_recipients  # noqa: E402
from distributie.compose.rendering import compile_mailing  # noqa: E402


def messages() -> list[bytes]:
    """The bundled mailing's message for each of its 39 recipients, as the bench sends them."""
    mailing = load_mailing(BUNDLED_MAILING)
    assert mailing.default_recipients is not None
    recipients = read_recipients(mailing.default_recipients, mailing.spec.required_columns)
    compiled = compile_mailing(mailing)
    sender = mailing.spec.sender
    return [
        build_message(
            compiled.render(r.context()),
            Addressing(
                sender.name,
                sender.address,
                sender.reply_to,
                r.email,
                "20190408-143005-ab12",
                r.gemeente,
                r.key,
                0,
            ),
        )
        for r in recipients.recipients
    ]


def keys(directory: Path) -> tuple[Path, Path]:
    rsa_file, ed_file = directory / "rsa.pem", directory / "ed25519.pem"
    pkcs8 = serialization.PrivateFormat.PKCS8
    none = serialization.NoEncryption()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_file.write_bytes(rsa_key.private_bytes(serialization.Encoding.PEM, pkcs8, none))
    ed_key = ed25519.Ed25519PrivateKey.generate()
    ed_file.write_bytes(ed_key.private_bytes(serialization.Encoding.PEM, pkcs8, none))
    return rsa_file, ed_file


def median_ms(action: Callable[[int], object], samples: int) -> float:
    for i in range(min(50, samples)):
        action(i)
    times = []
    for i in range(samples):
        begin = time.perf_counter()
        action(i)
        times.append(time.perf_counter() - begin)
    return round(statistics.median(times) * 1000, 3)


def verify_all(signer: DKIMSigner, message: bytes) -> None:
    records = {f"{r.name}.".encode(): "".join(r.strings()).encode() for r in signer.dns_records()}
    signed = signer.sign(message)
    checker = dkimpy.DKIM(signed)
    for index in range(len(signer.keys)):
        assert checker.verify(idx=index, dnsfunc=lambda name, timeout=5: records.get(name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args()
    samples = args.samples
    corpus = messages()
    k = len(corpus)
    domain = "veiligheidscollege-mn.example"
    with tempfile.TemporaryDirectory() as scratch:
        rsa_file, ed_file = keys(Path(scratch))
        rsa_key = load_key(rsa_file, "rsa", "rsa")
        ed_key = load_key(ed_file, "ed25519", "ed25519")
    signer = DKIMSigner(selector="bench", domain=domain, key=rsa_key)
    both = DKIMSigner(selector="bench", domain=domain, key=rsa_key, ed25519_key=ed_key)
    verify_all(signer, corpus[0])
    verify_all(both, corpus[0])
    assert isinstance(rsa_key.private, rsa.RSAPrivateKey)
    pem = rsa_key.private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    headers = [h.encode() for h in SIGNED_HEADERS]
    bodies = [m.partition(b"\r\n\r\n")[2] for m in corpus]
    results = {
        "message_size_bytes": round(statistics.median(len(m) for m in corpus)),
        "dkimpy_sign_ms": median_ms(
            lambda i: dkimpy.sign(
                corpus[i % k],
                b"bench",
                domain.encode(),
                pem,
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=headers,
            ),
            max(50, samples // 20),
        ),
        "sign_rsa_ms": median_ms(lambda i: signer.sign(corpus[i % k]), samples),
        "sign_rsa_ed25519_ms": median_ms(lambda i: both.sign(corpus[i % k]), samples),
        "part_relaxed_body_ms": median_ms(lambda i: relaxed_body(bodies[i % k]), samples),
        "part_body_sha256_ms": median_ms(lambda i: hashlib.sha256(bodies[i % k]).digest(), samples),
        "part_rsa_signature_ms": median_ms(lambda i: rsa_key.sign(b"%d" % i * 300), samples),
        "part_ed25519_signature_ms": median_ms(lambda i: ed_key.sign(b"%d" % i * 300), samples),
    }
    print(f"DKIM signing, message of {results['message_size_bytes']} bytes, median ms:\n")
    print("| | ms per message |\n|---|---:|")
    for name, value in results.items():
        if name.endswith("_ms"):
            print(f"| {name.removesuffix('_ms').replace('_', ' ')} | {value:.3f} |")
    print()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
