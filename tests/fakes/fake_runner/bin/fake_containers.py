"""The fake Worker's container jobs: `container:` and `services:` as actions/runner v2.336.0
drives the `docker` CLI. Every command line is built as the runner builds it (one arguments
string), logged as `##[command]`, and split as .NET splits ProcessStartInfo.Arguments, so the
docker CLI gets the very argv the real runner gives it. Facts and their sources (file and
method of actions/runner 258d6c8): docs/container-facts.md, sections 0-3.

Docker container actions (section 4) too: a step {"uses": "docker://IMAGE", "with"?,
"args"?, "entrypoint"?} is pulled before the job's containers start and run with `docker run`;
a step {"uses": "./DIR", "image": "Dockerfile", ...} (the action's metadata given in the step:
the fake reads no action.yml) is built in the step from DIR (under the workspace) and run.

Not modelled: registry logins (`credentials:`), repository actions (owner/repo@ref), pre and
post entrypoints, the Windows and hook (ACTIONS_RUNNER_CONTAINER_HOOKS) variants, node
actions in the container, and cancellation while a docker command runs (it finishes first).
"""
import hashlib
import os
import random
import re
import shutil
import subprocess
import time
import uuid

MIN_API = (1, 35)  # COP AssertCompatibleOS: Docker-CE 17.12 on Linux
# COP RunContainersHealthcheck: exponential backoff, min 2 s, max 32 s, delta 2 s
HEALTH_BACKOFF = (2.0, 32.0)


class ContainerError(Exception):
    """A failure that fails the "Initialize containers" step (the runner's exceptions)."""


def dotnet_split(arguments):
    """ProcessStartInfo.Arguments as .NET on Unix splits it (Process.Unix.cs,
    ParseArgumentsIntoList): whitespace separates; `"` toggles quoting and is removed; 2n
    backslashes before a `"` give n and the quote toggles, 2n+1 give n and a literal `"`;
    other backslashes and single quotes are literal."""
    args, cur, quoted, have, i = [], [], False, False, 0
    while i < len(arguments):
        c = arguments[i]
        if c == "\\":
            n = 0
            while i < len(arguments) and arguments[i] == "\\":
                n, i = n + 1, i + 1
            if i < len(arguments) and arguments[i] == '"':
                cur.append("\\" * (n // 2))
                if n % 2:
                    cur.append('"')
                    i += 1
            else:
                cur.append("\\" * n)
            have = True
            continue
        if c == '"':
            quoted, have = not quoted, True
        elif c in " \t" and not quoted:
            if have:
                args.append("".join(cur))
            cur, have = [], False
        else:
            cur.append(c)
            have = True
        i += 1
    if have:
        args.append("".join(cur))
    return args


def escape_string(value):
    """DockerUtil.EscapeString: a backslash run before a `"` doubled plus one, the `"` escaped;
    a trailing backslash run doubled."""
    out = re.sub(r'(\\*)"', lambda m: m.group(1) * 2 + '\\"', value)
    return re.sub(r"(\\+)$", lambda m: m.group(1) * 2, out)


def escaped_option(flag, key, value):
    """DockerUtil.CreateEscapedOption: `-e "KEY"` for an empty value, else `-e "KEY=VALUE"`."""
    if not value:
        return f'{flag} "{escape_string(key)}"'
    return f'{flag} "{escape_string(key)}={escape_string(value)}"'


def sanitize(name):
    """NameValidation.Sanitize: letters and `_`, digits unless first; the rest dropped."""
    out = []
    for c in name:
        if (c.isascii() and c.isalpha()) or c == "_" or (c.isdigit() and out):
            out.append(c)
    return "".join(out)


def instance_label(runner_root):
    """DCM Initialize: the first 6 hex digits of SHA-256 of .runner, lowercased first."""
    with open(os.path.join(runner_root, ".runner"), encoding="utf-8-sig") as f:
        text = f.read()
    return hashlib.sha256(text.lower().encode()).hexdigest()[:6]


class Container:
    """ContainerInfo: one `container:` (the job's) or one service."""

    def __init__(self, spec, service=None):
        spec = {"image": spec} if isinstance(spec, str) else dict(spec or {})
        self.image = str(spec.get("image", ""))
        self.options = str(spec.get("options", "") or "")
        self.env = {str(k): str(v) for k, v in (spec.get("env") or {}).items()}
        self.ports = [str(p) for p in spec.get("ports") or []]
        self.volumes = [str(v) for v in spec.get("volumes") or []]
        self.service = service  # the service's key (its network alias), None: the job's
        self.alias = uuid.uuid4().hex  # JobContainer.Alias: a Guid, never the service name
        self.name = f"{self.alias}_{sanitize(self.image)}_{uuid.uuid4().hex[:6]}"
        self.id = None
        self.runtime_path = None
        self.ports_found = {}
        self.failed = False


def container_action(step):
    """The step's container action: ("pull", image) for docker://, ("build", dir) for a local
    Dockerfile action, or None."""
    uses = str(step.get("uses") or "")
    if uses.startswith("docker://"):
        return "pull", uses[len("docker://"):]
    if uses.startswith("./") and str(step.get("image", "")).startswith("Dockerfile"):
        return "build", uses
    return None


class ContainerJob:
    """StartContainersAsync, the steps' `docker exec` (ContainerStepHost),
    StopContainersAsync, and the job's Docker container actions, for one job."""

    def __init__(self, worker, job, root, work, temp, tool, workspace, env):
        self.worker, self.root, self.work, self.temp = worker, root, work, temp
        self.tool, self.workspace, self.env = tool, workspace, env
        self.containers = []
        if job.get("container"):
            self.containers.append(Container(job["container"]))
        for key, spec in (job.get("services") or {}).items():
            c = Container(spec, service=str(key))
            if c.image:  # JobExtension: a service whose image is empty is skipped
                self.containers.append(c)
        self.job_container = next((c for c in self.containers if c.service is None), None)
        self.network = None
        self.docker = None
        self.label = None
        self.steps = [st if isinstance(st, dict) else {"run": st} for st in job.get("steps") or []]
        self.pulled = set()

    def wanted(self):
        return bool(self.containers)

    def find_docker(self):
        """DCM Initialize: WhichUtil.Which("docker", require: true) and the instance label."""
        if not self.docker:
            self.docker = shutil.which("docker", path=self.env.get("PATH"))
            if not self.docker:
                raise ContainerError("File not found: 'docker'")
            self.label = instance_label(self.root)

    # -- Docker container actions (ActionManager, ContainerActionHandler) -----------------

    def action_images(self):
        """The docker:// images to pull before the job's containers, once each, in order
        (ActionManager.PrepareActionsAsync)."""
        out = []
        for st in self.steps:
            kind = container_action(st)
            if kind and kind[0] == "pull" and kind[1] not in out:
                out.append(kind[1])
        return out

    def pull_action(self, image):
        """PullActionContainerAsync: `docker pull IMAGE`, no --config, up to 3 tries."""
        self.find_docker()
        self.pull(image)
        self.pulled.add(image)

    def run_action(self, step, step_env, own_keys, execution_id):
        """ContainerActionHandler.RunAsync: the image (a build for a local Dockerfile action),
        then → (argv, env) of its `docker run`, options in DockerRun's order."""
        self.find_docker()
        kind, what = container_action(step)
        if kind == "build":
            directory = os.path.normpath(os.path.join(self.workspace, what))
            dockerfile = os.path.join(directory, str(step.get("image")))
            image = f"{self.label}:{execution_id}"
            if self.run(f'build -t {image} -f "{dockerfile}" "{directory}"',
                        cwd=self.workspace)[0] != 0:
                raise ContainerError("Docker build failed with exit code")
        else:
            image = what
        home = os.path.join(self.temp, "_github_home")
        workflow = os.path.join(self.temp, "_github_workflow")
        commands = os.path.join(self.temp, "_runner_file_commands")
        inside = [(self.workspace, "/github/workspace"), (home, "/github/home"),
                  (workflow, "/github/workflow"), (commands, "/github/file_commands"),
                  (self.temp, "/github/runner_temp")]

        def translate(value):
            for host, path in inside:
                if value == host or value.startswith(host + "/"):
                    return path + value[len(host):]
            return value

        env = dict(os.environ)
        names = list(own_keys)
        for key, value in (step.get("with") or {}).items():
            names.append("INPUT_" + str(key).replace(" ", "_").upper())
            step_env[names[-1]] = str(value)
        step_env["HOME"] = home
        names.append("HOME")
        opts = [f"--name {sanitize(image)}_{uuid.uuid4().hex[:6]}", f"--label {self.label}",
                "--workdir /github/workspace", "--rm"]
        for key in dict.fromkeys(names):
            opts.append(f'-e "{key}"')
            env[key] = translate(step_env[key])
        opts.append("-e GITHUB_ACTIONS=true")
        if "CI" not in names:
            opts.append("-e CI=true")
        if step.get("entrypoint"):
            opts.append(f'--entrypoint "{step["entrypoint"]}"')
        if self.network:
            opts.append(f"--network {self.network}")
        opts.append('-v "/var/run/docker.sock":"/var/run/docker.sock"')
        for host, path in [(self.temp, "/github/runner_temp"), (home, "/github/home"),
                           (workflow, "/github/workflow"), (commands, "/github/file_commands"),
                           (self.workspace, "/github/workspace")]:
            opts.append(f'-v "{host}":"{path}"')
        args = "".join(f' "{str(a).replace(chr(34), chr(92) + chr(34))}"'
                       for a in step.get("args") or [])
        arguments = f"run {' '.join(opts)} {image}{args}"
        self.worker.log(f"##[command]{self.docker} {arguments}")
        return [self.docker] + dotnet_split(arguments), env

    # -- running docker ---------------------------------------------------------------------

    def run(self, arguments, cwd=None, check=False, env=None, stdin=None):
        """One docker command: `##[command]` logged, argv split as .NET does; → (code, lines)."""
        self.worker.log(f"##[command]{self.docker} {arguments}")
        argv = [self.docker] + dotnet_split(arguments)
        proc_env = dict(env if env is not None else self.env)
        proc_env.update({"GITHUB_ACTIONS": "true", "CI": "true"})  # ProcessInvoker, always
        try:
            p = subprocess.run(argv, cwd=cwd or self.workspace, env=proc_env, input=stdin,
                               capture_output=True, text=True)
            code, out, err = p.returncode, p.stdout, p.stderr
        except OSError as e:
            code, out, err = 127, "", str(e)
        self.worker.record("docker", argv=argv[1:], code=code, cwd=cwd or self.workspace)
        lines = out.splitlines()
        for line in lines + err.splitlines():
            self.worker.log(line)
        if check and code != 0:
            # ExecuteDockerCommandAsync with requireExitCodeZero: ProcessExitCodeException
            raise ContainerError(f"Exit code {code} returned from process: file name "
                                 f"'{self.docker}', arguments '{arguments}'.")
        return code, lines

    def translate(self, path):
        """The job container's path mappings, Work first (COP MountWellKnownDirectories)."""
        for host, inside in ((self.work, "/__w"), (self.tool, "/__t"),
                             (os.path.join(self.root, "externals"), "/__e")):
            if path == host or path.startswith(host.rstrip("/") + "/"):
                return inside + path[len(host.rstrip("/")):]
        return path

    # -- StartContainersAsync ---------------------------------------------------------------

    def start(self):
        self.find_docker()
        self.assert_compatible()
        code, ids = self.run(f'ps --all --quiet --no-trunc --filter "label={self.label}"',
                             check=True)
        for stale in ids:
            if self.run(f"rm --force {stale}")[0] != 0:
                self.worker.log(f"##[warning]Delete stale container {stale} failed")
        if self.run(f'network prune --force --filter "label={self.label}"')[0] != 0:
            self.worker.log("##[warning]Delete stale container networks failed")
        self.network = f"github_network_{uuid.uuid4().hex}"
        if self.run(f"network create --label {self.label} {self.network}")[0] != 0:
            raise ContainerError("Docker network create failed with exit code")
        for c in self.containers:
            self.start_one(c)
        self.wait_healthy()

    def assert_compatible(self):
        try:
            with open("/proc/1/cgroup", encoding="utf-8", errors="replace") as f:
                if any(":/docker/" in line for line in f):
                    raise ContainerError("Container feature is not supported when runner is "
                                         "already running inside container.")
        except OSError:
            pass
        versions = []
        for which in ("Server", "Client"):
            _, out = self.run(f"version --format '{{{{.{which}.APIVersion}}}}'", check=True)
            versions.append(out[0] if out else "")
        # DockerVersion: the client's is parsed from the server's string (a runner bug, kept).
        m = re.search(r"\d+\.\d+(\.\d+)?", versions[0])
        server = tuple(int(x) for x in m.group(0).split(".")[:2]) if m else None
        for what in ("server", "client"):
            if server is None or server < MIN_API:
                raise ContainerError(f"Min required docker engine API {what} version is "
                                     f"'{MIN_API[0]}.{MIN_API[1]}', your docker ('"
                                     f"{self.docker}') {what} version is '{versions[0]}'")

    def pull(self, image):
        for attempt in range(3):  # COP StartContainerAsync: up to 3 tries
            if self.run(f"pull {image}")[0] == 0:
                return
            if attempt < 2:
                delay = self.worker.opts.get("docker_retry_seconds")
                time.sleep(random.uniform(1, 10) if delay is None else float(delay))
        raise ContainerError("Docker pull failed with exit code")

    def mounts(self, c):
        """-v options in the runner's order (CI ctor, COP MountWellKnownDirectories)."""
        out = []
        if c.service is None:
            out.append(("/var/run/docker.sock", "/var/run/docker.sock", False))
        for v in c.volumes:  # MountVolume.ParseVolumeString: src:dst[:ro], dst:ro, dst
            parts = v.split(":")
            ro = parts[-1] == "ro" and len(parts) > 1
            if ro:
                parts = parts[:-1]
            out.append((parts[0], parts[1], ro) if len(parts) > 1 else (None, parts[0], ro))
        if c.service is None:
            home = os.path.join(self.temp, "_github_home")
            workflow = os.path.join(self.temp, "_github_workflow")
            for d in (home, workflow):
                os.makedirs(d, exist_ok=True)
            tools = self.translate(self.tool) if self.tool.startswith(self.work) else "/__t"
            out += [(self.work, "/__w", False),
                    (os.path.join(self.root, "externals"), "/__e", True),
                    (self.temp, "/__w/_temp", False),
                    (os.path.join(self.work, "_actions"), "/__w/_actions", False),
                    (self.tool, tools, False),
                    (home, "/github/home", False), (workflow, "/github/workflow", False)]
        return out

    def create_arguments(self, c):
        """DCM DockerCreate, options in its order."""
        opts = [f"--name {c.name}", f"--label {self.label}"]
        if c.service is None:
            opts.append(f"--workdir {self.translate(self.workspace)}")
        opts.append(f"--network {self.network}")
        if c.service is not None:
            opts.append(f"--network-alias {c.service}")
        opts += [f"-p {p}" for p in c.ports]
        if c.options:
            opts.append(c.options)
        env = dict(c.env)
        if c.service is None:
            env["HOME"] = "/github/home"
        opts += [escaped_option("-e", k, v) for k, v in env.items()]
        opts.append("-e GITHUB_ACTIONS=true")
        if "CI" not in env:
            opts.append("-e CI=true")
        for src, dst, ro in self.mounts(c):
            if src is None:
                opts.append(f'-v "{escape_string(dst)}"')
            else:
                opts.append(f'-v "{escape_string(src)}":"{escape_string(dst)}"'
                            + (":ro" if ro else ""))
        if c.service is None:
            opts.append('--entrypoint "tail"')
        args = f"create {' '.join(opts)} {c.image}"
        if c.service is None:
            args += ' "-f" "/dev/null"'
        return args

    def start_one(self, c):
        self.pull(c.image)
        _, out = self.run(self.create_arguments(c), check=True)
        if not out or not out[0].strip():
            raise ContainerError("Docker create failed")
        c.id = out[0].strip()
        if self.run(f"start {c.id}")[0] != 0:
            raise ContainerError("Docker start fail with exit code")
        try:
            fmt = '--format "{{.ID}} {{.Status}}"'
            _, out = self.run(f"ps --all --filter id={c.id} --filter status=running "
                              f"--no-trunc {fmt}", check=True)
            first = next((line for line in out if line.strip()), "")
            if not first.startswith(c.id):
                self.run(f"ps --all --filter id={c.id} --no-trunc {fmt}")
                self.run(f"logs --details {c.id}")
                self.worker.log(f"##[warning]Docker container {c.id} is not in running state.")
        except ContainerError:
            pass  # best effort, as the runner's
        if c.service is not None:
            _, out = self.run(f"port {c.id}", check=True)
            for line in out:
                m = re.match(r"^(\d+)/(\w+) -> (.+):(\d+)$", line.strip())
                if m:
                    c.ports_found[m.group(1)] = m.group(4)
        else:
            _, out = self.run('inspect --format "{{range .Config.Env}}{{println .}}{{end}}" '
                              f"{c.id}", check=True)
            c.runtime_path = next((line[5:] for line in out if line.startswith("PATH=")), None)

    def wait_healthy(self):
        failed = []
        for c in self.containers:
            if c.service is None:
                continue
            delay = HEALTH_BACKOFF[0]
            while True:
                _, out = self.run('inspect --format="{{if .Config.Healthcheck}}'
                                  '{{print .State.Health.Status}}{{end}}" ' + c.id, check=True)
                status = out[0].strip() if out else ""
                if status != "starting":
                    break
                time.sleep(delay)
                delay = min(delay * 2, HEALTH_BACKOFF[1])
            if status not in ("", "healthy"):
                c.failed = True
                failed.append(c)
        for c in failed:
            self.run(f"logs --details {c.id}")
            self.worker.log(f"##[error]Failed to initialize container {c.image}")
        if failed:
            raise ContainerError("One or more containers failed to start.")

    # -- the steps: ContainerStepHost -------------------------------------------------------

    def exec_step(self, step_env, own_keys, script, prepend):
        """→ (argv, env) of `docker exec` for a `run:` step (sh -e, the script translated).
        own_keys: the step's own variables (the job's contexts, its env:, the file commands),
        passed by name with their values in the CLI's environment; prepend: GITHUB_PATH's
        additions, newest first (ExecutionContext.Global.PrependPath)."""
        c = self.job_container
        opts = ["-i", f"--workdir {self.translate(self.workspace)}"]
        env = dict(os.environ)  # the CLI's own process environment carries the values
        for key in own_keys:
            opts.append(f'-e "{key}"')
            env[key] = self.translate(step_env[key])
        if c.runtime_path and prepend:
            opts.append(f'-e PATH="{prepend}:{c.runtime_path}"')
        arguments = f"exec {' '.join(opts)} {c.id} sh -e {self.translate(script)}"
        self.worker.log(f"##[command]{self.docker} {arguments}")
        return [self.docker] + dotnet_split(arguments), env

    # -- StopContainersAsync ----------------------------------------------------------------

    def stop(self):
        for c in self.containers:
            if not c.id:
                continue
            if c.service is not None and not c.failed:
                if self.run(f"logs --details {c.id}")[0] != 0:
                    self.worker.log("##[warning]Docker logs fail with exit code")
        for c in self.containers:
            if c.id and self.run(f"rm --force {c.id}")[0] != 0:
                self.worker.log("##[warning]Docker rm fail with exit code")
        if self.network and self.run(f"network rm {self.network}")[0] != 0:
            self.worker.log("##[warning]Docker network rm failed")
