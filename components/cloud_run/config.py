"""The settings of one Cloud Run service as the stack file states them: image, resources, scaling, exposure, env,
traffic and its migrations job. How it is wired to other components is the stack config's business."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from components.config_types import Model, invalid
from components.images import BuildArgs, ImageRef, check_reference

# A DNS label short enough that `{prefix}-{env}-{name}` fits Cloud Run's 49 characters.
ServiceName = Annotated[str, StringConstraints(pattern=r"^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$")]
RevisionSuffix = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$")]
TrafficTag = Annotated[str, StringConstraints(pattern=r"^[a-z]([a-z0-9-]{0,18}[a-z0-9])?$")]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
HealthPath = Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9._~/-]*$")]
Memory = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]*(Mi|Gi)$")]

INGRESS = {
    "internal": "INGRESS_TRAFFIC_INTERNAL_ONLY",
    "internal-and-lb": "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
    "all": "INGRESS_TRAFFIC_ALL",
}
# Set by Cloud Run itself, or by this component from the data bindings: config may not override them.
RESERVED_ENV = frozenset(
    (
        "PORT",
        "K_SERVICE",
        "K_REVISION",
        "K_CONFIGURATION",
        "CLOUD_RUN_JOB",
        "CLOUD_RUN_EXECUTION",
        "CLOUD_RUN_TASK_INDEX",
    )
) | frozenset(
    (
        "DB_NAME",
        "DB_USER",
        "DB_PASSWORD",
        "DB_HOST",
        "INSTANCE_CONNECTION_NAME",
        "REDIS_HOST",
        "REDIS_PORT",
        "REDIS_AUTH",
    )
)
# Env names that look like they hold a secret. Long words count anywhere in the name (DBPASSWORD); short ones only as a
# whole word between underscores or at a camelCase boundary (API_KEY, DB_PASS, basicAuth), since as bare substrings they
# sit inside harmless names (KEYCLOAK_URL, AUTHOR, PASSENGER_LIMIT, MONKEY, OAUTH_CLIENT_ID).
SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN", "CREDENTIAL")
SECRET_NAME_WORDS = frozenset(("KEY", "KEYS", "APIKEY", "PASS", "PASSWD", "PASSPHRASE", "AUTH"))
PUBLIC_WORDS = frozenset(("PUBLIC",))  # PUBLIC_KEY names a public key: not a secret
# Every service here runs in Cloud Run's second-generation execution environment (jobs cannot run in any other), which
# needs at least 512 MiB of memory.
EXECUTION_ENVIRONMENT = "gen2"
MIN_MEMORY_MIB = {"gen1": 128, "gen2": 512}
# What Cloud Run accepts together, for services and jobs alike: the least CPUs memory above a size needs, the least
# memory some CPU counts need, and the most memory an instance may have.
MIN_CPUS_ABOVE_MIB = ((24 * 1024, 8), (16 * 1024, 6), (8 * 1024, 4), (4 * 1024, 2))
MIN_MEMORY_MIB_FOR_CPUS = {4: 2 * 1024, 6: 4 * 1024, 8: 4 * 1024}
MAX_MEMORY_MIB = 32 * 1024
BASE_ROLES = ("roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/cloudtrace.agent")


def mebibytes(memory: str) -> int:
    """`512Mi` -> 512, `2Gi` -> 2048."""
    return int(memory[:-2]) * (1024 if memory.endswith("Gi") else 1)


def secret_word(name: str) -> str | None:
    """The word that makes an env name look like a secret, or None."""
    upper = name.upper()
    for word in SECRET_WORDS:
        if word in upper:
            return word
    words: list[str] = [
        w.upper() for part in name.split("_") for w in re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", part)
    ]
    for i, word in enumerate(words):
        if word in SECRET_NAME_WORDS and not (word == "KEY" and i > 0 and words[i - 1] in PUBLIC_WORDS):
            return word
    return None


class TrafficArgs(Model):
    """A share of the traffic: to the latest revision, or to a named one (`{service}-{revision}`), optionally tagged
    so it also gets its own URL (`https://TAG---SERVICE...`) for testing before it gets a share."""

    percent: int = Field(ge=0, le=100)
    latest: bool = False
    revision: RevisionSuffix | None = None
    tag: TrafficTag | None = None

    @model_validator(mode="after")
    def _one_target(self) -> TrafficArgs:
        if self.latest == (self.revision is not None):
            invalid("revision", "set exactly one of latest: true or revision: <suffix> for each traffic entry")
        return self

    @property
    def target(self) -> str:
        return "latest" if self.latest else f"revision {self.revision}"


LATEST = TrafficArgs(percent=100, latest=True)


class MigrationsArgs(Model):
    command: list[str] = Field(min_length=1)  # e.g. [alembic]; the image's entrypoint is replaced
    args: list[str] = []  # e.g. [upgrade, head]
    timeout_seconds: int = Field(600, ge=1, le=86_400)
    max_retries: int = Field(0, ge=0, le=10)  # a failed migration is looked at, not retried blindly


class ServiceArgs(Model):
    image: ImageRef | None = None  # `host/path:tag` or `@sha256:`, or `name:tag` in the stack's repository
    build: BuildArgs | None = None  # built from this project and pushed to the stack's repository
    port: int = Field(8080, ge=1, le=65535)
    cpu: Literal["1", "2", "4", "6", "8"] = "1"
    memory: Memory = "512Mi"
    cpu_idle: bool = True  # CPU only while serving requests (cheaper); false keeps it for background work
    startup_cpu_boost: bool = True
    concurrency: int = Field(80, ge=1, le=1000)  # requests per instance
    min_instances: int = Field(0, ge=0, le=1000)  # >= 1 keeps an instance warm: no cold start on the first request
    max_instances: int = Field(10, ge=1, le=1000)
    timeout_seconds: int = Field(300, ge=1, le=3600)  # per request
    # Not /healthz: Cloud Run reserves some paths ending in z at a service's URL, where the uptime checks and the
    # smoke test call this path.
    health_path: HealthPath = "/health"
    latency_p99_ms: int = Field(1000, ge=10, le=3_600_000)  # the p99 latency target: alert and latency SLO threshold
    env: dict[EnvName, str] = {}  # plain settings; secrets come from Secret Manager through the data bindings
    public: bool = False  # anyone may invoke it (allUsers), at the network edge ingress allows
    ingress: Literal["internal", "internal-and-lb", "all"] = "internal"
    egress: Literal["private-ranges", "all-traffic"] = "private-ranges"
    deploy_mode: Literal["pulumi", "app"] = "pulumi"  # app: the app's CI deploys images and moves traffic
    revision: RevisionSuffix | None = None  # names the revision Pulumi creates `{service}-{revision}`
    traffic: list[TrafficArgs] = [LATEST]
    migrations: MigrationsArgs | None = None  # a Cloud Run Job on the same image, run before traffic moves

    @model_validator(mode="after")
    def _consistent(self) -> ServiceArgs:
        self._check_image()
        self._check_memory()
        self._check_health_path()
        if self.min_instances > self.max_instances:
            invalid(
                "min_instances", f"min_instances ({self.min_instances}) is above max_instances ({self.max_instances})"
            )
        if self.latency_p99_ms >= self.timeout_seconds * 1000:
            invalid(
                "latency_p99_ms",
                f"latency_p99_ms ({self.latency_p99_ms}) is not below the request timeout ({self.timeout_seconds} s); "
                "requests are cut off before they could miss it",
            )
        self._check_env()
        self._check_traffic()
        return self

    def _check_image(self) -> None:
        if (self.image is None) == (self.build is None):
            invalid("image", "set exactly one of image: <reference> or build: {context: <directory>}")
        problem = check_reference(self.image) if self.image else None
        if problem:
            invalid("image", problem)

    def _check_memory(self) -> None:
        least = MIN_MEMORY_MIB[EXECUTION_ENVIRONMENT]
        memory, cpus = mebibytes(self.memory), int(self.cpu)
        if memory < least:
            invalid(
                "memory",
                f"{self.memory} is below the {least}Mi that Cloud Run's second-generation execution environment needs "
                f"(services here run gen2, and the migrations job can run nothing else); set memory: {least}Mi or more",
            )
        if memory > MAX_MEMORY_MIB:
            invalid("memory", f"{self.memory} is above the {MAX_MEMORY_MIB // 1024}Gi Cloud Run allows an instance")
        # The service and its migrations job run with the same cpu and memory, so both are refused together.
        needed = next((n for above, n in MIN_CPUS_ABOVE_MIB if memory > above), 1)
        if cpus < needed:
            invalid(
                "memory",
                f"memory {self.memory} needs cpu {needed} or more in Cloud Run (more than 4Gi takes 2 CPUs, 8Gi 4, "
                f"16Gi 6, 24Gi 8), and cpu is {self.cpu}; raise cpu or lower memory (the migrations job runs with "
                "both)",
            )
        floor = MIN_MEMORY_MIB_FOR_CPUS.get(cpus, 0)
        if memory < floor:
            invalid(
                "cpu",
                f"cpu {self.cpu} needs memory {floor // 1024}Gi or more in Cloud Run (4 CPUs take 2Gi, 6 and 8 take "
                f"4Gi), and memory is {self.memory}; raise memory or lower cpu (the migrations job runs with both)",
            )

    def _check_health_path(self) -> None:
        path = self.health_path
        if path.endswith("z") or path.startswith("/_ah/") or path == "/eventlog":
            invalid(
                "health_path",
                f"Cloud Run reserves /eventlog, /_ah/ and some paths ending in z at a service's URL, where the uptime "
                f"check and the smoke test call {path}; use a path such as /health",
            )

    def _check_env(self) -> None:
        for key in self.env:
            if key in RESERVED_ENV:
                invalid(f"env.{key}", f"{key} is set by Cloud Run or from the data bindings; use another name")
            word = secret_word(key)
            if word:
                invalid(
                    f"env.{key}",
                    f"{key} looks like a secret ({word}); plain env is readable by anyone who can read the service or "
                    "this file: keep the value in Secret Manager (app secrets get their own config), or rename it if "
                    "it holds none",
                )

    def _check_traffic(self) -> None:
        if self.deploy_mode == "app":
            for key, configured in (("revision", self.revision is not None), ("traffic", self.traffic != [LATEST])):
                if configured:
                    invalid(key, f"deploy_mode app leaves {key} to the app's deploys; remove it or use pulumi")
            return
        total = sum(t.percent for t in self.traffic)
        if total != 100:
            invalid("traffic", f"traffic percentages add up to {total}; they must add up to 100")
        for kind, values in (
            ("tag", [t.tag for t in self.traffic if t.tag]),
            ("target", [t.target for t in self.traffic]),
        ):
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                invalid("traffic", f"traffic names {kind} {repeated[0]} more than once; merge the entries")
