#!/usr/bin/env python3
"""A minimal QMP client (stdlib only; socat is not installed).

    from qmp import QMP
    with QMP("/tmp/q.sock") as q:
        print(q.hmp("info mem"))
        q.quit()

Command line:  tools/qmp.py SOCKET 'info mem' ['gva2gpa 0x1000' ...]
prints each human-monitor command's output.
"""
import json
import socket
import sys
import time


class QMPError(Exception):
    pass


class QMP:
    def __init__(self, path, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.buf = b""
        greeting = self._read()
        if "QMP" not in greeting:
            raise QMPError("no QMP greeting: %r" % greeting)
        self.execute("qmp_capabilities")

    def _read(self):
        """Next JSON object from QEMU."""
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise QMPError("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def execute(self, cmd, **args):
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._read()
            if "event" in r:
                continue
            if "error" in r:
                raise QMPError("%s: %s" % (cmd, r["error"]))
            return r.get("return")

    def hmp(self, line):
        """Output of a human monitor command ('info mem', 'gva2gpa 0x..')."""
        return self.execute("human-monitor-command", **{"command-line": line})

    def quit(self):
        try:
            self.execute("quit")
        except (QMPError, OSError):
            pass

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    with QMP(sys.argv[1]) as q:
        for c in sys.argv[2:]:
            sys.stdout.write(q.hmp(c))
