"""Use cases. Each takes a SQLAlchemy Session (and a store where needed); no Flask imports here."""
