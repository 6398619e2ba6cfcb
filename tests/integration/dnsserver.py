#!/usr/bin/env python3
"""A DNS server on loopback for the integration tests: answers A queries from a zone file that
the test edits while it runs, NXDOMAIN for names not in it, and no records for other types.

    dnsserver.py PORT ZONEFILE

ZONEFILE holds lines "name ip"; it is read again for every query, so a test makes a name
resolve by appending a line. Prints "listening <port>" once bound.
"""
import socket
import struct
import sys


def read_zone(path):
    zone = {}
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2:
                    zone[parts[0].lower().rstrip(".")] = parts[1]
    except OSError:
        pass
    return zone


def parse_question(msg):
    """(name, qtype, end offset of the question) of a query."""
    labels, i = [], 12
    while msg[i] != 0:
        n = msg[i]
        labels.append(msg[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    qtype, _ = struct.unpack("!HH", msg[i + 1:i + 5])
    return ".".join(labels).lower(), qtype, i + 5


def answer(msg, zone):
    qid = msg[:2]
    name, qtype, end = parse_question(msg)
    question = msg[12:end]
    ip = zone.get(name)
    if ip is None:
        flags, ancount, records = 0x8183, 0, b""  # NXDOMAIN
    elif qtype == 1:
        flags, ancount = 0x8180, 1
        records = struct.pack("!HHHIH", 0xC00C, 1, 1, 1, 4) + socket.inet_aton(ip)
    else:
        flags, ancount, records = 0x8180, 0, b""  # the name exists, no record of that type
    return qid + struct.pack("!HHHHH", flags, 1, ancount, 0, 0) + question + records


def main():
    port, zonefile = int(sys.argv[1]), sys.argv[2]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    print("listening", port, flush=True)
    while True:
        msg, peer = sock.recvfrom(4096)
        if len(msg) < 17:
            continue
        try:
            sock.sendto(answer(msg, read_zone(zonefile)), peer)
        except (IndexError, struct.error):
            continue


if __name__ == "__main__":
    main()
