"""The night's problem model and its OR-Tools solver. No HTTP, no database, no OSM here."""
