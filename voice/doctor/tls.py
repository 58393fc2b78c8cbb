"""The TLS certificate the bot serves: loads with its key, names the host, not expired.

Knowlarity connects over WSS only, and it verifies the certificate like any TLS client:
a certificate for another name, an expired one, or a key that does not belong to it all
end in a handshake failure the developer never sees (the call just never arrives).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from voice.doctor.result import CheckResult, fail, ok, warn

EXPIRY_WARN_DAYS = 14


def _names(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) the certificate is valid for."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = [str(n) for n in san.get_values_for_type(x509.DNSName)]
        ips = [str(i) for i in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        dns, ips = [], []
    if not dns and not ips:  # legacy: the common name
        dns = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return dns, ips


def name_matches(host: str, dns: list[str], ips: list[str]) -> bool:
    host = host.strip("[]").lower().rstrip(".")
    try:
        return str(ipaddress.ip_address(host)) in {str(ipaddress.ip_address(i)) for i in ips}
    except ValueError:
        pass
    for name in dns:
        name = name.lower().rstrip(".")
        if name == host:
            return True
        if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
            return True
    return False


def check_tls(cert_path: Path, key_path: Path, host: str | None, *,
              now: dt.datetime | None = None) -> list[CheckResult]:
    """Results for a configured certificate/key pair; `host` is the name callers use, if known."""
    out: list[CheckResult] = []
    for label, path, flag in (("certificate", cert_path, "--cert / TLS_CERT"), ("key", key_path, "--key / TLS_KEY")):
        if not Path(path).is_file():
            return [fail("tls", f"TLS {label} file not found: {path}", f"give the right path ({flag})")]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(str(cert_path), str(key_path))
    except ssl.SSLError as exc:
        mismatch = "KEY_VALUES_MISMATCH" in str(exc) or "key values mismatch" in str(exc).lower()
        what = ("the key does not belong to the certificate" if mismatch
                else f"cannot load the certificate/key ({exc.reason or exc})")
        return [fail("tls", f"TLS: {what}", "give the certificate and the private key issued with it (PEM)")]
    except OSError as exc:
        return [fail("tls", f"TLS: cannot read the certificate/key: {exc.strerror or exc}", "check the files' permissions")]
    try:
        cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    except ValueError as exc:
        return [fail("tls", f"TLS: the certificate is not PEM X.509: {exc}", "give a PEM certificate")]
    out.append(ok("tls", f"TLS certificate and key load and belong together ({cert_path})"))
    now = now or dt.datetime.now(dt.UTC)
    not_after, not_before = cert.not_valid_after_utc, cert.not_valid_before_utc
    if now >= not_after:
        out.append(fail("tls.expiry", f"TLS certificate expired on {not_after:%Y-%m-%d %H:%M} UTC",
                        "renew it (e.g. certbot renew) and restart the bot"))
    elif now < not_before:
        out.append(fail("tls.expiry", f"TLS certificate is not valid before {not_before:%Y-%m-%d %H:%M} UTC",
                        "check the server's clock, or issue a certificate valid now"))
    elif not_after - now < dt.timedelta(days=EXPIRY_WARN_DAYS):
        days = (not_after - now).days
        out.append(warn("tls.expiry", f"TLS certificate expires in {days} day{'s' * (days != 1)} ({not_after:%Y-%m-%d})",
                        "renew it before then"))
    else:
        out.append(ok("tls.expiry", f"TLS certificate valid until {not_after:%Y-%m-%d}"))
    dns, ips = _names(cert)
    shown = ", ".join(dns + ips) or "no names"
    if host is None:
        out.append(warn("tls.name", f"TLS certificate names {shown}; the public host is unknown",
                        "give --public-url wss://HOST/PATH to check the certificate against it"))
    elif name_matches(host, dns, ips):
        out.append(ok("tls.name", f"TLS certificate matches {host}"))
    else:
        out.append(fail("tls.name", f"TLS certificate is for {shown}, not {host}: Knowlarity will refuse the handshake",
                        f"issue a certificate for {host} (or use the host the certificate names)"))
    return out
