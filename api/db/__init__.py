"""Database: typed SQLAlchemy 2 models, engine and session factories (built on demand)."""
