#!/usr/bin/env python3
# notify-listen.py SOCKET OUT SECONDS [LAST]: stand in for systemd's
# NOTIFY_SOCKET and append every sd_notify datagram gigapoold sends to OUT,
# one per line with newlines inside a datagram shown as '|'.  It stops after
# the line LAST (STOPPING=1, the daemon's last word unless it stops during
# moves) or after SECONDS at most: a fixed listening time lost the last
# datagrams on a loaded machine.  A test that wants what a daemon sends after
# STOPPING=1 sends LAST itself once the daemon has exited.
import socket
import sys
import time

path, out, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
last = sys.argv[4] if len(sys.argv) > 4 else "STOPPING=1"
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
end = time.monotonic() + seconds
with open(out, "a", buffering=1) as f:
    while time.monotonic() < end:
        s.settimeout(max(0.01, end - time.monotonic()))
        try:
            note = s.recv(4096).decode()
        except socket.timeout:
            continue
        f.write(note.replace("\n", "|") + "\n")
        if last in note.split("\n"):
            break
