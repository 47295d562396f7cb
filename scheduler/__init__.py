"""China working-day calendar, issue numbering and the weekly jobs."""
