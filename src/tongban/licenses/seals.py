"""A department's electronic seal (电子印章): its P-256 key, its X.509 certificate and its image.
Pure: no Django.

The certificate is self-issued by the seal's key, naming the department (its name and unified
social credit code) and the platform that holds the key; trust in it comes from the hub's trust
list, which publishes the key, not from a certificate authority. (A deployment with a national
seal CA replaces ``certificate`` with one the CA signs; nothing else changes.) Key usage:
digital signature and non-repudiation; extended key usage: document signing (RFC 9336), as PDF
validators expect of a signing certificate.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from tongban.licenses.signing import P256Signer, jwk_thumbprint, p256_jwk

DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")  # id-kp-documentSigning, RFC 9336
_SUFFIX = ".pem"


class SealKeyError(LookupError):
    """A seal's key file is missing, unreadable or not a P-256 private key."""


@dataclass(frozen=True)
class SealSubject:
    department: str  # its name, e.g. 重庆市司法局
    code: str  # its unified social credit code ("" while unknown)
    platform: str  # who holds the key, e.g. 重庆市一体化政务服务平台
    division: str  # GB/T 2260 code


def certificate(
    signer: P256Signer, subject: SealSubject, *, not_before: dt.datetime, not_after: dt.datetime
) -> str:
    """The seal's self-issued X.509 certificate, PEM."""
    attributes = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, subject.department),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, subject.platform),
        x509.NameAttribute(NameOID.COMMON_NAME, f"{subject.department} 电子印章"),
        x509.NameAttribute(NameOID.LOCALITY_NAME, subject.division),
    ]
    if subject.code:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, subject.code))
    name = x509.Name(attributes)
    public_key = signer.private_key.public_key()
    built = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(signer.private_key, hashes.SHA256())
    )
    return built.public_bytes(serialization.Encoding.PEM).decode()


def certificate_key_id(pem: str) -> str:
    """The key id (JWK thumbprint) of the key a certificate certifies."""
    key = x509.load_pem_x509_certificate(pem.encode()).public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise SealKeyError("the certificate does not certify a P-256 key")
    return jwk_thumbprint(p256_jwk(key))


# Key files ----------------------------------------------------------------------------------


def save(directory: Path, signer: P256Signer) -> Path:
    """Write the private key as PKCS#8 PEM, readable by this user only; never overwrite."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{signer.kid}{_SUFFIX}"
    data = signer.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    return path


def load(directory: Path, kid: str) -> P256Signer:
    """The signer of seal ``kid`` from its key file; SealKeyError if it cannot be used."""
    if not kid or not all(c.isalnum() or c in "-_" for c in kid):
        raise SealKeyError(f"not a key id: {kid!r}")
    path = directory / f"{kid}{_SUFFIX}"
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as error:
        raise SealKeyError(f"seal key {kid} cannot be read from {path}: {error}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise SealKeyError(f"seal key {kid} is not a P-256 key")
    signer = P256Signer(key, kid)
    if jwk_thumbprint(p256_jwk(key.public_key())) != kid:
        raise SealKeyError(f"the key in {path} is not seal key {kid}")
    return signer


# The image ------------------------------------------------------------------------------------


def image_svg(department: str, *, code: str = "", size: int = 240) -> str:
    """The seal as it is printed: a red ring, a five-pointed star, the department's name along
    the upper arc and its code below, as Chinese official seals are laid out."""
    centre, radius = size / 2, size / 2 - 6
    red = "#d0021b"
    star = _star(centre, centre, size * 0.16)
    text = html.escape(department)
    arc = radius - size * 0.14
    # The name runs along an arc from lower left over the top to lower right.
    start = (centre - arc * math.cos(math.radians(30)), centre + arc * math.sin(math.radians(30)))
    end = (centre + arc * math.cos(math.radians(30)), centre + arc * math.sin(math.radians(30)))
    code_line = (
        f'<text x="{centre:.1f}" y="{centre + size * 0.3:.1f}" font-size="{size * 0.05:.1f}" '
        f'text-anchor="middle" fill="{red}" font-family="sans-serif">{html.escape(code)}</text>'
        if code
        else ""
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}" role="img" aria-label="{text} 电子印章">'
        f'<circle cx="{centre:.1f}" cy="{centre:.1f}" r="{radius:.1f}" fill="none" '
        f'stroke="{red}" stroke-width="{size * 0.035:.1f}"/>'
        f'<path id="arc" fill="none" d="M {start[0]:.1f} {start[1]:.1f} '
        f'A {arc:.1f} {arc:.1f} 0 1 1 {end[0]:.1f} {end[1]:.1f}"/>'
        f'<text font-size="{size * 0.1:.1f}" fill="{red}" font-family="Noto Sans CJK SC, '
        f'sans-serif" font-weight="bold" letter-spacing="{size * 0.012:.1f}">'
        f'<textPath href="#arc" startOffset="50%" text-anchor="middle">{text}</textPath></text>'
        f'<polygon points="{star}" fill="{red}"/>'
        f"{code_line}</svg>"
    )


def _star(cx: float, cy: float, r: float) -> str:
    points = []
    for i in range(10):
        radius = r if i % 2 == 0 else r * 0.382
        angle = math.radians(-90 + i * 36)
        points.append(f"{cx + radius * math.cos(angle):.1f},{cy + radius * math.sin(angle):.1f}")
    return " ".join(points)
