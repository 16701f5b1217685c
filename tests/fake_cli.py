"""Stand-ins for the CLIs the pipeline scripts call (pulumi, gcloud, curl, uv, make, psql, cloud-sql-proxy), put on
PATH by the tests. Each behaves as the real one does for the calls the scripts make, failures included:

- `pulumi stack output --json` exits 255 with an `error:` line when the backend, the credentials or the stack fail;
  a stack without outputs prints `{}`. `pulumi preview` and `up` run the program, which (toolchain uv) needs `uv` on
  PATH. `pulumi preview --expect-no-changes` exits 255 with "no changes were expected but changes were proposed".
  `pulumi preview --json` prints nothing but the JSON digest, which leaves policy violations out: only the
  human-readable preview names them. `--target` and `--exclude` cannot be combined.
- Cloud Run services and revisions are regional: `gcloud run services|revisions|deploy` calls need `--region` and see
  only that region's services (a service of the same name in another region is another service). The world's
  `services` and `revisions` are in its `region` (europe-west1 unless it says), those of other regions under
  `regions: {REGION: {services, revisions}}`.
- `gcloud run services describe --format json` prints the Cloud Run Admin API v1 Service (metadata.annotations with
  `run.googleapis.com/ingress`, spec.traffic, status.conditions, status.latestCreatedRevisionName,
  status.latestReadyRevisionName, status.traffic where a 0 % entry has no `percent`), and exits 1 for an unknown one.
  `gcloud run revisions list/describe --format json` print revisions with their own status.conditions.
  `gcloud run services update-traffic` (`--to-revisions REV=100`, `--to-tags TAG=100`, `--to-latest`) moves the
  service's traffic in the world, keeping its tags, and exits 1 for an unknown service, revision or tag, or for a
  region listed in `update_traffic_fails`.
  `gcloud artifacts docker images describe IMAGE --format 'value(image_summary.digest)'` prints the digest the world's
  `images` gives the reference, and exits 1 for an image that does not exist.
  `gcloud run jobs execute` exits 1 for a job that does not exist (when the world lists `jobs`).
  `gcloud auth print-identity-token` prints a token only when the credentials can mint one (`identity_token`).
- `gcloud sql instances clone` gives the clone its source's deletion protection, and `delete` refuses a protected
  instance; `gcloud storage ls` lists in lexical order and exits 1 when nothing matches.
- `curl --fail` exits 22 on HTTP >= 400: an unhealthy service; any run.app host of a service whose ingress is not
  `all`, its revision tag URLs (`https://TAG---HOST`) included (Cloud Run refuses internet requests there); a run.app
  host no service has; and a service that is not public (`public` lists those that are) called without a bearer token.

The world they answer from is a JSON file (FAKE_WORLD); every call is appended to FAKE_CALLS.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

TOOLS = ("pulumi", "gcloud", "curl", "uv", "make", "psql", "cloud-sql-proxy")


def install(bin_dir: Path, tools: tuple[str, ...] = TOOLS) -> None:
    """Put the stand-ins for `tools` into bin_dir (each a small script running this module)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    here = Path(__file__).resolve()
    for tool in tools:
        path = bin_dir / tool
        path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{here}" {tool} "$@"\n')
        path.chmod(0o755)


def _world() -> dict[str, Any]:
    world: dict[str, Any] = json.loads(Path(os.environ["FAKE_WORLD"]).read_text())
    return world


def _save(world: dict[str, Any]) -> None:
    Path(os.environ["FAKE_WORLD"]).write_text(json.dumps(world))


def _fail(message: str, code: int) -> int:
    print(message, file=sys.stderr)
    return code


def _option(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    return None


def _positional(args: list[str], after: int) -> str:
    """The first argument after the command words that is neither an option nor an option's value."""
    skip = False
    for arg in args[after:]:
        if skip:
            skip = False
            continue
        if arg.startswith("--"):
            skip = "=" not in arg and arg not in ("--wait", "--quiet", "--no-traffic", "--no-deletion-protection")
            continue
        return arg
    return ""


def pulumi(args: list[str]) -> int:
    world = _world()
    if world.get("pulumi_error"):
        return _fail(f"error: {world['pulumi_error']}", 255)
    if args[:2] == ["stack", "select"]:
        return 0
    if args[:2] == ["config", "get"]:
        key = _option(args, "--path") or ""
        value = world.get("config", {}).get(key)
        if value is None:
            stack = _option(args, "--stack") or "dev"
            return _fail(f"error: configuration key '{key}' not found for stack '{stack}'", 255)
        print(value)
        return 0
    if args[:2] == ["stack", "output"]:
        if "--json" not in args:
            name = _positional(args, 2)
            if name not in world.get("outputs", {}):
                return _fail(f"error: current stack does not have output property '{name}'", 255)
            print(world["outputs"][name])
            return 0
        print(json.dumps(world.get("outputs", {}), indent=2))
        return 0
    if args[0] in ("preview", "up", "refresh"):
        if shutil.which("uv") is None:  # toolchain: uv
            return _fail("error: failed to prepare the Python environment: could not find `uv` on PATH", 255)
        if "--target" in args and "--exclude" in args:
            return _fail("error: if any flags in the group [target exclude] are set none of the others can be", 255)
        if args[0] == "preview":
            if "--json" in args:  # nothing but the digest, which has no policy events
                print(json.dumps(world.get("preview_json", {"steps": []})))
            else:
                print(world.get("preview_output", ""))
                if world.get("policy_violation"):
                    print(f"Policy Violations:\n    [mandatory]  platform v1  {world['policy_violation']}")
            if world.get("preview_error"):
                return _fail(f"error: {world['preview_error']}", 255)
            if world.get("policy_violation"):
                return _fail("error: preview failed", 255)
            if "--expect-no-changes" in args and world.get("drifted"):
                return _fail("error: no changes were expected but changes were proposed", 255)
        elif args[0] == "up" and "--target" not in args and "--exclude" not in args and "outputs_after_up" in world:
            world["outputs"] = world.pop("outputs_after_up")  # a first deploy creates what it exports
            _save(world)
        return 0
    return _fail(f"fake pulumi: unexpected call {args}", 127)


def _region(world: dict[str, Any], region: str) -> dict[str, Any]:
    """The services and revisions of one region (empty where the world has none)."""
    if region == world.get("region", "europe-west1"):
        return world
    found: dict[str, Any] = world.get("regions", {}).get(region, {})
    return found


def _revisions(world: dict[str, Any], region: str, service: str) -> list[dict[str, Any]]:
    revisions: list[dict[str, Any]] = _region(world, region).get("revisions", {}).get(service, [])
    return revisions


def _update_traffic(world: dict[str, Any], region: str, args: list[str]) -> int:
    """`gcloud run services update-traffic NAME --region R (--to-revisions REV=100 | --to-tags TAG=100 | --to-latest)
    [--update-tags TAG=REV]`: all traffic to one revision; tagged entries keep their tags (at 0 %, their percent
    omitted); an updated tag moves to the revision it names, which must exist."""
    name = _positional(args, 3)
    service = _region(world, region).get("services", {}).get(name)
    if service is None:
        return _fail(f"ERROR: (gcloud.run.services.update-traffic) Cannot find service [{name}]", 1)
    if region in world.get("update_traffic_fails", []):
        return _fail("ERROR: (gcloud.run.services.update-traffic) HTTPError 503: The service is unavailable.", 1)
    traffic = service["status"].get("traffic", [])
    tags = [{k: v for k, v in t.items() if k != "percent"} for t in traffic if t.get("tag")]
    if "--to-latest" in args:
        latest = service["status"]["latestReadyRevisionName"]
        service["spec"]["traffic"] = [{"latestRevision": True, "percent": 100}]
        service["status"]["traffic"] = [*tags, {"latestRevision": True, "percent": 100, "revisionName": latest}]
        return _update_tags(world, region, name, service, _option(args, "--update-tags"))
    to_revisions, to_tags = _option(args, "--to-revisions"), _option(args, "--to-tags")
    target, percent = (to_revisions or to_tags or "=").split("=", 1)
    if percent != "100":
        return _fail(f"fake gcloud: unexpected call {args}", 127)
    if to_tags is not None:
        tagged = [t["revisionName"] for t in tags if t["tag"] == target]
        if not tagged:
            return _fail(f"ERROR: (gcloud.run.services.update-traffic) Tag [{target}] does not exist.", 1)
        target = tagged[0]
    elif target not in {r["metadata"]["name"] for r in _revisions(world, region, name)}:
        return _fail(f"ERROR: (gcloud.run.services.update-traffic) Revision [{target}] does not exist.", 1)
    service["spec"]["traffic"] = [
        *[{k: v for k, v in t.items() if k != "url"} for t in tags if t["revisionName"] != target],
        {"revisionName": target, "percent": 100},
    ]
    service["status"]["traffic"] = [
        *[t for t in tags if t["revisionName"] != target],
        {
            "revisionName": target,
            "percent": 100,
            **{k: v for t in tags if t["revisionName"] == target for k, v in t.items()},
        },
    ]
    return _update_tags(world, region, name, service, _option(args, "--update-tags"))


def _update_tags(world: dict[str, Any], region: str, name: str, service: dict[str, Any], update: str | None) -> int:
    """`--update-tags TAG=REV,...`: each tag leaves the entry that had it and names its revision, at 0 %."""
    for pair in filter(None, (update or "").split(",")):
        tag, revision = pair.split("=", 1)
        if revision not in {r["metadata"]["name"] for r in _revisions(world, region, name)}:
            return _fail(f"ERROR: (gcloud.run.services.update-traffic) Revision [{revision}] does not exist.", 1)
        kept = []
        for entry in service["status"]["traffic"]:
            if entry.get("tag") == tag:
                entry = {k: v for k, v in entry.items() if k not in ("tag", "url")}
                if not entry.get("percent"):
                    continue  # a 0 % entry existed only for its tag
            kept.append(entry)
        kept.append({"revisionName": revision, "tag": tag, "url": f"https://{tag}---{name}-{region}.a.run.app"})
        service["status"]["traffic"] = kept
    _save(world)
    return 0


def gcloud(args: list[str]) -> int:
    world = _world()
    words = " ".join(args[:3])
    region = _option(args, "--region")
    if (words.startswith(("run services", "run revisions")) or words.startswith("run deploy")) and region is None:
        return _fail(f"ERROR: (gcloud.{'.'.join(args[:3])}) Missing required argument [--region]", 1)
    if words == "run services describe":
        name = _positional(args, 3)
        service = _region(world, region or "").get("services", {}).get(name)
        if service is None:
            return _fail(f"ERROR: (gcloud.run.services.describe) Cannot find service [{name}]", 1)
        print(json.dumps(service, indent=2))
        return 0
    if words == "run services update-traffic":
        return _update_traffic(world, region or "", args)
    if words == "run revisions list":
        revisions = sorted(
            _revisions(world, region or "", _option(args, "--service") or ""),
            key=lambda r: r["metadata"]["creationTimestamp"],
            reverse=(_option(args, "--sort-by") or "").startswith("~"),
        )
        print(json.dumps(revisions, indent=2))
        return 0
    if words == "run revisions describe":
        name = _positional(args, 3)
        for revisions in _region(world, region or "").get("revisions", {}).values():
            for revision in revisions:
                if revision["metadata"]["name"] == name:
                    print(json.dumps(revision, indent=2))
                    return 0
        return _fail(f"ERROR: (gcloud.run.revisions.describe) Cannot find revision [{name}]", 1)
    if words == "artifacts docker images" and args[3:4] == ["describe"]:
        reference = _positional(args, 4)
        digest = world.get("images", {}).get(reference)
        if digest is None:
            return _fail(f"ERROR: (gcloud.artifacts.docker.images.describe) Image not found: {reference}", 1)
        print(digest if "value(image_summary.digest)" in args else json.dumps({"image_summary": {"digest": digest}}))
        return 0
    if args[:2] == ["auth", "print-identity-token"]:
        if not world.get("identity_token"):
            return _fail("ERROR: (gcloud.auth.print-identity-token) No identity token can be obtained", 1)
        print(world["identity_token"])
        return 0
    if words == "run jobs execute" and "jobs" in world:
        name = _positional(args, 3)
        if name not in world["jobs"]:
            return _fail(f"ERROR: (gcloud.run.jobs.execute) NOT_FOUND: Resource '{name}' was not found", 1)
        return 0
    if words == "sql instances clone":
        source, clone = [a for a in args[3:] if not a.startswith("--")][:2]
        protected = world.get("instances", {}).get(source, {}).get("deletion_protection", False)
        world.setdefault("instances", {})[clone] = {"deletion_protection": protected}
        _save(world)
        return 0
    if words == "sql instances describe":
        name = _positional(args, 3)
        if name not in world.get("instances", {}):
            return _fail(
                f"ERROR: (gcloud.sql.instances.describe) HTTPError 404: The Cloud SQL instance {name} does not exist.",
                1,
            )
        print("p123-clone@gcp-sa-cloud-sql.iam.gserviceaccount.com")
        return 0
    if words == "sql instances patch":
        name = _positional(args, 3)
        if "--no-deletion-protection" in args:
            world["instances"][name]["deletion_protection"] = False
            _save(world)
        return 0
    if words == "sql instances delete":
        name = _positional(args, 3)
        if world["instances"][name]["deletion_protection"]:
            return _fail(
                "ERROR: (gcloud.sql.instances.delete) HTTPError 400: The instance is protected. Please "
                "disable the deletion protection and try again.",
                1,
            )
        if world.get("delete_fails"):
            return _fail("ERROR: (gcloud.sql.instances.delete) HTTPError 409: Operation failed", 1)
        del world["instances"][name]
        _save(world)
        return 0
    if args[:2] == ["storage", "ls"]:
        prefix = _positional(args, 2)
        found = sorted(o for o in world.get("objects", []) if o.startswith(prefix))
        if not found:
            return _fail("ERROR: (gcloud.storage.ls) One or more URLs matched no objects.", 1)
        print("\n".join(found))
        return 0
    tag = _option(args, "--tag")
    if args[:2] == ["run", "deploy"] and tag is not None and len(tag) + len(_positional(args, 2)) > 46:
        return _fail("ERROR: (gcloud.run.deploy) Combined traffic tag and service name cannot exceed 46 characters.", 1)
    if args[:3] == ["secrets", "versions", "access"]:
        print("fake-password")
        return 0
    known = (
        "run jobs execute",
        "run jobs update",
        "run deploy",
        "storage buckets add-iam-policy-binding",
        "storage buckets remove-iam-policy-binding",
        "sql databases create",
        "sql import sql",
    )
    if any(" ".join(args).startswith(k) for k in known):
        return 0
    return _fail(f"fake gcloud: unexpected call {args}", 127)


def _status(world: dict[str, Any], url: str, authorized: bool) -> int:
    """What Cloud Run answers a request from the internet: run.app hosts are the service's own (`HOST`) and its
    revision tags' (`TAG---HOST`); ingress other than `all` refuses them all; IAM refuses an unauthenticated caller
    of a service that is not public."""
    host = urlparse(url).hostname or ""
    if not host.endswith(".run.app"):
        return 200  # a load balancer or edge domain
    regional = [world.get("services", {}), *[r.get("services", {}) for r in world.get("regions", {}).values()]]
    for name, service in [item for services in regional for item in services.items()]:
        base = urlparse(service["status"]["url"]).hostname or ""
        if host == base or host.endswith(f"---{base}"):
            if service["metadata"]["annotations"].get("run.googleapis.com/ingress") != "all":
                return 404
            if name not in world.get("public", []) and not authorized:
                return 403
            return 200
    return 404


def curl(args: list[str]) -> int:
    world = _world()
    url = next(a for a in reversed(args) if a.startswith("https://"))
    headers = [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-H", "--header")]
    status = _status(world, url, any(h.startswith("Authorization: Bearer ") for h in headers))
    if status < 400 and any(part in url for part in world.get("unhealthy", [])):
        status = 503
    if status >= 400 and "--fail" in args:
        return _fail(f"curl: (22) The requested URL returned error: {status}", 22)
    return 0


def uv(args: list[str]) -> int:
    if args == ["--version"]:
        print("uv 0.13.8")
        return 0
    return _fail(f"fake uv: unexpected call {args}", 2)


def make(args: list[str]) -> int:
    if args == ["setup"]:  # installs the pinned uv into .tools/bin
        tools = Path.cwd() / ".tools" / "bin"
        tools.mkdir(parents=True, exist_ok=True)
        install(tools, ("uv",))
        return 0
    return _fail(f"fake make: unexpected target {args}", 2)


def main(tool: str, args: list[str]) -> int:
    if "FAKE_CALLS" in os.environ:
        with Path(os.environ["FAKE_CALLS"]).open("a") as calls:
            calls.write(" ".join([tool, *args]) + "\n")
    if tool == "psql":
        return 0
    if tool == "cloud-sql-proxy":
        time.sleep(30)
        return 0
    handlers = {"pulumi": pulumi, "gcloud": gcloud, "curl": curl, "uv": uv, "make": make}
    return handlers[tool](args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
