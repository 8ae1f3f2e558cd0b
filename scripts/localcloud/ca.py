"""The local cloud's certificate authority: created at start, it signs the certificates of
the HTTPS endpoints the local cloud serves (CloudFront domains and their aliases). Its
certificate is the ready file's `ca_bundle`; instances trust it as well."""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from moto_patches.cloudfront import covers


class Authority:
    def __init__(self, folder: Path):
        self.folder = folder
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "modu local cloud CA")])
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                    key_encipherment=False, data_encipherment=False, key_agreement=False,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )
        self.bundle = folder / "ca.pem"
        self.bundle.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        # What Chromium's --ignore-certificate-errors-spki-list takes: the base64 SHA-256 of
        # the CA's public key, which every chain the cloud serves ends with.
        key = self.certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.spki_sha256 = base64.b64encode(hashlib.sha256(key).digest()).decode()

    def issue(self, names: list[str], stem: str) -> tuple[Path, Path]:
        """A server certificate for `names` (wildcards allowed); returns (cert, key) files."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        alternatives = []
        for name in names:
            try:
                alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alternatives.append(x509.DNSName(name))
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        cert_path = self.folder / f"{stem}.crt"
        key_path = self.folder / f"{stem}.key"
        # The whole chain, so a client may check the issuer by its key too.
        cert_path.write_bytes(
            certificate.public_bytes(serialization.Encoding.PEM) + self.certificate.public_bytes(serialization.Encoding.PEM)
        )
        key_path.write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        key_path.chmod(0o600)
        return cert_path, key_path


class Certificates:
    """The TLS context a viewer of a distribution gets for the name it asked for: the
    distribution's own domain, or an alias when the distribution has a certificate for its
    aliases (its ACM certificate covers the name). Any other name gets CloudFront's default *.cloudfront.net certificate, which a
    client checking the name refuses, as it would on AWS."""

    def __init__(self, authority: Authority):
        self.authority = authority
        self.contexts: dict = {}

    def context(self, names: tuple) -> ssl.SSLContext:
        if names not in self.contexts:
            stem = "cert-" + str(len(self.contexts))
            cert, key = self.authority.issue(list(names), stem)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(cert, key)
            context.set_alpn_protocols(["http/1.1"])
            self.contexts[names] = context
        return self.contexts[names]

    def for_listener(self, listener) -> ssl.SSLContext:
        """What a load balancer's HTTPS listener presents, whatever name was asked for: its
        ACM certificate (ELB has no default certificate; a listener's that is not issued is
        shown as a name no client accepts)."""
        return self.context(tuple(listener.certificate_names) or ("certificate-not-issued.invalid",))

    def for_viewer(self, name: str, distribution) -> ssl.SSLContext:
        name = name.rstrip(".").lower()
        if name == distribution.domain:
            return self.context(("*.cloudfront.net",))
        if name in distribution.aliases and covers(distribution.certificate_names, name):
            return self.context((name,))
        return self.context(("*.cloudfront.net",))
