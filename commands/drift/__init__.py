"""`drift`: where LiteMaaS and LiteLLM disagree (product.md §5 a-e), in one shared database or two.

`keys.py` compares the keys (a, b), `models.py` the model catalogue and subscriptions (c, d, e),
`report.py` turns findings into sections and a CSV file, `operation.py` is the command.
"""
