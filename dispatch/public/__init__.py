"""Public results (信息公开): each community's month, with no personal information."""
