"""Application buckets: private and uniform on every stack, kept as config says, each service holding one object role on
the buckets it names and nothing else; public only through the load balancer's Cloud CDN, when config says so."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

import stack_config
from components.buckets import ACCESS
from offline.engine import Recording, Resource, run_program
from offline.engine import stack_config as stack_values
from tests.conftest import STACKS, config_of, program_of, raw_config

BUCKET = "gcp:storage/bucket:Bucket"
BUCKET_GRANT = "gcp:storage/bucketIAMMember:BucketIAMMember"
DAY = 86_400
PUBLIC = ("allUsers", "allAuthenticatedUsers")
DELETE_AFTER_A_WEEK = [{"action": "Delete", "age_days": 7}]


def app_bucket(program: Recording, key: str) -> Resource:
    return program.named(f"{key}-bucket")


@pytest.mark.parametrize("stack", STACKS)
def test_every_application_bucket_is_private_uniform_labelled_and_protected_as_the_stack_says(stack: str) -> None:
    program, config = program_of(stack), config_of(stack)
    assert "uploads" in config.buckets
    for key, args in config.buckets.items():
        bucket = app_bucket(program, key)
        assert bucket.inputs["uniformBucketLevelAccess"] is True
        assert bucket.inputs["publicAccessPrevention"] == "enforced"
        assert bucket.inputs["labels"]["bucket"] == key
        assert bucket.inputs["labels"]["cost-center"] == config.cost_center
        assert bucket.inputs["location"] == (args.location or config.gcp.region)
        assert bucket.inputs["deletionPolicy"] == ("PREVENT" if config.protection.deletion_protection else "DELETE")
        assert bucket.inputs["forceDestroy"] is False
        assert bucket.protect is config.protection.protect
        assert bucket.inputs["softDeletePolicy"]["retentionDurationSeconds"] == args.soft_delete_days * DAY
        assert program.outputs["buckets"][key] == bucket.outputs["name"]


@pytest.mark.parametrize("stack", STACKS)
def test_only_the_bucket_cloud_cdn_serves_is_public_and_only_to_read(stack: str) -> None:
    program, config = program_of(stack), config_of(stack)
    cdn = config.load_balancer.enabled and config.load_balancer.cdn.enabled
    public = {b.outputs["name"] for b in program.of(BUCKET) if b.inputs["publicAccessPrevention"] != "enforced"}
    served = {b.outputs["name"] for b in program.of(BUCKET) if b.inputs["labels"].get("exposure") == "cdn"}
    assert public == served
    assert len(served) == (1 if cdn else 0)
    grants = [(g.inputs["bucket"], g.inputs["role"]) for g in program.of(BUCKET_GRANT) if g.inputs["member"] in PUBLIC]
    assert grants == [(name, "roles/storage.objectViewer") for name in served]


@pytest.mark.parametrize("stack", STACKS)
def test_each_service_holds_one_object_role_on_each_bucket_it_names_and_none_on_others(stack: str) -> None:
    program, config = program_of(stack), config_of(stack)
    names = program.outputs["buckets"]
    accounts = {f"serviceAccount:{email}": s for s, email in program.outputs["service_accounts"].items()}
    granted = {
        (accounts[g.inputs["member"]], g.inputs["bucket"], g.inputs["role"])
        for g in program.of(BUCKET_GRANT)
        if g.inputs["member"] in accounts
    }
    wanted = {
        (service, names[bucket], ACCESS[access])
        for service, args in config.services.items()
        for bucket, access in args.buckets.items()
    }
    assert wanted
    assert granted == wanted
    roles = {g.inputs["role"] for g in program.of("gcp:projects/iAMMember:IAMMember")}
    assert not [r for r in roles if r.startswith("roles/storage.")]  # never on the project's every bucket


@pytest.mark.parametrize("stack", STACKS)
def test_a_service_is_told_the_name_of_each_bucket_it_uses(stack: str) -> None:
    program, config = program_of(stack), config_of(stack)
    for service, args in config.services.items():
        (container,) = program.named(f"{service}-service").inputs["template"]["containers"]
        envs = {e["name"]: e.get("value") for e in container.get("envs", [])}
        buckets = {k.removeprefix("BUCKET_").lower(): v for k, v in envs.items() if k.startswith("BUCKET_")}
        assert buckets == {key: program.outputs["buckets"][key] for key in args.buckets}, service


def test_prod_uploads_keep_replaced_objects_a_while_and_accept_browser_uploads_from_the_site() -> None:
    uploads = app_bucket(program_of("prod"), "uploads").inputs
    assert uploads["versioning"] == {"enabled": True}
    (noncurrent,) = uploads["lifecycleRules"]
    assert noncurrent["action"] == {"type": "Delete"}
    assert noncurrent["condition"] == {"daysSinceNoncurrentTime": 30, "withState": "ARCHIVED"}  # never live objects
    (cors,) = uploads["cors"]
    assert cors["origins"] == ["https://example.com"]
    assert {"PUT", "POST"} <= set(cors["methods"])
    assert "retentionPolicy" not in uploads


def test_prod_exports_are_records_kept_a_year_and_moved_to_colder_storage() -> None:
    exports = app_bucket(program_of("prod"), "exports").inputs
    assert exports["retentionPolicy"] == {"retentionPeriod": str(365 * DAY), "isLocked": False}
    assert exports["versioning"] == {"enabled": False}
    (colder,) = exports["lifecycleRules"]
    assert colder["action"] == {"type": "SetStorageClass", "storageClass": "COLDLINE"}
    assert colder["condition"] == {"age": 90}


def _with_public_media(stack: str) -> dict[str, str]:
    values, _ = stack_values(stack)
    buckets = json.loads(values["platform:buckets"])
    buckets["media"] = {"public_through_cdn": True, "location": "EU"}
    return {**values, "platform:buckets": json.dumps(buckets)}


def test_a_bucket_public_through_the_cdn_is_served_by_the_load_balancer_and_readable_by_all_users() -> None:
    program = run_program("staging", config=_with_public_media("staging"))
    media = app_bucket(program, "media")
    # Cloud CDN fills its cache from a backend bucket with unsigned reads: public access prevention would refuse the
    # allUsers grant those need, and the cache-fill agent exists only once a signed URL key does.
    assert media.inputs["publicAccessPrevention"] == "inherited"
    assert media.inputs["labels"]["exposure"] == "cdn"
    backend = program.one("gcp:compute/backendBucket:BackendBucket")
    assert backend.inputs["bucketName"] == media.outputs["name"]
    assert [b for b in program.of(BUCKET) if b.name == "lb-static"] == []  # one CDN path, not two
    readers = [g for g in program.of(BUCKET_GRANT) if g.inputs["bucket"] == media.outputs["name"]]
    assert [(g.inputs["role"], g.inputs["member"]) for g in readers] == [("roles/storage.objectViewer", "allUsers")]
    assert [b.name for b in program.of(BUCKET) if b.inputs["publicAccessPrevention"] != "enforced"] == ["media-bucket"]


def _api_buckets(buckets: dict[str, str]) -> dict[str, Any]:
    services = raw_config("dev")["services"]
    return {**services, "api": {**services["api"], "buckets": buckets}}


def _buckets(stack: str, **bucket: Any) -> dict[str, Any]:
    buckets = raw_config(stack)["buckets"]
    return {**buckets, "media": bucket}


@pytest.mark.parametrize(
    ("stack", "changes", "message"),
    [
        (
            "dev",
            {"buckets": _buckets("dev", public_through_cdn=True)},
            r"buckets\.media\.public_through_cdn: a bucket is public only through the load balancer's Cloud CDN",
        ),
        (
            "staging",
            {"buckets": {**_buckets("staging", public_through_cdn=True), "assets": {"public_through_cdn": True}}},
            r"buckets\.assets\.public_through_cdn: the load balancer serves one bucket through Cloud CDN",
        ),
        (
            "dev",
            {"buckets": _buckets("dev", versioning=True, retention_policy={"days": 30})},
            r"buckets\.media\.versioning: a bucket with a retention policy cannot keep object versions",
        ),
        (
            "dev",
            {"buckets": _buckets("dev", retention_policy={"days": 30}, lifecycle=DELETE_AFTER_A_WEEK)},
            r"buckets\.media\.lifecycle\.0\.age_days: 7 days is less than retention_policy\.days \(30\)",
        ),
        (
            "dev",
            {"buckets": _buckets("dev", lifecycle=[{"action": "Delete", "noncurrent_days": 7}])},
            r"buckets\.media\.lifecycle\.0: noncurrent_days and newer_versions need versioning: true",
        ),
        (
            "dev",
            {"buckets": _buckets("dev", lifecycle=[{"action": "SetStorageClass", "age_days": 7}])},
            r"buckets\.media\.lifecycle\.0\.storage_class: give storage_class exactly when action is SetStorageClass",
        ),
        ("dev", {"buckets": _buckets("dev", soft_delete_days=3)}, r"buckets\.media\.soft_delete_days: 3 is not 0"),
        (
            "dev",
            {"buckets": _buckets("dev", cors=[{"origins": ["*"]}])},
            r"buckets\.media\.cors\.0\.origins\.0: .*is not an origin like https://app\.example\.com",
        ),
        (
            "dev",
            {"buckets": _buckets("dev", location="mars")},
            r"buckets\.media\.location: .*'mars' is neither a Google Cloud region",
        ),
        (
            "dev",
            {"services": _api_buckets({"avatars": "viewer"})},
            r"services\.api\.buckets\.avatars: 'avatars' is not defined in buckets",
        ),
        (
            "dev",
            {"services": _api_buckets({"uploads": "admin"})},
            r"services\.api\.buckets\.uploads: input should be 'viewer', 'creator' or 'user'",
        ),
    ],
)  # fmt: skip
def test_bad_bucket_config_names_the_key(stack: str, changes: dict[str, Any], message: str) -> None:
    raw = raw_config(stack)
    raw.update(changes)
    with pytest.raises(pulumi.RunError, match=message) as raised:
        stack_config.parse(raw, stack_file=f"Pulumi.{stack}.yaml")
    assert "\n" not in str(raised.value)


def test_a_bucket_whose_env_name_is_taken_names_the_key() -> None:
    raw = raw_config("dev")
    api = raw["services"]["api"]
    raw["services"]["api"] = {**api, "env": {**api["env"], "BUCKET_UPLOADS": "elsewhere"}}
    with pytest.raises(pulumi.RunError, match=r"services\.api\.buckets\.uploads: its name is passed in BUCKET_UPLOADS"):
        stack_config.parse(raw, stack_file="Pulumi.dev.yaml")
