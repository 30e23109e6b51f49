#!/usr/bin/env python3
"""Verify an edusync audit bundle with Python's `cryptography` package alone.

Usage:
    verify_audit_bundle.py BUNDLE.json --anchor BASE64_ROOT_KEY [--anchor ...] [--threshold N]

An independent second opinion on `edusync audit verify`, written from the
documented formats only (docs/audit-format.md; ARCHITECTURE.md, "The signed
envelope" and "The aggregate"). It checks:

  - every trust statement ("EST1"): framing, and every Ed25519 signature over
    PAE("EDUSYNC-TRUST-V1", kind, body);
  - every aggregate envelope ("ESE1"): framing, the signature over
    PAE("EDUSYNC-ENVELOPE-V1", payload type, body), record id = SHA-256 of the
    envelope, and that the stated signer key is the one in the body;
  - that each aggregate's signer is certified for its org when it signed, by a
    chain of certificates that ends in certificates signed by `threshold` of
    the root keys, and that no revocation of that key took effect before it
    signed (key rotations are not followed here; edusync's verifier does);
  - total = own + the sum of the children's totals, cell by cell, and the
    children's Merkle sum root recomputed from their envelopes equals the one
    the parent signed (which also proves the children listed are all of them);
  - every aggregate without children has total = own and the empty tree's
    root; children[] is in leaf order (by org id) and each inclusion proof
    names its own position and the signed number of children.

It reads the signed bytes only, never the readable copies beside them (those
are for people, and `edusync audit verify` checks them against the signed
values). Prints one line per check and exits 0 only when every check passes.
"""
import argparse
import base64
import hashlib
import json
import struct
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ENVELOPE_CONTEXT = b"EDUSYNC-ENVELOPE-V1"
TRUST_CONTEXT = b"EDUSYNC-TRUST-V1"
STATEMENT_KINDS = {1: b"certificate", 2: b"revocation", 3: b"rotation", 4: b"enrolment-request"}
GRACE_MS = 300_000

results = []


def check(subject, name, passed, detail):
    results.append(passed)
    print(f"{'ok  ' if passed else 'FAIL'}  {subject} - {name}: {detail}")
    return passed


def pae(context, kind, body):
    return b" ".join([context, str(len(kind)).encode(), kind, str(len(body)).encode(), body])


def verifies(key, signature, message):
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(signature, message)
        return True
    except (InvalidSignature, ValueError):
        return False


class Reader:
    def __init__(self, data):
        self.data, self.at = data, 0

    def take(self, count):
        if self.at + count > len(self.data):
            raise ValueError("truncated")
        part = self.data[self.at:self.at + count]
        self.at += count
        return part

    def u8(self):
        return self.take(1)[0]

    def u64(self):
        return struct.unpack(">Q", self.take(8))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def org(self):
        return self.take(self.u8()).decode("ascii")


def read_statement(raw):
    """(kind, body, [(key, signature)]) of an EST1 statement, signatures checked."""
    reader = Reader(raw)
    if reader.take(4) != b"EST1":
        raise ValueError("not EST1")
    kind = reader.u8()
    body = reader.take(struct.unpack(">I", reader.take(4))[0])
    signers = []
    for _ in range(reader.u8()):
        key, signature = reader.take(32), reader.take(64)
        if not verifies(key, signature, pae(TRUST_CONTEXT, STATEMENT_KINDS[kind], body)):
            raise ValueError(f"a signature does not verify under {base64.b64encode(key).decode()}")
        signers.append(key)
    if reader.at != len(raw) or not signers:
        raise ValueError("bytes after the signatures, or no signature")
    return kind, body, signers


def read_envelope(raw):
    reader = Reader(raw)
    if reader.take(4) != b"ESE1":
        raise ValueError("not ESE1")
    payload_type = reader.take(struct.unpack(">H", reader.take(2))[0])
    body = reader.take(struct.unpack(">I", reader.take(4))[0])
    signature = reader.take(64)
    if reader.at != len(raw):
        raise ValueError("bytes after the signature")
    author_key = body[1:33]
    if not verifies(author_key, signature, pae(ENVELOPE_CONTEXT, payload_type, body)):
        raise ValueError("the signature does not verify")
    created_ms = struct.unpack(">q", body[74:82])[0]
    org_len = struct.unpack(">H", body[82:84])[0]
    org = body[84:84 + org_len].decode("ascii")
    record_len = struct.unpack(">I", body[84 + org_len:88 + org_len])[0]
    record = body[88 + org_len:88 + org_len + record_len]
    return payload_type.decode("ascii"), author_key, org, created_ms, record


def varint(data, at):
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def read_aggregate(record):
    """The fields of edusync.v1.Aggregate this check needs (proto/edusync/v1)."""
    fields = {"own": [], "total": [], "revision": 0, "children": 0, "root": b"", "org": ""}
    at = 0
    while at < len(record):
        tag, at = varint(record, at)
        number, wire_type = tag >> 3, tag & 7
        if wire_type == 0:
            value, at = varint(record, at)
            if number == 3:
                fields["revision"] = value
            elif number == 8:
                fields["children"] = value
        elif wire_type == 2:
            length, at = varint(record, at)
            value, at = record[at:at + length], at + length
            if number == 1:
                fields["org"] = value.decode("utf-8")
            elif number in (5, 6):
                cells, inner = [], 0
                while inner < len(value):
                    cell, inner = varint(value, inner)
                    cells.append(cell)
                fields["own" if number == 5 else "total"] = cells
            elif number == 7:
                fields["root"] = value
        else:
            raise ValueError(f"unexpected wire type {wire_type}")
    return fields


def counts_bytes(cells):
    return struct.pack(">H", len(cells)) + b"".join(struct.pack(">Q", cell) for cell in cells)


def tree_root(leaves):
    """(hash, sum) of the Merkle sum tree, split as RFC 6962."""
    if not leaves:
        return hashlib.sha256(b"").digest(), None
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    (left, left_sum), (right, right_sum) = tree_root(leaves[:k]), tree_root(leaves[k:])
    total = [a + b for a, b in zip(left_sum, right_sum)]
    return hashlib.sha256(b"\x01" + left + right + counts_bytes(total)).digest(), total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bundle")
    parser.add_argument("--anchor", action="append", required=True, help="a root public key, base64 of the raw 32 bytes")
    parser.add_argument("--threshold", type=int)
    args = parser.parse_args()
    bundle = json.load(open(args.bundle, encoding="utf-8"))
    anchors = [base64.b64decode(key) for key in args.anchor]
    threshold = args.threshold or len(anchors) // 2 + 1
    if bundle.get("format") != "edusync.audit.v2":
        print(f"FAIL  the bundle's format is {bundle.get('format')!r}, not edusync.audit.v2")
        sys.exit(1)

    certificates, revocations = [], []
    for index, text in enumerate(bundle["statements"]):
        try:
            kind, body, signers = read_statement(base64.b64decode(text, validate=True))
        except (ValueError, KeyError) as error:
            check(f"statement {index}", "signatures", False, str(error))
            continue
        check(f"statement {index}", "signatures", True, f"{STATEMENT_KINDS[kind].decode()}: {len(signers)} signature(s) verify")
        reader = Reader(body)
        if kind == 1:
            certificates.append({
                "key": reader.take(32), "org": reader.org(), "role": reader.u8(), "issuer": reader.org(),
                "version": reader.u64(), "not_before": reader.i64(), "not_after": reader.i64(),
                "issued": reader.i64(), "signers": signers,
            })
        elif kind == 2:
            issuer, org, key = reader.org(), reader.org(), reader.take(32)
            reader.u8()
            revocations.append({"issuer": issuer, "org": org, "key": key, "effective": reader.i64()})

    def certified(org, key, at_ms, depth=0):
        if depth > 8:
            return None
        for revocation in revocations:
            if revocation["key"] == key and revocation["effective"] <= at_ms:
                return None
        for certificate in certificates:
            # Only a node's certificate (roles 1-4) lets a key sign; readers never do.
            if certificate["org"] != org or certificate["key"] != key or certificate["role"] not in (1, 2, 3, 4):
                continue
            if not certificate["not_before"] - GRACE_MS <= at_ms <= certificate["not_after"] + GRACE_MS:
                continue
            issuer = certificate["issuer"]
            if issuer == bundle["anchor_org"]:
                if len({signer for signer in certificate["signers"] if signer in anchors}) >= threshold:
                    return [issuer]
                continue
            if not org.startswith(issuer + "."):
                continue
            for signer in certificate["signers"]:
                above = certified(issuer, signer, certificate["issued"], depth + 1)
                if above is not None:
                    return [issuer] + above
        return None

    def aggregate_of(stated):
        subject = f"aggregate {stated['org_id']} (record {stated['record_id'][:12]})"
        try:
            raw = base64.b64decode(stated["envelope"], validate=True)
            payload_type, author_key, org, created_ms, record = read_envelope(raw)
        except (ValueError, KeyError, struct.error) as error:
            check(subject, "signature", False, str(error))
            return None
        check(subject, "signature", True, "verifies under the key in the envelope")
        record_id = hashlib.sha256(raw).hexdigest()
        ok = check(subject, "record id", record_id == stated["record_id"], f"SHA-256 of the envelope is {record_id[:12]}")
        fields = read_aggregate(record)
        ok &= check(subject, "author", payload_type == "edusync.v1.Aggregate" and org == fields["org"] == stated["org_id"]
                    and base64.b64encode(author_key).decode() == stated["signer_key"], f"{org} signed its own aggregate")
        own_total = fields["children"] > 0 or (fields["total"] == fields["own"] and fields["root"] == hashlib.sha256(b"").digest())
        ok &= check(subject, "well-formed", own_total,
                    f"{fields['children']} children" if fields["children"] else "no children: total = own, cell by cell")
        chain = certified(org, author_key, created_ms)
        ok &= check(subject, "signer certified", chain is not None,
                    "certified by " + " <- ".join(chain) if chain else "no chain of certificates up to the root keys")
        return (record_id, fields) if ok else None

    orgs = [child["aggregate"]["org_id"] for child in bundle["children"]]
    check("roll-up", "leaf order", all(a < b for a, b in zip(orgs, orgs[1:])), "children[] is listed by org id, each once")
    parent = aggregate_of(bundle["aggregate"])
    children = [aggregate_of(child["aggregate"]) for child in bundle["children"]]
    if parent is None or any(child is None for child in children):
        check("roll-up", "sum", False, "an aggregate failed its checks")
    else:
        _, fields = parent
        summed = list(fields["own"])
        for _, child in children:
            summed = [a + b for a, b in zip(summed, child["total"])]
        check("roll-up", "sum", summed == fields["total"] and fields["children"] == len(children),
              f"total = own + {len(children)} children, cell by cell ({fields['children']} summed as signed)")
        leaves = sorted(
            ((child["org"], hashlib.sha256(b"\x00" + bytes.fromhex(record_id) + counts_bytes(child["total"])).digest(), child["total"])
             for record_id, child in children),
        )
        root, _ = tree_root([(leaf, total) for _, leaf, total in leaves])
        check("roll-up", "merkle root", root == fields["root"], "the children's Merkle sum root is the one the parent signed")
        for position, child in enumerate(bundle["children"]):
            proof = child["inclusion_proof"]
            check(f"aggregate {child['aggregate']['org_id']}", "inclusion proof",
                  proof["index"] == position and proof["size"] == fields["children"],
                  f"leaf {proof['index']} of {proof['size']}, entry {position} of {fields['children']}")

    passed = all(results)
    print(("VERIFIED" if passed else "NOT VERIFIED") + f": {results.count(True)} of {len(results)} checks passed")
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
