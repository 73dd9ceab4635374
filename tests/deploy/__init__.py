"""Tests of the deployment files and the installed package."""
