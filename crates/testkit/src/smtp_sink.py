#!/usr/bin/env python3
"""A real SMTP server on loopback for keepup's e-mail tests (started by
keepup-testkit's `smtp::SmtpSink`).

It is aiosmtpd (from PyPI) with a handler that stores every accepted message
in OUT_DIR as N.eml (the raw bytes) and N.json (what Python's standard
e-mail parser reads in it: envelope, headers, the text/plain and text/html
bodies, every leaf MIME part with its content type, disposition, file name
and decoded content, whether TLS and AUTH were used). The JSON is written to a temporary
name and renamed, so a reader never sees half a file. Recipients
nobody@<any domain> are refused with 550.

    smtp_sink.py --dir OUT_DIR [--mode starttls|implicit|none]
                 [--cert CHAIN.pem --key KEY.pem] [--user U --password P] [--port N]

Prints "READY <port>" on stdout once it accepts connections, then serves
until it is killed or its stdin closes.
"""

import argparse
import email
import json
import logging
import os
import socket
import ssl
import sys
import threading
from email import policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class StoringHandler:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.count = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        # A mailbox that does not exist, refused as Postfix refuses one.
        if address.lower().startswith("nobody@"):
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        msg = email.message_from_bytes(raw, policy=policy.default)
        headers = {}
        for name, value in msg.items():
            headers.setdefault(name.lower(), []).append(str(value))
        plain = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        parts = []
        for part in msg.walk():
            if part.is_multipart():
                continue
            payload = part.get_payload(decode=True) or b""
            try:
                content = payload.decode(part.get_content_charset() or "utf-8")
            except (LookupError, UnicodeDecodeError):
                content = None
            parts.append(
                {
                    "content_type": part.get_content_type(),
                    "disposition": part.get_content_disposition(),
                    "filename": part.get_filename(),
                    "size": len(payload),
                    "content": content,
                }
            )
        auth = session.auth_data
        doc = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "headers": headers,
            "content_type": msg.get_content_type(),
            "text": plain.get_content() if plain is not None else None,
            "html": html.get_content() if html is not None else None,
            "parts": parts,
            "tls": session.ssl is not None
            or server.transport.get_extra_info("ssl_object") is not None,
            "authenticated": bool(session.authenticated),
            "auth_user": auth if isinstance(auth, str) else None,
        }
        with open(os.path.join(self.out_dir, "%d.eml" % n), "wb") as f:
            f.write(raw)
        tmp = os.path.join(self.out_dir, "%d.json.tmp" % n)
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f)
        os.rename(tmp, os.path.join(self.out_dir, "%d.json" % n))
        return "250 2.0.0 Ok: queued as KEEPUP%04d" % n


def make_authenticator(user, password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        if (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode("utf-8", "replace") == user
            and auth_data.password.decode("utf-8", "replace") == password
        ):
            return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)

    return authenticate


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    # Failed handshakes and refused logins are what some tests want: keep
    # aiosmtpd from printing a traceback for each.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--mode", choices=["starttls", "implicit", "none"], default="starttls")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--port", type=int, help="listen on this port (default: a free one)")
    args = p.parse_args()

    tls = None
    if args.mode != "none":
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.cert, args.key)

    kwargs = dict(hostname="127.0.0.1", port=args.port or free_port(), server_hostname="sink.keepup.test")
    if args.user:
        kwargs.update(
            authenticator=make_authenticator(args.user, args.password or ""),
            auth_required=True,
            auth_require_tls=args.mode != "none",
        )
    else:
        kwargs.update(auth_require_tls=False)
    if args.mode == "starttls":
        kwargs.update(tls_context=tls, require_starttls=True)
    elif args.mode == "implicit":
        kwargs.update(ssl_context=tls)

    controller = Controller(StoringHandler(args.dir), **kwargs)
    controller.start()
    print("READY %d" % controller.port, flush=True)
    try:
        # Serve until the test closes our stdin (or kills us).
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
