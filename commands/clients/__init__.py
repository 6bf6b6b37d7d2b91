"""Adapters to the outside world, one per system: Kubernetes (and its rollouts), LiteLLM, the LiteMaaS
backend, the operated databases, health probes, credentials. Operations reach the world only through these.
"""
