"""Where a participant's commands find their site and API token: options, then environment, then a config file.

`podium login` writes the file ($XDG_CONFIG_HOME/podium/config.toml, or ~/.config/podium/config.toml) with mode
0600; `podium logout` removes it. The file's token is sent only to the site it was stored for: a command pointed
at another address (--url, PODIUM_URL) needs a token of its own, so a stored token never leaks to another site.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

URL_VARIABLE, TOKEN_VARIABLE = "PODIUM_URL", "PODIUM_TOKEN"
# The server's own address (`podium web` on this machine), as the older `podium submit` used it.
SERVER_URL_VARIABLE, LOCAL_SITE = "PODIUM_PUBLIC_URL", "http://127.0.0.1:5000"
DEFAULT_FROM = "the default: a site on this machine"


class ConfigError(RuntimeError):
    """The credentials cannot be found or used; the message says what to do."""


@dataclass(frozen=True)
class Credentials:
    url: str
    token: str | None
    url_from: str  # where each came from, in words: "--url", "PODIUM_URL", the config file's path, ...
    token_from: str | None


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """$XDG_CONFIG_HOME/podium/config.toml; ~/.config/podium/config.toml when that is unset, empty or relative
    (the XDG base directory spec ignores relative paths)."""
    env = os.environ if env is None else env
    xdg = env.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path(env.get("HOME") or Path.home()) / ".config"
    return base / "podium" / "config.toml"


def normalise_url(url: str) -> str:
    """A site's address as stored and compared: http(s) with a host, without a trailing slash."""
    url = url.strip().rstrip("/")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"{url!r} is not a site address; give it with http:// or https://, "
                          "e.g. https://podium.example.org")
    return url


def read_config(path: Path) -> dict[str, str]:
    """The stored url and token ({} when there is no file)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); run `podium login` to write it again") from None
    return {key: value for key, value in data.items() if key in ("url", "token") and isinstance(value, str)}


def write_config(path: Path, url: str, token: str) -> None:
    """Replace the file at once (a temporary file renamed over it), readable and writable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = ("# Written by `podium login`. It holds a personal API token: keep it private (mode 0600).\n"
            f"url = {_toml_string(url)}\ntoken = {_toml_string(token)}\n")
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def remove_config(path: Path) -> bool:
    """Remove the file; False when there was none."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def is_private(path: Path) -> bool:
    return path.stat().st_mode & 0o077 == 0


def resolve(url: str | None, token: str | None, env: Mapping[str, str] | None = None, *,
            need_token: bool = True) -> Credentials:
    """The site and token for a command: --url/--token, then PODIUM_URL/PODIUM_TOKEN, then the config file (whose
    token goes only to its own site); the site falls back to PODIUM_PUBLIC_URL, then the local `podium web`."""
    env = os.environ if env is None else env
    path = config_path(env)
    stored = read_config(path)
    env_url, env_token = env.get(URL_VARIABLE, "").strip(), env.get(TOKEN_VARIABLE, "").strip()
    stored_url = normalise_url(stored["url"]) if stored.get("url") else None

    if url:
        site, site_from = normalise_url(url), "--url"
    elif env_url:
        site, site_from = normalise_url(env_url), URL_VARIABLE
    elif stored_url:
        site, site_from = stored_url, str(path)
    elif env.get(SERVER_URL_VARIABLE, "").strip():
        site, site_from = normalise_url(env[SERVER_URL_VARIABLE]), SERVER_URL_VARIABLE
    else:
        site, site_from = LOCAL_SITE, DEFAULT_FROM

    secret, secret_from = None, None
    if token:
        secret, secret_from = token.strip(), "--token"
    elif env_token:
        secret, secret_from = env_token, TOKEN_VARIABLE
    elif stored.get("token") and stored_url == site:
        secret, secret_from = stored["token"], str(path)
    if need_token and not secret:
        login = "podium login" if site == stored_url else \
            "podium login --url SITE" if site_from == DEFAULT_FROM else f"podium login --url {site}"
        raise ConfigError(f"no API token for {site}: run `{login}` (or pass --token, or set {TOKEN_VARIABLE}); "
                          "make a token on the site's Tokens page")
    return Credentials(url=site, token=secret, url_from=site_from, token_from=secret_from)


def _toml_string(value: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    escaped = []
    for char in value:
        if char in ('"', "\\"):
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04X}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'
