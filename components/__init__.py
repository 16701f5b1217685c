"""The platform's building blocks: one ComponentResource per logical entity, one file each."""
