"""Run the Pulumi program in-process against Pulumi's mock engine, with no cloud and no CLI."""

from offline import sdk

sdk.install()  # provider SDK packages import only the modules a program uses (offline/sdk.py)
