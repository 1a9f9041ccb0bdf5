"""The progress report (取組状況等について) regenerated from the data, as HTML and PDF."""
