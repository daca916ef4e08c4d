"""Templates: certificate designs, a background image plus positioned fields, versioned."""
