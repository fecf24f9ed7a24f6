"""Verifies DKIM signatures with dkimpy (Debian's python3-dkim), keys from the test, not DNS.

stdin: {"records": {"sel._domainkey.example.": "v=DKIM1; k=...; p=..."}, "messages": ["base64"...]}
stdout: a JSON list, one entry per message: true when every signature verifies.
"""
import base64
import json
import sys

import dkim

request = json.load(sys.stdin)
records = {name.rstrip(".").lower(): txt.encode() for name, txt in request["records"].items()}


def dnsfunc(name, timeout=5):
    key = name.decode() if isinstance(name, bytes) else name
    return records.get(key.rstrip(".").lower())


results = []
for encoded in request["messages"]:
    message = base64.b64decode(encoded)
    try:
        results.append(bool(dkim.verify(message, dnsfunc=dnsfunc)))
    except Exception as err:  # a verifier error is a failed verification, with its reason
        results.append(str(err))
json.dump(results, sys.stdout)
