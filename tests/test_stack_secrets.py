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
from tests.conftest import ALL_STACKS


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


def test_a_missing_edge_secret_stops_the_program_naming_the_key_and_the_command() -> None:
    values, _ = stack_values("dev", stand_ins=False)
    with pytest.raises(pulumi.RunError) as raised:  # a RunError: Pulumi prints its message, no traceback
        run_program("dev", config=values)
    assert str(raised.value) == (
        "edge needs the secret platform:cloudflare_api_token; "
        "set it with `pulumi config set --secret platform:cloudflare_api_token`"
    )


def test_a_missing_channel_secret_stops_the_program_with_one_line() -> None:
    values, _ = stack_values("prod", stand_ins=False)
    with pytest.raises(pulumi.RunError) as raised:
        run_program("prod", config=values)
    message = str(raised.value)
    assert "\n" not in message
    assert message == (
        "observability.channels.slack_channel needs the secret platform:observability_slack_token; "
        "set it with `pulumi config set --secret platform:observability_slack_token`"
    )
