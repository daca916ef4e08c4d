"""Public web pages: the certificate verification page (server-rendered, no JavaScript)."""
