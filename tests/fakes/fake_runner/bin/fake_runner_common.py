"""Shared code of the fake actions/runner: bin/Runner.Listener and bin/Runner.Worker import it.

Standard library only. The behaviour being imitated is actions/runner v2.336.0 (see
/work/shared/reference/actions-runner-contract.md and tests/fakes/runner_install.py, which
documents every knob of <root>/.fake-runner.json). Nothing here is read from the environment
except what the real runner reads (ACTIONS_RUNNER_*, RUNNER_*, GITHUB_ACTIONS_RUNNER_*...).
"""
import datetime
import http.client
import json
import os
import socket
import ssl
import stat
import sys
import time
import urllib.parse

BIN = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BIN)
OPTIONS_FILE = ".fake-runner.json"

# Every knob of <root>/.fake-runner.json with its default (the real runner's value where it has
# one). runner_install.py imports this table: keep it the single source.
DEFAULTS = {
    "version": "2.336.0",            # printed as Current runner version, sent to the broker
    "record": None,                  # JSONL file the Listener/Worker append events to
    "ca_file": None,                 # PEM to trust for the fake GitHub's HTTPS (None: system)
    "poll_wait": 5,                  # seconds of each jobs/next long poll (broker max 50)
    "retry_interval": 15,            # s between retries of failed polls / ghost lines (real 15-60)
    "max_poll_errors": 10,           # consecutive retriable poll errors before exit 2 (real 10)
    "session_retry_interval": 30,    # s between session attempts (real 30)
    "session_conflict_seconds": 240,  # give up on 409 conflicts after this (real 4 min) → exit 5
    "startup_delay": 0,              # s to sleep before doing anything (a slow start)
    "exit_at_start": None,           # an int: exit with it at once (after the start record)
    "crash_before_job": False,       # True: after "Listening for Jobs", "An error occurred" → 2;
                                     # "abort": a .NET unhandled-exception stack, then SIGABRT
    "crash_message": "Object reference not set to an instance of an object.",
    "self_update_leaves_process": False,  # an update (pushed by the service to a runner whose
                                     # .runner does not disable updates) also leaves a
                                     # detached process (like _update.sh)
    "ghost": False,                  # "Registration N was not found" answered as a retriable
                                     # error: one "Runner connect error" line, retries, exit 1
    "ghost_retries": 10,             # session attempts / polls before a ghost gives up (exit 1)
    "ignore_sigint": False,          # the Listener ignores SIGINT (and SIGQUIT)
    "ignore_sigterm": False,         # the Listener ignores SIGTERM
    "exit_code_after_job": None,     # an int: exit with it after a completed job instead
    "sigint_timeout": 7.5,           # cancel of a step: SIGINT, wait this, SIGTERM,
    "sigterm_timeout": 2.5,          # wait this, SIGKILL (the step's direct child only)
    "shutdown_timeout": 30,          # SIGTERM: give up after this many seconds (real 30)
    "sigterm_exit_code": None,       # None: SIGTERM ends with the normal code, 143 on give-up;
                                     # an int: that code whenever SIGTERM started the shutdown
    "server_cancel_timeout": 45,     # server cancel: SIGKILL the worker after this (real
                                     # max(timeout, 60 s) - 15 s)
    "cancel_poll_interval": 0.5,     # s between GET jobs/{id} (server-side cancel) in a job
    "output_drain_seconds": 5,       # after a step exits, wait this long for its output pipe
                                     # to close (a daemon may hold it; real 5)
    "kill_orphans": True,            # at job end SIGKILL processes carrying RUNNER_TRACKING_ID
    "repository": None,              # "owner/name" of the workspace (default: from GitHubUrl)
    "strict_args": False,            # unknown command-line args: exit 1 (real: only a warning)
    "worker_start_timeout": 30,      # the worker waits this long for its job message
    "docker_retry_seconds": None,    # between a container job's docker pull tries (None: the
                                     # real random 1-10 s)
    "finalize_seconds": 2,           # the job's finalisation after its steps (post-job steps,
                                     # log and result upload), also after a cancellation
    "job_log_dir": None,             # where the job's log "reaches GitHub": each step's log as
                                     # <dir>/<job id>/<n>_<step name>.txt (the log archive's
                                     # layout); the runner uid must be able to write <dir>
}

RESULTS = ["Succeeded", "SucceededWithIssues", "Failed", "Canceled", "Skipped", "Abandoned"]

# exit codes (src/Runner.Common/Constants.cs, ReturnCode)
SUCCESS, TERMINATED_ERROR, RETRYABLE_ERROR = 0, 1, 2
RUNNER_UPDATING, RUN_ONCE_RUNNER_UPDATING, SESSION_CONFLICT = 3, 4, 5
RUNNER_VERSION_DEPRECATED = 7

STATUS_KEYS = ("Name", "Umask", "State", "Tgid", "Pid", "PPid", "TracerPid", "Uid", "Gid",
               "Groups", "NSpid", "NSpgid", "NSsid", "CapInh", "CapPrm", "CapEff", "CapBnd",
               "CapAmb", "NoNewPrivs", "Seccomp", "Seccomp_filters")


class OptionsError(Exception):
    pass


def load_options(root=ROOT):
    """DEFAULTS updated with <root>/.fake-runner.json (missing file: the defaults)."""
    opts = dict(DEFAULTS)
    path = os.path.join(root, OPTIONS_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return opts
    except (OSError, ValueError) as e:
        raise OptionsError(f"fake runner: cannot read {path}: {e}") from None
    if not isinstance(data, dict):
        raise OptionsError(f"fake runner: {path} is not a JSON object")
    opts.update(data)
    return opts


def to_bool(value, default=False):
    """StringUtil.ConvertToBoolean."""
    if value is None or value == "":
        return default
    v = str(value).lower()
    if v in ("1", "true", "$true"):
        return True
    if v in ("0", "false", "$false"):
        return False
    return default


def ts():
    """DateTime.UtcNow:u → 2025-11-30 16:20:01Z."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def file_ts():
    """The _diag file name stamp: yyyyMMdd-HHmmss (UTC)."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")


def setup_stdio():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(encoding="utf-8", errors="replace", line_buffering=True)
        except (AttributeError, ValueError, OSError):
            pass


def _write(stream, line):
    try:
        stream.write(line + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass  # a closed pipe: the real runner ignores SIGPIPE and carries on too


class Terminal:
    """src/Runner.Common/Terminal.cs: WriteLine → stdout, WriteError → stderr, "√ " success."""

    def __init__(self, trace=None):
        self.trace = trace

    def line(self, text=""):
        if self.trace:
            self.trace.info("Terminal", f"WRITE LINE: {text}")
        _write(sys.stdout, text)

    def error(self, text):
        if self.trace:
            self.trace.error("Terminal", f"WRITE ERROR: {text}")
        _write(sys.stderr, text)

    def success(self, text):
        _write(sys.stdout, f"\u221a {text}")

    def section(self, text):
        _write(sys.stdout, "")
        _write(sys.stdout, f"# {text}")
        _write(sys.stdout, "")


class Trace:
    """_diag/<Prefix>_<yyyyMMdd-HHmmss>-utc.log; with ACTIONS_RUNNER_PRINT_LOG_TO_STDOUT also on
    stdout as `[RUNNER yyyy-MM-dd HH:mm:ssZ INFO Source] message` (WORKER for the worker)."""

    def __init__(self, prefix, tag):
        self.tag = tag
        self.to_stdout = to_bool(os.environ.get("ACTIONS_RUNNER_PRINT_LOG_TO_STDOUT"))
        self.path = None
        self.fd = None
        diag = os.path.join(ROOT, "_diag")
        try:
            os.makedirs(diag, exist_ok=True)
            self.path = os.path.join(diag, f"{prefix}_{file_ts()}-utc.log")
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                              0o666)
        except OSError:
            self.fd = None

    def _emit(self, level, source, message):
        stamp = ts()
        if self.fd is not None:
            try:
                os.write(self.fd, f"[{stamp} {level} {source}] {message}\n".encode())
            except OSError:
                pass
        if not self.to_stdout:
            return
        # StdoutTraceListener.cs: each line of a multi-line message gets the header, unless
        # ACTIONS_RUNNER_DISABLE_STDOUT_MULTILINE_LOG_PREFIXING: then only the first does.
        lines = message.split("\n")
        if to_bool(os.environ.get("ACTIONS_RUNNER_DISABLE_STDOUT_MULTILINE_LOG_PREFIXING")):
            _write(sys.stdout, f"[{self.tag} {stamp} {level} {source}] {lines[0]}")
            for line in lines[1:]:
                _write(sys.stdout, line)
            return
        for line in lines:
            _write(sys.stdout, f"[{self.tag} {stamp} {level} {source}] {line}")

    def info(self, source, message):
        self._emit("INFO", source, message)

    def warning(self, source, message):
        self._emit("WARN", source, message)

    def error(self, source, message):
        self._emit("ERR ", source, message)


class Recorder:
    """Appends one JSON object per line to options["record"] (best effort, never fatal)."""

    def __init__(self, path, proc):
        self.path, self.proc = path, proc

    def __call__(self, event, **fields):
        if not self.path:
            return
        obj = {"event": event, "proc": self.proc, "pid": os.getpid(), "ts": time.time()}
        obj.update(fields)
        try:
            data = (json.dumps(obj, default=str) + "\n").encode()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        except (OSError, ValueError, TypeError):
            pass


def _file_info(path):
    st = os.lstat(path)
    kind = ("dir" if stat.S_ISDIR(st.st_mode) else "link" if stat.S_ISLNK(st.st_mode)
            else "file" if stat.S_ISREG(st.st_mode) else "other")
    return {"mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
            "size": st.st_size, "type": kind}


def root_files(root=ROOT):
    """{name: {mode, uid, gid, size, type}} of the runner root's entries."""
    files = {}
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return files
    for name in names:
        try:
            files[name] = _file_info(os.path.join(root, name))
        except OSError:
            pass
    return files


def process_info():
    """What a process sees of itself: ids, cwd, environment, /proc/self/status, the root."""
    mask = os.umask(0)
    os.umask(mask)
    status = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in STATUS_KEYS:
                    status[key] = value.strip()
    except OSError:
        pass
    try:
        cwd = os.getcwd()
    except OSError as e:
        cwd = f"<{e.strerror}>"
    return {"argv": list(sys.argv), "uid": os.getuid(), "gid": os.getgid(),
            "euid": os.geteuid(), "egid": os.getegid(), "groups": os.getgroups(),
            "ppid": os.getppid(), "pgid": os.getpgrp(), "sid": os.getsid(0), "cwd": cwd,
            "umask": mask, "hostname": socket.gethostname(), "root": ROOT,
            "env": dict(os.environ), "status": status, "files": root_files()}


def read_json_file(path):
    """A runner config file (UTF-8, maybe with a BOM, as .NET writes them)."""
    with open(path, encoding="utf-8-sig") as f:
        return json.load(f)


def write_json_file(path, obj, mode=None):
    """IOUtil.SaveObject: indented JSON; created with 0666 & ~umask like File.WriteAllText."""
    data = json.dumps(obj, indent=2).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    if mode is not None:
        os.chmod(path, mode)


# -------------------------------------------------------------------------------------------
# HTTP to the fake GitHub (its job broker)


class NetError(Exception):
    """No HTTP answer at all (refused, reset, TLS failure, timeout)."""


class HttpReply:
    def __init__(self, status, raw):
        self.status, self.raw = status, raw

    @property
    def json(self):
        try:
            return json.loads(self.raw or b"null")
        except ValueError:
            return None

    @property
    def message(self):
        body = self.json
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])
        return self.raw.decode("utf-8", "replace")[:200] or f"HTTP {self.status}"


def ssl_context(ca_file):
    ctx = ssl.create_default_context()
    if ca_file:
        ctx.load_verify_locations(cafile=ca_file)
    return ctx


class Http:
    """One connection per request; the current one can be aborted from another thread."""

    def __init__(self, ca_file, version, client_id=None):
        self.ca_file = ca_file
        self.version = version
        self.client_id = client_id
        self._ctx = None
        self.active = {}

    def _context(self):
        if self._ctx is None:
            self._ctx = ssl_context(self.ca_file)
        return self._ctx

    def request(self, method, url, body=None, headers=None, timeout=30.0, tag=None):
        parts = urllib.parse.urlsplit(url)
        try:
            if parts.scheme == "https":
                conn = http.client.HTTPSConnection(parts.hostname, parts.port or 443,
                                                   context=self._context(), timeout=timeout)
            else:
                conn = http.client.HTTPConnection(parts.hostname, parts.port or 80,
                                                  timeout=timeout)
        except (OSError, ssl.SSLError, ValueError) as e:
            raise NetError(str(e)) from None
        h = {"User-Agent": f"GitHubActionsRunner-linux-x64/{self.version} (fake)",
             "Accept": "application/json"}
        if self.client_id:
            h["X-Fake-Runner-Client"] = self.client_id
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        if tag:
            self.active[tag] = conn
        try:
            conn.request(method, path, body=data, headers=h)
            resp = conn.getresponse()
            raw = resp.read()
            return HttpReply(resp.status, raw)
        except (OSError, ssl.SSLError, http.client.HTTPException, ValueError) as e:
            raise NetError(str(e) or type(e).__name__) from None
        finally:
            if tag:
                self.active.pop(tag, None)
            conn.close()

    def abort(self, tag):
        conn = self.active.get(tag)
        sock = getattr(conn, "sock", None) if conn else None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
