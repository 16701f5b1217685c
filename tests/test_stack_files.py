"""The stack files as files: YAML mistakes and keys nobody reads stop `make plan` and the program with one line."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pulumi
import pytest

import stack_config
from offline.engine import ROOT, Recording, read_stack_file, run_program
from offline.engine import stack_config as stack_values
from tests.conftest import ALL_STACKS

# The provider packages the program depends on (pyproject.toml), each reading its settings from its own namespace.
PROVIDER_PACKAGES = (
    "pulumi-gcp",
    "pulumi-cloudflare",
    "pulumi-docker",
    "pulumi-random",
    "pulumiverse-time",
    "pulumi-kubernetes",
)


def _plan(stack: str, text: str) -> subprocess.CompletedProcess[str]:
    """`make plan` of a stack file with this text (written beside the real ones, removed afterwards)."""
    path = ROOT / f"Pulumi.{stack}.yaml"
    path.write_text(text)
    try:
        return subprocess.run([sys.executable, "-m", "offline.plan", stack], cwd=ROOT, capture_output=True, text=True)
    finally:
        path.unlink()


def _read(tmp_path: Path, text: str) -> str:
    path = tmp_path / "Pulumi.test.yaml"
    path.write_text(text)
    with pytest.raises(pulumi.RunError) as err:
        read_stack_file(path)
    assert "\n" not in str(err.value)
    return str(err.value)


# --- YAML -----------------------------------------------------------------------------------------------------------


def test_a_yaml_syntax_error_prints_one_line_naming_the_file_line_and_column() -> None:
    broken = (ROOT / "Pulumi.dev.yaml").read_text().replace("max_instances: 3\n", "max_instances: [3\n", 1)
    done = _plan("brokenyaml", broken)
    line = next(i for i, text in enumerate(broken.splitlines(), 1) if "max_instances: [3" in text)
    assert done.returncode == 1
    assert done.stdout == ""
    (message,) = done.stderr.strip().splitlines()
    assert message.startswith(f"error: Pulumi.brokenyaml.yaml, line {line + 1}, column ")
    assert "invalid YAML: " in message
    assert f"while parsing a flow sequence at line {line}" in message


def test_a_key_repeated_in_one_mapping_is_an_error_naming_both_lines(tmp_path: Path) -> None:
    text = "config:\n  platform:services:\n    web:\n      memory: 512Mi\n      cpu: '1'\n      memory: 256Mi\n"
    message = _read(tmp_path, text)
    assert message == "Pulumi.test.yaml, line 6, column 7: duplicate key 'memory' (first at line 4); keep one"


def test_a_config_key_set_twice_is_an_error(tmp_path: Path) -> None:
    message = _read(tmp_path, "config:\n  platform:prefix: acme\n  platform:cost_center: x\n  platform:prefix: other\n")
    assert message.startswith("Pulumi.test.yaml, line 4, column 3: duplicate key 'platform:prefix' (first at line 2)")


def test_a_duplicate_key_stops_make_plan_with_one_line() -> None:
    text = (ROOT / "Pulumi.dev.yaml").read_text().replace("  platform:prefix: acme\n", "  platform:prefix: acme\n" * 2)
    done = _plan("duplicatekey", text)
    assert done.returncode == 1
    (message,) = done.stderr.strip().splitlines()
    assert message.startswith("error: Pulumi.duplicatekey.yaml, line ")
    assert "duplicate key 'platform:prefix'" in message


def test_merge_keys_may_override_what_they_merge(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.test.yaml"
    path.write_text("config:\n  platform:a: &base {b: 1, c: 2}\n  platform:d:\n    <<: *base\n    b: 3\n")
    assert read_stack_file(path) == {"platform:a": {"b": 1, "c": 2}, "platform:d": {"b": 3, "c": 2}}


def test_a_config_key_without_a_namespace_is_refused_as_pulumi_refuses_it(tmp_path: Path) -> None:
    message = _read(tmp_path, "config:\n  protection: {protect: true}\n")
    assert message == (
        "Pulumi.test.yaml: config key 'protection' is not of the form <namespace>:<name> (Pulumi refuses it); "
        "write it like platform:protection"
    )


def test_the_old_config_module_spelling_of_a_key_is_read_as_pulumi_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.test.yaml"
    path.write_text("config:\n  gcp:config:project: acme\n")
    assert read_stack_file(path) == {"gcp:project": "acme"}


# --- Namespaces -----------------------------------------------------------------------------------------------------


def _with_keys(stack: str, rename: dict[str, str] | None = None, add: dict[str, str] | None = None) -> dict[str, str]:
    values, _ = stack_values(stack)
    renamed = {(rename or {}).get(key, key): value for key, value in values.items()}
    return {**renamed, **(add or {})}


def test_a_misspelled_namespace_stops_the_program_and_names_the_near_match() -> None:
    recording = Recording()
    config = _with_keys("prod", rename={"platform:protection": "platfrom:protection"})
    with pytest.raises(pulumi.RunError) as err:
        run_program("prod", config=config, into=recording)
    assert str(err.value) == (
        "invalid stack config in Pulumi.prod.yaml: platfrom:protection is in namespace 'platfrom', which nothing "
        "reads (known: cloudflare, docker, gcp, kubernetes, platform, pulumi, random, time); did you mean "
        "platform:protection?"
    )
    assert recording.resources == []  # prod does not plan with defaults (and without protect)


def test_a_misspelled_provider_namespace_is_refused_too() -> None:
    with pytest.raises(pulumi.RunError, match=r"gpc:project is in namespace 'gpc'.*did you mean gcp:project\?"):
        run_program("dev", config=_with_keys("dev", add={"gpc:project": "acme-platform-dev"}))


def test_a_namespace_far_from_any_known_one_says_where_settings_go() -> None:
    with pytest.raises(pulumi.RunError, match=r"zzz:thing is in namespace 'zzz'.*; the program reads platform:<key>$"):
        stack_config.check_namespaces(["zzz:thing"], stack_file="Pulumi.dev.yaml")


def test_provider_and_engine_namespaces_are_accepted() -> None:
    extra = {
        "gcp:project": "acme-platform-dev",
        "cloudflare:apiToken": "not-read-by-the-program",
        "docker:host": "unix:///var/run/docker.sock",
        "pulumi:disable-default-providers": '["random"]',
    }
    recording = run_program("dev", config=_with_keys("dev", add=extra))
    assert recording.resources


def test_the_known_namespaces_are_those_of_the_provider_packages_the_program_depends_on() -> None:
    """A provider added to the dependencies brings its namespace; this fails until PROVIDER_NAMESPACES lists it."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert all(f'"{package}==' in pyproject for package in PROVIDER_PACKAGES)
    names = set()
    for package in PROVIDER_PACKAGES:
        (plugin,) = [f for f in metadata.files(package) or [] if f.name == "pulumi-plugin.json"]
        names.add(json.loads(Path(str(plugin.locate())).read_text())["name"])
    assert names == stack_config.PROVIDER_NAMESPACES
    dependencies = [line.split("==")[0].strip(' "') for line in pyproject.splitlines() if "==" in line]
    providers = {d for d in dependencies if d.startswith(("pulumi-", "pulumiverse-"))} - {"pulumi-policy"}
    assert providers == set(PROVIDER_PACKAGES)


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_every_stack_file_reads_only_known_namespaces(stack: str) -> None:
    values, _ = stack_values(stack, stand_ins=False)
    stack_config.check_namespaces(values, stack_file=f"Pulumi.{stack}.yaml")
