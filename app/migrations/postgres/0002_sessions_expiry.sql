-- Expired database sessions are swept in the background, by expiry time.
CREATE INDEX sessions_expires_at ON sessions (expires_at);
