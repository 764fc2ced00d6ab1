#!/usr/bin/env python3
"""Sends exactly TOTAL keep-alive `GET /` requests over CONNS connections
(one outstanding request per connection) and prints how many were answered.

    fixed_requests.py PORT CONNS TOTAL
"""
import selectors
import socket
import sys

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def main():
    port, conns, total = (int(a) for a in sys.argv[1:4])
    sel = selectors.DefaultSelector()
    pending = {}
    sent = done = 0
    for _ in range(min(conns, total)):
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        s.sendall(REQUEST)
        sent += 1
        pending[s] = b""
        sel.register(s, selectors.EVENT_READ)
    while done < total:
        for key, _ in sel.select():
            s = key.fileobj
            data = s.recv(65536)
            if not data:
                sys.exit("the server closed a connection")
            buf = pending[s] + data
            # Take every complete response (head + Content-Length body).
            while (end := buf.find(b"\r\n\r\n")) >= 0:
                head = buf[:end].lower()
                at = head.find(b"content-length:")
                length = int(head[at + 15:].split(b"\r\n")[0]) if at >= 0 else 0
                if len(buf) < end + 4 + length:
                    break
                buf = buf[end + 4 + length:]
                done += 1
                if sent < total:
                    s.sendall(REQUEST)
                    sent += 1
            pending[s] = buf
    print(done)


main()
