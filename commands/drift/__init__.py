"""`drift`: where LiteMaaS and LiteLLM disagree (product.md §5 a-e, and (f) keys inactive in LiteMaaS
but usable in LiteLLM), in one shared database or two; `drift block-inactive` fixes (f).

`keys.py` compares the keys (a, b, f) with `pairs.py` (the pairing by hash, from the key indexes),
`models.py` the model catalogue and subscriptions (c, d, e), `report.py` turns
findings into sections and a CSV file, `operation.py` is the command, `block.py` the fix of (f).
"""
