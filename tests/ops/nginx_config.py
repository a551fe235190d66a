"""Render ops/nginx for loopback ports and start Debian's nginx with it.

The nginx tests and the Locust runner under bench/ both run nginx in front
of live `seatline serve` processes, with a CA and a server certificate made
here. Nothing here imports pytest.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import re
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.live import LiveServer

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "ops" / "nginx" / "seatline.conf.template"
UPSTREAMS = ROOT / "ops" / "nginx" / "upstreams.compose.conf"
# The per-address limit_req and limit_conn lines inside the locations.
_LOCATION_LIMITS = re.compile(
    r"^[ \t]+limit_(?:req zone=seatline_requests|conn seatline_connections)\b.*\n",
    re.MULTILINE,
)


def render(template: str, values: dict[str, str]) -> str:
    """Replace ${NAME} as envsubst does; nginx's own $name stays."""

    def substitute(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return re.sub(r"\$\{([A-Z_]+)\}", substitute, template)


def write_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """Write a CA and a certificate for 127.0.0.1 and localhost it signed."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "seatline test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
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

    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

    ca_file = directory / "ca.pem"
    cert_file = directory / "server.pem"
    key_file = directory / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, cert_file, key_file


def upstream_parameters() -> str:
    """Return the parameters of the shipped upstream lines, such as max_fails."""
    for line in UPSTREAMS.read_text().splitlines():
        if line.startswith("server "):
            return line.removesuffix(";").split(maxsplit=2)[2]
    raise AssertionError(f"{UPSTREAMS} has no server line")


def write_nginx_config(
    directory: Path,
    servers: list[LiveServer],
    ports: tuple[int, int],
    *,
    worker_connections: int = 512,
    per_address_limits: bool = True,
) -> tuple[Path, Path]:
    """Write the main config, the rendered template and the upstreams.

    Without `per_address_limits`, the locations lose their limit_req and
    limit_conn lines: a load test sends every request from one address.
    """
    ca_file, cert_file, key_file = write_certificates(directory)
    upstreams = directory / "upstreams.conf"
    upstreams.write_text(
        "".join(
            f"server {server.url.removeprefix('http://')} {upstream_parameters()};\n"
            for server in servers
        )
    )

    access_log = directory / "access.log"
    site = directory / "seatline.conf"
    template = TEMPLATE.read_text()
    if not per_address_limits:
        template = _LOCATION_LIMITS.sub("", template)
    site.write_text(
        render(
            template,
            {
                "SEATLINE_HTTP_PORT": f"127.0.0.1:{ports[0]}",
                "SEATLINE_HTTPS_PORT": f"127.0.0.1:{ports[1]}",
                "SEATLINE_SERVER_NAME": "localhost",
                "SEATLINE_TLS_CERTIFICATE": str(cert_file),
                "SEATLINE_TLS_CERTIFICATE_KEY": str(key_file),
                "SEATLINE_UPSTREAMS_FILE": str(upstreams),
                "SEATLINE_ACCESS_LOG": str(access_log),
            },
        )
    )
    temp = {
        name: directory / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")
    }
    for path in temp.values():
        path.mkdir()
    # Started by root, nginx runs its workers as the unprivileged user
    # "nobody", which cannot enter pytest's private temporary directory.
    user = "user root;\n" if os.geteuid() == 0 else ""
    main = directory / "nginx.conf"
    main.write_text(
        f"{user}worker_processes 1;\n"
        f"pid {directory / 'nginx.pid'};\n"
        f"error_log {directory / 'error.log'} info;\n"
        f"events {{ worker_connections {worker_connections}; }}\n"
        "http {\n"
        f"  client_body_temp_path {temp['body']};\n"
        f"  proxy_temp_path {temp['proxy']};\n"
        f"  fastcgi_temp_path {temp['fastcgi']};\n"
        f"  uwsgi_temp_path {temp['uwsgi']};\n"
        f"  scgi_temp_path {temp['scgi']};\n"
        f"  include {site};\n"
        "}\n"
    )
    return main, ca_file


async def wait_for_nginx(url: str, process: asyncio.subprocess.Process) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(100):
            if process.returncode is not None:
                raise RuntimeError(f"nginx exited with {process.returncode}")
            try:
                if (await client.get(f"{url}/nginx-health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("nginx did not start")
