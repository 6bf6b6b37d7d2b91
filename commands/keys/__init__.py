"""Virtual keys across LiteMaaS (`api_keys`) and LiteLLM (`"LiteLLM_VerificationToken"`).

`keys stats`, `keys cleanup` (product.md §4), `keys orphans` and `keys orphans --fix`. The modules here
read both databases directly (counts, selection, orphan detection) and change LiteLLM only through its
API.
"""
