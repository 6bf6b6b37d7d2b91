"""The OCI distribution API as the bot uses it: image references, a registry client with the token
challenge, pull-secret credentials, semantic-version tag order and a per-repository answer cache."""
