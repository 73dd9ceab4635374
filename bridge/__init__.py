"""faxbridge core: the fax request, its ordering, the job lifecycle and the ports adapters plug into."""
