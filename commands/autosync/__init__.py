"""The backend's periodic model sync: `autosync status | on | off [--interval MIN]` (litemaas-facts.md §2.2).

One module per verb; `state.py` reads the two variables from the backend Deployment, `change.py` is what
`on` and `off` share.
"""
