"""Operations on the LiteMaaS workloads themselves: `status` (read) and `scale` (mutating)."""
