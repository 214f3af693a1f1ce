"""A throwaway certificate authority and server certificate for a sandbox.

Clients must trust the sandbox through the CA bundle file, never by turning
verification off, so tests exercise the same TLS checks as production.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# Clock skew between the certificate's start and a client's clock would make
# a fresh certificate "not yet valid", so it starts an hour early.
_BACKDATE = datetime.timedelta(hours=1)
_LIFETIME = datetime.timedelta(days=2)


@dataclass
class SandboxCertificates:
    """Files of one generated CA and server certificate, and a server context.

    ca_bundle is the PEM file that clients pass as their CA bundle. The
    directory and everything in it is removed by remove().
    """

    directory: Path
    ca_bundle: Path
    server_context: ssl.SSLContext

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def generate_certificates(host: str, *, name: str) -> SandboxCertificates:
    """Create a CA and a server certificate for host, 127.0.0.1, ::1 and localhost.

    name labels the certificates and the temporary directory.
    """
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} sandbox CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} sandbox")])
        )
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _LIFETIME)
        .add_extension(x509.SubjectAlternativeName(_names(host)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

    directory = Path(tempfile.mkdtemp(prefix=f"{name}-sandbox-tls-"))
    ca_bundle = directory / "ca.pem"
    chain = directory / "server.pem"
    key_file = directory / "server.key"
    ca_bundle.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    chain.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(chain, key_file)
    return SandboxCertificates(directory, ca_bundle, context)


def _names(host: str) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host and host != "localhost":
            names.append(x509.DNSName(host))
        return names
    if x509.IPAddress(address) not in names:
        names.append(x509.IPAddress(address))
    return names
