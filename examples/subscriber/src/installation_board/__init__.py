"""An example subscriber of gridhook's topics, built on gridhook's subscriber kit.

It keeps a board of its own: each installation's latest step and status (from
`gridhook.installations.events`) and each Light account's latest change (the `account.*` and
`enrollment.*` events of `light.events`), in one SQLite file. It stores no personal data:
Light's events carry the customer's name and email, the board keeps the account's uuid and
its enrollment flags only.
"""
