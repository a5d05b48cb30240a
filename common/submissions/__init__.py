"""Submissions: files in the contest's format and their checks, uploads, the log and the leaderboard."""
