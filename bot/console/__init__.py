"""The editor's web console (issue 14). So far: accounts, logins and sessions (`auth.py`)."""
