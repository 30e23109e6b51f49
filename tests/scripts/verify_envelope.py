#!/usr/bin/env python3
"""Verify one edusync envelope with Python's `cryptography` package alone.

Usage:
    verify_envelope.py ENVELOPE_FILE [--key BASE64_PUBLIC_KEY] [--openssl-dir DIR]

ENVELOPE_FILE holds the exact envelope bytes (for example the base64-decoded
"envelope" field of `edusync record show ID --json`). The layout and the signed
byte string are documented in ARCHITECTURE.md, "The signed envelope".

The script checks the framing, verifies the Ed25519 signature over the
pre-authentication encoding, prints the record id (SHA-256 of the envelope)
and the signed header, and exits 0 only if everything holds. With --key it
also checks that the envelope was signed by that key. With --openssl-dir it
writes signed.bin, signature.bin and author.pem so that the same check can be
repeated with `openssl pkeyutl -verify -pubin -inkey author.pem -rawin
-in signed.bin -sigfile signature.bin`.
"""
import argparse
import base64
import hashlib
import struct
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

CONTEXT = b"EDUSYNC-ENVELOPE-V1"


def fail(message):
    print(f"FAIL: {message}")
    sys.exit(1)


def take(data, offset, count, what):
    if offset + count > len(data):
        fail(f"truncated: {what} is missing")
    return data[offset:offset + count], offset + count


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("envelope")
    parser.add_argument("--key")
    parser.add_argument("--openssl-dir")
    args = parser.parse_args()
    envelope = open(args.envelope, "rb").read()

    magic, at = take(envelope, 0, 4, "magic")
    if magic != b"ESE1":
        fail("not an edusync envelope (magic)")
    raw, at = take(envelope, at, 2, "payload type length")
    payload_type, at = take(envelope, at, struct.unpack(">H", raw)[0], "payload type")
    raw, at = take(envelope, at, 4, "body length")
    body, at = take(envelope, at, struct.unpack(">I", raw)[0], "body")
    signature, at = take(envelope, at, 64, "signature")
    if at != len(envelope):
        fail(f"{len(envelope) - at} bytes follow the signature")

    # Pre-authentication encoding, as DSSE: context SP len(type) SP type SP len(body) SP body.
    signed = b" ".join([CONTEXT, str(len(payload_type)).encode(), payload_type, str(len(body)).encode(), body])
    author_key = body[1:33]
    if args.key and base64.b64decode(args.key) != author_key:
        fail("the envelope names a different author key")
    try:
        Ed25519PublicKey.from_public_bytes(author_key).verify(signature, signed)
    except InvalidSignature:
        fail("signature does not verify")

    version = body[0]
    stream, seq = body[33], struct.unpack(">Q", body[34:42])[0]
    prev = body[42:74]
    created_ms = struct.unpack(">q", body[74:82])[0]
    org_len = struct.unpack(">H", body[82:84])[0]
    org = body[84:84 + org_len].decode("ascii")
    record_len = struct.unpack(">I", body[84 + org_len:88 + org_len])[0]
    if 88 + org_len + record_len != len(body):
        fail("record length does not match the body")

    print("OK: signature verifies")
    print(f"record_id    {hashlib.sha256(envelope).hexdigest()}")
    print(f"payload_type {payload_type.decode('ascii')}")
    print(f"version      {version}")
    print(f"author_org   {org}")
    print(f"author_key   {base64.b64encode(author_key).decode()}")
    print(f"stream       {'local' if stream == 1 else 'shared' if stream == 2 else stream}")
    print(f"seq          {seq}")
    print(f"prev_id      {'(none)' if prev == bytes(32) else prev.hex()}")
    print(f"created_ms   {created_ms}")
    print(f"record_bytes {record_len}")

    if args.openssl_dir:
        open(f"{args.openssl_dir}/signed.bin", "wb").write(signed)
        open(f"{args.openssl_dir}/signature.bin", "wb").write(signature)
        pem = Ed25519PublicKey.from_public_bytes(author_key).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        open(f"{args.openssl_dir}/author.pem", "wb").write(pem)


if __name__ == "__main__":
    main()
