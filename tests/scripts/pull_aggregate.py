#!/usr/bin/env python3
"""Pull a node's aggregate with a gRPC client generated from proto/ alone.

Usage:
    pip install grpcio grpcio-tools cryptography
    pull_aggregate.py --node 127.0.0.1:7401 --period 2024-2025 --org VN.BT.D03 --key data/node.key [--ca ca.crt]
        [--certificate reader.cert]

Interop check for people who do not use Rust: the stubs are generated from
the repository's `proto/` at start (grpc_tools.protoc, into a temporary
directory), then the script calls `edusync.v1.RecordService/GetRollUp`,
checks the aggregate envelope's Ed25519 signature with `cryptography`
(layout: ARCHITECTURE.md, "The signed envelope"), decodes the record with the
generated `edusync.v1.Aggregate` class, and prints the org, the revision, the
incident cases (the first 120 cells: category x severity x status) and the
children summed. It first opens a session as edusync does: AuthService
GetChallenge, an Ed25519 signature over
PAE("EDUSYNC-SESSION-V1", "open", challenge | org(server) | org(caller) | caller key),
OpenSession, then the token as `authorization: Bearer ...` — with the node's
own key (its operator) or a reader's key and certificate file. Also calls `GetCompliance` and prints the alerts. Exits 0 on
success, 1 if the signature does not verify, 2 on a gRPC error.
"""
import argparse
import hashlib
import importlib
import os
import struct
import sys
import tempfile

import grpc
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from grpc_tools import protoc

PROTO_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto")
SPANS = {"": 1, "S1": 2, "S2": 3}


def generate_stubs(out):
    files = [os.path.join("edusync", "v1", name) for name in ("envelope.proto", "records.proto", "node.proto")]
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    status = protoc.main(["protoc", f"-I{PROTO_ROOT}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}", *files])
    if status != 0:
        sys.exit(f"protoc failed on {PROTO_ROOT}")
    sys.path.insert(0, out)
    return importlib.import_module("edusync.v1.node_pb2"), importlib.import_module("edusync.v1.node_pb2_grpc"), importlib.import_module("edusync.v1.records_pb2")


def period_message(records, text):
    year, _, span = text.partition("/")
    start = int(year.split("-")[0])
    if span.startswith("M"):
        return records.Period(school_year_start=start, span=4, month=int(span[1:]))
    return records.Period(school_year_start=start, span=SPANS[span])


def open_envelope(envelope):
    """(payload type, author org, record bytes) after checking the signature."""
    at = 4
    if envelope[:4] != b"ESE1":
        raise ValueError("not an edusync envelope")
    (type_len,) = struct.unpack(">H", envelope[at:at + 2])
    payload_type = envelope[at + 2:at + 2 + type_len]
    at += 2 + type_len
    (body_len,) = struct.unpack(">I", envelope[at:at + 4])
    body = envelope[at + 4:at + 4 + body_len]
    signature = envelope[at + 4 + body_len:]
    signed = b" ".join([b"EDUSYNC-ENVELOPE-V1", str(len(payload_type)).encode(), payload_type, str(len(body)).encode(), body])
    Ed25519PublicKey.from_public_bytes(body[1:33]).verify(signature, signed)
    (org_len,) = struct.unpack(">H", body[82:84])
    org = body[84:84 + org_len].decode("ascii")
    (record_len,) = struct.unpack(">I", body[84 + org_len:88 + org_len])
    return payload_type.decode("ascii"), org, body[88 + org_len:88 + org_len + record_len]


def org_bytes(org):
    raw = org.encode("ascii")
    return bytes([len(raw)]) + raw


def read_certificates(path):
    """The statements of an armored certificate file, as bytes."""
    import base64
    out, lines = [], None
    for line in open(path, encoding="ascii"):
        line = line.strip()
        if line.startswith("-----BEGIN"):
            lines = []
        elif line.startswith("-----END"):
            out.append(base64.b64decode("".join(lines)))
            lines = None
        elif lines is not None and line and ":" not in line:
            lines.append(line)
    return out


def open_session(channel, node_pb2, node_grpc, org, key_path, certificate_path):
    key = serialization.load_pem_private_key(open(key_path, "rb").read(), password=None)
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    auth = node_grpc.AuthServiceStub(channel)
    challenge = auth.GetChallenge(node_pb2.GetChallengeRequest(), timeout=30)
    body = challenge.challenge + org_bytes(challenge.server_org) + org_bytes(org) + public
    signed = b" ".join([b"EDUSYNC-SESSION-V1", b"4", b"open", str(len(body)).encode(), body])
    request = node_pb2.OpenSessionRequest(
        challenge=challenge.challenge, caller_org=org, caller_key=public, signature=key.sign(signed),
        certificates=read_certificates(certificate_path) if certificate_path else [],
    )
    return auth.OpenSession(request, timeout=30).token


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--node", required=True, help="host:port")
    parser.add_argument("--period", required=True)
    parser.add_argument("--ca", help="the node's ca.crt, for TLS")
    parser.add_argument("--org", required=True, help="who speaks: the node's own org id, or a reader's scope")
    parser.add_argument("--key", required=True, help="the node's node.key, or a reader's key (PKCS#8 PEM)")
    parser.add_argument("--certificate", help="a reader's certificate file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        node_pb2, node_grpc, records = generate_stubs(out)
        if args.ca:
            channel = grpc.secure_channel(args.node, grpc.ssl_channel_credentials(open(args.ca, "rb").read()))
        else:
            channel = grpc.insecure_channel(args.node)
        client = node_grpc.RecordServiceStub(channel)
        try:
            token = open_session(channel, node_pb2, node_grpc, args.org, args.key, args.certificate)
            metadata = [("authorization", f"Bearer {token}")]
            roll_up = client.GetRollUp(node_pb2.GetRollUpRequest(period=period_message(records, args.period)), metadata=metadata, timeout=30)
            compliance = client.GetCompliance(node_pb2.GetComplianceRequest(school_year=args.period.split("/")[0]), metadata=metadata, timeout=30)
        except grpc.RpcError as error:
            print(f"gRPC error: {error.code().name}: {error.details()}")
            sys.exit(2)
        raw = roll_up.aggregate.envelope
        try:
            payload_type, org, record = open_envelope(raw)
        except (InvalidSignature, ValueError) as error:
            print(f"FAIL: the aggregate's signature does not verify ({error or 'bad signature'})")
            sys.exit(1)
        aggregate = records.Aggregate()
        aggregate.ParseFromString(record)
        cases = sum(aggregate.total_cells[:120])
        print(f"{payload_type} from {org}, record {hashlib.sha256(raw).hexdigest()[:12]}: signature verifies")
        print(f"{aggregate.org_id} {args.period} revision {aggregate.revision}: {cases} incident cases, {aggregate.children} children summed")
        for child in roll_up.children:
            _, child_org, child_record = open_envelope(child.envelope)
            child_aggregate = records.Aggregate()
            child_aggregate.ParseFromString(child_record)
            print(f"  {child_org}: {sum(child_aggregate.total_cells[:120])} incident cases")
        for alert in compliance.alerts:
            print(f"alert: {alert.message}")


if __name__ == "__main__":
    main()
