"""The Slack bot (slack-bolt): /findimage, auto-indexing channel uploads, reactions as likes."""
