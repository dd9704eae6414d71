"""The command line: --help against the README, --version, and configuration errors."""
import json
import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("RS_BIN", os.path.join(ROOT, "build", "asan", "runner-supervisor"))
HELP_LINE = re.compile(r"^  ([A-Z_]+)  (--[a-z-]+)  \[default: (.*?)\]  ")
README_ROW = re.compile(r"^\| `([A-Z_]+)` \| `(--[a-z-]+)` \| (.*?) \| ")


def run(*args, env=None, timeout=30):
    base = {"PATH": os.environ["PATH"], "SUPERVISOR_LOG_FORMAT": "json"}
    base.update(env or {})
    return subprocess.run([BIN, *args], env=base, capture_output=True, text=True,
                          timeout=timeout)


def settings_from_help():
    out = run("--help").stdout
    return {m.group(1): (m.group(2), m.group(3))
            for m in map(HELP_LINE.match, out.splitlines()) if m}


def settings_from_readme():
    rows = {}
    with open(os.path.join(ROOT, "README.md")) as f:
        for line in f:
            m = README_ROW.match(line)
            if m:
                rows[m.group(1)] = (m.group(2), m.group(3))
    return rows


def design_settings():
    """Every setting named in DESIGN.md's configuration table."""
    names = set()
    path = os.path.join(ROOT, "..", "shared", "DESIGN.md")
    if not os.path.exists(path):
        pytest.skip("shared/DESIGN.md is not beside the checkout")
    with open(path) as f:
        for line in f:
            if line.startswith("| `"):
                names.update(re.findall(r"`([A-Z][A-Z_]+)`", line.split("|")[1]))
    return names


def test_help_lists_every_setting_of_the_design():
    assert design_settings() <= set(settings_from_help())


def test_readme_configuration_table_matches_help():
    assert settings_from_readme() == settings_from_help()


def test_help_exits_0_and_names_every_exit_code():
    r = run("--help")
    assert r.returncode == 0
    for code in (64, 69, 70, 71, 74, 75, 76, 77, 78):
        assert re.search(rf"^\s+{code}\s", r.stdout, re.M), code


def test_version_names_program_and_linked_libraries():
    r = run("--version")
    assert r.returncode == 0
    first = r.stdout.splitlines()[0]
    assert re.fullmatch(r"runner-supervisor \d+\.\d+\.\d+", first)
    for lib in ("libuv", "libcurl", "jansson", "libseccomp", "libcap", "OpenSSL"):
        assert re.search(rf"^{lib} \d", r.stdout, re.M), lib


def error_event(r):
    lines = [json.loads(l) for l in r.stderr.splitlines() if l.startswith("{")]
    errors = [e for e in lines if e["event"] == "supervisor.error"]
    assert len(errors) == 1, r.stderr
    return errors[0]


def test_malformed_setting_exits_78_naming_setting_and_value():
    r = run("exec", "--", "true", env={"SUPERVISOR_STOP_GRACE": "soon"})
    assert r.returncode == 78
    e = error_event(r)
    assert "SUPERVISOR_STOP_GRACE" in e["msg"] and "soon" in e["msg"]
    assert e["code"] == 78


def test_flag_wins_over_environment():
    r = run("exec", "--supervisor-stop-grace=5", "--", "true",
            env={"SUPERVISOR_STOP_GRACE": "soon"})
    assert r.returncode == 0, r.stderr


def test_bad_flag_value_exits_78_naming_the_setting():
    r = run("check", "--github-url", "http://github.com/org")
    assert r.returncode == 78
    assert "GITHUB_URL" in error_event(r)["msg"]


def test_unknown_option_exits_64():
    r = run("exec", "--frobnicate", "--", "true")
    assert r.returncode == 64
    assert "--frobnicate" in error_event(r)["msg"]


def test_exec_without_command_exits_64():
    assert run("exec").returncode == 64
    assert run("exec", "--").returncode == 64


def test_check_without_github_url_exits_78():
    r = run("check", env={"RUNNER_ROOT": "/"})
    assert r.returncode == 78
    assert "GITHUB_URL" in error_event(r)["msg"]


def test_check_accepts_a_valid_configuration(tmp_path):
    token = tmp_path / "token"
    token.write_text("ghp_" + "x" * 36)
    r = run("check", env={"GITHUB_URL": "https://github.com/acme",
                          "GITHUB_TOKEN_FILE": str(token), "RUNNER_ROOT": str(tmp_path),
                          "RUNNER_USER": "0:0"})
    assert r.returncode == 0, r.stderr


def test_jit_config_value_never_appears_in_errors():
    secret = "eyJzZWNyZXQiOiJqaXQtYmxvYi12YWx1ZSJ9"
    r = run("check", "--supervisor-stop-grace=-1",
            env={"ACTIONS_RUNNER_INPUT_JITCONFIG": secret})
    assert r.returncode == 78
    assert secret not in r.stderr + r.stdout


def test_text_log_format_prints_one_plain_line():
    r = run("exec", "--", "true", env={"SUPERVISOR_LOG_FORMAT": "text"})
    assert r.returncode == 0
    assert r.stderr.strip() and not r.stderr.lstrip().startswith("{")
    assert "supervisor.start" in r.stderr
