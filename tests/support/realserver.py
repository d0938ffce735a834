"""A tiny real server: answers every GET with its own page (stdlib only).

Stands in for the seed article's two Apache virtual hosts (/var/www/html and
/var/www/real) so round-robin alternation is visible.  Like Red Hat's Apache
of the time (``KeepAlive Off``) it closes the connection after each answer,
so every browser refresh is a new TCP connection that IPVS schedules anew.
Only ``/keepalive`` keeps the connection open (HTTP/1.1), which lets a test
hold one connection across a pulse reload.

    python3 -I realserver.py --bind 192.0.2.1 --port 80 --text "real server 1"
    python3 -I realserver.py --bind :: --port 80 --text "real server 1"   # both families
"""
from __future__ import annotations

import argparse
import html
import socket
import socketserver
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def make_handler(text: str) -> type[BaseHTTPRequestHandler]:
    """A handler class whose page says *text*."""
    # the inline icon stops browsers from fetching /favicon.ico, which would
    # be a second scheduled connection per refresh and break the alternation
    body = (f"<!doctype html><html><head><title>{html.escape(text)}</title>"
            f"<link rel=\"icon\" href=\"data:,\"></head>"
            f"<body><h1 id=\"server\">{html.escape(text)}</h1></body></html>\n").encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "realserver/1"

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            keep = self.path == "/keepalive"
            self.close_connection = not keep
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "keep-alive" if keep else "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_HEAD = do_GET

        def log_message(self, fmt: str, *args: object) -> None:
            sys.stdout.write("%s %s\n" % (self.client_address[0], fmt % args))
            sys.stdout.flush()

    return Handler


class Server(ThreadingHTTPServer):
    """ThreadingHTTPServer without the reverse DNS lookup in server_bind.

    HTTPServer.server_bind calls socket.getfqdn(), which inside an isolated
    namespace waits for resolver timeouts (~8 s under UML).
    """

    daemon_threads = True

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


def main() -> None:
    """Parse arguments and serve forever."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--bind", required=True)
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--text", required=True)
    opts = parser.parse_args()
    # an IPv6 address (or "::", which also takes IPv4 connections: dual stack)
    Server.address_family = socket.AF_INET6 if ":" in opts.bind else socket.AF_INET
    server = Server((opts.bind, opts.port), make_handler(opts.text))
    print(f"serving {opts.text!r} on {opts.bind}:{opts.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
