"""Fakes that keep the real contracts: fake_github (the GitHub REST API over HTTPS) and testca.

Import either as a package (`from tests.fakes.fake_github import FakeGitHub`, `fakes.fake_github`)
or with this directory on sys.path (`import fake_github`); fake_github.py also runs as a script.
"""
