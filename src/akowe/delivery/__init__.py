"""Delivery: the transactional outbox of emails and webhook events."""
