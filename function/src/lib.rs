//! The orders API and its idempotency library (placeholder until the handler issue lands).
