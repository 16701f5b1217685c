"""Run the Pulumi program in-process against Pulumi's mock engine, with no cloud and no CLI."""
