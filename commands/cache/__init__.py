"""LiteLLM's Redis cache: `cache flush`."""
