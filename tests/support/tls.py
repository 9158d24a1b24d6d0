"""A local HTTPS server for transport tests: a certificate for a chosen host name from a CA of the
test's own (not in any trust store), with the SNI names and request paths it saw."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class TlsServer:
    server: ThreadingHTTPServer
    ca: str                                          # the CA file that signed the server's certificate
    sni: list[str] = field(default_factory=list)     # server names the clients asked for
    seen: list[str] = field(default_factory=list)    # request paths that got past the handshake

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _cert(subject, issuer, key, signer, *extensions):
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
               .not_valid_after(now + dt.timedelta(days=1)))
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(signer, hashes.SHA256())


def tls_server(folder: Path, name: str) -> TlsServer:
    """Serve ``{"resourceType": "Patient", "id": "p"}`` over HTTPS on 127.0.0.1 (keep-alive) with a
    certificate for ``name``; stop it with ``close()``."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "painpa test CA")])
    ca = _cert(ca_name, ca_name, ca_key, ca_key, (x509.BasicConstraints(ca=True, path_length=None), True))
    leaf = _cert(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]), ca_name, key, ca_key,
                 (x509.SubjectAlternativeName([x509.DNSName(name)]), False))
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    sni: list[str] = []
    seen: list[str] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "leaf.pem", folder / "key.pem")
    context.sni_callback = lambda _sock, server_name, _ctx: sni.append(server_name)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 - http.server's name
            seen.append(self.path)
            body = json.dumps({"resourceType": "Patient", "id": "p"}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return TlsServer(server, str(folder / "ca.pem"), sni, seen)
