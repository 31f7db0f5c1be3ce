#!/usr/bin/env bash
# Re-makes the captures in this folder with the real tools, between two network namespaces joined by a veth pair
# and addressed from 198.18.0.0/15 (the scanner 198.18.70.1, the target 198.18.70.2). Needs root, nmap, masscan,
# tcpdump, swaks and python3. Nothing leaves the two namespaces.
# Usage: sudo tests/Moat.Detect.Tests/Captures/make-captures.sh
set -euo pipefail
cd "$(dirname "$0")"
A=mcapa$$ B=mcapb$$
cleanup() { ip netns pids "$B" 2>/dev/null | xargs -r kill 2>/dev/null || true; ip netns del "$A" 2>/dev/null || true; ip netns del "$B" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$A"; ip netns add "$B"
ip -n "$A" link add mcap0 type veth peer name mcap1 netns "$B"
ip -n "$A" addr add 198.18.70.1/24 dev mcap0; ip -n "$B" addr add 198.18.70.2/24 dev mcap1
for n in "$A" "$B"; do ip -n "$n" link set lo up; done
ip -n "$A" link set mcap0 up; ip -n "$B" link set mcap1 up
# The target answers a few services: TCP 22 and 80, UDP 53 and 123 (echo), and SMTP on 25 (python's smtpd, which
# accepts and discards every message).
ip netns exec "$B" python3 -c '
import socket, threading
def tcp(p):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("198.18.70.2", p)); s.listen(64)
    while True:
        c, _ = s.accept(); c.close()
def udp(p):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("198.18.70.2", p))
    while True:
        d, a = s.recvfrom(2048); s.sendto(d or b"x", a)
for p in (22, 80): threading.Thread(target=tcp, args=(p,), daemon=True).start()
for p in (53, 123): threading.Thread(target=udp, args=(p,), daemon=True).start()
threading.Event().wait()' &
ip netns exec "$B" python3 -W ignore -m smtpd -n -c DebuggingServer 198.18.70.2:25 >/dev/null 2>&1 &
sleep 1
MAC_B=$(ip -n "$B" -j link show mcap1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')

capture() { # name, command...
  local name=$1; shift
  ip netns exec "$A" tcpdump -i mcap0 -s 256 -U -w "$name.pcap" 2>/dev/null & local dump=$!
  sleep 1
  ip netns exec "$A" "$@" >/dev/null 2>&1 || true
  sleep 1; kill "$dump"; wait "$dump" 2>/dev/null || true
  echo "$name.pcap: $(stat -c %s "$name.pcap") bytes"
}

capture nmap-udp-scan    nmap -n -Pn -sU -p 1-60 --max-retries 1 -T4 198.18.70.2
capture nmap-fin-scan    nmap -n -Pn -sF -p 1-1000 -T4 198.18.70.2
capture nmap-ack-scan    nmap -n -Pn -sA -p 1-1000 -T4 198.18.70.2
capture nmap-window-scan nmap -n -Pn -sW -p 1-1000 -T4 198.18.70.2
capture nmap-proto-scan  nmap -n -Pn -sO --max-retries 1 -T4 198.18.70.2
capture masscan-udp-scan masscan 198.18.70.2 --adapter mcap0 --adapter-ip 198.18.70.1 --router-mac "$MAC_B" -pU:1-100 --rate 2000 --wait 2
# Mail: one ordinary message (must stay silent) and a burst of 40 messages of 10 recipients each through one server.
capture swaks-one-message swaks --server 198.18.70.2 --from alice@moat.test --to bob@moat.test --body "hello"
capture swaks-mass-mail bash -c 'for i in $(seq 1 40); do swaks --server 198.18.70.2 --from promo@moat.test --to "$(seq -s, -f "u%g@moat.test" 1 10)" --body "offer $i" || exit 1; done'
