"""Settings from the environment (``PODIUM_*``), typed and validated in one place.

Embedded defaults: SQLite and a local storage directory under ``PODIUM_DATA_DIR``. PostgreSQL and S3
are one variable away (``PODIUM_DATABASE_URL``, ``PODIUM_STORAGE_URL``).
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ENV_PREFIX = "PODIUM_"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable and what to do."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    redis_url: str
    storage_url: str
    s3_endpoint_url: str | None
    secret_key: str
    queue_name: str
    max_upload_bytes: int
    docker_base_url: str | None
    worker_cache_dir: Path
    web_host: str
    web_port: int
    public_url: str
    lease_seconds: int = 60
    max_infrastructure_faults: int = 3
    retry_backoff_seconds: int = 10
    reconcile_seconds: int = 15
    # An upload still being checked or stored after this long was abandoned (its web process died).
    stale_upload_seconds: int = 3600
    # Labels this installation's containers; housekeeping never touches another installation's (or another
    # test database's) containers on a shared engine. Default: derived from the database URL.
    runner_scope: str = ""
    # Mail (password resets): SMTP when set (smtp:// or smtps://), else .eml files in data_dir/outbox.
    smtp_url: str | None = None
    mail_from: str = "Podium <podium@localhost>"
    # Prices of a run's resources, set by the operator (docs/operations.md, "Time and cost per case"): per
    # CPU-hour, per GiB-hour of peak memory, per GPU-hour, in price_currency. None: no cost is shown.
    price_cpu_hour: float | None = None
    price_gb_hour: float | None = None
    price_gpu_hour: float | None = None
    price_currency: str = ""
    # Algorithm images kept on a worker's engine after their runs (runners/image_cache.py): total size (MiB; 0 keeps
    # none) and the days an unused one stays.
    image_cache_mb: int = 10_240
    image_cache_days: int = 7
    # Staged test sets on a worker's disk (app/pipeline/stage_cache.py): total size in MiB, least recently used out.
    stage_cache_mb: int = 20_480
    # When set, GET /metrics (Prometheus) needs "Authorization: Bearer <token>"; otherwise it is open.
    metrics_token: str | None = None
    # Mount the RQ dashboard at /admin/rq for site admins (PODIUM_RQ_DASHBOARD=1; docs/operations.md).
    rq_dashboard: bool = False
    # A site's own machine (docs/sites.md): its name, and the storage only its workers reach (file:// or
    # s3://bucket[/prefix]) with that storage's own endpoint and credentials. None: not a site's machine.
    site_name: str | None = None
    site_storage_url: str | None = None
    site_s3_endpoint_url: str | None = None
    site_s3_access_key_id: str | None = None
    site_s3_secret_access_key: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        data_dir = Path(_get(env, "DATA_DIR", "var")).expanduser().resolve()
        database_url = _get(env, "DATABASE_URL", f"sqlite:///{data_dir / 'podium.db'}")
        _check_scheme("DATABASE_URL", database_url, ("sqlite", "postgresql", "postgresql+psycopg"))
        if database_url.startswith("postgresql://"):
            database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]
        redis_url = _get(env, "REDIS_URL", "redis://127.0.0.1:6379/0")
        _check_scheme("REDIS_URL", redis_url, ("redis", "rediss", "unix"))
        storage_url = _get(env, "STORAGE_URL", f"file://{data_dir / 'storage'}")
        _check_scheme("STORAGE_URL", storage_url, ("file", "s3"))
        if storage_url.startswith("s3://") and not urlparse(storage_url).netloc:
            raise SettingsError("PODIUM_STORAGE_URL: an S3 URL needs a bucket, e.g. s3://podium/prefix")
        web_port = _get_int(env, "WEB_PORT", 5000, minimum=1, maximum=65535)
        web_host = _get(env, "WEB_HOST", "127.0.0.1")
        public_url = _get(env, "PUBLIC_URL", f"http://{web_host}:{web_port}").rstrip("/")
        smtp_url = env.get(ENV_PREFIX + "SMTP_URL", "").strip() or None
        site_storage_url = env.get(ENV_PREFIX + "SITE_STORAGE_URL", "").strip() or None
        if site_storage_url is not None:
            _check_scheme("SITE_STORAGE_URL", site_storage_url, ("file", "s3"))
            if site_storage_url.startswith("s3://") and not urlparse(site_storage_url).netloc:
                raise SettingsError("PODIUM_SITE_STORAGE_URL: an S3 URL needs a bucket, e.g. s3://site-a/podium")
        if bool(env.get(ENV_PREFIX + "SITE_S3_ACCESS_KEY_ID", "").strip()) != bool(
                env.get(ENV_PREFIX + "SITE_S3_SECRET_ACCESS_KEY", "").strip()):
            raise SettingsError("PODIUM_SITE_S3_ACCESS_KEY_ID and PODIUM_SITE_S3_SECRET_ACCESS_KEY go together: set "
                                "both (the site storage's own credentials) or neither")
        if smtp_url is not None:
            _check_scheme("SMTP_URL", smtp_url, ("smtp", "smtps"))
        return cls(
            data_dir=data_dir,
            database_url=database_url,
            redis_url=redis_url,
            storage_url=storage_url,
            s3_endpoint_url=env.get(ENV_PREFIX + "S3_ENDPOINT_URL") or None,
            secret_key=env.get(ENV_PREFIX + "SECRET_KEY") or _persistent_secret(data_dir),
            queue_name=_get(env, "QUEUE", "podium"),
            max_upload_bytes=_get_int(env, "MAX_UPLOAD_BYTES", 4 * 1024**3, minimum=1024),
            docker_base_url=env.get(ENV_PREFIX + "DOCKER_URL") or None,
            worker_cache_dir=Path(_get(env, "WORKER_CACHE_DIR", str(data_dir / "worker-cache"))).resolve(),
            web_host=web_host,
            web_port=web_port,
            public_url=public_url,
            lease_seconds=_get_int(env, "LEASE_SECONDS", 60, minimum=2),
            max_infrastructure_faults=_get_int(env, "MAX_INFRASTRUCTURE_FAULTS", 3, minimum=1),
            retry_backoff_seconds=_get_int(env, "RETRY_BACKOFF_SECONDS", 10, minimum=0),
            reconcile_seconds=_get_int(env, "RECONCILE_SECONDS", 15, minimum=1),
            stale_upload_seconds=_get_int(env, "STALE_UPLOAD_SECONDS", 3600, minimum=60),
            runner_scope=_get(env, "RUNNER_SCOPE",
                              "podium-" + hashlib.sha256(database_url.encode()).hexdigest()[:12]),
            smtp_url=smtp_url,
            mail_from=_get(env, "MAIL_FROM", f"Podium <podium@{urlparse(public_url).hostname or 'localhost'}>"),
            price_cpu_hour=_get_price(env, "PRICE_CPU_HOUR"),
            price_gb_hour=_get_price(env, "PRICE_GB_HOUR"),
            price_gpu_hour=_get_price(env, "PRICE_GPU_HOUR"),
            price_currency=env.get(ENV_PREFIX + "PRICE_CURRENCY", "").strip(),
            metrics_token=env.get(ENV_PREFIX + "METRICS_TOKEN", "").strip() or None,
            image_cache_mb=_get_int(env, "IMAGE_CACHE_MB", 10_240, minimum=0),
            image_cache_days=_get_int(env, "IMAGE_CACHE_DAYS", 7, minimum=0),
            stage_cache_mb=_get_int(env, "STAGE_CACHE_MB", 20_480, minimum=1),
            rq_dashboard=env.get(ENV_PREFIX + "RQ_DASHBOARD", "").strip().lower() in ("1", "true", "yes"),
            site_name=env.get(ENV_PREFIX + "SITE", "").strip() or None,
            site_storage_url=site_storage_url,
            site_s3_endpoint_url=env.get(ENV_PREFIX + "SITE_S3_ENDPOINT_URL", "").strip() or None,
            site_s3_access_key_id=env.get(ENV_PREFIX + "SITE_S3_ACCESS_KEY_ID", "").strip() or None,
            site_s3_secret_access_key=env.get(ENV_PREFIX + "SITE_S3_SECRET_ACCESS_KEY", "").strip() or None,
        )

    @property
    def stage_cache_bytes(self) -> int:
        return self.stage_cache_mb * 1024 * 1024

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _get(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(ENV_PREFIX + name, "").strip()
    return value or default


def _get_int(env: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
    raw = env.get(ENV_PREFIX + name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{ENV_PREFIX}{name}={raw!r} is not a whole number") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"at least {minimum}" + (f" and at most {maximum}" if maximum is not None else "")
        raise SettingsError(f"{ENV_PREFIX}{name}={value} is out of range; it must be {bounds}")
    return value


def _get_price(env: Mapping[str, str], name: str) -> float | None:
    """A price (a number, zero or more) or None when the variable is unset or empty."""
    raw = env.get(ENV_PREFIX + name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{ENV_PREFIX}{name}={raw!r} is not a number; give a price such as 0.05") from None
    if not math.isfinite(value) or value < 0:
        raise SettingsError(f"{ENV_PREFIX}{name}={raw!r} must be a finite price of zero or more")
    return value


def _check_scheme(name: str, url: str, schemes: tuple[str, ...]) -> None:
    scheme = urlparse(url).scheme
    if scheme not in schemes:
        raise SettingsError(
            f"{ENV_PREFIX}{name}={url!r} has scheme {scheme!r}; use one of: {', '.join(schemes)}"
        )


def _persistent_secret(data_dir: Path) -> str:
    """A secret key kept in the data directory so sessions survive restarts of a single-machine install."""
    path = data_dir / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32)
        path.write_text(key)
        path.chmod(0o600)
        return key
