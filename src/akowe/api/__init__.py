"""HTTP plumbing shared by every router: dependencies, error shaping, request logging."""
