"""Traffic-activated commands (tuninetd's job): run ``command start`` on the first
matching packet and ``command stop`` after ``idle`` seconds without one."""
