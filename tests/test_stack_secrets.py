"""Secrets in the stack files: Pulumi decrypts every `secure:` value before the program runs, so a committed placeholder
that no key decrypts breaks every preview. The stack files hold none; each stack's secrets are set with
`pulumi config set --secret`, a missing one stops the program with a message naming it, and the offline plan supplies
stand-ins for the ones the program reads."""

from __future__ import annotations

import pulumi
import pytest
import yaml

import stack_config
from offline.engine import ROOT, SECRET_PLACEHOLDER, run_program
from offline.engine import stack_config as stack_values
from tests.conftest import ALL_STACKS, STACKS, config_of


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_no_stack_file_commits_ciphertext_that_no_key_can_decrypt(stack: str) -> None:
    document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    secure = [k for k, v in document["config"].items() if isinstance(v, dict) and "secure" in v]
    # Ciphertext is only decryptable with the stack's data key, which `pulumi stack init --secrets-provider` writes
    # beside it (`encryptedkey`, `secretsprovider`); without them, no key can decrypt a `secure:` value.
    if not {"encryptedkey", "secretsprovider"} <= set(document):
        assert secure == []


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_the_offline_plan_supplies_a_secret_stand_in_for_every_secret_the_program_reads(stack: str) -> None:
    values, secret_keys = stack_values(stack)
    keys = {f"{stack_config.NAMESPACE}:{key}" for key in stack_config.SECRET_KEYS}
    assert keys <= set(secret_keys)
    assert {values[k] for k in keys} == {SECRET_PLACEHOLDER}
    as_committed, committed_secrets = stack_values(stack, stand_ins=False)
    assert keys.isdisjoint(as_committed)
    assert committed_secrets == []


def _with_app_secret_values(stack: str) -> dict[str, str]:
    """The stack file's config as committed, plus stand-ins for the values of the app secrets it creates only."""
    values, _ = stack_values(stack, stand_ins=False)
    created = stack_config.app_secret_value_keys(stack_config.decode(values))
    return {**values, **{f"{stack_config.NAMESPACE}:{key}": SECRET_PLACEHOLDER for key in created}}


@pytest.mark.parametrize("stack", STACKS)
def test_the_offline_plan_supplies_a_stand_in_for_the_value_of_every_app_secret_the_stack_creates(stack: str) -> None:
    values, secret_keys = stack_values(stack)
    config = config_of(stack)
    created = {f"platform:app_secret_{key}" for key, s in config.app_secrets.items() if s.existing is None}
    assert created
    assert created <= set(secret_keys)
    assert {values[k] for k in created} == {SECRET_PLACEHOLDER}
    existing = {f"platform:app_secret_{key}" for key, s in config.app_secrets.items() if s.existing is not None}
    assert existing.isdisjoint(values)  # an existing secret's value is never asked for


def test_a_missing_app_secret_value_stops_the_program_naming_the_command() -> None:
    values, _ = stack_values("dev")
    del values["platform:app_secret_jwt_signing_key"]
    with pytest.raises(pulumi.RunError) as raised:
        run_program("dev", config=values)
    assert str(raised.value) == (
        "app_secrets.jwt_signing_key needs the secret platform:app_secret_jwt_signing_key; "
        "set it with `pulumi config set --secret platform:app_secret_jwt_signing_key`"
    )


def test_an_app_secret_value_set_in_clear_text_stops_the_program() -> None:
    values, _ = stack_values("dev")
    key = "platform:app_secret_jwt_signing_key"
    values[key] = "a-signing-key-someone-typed-without-secret"
    with pytest.raises(pulumi.RunError) as raised:
        run_program("dev", config=values, secret_keys=[])
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"app_secrets.jwt_signing_key: {key} is set in clear text in the stack file")
    assert f"`pulumi config set --secret {key}`" in message


def test_a_missing_edge_secret_stops_the_program_naming_the_key_and_the_command() -> None:
    values = _with_app_secret_values("dev")
    with pytest.raises(pulumi.RunError) as raised:  # a RunError: Pulumi prints its message, no traceback
        run_program("dev", config=values)
    assert str(raised.value) == (
        "edge needs the secret platform:cloudflare_api_token; "
        "set it with `pulumi config set --secret platform:cloudflare_api_token`"
    )


def test_a_missing_channel_secret_stops_the_program_with_one_line() -> None:
    values = _with_app_secret_values("prod")
    with pytest.raises(pulumi.RunError) as raised:
        run_program("prod", config=values)
    message = str(raised.value)
    assert "\n" not in message
    assert message == (
        "observability.channels.slack_channel needs the secret platform:observability_slack_token; "
        "set it with `pulumi config set --secret platform:observability_slack_token`"
    )
