"""Shared building blocks for the typed stack config: a strict base model, CIDR and region types, and errors that
name the key to fix."""

from __future__ import annotations

import difflib
import functools
import ipaddress
import re
import zoneinfo
from collections.abc import Iterable
from importlib import resources
from typing import Annotated, Literal, NoReturn

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

# Google Cloud regions (cloud.google.com/about/locations), checked before anything is created.
REGIONS = frozenset(
    (
        "africa-south1",
        "asia-east1",
        "asia-east2",
        "asia-northeast1",
        "asia-northeast2",
        "asia-northeast3",
        "asia-south1",
        "asia-south2",
        "asia-southeast1",
        "asia-southeast2",
        "asia-southeast3",
        "australia-southeast1",
        "australia-southeast2",
        "europe-central2",
        "europe-north1",
        "europe-north2",
        "europe-southwest1",
        "europe-west1",
        "europe-west2",
        "europe-west3",
        "europe-west4",
        "europe-west6",
        "europe-west8",
        "europe-west9",
        "europe-west10",
        "europe-west12",
        "me-central1",
        "me-central2",
        "me-west1",
        "northamerica-northeast1",
        "northamerica-northeast2",
        "northamerica-south1",
        "southamerica-east1",
        "southamerica-west1",
        "us-central1",
        "us-east1",
        "us-east4",
        "us-east5",
        "us-south1",
        "us-west1",
        "us-west2",
        "us-west3",
        "us-west4",
    )
)

_PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")]


class Model(BaseModel):
    """Stack config: immutable, and an unknown key (a typo) is an error rather than silently ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def missing_secret(key: str, needed_by: str) -> NoReturn:
    """Stop the program with one line when a secret that config asks for is not set."""
    import pulumi  # only the program needs it; config models stay importable without the SDK's runtime

    raise pulumi.RunError(
        f"{needed_by} needs the secret platform:{key}; set it with `pulumi config set --secret platform:{key}`"
    )


def invalid(key: str, message: str) -> NoReturn:
    """Reject a value from a model validator, naming the key (relative to the model) that must change."""
    raise PydanticCustomError("invalid_value", message, {"key": key})


def _region(value: str) -> str:
    if value not in REGIONS:
        near = difflib.get_close_matches(value, sorted(REGIONS), n=1)
        hint = f"did you mean '{near[0]}'?" if near else "see cloud.google.com/about/locations"
        raise ValueError(f"'{value}' is not a Google Cloud region; {hint}")
    return value


@functools.cache
def time_zones() -> frozenset[str]:
    """The IANA time zone names, from the pinned tzdata package, so every machine agrees (a machine's own zoneinfo may
    lack them or add `localtime`); `Factory` is a placeholder zone, not a place."""
    names = resources.files("tzdata").joinpath("zones").read_text().split()
    return frozenset(names) - {"Factory"}


def _time_zone(value: str) -> str:
    if value not in time_zones():
        near = difflib.get_close_matches(value, sorted(time_zones()), n=1) or [
            name for name in sorted(time_zones()) if name.lower() == value.lower()
        ]
        hint = f"did you mean '{near[0]}'?" if near else "write an IANA name like Europe/Brussels or Etc/UTC"
        raise ValueError(f"'{value}' is not an IANA time zone; {hint}")
    zoneinfo.ZoneInfo(value)  # the program can read it too
    return value


_MEMBER = re.compile(r"^(serviceAccount|user|group):[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(\.[a-z0-9-]+)+$")


def _member(value: str) -> str:
    if not _MEMBER.match(value):
        raise ValueError(
            f"'{value}' is not an IAM member; write serviceAccount:NAME@PROJECT.iam.gserviceaccount.com "
            "(or user:EMAIL, group:EMAIL)"
        )
    return value


def _cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"'{value}' is not a CIDR range; write it like 10.0.0.0/20") from None
    if str(network) != value:
        raise ValueError(f"'{value}' has host bits set; did you mean '{network}'?")
    if network.version != 4 or not any(network.subnet_of(p) for p in _PRIVATE):  # type: ignore[arg-type]
        raise ValueError(f"'{value}' is not a private IPv4 range; use 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16")
    return value


_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _hostname(value: str) -> str:
    labels = value.split(".")
    if len(value) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise ValueError(
            f"'{value}' is not a hostname; write it in lowercase like api.example.com "
            "(Google-managed certificates do not cover wildcards)"
        )
    if not re.match(r"^[a-z]{2,63}$", labels[-1]):
        raise ValueError(f"'{value}' does not end in a top-level domain like .com")
    return value


Region = Annotated[str, AfterValidator(_region)]
TimeZone = Annotated[str, AfterValidator(_time_zone)]
Member = Annotated[
    str, AfterValidator(_member)
]  # an IAM principal: serviceAccount:..., user:..., group:...  # an IANA name, as Cloud Scheduler takes it
Cidr = Annotated[str, AfterValidator(_cidr)]
Hostname = Annotated[str, AfterValidator(_hostname)]  # a fully qualified DNS name, no wildcard
# The name of an entry in a keyed section of the stack file (subnets, routes, alerts, rules...): it becomes part of
# logical and physical names, so it is short, lowercase and starts with a letter.
Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,30}$")]
ProjectId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")]  # a Google Cloud project id
# Google Cloud label keys and values (lowercase letters, digits, underscores and hyphens).
LabelKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,62}$")]
LabelValue = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{0,63}$")]
# A PostgreSQL database or role name as this platform creates them.
SqlIdentifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")]

# Maintenance windows: a day of the week by name and an hour of the day in UTC.
WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
Weekday = Literal["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
Hour = Annotated[int, Field(ge=0, le=23)]


def first_overlap(ranges: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], tuple[str, str]] | None:
    """The first pair of (key, cidr) whose ranges overlap, if any."""
    seen: list[tuple[str, str, ipaddress.IPv4Network | ipaddress.IPv6Network]] = []
    for key, cidr in ranges:
        network = ipaddress.ip_network(cidr)
        for other_key, other_cidr, other in seen:
            if network.overlaps(other):
                return (other_key, other_cidr), (key, cidr)
        seen.append((key, cidr, network))
    return None
