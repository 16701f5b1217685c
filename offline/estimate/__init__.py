"""Know before you spend: what a stack costs a month, how long its first `pulumi up` takes, and what it looks like.

Pure functions over a `Recording` (type tokens, camelCase inputs, dependencies, parents), so every estimate is tested
on hand-written resources and runs in milliseconds inside `make plan`.
"""
