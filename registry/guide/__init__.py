"""The guide: the start page, the agency quick start, and the API docs served offline."""
