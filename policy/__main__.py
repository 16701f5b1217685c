"""The platform's policy pack: `pulumi preview --policy-pack policy --policy-pack-config policy/config/dev.json`."""

import sys
from pathlib import Path

# The pack runs from this directory; its rules live in the repository's `policy` package, next to the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from policy.pack import PACK_NAME, policies

PolicyPack(PACK_NAME, policies(), enforcement_level=EnforcementLevel.MANDATORY)
