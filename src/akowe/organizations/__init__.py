"""Organizations: the issuing entities (school, company, institution) named on certificates."""
