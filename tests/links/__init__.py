"""Tests of documents by link: the fetcher, its rules, the command line with links."""
