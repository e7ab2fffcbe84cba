"""Connections to the services around the bot: issue trackers (GitHub, Linear, Jira) that close the loop
on requests, and CRMs. integrations/base.py says what a service is; connections.py keeps the credentials."""
