"""Configuration from the environment (PIRANHA_*) plus the instance directory.

The one module that reads the environment: the console gets everything
through ``build_config`` (app.config), the command-line tools through the
helpers below.

There is no literal secret fallback: the secret key comes from
``PIRANHA_SECRET_KEY`` or from ``<instance>/secret_key`` (created 0600 on
first start), so two installs never share one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from .instance import read_or_create_secret

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LVS_CF = "/etc/sysconfig/ha/lvs.cf"
DEFAULT_BIND = "127.0.0.1:3636"
SYSTEM_INSTANCE = "/var/lib/piranha"


def running_from_checkout() -> bool:
    """True when the package sits in a source checkout (setup.cfg beside it)."""
    return (PROJECT_ROOT / "setup.cfg").is_file() and (PROJECT_ROOT / "piranha_web").is_dir()


def default_instance_path() -> Path:
    """``<checkout>/instance`` from a checkout, else /var/lib/piranha."""
    return PROJECT_ROOT / "instance" if running_from_checkout() else Path(SYSTEM_INSTANCE)


def instance_path(env: dict[str, str] | None = None) -> Path:
    """The instance directory: DB, secret key, pulse pid/status files."""
    env = os.environ if env is None else env
    return Path(env.get("PIRANHA_INSTANCE") or default_instance_path()).resolve()


def lvs_cf_path(env: Mapping[str, str] | None = None) -> str:
    """The lvs.cf the console publishes and the tools read: $PIRANHA_LVS_CF or DEFAULT_LVS_CF."""
    return (os.environ if env is None else env).get("PIRANHA_LVS_CF") or DEFAULT_LVS_CF


def bind_address(env: Mapping[str, str] | None = None) -> str:
    """Where piranha-gui listens: $PIRANHA_BIND or DEFAULT_BIND."""
    return (os.environ if env is None else env).get("PIRANHA_BIND") or DEFAULT_BIND


def pulse_runtime_dir(env: Mapping[str, str] | None = None, instance: Path | None = None) -> Path:
    """pulse's runtime dir as the console sees it: $PIRANHA_PULSE_RUNTIME, else the instance dir."""
    env = os.environ if env is None else env
    return Path(env.get("PIRANHA_PULSE_RUNTIME") or instance or instance_path(dict(env)))


def flag(value: Any) -> bool:
    """A yes/no setting: 1, true, yes, on (any case) mean yes."""
    return str(value if value is not None else "").strip().lower() in ("1", "true", "yes", "on")


def read_or_create_secret_key(instance: Path) -> str:
    """Read ``instance/secret_key``; create it 0600 (race-safe with O_EXCL) if absent."""
    return read_or_create_secret(instance / "secret_key")


def build_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """All settings the app uses; ``overrides`` (tests) win over the environment."""
    overrides = dict(overrides or {})
    env = os.environ
    inst = Path(overrides.get("INSTANCE_PATH") or instance_path()).resolve()
    cfg: dict[str, Any] = {
        "INSTANCE_PATH": str(inst),
        "DATABASE_URL": env.get("PIRANHA_DATABASE_URL") or f"sqlite:///{inst / 'piranha.db'}",
        "LVS_CF": lvs_cf_path(env),
        # Trust one reverse proxy's X-Forwarded-* headers (security.init_app installs ProxyFix).
        "BEHIND_PROXY": flag(env.get("PIRANHA_BEHIND_PROXY")),
        # A session cookie is refused this many hours after it was last issued.
        "SESSION_HOURS": float(env.get("PIRANHA_SESSION_HOURS") or 12),
        # /metrics without a token from 127.0.0.1/::1.
        "METRICS_ALLOW_LOOPBACK": flag(env.get("PIRANHA_METRICS_LOOPBACK")),
        # pulse's runtime dir (systemd: /run/piranha) when it is not the instance dir.
        "PULSE_PID_FILE": str(pulse_runtime_dir(env, inst) / "pulse.pid"),
        "PULSE_STATUS_FILE": str(pulse_runtime_dir(env, inst) / "pulse-status.json"),
        # pulse's runtime channel (drain/maint/weight at runtime, traffic samples).
        "PULSE_RUNTIME_SOCKET": str(pulse_runtime_dir(env, inst) / "pulse-runtime.sock"),
        "PULSE_WAIT_SECONDS": 2.0,
        "AUTO_MIGRATE": True,
        "AUTO_IMPORT": True,
        "PAGE_SIZE": 50,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "WTF_CSRF_TIME_LIMIT": None,
        "MAX_CONTENT_LENGTH": 1024 * 1024,
    }
    cfg.update(overrides)
    cfg["INSTANCE_PATH"] = str(inst)
    for key in ("PULSE_PID_FILE", "PULSE_STATUS_FILE", "PULSE_RUNTIME_SOCKET"):
        cfg[key] = str(cfg[key])
    if "DATABASE_URL" not in overrides and "PIRANHA_DATABASE_URL" not in env:
        cfg["DATABASE_URL"] = f"sqlite:///{inst / 'piranha.db'}"
    if not cfg.get("SECRET_KEY"):
        cfg["SECRET_KEY"] = env.get("PIRANHA_SECRET_KEY") or read_or_create_secret_key(inst)
    return cfg
