"""``pulse`` command line: run the director daemon, or check / plan / show status.

Usage::

    pulse [-c FILE] [-n|--nodaemon] [-v] [--check] [--plan] [--status] [--drain|--undrain] [--forceactive]
          [--test-start] [--backend auto|ipvs|dry-run] [--runtime-dir DIR]
          [--drain-seconds S] [--reconcile-interval S] [--keep-table-on-stop]

* config: ``-c``, else $PIRANHA_LVS_CF, else /etc/sysconfig/ha/lvs.cf;
  runtime dir (pid file ``pulse.pid``, ``pulse-status.json``,
  ``pulse-managed.json``): ``--runtime-dir``, else $PIRANHA_INSTANCE, else
  /run/piranha.
* pulse reloads on SIGHUP *and* by itself when lvs.cf changes (stat poll every
  0.5 s, reload when the SHA-256 differs), because the console that writes
  the file runs unprivileged and cannot signal it.
* ``--check``: parse + validate, print ``FILE:LINE: message`` per problem
  and exit 1, or one ok line and exit 0.
* ``--plan``: print the operations pulse would apply against the live table
  (addresses, services, destinations, mark rules), change nothing, exit 0.
  Health comes from a running pulse's status file, else every server is
  assumed UP.
* ``--status``: print the running daemon's status (ipvsadm -Ln-like + health).
* ``--drain`` / ``--undrain`` (cluster = ecmp): ask the running pulse to
  withdraw (or announce again) this director's routes; ``--drain`` waits
  until ``bgp_drain_seconds`` have passed and says when stopping is safe.
* ``--test-start``: run everything against the dry-run backend (Piranha's
  "do not really start anything").
* ``-n``: stay in the foreground (systemd, tests); otherwise double-fork.
  Logs go to stderr (foreground) and syslog (/dev/log, facility daemon).
* Exit codes: 0 ok, 1 bad configuration or cannot start, 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import resource
import sys
from pathlib import Path

from .configfile import ConfigError, default_config_path, read_config, read_last_good, summary
from .logsinks import setup_logging
from .statusfile import PID_NAME, format_status, pid_alive, read_pid, read_status, runtime_dir, status_path

log = logging.getLogger("pulse")


def build_parser() -> argparse.ArgumentParser:
    """All options (Piranha's plus ours)."""
    # allow_abbrev off: --drain must never be read as --drain-seconds
    p = argparse.ArgumentParser(prog="pulse", description="LVS director daemon (Piranha's pulse, rebuilt)",
                                allow_abbrev=False)
    p.add_argument("-c", "--configfile", dest="config", help="lvs.cf path")
    p.add_argument("-n", "--nodaemon", action="store_true", help="stay in the foreground, log to stderr")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--check", action="store_true", help="validate the configuration and exit")
    p.add_argument("--plan", action="store_true", help="print what would change and exit")
    p.add_argument("--status", action="store_true", help="print the running daemon's status")
    p.add_argument("--drain", action="store_true",
                   help="cluster = ecmp: withdraw this director's routes, wait bgp_drain_seconds, exit 0 "
                        "when it is safe to stop")
    p.add_argument("--undrain", action="store_true", help="cluster = ecmp: announce this director again")
    p.add_argument("--forceactive", action="store_true", help="start active even with a backup configured")
    p.add_argument("-t", "--test-start", "--norun", dest="test_start", action="store_true",
                   help="use the dry-run backend: change nothing in the kernel")
    p.add_argument("--backend", choices=("auto", "ipvs", "dry-run"), default="auto")
    p.add_argument("--runtime-dir", help="pid/status directory (default $PIRANHA_INSTANCE or /run/piranha)")
    p.add_argument("--drain-seconds", type=float,
                   default=float(os.environ.get("PULSE_DRAIN_SECONDS", "5")),
                   help="keep a removed real server at weight 0 this long before deleting it (default 5)")
    p.add_argument("--reconcile-interval", type=float, default=5.0,
                   help="seconds between full table reconciliations (default 5)")
    p.add_argument("--load-period", type=float, default=20.0,
                   help="seconds between load_monitor samples of a real server (default 20, as nanny)")
    p.add_argument("--metrics-port", type=int, default=int(os.environ.get("PULSE_METRICS_PORT") or 0),
                   help="serve Prometheus /metrics on this port (default 0: off; see docs/api.md)")
    p.add_argument("--metrics-address", default="127.0.0.1", help="address for --metrics-port")
    p.add_argument("--console-user", default=os.environ.get("PIRANHA_CONSOLE_USER", "piranha"),
                   help="user (name or uid) besides root allowed on the runtime channel (default piranha)")
    p.add_argument("--sample-interval", type=float, default=2.0,
                   help="seconds between traffic samples of the IPVS counters (default 2, 0 = off)")
    p.add_argument("--keep-table-on-stop", action="store_true",
                   help="leave services, addresses and mark rules in place on SIGTERM")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pulse`` console script."""
    args = build_parser().parse_args(argv)
    # absolute: the daemon chdirs to / when it detaches
    config = (Path(args.config) if args.config else default_config_path()).absolute()
    rundir = runtime_dir(args.runtime_dir).absolute()
    if args.status:
        return show_status(rundir)
    if args.drain or args.undrain:
        from .drainctl import request_drain
        return request_drain(rundir, args.drain)
    setup_logging(args.verbose, foreground=args.nodaemon or args.check or args.plan)
    gc.disable()        # no full collections while 10,000 servers are parsed (the daemon collects after)
    try:
        loaded = read_config(config)
    except ConfigError as exc:
        kept = None if args.check or args.plan else read_last_good(rundir, config, exc.lines)
        if kept is None:
            for line in exc.lines:
                print(line, file=sys.stderr if not args.check else sys.stdout)
            if not args.check:   # nothing touched: what a previous pulse programmed stays
                print(f"pulse: not starting: {config} is invalid (kernel left as it is)", file=sys.stderr)
            return 1
        loaded = kept
    finally:
        gc.enable()
    if args.check:
        print(summary(config, loaded))
        return 0
    backend = "dry-run" if args.test_start else args.backend
    if args.plan:
        from .planning import print_plan
        return print_plan(config, rundir, loaded, backend, args.drain_seconds)
    return run_daemon(args, config, rundir, loaded, backend)


def show_status(rundir: Path) -> int:
    """``--status``: print the status file, exit 1 when none/stale."""
    doc = read_status(status_path(rundir))
    if doc is None:
        print(f"pulse: no status in {rundir} (is pulse running?)", file=sys.stderr)
        return 1
    sys.stdout.write(format_status(doc))
    if doc.get("state") == "running" and not pid_alive(int(doc.get("pid") or 0)):
        print("warning: the pid in the status file is not running", file=sys.stderr)
        return 1
    return 0


def run_daemon(args: argparse.Namespace, config: Path, rundir: Path, loaded: object, backend: str) -> int:
    """Refuse a second instance, pick backends, daemonize unless -n, run."""
    from .daemon import Daemon
    from .options import Options
    from .kernel import make_backends, resolve_mode
    pidfile = rundir / PID_NAME
    other = read_pid(pidfile)
    if other is not None and other != os.getpid():
        print(f"pulse: already running as pid {other} ({pidfile})", file=sys.stderr)
        return 1
    try:
        rundir.mkdir(mode=0o755, parents=True, exist_ok=True)  # not the umask's choice
        raise_nofile_limit()
        mode = resolve_mode(backend)
        if not args.nodaemon:
            daemonize()   # before opening netlink sockets: they must belong to the daemon
        backends = make_backends(mode)
        if args.metrics_port:  # after daemonize: the exporter thread must live in the daemon
            from .metrics import serve_status_file
            serve_status_file(args.metrics_port, status_path(rundir), args.metrics_address)
    except (OSError, RuntimeError) as exc:
        log.error("cannot start: %s", exc)
        print(f"pulse: cannot start: {exc}", file=sys.stderr)
        return 1
    opts = Options(config=config, runtime_dir=rundir, backend=mode, drain_seconds=args.drain_seconds,
                   reconcile_interval=args.reconcile_interval, keep_table_on_stop=args.keep_table_on_stop,
                   forceactive=args.forceactive, load_period=max(0.1, args.load_period),
                   console_user=args.console_user, sample_interval=max(0.0, args.sample_interval))
    return asyncio.run(Daemon(opts, backends, loaded).run())  # type: ignore[arg-type]


def raise_nofile_limit() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit: one descriptor per health check in flight, plus headroom."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard or hard == resource.RLIM_INFINITY:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as exc:
        log.warning("cannot raise the open files limit from %d: %s", soft, exc)
        return
    log.info("open files limit raised from %d to %d", soft, hard)


def daemonize() -> None:
    """Classic double fork: detach from the terminal and session, stdio to /dev/null."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
