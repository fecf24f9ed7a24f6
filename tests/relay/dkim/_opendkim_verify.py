"""Verifies DKIM signatures with OpenDKIM (Debian's opendkim-tools: opendkim-testmsg).

opendkim-testmsg takes keys from DNS only, so this runs in its own network and mount namespace
(`unshare --net --mount`, as root): loopback up, /etc/resolv.conf bound to 127.0.0.1, and a
small DNS server on 127.0.0.1:53 that answers TXT queries with the test's keys. Nothing leaves
the namespace.

stdin: {"records": {"sel._domainkey.example.": "v=DKIM1; ..."}, "messages": ["base64"...]}
stdout: a JSON list, one entry per message: true when opendkim-testmsg verified it, else its
output.
"""
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

request = json.load(sys.stdin)
records = {name.rstrip(".").lower() + ".": txt for name, txt in request["records"].items()}

subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
conf = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
conf.write("nameserver 127.0.0.1\noptions attempts:1 timeout:2\n")
conf.close()
subprocess.run(["mount", "--bind", conf.name, "/etc/resolv.conf"], check=True)

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 53))


def serve():
    while True:
        data, peer = sock.recvfrom(4096)
        query = dns.message.from_wire(data)
        reply = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text().lower()
        txt = records.get(name)
        if txt is not None and question.rdtype == dns.rdatatype.TXT:
            # TXT strings are at most 255 octets each (RFC 1035 §3.3.14): split long keys.
            parts = " ".join('"%s"' % txt[i:i + 255] for i in range(0, len(txt), 255))
            reply.answer.append(dns.rrset.from_text(question.name, 300, "IN", "TXT", parts))
        else:
            reply.set_rcode(dns.rcode.NXDOMAIN)
        sock.sendto(reply.to_wire(), peer)


threading.Thread(target=serve, daemon=True).start()

results = []
for encoded in request["messages"]:
    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write(base64.b64decode(encoded))
        path = f.name
    with open(path, "rb") as message:
        # -C: the message is given with CRLF line ends, as it travelled.
        run = subprocess.run(["opendkim-testmsg", "-C"], stdin=message, capture_output=True)
    os.unlink(path)
    out = (run.stdout + run.stderr).decode(errors="replace").strip()
    results.append(True if run.returncode == 0 else out or "exit %d" % run.returncode)
json.dump(results, sys.stdout)
