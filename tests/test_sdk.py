"""The lazily imported provider packages (offline/sdk.py): the same members as the SDK's own packages, the SDK's own
classes, and only the modules a program uses."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from offline.engine import ROOT

# Every public member of a package, as `module.qualname` (or the module's own name), printed as JSON.
MEMBERS = """
import json, sys, types
{setup}
import importlib
package = importlib.import_module(sys.argv[1])
package._utilities  # loads a package that pulumi_gcp imports lazily
names = sorted(n for n in dir(package) if not n.startswith("_"))
def where(value):
    if isinstance(value, types.ModuleType):
        return value.__name__
    return f"{{getattr(value, '__module__', '?')}}.{{getattr(value, '__qualname__', type(value).__name__)}}"
print(json.dumps({{n: where(getattr(package, n)) for n in names}}))
"""


def members(package: str, *, lazy: bool) -> dict[str, str]:
    setup = "import offline" if lazy else ""
    done = subprocess.run(
        [sys.executable, "-c", MEMBERS.format(setup=setup), package],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    found: dict[str, str] = json.loads(done.stdout)
    return found


@pytest.mark.parametrize("package", ["pulumi_gcp.redis", "pulumi_gcp.organizations"])
def test_a_lazy_package_has_every_member_of_the_sdks_own_and_the_same_ones(package: str) -> None:
    eager, lazy = members(package, lazy=False), members(package, lazy=True)
    assert len(eager) > 20
    assert lazy == eager


def test_the_lazy_package_gives_the_sdks_classes_and_functions() -> None:
    import pulumi
    import pulumi_cloudflare as cloudflare
    import pulumi_gcp as gcp

    assert pulumi.get_type_token(gcp.compute.URLMap) == "gcp:compute/uRLMap:URLMap"
    assert gcp.compute.URLMap.__module__ == "pulumi_gcp.compute.url_map"
    assert gcp.compute.FirewallAllowArgs.__module__ == "pulumi_gcp.compute._inputs"
    assert callable(gcp.organizations.get_project)  # the function, not the module of the same name
    assert cloudflare.WorkersScriptBindingArgs.__module__ == "pulumi_cloudflare._inputs"
    assert cloudflare.outputs.__name__ == "pulumi_cloudflare.outputs"
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchResource'"):
        _ = gcp.compute.NoSuchResource  # type: ignore[attr-defined]


def test_a_plan_imports_only_the_provider_modules_its_program_uses() -> None:
    program = """
import sys
from offline.engine import run_program
run_program("prod")
loaded = [m for m in sys.modules if m.startswith("pulumi_cloudflare.") or m.startswith("pulumi_gcp.compute.")]
print(" ".join(sorted(loaded)))
"""
    done = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    assert "pulumi_cloudflare.workers_script" in loaded
    assert "pulumi_gcp.compute.url_map" in loaded
    assert "pulumi_cloudflare.access_application" not in loaded  # the SDK's own package imports all 780 modules
    assert "pulumi_gcp.compute.autoscaler" not in loaded
    assert len([m for m in loaded if m.startswith("pulumi_cloudflare.")]) < 30
