"""Infrastructure the app runs on: the database, Redis and what is built on it (cache, rate
limits), sessions (none) and the migration commands. No blueprints here."""
