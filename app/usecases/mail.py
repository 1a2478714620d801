"""Email from the site (password resets): by SMTP when `PODIUM_SMTP_URL` is set, else into an outbox folder.

Without a mail server every message is written to `PODIUM_DATA_DIR/outbox/` as one `.eml` file (readable only
by the site's user: a reset link in it is a credential), which an operator can read or forward. With one,
messages are sent by smtplib in a thread of their own, so that how long a request takes does not tell whether a
message was sent (a reset asked for an address no account has sends nothing).

`PODIUM_SMTP_URL`: `smtp://[user:password@]host[:port]` (STARTTLS when the server offers it) or
`smtps://[user:password@]host[:port]` (TLS from the start).
"""

from __future__ import annotations

import logging
import secrets
import smtplib
import ssl
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlparse

from app.config import Settings
from app.models._types import utcnow

log = logging.getLogger(__name__)
SMTP_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Mailer:
    outbox: Path
    sender: str
    smtp_url: str | None = None

    def send(self, to: str, subject: str, body: str) -> Path | None:
        """Send (or write) one plain-text message; returns the outbox file it was written to, if any."""
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, to, subject
        message.set_content(body)
        if self.smtp_url:
            threading.Thread(target=self._send_by_smtp, args=(message,), name="podium-mail", daemon=True).start()
            return None
        return self._write_to_outbox(message)

    def _write_to_outbox(self, message: EmailMessage) -> Path:
        self.outbox.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.outbox / f"{utcnow().strftime('%Y%m%dT%H%M%S%fZ')}-{secrets.token_hex(4)}.eml"
        path.touch(mode=0o600)
        path.write_bytes(message.as_bytes())
        return path

    def _send_by_smtp(self, message: EmailMessage) -> None:
        assert self.smtp_url is not None
        url = urlparse(self.smtp_url)
        host = url.hostname or "localhost"
        try:
            if url.scheme == "smtps":
                client: smtplib.SMTP = smtplib.SMTP_SSL(host, url.port or 465, timeout=SMTP_TIMEOUT_SECONDS,
                                                        context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(host, url.port or 25, timeout=SMTP_TIMEOUT_SECONDS)
            with client:
                if url.scheme == "smtp":
                    client.ehlo()
                    if client.has_extn("starttls"):
                        client.starttls(context=ssl.create_default_context())
                        client.ehlo()
                if url.username:
                    client.login(unquote(url.username), unquote(url.password or ""))
                client.send_message(message)
            log.info("mail %r sent to %s by SMTP (%s)", message["Subject"], message["To"], host)
        except (OSError, smtplib.SMTPException):
            log.exception("mail %r to %s could not be sent by SMTP (%s)", message["Subject"], message["To"], host)


def mailer_for(settings: Settings) -> Mailer:
    return Mailer(outbox=settings.data_dir / "outbox", sender=settings.mail_from, smtp_url=settings.smtp_url)
