"""Lay out a fake actions/runner installation (the template in tests/fakes/fake_runner/).

    from runner_install import install, write_options, update_options, read_record
    root = install(tmp / "runner", owner=(65534, 65534), record=str(tmp / "rec.jsonl"),
                   ca_file=gh.ca_file, poll_wait=1, sigint_timeout=0.2, sigterm_timeout=0.2)

The installation keeps the contract of /work/shared/reference/actions-runner-contract.md:

    <root>/bin/Runner.Listener      configure | remove | run [--jitconfig B64] | warmup
    <root>/bin/Runner.Worker        run by the Listener per job (spawnclient FD FD)
    <root>/bin/fake_runner_common.py, Runner.PluginHost, runsvc.sh, systemd.svc.sh.template,
           *.dll / libcoreclr.so    (placeholders)
    <root>/externals/node20/bin/node, externals/node24/bin/node   (print a version, exit 0)
    <root>/config.sh run.sh run-helper.sh.template env.sh safe_sleep.sh
    <root>/.fake-runner.json        the knobs below (the real runner has nothing like it; it
                                    is not read from the environment because a supervisor
                                    gives the runner a cleaned one)

Written at run time by the runner itself, as the real one does: .runner, .credentials,
.credentials_rsaparams (configure: 0600; JIT: umask), svc.sh (configure), .env and .path
(config.sh via env.sh), run-helper.sh (run.sh), _diag/Runner_<yyyyMMdd-HHmmss>-utc.log,
_diag/Worker_<…>-utc.log, _diag/pages/<job id>_<label>.log (the job's log, one page per step:
setup, set_up_runner (a job-started hook), 0, 1, …, complete_runner (a job-completed hook),
complete), _work/ (<repo>/<repo>, _temp, _actions, _tool, _PipelineMapping).

Files are mode 0644, scripts and directories 0755, owned by whoever runs install() (root in
the tests): any uid can run the runner. The runner must be able to write the root (for
.runner, _diag/, _work/): pass owner=(uid, gid) to chown the root directory itself (like the
image's /home/runner, owned by the runner user), or make it writable some other way.

Knobs (.fake-runner.json; install() and write_options() reject unknown names):
    version "2.336.0"           Current runner version, sent to the broker
    record None                 JSONL file the Listener and Worker append events to (created
                                mode 0666 by install() so any uid can append; its directory
                                must be reachable by the runner uid)
    ca_file None                PEM the runner trusts for the fake GitHub (None: system store)
    poll_wait 5                 seconds per jobs/next long poll (≤ 50)
    retry_interval 15           s between retries of failed polls and ghost lines
    max_poll_errors 10          consecutive retriable poll failures before exit 2 (real: 10)
    session_retry_interval 30   s between session attempts (real 30)
    session_conflict_seconds 240  409 conflicts retried this long, then exit 5 (real 4 min)
    startup_delay 0             s to sleep first (a slow start)
    exit_at_start None          int: exit with it at once (after the start event)
    crash_before_job False      True: after "Listening for Jobs" stderr "An error occurred:
                                <crash_message>", exit 2 (Program.cs); "abort": a .NET
                                "Unhandled exception." stack on stderr, then SIGABRT (134)
    crash_message               "Object reference not set to an instance of an object."
    self_update_leaves_process False  an update also starts a detached 60 s process (like
                                _update.sh). Updates and deprecations are the service's
                                decision (fake_github: latest_runner_version,
                                min_runner_version): a .runner without DisableUpdate gets
                                the SelfUpdaterV2 lines, _work/_update, bin.<v>/ and
                                externals.<v>/ in the root, exit 4 (run-once) or 3; a refused
                                version "An error occurred: Runner version v… is
                                deprecated…", exit 7 with
                                ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE=1, else 1
    ghost False                 "Registration N was not found" answered as a retriable error
                                (BrokerMessageListener.cs): "<ts>: Runner connect error:
                                Registration N was not found. Retrying until reconnected."
                                once for the run of failures, retries, and after
                                ghost_retries the exit 1 of a deleted registration
    ghost_retries 10            session attempts or polls before a ghost gives up
    finalize_seconds 2          the job's finalisation after its steps (post-job steps, log
                                and result upload), also after a cancellation
    ignore_sigint False         the Listener ignores SIGINT/SIGQUIT
    ignore_sigterm False        the Listener ignores SIGTERM
    exit_code_after_job None    int: exit code after a run-once job instead of 0/100-105
    sigint_timeout 7.5          step cancel: SIGINT, wait, SIGTERM,
    sigterm_timeout 2.5         wait, SIGKILL (the step's direct child only)
    shutdown_timeout 30         SIGTERM: the Listener (and Worker) give up after this → 143
    sigterm_exit_code None      int: exit code whenever SIGTERM started the shutdown
    server_cancel_timeout 45    server-side cancel: SIGKILL the Worker after this
    cancel_poll_interval 0.5    s between GET /_fake/broker/jobs/{id} during a job
    output_drain_seconds 5      after a step exits, wait this long for its output pipe to
                                close (a leftover daemon may hold it), then go on (real: 5)
    kill_orphans True           at job end SIGKILL new processes whose environ has the job's
                                RUNNER_TRACKING_ID (the real "Cleaning up orphan processes")
    repository None             "owner/name" for the workspace; default: the job's
                                "repository", else GitHubUrl's repo, else "<org>/repo"
    strict_args False           unknown command-line args: exit 1 (the real one only warns)
    worker_start_timeout 30     the Worker waits this long for its job message
    job_log_dir None            a directory standing for GitHub's copy of the job's log: the
                                Worker writes each step's log there as <job id>/<n>_<step
                                name>.txt, the layout of GitHub's log archive ("1_Set up
                                job.txt", "2_Set up runner.txt" when a job-started hook is
                                set, then the steps, "Complete job"); the runner uid must be
                                able to write it

Record events (one JSON object per line; every one has event, proc "listener"|"worker",
pid, ts): start {argv, uid, gid, euid, egid, groups, ppid, pgid, sid, cwd, umask, hostname,
root, env (as received, ACTIONS_RUNNER_INPUT_* included), status (/proc/self/status: Cap*,
NoNewPrivs, Seccomp, NSpid, …), files {name: {mode, uid, gid, size, type}} of the root},
signal {signal}, shutdown {reason}, jit_config_written {files}, configure, configured,
session_created, session_conflict, session_retry, session_deleted, registration_deleted,
listening, ghost, poll_error, runner_not_found, access_denied, job_started {id, name, steps},
worker_started {child}, cancel {reason: shutdown|server}, job_received, job_dirs {work,
workspace, temp, tracking_id}, step_started {index, child, argv}, step_signal {child,
signal}, step_completed {index, exit_code (128+n when killed by signal n), killed_by,
cancel_signal, output_closed, output (last 8 KiB)},
step_skipped, hook_started / hook_signal / hook_completed {label: "started"|"completed", the
same fields as the step's; a hook that fails before it runs has exit_code None and error},
orphans_killed {pids}, job_finished {result} (worker), job_completed {id,
result (printed), reported (sent to the service, None: nothing), worker_exit} (listener), result_reported, local_config_deleted, self_update,
update_process {child}, shutdown_timeout, exit {code}.
"""
import base64
import importlib.util
import json
import os
import shutil
import stat
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "fake_runner"


def _load_common():
    spec = importlib.util.spec_from_file_location(
        "fake_runner_common", TEMPLATE / "bin" / "fake_runner_common.py")
    module = importlib.util.module_from_spec(spec)
    saved = sys.dont_write_bytecode
    sys.dont_write_bytecode = True  # no __pycache__ in the template
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = saved
    return module


_common = _load_common()
DEFAULTS = dict(_common.DEFAULTS)
OPTIONS_FILE = _common.OPTIONS_FILE
RESULTS = list(_common.RESULTS)
CREDENTIAL_FILES = (".runner", ".credentials", ".credentials_rsaparams")


def _check(options):
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise TypeError(f"unknown fake runner option(s) {unknown}; known: {sorted(DEFAULTS)}")


def _atomic_write(path, data, mode=0o644):
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_options(root, **options):
    """Replace <root>/.fake-runner.json with these options (defaults for the rest)."""
    _check(options)
    _atomic_write(Path(root) / OPTIONS_FILE, json.dumps(options, indent=2, sort_keys=True) + "\n")
    record = options.get("record")
    if record:
        _prepare_record(record)


def read_options(root):
    """The options file's content (without defaults)."""
    try:
        return json.loads((Path(root) / OPTIONS_FILE).read_text())
    except FileNotFoundError:
        return {}


def update_options(root, **changes):
    """Merge changes into <root>/.fake-runner.json."""
    options = read_options(root)
    options.update(changes)
    write_options(root, **options)


def _prepare_record(path):
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    os.close(fd)
    os.chmod(path, 0o666)


def install(dest_dir, *, owner=None, chown_all=False, **options):
    """Copy the fake runner into dest_dir (created 0755 if missing) and write its options.

    owner=(uid, gid) chowns dest_dir itself (chown_all=True: every file too). → Path."""
    _check(options)
    root = Path(dest_dir)
    if not root.exists():
        root.mkdir(parents=True, mode=0o755)
        os.chmod(root, 0o755)
    for src in sorted(TEMPLATE.rglob("*")):
        rel = src.relative_to(TEMPLATE)
        if "__pycache__" in rel.parts:
            continue
        dst = root / rel
        if src.is_dir():
            dst.mkdir(exist_ok=True)
            os.chmod(dst, 0o755)
        else:
            shutil.copyfile(src, dst)
            executable = src.stat().st_mode & stat.S_IXUSR
            os.chmod(dst, 0o755 if executable else 0o644)
    write_options(root, **options)
    if owner is not None:
        uid, gid = owner
        if chown_all:
            for path in [root, *root.rglob("*")]:
                os.lchown(path, uid, gid)
        else:
            os.chown(root, uid, gid)
    return root


def read_record(path):
    """Every event of a record file (a list of dicts; a torn last line is skipped)."""
    events = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    events.append(json.loads(line))
                except ValueError:
                    pass
    except FileNotFoundError:
        pass
    return events


def events(path, event=None, proc=None):
    """The record's events named `event` (and from `proc`: "listener" or "worker")."""
    return [e for e in read_record(path)
            if (event is None or e.get("event") == event)
            and (proc is None or e.get("proc") == proc)]


def encode_jit_config(files):
    """A JIT blob from {file name: str|bytes|dict} (dicts are JSON-encoded), as GitHub makes
    them: base64(JSON {name: base64(content)})."""
    encoded = {}
    for name, content in files.items():
        if isinstance(content, (dict, list)):
            content = json.dumps(content)
        if isinstance(content, str):
            content = content.encode()
        encoded[name] = base64.b64encode(content).decode()
    return base64.b64encode(json.dumps(encoded).encode()).decode()


def listener(root):
    return str(Path(root) / "bin" / "Runner.Listener")
